// The CUDA int8 linear format (kernels/cuda/int8_linear.cu) against the CPU reference
// (kernels/cpu/int8_linear.c), both following kernels/int8_rules.h.
//
//   build/tests/gpu/test_int8 [--bench | --bench-only]  (needs an sm_90 GPU; make test-gpu)
//   build/tests/gpu/test_int8 --profile I   bench shape I's int8 GEMM + epilogue twice (for ncu)
//   build/tests/gpu/test_int8 --mlp-only    the fused MLP's checks on two small shapes, each
//                                           variant that records the maxima (for compute-sanitizer)
//
// Checks, on shapes of the encoder's linears with few rows plus tails (rows not a multiple of
// the 128-row tile, columns not of 256, K not of 128), inputs rounded to bfloat16 first so both
// sides quantise the same numbers:
//   - the int8 weights and their scales equal the CPU's exactly;
//   - the quantised activations and their per-row scales equal the CPU's exactly;
//   - the int32 products equal the CPU's exactly;
//   - the dequantised output (float32, unrounded: the epilogue's test mode) within 1e-6 of the
//     CPU's relative to its largest magnitude (the same float32 operations; GELU's erff differs
//     by an ulp between the libraries), and the bfloat16 output within 1e-3 of the CPU's rounded
//     to bfloat16 (one rounding apart at most where GELU's last bit differs);
//   - GELU (lin1): the float32 pre-activation within 1e-6 of the CPU's, and the bfloat16 output
//     against GELU in double precision of that pre-activation (rounded to bfloat16 first where the
//     variant does, as torchao's linear output then nn.GELU), within float32's error bounds; the
//     epilogues' fitted GELU against double precision on [-12, 12] (check_gelu_fit);
//   - residual == output (proj, lin2 in place), GELU (lin1);
//   - faults: a layer whose activations are all zero (scale 0: output = bias, no NaN or Inf),
//     a weight row of zeros (that column = bias), both at once;
//   - more tiles than blocks (the persistent loop, stages wrapping across tiles), rows wider than
//     vit_h's widest;
// each case for every compiled GEMM variant (stages, epilogue: int8_linear.cu);
//   - the LayerNorm fused with the quantisation (the format's run_ln) equal bit for bit to the
//     LayerNorm then the quantisation pass, plain and window-partitioned, and the linear's output;
//   - the fused MLP (run_ln_mlp) equal bit for bit to run_ln then run, lin1's recorded row maxima
//     equal to the rows' largest pre-activations, the quantisation with them equal to the pass's,
//     for each variant that records the maxima; the rounded fitted GELU's order over every
//     bfloat16 value, which that quantisation uses;
//   - every bfloat16 pre-activation through lin1's GELU in each variant that rounds it first
//     (the fit, or s3-gelu-table's table): every output's bits equal the fit's, rounded.
// --bench: every encoder linear of vit_b and vit_h at batch 8 (rows 39200 for windowed qkv,
// 32768 otherwise), side by side: the dense bfloat16 format (cuBLASLt with its epilogue), the
// int8 GEMM with its epilogue, the quantisation pass, the whole int8 linear, and cuBLASLt's own
// int8 GEMM (int32 out; the best of its heuristic's algorithms): NOTE lines; and every compiled
// GEMM variant's time with its epilogue.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "../../kernels/cuda/cuda_ops.h"
#include "../../variants/core/exec.h"
#include "../test_util.h"
#include "common/check.h"
#include "dev_fill.h"
#include "test_rand.h"

static Exec G, CPU;
static CudaBackend *BK;

static uint64_t rng = 0x1a78e5eedull;
static float *rand_vec(size_t n, float scale, int round) {
    float *v = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float f = (float)((2.0 * urand() - 1.0) * scale);
        v[i] = round ? bf16_round(f) : f;
    }
    return v;
}

static void *dev_act(const float *host, size_t n) {  // bfloat16 on the device
    void *d = G.ops->mem_alloc(&G, n * 2);
    G.ops->upload_act(&G, d, host, n);
    return d;
}
static float *down_act(const void *d, size_t n) {
    float *h = xmalloc(n * sizeof(float));
    G.ops->download_act(&G, h, d, n);
    return h;
}

// One layer: weights (out, in) and a bias; x (rows, in) bfloat16-rounded.
typedef struct {
    const char *name;
    int rows, out, in;
    Act act;
    int residual;      // residual == y (in place)
    int zero_x_rows;   // the first rows of x are zero (all rows when == rows)
    int zero_w_rows;   // the first output channels' weights are zero
} Case;

static int VARIANT;  // the GEMM variant under test (cuda_int8_select_variant)

