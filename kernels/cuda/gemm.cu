// Dense layers on the GPU: every product through cuBLAS, row-major expressed in cuBLAS's
// column-major terms, then a separate bias/activation/residual epilogue kernel.
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

extern "C" void cuda_gemm(Exec *x, int a_trans, int b_trans, int m, int n, int k, float alpha,
                          const void *A, int64_t lda, int64_t stride_a, const void *B,
                          int64_t ldb, int64_t stride_b, float beta, void *C, int64_t ldc,
                          int64_t stride_c, int batch, int ab_bf16, int c_bf16) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    CudaBackend *bk = cuda_backend(x);
    // Row-major C (m, n) is column-major C^T (n, m) = op(B)^T op(A)^T: B is cuBLAS's first
    // operand, A its second; a row-major matrix stored transposed needs no cuBLAS transpose.
    cublasOperation_t ta = b_trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = a_trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    int ilda = as_int(lda, "lda"), ildb = as_int(ldb, "ldb"), ildc = as_int(ldc, "ldc");
    if (!ab_bf16 && c_bf16) die("cuda gemm: float32 operands with a bfloat16 output are not supported");
    if (!ab_bf16) {
        if (batch == 1)
            cublasCheck(cublasSgemm(bk->cublas, ta, tb, n, m, k, &alpha, (const float *)B, ildb,
                                    (const float *)A, ilda, &beta, (float *)C, ildc));
        else
            cublasCheck(cublasSgemmStridedBatched(bk->cublas, ta, tb, n, m, k, &alpha,
                                                  (const float *)B, ildb, stride_b,
                                                  (const float *)A, ilda, stride_a, &beta,
                                                  (float *)C, ildc, stride_c, batch));
    } else {
        cudaDataType ct = c_bf16 ? CUDA_R_16BF : CUDA_R_32F;
        if (batch == 1)
            cublasCheck(cublasGemmEx(bk->cublas, ta, tb, n, m, k, &alpha, B, CUDA_R_16BF, ildb, A,
                                     CUDA_R_16BF, ilda, &beta, C, ct, ildc, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
        else
            cublasCheck(cublasGemmStridedBatchedEx(bk->cublas, ta, tb, n, m, k, &alpha, B,
                                                   CUDA_R_16BF, ildb, stride_b, A, CUDA_R_16BF,
                                                   ilda, stride_a, &beta, C, ct, ildc, stride_c,
                                                   batch, CUBLAS_COMPUTE_32F,
                                                   CUBLAS_GEMM_DEFAULT));
    }
    if (bk->sync_each_launch) LAUNCH_CHECK(x, "cublas gemm");
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

static void launch_epilogue(Exec *x, void *y, const void *bias, const void *res, int64_t rows,
                            int out, Act act) {
    int bf = is_bf16(x);
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

// ref: torch.nn.Linear: y = x W^T + b, then the activation, then the residual add.
extern "C" void cuda_linear(Exec *x, void *y, const void *in, const LinearWeight *w,
                            int64_t rows, Act act, const void *residual) {
    const CudaLinear *cl = (const CudaLinear *)w->impl;
    int out = w->out_features, k = w->in_features, bf = is_bf16(x);
    if (rows <= 0) return;
    int m = as_int(rows, "rows");
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
            cudaCheck(cudaMemcpyAsync(saved, y, bytes, cudaMemcpyDeviceToDevice, cuda_stream(x)));
            residual = saved;
        }
    }
    // (rows, in) x (out, in)^T -> (rows, out)
    cuda_gemm(x, 0, 1, m, out, k, 1.0f, in, k, 0, cl->W, k, 0, beta, y, out, 0, 1, bf, bf);
    if (cl->b || act != ACT_NONE || residual) launch_epilogue(x, y, cl->b, residual, rows, out, act);
}

extern "C" void cuda_matmul_nt(Exec *x, void *c, const void *a, const void *b, int batch, int m,
                               int n, int k, int64_t sa, int64_t sb, int64_t sc, float alpha) {
    int bf = is_bf16(x);
    // c[i](m, n) = alpha a[i](m, k) b[i](n, k)^T
    cuda_gemm(x, 0, 1, m, n, k, alpha, a, k, sa, b, k, sb, 0.0f, c, n, sc, batch, bf, bf);
}
