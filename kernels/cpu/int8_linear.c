// The int8 linear format on the CPU: the reference of the CUDA format (kernels/cuda/
// int8_linear.cu) and of design.md section 2's recipe, with the rules of kernels/int8_rules.h:
// weights quantised once per output channel at prepare, activations per token at run, int8 x
// int8 products summed exactly in int32, then y = act(float(acc) * x_scale * w_scale + bias)
// [+ residual], float32. Plain loops (no BLAS: the int32 sums are exact and order-free).
#include <string.h>

#include "common/check.h"
#include "cpu_ops.h"
#include "kernels/int8_rules.h"

typedef struct {
    int8_t *Wq;      // (out, in)
    float *w_scale;  // (out)
    float *b;        // (out) or NULL
} CpuInt8Linear;

void cpu_int8_quantize_rows(int8_t *q, float *scale, const float *x, int64_t rows, int k) {
    for (int64_t r = 0; r < rows; r++) {
        const float *v = x + r * k;
        float amax = 0.0f;
        for (int i = 0; i < k; i++) amax = fmaxf(amax, fabsf(v[i]));
        float s = int8_scale(amax);
        scale[r] = s;
        for (int i = 0; i < k; i++) q[r * k + i] = int8_quantize(v[i], s);
    }
}

void cpu_int8_products(int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int n, int k) {
    for (int64_t r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            const int8_t *ar = a + r * k, *br = b + (int64_t)j * k;
            int32_t acc = 0;
            for (int i = 0; i < k; i++) acc += (int32_t)ar[i] * br[i];
            c[r * n + j] = acc;
        }
}

float cpu_int8_dequant(int32_t acc, float x_scale, float w_scale, float bias) {
    return (float)acc * x_scale * w_scale + bias;
}

static LinearWeight *int8_prepare(Exec *x, const float *W, const float *b, int out, int in) {
    LinearWeight *lw = xcalloc(1, sizeof *lw);
    CpuInt8Linear *cl = xcalloc(1, sizeof *cl);
    lw->out_features = out;
    lw->in_features = in;
    cl->Wq = xmalloc((size_t)out * in);
    cl->w_scale = xmalloc((size_t)out * sizeof(float));
    cpu_int8_quantize_rows(cl->Wq, cl->w_scale, W, out, in);
    if (b) {
        cl->b = xmalloc((size_t)out * sizeof(float));
        memcpy(cl->b, b, (size_t)out * sizeof(float));
    }
    lw->impl = cl;
    return lw;
}

static void int8_release(Exec *x, LinearWeight *w) {
    CpuInt8Linear *cl = w->impl;
    free(cl->Wq);
    free(cl->w_scale);
    free(cl->b);
    free(cl);
    free(w);
}

void cpu_int8_weights(const LinearWeight *w, const int8_t **q, const float **scale) {
    const CpuInt8Linear *cl = w->impl;
    *q = cl->Wq;
    *scale = cl->w_scale;
}

typedef struct {
    float *y;
    const float *in, *res;
    const CpuInt8Linear *cl;
    int out, k;
    Act act;
} Int8Run;

static void int8_rows(void *ctx, int64_t r0, int64_t r1) {
    const Int8Run *e = ctx;
    int8_t *q = xmalloc((size_t)e->k);
    int32_t *acc = xmalloc((size_t)e->out * sizeof(int32_t));
    for (int64_t r = r0; r < r1; r++) {
        float xs;
        cpu_int8_quantize_rows(q, &xs, e->in + r * e->k, 1, e->k);
        cpu_int8_products(acc, q, e->cl->Wq, 1, e->out, e->k);
        float *y = e->y + r * e->out;
        const float *res = e->res ? e->res + r * e->out : NULL;
        for (int j = 0; j < e->out; j++) {
            float v = cpu_int8_dequant(acc[j], xs, e->cl->w_scale[j], e->cl->b ? e->cl->b[j] : 0.0f);
            v = cpu_act(v, e->act);
            y[j] = res ? v + res[j] : v;  // res may be y: element j is read before it is written
        }
    }
    free(q);
    free(acc);
}

// ref: torchao's dynamic int8 linear: y = act(dequant(q(x) q(W)^T) + b) [+ residual].
static void int8_run(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows, Act act,
                     const void *residual) {
    if (rows <= 0) return;
    Int8Run e = {y, in, residual, w->impl, w->out_features, w->in_features, act};
    cpu_parallel_for(rows, int8_rows, &e);
}

const LinearFormat cpu_linear_int8 = {
    .name = "int8",
    .backend = "cpu",
    .dtypes = 1u << DT_F32,
    .prepare = int8_prepare,
    .run = int8_run,
    .release = int8_release,
};
