// The CUDA backend: device selection and refusal, the stream, cuBLAS, tracked device memory
// and its peak, host <-> device copies (downloads converting bfloat16 to float32; the weights'
// uploads are upload.cu's), timing events and NVTX ranges.
#include <dlfcn.h>
#include <nvtx3/nvToolsExt.h>
#include <string.h>

#include "cuda_common.cuh"

#define CUBLAS_WORKSPACE_BYTES (32u << 20)  // cuBLAS's recommendation for Hopper

// bfloat16 bits to float32 on the host (download_act); the upload's rounding is upload.cu's.
static float bf16_bits_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// ---- backend lifetime -------------------------------------------------------------------
extern "C" CudaBackend *cuda_backend_open(const char *stage_name) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        die("stage %s needs a CUDA GPU: %s", stage_name,
            e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
    CudaBackend *b = (CudaBackend *)xcalloc(1, sizeof *b);
    b->device = 0;
    cudaCheck(cudaSetDevice(b->device));
    cudaCheck(cudaGetDeviceProperties(&b->prop, b->device));
    if (b->prop.major < 8)
        die("stage %s needs compute capability 8.0 or newer (Ampere, Hopper); %s is %d.%d",
            stage_name, b->prop.name, b->prop.major, b->prop.minor);
    cudaCheck(cudaStreamCreate(&b->stream));
    cudaCheck(cudaEventCreate(&b->t_begin));
    cudaCheck(cudaEventCreate(&b->t_end));
    cublasCheck(cublasCreate(&b->cublas));
    // Stream first: cublasSetStream resets the workspace to cuBLAS's own pool.
    cublasCheck(cublasSetStream(b->cublas, b->stream));
    b->cublas_ws_bytes = CUBLAS_WORKSPACE_BYTES;
    b->cublas_ws = cuda_dev_alloc(b, b->cublas_ws_bytes);
    cublasCheck(cublasSetWorkspace(b->cublas, b->cublas_ws, b->cublas_ws_bytes));
    // DEFAULT_MATH: float32 GEMMs compute in float32; TF32 is used only when asked for
    // (CUBLAS_TF32_TENSOR_OP_MATH or a *_FAST_TF32 compute type), which nothing here does.
    cublasCheck(cublasSetMathMode(b->cublas, CUBLAS_DEFAULT_MATH));
    cublasCheck(cublasLtCreate(&b->lt));
    b->n_lanes = 1;
    b->lane = 0;
    b->attn_ws_cap = CUDA_ATTN_WORKSPACE_DEFAULT;
    const char *s = getenv("SAM_CUDA_SYNC");
    b->sync_each_launch = s && strcmp(s, "1") == 0;
    const char *r = getenv("SAM_LOAD_REPORT");
    b->load_report = r && strcmp(r, "1") == 0;
    return b;
}

extern "C" void cuda_backend_close(CudaBackend *b) {
    if (!b) return;
    cuda_set_lane_b(b, 0);
    // The cuDNN handle goes first: it may still be set to a lane's stream.
    cudaCheck(cudaDeviceSynchronize());
    cuda_upload_release(b);
    if (b->load_report)
        fprintf(stderr, "sam: cuBLASLt plans: %d made in %.3f s of host time\n", b->n_lt_plans, b->lt_plan_s);
    if (b->sdpa_release) b->sdpa_release(b);
    for (int i = 1; i < b->n_lanes; i++) {
        CudaLane *l = &b->lanes[i];
        cudaCheck(cudaStreamSynchronize(l->stream));
        if (l->ws) cuda_dev_free(b, l->ws);
        cuda_dev_free(b, l->cublas_ws);
        cublasCheck(cublasDestroy(l->cublas));
        cudaCheck(cudaEventDestroy(l->done));
        cudaCheck(cudaStreamDestroy(l->stream));
    }
    if (b->n_lanes > 1) cudaCheck(cudaEventDestroy(b->fork_event));
    if (b->ws) cuda_dev_free(b, b->ws);
    cuda_dev_free(b, b->cublas_ws);
    cublasCheck(cublasDestroy(b->cublas));
    for (int i = 0; i < b->n_lt_plans; i++) {
        LtPlan *p = &b->lt_plans[i];
        cublasCheck(cublasLtMatrixLayoutDestroy(p->a));
        cublasCheck(cublasLtMatrixLayoutDestroy(p->b));
        cublasCheck(cublasLtMatrixLayoutDestroy(p->c));
        if (p->d) cublasCheck(cublasLtMatrixLayoutDestroy(p->d));
        cublasCheck(cublasLtMatmulDescDestroy(p->op));
    }
    free(b->lt_plans);
    cublasCheck(cublasLtDestroy(b->lt));
    cudaCheck(cudaEventDestroy(b->t_begin));
    cudaCheck(cudaEventDestroy(b->t_end));
    for (int i = 0; i < b->n_marks; i++) cudaCheck(cudaEventDestroy(b->marks[i]));
    free(b->marks);
    cudaCheck(cudaStreamDestroy(b->stream));
    free(b->allocs);
    free(b);
}