static void check_case(const Case *c) {
    int M = c->rows, N = c->out, K = c->in;
    size_t nx = (size_t)M * K, ny = (size_t)M * N;
    float *W = rand_vec((size_t)N * K, 0.05f, 0);
    float *b = rand_vec((size_t)N, 0.5f, 0);
    float *X = rand_vec(nx, 3.0f, 1);
    for (int r = 0; r < c->zero_x_rows; r++) memset(X + (size_t)r * K, 0, (size_t)K * sizeof(float));
    for (int o = 0; o < c->zero_w_rows; o++) memset(W + (size_t)o * K, 0, (size_t)K * sizeof(float));
    // Every fifth row scaled to produce exact .5 quotients now and then: a row whose max is 127
    // has scale 1, so x = k + 0.5 (exact in bfloat16 below 128) must round half to even.
    for (int r = c->zero_x_rows; r < M; r += 5) {
        float *row = X + (size_t)r * K;
        for (int i = 0; i < K; i++) row[i] = (float)((int)(row[i] * 40.0f)) + 0.5f;
        row[0] = 127.0f;
    }
    // Rows of values a float32 denormal's size and near it (every seventh from the fourth, where
    // not a tie row): a scale under FLT_MIN whose reciprocal is infinite (1e-39) or finite
    // (4e-37), which int8_quantize4_inv's fast rounding must hand to the division or meet.
    for (int r = c->zero_x_rows + 3, k = 0; r < M; r += 7, k++) {
        if ((r - c->zero_x_rows) % 5 == 0) continue;
        float *row = X + (size_t)r * K;
        for (int i = 0; i < K; i++) row[i] = bf16_round(row[i] * (k % 2 ? 4e-37f : 1e-39f));
    }
    float *R = rand_vec(ny, 2.0f, 1);  // the residual (also y's starting value)

    LinearWeight *wg = linear_prepare(&cuda_linear_int8, &G, W, b, N, K);
    LinearWeight *wc = linear_prepare(&cpu_linear_int8, &CPU, W, b, N, K);
    cuda_int8_select_variant(VARIANT);
    char what[200];
    snprintf(what, sizeof what, "%s (%d x %d x %d), GEMM %s", c->name, M, N, K, cuda_int8_variant_name(VARIANT));

    // Weights.
    int8_t *gq = xmalloc((size_t)N * K);
    float *gs = xmalloc((size_t)N * sizeof(float));
    const int8_t *cq;
    const float *cs;
    cuda_int8_weights(&G, wg, gq, gs);
    cpu_int8_weights(wc, &cq, &cs);
    report(memcmp(gq, cq, (size_t)N * K) == 0 && memcmp(gs, cs, (size_t)N * sizeof(float)) == 0,
           "int8 weights and scales equal the CPU's: %s", what);

    // Activations.
    void *dx = dev_act(X, nx);
    int8_t *dq = G.ops->mem_alloc(&G, nx + 16);
    float *dxs = G.ops->mem_alloc(&G, (size_t)M * sizeof(float));
    cuda_int8_quantize(&G, dq, dxs, dx, M, K);
    int8_t *q = xmalloc(nx), *qc = xmalloc(nx);
    float *xs = xmalloc((size_t)M * sizeof(float)), *xsc = xmalloc((size_t)M * sizeof(float));
    G.ops->copy_to_host(&G, q, dq, nx);
    G.ops->copy_to_host(&G, xs, dxs, (size_t)M * sizeof(float));
    cpu_int8_quantize_rows(qc, xsc, X, M, K);
    report(memcmp(q, qc, nx) == 0 && memcmp(xs, xsc, (size_t)M * sizeof(float)) == 0,
           "quantised activations and scales equal the CPU's: %s", what);
    int bad = 0;
    for (size_t i = 0; i < nx; i++) bad += qc[i] == -128;
    if (bad) report(0, "the CPU produced -128: %s", what);

    // int32 products.
    int32_t *dc = G.ops->mem_alloc(&G, ny * sizeof(int32_t));
    cuda_int8_gemm_raw(&G, dc, dq, wg, M);
    int32_t *acc = xmalloc(ny * sizeof(int32_t)), *accc = xmalloc(ny * sizeof(int32_t));
    G.ops->copy_to_host(&G, acc, dc, ny * sizeof(int32_t));
    cpu_int8_products(accc, qc, cq, M, N, K);
    size_t diff = 0;
    for (size_t i = 0; i < ny; i++) diff += acc[i] != accc[i];
    report(diff == 0, "int32 products equal the CPU's exactly: %s (%zu differ)", what, diff);

    // The CPU's output, float32, and the GPU's unrounded (test mode) and bfloat16.
    float *yc = xmalloc(ny * sizeof(float));
    memcpy(yc, R, ny * sizeof(float));
    cpu_linear_int8.run(&CPU, yc, X, wc, M, c->act, c->residual ? yc : NULL);
    void *dres = c->residual ? dev_act(R, ny) : NULL;
    float *dyf = G.ops->mem_alloc(&G, ny * sizeof(float));
    cuda_int8_gemm_epilogue(&G, dyf, dq, dxs, wg, M, c->act, dres, 1);
    float *yf = xmalloc(ny * sizeof(float));
    G.ops->copy_to_host(&G, yf, dyf, ny * sizeof(float));
    double e32 = rel_error(yf, yc, ny);
    report(e32 <= 1e-6, "float32 epilogue output within 1e-6 of the CPU: %s (%.2e)", what, e32);

    void *dy = c->residual ? dres : G.ops->mem_alloc(&G, ny * 2);
    if (!c->residual) G.ops->upload_act(&G, dy, R, ny);  // overwritten
    cuda_linear_int8.run(&G, dy, dx, wg, M, c->act, c->residual ? dy : NULL);
    float *y = down_act(dy, ny);
    float *ycr = xmalloc(ny * sizeof(float));
    for (size_t i = 0; i < ny; i++) ycr[i] = bf16_round(yc[i]);
    // (A variant rounding GELU's input is one bfloat16 rounding of the pre-activation away from
    // the CPU's float32 GELU, which is not within 1e-3; the rule check below covers it.)
    double e16 = rel_error(y, ycr, ny);
    if (!(c->act == ACT_GELU && cuda_int8_variant_rounds_gelu_input(VARIANT)))
        report(e16 <= 1e-3, "bfloat16 output within 1e-3 of the CPU's rounded: %s (%.2e)", what, e16);
    double e16r = rel_error(y, yc, ny);
    printf("NOTE %s: bfloat16 output vs the CPU's float32 %.2e (one bfloat16 rounding)\n", what, e16r);

    // GELU's rule, to float32's precision: from the GPU's own float32 pre-activation (no GELU;
    // checked against the CPU's first), rounded to bfloat16 where the variant rounds GELU's
    // input, GELU and the residual in double precision: the output must be that value rounded to
    // bfloat16, up to the float32 error of GELU itself (relative 1e-6 + 2.5e-7 x^2 as
    // check_gelu_fit bounds the fit, and erff's absolute error 0.5 |x| 2.4e-7 where 1 + erf
    // cancels). Where |x| <= 3 the outputs that are not the nearest bfloat16 of the
    // double-precision value (the float32 error crossing a rounding boundary) are counted: at most
    // 1 in 1000. (Beyond, float32's exp(-x^2 / 2) carries a relative error of about 2.5e-7 x^2,
    // which crosses boundaries more often: 42 of 20328 in the tails case, session 11 call 3.)
    if (c->act == ACT_GELU) {
        float *dpre = G.ops->mem_alloc(&G, ny * sizeof(float));
        cuda_int8_gemm_epilogue(&G, dpre, dq, dxs, wg, M, ACT_NONE, NULL, 1);
        float *pre = xmalloc(ny * sizeof(float)), *prec = xmalloc(ny * sizeof(float));
        G.ops->copy_to_host(&G, pre, dpre, ny * sizeof(float));
        cpu_linear_int8.run(&CPU, prec, X, wc, M, ACT_NONE, NULL);
        double ep = rel_error(pre, prec, ny);
        report(ep <= 1e-6, "float32 pre-activation within 1e-6 of the CPU: %s (%.2e)", what, ep);
        int rounds = cuda_int8_variant_rounds_gelu_input(VARIANT);
        size_t off = 0, far = 0;
        double worst = 0;
        for (size_t i = 0; i < ny; i++) {
            double xin = rounds ? bf16_round(pre[i]) : pre[i];
            double g = 0.5 * xin * erfc(-xin / sqrt(2.0));
            double want = g + (c->residual ? R[i] : 0.0);
            int e2;
            frexp(want, &e2);
            double half_step = want == 0.0 ? 0.0 : ldexp(1.0, e2 - 9);
            double tol = half_step + (1e-6 + 2.5e-7 * xin * xin) * fabs(g) + 0.5 * fabs(xin) * 2.4e-7 + fabs(want) * 0x1p-22;
            double d = fabs((double)y[i] - want);
            off += fabs(xin) <= 3.0 && y[i] != bf16_round((float)want);
            far += d > tol;
            if (d - tol > worst) worst = d - tol;
        }
        report(far == 0 && off * 1000 <= ny,
               "GELU output %s its input to bfloat16, to float32's precision: %s (%zu beyond, %zu of %zu "
               "not the nearest bfloat16)",
               rounds ? "rounding" : "not rounding", what, far, off, ny);
        G.ops->mem_free(&G, dpre);
        free(pre), free(prec);
    }

    // The fault cases' exact expectations.
    if (c->zero_x_rows || c->zero_w_rows) {
        int ok = 1;
        for (size_t i = 0; i < ny; i++) ok &= isfinite(y[i]) && isfinite(yf[i]);
        for (int r = 0; r < c->zero_x_rows; r++)
            for (int j = 0; j < N; j++) {
                float want = c->act == ACT_GELU ? cpu_gelu(b[j]) : b[j];
                if (c->residual) want += R[(size_t)r * N + j];
                ok &= fabsf(yf[(size_t)r * N + j] - want) <= 1e-6f * (1.0f + fabsf(want));
                ok &= xs[r] == 0.0f;
            }
        for (int r = 0; r < M; r++)
            for (int o = 0; o < c->zero_w_rows; o++) ok &= acc[(size_t)r * N + o] == 0;
        for (int o = 0; o < c->zero_w_rows; o++) ok &= gs[o] == 0.0f;
        report(ok, "faults: zero activations give scale 0 and output = bias, zero weight rows give "
                   "scale 0 and products 0, nothing non-finite: %s", what);
    }

    cuda_linear_int8.release(&G, wg);
    cpu_linear_int8.release(&CPU, wc);
    G.ops->mem_free(&G, dx);
    G.ops->mem_free(&G, dq);
    G.ops->mem_free(&G, dxs);
    G.ops->mem_free(&G, dc);
    G.ops->mem_free(&G, dyf);
    G.ops->mem_free(&G, dy);
    free(W), free(b), free(X), free(R), free(gq), free(gs), free(q), free(qc), free(xs), free(xsc);
    free(acc), free(accc), free(yc), free(yf), free(y), free(ycr);
}

