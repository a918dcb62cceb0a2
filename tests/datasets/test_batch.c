// The batch loader on a synthetic subset with three broken images: batches are full and in
// selection order, pixels / points / masks are exactly what the reference steps give, broken
// images are skipped and reported by id, centre points come from the cache on a second run,
// batches are ready ahead of use; and the synthetic subset is deterministic.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "datasets/batch.h"
#include "datasets/coco.h"
#include "datasets/image.h"
#include "datasets/points.h"
#include "datasets/synth.h"
#include "datasets/preprocess.h"

static int failures;
#define FAILF(...) (failures++, printf("FAIL " __VA_ARGS__), printf("\n"))

static char dir[] = "/tmp/sam-test-batch-XXXXXX";

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *d = malloc(*n + 1);
    if (fread(d, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return d;
}

static void write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(d, 1, n, f);
        fclose(f);
    }
}

static void image_path(char *buf, size_t n, const char *root, const CocoImage *im) {
    snprintf(buf, n, "%s/val2017/%s", root, im->file_name);
}

// Checks one delivered batch against the reference steps done here, one by one.
static int check_batch(const Batch *b, const CocoDataset *ds, const CocoSelection *sel,
                       int S, const char *root) {
    size_t img = (size_t)3 * S * S;
    float *ref = malloc(img * sizeof(float));
    int bad = 0;
    for (int i = 0; i < b->n_images && !bad; i++) {
        int si = b->selection_index[i];
        const CocoImage *im = &ds->images[sel->images[si]];
        char path[600], err[300];
        image_path(path, sizeof path, root, im);
        uint8_t *rgb;
        int h, w, nh, nw;
        if (b->image_id[i] != im->id || image_load_rgb(path, &rgb, &h, &w, err, sizeof err)) {
            FAILF("batch %d image %d: id %lld vs selection's %lld", b->index, i,
                  (long long)b->image_id[i], (long long)im->id);
            bad = 1;
            break;
        }
        sam_preprocess_shape(h, w, S, &nh, &nw);
        uint8_t *rs = malloc((size_t)nh * nw * 3);
        sam_resize_rgb(rgb, h, w, rs, nh, nw);
        sam_normalize_pad(rs, nh, nw, S, ref);
        if (b->orig_h[i] != h || b->orig_w[i] != w || b->input_h[i] != nh ||
            b->input_w[i] != nw || memcmp(ref, b->pixels + img * i, img * sizeof(float))) {
            FAILF("batch %d image %lld: sizes or pixels differ from resize + normalise + pad",
                  b->index, (long long)im->id);
            bad = 1;
        }
        // prompts: the selection's annotations of this image, in order
        int k0 = sel->ann_offset[si], k1 = sel->ann_offset[si + 1];
        if (b->prompt_offset[i + 1] - b->prompt_offset[i] != k1 - k0) {
            FAILF("batch %d image %lld: %d prompts, want %d", b->index, (long long)im->id,
                  b->prompt_offset[i + 1] - b->prompt_offset[i], k1 - k0);
            bad = 1;
        }
        uint8_t *m = malloc((size_t)h * w);
        for (int k = k0; k < k1 && !bad; k++) {
            int p = b->prompt_offset[i] + (k - k0), ai = sel->anns[k];
            int x, y;
            float fx, fy;
            coco_ann_to_mask(ds, ai, m, err, sizeof err);
            centre_point(m, h, w, &x, &y);
            sam_apply_coords(x, y, h, w, S, &fx, &fy);
            if (b->ann_id[p] != ds->anns[ai].id || b->category_id[p] != ds->anns[ai].category_id ||
                b->iscrowd[p] != ds->anns[ai].iscrowd || b->prompt_image[p] != i ||
                b->point_orig[2 * p] != x || b->point_orig[2 * p + 1] != y ||
                b->point[2 * p] != fx || b->point[2 * p + 1] != fy ||
                b->mask_offset[p + 1] - b->mask_offset[p] != (size_t)h * w ||
                memcmp(b->gt_masks + b->mask_offset[p], m, (size_t)h * w)) {
                FAILF("batch %d annotation %lld: prompt differs (point %d,%d vs %d,%d)", b->index,
                      (long long)ds->anns[ai].id, b->point_orig[2 * p], b->point_orig[2 * p + 1],
                      x, y);
                bad = 1;
            }
        }
        free(m);
        free(rs);
        free(rgb);
    }
    for (int i = b->n_images; i < b->batch_size && !bad; i++)
        for (size_t j = 0; j < img; j++)
            if (b->pixels[img * i + j] != 0) {
                FAILF("batch %d: unused image slot %d is not zero", b->index, i);
                bad = 1;
                break;
            }
    free(ref);
    return !bad;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
    if (!mkdtemp(dir)) {
        printf("FAIL cannot create a temporary folder\n");
        return 1;
    }
    char err[600], path[700];
    SynthConfig sc = {22, 7, "val2017"};
    if (synth_generate(dir, &sc, err, sizeof err) != 0) {
        printf("FAIL synth: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/annotations/instances_val2017.json", dir);
    CocoDataset *ds = coco_load(path, err, sizeof err);
    if (!ds) {
        printf("FAIL %s\n", err);
        return 1;
    }
    CocoSelection sel;
    coco_select(ds, NULL, 0, 0, &sel, err, sizeof err);
    printf("%s synthetic subset: %d images, all with annotations\n",
           sel.n_images == 22 ? "PASS" : (failures++, "FAIL"), sel.n_images);

    // Break three images: truncated, not an image, a different size.
    int64_t broken[3];
    const char *why[3] = {"truncated", "not a JPEG", "differs"};
    int idx[3] = {3, 8, 12};
    for (int k = 0; k < 3; k++) {
        const CocoImage *im = &ds->images[sel.images[idx[k]]];
        broken[k] = im->id;
        image_path(path, sizeof path, dir, im);
        size_t n;
        char *d = slurp(path, &n);
        if (k == 0) write_bytes(path, d, n / 3);
        if (k == 1) write_bytes(path, "GIF89a not really", 17);
        if (k == 2) {
            uint8_t px[10 * 12 * 3] = {0};
            image_write_jpeg(path, px, 10, 12, 90, err, sizeof err);
        }
        free(d);
    }

    const int S = 256, B = 4;
    BatchLoaderConfig cfg = {.coco_root = dir, .slice = "val2017", .image_size = S,
                             .batch_size = B, .queue_depth = 2, .workers = 2};
    for (int run = 0; run < 2; run++) {
        BatchLoader *bl = batch_loader_open(&cfg, err, sizeof err);
        if (!bl) {
            printf("FAIL loader: %s\n", err);
            return 1;
        }
        Batch *b;
        int nb = 0, full = 1, ok = 1, order = 1, last_si = -1, found[3] = {0, 0, 0}, skips = 0;
        while (batch_loader_next(bl, &b, err, sizeof err) == 1) {
            if (b->index != nb++) order = 0;
            for (int i = 0; i < b->n_images; i++) {
                if (b->selection_index[i] <= last_si) order = 0;
                last_si = b->selection_index[i];
            }
            for (int s = 0; s < b->n_skipped; s++) {
                skips++;
                for (int k = 0; k < 3; k++)
                    if (b->skipped[s].image_id == broken[k] && strstr(b->skipped[s].reason, why[k]))
                        found[k] = 1;
            }
            if (b->n_images != B) full = full && (b->n_images == 19 % B);
            if (run == 0) ok = ok && check_batch(b, ds, &sel, S, dir);
            batch_loader_release(bl, b);
        }
        BatchLoaderStats st;
        batch_loader_stats(bl, &st);
        batch_loader_close(bl);
        if (run == 0) {
            printf("%s batches in selection order, %d images each but the last (%d batches)\n",
                   order && full && nb == 5 ? "PASS" : (failures++, "FAIL"), B, nb);
            if (ok) printf("PASS pixels, sizes, prompts, centre points, apply_coords and masks "
                           "equal the reference steps\n");
            printf("%s broken images skipped and reported by id (truncated, not a JPEG, size "
                   "differing from the JSON): %d skipped, %d delivered\n",
                   found[0] && found[1] && found[2] && skips == 3 && st.skipped_images == 3 &&
                           st.delivered_images == 19
                       ? "PASS"
                       : (failures++, "FAIL"),
                   st.skipped_images, st.delivered_images);
            printf("%s centre points computed on the first run (%d)\n",
                   st.points_computed == st.delivered_prompts && st.points_from_cache == 0
                       ? "PASS"
                       : (failures++, "FAIL"),
                   st.points_computed);
        } else {
            printf("%s centre points read from the cache on the second run (%d of %d)\n",
                   st.points_from_cache == st.delivered_prompts && st.points_computed == 0
                       ? "PASS"
                       : (failures++, "FAIL"),
                   st.points_from_cache, st.delivered_prompts);
        }
    }

    // Ahead of use: after a pause, the first batches are already built.
    {
        BatchLoaderConfig c2 = cfg;
        c2.limit = 8;
        BatchLoader *bl = batch_loader_open(&c2, err, sizeof err);
        usleep(1500 * 1000);
        Batch *b;
        double t0 = now_ms();
        int got = batch_loader_next(bl, &b, err, sizeof err);
        double waited = now_ms() - t0;
        if (got == 1) batch_loader_release(bl, b);
        got = batch_loader_next(bl, &b, err, sizeof err);
        double waited2 = now_ms() - t0;
        if (got == 1) batch_loader_release(bl, b);
        batch_loader_close(bl);
        printf("%s batches built ahead of use: the first two were ready after a pause (%.2f ms, "
               "%.2f ms)\n", waited < 50 && waited2 < 50 ? "PASS" : (failures++, "FAIL"), waited,
               waited2);
    }
    // Category filter and limit pass through.
    {
        BatchLoaderConfig c3 = cfg;
        c3.categories = "ellipse";
        c3.limit = 3;
        c3.batch_size = 2;
        BatchLoader *bl = batch_loader_open(&c3, err, sizeof err);
        int n = 0, prompts_ok = 1;
        Batch *b;
        while (bl && batch_loader_next(bl, &b, err, sizeof err) == 1) {
            n += b->n_images;
            for (int p = 0; p < b->n_prompts; p++) prompts_ok &= b->category_id[p] == 6;
            batch_loader_release(bl, b);
        }
        BatchLoaderStats st;
        if (bl) batch_loader_stats(bl, &st);
        printf("%s category filter and limit (%d images delivered or skipped, ellipse prompts "
               "only)\n", bl && n + st.skipped_images == 3 && prompts_ok ? "PASS"
                                                                         : (failures++, "FAIL"),
               n);
        batch_loader_close(bl);
    }
    // Bad configuration and a missing annotation file: one error line, no loader.
    {
        BatchLoaderConfig c4 = cfg;
        c4.coco_root = "/nonexistent-coco";
        BatchLoader *bl = batch_loader_open(&c4, err, sizeof err);
        printf("%s missing dataset refused (%s)\n",
               !bl && strstr(err, "/nonexistent-coco/annotations/instances_val2017.json")
                   ? "PASS"
                   : (failures++, "FAIL"),
               err);
    }
    coco_selection_free(&sel);
    coco_free(ds);

    // Determinism of the synthetic subset: same seed, same bytes; another seed differs.
    char d2[] = "/tmp/sam-test-batch2-XXXXXX";
    if (mkdtemp(d2)) {
        SynthConfig a = {6, 11, "val2017"}, c = {6, 12, "val2017"};
        char d3[800];
        snprintf(d3, sizeof d3, "%s/other", d2);
        char d1[800];
        snprintf(d1, sizeof d1, "%s/one", d2);
        char d1b[800];
        snprintf(d1b, sizeof d1b, "%s/two", d2);
        int ok = synth_generate(d1, &a, err, sizeof err) == 0 &&
                 synth_generate(d1b, &a, err, sizeof err) == 0 &&
                 synth_generate(d3, &c, err, sizeof err) == 0;
        size_t n1, n2, n3;
        char p1[900], p2[900], p3[900];
        snprintf(p1, sizeof p1, "%s/annotations/instances_val2017.json", d1);
        snprintf(p2, sizeof p2, "%s/annotations/instances_val2017.json", d1b);
        snprintf(p3, sizeof p3, "%s/annotations/instances_val2017.json", d3);
        char *j1 = slurp(p1, &n1), *j2 = slurp(p2, &n2), *j3 = slurp(p3, &n3);
        int same = ok && j1 && j2 && n1 == n2 && !memcmp(j1, j2, n1);
        int differs = j3 && (n1 != n3 || memcmp(j1, j3, n1));
        // every JPEG identical too
        CocoDataset *dd = same ? coco_load(p1, err, sizeof err) : NULL;
        for (int i = 0; dd && i < dd->n_images && same; i++) {
            char q1[1000], q2[1000];
            snprintf(q1, sizeof q1, "%s/val2017/%s", d1, dd->images[i].file_name);
            snprintf(q2, sizeof q2, "%s/val2017/%s", d1b, dd->images[i].file_name);
            size_t m1, m2;
            char *b1 = slurp(q1, &m1), *b2 = slurp(q2, &m2);
            same = b1 && b2 && m1 == m2 && !memcmp(b1, b2, m1);
            free(b1);
            free(b2);
        }
        printf("%s synthetic subset deterministic from its seed (same seed: identical JSON and "
               "JPEGs; another seed: different)\n", same && differs ? "PASS" : (failures++, "FAIL"));
        int gen = -1;
        int ens = synth_ensure(d1, &a, &gen, err, sizeof err);
        printf("%s synth_ensure keeps an existing subset of the same parameters\n",
               ens == 0 && gen == 0 ? "PASS" : (failures++, "FAIL"));
        coco_free(dd);
        free(j1);
        free(j2);
        free(j3);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d2);  // our own temporary folder only
        if (system(cmd) != 0) printf("NOTE could not remove %s\n", d2);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("NOTE could not remove %s\n", dir);
    return failures ? 1 : 0;
}
