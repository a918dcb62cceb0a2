// Operation tests for the CUDA tables (kernels/cuda): every operation of kernels/ops.h, on the
// float32 and the bfloat16 table, against the CPU float32 reference (kernels/cpu) on the
// same inputs.
//
//   build/tests/gpu/test_ops [--bench]     (needs a GPU; run by `make test-gpu`)
//   build/tests/gpu/test_ops --profile-attn (vit_b attention once per table, NVTX-ranged, for ncu)
//   build/tests/gpu/test_ops --race        the shared-memory kernels of im2col (channels-last)
//                                          and upscale_masks only, no references and no cuBLAS
//                                          in the process: for compute-sanitizer's racecheck,
//                                          under which cuBLASLt's Hopper kernels die ("failed
//                                          to handle a hardware exception", session 6 call 3);
//                                          checks that every output element is written
//
// Method (tool library device/METHOD.md): fresh random inputs for every check, never zeros;
// for the bfloat16 table the inputs are rounded to bfloat16 first, so both sides compute the
// same function of the same numbers. Every GPU output is poisoned (all bits set: NaN in both
// dtypes) before the run; a NaN left in the output means an element was not written, and
// elements an operation must not touch (the gaps of a strided copy) must still hold the
// poison. Error = max|gpu - cpu| / max|cpu| over the output.
//
// Tolerances (the float32 reference runs OpenBLAS SGEMM and float32 loops, double for some
// sums; the GPU sums in other orders):
//   fp32: linear, matmul_nt, layernorm, embed_prompts 1e-5; attention 2e-5 (softmax of logits
//         up to ~15 amplifies the rounding of the scores); pure data movement, add,
//         act_to_f32, resize_bilinear (same float operations in the same order) exact (0);
//         top_mask_stats exact.
//   bf16: one bfloat16 rounding is at most 2^-9 relative (0.2 %). add and embed_prompts round
//         once: 8e-3; im2col from a float32 image rounds once: 4e-3; linear, matmul_nt,
//         layernorm, attention round several intermediate results (GEMM output, epilogue,
//         scores, probabilities): 2e-2, and 3e-2 for the attention without fusion (the
//         scores rounded again after the rel-pos add, as eager PyTorch); activation rounds
//         once: 8e-3; data movement of bfloat16 values is exact (0).
//
// With --bench, it also times the vit_b encoder's operations at batch 8 on both tables
// (median of repeated runs between CUDA events) and prints NOTE lines.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "../../kernels/cuda/cuda_ops.h"
#include "common/check.h"
#include "dev_fill.h"
#include "kernels/ops.h"
#include "test_rand.h"

static Exec G;          // the CUDA table under test
static Exec CPU;        // the reference
static CudaBackend *BK;
static int BF;          // the table under test is bfloat16
static const char *TNAME;
static int n_pass, n_fail;

// ---- worst error per (operation, table), printed at the end ---------------------------------
typedef struct {
    char op[32];
    double worst[2], tol[2];
    int checks[2];
} OpStat;
static OpStat stats[32];
static int n_stats;

static void record(const char *op, double err, double tol) {
    int i;
    for (i = 0; i < n_stats; i++)
        if (strcmp(stats[i].op, op) == 0) break;
    if (i == n_stats) {
        CHECK(n_stats < 32);
        snprintf(stats[n_stats++].op, sizeof stats[0].op, "%s", op);
    }
    // Keep the worst error and the tolerance of the check that had it.
    if (stats[i].checks[BF] == 0 || err > stats[i].worst[BF]) stats[i].worst[BF] = err, stats[i].tol[BF] = tol;
    stats[i].checks[BF]++;
}

// ---- random inputs ---------------------------------------------------------------------------
static uint64_t rng = 0x5eed5a11ull;


// n values uniform in [lo, hi), never exactly zero; rounded to bfloat16 for the bf16 table
// when `act` (activation inputs and weights; float32 inputs such as the image stay exact).
static float *rnd_x(int64_t n, float lo, float hi, int act) {
    float *p = xmalloc((size_t)n * sizeof(float) + 4);
    for (int64_t i = 0; i < n; i++) {
        float v;
        do {
            v = (float)(lo + (hi - lo) * urand());
            if (BF && act) v = bf16_round(v);
        } while (v == 0.0f);
        p[i] = v;
    }
    return p;
}
static float *rnd(int64_t n, float lo, float hi) { return rnd_x(n, lo, hi, 1); }

// ---- device buffers --------------------------------------------------------------------------
static size_t act_bytes(int64_t n) { return (size_t)n * (BF ? 2 : 4); }

static void *dev_poisoned(size_t bytes) {
    void *d = G.ops->mem_alloc(&G, bytes);
    dev_fill(&G, d, bytes, 0xff);  // NaN in float32 and in bfloat16
    return d;
}
static void *dev_act(const float *h, int64_t n) {  // activation buffer with these values
    void *d = G.ops->mem_alloc(&G, act_bytes(n));
    G.ops->upload_act(&G, d, h, (size_t)n);
    return d;
}
static void *dev_raw(const void *h, size_t bytes) {  // float32 / int / byte buffer
    void *d = G.ops->mem_alloc(&G, bytes);
    G.ops->copy_to_device(&G, d, h, bytes);
    return d;
}
static float *get_act(const void *d, int64_t n) {
    float *h = xmalloc((size_t)n * sizeof(float) + 4);
    G.ops->download_act(&G, h, d, (size_t)n);
    return h;
}
static float *get_f32(const void *d, int64_t n) {
    float *h = xmalloc((size_t)n * sizeof(float) + 4);
    G.ops->copy_to_host(&G, h, d, (size_t)n * sizeof(float));
    return h;
}
static void dfree(void *d) { G.ops->mem_free(&G, d); }
static float *nan_buf(int64_t n) {  // a CPU output poisoned the same way
    float *p = xmalloc((size_t)n * sizeof(float) + 4);
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// ---- comparison ------------------------------------------------------------------------------
// Where the reference holds NaN (poison it left untouched) the GPU output must too; every
// other element must be finite (written) and within tol of the reference.
static int compare(const char *op, const char *what, const float *gpu, const float *cpu,
                   int64_t n, double tol) {
    double num = 0, den = 0;
    int64_t unwritten = 0, overwritten = 0, worst = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(cpu[i])) {
            if (!isnan(gpu[i])) overwritten++;
            continue;
        }
        if (!isfinite(gpu[i])) {
            unwritten++;
            continue;
        }
        double d = fabs((double)gpu[i] - cpu[i]);
        if (d > num || worst < 0) num = d, worst = i;
        den = fabs(cpu[i]) > den ? fabs(cpu[i]) : den;
    }
    double err = den > 0 ? num / den : num;
    int ok = unwritten == 0 && overwritten == 0 && err <= tol;
    printf("%s %s %s %s: err %.3g (tol %.0e)", ok ? "PASS" : "FAIL", TNAME, op, what, err, tol);
    if (unwritten) printf(", %lld elements not written (or not finite)", (long long)unwritten);
    if (overwritten) printf(", %lld elements written outside the output", (long long)overwritten);
    if (!ok && worst >= 0)
        printf(", worst at %lld: gpu %.8g cpu %.8g", (long long)worst, gpu[worst], cpu[worst]);
    printf("\n");
    fflush(stdout);
    record(op, unwritten || overwritten ? INFINITY : err, tol);
    if (ok) n_pass++;
    else n_fail++;
    return ok;
}

static void check_bool(const char *op, const char *what, int ok, const char *detail) {
    printf("%s %s %s %s%s%s\n", ok ? "PASS" : "FAIL", TNAME, op, what, detail[0] ? ": " : "",
           detail);
    fflush(stdout);
    record(op, ok ? 0.0 : INFINITY, 0.0);
    if (ok) n_pass++;
    else n_fail++;
}

static double tol_of(double fp32, double bf16) { return BF ? bf16 : fp32; }

// =============================================================================================
// linear, matmul_nt
// =============================================================================================

static const char *act_name(Act a) { return a == ACT_GELU ? "gelu" : a == ACT_RELU ? "relu" : "none"; }

// residual: 0 none, 1 a separate buffer, 2 aliasing y
static void test_linear(int64_t rows, int in, int out, Act act, int bias, int residual) {
    float *W = rnd((int64_t)out * in, -0.2f, 0.2f);
    float *b = bias ? rnd(out, -0.5f, 0.5f) : NULL;
    float *xin = rnd(rows * in, -1.0f, 1.0f);
    float *res = residual ? rnd(rows * out, -1.0f, 1.0f) : NULL;
    LinearWeight *cw = CPU.ops->dense_linear->prepare(&CPU, W, b, out, in);
    LinearWeight *gw = G.ops->dense_linear->prepare(&G, W, b, out, in);
    float *cy = residual == 2 ? xmalloc((size_t)rows * out * 4) : nan_buf(rows * out);
    if (residual == 2) memcpy(cy, res, (size_t)rows * out * 4);
    CPU.ops->dense_linear->run(&CPU, cy, xin, cw, rows, act, residual == 2 ? cy : res);
    void *dx = dev_act(xin, rows * in);
    void *dres = residual == 1 ? dev_act(res, rows * out) : NULL;
    void *dy = residual == 2 ? dev_act(res, rows * out) : dev_poisoned(act_bytes(rows * out));
    G.ops->dense_linear->run(&G, dy, dx, gw, rows, act, residual == 2 ? dy : dres);
    float *gy = get_act(dy, rows * out);
    char what[160];
    snprintf(what, sizeof what, "rows=%lld in=%d out=%d act=%s bias=%d residual=%s",
             (long long)rows, in, out, act_name(act), bias,
             residual == 0 ? "none" : residual == 1 ? "separate" : "aliases-y");
    compare("linear", what, gy, cy, rows * out, tol_of(1e-5, 2e-2));
    dfree(dx);
    dfree(dy);
    if (dres) dfree(dres);
    // Weights are not freed through the interface (none exists); release the test's copies.
    free(W), free(b), free(xin), free(res), free(cy), free(gy);
}