// The LayerNorm fused with the quantisation (the format's run_ln; layernorm.cu's QUANT kernels)
// against LayerNorm (the fused stage's kernels) then the quantisation pass: the int8 values and
// scales equal bit for bit, and so does the whole linear's output. x (n, h, w, dim); win > 0:
// the window partition's rows, padded windows included.
static void check_ln_fusion(const char *name, int n, int h, int w, int dim, int win, int out, Act act) {
    int64_t rows = win ? (int64_t)n * ((h + win - 1) / win) * ((w + win - 1) / win) * win * win : (int64_t)n * h * w;
    size_t nx = (size_t)n * h * w * dim, nq = (size_t)rows * dim, ny = (size_t)rows * out;
    float *X = rand_vec(nx, 3.0f, 1), *gam = rand_vec(dim, 1.0f, 1), *bet = rand_vec(dim, 0.5f, 1);
    for (int i = 0; i < dim; i++) gam[i] += 1.0f;
    float *W = rand_vec((size_t)out * dim, 0.05f, 0), *bias = rand_vec(out, 0.5f, 0);
    void *dx = dev_act(X, nx), *dg = dev_act(gam, dim), *db = dev_act(bet, dim);
    void *dln = G.ops->mem_alloc(&G, nq * 2);
    int8_t *q1 = G.ops->mem_alloc(&G, nq), *q2 = G.ops->mem_alloc(&G, nq);
    float *s1 = G.ops->mem_alloc(&G, rows * sizeof(float)), *s2 = G.ops->mem_alloc(&G, rows * sizeof(float));
    const float eps = 1e-6f;
    if (win) G.ops->layernorm_window(&G, dln, dx, dg, db, n, h, w, dim, eps, win);
    else G.ops->layernorm(&G, dln, dx, dg, db, rows, dim, eps, ACT_NONE);
    cuda_int8_quantize(&G, q1, s1, dln, rows, dim);
    LnSpec spec = {dg, db, eps, n, h, w, dim, win};
    cuda_layernorm_quant(&G, q2, s2, dx, &spec);
    int8_t *hq1 = xmalloc(nq), *hq2 = xmalloc(nq);
    float *hs1 = xmalloc(rows * sizeof(float)), *hs2 = xmalloc(rows * sizeof(float));
    G.ops->copy_to_host(&G, hq1, q1, nq);
    G.ops->copy_to_host(&G, hq2, q2, nq);
    G.ops->copy_to_host(&G, hs1, s1, rows * sizeof(float));
    G.ops->copy_to_host(&G, hs2, s2, rows * sizeof(float));
    size_t dq = 0, ds = 0, zeros = 0;
    for (size_t i = 0; i < nq; i++) dq += hq1[i] != hq2[i];
    for (int64_t r = 0; r < rows; r++) ds += hs1[r] != hs2[r], zeros += hs2[r] == 0.0f;
    report(dq == 0 && ds == 0, "LayerNorm fused with the quantisation equals LayerNorm then the pass: %s "
           "(%lld rows x %d; %zu values, %zu scales differ; %zu padding rows of scale 0)", name, (long long)rows, dim, dq, ds, zeros);

    LinearWeight *wg = linear_prepare(&cuda_linear_int8, &G, W, bias, out, dim);
    void *y1 = G.ops->mem_alloc(&G, ny * 2), *y2 = G.ops->mem_alloc(&G, ny * 2);
    cuda_linear_int8.run(&G, y1, dln, wg, rows, act, NULL);
    cuda_linear_int8.run_ln(&G, y2, dx, &spec, wg, act, NULL);
    uint16_t *hy1 = xmalloc(ny * 2), *hy2 = xmalloc(ny * 2);
    G.ops->copy_to_host(&G, hy1, y1, ny * 2);
    G.ops->copy_to_host(&G, hy2, y2, ny * 2);
    report(memcmp(hy1, hy2, ny * 2) == 0, "the int8 linear's run_ln output equals LayerNorm then run: %s", name);

    cuda_linear_int8.release(&G, wg);
    void *dev[] = {dx, dg, db, dln, q1, q2, s1, s2, y1, y2};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) G.ops->mem_free(&G, dev[i]);
    free(X), free(gam), free(bet), free(W), free(bias), free(hq1), free(hq2), free(hs1), free(hs2), free(hy1), free(hy2);
}

