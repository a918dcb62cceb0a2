// LayerNorm over the last dimension (nn.LayerNorm, and LayerNorm2d on channels-last data),
// optionally followed by an activation. LPR lanes per row (a warp, or half a warp for rows of
// at most 128: the decoder's 64-channel upscaling norm, where a whole warp left half its lanes
// idle and ran at 0.4 TB/s on the H100): the row is held in registers, so it is read once, the
// mean and the variance are two exact passes over registers (no E[x^2] - E[x]^2 cancellation),
// and y may alias x.
// ref: segment_anything/modeling/common.py LayerNorm2d.forward
// The int8 format's LayerNorm (QUANT, bfloat16 only): the same values rounded to bfloat16 as the
// plain kernel stores them, then, from the registers, the row's per-token int8 quantisation
// (kernels/int8_rules.h): int8 q and a float32 scale instead of the bfloat16 row, equal bit for
// bit to this LayerNorm followed by int8_linear.cu's quantisation pass, which it replaces for
// the linears that follow a LayerNorm (qkv, lin1; issue 17: "quantised by the kernel that
// produces them"). It is the slower one: 43.2 us a call against the plain kernel's 25.4 at
// vit_b's 32768 x 768, 53.7 against 32.0 windowed (ncu, session 16 call 5,
// tests/gpu/logs/h200-2026-12-02-c/call5-encoder-kernels.txt), 1.7 TB/s: not memory-bound but
// issue-bound (SM throughput 71 %, a warp issuing every 9.7 cycles at 8 warps per scheduler;
// session 17 call 1, tests/gpu/logs/h200-2026-12-02-d). Its dynamic instruction count sets its
// time: with int8_quantize4_inv's rounding (about 6 instructions a value instead of 14 and a
// branch) 36.6 us (call 2 there). Halving its static SASS (session 16 call 6: one branch per four
// values, mostly the never-taken division's code) had not changed it.
#include "cuda_common.cuh"
#include "kernels/int8_rules.h"

#define LN_BLOCK 256
#define LN_MAX_DIM 1280  // vit_h's embedding dim: 40 per lane of a warp

// =============================================================================================
// kernels
// =============================================================================================

