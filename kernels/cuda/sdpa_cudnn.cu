// Attention through cuDNN's fused scaled-dot-product attention (flash attention), called through
// cuDNN's backend (graph) API, with SAM's decomposed rel-pos terms materialised as an attention
// bias, as the seed's SDPA stage passes `attn_mask` to F.scaled_dot_product_attention.
// ref: segment-anything-fast segment_anything_fast/modeling/image_encoder.py Attention.forward
//      (attn_bias = (rel_h[..., None] + rel_w[..., None, :]).view(B, heads, L, L); SDPA(q, k, v,
//      attn_mask=attn_bias))
// ref: segment_anything/modeling/image_encoder.py add_decomposed_rel_pos
//
// Per chunk of whole sequences (images for the global blocks, windows for the windowed ones):
//   1. [RH | RW] = q [Rh; Rw]^T    one strided-batched cuBLAS call (AttnParams.rel_pos stacks the
//                                   2 gh - 1 Rh rows and 2 gw - 1 Rw rows), the unscaled q, bf16
//                                   out as the official bf16 einsums
//   2. bias[s, h, q, (kh, kw)] = RH[q][qh - kh + gh - 1] + RW[q][qw - kw + gw - 1]
//                                   our kernel (relpos_bias below): bf16, rows padded to 8
//   3. o = softmax(scale q k^T + bias) v   one cuDNN execution plan, q, k, v and o read in place
//                                   through AttnParams' strides (the encoder's interleaved
//                                   (seqs, seq, 3, heads, hd) qkv projection output)
// Chunks hold as many whole sequences as fit the backend's attention workspace bound
// (attn_ws_cap, shared with the explicit attention: 2 GiB by default), the largest divisor of
// the batch that fits, so every chunk runs one plan; a sequence larger than the bound is one
// chunk (the bias of one vit_h image is 512 MiB, all eight's 4 GiB). The decoder's attentions
// (no rel-pos, no bias) run in chunks of a bucket size (1, 4, 16, ...; sdpa_chunks_cap), the
// last chunk overlapping the one before it, so a plan serves every prompt count of its bucket.
//
// The bias and cuDNN's attention run one after the other, and their sum is the floor of this
// design here: making chunk i + 1's bias on a second stream while cuDNN ran chunk i (two bias
// buffers, one-image chunks) gained nothing, because cuDNN's kernel holds every SM (one
// register-limited block each), and its heuristics offered no engine for vit_b's global plan at
// any SM-count target tried (CUDNN_ATTR_ENGINEHEUR_SM_COUNT_TARGET 120 down to 80 on the H200's
// 132: 0 configurations) that would leave SMs to the bias (session 19 call 1,
// tests/gpu/logs/h200-2026-12-02-f, the diff there; vit_b global 2.696 ms against 2.610-2.642
// without).
//
// The cuDNN graph is the one cuDNN's C++ frontend lowers its SDPA node to (cudnn-frontend
// include/cudnn_frontend/node/scaled_dot_product_flash_attention.h, softmax.h) for cuDNN before
// 9.21, whose fused-attention engines recognise it:
//   S = matmul(Q, K^T) -> S * scale (a by-value scalar) -> + bias -> M = max over keys ->
//   E = exp(S - M) -> Z = sum over keys -> P = E / Z (bf16) -> O = matmul(P, V)
// plus the statistics M + log Z into a virtual tensor (nothing reads them, but without them
// cuDNN's attention pattern matcher refuses the graph: "Dropout set of ops not configured
// correctly"); intermediates float32 (virtual), P bfloat16, I/O bfloat16. Heuristics mode A
// gives the engine configurations in order; the first that cuDNN finalises into an execution
// plan is kept. A graph cuDNN refuses (no engine configuration, or none it can finalise) ends
// the run with the shape and cuDNN's message: there is no other path. The engines cuDNN 9.19
// offers for it on sm_90 compile their kernel with NVRTC when the plan is finalised (1.5-5 s
// per plan on the 2-core build machine, deviceless; 0.5-1.2 s on the H200, where cuDNN keeps
// the compiled kernels for later processes: tests/gpu/logs/h200-2026-12-01-i/call5-gpu0.log).
//
// Plans are made once per shape (dims, strides, bias): the planning pass (sam_plan) asks for
// every call through workspace_bytes before anything runs or is captured, which records each new
// shape; at the pass's end (the workspace reservation) sdpa_flush builds the recorded plans
// together on up to 8 threads, each with its own cuDNN handle, and runs each once. A capture
// only executes plans. The run builds a missing plan when it is not capturing (the op tests call
// run directly) and refuses one inside a capture. The plans' cuDNN workspace and the bias chunk
// are in the backend's operation workspace, which the planning pass reserves.
// Every plan is a static plan of its exact shape. The decoder's shapes change with every
// image's prompt count (the batch of its attentions), so sam-sdpa made 3 plans per new count
// (before session 12's buckets): after the first plan of an engine configuration has compiled
// its kernel, a plan takes 40-63 ms on the H200 when built alone (call 5 above); built together
// on 8 threads they took 80-450 ms each (session 11 call 1; cuDNN seems to serialise much of the work), which is no gain once
// the kernels are compiled and a large one when they are not (sdpa vit_h's first mask on a
// fresh machine: 5.79 s built one after another, 2.92 s together; session 11 call 2, which also
// had weights converted on the device). No dynamic-shape plans
// sharing cuDNN's kernel cache (cuDNN >= 9.18.1): with cuDNN 9.19.0 on the H200 the cache bound
// a kernel compiled for one shape to plans of other shapes of the same topology (the decoder's
// 7 -> 4096 kernel to its 4096 -> 7 attention, a 6-token self-attention to the 7-token kernel,
// a batch-1 plan to the batch-11 kernel) and those plans left output elements unwritten or made
// an illegal address (tests/gpu/logs/h200-2026-12-01, callA and callV).
// A plan is looked for in the plan cache first (sdpa_plan_cache.cu: build/sdpa-plans beside the
// stage, filled by the plans the stage builds and ahead of time by build/sdpa-aot): an entry
// deserialises in milliseconds where building the plan compiles its kernel.
// The cuDNN handle is made on first use, set to the backend's (current) stream before every
// execution, and released by cuda_backend_close through CudaBackend.sdpa_release, so only an
// executable whose choices name this attention links cuDNN.
// Without a GPU, cuda_sdpa_check_deviceless builds the same graphs for a device described in
// JSON and asks the heuristics (tests/core/test_sdpa_deviceless.sh, in make test).
#include <cudnn_graph.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "cuda_common.cuh"
#include "cudnn_check.cuh"
#include "sdpa_plan_cache.cuh"


// =============================================================================================
// kernels
// =============================================================================================

#define SDPA_BUILDERS 8
// The cuDNN workspace a pending plan is planned with (its own is known once it is built; a
// larger one is refused by name at sdpa_flush). Every plan on the H200 asked for 256 bytes.
#define SDPA_PENDING_WS ((size_t)16 << 20)

#define BIAS_BLOCK 256
#define BIAS_ROWS 16      // bias rows per block
#define BIAS_MAX_GRID 64  // grid sides served (the encoder's 14 and 64); larger is refused