// The encoder's MLP in one call (the format's run_ln_mlp: lin1's consumers record each hidden
// row's largest pre-activation, lin2's quantisation takes GELU of it as the row's largest
// magnitude and reads the row once) against run_ln then run, in place as the encoder calls them
// (y = in = residual): the hidden rows and the outputs equal bit for bit. And the parts: lin1
// recording the maxima equal for every row to the largest of that row's pre-activations (the
// same GEMM without GELU: the bfloat16 values the GELU warps read), its GELU output equal to
// run_ln's, and the quantisation with the maxima equal to the two-read pass's int8 values and
// scales; again with the maxima of every fifth row replaced by "none" and of the next by 0.5
// (rows the quantisation must read for their maximum). x (n, h, w, dim); zero_rows: the first
// rows of x constant (LayerNorm gives its bias).
// The order-keeping encoding of int8_linear.cu's i8_order / i8_unorder, on the host.
static uint32_t host_order(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}
static float host_unorder(uint32_t u) {
    uint32_t b = u & 0x80000000u ? u & 0x7fffffffu : ~u;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
static float bf16_bits_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
static uint16_t float_to_bf16_bits(float f) {  // rounded to nearest even; NaN stays NaN
    if (f != f) return 0x7fc0;
    f = bf16_round(f);
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (uint16_t)(bits >> 16);
}
static void check_mlp_fusion(const char *name, int n, int h, int w, int dim, int hid, int zero_rows, int variant) {
    int64_t rows = (int64_t)n * h * w;
    size_t nx = (size_t)rows * dim, nh = (size_t)rows * hid;
    float *X = rand_vec(nx, 3.0f, 1), *gam = rand_vec(dim, 1.0f, 1), *bet = rand_vec(dim, 0.5f, 1);
    for (int i = 0; i < dim; i++) gam[i] += 1.0f;
    for (int r = 0; r < zero_rows && r < rows; r++)
        for (int i = 0; i < dim; i++) X[(size_t)r * dim + i] = 1.5f;
    float *W1 = rand_vec((size_t)hid * dim, 0.05f, 0), *b1 = rand_vec(hid, 0.5f, 0);
    float *W2 = rand_vec((size_t)dim * hid, 0.05f, 0), *b2 = rand_vec(dim, 0.5f, 0);
    void *dg = dev_act(gam, dim), *db = dev_act(bet, dim);
    void *ya = dev_act(X, nx), *yb = dev_act(X, nx), *xq = dev_act(X, nx);
    void *ha = G.ops->mem_alloc(&G, nh * 2), *hb = G.ops->mem_alloc(&G, nh * 2), *hc = G.ops->mem_alloc(&G, nh * 2);
    void *pre = G.ops->mem_alloc(&G, nh * 2);
    // The hidden outputs, written by the GEMM's tensor-memory stores, start as three different
    // byte patterns (bfloat16 NaN, 3.4e38 and -1.7e38): equal after, every element was written.
    // The pre-activations start as 3.4e38, which would be an unwritten row's maximum.
    dev_fill(&G, ha, nh * 2, 0xff), dev_fill(&G, hb, nh * 2, 0x7f), dev_fill(&G, hc, nh * 2, 0xfe);
    dev_fill(&G, pre, nh * 2, 0x7f);
    LinearWeight *w1 = linear_prepare(&cuda_linear_int8, &G, W1, b1, hid, dim);
    LinearWeight *w2 = linear_prepare(&cuda_linear_int8, &G, W2, b2, dim, hid);
    cuda_int8_select_variant(variant);
    char vname[256];
    snprintf(vname, sizeof vname, "%s, GEMM %s", name, cuda_int8_variant_name(variant));
    name = vname;
    const float eps = 1e-6f;
    LnSpec spec = {dg, db, eps, n, h, w, dim, 0};
    // A: run_ln then run (residual and output the input itself, as the encoder's block).
    cuda_linear_int8.run_ln(&G, ha, ya, &spec, w1, ACT_GELU, NULL);
    cuda_linear_int8.run(&G, ya, ha, w2, rows, ACT_NONE, ya);
    // B: the one call.
    cuda_linear_int8.run_ln_mlp(&G, yb, hb, yb, &spec, w1, ACT_GELU, w2, yb);
    // C: lin1 recording the maxima, its pre-activation (the same GEMM without GELU), then the
    // quantisations with and without the maxima.
    int8_t *q1 = G.ops->mem_alloc(&G, nx > nh ? nx : nh), *q2 = G.ops->mem_alloc(&G, nh);
    float *s1 = G.ops->mem_alloc(&G, rows * sizeof(float)), *s2 = G.ops->mem_alloc(&G, rows * sizeof(float));
    unsigned *xm = G.ops->mem_alloc(&G, rows * sizeof(unsigned));
    unsigned *zeros = xcalloc((size_t)rows, sizeof(unsigned));
    G.ops->copy_to_device(&G, xm, zeros, rows * sizeof(unsigned));
    free(zeros);
    cuda_layernorm_quant(&G, q1, s1, xq, &spec);
    cuda_int8_gemm_epilogue_xmax(&G, hc, q1, s1, w1, rows, ACT_GELU, NULL, 0, xm);
    cuda_int8_gemm_epilogue(&G, pre, q1, s1, w1, rows, ACT_NONE, NULL, 0);
    cuda_int8_quantize(&G, q1, s1, hc, rows, hid);
    cuda_int8_quantize_gelu(&G, q2, s2, hc, xm, rows, hid);

    uint16_t *hya = xmalloc(nx * 2), *hyb = xmalloc(nx * 2), *hha = xmalloc(nh * 2), *hhb = xmalloc(nh * 2),
             *hhc = xmalloc(nh * 2);
    float *hpre = down_act(pre, nh);
    unsigned *hxm = xmalloc(rows * sizeof(unsigned));
    int8_t *hq1 = xmalloc(nh), *hq2 = xmalloc(nh);
    float *hs1 = xmalloc(rows * sizeof(float)), *hs2 = xmalloc(rows * sizeof(float));
    G.ops->copy_to_host(&G, hya, ya, nx * 2);
    G.ops->copy_to_host(&G, hyb, yb, nx * 2);
    G.ops->copy_to_host(&G, hha, ha, nh * 2);
    G.ops->copy_to_host(&G, hhb, hb, nh * 2);
    G.ops->copy_to_host(&G, hhc, hc, nh * 2);
    G.ops->copy_to_host(&G, hxm, xm, rows * sizeof(unsigned));
    G.ops->copy_to_host(&G, hq1, q1, nh);
    G.ops->copy_to_host(&G, hq2, q2, nh);
    G.ops->copy_to_host(&G, hs1, s1, rows * sizeof(float));
    G.ops->copy_to_host(&G, hs2, s2, rows * sizeof(float));
    size_t dy = 0, dh = 0, dc = 0, dq = 0, ds = 0;
    for (size_t i = 0; i < nx; i++) dy += hya[i] != hyb[i];
    for (size_t i = 0; i < nh; i++) dh += hha[i] != hhb[i], dc += hha[i] != hhc[i], dq += hq1[i] != hq2[i];
    int64_t bad_xmax = 0, first_bad = -1, read_rows = 0;
    for (int64_t r = 0; r < rows; r++) {
        float m = -INFINITY;
        for (int c = 0; c < hid; c++) m = fmaxf(m, hpre[(size_t)r * hid + c]);
        float got = host_unorder(hxm[r]);
        if (memcmp(&m, &got, sizeof m) != 0) {
            bad_xmax++;
            if (first_bad < 0) first_bad = r;
        }
        read_rows += !(got >= 1.0f);
        ds += hs1[r] != hs2[r];
    }
    report(dh == 0 && dy == 0, "fused MLP (run_ln_mlp) equals run_ln then run bit for bit: %s (%lld rows, %d -> %d; "
           "%zu hidden, %zu output values differ; the hidden buffers filled with different bytes first)", name, (long long)rows, dim, hid, dh, dy);
    report(bad_xmax == 0 && dc == 0, "lin1's recorded row maxima equal the largest pre-activation of each row: %s "
           "(%lld of %lld rows differ, first %lld; %zu GELU values differ from run_ln's)", name, (long long)bad_xmax,
           (long long)rows, (long long)first_bad, dc);
    report(dq == 0 && ds == 0, "quantisation from the recorded maxima equals the two-read pass: %s (%zu values, "
           "%zu scales differ; %lld rows' maxima under 1, read)", name, dq, ds, (long long)read_rows);
    // The reading path: maxima "none" (0) and 0.5 (under 1) where the rows' are larger.
    for (int64_t r = 0; r < rows; r++)
        if (r % 5 == 0) hxm[r] = 0;
        else if (r % 5 == 1) hxm[r] = host_order(0.5f);
    G.ops->copy_to_device(&G, xm, hxm, rows * sizeof(unsigned));
    cuda_int8_quantize_gelu(&G, q2, s2, hc, xm, rows, hid);
    G.ops->copy_to_host(&G, hq2, q2, nh);
    G.ops->copy_to_host(&G, hs2, s2, rows * sizeof(float));
    size_t dq2 = 0, ds2 = 0;
    for (size_t i = 0; i < nh; i++) dq2 += hq1[i] != hq2[i];
    for (int64_t r = 0; r < rows; r++) ds2 += hs1[r] != hs2[r];
    report(dq2 == 0 && ds2 == 0, "quantisation reading rows whose maxima are none or under 1 equals the two-read "
           "pass: %s (%zu values, %zu scales differ)", name, dq2, ds2);

    cuda_linear_int8.release(&G, w1);
    cuda_linear_int8.release(&G, w2);
    void *dev[] = {dg, db, ya, yb, xq, ha, hb, hc, pre, q1, q2, s1, s2, xm};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) G.ops->mem_free(&G, dev[i]);
    free(X), free(gam), free(bet), free(W1), free(b1), free(W2), free(b2);
    free(hya), free(hyb), free(hha), free(hhb), free(hhc), free(hpre), free(hxm), free(hq1), free(hq2), free(hs1),
        free(hs2);
    cuda_int8_select_variant(cuda_int8_chosen_variant());
}