static __device__ __forceinline__ float group_sum(float v, const int LPR) {
#pragma unroll
    for (int o = LPR / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The window partition a fused LayerNorm writes in (the fusion choice): output row r is token
// (r % win^2) of window r / win^2 over the (h, w) grid zero-padded to (nwh, nww) windows.
typedef struct {
    int h, w, win, nwh, nww;
} LnWindows;

// x, y: (rows, dim) act; g, b: (dim) act. Lane l of a row's group holds the VEC-element groups
// l, l + LPR, ... in EPL registers (EPL elements per lane: the launcher picks the smallest
// kernel covering dim). VEC = 4: 16- or 8-byte accesses; VEC = 1: scalar.
// WIN = 1: rows counts output rows of the partitioned windows; each reads its source token of
// x (b, h, w, dim), and a padding row writes zeros (window_partition's padding), so the
// normalised tokens never make a round trip through memory before the partition.
static __device__ __forceinline__ float group_max(float v, const int LPR) {
#pragma unroll
    for (int o = LPR / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// QUANT: y is int8 (rows, dim) and qscale (rows) float32 receives the rows' scales.
static __device__ __forceinline__ void layernorm_body(void *y, const void *x, const void *g,
                                                      const void *b, int64_t rows, int dim,
                                                      float eps, int act, LnWindows wm,
                                                      float *qscale, const int BF, const int VEC,
                                                      const int LPR, const int EPL,
                                                      const int WIN, const int QUANT) {
    int64_t row = (int64_t)blockIdx.x * (LN_BLOCK / LPR) + threadIdx.x / LPR;
    int lane = threadIdx.x % LPR;
    if (LPR == 32 && row >= rows) return;  // whole warps leave; no block-level barrier follows
    // A half-warp group past the end shares its warp's shuffles: it redoes the last row and
    // stores nothing.
    int live = row < rows;
    if (!live) row = rows - 1;
    const int NS = EPL / VEC;  // slots of VEC elements per lane
    int64_t src_row = row, out_base = row * dim;
    int pad = 0;
    if (WIN) {
        int ww = wm.win * wm.win;
        int64_t wi = row / ww;
        int t = (int)(row - wi * ww), ty = t / wm.win, tx = t - ty * wm.win;
        int per_img = wm.nwh * wm.nww;
        int64_t bi = wi / per_img;
        int wl = (int)(wi - bi * per_img), wy = wl / wm.nww, wx = wl - wy * wm.nww;
        int yy = wy * wm.win + ty, xx = wx * wm.win + tx;
        pad = yy >= wm.h || xx >= wm.w;
        src_row = pad ? 0 : (bi * wm.h + yy) * wm.w + xx;  // a padding row's group reads token 0
    }
    int64_t base = src_row * dim;
    float v[40];  // EPL used
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + LPR * s) * VEC;
        if (j < dim) {
            if (VEC == 4) ld4(x, base + j, &v[4 * s], BF);
            else v[s] = ld1(x, base + j, BF);
#pragma unroll
            for (int u = 0; u < VEC; u++) sum += v[VEC * s + u];
        }
    }
    float mean = group_sum(sum, LPR) / (float)dim;
    float sq = 0.0f;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + LPR * s) * VEC;
        if (j < dim)
#pragma unroll
            for (int u = 0; u < VEC; u++) {
                float d = v[VEC * s + u] - mean;
                sq += d * d;
            }
    }
    float var = group_sum(sq, LPR) / (float)dim;
    float rstd = 1.0f / sqrtf(var + eps);
    if (QUANT) {
        // The normalised values as the plain kernel stores them (bfloat16), kept in v; their
        // maximum magnitude over the row; then int8 with the row's scale.
        float amax = 0.0f;
#pragma unroll
        for (int s = 0; s < NS; s++) {
            int j = (lane + LPR * s) * VEC;
            if (j < dim) {
                float gg[4], bb[4];
                ld4(g, j, gg, 1);
                ld4(b, j, bb, 1);
#pragma unroll
                for (int u = 0; u < 4; u++) {  // no activation (cuda_layernorm_quant has none)
                    float o = pad ? 0.0f : (v[4 * s + u] - mean) * rstd * gg[u] + bb[u];
                    v[4 * s + u] = __bfloat162float(__float2bfloat16_rn(o));
                    amax = fmaxf(amax, fabsf(v[4 * s + u]));
                }
            }
        }
        amax = group_max(amax, LPR);
        float sc = int8_scale(amax), inv = 1.0f / sc;
        if (live && lane == 0) qscale[row] = sc;
#pragma unroll
        for (int s = 0; s < NS; s++) {
            int j = (lane + LPR * s) * VEC;
            if (live && j < dim)
                *(uint32_t *)((int8_t *)y + out_base + j) =
                    int8_quantize4_inv(v[4 * s], v[4 * s + 1], v[4 * s + 2], v[4 * s + 3], sc, inv);
        }
        return;
    }
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + LPR * s) * VEC;
        if (live && j < dim) {
            float gg[4], bb[4];
            if (VEC == 4) {
                ld4(g, j, gg, BF);
                ld4(b, j, bb, BF);
            } else {
                gg[0] = ld1(g, j, BF);
                bb[0] = ld1(b, j, BF);
            }
            float o[4];
#pragma unroll
            for (int u = 0; u < VEC; u++)
                o[u] = pad ? 0.0f : act_apply((v[VEC * s + u] - mean) * rstd * gg[u] + bb[u], act);
            if (VEC == 4) st4(y, out_base + j, o, BF);
            else st1(y, out_base + j, o[0], BF);
        }
    }
}

