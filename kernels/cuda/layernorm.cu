// LayerNorm over the last dimension (nn.LayerNorm, and LayerNorm2d on channels-last data),
// optionally followed by an activation. LPR lanes per row (a warp, or half a warp for rows of
// at most 128: the decoder's 64-channel upscaling norm, where a whole warp left half its lanes
// idle and ran at 0.4 TB/s on the H100): the row is held in registers, so it is read once, the
// mean and the variance are two exact passes over registers (no E[x^2] - E[x]^2 cancellation),
// and y may alias x.
// ref: segment_anything/modeling/common.py LayerNorm2d.forward
#include "cuda_common.cuh"

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

// x, y: (rows, dim) act; g, b: (dim) act. Lane l of a row's group holds the VEC-element groups
// l, l + LPR, ... in EPL registers (EPL elements per lane: the launcher picks the smallest
// kernel covering dim). VEC = 4: 16- or 8-byte accesses; VEC = 1: scalar.
static __device__ __forceinline__ void layernorm_body(void *y, const void *x, const void *g,
                                                      const void *b, int64_t rows, int dim,
                                                      float eps, int act, const int BF,
                                                      const int VEC, const int LPR, const int EPL) {
    int64_t row = (int64_t)blockIdx.x * (LN_BLOCK / LPR) + threadIdx.x / LPR;
    int lane = threadIdx.x % LPR;
    if (LPR == 32 && row >= rows) return;  // whole warps leave; no block-level barrier follows
    // A half-warp group past the end shares its warp's shuffles: it redoes the last row and
    // stores nothing.
    int live = row < rows;
    if (!live) row = rows - 1;
    const int NS = EPL / VEC;  // slots of VEC elements per lane
    int64_t base = row * dim;
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
                o[u] = act_apply((v[VEC * s + u] - mean) * rstd * gg[u] + bb[u], act);
            if (VEC == 4) st4(y, base + j, o, BF);
            else st1(y, base + j, o[0], BF);
        }
    }
}

#define LN_ARGS void *y, const void *x, const void *g, const void *b, int64_t rows, int dim, float eps, int act
// layernorm_<dtype>_v<VEC>_l<LPR>_e<EPL>
#define LN_KERNEL(DT, BF, VEC, LPR, EPL)                                                         \
    __global__ void __launch_bounds__(LN_BLOCK) layernorm_##DT##_v##VEC##_l##LPR##_e##EPL(LN_ARGS) { \
        layernorm_body(y, x, g, b, rows, dim, eps, act, BF, VEC, LPR, EPL);                     \
    }
#define LN_KERNELS(LPR, EPL) LN_KERNEL(f32, 0, 1, LPR, EPL) LN_KERNEL(f32, 0, 4, LPR, EPL) \
                             LN_KERNEL(bf16, 1, 1, LPR, EPL) LN_KERNEL(bf16, 1, 4, LPR, EPL)
LN_KERNELS(16, 8)
LN_KERNELS(32, 8)
LN_KERNELS(32, 24)
LN_KERNELS(32, 40)
typedef void (*LnKernel)(LN_ARGS);
#define LN_ROW(LPR, EPL) {{layernorm_f32_v1_l##LPR##_e##EPL, layernorm_f32_v4_l##LPR##_e##EPL}, \
                          {layernorm_bf16_v1_l##LPR##_e##EPL, layernorm_bf16_v4_l##LPR##_e##EPL}}
// [config][bf16][vec], configs covering dims up to 128, 256, 768, 1280
static const LnKernel ln_kernels[4][2][2] = {LN_ROW(16, 8), LN_ROW(32, 8), LN_ROW(32, 24), LN_ROW(32, 40)};
static const int ln_lpr[4] = {16, 32, 32, 32}, ln_max_dim[4] = {128, 256, 768, 1280};

// =============================================================================================
// launchers
// =============================================================================================

extern "C" void cuda_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b,
                               int64_t rows, int dim, float eps, Act act) {
    if (rows <= 0) return;
    if (dim <= 0 || dim > LN_MAX_DIM)
        die("cuda layernorm: dim %d is not supported (1..%d: a row lives in one warp's registers)", dim, LN_MAX_DIM);
    int bf = is_bf16(x);
    int vec = dim % 4 == 0 && (bf ? aligned8(y) && aligned8(in) && aligned8(g) && aligned8(b)
                                  : aligned16(y) && aligned16(in) && aligned16(g) && aligned16(b));
    int cfg = 0;
    while (dim > ln_max_dim[cfg]) cfg++;
    int rows_per_block = LN_BLOCK / ln_lpr[cfg];
    int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    if (blocks > 0x7fffffff) die("cuda layernorm: %lld rows is too many", (long long)rows);
    ln_kernels[cfg][bf][vec]<<<(unsigned)blocks, LN_BLOCK, 0, cuda_stream(x)>>>(y, in, g, b, rows,
                                                                              dim, eps, act);
    LAUNCH_CHECK(x, "layernorm");
}