// linear_table (the ragged decoder's merged image-side products): the CUDA table's one batched
// cuBLASLt product with the table as a shared C against the CPU's product and row adds. Made
// through linear_prepare without a bias, as weights.c pe_split makes the layer.
static void test_linear_table(int blocks, int period, int in, int out) {
    int64_t rows = (int64_t)blocks * period;
    float *W = rnd((int64_t)out * in, -0.2f, 0.2f), *tab = rnd((int64_t)period * out, -1.0f, 1.0f);
    float *xin = rnd(rows * in, -1.0f, 1.0f);
    LinearWeight *cw = linear_prepare(CPU.ops->dense_linear, &CPU, W, NULL, out, in);
    LinearWeight *gw = linear_prepare(G.ops->dense_linear, &G, W, NULL, out, in);
    float *cy = nan_buf(rows * out);
    CPU.ops->linear_table(&CPU, cy, xin, cw, rows, tab, period);
    void *dx = dev_act(xin, rows * in), *dt = dev_act(tab, (int64_t)period * out);
    void *dy = dev_poisoned(act_bytes(rows * out));
    G.ops->linear_table(&G, dy, dx, gw, rows, dt, period);
    float *gy = get_act(dy, rows * out);
    char what[128];
    snprintf(what, sizeof what, "blocks=%d period=%d in=%d out=%d", blocks, period, in, out);
    compare("linear_table", what, gy, cy, rows * out, tol_of(1e-5, 2e-2));
    dfree(dx), dfree(dt), dfree(dy);
    cw->format->release(&CPU, cw);
    gw->format->release(&G, gw);
    free(W), free(tab), free(xin), free(cy), free(gy);
}

static void test_matmul_nt(int batch, int m, int n, int k, int gap, float alpha) {
    int64_t sa = (int64_t)m * k + gap, sb = (int64_t)n * k + gap, sc = (int64_t)m * n + gap;
    float *a = rnd(batch * sa, -1, 1), *b = rnd(batch * sb, -1, 1);
    float *cc = nan_buf(batch * sc);
    CPU.ops->matmul_nt(&CPU, cc, a, b, batch, m, n, k, sa, sb, sc, alpha);
    void *da = dev_act(a, batch * sa), *db = dev_act(b, batch * sb);
    void *dc = dev_poisoned(act_bytes(batch * sc));
    G.ops->matmul_nt(&G, dc, da, db, batch, m, n, k, sa, sb, sc, alpha);
    float *gc = get_act(dc, batch * sc);
    char what[128];
    snprintf(what, sizeof what, "batch=%d m=%d n=%d k=%d gap=%d alpha=%g", batch, m, n, k, gap, alpha);
    compare("matmul_nt", what, gc, cc, batch * sc, tol_of(1e-5, 2e-2));
    dfree(da), dfree(db), dfree(dc);
    free(a), free(b), free(cc), free(gc);
}

// =============================================================================================
// layernorm
// =============================================================================================

static void test_layernorm(int64_t rows, int dim, float eps, Act act, int inplace) {
    float *xin = rnd(rows * dim, -3.0f, 2.0f);  // non-zero mean
    float *g = rnd(dim, 0.5f, 1.5f), *b = rnd(dim, -0.5f, 0.5f);
    float *cy = inplace ? xmalloc((size_t)rows * dim * 4) : nan_buf(rows * dim);
    if (inplace) memcpy(cy, xin, (size_t)rows * dim * 4);
    CPU.ops->layernorm(&CPU, cy, inplace ? cy : xin, g, b, rows, dim, eps, act);
    void *dx = dev_act(xin, rows * dim), *dg = dev_act(g, dim), *db = dev_act(b, dim);
    void *dy = inplace ? dx : dev_poisoned(act_bytes(rows * dim));
    G.ops->layernorm(&G, dy, dx, dg, db, rows, dim, eps, act);
    float *gy = get_act(dy, rows * dim);
    char what[128];
    snprintf(what, sizeof what, "rows=%lld dim=%d eps=%g act=%s%s", (long long)rows, dim, eps,
             act_name(act), inplace ? " in-place" : "");
    compare("layernorm", what, gy, cy, rows * dim, tol_of(1e-5, 2e-2));
    dfree(dx), dfree(dg), dfree(db);
    if (!inplace) dfree(dy);
    free(xin), free(g), free(b), free(cy), free(gy);
}

// =============================================================================================
// attention
// =============================================================================================

// Encoder layout: qkv (batch, T, 3, heads, hd), o (batch, T, heads, hd), rel-pos on a g x g
// grid. Pass 0 runs the default workspace bound (chunks of whole (batch, head) pairs: every
// outer index in one pointer-array chunk when they fit); with `variants`, pass 1 bounds the
// workspace to small_ws bytes: chunks of a few query rows of one pair, so the row offsets into
// q, o and the rel-pos grid are exercised; pass 2 to two outer indices' pairs and a half: the
// pointer-array chunks of two outer indices and a shorter last chunk when there are three;
// pass 3 to half an outer index's pairs: strided chunks of a few pairs of one outer index.
static void test_attention_encoder(int batch, int heads, int g, int hd, int variants,
                                   size_t small_ws) {
    int T = g * g, C = heads * hd;
    float *qkv = rnd((int64_t)batch * T * 3 * C, -1, 1);
    int64_t n_rel = (int64_t)2 * (2 * g - 1) * hd;  // Rh's rows then Rw's
    float *rel = rnd(n_rel, -0.5f, 0.5f);
    AttnParams p = {
        .batch = batch, .heads = heads, .q_len = T, .k_len = T, .head_dim = hd,
        .q_batch_stride = (int64_t)T * 3 * C, .q_tok_stride = 3 * C, .q_head_stride = hd,
        .k_batch_stride = (int64_t)T * 3 * C, .k_tok_stride = 3 * C, .k_head_stride = hd,
        .v_batch_stride = (int64_t)T * 3 * C, .v_tok_stride = 3 * C, .v_head_stride = hd,
        .o_batch_stride = (int64_t)T * C, .o_tok_stride = C, .o_head_stride = hd,
        .scale = 1.0f / sqrtf((float)hd), .grid_h = g, .grid_w = g,
    };
    int64_t no = (int64_t)batch * T * C;
    float *co = nan_buf(no);
    AttnParams pc = p;
    pc.q = qkv, pc.k = qkv + C, pc.v = qkv + 2 * C, pc.o = co, pc.rel_pos = rel;
    CPU.ops->choices.encoder_attention->run(&CPU, &pc);
    void *dqkv = dev_act(qkv, (int64_t)batch * T * 3 * C);
    void *drel = dev_act(rel, n_rel);
    size_t pair_bytes = cuda_attention_pair_bytes(&pc, G.ops->act_dtype == DT_BF16);
    int n_inner = heads >= batch ? heads : batch;
    // Both fusion choices: off (the table's), the rel-pos add a pass of its own over the scores;
    // on (the fused stage's), the add inside the softmax.
    for (int fusion = 0; fusion < 2; fusion++)
    for (int pass = 0; pass < (variants ? 4 : 1); pass++) {
        Ops table = *G.ops;
        table.choices.fusion = fusion;
        Exec E = G;
        E.ops = &table;
        void *dout = dev_poisoned(act_bytes(no));
        AttnParams pg = p;
        pg.q = dqkv, pg.k = act_at(&G, dqkv, C), pg.v = act_at(&G, dqkv, 2 * C), pg.o = dout;
        pg.rel_pos = drel;
        if (pass == 1) cuda_backend_set_attn_workspace(BK, small_ws);
        if (pass == 2) cuda_backend_set_attn_workspace(BK, pair_bytes * (size_t)n_inner * 2 + pair_bytes / 2);
        if (pass == 3) cuda_backend_set_attn_workspace(BK, pair_bytes * (size_t)(n_inner > 1 ? n_inner / 2 : 1) + pair_bytes / 2);
        table.choices.encoder_attention->run(&E, &pg);
        cuda_backend_set_attn_workspace(BK, CUDA_ATTN_WORKSPACE_DEFAULT);
        float *go = get_act(dout, no);
        char what[200];
        snprintf(what, sizeof what, "encoder qkv layout, rel-pos %dx%d grid, batch=%d heads=%d hd=%d, fusion %s%s",
                 g, g, batch, heads, hd, fusion ? "on" : "off",
                 pass == 0 ? "" : pass == 1 ? ", small workspace (row blocks)"
                 : pass == 2 ? ", workspace of two outer indices" : ", workspace of half an outer index");
        // Without fusion the bfloat16 scores are rounded once more, after the rel-pos add (as
        // eager PyTorch rounds attn + rel_h + rel_w): a score of 8 moves by up to 2^-9 x 8 =
        // 0.016, its probability by 1.6 %. The H200 measured 0.0235 at the 64 x 64 grid with
        // head dim 80 (fusion on: under 0.02).
        compare("attention", what, go, co, no, fusion ? tol_of(2e-5, 2e-2) : tol_of(2e-5, 3e-2));
        dfree(dout);
        free(go);
    }
    dfree(dqkv), dfree(drel);
    free(qkv), free(rel), free(co);
}

// Decoder layout: q (n, tq, heads * hd), k and v (n, tk, heads * hd) separate, no rel-pos.
static void test_attention_decoder(int n, int heads, int tq, int tk, int hd) {
    int di = heads * hd;
    float *q = rnd((int64_t)n * tq * di, -1.5f, 1.5f), *k = rnd((int64_t)n * tk * di, -1.5f, 1.5f);
    float *v = rnd((int64_t)n * tk * di, -1, 1);
    AttnParams p = {
        .batch = n, .heads = heads, .q_len = tq, .k_len = tk, .head_dim = hd,
        .q_batch_stride = (int64_t)tq * di, .q_tok_stride = di, .q_head_stride = hd,
        .k_batch_stride = (int64_t)tk * di, .k_tok_stride = di, .k_head_stride = hd,
        .v_batch_stride = (int64_t)tk * di, .v_tok_stride = di, .v_head_stride = hd,
        .o_batch_stride = (int64_t)tq * di, .o_tok_stride = di, .o_head_stride = hd,
        .scale = 1.0f / sqrtf((float)hd),
    };
    int64_t no = (int64_t)n * tq * di;
    float *co = nan_buf(no);
    AttnParams pc = p;
    pc.q = q, pc.k = k, pc.v = v, pc.o = co;
    CPU.ops->choices.encoder_attention->run(&CPU, &pc);
    void *dq = dev_act(q, (int64_t)n * tq * di), *dk = dev_act(k, (int64_t)n * tk * di);
    void *dv = dev_act(v, (int64_t)n * tk * di), *dout = dev_poisoned(act_bytes(no));
    AttnParams pg = p;
    pg.q = dq, pg.k = dk, pg.v = dv, pg.o = dout;
    G.ops->choices.encoder_attention->run(&G, &pg);
    float *go = get_act(dout, no);
    char what[128];
    snprintf(what, sizeof what, "decoder layout, no rel-pos, n=%d heads=%d q_len=%d k_len=%d hd=%d",
             n, heads, tq, tk, hd);
    compare("attention", what, go, co, no, tol_of(2e-5, 2e-2));
    dfree(dq), dfree(dk), dfree(dv), dfree(dout);
    free(q), free(k), free(v), free(co), free(go);
}

// =============================================================================================
// element-wise and data movement
// =============================================================================================

