// Ragged decoding (DECODE_RAGGED, issue 16) against per-image decoding, on one operation table.
// Included by tests/core/test_ragged.c (the CPU reference) and tests/gpu/test_ragged_gpu.c.
//
// 1. Sets of prompts over four images made from a golden fixture's image (the image, its mirror,
//    a crop of another aspect and its transpose: four embeddings and four original sizes),
//    encoded with the fixture's model: sam_decode_ragged + sam_postprocess_ragged +
//    top_mask_stats_ragged over the whole set against sam_decode + sam_postprocess +
//    top_mask_stats per image. The sets are made to be awkward: images with no prompt (first,
//    middle and last), prompts in image order and interleaved, one image with 60 prompts, point
//    prompts (foreground, background), boxes, a point with a box and two points (t = 2 and 3),
//    mask inputs, single- and multi-mask output. The fixture's own batch6 prompts ride in the
//    first set, and their ragged outputs are checked against the golden files too.
// 2. eval_batch (the timed batch of `eval`) over a synthetic COCO subset with two stage choices,
//    for example per-image and ragged decoding: the masks of every annotation (what the masks
//    file stores), the top index, the counts against the ground truth and the predicted IoUs.
#ifndef SAM_RAGGED_CHECK_H
#define SAM_RAGGED_CHECK_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/npy.h"
#include "datasets/batch.h"
#include "datasets/preprocess.h"
#include "datasets/synth.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/eval_batch.h"
#include "../../variants/core/model.h"
#include "../test_util.h"

typedef struct {
    const char *label;   // "cpu", "fp32", "bf16" (in messages)
    double float_tol;    // relative (max|a - b| / max|b|): low-res logits, logits, predicted IoUs
    // 0: the masks equal but for pixels whose reference logit is within float_tol * max|logit|
    // of zero, the top index equal but where the reference's two best IoUs are within float_tol
    // of each other, the counts off by no more than the excused pixels. Else: the mean over
    // prompts of the IoU between the two top masks at least this.
    double mask_min_iou;
    double golden_tol;   // the batch6 prompts' ragged outputs against the golden files
} RaggedTolerance;

#define RG_IMAGES 4
#define RG_MAX_T 3