#define LN_ARGS void *y, const void *x, const void *g, const void *b, int64_t rows, int dim, float eps, int act, LnWindows wm
// layernorm_<dtype>_v<VEC>_l<LPR>_e<EPL>, and lnwin_... writing window partitions
#define LN_KERNEL(DT, BF, VEC, LPR, EPL)                                                         \
    __global__ void __launch_bounds__(LN_BLOCK) layernorm_##DT##_v##VEC##_l##LPR##_e##EPL(LN_ARGS) { \
        layernorm_body(y, x, g, b, rows, dim, eps, act, wm, NULL, BF, VEC, LPR, EPL, 0, 0);    \
    }                                                                                            \
    __global__ void __launch_bounds__(LN_BLOCK) lnwin_##DT##_v##VEC##_l##LPR##_e##EPL(LN_ARGS) { \
        layernorm_body(y, x, g, b, rows, dim, eps, act, wm, NULL, BF, VEC, LPR, EPL, 1, 0);    \
    }
#define LN_KERNELS(LPR, EPL) LN_KERNEL(f32, 0, 1, LPR, EPL) LN_KERNEL(f32, 0, 4, LPR, EPL) \
                             LN_KERNEL(bf16, 1, 1, LPR, EPL) LN_KERNEL(bf16, 1, 4, LPR, EPL)
LN_KERNELS(16, 8)
LN_KERNELS(32, 8)
LN_KERNELS(32, 24)
LN_KERNELS(32, 40)
// lnq_<LPR>_<EPL> and lnqwin_...: bfloat16 in, 4-element accesses, int8 out (QUANT).
#define LNQ_KERNELS(LPR, EPL)                                                                   \
    __global__ void __launch_bounds__(LN_BLOCK) lnq_l##LPR##_e##EPL(LN_ARGS, float *qscale) {    \
        layernorm_body(y, x, g, b, rows, dim, eps, act, wm, qscale, 1, 4, LPR, EPL, 0, 1);      \
    }                                                                                           \
    __global__ void __launch_bounds__(LN_BLOCK) lnqwin_l##LPR##_e##EPL(LN_ARGS, float *qscale) { \
        layernorm_body(y, x, g, b, rows, dim, eps, act, wm, qscale, 1, 4, LPR, EPL, 1, 1);      \
    }
LNQ_KERNELS(16, 8)
LNQ_KERNELS(32, 8)
LNQ_KERNELS(32, 24)
LNQ_KERNELS(32, 40)
typedef void (*LnqKernel)(LN_ARGS, float *qscale);
static const LnqKernel lnq_kernels[2][4] = {{lnq_l16_e8, lnq_l32_e8, lnq_l32_e24, lnq_l32_e40},
                                            {lnqwin_l16_e8, lnqwin_l32_e8, lnqwin_l32_e24, lnqwin_l32_e40}};