extern "C" void cuda_backend_set_attn_workspace(CudaBackend *b, size_t bytes) {
    b->attn_ws_cap = bytes;
}
extern "C" void cuda_backend_set_sync_each_launch(CudaBackend *b, int on) {
    b->sync_each_launch = on;
}

// The NVIDIA driver's version string through NVML, loaded at run time (the driver ships it;
// nothing links against it). "unknown" when NVML cannot be loaded.
static void nvml_driver_version(char *out, size_t len) {
    snprintf(out, len, "unknown");
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    typedef int (*init_fn)(void);
    typedef int (*ver_fn)(char *, unsigned);
    init_fn init = (init_fn)dlsym(h, "nvmlInit_v2");
    ver_fn ver = (ver_fn)dlsym(h, "nvmlSystemGetDriverVersion");
    init_fn shutdown = (init_fn)dlsym(h, "nvmlShutdown");
    char v[96] = {0};
    if (init && ver && shutdown && init() == 0) {
        if (ver(v, sizeof v) == 0) snprintf(out, len, "%s", v);
        shutdown();
    }
    dlclose(h);
}

// src as the inside of a JSON string: '"' and '\\' escaped, control characters as spaces.
static void json_str(char *dst, size_t len, const char *src) {
    size_t o = 0;
    for (const char *s = src; *s && o + 2 < len; s++) {
        if (*s == '"' || *s == '\\') dst[o++] = '\\';
        dst[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    dst[o] = 0;
}

// The cuDNN this process loaded, if any: the executables whose choices call cuDNN (sam-sdpa)
// link it, the others do not, so the symbol is looked up in what is loaded rather than linked.
// `"cudnn":"9.19.0","cudnn_library":"<path>"` with a leading comma, or "" when none is loaded.
static void cudnn_loaded(char *out, size_t len) {
    out[0] = 0;
    void *sym = dlsym(RTLD_DEFAULT, "cudnnGetVersion");
    if (!sym) return;
    size_t v = ((size_t (*)(void))sym)();
    Dl_info info;
    char path[512] = "unknown";
    if (dladdr(sym, &info) && info.dli_fname) json_str(path, sizeof path, info.dli_fname);
    snprintf(out, len, ",\"cudnn\":\"%zu.%zu.%zu\",\"cudnn_library\":\"%s\"", v / 10000,
             v / 100 % 100, v % 100, path);
}

extern "C" void cuda_backend_describe(CudaBackend *b, char *buf, size_t len) {
    int driver = 0, runtime = 0, sm_khz = 0, mem_khz = 0, bus = 0, cublas_ver = 0;
    cudaCheck(cudaDriverGetVersion(&driver));
    cudaCheck(cudaRuntimeGetVersion(&runtime));
    cudaCheck(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, b->device));
    cudaCheck(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, b->device));
    cudaCheck(cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, b->device));
    cublasCheck(cublasGetVersion(b->cublas, &cublas_ver));
    char name[256], drv[96];
    json_str(name, sizeof name, b->prop.name);
    nvml_driver_version(drv, sizeof drv);
    char cudnn[640];
    cudnn_loaded(cudnn, sizeof cudnn);
    snprintf(buf, len,
             "{\"kind\":\"cuda\",\"name\":\"%s\",\"compute_capability\":\"%d.%d\","
             "\"sm_count\":%d,\"memory_mib\":%zu,\"l2_mib\":%.1f,\"sm_clock_mhz\":%d,"
             "\"memory_clock_mhz\":%d,\"memory_bus_bits\":%d,\"driver\":\"%s\","
             "\"cuda_driver\":\"%d.%d\",\"cuda_runtime\":\"%d.%d\",\"cublas\":%d%s}",
             name, b->prop.major, b->prop.minor, b->prop.multiProcessorCount,
             b->prop.totalGlobalMem >> 20, b->prop.l2CacheSize / 1048576.0, sm_khz / 1000,
             mem_khz / 1000, bus, drv, driver / 1000, (driver % 1000) / 10, runtime / 1000,
             (runtime % 1000) / 10, cublas_ver, cudnn);
}