static uint64_t rg_rng = 0x7a66ed5eedull;
static double rg_urand(void) {  // splitmix64 -> [0, 1)
    uint64_t z = (rg_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

// ---- the four images and their embeddings --------------------------------------------------

typedef struct {
    int h, w, in_h, in_w;  // original and resized sizes
} RgImage;

typedef struct {
    Sam m;
    Exec x;
    const char *fixture;
    char dir[1024];
    RgImage im[RG_IMAGES];
    void *embed;           // (RG_IMAGES, G*G, D) act, backend memory
    const float *pixels;   // (RG_IMAGES, 3, S, S) float32, backend memory
} RgModel;

static void rg_encode_fn(Sam *m, void *ctx) {
    RgModel *r = ctx;
    sam_encode(m, r->embed, r->pixels, RG_IMAGES);
}

// The image (h, w, 3) -> image k: 0 itself, 1 mirrored, 2 the top-left (3h/4, w/2), 3 transposed.
static uint8_t *rg_variant(const uint8_t *rgb, int h, int w, int k, int *oh, int *ow) {
    int H = k == 2 ? 3 * h / 4 : k == 3 ? w : h, W = k == 2 ? w / 2 : k == 3 ? h : w;
    uint8_t *o = xmalloc((size_t)H * W * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sy = k == 3 ? x : y, sx = k == 1 ? w - 1 - x : k == 3 ? y : x;
            memcpy(o + ((size_t)y * W + x) * 3, rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    *oh = H, *ow = W;
    return o;
}

static int rg_open(RgModel *r, const char *root, const char *fixture, const Ops *ops, void *backend) {
    char path[1200], err[512];
    r->fixture = fixture;
    snprintf(r->dir, sizeof r->dir, "%s/%s", root, fixture);
    TensorMap t;
    snprintf(path, sizeof path, "%s/model.pth", r->dir);
    if (checkpoint_read(path, &t, err, sizeof err) != 0) {
        report(0, "%s checkpoint: %s", fixture, err);
        return -1;
    }
    exec_init(&r->x, ops, backend);
    int rc = sam_build(&r->m, &r->x, &t, err, sizeof err);
    tmap_free(&t);
    if (rc != 0) {
        report(0, "%s build: %s", fixture, err);
        return -1;
    }
    const SamConfig *c = &r->m.cfg;
    const int S = c->img_size;
    snprintf(path, sizeof path, "%s/image_rgb.npy", r->dir);
    Npy img = npy_load_or_die(path);
    float *pix = xmalloc(sizeof(float) * RG_IMAGES * 3 * S * S);
    for (int k = 0; k < RG_IMAGES; k++) {
        RgImage *im = &r->im[k];
        uint8_t *v = rg_variant(img.data, (int)img.shape[0], (int)img.shape[1], k, &im->h, &im->w);
        sam_preprocess_shape(im->h, im->w, S, &im->in_h, &im->in_w);
        uint8_t *resized = xmalloc((size_t)im->in_h * im->in_w * 3);
        sam_resize_rgb(v, im->h, im->w, resized, im->in_h, im->in_w);
        sam_normalize_pad(resized, im->in_h, im->in_w, S, pix + (size_t)k * 3 * S * S);
        free(v), free(resized);
    }
    npy_free(&img);
    float *d_pix = r->x.ops->mem_alloc(&r->x, sizeof(float) * RG_IMAGES * 3 * S * S);
    r->x.ops->copy_to_device(&r->x, d_pix, pix, sizeof(float) * RG_IMAGES * 3 * S * S);
    free(pix);
    r->pixels = d_pix;
    r->embed = r->x.ops->mem_alloc(&r->x, (size_t)RG_IMAGES * c->grid * c->grid * c->prompt_dim * r->x.act_size);
    sam_plan(&r->m, rg_encode_fn, r);
    rg_encode_fn(&r->m, r);
    ex_release(&r->x, 0);
    return 0;
}

static void rg_close(RgModel *r) {
    r->x.ops->mem_free(&r->x, r->embed);
    r->x.ops->mem_free(&r->x, (void *)r->pixels);
    sam_free(&r->m);  // the arena too
}

// ---- prompt sets -----------------------------------------------------------------------------

enum { RG_FG, RG_BG, RG_BOX, RG_POINT_BOX, RG_TWO_POINTS, RG_GOLDEN };

typedef struct {
    const char *name;
    int n, t, multimask, with_mask;
    int img[256];                 // the prompt's image, in set order
    float coords[256 * RG_MAX_T * 2];
    int32_t labels[256 * RG_MAX_T];
    int golden[256];              // index into the fixture's batch6 prompts, or -1
} RgSet;

// Appends a prompt of the given kind on image k: random points and boxes inside the image,
// through sam_build_prompt as predict builds them (original pixels -> the resized frame).
static void rg_add(RgSet *s, const RgModel *r, int k, int kind, const double *golden_xy, int golden_i) {
    CHECK(s->n < 256);
    const RgImage *im = &r->im[k];
    double pts[4], box[4];
    int lab[2], np = 0, has_box = 0;
    double x0 = rg_urand() * (im->w - 1), y0 = rg_urand() * (im->h - 1);
    double x1 = rg_urand() * (im->w - 1), y1 = rg_urand() * (im->h - 1);
    switch (kind) {
    case RG_FG: case RG_BG: pts[0] = x0, pts[1] = y0, lab[0] = kind == RG_FG, np = 1; break;
    case RG_GOLDEN: pts[0] = golden_xy[0], pts[1] = golden_xy[1], lab[0] = 1, np = 1; break;
    case RG_TWO_POINTS: pts[0] = x0, pts[1] = y0, pts[2] = x1, pts[3] = y1, lab[0] = 1, lab[1] = 0, np = 2; break;
    case RG_POINT_BOX:
        pts[0] = (x0 + x1) / 2, pts[1] = (y0 + y1) / 2, lab[0] = 1, np = 1;
        __attribute__((fallthrough));
    case RG_BOX:
        box[0] = fmin(x0, x1), box[1] = fmin(y0, y1), box[2] = fmax(x0, x1), box[3] = fmax(y0, y1);
        has_box = 1;
        break;
    }
    float co[RG_MAX_T * 2 + 4];
    int32_t la[RG_MAX_T + 2];
    int t = sam_build_prompt(pts, lab, np, has_box ? box : NULL, im->h, im->w, r->m.cfg.img_size, co, la);
    if (s->n == 0) s->t = t;
    CHECK(t == s->t && t <= RG_MAX_T);
    memcpy(s->coords + (size_t)s->n * t * 2, co, sizeof(float) * t * 2);
    memcpy(s->labels + (size_t)s->n * t, la, sizeof(int32_t) * t);
    s->golden[s->n] = kind == RG_GOLDEN ? golden_i : -1;
    s->img[s->n++] = k;
}

// ---- one set: per-image and ragged ---------------------------------------------------------

typedef struct {
    const RgModel *r;
    const RgSet *s;
    int C, L, P;
    int n_img[RG_IMAGES], first[RG_IMAGES + 1];  // per image: prompts, grouped start
    int *grp;                  // (P) set index -> grouped index
    int64_t *soff, *goff;      // (P + 1) pixel offsets in set and grouped order
    // backend inputs, set order then grouped order
    float *coords_s, *coords_g, *mask_s, *mask_g;
    int32_t *labels_s, *labels_g, *img_s, *size_s;
    int64_t *off_s;
    uint8_t *gt_s, *gt_g;
    // backend outputs: per-image (grouped order) and ragged (set order)
    float *lowres[2], *iou[2], *logits[2];
    uint8_t *masks[2];
    int32_t *top[2];
    int64_t *inter[2], *uni[2];
} RgRun;

static void rg_pass(Sam *m, void *ctx) {
    RgRun *u = ctx;
    const RgModel *r = u->r;
    const RgSet *s = u->s;
    const int C = u->C, LL = u->L * u->L, t = s->t;
    const int64_t GGD = (int64_t)m->cfg.grid * m->cfg.grid * m->cfg.prompt_dim;
    for (int i = 0; i < RG_IMAGES; i++) {
        int g0 = u->first[i], n = u->n_img[i];
        if (n == 0) continue;
        const RgImage *im = &r->im[i];
        Prompts pr = {.n = n, .t = t, .coords = u->coords_g + (size_t)g0 * t * 2,
                      .labels = u->labels_g + (size_t)g0 * t,
                      .mask_input = u->mask_g ? u->mask_g + (size_t)g0 * LL : NULL};
        float *lowres = u->lowres[0] + (size_t)g0 * C * LL, *iou = u->iou[0] + (size_t)g0 * C;
        float *logits = u->logits[0] + C * u->goff[g0];
        sam_decode(m, lowres, iou, act_at(m->x, r->embed, i * GGD), &pr, s->multimask);
        sam_postprocess(m, logits, lowres, n * C, im->in_h, im->in_w, im->h, im->w);
        op_top_mask_stats(m->x, u->masks[0] + C * u->goff[g0], u->top[0] + g0, u->inter[0] + g0,
                          u->uni[0] + g0, logits, iou, u->gt_g + u->goff[g0], n, C, im->h, im->w);
    }
    RaggedPrompts rp = {.n = u->P, .t = t, .images = RG_IMAGES, .image_of = u->img_s, .coords = u->coords_s,
                        .labels = u->labels_s, .mask_input = u->mask_s};
    sam_decode_ragged(m, u->lowres[1], u->iou[1], r->embed, &rp, s->multimask);
    RaggedMasks rm = {u->P, u->size_s, u->off_s};
    sam_postprocess_ragged(m, u->logits[1], u->lowres[1], C, &rm);
    op_top_mask_stats_ragged(m->x, u->masks[1], u->top[1], u->inter[1], u->uni[1], u->logits[1],
                             u->iou[1], u->gt_s, C, &rm);
}

static void *rg_dev(Exec *x, const void *host, size_t bytes) {
    void *d = x->ops->mem_alloc(x, bytes ? bytes : 16);
    if (host && bytes) x->ops->copy_to_device(x, d, host, bytes);
    return d;
}
static void *rg_host(Exec *x, const void *dev, size_t bytes) {
    void *h = xmalloc(bytes + 16);
    if (bytes) x->ops->copy_to_host(x, h, dev, bytes);
    return h;
}

// max|a - b| over n floats of a (set order) against b (grouped order): prompt p's block of
// per(p) floats at a + ao(p), b + bo(p). Adds to *num and *den (max|b|).
static void rg_err(const float *a, const float *b, int64_t a_at, int64_t b_at, int64_t n,
                   double *num, double *den) {
    for (int64_t i = 0; i < n; i++) {
        double ref = b[b_at + i], v = a[a_at + i];
        double d = isfinite(v) && isfinite(ref) ? fabs(v - ref) : INFINITY;
        if (d > *num) *num = d;
        if (fabs(ref) > *den) *den = fabs(ref);
    }
}

static void rg_run_set(RgModel *r, const RgSet *s, RaggedTolerance tol) {
    Exec *x = &r->x;
    const SamConfig *c = &r->m.cfg;
    const int C = s->multimask ? c->num_mask_tokens - 1 : 1, L = 4 * c->grid, LL = L * L, P = s->n;
    const int t = s->t;
    RgRun u = {.r = r, .s = s, .C = C, .L = L, .P = P};
    // Grouped order: image by image, each image's prompts in set order.
    for (int p = 0; p < P; p++) u.n_img[s->img[p]]++;
    for (int i = 0; i < RG_IMAGES; i++) u.first[i + 1] = u.first[i] + u.n_img[i];
    u.grp = xmalloc(sizeof(int) * P);
    int *inv = xmalloc(sizeof(int) * P), fill[RG_IMAGES] = {0};
    for (int p = 0; p < P; p++) {
        int i = s->img[p];
        u.grp[p] = u.first[i] + fill[i]++;
        inv[u.grp[p]] = p;
    }
    u.soff = xmalloc(sizeof(int64_t) * (P + 1));
    u.goff = xmalloc(sizeof(int64_t) * (P + 1));
    u.soff[0] = u.goff[0] = 0;
    for (int p = 0; p < P; p++) {
        const RgImage *im = &r->im[s->img[p]];
        u.soff[p + 1] = u.soff[p] + (int64_t)im->h * im->w;
        const RgImage *ig = &r->im[s->img[inv[p]]];
        u.goff[p + 1] = u.goff[p] + (int64_t)ig->h * ig->w;
    }
    const int64_t PIX = u.soff[P];
    // Host inputs, set order and grouped order: prompts, sizes, offsets, masks, ground truth.
    float *co_g = xmalloc(sizeof(float) * P * t * 2 + 4);
    int32_t *la_g = xmalloc(sizeof(int32_t) * P * t + 4), *sz = xmalloc(sizeof(int32_t) * P * 4 + 4);
    int32_t *img32 = xmalloc(sizeof(int32_t) * P + 4);
    uint8_t *gt_s = xmalloc((size_t)PIX + 4), *gt_g = xmalloc((size_t)PIX + 4);
    float *mk_s = NULL, *mk_g = NULL;
    Npy gl = {0};
    if (s->with_mask) {  // mask inputs: rows of the fixture's point1 low-res logits, shifted
        char path[1200];
        snprintf(path, sizeof path, "%s/point1_lowres.npy", r->dir);
        gl = npy_load_or_die(path);
        int rows = (int)(gl.count / LL);
        mk_s = xmalloc(sizeof(float) * P * LL), mk_g = xmalloc(sizeof(float) * P * LL);
        for (int p = 0; p < P; p++)
            for (int q = 0; q < LL; q++)
                mk_s[(size_t)p * LL + q] = ((float *)gl.data)[(size_t)(p % rows) * LL + (q + 37 * p) % LL];
    }
    for (int p = 0; p < P; p++) {
        int g = u.grp[p], k = s->img[p];
        const RgImage *im = &r->im[k];
        memcpy(co_g + (size_t)g * t * 2, s->coords + (size_t)p * t * 2, sizeof(float) * t * 2);
        memcpy(la_g + (size_t)g * t, s->labels + (size_t)p * t, sizeof(int32_t) * t);
        if (mk_s) memcpy(mk_g + (size_t)g * LL, mk_s + (size_t)p * LL, sizeof(float) * LL);
        sz[4 * p] = im->in_h, sz[4 * p + 1] = im->in_w, sz[4 * p + 2] = im->h, sz[4 * p + 3] = im->w;
        img32[p] = k;
        // Ground truth: an ellipse with random centre and axes.
        double cx = rg_urand() * im->w, cy = rg_urand() * im->h;
        double ax = 4 + rg_urand() * im->w / 2, ay = 4 + rg_urand() * im->h / 2;
        for (int y = 0; y < im->h; y++)
            for (int xx = 0; xx < im->w; xx++) {
                double dx = (xx - cx) / ax, dy = (y - cy) / ay;
                uint8_t v = dx * dx + dy * dy < 1.0;
                gt_s[u.soff[p] + (int64_t)y * im->w + xx] = v;
                gt_g[u.goff[g] + (int64_t)y * im->w + xx] = v;
            }
    }
    u.coords_s = rg_dev(x, s->coords, sizeof(float) * P * t * 2);
    u.labels_s = rg_dev(x, s->labels, sizeof(int32_t) * P * t);
    u.coords_g = rg_dev(x, co_g, sizeof(float) * P * t * 2);
    u.labels_g = rg_dev(x, la_g, sizeof(int32_t) * P * t);
    u.img_s = rg_dev(x, img32, sizeof(int32_t) * P);
    u.size_s = rg_dev(x, sz, sizeof(int32_t) * P * 4);
    u.off_s = rg_dev(x, u.soff, sizeof(int64_t) * P);
    u.gt_s = rg_dev(x, gt_s, (size_t)PIX);
    u.gt_g = rg_dev(x, gt_g, (size_t)PIX);
    u.mask_s = mk_s ? rg_dev(x, mk_s, sizeof(float) * P * LL) : NULL;
    u.mask_g = mk_g ? rg_dev(x, mk_g, sizeof(float) * P * LL) : NULL;
    for (int k = 0; k < 2; k++) {
        u.lowres[k] = rg_dev(x, NULL, sizeof(float) * P * C * LL);
        u.iou[k] = rg_dev(x, NULL, sizeof(float) * P * C);
        u.logits[k] = rg_dev(x, NULL, sizeof(float) * C * PIX);
        u.masks[k] = rg_dev(x, NULL, (size_t)C * PIX);
        u.top[k] = rg_dev(x, NULL, sizeof(int32_t) * P);
        u.inter[k] = rg_dev(x, NULL, sizeof(int64_t) * P);
        u.uni[k] = rg_dev(x, NULL, sizeof(int64_t) * P);
    }
    sam_plan(&r->m, rg_pass, &u);
    rg_pass(&r->m, &u);
    ex_release(x, 0);
    x->ops->sync(x);

    // Back to the host: [0] per-image (grouped order), [1] ragged (set order).
    float *lowres[2], *iou[2], *logits[2];
    uint8_t *masks[2];
    int32_t *top[2];
    int64_t *inter[2], *uni[2];
    for (int k = 0; k < 2; k++) {
        lowres[k] = rg_host(x, u.lowres[k], sizeof(float) * P * C * LL);
        iou[k] = rg_host(x, u.iou[k], sizeof(float) * P * C);
        logits[k] = rg_host(x, u.logits[k], sizeof(float) * C * PIX);
        masks[k] = rg_host(x, u.masks[k], (size_t)C * PIX);
        top[k] = rg_host(x, u.top[k], sizeof(int32_t) * P);
        inter[k] = rg_host(x, u.inter[k], sizeof(int64_t) * P);
        uni[k] = rg_host(x, u.uni[k], sizeof(int64_t) * P);
    }
    double num[3] = {0}, den[3] = {0};  // lowres, iou, logits
    double logit_max = 0;
    for (int p = 0; p < P; p++) {
        int g = u.grp[p];
        const RgImage *im = &r->im[s->img[p]];
        int64_t hw = (int64_t)im->h * im->w;
        rg_err(lowres[1], lowres[0], (int64_t)p * C * LL, (int64_t)g * C * LL, (int64_t)C * LL, &num[0], &den[0]);
        rg_err(iou[1], iou[0], (int64_t)p * C, (int64_t)g * C, C, &num[1], &den[1]);
        rg_err(logits[1], logits[0], C * u.soff[p], C * u.goff[g], C * hw, &num[2], &den[2]);
    }
    logit_max = den[2];
    char what[160];
    snprintf(what, sizeof what, "%s %s/%s (%d prompts, t=%d, %s%s; per image %d/%d/%d/%d)", tol.label,
             r->fixture, s->name, P, t, s->multimask ? "multimask" : "single mask",
             s->with_mask ? ", mask inputs" : "", u.n_img[0], u.n_img[1], u.n_img[2], u.n_img[3]);
    const char *names[3] = {"low-res logits", "predicted IoUs", "logits at the original size"};
    for (int k = 0; k < 3; k++) {
        double e = den[k] > 0 ? num[k] / den[k] : num[k];
        report(e <= tol.float_tol, "%s: ragged %s within %.3g of per-image (tol %.0e)", what, names[k], e,
               tol.float_tol);
    }
    // Masks, top index, counts.
    if (tol.mask_min_iou == 0) {
        int64_t bad = 0, excused = 0;
        int bad_top = 0, ties = 0, bad_counts = 0;
        for (int p = 0; p < P; p++) {
            int g = u.grp[p];
            const RgImage *im = &r->im[s->img[p]];
            int64_t hw = (int64_t)im->h * im->w, near = 0;
            for (int64_t i = 0; i < C * hw; i++) {
                if (masks[1][C * u.soff[p] + i] == masks[0][C * u.goff[g] + i]) continue;
                if (fabsf(logits[0][C * u.goff[g] + i]) <= tol.float_tol * logit_max) excused++, near++;
                else bad++;
            }
            // The reference's two best predicted IoUs within float_tol: a tie either may break.
            const float *ri = iou[0] + (size_t)g * C;
            int best = top[0][g], tie = 0;
            for (int j = 0; j < C; j++)
                if (j != best && fabsf(ri[j] - ri[best]) <= tol.float_tol * fabsf(ri[best])) tie = 1;
            ties += tie;
            if (top[1][p] != top[0][g] && !tie) bad_top++;
            if (top[1][p] == top[0][g] &&
                (llabs(inter[1][p] - inter[0][g]) > near || llabs(uni[1][p] - uni[0][g]) > near))
                bad_counts++;
        }
        report(bad == 0 && bad_top == 0 && bad_counts == 0,
               "%s: masks, top index and counts as per-image (%lld pixels differ, %lld more within "
               "the tolerance of zero; %d top indices and %d counts differ; %d near-ties)",
               what, (long long)bad, (long long)excused, bad_top, bad_counts, ties);
    } else {
        double sum = 0, worst = 1;
        int same_top = 0;
        for (int p = 0; p < P; p++) {
            int g = u.grp[p];
            const RgImage *im = &r->im[s->img[p]];
            int64_t hw = (int64_t)im->h * im->w, in = 0, un = 0;
            const uint8_t *a = masks[1] + C * u.soff[p] + top[1][p] * hw;
            const uint8_t *b = masks[0] + C * u.goff[g] + top[0][g] * hw;
            for (int64_t i = 0; i < hw; i++) in += a[i] & b[i], un += a[i] | b[i];
            double v = un ? (double)in / un : 1.0;
            sum += v, worst = v < worst ? v : worst;
            same_top += top[1][p] == top[0][g];
        }
        report(sum / P >= tol.mask_min_iou,
               "%s: ragged top masks agree with per-image's at mean IoU %.5f (min %.2f; lowest %.4f; "
               "%d of %d top indices equal)", what, sum / P, tol.mask_min_iou, worst, same_top, P);
    }
    // The fixture's batch6 prompts against the golden outputs.
    int n_gold = 0;
    for (int p = 0; p < P; p++) n_gold += s->golden[p] >= 0;
    if (n_gold > 0 && s->multimask) {
        char path[1200];
        snprintf(path, sizeof path, "%s/batch6_iou.npy", r->dir);
        Npy gi = npy_load_or_die(path);
        snprintf(path, sizeof path, "%s/batch6_lowres.npy", r->dir);
        FILE *f = fopen(path, "rb");
        Npy glr = {0};
        if (f) fclose(f), glr = npy_load_or_die(path);
        double worst_iou = 0, ln = 0, ld = 0;
        for (int p = 0; p < P; p++) {
            int q = s->golden[p];
            if (q < 0) continue;
            for (int j = 0; j < C; j++) {
                double d = fabs(iou[1][(size_t)p * C + j] - ((float *)gi.data)[(size_t)q * C + j]);
                worst_iou = d > worst_iou ? d : worst_iou;
            }
            if (glr.data) rg_err(lowres[1], glr.data, (int64_t)p * C * LL, (int64_t)q * C * LL, (int64_t)C * LL, &ln, &ld);
        }
        report(worst_iou <= tol.golden_tol, "%s: the batch6 prompts' ragged IoUs within %.3g of the golden (tol %.0e)",
               what, worst_iou, tol.golden_tol);
        if (glr.data) {
            double e = ld > 0 ? ln / ld : ln;
            report(e <= tol.golden_tol, "%s: the batch6 prompts' ragged low-res logits within %.3g of the golden (tol %.0e)",
                   what, e, tol.golden_tol);
            npy_free(&glr);
        }
        npy_free(&gi);
    }

    for (int k = 0; k < 2; k++) {
        free(lowres[k]), free(iou[k]), free(logits[k]), free(masks[k]), free(top[k]), free(inter[k]), free(uni[k]);
        void *d[] = {u.lowres[k], u.iou[k], u.logits[k], u.masks[k], u.top[k], u.inter[k], u.uni[k]};
        for (int i = 0; i < 7; i++) x->ops->mem_free(x, d[i]);
    }
    void *d[] = {u.coords_s, u.labels_s, u.coords_g, u.labels_g, u.img_s, u.size_s, u.off_s, u.gt_s, u.gt_g};
    for (int i = 0; i < 9; i++) x->ops->mem_free(x, d[i]);
    if (u.mask_s) x->ops->mem_free(x, u.mask_s), x->ops->mem_free(x, u.mask_g);
    if (gl.data) npy_free(&gl);
    free(u.grp), free(inv), free(u.soff), free(u.goff), free(co_g), free(la_g), free(sz), free(img32);
    free(gt_s), free(gt_g), free(mk_s), free(mk_g);
}

// Every awkward set on one fixture's model.
static void ragged_fixture_run(const char *root, const char *fixture, const Ops *ops, void *backend,
                               RaggedTolerance tol) {
    RgModel r;
    if (rg_open(&r, root, fixture, ops, backend) != 0) return;
    char path[1200];
    snprintf(path, sizeof path, "%s/manifest.json", root);
    cJSON *man = load_json_or_die(path);
    const cJSON *b6 = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
                          cJSON_GetObjectItem(man, "fixtures"), fixture), "cases"), "batch6");
    const cJSON *pc = cJSON_GetObjectItem(b6, "point_coords");
    RgSet *s = xcalloc(1, sizeof *s);

    // 1. t = 2, image order, no prompt on image 1: the fixture's batch6 points on image 0,
    //    points and boxes on images 2 and 3.
    *s = (RgSet){.name = "points and boxes", .multimask = 1};
    for (int i = 0; pc && i < cJSON_GetArraySize(pc); i++) {
        double xy[2] = {cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 0)->valuedouble,
                        cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 1)->valuedouble};
        rg_add(s, &r, 0, RG_GOLDEN, xy, i);
    }
    int kinds[] = {RG_BOX, RG_FG, RG_BG, RG_BOX, RG_FG};
    for (int i = 0; i < 5; i++) rg_add(s, &r, 2, kinds[i], NULL, -1);
    for (int i = 0; i < 3; i++) rg_add(s, &r, 3, kinds[(i + 1) % 5], NULL, -1);
    rg_run_set(&r, s, tol);

    // 2. The same kinds interleaved over the images (the index, not the order, says whose).
    *s = (RgSet){.name = "interleaved", .multimask = 1};
    int order[] = {3, 0, 2, 0, 3, 2, 2, 0, 3};
    for (int i = 0; i < 9; i++) rg_add(s, &r, order[i], kinds[i % 5], NULL, -1);
    rg_run_set(&r, s, tol);

    // 3. One image with 60 prompts, one with one, two with none (first and last).
    *s = (RgSet){.name = "60 prompts on one image", .multimask = 1};
    rg_add(s, &r, 1, RG_FG, NULL, -1);
    for (int i = 0; i < 60; i++) rg_add(s, &r, 2, i % 7 == 3 ? RG_BG : RG_FG, NULL, -1);
    rg_run_set(&r, s, tol);

    // 4. t = 3: a point with a box, two points; single-mask output; no prompt on image 1.
    *s = (RgSet){.name = "point+box and two points", .multimask = 0};
    int k3[] = {0, 2, 3, 3, 0, 2, 3};
    for (int i = 0; i < 7; i++) rg_add(s, &r, k3[i], i % 2 ? RG_TWO_POINTS : RG_POINT_BOX, NULL, -1);
    rg_run_set(&r, s, tol);

    // 5. Mask inputs (every prompt of the set), points and boxes; no prompt on images 0 and 3.
    *s = (RgSet){.name = "mask inputs", .multimask = 1, .with_mask = 1};
    int k5[] = {2, 1, 1, 2, 2};
    for (int i = 0; i < 5; i++) rg_add(s, &r, k5[i], i == 2 ? RG_BOX : RG_FG, NULL, -1);
    rg_run_set(&r, s, tol);

    // 6. Mask inputs, t = 3, single-mask output, interleaved.
    *s = (RgSet){.name = "mask inputs, point+box", .multimask = 0, .with_mask = 1};
    int k6[] = {3, 0, 3, 1};
    for (int i = 0; i < 4; i++) rg_add(s, &r, k6[i], RG_POINT_BOX, NULL, -1);
    rg_run_set(&r, s, tol);

    free(s);
    cJSON_Delete(man);
    rg_close(&r);
}

