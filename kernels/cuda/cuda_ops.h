// The CUDA implementations of kernels/ops.h: float32 and bfloat16 activations on one GPU.
// C interface (used by variants/<stage>.c and the tests); the kernels are CUDA C in the .cu
// files of this folder, one per family:
//   backend.cu    backend state, device memory and its peak, copies, timing, NVTX ranges
//   gemm.cu       linear layers and batched products (cuBLAS), the linear epilogue
//   layernorm.cu  LayerNorm (+ activation), one warp per row
//   attention.cu  explicit attention: scores materialised, rel-pos added, softmax, times V
//   layout.cu     add, copies, im2col, window partition, pixel shuffle, dtype conversion
//   prompt.cu     sparse prompt embeddings
//   resample.cu   bilinear mask resizing and the top-mask statistics
//   cuda_ops.cu   the operation tables: per stage's choices, and the two defaults
//
// Stage semantics (issue 5):
//   cuda-fp32: float32 everywhere; cuBLAS SGEMM in CUBLAS_DEFAULT_MATH (TF32 never enabled).
//   cuda-bf16: bfloat16 weights and activations; GEMMs accumulate in float32
//              (cublasGemmEx, CUBLAS_COMPUTE_32F); softmax, LayerNorm and element-wise
//              arithmetic in float32, rounded to bfloat16 once on store.
//
// Peak memory (Ops.peak_bytes): the high-water mark of the bytes live in device allocations
// made through this backend: everything mem_alloc returned (weights, the activation arena,
// inputs) plus the backend's own workspaces (attention scores, the cuBLAS workspace). It
// leaves out what the CUDA context, the loaded kernels and cuBLAS's handle take (a fixed
// few hundred MiB), so it compares with PyTorch's torch.cuda.max_memory_allocated().
#ifndef SAM_CUDA_OPS_H
#define SAM_CUDA_OPS_H

#include <stddef.h>

#include "../ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CudaBackend CudaBackend;

// Creates the backend on device 0: stream, cuBLAS handle and workspace, timing events.
// Exits with a message naming the stage when there is no CUDA device or its compute
// capability is under 8.0 (bfloat16 tensor cores and the kernels' assumptions need Ampere+).
CudaBackend *cuda_backend_open(const char *stage_name);
void cuda_backend_close(CudaBackend *b);
// One JSON object without newline: GPU name, compute capability, SMs, clocks, memory, driver.
void cuda_backend_describe(CudaBackend *b, char *buf, size_t len);

// Attention works through chunks of (batch, head) pairs and query rows whose scores and
// rel-pos terms fit a workspace of at most `bytes` (default CUDA_ATTN_WORKSPACE_DEFAULT; at
// least one row of one pair): the bound on its memory.
#define CUDA_ATTN_WORKSPACE_DEFAULT ((size_t)2048 << 20)
void cuda_backend_set_attn_workspace(CudaBackend *b, size_t bytes);
// Workspace bytes of one (batch, head) pair of the call p (all its query rows), in float32
// or bfloat16 activations: the unit the chunking counts in, so a test can aim a workspace
// bound at a chunk shape.
size_t cuda_attention_pair_bytes(const AttnParams *p, int bf16);
// Debugging aid (tests): when on, every launch is followed by a stream synchronisation so an
// asynchronous fault is reported at the operation that caused it. Off by default; also
// switched on by the environment variable SAM_CUDA_SYNC=1.
void cuda_backend_set_sync_each_launch(CudaBackend *b, int on);

// The default tables (explicit attention, dense linears, unfused), for the op tests.
const Ops *cuda_ops_fp32(void);
const Ops *cuda_ops_bf16(void);

// The CUDA backend's choices (kernels/ops.h).
extern const AttentionImpl cuda_attention_explicit;  // attention.cu: scores materialised
extern const LinearFormat cuda_linear_dense;          // gemm.cu: cuBLAS(Lt) GEMMs

// A stage's backend: checks every choice against what this backend implements (exits with
// one line naming the stage and the choice), opens the device and returns the table for the
// choices. Signatures as StageDesc's open / close / describe (variants/core/stage.h).
const Ops *cuda_stage_open(const char *stage_name, const OpsChoices *choices, void **backend);
void cuda_stage_close(void *backend);
void cuda_stage_describe(void *backend, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
