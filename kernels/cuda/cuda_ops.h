// The CUDA implementations of kernels/ops.h: float32 and bfloat16 activations on one GPU.
// C interface (used by variants/<stage>.c and the tests); the kernels are CUDA C in the .cu
// files of this folder, one per family:
//   backend.cu    backend state, device memory and its peak, copies, timing, NVTX ranges
//   gemm.cu       linear layers and batched products (cuBLAS), the linear epilogue
//   layernorm.cu  LayerNorm (+ activation), one warp per row; with the int8 quantisation
//   attention.cu  explicit attention: scores materialised, rel-pos added, softmax, times V
//   flash_relpos.cu  the encoder's attention as one flash kernel, rel-pos terms made inside
//   decoder_attention.cu  the mask decoder's attentions as flash kernels for few tokens
//   sdpa_cudnn.cu attention through cuDNN's fused SDPA (backend graph API), rel-pos as a bias
//   layout.cu     add, copies, im2col, window partition, the masks into image order, dtype conversion
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
#include <stdint.h>

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
// flash_relpos.cu: bfloat16 flash attention with the decomposed rel-pos terms computed inside
// (the image encoder's attention only: rel-pos required, head dims 64 and 80); no workspace.
extern const AttentionImpl cuda_attention_flash_relpos;
// decoder_attention.cu: the mask decoder's attentions (one side a few tokens) as flash kernels,
// head dims 16 and 32, float32 and bfloat16 (tensor cores for bfloat16); takes a batch index
// (AttnParams.q_batch_of / kv_batch_of). Which of its four kernels a call takes (tests, bench).
extern const AttentionImpl cuda_attention_decoder_flash;
const char *cuda_decoder_flash_kernel(Exec *x, const AttnParams *p);

// flash_relpos.cu's compiled tile configurations (the tests and the benchmark run each):
// how many, the name of config i ("hd64-s64-w8m1n64b1": head dim, key slots per grid row,
// warps, m-tiles of 16 rows per warp, keys per tile, minimum blocks per SM), whether it serves
// the call p, the build's choice for p (an index), its resources for p (registers, spills,
// shared memory, resident blocks per SM) as one line, and a run with config i (refused by
// name where it does not serve p).
int cuda_flash_relpos_configs(void);
const char *cuda_flash_relpos_config_name(int i);
int cuda_flash_relpos_config_serves(int i, const AttnParams *p);
int cuda_flash_relpos_chosen(const AttnParams *p);
void cuda_flash_relpos_config_describe(Exec *x, const AttnParams *p, int i, char *buf, size_t len);
void cuda_flash_relpos_run_config(Exec *x, const AttnParams *p, int i);
// sdpa_cudnn.cu: cuDNN's fused flash attention (bf16 only), the encoder's rel-pos terms
// materialised as a bf16 attention bias by a kernel of ours, chunked over sequences within the
// attention workspace bound; one cuDNN execution plan per shape, built when the planning pass
// first meets it. Referencing it links cuDNN (-lcudnn, recorded only where referenced).
extern const AttentionImpl cuda_attention_cudnn_sdpa;
// The cuDNN plans built so far, one line each (shape, engine, workspace, build time) into buf;
// returns their count (tests and reports).
int cuda_sdpa_plans(CudaBackend *b, char *buf, size_t len);
// Only the rel-pos bias of every chunk of p (the products and the bias kernel, into the
// workspace), as the attention makes it: the benchmark's share of the bias in the time.
void cuda_sdpa_bias_only(Exec *x, const AttnParams *p);
// The rel-pos bias in float32 (on > 0) or bfloat16 (on == 0; the stage's) from now on; on < 0
// only asks; returns the previous setting. Tests and benchmarks only: the stage's bias is bfloat16.
int cuda_sdpa_set_bias_f32(CudaBackend *b, int on);
// Without a GPU: builds the cuDNN graph of the call p (the full chunk of the default workspace
// bound) for the device described by devprop_json (cuDNN's device-property JSON, cuDNN >= 9.8)
// and asks the heuristics (mode A); returns how many engine configurations they offer (0: the
// graph is refused) and describes it in msg. Exits naming cuDNN's message if the graph itself
// is refused. The CPU test tests/core/test_sdpa_deviceless.sh runs it on every model shape.
int cuda_sdpa_check_deviceless(const char *devprop_json, const AttnParams *p, char *msg, size_t len);
// The execution plan of `key` (a plan key line, as the plan cache's entries hold it) built on
// GPU 0 with the cuDNN handle of `thread` (0 .. CUDA_SDPA_AOT_THREADS - 1; one per thread) and written into the plan
// cache `dir` (sdpa_plan_cache.cu); an entry already there is deserialised instead, which checks
// it. Returns 0 (built), 1 (the entry was there) or -1 (not a key); msg says which and names the
// file. variants/aot/sdpa_aot.c runs it.
#define CUDA_SDPA_AOT_THREADS 64
int cuda_sdpa_aot(const char *key, const char *dir, int thread, char *msg, size_t len);
// int8_linear.cu: dynamic symmetric int8 (per-token activations, per-channel weights), wgmma
// on sm_90 with the dequantisation, bias, GELU and residual in the epilogue; bfloat16 only.
extern const LinearFormat cuda_linear_int8;