// alias: 0 none, 1 y == a
static void test_add(int64_t n, int64_t ap, int64_t bp, int alias) {
    float *a = rnd(ap, -2, 2), *b = rnd(bp, -2, 2);
    float *cy = alias ? xmalloc((size_t)n * 4) : nan_buf(n);
    if (alias) memcpy(cy, a, (size_t)n * 4);
    CPU.ops->add(&CPU, cy, alias ? cy : a, b, n, ap, bp);
    void *da = dev_act(a, ap), *db = dev_act(b, bp);
    void *dy = alias ? da : dev_poisoned(act_bytes(n));
    G.ops->add(&G, dy, da, db, n, ap, bp);
    float *gy = get_act(dy, n);
    char what[128];
    snprintf(what, sizeof what, "n=%lld a_period=%lld b_period=%lld%s", (long long)n,
             (long long)ap, (long long)bp, alias ? " y=a" : "");
    compare("add", what, gy, cy, n, tol_of(0, 8e-3));
    dfree(da), dfree(db);
    if (!alias) dfree(dy);
    free(a), free(b), free(cy), free(gy);
}

// The activation as a pass of its own (a stage without fusion), in place.
static void test_activation(int64_t n, Act act) {
    float *h = rnd(n, -4, 4), *cy = xmalloc((size_t)n * 4);
    memcpy(cy, h, (size_t)n * 4);
    CPU.ops->activation(&CPU, cy, n, act);
    void *dy = dev_act(h, n);
    G.ops->activation(&G, dy, n, act);
    float *gy = get_act(dy, n);
    char what[96];
    snprintf(what, sizeof what, "n=%lld %s", (long long)n, act == ACT_GELU ? "gelu" : "relu");
    compare("activation", what, gy, cy, n, tol_of(1e-6, 8e-3));
    dfree(dy);
    free(h), free(cy), free(gy);
}

static void test_copy3d(int64_t batch, int64_t rows, int64_t cols, int64_t dbs, int64_t drs,
                        int64_t sbs, int64_t srs) {
    int64_t nd = (batch - 1) * dbs + (rows - 1) * drs + cols + 5;  // a tail that stays poison
    int64_t ns = (batch - 1) * sbs + (rows - 1) * srs + cols;
    float *src = rnd(ns, -1, 1);
    float *cd = nan_buf(nd);
    CPU.ops->copy3d(&CPU, cd, src, batch, rows, cols, dbs, drs, sbs, srs);
    void *ds = dev_act(src, ns), *dd = dev_poisoned(act_bytes(nd));
    G.ops->copy3d(&G, dd, ds, batch, rows, cols, dbs, drs, sbs, srs);
    float *gd = get_act(dd, nd);
    char what[160];
    snprintf(what, sizeof what, "batch=%lld rows=%lld cols=%lld dst strides (%lld, %lld) src strides (%lld, %lld)",
             (long long)batch, (long long)rows, (long long)cols, (long long)dbs, (long long)drs,
             (long long)sbs, (long long)srs);
    compare("copy3d", what, gd, cd, nd, 0);
    dfree(ds), dfree(dd);
    free(src), free(cd), free(gd);
}

static void test_im2col(int src_f32, int nchw, int n, int h, int w, int c, int k, int stride,
                        int pad) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int64_t ns = (int64_t)n * h * w * c, nd = (int64_t)n * oh * ow * c * k * k;
    float *src = rnd_x(ns, -1, 1, !src_f32);  // a float32 source is not rounded
    float *cd = nan_buf(nd);
    CPU.ops->im2col(&CPU, cd, src, src_f32, nchw, n, h, w, c, k, stride, pad);
    void *ds = src_f32 ? dev_raw(src, (size_t)ns * 4) : dev_act(src, ns);
    void *dd = dev_poisoned(act_bytes(nd));
    G.ops->im2col(&G, dd, ds, src_f32, nchw, n, h, w, c, k, stride, pad);
    float *gd = get_act(dd, nd);
    char what[160];
    snprintf(what, sizeof what, "%s %s n=%d %dx%dx%d k=%d stride=%d pad=%d",
             src_f32 ? "float32" : "act", nchw ? "NCHW" : "NHWC", n, h, w, c, k, stride, pad);
    compare("im2col", what, gd, cd, nd, src_f32 ? tol_of(0, 4e-3) : 0);
    dfree(ds), dfree(dd);
    free(src), free(cd), free(gd);
}

static void test_window(int b, int h, int w, int c, int win) {
    int nwh = (h + win - 1) / win, nww = (w + win - 1) / win;
    int64_t ni = (int64_t)b * h * w * c, nwt = (int64_t)b * nwh * nww * win * win * c;
    char what[128];
    snprintf(what, sizeof what, "b=%d %dx%d c=%d win=%d (padded to %dx%d)", b, h, w, c, win,
             nwh * win, nww * win);
    // partition: image -> windows (padding zeros)
    float *img = rnd(ni, -1, 1);
    float *cw = nan_buf(nwt);
    CPU.ops->window_partition(&CPU, cw, img, b, h, w, c, win);
    void *dimg = dev_act(img, ni), *dw = dev_poisoned(act_bytes(nwt));
    G.ops->window_partition(&G, dw, dimg, b, h, w, c, win);
    float *gw = get_act(dw, nwt);
    compare("window_partition", what, gw, cw, nwt, 0);
    dfree(dimg), dfree(dw);
    free(img), free(cw), free(gw);
    // unpartition: random windows -> image (padding dropped)
    float *wins = rnd(nwt, -1, 1);
    float *ci = nan_buf(ni);
    CPU.ops->window_unpartition(&CPU, ci, wins, b, h, w, c, win);
    void *dwins = dev_act(wins, nwt), *di = dev_poisoned(act_bytes(ni));
    G.ops->window_unpartition(&G, di, dwins, b, h, w, c, win);
    float *gi = get_act(di, ni);
    compare("window_unpartition", what, gi, ci, ni, 0);
    dfree(dwins), dfree(di);
    free(wins), free(ci), free(gi);
}

// The fusion choice's LayerNorm + window_partition (one kernel) against the two operations it
// replaces, on the GPU: the same float32 arithmetic, so equal to the bit, padding zeros included.
static void test_layernorm_window(int b, int h, int w, int c, int win) {
    int nwh = (h + win - 1) / win, nww = (w + win - 1) / win;
    int64_t ni = (int64_t)b * h * w * c, nwt = (int64_t)b * nwh * nww * win * win * c;
    char what[128];
    snprintf(what, sizeof what, "b=%d %dx%d c=%d win=%d", b, h, w, c, win);
    float *img = rnd(ni, -2, 2), *g = rnd(c, 0.5f, 1.5f), *bb = rnd(c, -0.5f, 0.5f);
    void *dimg = dev_act(img, ni), *dg = dev_act(g, c), *db = dev_act(bb, c);
    void *dt = dev_poisoned(act_bytes(ni)), *dref = dev_poisoned(act_bytes(nwt)), *dout = dev_poisoned(act_bytes(nwt));
    G.ops->layernorm(&G, dt, dimg, dg, db, (int64_t)b * h * w, c, 1e-6f, ACT_NONE);
    G.ops->window_partition(&G, dref, dt, b, h, w, c, win);
    G.ops->layernorm_window(&G, dout, dimg, dg, db, b, h, w, c, 1e-6f, win);
    float *r = get_act(dref, nwt), *o = get_act(dout, nwt);
    int64_t diff = 0;
    for (int64_t i = 0; i < nwt; i++) diff += memcmp(&r[i], &o[i], sizeof(float)) != 0;
    char detail[96];
    snprintf(detail, sizeof detail, "%lld of %lld elements differ", (long long)diff, (long long)nwt);
    check_bool("layernorm_window", what, diff == 0, detail);
    dfree(dimg), dfree(dg), dfree(db), dfree(dt), dfree(dref), dfree(dout);
    free(img), free(g), free(bb), free(r), free(o);
}

// The low-res masks from the upscaling's sub-pixel order: each source element holds a value
// made from its destination (prompt, mask, image row and column), small integers exact in
// bfloat16, so the CPU's mapping is checked against the layout's definition and the GPU's
// against the CPU's, bit for bit.
static int64_t sm_value(int p, int c, int oy, int ox) { return (oy * 7 + ox * 3 + c * 5 + p * 11) % 256; }
static void test_select_masks(int n, int m, int first, int count, int g) {
    int L = 4 * g;
    int64_t ns = (int64_t)n * m * L * L, nd = (int64_t)n * count * L * L;
    float *src = nan_buf(ns), *want = xmalloc((size_t)nd * sizeof(float)), *cd = nan_buf(nd);
    for (int p = 0; p < n; p++)
        for (int c = 0; c < m; c++)
            for (int y = 0; y < g; y++)
                for (int x = 0; x < g; x++)
                    for (int s1 = 0; s1 < 4; s1++)
                        for (int s2 = 0; s2 < 4; s2++) {
                            int oy = 4 * y + 2 * (s1 / 2) + s2 / 2, ox = 4 * x + 2 * (s1 % 2) + s2 % 2;
                            int64_t si = (((int64_t)(p * m + c) * g * g + (int64_t)y * g + x) * 4 + s1) * 4 + s2;
                            src[si] = (float)sm_value(p, c, oy, ox);
                            if (c >= first && c < first + count)
                                want[((int64_t)p * count + c - first) * L * L + (int64_t)oy * L + ox] = src[si];
                        }
    CPU.ops->select_masks(&CPU, cd, src, n, m, first, count, g);
    char what[96];
    snprintf(what, sizeof what, "cpu, n=%d m=%d masks %d..%d g=%d", n, m, first, first + count - 1, g);
    compare("select_masks", what, cd, want, nd, 0);
    void *ds = dev_act(src, ns), *dd = dev_poisoned((size_t)nd * 4);
    G.ops->select_masks(&G, dd, ds, n, m, first, count, g);
    float *gd = get_f32(dd, nd);
    snprintf(what, sizeof what, "n=%d m=%d masks %d..%d g=%d", n, m, first, first + count - 1, g);
    compare("select_masks", what, gd, cd, nd, 0);
    dfree(ds), dfree(dd);
    free(src), free(want), free(cd), free(gd);
}

