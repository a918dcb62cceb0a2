// Execution context: the operation table a stage chose, the backend's state and the activation
// arena. The model allocates every temporary from the arena with a stack discipline
// (ex_mark / ex_release). Before the first real pass the model runs once in planning mode:
// operations are skipped and only the arena's high-water mark is recorded, so the arena is
// sized exactly from the model and the batch size and allocated once.
#ifndef SAM_EXEC_H
#define SAM_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"


// Allocates the arena of the planned size (arena_peak). Call after a planning pass.
void exec_arena_commit(Exec *x);
void exec_arena_free(Exec *x);

void *ex_alloc_bytes(Exec *x, size_t bytes);
static inline void *ex_act(Exec *x, int64_t n) { return ex_alloc_bytes(x, (size_t)n * x->act_size); }
static inline float *ex_f32(Exec *x, int64_t n) { return (float *)ex_alloc_bytes(x, (size_t)n * 4); }
static inline size_t ex_mark(Exec *x) { return x->arena_top; }
static inline void ex_release(Exec *x, size_t mark) { x->arena_top = mark; }

// ---- operation wrappers: skipped while planning or preparing graphs ------------------------
#define EX_SKIP(x) ((x)->planning || (x)->preparing)
#define EX_RUN(x, call) do { if (!EX_SKIP(x)) (x)->ops->call; } while (0)

static inline void op_add(Exec *x, void *y, const void *a, const void *b, int64_t n,
                          int64_t a_period, int64_t b_period) {
    EX_RUN(x, add(x, y, a, b, n, a_period, b_period));
}
static inline void op_activation(Exec *x, void *y, int64_t n, Act act) {
    EX_RUN(x, activation(x, y, n, act));
}

