// sam-data: the COCO evaluation subset from the command line, for people and tests.
//   sam-data synth  --out DIR [--images N] [--seed S] [--slice NAME]
//   sam-data info   --coco DIR [--slice val2017] [--decode]
//   sam-data mask   --coco DIR [--slice val2017] --ann ID --out FILE.npy|FILE.png
//   sam-data points --coco DIR [--slice val2017] [--limit N] [--categories A,B] --out FILE.json
//   sam-data batches --coco DIR [--slice val2017] [--batch B] [--size S] [--limit N]
//   sam-data decode --image FILE --out FILE.npy     (an image as the evaluation reads it)
//   sam-data rles   --json FILE --out FILE.json      (masks as RLE strings, for the oracle test)
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datasets/batch.h"
#include "datasets/coco.h"
#include "datasets/image.h"
#include "datasets/points.h"
#include "datasets/rle.h"
#include "datasets/synth.h"
#include "common/check.h"
#include "common/npy.h"

static const char *USAGE =
    "usage: sam-data COMMAND [options]   (sam-data COMMAND --help for each)\n"
    "  synth    write the synthetic COCO-format subset\n"
    "  info     counts, categories and unreadable images of a COCO folder\n"
    "  mask     one annotation's mask as .npy (uint8 0/1) or .png (0/255)\n"
    "  points   the centre-point prompt of every selected annotation, as JSON\n"
    "  batches  run the batch loader and report what it delivers and how fast\n"
    "  decode   an image (JPEG, PNG, .npy) to (H, W, 3) uint8 .npy, as the evaluation reads it\n"
    "  rles     every annotation's mask as a compressed RLE string (test helper)\n";

typedef struct {
    const char *name, *help;
} Cmd;

static const Cmd CMDS[] = {
    {"synth", "usage: sam-data synth --out DIR [--images N] [--seed S] [--slice NAME]\n"
              "Writes DIR/annotations/instances_NAME.json and DIR/NAME/*.jpg (COCO layout):\n"
              "N images (default 128) of COCO-like sizes with 1-20 objects each, deterministic\n"
              "from the seed (default 0). NAME defaults to val2017.\n"},
    {"info", "usage: sam-data info --coco DIR [--slice val2017] [--decode]\n"
             "Loads DIR/annotations/instances_SLICE.json and prints counts (images, annotations by\n"
             "kind, crowd, selected images), the time to parse and index it, the categories,\n"
             "and the images that cannot be used: missing or unreadable, or whose size differs\n"
             "from the file's. Headers only unless --decode (decodes every selected image).\n"},
    {"mask", "usage: sam-data mask --coco DIR [--slice val2017] --ann ID --out FILE.npy|FILE.png\n"
             "Writes annotation ID's mask (pycocotools annToMask) at its image's size: .npy as\n"
             "uint8 0/1 of shape (height, width), .png as 8-bit grayscale 0/255.\n"},
    {"points", "usage: sam-data points --coco DIR [--slice val2017] [--limit N] [--categories A,B]\n"
               "                      [--cache DIR] --out FILE.json\n"
               "Writes {\"ann_id\": [x, y], ...} for every annotation of the selected images (the\n"
               "evaluation's selection), the centre point of design.md section 4 in original\n"
               "pixels (null for an empty mask). Uses and fills the centre-point cache\n"
               "(default DIR/.sam-cache).\n"},
    {"batches", "usage: sam-data batches --coco DIR [--slice val2017] [--batch B] [--size S]\n"
                "                       [--limit N] [--categories A,B] [--workers W] [--quiet]\n"
                "Runs the batch loader (batch 8, size 1024 by default) and prints one line per\n"
                "batch and a summary with the images per second it delivered.\n"},
    {"decode", "usage: sam-data decode --image FILE --out FILE.npy\n"
               "Decodes a JPEG, PNG or .npy image to RGB exactly as the evaluation does (grayscale\n"
               "replicated, palette expanded, alpha dropped, CMYK converted as Pillow) and writes\n"
               "it as a uint8 .npy of shape (height, width, 3).\n"},
    {"rles", "usage: sam-data rles --json FILE --out FILE.json\n"
             "For every annotation of an instances file: its mask (annToMask) re-encoded as a\n"
             "compressed RLE string, its area and box, its centre of mass and centre point, and\n"
             "the pycocotools IoU with the previous annotation of the same image. Used by the\n"
             "pycocotools / SciPy oracle test.\n"},
};

static const char *cmd_help(const char *name) {
    for (size_t i = 0; i < sizeof CMDS / sizeof *CMDS; i++)
        if (strcmp(CMDS[i].name, name) == 0) return CMDS[i].help;
    return NULL;
}

