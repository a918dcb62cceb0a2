// Post-processing on the GPU, in float32 whatever the activation dtype: bilinear mask
// resizing and the top-mask statistics that end the timed region.
#include "cuda_common.cuh"

#define TOP_BLOCK 256
#define TOP_PIXELS_PER_BLOCK (TOP_BLOCK * 16)

// Sums every thread's intersection and union counts over the block (TOP_BLOCK threads, every
// one reaching this) and adds them to one prompt's totals.
static __device__ __forceinline__ void block_add_counts(int in, int un, unsigned long long *inter,
                                                        unsigned long long *uni) {
    __shared__ int red[2][TOP_BLOCK / 32];
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
        atomicAdd(inter, (unsigned long long)si);
        atomicAdd(uni, (unsigned long long)su);
    }
}

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

// Sam.postprocess_masks of a ragged set: grid (blocks per plane, c, prompts); block (x, j, p)
// works on prompt p's mask j. Each output pixel of (orig_h, orig_w) is the bilinear resize of
// the crop (in_h, in_w), and each of the four crop values it reads is computed on the spot as
// the resize of src (hin, win) to (hfull, wfull) computes it: the operations of the two
// resize_bilinear_kernel passes in their order, so the result is theirs bit for bit, without
// the crop (up to hfull x wfull floats per mask) going through memory. The plane is cut into
// tiles of RZ_ROWS rows x blockDim.x columns: a thread keeps its column's source columns and
// weights in registers, the tile's rows' source rows and weights are in shared memory, so a
// pixel costs its 16 loads (cached: src is 256 KB per mask) and the arithmetic. Tried and
// reverted (78b61ce): a per-thread window of the source rows' horizontal products, so a row's
// loads serve every output row that reads it, made the post phase slower on the H200 (0.42 ->
// 0.69 ms per batch of 8 images; tests/gpu/logs/h200-2026-12-01-d call 6): its branches and
// register shuffling cost more than the cached loads it saved.
#define RZ_ROWS 16
#define RZ_THREADS 256

// The source indices and weights of one output index through both stages: the crop indices
// c0, c1 with weights w0, w1 (second stage), and for each crop index k the src indices
// s[k][0], s[k][1] with weights v[k][0], v[k][1] (first stage).
static __device__ __forceinline__ void two_stage_index(int o, int crop, int out, int in, int full,
                                                       int s[2][2], float v[2][2], float *w0,
                                                       float *w1) {
    int c0, c1;
    source_index(o, crop, out, &c0, &c1, w0, w1);
    source_index(c0, in, full, &s[0][0], &s[0][1], &v[0][0], &v[0][1]);
    source_index(c1, in, full, &s[1][0], &s[1][1], &v[1][0], &v[1][1]);
}