// ---- tracked device memory ----------------------------------------------------------------
extern "C" void *cuda_dev_alloc(CudaBackend *b, size_t bytes) {
    if (b->capturing)
        die("cuda: an allocation of %zu bytes inside a graph capture (the planning pass must size it)", bytes);
    void *p = NULL;
    size_t n = bytes ? bytes : 256;  // never NULL, even for an empty tensor
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        die("cudaMalloc of %zu bytes failed: %s (live through this backend %zu MiB, device "
            "free %zu of %zu MiB)", n, cudaGetErrorString(e), b->live_bytes >> 20, free_b >> 20,
            total_b >> 20);
    }
    if (b->n_allocs == b->cap_allocs) {
        b->cap_allocs = b->cap_allocs ? 2 * b->cap_allocs : 256;
        b->allocs = (CudaAlloc *)xrealloc(b->allocs, (size_t)b->cap_allocs * sizeof *b->allocs);
    }
    b->allocs[b->n_allocs].ptr = p;
    b->allocs[b->n_allocs].bytes = n;
    b->n_allocs++;
    b->live_bytes += n;
    if (b->live_bytes > b->peak_bytes) b->peak_bytes = b->live_bytes;
    return p;
}

extern "C" void cuda_dev_free(CudaBackend *b, void *p) {
    if (!p) return;
    if (b->capturing) die("cuda: a free inside a graph capture");
    for (int i = b->n_allocs - 1; i >= 0; i--) {
        if (b->allocs[i].ptr != p) continue;
        b->live_bytes -= b->allocs[i].bytes;
        b->allocs[i] = b->allocs[--b->n_allocs];
        cudaCheck(cudaFree(p));  // waits for the device: queued work may still use p
        return;
    }
    die("cuda mem_free: %p was not allocated by this backend", p);
}

extern "C" void *cuda_workspace(Exec *x, size_t bytes) {
    CudaBackend *b = cuda_backend(x);
    if (bytes > b->ws_bytes) {
        // Grows rarely (the first calls of a run); cudaFree waits for queued users of the old one.
        if (b->ws) cuda_dev_free(b, b->ws);
        b->ws_bytes = (bytes + 255) & ~(size_t)255;
        b->ws = cuda_dev_alloc(b, b->ws_bytes);
    }
    return b->ws;
}

extern "C" void cuda_launch_check(Exec *x, const char *kernel, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) cuda_check_impl(e, kernel, file, line);
    CudaBackend *b = cuda_backend(x);
    cuda_count_launch(b);
    if (b->sync_each_launch && !b->capturing) cuda_check_impl(cudaStreamSynchronize(b->stream), kernel, file, line);
}

// ---- Ops: memory ----------------------------------------------------------------------------
extern "C" void *cuda_mem_alloc(Exec *x, size_t bytes) { return cuda_dev_alloc(cuda_backend(x), bytes); }
extern "C" void cuda_mem_free(Exec *x, void *p) { cuda_dev_free(cuda_backend(x), p); }

// Host to device. Host buffers here are pageable, so the copy has left the host buffer when
// the call returns (the runtime stages it); the device side is ordered on the stream.
extern "C" void cuda_copy_to_device(Exec *x, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    if (cuda_backend(x)->capturing) die("cuda: a host-to-device copy inside a graph capture");
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream(x)));
}

// Device to host: waits for the queued work and the copy.
extern "C" void cuda_copy_to_host(Exec *x, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    if (cuda_backend(x)->capturing) die("cuda: a device-to-host copy inside a graph capture");
    cudaStream_t s = cuda_stream(x);
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    cudaCheck(cudaStreamSynchronize(s));
}

extern "C" void cuda_copy_device(Exec *x, void *dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream(x)));
    cuda_count_copy(cuda_backend(x));
}

extern "C" void cuda_download_act(Exec *x, float *dst, const void *src, size_t n) {
    if (!is_bf16(x)) {
        cuda_copy_to_host(x, dst, src, n * 4);
        return;
    }
    uint16_t *tmp = (uint16_t *)xmalloc(n * sizeof(uint16_t) + 1);
    cuda_copy_to_host(x, tmp, src, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) dst[i] = bf16_bits_to_f32(tmp[i]);
    free(tmp);
}

extern "C" void cuda_sync(Exec *x) {
    if (cuda_backend(x)->capturing) die("cuda: a synchronisation inside a graph capture");
    cudaCheck(cudaStreamSynchronize(cuda_stream(x)));
}

extern "C" size_t cuda_peak_bytes(Exec *x) { return cuda_backend(x)->peak_bytes; }

