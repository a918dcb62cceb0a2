// The batch loader: worker threads decode, resize and rasterise images ahead of use; one
// assembler thread puts them, in selection order, into batches from a fixed pool.
#include "datasets/batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "datasets/coco.h"
#include "datasets/image.h"
#include "datasets/points.h"
#include "common/check.h"
#include "datasets/preprocess.h"

// A pooled batch: the public part first, so a Batch * from the consumer is a PoolBatch *.
typedef struct PoolBatch {
    Batch b;
    int prompt_cap, skipped_cap;
    size_t mask_cap;
    int dirty;  // pixel images [0, dirty) may be non-zero
} PoolBatch;

// One selected image, prepared by a worker.
typedef struct {
    int state;  // 0 free, 1 being prepared, 2 ready
    int ok;
    char reason[256];
    int h, w, in_h, in_w;
    uint8_t *resized;  // (in_h, in_w, 3)
    int n, cap;        // prompts kept (annotations with a non-empty mask)
    int *ann;          // annotation indices
    int *pt;           // (n, 2) centre (x, y)
    uint8_t *masks;    // (n, h, w)
    int empty, from_cache, computed;
} Prepared;

struct BatchLoader {
    BatchLoaderConfig cfg;
    char *root, *slice;
    CocoDataset *ds;
    CocoSelection sel;
    PointCache *pc;

    int n_pool;
    struct PoolBatch *pool;
    Batch **ready;  // FIFO ring of n_pool
    int ready_head, ready_n;
    Batch **free_list;
    int free_n;

    Prepared *slots;
    int n_slots;
    int next_claim;  // next selection index a worker takes
    int assembled;   // selection indices below this are in batches
    int done, stop;

    pthread_mutex_t mu;
    pthread_cond_t cv;  // every state change is broadcast; few threads, simple to reason about
    pthread_t *workers;
    int n_workers;
    pthread_t assembler;
    int threads_started;

