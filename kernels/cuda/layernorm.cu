// LayerNorm over the last dimension (nn.LayerNorm, and LayerNorm2d on channels-last data),
// optionally followed by an activation. One warp per row: the row is held in registers, so
// it is read once, the mean and the variance are two exact passes over registers (no
// E[x^2] - E[x]^2 cancellation), and y may alias x.
// ref: segment_anything/modeling/common.py LayerNorm2d.forward
#include "cuda_common.cuh"

#define LN_MAX_PER_LANE 40                     // register slots per lane
#define LN_MAX_DIM (32 * LN_MAX_PER_LANE)      // 1280: vit_h's embedding dim
#define LN_ROWS_PER_BLOCK 8

// =============================================================================================
// kernels
// =============================================================================================

// x, y: (rows, dim) act; g, b: (dim) act. VEC = 4: lane l holds the 4-element groups
// l, l + 32, ... (16- or 8-byte accesses); VEC = 1: elements l, l + 32, ...
static __device__ __forceinline__ void layernorm_body(void *y, const void *x, const void *g,
                                                      const void *b, int64_t rows, int dim,
                                                      float eps, int act, const int BF,
                                                      const int VEC) {
    int64_t row = (int64_t)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;  // whole warps leave; no block-level barrier follows
    const int NS = LN_MAX_PER_LANE / VEC;  // slots of VEC elements per lane
    int64_t base = row * dim;
    float v[LN_MAX_PER_LANE];
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + 32 * s) * VEC;
        if (j < dim) {
            if (VEC == 4) ld4(x, base + j, &v[4 * s], BF);
            else v[s] = ld1(x, base + j, BF);
            for (int u = 0; u < VEC; u++) sum += v[VEC * s + u];
        }
    }
    float mean = warp_sum(sum) / (float)dim;
    float sq = 0.0f;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + 32 * s) * VEC;
        if (j < dim)
            for (int u = 0; u < VEC; u++) {
                float d = v[VEC * s + u] - mean;
                sq += d * d;
            }
    }
    float var = warp_sum(sq) / (float)dim;
    float rstd = 1.0f / sqrtf(var + eps);
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (lane + 32 * s) * VEC;
        if (j < dim) {
            float gg[4], bb[4];
            if (VEC == 4) {
                ld4(g, j, gg, BF);
                ld4(b, j, bb, BF);
            } else {
                gg[0] = ld1(g, j, BF);
                bb[0] = ld1(b, j, BF);
            }
            float o[4];
            for (int u = 0; u < VEC; u++)
                o[u] = act_apply((v[VEC * s + u] - mean) * rstd * gg[u] + bb[u], act);
            if (VEC == 4) st4(y, base + j, o, BF);
            else st1(y, base + j, o[0], BF);
        }
    }
}

#define LN_ARGS void *y, const void *x, const void *g, const void *b, int64_t rows, int dim, float eps, int act
__global__ void __launch_bounds__(256) layernorm_f32_v1(LN_ARGS) { layernorm_body(y, x, g, b, rows, dim, eps, act, 0, 1); }
__global__ void __launch_bounds__(256) layernorm_f32_v4(LN_ARGS) { layernorm_body(y, x, g, b, rows, dim, eps, act, 0, 4); }
__global__ void __launch_bounds__(256) layernorm_bf16_v1(LN_ARGS) { layernorm_body(y, x, g, b, rows, dim, eps, act, 1, 1); }
__global__ void __launch_bounds__(256) layernorm_bf16_v4(LN_ARGS) { layernorm_body(y, x, g, b, rows, dim, eps, act, 1, 4); }

// =============================================================================================
// launchers
// =============================================================================================

extern "C" void cuda_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b,
                               int64_t rows, int dim, float eps, Act act) {
    if (rows <= 0) return;
    if (dim <= 0 || dim > LN_MAX_DIM)
        die("cuda layernorm: dim %d is not supported (1..%d, one warp per row)", dim, LN_MAX_DIM);
    int bf = is_bf16(x);
    int vec = dim % 4 == 0 && (bf ? aligned8(y) && aligned8(in) && aligned8(g) && aligned8(b)
                                  : aligned16(y) && aligned16(in) && aligned16(g) && aligned16(b));
    int64_t blocks = (rows + LN_ROWS_PER_BLOCK - 1) / LN_ROWS_PER_BLOCK;
    if (blocks > 0x7fffffff) die("cuda layernorm: %lld rows is too many", (long long)rows);
    dim3 grid((unsigned)blocks), block(32 * LN_ROWS_PER_BLOCK);
    cudaStream_t s = cuda_stream(x);
    if (bf) {
        if (vec) layernorm_bf16_v4<<<grid, block, 0, s>>>(y, in, g, b, rows, dim, eps, act);
        else layernorm_bf16_v1<<<grid, block, 0, s>>>(y, in, g, b, rows, dim, eps, act);
    } else {
        if (vec) layernorm_f32_v4<<<grid, block, 0, s>>>(y, in, g, b, rows, dim, eps, act);
        else layernorm_f32_v1<<<grid, block, 0, s>>>(y, in, g, b, rows, dim, eps, act);
    }
    LAUNCH_CHECK(x, "layernorm");
}