// Options: --key value pairs and --flag switches.
typedef struct {
    const char *out, *coco, *slice, *json, *categories, *cache, *image;
    long images, limit, batch, size, workers;
    long long seed, ann;
    int have_ann, decode, quiet;
} Opts;

static long long parse_int(const char *cmd, const char *key, const char *v, long long lo,
                           long long hi) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        die("%s: %s wants an integer in %lld..%lld, got \"%s\"", cmd, key, lo, hi, v);
    return x;
}

static void parse_opts(const char *cmd, int argc, char **argv, Opts *o) {
    memset(o, 0, sizeof *o);
    o->slice = "val2017";
    o->images = SYNTH_DEFAULT_IMAGES;
    o->seed = SYNTH_DEFAULT_SEED;
    o->batch = 8;
    o->size = 1024;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) {
            fputs(cmd_help(cmd), stdout);
            exit(0);
        }
        if (strcmp(k, "--decode") == 0) {
            o->decode = 1;
            continue;
        }
        if (strcmp(k, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (i + 1 >= argc) die("%s: %s needs a value (see sam-data %s --help)", cmd, k, cmd);
        const char *v = argv[++i];
        if (strcmp(k, "--out") == 0) o->out = v;
        else if (strcmp(k, "--coco") == 0) o->coco = v;
        else if (strcmp(k, "--slice") == 0) o->slice = v;
        else if (strcmp(k, "--json") == 0) o->json = v;
        else if (strcmp(k, "--image") == 0) o->image = v;
        else if (strcmp(k, "--categories") == 0) o->categories = v;
        else if (strcmp(k, "--cache") == 0) o->cache = v;
        else if (strcmp(k, "--images") == 0) o->images = (long)parse_int(cmd, k, v, 1, 1000000);
        else if (strcmp(k, "--limit") == 0) o->limit = (long)parse_int(cmd, k, v, 0, 1L << 30);
        else if (strcmp(k, "--batch") == 0) o->batch = (long)parse_int(cmd, k, v, 1, 4096);
        else if (strcmp(k, "--size") == 0) o->size = (long)parse_int(cmd, k, v, 16, 8192);
        else if (strcmp(k, "--workers") == 0) o->workers = (long)parse_int(cmd, k, v, 0, 256);
        else if (strcmp(k, "--seed") == 0) o->seed = parse_int(cmd, k, v, 0, (1LL << 62));
        else if (strcmp(k, "--ann") == 0) {
            o->ann = parse_int(cmd, k, v, -(1LL << 53), 1LL << 53);
            o->have_ann = 1;
        } else die("%s: unknown option %s (see sam-data %s --help)", cmd, k, cmd);
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static char *ann_path(const Opts *o) {
    size_t n = strlen(o->coco) + strlen(o->slice) + 48;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/annotations/instances_%s.json", o->coco, o->slice);
    return p;
}

static CocoDataset *load_or_die(const Opts *o, double *ms) {
    char *p = ann_path(o), err[600];
    double t0 = now_ms();
    CocoDataset *ds = coco_load(p, err, sizeof err);
    if (ms) *ms = now_ms() - t0;
    free(p);
    if (!ds) die("%s", err);
    return ds;
}

static void need(const char *cmd, const char *what, const void *v) {
    if (!v) die("%s: %s is required (see sam-data %s --help)", cmd, what, cmd);
}

// ---- synth ---------------------------------------------------------------------------------

static int cmd_synth(const Opts *o) {
    need("synth", "--out DIR", o->out);
    SynthConfig cfg = {(int)o->images, (uint64_t)o->seed, o->slice};
    char err[600];
    double t0 = now_ms();
    if (synth_generate(o->out, &cfg, err, sizeof err) != 0) die("%s", err);
    printf("wrote %s/annotations/instances_%s.json and %ld images under %s/%s in %.1f s\n",
           o->out, o->slice, o->images, o->out, o->slice, (now_ms() - t0) / 1e3);
    return 0;
}

// ---- info ----------------------------------------------------------------------------------

static int cmd_info(const Opts *o) {
    need("info", "--coco DIR", o->coco);
    double ms;
    CocoDataset *ds = load_or_die(o, &ms);
    int kinds[3] = {0, 0, 0}, crowd = 0;
    for (int i = 0; i < ds->n_anns; i++) {
        kinds[ds->anns[i].kind]++;
        crowd += ds->anns[i].iscrowd;
    }
    CocoSelection sel;
    char err[600];
    if (coco_select(ds, NULL, 0, 0, &sel, err, sizeof err) != 0) die("%s", err);
    printf("annotation file: %s\n", ds->path);
    printf("parsed and indexed in %.1f ms\n", ms);
    printf("images: %d (%d with at least one annotation: the evaluation's selection)\n",
           ds->n_images, sel.n_images);
    printf("annotations: %d (%d polygon lists, %d uncompressed RLE, %d compressed RLE; %d crowd)\n",
           ds->n_anns, kinds[0], kinds[1], kinds[2], crowd);
    printf("prompts in the selection: %d (%.2f per image)\n", sel.n_anns,
           sel.n_images ? (double)sel.n_anns / sel.n_images : 0.0);
    printf("categories: %d in %d supercategories\n", ds->n_categories, ds->n_supercategories);
    int *per = xcalloc((size_t)(ds->n_categories ? ds->n_categories : 1), sizeof(int));
    for (int i = 0; i < ds->n_anns; i++) per[ds->anns[i].category_index]++;
    for (int c = 0; c < ds->n_categories; c++)
        printf("  %4lld %-20s %-14s %6d annotations\n", (long long)ds->categories[c].id,
               ds->categories[c].name, ds->categories[c].supercategory, per[c]);
    free(per);
    // Unusable images among the selection.
    int skipped = 0;
    double t0 = now_ms();
    for (int k = 0; k < sel.n_images; k++) {
        const CocoImage *im = &ds->images[sel.images[k]];
        size_t n = strlen(o->coco) + strlen(o->slice) + strlen(im->file_name) + 4;
        char *path = xmalloc(n);
        snprintf(path, n, "%s/%s/%s", o->coco, o->slice, im->file_name);
        int h = 0, w = 0, r;
        if (o->decode) {
            uint8_t *rgb;
            r = image_load_rgb(path, &rgb, &h, &w, err, sizeof err);
            if (r == 0) free(rgb);
        } else {
            r = image_probe_size(path, &h, &w, err, sizeof err);
        }
        if (r != 0) {
            printf("skipped image %lld: %s\n", (long long)im->id, err);
            skipped++;
        } else if (h != im->height || w != im->width) {
            printf("skipped image %lld: %s: size %dx%d differs from the annotation file's "
                   "%dx%d\n", (long long)im->id, path, w, h, im->width, im->height);
            skipped++;
        }
        free(path);
    }
    printf("skipped images: %d of %d (%s, %.1f s)\n", skipped, sel.n_images,
           o->decode ? "decoded" : "headers checked; --decode to decode", (now_ms() - t0) / 1e3);
    coco_selection_free(&sel);
    coco_free(ds);
    return 0;
}

// ---- mask ----------------------------------------------------------------------------------

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmd_mask(const Opts *o) {
    need("mask", "--coco DIR", o->coco);
    need("mask", "--out FILE", o->out);
    if (!o->have_ann) die("mask: --ann ID is required (see sam-data mask --help)");
    if (!ends_with(o->out, ".npy") && !ends_with(o->out, ".png"))
        die("mask: --out %s: want a .npy or .png file name", o->out);
    CocoDataset *ds = load_or_die(o, NULL);
    int ai = coco_ann_index(ds, o->ann);
    if (ai < 0) die("%s: no annotation with id %lld", ds->path, o->ann);
    const CocoImage *im = &ds->images[ds->anns[ai].image_index];
    uint8_t *m = xmalloc((size_t)im->height * im->width);
    char err[600];
    if (coco_ann_to_mask(ds, ai, m, err, sizeof err) != 0) die("%s", err);
    int r;
    if (ends_with(o->out, ".npy")) {
        int64_t shape[2] = {im->height, im->width};
        r = npy_write(o->out, "|u1", 2, shape, m);
    } else {
        r = image_write_png_gray(o->out, m, im->height, im->width);
    }
    if (r != 0) die("%s: cannot write: %s", o->out, strerror(errno));
    size_t area = 0;
    for (size_t i = 0; i < (size_t)im->height * im->width; i++) area += m[i];
    printf("annotation %lld (image %lld, %dx%d): %zu pixels -> %s\n", o->ann,
           (long long)im->id, im->width, im->height, area, o->out);
    free(m);
    coco_free(ds);
    return 0;
}

// ---- points --------------------------------------------------------------------------------

static int cmd_points(const Opts *o) {
    need("points", "--coco DIR", o->coco);
    need("points", "--out FILE", o->out);
    CocoDataset *ds = load_or_die(o, NULL);
    CocoSelection sel;
    char err[600];
    if (coco_select(ds, o->categories, 0, (int)o->limit, &sel, err, sizeof err) != 0)
        die("%s", err);
    char *cache_dir = NULL;
    if (o->cache) {
        cache_dir = xmalloc(strlen(o->cache) + 1);
        strcpy(cache_dir, o->cache);
    } else {
        cache_dir = xmalloc(strlen(o->coco) + 16);
        sprintf(cache_dir, "%s/.sam-cache", o->coco);
    }
    PointCache *pc = point_cache_open(cache_dir, o->slice);
    FILE *f = fopen(o->out, "w");
    if (!f) die("%s: cannot create: %s", o->out, strerror(errno));
    fprintf(f, "{\"rule\": \"v%d %s\", \"points\": {", POINT_RULE_VERSION, POINT_RULE_TAG);
    int cached = 0, computed = 0, empty = 0;
    for (int k = 0; k < sel.n_anns; k++) {
        int ai = sel.anns[k];
        const CocoImage *im = &ds->images[ds->anns[ai].image_index];
        uint8_t *m = xmalloc((size_t)im->height * im->width);
        if (coco_ann_to_mask(ds, ai, m, err, sizeof err) != 0) die("%s", err);
        uint64_t hash = mask_hash(m, im->height, im->width);
        int x, y, ok = 1;
        if (point_cache_get(pc, ds->anns[ai].id, hash, &x, &y)) cached++;
        else if (centre_point(m, im->height, im->width, &x, &y) == 0) {
            point_cache_put(pc, ds->anns[ai].id, hash, x, y);
            computed++;
        } else {
            ok = 0;
            empty++;
        }
        fprintf(f, "%s\n\"%lld\": ", k ? "," : "", (long long)ds->anns[ai].id);
        if (ok) fprintf(f, "[%d, %d]", x, y);
        else fprintf(f, "null");
        free(m);
    }
    fprintf(f, "\n}}\n");
    if (fclose(f) != 0) die("%s: write failed: %s", o->out, strerror(errno));
    if (point_cache_save(pc, err, sizeof err) != 0) fprintf(stderr, "sam: warning: %s\n", err);
    printf("%d centre points (%d from the cache %s, %d computed, %d empty masks) -> %s\n",
           sel.n_anns, cached, point_cache_path(pc), computed, empty, o->out);
    point_cache_close(pc);
    free(cache_dir);
    coco_selection_free(&sel);
    coco_free(ds);
    return 0;
}

// ---- batches -------------------------------------------------------------------------------

static int cmd_batches(const Opts *o) {
    need("batches", "--coco DIR", o->coco);
    BatchLoaderConfig cfg = {
        .coco_root = o->coco, .slice = o->slice, .image_size = (int)o->size,
        .batch_size = (int)o->batch, .limit = (int)o->limit, .categories = o->categories,
        .cache_dir = o->cache, .workers = (int)o->workers,
    };
    char err[600];
    double t0 = now_ms();
    BatchLoader *bl = batch_loader_open(&cfg, err, sizeof err);
    if (!bl) die("%s", err);
    printf("selected %d images; opened in %.1f ms\n", batch_loader_selected(bl), now_ms() - t0);
    Batch *b;
    int r;
    long images = 0;
    double first = 0;
    while ((r = batch_loader_next(bl, &b, err, sizeof err)) == 1) {
        if (!first) first = now_ms() - t0;
        images += b->n_images;
        for (int s = 0; s < b->n_skipped; s++)
            printf("skipped image %lld: %s\n", (long long)b->skipped[s].image_id,
                   b->skipped[s].reason);
        if (!o->quiet) {
            printf("batch %d: %d images, %d prompts;", b->index, b->n_images, b->n_prompts);
            for (int i = 0; i < b->n_images && i < 4; i++)
                printf(" %lld (%dx%d -> %dx%d, %d prompts)", (long long)b->image_id[i],
                       b->orig_w[i], b->orig_h[i], b->input_w[i], b->input_h[i],
                       b->prompt_offset[i + 1] - b->prompt_offset[i]);
            printf("%s\n", b->n_images > 4 ? " ..." : "");
        }
        batch_loader_release(bl, b);
    }
    if (r < 0) die("%s", err);
    double total = now_ms() - t0;
    BatchLoaderStats st;
    batch_loader_stats(bl, &st);
    printf("delivered %d images, %d prompts in %.1f s (%.1f images/s; first batch after %.0f "
           "ms); skipped %d images; %d empty masks; centre points %d cached, %d computed\n",
           st.delivered_images, st.delivered_prompts, total / 1e3,
           total > 0 ? images / (total / 1e3) : 0.0, first, st.skipped_images, st.empty_masks,
           st.points_from_cache, st.points_computed);
    batch_loader_close(bl);
    return 0;
}

// ---- decode ------------------------------------------------------------------------------

static int cmd_decode(const Opts *o) {
    need("decode", "--image FILE", o->image);
    need("decode", "--out FILE.npy", o->out);
    uint8_t *rgb;
    int h, w;
    char err[600];
    if (image_load_rgb(o->image, &rgb, &h, &w, err, sizeof err) != 0) die("%s", err);
    int64_t shape[3] = {h, w, 3};
    if (npy_write(o->out, "|u1", 3, shape, rgb) != 0)
        die("%s: cannot write: %s", o->out, strerror(errno));
    printf("%s: %dx%d -> %s\n", o->image, w, h, o->out);
    free(rgb);
    return 0;
}

// ---- rles (oracle test helper) ---------------------------------------------------------------

// RLE strings use ASCII 48..111, which includes the backslash: escape it for JSON.
static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int cmd_rles(const Opts *o) {
    need("rles", "--json FILE", o->json);
    need("rles", "--out FILE", o->out);
    char err[600];
    CocoDataset *ds = coco_load(o->json, err, sizeof err);
    if (!ds) die("%s", err);
    FILE *f = fopen(o->out, "w");
    if (!f) die("%s: cannot create: %s", o->out, strerror(errno));
    fprintf(f, "[");
    for (int ai = 0; ai < ds->n_anns; ai++) {
        const CocoAnnotation *an = &ds->anns[ai];
        const CocoImage *im = &ds->images[an->image_index];
        Rle direct, back;
        uint8_t *m = xmalloc((size_t)im->height * im->width);
        if (coco_ann_to_rle(ds, ai, &direct, err, sizeof err) != 0 ||
            coco_ann_to_mask(ds, ai, m, err, sizeof err) != 0)
            die("%s", err);
        rle_encode(&back, m, (uint32_t)im->height, (uint32_t)im->width);
        char *s_direct = rle_to_string(&direct), *s_back = rle_to_string(&back);
        double bb[4];
        rle_to_bbox(&direct, bb);
        fprintf(f, "%s\n{\"id\": %lld, \"rle\": ", ai ? "," : "", (long long)an->id);
        put_json_string(f, s_direct);
        fprintf(f, ", \"mask_rle\": ");
        put_json_string(f, s_back);
        fprintf(f, ", \"area\": %llu, \"bbox\": [%.17g, %.17g, %.17g, %.17g]",
                (unsigned long long)rle_area(&direct), bb[0], bb[1], bb[2], bb[3]);
        double cy, cx;
        int px, py;
        centre_of_mass(m, im->height, im->width, &cy, &cx);
        if (centre_point(m, im->height, im->width, &px, &py) == 0)
            fprintf(f, ", \"com\": [%.17g, %.17g], \"point\": [%d, %d]", cy, cx, px, py);
        // IoU with the previous annotation of the same image, both crowd conventions.
        const CocoImage *img = im;
        int pos = -1;
        for (int k = 0; k < img->ann_count; k++)
            if (ds->image_anns[img->ann_first + k] == ai) pos = k;
        if (pos > 0) {
            int prev = ds->image_anns[img->ann_first + pos - 1];
            Rle pr;
            if (coco_ann_to_rle(ds, prev, &pr, err, sizeof err) != 0) die("%s", err);
            fprintf(f, ", \"prev\": %lld, \"iou\": %.17g, \"iou_crowd\": %.17g",
                    (long long)ds->anns[prev].id, rle_iou(&direct, &pr, 0),
                    rle_iou(&direct, &pr, 1));
            rle_free(&pr);
        }
        fprintf(f, "}");
        free(s_direct);
        free(s_back);
        rle_free(&direct);
        rle_free(&back);
        free(m);
    }
    fprintf(f, "\n]\n");
    if (fclose(f) != 0) die("%s: write failed: %s", o->out, strerror(errno));
    coco_free(ds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!cmd_help(cmd)) {
        fprintf(stderr, "sam-data: unknown command \"%s\"\n%s", cmd, USAGE);
        return 2;
    }
    Opts o;
    parse_opts(cmd, argc - 2, argv + 2, &o);
    if (strcmp(cmd, "synth") == 0) return cmd_synth(&o);
    if (strcmp(cmd, "info") == 0) return cmd_info(&o);
    if (strcmp(cmd, "mask") == 0) return cmd_mask(&o);
    if (strcmp(cmd, "points") == 0) return cmd_points(&o);
    if (strcmp(cmd, "batches") == 0) return cmd_batches(&o);
    if (strcmp(cmd, "decode") == 0) return cmd_decode(&o);
    return cmd_rles(&o);
}