    BatchLoaderStats st;
    int batches_made;
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

// ---- worker: one image ---------------------------------------------------------------------

// ref: data.py build_datapoint: read the image (gray -> RGB), annToMask and the centre point
// of each annotation, ResizeLongestSide of the image.
static void prepare(BatchLoader *bl, int si, Prepared *p) {
    const CocoDataset *ds = bl->ds;
    const CocoImage *im = &ds->images[bl->sel.images[si]];
    p->ok = 0;
    p->reason[0] = 0;
    p->n = 0;
    p->empty = p->from_cache = p->computed = 0;
    size_t plen = strlen(bl->root) + strlen(bl->slice) + strlen(im->file_name) + 4;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/%s/%s", bl->root, bl->slice, im->file_name);
    uint8_t *rgb = NULL;
    int h, w;
    char err[200];
    if (image_load_rgb(path, &rgb, &h, &w, err, sizeof err) != 0) {
        snprintf(p->reason, sizeof p->reason, "image %lld: %s", (long long)im->id, err);
        free(path);
        return;
    }
    if (h != im->height || w != im->width) {
        snprintf(p->reason, sizeof p->reason, "image %lld: %s: decoded size %dx%d differs from "
                 "the annotation file's %dx%d", (long long)im->id, path, w, h, im->width,
                 im->height);
        free(rgb);
        free(path);
        return;
    }
    free(path);
    p->h = h;
    p->w = w;
    int n_anns = bl->sel.ann_offset[si + 1] - bl->sel.ann_offset[si];
    size_t plane = (size_t)h * w;
    if (n_anns > p->cap) {
        p->cap = n_anns;
        p->ann = xrealloc(p->ann, sizeof(int) * (size_t)n_anns);
        p->pt = xrealloc(p->pt, sizeof(int) * 2 * (size_t)n_anns);
    }
    p->masks = xrealloc(p->masks, plane * (size_t)(n_anns ? n_anns : 1));
    for (int k = 0; k < n_anns; k++) {
        int ai = bl->sel.anns[bl->sel.ann_offset[si] + k];
        uint8_t *m = p->masks + plane * (size_t)p->n;
        if (coco_ann_to_mask(ds, ai, m, err, sizeof err) != 0) {
            snprintf(p->reason, sizeof p->reason, "image %lld: %s", (long long)im->id, err);
            free(rgb);
            return;
        }
        uint64_t hash = mask_hash(m, h, w);
        int x, y;
        int64_t ann_id = ds->anns[ai].id;
        if (point_cache_get(bl->pc, ann_id, hash, &x, &y)) {
            p->from_cache++;
        } else if (centre_point(m, h, w, &x, &y) == 0) {
            point_cache_put(bl->pc, ann_id, hash, x, y);
            p->computed++;
        } else {
            p->empty++;  // empty mask: no centre point; left out
            continue;
        }
        p->ann[p->n] = ai;
        p->pt[2 * p->n] = x;
        p->pt[2 * p->n + 1] = y;
        p->n++;
    }
    if (p->n == 0) {
        snprintf(p->reason, sizeof p->reason, "image %lld: every annotation's mask is empty",
                 (long long)im->id);
        free(rgb);
        return;
    }
    sam_preprocess_shape(h, w, bl->cfg.image_size, &p->in_h, &p->in_w);
    p->resized = xrealloc(p->resized, (size_t)p->in_h * p->in_w * 3);
    sam_resize_rgb(rgb, h, w, p->resized, p->in_h, p->in_w);
    free(rgb);
    p->ok = 1;
}

static void *worker_main(void *arg) {
    BatchLoader *bl = arg;
    pthread_mutex_lock(&bl->mu);
    while (!bl->stop && bl->next_claim < bl->sel.n_images) {
        int i = bl->next_claim;
        if (i >= bl->assembled + bl->n_slots) {  // window full: wait for the assembler
            pthread_cond_wait(&bl->cv, &bl->mu);
            continue;
        }
        bl->next_claim++;
        Prepared *p = &bl->slots[i % bl->n_slots];
        p->state = 1;
        pthread_mutex_unlock(&bl->mu);
        prepare(bl, i, p);
        pthread_mutex_lock(&bl->mu);
        p->state = 2;
        pthread_cond_broadcast(&bl->cv);
    }
    pthread_mutex_unlock(&bl->mu);
    return NULL;
}

// ---- assembler -----------------------------------------------------------------------------

static size_t pixel_bytes(int B, int S) {
    size_t bytes = (size_t)B * 3 * S * S * sizeof(float);
    return (bytes + 4095) & ~(size_t)4095;
}

static void pool_batch_init(PoolBatch *pb, int B, int S) {
    memset(pb, 0, sizeof *pb);
    Batch *b = &pb->b;
    b->batch_size = B;
    b->image_size = S;
    b->image_id = xcalloc((size_t)B, sizeof(int64_t));
    b->orig_h = xcalloc((size_t)B, sizeof(int));
    b->orig_w = xcalloc((size_t)B, sizeof(int));
    b->input_h = xcalloc((size_t)B, sizeof(int));
    b->input_w = xcalloc((size_t)B, sizeof(int));
    b->selection_index = xcalloc((size_t)B, sizeof(int));
    // Anonymous mapping: page-aligned and zero without touching the pages, so opening the
    // loader does not pay for writing B * 12 MiB of zeros per pooled batch.
    size_t bytes = pixel_bytes(B, S);
    void *px = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (px == MAP_FAILED) die("mmap of %zu bytes for a batch's pixels failed: %s", bytes,
                              strerror(errno));
    b->pixels = px;
    b->prompt_offset = xcalloc((size_t)B + 1, sizeof(int));
    b->mask_offset = xcalloc(1, sizeof(size_t));
}

static void pool_batch_free(PoolBatch *pb) {
    Batch *b = &pb->b;
    free(b->image_id);
    free(b->orig_h);
    free(b->orig_w);
    free(b->input_h);
    free(b->input_w);
    free(b->selection_index);
    munmap(b->pixels, pixel_bytes(b->batch_size, b->image_size));
    free(b->prompt_offset);
    free(b->prompt_image);
    free(b->ann_id);
    free(b->category_id);
    free(b->iscrowd);
    free(b->point_orig);
    free(b->point);
    free(b->mask_offset);
    free(b->gt_masks);
    free(b->skipped);
}

static void pool_batch_reset(PoolBatch *pb) {
    Batch *b = &pb->b;
    b->n_images = 0;
    b->n_prompts = 0;
    b->prompt_offset[0] = 0;
    b->mask_offset[0] = 0;
    b->n_skipped = 0;
}

static void add_skipped(PoolBatch *pb, int64_t image_id, const char *reason) {
    Batch *b = &pb->b;
    if (b->n_skipped == pb->skipped_cap) {
        pb->skipped_cap = pb->skipped_cap ? 2 * pb->skipped_cap : 4;
        b->skipped = xrealloc(b->skipped, sizeof(BatchSkipped) * (size_t)pb->skipped_cap);
    }
    BatchSkipped *s = &b->skipped[b->n_skipped++];
    s->image_id = image_id;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
}

// ref: data.py build_batch: per image, x = (resized - mean) / std padded to S x S; the
// centre points through apply_coords; the ground-truth masks, all ragged.
static void add_image(BatchLoader *bl, PoolBatch *pb, int si, const Prepared *p) {
    Batch *b = &pb->b;
    const CocoDataset *ds = bl->ds;
    int i = b->n_images, S = b->image_size;
    b->image_id[i] = ds->images[bl->sel.images[si]].id;
    b->orig_h[i] = p->h;
    b->orig_w[i] = p->w;
    b->input_h[i] = p->in_h;
    b->input_w[i] = p->in_w;
    b->selection_index[i] = si;
    sam_normalize_pad(p->resized, p->in_h, p->in_w, S, b->pixels + (size_t)i * 3 * S * S);
    if (pb->dirty < i + 1) pb->dirty = i + 1;

    int need = b->n_prompts + p->n;
    if (need > pb->prompt_cap) {
        int cap = pb->prompt_cap ? pb->prompt_cap : 64;
        while (cap < need) cap *= 2;
        pb->prompt_cap = cap;
        b->prompt_image = xrealloc(b->prompt_image, sizeof(int) * (size_t)cap);
        b->ann_id = xrealloc(b->ann_id, sizeof(int64_t) * (size_t)cap);
        b->category_id = xrealloc(b->category_id, sizeof(int64_t) * (size_t)cap);
        b->iscrowd = xrealloc(b->iscrowd, (size_t)cap);
        b->point_orig = xrealloc(b->point_orig, sizeof(int) * 2 * (size_t)cap);
        b->point = xrealloc(b->point, sizeof(float) * 2 * (size_t)cap);
        b->mask_offset = xrealloc(b->mask_offset, sizeof(size_t) * ((size_t)cap + 1));
    }
    size_t plane = (size_t)p->h * p->w;
    size_t mneed = b->mask_offset[b->n_prompts] + plane * (size_t)p->n;
    if (mneed > pb->mask_cap) {
        size_t cap = pb->mask_cap ? pb->mask_cap : (size_t)1 << 20;
        while (cap < mneed) cap *= 2;
        pb->mask_cap = cap;
        b->gt_masks = xrealloc(b->gt_masks, cap);
    }
    memcpy(b->gt_masks + b->mask_offset[b->n_prompts], p->masks, plane * (size_t)p->n);
    for (int k = 0; k < p->n; k++) {
        int q = b->n_prompts++;
        const CocoAnnotation *an = &ds->anns[p->ann[k]];
        b->prompt_image[q] = i;
        b->ann_id[q] = an->id;
        b->category_id[q] = an->category_id;
        b->iscrowd[q] = (uint8_t)an->iscrowd;
        b->point_orig[2 * q] = p->pt[2 * k];
        b->point_orig[2 * q + 1] = p->pt[2 * k + 1];
        // ref: predictor.transform.apply_coords(np.array(coords_list), I.shape[:2]), then
        // torch.tensor(..., dtype=torch.float)
        sam_apply_coords(p->pt[2 * k], p->pt[2 * k + 1], p->h, p->w, S, &b->point[2 * q],
                         &b->point[2 * q + 1]);
        b->mask_offset[q + 1] = b->mask_offset[q] + plane;
    }
    b->n_images = i + 1;
    b->prompt_offset[i + 1] = b->n_prompts;
}

// Hands a filled batch to the consumer (zeroing pixel images left over from earlier use).
static void push_ready(BatchLoader *bl, PoolBatch *pb) {
    Batch *b = &pb->b;
    size_t img = (size_t)3 * b->image_size * b->image_size;
    if (pb->dirty > b->n_images) {
        memset(b->pixels + img * (size_t)b->n_images, 0,
               img * (size_t)(pb->dirty - b->n_images) * sizeof(float));
        pb->dirty = b->n_images;
    }
    pthread_mutex_lock(&bl->mu);
    b->index = bl->batches_made++;
    bl->ready[(bl->ready_head + bl->ready_n) % bl->n_pool] = b;
    bl->ready_n++;
    bl->st.delivered_images += b->n_images;
    bl->st.delivered_prompts += b->n_prompts;
    pthread_cond_broadcast(&bl->cv);
    pthread_mutex_unlock(&bl->mu);
}

static void *assembler_main(void *arg) {
    BatchLoader *bl = arg;
    PoolBatch *pb = NULL;
    int B = bl->cfg.batch_size;
    for (int si = 0; si < bl->sel.n_images; si++) {
        Prepared *p = &bl->slots[si % bl->n_slots];
        pthread_mutex_lock(&bl->mu);
        while (!bl->stop && p->state != 2) pthread_cond_wait(&bl->cv, &bl->mu);
        if (!pb)
            while (!bl->stop && bl->free_n == 0) pthread_cond_wait(&bl->cv, &bl->mu);
        if (bl->stop) {
            pthread_mutex_unlock(&bl->mu);
            break;
        }
        if (!pb) {
            pb = (PoolBatch *)bl->free_list[--bl->free_n];
            pool_batch_reset(pb);
        }
        bl->st.empty_masks += p->empty;
        bl->st.points_from_cache += p->from_cache;
        bl->st.points_computed += p->computed;
        if (!p->ok) bl->st.skipped_images++;
        pthread_mutex_unlock(&bl->mu);

        if (p->ok) add_image(bl, pb, si, p);
        else add_skipped(pb, bl->ds->images[bl->sel.images[si]].id, p->reason);

        pthread_mutex_lock(&bl->mu);
        p->state = 0;
        bl->assembled = si + 1;
        pthread_cond_broadcast(&bl->cv);
        pthread_mutex_unlock(&bl->mu);
        if (pb->b.n_images == B) {
            push_ready(bl, pb);
            pb = NULL;
        }
    }
    // The last, partial batch; or one carrying only the report of trailing skipped images.
    if (pb && (pb->b.n_images > 0 || pb->b.n_skipped > 0) && !bl->stop) push_ready(bl, pb);
    else if (pb) {
        pthread_mutex_lock(&bl->mu);
        bl->free_list[bl->free_n++] = &pb->b;
        pthread_mutex_unlock(&bl->mu);
    }
    pthread_mutex_lock(&bl->mu);
    bl->done = 1;
    pthread_cond_broadcast(&bl->cv);
    pthread_mutex_unlock(&bl->mu);
    return NULL;
}

// ---- public API ----------------------------------------------------------------------------

static int default_workers(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n = n > 1 ? n - 1 : 1;
    return n > 8 ? 8 : (int)n;
}

BatchLoader *batch_loader_open(const BatchLoaderConfig *cfg, char *err, size_t err_len) {
    if (!cfg->coco_root || !*cfg->coco_root) {
        snprintf(err, err_len, "batch loader: no dataset folder given (for the synthetic "
                 "default, run synth_ensure first and pass its folder)");
        return NULL;
    }
    if (cfg->batch_size < 1 || cfg->batch_size > 4096 || cfg->image_size < 16 ||
        cfg->image_size > 8192) {
        snprintf(err, err_len, "batch loader: batch size %d or image size %d out of range",
                 cfg->batch_size, cfg->image_size);
        return NULL;
    }
    BatchLoader *bl = xcalloc(1, sizeof *bl);
    bl->cfg = *cfg;
    bl->root = xstrdup(cfg->coco_root);
    bl->slice = xstrdup(cfg->slice && *cfg->slice ? cfg->slice : "val2017");
    bl->cfg.coco_root = bl->root;
    bl->cfg.slice = bl->slice;
    bl->cfg.categories = NULL;  // not kept: the caller's string
    bl->cfg.cache_dir = NULL;
    size_t plen = strlen(bl->root) + strlen(bl->slice) + 64;
    char *ann = xmalloc(plen);
    snprintf(ann, plen, "%s/annotations/instances_%s.json", bl->root, bl->slice);
    bl->ds = coco_load(ann, err, err_len);
    free(ann);
    if (!bl->ds ||
        coco_select(bl->ds, cfg->categories, cfg->image_id, cfg->limit, &bl->sel, err,
                    err_len) != 0) {
        coco_free(bl->ds);
        free(bl->root);
        free(bl->slice);
        free(bl);
        return NULL;
    }
    if (cfg->cache_dir && *cfg->cache_dir) {
        bl->pc = point_cache_open(cfg->cache_dir, bl->slice);
    } else {
        char *dir = xmalloc(strlen(bl->root) + 16);
        sprintf(dir, "%s/.sam-cache", bl->root);
        bl->pc = point_cache_open(dir, bl->slice);
        free(dir);
    }
    int depth = cfg->queue_depth > 0 ? cfg->queue_depth : 2;
    bl->n_workers = cfg->workers > 0 ? cfg->workers : default_workers();
    bl->n_pool = depth + 1;
    bl->pool = xcalloc((size_t)bl->n_pool, sizeof(PoolBatch));
    bl->ready = xcalloc((size_t)bl->n_pool, sizeof(Batch *));
    bl->free_list = xcalloc((size_t)bl->n_pool, sizeof(Batch *));
    for (int i = 0; i < bl->n_pool; i++) {
        pool_batch_init(&bl->pool[i], cfg->batch_size, cfg->image_size);
        bl->free_list[bl->free_n++] = &bl->pool[i].b;
    }
    // Enough prepared images for the batch being filled plus some slack per worker.
    bl->n_slots = cfg->batch_size + 2 * bl->n_workers + 2;
    bl->slots = xcalloc((size_t)bl->n_slots, sizeof(Prepared));
    bl->st.selected = bl->sel.n_images;
    pthread_mutex_init(&bl->mu, NULL);
    pthread_cond_init(&bl->cv, NULL);
    bl->workers = xcalloc((size_t)bl->n_workers, sizeof(pthread_t));
    for (int i = 0; i < bl->n_workers; i++)
        if (pthread_create(&bl->workers[i], NULL, worker_main, bl) != 0)
            die("pthread_create for a batch worker failed");
    if (pthread_create(&bl->assembler, NULL, assembler_main, bl) != 0)
        die("pthread_create for the batch assembler failed");
    bl->threads_started = 1;
    return bl;
}

const CocoDataset *batch_loader_dataset(const BatchLoader *bl) { return bl->ds; }

int batch_loader_selected(const BatchLoader *bl) { return bl->sel.n_images; }

int batch_loader_next(BatchLoader *bl, Batch **out, char *err, size_t err_len) {
    (void)err, (void)err_len;
    *out = NULL;
    double t0 = now_ms();
    pthread_mutex_lock(&bl->mu);
    while (bl->ready_n == 0 && !bl->done) pthread_cond_wait(&bl->cv, &bl->mu);
    int r = 0;
    if (bl->ready_n > 0) {
        *out = bl->ready[bl->ready_head];
        bl->ready_head = (bl->ready_head + 1) % bl->n_pool;
        bl->ready_n--;
        r = 1;
    }
    bl->st.wait_ms += now_ms() - t0;
    pthread_mutex_unlock(&bl->mu);
    return r;
}

void batch_loader_release(BatchLoader *bl, Batch *b) {
    if (!b) return;
    pthread_mutex_lock(&bl->mu);
    bl->free_list[bl->free_n++] = b;
    pthread_cond_broadcast(&bl->cv);
    pthread_mutex_unlock(&bl->mu);
}

int batch_loader_pixel_buffers(const BatchLoader *bl, float **bufs, int max, size_t *bytes_each) {
    for (int i = 0; i < bl->n_pool && i < max; i++) bufs[i] = bl->pool[i].b.pixels;
    if (bytes_each) *bytes_each = pixel_bytes(bl->cfg.batch_size, bl->cfg.image_size);
    return bl->n_pool;
}

void batch_loader_stats(const BatchLoader *bl, BatchLoaderStats *st) {
    pthread_mutex_lock((pthread_mutex_t *)&bl->mu);
    *st = bl->st;
    pthread_mutex_unlock((pthread_mutex_t *)&bl->mu);
}

void batch_loader_close(BatchLoader *bl) {
    if (!bl) return;
    pthread_mutex_lock(&bl->mu);
    bl->stop = 1;
    pthread_cond_broadcast(&bl->cv);
    pthread_mutex_unlock(&bl->mu);
    if (bl->threads_started) {
        for (int i = 0; i < bl->n_workers; i++) pthread_join(bl->workers[i], NULL);
        pthread_join(bl->assembler, NULL);
    }
    char err[512];
    if (point_cache_save(bl->pc, err, sizeof err) != 0)
        fprintf(stderr, "sam: warning: %s (centre points will be recomputed next time)\n", err);
    point_cache_close(bl->pc);
    for (int i = 0; i < bl->n_slots; i++) {
        free(bl->slots[i].resized);
        free(bl->slots[i].ann);
        free(bl->slots[i].pt);
        free(bl->slots[i].masks);
    }
    free(bl->slots);
    for (int i = 0; i < bl->n_pool; i++) pool_batch_free(&bl->pool[i]);
    free(bl->pool);
    free(bl->ready);
    free(bl->free_list);
    free(bl->workers);
    pthread_mutex_destroy(&bl->mu);
    pthread_cond_destroy(&bl->cv);
    coco_selection_free(&bl->sel);
    coco_free(bl->ds);
    free(bl->root);
    free(bl->slice);
    free(bl);
}
