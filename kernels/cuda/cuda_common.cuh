// Shared by the kernels/cuda/*.cu files (CUDA C): the backend state, the error-checking
// macros, launch helpers and the float32/bfloat16 load-store helpers.
//
// Dtype handling without templates: a kernel body is a __forceinline__ device function taking
// `const int BF` (0: float32, 1: bfloat16) and other shape switches as arguments; each
// __global__ entry point calls it with constants, so the compiler folds the branches and every
// entry point is specialised code.
#ifndef SAM_CUDA_COMMON_CUH
#define SAM_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern "C" {
#include "common/check.h"
#include "kernels/ops.h"
}
#include "cuda_ops.h"

typedef __nv_bfloat16 bf16;

// ---- error checking: every CUDA and cuBLAS call, with the call, file and line ------------
static inline void cuda_check_impl(cudaError_t e, const char *call, const char *file, int line) {
    if (e != cudaSuccess) {
        fprintf(stderr, "sam: CUDA error %s (%s) in %s at %s:%d\n", cudaGetErrorName(e),
                cudaGetErrorString(e), call, file, line);
        exit(1);
    }
}
static inline void cublas_check_impl(cublasStatus_t s, const char *call, const char *file,
                                     int line) {
    if (s != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "sam: cuBLAS error %s (%s) in %s at %s:%d\n", cublasGetStatusName(s),
                cublasGetStatusString(s), call, file, line);
        exit(1);
    }
}
#define cudaCheck(call) cuda_check_impl((call), #call, __FILE__, __LINE__)
#define cublasCheck(call) cublas_check_impl((call), #call, __FILE__, __LINE__)

// ---- backend state (Exec.backend) ---------------------------------------------------------
typedef struct {
    void *ptr;
    size_t bytes;
} CudaAlloc;

// One cuBLASLt linear-layer plan (gemm.cu): descriptors and the heuristic's algorithm for a
// shape, dtype, epilogue and operand alignment, made on first use (the warm-up) and reused.
typedef struct {
    int m, n, k, bf, epilogue, beta_one, align;  // the key
    int batch;  // 0: a linear layer's plan; else linear_table's blocks of n rows (the key too)
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatrixLayout_t d;  // linear_table's output (NULL: D = C, c's layout)
    cublasLtMatmulAlgo_t algo;
} LtPlan;

// A lane: a stream with its own cuBLAS handle and scratch, so work on two lanes never shares
// a buffer. Lane 0 is the main one; lanes 1.. exist once lanes_open made them.
#define CUDA_MAX_LANES 8
typedef struct {
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *cublas_ws;
    void *ws;
    size_t ws_bytes;
    cudaEvent_t done;             // lanes_join: this lane's work so far
} CudaLane;

struct CudaBackend {
    int device;
    cudaDeviceProp prop;
    // The current lane's stream, cuBLAS handle and scratch (stream, cublas, cublas_ws, ws,
    // ws_bytes below) are the fields every operation uses; set_lane swaps them with lanes[].
    CudaLane lanes[CUDA_MAX_LANES];
    int n_lanes, lane;            // lanes made (1: the main one only), the current one
    cudaEvent_t fork_event;
    cudaStream_t stream;          // every operation is queued here, in order
    cublasHandle_t cublas;        // bound to stream, workspace below, CUBLAS_DEFAULT_MATH
    cublasLtHandle_t lt;          // linear layers with bias epilogues; shares cublas_ws (one stream)
    LtPlan *lt_plans;             // grown on demand (the decoder's row counts vary per image)
    int n_lt_plans, cap_lt_plans;
    void *cublas_ws;              // cuBLAS workspace (counted in the peak)
    size_t cublas_ws_bytes;
    cudaEvent_t t_begin, t_end;   // timer_begin / timer_end_ms
    cudaEvent_t *marks;           // timer_mark slots, created on first use of each
    int n_marks;
    // Live allocations and their sizes, so mem_free can account for the bytes it frees.
    CudaAlloc *allocs;
    int n_allocs, cap_allocs;
    size_t live_bytes, peak_bytes;
    // Scratch for operations (attention scores, a saved residual): grown on demand, never
    // shrunk; reuse is ordered by the single stream.
    void *ws;
    size_t ws_bytes;
    size_t attn_ws_cap;           // bound on the attention workspace (memory)
    int sync_each_launch;
    Ops ops;                      // the table for the stage's choices (cuda_stage_open)
    int capturing;                // a graph capture is open: no allocation, no synchronisation
    uint64_t host_launches;       // kernels, library calls, copies and graph launches queued
    uint64_t kernels;             // kernels queued (a replayed graph: its kernel nodes)
    // sdpa_cudnn.cu's state (cuDNN handle on this stream, execution plans), made on its first
    // use, and the function that frees it (cuda_backend_close calls it): through a pointer, so
    // an executable whose choices do not name that attention neither links nor loads cuDNN.
    void *sdpa;
    void (*sdpa_release)(CudaBackend *b);
    void (*sdpa_flush)(Exec *x);  // builds the plans a planning pass asked for (its end)
    struct UploadRing *upload;    // upload.cu's pinned staging, open from the first upload to load_end
    // SAM_LOAD_REPORT=1: the upload ring's line when it closes, and at the backend's close the
    // host time spent making cuBLASLt plans (their heuristic queries, made on first use).
    int load_report;
    double lt_plan_s;  // (the plans made are n_lt_plans: the list only grows)
};