// ---- Ops: NVTX ranges (header-only NVTX 3; a profiler attaches through dlopen) ------------
extern "C" void cuda_range_push(Exec *x, const char *name) { nvtxRangePushA(name); }
extern "C" void cuda_range_pop(Exec *x) { nvtxRangePop(); }

// ---- Ops: timing ----------------------------------------------------------------------------
extern "C" void cuda_timer_begin(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    cudaCheck(cudaEventRecord(b->t_begin, b->stream));
}

extern "C" double cuda_timer_end_ms(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    float ms = 0.0f;
    cudaCheck(cudaEventRecord(b->t_end, b->stream));
    cudaCheck(cudaEventSynchronize(b->t_end));
    cudaCheck(cudaEventElapsedTime(&ms, b->t_begin, b->t_end));
    return ms;
}

// Phase marks: events recorded on the stream with no host wait, read after timer_end_ms. The
// events of new slots are created on first use (the warm-up batches), so a timed batch of the
// same size only records.
extern "C" void cuda_timer_mark(Exec *x, int slot) {
    CudaBackend *b = cuda_backend(x);
    if (slot < 0) die("cuda timer_mark: slot %d", slot);
    if (slot >= b->n_marks) {
        int n = slot + 1 > 2 * b->n_marks ? slot + 1 : 2 * b->n_marks;
        b->marks = (cudaEvent_t *)xrealloc(b->marks, sizeof(cudaEvent_t) * (size_t)n);
        for (int i = b->n_marks; i < n; i++) cudaCheck(cudaEventCreate(&b->marks[i]));
        b->n_marks = n;
    }
    cudaCheck(cudaEventRecord(b->marks[slot], b->stream));
}

extern "C" double cuda_timer_mark_ms(Exec *x, int from, int to) {
    CudaBackend *b = cuda_backend(x);
    if (from < 0 || to < 0 || from >= b->n_marks || to >= b->n_marks)
        die("cuda timer_mark_ms: marks %d, %d of %d", from, to, b->n_marks);
    float ms = 0.0f;
    cudaCheck(cudaEventElapsedTime(&ms, b->marks[from], b->marks[to]));
    return ms;
}

// ---- Ops: lanes --------------------------------------------------------------------------------
// The current lane's resources live in the backend's plain fields; switching saves them back.
extern "C" void cuda_set_lane_b(CudaBackend *b, int lane) {
    if (lane < 0 || lane >= b->n_lanes) die("cuda set_lane: lane %d of %d", lane, b->n_lanes);
    if (lane == b->lane) return;
    CudaLane *cur = &b->lanes[b->lane], *next = &b->lanes[lane];
    cur->stream = b->stream, cur->cublas = b->cublas, cur->cublas_ws = b->cublas_ws;
    cur->ws = b->ws, cur->ws_bytes = b->ws_bytes;
    b->stream = next->stream, b->cublas = next->cublas, b->cublas_ws = next->cublas_ws;
    b->ws = next->ws, b->ws_bytes = next->ws_bytes;
    b->lane = lane;
}

extern "C" void cuda_set_lane(Exec *x, int lane) { cuda_set_lane_b(cuda_backend(x), lane); }

extern "C" void cuda_lanes_open(Exec *x, int n) {
    CudaBackend *b = cuda_backend(x);
    if (n < 1 || n > CUDA_MAX_LANES) die("cuda lanes_open: %d lanes (1..%d)", n, CUDA_MAX_LANES);
    if (b->capturing) die("cuda lanes_open inside a graph capture");
    if (n <= b->n_lanes) return;
    if (b->n_lanes == 1) cudaCheck(cudaEventCreateWithFlags(&b->fork_event, cudaEventDisableTiming));
    if (b->lane != 0) cuda_set_lane_b(b, 0);
    b->lanes[0].stream = b->stream;
    for (int i = b->n_lanes; i < n; i++) {
        CudaLane *l = &b->lanes[i];
        memset(l, 0, sizeof *l);
        cudaCheck(cudaStreamCreateWithFlags(&l->stream, cudaStreamNonBlocking));
        cudaCheck(cudaEventCreateWithFlags(&l->done, cudaEventDisableTiming));
        cublasCheck(cublasCreate(&l->cublas));
        cublasCheck(cublasSetStream(l->cublas, l->stream));
        l->cublas_ws = cuda_dev_alloc(b, b->cublas_ws_bytes);
        cublasCheck(cublasSetWorkspace(l->cublas, l->cublas_ws, b->cublas_ws_bytes));
        cublasCheck(cublasSetMathMode(l->cublas, CUBLAS_DEFAULT_MATH));
    }
    b->n_lanes = n;
}

