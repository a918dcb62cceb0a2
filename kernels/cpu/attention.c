// Attention on the CPU, computed the way the official code does: scores materialised,
// decomposed rel-pos terms added, softmax, product with V.
// ref: segment_anything/modeling/image_encoder.py Attention.forward, add_decomposed_rel_pos
// ref: segment_anything/modeling/transformer.py Attention.forward
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "common/check.h"
#include "cpu_ops.h"

typedef struct {
    const AttnParams *p;
    const float *q;    // this (batch, head)'s q rows
    float *scores;     // (q_len, k_len)
} RowArgs;

// rel_h[qy, qx, ky] = q[qy, qx] . Rh[qy - ky + grid_h - 1] (and likewise for w), added to the
// scores of key (ky, kx); then the row softmax.
static void relpos_softmax_rows(void *ctx, int64_t r0, int64_t r1) {
    RowArgs *a = ctx;
    const AttnParams *p = a->p;
    int k_len = p->k_len, d = p->head_dim;
    float rel_h[512], rel_w[512];
    for (int64_t r = r0; r < r1; r++) {
        float *s = a->scores + r * k_len;
        if (p->rel_pos) {
            const float *q = a->q + r * p->q_tok_stride;
            const float *Rh = p->rel_pos, *Rw = Rh + (int64_t)(2 * p->grid_h - 1) * d;
            int qy = (int)(r / p->grid_w), qx = (int)(r % p->grid_w);
            for (int ky = 0; ky < p->grid_h; ky++) {
                const float *t = Rh + (int64_t)(qy - ky + p->grid_h - 1) * d;
                float acc = 0.0f;
                for (int c = 0; c < d; c++) acc += q[c] * t[c];
                rel_h[ky] = acc;
            }
            for (int kx = 0; kx < p->grid_w; kx++) {
                const float *t = Rw + (int64_t)(qx - kx + p->grid_w - 1) * d;
                float acc = 0.0f;
                for (int c = 0; c < d; c++) acc += q[c] * t[c];
                rel_w[kx] = acc;
            }
            for (int ky = 0; ky < p->grid_h; ky++)
                for (int kx = 0; kx < p->grid_w; kx++) s[ky * p->grid_w + kx] += rel_h[ky] + rel_w[kx];
        }
        float mx = -INFINITY;
        for (int j = 0; j < k_len; j++) mx = s[j] > mx ? s[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < k_len; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < k_len; j++) s[j] *= inv;
    }
}

void cpu_attention(Exec *x, const AttnParams *p) {
    if (p->rel_pos) {
        if (p->q_len != p->k_len || p->q_len != p->grid_h * p->grid_w)
            die("cpu attention: rel-pos needs q_len == k_len == grid_h * grid_w (got %d, %d, %dx%d)",
                p->q_len, p->k_len, p->grid_h, p->grid_w);
        if (p->grid_h > 512 || p->grid_w > 512) die("cpu attention: rel-pos grid over 512 is not supported");
    }
    float *scores = xmalloc((size_t)p->q_len * p->k_len * sizeof(float));
    for (int b = 0; b < p->batch; b++) {
        for (int h = 0; h < p->heads; h++) {
            int64_t qb = p->q_batch_of ? p->q_batch_of[b] : b, kb = p->kv_batch_of ? p->kv_batch_of[b] : b;
            const float *q = (const float *)p->q + qb * p->q_batch_stride + h * p->q_head_stride;
            const float *k = (const float *)p->k + kb * p->k_batch_stride + h * p->k_head_stride;
            const float *v = (const float *)p->v + kb * p->v_batch_stride + h * p->v_head_stride;
            float *o = (float *)p->o + b * p->o_batch_stride + h * p->o_head_stride;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->q_len, p->k_len, p->head_dim,
                        p->scale, q, (int)p->q_tok_stride, k, (int)p->k_tok_stride, 0.0f, scores,
                        p->k_len);
            RowArgs a = {p, q, scores};
            cpu_parallel_for(p->q_len, relpos_softmax_rows, &a);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->q_len, p->head_dim, p->k_len,
                        1.0f, scores, p->k_len, v, (int)p->v_tok_stride, 0.0f, o,
                        (int)p->o_tok_stride);
        }
    }
    free(scores);
}