// One upscale_masks case: random inputs (u1 as the first upscaling's product leaves it, before
// its LayerNorm2d, with an offset per channel for the norm to remove), the norm's weights, the
// layer made dense through linear_prepare (the fused op reads the dense format's weights and
// checks the format), the GPU's copies; what the case is, for the check lines.
typedef struct {
    int n, m, first, count, g, d4, d8;
    int64_t rows, HW16, nd;  // u1's rows, pixels of a low-res mask, elements of the output
    float *u1, *lng, *lnb, *W, *b, *hyper;
    LinearWeight *gw;
    void *du1, *dlng, *dlnb, *dh;
    char what[96];
} UmCase;
static UmCase um_case(int n, int m, int first, int count, int g, int dim) {
    UmCase c = {.n = n, .m = m, .first = first, .count = count, .g = g, .d4 = dim / 4, .d8 = dim / 8};
    c.rows = (int64_t)n * 4 * g * g, c.HW16 = (int64_t)16 * g * g, c.nd = (int64_t)n * count * c.HW16;
    c.u1 = rnd(c.rows * c.d4, -1.0f, 1.0f), c.W = rnd((int64_t)4 * c.d8 * c.d4, -0.2f, 0.2f);
    for (int64_t i = 0; i < c.rows * c.d4; i++) c.u1[i] += 0.05f * (float)(i % c.d4);
    c.lng = rnd(c.d4, 0.5f, 1.5f), c.lnb = rnd(c.d4, -0.3f, 0.3f);
    c.b = rnd(4 * c.d8, -0.5f, 0.5f), c.hyper = rnd((int64_t)n * m * c.d8, -1.0f, 1.0f);
    c.gw = linear_prepare(G.ops->dense_linear, &G, c.W, c.b, 4 * c.d8, c.d4);
    c.du1 = dev_act(c.u1, c.rows * c.d4), c.dh = dev_act(c.hyper, (int64_t)n * m * c.d8);
    c.dlng = dev_act(c.lng, c.d4), c.dlnb = dev_act(c.lnb, c.d4);
    snprintf(c.what, sizeof c.what, "n=%d m=%d masks %d..%d g=%d dim=%d", n, m, first, first + count - 1, g, dim);
    return c;
}
static void um_free(UmCase *c) {
    c->gw->format->release(&G, c->gw);
    dfree(c->du1), dfree(c->dh), dfree(c->dlng), dfree(c->dlnb);
    free(c->u1), free(c->lng), free(c->lnb), free(c->W), free(c->b), free(c->hyper);
}

// The fused upscale_masks (kernels/cuda/upscale_masks.cu; bfloat16 only, the fused stage's)
// against the same computed as its parts (the LayerNorm2d with its GELU first), as
// op_upscale_masks composes them without fusion:
// the float32 CPU's parts (bf16 bound) and the GPU's own parts (the fused kernel rounds where
// they round, so they differ only where a product summed in another order rounds the other
// way: one bfloat16 step of one value, 2^-8 of it).
static void test_upscale_masks(int n, int m, int first, int count, int g, int dim) {
    UmCase c = um_case(n, m, first, count, g, dim);
    int d4 = c.d4, d8 = c.d8;
    int64_t rows = c.rows, HW16 = c.HW16, nd = c.nd;
    LinearWeight *cw = linear_prepare(CPU.ops->dense_linear, &CPU, c.W, c.b, 4 * d8, d4);
    float *cup = xmalloc((size_t)(rows * 4 * d8) * 4), *cmasks = xmalloc((size_t)(n * m * HW16) * 4);
    float *cd = nan_buf(nd), *cn = xmalloc((size_t)(rows * d4) * 4);
    CPU.ops->layernorm(&CPU, cn, c.u1, c.lng, c.lnb, rows, d4, 1e-6f, ACT_NONE);
    CPU.ops->activation(&CPU, cn, rows * d4, ACT_GELU);
    CPU.ops->dense_linear->run(&CPU, cup, cn, cw, rows, ACT_GELU, NULL);
    CPU.ops->matmul_nt(&CPU, cmasks, c.hyper, cup, n, m, (int)HW16, d8, (int64_t)m * d8, HW16 * d8, (int64_t)m * HW16, 1.0f);
    CPU.ops->select_masks(&CPU, cd, cmasks, n, m, first, count, g);
    void *dup = dev_poisoned(act_bytes(rows * 4 * d8)), *dmasks = dev_poisoned(act_bytes(n * m * HW16));
    void *dparts = dev_poisoned((size_t)nd * 4), *dfused = dev_poisoned((size_t)nd * 4);
    void *dn = dev_poisoned(act_bytes(rows * d4));
    G.ops->layernorm(&G, dn, c.du1, c.dlng, c.dlnb, rows, d4, 1e-6f, ACT_GELU);
    G.ops->dense_linear->run(&G, dup, dn, c.gw, rows, ACT_GELU, NULL);
    G.ops->matmul_nt(&G, dmasks, c.dh, dup, n, m, (int)HW16, d8, (int64_t)m * d8, HW16 * d8, (int64_t)m * HW16, 1.0f);
    G.ops->select_masks(&G, dparts, dmasks, n, m, first, count, g);
    G.ops->upscale_masks(&G, dfused, c.du1, c.dlng, c.dlnb, 1e-6f, c.gw, c.dh, n, m, first, count, g);
    float *gparts = get_f32(dparts, nd), *gfused = get_f32(dfused, nd);
    char what[160];
    snprintf(what, sizeof what, "%s: fused vs float32 parts", c.what);
    compare("upscale_masks", what, gfused, cd, nd, 2e-2);
    snprintf(what, sizeof what, "%s: fused vs its own parts", c.what);
    compare("upscale_masks", what, gfused, gparts, nd, 8e-3);
    dfree(dn), dfree(dup), dfree(dmasks), dfree(dparts), dfree(dfused);
    free(cn), free(cup), free(cmasks), free(cd), free(gparts), free(gfused);
    cw->format->release(&CPU, cw);
    um_free(&c);
}

static void test_act_to_f32(int64_t n) {
    float *src = rnd(n, -3, 3), *cd = nan_buf(n);
    CPU.ops->act_to_f32(&CPU, cd, src, n);
    void *ds = dev_act(src, n), *dd = dev_poisoned((size_t)n * 4);
    G.ops->act_to_f32(&G, dd, ds, n);
    float *gd = get_f32(dd, n);
    char what[64];
    snprintf(what, sizeof what, "n=%lld", (long long)n);
    compare("act_to_f32", what, gd, cd, n, 0);
    dfree(ds), dfree(dd);
    free(src), free(cd), free(gd);
}

// =============================================================================================
// prompts and post-processing
// =============================================================================================

static void test_embed_prompts(int n, int t, int dim, int img) {
    int pts = n * t;
    float *coords = rnd_x((int64_t)pts * 2, 0.0f, (float)img, 0);
    int32_t *labels = xmalloc((size_t)pts * sizeof(int32_t));
    for (int i = 0; i < pts; i++) labels[i] = (int32_t)(i % 5) - 1;  // -1, 0, 1, 2, 3
    float *gauss = rnd_x(dim, -2.0f, 2.0f, 0);  // (2, dim / 2) float32
    float *pe = rnd(4 * dim, -1, 1), *nap = rnd(dim, -1, 1);
    int64_t no = (int64_t)pts * dim;
    float *co = nan_buf(no);
    CPU.ops->embed_prompts(&CPU, co, coords, labels, n, t, dim, gauss, pe, nap, img);
    void *dc = dev_raw(coords, (size_t)pts * 8), *dl = dev_raw(labels, (size_t)pts * 4);
    void *dg = dev_raw(gauss, (size_t)dim * 4), *dpe = dev_act(pe, 4 * dim), *dnap = dev_act(nap, dim);
    void *dout = dev_poisoned(act_bytes(no));
    G.ops->embed_prompts(&G, dout, dc, dl, n, t, dim, dg, dpe, dnap, img);
    float *go = get_act(dout, no);
    char what[96];
    snprintf(what, sizeof what, "n=%d t=%d dim=%d img=%d labels -1..3", n, t, dim, img);
    compare("embed_prompts", what, go, co, no, tol_of(1e-5, 8e-3));
    dfree(dc), dfree(dl), dfree(dg), dfree(dpe), dfree(dnap), dfree(dout);
    free(coords), free(labels), free(gauss), free(pe), free(nap), free(co), free(go);
}

static void test_resize(int n, int hin, int win, int hfull, int wfull, int hout, int wout) {
    int64_t ns = (int64_t)n * hin * win, nd = (int64_t)n * hout * wout;
    float *src = rnd_x(ns, -8, 8, 0), *cd = nan_buf(nd);
    CPU.ops->resize_bilinear(&CPU, cd, src, n, hin, win, hfull, wfull, hout, wout);
    void *ds = dev_raw(src, (size_t)ns * 4), *dd = dev_poisoned((size_t)nd * 4);
    G.ops->resize_bilinear(&G, dd, ds, n, hin, win, hfull, wfull, hout, wout);
    float *gd = get_f32(dd, nd);
    char what[128];
    snprintf(what, sizeof what, "n=%d %dx%d -> %dx%d cropped to %dx%d", n, hin, win, hfull, wfull, hout, wout);
    compare("resize_bilinear", what, gd, cd, nd, 0);
    dfree(ds), dfree(dd);
    free(src), free(cd), free(gd);
}

static void test_top_mask_stats(int n, int c, int h, int w) {
    int64_t hw = (int64_t)h * w;
    float *logits = rnd_x((int64_t)n * c * hw, -1, 1, 0);
    float *iou = rnd_x((int64_t)n * c, 0.1f, 1.0f, 0);
    // Ties: prompt 0 all equal (index 0 wins), prompt 1 a tie for the maximum at 1 and 2.
    for (int j = 0; j < c; j++) iou[j] = 0.5f;
    if (n > 1 && c >= 3) iou[c + 0] = 0.2f, iou[c + 1] = 0.9f, iou[c + 2] = 0.9f;
    uint8_t *gt = xmalloc((size_t)(n * hw));
    for (int64_t i = 0; i < n * hw; i++) gt[i] = urand() < 0.4 ? (urand() < 0.5 ? 1 : 255) : 0;
    uint8_t *cm = xmalloc((size_t)(n * c * hw));  // every mask, thresholded
    int32_t *cidx = xmalloc((size_t)n * 4);
    int64_t *cin = xmalloc((size_t)n * 8), *cun = xmalloc((size_t)n * 8);
    CPU.ops->top_mask_stats(&CPU, cm, cidx, cin, cun, logits, iou, gt, n, c, h, w);
    void *dl = dev_raw(logits, (size_t)(n * c * hw) * 4), *di = dev_raw(iou, (size_t)n * c * 4);
    void *dgt = dev_raw(gt, (size_t)(n * hw));
    uint8_t *poison = xmalloc((size_t)(n * hw) * 8 + 64);
    memset(poison, 0xaa, (size_t)(n * hw) * 8 + 64);
    void *dm = dev_raw(poison, (size_t)(n * c * hw)), *didx = dev_raw(poison, (size_t)n * 4);
    void *din = dev_raw(poison, (size_t)n * 8), *dun = dev_raw(poison, (size_t)n * 8);
    G.ops->top_mask_stats(&G, dm, didx, din, dun, dl, di, dgt, n, c, h, w);
    uint8_t *gm = xmalloc((size_t)(n * c * hw));
    int32_t *gidx = xmalloc((size_t)n * 4);
    int64_t *gin = xmalloc((size_t)n * 8), *gun = xmalloc((size_t)n * 8);
    G.ops->copy_to_host(&G, gm, dm, (size_t)(n * c * hw));
    G.ops->copy_to_host(&G, gidx, didx, (size_t)n * 4);
    G.ops->copy_to_host(&G, gin, din, (size_t)n * 8);
    G.ops->copy_to_host(&G, gun, dun, (size_t)n * 8);
    int64_t bad_mask = 0;
    for (int64_t i = 0; i < n * c * hw; i++) bad_mask += gm[i] != cm[i];
    int bad_stats = 0;
    for (int i = 0; i < n; i++) bad_stats += gidx[i] != cidx[i] || gin[i] != cin[i] || gun[i] != cun[i];
    char what[128], detail[160];
    snprintf(what, sizeof what, "n=%d c=%d %dx%d with IoU ties", n, c, h, w);
    snprintf(detail, sizeof detail, "%lld mask pixels and %d prompts' (index, inter, union) differ; top %d/%d, inter %lld/%lld",
             (long long)bad_mask, bad_stats, gidx[n > 1], cidx[n > 1], (long long)gin[0], (long long)cin[0]);
    check_bool("top_mask_stats", what, bad_mask == 0 && bad_stats == 0, detail);
    dfree(dl), dfree(di), dfree(dgt), dfree(dm), dfree(didx), dfree(din), dfree(dun);
    free(logits), free(iou), free(gt), free(cm), free(cidx), free(cin), free(cun), free(poison);
    free(gm), free(gidx), free(gin), free(gun);
}

