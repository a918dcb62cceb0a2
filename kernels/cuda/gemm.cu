// Dense layers on the GPU: every product through cuBLAS, row-major expressed in cuBLAS's
// column-major terms.
// Linear layers (cuda_linear) go through cuBLASLt with the bias in the GEMM's epilogue
// (CUBLASLT_EPILOGUE_BIAS, or RELU_BIAS) and an in-place residual as beta = 1 (D = C = y):
// y = round(x W^T + b [+ y]) is one rounding to the output dtype, as eager PyTorch's addmm
// (which uses the Lt bias epilogue for bfloat16 and float32) and then its residual add. The
// bfloat16 stage rounded three times before (GEMM, + bias, + residual). GELU (exact erf;
// Lt's GELU epilogue is the tanh approximation) stays a separate element-wise kernel after the
// bias epilogue, as nn.GELU after nn.Linear. Cases Lt is not used for (a residual that is not
// the output, an activation with a residual, in or out not a multiple of 8) keep the plain
// cuBLAS product followed by the epilogue kernel below: a fixed rule on the call, not a retry.
//   float32 table: cublasSgemm[StridedBatched] in CUBLAS_DEFAULT_MATH: float32 arithmetic,
//                  no TF32.
//   bfloat16 table: cublasGemm[StridedBatched]Ex, bfloat16 operands, CUBLAS_COMPUTE_32F
//                  (float32 accumulation), bfloat16 or float32 output.
#include "cuda_common.cuh"

typedef struct {
    void *W;  // (out, in) in the table's dtype, as nn.Linear stores it (cuBLAS transposes it)
    void *b;  // (out) in the table's dtype, or NULL
} CudaLinear;

// =============================================================================================
// kernels
// =============================================================================================

// y(rows, out) = act(y + bias) + residual, element-wise; VEC = 4 when out, and the pointers,
// allow 4-element accesses.
static __device__ __forceinline__ void epilogue_body(void *y, const void *bias,
                                                     const void *res, int64_t rows, int out,
                                                     int act, const int BF, const int VEC) {
    int64_t groups = rows * out / VEC;
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < groups;
         g += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = g * VEC;
        int col = (int)(i % out);
        float v[4], t[4];
        if (VEC == 4) ld4(y, i, v, BF);
        else v[0] = ld1(y, i, BF);
        if (bias) {
            if (VEC == 4) {
                ld4(bias, col, t, BF);
                for (int u = 0; u < 4; u++) v[u] += t[u];
            } else {
                v[0] += ld1(bias, col, BF);
            }
        }
        for (int u = 0; u < VEC; u++) v[u] = act_apply(v[u], act);
        if (res) {
            if (VEC == 4) {
                ld4(res, i, t, BF);
                for (int u = 0; u < 4; u++) v[u] += t[u];
            } else {
                v[0] += ld1(res, i, BF);
            }
        }
        if (VEC == 4) st4(y, i, v, BF);
        else st1(y, i, v[0], BF);
    }
}

// y = act(y) in place, 16 bytes per access (8 bfloat16 or 4 float32): the GELU after the Lt
// bias epilogue (vit_b's MLP hidden layer, 200 MB in bfloat16 at batch 8). The general kernel
// above ran it at 2.1 TB/s on the H100 (8-byte accesses, a 64-bit column modulo per group).
static __device__ __forceinline__ void act16_body(void *y, int64_t n16, int act, const int BF) {
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < n16;
         g += (int64_t)gridDim.x * blockDim.x) {
        uint4 u = ((uint4 *)y)[g];
        unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int h = 0; h < 4; h++) {
            if (BF) {
                float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&w[h]);
                __nv_bfloat162 b = __floats2bfloat162_rn(act_apply(f.x, act), act_apply(f.y, act));
                w[h] = *(const unsigned *)&b;
            } else {
                w[h] = __float_as_uint(act_apply(__uint_as_float(w[h]), act));
            }
        }
        ((uint4 *)y)[g] = make_uint4(w[0], w[1], w[2], w[3]);
    }
}
__global__ void act16_f32(void *y, int64_t n16, int act) { act16_body(y, n16, act, 0); }
__global__ void act16_bf16(void *y, int64_t n16, int act) { act16_body(y, n16, act, 1); }