static inline CudaBackend *cuda_backend(Exec *x) {
    CudaBackend *b = (CudaBackend *)x->backend;
    if (!b) die("cuda operations called with no CUDA backend in the Exec");
    return b;
}
static inline cudaStream_t cuda_stream(Exec *x) { return cuda_backend(x)->stream; }
static inline int is_bf16(Exec *x) { return x->ops->act_dtype == DT_BF16; }

extern "C" {
// backend.cu: tracked device allocations (cudaMalloc, counted in live and peak bytes).
void *cuda_dev_alloc(CudaBackend *b, size_t bytes);
void cuda_dev_free(CudaBackend *b, void *p);
// The operations' scratch buffer, at least `bytes` large (256-byte aligned).
void *cuda_workspace(Exec *x, size_t bytes);
// Host float32 -> device, float32 or bfloat16 (round to nearest even, on the device), through
// upload.cu's staging ring: queued on the stream, the host buffer free again on return.
void cuda_upload(Exec *x, void *dst, const float *src, size_t n, int bf16);
// The ring itself: n host floats in chunks of whole `unit`s (a chunk at most 1 Mi values), each
// chunk copied to a device float32 buffer and handed to consume(x, chunk, first, count, ctx) to
// queue its use (a kernel on the stream) before the buffer is reused. Refuses a capture.
typedef void (*UploadConsumer)(Exec *x, const float *chunk_dev, size_t first, size_t count, void *ctx);
void cuda_upload_staged(Exec *x, const float *src, size_t n, size_t unit, UploadConsumer consume, void *ctx);
// Frees the ring (load_end and the backend's close; nothing if none is open).
void cuda_upload_release(CudaBackend *b);
void cuda_load_end(Exec *x);
// Reports a launch error at once; in sync-each-launch mode also waits and reports faults.
// Counts the launch (Ops.launch_counts).
void cuda_launch_check(Exec *x, const char *kernel, const char *file, int line);
}
// One kernel or library call queued from the host (recorded ones count when their graph runs).
static inline void cuda_count_launch(CudaBackend *b) {
    if (!b->capturing) b->host_launches++, b->kernels++;
}
// A copy or memset queued from the host: a launch, not a kernel.
static inline void cuda_count_copy(CudaBackend *b) {
    if (!b->capturing) b->host_launches++;
}
#define LAUNCH_CHECK(x, kernel) cuda_launch_check((x), (kernel), __FILE__, __LINE__)

// v rounded up to a multiple of a.
static inline size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
// The host's monotonic clock in seconds (plan build and search times, the load report's).
static inline double host_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
// A shared-memory pointer as the 32-bit address PTX's shared-space operands take.
static __device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, capped.
static inline unsigned grid_for(int64_t n, int threads) {
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65536) blocks = 65536;
    return (unsigned)(blocks < 1 ? 1 : blocks);
}
static inline int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }
static inline int aligned8(const void *p) { return ((uintptr_t)p & 7) == 0; }