// The int8 format's parts, for the tests and the benchmark (tests/gpu/test_int8.c):
// activations (rows, K) bfloat16 -> int8 q and per-row float32 scales, in device memory;
size_t cuda_int8_workspace_bytes(Exec *x, const LinearWeight *w, int64_t rows);
void cuda_int8_quantize(Exec *x, int8_t *q, float *scale, const void *in, int64_t rows, int K);
// the int32 products C (M, out) of int8 A (M, in) and the layer's int8 weights;
void cuda_int8_gemm_raw(Exec *x, int32_t *C, const int8_t *A, const LinearWeight *w, int64_t M);
// the GEMM with its epilogue on quantised activations (y bfloat16, or float32 unrounded when
// f32_out, whose residual must not alias y);
void cuda_int8_gemm_epilogue(Exec *x, void *y, const int8_t *q, const float *x_scale,
                             const LinearWeight *w, int64_t rows, Act act, const void *residual,
                             int f32_out);
// the same recording each output row's largest pre-activation in row_xmax (an order-preserving
// encoding of float32, zeroed by the caller; the GELU-warps variant's bfloat16 GELU output only,
// others refuse), and the quantisation of that GELU output with GELU of those maxima as the
// rows' largest magnitudes (most rows read once);
void cuda_int8_gemm_epilogue_xmax(Exec *x, void *y, const int8_t *q, const float *x_scale,
                                  const LinearWeight *w, int64_t rows, Act act, const void *residual,
                                  int f32_out, unsigned *row_xmax);
void cuda_int8_quantize_gelu(Exec *x, int8_t *q, float *scale, const void *in, const unsigned *xmax,
                             int64_t rows, int K);
// the layer's int8 weights (out, in) and scales (out), copied to the host.
void cuda_int8_weights(Exec *x, const LinearWeight *w, int8_t *q, float *scale);
// the format's LayerNorm + linear (LinearFormat.run_ln), and the LayerNorm kernel it uses:
// q (ln_spec_rows(ln), dim) int8 and scale (rows) from x (n, h, w, dim) bfloat16, window-
// partitioned where ln->win > 0 (layernorm.cu).
void cuda_int8_linear_ln(Exec *x, void *y, const void *in, const LnSpec *ln, const LinearWeight *w, Act act,
                         const void *residual);
// the format's MLP (LinearFormat.run_ln_mlp): run_ln of w1 with GELU into hidden, then w2 on it
// with the residual, lin2's quantisation from the maxima lin1's consumers recorded.
void cuda_int8_ln_mlp(Exec *x, void *y, void *hidden, const void *in, const LnSpec *ln, const LinearWeight *w1,
                      Act act, const LinearWeight *w2, const void *residual);
void cuda_layernorm_quant(Exec *x, int8_t *q, float *scale, const void *in, const LnSpec *ln);
// the GEMM's compiled variants (cluster size, stages, epilogue): how many, their names, the
// build's choice, and selecting one for the calls that follow (after a layer is prepared).
int cuda_int8_variant_count(void);
const char *cuda_int8_variant_name(int v);
int cuda_int8_chosen_variant(void);
void cuda_int8_select_variant(int v);
// 1 when variant v rounds GELU's input (the pre-activation) to bfloat16 first (tests).
int cuda_int8_variant_rounds_gelu_input(int v);
// 1 when variant v has the bfloat16 GELU kernel that records the rows' largest pre-activations
// (the fused MLP's lin1), 0 when it has none.
int cuda_int8_variant_records_xmax(int v);
// the bfloat16 epilogues' GELU (an erfc fit) of n float32 values, device pointers (tests).
void cuda_int8_gelu_fit(Exec *x, float *y, const float *in, int n);

// sparse24_linear.cu: 2:4 sparse bfloat16 linears on cuSPARSELt (weights compressed once at
// load, one algorithm search per shape in the planning pass, bias and residual in its
// epilogue, exact GELU by a kernel after it). Its weights must already be 2:4-pruned
// (variants/core/prune.h); anything else is refused by name. cuSPARSELt is loaded with dlopen
// by the format's open hook (cuda_stage_open), which exits naming libcusparseLt.so.0 when it
// cannot.
extern const LinearFormat cuda_linear_sparse24;
// For the tests and the benchmark (tests/gpu/test_sparse24.c): loads the library (no GPU
// needed) and describes it in buf, or says why not (returns -1);
int cuda_sparse24_library(char *buf, size_t len);
// the descriptor layout (0: A row-major, B transposed, as PyTorch's; 1: every operand
// column-major), while no sparse weight lives;
void cuda_sparse24_set_options(int layout);
// the algorithms the searches chose so far, one line each; returns their count.
int cuda_sparse24_configs(char *buf, size_t len);

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
