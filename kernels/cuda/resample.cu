// Post-processing on the GPU, in float32 whatever the activation dtype: bilinear mask
// resizing and the top-mask statistics that end the timed region.
#include "cuda_common.cuh"

#define TOP_BLOCK 256
#define TOP_PIXELS_PER_BLOCK (TOP_BLOCK * 16)

// =============================================================================================
// kernels
// =============================================================================================

// ref: aten/src/ATen/native/UpSample.h area_pixel_compute_source_index and
// compute_source_index_and_lambda (align_corners=False, no explicit scale). Every operation
// rounded on its own (no FMA contraction), exactly as kernels/cpu/resample.c computes it.
static __device__ __forceinline__ void source_index(int out_index, int in_size, int full_size,
                                                    int *i0, int *i1, float *l0, float *l1) {
    if (in_size == full_size) {
        *i0 = *i1 = out_index;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    float ratio = __fdiv_rn((float)in_size, (float)full_size);
    float src = __fsub_rn(__fmul_rn(ratio, __fadd_rn((float)out_index, 0.5f)), 0.5f);
    if (src < 0.0f) src = 0.0f;
    int i = (int)floorf(src);
    if (i > in_size - 1) i = in_size - 1;
    float lambda = __fsub_rn(src, (float)i);
    lambda = lambda < 0.0f ? 0.0f : lambda > 1.0f ? 1.0f : lambda;
    *i0 = i;
    *i1 = i + (i < in_size - 1 ? 1 : 0);
    *l1 = lambda;
    *l0 = __fsub_rn(1.0f, lambda);
}

// src (n, hin, win) -> dst (n, hout, wout), the top-left block of the (hfull, wfull) resize.
__global__ void resize_bilinear_kernel(float *dst, const float *src, int n, int hin, int win,
                                       int hfull, int wfull, int hout, int wout) {
    int64_t total = (int64_t)n * hout * wout;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int ox = (int)(i % wout);
        int64_t r = i / wout;
        int oy = (int)(r % hout);
        int64_t img = r / hout;
        int x0, x1, y0, y1;
        float lx0, lx1, ly0, ly1;
        source_index(ox, win, wfull, &x0, &x1, &lx0, &lx1);
        source_index(oy, hin, hfull, &y0, &y1, &ly0, &ly1);
        const float *s0 = src + (img * hin + y0) * win;
        const float *s1 = src + (img * hin + y1) * win;
        float a = __fadd_rn(__fmul_rn(lx0, s0[x0]), __fmul_rn(lx1, s0[x1]));
        float b = __fadd_rn(__fmul_rn(lx0, s1[x0]), __fmul_rn(lx1, s1[x1]));
        dst[i] = __fadd_rn(__fmul_rn(ly0, a), __fmul_rn(ly1, b));
    }
}