// ---- device helpers --------------------------------------------------------------------
// One element of an activation buffer, as float.
static __device__ __forceinline__ float ld1(const void *p, int64_t i, const int BF) {
    return BF ? __bfloat162float(((const bf16 *)p)[i]) : ((const float *)p)[i];
}
static __device__ __forceinline__ void st1(void *p, int64_t i, float v, const int BF) {
    if (BF) ((bf16 *)p)[i] = __float2bfloat16(v);
    else ((float *)p)[i] = v;
}
// Four consecutive elements starting at i: one 16-byte (float32) or 8-byte (bfloat16) access;
// the caller guarantees the alignment.
static __device__ __forceinline__ void ld4(const void *p, int64_t i, float v[4], const int BF) {
    if (BF) {
        uint2 u = *(const uint2 *)((const bf16 *)p + i);
        float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&u.x);
        float2 b = __bfloat1622float2(*(const __nv_bfloat162 *)&u.y);
        v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
    } else {
        float4 f = *(const float4 *)((const float *)p + i);
        v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
    }
}
static __device__ __forceinline__ void st4(void *p, int64_t i, const float v[4], const int BF) {
    if (BF) {
        __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
        __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
        uint2 u;
        u.x = *(const unsigned *)&a;
        u.y = *(const unsigned *)&b;
        *(uint2 *)((bf16 *)p + i) = u;
    } else {
        *(float4 *)((float *)p + i) = make_float4(v[0], v[1], v[2], v[3]);
    }
}