// The fused MLP's checks for each variant that records the rows' maxima (the GELU-warps ones).
static void check_mlp_fusion_all(const char *name, int n, int h, int w, int dim, int hid, int zero_rows) {
    for (int v = 0; v < cuda_int8_variant_count(); v++)
        if (cuda_int8_variant_records_xmax(v)) check_mlp_fusion(name, n, h, w, dim, hid, zero_rows, v);
}

// Every bfloat16 pre-activation through lin1's GELU in each variant that rounds it first (the
// fit in s3-gelu-warps, a table where it has one in s3-gelu-table): a layer of zero weights whose
// biases are the 65536 bfloat16 values, so column c's pre-activation is 0 + bias c, on 128 rows,
// plain and recording the rows' maxima; every output's bits equal the fit's (the epilogues' GELU,
// cuda_int8_gelu_fit) of its pre-activation plus a zero residual, rounded to bfloat16.
static void check_gelu_every_input(void) {
    const int M = 128, N = 65536, K = 64;
    float *W = xcalloc((size_t)N * K, sizeof(float)), *b = xmalloc((size_t)N * sizeof(float));
    float *pre = xmalloc((size_t)N * sizeof(float)), *fit = xmalloc((size_t)N * sizeof(float));
    for (int c = 0; c < N; c++) b[c] = bf16_bits_to_float((uint16_t)c), pre[c] = 0.0f + b[c];
    float *X = rand_vec((size_t)M * K, 1.0f, 1);
    float *dpre = G.ops->mem_alloc(&G, (size_t)N * sizeof(float)), *dfit = G.ops->mem_alloc(&G, (size_t)N * sizeof(float));
    G.ops->copy_to_device(&G, dpre, pre, (size_t)N * sizeof(float));
    cuda_int8_gelu_fit(&G, dfit, dpre, N);
    G.ops->copy_to_host(&G, fit, dfit, (size_t)N * sizeof(float));
    uint16_t *want = xmalloc((size_t)N * 2), *got = xmalloc((size_t)M * N * 2);
    for (int c = 0; c < N; c++) want[c] = float_to_bf16_bits(fit[c] + 0.0f);
    LinearWeight *lw = linear_prepare(&cuda_linear_int8, &G, W, b, N, K);
    void *dx = dev_act(X, (size_t)M * K), *dy = G.ops->mem_alloc(&G, (size_t)M * N * 2);
    int8_t *dq = G.ops->mem_alloc(&G, (size_t)M * K);
    float *dxs = G.ops->mem_alloc(&G, M * sizeof(float));
    unsigned *dxm = G.ops->mem_alloc(&G, M * sizeof(unsigned));
    cuda_int8_quantize(&G, dq, dxs, dx, M, K);
    for (int v = 0; v < cuda_int8_variant_count(); v++) {
        if (!cuda_int8_variant_rounds_gelu_input(v)) continue;
        cuda_int8_select_variant(v);
        for (int record = 0; record < 2; record++) {
            dev_fill(&G, dy, (size_t)M * N * 2, 0x7f);
            dev_fill(&G, dxm, M * sizeof(unsigned), 0);
            cuda_int8_gemm_epilogue_xmax(&G, dy, dq, dxs, lw, M, ACT_GELU, NULL, 0, record ? dxm : NULL);
            G.ops->copy_to_host(&G, got, dy, (size_t)M * N * 2);
            size_t bad = 0, first = (size_t)-1;
            for (size_t i = 0; i < (size_t)M * N; i++) {
                uint16_t g = got[i], e = want[i % N];
                int same = g == e || (bf16_bits_to_float(g) != bf16_bits_to_float(g) &&
                                      bf16_bits_to_float(e) != bf16_bits_to_float(e));  // NaN either way
                if (!same && bad++ == 0) first = i;
            }
            report(bad == 0, "GEMM %s%s: GELU of every bfloat16 pre-activation (65536 columns x %d rows) equals the "
                   "fit's bits (%zu differ; first column %lld: got 0x%04x, want 0x%04x)", cuda_int8_variant_name(v),
                   record ? ", recording the rows' maxima" : "", M, bad, first == (size_t)-1 ? -1LL : (long long)(first % N),
                   first == (size_t)-1 ? 0 : got[first], first == (size_t)-1 ? 0 : want[first % N]);
        }
    }
    cuda_int8_select_variant(cuda_int8_chosen_variant());
    cuda_linear_int8.release(&G, lw);
    void *dev[] = {dpre, dfit, dx, dy, dq, dxs, dxm};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) G.ops->mem_free(&G, dev[i]);
    free(W), free(b), free(pre), free(fit), free(X), free(want), free(got);
}