// bias (ns, heads, L, P) bf16, row (s, h, q) = (row / L / heads, ...); rel rows (heads, ns, L) of
// rel_ld elements: [RH (2 gh - 1) | RW (2 gw - 1)], RH[j] = q . Rh[j] for the row's q.
// ref: add_decomposed_rel_pos: attn[q, (kh, kw)] += rel_h[q, kh] + rel_w[q, kw] with
// rel_h[q, kh] = q . Rh[qh - kh + gh - 1], rel_w[q, kw] = q . Rw[qw - kw + gw - 1], each bf16 as
// the official bf16 einsums store them, summed in float32 and rounded once (the seed's
// rel_h[..., None] + rel_w[..., None, :] in bf16).
// A block makes BIAS_ROWS rows: first each row's place (its product row, its query's grid
// cell; one thread per row), then every row's gh + gw terms into shared memory in key order
// (rh[kh], rw[kw], float32), then the rows' stores, TPR threads per row (a power of two up to
// the block), each 16-byte store of 8 columns reading its terms there. The kernel is a store
// stream (3.2 GB for vit_b's global blocks at batch 8): a block of one row (8 KB) spent most of
// its life on its gathers and barrier, so 16 rows share them; ncu of that version (session 10
// call 2) read 3.44 TB/s of DRAM at 78 % SM throughput, the row's 64-bit index divisions done
// per term and a division by gw per store: both now once per row and once per thread.
// The pad columns [L, P) are written as zeros (cuDNN never reads them).
// F32: the bias in float32 (cuda_sdpa_set_bias_f32), the same sums without the last rounding.
template <int F32>
__global__ void relpos_bias(void *__restrict__ bias_out, const bf16 *__restrict__ rel, int64_t rows,
                            int heads, int ns, int L, int P, int rel_ld, int gh, int gw, int tpr) {
    __shared__ __align__(16) float terms[BIAS_ROWS][2 * BIAS_MAX_GRID];
    __shared__ int64_t row_rel[BIAS_ROWS];  // the row's product row (element offset in rel)
    __shared__ int row_qh[BIAS_ROWS], row_qw[BIAS_ROWS];
    const int64_t row0 = (int64_t)blockIdx.x * BIAS_ROWS;
    if (threadIdx.x < BIAS_ROWS && row0 + threadIdx.x < rows) {
        int64_t row = row0 + threadIdx.x;
        int q = (int)(row % L);
        int64_t sh = row / L;  // s * heads + h
        int h = (int)(sh % heads), s = (int)(sh / heads);
        row_rel[threadIdx.x] = (((int64_t)h * ns + s) * L + q) * rel_ld;
        row_qh[threadIdx.x] = q / gw;
        row_qw[threadIdx.x] = q % gw;
    }
    __syncthreads();
    const int nterm = gh + gw;
    for (int i = threadIdx.x; i < BIAS_ROWS * nterm; i += BIAS_BLOCK) {
        int lr = i / nterm, j = i - lr * nterm;
        if (row0 + lr >= rows) break;
        const bf16 *r = rel + row_rel[lr];
        if (j < gh) terms[lr][j] = __bfloat162float(r[row_qh[lr] - j + gh - 1]);
        else terms[lr][BIAS_MAX_GRID + j - gh] = __bfloat162float(r[(2 * gh - 1) + row_qw[lr] - (j - gh) + gw - 1]);
    }
    __syncthreads();
    const int t = threadIdx.x % tpr, step = tpr * 8;
    // this thread's first column group and the stride between its groups, in (key row, column)
    const int kh0 = t * 8 / gw, kw0 = t * 8 % gw, step_h = step / gw, step_w = step % gw;
    for (int lr = threadIdx.x / tpr; lr < BIAS_ROWS; lr += BIAS_BLOCK / tpr) {
        int64_t row = row0 + lr;
        if (row >= rows) break;
        const float *rh = terms[lr], *rw = rh + BIAS_MAX_GRID;
        bf16 *out = (bf16 *)bias_out + row * (int64_t)P;
        float *outf = (float *)bias_out + row * (int64_t)P;
        int kh = kh0, kw = kw0;
        for (int k0 = t * 8; k0 < P; k0 += step) {
            float f[8];
            if (gw % 8 == 0 && k0 + 8 <= L) {
                // the 8 columns share one key row (the global 64 x 64 grid): one row term, two
                // 16-byte reads of column terms
                float a = rh[kh];
                float4 w0 = *(const float4 *)(rw + kw), w1 = *(const float4 *)(rw + kw + 4);
                f[0] = a + w0.x, f[1] = a + w0.y, f[2] = a + w0.z, f[3] = a + w0.w;
                f[4] = a + w1.x, f[5] = a + w1.y, f[6] = a + w1.z, f[7] = a + w1.w;
            } else {
                int eh = kh, ew = kw;
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    f[e] = k0 + e < L ? rh[eh] + rw[ew] : 0.0f;
                    if (++ew == gw) ew = 0, eh++;
                }
            }
            if (F32) {
                *(float4 *)(outf + k0) = make_float4(f[0], f[1], f[2], f[3]);
                *(float4 *)(outf + k0 + 4) = make_float4(f[4], f[5], f[6], f[7]);
            } else {
                unsigned w[4];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    __nv_bfloat162 b2 = __floats2bfloat162_rn(f[2 * e], f[2 * e + 1]);
                    w[e] = *(const unsigned *)&b2;
                }
                *(uint4 *)(out + k0) = make_uint4(w[0], w[1], w[2], w[3]);
            }
            kh += step_h, kw += step_w;
            if (kw >= gw) kw -= gw, kh++;
        }
    }
}

// =============================================================================================
// cuDNN graphs and plans
// =============================================================================================

enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_BIAS, UID_SCALE, UID_VIRTUAL = 100 };
#define MAX_KEEP 64
#define SDPA_DECODER_BUCKET 4  // the decoder's chunk sizes: 1, 4, 16, 64, ...

// One shape's execution plan and every descriptor it was made from (kept for its lifetime).
typedef struct {
    // key
    int b, h, sq, skv, d, bias;  // bias: 0 none, 1 bfloat16, 2 float32
    int64_t qs[3], ks[3], vs[3], os[3];  // batch, head, token strides (elements)
    int64_t bias_pitch;
    // plan
    cudnnBackendDescriptor_t plan;
    cudnnBackendDescriptor_t keep[MAX_KEEP];
    int n_keep;
    int64_t ws_bytes, engine;
    int configs, tried;  // heuristic configurations, and how many were tried to get one
    double build_ms;
    cudnnHandle_t handle;  // the handle it was built with and runs on (NULL: deviceless)
    int pending;           // asked for by a planning pass, built by the next sdpa_flush
    int cached;            // deserialised from the plan cache (sdpa_plan_cache.cu), not built
} SdpaPlan;

typedef struct {
    cudnnHandle_t handle;              // NULL: plans are built for devprop (no GPU)
    cudnnBackendDescriptor_t devprop;  // deviceless: a device described in JSON (cuDNN >= 9.8)
    SdpaPlan **plans;                  // each its own allocation: pointers to them stay valid
    int n, cap;
    int heuristics_only;  // deviceless check: stop after the heuristics query
    // The rel-pos bias in float32 instead of the seed's bfloat16 (cuda_sdpa_set_bias_f32; tests
    // and benchmarks: the stage's bias is bfloat16, as the seed's attn_mask).
    int bias_f32;
    double create_ms;  // cudnnCreate's time (the library's first use)
    SdpaCache cache;   // plans kept on disk between processes (sdpa_plan_cache.cu)
    // The plans a planning pass asks for are built together at its end (sdpa_flush), on up to
    // SDPA_BUILDERS threads, each with its own handle (cuDNN is thread-safe across handles, not
    // within one): the decoder makes 3 plans for every new prompt count, 40-60 ms each, and a
    // topology's first plan compiles its kernel (0.5-1.2 s): one after another they were most
    // of sdpa's time to first mask (session 10 call 5).
    cudnnHandle_t builders[SDPA_BUILDERS];
    int n_pending;
} SdpaState;

