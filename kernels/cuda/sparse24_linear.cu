// The 2:4 sparse linear format (design.md section 2, stage sparse): the encoder blocks' four
// linears, pruned 2:4 at load (variants/core/prune.h), multiplied on Hopper's sparse tensor
// cores through cuSPARSELt (the seed's to_sparse_semi_structured path); bfloat16 only.
//   prepare: checks the 2:4 pattern of the float32 weight on the host (a weight that is not 2:4
//            is refused by name: this format never prunes), converts it to bfloat16 on the
//            device, compresses it once (cusparseLtSpMMACompress2) and checks the compressed
//            pattern on the device as cuSPARSELt reads it (cusparseLtSpMMAPruneCheck2).
//   plan:    (the planning pass, LinearFormat.plan) one cuSPARSELt plan per (layer, rows,
//            epilogue); the algorithm of each shape (rows, out, in, epilogue) is searched once
//            (cusparseLtMatmulSearch, which times every kernel configuration on scratch buffers,
//            never the model's) and reused by every layer of that shape. Never inside a graph
//            capture: a run that meets a shape the planning pass did not see while capturing is
//            refused by name; outside a capture it plans there.
//   run:     D = op(A) op(B) + beta C + bias in one cuSPARSELt call, column-major D (out, rows)
//            being the row-major y (rows, out): the bias in cuSPARSELt's epilogue, the
//            residual as beta = 1 with C = D = y, so y = round(x W^T + b [+ y]) is one bfloat16
//            rounding as the dense format's cuBLASLt path. GELU is the exact erf GELU of
//            nn.GELU, by the dense format's epilogue kernel (cuda_linear_epilogue) after the
//            bias epilogue: cuSPARSELt 0.8.0 refused its GELU epilogue on the H200, which is
//            not documented as the exact erf anyway (tests/gpu/test_sparse24's GELU probe holds
//            the format to the exact one). ReLU (exact) goes in the epilogue.
//            Row counts not a multiple of 16 (one image's windowed qkv has 4900 rows): the
//            multiple of 16 below, then the last rows through a zero-padded 16-row scratch, so
//            every cuSPARSELt call has a row count its size constraints on dense operands
//            (multiples of 8 or 16 by data type and version) accept.
//
// cuSPARSELt is opened with dlopen, not linked: the open hook (cuda_stage_open, before the GPU
// is touched) loads libcusparseLt.so.0 and resolves every function used, so a stage whose
// machine lacks the library stops at once with one line naming it and where it comes from,
// and the other stages never depend on it. The search order is dlopen's: LD_LIBRARY_PATH, then
// the executable's RUNPATH (the Makefile gives sam-sparse and tests/gpu/test_sparse24 the
// PyPI package's folder under build/ and the GPU machine's PyTorch environment), then the
// system's. The library must be at least the version the headers were (0.8.0).
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <time.h>

#include <cusparseLt.h>

#include "cuda_common.cuh"

#define SP24_LIB "libcusparseLt.so.0"
#define SP24_ROW_ALIGN 16  // rows per cuSPARSELt call: a multiple of this; the rest padded

// =============================================================================================
// the library, loaded at run time
// =============================================================================================

#define SP24_FUNCS(X)                                                                          \
    X(cusparseLtInit) X(cusparseLtDestroy) X(cusparseLtGetProperty) X(cusparseLtGetErrorName)  \
    X(cusparseLtGetErrorString) X(cusparseLtDenseDescriptorInit)                              \
    X(cusparseLtStructuredDescriptorInit) X(cusparseLtMatDescriptorDestroy)                    \
    X(cusparseLtMatmulDescriptorInit) X(cusparseLtMatmulDescSetAttribute)                      \
    X(cusparseLtMatmulAlgSelectionInit) X(cusparseLtMatmulAlgSelectionDestroy)                 \
    X(cusparseLtMatmulAlgSetAttribute) X(cusparseLtMatmulAlgGetAttribute)                      \
    X(cusparseLtMatmulGetWorkspace) X(cusparseLtMatmulPlanInit) X(cusparseLtMatmulPlanDestroy) \
    X(cusparseLtMatmul) X(cusparseLtMatmulSearch) X(cusparseLtSpMMACompressedSize2)            \
    X(cusparseLtSpMMACompress2) X(cusparseLtSpMMAPruneCheck2)