// What lin2's quantisation in the fused MLP relies on, over every finite bfloat16 value x: the
// fitted GELU rounded to bfloat16 is non-decreasing from x = 1 up, and below 1 no magnitude of
// it exceeds its value at 1. So a row's largest GELU magnitude is GELU of its largest
// pre-activation wherever that is at least 1.
static void check_gelu_order(void) {
    int n = 0;
    float *x = xmalloc(65536 * sizeof(float)), *y = xmalloc(65536 * sizeof(float));
    for (uint32_t hb = 0; hb < 65536; hb++) {
        float f = bf16_bits_to_float((uint16_t)hb);
        if (isfinite(f)) x[n++] = f;
    }
    float *dx = G.ops->mem_alloc(&G, (size_t)n * sizeof(float)), *dy = G.ops->mem_alloc(&G, (size_t)n * sizeof(float));
    G.ops->copy_to_device(&G, dx, x, (size_t)n * sizeof(float));
    cuda_int8_gelu_fit(&G, dy, dx, n);
    G.ops->copy_to_host(&G, y, dy, (size_t)n * sizeof(float));
    // ascending x >= 1 (positive bfloat16 values ascend with their bits)
    int decreasing = 0, above = 0, n_ge1 = 0;
    float at1 = 0.0f, below = 0.0f, prev = -INFINITY;
    for (int i = 0; i < n; i++) {
        float g = bf16_round(y[i] + 0.0f);
        if (x[i] == 1.0f) at1 = g;
        if (x[i] < 1.0f) below = fmaxf(below, fabsf(g));
    }
    // 1.0 up to the largest finite value, ascending: below 0x7f80 every bit pattern is finite, so
    // x[] holds each at its own bits' index
    for (int i = 0x3f80; i < 0x7f80; i++) {
        float g = bf16_round(y[i] + 0.0f);
        decreasing += g < prev;
        prev = g;
        n_ge1++;
    }
    above = below > at1;
    report(decreasing == 0 && !above && x[0x3f80] == 1.0f,
           "fitted GELU, rounded to bfloat16, non-decreasing over the %d bfloat16 values from 1 up (%d steps down) "
           "and no larger in magnitude below 1 (largest %.6g against %.6g at 1)", n_ge1, decreasing, below, at1);
    G.ops->mem_free(&G, dx);
    G.ops->mem_free(&G, dy);
    free(x), free(y);
}

// ---- benchmark ------------------------------------------------------------------------------

// Milliseconds per call of fn over reps calls (after 3 warm-up calls), on the backend's stream.
typedef void (*BenchFn)(void *ctx);
static double time_ms(BenchFn fn, void *ctx, int reps) {
    for (int i = 0; i < 3; i++) fn(ctx);
    G.ops->sync(&G);
    double best = 1e30;
    for (int t = 0; t < 3; t++) {
        G.ops->timer_begin(&G);
        for (int i = 0; i < reps; i++) fn(ctx);
        double ms = G.ops->timer_end_ms(&G) / reps;
        if (ms < best) best = ms;
    }
    return best;
}

typedef struct {
    const LinearFormat *f;
    LinearWeight *w;
    void *y, *x;
    const int8_t *q;
    const float *xs;
    int64_t rows;
    Act act;
    int residual;
    unsigned *xmax;  // rows' largest pre-activations (the fused MLP's parts)
} BenchCtx;
static void run_linear(void *p) {
    BenchCtx *c = p;
    c->f->run(&G, c->y, c->x, c->w, c->rows, c->act, c->residual ? c->y : NULL);
}
static void run_gemm_epi(void *p) {
    BenchCtx *c = p;
    cuda_int8_gemm_epilogue(&G, c->y, c->q, c->xs, c->w, c->rows, c->act, c->residual ? c->y : NULL, 0);
}
static void run_quant(void *p) {
    BenchCtx *c = p;
    cuda_int8_quantize(&G, (int8_t *)c->q, (float *)c->xs, c->x, c->rows, c->w->in_features);
}
static void run_quant_gelu(void *p) {
    BenchCtx *c = p;
    cuda_int8_quantize_gelu(&G, (int8_t *)c->q, (float *)c->xs, c->x, c->xmax, c->rows, c->w->in_features);
}
// lin1 of the fused MLP: the maxima zeroed, then the GEMM recording them.
static void run_gemm_xmax(void *p) {
    BenchCtx *c = p;
    G.ops->copy_device(&G, c->xmax, c->xmax + c->rows, (size_t)c->rows * sizeof(unsigned));
    cuda_int8_gemm_epilogue_xmax(&G, c->y, c->q, c->xs, c->w, c->rows, c->act, NULL, 0, c->xmax);
}

// cuBLASLt's int8 GEMM D(int32) = A(int8) B(int8)^T, TN (the only order-free form it offers for
// int8), every algorithm its heuristic returns (up to 16), the best time; 0 when none runs.
static double lt_int8_best_ms(cublasLtHandle_t lt, const int8_t *A, const int8_t *B, int32_t *D,
                              int M, int N, int K, void *ws, size_t ws_bytes, int *n_algos) {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    // Column-major D (N, M) = W^T... : first operand the weights (K, N) transposed, second x.
    cublasLtMatrixLayoutCreate(&la, CUDA_R_8I, K, N, K);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_8I, K, M, K);
    cublasLtMatrixLayoutCreate(&lc, CUDA_R_32I, N, M, N);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes);
    cublasLtMatmulHeuristicResult_t res[16];
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 16, res, &found);
    *n_algos = found;
    int32_t alpha = 1, beta = 0;
    double best = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int a = 0; a < found; a++) {
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++)
            ok = cublasLtMatmul(lt, op, &alpha, B, la, A, lb, &beta, D, lc, D, lc, &res[a].algo, ws,
                                ws_bytes, 0) == CUBLAS_STATUS_SUCCESS;
        if (!ok) continue;
        cudaDeviceSynchronize();
        cudaEventRecord(e0, 0);
        for (int i = 0; i < 10; i++)
            cublasLtMatmul(lt, op, &alpha, B, la, A, lb, &beta, D, lc, D, lc, &res[a].algo, ws, ws_bytes, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        ms /= 10;
        if (best == 0 || ms < best) best = ms;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    return best;
}