// ---- the ragged decoding's operations (issue 16) ---------------------------------------------

// keys[p] = embed[index[p]] + b: n prompts over `images` blocks, b of period bp; the index
// repeats images, skips some, and is not sorted.
static void test_gather_add(int64_t n, int images, int64_t block, int64_t bp) {
    float *a = rnd((int64_t)images * block, -2, 2), *b = rnd(bp, -2, 2), *cd = nan_buf(n * block);
    int32_t *idx = xmalloc(sizeof(int32_t) * (size_t)n + 4);
    for (int64_t p = 0; p < n; p++) idx[p] = (int32_t)((p * 7 + 3) % images) / 2 * 2 % images;
    CPU.ops->gather_add(&CPU, cd, a, idx, b, n, block, bp);
    void *da = dev_act(a, (int64_t)images * block), *db = dev_act(b, bp);
    void *di = dev_raw(idx, sizeof(int32_t) * (size_t)n), *dy = dev_poisoned(act_bytes(n * block));
    G.ops->gather_add(&G, dy, da, di, db, n, block, bp);
    float *gy = get_act(dy, n * block);
    char what[128];
    snprintf(what, sizeof what, "%lld prompts over %d images, block %lld, b period %lld", (long long)n,
             images, (long long)block, (long long)bp);
    compare("gather_add", what, gy, cd, n * block, tol_of(0, 8e-3));
    dfree(da), dfree(db), dfree(di), dfree(dy);
    free(a), free(b), free(cd), free(idx), free(gy);
}

// A ragged set of n prompts on images of the given original sizes (cycled), each resized into
// a full x full input: sizes (n, 4) and offsets with a gap of `gap` pixels after every prompt
// (the gaps must stay untouched). Returns the total pixels.
static int64_t ragged_geometry(int n, const int (*orig)[2], int n_orig, int full, int32_t *size,
                               int64_t *offset, int gap) {
    int64_t at = 0;
    for (int p = 0; p < n; p++) {
        int h = orig[p % n_orig][0], w = orig[p % n_orig][1];
        // ResizeLongestSide: the long side to full, the other rounded half up
        double sc = (double)full / (h > w ? h : w);
        size[4 * p] = h >= w ? full : (int)(h * sc + 0.5);
        size[4 * p + 1] = w >= h ? full : (int)(w * sc + 0.5);
        size[4 * p + 2] = h, size[4 * p + 3] = w;
        offset[p] = at;
        at += (int64_t)h * w + gap;
    }
    return at;
}

static void test_resize_ragged(int n, int c, int lo, int full, const int (*orig)[2], int n_orig, int gap) {
    int32_t *size = xmalloc(sizeof(int32_t) * 4 * (size_t)n);
    int64_t *offset = xmalloc(sizeof(int64_t) * (size_t)n);
    int64_t pix = ragged_geometry(n, orig, n_orig, full, size, offset, gap), nd = pix * c;
    int64_t ns = (int64_t)n * c * lo * lo;
    float *src = rnd_x(ns, -8, 8, 0), *cd = nan_buf(nd);
    RaggedMasks rc = {n, size, offset};
    CPU.ops->resize_masks_ragged(&CPU, cd, src, c, lo, lo, full, full, &rc);
    void *ds = dev_raw(src, (size_t)ns * 4), *dd = dev_poisoned((size_t)nd * 4);
    void *dsz = dev_raw(size, sizeof(int32_t) * 4 * (size_t)n), *dof = dev_raw(offset, sizeof(int64_t) * (size_t)n);
    RaggedMasks rg = {n, dsz, dof};
    G.ops->resize_masks_ragged(&G, dd, ds, c, lo, lo, full, full, &rg);
    float *gd = get_f32(dd, nd);
    char what[160];
    snprintf(what, sizeof what, "%d prompts x %d masks %dx%d -> %dx%d, cropped and resized to %d sizes (first %dx%d), gap %d",
             n, c, lo, lo, full, full, n_orig, orig[0][0], orig[0][1], gap);
    compare("resize_masks_ragged", what, gd, cd, nd, 0);
    dfree(ds), dfree(dd), dfree(dsz), dfree(dof);
    free(size), free(offset), free(src), free(cd), free(gd);
}

static void test_top_mask_stats_ragged(int n, int c, const int (*orig)[2], int n_orig, int gap) {
    int32_t *size = xmalloc(sizeof(int32_t) * 4 * (size_t)n);
    int64_t *offset = xmalloc(sizeof(int64_t) * (size_t)n);
    int64_t pix = ragged_geometry(n, orig, n_orig, 64, size, offset, gap);
    float *logits = rnd_x(pix * c, -1, 1, 0);
    float *iou = rnd_x((int64_t)n * c, 0.1f, 1.0f, 0);
    for (int j = 0; j < c; j++) iou[j] = 0.5f;  // prompt 0: all tied, index 0 wins
    if (n > 1 && c >= 3) iou[c + 0] = 0.2f, iou[c + 1] = 0.9f, iou[c + 2] = 0.9f;
    uint8_t *gt = xmalloc((size_t)pix + 4);
    for (int64_t i = 0; i < pix; i++) gt[i] = urand() < 0.4 ? (urand() < 0.5 ? 1 : 255) : 0;
    uint8_t *cm = xmalloc((size_t)(pix * c) + 4), *poison = xmalloc((size_t)(pix * c) + 64);
    memset(cm, 0xaa, (size_t)(pix * c));
    memset(poison, 0xaa, (size_t)(pix * c) + 64);
    int32_t *cidx = xmalloc((size_t)n * 4);
    int64_t *cin = xmalloc((size_t)n * 8), *cun = xmalloc((size_t)n * 8);
    RaggedMasks rc = {n, size, offset};
    CPU.ops->top_mask_stats_ragged(&CPU, cm, cidx, cin, cun, logits, iou, gt, c, &rc);
    void *dl = dev_raw(logits, (size_t)(pix * c) * 4), *di = dev_raw(iou, (size_t)n * c * 4);
    void *dgt = dev_raw(gt, (size_t)pix), *dm = dev_raw(poison, (size_t)(pix * c));
    void *didx = dev_raw(poison, (size_t)n * 4), *din = dev_raw(poison, (size_t)n * 8), *dun = dev_raw(poison, (size_t)n * 8);
    void *dsz = dev_raw(size, sizeof(int32_t) * 4 * (size_t)n), *dof = dev_raw(offset, sizeof(int64_t) * (size_t)n);
    RaggedMasks rg = {n, dsz, dof};
    G.ops->top_mask_stats_ragged(&G, dm, didx, din, dun, dl, di, dgt, c, &rg);
    uint8_t *gm = xmalloc((size_t)(pix * c) + 4);
    int32_t *gidx = xmalloc((size_t)n * 4);
    int64_t *gin = xmalloc((size_t)n * 8), *gun = xmalloc((size_t)n * 8);
    G.ops->copy_to_host(&G, gm, dm, (size_t)(pix * c));
    G.ops->copy_to_host(&G, gidx, didx, (size_t)n * 4);
    G.ops->copy_to_host(&G, gin, din, (size_t)n * 8);
    G.ops->copy_to_host(&G, gun, dun, (size_t)n * 8);
    int64_t bad_mask = 0;  // the gaps too: both sides must leave them at 0xaa
    for (int64_t i = 0; i < pix * c; i++) bad_mask += gm[i] != cm[i];
    int bad_stats = 0;
    for (int i = 0; i < n; i++) bad_stats += gidx[i] != cidx[i] || gin[i] != cin[i] || gun[i] != cun[i];
    char what[160], detail[160];
    snprintf(what, sizeof what, "%d prompts c=%d, %d sizes (first %dx%d), gap %d, with IoU ties", n, c,
             n_orig, orig[0][0], orig[0][1], gap);
    snprintf(detail, sizeof detail, "%lld mask bytes and %d prompts' (index, inter, union) differ", (long long)bad_mask, bad_stats);
    check_bool("top_mask_stats_ragged", what, bad_mask == 0 && bad_stats == 0, detail);
    dfree(dl), dfree(di), dfree(dgt), dfree(dm), dfree(didx), dfree(din), dfree(dun), dfree(dsz), dfree(dof);
    free(size), free(offset), free(logits), free(iou), free(gt), free(cm), free(poison), free(cidx), free(cin), free(cun);
    free(gm), free(gidx), free(gin), free(gun);
}

// =============================================================================================
// the suite
// =============================================================================================

