// The mask decoder's second upscaling step, its GELU, the hypernetwork product and the masks'
// image order in one kernel (the fused stage and later; without fusion variants/core/exec.h
// op_upscale_masks runs the same as a linear layer, a GELU pass, a batched product and
// select_masks, each a pass over memory).
// ref: segment_anything/modeling/mask_decoder.py MaskDecoder.predict_masks:
//   upscaled = act2(ConvT2(...));  masks = (hyper_in @ upscaled.view(b, c, h * w)).view(...)
//
// u1 holds the first upscaling's output before its LayerNorm2d and GELU: n * 4 g g rows of d4
// channels, one per pixel of the (2g, 2g) map, in sub-pixel order (y, x, s1) (decoder.c
// mask_decode). A warp's rows are normalised where they are loaded (each row's d4 channels are
// in the registers of 4 lanes, so its mean and variance are two shuffles away), then GELU'd and
// rounded to bfloat16 as the LayerNorm kernel stores them: the normalised map is never written
// and read back (73 us of 26 prompts' LayerNorm + GELU pass on the H200, step-call4 of
// tests/gpu/logs/h200-2026-12-01-e). The second transposed convolution is a per-row product with W (4 d8, d4),
// sub-pixel major (weights.c conv_transpose): row r gives the 4 pixels (r, s2) of d8 channels.
// Each of those pixels' masks is hyper_in[p] (m, d8) times its channels. So one warp takes 16
// rows of u1 (always of one prompt: 4 g g is a multiple of 16 for even g) and, per sub-pixel s2:
//   C (16 x d8)  = u1 rows (16 x d4) . W[s2]^T        mma.sync m16n8k16, W from shared memory
//   up           = bf16(GELU(bf16(C + b)))            in registers, as the unfused path rounds:
//                                                     the product with its bias stored in
//                                                     bfloat16, then the GELU pass's rounding
//   M (16 x m)   = up . hyper_in[p]^T                 C's registers reused as A fragments
//   masks first .. first + count - 1 stored as float32 of their bfloat16 rounding (the
//   batched product's output dtype) at their image-order pixel (4y + 2 dy1 + dy2, 4x + ...).
// What it saves: the upscaled map (n * 16 g g * d8 bfloat16: 109 MB for 26 prompts) is never
// written, read by the GELU pass and read again by the product, and the masks are written once
// in image order. The H200 times of the four kernels it replaces at 26 prompts (vit_b, batch
// of 8 images): 71 + 70 + 34 + 28 us (tests/gpu/logs/h200-2026-12-01-d/step-call5-ncu_nested_all.log).
//
// Compiled for (d4, d8) = (64, 32) (SAM's prompt dim 256) and (16, 8) (the fixtures' 64);
// m <= 8 masks (SAM: 4); bfloat16 only; even g. Anything else is refused by name.
#include "cuda_common.cuh"
#include "cuda_ops.h"
#include "mma_ptx.cuh"

#define UM_WARPS 4

typedef struct {
    float *dst;            // (n, count, 4g, 4g)
    const bf16 *u1;        // (n * 4 g g, d4), before the LayerNorm2d
    const bf16 *ln_g, *ln_b;  // (d4) the LayerNorm2d's
    float eps;
    const bf16 *W, *bias;  // (4 d8, d4), (4 d8)
    const bf16 *hyper;     // (n, m, d8)
    int n, m, first, count, g;
} UmArgs;

static __device__ __forceinline__ float bf16_round(float v) { return __bfloat162float(__float2bfloat16(v)); }