static void bench(int only) {
    typedef struct {
        const char *model, *layer;
        int rows, out, in;
        Act act;
        int residual;
    } Shape;
    const Shape shapes[] = {
        {"vit_b", "qkv", 39200, 2304, 768, ACT_NONE, 0},
        {"vit_b", "proj", 32768, 768, 768, ACT_NONE, 1},
        {"vit_b", "lin1", 32768, 3072, 768, ACT_GELU, 0},
        {"vit_b", "lin2", 32768, 768, 3072, ACT_NONE, 1},
        {"vit_h", "qkv", 39200, 3840, 1280, ACT_NONE, 0},
        {"vit_h", "proj", 32768, 1280, 1280, ACT_NONE, 1},
        {"vit_h", "lin1", 32768, 5120, 1280, ACT_GELU, 0},
        {"vit_h", "lin2", 32768, 1280, 5120, ACT_NONE, 1},
    };
    cublasLtHandle_t lt;
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) die("cublasLtCreate failed");
    size_t lt_ws_bytes = (size_t)64 << 20;
    void *lt_ws = G.ops->mem_alloc(&G, lt_ws_bytes);
    printf("NOTE bench: batch 8, ms per call (best of 3 runs of 20), rates as 2 M N K / time; bf16 "
           "= the dense format (cuBLASLt, bias epilogue, residual as beta = 1, GELU a separate "
           "kernel); int8 gemm = wgmma GEMM + dequant/bias/GELU/residual epilogue (the build's variant; every variant on the line below); quant = the "
           "per-token quantisation pass; int8 all = quant + gemm (cuda_linear_int8.run); lt int8 = "
           "cuBLASLt int8 TN, int32 out, best of its heuristic's algorithms\n");
    printf("NOTE %-5s %-4s %6s %5s %5s | %8s %7s | %8s %7s | %7s | %8s %7s | %6s %6s | %7s\n", "model",
           "layer", "M", "N", "K", "bf16 ms", "TFLOP/s", "int8 ms", "TOPS", "q ms", "all ms", "TOPS",
           "x gemm", "x all", "lt TOPS");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const Shape *sh = &shapes[s];
        if (only >= 0 && (int)s != only) continue;
        int M = sh->rows, N = sh->out, K = sh->in;
        size_t nx = (size_t)M * K, ny = (size_t)M * N;
        float *W = rand_vec((size_t)N * K, 0.05f, 0);
        float *b = rand_vec((size_t)N, 0.5f, 0);
        float *X = rand_vec(nx, 3.0f, 0);
        float *Y = rand_vec(ny, 1.0f, 0);
        void *dx = dev_act(X, nx), *dy = dev_act(Y, ny);
        LinearWeight *wd = linear_prepare(&cuda_linear_dense, &G, W, b, N, K);
        LinearWeight *wi = linear_prepare(&cuda_linear_int8, &G, W, b, N, K);
        int8_t *dq = G.ops->mem_alloc(&G, nx);
        float *dxs = G.ops->mem_alloc(&G, (size_t)M * sizeof(float));
        BenchCtx cd = {&cuda_linear_dense, wd, dy, dx, NULL, NULL, M, sh->act, sh->residual, NULL};
        BenchCtx ci = {&cuda_linear_int8, wi, dy, dx, dq, dxs, M, sh->act, sh->residual, NULL};
        double ops = 2.0 * M * N * K;
        if (only >= 0) {  // --profile: the int8 GEMM with its epilogue twice, for ncu
            run_quant(&ci);
            run_gemm_epi(&ci);
            run_gemm_epi(&ci);
            G.ops->sync(&G);
            continue;
        }
        double t_bf = time_ms(run_linear, &cd, 20);
        double t_q = time_ms(run_quant, &ci, 20);
        run_quant(&ci);  // the GEMMs below read real quantised values
        char vline[512];
        int vn = snprintf(vline, sizeof vline, "NOTE   %s %s GEMM variants:", sh->model, sh->layer);
        for (int v = 0; v < cuda_int8_variant_count(); v++) {
            cuda_int8_select_variant(v);
            double tv = time_ms(run_gemm_epi, &ci, 20);
            if (vn < (int)sizeof vline)
                vn += snprintf(vline + vn, sizeof vline - vn, " %s %.4f ms (%.2fx)", cuda_int8_variant_name(v), tv, t_bf / tv);
        }
        printf("%s\n", vline);
        cuda_int8_select_variant(cuda_int8_chosen_variant());
        double t_g = time_ms(run_gemm_epi, &ci, 20);
        double t_all = time_ms(run_linear, &ci, 20);
        // The fused MLP's parts: lin1 recording its rows' largest pre-activations (a zeroing copy
        // included), lin2's quantisation from them, beside the plain GEMM and the two-read pass.
        // The maxima given to the quantisation here are 3.0 (every row read once, as rows whose
        // largest pre-activation is at least 1 are).
        ci.xmax = G.ops->mem_alloc(&G, 2 * (size_t)M * sizeof(unsigned));
        unsigned *hx = xmalloc(2 * (size_t)M * sizeof(unsigned));
        for (int r = 0; r < M; r++) hx[r] = host_order(3.0f), hx[M + r] = 0;
        G.ops->copy_to_device(&G, ci.xmax, hx, 2 * (size_t)M * sizeof(unsigned));
        free(hx);
        if (sh->act == ACT_GELU) {
            double t_gx = time_ms(run_gemm_xmax, &ci, 20);
            printf("NOTE   %s %s GEMM recording the rows' largest pre-activations (fused MLP): %.4f ms against %.4f "
                   "without (%.2fx bf16)\n", sh->model, sh->layer, t_gx, t_g, t_bf / t_gx);
        } else if (sh->residual && K > N) {
            double t_qg = time_ms(run_quant_gelu, &ci, 20);
            printf("NOTE   %s %s quantisation from lin1's maxima (fused MLP): %.4f ms against the two-read pass's "
                   "%.4f; linear %.4f ms (%.2fx bf16) against %.4f\n", sh->model, sh->layer, t_qg, t_q, t_qg + t_g,
                   t_bf / (t_qg + t_g), t_all);
        }
        G.ops->mem_free(&G, ci.xmax);
        // cuBLASLt int8 (int32 out) on the same operands; D in a fresh buffer.
        int32_t *dd = G.ops->mem_alloc(&G, ny * sizeof(int32_t));
        int8_t *dw = G.ops->mem_alloc(&G, (size_t)N * K);
        G.ops->copy_device(&G, dw, dq, (size_t)N * K < nx ? (size_t)N * K : nx);  // any int8 values
        G.ops->sync(&G);
        int n_algos = 0;
        double t_lt = lt_int8_best_ms(lt, dq, dw, dd, M, N, K, lt_ws, lt_ws_bytes, &n_algos);
        printf("NOTE %-5s %-4s %6d %5d %5d | %8.4f %7.1f | %8.4f %7.1f | %7.4f | %8.4f %7.1f | %5.2fx %5.2fx | %7.1f (%d algos)\n",
               sh->model, sh->layer, M, N, K, t_bf, ops / t_bf / 1e9, t_g, ops / t_g / 1e9, t_q, t_all,
               ops / t_all / 1e9, t_bf / t_g, t_bf / t_all, t_lt > 0 ? ops / t_lt / 1e9 : 0.0, n_algos);
        fflush(stdout);
        cuda_linear_dense.release(&G, wd);
        cuda_linear_int8.release(&G, wi);
        G.ops->mem_free(&G, dx);
        G.ops->mem_free(&G, dy);
        G.ops->mem_free(&G, dq);
        G.ops->mem_free(&G, dxs);
        G.ops->mem_free(&G, dd);
        G.ops->mem_free(&G, dw);
        free(W), free(b), free(X), free(Y);
    }
    G.ops->mem_free(&G, lt_ws);
    cublasLtDestroy(lt);
}