// Through the layer's own format (the stage's choice for its role); the planning pass records
// the scratch the format will need, as op_attention's.
static inline void linear_plan(Exec *x, const LinearWeight *w, int64_t rows, Act act, const void *residual) {
    size_t need = w->format->workspace_bytes ? w->format->workspace_bytes(x, w, rows) : 0;
    exec_need_workspace(x, need);
    if (w->format->plan) w->format->plan(x, w, rows, act, residual != NULL);
}
static inline void op_linear_format(Exec *x, void *y, const void *in, const LinearWeight *w,
                                    int64_t rows, Act act, const void *residual) {
    if (x->planning) {
        linear_plan(x, w, rows, act, residual);
        return;
    }
    if (!x->preparing) w->format->run(x, y, in, w, rows, act, residual);
}
// y = act(in W^T + b) [+ residual]; residual may equal y. With the stage's fusion off, the
// activation and the residual add are passes of their own after the product and its bias, as
// the official code's nn.GELU / nn.ReLU and `x = shortcut + x` run in eager PyTorch (the bf16
// stage); with it on, the format folds them into its epilogue (the fused stage and later).
// The residual's product goes to an arena temporary first, as eager's does: y is the shortcut.
static inline void op_linear(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                             Act act, const void *residual) {
    if (x->ops->choices.fusion || (act == ACT_NONE && residual == NULL)) {
        op_linear_format(x, y, in, w, rows, act, residual);
        return;
    }
    int64_t n = rows * w->out_features;
    size_t mark = ex_mark(x);
    void *t = residual ? ex_act(x, n) : y;  // (rows, out)
    op_linear_format(x, t, in, w, rows, ACT_NONE, NULL);
    if (act != ACT_NONE) op_activation(x, t, n, act);
    if (residual) op_add(x, y, t, residual, n, n, n);
    ex_release(x, mark);
}
// y(rows, out) = in W^T + table[r % period] (ops.h linear_table).
static inline void op_linear_table(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                                   const void *table, int64_t period) {
    EX_RUN(x, linear_table(x, y, in, w, rows, table, period));
}
// y(rows, dim) = act(LayerNorm(in)); without fusion the activation is a pass of its own.
static inline void op_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b,
                                int64_t rows, int dim, float eps, Act act) {
    if (x->ops->choices.fusion || act == ACT_NONE) {
        EX_RUN(x, layernorm(x, y, in, g, b, rows, dim, eps, act));
        return;
    }
    EX_RUN(x, layernorm(x, y, in, g, b, rows, dim, eps, ACT_NONE));
    op_activation(x, y, rows * dim, act);
}
// Through the stage's attention choice for the call's site; the planning pass records the
// scratch it will need, so the workspace exists before any run or capture.
static inline void op_attention(Exec *x, const AttnParams *p) {
    const OpsChoices *c = &x->ops->choices;
    const AttentionImpl *a = p->site == ATTN_ENCODER ? c->encoder_attention : c->decoder_attention;
    if ((p->q_batch_of || p->kv_batch_of) && !a->takes_batch_index)
        die("attention '%s' (%s) does not take a batch index (AttnParams.q_batch_of / kv_batch_of)",
            a->name, x->ops->name);
    if (x->planning) {
        size_t need = a->workspace_bytes ? a->workspace_bytes(x, p) : 0;
        exec_need_workspace(x, need);
        return;
    }
    if (!x->preparing) a->run(x, p);
}
static inline void op_matmul_nt(Exec *x, void *c, const void *a, const void *b, int batch, int m,
                                int n, int k, int64_t sa, int64_t sb, int64_t sc, float alpha) {
    EX_RUN(x, matmul_nt(x, c, a, b, batch, m, n, k, sa, sb, sc, alpha));
}
static inline void op_gather_add(Exec *x, void *y, const void *a, const int32_t *index,
                                 const void *b, int64_t n, int64_t block, int64_t b_period) {
    EX_RUN(x, gather_add(x, y, a, index, b, n, block, b_period));
}
static inline void op_copy3d(Exec *x, void *dst, const void *src, int64_t batch, int64_t rows,
                             int64_t cols, int64_t dbs, int64_t drs, int64_t sbs, int64_t srs) {
    EX_RUN(x, copy3d(x, dst, src, batch, rows, cols, dbs, drs, sbs, srs));
}
static inline void op_im2col(Exec *x, void *dst, const void *src, int src_f32, int src_nchw,
                             int n, int h, int w, int c, int k, int stride, int pad) {
    EX_RUN(x, im2col(x, dst, src, src_f32, src_nchw, n, h, w, c, k, stride, pad));
}
static inline void op_window_partition(Exec *x, void *dst, const void *src, int b, int h, int w,
                                       int c, int win) {
    EX_RUN(x, window_partition(x, dst, src, b, h, w, c, win));
}
static inline void op_window_unpartition(Exec *x, void *dst, const void *src, int b, int h,
                                         int w, int c, int win) {
    EX_RUN(x, window_unpartition(x, dst, src, b, h, w, c, win));
}
static inline void op_select_masks(Exec *x, float *dst, const void *src, int n, int m, int first,
                                   int count, int g) {
    EX_RUN(x, select_masks(x, dst, src, n, m, first, count, g));
}
// The first upscaling's LayerNorm2d and GELU, the second upscaling, its GELU, the masks and
// their image order (ops.h upscale_masks): one kernel where the stage chose fusion, else the
// LayerNorm with its GELU in place on u1, a linear layer with its GELU to up ((n * 16 g g, d8)
// act), the batched product with hyper_in to masks ((n, m, 16 g g) act) and select_masks, as
// the official code's LayerNorm2d, GELU, ConvTranspose2d, GELU and matmul run eagerly.
static inline void op_upscale_masks(Exec *x, float *dst, void *u1, const void *ln_g, const void *ln_b,
                                    float eps, const LinearWeight *w, const void *hyper_in, int n,
                                    int m, int first, int count, int g) {
    if (x->ops->choices.fusion) {
        if (!x->ops->upscale_masks) die("%s: fusion chosen but the backend has no upscale_masks kernel", x->ops->name);
        EX_RUN(x, upscale_masks(x, dst, u1, ln_g, ln_b, eps, w, hyper_in, n, m, first, count, g));
        return;
    }
    int d8 = w->out_features / 4, HW16 = 16 * g * g;
    op_layernorm(x, u1, u1, ln_g, ln_b, (int64_t)n * 4 * g * g, w->in_features, eps, ACT_GELU);
    size_t mark = ex_mark(x);
    void *up = ex_act(x, (int64_t)n * HW16 * d8);   // (n * 16 g g, d8)
    void *masks = ex_act(x, (int64_t)n * m * HW16);  // (n, m, 16 g g) in up's pixel order
    op_linear(x, up, u1, w, (int64_t)n * 4 * g * g, ACT_GELU, NULL);
    op_matmul_nt(x, masks, hyper_in, up, n, m, HW16, d8, (int64_t)m * d8, (int64_t)HW16 * d8, (int64_t)m * HW16, 1.0f);
    op_select_masks(x, dst, masks, n, m, first, count, g);
    ex_release(x, mark);
}
static inline void op_embed_prompts(Exec *x, void *out, const float *coords, const int32_t *labels,
                                    int n, int t, int dim, const float *gauss, const void *pe,
                                    const void *nap, int img) {
    EX_RUN(x, embed_prompts(x, out, coords, labels, n, t, dim, gauss, pe, nap, img));
}
static inline void op_act_to_f32(Exec *x, float *dst, const void *src, int64_t n) {
    EX_RUN(x, act_to_f32(x, dst, src, n));
}
static inline void op_resize_bilinear(Exec *x, float *dst, const float *src, int n, int hin,
                                      int win, int hfull, int wfull, int hout, int wout) {
    EX_RUN(x, resize_bilinear(x, dst, src, n, hin, win, hfull, wfull, hout, wout));
}
static inline void op_resize_masks_ragged(Exec *x, float *dst, const float *src, int c, int hin,
                                          int win, int hfull, int wfull, const RaggedMasks *r) {
    EX_RUN(x, resize_masks_ragged(x, dst, src, c, hin, win, hfull, wfull, r));
}
static inline void op_copy_device(Exec *x, void *dst, const void *src, size_t bytes) {
    EX_RUN(x, copy_device(x, dst, src, bytes));
}
static inline void op_top_mask_stats(Exec *x, uint8_t *masks, int32_t *top_index,
                                     int64_t *inter, int64_t *uni, const float *logits,
                                     const float *pred_iou, const uint8_t *gt, int n, int c, int h,
                                     int w) {
    EX_RUN(x, top_mask_stats(x, masks, top_index, inter, uni, logits, pred_iou, gt, n, c, h, w));
}
static inline void op_top_mask_stats_ragged(Exec *x, uint8_t *masks, int32_t *top_index,
                                            int64_t *inter, int64_t *uni, const float *logits,
                                            const float *pred_iou, const uint8_t *gt, int c,
                                            const RaggedMasks *r) {
    EX_RUN(x, top_mask_stats_ragged(x, masks, top_index, inter, uni, logits, pred_iou, gt, c, r));
}
// LayerNorm then window_partition: one fused kernel where the stage chose fusion, else the
// two operations through tmp ((n, h, w, c) act, the caller's, unused when fused).
static inline void op_layernorm_window(Exec *x, void *dst, void *tmp, const void *src,
                                       const void *g, const void *b, int n, int h, int w, int c,
                                       float eps, int win) {
    if (x->ops->choices.fusion) {
        EX_RUN(x, layernorm_window(x, dst, src, g, b, n, h, w, c, eps, win));
        return;
    }
    op_layernorm(x, tmp, src, g, b, (int64_t)n * h * w, c, eps, ACT_NONE);
    op_window_partition(x, dst, tmp, n, h, w, c, win);
}
// y = act(LayerNorm(in) W^T + b) [+ residual] over ln_spec_rows(ln) rows, the LayerNorm
// followed by the window partition where ln->win > 0: through the format's fused run_ln where
// the stage chose fusion and the format has one (int8), else op_layernorm(_window) into tmp (the
// caller's, (rows, dim) act; tmp2 (n h w, dim) the unfused window path's intermediate) and
// op_linear.
static inline void op_layernorm_linear(Exec *x, void *y, void *tmp, void *tmp2, const void *in,
                                       const LnSpec *ln, const LinearWeight *w, Act act, const void *residual) {
    int64_t rows = ln_spec_rows(ln);
    if (x->ops->choices.fusion && w->format->run_ln) {
        if (x->planning) {
            linear_plan(x, w, rows, act, residual);
            return;
        }
        if (!x->preparing) w->format->run_ln(x, y, in, ln, w, act, residual);
        return;
    }
    if (ln->win > 0) op_layernorm_window(x, tmp, tmp2, in, ln->g, ln->b, ln->n, ln->h, ln->w, ln->dim, ln->eps, ln->win);
    else op_layernorm(x, tmp, in, ln->g, ln->b, rows, ln->dim, ln->eps, ACT_NONE);
    op_linear(x, y, tmp, w, rows, act, residual);
}
// ref: image_encoder.py Block.forward's `x = x + self.mlp(self.norm2(x))` (MLPBlock: lin1, act,
// lin2): y = lin2(act(lin1(LayerNorm(in)))) [+ residual] over ln_spec_rows(ln) rows, hidden
// (rows, w1 out) act the caller's for lin1's output, tmp as op_layernorm_linear's. Through the
// format's run_ln_mlp where the stage chose fusion and both layers are of a format that has one
// (int8), else op_layernorm_linear then op_linear.
static inline void op_layernorm_mlp(Exec *x, void *y, void *hidden, void *tmp, const void *in, const LnSpec *ln,
                                    const LinearWeight *w1, Act act, const LinearWeight *w2, const void *residual) {
    int64_t rows = ln_spec_rows(ln);
    if (x->ops->choices.fusion && w1->format == w2->format && w1->format->run_ln_mlp) {
        if (x->planning) {
            linear_plan(x, w1, rows, act, NULL);
            linear_plan(x, w2, rows, ACT_NONE, residual);
            return;
        }
        if (!x->preparing) w1->format->run_ln_mlp(x, y, hidden, in, ln, w1, act, w2, residual);
        return;
    }
    op_layernorm_linear(x, hidden, tmp, NULL, in, ln, w1, act, NULL);
    op_linear(x, y, hidden, w2, rows, ACT_NONE, residual);
}
static inline void op_range_push(Exec *x, const char *name) { EX_RUN(x, range_push(x, name)); }
static inline void op_range_pop(Exec *x) { EX_RUN(x, range_pop(x)); }

#endif