static __device__ __forceinline__ void um_body(const UmArgs a, const int D4, const int D8) {
    extern __shared__ __align__(16) unsigned char um_smem[];
    const int WS = D4 + 8;                  // W row stride in shared memory (bank spread)
    const int NT8 = D8 / 8, KS1 = D4 / 16;  // n-tiles per sub-pixel, k-steps of the first product
    const int KS2 = (D8 + 15) / 16;         // k-steps of the second (d8 = 8: half a step, zeros)
    bf16 *sW = (bf16 *)um_smem;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tq = lane & 3;
    for (int i = tid; i < 4 * D8 * D4 / 2; i += blockDim.x) {
        int e = 2 * i, r = e / D4, c = e - r * D4;
        *(unsigned *)(sW + r * WS + c) = *(const unsigned *)(a.W + e);
    }
    __syncthreads();

    const int G = a.g, L = 4 * G, rows_per_prompt = 4 * G * G;
    const int64_t tiles = (int64_t)a.n * rows_per_prompt / 16;
    for (int64_t tile = (int64_t)blockIdx.x * UM_WARPS + warp; tile < tiles; tile += (int64_t)gridDim.x * UM_WARPS) {
        const int64_t r0 = tile * 16;
        const int p = (int)(r0 / rows_per_prompt);
        // A fragments of the tile's 16 rows, straight from global memory (read once).
        unsigned af[4][4];
        const bf16 *ra = a.u1 + (r0 + g) * D4, *rb = ra + 8 * D4;
#pragma unroll
        for (int ks = 0; ks < KS1; ks++) {
            af[ks][0] = *(const unsigned *)(ra + 16 * ks + 2 * tq);
            af[ks][1] = *(const unsigned *)(rb + 16 * ks + 2 * tq);
            af[ks][2] = *(const unsigned *)(ra + 16 * ks + 8 + 2 * tq);
            af[ks][3] = *(const unsigned *)(rb + 16 * ks + 8 + 2 * tq);
        }
        // LayerNorm2d + GELU of the two rows (row g: fragments 0 and 2, row g + 8: 1 and 3),
        // the statistics as the LayerNorm kernel makes them: the mean, then the mean squared
        // deviation, in float32 over the row's d4 values, summed across the quad's 4 lanes.
        float xv[4][4][2];  // [ks][fragment][pair element]
        float sum[2] = {0.0f, 0.0f}, sq[2] = {0.0f, 0.0f};
#pragma unroll
        for (int ks = 0; ks < KS1; ks++)
#pragma unroll
            for (int f = 0; f < 4; f++) {
                float2 v = __bfloat1622float2(*(const __nv_bfloat162 *)&af[ks][f]);
                xv[ks][f][0] = v.x, xv[ks][f][1] = v.y;
                sum[f & 1] += v.x + v.y;
            }
        float mean[2], rstd[2];
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            sum[hf] += __shfl_xor_sync(0xffffffffu, sum[hf], 1);
            sum[hf] += __shfl_xor_sync(0xffffffffu, sum[hf], 2);
            mean[hf] = sum[hf] / (float)D4;
        }
#pragma unroll
        for (int ks = 0; ks < KS1; ks++)
#pragma unroll
            for (int f = 0; f < 4; f++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    float d = xv[ks][f][e] - mean[f & 1];
                    sq[f & 1] += d * d;
                }
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            sq[hf] += __shfl_xor_sync(0xffffffffu, sq[hf], 1);
            sq[hf] += __shfl_xor_sync(0xffffffffu, sq[hf], 2);
            rstd[hf] = 1.0f / sqrtf(sq[hf] / (float)D4 + a.eps);
        }
#pragma unroll
        for (int ks = 0; ks < KS1; ks++)
#pragma unroll
            for (int f = 0; f < 4; f++) {
                int col = 16 * ks + 8 * (f >> 1) + 2 * tq, hf = f & 1;
                float o[2];
#pragma unroll
                for (int e = 0; e < 2; e++)
                    o[e] = act_apply((xv[ks][f][e] - mean[hf]) * rstd[hf] * __bfloat162float(a.ln_g[col + e]) +
                                         __bfloat162float(a.ln_b[col + e]),
                                     ACT_GELU);
                af[ks][f] = pack_bf16(o[0], o[1]);
            }
        // B fragments of hyper_in[p]^T (d8 x m, n = mask index g; zero past m and past d8).
        unsigned hb[2][2];
        const bf16 *hr = a.hyper + ((int64_t)p * a.m + g) * D8;
#pragma unroll
        for (int ks = 0; ks < KS2; ks++) {
            int k0 = 16 * ks + 2 * tq, k1 = k0 + 8;
            hb[ks][0] = g < a.m && k0 < D8 ? *(const unsigned *)(hr + k0) : 0u;
            hb[ks][1] = g < a.m && k1 < D8 ? *(const unsigned *)(hr + k1) : 0u;
        }
        // This lane's two rows: their pixel (y, x) of the grid and first-level sub-pixel s1.
        int pix[2][2];  // [row half][0: 4y + 2 dy1, 1: 4x + 2 dx1]
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            int rem = (int)(r0 + g + 8 * hf - (int64_t)p * rows_per_prompt);
            int cell = rem >> 2, s1 = rem & 3, y = cell / G, x = cell - y * G;
            pix[hf][0] = 4 * y + 2 * (s1 >> 1);
            pix[hf][1] = 4 * x + 2 * (s1 & 1);
        }
#pragma unroll
        for (int s2 = 0; s2 < 4; s2++) {
            float c[4][4];
#pragma unroll
            for (int nt = 0; nt < NT8; nt++) c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < KS1; ks++)
#pragma unroll
                for (int nt = 0; nt < NT8; nt++) {
                    const bf16 *wr = sW + (s2 * D8 + nt * 8 + g) * WS + 16 * ks + 2 * tq;
                    mma_bf16(c[nt], af[ks], *(const unsigned *)wr, *(const unsigned *)(wr + 8));
                }
            // Bias, bfloat16, GELU, bfloat16; packed as the second product's A fragments.
            unsigned pa[2][4];
