// Sparse prompt embeddings on the GPU: random Fourier features of the point coordinates plus
// the learned per-label embedding.
// ref: segment_anything/modeling/prompt_encoder.py PositionEmbeddingRandom._pe_encoding,
//      PromptEncoder._embed_points, PromptEncoder._embed_boxes
#include "cuda_common.cuh"

// =============================================================================================
// kernels
// =============================================================================================

// One thread per (point, frequency j < dim / 2): writes out[j] (sin) and out[dim/2 + j] (cos).
// The products and sums are rounded one by one (__fmul_rn, __fadd_rn: no FMA contraction), as
// the float32 reference computes them, so the phases match it exactly.
static __device__ __forceinline__ void embed_body(void *out, const float *coords,
                                                  const int32_t *labels, int points, int dim,
                                                  const float *gauss, const void *pe,
                                                  const void *nap, int img, const int BF) {
    int half = dim / 2;
    int64_t total = (int64_t)points * half;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int pt = (int)(i / half), j = (int)(i % half);
        int64_t o = (int64_t)pt * dim;
        int label = labels[pt];
        if (label == -1) {  // padding point: embedding zeroed, then not_a_point_embed
            st1(out, o + j, ld1(nap, j, BF), BF);
            st1(out, o + half + j, ld1(nap, half + j, BF), BF);
            continue;
        }
        // +0.5: shift to the pixel centre; / size: into [0, 1]; 2c - 1: into [-1, 1].
        float cx = __fdiv_rn(__fadd_rn(coords[2 * pt], 0.5f), (float)img);
        float cy = __fdiv_rn(__fadd_rn(coords[2 * pt + 1], 0.5f), (float)img);
        cx = __fsub_rn(__fmul_rn(2.0f, cx), 1.0f);
        cy = __fsub_rn(__fmul_rn(2.0f, cy), 1.0f);
        float v = __fmul_rn(6.28318530717958647692f,
                            __fadd_rn(__fmul_rn(cx, gauss[j]), __fmul_rn(cy, gauss[half + j])));
        float s = sinf(v), c = cosf(v);
        if (label >= 0 && label <= 3) {
            s += ld1(pe, (int64_t)label * dim + j, BF);
            c += ld1(pe, (int64_t)label * dim + half + j, BF);
        }
        st1(out, o + j, s, BF);
        st1(out, o + half + j, c, BF);
    }
}
#define EMB_ARGS void *out, const float *coords, const int32_t *labels, int points, int dim, const float *gauss, const void *pe, const void *nap, int img
#define EMB_PASS out, coords, labels, points, dim, gauss, pe, nap, img
__global__ void embed_prompts_f32(EMB_ARGS) { embed_body(EMB_PASS, 0); }
__global__ void embed_prompts_bf16(EMB_ARGS) { embed_body(EMB_PASS, 1); }

// =============================================================================================
// launchers
// =============================================================================================

extern "C" void cuda_embed_prompts(Exec *x, void *out, const float *coords,
                                   const int32_t *labels, int n, int t, int dim,
                                   const float *gauss, const void *pe, const void *nap,
                                   int img) {
    int points = n * t;
    if (points <= 0) return;
    if (dim <= 0 || dim % 2) die("cuda embed_prompts: dim %d must be even", dim);
    unsigned grid = grid_for((int64_t)points * (dim / 2), 256);
    cudaStream_t s = cuda_stream(x);
    if (is_bf16(x)) embed_prompts_bf16<<<grid, 256, 0, s>>>(out, coords, labels, points, dim, gauss, pe, nap, img);
    else embed_prompts_f32<<<grid, 256, 0, s>>>(out, coords, labels, points, dim, gauss, pe, nap, img);
    LAUNCH_CHECK(x, "embed_prompts");
}