// Weights uploaded to the bfloat16 table: small ones converted on the host, large ones (a
// quarter million values and more) on the device (backend.cu cuda_upload); both must give the
// host's bits: round to nearest even (ties both ways), infinities, NaN kept quiet, denormals,
// the largest finite values (round up to infinity), signed zeros.
static void test_upload_bits(void) {
    if (!BF) return;
    const size_t sizes[2] = {1000, (size_t)1 << 19};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        uint32_t *u = xmalloc(n * sizeof(uint32_t));
        const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                                    0xffa00000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff7fffffu,
                                    0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f817fffu, 0x7f7f8000u};
        size_t ns = sizeof special / sizeof special[0];
        for (size_t i = 0; i < n; i++) u[i] = i < ns ? special[i] : (uint32_t)(urand() * 4294967296.0);
        void *d = G.ops->mem_alloc(&G, n * 2);
        G.ops->upload_act(&G, d, (const float *)u, n);
        uint16_t *got = xmalloc(n * 2);
        G.ops->copy_to_host(&G, got, d, n * 2);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            // test_rand.h's bf16_round (nearest even), and a NaN kept with its quiet bit set
            float f, r;
            memcpy(&f, &u[i], 4);
            r = bf16_round(f);
            uint32_t rb;
            memcpy(&rb, &r, 4);
            uint16_t want = isnan(f) ? (uint16_t)((u[i] >> 16) | 0x40u) : (uint16_t)(rb >> 16);
            bad += got[i] != want;
        }
        char what[96], detail[64];
        snprintf(what, sizeof what, "float32 -> bfloat16 bits of %zu values (%s)", n,
                 k ? "converted on the device" : "converted on the host");
        snprintf(detail, sizeof detail, "%zu differ", bad);
        check_bool("upload", what, bad == 0, detail);
        G.ops->mem_free(&G, d);
        free(u), free(got);
    }
}

static void run_suite(void) {
    test_upload_bits();
    // linear: every activation with and without bias; residual separate and aliasing y
    // (act none: accumulated by the GEMM; an activation: y saved first).
    for (int a = 0; a < 3; a++)
        for (int bias = 0; bias < 2; bias++) test_linear(300, 256, 768, (Act)a, bias, 0);
    test_linear(300, 256, 768, ACT_GELU, 1, 1);
    test_linear(300, 256, 768, ACT_NONE, 1, 2);
    test_linear(300, 256, 768, ACT_NONE, 0, 2);
    test_linear(300, 256, 768, ACT_GELU, 1, 2);
    test_linear(2000, 3072, 768, ACT_NONE, 1, 2);  // the encoder's lin2 with its shortcut
    test_linear(17, 4, 4, ACT_NONE, 1, 0);         // mask_downscaling's first conv
    test_linear(9, 33, 7, ACT_RELU, 1, 1);         // odd sizes: scalar epilogue
    test_matmul_nt(3, 4, 1024, 32, 8, 1.0f);
    test_matmul_nt(1, 5, 7, 3, 0, 0.5f);
    test_linear_table(3, 4096, 256, 384);  // a two-way layer's [k | v | q] of three prompts
    test_linear_table(5, 4096, 256, 384);  // another block count: the path that reuses the first's algorithm
    test_linear_table(2, 4096, 256, 256);  // the final attention's [k | v]
    test_linear_table(7, 256, 64, 96);     // the fixtures' grid 16, prompt dim 64

    test_layernorm(333, 768, 1e-6f, ACT_NONE, 0);
    test_layernorm(333, 1280, 1e-6f, ACT_NONE, 1);
    test_layernorm(333, 256, 1e-5f, ACT_NONE, 0);
    test_layernorm(333, 64, 1e-6f, ACT_GELU, 1);
    test_layernorm(333, 4, 1e-6f, ACT_GELU, 0);
    test_layernorm(333, 30, 1e-6f, ACT_GELU, 0);   // dim % 4 != 0: scalar path
    test_layernorm(333, 128, 1e-6f, ACT_NONE, 0);  // widest half-warp row
    test_layernorm(333, 129, 1e-6f, ACT_NONE, 1);  // narrowest warp row, scalar
    test_layernorm(333, 700, 1e-6f, ACT_GELU, 0);

    test_attention_encoder(3, 2, 14, 64, 1, 16 << 10);  // windowed: windows outnumber heads
    test_attention_encoder(2, 3, 14, 80, 1, 16 << 10);  // vit_h head dim, heads outnumber windows
    test_attention_encoder(2, 3, 64, 64, 1, 1 << 20);   // global
    test_attention_encoder(1, 2, 64, 80, 1, 1 << 20);   // global, vit_h head dim
    test_attention_decoder(3, 8, 7, 4096, 16);      // cross attention token -> image
    test_attention_decoder(3, 8, 4096, 7, 16);      // cross attention image -> token
    test_attention_decoder(3, 8, 7, 7, 32);         // self attention of the tokens
    test_attention_decoder(2, 8, 6, 4096, 32);      // odd token count, larger head dim
    test_attention_decoder(11, 8, 7, 4096, 16);     // prompts outnumber heads (pointer arrays)
    test_attention_decoder(11, 8, 4096, 7, 16);
    test_attention_decoder(1, 8, 7, 4096, 16);      // one prompt: one strided chunk
    // softmax row lengths for every kernel shape: 8-thread rows of <= 256, warp rows of
    // <= 1024, block rows of <= 2048, <= 4096, <= 8192; lengths off the 8- and 4-element vector
    // widths
    test_attention_decoder(3, 2, 5, 250, 16);
    test_attention_decoder(3, 2, 5, 1000, 16);
    test_attention_decoder(3, 2, 5, 1998, 16);
    test_attention_decoder(3, 2, 5, 2050, 16);
    test_attention_decoder(2, 2, 5, 8000, 16);
    test_attention_decoder(2, 2, 5, 8191, 16);
    test_attention_encoder(5, 3, 14, 64, 1, 16 << 10); // 3 outer indices: a shorter last chunk
    // Rows of at most 32 keys: a thread per row (rel-pos terms read from global memory).
    test_attention_encoder(2, 3, 4, 16, 1, 2 << 10);
    test_attention_encoder(3, 2, 5, 32, 1, 2 << 10);
    test_attention_decoder(3, 2, 40, 32, 16);        // 32 keys: 16-byte groups
    test_attention_decoder(3, 2, 40, 9, 16);

    test_add(4096 * 3, 4096 * 3, 4096 * 3, 0);
    test_add(4096 * 3, 4096 * 3, 4096, 1);          // + pos_embed broadcast over the batch
    test_add(4096 * 3, 1024, 4096 * 3, 0);          // a broadcast
    test_add(4096 * 3, 4096 * 3, 256, 0);           // + no_mask_embed per token
    test_add(1001, 1001, 7, 0);                     // odd: scalar path
    test_add(4096 * 3, 4096 * 3, 4096 * 3, 1);      // a residual add in place (16-byte path)
    test_add(4098, 4098, 4098, 0);                  // no broadcast, not whole 16-byte units in either dtype
    test_activation(4096 * 3, ACT_GELU);            // 16-byte path
    test_activation(1001, ACT_GELU);                // scalar path
    test_activation(4096 * 3, ACT_RELU);
    test_copy3d(3, 5, 256, 9 * 256, 256, 0, 256);   // output tokens broadcast to every prompt
    test_copy3d(4, 3, 7, 40, 9, 30, 13);            // odd sizes and strides
    test_copy3d(1, 1, 10000, 0, 10000, 0, 10000);   // one contiguous block
    test_copy3d(5, 1, 3, 3, 3, 4, 4);               // the IoU column selection shape
    test_im2col(1, 1, 2, 64, 64, 3, 16, 16, 0);     // patch embedding: NCHW float32 image
    test_im2col(0, 0, 2, 12, 12, 8, 3, 1, 1);       // neck 3x3 conv, NHWC act, pad 1
    test_im2col(0, 0, 1, 16, 16, 256, 3, 1, 1);
    test_im2col(1, 1, 3, 32, 32, 1, 2, 2, 0);       // mask downscaling 2x2 stride 2, float32
    test_im2col(0, 0, 3, 16, 16, 4, 2, 2, 0);       // and on the NHWC activation
    // The fast paths (kernels/cuda/layout.cu) at full size and at shapes that leave a partial
    // group of rows, a stride and an image that is not square.
    test_im2col(1, 1, 1, 1024, 1024, 3, 16, 16, 0);  // vit_b's patch embedding, one image
    test_im2col(1, 1, 1, 48, 32, 3, 16, 16, 0);
    test_im2col(0, 0, 2, 64, 64, 256, 3, 1, 1);      // the neck's 3x3 convolution
    test_im2col(0, 0, 1, 7, 5, 16, 3, 1, 1);
    test_im2col(0, 0, 2, 9, 9, 8, 3, 2, 1);
    test_window(2, 64, 64, 16, 14);                 // 64 -> 70: 25 windows, padding
    test_window(1, 28, 28, 12, 14);                 // exact multiple
    test_window(2, 20, 17, 3, 7);                   // odd channels and sizes
    test_layernorm_window(2, 64, 64, 768, 14);      // vit_b's grid: 64 -> 70, padding
    test_layernorm_window(1, 64, 64, 1280, 14);     // vit_h's width
    test_layernorm_window(2, 16, 16, 128, 14);      // the tiny fixture: 16 -> 28
    test_layernorm_window(1, 20, 17, 6, 7);         // odd sizes, scalar path
    test_select_masks(3, 4, 1, 3, 5);
    test_select_masks(2, 4, 0, 1, 16);
    test_select_masks(1, 4, 0, 4, 64);
    if (BF) {  // the fused kernel is bfloat16's (float32 stages run the parts)
        test_upscale_masks(3, 4, 1, 3, 8, 256);       // SAM's decoder dim, multimask
        test_upscale_masks(2, 4, 0, 1, 16, 64);       // the fixtures' dim 64, single mask
        test_upscale_masks(2, 3, 0, 3, 6, 256);       // fewer mask tokens, every one kept
        test_upscale_masks(26, 4, 1, 3, 64, 256);     // vit_b's batch of 8 images: 26 prompts
    }
    test_act_to_f32(1003);
    test_act_to_f32(4096);

    test_embed_prompts(3, 5, 256, 1024);
    test_embed_prompts(2, 3, 64, 1024);
    test_resize(3, 256, 256, 1024, 1024, 768, 1024);  // low-res -> padded input, cropped
    test_resize(3, 768, 1024, 480, 640, 480, 640);    // input -> original size (downscale)
    test_resize(2, 64, 64, 100, 130, 77, 130);        // odd sizes
    test_top_mask_stats(5, 3, 48, 64);                // vector path
    test_top_mask_stats(4, 3, 37, 53);                // odd pixel count
    test_top_mask_stats(3, 1, 300, 200);              // single-mask output, several blocks

    // Ragged decoding (issue 16).
    test_gather_add(7, 3, 64 * 64 * 16, 16);          // keys = embed[image] + no_mask_embed
    test_gather_add(5, 4, 999, 5 * 999);              // + a per-prompt dense embedding; odd: scalar
    test_gather_add(61, 8, 16 * 16 * 64, 64);         // 61 prompts
    {
        static const int coco[][2] = {{480, 640}, {640, 427}, {375, 500}, {1024, 1024}, {333, 1001}};
        static const int odd[][2] = {{37, 53}, {200, 300}, {61, 19}};
        test_resize_ragged(7, 3, 256, 1024, coco, 5, 0);  // vit_b's post-processing, COCO-like sizes
        test_resize_ragged(4, 1, 64, 256, odd, 3, 13);    // tiny: odd sizes and offsets, gaps
        test_top_mask_stats_ragged(7, 3, coco, 5, 0);     // vector path where the offsets allow
        test_top_mask_stats_ragged(5, 3, odd, 3, 7);      // odd sizes and offsets: scalar path
        test_top_mask_stats_ragged(3, 1, odd, 3, 0);      // single-mask output
    }
}