#pragma unroll
            for (int nt = 0; nt < NT8; nt++) {
                int col = s2 * D8 + nt * 8 + 2 * tq;
                float b0 = __bfloat162float(a.bias[col]), b1 = __bfloat162float(a.bias[col + 1]);
                float v[4];
#pragma unroll
                for (int e = 0; e < 4; e++) v[e] = bf16_round(act_apply(bf16_round(c[nt][e] + ((e & 1) ? b1 : b0)), ACT_GELU));
                pa[nt >> 1][(nt & 1) * 2 + 0] = pack_bf16(v[0], v[1]);
                pa[nt >> 1][(nt & 1) * 2 + 1] = pack_bf16(v[2], v[3]);
            }
            if (NT8 == 1) pa[0][2] = pa[0][3] = 0u;
            float mk[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int ks = 0; ks < KS2; ks++) mma_bf16(mk, pa[ks], hb[ks][0], hb[ks][1]);
            // mk[e]: row g + 8 (e >> 1), mask 2 tq + (e & 1).
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int mask = 2 * tq + (e & 1) - a.first, hf = e >> 1;
                if (mask < 0 || mask >= a.count) continue;
                int Y = pix[hf][0] + (s2 >> 1), X = pix[hf][1] + (s2 & 1);
                a.dst[(((int64_t)p * a.count + mask) * L + Y) * L + X] = bf16_round(mk[e]);
            }
        }
    }
}

__global__ void __launch_bounds__(UM_WARPS * 32) upscale_masks_d64(UmArgs a) { um_body(a, 64, 32); }
__global__ void __launch_bounds__(UM_WARPS * 32) upscale_masks_d16(UmArgs a) { um_body(a, 16, 8); }

// The fused op needs the layer's bfloat16 weight and bias as the dense format keeps them.
extern "C" void cuda_upscale_masks(Exec *x, float *dst, const void *u1, const void *ln_g, const void *ln_b,
                                   float eps, const LinearWeight *w, const void *hyper_in, int n, int m,
                                   int first, int count, int g) {
    if (n <= 0 || count <= 0) return;
    if (!is_bf16(x)) die("cuda upscale_masks: bfloat16 only (%s runs it unfused)", x->ops->name);
    const void *W, *bias;
    cuda_linear_dense_params(w, &W, &bias, "upscale_masks");
    int d4 = w->in_features, d8 = w->out_features / 4;
    if (w->out_features % 4 || !((d4 == 64 && d8 == 32) || (d4 == 16 && d8 == 8)))
        die("cuda upscale_masks: a transposed convolution of %d -> 4 x %d channels has no compiled kernel "
            "(64 -> 4 x 32 and 16 -> 4 x 8: prompt dims 256 and 64)", d4, w->out_features / 4);
    if (!bias) die("cuda upscale_masks: the transposed convolution has no bias");
    if (m < 1 || m > 8) die("cuda upscale_masks: %d mask tokens (1 to 8 are served)", m);
    if (first < 0 || first + count > m) die("cuda upscale_masks: masks %d..%d of %d", first, first + count - 1, m);
    if (g <= 0 || g % 2) die("cuda upscale_masks: grid %d is not even (a warp's 16 rows must be one prompt's)", g);
    if ((int64_t)4 * g * g > 0x7fffffff) die("cuda upscale_masks: grid %d: a prompt's 4 g^2 rows are over the kernel's 32-bit row index", g);
    if (((uintptr_t)u1 & 3) || ((uintptr_t)hyper_in & 3) || ((uintptr_t)W & 3))
        die("cuda upscale_masks: u1, hyper_in and the weight must be 4-byte aligned");
    if (!ln_g || !ln_b) die("cuda upscale_masks: the LayerNorm2d's weight and bias are required");
    UmArgs a = {dst, (const bf16 *)u1, (const bf16 *)ln_g, (const bf16 *)ln_b, eps, (const bf16 *)W,
                (const bf16 *)bias, (const bf16 *)hyper_in, n, m, first, count, g};
    // As many blocks as fit on the GPU at once, each walking tiles: W is staged into shared
    // memory once per block (with a block per 4 tiles, the first H200 run restaged its 16 KB
    // for every 64 rows: 128 us for 26 prompts, step-call1-ncu_nested_all.log of
    // tests/gpu/logs/h200-2026-12-01-e).
    void (*kernel)(UmArgs) = d4 == 64 ? upscale_masks_d64 : upscale_masks_d16;
    size_t smem = (size_t)4 * d8 * (d4 + 8) * sizeof(bf16);
    static int per_sm_of[2];  // [d4 == 64], asked once (the kernels do not change)
    int *per_sm_p = &per_sm_of[d4 == 64], per_sm = *per_sm_p;
    if (per_sm == 0) {
        cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, UM_WARPS * 32, smem));
        *per_sm_p = per_sm;
    }
    if (per_sm < 1) die("cuda upscale_masks: no block fits on a multiprocessor (%zu bytes of shared memory)", smem);
    int64_t tiles = (int64_t)n * 4 * g * g / 16;
    int64_t blocks = (tiles + UM_WARPS - 1) / UM_WARPS, fit = (int64_t)per_sm * cuda_backend(x)->prop.multiProcessorCount;
    if (blocks > fit) blocks = fit;
    kernel<<<(unsigned)blocks, UM_WARPS * 32, smem, cuda_stream(x)>>>(a);
    LAUNCH_CHECK(x, "upscale_masks");
}