// Each function's pointer type, from the header's own prototype.
#define SP24_TYPEDEF(f) typedef __typeof__(&f) sp24_##f##_t;
SP24_FUNCS(SP24_TYPEDEF)
#undef SP24_TYPEDEF

typedef struct {
    void *dl;
    char path[512];  // the file dlopen found
    int major, minor, patch;
#define SP24_DECLARE(f) sp24_##f##_t f;
    SP24_FUNCS(SP24_DECLARE)
#undef SP24_DECLARE
} Sp24Lib;
static Sp24Lib L;

// Loads the library once. Returns 0, or -1 with one line in why.
static int sp24_load(char *why, size_t len) {
    if (L.dl) return 0;
    void *dl = dlopen(SP24_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(why, len, "%s", e ? e : "dlopen failed");
        return -1;
    }
    Sp24Lib l;
    memset(&l, 0, sizeof l);
#define SP24_RESOLVE(f)                                                                        \
    *(void **)&l.f = dlsym(dl, #f);                                                            \
    if (!l.f) {                                                                                \
        snprintf(why, len, "%s has no function %s (older than the %d.%d.%d this was built with?)", \
                 SP24_LIB, #f, CUSPARSELT_VER_MAJOR, CUSPARSELT_VER_MINOR, CUSPARSELT_VER_PATCH); \
        dlclose(dl);                                                                           \
        return -1;                                                                             \
    }
    SP24_FUNCS(SP24_RESOLVE)
#undef SP24_RESOLVE
    struct link_map *lm = NULL;
    if (dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name)
        snprintf(l.path, sizeof l.path, "%s", lm->l_name);
    if (l.cusparseLtGetProperty(MAJOR_VERSION, &l.major) != CUSPARSE_STATUS_SUCCESS ||
        l.cusparseLtGetProperty(MINOR_VERSION, &l.minor) != CUSPARSE_STATUS_SUCCESS ||
        l.cusparseLtGetProperty(PATCH_LEVEL, &l.patch) != CUSPARSE_STATUS_SUCCESS) {
        snprintf(why, len, "%s (%s) does not report its version", SP24_LIB, l.path);
        dlclose(dl);
        return -1;
    }
    int have = l.major * 1000 + l.minor * 100 + l.patch;
    if (l.major != CUSPARSELT_VER_MAJOR || have < CUSPARSELT_VERSION) {
        snprintf(why, len, "%s is cuSPARSELt %d.%d.%d; this was built against %d.%d.%d and needs "
                 "that version or a later 0.x", l.path, l.major, l.minor, l.patch,
                 CUSPARSELT_VER_MAJOR, CUSPARSELT_VER_MINOR, CUSPARSELT_VER_PATCH);
        dlclose(dl);
        return -1;
    }
    l.dl = dl;
    L = l;
    return 0;
}

static void sp24_check_impl(cusparseStatus_t s, const char *call, const char *file, int line) {
    if (s != CUSPARSE_STATUS_SUCCESS) {
        fprintf(stderr, "sam: cuSPARSELt error %s (%s) in %s at %s:%d\n", L.cusparseLtGetErrorName(s),
                L.cusparseLtGetErrorString(s), call, file, line);
        exit(1);
    }
}
#define sp24Check(call) sp24_check_impl((call), #call, __FILE__, __LINE__)

// =============================================================================================
// state: the library handle and the searched algorithms (process-wide), the layers' plans
// =============================================================================================

// The algorithm cuSPARSELt's search chose for a shape, reused by every layer of that shape.
// Kept for the process (a device's fastest configuration does not depend on the handle).
typedef struct {
    int rows, out, in, bias, act, beta_one, layout;  // the key (act: what the epilogue applies)
    int alg_id, alg_max, split_k, split_k_mode, split_k_buffers;
    size_t workspace;
    double search_s;  // host seconds the search took (a load-time cost)
} Sp24Config;

typedef struct {
    cusparseLtHandle_t handle;
    int live;                 // sparse weights alive; the handle is destroyed with the last
    CudaBackend *bk;          // the backend the scratch below belongs to
    void *tail;               // (16, in) + (16, out) bfloat16 scratch for the last rows
    size_t tail_bytes;
    Sp24Config *configs;
    int n_configs, cap_configs;
    int layout;               // 0: PyTorch's (A row-major, B transposed); 1: all column-major
} Sp24Ctx;
static Sp24Ctx C;

// One cuSPARSELt plan: a layer at a row count and epilogue. Every descriptor stays alive and
// in place as long as the plan (cuSPARSELt keeps pointers to them), so plans are allocated
// one by one and never moved.
typedef struct {
    int rows, act, beta_one;
    cusparseLtMatDescriptor_t mb, mc;
    cusparseLtMatmulDescriptor_t mm;
    cusparseLtMatmulAlgSelection_t alg;
    cusparseLtMatmulPlan_t plan;
    size_t workspace;
} Sp24Plan;

typedef struct {
    cusparseLtMatDescriptor_t ma;  // the structured weight, as compressed
    void *Wc;                      // compressed weight (device)
    void *b;                       // (out) bfloat16 bias, or NULL
    Sp24Plan **plans;
    int n_plans, cap_plans;
} Sp24Linear;

static void sp24_ensure_loaded(const char *who) {
    char why[768];
    if (sp24_load(why, sizeof why) != 0)
        die("%s: cuSPARSELt (%s) cannot be loaded: %s. It comes with the PyPI package "
            "nvidia-cusparselt-cu13 (make installs it into build/cusparselt; on the GPU machine "
            "PyTorch's environment has it): put its lib folder on LD_LIBRARY_PATH", who, SP24_LIB, why);
}

static cusparseOperation_t op_a(void) {
    return C.layout == 0 ? CUSPARSE_OPERATION_NON_TRANSPOSE : CUSPARSE_OPERATION_TRANSPOSE;
}
static cusparseOperation_t op_b(void) {
    return C.layout == 0 ? CUSPARSE_OPERATION_TRANSPOSE : CUSPARSE_OPERATION_NON_TRANSPOSE;
}

// =============================================================================================
// prepare / plan / run / release
// =============================================================================================

static void sp24_open(const char *stage_name) {
    char who[160];
    snprintf(who, sizeof who, "stage %s", stage_name);
    sp24_ensure_loaded(who);
}

extern "C" LinearWeight *cuda_sparse24_prepare(Exec *x, const float *W, const float *b, int out,
                                               int in) {
    if (!is_bf16(x)) die("cuda linear format sparse24: only bfloat16 is implemented");
    if (out % 16 || in % 16)
        die("cuda linear format sparse24: cuSPARSELt's 2:4 bfloat16 weights need out and in "
            "multiples of 16; this layer is %d x %d", out, in);
    // The pattern, on the float32 values as the model pruned them: this format never prunes.
    int64_t bad = 0, first_r = -1, first_c = -1;
    for (int64_t r = 0; r < out; r++)
        for (int c = 0; c < in; c += 4) {
            const float *g = W + r * in + c;
            if ((g[0] != 0.0f) + (g[1] != 0.0f) + (g[2] != 0.0f) + (g[3] != 0.0f) > 2) {
                if (!bad) first_r = r, first_c = c;
                bad++;
            }
        }
    if (bad)
        die("cuda linear format sparse24: the weight (%d x %d) is not 2:4 sparse: %lld groups of "
            "4 input columns hold more than 2 non-zeros (the first: row %lld, columns %lld-%lld); "
            "this format needs 2:4-pruned weights (the stage's prune24 choice, or the weights "
            "spec's +prune24)", out, in, (long long)bad, (long long)first_r, (long long)first_c,
            (long long)first_c + 3);
    sp24_ensure_loaded("cuda linear format sparse24");
    CudaBackend *bk = cuda_backend(x);
    if (C.live == 0) {
        sp24Check(L.cusparseLtInit(&C.handle));
        C.bk = bk;
    } else if (C.bk != bk) {
        die("cuda linear format sparse24: weights of two backends at once are not supported");
    }
    C.live++;

    LinearWeight *lw = (LinearWeight *)xcalloc(1, sizeof *lw);
    Sp24Linear *sl = (Sp24Linear *)xcalloc(1, sizeof *sl);
    lw->out_features = out;
    lw->in_features = in;
    lw->impl = sl;
    // A: W (out, in) row-major, as layout 0 states it (row-major out x in, op N) or layout 1
    // (column-major in x out, op T): the same bytes, 2:4 along in either way.
    if (C.layout == 0)
        sp24Check(L.cusparseLtStructuredDescriptorInit(&C.handle, &sl->ma, out, in, in, 16, CUDA_R_16BF,
                                                       CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT));
    else
        sp24Check(L.cusparseLtStructuredDescriptorInit(&C.handle, &sl->ma, in, out, in, 16, CUDA_R_16BF,
                                                       CUSPARSE_ORDER_COL, CUSPARSELT_SPARSITY_50_PERCENT));
    void *dense = cuda_dev_alloc(bk, (size_t)out * in * 2);
    cuda_upload(x, dense, W, (size_t)out * in, 1);
    int *valid = (int *)cuda_dev_alloc(bk, sizeof(int));
    cudaCheck(cudaMemsetAsync(valid, 0, sizeof(int), cuda_stream(x)));
    sp24Check(L.cusparseLtSpMMAPruneCheck2(&C.handle, &sl->ma, 1, op_a(), dense, valid, cuda_stream(x)));
    size_t csize = 0, cbuf = 0;
    sp24Check(L.cusparseLtSpMMACompressedSize2(&C.handle, &sl->ma, &csize, &cbuf));
    sl->Wc = cuda_dev_alloc(bk, csize);
    void *scratch = cbuf ? cuda_dev_alloc(bk, cbuf) : NULL;
    sp24Check(L.cusparseLtSpMMACompress2(&C.handle, &sl->ma, 1, op_a(), dense, sl->Wc, scratch, cuda_stream(x)));
    int h_valid = -1;
    cudaCheck(cudaMemcpyAsync(&h_valid, valid, sizeof(int), cudaMemcpyDeviceToHost, cuda_stream(x)));
    cudaCheck(cudaStreamSynchronize(cuda_stream(x)));
    if (h_valid != 0)
        die("cuda linear format sparse24: cuSPARSELt does not read the weight (%d x %d) as 2:4 "
            "sparse although every group of 4 input columns holds at most 2 non-zeros (layout %d: "
            "the descriptor's order or operation is wrong)", out, in, C.layout);
    cuda_dev_free(bk, dense);
    cuda_dev_free(bk, valid);
    if (scratch) cuda_dev_free(bk, scratch);
    if (b) {
        sl->b = cuda_dev_alloc(bk, (size_t)out * 2);
        cuda_upload(x, sl->b, b, (size_t)out, 1);
    }
    // The last rows' scratch, sized for the largest layer (at load, never in a capture).
    size_t tail = (size_t)SP24_ROW_ALIGN * (in + out) * 2;
    if (tail > C.tail_bytes) {
        if (C.tail) cuda_dev_free(bk, C.tail);
        C.tail = cuda_dev_alloc(bk, tail);
        C.tail_bytes = tail;
    }
    return lw;
}

// What cuSPARSELt's epilogue applies for a requested activation: ReLU (exact); never GELU, which
// is not documented as nn.GELU's exact erf and which cuSPARSELt 0.8.0 refused for this layer on
// the H200 (CUSPARSE_STATUS_INVALID_VALUE): GELU is our kernel after the bias epilogue.
static int epilogue_act(Act act) { return act == ACT_RELU ? ACT_RELU : ACT_NONE; }

static const Sp24Config *find_config(int rows, int out, int in, int bias, int act, int beta_one) {
    for (int i = 0; i < C.n_configs; i++) {
        const Sp24Config *c = &C.configs[i];
        if (c->rows == rows && c->out == out && c->in == in && c->bias == bias && c->act == act &&
            c->beta_one == beta_one && c->layout == C.layout)
            return c;
    }
    return NULL;
}

static void get_alg(cusparseLtMatmulAlgSelection_t *alg, cusparseLtMatmulAlgAttribute_t a, int *v) {
    sp24Check(L.cusparseLtMatmulAlgGetAttribute(&C.handle, alg, a, v, sizeof *v));
}

// The layer's plan for `rows` rows (a multiple of SP24_ROW_ALIGN), made on first use: from the
// shape's searched algorithm, or by searching it (on scratch buffers) when the shape is new.
static Sp24Plan *get_plan(Exec *x, const LinearWeight *w, int rows, int act, int beta_one) {
    Sp24Linear *sl = (Sp24Linear *)w->impl;
    for (int i = 0; i < sl->n_plans; i++) {
        Sp24Plan *p = sl->plans[i];
        if (p->rows == rows && p->act == act && p->beta_one == beta_one) return p;
    }
    CudaBackend *bk = cuda_backend(x);
    int out = w->out_features, in = w->in_features;
    if (bk->capturing)
        die("cuda linear format sparse24: no plan for %d rows of the %d x %d layer was made before "
            "the graph capture (the planning pass must see every call)", rows, out, in);
    Sp24Plan *p = (Sp24Plan *)xcalloc(1, sizeof *p);
    p->rows = rows, p->act = act, p->beta_one = beta_one;
    // B: x (rows, in) row-major; C = D: y (rows, out) row-major, i.e. column-major (out, rows).
    if (C.layout == 0)
        sp24Check(L.cusparseLtDenseDescriptorInit(&C.handle, &p->mb, rows, in, in, 16, CUDA_R_16BF, CUSPARSE_ORDER_ROW));
    else
        sp24Check(L.cusparseLtDenseDescriptorInit(&C.handle, &p->mb, in, rows, in, 16, CUDA_R_16BF, CUSPARSE_ORDER_COL));
    sp24Check(L.cusparseLtDenseDescriptorInit(&C.handle, &p->mc, out, rows, out, 16, CUDA_R_16BF, CUSPARSE_ORDER_COL));
    sp24Check(L.cusparseLtMatmulDescriptorInit(&C.handle, &p->mm, op_a(), op_b(), &sl->ma, &p->mb, &p->mc,
                                               &p->mc, CUSPARSE_COMPUTE_32F));
    if (sl->b)
        sp24Check(L.cusparseLtMatmulDescSetAttribute(&C.handle, &p->mm, CUSPARSELT_MATMUL_BIAS_POINTER,
                                                     &sl->b, sizeof sl->b));
    int one = 1;
    if (act == ACT_RELU)
        sp24Check(L.cusparseLtMatmulDescSetAttribute(&C.handle, &p->mm, CUSPARSELT_MATMUL_ACTIVATION_RELU,
                                                     &one, sizeof one));
    sp24Check(L.cusparseLtMatmulAlgSelectionInit(&C.handle, &p->alg, &p->mm, CUSPARSELT_MATMUL_ALG_DEFAULT));
    const Sp24Config *cfg = find_config(rows, out, in, sl->b != NULL, act, beta_one);
    if (cfg) {
        sp24Check(L.cusparseLtMatmulAlgSetAttribute(&C.handle, &p->alg, CUSPARSELT_MATMUL_ALG_CONFIG_ID,
                                                    &cfg->alg_id, sizeof cfg->alg_id));
        // Split-K as PyTorch's _cslt_sparse_mm sets it from a search (its buffer count is
        // cuSPARSELt's to choose).
        if (cfg->split_k != 1) {
            sp24Check(L.cusparseLtMatmulAlgSetAttribute(&C.handle, &p->alg, CUSPARSELT_MATMUL_SPLIT_K,
                                                        &cfg->split_k, sizeof cfg->split_k));
            if (cfg->split_k_mode > 0) {
                cusparseLtSplitKMode_t mode = (cusparseLtSplitKMode_t)cfg->split_k_mode;
                sp24Check(L.cusparseLtMatmulAlgSetAttribute(&C.handle, &p->alg, CUSPARSELT_MATMUL_SPLIT_K_MODE,
                                                            &mode, sizeof mode));
            }
        }
    }
    sp24Check(L.cusparseLtMatmulPlanInit(&C.handle, &p->plan, &p->mm, &p->alg));
    sp24Check(L.cusparseLtMatmulGetWorkspace(&C.handle, &p->plan, &p->workspace));
    if (!cfg) {
        // The search runs every configuration on scratch operands (it writes D many times, and
        // with beta = 1 would accumulate into the model's activations), with room for the
        // workspace of any configuration it tries.
        double t0 = host_seconds();
        cudaStream_t s = cuda_stream(x);
        size_t bbytes = (size_t)rows * in * 2, cbytes = (size_t)rows * out * 2;
        size_t ws = p->workspace > ((size_t)64 << 20) ? p->workspace : ((size_t)64 << 20);
        void *tb = cuda_dev_alloc(bk, bbytes), *tc = cuda_dev_alloc(bk, cbytes), *tw = cuda_dev_alloc(bk, ws);
        cudaCheck(cudaMemsetAsync(tb, 0, bbytes, s));
        cudaCheck(cudaMemsetAsync(tc, 0, cbytes, s));
        float alpha = 1.0f, beta = beta_one ? 1.0f : 0.0f;
        sp24Check(L.cusparseLtMatmulSearch(&C.handle, &p->plan, &alpha, sl->Wc, tb, &beta, tc, tc, tw, &s, 1));
        cudaCheck(cudaStreamSynchronize(s));
        cuda_dev_free(bk, tb);
        cuda_dev_free(bk, tc);
        cuda_dev_free(bk, tw);
        Sp24Config c;
        memset(&c, 0, sizeof c);
        c.rows = rows, c.out = out, c.in = in, c.bias = sl->b != NULL, c.act = act;
        c.beta_one = beta_one, c.layout = C.layout;
        get_alg(&p->alg, CUSPARSELT_MATMUL_ALG_CONFIG_ID, &c.alg_id);
        get_alg(&p->alg, CUSPARSELT_MATMUL_ALG_CONFIG_MAX_ID, &c.alg_max);
        get_alg(&p->alg, CUSPARSELT_MATMUL_SPLIT_K, &c.split_k);
        get_alg(&p->alg, CUSPARSELT_MATMUL_SPLIT_K_MODE, &c.split_k_mode);
        get_alg(&p->alg, CUSPARSELT_MATMUL_SPLIT_K_BUFFERS, &c.split_k_buffers);
        sp24Check(L.cusparseLtMatmulGetWorkspace(&C.handle, &p->plan, &p->workspace));
        c.workspace = p->workspace;
        c.search_s = host_seconds() - t0;
        if (C.n_configs == C.cap_configs) {
            C.cap_configs = C.cap_configs ? 2 * C.cap_configs : 16;
            C.configs = (Sp24Config *)xrealloc(C.configs, sizeof(Sp24Config) * (size_t)C.cap_configs);
        }
        C.configs[C.n_configs++] = c;
    }
    if (sl->n_plans == sl->cap_plans) {
        sl->cap_plans = sl->cap_plans ? 2 * sl->cap_plans : 4;
        sl->plans = (Sp24Plan **)xrealloc(sl->plans, sizeof(Sp24Plan *) * (size_t)sl->cap_plans);
    }
    sl->plans[sl->n_plans++] = p;
    return p;
}

static int as_rows(int64_t rows) {
    if (rows > 0x7fffffff) die("cuda linear format sparse24: %lld rows do not fit an int", (long long)rows);
    return (int)rows;
}

// LinearFormat.plan: every plan the run will need, and their workspace, before any run.
static void sp24_plan(Exec *x, const LinearWeight *w, int64_t rows, Act act, int has_residual) {
    if (rows <= 0) return;
    int r = as_rows(rows), main_rows = r / SP24_ROW_ALIGN * SP24_ROW_ALIGN;
    int ea = epilogue_act(act);
    size_t need = 0;
    if (main_rows) need = get_plan(x, w, main_rows, ea, has_residual)->workspace;
    if (r != main_rows) {
        size_t t = get_plan(x, w, SP24_ROW_ALIGN, ea, has_residual)->workspace;
        if (t > need) need = t;
    }
    exec_need_workspace(x, need);
}

static void matmul(Exec *x, const Sp24Plan *p, const Sp24Linear *sl, const void *in, void *y) {
    CudaBackend *bk = cuda_backend(x);
    cudaStream_t s = cuda_stream(x);
    void *ws = p->workspace ? cuda_workspace(x, p->workspace) : NULL;
    float alpha = 1.0f, beta = p->beta_one ? 1.0f : 0.0f;
    sp24Check(L.cusparseLtMatmul(&C.handle, &p->plan, &alpha, sl->Wc, in, &beta, y, y, ws, &s, 1));
    LAUNCH_CHECK(x, "cusparseLtMatmul");  // counts the call once; waits in sync-each-launch mode
}

// ref: torch.nn.Linear: y = x W^T + b, then the activation, then the residual add.
extern "C" void cuda_sparse24_run(Exec *x, void *y, const void *in, const LinearWeight *w,
                                  int64_t rows, Act act, const void *residual) {
    const Sp24Linear *sl = (const Sp24Linear *)w->impl;
    if (rows <= 0) return;
    CudaBackend *bk = cuda_backend(x);
    cudaStream_t s = cuda_stream(x);
    int out = w->out_features, in_f = w->in_features;
    if (!aligned16(y) || !aligned16(in) || (residual && !aligned16(residual)))
        die("cuda linear format sparse24: operands must be 16-byte aligned");
    int beta_one = 0;
    if (residual) {
        // D = act(A B + beta C + bias): a residual after an activation cannot ride on beta.
        if (act != ACT_NONE)
            die("cuda linear format sparse24: an activation followed by a residual is not implemented");
        if (residual != y) {
            cuda_copy_device(x, y, residual, (size_t)rows * out * 2);
        }
        beta_one = 1;
    }
    int r = as_rows(rows), main_rows = r / SP24_ROW_ALIGN * SP24_ROW_ALIGN, tail = r - main_rows;
    int ea = epilogue_act(act);
    if (main_rows) matmul(x, get_plan(x, w, main_rows, ea, beta_one), sl, in, y);
    if (tail) {
        // The last rows through a zero-padded 16-row scratch: xs (16, in), ys (16, out).
        const Sp24Plan *p = get_plan(x, w, SP24_ROW_ALIGN, ea, beta_one);
        char *xs = (char *)C.tail, *ys = xs + (size_t)SP24_ROW_ALIGN * in_f * 2;
        char *yt = (char *)y + (size_t)main_rows * out * 2;
        cudaCheck(cudaMemsetAsync(xs, 0, (size_t)SP24_ROW_ALIGN * in_f * 2, s));
        cuda_count_copy(bk);  // the memset (cuda_copy_device counts the copies)
        cuda_copy_device(x, xs, (const char *)in + (size_t)main_rows * in_f * 2, (size_t)tail * in_f * 2);
        if (beta_one) cuda_copy_device(x, ys, yt, (size_t)tail * out * 2);
        matmul(x, p, sl, xs, ys);
        cuda_copy_device(x, yt, ys, (size_t)tail * out * 2);
    }
    if (act != ea) cuda_linear_epilogue(x, y, NULL, NULL, rows, out, act);  // GELU: the dense format's kernel
}

extern "C" void cuda_sparse24_release(Exec *x, LinearWeight *w) {
    Sp24Linear *sl = (Sp24Linear *)w->impl;
    CudaBackend *bk = cuda_backend(x);
    for (int i = 0; i < sl->n_plans; i++) {
        Sp24Plan *p = sl->plans[i];
        sp24Check(L.cusparseLtMatmulPlanDestroy(&p->plan));
        sp24Check(L.cusparseLtMatmulAlgSelectionDestroy(&p->alg));
        sp24Check(L.cusparseLtMatDescriptorDestroy(&p->mb));
        sp24Check(L.cusparseLtMatDescriptorDestroy(&p->mc));
        free(p);
    }
    free(sl->plans);
    sp24Check(L.cusparseLtMatDescriptorDestroy(&sl->ma));
    cuda_dev_free(bk, sl->Wc);
    if (sl->b) cuda_dev_free(bk, sl->b);
    free(sl);
    free(w);
    if (--C.live == 0) {
        if (C.tail) cuda_dev_free(C.bk, C.tail);
        C.tail = NULL, C.tail_bytes = 0;
        sp24Check(L.cusparseLtDestroy(&C.handle));
        C.bk = NULL;
        // The searched algorithms stay: they describe the device, not the handle.
    }
}

extern "C" const LinearFormat cuda_linear_sparse24 = {
    "sparse24",               // name
    "cuda",                   // backend
    (1u << DT_BF16),          // dtypes
    cuda_sparse24_prepare,    // prepare
    cuda_sparse24_run,        // run
    cuda_sparse24_release,    // release
    NULL,                     // workspace_bytes (the plan hook records it)
    sp24_open,                // open
    sp24_plan,                // plan
};

// =============================================================================================
// for the tests and the benchmark
// =============================================================================================

extern "C" int cuda_sparse24_library(char *buf, size_t len) {
    char why[768];
    if (sp24_load(why, sizeof why) != 0) {
        snprintf(buf, len, "cuSPARSELt (%s) cannot be loaded: %s", SP24_LIB, why);
        return -1;
    }
    snprintf(buf, len, "cuSPARSELt %d.%d.%d from %s (built against %d.%d.%d)", L.major, L.minor, L.patch,
             L.path, CUSPARSELT_VER_MAJOR, CUSPARSELT_VER_MINOR, CUSPARSELT_VER_PATCH);
    return 0;
}

extern "C" void cuda_sparse24_set_options(int layout) {
    if (C.live) die("cuda_sparse24_set_options: sparse weights are alive");
    if (layout != 0 && layout != 1) die("cuda_sparse24_set_options: layout %d (0 or 1)", layout);
    C.layout = layout;
}

extern "C" int cuda_sparse24_configs(char *buf, size_t len) {
    size_t o = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < C.n_configs; i++) {
        const Sp24Config *c = &C.configs[i];
        if (o >= len) break;
        o += (size_t)snprintf(buf + o, len - o,
                              "rows %d out %d in %d bias %d act %d beta %d layout %d: alg %d of %d, "
                              "split-k %d (mode %d, buffers %d), workspace %zu B, searched in %.3f s\n",
                              c->rows, c->out, c->in, c->bias, c->act, c->beta_one, c->layout, c->alg_id,
                              c->alg_max, c->split_k, c->split_k_mode, c->split_k_buffers, c->workspace,
                              c->search_s);
    }
    return C.n_configs;
}