__global__ void epilogue_f32_v1(void *y, const void *b, const void *r, int64_t rows, int out, int act) { epilogue_body(y, b, r, rows, out, act, 0, 1); }
__global__ void epilogue_f32_v4(void *y, const void *b, const void *r, int64_t rows, int out, int act) { epilogue_body(y, b, r, rows, out, act, 0, 4); }
__global__ void epilogue_bf16_v1(void *y, const void *b, const void *r, int64_t rows, int out, int act) { epilogue_body(y, b, r, rows, out, act, 1, 1); }
__global__ void epilogue_bf16_v4(void *y, const void *b, const void *r, int64_t rows, int out, int act) { epilogue_body(y, b, r, rows, out, act, 1, 4); }

// =============================================================================================
// launchers
// =============================================================================================

static int as_int(int64_t v, const char *what) {
    if (v < 0 || v > 0x7fffffff) die("cuda gemm: %s = %lld does not fit cuBLAS's int", what, (long long)v);
    return (int)v;
}

// The cuBLAS side of a row-major GEMM, shared by the strided and pointer-array launchers.
// Row-major C (m, n) is column-major C^T (n, m) = op(B)^T op(A)^T: B is cuBLAS's first
// operand, A its second; a row-major matrix stored transposed needs no cuBLAS transpose.
typedef struct {
    cublasOperation_t ta, tb;  // cuBLAS's first (B) and second (A) operand
    int lda, ldb, ldc;
} GemmCall;

static GemmCall gemm_call(int a_trans, int b_trans, int64_t lda, int64_t ldb, int64_t ldc,
                          int ab_bf16, int c_bf16) {
    if (!ab_bf16 && c_bf16) die("cuda gemm: float32 operands with a bfloat16 output are not supported");
    GemmCall g;
    g.ta = b_trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    g.tb = a_trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    g.lda = as_int(lda, "lda"), g.ldb = as_int(ldb, "ldb"), g.ldc = as_int(ldc, "ldc");
    return g;
}