// SAM_SDPA_REPORT=1 in the environment: the handle's and every plan's build time to stderr
// when the backend closes (where a stage's time to first mask goes; the tests print the same).
static void sdpa_release(CudaBackend *b) {
    SdpaState *st = (SdpaState *)b->sdpa;
    if (!st) return;
    const char *report = getenv("SAM_SDPA_REPORT");
    if (report && *report && strcmp(report, "0") != 0) {
        static char plans[1 << 16];
        int n = cuda_sdpa_plans(b, plans, sizeof plans);
        fprintf(stderr, "sdpa: cuDNN handle made in %.1f ms; %d execution plans:\n%s", st->create_ms, n, plans);
    }
    for (int i = 0; i < st->n; i++) {
        SdpaPlan *p = st->plans[i];
        cudnnCheck(cudnnBackendDestroyDescriptor(p->plan));
        for (int j = 0; j < p->n_keep; j++) cudnnCheck(cudnnBackendDestroyDescriptor(p->keep[j]));
        free(p);
    }
    free(st->plans);
    for (int i = 0; i < SDPA_BUILDERS; i++)
        if (st->builders[i]) cudnnCheck(cudnnDestroy(st->builders[i]));
    cudnnCheck(cudnnDestroy(st->handle));
    free(st);
    b->sdpa = NULL;
}

static void sdpa_flush(Exec *x);

static SdpaState *sdpa_state(CudaBackend *b) {
    if (b->sdpa) return (SdpaState *)b->sdpa;
    if (b->capturing) die("cuda sdpa: the cuDNN handle would be created inside a graph capture");
    size_t ver = cudnnGetVersion();
    if (ver / 10000 != CUDNN_MAJOR)
        die("cuda sdpa: built against cuDNN %d.%d.%d, loaded cuDNN %zu.%zu.%zu (another major version)",
            CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL, ver / 10000, ver / 100 % 100, ver % 100);
    SdpaState *st = (SdpaState *)xcalloc(1, sizeof *st);
    double t0 = host_seconds();
    cudnnCheck(cudnnCreate(&st->handle));
    st->create_ms = (host_seconds() - t0) * 1e3;
    cudnnCheck(cudnnSetStream(st->handle, b->stream));
    sdpa_cache_open(&st->cache, &b->prop, NULL);
    b->sdpa = st;
    b->sdpa_release = sdpa_release;
    b->sdpa_flush = sdpa_flush;
    return st;
}

// The call's shape for messages.
static void shape_str(char *buf, size_t len, const SdpaPlan *k) {
    snprintf(buf, len,
             "batch=%d heads=%d q_len=%d k_len=%d head_dim=%d bias=%s, strides (batch, head, "
             "token) q (%lld, %lld, %lld) k (%lld, %lld, %lld) v (%lld, %lld, %lld) o (%lld, %lld, %lld)",
             k->b, k->h, k->sq, k->skv, k->d, k->bias == 2 ? "f32 (rel-pos)" : k->bias ? "bf16 (rel-pos)" : "none",
             (long long)k->qs[0], (long long)k->qs[1], (long long)k->qs[2], (long long)k->ks[0],
             (long long)k->ks[1], (long long)k->ks[2], (long long)k->vs[0], (long long)k->vs[1],
             (long long)k->vs[2], (long long)k->os[0], (long long)k->os[1], (long long)k->os[2]);
}

static int same_key(const SdpaPlan *a, const SdpaPlan *b) {
    return a->b == b->b && a->h == b->h && a->sq == b->sq && a->skv == b->skv && a->d == b->d &&
           a->bias == b->bias && a->bias_pitch == b->bias_pitch &&
           !memcmp(a->qs, b->qs, sizeof a->qs) &&
           !memcmp(a->ks, b->ks, sizeof a->ks) && !memcmp(a->vs, b->vs, sizeof a->vs) &&
           !memcmp(a->os, b->os, sizeof a->os);
}

// The key as one line (the plan cache's key) and back.
static void key_line(char *buf, size_t len, const SdpaPlan *k) {
    snprintf(buf, len,
             "b=%d h=%d sq=%d skv=%d d=%d bias=%d pitch=%lld q=%lld,%lld,%lld k=%lld,%lld,%lld "
             "v=%lld,%lld,%lld o=%lld,%lld,%lld",
             k->b, k->h, k->sq, k->skv, k->d, k->bias, (long long)k->bias_pitch, (long long)k->qs[0],
             (long long)k->qs[1], (long long)k->qs[2], (long long)k->ks[0], (long long)k->ks[1],
             (long long)k->ks[2], (long long)k->vs[0], (long long)k->vs[1], (long long)k->vs[2],
             (long long)k->os[0], (long long)k->os[1], (long long)k->os[2]);
}
static int parse_key_line(const char *line, SdpaPlan *k) {
    long long v[13];
    int end = 0;
    memset(k, 0, sizeof *k);
    int n = sscanf(line,
                   "b=%d h=%d sq=%d skv=%d d=%d bias=%d pitch=%lld q=%lld,%lld,%lld k=%lld,%lld,%lld "
                   "v=%lld,%lld,%lld o=%lld,%lld,%lld%n",
                   &k->b, &k->h, &k->sq, &k->skv, &k->d, &k->bias, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &end);
    if (n != 19 || (line[end] && line[end] != '\n')) return 0;
    k->bias_pitch = v[0];
    for (int i = 0; i < 3; i++) k->qs[i] = v[1 + i], k->ks[i] = v[4 + i], k->vs[i] = v[7 + i], k->os[i] = v[10 + i];
    return k->b > 0 && k->h > 0 && k->sq > 0 && k->skv > 0 && k->d > 0 && k->bias >= 0 && k->bias <= 2;
}

// Descriptor construction: every attribute call checked; each descriptor is kept by the plan.
static cudnnBackendDescriptor_t keep(SdpaPlan *p, cudnnBackendDescriptorType_t type) {
    if (p->n_keep == MAX_KEEP) die("internal: cuda sdpa: more than %d descriptors", MAX_KEEP);
    cudnnBackendDescriptor_t d;
    cudnnCheck(cudnnBackendCreateDescriptor(type, &d));
    p->keep[p->n_keep++] = d;
    return d;
}
#define SET(d, name, type, n, val) cudnnCheck(cudnnBackendSetAttribute((d), (name), (type), (n), (val)))