// The int8 epilogues' GELU (int8_linear.cu gelu_erfc_fit) against GELU in double precision,
// 2^21 points over [-12, 12] plus zeros and large magnitudes: relative error within
// 1e-6 + 2.5e-7 x^2 (the rounding of x / sqrt 2 and of z^2 in float32 grows with x^2), at most
// a float32 denormal's size apart near zero. erff's GELU on the same points for comparison.
static void check_gelu_fit(void) {
    int n = (1 << 21) + 6;
    float *x = xmalloc((size_t)n * sizeof(float)), *y = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n - 6; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(n - 7);
    float special[6] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f};
    memcpy(x + n - 6, special, sizeof special);
    float *dx = G.ops->mem_alloc(&G, (size_t)n * sizeof(float)), *dy = G.ops->mem_alloc(&G, (size_t)n * sizeof(float));
    G.ops->copy_to_device(&G, dx, x, (size_t)n * sizeof(float));
    cuda_int8_gelu_fit(&G, dy, dx, n);
    G.ops->copy_to_host(&G, y, dy, (size_t)n * sizeof(float));
    double worst_fit = 0, worst_erff = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double xd = x[i], g = 0.5 * xd * erfc(-xd / sqrt(2.0));
        double bound = (1e-6 + 2.5e-7 * xd * xd) * fabs(g) + 1e-38;
        if (!(fabs(y[i] - g) <= bound)) bad++;
        if (fabs(xd) <= 12.0 && g != 0.0) {
            double rf = fabs(y[i] - g) / fabs(g), re = fabs(cpu_gelu(x[i]) - g) / fabs(g);
            if (rf > worst_fit) worst_fit = rf;
            if (re > worst_erff) worst_erff = re;
        }
    }
    report(bad == 0, "fitted GELU within (1e-6 + 2.5e-7 x^2) relative of double precision on [-12, 12] and "
                     "special values (%d of %d beyond)", bad, n);
    printf("NOTE fitted GELU: largest relative error %.2e on [-12, 12]; erff's GELU (the CPU's) %.2e\n",
           worst_fit, worst_erff);
    G.ops->mem_free(&G, dx);
    G.ops->mem_free(&G, dy);
    free(x), free(y);
}

int main(int argc, char **argv) {
    int do_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    int only_bench = argc > 1 && strcmp(argv[1], "--bench-only") == 0;
    int mlp_only = argc > 1 && strcmp(argv[1], "--mlp-only") == 0;
    int profile = argc > 2 && strcmp(argv[1], "--profile") == 0 ? atoi(argv[2]) : -1;
    BK = cuda_backend_open("test_int8");
    char desc[1024];
    cuda_backend_describe(BK, desc, sizeof desc);
    printf("NOTE device %s\n", desc);
    exec_init(&G, cuda_ops_bf16(), BK);
    exec_init(&CPU, cpu_ops(), NULL);
    if (mlp_only) {  // the fused MLP's checks alone, small enough for compute-sanitizer
        cuda_backend_set_sync_each_launch(BK, 1);
        check_mlp_fusion_all("vit_h block MLP (1 x 16 x 16 x 1280 -> 5120)", 1, 16, 16, 1280, 5120, 0);
        check_mlp_fusion_all("tails: 99 rows, 272 hidden (1 x 9 x 11 x 256 -> 272)", 1, 9, 11, 256, 272, 2);
        cuda_backend_close(BK);
        return test_exit_status();
    }
    if (profile >= 0) {
        bench(profile);
        cuda_backend_close(BK);
        return 0;
    }
    if (!only_bench) {
        cuda_backend_set_sync_each_launch(BK, 1);
        const Case cases[] = {
            // name, rows, out, in, act, residual, zero x rows, zero w rows
            {"qkv-like", 300, 768, 768, ACT_NONE, 0, 0, 0},
            {"lin1-like gelu", 200, 3072, 768, ACT_GELU, 0, 0, 0},
            {"lin2-like residual", 131, 768, 3072, ACT_NONE, 1, 0, 0},
            {"vit_h qkv-like", 129, 3840, 1280, ACT_NONE, 0, 0, 0},
            {"vit_h lin2-like", 64, 1280, 5120, ACT_NONE, 1, 0, 0},
            {"tails: N 264, K 48", 77, 264, 48, ACT_GELU, 0, 0, 0},
            {"tails: N 40, K 144, residual", 250, 40, 144, ACT_NONE, 1, 0, 0},
            {"fault: all activations zero", 130, 512, 256, ACT_NONE, 0, 130, 0},
            {"fault: all activations zero, gelu", 64, 256, 128, ACT_GELU, 0, 64, 0},
            {"fault: zero weight rows, some zero activation rows, residual", 140, 520, 256, ACT_NONE, 1, 3, 5},
            // More tiles than blocks: each block (cluster) takes several, the pipeline's stages
            // wrap across tiles and the epilogue of one overlaps the next one's loads.
            {"persistent: 198 tiles, gelu, residual", 2700, 2304, 256, ACT_GELU, 1, 0, 0},
            {"persistent: 198 tiles, residual", 2700, 2304, 256, ACT_NONE, 1, 0, 0},
            // Rows wider than vit_h's widest (5120), K not a multiple of the 128-byte stage.
            {"wide rows: K 5632", 70, 64, 5632, ACT_NONE, 0, 0, 0},
        };
        check_gelu_fit();
        check_ln_fusion("vit_b norm2 -> lin1 (2 x 64 x 64 x 768)", 2, 64, 64, 768, 0, 3072, ACT_GELU);
        check_ln_fusion("vit_b norm1 -> qkv, 14 x 14 windows with padding (1 x 64 x 64 x 768)", 1, 64, 64, 768, 14, 2304, ACT_NONE);
        check_ln_fusion("vit_h norm1 -> qkv, windows (1 x 30 x 30 x 1280)", 1, 30, 30, 1280, 14, 3840, ACT_NONE);
        check_ln_fusion("dim 128, a half warp per row (3 x 10 x 10 x 128)", 3, 10, 10, 128, 0, 256, ACT_NONE);
        check_ln_fusion("dim 256 (2 x 9 x 7 x 256)", 2, 9, 7, 256, 4, 264, ACT_GELU);
        check_mlp_fusion_all("vit_b block MLP, 768 tiles (2 x 64 x 64 x 768 -> 3072)", 2, 64, 64, 768, 3072, 5);
        check_mlp_fusion_all("vit_h block MLP (1 x 16 x 16 x 1280 -> 5120)", 1, 16, 16, 1280, 5120, 0);
        check_mlp_fusion_all("tails: 99 rows, 272 hidden (1 x 9 x 11 x 256 -> 272)", 1, 9, 11, 256, 272, 2);
        check_gelu_order();
        check_gelu_every_input();
        // Every compiled GEMM variant (the build's choice and the candidates the bench times).
        for (VARIANT = 0; VARIANT < cuda_int8_variant_count(); VARIANT++)
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
        cuda_backend_set_sync_each_launch(BK, 0);
    }
    if (do_bench || only_bench) bench(-1);
    cuda_backend_close(BK);
    return test_exit_status();
}