// ---- eval_batch with two decodings ----------------------------------------------------------

typedef struct {
    uint8_t *masks;
    int32_t *top;
    int64_t *inter, *uni;
    float *iou;
} RgEvalOut;

static void rg_eval_once(Sam *m, const Batch *b, EvalIO *io, const StageChoices *ch, GraphCache *gc,
                         RgEvalOut *out, int C) {
    Exec *x = m->x;
    EvalBatch e = {.m = m, .b = b, .n_images = b->n_images, .choices = ch, .io = io,
                   .graphs = ch->graphs ? gc : NULL};
    sam_plan(m, eval_batch, &e);
    if (e.graphs) {
        x->preparing = 1;
        eval_batch(m, &e);
        x->preparing = 0;
        ex_release(x, 0);
    }
    eval_batch(m, &e);
    ex_release(x, 0);
    const int P = b->n_prompts;
    out->masks = rg_host(x, io->masks, b->mask_offset[P] * (size_t)C);
    out->top = rg_host(x, io->top_index, sizeof(int32_t) * P);
    out->inter = rg_host(x, io->inter, sizeof(int64_t) * P);
    out->uni = rg_host(x, io->uni, sizeof(int64_t) * P);
    out->iou = rg_host(x, io->iou, sizeof(float) * P * C);
}