// Every other lane waits for the main lane's work queued so far.
extern "C" void cuda_lanes_fork(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    if (b->lane != 0) die("cuda lanes_fork from lane %d", b->lane);
    cudaCheck(cudaEventRecord(b->fork_event, b->stream));
    for (int i = 1; i < b->n_lanes; i++) cudaCheck(cudaStreamWaitEvent(b->lanes[i].stream, b->fork_event, 0));
    cuda_count_copy(b);
}

// The main lane waits for every other lane's work queued so far.
extern "C" void cuda_lanes_join(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    if (b->lane != 0) die("cuda lanes_join from lane %d", b->lane);
    for (int i = 1; i < b->n_lanes; i++) {
        cudaCheck(cudaEventRecord(b->lanes[i].done, b->lanes[i].stream));
        cudaCheck(cudaStreamWaitEvent(b->stream, b->lanes[i].done, 0));
    }
    cuda_count_copy(b);
}

// ---- Ops: workspace and graphs --------------------------------------------------------------
// The main lane's scratch, and the other lanes' (which run only the work planned for them).
extern "C" int cuda_reserve_workspace(Exec *x, size_t bytes, size_t lane_bytes) {
    CudaBackend *b = cuda_backend(x);
    // The end of a planning pass: the cuDNN plans it asked for are built now, before any
    // capture (their workspaces are in `bytes` already); their warm-up runs may grow the
    // current lane's scratch, which moves it as much as the reservation below does.
    void *ws0 = b->ws;
    if (b->sdpa_flush) b->sdpa_flush(x);
    int home = b->lane, moved = ws0 != NULL && b->ws != ws0;
    for (int i = 0; i < b->n_lanes; i++) {
        cuda_set_lane_b(b, i);
        size_t need = i == 0 ? bytes : lane_bytes;
        void *before = b->ws;
        if (need) moved |= cuda_workspace(x, need) != before && before != NULL;
    }
    cuda_set_lane_b(b, home);
    return moved;
}

// A captured graph: the instantiated executable and the kernel nodes it replays.
typedef struct {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    uint64_t kernels;
} CudaGraph;

// Global capture mode: any call that is unsafe while capturing (a synchronisation, an
// allocation from another thread) fails instead of silently leaving the graph.
extern "C" void cuda_graph_begin(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    if (b->capturing) die("cuda: graph capture begun twice");
    cudaCheck(cudaStreamBeginCapture(b->stream, cudaStreamCaptureModeGlobal));
    b->capturing = 1;
}

extern "C" void *cuda_graph_end(Exec *x) {
    CudaBackend *b = cuda_backend(x);
    if (!b->capturing) die("cuda: graph capture ended without a begin");
    CudaGraph *g = (CudaGraph *)xcalloc(1, sizeof *g);
    cudaCheck(cudaStreamEndCapture(b->stream, &g->graph));
    b->capturing = 0;
    size_t n = 0;
    cudaCheck(cudaGraphGetNodes(g->graph, NULL, &n));
    cudaGraphNode_t *nodes = (cudaGraphNode_t *)xmalloc(sizeof(cudaGraphNode_t) * (n ? n : 1));
    cudaCheck(cudaGraphGetNodes(g->graph, nodes, &n));
    for (size_t i = 0; i < n; i++) {
        cudaGraphNodeType t;
        cudaCheck(cudaGraphNodeGetType(nodes[i], &t));
        g->kernels += t == cudaGraphNodeTypeKernel;
    }
    free(nodes);
    cudaCheck(cudaGraphInstantiate(&g->exec, g->graph, 0));
    return g;
}

extern "C" void cuda_graph_launch(Exec *x, void *graph) {
    CudaBackend *b = cuda_backend(x);
    CudaGraph *g = (CudaGraph *)graph;
    cudaCheck(cudaGraphLaunch(g->exec, b->stream));
    b->host_launches++;
    b->kernels += g->kernels;
    if (b->sync_each_launch) cudaCheck(cudaStreamSynchronize(b->stream));
}

extern "C" void cuda_graph_free(Exec *x, void *graph) {
    CudaGraph *g = (CudaGraph *)graph;
    if (!g) return;
    cudaCheck(cudaGraphExecDestroy(g->exec));
    cudaCheck(cudaGraphDestroy(g->graph));
    free(g);
}

extern "C" void cuda_launch_counts(Exec *x, uint64_t *host_launches, uint64_t *kernels) {
    CudaBackend *b = cuda_backend(x);
    *host_launches = b->host_launches;
    *kernels = b->kernels;
}