__global__ void __launch_bounds__(RZ_THREADS)
resize_masks_ragged_kernel(float *dst, const float *src, int c, int hin, int win, int hfull,
                           int wfull, const int32_t *size, const int64_t *offset) {
    __shared__ int rows[RZ_ROWS][2][2];
    __shared__ float rw[RZ_ROWS][2][2], rw2[RZ_ROWS][2];
    int p = blockIdx.z, j = blockIdx.y;
    int in_h = size[4 * p], in_w = size[4 * p + 1], oh = size[4 * p + 2], ow = size[4 * p + 3];
    const float *s = src + ((int64_t)p * c + j) * hin * win;
    float *d = dst + (int64_t)c * offset[p] + (int64_t)j * oh * ow;
    int bands = (oh + RZ_ROWS - 1) / RZ_ROWS, chunks = (ow + RZ_THREADS - 1) / RZ_THREADS;
    for (int t = blockIdx.x; t < bands * chunks; t += gridDim.x) {
        int y0 = (t / chunks) * RZ_ROWS, ox = (t % chunks) * RZ_THREADS + threadIdx.x;
        __syncthreads();  // the previous tile's rows are read
        if (threadIdx.x < RZ_ROWS && y0 + threadIdx.x < oh)
            two_stage_index(y0 + threadIdx.x, in_h, oh, hin, hfull, rows[threadIdx.x],
                            rw[threadIdx.x], &rw2[threadIdx.x][0], &rw2[threadIdx.x][1]);
        __syncthreads();
        if (ox >= ow) continue;
        int cols[2][2];
        float cw[2][2], lx0, lx1;
        two_stage_index(ox, in_w, ow, win, wfull, cols, cw, &lx0, &lx1);
        int y1 = y0 + RZ_ROWS < oh ? y0 + RZ_ROWS : oh;
        for (int oy = y0; oy < y1; oy++) {
            int r = oy - y0;
            float crop[2][2];  // [crop row k][crop column q]
#pragma unroll
            for (int k = 0; k < 2; k++) {
                const float *s0 = s + (int64_t)rows[r][k][0] * win, *s1 = s + (int64_t)rows[r][k][1] * win;
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    float a = __fadd_rn(__fmul_rn(cw[q][0], s0[cols[q][0]]), __fmul_rn(cw[q][1], s0[cols[q][1]]));
                    float b = __fadd_rn(__fmul_rn(cw[q][0], s1[cols[q][0]]), __fmul_rn(cw[q][1], s1[cols[q][1]]));
                    crop[k][q] = __fadd_rn(__fmul_rn(rw[r][k][0], a), __fmul_rn(rw[r][k][1], b));
                }
            }
            float a = __fadd_rn(__fmul_rn(lx0, crop[0][0]), __fmul_rn(lx1, crop[0][1]));
            float b = __fadd_rn(__fmul_rn(lx0, crop[1][0]), __fmul_rn(lx1, crop[1][1]));
            d[(int64_t)oy * ow + ox] = __fadd_rn(__fmul_rn(rw2[r][0], a), __fmul_rn(rw2[r][1], b));
        }
    }
}

// top_mask_stats of a ragged set: grid (blocks per prompt, prompts). Block (x, p) takes
// TOP_PIXELS_PER_BLOCK-pixel chunks x, x + gridDim.x, ... of prompt p's (orig_h, orig_w) planes
// and does top_body's work on each; one reduction and one atomic add per block at the end.
// VEC = 4 where the prompt's planes allow 4-pixel accesses (its pixel count and offset are
// multiples of 4 and the buffers 16-byte / 4-byte aligned: vec_ok).
static __device__ __forceinline__ void top_ragged_chunks(uint8_t *masks, const float *logits,
                                                         const uint8_t *g, int c, int best,
                                                         int64_t hw, int *in_out, int *un_out,
                                                         const int VEC) {
    int in = 0, un = 0;
    for (int64_t p0 = (int64_t)blockIdx.x * TOP_PIXELS_PER_BLOCK; p0 < hw;
         p0 += (int64_t)gridDim.x * TOP_PIXELS_PER_BLOCK) {
        int64_t p1 = p0 + TOP_PIXELS_PER_BLOCK < hw ? p0 + TOP_PIXELS_PER_BLOCK : hw;
        for (int j = 0; j < c; j++) {
            const float *l = logits + (int64_t)j * hw;
            uint8_t *m = masks + (int64_t)j * hw;
            for (int64_t p = p0 + threadIdx.x * VEC; p < p1; p += TOP_BLOCK * VEC) {
                if (VEC == 4) {
                    float4 lv = *(const float4 *)(l + p);
                    uchar4 mv = make_uchar4(lv.x > 0.0f, lv.y > 0.0f, lv.z > 0.0f, lv.w > 0.0f);
                    *(uchar4 *)(m + p) = mv;
                    if (j != best) continue;
                    uchar4 gv = *(const uchar4 *)(g + p);
                    in += (mv.x & (gv.x != 0)) + (mv.y & (gv.y != 0)) + (mv.z & (gv.z != 0)) + (mv.w & (gv.w != 0));
                    un += (mv.x | (gv.x != 0)) + (mv.y | (gv.y != 0)) + (mv.z | (gv.z != 0)) + (mv.w | (gv.w != 0));
                } else {
                    uint8_t mv = l[p] > 0.0f;
                    m[p] = mv;
                    if (j != best) continue;
                    uint8_t gv = g[p] != 0;
                    in += mv & gv;
                    un += mv | gv;
                }
            }
        }
    }
    *in_out = in;
    *un_out = un;
}