// grid (blocks per prompt, n). Each block takes TOP_PIXELS_PER_BLOCK pixels of prompt
// blockIdx.y: writes every mask thresholded at 0 (predict_torch's masks > 0), picks the mask
// with the highest predicted IoU (the first on ties, strict >, as the reference and
// torch.argmax) and adds its intersection and union counts with the ground truth to inter /
// uni (zeroed by the launcher). VEC = 4: four pixels per access.
static __device__ __forceinline__ void top_body(uint8_t *masks, int32_t *top_index,
                                                unsigned long long *inter,
                                                unsigned long long *uni, const float *logits,
                                                const float *pred_iou, const uint8_t *gt, int c,
                                                int64_t hw, const int VEC) {
    __shared__ int red[2][TOP_BLOCK / 32];
    int i = blockIdx.y;
    int best = 0;
    for (int j = 1; j < c; j++)
        if (pred_iou[(int64_t)i * c + j] > pred_iou[(int64_t)i * c + best]) best = j;
    if (blockIdx.x == 0 && threadIdx.x == 0) top_index[i] = best;
    const uint8_t *g = gt + (int64_t)i * hw;
    int64_t p0 = (int64_t)blockIdx.x * TOP_PIXELS_PER_BLOCK;
    int64_t p1 = p0 + TOP_PIXELS_PER_BLOCK < hw ? p0 + TOP_PIXELS_PER_BLOCK : hw;
    // The other masks: thresholded only.
    for (int j = 0; j < c; j++) {
        if (j == best) continue;
        const float *l = logits + ((int64_t)i * c + j) * hw;
        uint8_t *m = masks + ((int64_t)i * c + j) * hw;
        for (int64_t p = p0 + threadIdx.x * VEC; p < p1; p += TOP_BLOCK * VEC) {
            if (VEC == 4) {
                float4 lv = *(const float4 *)(l + p);
                *(uchar4 *)(m + p) = make_uchar4(lv.x > 0.0f, lv.y > 0.0f, lv.z > 0.0f, lv.w > 0.0f);
            } else {
                m[p] = l[p] > 0.0f;
            }
        }
    }
    const float *l = logits + ((int64_t)i * c + best) * hw;
    uint8_t *m = masks + ((int64_t)i * c + best) * hw;
    int in = 0, un = 0;
    for (int64_t p = p0 + threadIdx.x * VEC; p < p1; p += TOP_BLOCK * VEC) {
        if (VEC == 4) {
            float4 lv = *(const float4 *)(l + p);
            uchar4 gv = *(const uchar4 *)(g + p);
            uchar4 mv = make_uchar4(lv.x > 0.0f, lv.y > 0.0f, lv.z > 0.0f, lv.w > 0.0f);
            *(uchar4 *)(m + p) = mv;
            in += (mv.x & (gv.x != 0)) + (mv.y & (gv.y != 0)) + (mv.z & (gv.z != 0)) + (mv.w & (gv.w != 0));
            un += (mv.x | (gv.x != 0)) + (mv.y | (gv.y != 0)) + (mv.z | (gv.z != 0)) + (mv.w | (gv.w != 0));
        } else {
            uint8_t mv = l[p] > 0.0f, gv = g[p] != 0;
            m[p] = mv;
            in += mv & gv;
            un += mv | gv;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        in += __shfl_xor_sync(0xffffffffu, in, o);
        un += __shfl_xor_sync(0xffffffffu, un, o);
    }
    if ((threadIdx.x & 31) == 0) {
        red[0][threadIdx.x / 32] = in;
        red[1][threadIdx.x / 32] = un;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        long long si = 0, su = 0;
        for (int w = 0; w < TOP_BLOCK / 32; w++) {
            si += red[0][w];
            su += red[1][w];
        }
        atomicAdd(inter + i, (unsigned long long)si);
        atomicAdd(uni + i, (unsigned long long)su);
    }
}
#define TOP_ARGS uint8_t *masks, int32_t *top_index, unsigned long long *inter, unsigned long long *uni, const float *logits, const float *pred_iou, const uint8_t *gt, int c, int64_t hw
#define TOP_PASS masks, top_index, inter, uni, logits, pred_iou, gt, c, hw
__global__ void __launch_bounds__(TOP_BLOCK) top_mask_v1(TOP_ARGS) { top_body(TOP_PASS, 1); }
__global__ void __launch_bounds__(TOP_BLOCK) top_mask_v4(TOP_ARGS) { top_body(TOP_PASS, 4); }

// =============================================================================================
// launchers
// =============================================================================================

// ref: torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
extern "C" void cuda_resize_bilinear(Exec *x, float *dst, const float *src, int n, int hin,
                                     int win, int hfull, int wfull, int hout, int wout) {
    if (n <= 0 || hout <= 0 || wout <= 0) return;
    if (hout > hfull || wout > wfull)
        die("cuda resize_bilinear: output %dx%d exceeds the full size %dx%d", hout, wout, hfull, wfull);
    unsigned grid = grid_for((int64_t)n * hout * wout, 256);
    resize_bilinear_kernel<<<grid, 256, 0, cuda_stream(x)>>>(dst, src, n, hin, win, hfull, wfull, hout, wout);
    LAUNCH_CHECK(x, "resize_bilinear");
}

extern "C" void cuda_top_mask_stats(Exec *x, uint8_t *masks, int32_t *top_index,
                                    int64_t *inter, int64_t *uni, const float *logits,
                                    const float *pred_iou, const uint8_t *gt, int n, int c,
                                    int h, int w) {
    if (n <= 0) return;
    if (c <= 0) die("cuda top_mask_stats: %d masks per prompt", c);
    int64_t hw = (int64_t)h * w;
    cudaStream_t s = cuda_stream(x);
    cudaCheck(cudaMemsetAsync(inter, 0, (size_t)n * sizeof(int64_t), s));
    cudaCheck(cudaMemsetAsync(uni, 0, (size_t)n * sizeof(int64_t), s));
    cuda_count_copy(cuda_backend(x)), cuda_count_copy(cuda_backend(x));
    int64_t per = (hw + TOP_PIXELS_PER_BLOCK - 1) / TOP_PIXELS_PER_BLOCK;
    if (per < 1) per = 1;  // an empty mask still records its top index
    if (per > 0x7fffffff || n > 65535) die("cuda top_mask_stats: %d prompts of %lld pixels is too many", n, (long long)hw);
    dim3 grid((unsigned)per, (unsigned)n);
    int vec = hw % 4 == 0 && aligned16(logits) && ((uintptr_t)gt & 3) == 0 && ((uintptr_t)masks & 3) == 0;
    unsigned long long *in = (unsigned long long *)inter, *un = (unsigned long long *)uni;
    if (vec) top_mask_v4<<<grid, TOP_BLOCK, 0, s>>>(masks, top_index, in, un, logits, pred_iou, gt, c, hw);
    else top_mask_v1<<<grid, TOP_BLOCK, 0, s>>>(masks, top_index, in, un, logits, pred_iou, gt, c, hw);
    LAUNCH_CHECK(x, "top_mask_stats");
}