static cudnnBackendDescriptor_t tensor(SdpaPlan *p, int64_t uid, cudnnDataType_t dt,
                                       const int64_t dim[4], const int64_t str[4], bool is_virtual,
                                       bool by_value) {
    cudnnBackendDescriptor_t t = keep(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t align = 16;
    SET(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    SET(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim);
    SET(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str);
    SET(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    SET(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    SET(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (by_value) SET(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    cudnnCheck(cudnnBackendFinalize(t));
    return t;
}

// y = mode(x[, b]), float32 math.
static cudnnBackendDescriptor_t pointwise(SdpaPlan *p, cudnnPointwiseMode_t mode,
                                          cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                                          cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t pw = keep(p, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    cudnnCheck(cudnnBackendFinalize(pw));
    cudnnBackendDescriptor_t op = keep(p, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (b) SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    cudnnCheck(cudnnBackendFinalize(op));
    return op;
}

// y = reduce(x) over the dimensions where y has extent 1, float32.
static cudnnBackendDescriptor_t reduction(SdpaPlan *p, cudnnReduceTensorOp_t mode,
                                          cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t rd = keep(p, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    SET(rd, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode);
    SET(rd, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    cudnnCheck(cudnnBackendFinalize(rd));
    cudnnBackendDescriptor_t op = keep(p, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rd);
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    SET(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    cudnnCheck(cudnnBackendFinalize(op));
    return op;
}

// c = a b (batched over the two leading dimensions), float32 accumulation.
static cudnnBackendDescriptor_t matmul(SdpaPlan *p, cudnnBackendDescriptor_t a,
                                       cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c) {
    cudnnBackendDescriptor_t md = keep(p, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    SET(md, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    cudnnCheck(cudnnBackendFinalize(md));
    cudnnBackendDescriptor_t op = keep(p, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    SET(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &md);
    cudnnCheck(cudnnBackendFinalize(op));
    return op;
}

// A refusal by cuDNN of a graph or of every engine configuration: the shape and cuDNN's message.
__attribute__((noreturn)) static void refuse(const SdpaPlan *k, const char *what, cudnnStatus_t s,
                                             const char *msg) {
    char shape[512];
    shape_str(shape, sizeof shape, k);
    die("cuda sdpa: cuDNN refuses the attention %s (%s): %s: %s (every engine's reason: rerun "
        "with CUDNN_LOGWARN_DBG=1 CUDNN_LOGERR_DBG=1 CUDNN_LOGDEST_DBG=stderr)", shape, what,
        cudnnGetErrorString(s), msg && msg[0] ? msg : "(no message)");
}

// Builds the plan of shape k (its key fields set) into k.
static void build_plan(SdpaState *st, SdpaPlan *k) {
    double t0 = host_seconds() * 1e3;
    char key[512];
    key_line(key, sizeof key, k);
    // A plan's entry in the plan cache, where there is one, instead of building it (a deviceless
    // state has no cache: heuristics only).
    if (k->handle && sdpa_cache_load(&st->cache, key, k->handle, &k->plan, &k->engine)) {
        int64_t cnt = 0;
        cudnnCheck(cudnnBackendGetAttribute(k->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                            CUDNN_TYPE_INT64, 1, &cnt, &k->ws_bytes));
        k->cached = 1;
        k->build_ms = host_seconds() * 1e3 - t0;
        return;
    }
    const int64_t b = k->b, h = k->h, sq = k->sq, skv = k->skv, d = k->d;
    const cudnnDataType_t BF = CUDNN_DATA_BFLOAT16, F32 = CUDNN_DATA_FLOAT;
    int64_t vid = UID_VIRTUAL;
    // I/O: Q (b, h, sq, d); K^T (b, h, d, skv) (K's strides with the last two swapped, as the
    // frontend maps K -> KT); V (b, h, skv, d); O (b, h, sq, d); bias (b, h, sq, skv).
    int64_t qd[4] = {b, h, sq, d}, qst[4] = {k->qs[0], k->qs[1], k->qs[2], 1};
    int64_t kd[4] = {b, h, d, skv}, kst[4] = {k->ks[0], k->ks[1], 1, k->ks[2]};
    int64_t vd[4] = {b, h, skv, d}, vst[4] = {k->vs[0], k->vs[1], k->vs[2], 1};
    int64_t od[4] = {b, h, sq, d}, ost[4] = {k->os[0], k->os[1], k->os[2], 1};
    int64_t sd[4] = {b, h, sq, skv}, sst[4] = {h * sq * skv, sq * skv, skv, 1};
    int64_t rd[4] = {b, h, sq, 1}, rst[4] = {h * sq, sq, 1, 1};
    int64_t one[4] = {1, 1, 1, 1};
    int64_t bst[4] = {h * sq * k->bias_pitch, sq * k->bias_pitch, k->bias_pitch, 1};
    cudnnBackendDescriptor_t tq = tensor(k, UID_Q, BF, qd, qst, false, false);
    cudnnBackendDescriptor_t tk = tensor(k, UID_K, BF, kd, kst, false, false);
    cudnnBackendDescriptor_t tv = tensor(k, UID_V, BF, vd, vst, false, false);
    cudnnBackendDescriptor_t to = tensor(k, UID_O, BF, od, ost, false, false);
    cudnnBackendDescriptor_t tscale = tensor(k, UID_SCALE, F32, one, one, false, true);
    cudnnBackendDescriptor_t ops[12];
    int n_ops = 0;
    // S = Q K^T; S1 = S * scale; [S2 = S1 + bias]
    cudnnBackendDescriptor_t s0 = tensor(k, vid++, F32, sd, sst, true, false);
    ops[n_ops++] = matmul(k, tq, tk, s0);
    cudnnBackendDescriptor_t s1 = tensor(k, vid++, F32, sd, sst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_MUL, s0, tscale, s1);
    if (k->bias) {
        cudnnBackendDescriptor_t tb = tensor(k, UID_BIAS, k->bias == 2 ? F32 : BF, sd, bst, false, false);
        cudnnBackendDescriptor_t s2 = tensor(k, vid++, F32, sd, sst, true, false);
        ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_ADD, s1, tb, s2);
        s1 = s2;
    }
    // softmax: M = max S1; E = exp(S1 - M); Z = sum E; P = E / Z (bf16, the second product's
    // input type)
    cudnnBackendDescriptor_t tm = tensor(k, vid++, F32, rd, rst, true, false);
    ops[n_ops++] = reduction(k, CUDNN_REDUCE_TENSOR_MAX, s1, tm);
    cudnnBackendDescriptor_t s3 = tensor(k, vid++, F32, sd, sst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_SUB, s1, tm, s3);
    cudnnBackendDescriptor_t te = tensor(k, vid++, F32, sd, sst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_EXP, s3, NULL, te);
    cudnnBackendDescriptor_t tz = tensor(k, vid++, F32, rd, rst, true, false);
    ops[n_ops++] = reduction(k, CUDNN_REDUCE_TENSOR_ADD, te, tz);
    // The softmax statistics M + log Z into a virtual tensor: nothing reads them, but cuDNN's
    // attention pattern matcher wants them (the frontend lowers inference this way too; without
    // them the fused engine refuses the graph).
    cudnnBackendDescriptor_t tl = tensor(k, vid++, F32, rd, rst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_LOG, tz, NULL, tl);
    cudnnBackendDescriptor_t tst = tensor(k, vid++, F32, rd, rst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_ADD, tm, tl, tst);
    cudnnBackendDescriptor_t tp = tensor(k, vid++, BF, sd, sst, true, false);
    ops[n_ops++] = pointwise(k, CUDNN_POINTWISE_DIV, te, tz, tp);
    // O = P V
    ops[n_ops++] = matmul(k, tp, tv, to);

    cudnnStatus_t s;
    char msg[2048];
    cudnnBackendDescriptor_t graph = keep(k, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    SET(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n_ops, ops);
    if (k->handle) SET(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &k->handle);
    if ((s = cudnnBackendFinalize(graph)) != CUDNN_STATUS_SUCCESS) {
        cudnnGetLastErrorString(msg, sizeof msg);
        refuse(k, "operation graph", s, msg);
    }
    cudnnBackendDescriptor_t heur = keep(k, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    if (!k->handle) SET(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &st->devprop);
    if ((s = cudnnBackendFinalize(heur)) != CUDNN_STATUS_SUCCESS) {
        cudnnGetLastErrorString(msg, sizeof msg);
        refuse(k, "heuristics (mode A)", s, msg);
    }
    int64_t n_cfg = 0;
    cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &n_cfg, NULL));
    if (n_cfg <= 0) refuse(k, "heuristics (mode A)", CUDNN_STATUS_NOT_SUPPORTED, "no engine configuration");
    cudnnBackendDescriptor_t *cfgs = (cudnnBackendDescriptor_t *)xcalloc((size_t)n_cfg, sizeof *cfgs);
    for (int64_t i = 0; i < n_cfg; i++)
        cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]));
    int64_t got = 0;
    cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, n_cfg, &got, cfgs));
    k->configs = (int)got;
    if (st->heuristics_only) {  // the deviceless check: what heuristics offer, no plan
        for (int64_t i = 0; i < n_cfg; i++) cudnnCheck(cudnnBackendDestroyDescriptor(cfgs[i]));
        free(cfgs);
        k->build_ms = host_seconds() * 1e3 - t0;
        return;
    }
    char first_msg[2048] = "";
    cudnnStatus_t first_s = CUDNN_STATUS_NOT_SUPPORTED;
    int chosen = -1;
    for (int64_t i = 0; i < got && chosen < 0; i++) {
        cudnnBackendDescriptor_t plan;
        cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan));
        if (k->handle) SET(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &k->handle);
        else SET(plan, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &st->devprop);
        SET(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
        k->tried = (int)i + 1;
        if ((s = cudnnBackendFinalize(plan)) == CUDNN_STATUS_SUCCESS) {
            k->plan = plan;
            chosen = (int)i;
        } else {
            if (!first_msg[0]) {
                cudnnGetLastErrorString(first_msg, sizeof first_msg);
                first_s = s;
            }
            cudnnCheck(cudnnBackendDestroyDescriptor(plan));
        }
    }
    if (chosen < 0) {
        char what[64];
        snprintf(what, sizeof what, "execution plan of any of %lld engine configurations", (long long)got);
        refuse(k, what, first_s, first_msg);
    }
    // The chosen engine's global index, for the record.
    cudnnBackendDescriptor_t eng;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng));
    int64_t cnt = 0;
    cudnnCheck(cudnnBackendGetAttribute(cfgs[chosen], CUDNN_ATTR_ENGINECFG_ENGINE,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cnt, &eng));
    cudnnCheck(cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                        &cnt, &k->engine));
    cudnnCheck(cudnnBackendDestroyDescriptor(eng));
    // The chosen configuration stays alive with the plan; the others go.
    for (int64_t i = 0; i < got; i++) {
        if (i == chosen) {
            if (k->n_keep == MAX_KEEP) die("internal: cuda sdpa: more than %d descriptors", MAX_KEEP);
            k->keep[k->n_keep++] = cfgs[i];
        } else {
            cudnnCheck(cudnnBackendDestroyDescriptor(cfgs[i]));
        }
    }
    for (int64_t i = got; i < n_cfg; i++) cudnnCheck(cudnnBackendDestroyDescriptor(cfgs[i]));
    free(cfgs);
    cudnnCheck(cudnnBackendGetAttribute(k->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                        CUDNN_TYPE_INT64, 1, &cnt, &k->ws_bytes));
    if (k->handle) sdpa_cache_store(&st->cache, key, k->plan, k->engine);
    k->build_ms = host_seconds() * 1e3 - t0;
}

// One execution of plan p on the backend's current stream; bias NULL without rel-pos, ws the
// plan's workspace (NULL when it needs none). scale is read by value during the call.
static void execute(CudaBackend *bk, SdpaState *st, const SdpaPlan *p, const void *q,
                    const void *k, const void *v, void *o, const void *bias, float scale, void *ws) {
    void *ptrs[6] = {(void *)q, (void *)k, (void *)v, o, &scale, (void *)bias};
    int64_t uids[6] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_BIAS};
    int n = p->bias ? 6 : 5;
    cudnnBackendDescriptor_t vp;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp));
    SET(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
    SET(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
    SET(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    cudnnCheck(cudnnBackendFinalize(vp));
    // The backend's current stream (a lane may have replaced the main one since), on the
    // handle the plan was built with.
    cudnnCheck(cudnnSetStream(p->handle, bk->stream));
    cudnnCheck(cudnnBackendExecute(p->handle, p->plan, vp));
    cudnnCheck(cudnnBackendDestroyDescriptor(vp));
}

// Elements a (dims, strides) tensor spans, last stride 1.
static int64_t span(int64_t b, int64_t h, int64_t s, int64_t d, const int64_t st[3]) {
    return (b - 1) * st[0] + (h - 1) * st[1] + (s - 1) * st[2] + d;
}

// The warm-up execution of a new plan on whatever the operations' workspace holds (every tensor
// on the same bytes; the result is dropped): a plan's first execution may load or set up its
// kernel, which must not happen in the graph capture that follows the planning pass.
static void warm_up(Exec *x, CudaBackend *bk, SdpaState *st, const SdpaPlan *p) {
    int64_t e = span(p->b, p->h, p->sq, p->d, p->qs);
    int64_t ek = span(p->b, p->h, p->skv, p->d, p->ks), ev = span(p->b, p->h, p->skv, p->d, p->vs);
    int64_t eo = span(p->b, p->h, p->sq, p->d, p->os);
    int64_t eb = p->bias ? (int64_t)p->b * p->h * p->sq * p->bias_pitch * (p->bias == 2 ? 2 : 1) : 0;
    e = e > ek ? e : ek, e = e > ev ? e : ev, e = e > eo ? e : eo, e = e > eb ? e : eb;
    size_t data = round_up((size_t)e * 2, 256);
    char *buf = (char *)cuda_workspace(x, data + round_up((size_t)p->ws_bytes, 256));
    execute(bk, st, p, buf, buf, buf, buf, p->bias ? buf : NULL, 1.0f, p->ws_bytes ? buf + data : NULL);
    LAUNCH_CHECK(x, "sdpa plan warm-up");
}

// The plan of shape key, made on first use (never inside a capture). defer (the planning
// pass): a new plan is only recorded, to be built with the pass's others by sdpa_flush;
// otherwise it is built here on the main handle, and a pending one is flushed first.
static SdpaPlan *get_plan(Exec *x, CudaBackend *bk, const SdpaPlan *key, int defer) {
    SdpaState *st = sdpa_state(bk);
    SdpaPlan *found = NULL;
    for (int i = 0; i < st->n && !found; i++)
        if (same_key(st->plans[i], key)) found = st->plans[i];
    if (found && (!found->pending || defer)) return found;
    if (bk->capturing) {
        char shape[512];
        shape_str(shape, sizeof shape, key);
        die("internal: cuda sdpa: the cuDNN plan of %s would be built inside a graph capture (the "
            "planning pass builds every plan through workspace_bytes)", shape);
    }
    if (found) {  // pending, and needed now
        bk->sdpa_flush(x);
        return found;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 16;
        st->plans = (SdpaPlan **)xrealloc(st->plans, sizeof(SdpaPlan *) * (size_t)st->cap);
    }
    SdpaPlan *p = (SdpaPlan *)xmalloc(sizeof *p);
    *p = *key;
    p->n_keep = 0;
    p->plan = NULL;
    p->handle = st->handle;
    p->pending = defer;
    st->plans[st->n++] = p;
    if (defer) {
        st->n_pending++;
        return p;
    }
    build_plan(st, p);
    warm_up(x, bk, st, p);
    return p;
}

// The builders: each thread takes the next pending plan until none is left, on its own handle
// (made by the thread on first use, on the backend's device).
typedef struct {
    SdpaState *st;
    SdpaPlan **jobs;
    int n_jobs, device;
    int next;  // the next job (atomic)
} SdpaBuild;

typedef struct {
    SdpaBuild *b;
    int index;
} SdpaBuilder;

static void *builder_main(void *arg) {
    SdpaBuilder *me = (SdpaBuilder *)arg;
    SdpaBuild *b = me->b;
    cudaCheck(cudaSetDevice(b->device));
    cudnnHandle_t *h = &b->st->builders[me->index];
    if (!*h) cudnnCheck(cudnnCreate(h));
    for (;;) {
        int j = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
        if (j >= b->n_jobs) break;
        b->jobs[j]->handle = *h;
        build_plan(b->st, b->jobs[j]);
    }
    return NULL;
}

// Builds every pending plan, then warms each up in order on the main thread; a plan whose
// workspace is over the one it was planned with is refused by name. Called at the end of each
// planning pass (cuda_reserve_workspace) and by get_plan when a pending plan is needed at once.
static void sdpa_flush(Exec *x) {
    CudaBackend *bk = cuda_backend(x);
    SdpaState *st = (SdpaState *)bk->sdpa;
    if (!st || st->n_pending == 0) return;
    if (bk->capturing) die("internal: cuda sdpa: %d plans would be built inside a graph capture", st->n_pending);
    SdpaBuild b;
    memset(&b, 0, sizeof b);
    b.st = st;
    b.device = bk->device;
    b.jobs = (SdpaPlan **)xmalloc(sizeof(SdpaPlan *) * (size_t)st->n_pending);
    for (int i = 0; i < st->n; i++)
        if (st->plans[i]->pending) b.jobs[b.n_jobs++] = st->plans[i];
    int threads = b.n_jobs < SDPA_BUILDERS ? b.n_jobs : SDPA_BUILDERS;
    SdpaBuilder who[SDPA_BUILDERS];
    pthread_t tid[SDPA_BUILDERS];
    for (int i = 0; i < threads; i++) {
        who[i].b = &b, who[i].index = i;
        if (pthread_create(&tid[i], NULL, builder_main, &who[i]) != 0)
            die("cuda sdpa: pthread_create for plan builder %d of %d failed", i + 1, threads);
    }
    for (int i = 0; i < threads; i++)
        if (pthread_join(tid[i], NULL) != 0) die("cuda sdpa: pthread_join of plan builder %d failed", i + 1);
    for (int i = 0; i < b.n_jobs; i++) {
        SdpaPlan *p = b.jobs[i];
        if ((size_t)p->ws_bytes > SDPA_PENDING_WS) {
            char shape[512];
            shape_str(shape, sizeof shape, p);
            die("cuda sdpa: cuDNN's plan for %s needs %lld bytes of workspace, over the %zu planned "
                "while it was pending (SDPA_PENDING_WS)", shape, (long long)p->ws_bytes, SDPA_PENDING_WS);
        }
        p->pending = 0;
        warm_up(x, bk, st, p);
    }
    st->n_pending = 0;
    free(b.jobs);
}

// =============================================================================================
// the attention call
// =============================================================================================


// How a call is cut: n_chunks chunks of `chunk` whole sequences each, so one plan serves them
// all, with the bias and the rel-pos products of one chunk in the workspace. Chunk i starts at
// sequence min(i chunk, batch - chunk): where chunk does not divide the batch (the decoder's
// buckets) the last chunk ends at the batch's end, overlapping the one before it.
typedef struct {
    int rel, chunk, n_chunks;  // rel: the bias kind (plan key): 0 none, 1 bf16, 2 f32
    int64_t pitch;         // bias row: k_len padded to 8 elements (16-byte rows)
    int rel_h_n, rel_n;    // Rh rows, Rh + Rw rows
    int64_t rel_ld;        // [RH | RW] row: rel_n padded to 8
    size_t bias_bytes, rel_bytes;  // of a full chunk, 256-aligned; rel_bytes ends with pad_bytes:
    size_t pad_bytes;              // [Rh; Rw] as rel_ld rows of head_dim, the last ones zero
} SdpaChunks;

static SdpaChunks sdpa_chunks_cap(size_t cap, const AttnParams *p, int bias_f32) {
    SdpaChunks c;
    memset(&c, 0, sizeof c);
    c.rel = p->rel_pos == NULL ? 0 : bias_f32 ? 2 : 1;
    const size_t esize = bias_f32 ? 4 : 2;
    c.chunk = p->batch, c.n_chunks = 1;
    if (!c.rel) {
        // The decoder's attentions (no bias): their batch is an image's prompt count, new with
        // almost every image, and each new batch was a new plan (3 per count; a 16-image eval of
        // sam-sdpa vit_h built 30 plans, 27 of them the decoder's for 9 prompt counts, and its
        // first mask took 2.12 s against fused's 1.41: session 11 call 2). So the
        // batch is cut into chunks of a bucket size, the largest power of SDPA_DECODER_BUCKET
        // not above it, the last chunk ending at the batch's end (overlapping the one before
        // it, whose sequences it computes again to the same values): a plan per bucket, at most
        // 3 per attention for up to 63 prompts, for 1 + 2 more executions at most per bucket.
        int size = 1;
        while ((int64_t)size * SDPA_DECODER_BUCKET <= p->batch) size *= SDPA_DECODER_BUCKET;
        c.chunk = size;
        c.n_chunks = (p->batch + size - 1) / size;
        return c;
    }
    int L = p->q_len;
    c.pitch = (int64_t)round_up((size_t)p->k_len, 8);
    c.rel_h_n = 2 * p->grid_h - 1;
    c.rel_n = c.rel_h_n + 2 * p->grid_w - 1;
    c.rel_ld = (int64_t)round_up((size_t)c.rel_n, 8);
    size_t per_seq = (size_t)p->heads * L * ((size_t)c.pitch * esize + (size_t)c.rel_ld * 2);
    size_t fit = cap / per_seq;
    if (fit < 1) fit = 1;  // one sequence is the least a chunk holds
    // The largest divisor of the batch that fits: every chunk the same, one plan (3 + 3 + 2
    // images made 2 global plans for vit_h at batch 8; 2 + 2 + 2 + 2 make 1, with less bias).
    int chunk = fit < (size_t)p->batch ? (int)fit : p->batch;
    while (p->batch % chunk) chunk--;
    c.n_chunks = p->batch / chunk;
    c.chunk = chunk;
    c.bias_bytes = round_up((size_t)c.chunk * p->heads * L * (size_t)c.pitch * esize, 256);
    c.pad_bytes = round_up((size_t)c.rel_ld * p->head_dim * 2, 256);
    c.rel_bytes = round_up((size_t)c.chunk * p->heads * L * (size_t)c.rel_ld * 2, 256) + c.pad_bytes;
    return c;
}

static SdpaChunks sdpa_chunks(const CudaBackend *bk, const AttnParams *p) {
    const SdpaState *st = (const SdpaState *)bk->sdpa;
    return sdpa_chunks_cap(bk->attn_ws_cap, p, st && st->bias_f32);
}

static void plan_key(SdpaPlan *k, const AttnParams *p, int batch, const SdpaChunks *c) {
    memset(k, 0, sizeof *k);
    k->b = batch, k->h = p->heads, k->sq = p->q_len, k->skv = p->k_len, k->d = p->head_dim;
    k->bias = c->rel, k->bias_pitch = c->rel ? c->pitch : 0;
    const int64_t s[4][3] = {{p->q_batch_stride, p->q_head_stride, p->q_tok_stride},
                             {p->k_batch_stride, p->k_head_stride, p->k_tok_stride},
                             {p->v_batch_stride, p->v_head_stride, p->v_tok_stride},
                             {p->o_batch_stride, p->o_head_stride, p->o_tok_stride}};
    memcpy(k->qs, s[0], sizeof k->qs), memcpy(k->ks, s[1], sizeof k->ks);
    memcpy(k->vs, s[2], sizeof k->vs), memcpy(k->os, s[3], sizeof k->os);
}

// What this implementation serves, refused by name otherwise: bf16, head dims multiples of 8
// (cuDNN's), 16-byte aligned rows (the tensors' declared alignment), rel-pos as the encoder's.
static void sdpa_validate(Exec *x, const AttnParams *p, int check_ptrs) {
    if (!is_bf16(x)) die("cuda sdpa: cuDNN attention serves bfloat16 activations only (table %s)", x->ops->name);
    if (p->k_len <= 0 || p->head_dim <= 0)
        die("cuda sdpa: k_len %d and head_dim %d must be positive", p->k_len, p->head_dim);
    if (p->head_dim % 8 != 0 || p->head_dim > 256)
        die("cuda sdpa: head_dim %d is not served by cuDNN's fused attention (a multiple of 8, at most 256)",
            p->head_dim);
    const int64_t st[] = {p->q_batch_stride, p->q_head_stride, p->q_tok_stride, p->k_batch_stride,
                          p->k_head_stride, p->k_tok_stride, p->v_batch_stride, p->v_head_stride,
                          p->v_tok_stride, p->o_batch_stride, p->o_head_stride, p->o_tok_stride};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        if (st[i] % 8 != 0)
            die("cuda sdpa: stride %lld (q, k, v, o batch/head/token strides, %zu-th) is not a multiple "
                "of 8 elements: the cuDNN tensors are declared 16-byte aligned", (long long)st[i], i);
    if (check_ptrs && !(aligned16(p->q) && aligned16(p->k) && aligned16(p->v) && aligned16(p->o)))
        die("cuda sdpa: q %p, k %p, v %p, o %p must be 16-byte aligned", p->q, p->k, p->v, p->o);
    if (p->rel_pos) {
        if (p->q_len != p->k_len || p->q_len != p->grid_h * p->grid_w)
            die("cuda sdpa: rel-pos needs q_len == k_len == grid_h * grid_w (got %d, %d, %dx%d)",
                p->q_len, p->k_len, p->grid_h, p->grid_w);
        if (p->grid_h > BIAS_MAX_GRID || p->grid_w > BIAS_MAX_GRID)
            die("cuda sdpa: a rel-pos grid of %dx%d is over the bias kernel's %d per side",
                p->grid_h, p->grid_w, BIAS_MAX_GRID);
    }
}

// Steps 1 and 2 for the chunk of sequences s0 .. s0 + ns - 1: the rel-pos products into rel
// (heads, ns, L) rows, then the bias (ns, heads, L, pitch).
static void make_bias(Exec *x, const AttnParams *p, const SdpaChunks *c, int s0, int ns,
                      void *bias, bf16 *rel) {
    CudaBackend *bk = cuda_backend(x);
    const int L = p->q_len, h = p->heads, hd = p->head_dim;
    const bf16 *q = (const bf16 *)p->q + s0 * p->q_batch_stride;
    // The products' B: the model's [Rh; Rw] (rel_n rows) copied into rel_ld rows, the last
    // rel_ld - rel_n zero, so that N = rel_ld is a multiple of 8: with N = rel_n (254 for the
    // 64 x 64 grid) cuBLAS took a 2-element-aligned sm80 kernel, 90 us for one vit_b chunk's
    // 3.2 GFLOP (session 10 call 2's ncu).
    bf16 *rel_b = (bf16 *)((char *)rel + c->rel_bytes - c->pad_bytes);
    cudaCheck(cudaMemcpyAsync(rel_b, p->rel_pos, (size_t)c->rel_n * hd * 2, cudaMemcpyDeviceToDevice,
                              bk->stream));
    if (c->rel_ld > c->rel_n)
        cudaCheck(cudaMemsetAsync(rel_b + (size_t)c->rel_n * hd, 0, (size_t)(c->rel_ld - c->rel_n) * hd * 2,
                                  bk->stream));
    // 1. [RH | RW] rows (h, s, q) = q [Rh; Rw]^T: one strided batch over heads, each a tall
    // product over the chunk's sequences when they are consecutive token rows (the encoder's).
    int64_t rel_hs = (int64_t)ns * L * c->rel_ld;  // rel's head stride
    const int n = (int)c->rel_ld;
    if (p->q_batch_stride == (int64_t)L * p->q_tok_stride) {
        cuda_gemm(x, 0, 1, ns * L, n, hd, 1.0f, q, p->q_tok_stride, p->q_head_stride,
                  rel_b, hd, 0, 0.0f, rel, c->rel_ld, rel_hs, h, 1, 1);
    } else {
        for (int s = 0; s < ns; s++)
            cuda_gemm(x, 0, 1, L, n, hd, 1.0f, q + s * p->q_batch_stride, p->q_tok_stride,
                      p->q_head_stride, rel_b, hd, 0, 0.0f, rel + (int64_t)s * L * c->rel_ld,
                      c->rel_ld, rel_hs, h, 1, 1);
    }
    // 2. the bias rows (s, h, q)
    int64_t rows = (int64_t)ns * h * L;
    int groups = (int)(c->pitch / 8), tpr = 1;
    while (tpr < groups && tpr < BIAS_BLOCK) tpr *= 2;
    int64_t blocks = (rows + BIAS_ROWS - 1) / BIAS_ROWS;
    if (blocks > 0x7fffffff) die("cuda sdpa: %lld bias rows in one chunk", (long long)rows);
    if (c->rel == 2)
        relpos_bias<1><<<(unsigned)blocks, BIAS_BLOCK, 0, bk->stream>>>(
            bias, rel, rows, h, ns, L, (int)c->pitch, (int)c->rel_ld, p->grid_h, p->grid_w, tpr);
    else
        relpos_bias<0><<<(unsigned)blocks, BIAS_BLOCK, 0, bk->stream>>>(
            bias, rel, rows, h, ns, L, (int)c->pitch, (int)c->rel_ld, p->grid_h, p->grid_w, tpr);
    LAUNCH_CHECK(x, "sdpa rel-pos bias");
}

// The chunks' plan, made on first use (defer: recorded for sdpa_flush), and its cuDNN workspace
// (a pending plan's: SDPA_PENDING_WS).
static size_t chunk_plan(Exec *x, const AttnParams *p, const SdpaChunks *c, SdpaPlan **plan, int defer) {
    SdpaPlan key;
    plan_key(&key, p, c->chunk, c);
    *plan = get_plan(x, cuda_backend(x), &key, defer);
    return (*plan)->pending ? SDPA_PENDING_WS : (size_t)(*plan)->ws_bytes;
}
// The first sequence of chunk i.
static int chunk_start(const AttnParams *p, const SdpaChunks *c, int i) {
    int s0 = i * c->chunk;
    return s0 < p->batch - c->chunk ? s0 : p->batch - c->chunk;
}

static size_t sdpa_workspace_bytes(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return 0;
    sdpa_validate(x, p, 0);
    SdpaChunks c = sdpa_chunks(cuda_backend(x), p);
    SdpaPlan *plan;
    size_t ws = chunk_plan(x, p, &c, &plan, x->planning);
    return c.bias_bytes + c.rel_bytes + round_up(ws, 256);
}

// Overlapping chunks compute some sequences twice: the output must not be an input, or the
// second computation would read what the first wrote.
// One past the last bfloat16 of a (batch, len, heads, head_dim) tensor at base with these strides.
static const char *sdpa_span_end(const void *base, const AttnParams *p, int len, int64_t bs, int64_t ts,
                                 int64_t hs) {
    return (const char *)base +
           ((int64_t)(p->batch - 1) * bs + (int64_t)(len - 1) * ts + (int64_t)(p->heads - 1) * hs + p->head_dim) * 2;
}
static void sdpa_check_no_alias(const AttnParams *p, int chunk) {
    const char *o0 = (const char *)p->o;
    const char *o1 = sdpa_span_end(p->o, p, p->q_len, p->o_batch_stride, p->o_tok_stride, p->o_head_stride);
    const void *in[3] = {p->q, p->k, p->v};
    const int64_t bs[3] = {p->q_batch_stride, p->k_batch_stride, p->v_batch_stride};
    const int64_t ts[3] = {p->q_tok_stride, p->k_tok_stride, p->v_tok_stride};
    const int64_t hs[3] = {p->q_head_stride, p->k_head_stride, p->v_head_stride};
    for (int i = 0; i < 3; i++) {
        const char *a0 = (const char *)in[i];
        const char *a1 = sdpa_span_end(in[i], p, i == 0 ? p->q_len : p->k_len, bs[i], ts[i], hs[i]);
        if (a0 < o1 && o0 < a1)
            die("cuda sdpa: the output overlaps %s: a batch of %d is run in overlapping chunks of %d, "
                "which needs o apart from q, k and v", i == 0 ? "q" : i == 1 ? "k" : "v", p->batch, chunk);
    }
}

static void sdpa_run(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    sdpa_validate(x, p, 1);
    CudaBackend *bk = cuda_backend(x);
    SdpaState *st = sdpa_state(bk);
    SdpaChunks c = sdpa_chunks(bk, p);
    SdpaPlan *plan;
    size_t ws = chunk_plan(x, p, &c, &plan, 0);
    char *base = (char *)cuda_workspace(x, c.bias_bytes + c.rel_bytes + round_up(ws, 256));
    void *bias = base;
    bf16 *rel = (bf16 *)(base + c.bias_bytes);
    void *cws = ws ? base + c.bias_bytes + c.rel_bytes : NULL;
    float scale = p->scale;  // by value: read by cudnnBackendExecute (kernel parameters)
    if (c.n_chunks * c.chunk > p->batch) sdpa_check_no_alias(p, c.chunk);
    for (int ci = 0; ci < c.n_chunks; ci++) {
        int s0 = chunk_start(p, &c, ci);
        const bf16 *q = (const bf16 *)p->q + s0 * p->q_batch_stride;
        if (c.rel) make_bias(x, p, &c, s0, c.chunk, bias, rel);
        // 3. o = softmax(scale q k^T + bias) v through the plan
        execute(bk, st, plan, q, (const bf16 *)p->k + s0 * p->k_batch_stride,
                (const bf16 *)p->v + s0 * p->v_batch_stride, (bf16 *)p->o + s0 * p->o_batch_stride,
                c.rel ? bias : NULL, scale, cws);
        LAUNCH_CHECK(x, "sdpa cudnnBackendExecute");
    }
}

// ---- test and report aids (cuda_ops.h) --------------------------------------------------------
// The deviceless check (no GPU needed): an SdpaState with a device described in JSON, no
// handle; heuristics only. One per process, made on first use.
extern "C" int cuda_sdpa_check_deviceless(const char *devprop_json, const AttnParams *p, char *msg,
                                          size_t len) {
    static SdpaState st;
    if (!st.devprop) {
        cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &st.devprop));
        SET(st.devprop, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
            (int64_t)strlen(devprop_json), devprop_json);
        cudnnCheck(cudnnBackendFinalize(st.devprop));
        st.heuristics_only = 1;
    }
    SdpaChunks c = sdpa_chunks_cap(CUDA_ATTN_WORKSPACE_DEFAULT, p, 0);
    SdpaPlan k;
    plan_key(&k, p, c.chunk, &c);
    k.n_keep = 0;
    build_plan(&st, &k);
    for (int j = 0; j < k.n_keep; j++) cudnnCheck(cudnnBackendDestroyDescriptor(k.keep[j]));
    char shape[512];
    shape_str(shape, sizeof shape, &k);
    snprintf(msg, len, "%s: %d engine configurations", shape, k.configs);
    return k.configs;
}

// The plan cache's state for cuda_sdpa_aot: made by the first call (before any thread).
static SdpaState aot;
static cudnnHandle_t aot_handles[CUDA_SDPA_AOT_THREADS];

extern "C" int cuda_sdpa_aot(const char *key, const char *dir, int thread, char *msg, size_t len) {
    if (thread < 0 || thread >= CUDA_SDPA_AOT_THREADS)
        die("cuda sdpa aot: thread %d is outside 0..%d", thread, CUDA_SDPA_AOT_THREADS - 1);
    SdpaPlan k;
    if (!parse_key_line(key, &k)) {  // before the GPU is touched
        snprintf(msg, len, "not a plan key: '%s'", key);
        return -1;
    }
    if (!aot.cache.device[0]) {
        // GPU 0, named by the cache as the stages' backend names its GPU: the entries are the
        // ones a stage on it looks for.
        cudaDeviceProp prop;
        cudaCheck(cudaGetDeviceProperties(&prop, 0));
        sdpa_cache_open(&aot.cache, &prop, dir);
    }
    if (!aot_handles[thread]) {
        cudaCheck(cudaSetDevice(0));
        cudnnCheck(cudnnCreate(&aot_handles[thread]));
    }
    k.handle = aot_handles[thread];
    build_plan(&aot, &k);
    char line[512], shape[512], path[1400];
    key_line(line, sizeof line, &k);
    sdpa_cache_path(&aot.cache, line, path, sizeof path);
    shape_str(shape, sizeof shape, &k);
    snprintf(msg, len, "%s: engine %lld, %s in %.0f ms: %s", shape, (long long)k.engine,
             k.cached ? "in the cache already (deserialised)" : "compiled", k.build_ms, path);
    cudnnCheck(cudnnBackendDestroyDescriptor(k.plan));
    for (int j = 0; j < k.n_keep; j++) cudnnCheck(cudnnBackendDestroyDescriptor(k.keep[j]));
    return k.cached;
}

extern "C" int cuda_sdpa_set_bias_f32(CudaBackend *b, int on) {
    SdpaState *st = sdpa_state(b);
    int was = st->bias_f32;
    if (on >= 0) st->bias_f32 = on != 0;
    return was;
}

extern "C" void cuda_sdpa_bias_only(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0 || !p->rel_pos) return;
    sdpa_validate(x, p, 1);
    SdpaChunks c = sdpa_chunks(cuda_backend(x), p);
    char *base = (char *)cuda_workspace(x, c.bias_bytes + c.rel_bytes);
    for (int ci = 0; ci < c.n_chunks; ci++)
        make_bias(x, p, &c, chunk_start(p, &c, ci), c.chunk, base, (bf16 *)(base + c.bias_bytes));
}

extern "C" int cuda_sdpa_plans(CudaBackend *b, char *buf, size_t len) {
    SdpaState *st = (SdpaState *)b->sdpa;
    size_t o = 0;
    if (len) buf[0] = 0;
    if (!st) return 0;
    for (int i = 0; i < st->n && o < len; i++) {
        const SdpaPlan *p = st->plans[i];
        char shape[512];
        shape_str(shape, sizeof shape, p);
        int w = p->cached
                    ? snprintf(buf + o, len - o,
                               "%s: engine %lld (from the plan cache), workspace %lld bytes, loaded in %.1f ms\n",
                               shape, (long long)p->engine, (long long)p->ws_bytes, p->build_ms)
                    : snprintf(buf + o, len - o,
                               "%s: engine %lld (configuration %d of %d), workspace %lld bytes, built in %.1f ms\n",
                               shape, (long long)p->engine, p->tried, p->configs, (long long)p->ws_bytes,
                               p->build_ms);
        if (w < 0) break;
        o += (size_t)w;
    }
    return st->n;
}

extern "C" const AttentionImpl cuda_attention_cudnn_sdpa = {
    "cudnn-sdpa",                         // name
    "cuda",                               // backend
    (1u << DT_BF16),                      // dtypes
    sdpa_run,                             // run
    sdpa_workspace_bytes,                 // workspace_bytes
};