typedef void (*LnKernel)(LN_ARGS);
#define LN_ROW(LPR, EPL) {{layernorm_f32_v1_l##LPR##_e##EPL, layernorm_f32_v4_l##LPR##_e##EPL}, \
                          {layernorm_bf16_v1_l##LPR##_e##EPL, layernorm_bf16_v4_l##LPR##_e##EPL}}
#define LNWIN_ROW(LPR, EPL) {{lnwin_f32_v1_l##LPR##_e##EPL, lnwin_f32_v4_l##LPR##_e##EPL}, \
                             {lnwin_bf16_v1_l##LPR##_e##EPL, lnwin_bf16_v4_l##LPR##_e##EPL}}
// [config][bf16][vec], configs covering dims up to 128, 256, 768, 1280
static const LnKernel ln_kernels[4][2][2] = {LN_ROW(16, 8), LN_ROW(32, 8), LN_ROW(32, 24), LN_ROW(32, 40)};
static const LnKernel lnwin_kernels[4][2][2] = {LNWIN_ROW(16, 8), LNWIN_ROW(32, 8), LNWIN_ROW(32, 24), LNWIN_ROW(32, 40)};
static const int ln_lpr[4] = {16, 32, 32, 32}, ln_max_dim[4] = {128, 256, 768, 1280};

// =============================================================================================
// launchers
// =============================================================================================

// The kernel configuration (its index in ln_lpr / ln_max_dim) for rows of dim features and the
// number of blocks for `rows` rows; dims past LN_MAX_DIM are refused by name.
static unsigned ln_grid(int64_t rows, int dim, int *cfg, const char *what) {
    if (dim <= 0 || dim > LN_MAX_DIM)
        die("cuda %s: dim %d is not supported (1..%d: a row lives in one warp's registers)", what, dim, LN_MAX_DIM);
    int c = 0;
    while (dim > ln_max_dim[c]) c++;
    int rows_per_block = LN_BLOCK / ln_lpr[c];
    int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    if (blocks > 0x7fffffff) die("cuda %s: %lld rows is too many", what, (long long)rows);
    *cfg = c;
    return (unsigned)blocks;
}

// rows output rows from the kernel table (plain or window-writing).
static void launch_ln(Exec *x, const LnKernel table[4][2][2], void *y, const void *in,
                      const void *g, const void *b, int64_t rows, int dim, float eps, Act act,
                      LnWindows wm, const char *what) {
    if (rows <= 0) return;
    int cfg;
    unsigned blocks = ln_grid(rows, dim, &cfg, what);
    int bf = is_bf16(x);
    int vec = dim % 4 == 0 && (bf ? aligned8(y) && aligned8(in) && aligned8(g) && aligned8(b)
                                  : aligned16(y) && aligned16(in) && aligned16(g) && aligned16(b));
    table[cfg][bf][vec]<<<blocks, LN_BLOCK, 0, cuda_stream(x)>>>(y, in, g, b, rows, dim, eps, act, wm);
    LAUNCH_CHECK(x, what);
}

extern "C" void cuda_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b,
                               int64_t rows, int dim, float eps, Act act) {
    LnWindows none = {0, 0, 0, 0, 0};
    launch_ln(x, ln_kernels, y, in, g, b, rows, dim, eps, act, none, "layernorm");
}

// The fusion choice's LayerNorm + window_partition: one pass, dst (b * nWin, win * win, c).
extern "C" void cuda_layernorm_window(Exec *x, void *dst, const void *in, const void *g,
                                      const void *b, int n, int h, int w, int c, float eps, int win) {
    if (win <= 0) die("cuda layernorm_window: window %d", win);
    if (dst == in) die("cuda layernorm_window: dst must not alias the input");
    LnWindows wm = {h, w, win, (h + win - 1) / win, (w + win - 1) / win};
    int64_t rows = (int64_t)n * wm.nwh * wm.nww * win * win;
    launch_ln(x, lnwin_kernels, dst, in, g, b, rows, c, eps, ACT_NONE, wm, "layernorm_window");
}

// The int8 format's LayerNorm: q (ln_spec_rows(ln), dim) int8 and scale (rows) float32 (see the
// top). ln->win > 0: rows are the window partition's ((n, h, w, dim) in, padded windows' rows zero).
extern "C" void cuda_layernorm_quant(Exec *x, int8_t *q, float *scale, const void *in, const LnSpec *ln) {
    int dim = ln->dim;
    if (!is_bf16(x)) die("cuda layernorm_quant: serves the bfloat16 table only");
    if (dim % 4 || !aligned8(in) || !aligned8(ln->g) || !aligned8(ln->b) || ((uintptr_t)q & 3))
        die("cuda layernorm_quant: dim %d must be a multiple of 4, the rows 8-byte aligned", dim);
    int win = ln->win > 0 ? ln->win : 0;
    LnWindows wm = {0, 0, 0, 0, 0};
    if (win) wm = (LnWindows){ln->h, ln->w, win, (ln->h + win - 1) / win, (ln->w + win - 1) / win};
    int64_t rows = ln_spec_rows(ln);
    int cfg;
    unsigned blocks = ln_grid(rows, dim, &cfg, "layernorm_quant");  // refuses a bad dim even with no rows
    if (rows <= 0) return;
    lnq_kernels[win > 0][cfg]<<<blocks, LN_BLOCK, 0, cuda_stream(x)>>>(q, in, ln->g, ln->b, rows, dim, ln->eps, ACT_NONE,
                                                                        wm, scale);
    LAUNCH_CHECK(x, "layernorm_quant");
}
