// Post-processing on the CPU: bilinear mask resizing and the top-mask statistics.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

#include "cpu_ops.h"

// ref: aten/src/ATen/native/UpSample.h area_pixel_compute_source_index and
// compute_source_index_and_lambda (align_corners=False, no explicit scale): the ratio is
// in / out in float32; the source index (dst + 0.5) * ratio - 0.5 is clamped at 0.
static void source_index(int out_index, int in_size, int full_size, int *i0, int *i1, float *l0,
                         float *l1) {
    if (in_size == full_size) {
        *i0 = *i1 = out_index;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    float ratio = (float)in_size / (float)full_size;
    float src = ratio * ((float)out_index + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int i = (int)floorf(src);
    if (i > in_size - 1) i = in_size - 1;
    float lambda = src - (float)i;
    lambda = lambda < 0.0f ? 0.0f : lambda > 1.0f ? 1.0f : lambda;
    *i0 = i;
    *i1 = i + (i < in_size - 1 ? 1 : 0);
    *l1 = lambda;
    *l0 = 1.0f - lambda;
}

typedef struct {
    float *dst;
    const float *src;
    int hin, win, hfull, wfull, hout, wout;
    int *x0, *x1;
    float *lx0, *lx1;
} ResizeArgs;

static void resize_rows(void *ctx, int64_t r0, int64_t r1) {
    ResizeArgs *a = ctx;
    for (int64_t r = r0; r < r1; r++) {
        int64_t img = r / a->hout;
        int oy = (int)(r % a->hout);
        int y0, y1;
        float ly0, ly1;
        source_index(oy, a->hin, a->hfull, &y0, &y1, &ly0, &ly1);
        const float *s0 = a->src + (img * a->hin + y0) * a->win;
        const float *s1 = a->src + (img * a->hin + y1) * a->win;
        float *d = a->dst + r * a->wout;
        for (int ox = 0; ox < a->wout; ox++)
            d[ox] = ly0 * (a->lx0[ox] * s0[a->x0[ox]] + a->lx1[ox] * s0[a->x1[ox]]) +
                    ly1 * (a->lx0[ox] * s1[a->x0[ox]] + a->lx1[ox] * s1[a->x1[ox]]);
    }
}

// ref: torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
void cpu_resize_bilinear(Exec *x, float *dst, const float *src, int n, int hin, int win,
                         int hfull, int wfull, int hout, int wout) {
    int x0[wout], x1[wout];
    float lx0[wout], lx1[wout];
    for (int ox = 0; ox < wout; ox++) source_index(ox, win, wfull, &x0[ox], &x1[ox], &lx0[ox], &lx1[ox]);
    ResizeArgs a = {dst, src, hin, win, hfull, wfull, hout, wout, x0, x1, lx0, lx1};
    cpu_parallel_for((int64_t)n * hout, resize_rows, &a);
}

void cpu_top_mask_stats(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                        int64_t *uni, const float *logits, const float *pred_iou,
                        const uint8_t *gt, int n, int c, int h, int w) {
    int64_t hw = (int64_t)h * w;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int j = 1; j < c; j++)
            if (pred_iou[i * c + j] > pred_iou[i * c + best]) best = j;
        const uint8_t *g = gt + (int64_t)i * hw;
        int64_t in = 0, un = 0;
        for (int j = 0; j < c; j++) {
            const float *l = logits + ((int64_t)i * c + j) * hw;
            uint8_t *m = masks + ((int64_t)i * c + j) * hw;
            for (int64_t p = 0; p < hw; p++) m[p] = l[p] > 0.0f;
            if (j != best) continue;
            for (int64_t p = 0; p < hw; p++) {
                in += m[p] & (g[p] != 0);
                un += m[p] | (g[p] != 0);
            }
        }
        top_index[i] = best;
        inter[i] = in;
        uni[i] = un;
    }
}

// The reference of the ragged post-processing: per prompt, the two resizes of
// sam_postprocess (to the padded input, cropped; then to the original size) through a crop
// buffer, so the ragged result is the per-image one by construction.
void cpu_resize_masks_ragged(Exec *x, float *dst, const float *src, int c, int hin, int win,
                             int hfull, int wfull, const RaggedMasks *r) {
    int64_t crop_cap = 0;
    float *crop = NULL;
    for (int p = 0; p < r->n; p++) {
        const int32_t *sz = r->size + 4 * p;
        int in_h = sz[0], in_w = sz[1], oh = sz[2], ow = sz[3];
        if (in_h > hfull || in_w > wfull || in_h <= 0 || in_w <= 0 || oh <= 0 || ow <= 0)
            die("cpu resize_masks_ragged: prompt %d: crop %dx%d of %dx%d to %dx%d", p, in_h, in_w,
                hfull, wfull, oh, ow);
        int64_t need = (int64_t)c * in_h * in_w;
        if (need > crop_cap) {
            free(crop);
            crop = xmalloc((size_t)need * sizeof(float));
            crop_cap = need;
        }
        cpu_resize_bilinear(x, crop, src + (int64_t)p * c * hin * win, c, hin, win, hfull, wfull, in_h, in_w);
        cpu_resize_bilinear(x, dst + (int64_t)c * r->offset[p], crop, c, in_h, in_w, oh, ow, oh, ow);
    }
    free(crop);
}

void cpu_top_mask_stats_ragged(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                               int64_t *uni, const float *logits, const float *pred_iou,
                               const uint8_t *gt, int c, const RaggedMasks *r) {
    for (int p = 0; p < r->n; p++) {
        int64_t off = r->offset[p];
        cpu_top_mask_stats(x, masks + c * off, top_index + p, inter + p, uni + p, logits + c * off,
                           pred_iou + (int64_t)p * c, gt + off, 1, c, r->size[4 * p + 2], r->size[4 * p + 3]);
    }
}