__global__ void __launch_bounds__(TOP_BLOCK)
top_mask_ragged_kernel(uint8_t *masks, int32_t *top_index, unsigned long long *inter,
                       unsigned long long *uni, const float *logits, const float *pred_iou,
                       const uint8_t *gt, int c, const int32_t *size, const int64_t *offset,
                       int vec_ok) {
    int i = blockIdx.y;
    int best = 0;
    for (int j = 1; j < c; j++)
        if (pred_iou[(int64_t)i * c + j] > pred_iou[(int64_t)i * c + best]) best = j;
    if (blockIdx.x == 0 && threadIdx.x == 0) top_index[i] = best;
    int64_t hw = (int64_t)size[4 * i + 2] * size[4 * i + 3], off = offset[i];
    int in, un;
    if (vec_ok && hw % 4 == 0 && off % 4 == 0)
        top_ragged_chunks(masks + c * off, logits + c * off, gt + off, c, best, hw, &in, &un, 4);
    else
        top_ragged_chunks(masks + c * off, logits + c * off, gt + off, c, best, hw, &in, &un, 1);
    block_add_counts(in, un, inter + i, uni + i);
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
    block_add_counts(in, un, inter + i, uni + i);
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

// Blocks per plane for the ragged post-processing: the planes together fill the GPU 16 times
// over (their sizes are in device memory: each block strides over its plane).
static unsigned ragged_blocks(Exec *x, int64_t planes, unsigned cap) {
    int64_t want = (16 * (int64_t)cuda_backend(x)->prop.multiProcessorCount + planes - 1) / planes;
    return (unsigned)(want < 1 ? 1 : want > cap ? cap : want);
}

extern "C" void cuda_resize_masks_ragged(Exec *x, float *dst, const float *src, int c, int hin,
                                         int win, int hfull, int wfull, const RaggedMasks *r) {
    if (r->n <= 0 || c <= 0) return;
    if (r->n > 65535 || c > 65535) die("cuda resize_masks_ragged: %d prompts of %d masks is too many", r->n, c);
    dim3 grid(ragged_blocks(x, (int64_t)r->n * c, 256), (unsigned)c, (unsigned)r->n);
    resize_masks_ragged_kernel<<<grid, RZ_THREADS, 0, cuda_stream(x)>>>(dst, src, c, hin, win, hfull, wfull,
                                                                 r->size, r->offset);
    LAUNCH_CHECK(x, "resize_masks_ragged");
}

extern "C" void cuda_top_mask_stats_ragged(Exec *x, uint8_t *masks, int32_t *top_index,
                                           int64_t *inter, int64_t *uni, const float *logits,
                                           const float *pred_iou, const uint8_t *gt, int c,
                                           const RaggedMasks *r) {
    int n = r->n;
    if (n <= 0) return;
    if (c <= 0) die("cuda top_mask_stats_ragged: %d masks per prompt", c);
    if (n > 65535) die("cuda top_mask_stats_ragged: %d prompts is over the 65535 of one launch", n);
    cudaStream_t s = cuda_stream(x);
    cudaCheck(cudaMemsetAsync(inter, 0, (size_t)n * sizeof(int64_t), s));
    cudaCheck(cudaMemsetAsync(uni, 0, (size_t)n * sizeof(int64_t), s));
    cuda_count_copy(cuda_backend(x)), cuda_count_copy(cuda_backend(x));
    int vec_ok = aligned16(logits) && ((uintptr_t)gt & 3) == 0 && ((uintptr_t)masks & 3) == 0;
    dim3 grid(ragged_blocks(x, n, 1024), (unsigned)n);
    top_mask_ragged_kernel<<<grid, TOP_BLOCK, 0, s>>>(masks, top_index, (unsigned long long *)inter,
                                                      (unsigned long long *)uni, logits, pred_iou, gt,
                                                      c, r->size, r->offset, vec_ok);
    LAUNCH_CHECK(x, "top_mask_stats_ragged");
}