// eval_batch over the first `limit` images of the synthetic subset at coco (made here when
// missing), batches of batch_size, with choices a (the reference) and b. Returns the number of
// annotations compared.
static int ragged_eval_compare(Sam *m, const char *coco, int batch_size, int limit,
                               const StageChoices *a, const StageChoices *b, const char *what,
                               RaggedTolerance tol) {
    Exec *x = m->x;
    const int C = m->cfg.num_mask_tokens - 1;
    char err[1024];
    SynthConfig sc = {.n_images = limit, .seed = 16, .slice = NULL};
    int generated;
    if (synth_ensure(coco, &sc, &generated, err, sizeof err) != 0) {
        report(0, "%s: synthetic subset: %s", what, err);
        return 0;
    }
    BatchLoaderConfig bc = {.coco_root = coco, .slice = "val2017", .image_size = m->cfg.img_size,
                            .batch_size = batch_size, .limit = limit};
    BatchLoader *bl = batch_loader_open(&bc, err, sizeof err);
    if (!bl) {
        report(0, "%s: %s", what, err);
        return 0;
    }
    GraphCache gc;
    graph_cache_init(&gc, x);
    EvalIO io = {0};
    int annotations = 0, batches = 0;
    int64_t bad_mask = 0, all_mask = 0;
    int bad_top = 0, bad_counts = 0;
    double iou_num = 0, iou_den = 0, top_sum = 0, top_worst = 1;
    for (;;) {
        Batch *bt;
        int rc = batch_loader_next(bl, &bt, err, sizeof err);
        if (rc < 0) {
            report(0, "%s: %s", what, err);
            break;
        }
        if (rc == 0) break;
        if (bt->n_images == 0) {
            batch_loader_release(bl, bt);
            continue;
        }
        eval_io_load(x, &io, bt, C);
        RgEvalOut o[2];
        rg_eval_once(m, bt, &io, a, &gc, &o[0], C);
        rg_eval_once(m, bt, &io, b, &gc, &o[1], C);
        const int P = bt->n_prompts;
        for (int p = 0; p < P; p++) {
            int img = bt->prompt_image[p];
            int64_t hw = (int64_t)bt->orig_h[img] * bt->orig_w[img];
            const uint8_t *ma = o[0].masks + bt->mask_offset[p] * (size_t)C, *mb = o[1].masks + bt->mask_offset[p] * (size_t)C;
            int64_t bad_here = 0;
            for (int64_t i = 0; i < C * hw; i++) bad_here += ma[i] != mb[i];
            bad_mask += bad_here, all_mask += C * hw;
            bad_top += o[0].top[p] != o[1].top[p];
            // A count may move by the pixels that flipped, no more.
            bad_counts += llabs(o[0].inter[p] - o[1].inter[p]) > bad_here || llabs(o[0].uni[p] - o[1].uni[p]) > bad_here;
            int64_t in = 0, un = 0;
            for (int64_t i = 0; i < hw; i++) {
                uint8_t u = ma[o[0].top[p] * hw + i], v = mb[o[1].top[p] * hw + i];
                in += u & v, un += u | v;
            }
            double iou = un ? (double)in / un : 1.0;
            top_sum += iou, top_worst = iou < top_worst ? iou : top_worst;
        }
        rg_err(o[1].iou, o[0].iou, 0, 0, (int64_t)P * C, &iou_num, &iou_den);
        annotations += P, batches++;
        for (int k = 0; k < 2; k++) free(o[k].masks), free(o[k].top), free(o[k].inter), free(o[k].uni), free(o[k].iou);
        batch_loader_release(bl, bt);
    }
    double e = iou_den > 0 ? iou_num / iou_den : iou_num;
    report(annotations > 0 && e <= tol.float_tol, "%s: %d annotations in %d batches, predicted IoUs within %.3g (tol %.0e)",
           what, annotations, batches, e, tol.float_tol);
    // Float32 paths whose sums are grouped differently (the ragged decoder's merged image-side
    // products, weights.c pe_split) flip the pixels whose logit is within rounding of zero; the
    // masks file keeps no logits to excuse them one by one, so their count is bounded instead:
    // at most float_tol of the pixels, each count moved by no more than its prompt's flips.
    if (tol.mask_min_iou == 0)
        report(annotations > 0 && (double)bad_mask <= tol.float_tol * (double)all_mask && bad_top == 0 &&
                   bad_counts == 0,
               "%s: every annotation's masks (the masks file) identical but for %lld of %lld pixels "
               "(at most %.0e of them), top indices identical (%d differ), counts within the flips "
               "(%d differ more)",
               what, (long long)bad_mask, (long long)all_mask, tol.float_tol, bad_top, bad_counts);
    else
        report(annotations > 0 && top_sum / annotations >= tol.mask_min_iou,
               "%s: top masks agree at mean IoU %.5f (min %.2f; lowest %.4f; %d top indices and "
               "%lld mask pixels differ)", what, annotations ? top_sum / annotations : 0, tol.mask_min_iou,
               top_worst, bad_top, (long long)bad_mask);
    eval_io_free(x, &io);
    graph_cache_free(&gc);
    batch_loader_close(bl);
    return annotations;
}

#endif