// =============================================================================================
// benchmark: vit_b encoder operations at batch 8 (--bench)
// =============================================================================================

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Median milliseconds of `reps` runs of fn after 3 warm-ups.
static double time_ms(void (*fn)(void *), void *ctx, int reps) {
    double t[64];
    for (int i = 0; i < 3; i++) fn(ctx);
    for (int i = 0; i < reps; i++) {
        G.ops->timer_begin(&G);
        fn(ctx);
        t[i] = G.ops->timer_end_ms(&G);
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

typedef struct {
    void *y, *x, *res;
    LinearWeight *w;
    int64_t rows;
    Act act;
    AttnParams p;
    void *g, *b;
    int dim;
} BenchCtx;
static void run_linear(void *c) {
    BenchCtx *b = c;
    G.ops->dense_linear->run(&G, b->y, b->x, b->w, b->rows, b->act, b->res);
}
static void run_attn(void *c) { G.ops->choices.encoder_attention->run(&G, &((BenchCtx *)c)->p); }
// The same attention on a table with the fusion choice on (the rel-pos add inside the softmax).
static Exec GFUSED;
static void run_attn_fused(void *c) { GFUSED.ops->choices.encoder_attention->run(&GFUSED, &((BenchCtx *)c)->p); }
// A residual linear without fusion: the product into a temporary, then the add (exec.h op_linear).
static void run_linear_unfused(void *c) {
    BenchCtx *b = c;
    int64_t n = b->rows * b->w->out_features;
    G.ops->dense_linear->run(&G, b->g, b->x, b->w, b->rows, ACT_NONE, NULL);
    G.ops->add(&G, b->y, b->g, b->res, n, n, n);
}
static void run_ln(void *c) {
    BenchCtx *b = c;
    G.ops->layernorm(&G, b->y, b->x, b->g, b->b, b->rows, b->dim, 1e-6f, ACT_NONE);
}
static void run_windows(void *c) {  // a windowed block's partition and unpartition
    BenchCtx *b = c;
    G.ops->window_partition(&G, b->y, b->x, 8, 64, 64, 768, 14);
    G.ops->window_unpartition(&G, b->x, b->y, 8, 64, 64, 768, 14);
}

// vit_b's encoder attention at batch 8: global (8 x 12 heads, 64 x 64 grid) or windowed
// (200 windows x 12 heads, 14 x 14), qkv in big1 as the encoder lays it out, output in big2.
static AttnParams vitb_attention(int windowed, void *big1, void *big2, const void *rel) {
    const int B = 8, C = 768, heads = 12, hd = 64;
    int g = windowed ? 14 : 64, T = g * g, nb = windowed ? B * 25 : B;
    return (AttnParams){
        .q = big1, .k = act_at(&G, big1, C), .v = act_at(&G, big1, 2 * C), .o = big2,
        .batch = nb, .heads = heads, .q_len = T, .k_len = T, .head_dim = hd,
        .q_batch_stride = (int64_t)T * 3 * C, .q_tok_stride = 3 * C, .q_head_stride = hd,
        .k_batch_stride = (int64_t)T * 3 * C, .k_tok_stride = 3 * C, .k_head_stride = hd,
        .v_batch_stride = (int64_t)T * 3 * C, .v_tok_stride = 3 * C, .v_head_stride = hd,
        .o_batch_stride = (int64_t)T * C, .o_tok_stride = C, .o_head_stride = hd,
        .scale = 0.125f, .rel_pos = rel, .grid_h = g, .grid_w = g};
}

// The fusion choice's LayerNorm + window partition against the two kernels, at batch 8 for
// vit_b (768 channels) and vit_h (1280): the time a windowed block saves.
typedef struct {
    void *x, *t, *out, *g, *b;
    int c, fused;
} LnwCtx;
static void run_lnw(void *p) {
    LnwCtx *l = p;
    if (l->fused) {
        G.ops->layernorm_window(&G, l->out, l->x, l->g, l->b, 8, 64, 64, l->c, 1e-6f, 14);
    } else {
        G.ops->layernorm(&G, l->t, l->x, l->g, l->b, (int64_t)8 * 64 * 64, l->c, 1e-6f, ACT_NONE);
        G.ops->window_partition(&G, l->out, l->t, 8, 64, 64, l->c, 14);
    }
}
static void bench_fusion(void) {
    // What the fusion choice saves per operation, batch 8 (the note of issue 12 cites these):
    // the residual add in the GEMM (proj and lin2 of every block) and the rel-pos add in the
    // softmax (every attention), against the passes of their own a stage without fusion runs.
    Ops fused_table = *G.ops;
    fused_table.choices.fusion = 1;
    GFUSED = G;
    GFUSED.ops = &fused_table;
    cuda_backend_set_sync_each_launch(BK, 0);
    for (int c = 768; c <= 1280; c += 512) {
        int hidden = 4 * c, heads = c == 768 ? 12 : 16, hd = 64 + (c == 1280) * 16;
        int64_t tokens = (int64_t)8 * 64 * 64, wtokens = (int64_t)8 * 25 * 196;
        float *hw = rnd((int64_t)hidden * c, -0.05f, 0.05f), *hb = rnd(hidden, -0.1f, 0.1f);
        float *hx = rnd(wtokens * 3 * c, -1, 1);
        void *big1 = dev_act(hx, wtokens * 3 * c), *big2 = dev_act(hx, wtokens * 3 * c);
        void *tmp = G.ops->mem_alloc(&G, act_bytes(tokens * c));
        void *hid = G.ops->mem_alloc(&G, act_bytes(tokens * hidden));
        LinearWeight *wl2 = G.ops->dense_linear->prepare(&G, hw, hb, c, hidden);
        BenchCtx l2 = {.y = big2, .x = hid, .w = wl2, .rows = tokens, .act = ACT_NONE, .res = big2, .g = tmp};
        double lin2_fused = time_ms(run_linear, &l2, 10), lin2_unfused = time_ms(run_linear_unfused, &l2, 10);
        float *rel = rnd(2 * 127 * hd, -0.5f, 0.5f);
        void *drel = dev_act(rel, 2 * 127 * hd);
        double att[2][2];  // [windowed][fused]
        for (int wnd = 0; wnd < 2; wnd++) {
            int g = wnd ? 14 : 64, T = g * g, nb = wnd ? 8 * 25 : 8;
            BenchCtx a = {.p = {.q = big1, .k = act_at(&G, big1, c), .v = act_at(&G, big1, 2 * c), .o = big2,
                                .batch = nb, .heads = heads, .q_len = T, .k_len = T, .head_dim = hd,
                                .q_batch_stride = (int64_t)T * 3 * c, .q_tok_stride = 3 * c, .q_head_stride = hd,
                                .k_batch_stride = (int64_t)T * 3 * c, .k_tok_stride = 3 * c, .k_head_stride = hd,
                                .v_batch_stride = (int64_t)T * 3 * c, .v_tok_stride = 3 * c, .v_head_stride = hd,
                                .o_batch_stride = (int64_t)T * c, .o_tok_stride = c, .o_head_stride = hd,
                                .scale = 0.125f, .rel_pos = drel, .grid_h = g, .grid_w = g}};
            att[wnd][0] = time_ms(run_attn, &a, 5);
            att[wnd][1] = time_ms(run_attn_fused, &a, 5);
        }
        printf("NOTE bench %s batch 8, %d channels: lin2 + residual %.3f ms unfused (GEMM, then add), %.3f ms "
               "fused (saves %.3f ms per residual linear); global attention %.3f ms unfused rel-pos add, "
               "%.3f ms fused (saves %.3f); windowed %.3f / %.3f ms (saves %.3f)\n",
               TNAME, c, lin2_unfused, lin2_fused, lin2_unfused - lin2_fused, att[0][0], att[0][1],
               att[0][0] - att[0][1], att[1][0], att[1][1], att[1][0] - att[1][1]);
        G.ops->dense_linear->release(&G, wl2);
        dfree(big1), dfree(big2), dfree(tmp), dfree(hid), dfree(drel);
        free(hw), free(hb), free(hx), free(rel);
    }
    for (int c = 768; c <= 1280; c += 512) {
        int64_t ni = (int64_t)8 * 64 * 64 * c, nw = (int64_t)8 * 25 * 196 * c;
        float *h = rnd(ni, -1, 1), *hg = rnd(c, 0.5f, 1.5f);
        LnwCtx l = {dev_act(h, ni), G.ops->mem_alloc(&G, act_bytes(ni)), G.ops->mem_alloc(&G, act_bytes(nw)),
                    dev_act(hg, c), dev_act(hg, c), c, 0};
        double two = time_ms(run_lnw, &l, 20);
        l.fused = 1;
        double one = time_ms(run_lnw, &l, 20);
        printf("NOTE bench %s batch 8, %d channels: LayerNorm + window_partition %.3f ms, fused layernorm_window %.3f ms "
               "(saves %.3f ms per windowed block)\n", TNAME, c, two, one, two - one);
        dfree(l.x), dfree(l.t), dfree(l.out), dfree(l.g), dfree(l.b);
        free(h), free(hg);
    }
    cuda_backend_set_sync_each_launch(BK, 1);
}

static void bench(void) {
    const int B = 8, G64 = 64, C = 768, hd = 64, H4 = 3072;
    int64_t tokens = (int64_t)B * G64 * G64;
    int64_t wtokens = (int64_t)B * 25 * 196;  // windowed blocks work on the padded 70x70 grid
    cuda_backend_set_sync_each_launch(BK, 0);
    float *hw = rnd((int64_t)H4 * C, -0.05f, 0.05f), *hb = rnd(H4, -0.1f, 0.1f);
    float *hx = rnd(wtokens * 3 * C, -1, 1);
    void *big1 = dev_act(hx, wtokens * 3 * C);               // qkv-sized buffer
    void *big2 = dev_act(hx, wtokens * 3 * C);
    void *hid = G.ops->mem_alloc(&G, act_bytes(tokens * H4));
    BenchCtx c = {0};
    LinearWeight *wqkv = G.ops->dense_linear->prepare(&G, hw, hb, 3 * C, C);
    LinearWeight *wproj = G.ops->dense_linear->prepare(&G, hw, hb, C, C);
    LinearWeight *wl1 = G.ops->dense_linear->prepare(&G, hw, hb, H4, C);
    LinearWeight *wl2 = G.ops->dense_linear->prepare(&G, hw, hb, C, H4);
    c = (BenchCtx){.y = big2, .x = big1, .w = wqkv, .rows = tokens, .act = ACT_NONE};
    double ms_qkv = time_ms(run_linear, &c, 10);
    c = (BenchCtx){.y = big2, .x = big1, .w = wproj, .rows = tokens, .act = ACT_NONE, .res = big2};
    double ms_proj = time_ms(run_linear, &c, 10);
    c = (BenchCtx){.y = hid, .x = big1, .w = wl1, .rows = tokens, .act = ACT_GELU};
    double ms_lin1 = time_ms(run_linear, &c, 10);
    c = (BenchCtx){.y = big2, .x = hid, .w = wl2, .rows = tokens, .act = ACT_NONE, .res = big2};
    double ms_lin2 = time_ms(run_linear, &c, 10);
    c = (BenchCtx){.y = big2, .x = big1, .g = dev_act(hb, C), .b = dev_act(hb, C), .rows = tokens, .dim = C};
    double ms_ln = time_ms(run_ln, &c, 10);
    BenchCtx cw = {.x = big1, .y = big2};
    double ms_part = time_ms(run_windows, &cw, 10);
    float *rel = rnd(2 * 127 * hd, -0.5f, 0.5f);
    void *drel = dev_act(rel, 2 * 127 * hd);
    // Attention with the default workspace bound, then with others (chunk sizes), then
    // without the rel-pos terms (what they cost).
    c.p = vitb_attention(0, big1, big2, drel);
    double ms_glob = time_ms(run_attn, &c, 5), ms_glob_ws[4];
    for (int i = 0; i < 4; i++) {
        cuda_backend_set_attn_workspace(BK, (size_t)256 << (20 + i));
        ms_glob_ws[i] = time_ms(run_attn, &c, 5);
    }
    cuda_backend_set_attn_workspace(BK, CUDA_ATTN_WORKSPACE_DEFAULT);
    c.p = vitb_attention(1, big1, big2, drel);
    double ms_win = time_ms(run_attn, &c, 5);
    c.p = vitb_attention(1, big1, big2, NULL);
    double ms_win_norel = time_ms(run_attn, &c, 5);
    c.p = vitb_attention(0, big1, big2, NULL);
    double ms_glob_norel = time_ms(run_attn, &c, 5);

    double gf = 2.0 * tokens * C / 1e9;  // GFLOP per output feature of a C-input linear
    printf("NOTE bench %s vit_b batch 8: qkv %.2f ms (%.0f TFLOP/s), proj+res %.2f ms, lin1+gelu %.2f ms (%.0f TFLOP/s), "
           "lin2+res %.2f ms (%.0f TFLOP/s), layernorm %.3f ms (%.0f GB/s), window partition+unpartition %.3f ms\n",
           TNAME, ms_qkv, gf * 3 * C / ms_qkv, ms_proj, ms_lin1, gf * H4 / ms_lin1, ms_lin2,
           gf * H4 / ms_lin2 /* H4 inputs, C outputs: same count */, ms_ln,
           2.0 * tokens * C * (BF ? 2 : 4) / ms_ln / 1e6, ms_part);
    printf("NOTE bench %s vit_b batch 8: global attention (8x12 heads, 4096 tokens) %.2f ms "
           "[workspace bound 256/512/1024/2048 MiB: %.2f/%.2f/%.2f/%.2f; no rel-pos %.2f]; "
           "windowed (200x12 heads, 196 tokens) %.2f ms [no rel-pos %.2f]\n", TNAME, ms_glob,
           ms_glob_ws[0], ms_glob_ws[1], ms_glob_ws[2], ms_glob_ws[3], ms_glob_norel, ms_win,
           ms_win_norel);
    // 12 blocks (linears on 4096 tokens/image; the windowed blocks' qkv on the padded 4900
    // are counted at 4096, a small underestimate), 4 global and 8 windowed attentions with
    // their window partitions, two layernorms per block.
    double enc = 12 * (ms_qkv + ms_proj + ms_lin1 + ms_lin2 + 2 * ms_ln) + 4 * ms_glob +
                 8 * (ms_win + ms_part);
    printf("NOTE bench %s vit_b batch 8: encoder blocks estimate %.1f ms = %.1f img/s (encoder "
           "blocks only); peak through the backend %.0f MiB\n", TNAME, enc, 8000.0 / enc,
           G.ops->peak_bytes(&G) / 1048576.0);
    dfree(big1), dfree(big2), dfree(hid), dfree(c.g), dfree(c.b), dfree(drel);
    free(hw), free(hb), free(hx), free(rel);
    cuda_backend_set_sync_each_launch(BK, 1);
}

// --profile-attn: each vit_b attention once per table inside an NVTX range ("<table>-global",
// "<table>-windowed"), for Nsight Compute's per-kernel times (ncu --nvtx --nvtx-include).
static void profile_attn(void) {
    int64_t n = (int64_t)8 * 25 * 196 * 3 * 768;
    float *hx = rnd(n, -1, 1), *rel = rnd(2 * 127 * 64, -0.5f, 0.5f);
    void *big1 = dev_act(hx, n), *big2 = dev_act(hx, n), *drel = dev_act(rel, 2 * 127 * 64);
    cuda_backend_set_sync_each_launch(BK, 0);
    for (int w = 0; w < 2; w++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%s", TNAME, w ? "windowed" : "global");
        AttnParams p = vitb_attention(w, big1, big2, drel);
        G.ops->choices.encoder_attention->run(&G, &p);  // warm-up: workspace, cuBLAS heuristics
        G.ops->sync(&G);
        G.ops->range_push(&G, name);
        G.ops->choices.encoder_attention->run(&G, &p);
        G.ops->range_pop(&G);
        G.ops->sync(&G);
    }
    dfree(big1), dfree(big2), dfree(drel);
    free(hx), free(rel);
}

// --race: the kernels run on random inputs into poisoned outputs; every element must be written
// (finite). Sizes small enough for racecheck, with partial row groups and both dims.
static void race_written(const char *op, const char *what, const float *h, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !isfinite(h[i]);
    char detail[96];
    snprintf(detail, sizeof detail, "%lld of %lld elements not written", (long long)bad, (long long)n);
    check_bool(op, what, bad == 0, bad ? detail : "");
}
static void race_suite(void) {
    static const int im2col_shapes[][7] = {  // n, h, w, c, k, stride, pad
        {1, 12, 12, 256, 3, 1, 1}, {1, 7, 5, 16, 3, 1, 1}, {2, 9, 9, 8, 3, 2, 1}};
    for (int i = 0; i < 3; i++) {
        const int *a = im2col_shapes[i];
        int oh = (a[1] + 2 * a[6] - a[4]) / a[5] + 1, ow = (a[2] + 2 * a[6] - a[4]) / a[5] + 1;
        int64_t ns = (int64_t)a[0] * a[1] * a[2] * a[3], nd = (int64_t)a[0] * oh * ow * a[3] * a[4] * a[4];
        float *src = rnd(ns, -1, 1);
        void *ds = dev_act(src, ns), *dd = dev_poisoned(act_bytes(nd));
        G.ops->im2col(&G, dd, ds, 0, 0, a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        float *h = get_act(dd, nd);
        char what[96];
        snprintf(what, sizeof what, "NHWC n=%d %dx%dx%d k=%d stride=%d pad=%d", a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        race_written("im2col", what, h, nd);
        dfree(ds), dfree(dd);
        free(src), free(h);
    }
    if (!BF) return;  // upscale_masks is bfloat16's
    static const int um_shapes[][6] = {{3, 4, 1, 3, 8, 256}, {2, 4, 0, 1, 16, 64}};  // n, m, first, count, g, dim
    for (int i = 0; i < 2; i++) {
        const int *a = um_shapes[i];
        UmCase c = um_case(a[0], a[1], a[2], a[3], a[4], a[5]);
        void *dd = dev_poisoned((size_t)c.nd * 4);
        G.ops->upscale_masks(&G, dd, c.du1, c.dlng, c.dlnb, 1e-6f, c.gw, c.dh, c.n, c.m, c.first, c.count, c.g);
        float *h = get_f32(dd, c.nd);
        race_written("upscale_masks", c.what, h, c.nd);
        dfree(dd);
        free(h);
        um_free(&c);
    }
}

int main(int argc, char **argv) {
    int do_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    int do_profile = argc > 1 && strcmp(argv[1], "--profile-attn") == 0;
    const char *seed = getenv("SAM_TEST_SEED");
    if (seed) rng = strtoull(seed, NULL, 0);
    printf("test_ops: seed 0x%llx\n", (unsigned long long)rng);
    BK = cuda_backend_open("test_ops");
    char desc[1024];
    cuda_backend_describe(BK, desc, sizeof desc);
    printf("NOTE device %s\n", desc);
    // Each operation waits for its kernels, so a device fault names the operation.
    cuda_backend_set_sync_each_launch(BK, 1);
    exec_init(&CPU, cpu_ops(), NULL);
    const Ops *tables[2] = {cuda_ops_fp32(), cuda_ops_bf16()};
    if (argc > 1 && strcmp(argv[1], "--race") == 0) {
        for (int t = 0; t < 2; t++) {
            exec_init(&G, tables[t], BK);
            BF = tables[t]->act_dtype == DT_BF16;
            TNAME = tables[t]->name;
            race_suite();
        }
        cuda_backend_close(BK);
        printf("test_ops: %d passed, %d failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
    }
    if (do_profile) {
        for (int t = 0; t < 2; t++) {
            exec_init(&G, tables[t], BK);
            BF = tables[t]->act_dtype == DT_BF16;
            TNAME = tables[t]->name;
            profile_attn();
        }
        cuda_backend_close(BK);
        return 0;
    }
    for (int t = 0; t < 2; t++) {
        exec_init(&G, tables[t], BK);
        BF = tables[t]->act_dtype == DT_BF16;
        TNAME = tables[t]->name;
        run_suite();
    }
    printf("\nworst error per operation (max|gpu - cpu| / max|cpu|, the tolerance of that check, checks):\n");
    printf("  %-20s %-22s %-22s\n", "operation", "cuda-fp32", "cuda-bf16");
    for (int i = 0; i < n_stats; i++)
        printf("  %-20s %9.3g (%6.0e) %2dx %9.3g (%6.0e) %2dx\n", stats[i].op, stats[i].worst[0],
               stats[i].tol[0], stats[i].checks[0], stats[i].worst[1], stats[i].tol[1],
               stats[i].checks[1]);
    printf("peak device memory through the backend: %.1f MiB\n", G.ops->peak_bytes(&G) / 1048576.0);
    if (do_bench)
        for (int t = 0; t < 2; t++) {
            exec_init(&G, tables[t], BK);
            BF = tables[t]->act_dtype == DT_BF16;
            TNAME = tables[t]->name;
            bench();
            bench_fusion();
        }
    cuda_backend_close(BK);
    printf("test_ops: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
