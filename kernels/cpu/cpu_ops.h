// The CPU float32 reference implementation of kernels/ops.h: the oracle for every GPU stage.
// GEMMs through OpenBLAS's cblas_sgemm; everything else plain C, parallel over rows.
#ifndef SAM_CPU_OPS_H
#define SAM_CPU_OPS_H

#include <math.h>

#include "../ops.h"

// The CPU's choices (kernels/ops.h): its attention and its linear format.
extern const AttentionImpl cpu_attention_explicit;
extern const LinearFormat cpu_linear_dense;
// int8_linear.c: the int8 format's float32 reference (kernels/int8_rules.h), and its parts for
// the tests: rows quantised per row (q (rows, k) int8, scale (rows)); exact int32 products
// c (m, n) = a (m, k) b (n, k)^T; one dequantised value; a layer's int8 weights and scales.
extern const LinearFormat cpu_linear_int8;
void cpu_int8_quantize_rows(int8_t *q, float *scale, const float *x, int64_t rows, int k);
void cpu_int8_products(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int n, int k);
float cpu_int8_dequant(int32_t acc, float x_scale, float w_scale, float bias);
void cpu_int8_weights(const LinearWeight *w, const int8_t **q, const float **scale);

// The table with the CPU's only choices (float32, unfused, explicit attention, dense linears).
const Ops *cpu_ops(void);
// The table for a stage's choices; exits with one line naming the stage and any choice the CPU
// backend does not implement.
const Ops *cpu_open(const char *stage_name, const OpsChoices *choices);

// ---- internals shared by the kernels/cpu files ------------------------------------------
// Runs fn(ctx, begin, end) over [0, n) split into contiguous chunks on the machine's cores.
void cpu_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);

void cpu_linear(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows, Act act,
                const void *residual);
LinearWeight *cpu_linear_prepare(Exec *x, const float *W, const float *b, int out, int in);
void cpu_linear_release(Exec *x, LinearWeight *w);
void cpu_matmul_nt(Exec *x, void *c, const void *a, const void *b, int batch, int m, int n, int k,
                   int64_t sa, int64_t sb, int64_t sc, float alpha);
void cpu_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b, int64_t rows,
                   int dim, float eps, Act act);
void cpu_attention(Exec *x, const AttnParams *p);
void cpu_add(Exec *x, void *y, const void *a, const void *b, int64_t n, int64_t ap, int64_t bp);
void cpu_activation(Exec *x, void *y, int64_t n, Act act);
void cpu_linear_table(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                      const void *table, int64_t period);
void cpu_gather_add(Exec *x, void *y, const void *a, const int32_t *index, const void *b,
                    int64_t n, int64_t block, int64_t bp);
void cpu_copy3d(Exec *x, void *dst, const void *src, int64_t batch, int64_t rows, int64_t cols,
                int64_t dbs, int64_t drs, int64_t sbs, int64_t srs);
void cpu_im2col(Exec *x, void *dst, const void *src, int src_f32, int src_nchw, int n, int h,
                int w, int c, int k, int stride, int pad);
void cpu_window_partition(Exec *x, void *dst, const void *src, int b, int h, int w, int c, int win);
void cpu_window_unpartition(Exec *x, void *dst, const void *src, int b, int h, int w, int c, int win);
void cpu_select_masks(Exec *x, float *dst, const void *src, int n, int m, int first, int count, int g);
void cpu_embed_prompts(Exec *x, void *out, const float *coords, const int32_t *labels, int n, int t,
                       int dim, const float *gauss, const void *pe, const void *nap, int img);
void cpu_resize_bilinear(Exec *x, float *dst, const float *src, int n, int hin, int win,
                         int hfull, int wfull, int hout, int wout);
void cpu_resize_masks_ragged(Exec *x, float *dst, const float *src, int c, int hin, int win,
                             int hfull, int wfull, const RaggedMasks *r);
void cpu_top_mask_stats_ragged(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                               int64_t *uni, const float *logits, const float *pred_iou,
                               const uint8_t *gt, int c, const RaggedMasks *r);
void cpu_top_mask_stats(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                        int64_t *uni, const float *logits, const float *pred_iou,
                        const uint8_t *gt, int n, int c, int h, int w);

// Exact GELU (nn.GELU default): 0.5 x (1 + erf(x / sqrt 2)).
static inline float cpu_gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }
static inline float cpu_act(float v, Act act) {
    return act == ACT_GELU ? cpu_gelu(v) : act == ACT_RELU ? (v > 0.0f ? v : 0.0f) : v;
}

#endif