extern "C" void cuda_gemm(Exec *x, int a_trans, int b_trans, int m, int n, int k, float alpha,
                          const void *A, int64_t lda, int64_t stride_a, const void *B,
                          int64_t ldb, int64_t stride_b, float beta, void *C, int64_t ldc,
                          int64_t stride_c, int batch, int ab_bf16, int c_bf16) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    CudaBackend *bk = cuda_backend(x);
    GemmCall g = gemm_call(a_trans, b_trans, lda, ldb, ldc, ab_bf16, c_bf16);
    if (!ab_bf16) {
        if (batch == 1)
            cublasCheck(cublasSgemm(bk->cublas, g.ta, g.tb, n, m, k, &alpha, (const float *)B, g.ldb,
                                    (const float *)A, g.lda, &beta, (float *)C, g.ldc));
        else
            cublasCheck(cublasSgemmStridedBatched(bk->cublas, g.ta, g.tb, n, m, k, &alpha,
                                                  (const float *)B, g.ldb, stride_b,
                                                  (const float *)A, g.lda, stride_a, &beta,
                                                  (float *)C, g.ldc, stride_c, batch));
    } else {
        cudaDataType ct = c_bf16 ? CUDA_R_16BF : CUDA_R_32F;
        if (batch == 1)
            cublasCheck(cublasGemmEx(bk->cublas, g.ta, g.tb, n, m, k, &alpha, B, CUDA_R_16BF, g.ldb, A,
                                     CUDA_R_16BF, g.lda, &beta, C, ct, g.ldc, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
        else
            cublasCheck(cublasGemmStridedBatchedEx(bk->cublas, g.ta, g.tb, n, m, k, &alpha, B,
                                                   CUDA_R_16BF, g.ldb, stride_b, A, CUDA_R_16BF,
                                                   g.lda, stride_a, &beta, C, ct, g.ldc, stride_c,
                                                   batch, CUBLAS_COMPUTE_32F,
                                                   CUBLAS_GEMM_DEFAULT));
    }
    LAUNCH_CHECK(x, "cublas gemm");  // counts the call once; waits in sync-each-launch mode
}

extern "C" void cuda_gemm_ptrs(Exec *x, int a_trans, int b_trans, int m, int n, int k,
                               float alpha, const void *const *A, int64_t lda,
                               const void *const *B, int64_t ldb, float beta, void *const *C,
                               int64_t ldc, int batch, int ab_bf16, int c_bf16) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    CudaBackend *bk = cuda_backend(x);
    GemmCall g = gemm_call(a_trans, b_trans, lda, ldb, ldc, ab_bf16, c_bf16);
    if (!ab_bf16) {
        cublasCheck(cublasSgemmBatched(bk->cublas, g.ta, g.tb, n, m, k, &alpha, (const float *const *)B,
                                       g.ldb, (const float *const *)A, g.lda, &beta,
                                       (float *const *)C, g.ldc, batch));
    } else {
        cublasCheck(cublasGemmBatchedEx(bk->cublas, g.ta, g.tb, n, m, k, &alpha, B, CUDA_R_16BF, g.ldb,
                                        A, CUDA_R_16BF, g.lda, &beta, C,
                                        c_bf16 ? CUDA_R_16BF : CUDA_R_32F, g.ldc, batch,
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    LAUNCH_CHECK(x, "cublas gemm (pointer arrays)");  // counts the call once; waits in sync-each-launch mode
}

extern "C" LinearWeight *cuda_linear_prepare(Exec *x, const float *W, const float *b, int out,
                                             int in) {
    int bf = is_bf16(x);
    size_t es = bf ? 2 : 4;
    LinearWeight *lw = (LinearWeight *)xcalloc(1, sizeof *lw);
    CudaLinear *cl = (CudaLinear *)xcalloc(1, sizeof *cl);
    lw->out_features = out;
    lw->in_features = in;
    cl->W = cuda_mem_alloc(x, (size_t)out * in * es);
    cuda_upload(x, cl->W, W, (size_t)out * in, bf);
    if (b) {
        cl->b = cuda_mem_alloc(x, (size_t)out * es);
        cuda_upload(x, cl->b, b, (size_t)out, bf);
    }
    lw->impl = cl;
    return lw;
}

// ---- cuBLASLt linear ------------------------------------------------------------------------

// Largest power of two (<= 16) dividing the address: the alignment the heuristic may assume.
static int ptr_align(const void *p) {
    uintptr_t u = (uintptr_t)p;
    int a = 16;
    while (a > 1 && (u & (uintptr_t)(a - 1))) a >>= 1;
    return a;
}
// The alignment every operand of a product has (d may be NULL): the OR of the addresses has
// the lowest set bit of any of them.
static int operands_align(const void *a, const void *b, const void *c, const void *d) {
    return ptr_align((const void *)((uintptr_t)a | (uintptr_t)b | (uintptr_t)c | (uintptr_t)d));
}

// The row count the algorithm is chosen for: 256 up to 256 rows, then the next power of two
// (exact beyond 2^20). cuBLAS loads a kernel's module on its first launch, and the decoder's
// row counts follow the prompts per image (7 n token rows, 4096 n image rows): measured on the
// H100 (host time around cublasLtMatmul), each first use of a kernel for a new row count took
// 33-38 ms where the call takes microseconds, which made 3 to 6 of the default subset's 16
// timed bf16 batches 8-50 ms slower. Choosing one algorithm per bucket keeps the set of
// kernels small enough that the warm-up batch loads most of them (vit_b bf16 at batch 8:
// 151 -> 160 img/s, encoder time unchanged).
static int rows_bucket(int rows) {
    if (rows > (1 << 20)) return rows;
    int b = 256;
    while (b < rows) b *= 2;
    return b;
}

// A plan for the same product but perhaps another row count.
static int same_product(const LtPlan *p, int m_out, int k, int bf, cublasLtEpilogue_t epi,
                        int beta_one, int align) {
    return p->batch == 0 && p->m == m_out && p->k == k && p->bf == bf && p->epilogue == (int)epi &&
           p->beta_one == beta_one && p->align == align;
}

// A zeroed slot at the end of the plan list (kept there by the caller's lt_plan_keep).
static LtPlan *lt_plan_slot(CudaBackend *bk) {
    if (bk->n_lt_plans == bk->cap_lt_plans) {
        bk->cap_lt_plans = bk->cap_lt_plans ? 2 * bk->cap_lt_plans : 64;
        bk->lt_plans = (LtPlan *)xrealloc(bk->lt_plans, sizeof(LtPlan) * (size_t)bk->cap_lt_plans);
    }
    LtPlan *p = &bk->lt_plans[bk->n_lt_plans];
    memset(p, 0, sizeof *p);
    return p;
}

// The slot lt_plan_slot gave, filled since t0 (host_seconds): kept in the list, its host time
// counted for SAM_LOAD_REPORT.
static void lt_plan_keep(CudaBackend *bk, double t0) {
    bk->n_lt_plans++;
    bk->lt_plan_s += host_seconds() - t0;
}

// A linear layer's product: op(A) = W's transpose, B = x, float32 accumulation (for float32
// operands plain float32 arithmetic: TF32 only with CUBLAS_COMPUTE_32F_FAST_TF32, never asked for).
static cublasLtMatmulDesc_t lt_desc(cublasLtEpilogue_t epi) {
    cublasLtMatmulDesc_t op;
    cublasCheck(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    cublasCheck(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasCheck(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    return op;
}

// The heuristic's limits: the backend's workspace and the operands' alignment.
static cublasLtMatmulPreference_t lt_preference(const CudaBackend *bk, int align) {
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = bk->cublas_ws_bytes;
    uint32_t al = (uint32_t)align;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al));
    return pref;
}

// Whether cuBLASLt accepts algo (another shape's) for this plan's shapes within the workspace.
static int lt_algo_fits(const CudaBackend *bk, const LtPlan *p, const cublasLtMatmulAlgo_t *algo) {
    cublasLtMatmulHeuristicResult_t chk;
    return cublasLtMatmulAlgoCheck(bk->lt, p->op, p->a, p->b, p->c, p->d ? p->d : p->c, algo, &chk) ==
           CUBLAS_STATUS_SUCCESS && chk.workspaceSize <= bk->cublas_ws_bytes;
}

// The plan for y(rows, out) = x(rows, in) W^T (+ bias) (+ y): column-major D(out, rows) =
// W^T... i.e. op(A) = A^T with A the (in, out) column-major view of W, B the (in, rows) view of
// x, C = D (out, rows). The bias runs along D's rows (out), as the Lt epilogue adds it.

static const LtPlan *lt_plan(CudaBackend *bk, int m_out, int n_rows, int k, int bf,
                             cublasLtEpilogue_t epi, int beta_one, int align) {
    for (int i = 0; i < bk->n_lt_plans; i++) {
        const LtPlan *p = &bk->lt_plans[i];
        if (p->n == n_rows && same_product(p, m_out, k, bf, epi, beta_one, align)) return p;
    }
    double t0 = host_seconds();
    LtPlan *p = lt_plan_slot(bk);
    p->m = m_out, p->n = n_rows, p->k = k, p->bf = bf, p->epilogue = (int)epi;
    p->beta_one = beta_one, p->align = align;
    cudaDataType dt = bf ? CUDA_R_16BF : CUDA_R_32F;
    p->op = lt_desc(epi);
    cublasCheck(cublasLtMatrixLayoutCreate(&p->a, dt, k, m_out, k));
    cublasCheck(cublasLtMatrixLayoutCreate(&p->b, dt, k, n_rows, k));
    cublasCheck(cublasLtMatrixLayoutCreate(&p->c, dt, m_out, n_rows, m_out));
    cublasLtMatmulPreference_t pref = lt_preference(bk, align);
    // The bucket's algorithm: from a plan of the same bucket, else the heuristic's choice for
    // the bucket's row count; used when cuBLASLt accepts it for the exact shape, otherwise the
    // heuristic's choice for the exact shape.
    int bucket = rows_bucket(n_rows), have = 0;
    for (int i = 0; i < bk->n_lt_plans && !have; i++) {
        const LtPlan *q = &bk->lt_plans[i];
        if (rows_bucket(q->n) == bucket && same_product(q, m_out, k, bf, epi, beta_one, align))
            p->algo = q->algo, have = 1;
    }
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (!have && bucket != n_rows) {
        cublasLtMatrixLayout_t bb, bc;
        cublasCheck(cublasLtMatrixLayoutCreate(&bb, dt, k, bucket, k));
        cublasCheck(cublasLtMatrixLayoutCreate(&bc, dt, m_out, bucket, m_out));
        cublasCheck(cublasLtMatmulAlgoGetHeuristic(bk->lt, p->op, p->a, bb, bc, bc, pref, 1, &res, &found));
        cublasCheck(cublasLtMatrixLayoutDestroy(bb));
        cublasCheck(cublasLtMatrixLayoutDestroy(bc));
        if (found >= 1) p->algo = res.algo, have = 1;
    }
    if (have) have = lt_algo_fits(bk, p, &p->algo);
    if (!have) {
        cublasCheck(cublasLtMatmulAlgoGetHeuristic(bk->lt, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &found));
        if (found < 1)
            die("cuda linear: cuBLASLt has no algorithm for out %d, rows %d, in %d, %s, epilogue %d, "
                "beta %d, alignment %d", m_out, n_rows, k, bf ? "bf16" : "fp32", (int)epi, beta_one, align);
        p->algo = res.algo;
    }
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    lt_plan_keep(bk, t0);
    return p;
}

// y = x W^T + bias (+ y when beta_one), ReLU'd when relu; one rounding on store.
static void lt_linear(Exec *x, void *y, const void *in, const void *W, const void *bias,
                      int rows, int out, int k, int relu, int beta_one) {
    CudaBackend *bk = cuda_backend(x);
    int bf = is_bf16(x);
    cublasLtEpilogue_t epi = bias ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                  : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    const LtPlan *p = lt_plan(bk, out, rows, k, bf, epi, beta_one, operands_align(y, in, W, NULL));
    if (bias)
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    float alpha = 1.0f, beta = beta_one ? 1.0f : 0.0f;
    cublasCheck(cublasLtMatmul(bk->lt, p->op, &alpha, W, p->a, in, p->b, &beta, y, p->c, y, p->c,
                               &p->algo, bk->cublas_ws, bk->cublas_ws_bytes, cuda_stream(x)));
    LAUNCH_CHECK(x, "cublasLt linear");  // counts the call once; waits in sync-each-launch mode
}

// y = act(y + bias) + res over (rows, out), in place (cuda_common.cuh): the epilogue of every
// linear format whose GEMM leaves part of it undone.
extern "C" void cuda_linear_epilogue(Exec *x, void *y, const void *bias, const void *res, int64_t rows,
                                     int out, Act act) {
    int bf = is_bf16(x);
    if (!bias && !res && aligned16(y) && (rows * out * (bf ? 2 : 4)) % 16 == 0) {
        int64_t n16 = rows * out * (bf ? 2 : 4) / 16;
        if (bf) act16_bf16<<<grid_for(n16, 256), 256, 0, cuda_stream(x)>>>(y, n16, act);
        else act16_f32<<<grid_for(n16, 256), 256, 0, cuda_stream(x)>>>(y, n16, act);
        LAUNCH_CHECK(x, "linear activation");
        return;
    }
    int vec = out % 4 == 0 && (bf ? aligned8(y) && (!bias || aligned8(bias)) && (!res || aligned8(res))
                                  : aligned16(y) && (!bias || aligned16(bias)) && (!res || aligned16(res)));
    int64_t items = rows * out / (vec ? 4 : 1);
    unsigned grid = grid_for(items, 256);
    cudaStream_t s = cuda_stream(x);
    if (bf) {
        if (vec) epilogue_bf16_v4<<<grid, 256, 0, s>>>(y, bias, res, rows, out, act);
        else epilogue_bf16_v1<<<grid, 256, 0, s>>>(y, bias, res, rows, out, act);
    } else {
        if (vec) epilogue_f32_v4<<<grid, 256, 0, s>>>(y, bias, res, rows, out, act);
        else epilogue_f32_v1<<<grid, 256, 0, s>>>(y, bias, res, rows, out, act);
    }
    LAUNCH_CHECK(x, "linear epilogue");
}

// The activation as a pass of its own (ops.h activation): the kernels of the GELU after the Lt
// bias epilogue.
extern "C" void cuda_activation(Exec *x, void *y, int64_t n, Act act) {
    if (n <= 0 || act == ACT_NONE) return;
    cuda_linear_epilogue(x, y, NULL, NULL, n, 1, act);  // n rows of one: no bias, any n
}

// ref: torch.nn.Linear: y = x W^T + b, then the activation, then the residual add.
extern "C" void cuda_linear(Exec *x, void *y, const void *in, const LinearWeight *w,
                            int64_t rows, Act act, const void *residual) {
    const CudaLinear *cl = (const CudaLinear *)w->impl;
    int out = w->out_features, k = w->in_features, bf = is_bf16(x);
    if (rows <= 0) return;
    int m = as_int(rows, "rows");
    // The cuBLASLt path (header comment): no residual or the output itself, no activation
    // with a residual, dims multiples of 8.
    if (out % 8 == 0 && k % 8 == 0 && (residual == NULL || (residual == y && act == ACT_NONE))) {
        lt_linear(x, y, in, cl->W, cl->b, m, out, k, act == ACT_RELU, residual == y);
        if (act == ACT_GELU) cuda_linear_epilogue(x, y, NULL, NULL, rows, out, act);
        return;
    }
    float beta = 0.0f;
    if (residual == y) {
        if (act == ACT_NONE) {
            // y = x W^T + y in the GEMM (beta = 1), the bias added after: the sum is the same.
            beta = 1.0f;
            residual = NULL;
        } else {
            // act(...) + y: y must survive the GEMM that overwrites it.
            size_t bytes = (size_t)rows * out * (bf ? 2 : 4);
            void *saved = cuda_workspace(x, bytes);
            cuda_copy_device(x, saved, y, bytes);
            residual = saved;
        }
    }
    // (rows, in) x (out, in)^T -> (rows, out)
    cuda_gemm(x, 0, 1, m, out, k, 1.0f, in, k, 0, cl->W, k, 0, beta, y, out, 0, 1, bf, bf);
    if (cl->b || act != ACT_NONE || residual) cuda_linear_epilogue(x, y, cl->b, residual, rows, out, act);
}

extern "C" void cuda_linear_dense_params(const LinearWeight *w, const void **W, const void **b, const char *who) {
    if (w->format != &cuda_linear_dense)
        die("cuda %s: the layer is in the '%s' format, not the dense one whose weights it reads", who, w->format->name);
    const CudaLinear *cl = (const CudaLinear *)w->impl;
    *W = cl->W, *b = cl->b;
}

// One batched layout: rows x cols column-major (ld = rows), `batch` of them `stride` apart.
static cublasLtMatrixLayout_t lt_batched_layout(cudaDataType dt, int rows, int cols, int batch, int64_t stride) {
    cublasLtMatrixLayout_t l;
    cublasCheck(cublasLtMatrixLayoutCreate(&l, dt, rows, cols, rows));
    cublasCheck(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
    cublasCheck(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    return l;
}

// ref: ops.h linear_table. y(rows, out) = in(rows, k) W^T + table[r % period], as rows / period
// blocks of one strided-batched cuBLASLt product: W is every block's A (batch stride 0), the
// table every block's C (batch stride 0, so its (period, out) rows are read from L2 after the
// first blocks) and beta = 1, so the table's sum is part of the product's store: no pass of its
// own and no per-block copy of the table. The algorithm is the heuristic's for the first block
// count met, kept for the others when cuBLASLt accepts it (the prompt count changes the block
// count from batch to batch; one kernel keeps the warm-up's loads valid, as rows_bucket does).
extern "C" void cuda_linear_table(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                                  const void *table, int64_t period) {
    const void *W, *bias;
    cuda_linear_dense_params(w, &W, &bias, "linear_table");
    int out = w->out_features, k = w->in_features, bf = is_bf16(x);
    if (rows <= 0) return;
    if (bias) die("cuda linear_table: the layer has a bias (the table holds it: ops.h linear_table)");
    if (period <= 0 || rows % period) die("cuda linear_table: %lld rows are not whole blocks of %lld", (long long)rows, (long long)period);
    if (out % 8 || k % 8) die("cuda linear_table: %d outputs and %d inputs must be multiples of 8 (cuBLASLt's 16-byte rows)", out, k);
    int per = as_int(period, "period"), batch = as_int(rows / period, "blocks");
    int align = operands_align(y, in, W, table);
    CudaBackend *bk = cuda_backend(x);
    const LtPlan *p = NULL;
    const LtPlan *kin = NULL;  // a plan of the same product for another block count
    for (int i = 0; i < bk->n_lt_plans && !p; i++) {
        const LtPlan *q = &bk->lt_plans[i];
        if (q->batch && q->m == out && q->n == per && q->k == k && q->bf == bf && q->align == align) {
            if (q->batch == batch) p = q;
            else if (!kin) kin = q;
        }
    }
    if (!p) {
        double t0 = host_seconds();
        LtPlan *np = lt_plan_slot(bk);
        np->m = out, np->n = per, np->k = k, np->bf = bf, np->epilogue = (int)CUBLASLT_EPILOGUE_DEFAULT;
        np->beta_one = 1, np->align = align, np->batch = batch;
        cudaDataType dt = bf ? CUDA_R_16BF : CUDA_R_32F;
        np->op = lt_desc(CUBLASLT_EPILOGUE_DEFAULT);
        np->a = lt_batched_layout(dt, k, out, batch, 0);                        // W^T, shared
        np->b = lt_batched_layout(dt, k, per, batch, (int64_t)per * k);         // the input's blocks
        np->c = lt_batched_layout(dt, out, per, batch, 0);                      // the table, shared
        np->d = lt_batched_layout(dt, out, per, batch, (int64_t)per * out);     // y's blocks
        int have = 0;
        if (kin) {
            np->algo = kin->algo;
            have = lt_algo_fits(bk, np, &np->algo);
        }
        if (!have) {
            cublasLtMatmulPreference_t pref = lt_preference(bk, align);
            cublasLtMatmulHeuristicResult_t res;
            int found = 0;
            cublasCheck(cublasLtMatmulAlgoGetHeuristic(bk->lt, np->op, np->a, np->b, np->c, np->d, pref, 1, &res, &found));
            cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
            if (found < 1)
                die("cuda linear_table: cuBLASLt has no algorithm for %d blocks of (%d rows, %d in) -> %d out with a "
                    "shared (batch stride 0) C, %s, alignment %d", batch, per, k, out, bf ? "bf16" : "fp32", align);
            np->algo = res.algo;
        }
        lt_plan_keep(bk, t0);
        p = np;
    }
    float alpha = 1.0f, beta = 1.0f;
    cublasCheck(cublasLtMatmul(bk->lt, p->op, &alpha, W, p->a, in, p->b, &beta, table, p->c, y, p->d,
                               &p->algo, bk->cublas_ws, bk->cublas_ws_bytes, cuda_stream(x)));
    LAUNCH_CHECK(x, "cublasLt linear_table");
}

extern "C" void cuda_linear_release(Exec *x, LinearWeight *w) {
    CudaLinear *cl = (CudaLinear *)w->impl;
    cuda_mem_free(x, cl->W);
    if (cl->b) cuda_mem_free(x, cl->b);
    free(cl);
    free(w);
}

extern "C" const LinearFormat cuda_linear_dense = {
    "dense",                              // name
    "cuda",                               // backend
    (1u << DT_F32) | (1u << DT_BF16),     // dtypes
    cuda_linear_prepare,                  // prepare
    cuda_linear,                          // run
    cuda_linear_release,                  // release
    NULL,                                 // workspace_bytes: a saved residual grows it on demand
};

extern "C" void cuda_matmul_nt(Exec *x, void *c, const void *a, const void *b, int batch, int m,
                               int n, int k, int64_t sa, int64_t sb, int64_t sc, float alpha) {
    int bf = is_bf16(x);
    // c[i](m, n) = alpha a[i](m, k) b[i](n, k)^T
    cuda_gemm(x, 0, 1, m, n, k, alpha, a, k, sa, b, k, sb, 0.0f, c, n, sc, batch, bf, bf);
}