// Exact GELU as nn.GELU(): 0.5 x (1 + erf(x / sqrt 2)); the activations as cpu_act.
static __device__ __forceinline__ float act_apply(float v, int act) {
    if (act == ACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (act == ACT_RELU) return v > 0.0f ? v : 0.0f;
    return v;
}

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
// The max and the sum over a quad (the 4 lanes holding one accumulator row of an m16n8 tile or
// of a wgmma fragment).
static __device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
static __device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// ---- the operations (kernels/ops.h), defined in the family files; tables in cuda_ops.cu ----
extern "C" {
void *cuda_mem_alloc(Exec *x, size_t bytes);
void cuda_mem_free(Exec *x, void *p);
void cuda_copy_to_device(Exec *x, void *dst, const void *src, size_t bytes);
void cuda_copy_to_host(Exec *x, void *dst, const void *src, size_t bytes);
void cuda_copy_device(Exec *x, void *dst, const void *src, size_t bytes);
void cuda_upload_act(Exec *x, void *dst, const float *src, size_t n);
void cuda_download_act(Exec *x, float *dst, const void *src, size_t n);
void cuda_sync(Exec *x);
size_t cuda_peak_bytes(Exec *x);
void cuda_range_push(Exec *x, const char *name);
void cuda_range_pop(Exec *x);
void cuda_timer_begin(Exec *x);
double cuda_timer_end_ms(Exec *x);
void cuda_timer_mark(Exec *x, int slot);
double cuda_timer_mark_ms(Exec *x, int from, int to);
LinearWeight *cuda_linear_prepare(Exec *x, const float *W, const float *b, int out, int in);
void cuda_linear_release(Exec *x, LinearWeight *w);
void cuda_layernorm_window(Exec *x, void *dst, const void *in, const void *g, const void *b,
                           int n, int h, int w, int c, float eps, int win);
int cuda_reserve_workspace(Exec *x, size_t bytes, size_t lane_bytes);
void cuda_set_lane_b(CudaBackend *b, int lane);
void cuda_set_lane(Exec *x, int lane);
void cuda_lanes_open(Exec *x, int n);
void cuda_lanes_fork(Exec *x);
void cuda_lanes_join(Exec *x);
void cuda_graph_begin(Exec *x);
void *cuda_graph_end(Exec *x);
void cuda_graph_launch(Exec *x, void *graph);
void cuda_graph_free(Exec *x, void *graph);
void cuda_launch_counts(Exec *x, uint64_t *host_launches, uint64_t *kernels);
void cuda_linear(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows, Act act,
                 const void *residual);
// y = act(y + bias) + res over (rows, out), in place; bias and res may be NULL (gemm.cu).
void cuda_linear_epilogue(Exec *x, void *y, const void *bias, const void *res, int64_t rows, int out,
                          Act act);
void cuda_activation(Exec *x, void *y, int64_t n, Act act);
void cuda_matmul_nt(Exec *x, void *c, const void *a, const void *b, int batch, int m, int n,
                    int k, int64_t sa, int64_t sb, int64_t sc, float alpha);
void cuda_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b,
                    int64_t rows, int dim, float eps, Act act);
void cuda_attention(Exec *x, const AttnParams *p);
void cuda_add(Exec *x, void *y, const void *a, const void *b, int64_t n, int64_t ap, int64_t bp);
void cuda_gather_add(Exec *x, void *y, const void *a, const int32_t *index, const void *b,
                     int64_t n, int64_t block, int64_t bp);
void cuda_copy3d(Exec *x, void *dst, const void *src, int64_t batch, int64_t rows, int64_t cols,
                 int64_t dbs, int64_t drs, int64_t sbs, int64_t srs);
void cuda_im2col(Exec *x, void *dst, const void *src, int src_f32, int src_nchw, int n, int h,
                 int w, int c, int k, int stride, int pad);
void cuda_window_partition(Exec *x, void *dst, const void *src, int b, int h, int w, int c,
                           int win);
void cuda_window_unpartition(Exec *x, void *dst, const void *src, int b, int h, int w, int c,
                             int win);
void cuda_select_masks(Exec *x, float *dst, const void *src, int n, int m, int first, int count, int g);
void cuda_upscale_masks(Exec *x, float *dst, const void *u1, const void *ln_g, const void *ln_b, float eps,
                        const LinearWeight *w, const void *hyper_in, int n, int m, int first, int count, int g);
// A dense-format layer's weight (out, in) and bias (out, or NULL) in the table's dtype, for a
// fused kernel that reads them itself (gemm.cu); `who` names the caller when w is in another
// format (refused).
void cuda_linear_dense_params(const LinearWeight *w, const void **W, const void **b, const char *who);
void cuda_linear_table(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                       const void *table, int64_t period);
void cuda_embed_prompts(Exec *x, void *out, const float *coords, const int32_t *labels, int n,
                        int t, int dim, const float *gauss, const void *pe, const void *nap,
                        int img);
void cuda_act_to_f32(Exec *x, float *dst, const void *src, int64_t n);
void cuda_resize_bilinear(Exec *x, float *dst, const float *src, int n, int hin, int win,
                          int hfull, int wfull, int hout, int wout);
void cuda_resize_masks_ragged(Exec *x, float *dst, const float *src, int c, int hin, int win,
                              int hfull, int wfull, const RaggedMasks *r);
void cuda_top_mask_stats_ragged(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                                int64_t *uni, const float *logits, const float *pred_iou,
                                const uint8_t *gt, int c, const RaggedMasks *r);
void cuda_top_mask_stats(Exec *x, uint8_t *top_mask, int32_t *top_index, int64_t *inter,
                         int64_t *uni, const float *logits, const float *pred_iou,
                         const uint8_t *gt, int n, int c, int h, int w);

// gemm.cu: row-major batched C[i] = alpha op(A[i]) op(B[i]) + beta C[i] through cuBLAS, with
// C[i] (m, n); op(A) (m, k) is A or, when a_trans, A stored (k, m); op(B) (k, n) is B or,
// when b_trans, B stored (n, k). ab_bf16: A and B bfloat16 (else float32); c_bf16 likewise.
// Strides in elements; batch 1 ignores them.
void cuda_gemm(Exec *x, int a_trans, int b_trans, int m, int n, int k, float alpha,
               const void *A, int64_t lda, int64_t stride_a, const void *B, int64_t ldb,
               int64_t stride_b, float beta, void *C, int64_t ldc, int64_t stride_c, int batch,
               int ab_bf16, int c_bf16);
// The same product over device arrays of `batch` matrix pointers (cuBLAS pointer-array
// batched): for batches whose matrices are not one stride apart.
void cuda_gemm_ptrs(Exec *x, int a_trans, int b_trans, int m, int n, int k, float alpha,
                    const void *const *A, int64_t lda, const void *const *B, int64_t ldb,
                    float beta, void *const *C, int64_t ldc, int batch, int ab_bf16, int c_bf16);
}

#endif
