// Dense layers on the CPU: nn.Linear as one SGEMM plus a bias/activation/residual epilogue.
#include <cblas.h>
#include <string.h>

#include "common/check.h"
#include "cpu_ops.h"

typedef struct {
    float *W;  // (out, in) as nn.Linear stores it
    float *b;  // (out) or NULL
} CpuLinear;

LinearWeight *cpu_linear_prepare(Exec *x, const float *W, const float *b, int out, int in) {
    LinearWeight *lw = xcalloc(1, sizeof *lw);
    CpuLinear *cl = xcalloc(1, sizeof *cl);
    lw->out_features = out;
    lw->in_features = in;
    cl->W = xmalloc((size_t)out * in * sizeof(float));
    memcpy(cl->W, W, (size_t)out * in * sizeof(float));
    if (b) {
        cl->b = xmalloc((size_t)out * sizeof(float));
        memcpy(cl->b, b, (size_t)out * sizeof(float));
    }
    lw->impl = cl;
    return lw;
}

void cpu_linear_release(Exec *x, LinearWeight *w) {
    CpuLinear *cl = w->impl;
    free(cl->W);
    free(cl->b);
    free(cl);
    free(w);
}

typedef struct {
    float *y;
    const float *b, *r;
    int out;
    Act act;
} Epilogue;

static void epilogue_rows(void *ctx, int64_t r0, int64_t r1) {
    Epilogue *e = ctx;
    for (int64_t r = r0; r < r1; r++) {
        float *y = e->y + r * e->out;
        const float *res = e->r ? e->r + r * e->out : NULL;
        for (int j = 0; j < e->out; j++) {
            float v = y[j] + (e->b ? e->b[j] : 0.0f);
            v = cpu_act(v, e->act);
            y[j] = res ? v + res[j] : v;
        }
    }
}

// Batch invariance: a row's output depends on that row alone, never on how many rows the call
// has. Ragged decoding sends every prompt of a batch through one call where per-image decoding
// sends each image's prompts through another, and the two must agree bit for bit here (the
// same masks file). OpenBLAS (0.3.21, measured) rounds differently for small problems (its
// small-matrix kernels: under 64 rows here) and for outputs narrower than 8 whatever the row
// count; from 64 rows up, with 8 or more outputs, every row comes out the same. So narrow
// outputs are computed here row by row, and calls of fewer than LINEAR_MIN_ROWS rows run as
// LINEAR_MIN_ROWS rows (zero padding, through a scratch copy).
#define LINEAR_MIN_ROWS 64
#define LINEAR_MIN_OUT 8

typedef struct {
    float *y;
    const float *in, *W;
    int out, k;
} NarrowRows;

static void narrow_rows(void *ctx, int64_t r0, int64_t r1) {
    NarrowRows *a = ctx;
    for (int64_t r = r0; r < r1; r++)
        for (int j = 0; j < a->out; j++) {
            const float *xr = a->in + r * a->k, *wj = a->W + (int64_t)j * a->k;
            float acc = 0.0f;
            for (int c = 0; c < a->k; c++) acc += xr[c] * wj[c];
            a->y[r * a->out + j] = acc;
        }
}

// y (rows, out) = in (rows, k) W^T, batch-invariant as above.
static void linear_gemm(float *y, const float *in, const float *W, int64_t rows, int out, int k) {
    if (out < LINEAR_MIN_OUT) {
        NarrowRows a = {y, in, W, out, k};
        cpu_parallel_for(rows, narrow_rows, &a);
        return;
    }
    if (rows < LINEAR_MIN_ROWS) {
        float *pin = xcalloc((size_t)LINEAR_MIN_ROWS * k, sizeof(float));
        float *pout = xmalloc((size_t)LINEAR_MIN_ROWS * out * sizeof(float));
        memcpy(pin, in, (size_t)rows * k * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, LINEAR_MIN_ROWS, out, k, 1.0f, pin, k,
                    W, k, 0.0f, pout, out);
        memcpy(y, pout, (size_t)rows * out * sizeof(float));
        free(pin), free(pout);
        return;
    }
    CHECK(rows <= 0x7fffffff);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, out, k, 1.0f, in, k, W, k, 0.0f,
                y, out);
}

// ref: torch.nn.Linear: y = x W^T + b, then the activation, then the residual add.
void cpu_linear(Exec *x, void *y_, const void *in_, const LinearWeight *w, int64_t rows, Act act,
                const void *residual) {
    const CpuLinear *cl = w->impl;
    float *y = y_;
    const float *in = in_;
    int out = w->out_features, k = w->in_features;
    if (rows <= 0) return;
    // A residual aliasing y must survive the GEMM that overwrites y.
    float *saved = NULL;
    if (residual == y_) {
        saved = xmalloc((size_t)rows * out * sizeof(float));
        memcpy(saved, y, (size_t)rows * out * sizeof(float));
        residual = saved;
    }
    linear_gemm(y, in, cl->W, rows, out, k);
    Epilogue e = {y, cl->b, residual, out, act};
    if (cl->b || act != ACT_NONE || residual) cpu_parallel_for(rows, epilogue_rows, &e);
    free(saved);
}

typedef struct {
    float *y;
    const float *table;
    int64_t period;
    int out;
} TableAdd;

static void table_add_rows(void *ctx, int64_t r0, int64_t r1) {
    const TableAdd *t = ctx;
    for (int64_t r = r0; r < r1; r++) {
        float *y = t->y + r * t->out;
        const float *b = t->table + (r % t->period) * t->out;
        for (int c = 0; c < t->out; c++) y[c] += b[c];
    }
}

// ref: ops.h linear_table: the layer's product, then the table's row added to each row.
void cpu_linear_table(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                      const void *table, int64_t period) {
    if (rows <= 0) return;
    const CpuLinear *cl = w->impl;
    if (w->format != &cpu_linear_dense) die("cpu linear_table: the layer is in the '%s' format, not the dense one", w->format->name);
    if (cl->b) die("cpu linear_table: the layer has a bias (the table holds it: ops.h linear_table)");
    if (period <= 0 || rows % period) die("cpu linear_table: %lld rows are not whole blocks of %lld", (long long)rows, (long long)period);
    linear_gemm(y, in, cl->W, rows, w->out_features, w->in_features);
    TableAdd t = {y, table, period, w->out_features};
    cpu_parallel_for(rows, table_add_rows, &t);
}

void cpu_matmul_nt(Exec *x, void *c_, const void *a_, const void *b_, int batch, int m, int n,
                   int k, int64_t sa, int64_t sb, int64_t sc, float alpha) {
    for (int i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha,
                    (const float *)a_ + i * sa, k, (const float *)b_ + i * sb, k, 0.0f,
                    (float *)c_ + i * sc, n);
}
