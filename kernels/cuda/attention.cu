// Attention as the official code computes it: the scores are materialised, the decomposed
// relative-position terms added, the softmax taken, and the probabilities multiplied by V.
// ref: segment_anything/modeling/image_encoder.py Attention.forward, add_decomposed_rel_pos
// ref: segment_anything/modeling/transformer.py Attention.forward
//
// Per chunk of (batch, head) pairs and query rows, in a reused workspace:
//   1. S = scale q k^T                     cuBLAS strided-batched, (pairs, rows, k_len) act
//   2. RH = q Rh^T, RW = q Rw^T            cuBLAS strided-batched, float32: the rel-pos dot
//                                           products for every relative offset (2g - 1 of them)
//                                           instead of official's gathered (g, g) tables
//   3. S += RH[qy - ky + g - 1] + RW[qx - kx + g - 1]; P = softmax(S)   one fused kernel that
//                                           reads S once and writes P in place (float32 math)
//   4. o = P v                              cuBLAS strided-batched
// The pairs of one chunk share one index (head or batch, the longer one) with a uniform stride,
// so each product is a single strided-batched call; the other index loops outside.
// Chunk size: whole pairs, as many as fit the backend's attn_ws_cap (a memory bound, 512 MiB
// by default); a pair larger than that is split into blocks of query rows. Measured on the
// H100 (tests/gpu/logs): smaller, L2-sized chunks and computing the rel-pos dot products
// inside the softmax kernel were both slower than this (more, smaller GEMMs; a latency-bound
// softmax), so neither is kept.
// bfloat16 table: S and P are bfloat16 as in the official bf16 model, the rel-pos terms and
// the softmax are float32, each product accumulates in float32.
#include "cuda_common.cuh"

#define SOFTMAX_MAX_PER_THREAD 32
#define SOFTMAX_BLOCK 256
#define SOFTMAX_MAX_WARP_LEN (32 * SOFTMAX_MAX_PER_THREAD)              // 1024
#define SOFTMAX_MAX_LEN (SOFTMAX_BLOCK * SOFTMAX_MAX_PER_THREAD)         // 8192

// =============================================================================================
// kernels
// =============================================================================================

// One row of S per TPR threads (TPR = 32: a warp; TPR = 256: a block). The row's k_len
// scores are held in registers: thread t holds the VEC-element groups t, t + TPR, ... (VEC = 4:
// one 16- or 8-byte access per group). Unused slots hold -inf (exp gives 0).
static __device__ __forceinline__ void row_load(float v[SOFTMAX_MAX_PER_THREAD], const void *S,
                                                int64_t base, int t, int k_len, const int BF,
                                                const int TPR, const int VEC) {
    const int NS = SOFTMAX_MAX_PER_THREAD / VEC;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (t + TPR * s) * VEC;
        if (j < k_len) {
            if (VEC == 4) ld4(S, base + j, &v[4 * s], BF);
            else v[s] = ld1(S, base + j, BF);
        } else {
            for (int u = 0; u < VEC; u++) v[VEC * s + u] = -INFINITY;
        }
    }
}

// Softmax of the row in v (float32), written back over S. red: the block's reduction slots
// (used when TPR > 32; every thread of the block must call this).
static __device__ __forceinline__ void row_softmax_store(float v[SOFTMAX_MAX_PER_THREAD],
                                                         void *S, int64_t base, int t,
                                                         int k_len, float *red, const int BF,
                                                         const int TPR, const int VEC) {
    const int NS = SOFTMAX_MAX_PER_THREAD / VEC;
    // Slots past the row for every thread of the row are skipped (a condition uniform across
    // the row's threads); the others' unused elements hold -inf.
    float mx = -INFINITY;
#pragma unroll
    for (int s = 0; s < NS; s++)
        if (TPR * s * VEC < k_len)
            for (int u = 0; u < VEC; u++) mx = fmaxf(mx, v[VEC * s + u]);
    mx = warp_max(mx);
    if (TPR > 32) {
        if ((t & 31) == 0) red[t / 32] = mx;
        __syncthreads();
        mx = red[0];
        for (int i = 1; i < TPR / 32; i++) mx = fmaxf(mx, red[i]);
        __syncthreads();  // red is reused for the sum
    }
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < NS; s++)
        if (TPR * s * VEC < k_len)
            for (int u = 0; u < VEC; u++) {
                // exp(-inf) = 0 for unused elements. bfloat16: the hardware exp2 (__expf,
                // about 1e-6 relative here), far under the rounding of P to bfloat16;
                // float32: the accurate expf.
                float d = v[VEC * s + u] - mx;
                float e = BF ? __expf(d) : expf(d);
                v[VEC * s + u] = e;
                sum += e;
            }
    sum = warp_sum(sum);
    if (TPR > 32) {
        if ((t & 31) == 0) red[t / 32] = sum;
        __syncthreads();
        sum = red[0];
        for (int i = 1; i < TPR / 32; i++) sum += red[i];
    }
    float inv = 1.0f / sum;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        int j = (t + TPR * s) * VEC;
        if (j < k_len) {
            float o[4];
            for (int u = 0; u < VEC; u++) o[u] = v[VEC * s + u] * inv;
            if (VEC == 4) st4(S, base + j, o, BF);
            else st1(S, base + j, o[0], BF);
        }
    }
}

// Rel-pos terms from the tables the GEMMs computed, then the softmax.
// S: (nrows, ld) act. rh, rw: (nrows, rel_ld) float32 with 2 gh - 1 / 2 gw - 1 valid columns,
// or NULL. The chunk holds `rows` query rows of each pair starting at query row0: row R is
// query r = row0 + R % rows of its pair, at grid cell (r / gw, r % gw).
static __device__ __forceinline__ void softmax_body(void *S, int64_t nrows, int k_len,
                                                    int64_t ld, const float *rh,
                                                    const float *rw, int rel_ld, int row0,
                                                    int rows, int gh, int gw, const int BF,
                                                    const int TPR, const int VEC) {
    __shared__ float red[SOFTMAX_BLOCK / 32];
    int64_t row;
    int t;
    if (TPR == 32) {
        row = (int64_t)blockIdx.x * (SOFTMAX_BLOCK / 32) + threadIdx.x / 32;
        t = threadIdx.x & 31;
        if (row >= nrows) return;  // whole warps; the warp path has no block barrier
    } else {
        row = blockIdx.x;
        t = threadIdx.x;
    }
    const int NS = SOFTMAX_MAX_PER_THREAD / VEC;
    int64_t base = row * ld;
    float v[SOFTMAX_MAX_PER_THREAD];
    row_load(v, S, base, t, k_len, BF, TPR, VEC);
    if (rh) {
        // attn[q, (ky, kx)] += rel_h[q, ky] + rel_w[q, kx], rel_h[q, ky] = q . Rh[qy - ky + gh - 1]
        int r = row0 + (int)(row % rows);
        int qy = r / gw, qx = r - qy * gw;
        const float *h = rh + row * rel_ld + qy + gh - 1;  // h[-ky]
        const float *w = rw + row * rel_ld + qx + gw - 1;  // w[-kx]
        // Key j = (ky, kx): one quotient per group, by a float reciprocal (exact: the
        // quotient's error, under j * 2^-23, stays far from the 0.5 / gw to the next integer
        // for j < 2^22), then the group's keys step along the row.
        float inv_gw = 1.0f / (float)gw;
#pragma unroll
        for (int s = 0; s < NS; s++) {
            int j0 = (t + TPR * s) * VEC;
            if (j0 < k_len) {
                int ky = (int)(((float)j0 + 0.5f) * inv_gw), kx = j0 - ky * gw;
                if (TPR > 32 && gw % VEC == 0) {
                    // The group lies in one key row (the global blocks' 64 x 64 grid): one
                    // rel_h term for it, VEC - 1 fewer loads. Block-per-row kernels only: in
                    // the warp-per-row bfloat16 kernel (windowed, 14 x 14) the extra branch
                    // cost 1 ms per layer on the H100 (1.36 -> 2.36 ms, tests/gpu/logs), so
                    // those keep the one loop below unchanged.
                    float hv = h[-ky];
                    for (int u = 0; u < VEC; u++) v[VEC * s + u] += hv + w[-(kx + u)];
                } else {
                    for (int u = 0; u < VEC; u++) {
                        v[VEC * s + u] += h[-ky] + w[-kx];
                        if (++kx == gw) kx = 0, ky++;
                    }
                }
            }
        }
    }
    row_softmax_store(v, S, base, t, k_len, red, BF, TPR, VEC);
}

#define SM_ARGS void *S, int64_t nrows, int k_len, int64_t ld, const float *rh, const float *rw, int rel_ld, int row0, int rows, int gh, int gw
#define SM_PASS S, nrows, k_len, ld, rh, rw, rel_ld, row0, rows, gh, gw
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_warp_f32_v1(SM_ARGS) { softmax_body(SM_PASS, 0, 32, 1); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_warp_f32_v4(SM_ARGS) { softmax_body(SM_PASS, 0, 32, 4); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_warp_bf16_v1(SM_ARGS) { softmax_body(SM_PASS, 1, 32, 1); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_warp_bf16_v4(SM_ARGS) { softmax_body(SM_PASS, 1, 32, 4); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_block_f32_v1(SM_ARGS) { softmax_body(SM_PASS, 0, SOFTMAX_BLOCK, 1); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_block_f32_v4(SM_ARGS) { softmax_body(SM_PASS, 0, SOFTMAX_BLOCK, 4); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_block_bf16_v1(SM_ARGS) { softmax_body(SM_PASS, 1, SOFTMAX_BLOCK, 1); }
__global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_block_bf16_v4(SM_ARGS) { softmax_body(SM_PASS, 1, SOFTMAX_BLOCK, 4); }

// =============================================================================================
// launchers
// =============================================================================================

static void launch_softmax(Exec *x, void *S, int64_t nrows, int k_len, int64_t ld,
                           const float *rh, const float *rw, int rel_ld, int row0, int rows,
                           int gh, int gw) {
    int bf = is_bf16(x);
    // 4-element accesses need whole groups in every row and aligned row starts.
    int vec = k_len % 4 == 0 && ld % 4 == 0 && aligned16(S);
    int warp = k_len <= SOFTMAX_MAX_WARP_LEN;
    int64_t blocks = warp ? (nrows + SOFTMAX_BLOCK / 32 - 1) / (SOFTMAX_BLOCK / 32) : nrows;
    if (blocks > 0x7fffffff) die("cuda attention: %lld score rows in one chunk", (long long)nrows);
    dim3 grid((unsigned)blocks), block(SOFTMAX_BLOCK);
    cudaStream_t s = cuda_stream(x);
#define SM_LAUNCH(K) K<<<grid, block, 0, s>>>(S, nrows, k_len, ld, rh, rw, rel_ld, row0, rows, gh, gw)
    if (warp) {
        if (bf) { if (vec) SM_LAUNCH(softmax_warp_bf16_v4); else SM_LAUNCH(softmax_warp_bf16_v1); }
        else { if (vec) SM_LAUNCH(softmax_warp_f32_v4); else SM_LAUNCH(softmax_warp_f32_v1); }
    } else {
        if (bf) { if (vec) SM_LAUNCH(softmax_block_bf16_v4); else SM_LAUNCH(softmax_block_bf16_v1); }
        else { if (vec) SM_LAUNCH(softmax_block_f32_v4); else SM_LAUNCH(softmax_block_f32_v1); }
    }
#undef SM_LAUNCH
    LAUNCH_CHECK(x, "attention softmax");
}

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

extern "C" void cuda_attention(Exec *x, const AttnParams *p) {
    CudaBackend *bk = cuda_backend(x);
    int bf = is_bf16(x);
    size_t es = bf ? 2 : 4;
    int rel = p->rel_pos_h != NULL;
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    if (p->k_len <= 0 || p->head_dim <= 0)
        die("cuda attention: k_len %d and head_dim %d must be positive", p->k_len, p->head_dim);
    if (p->k_len > SOFTMAX_MAX_LEN)
        die("cuda attention: k_len %d over %d is not supported (a softmax row lives in registers)",
            p->k_len, SOFTMAX_MAX_LEN);
    if (rel) {
        if (!p->rel_pos_w) die("cuda attention: rel_pos_h given without rel_pos_w");
        if (p->q_len != p->k_len || p->q_len != p->grid_h * p->grid_w)
            die("cuda attention: rel-pos needs q_len == k_len == grid_h * grid_w (got %d, %d, %dx%d)",
                p->q_len, p->k_len, p->grid_h, p->grid_w);
    }
    int q_len = p->q_len, k_len = p->k_len, hd = p->head_dim;

    // The pairs of a chunk run along the longer of (heads, batch); the other index loops.
    int inner_heads = p->heads >= p->batch;
    int n_inner = inner_heads ? p->heads : p->batch, n_outer = inner_heads ? p->batch : p->heads;
    int64_t qi = inner_heads ? p->q_head_stride : p->q_batch_stride;
    int64_t ki = inner_heads ? p->k_head_stride : p->k_batch_stride;
    int64_t vi = inner_heads ? p->v_head_stride : p->v_batch_stride;
    int64_t oi = inner_heads ? p->o_head_stride : p->o_batch_stride;
    int64_t qo = inner_heads ? p->q_batch_stride : p->q_head_stride;
    int64_t ko = inner_heads ? p->k_batch_stride : p->k_head_stride;
    int64_t vo = inner_heads ? p->v_batch_stride : p->v_head_stride;
    int64_t oo = inner_heads ? p->o_batch_stride : p->o_head_stride;

    // Workspace per query row: S (ld) act with rows padded to 8 elements (aligned rows for
    // cuBLAS and the softmax's vector accesses), then RH and RW (rel_ld) float32.
    int64_t ld = (int64_t)round_up((size_t)k_len, 8);
    int rel_h_n = 2 * p->grid_h - 1, rel_w_n = 2 * p->grid_w - 1;
    int rel_ld = rel ? (int)round_up((size_t)(rel_h_n > rel_w_n ? rel_h_n : rel_w_n), 4) : 0;
    size_t row_bytes = (size_t)ld * es + 2 * (size_t)rel_ld * 4;
    size_t rows_fit = bk->attn_ws_cap / row_bytes;
    int pairs, rows;  // per chunk
    if (rows_fit >= (size_t)q_len) {  // whole pairs
        rows = q_len;
        pairs = (int)(rows_fit / q_len < (size_t)n_inner ? rows_fit / q_len : (size_t)n_inner);
    } else {  // blocks of query rows of one pair, whole GEMM tiles where the budget allows
        pairs = 1;
        rows = rows_fit >= 64 ? (int)(rows_fit / 64 * 64) : rows_fit > 0 ? (int)rows_fit : 1;
    }
    int n_pc = (n_inner + pairs - 1) / pairs, n_rc = (q_len + rows - 1) / rows;
    pairs = (n_inner + n_pc - 1) / n_pc;  // balanced chunks
    rows = (q_len + n_rc - 1) / n_rc;
    size_t s_bytes = round_up((size_t)pairs * rows * ld * es, 256);
    size_t r_bytes = round_up((size_t)pairs * rows * rel_ld * 4, 256);
    char *ws = (char *)cuda_workspace(x, s_bytes + 2 * r_bytes);
    void *S = ws;
    float *RH = rel ? (float *)(ws + s_bytes) : NULL;
    float *RW = rel ? (float *)(ws + s_bytes + r_bytes) : NULL;

    for (int o = 0; o < n_outer; o++) {
        for (int c0 = 0; c0 < n_inner; c0 += pairs) {
            int nc = n_inner - c0 < pairs ? n_inner - c0 : pairs;
            const void *k = (const char *)p->k + (o * ko + c0 * ki) * (int64_t)es;
            const void *v = (const char *)p->v + (o * vo + c0 * vi) * (int64_t)es;
            for (int r0 = 0; r0 < q_len; r0 += rows) {
                int nr = q_len - r0 < rows ? q_len - r0 : rows;
                const void *q = (const char *)p->q + (o * qo + c0 * qi + r0 * p->q_tok_stride) * (int64_t)es;
                void *out = (char *)p->o + (o * oo + c0 * oi + r0 * p->o_tok_stride) * (int64_t)es;
                int64_t s_stride = (int64_t)nr * ld, r_stride = (int64_t)nr * rel_ld;
                // 1. S(nr, k_len) = scale q(nr, hd) k(k_len, hd)^T
                cuda_gemm(x, 0, 1, nr, k_len, hd, p->scale, q, p->q_tok_stride, qi, k,
                          p->k_tok_stride, ki, 0.0f, S, ld, s_stride, nc, bf, bf);
                // 2. RH(nr, 2gh-1) = q Rh^T, RW likewise: the unscaled q, as the official code.
                if (rel) {
                    cuda_gemm(x, 0, 1, nr, rel_h_n, hd, 1.0f, q, p->q_tok_stride, qi,
                              p->rel_pos_h, hd, 0, 0.0f, RH, rel_ld, r_stride, nc, bf, 0);
                    cuda_gemm(x, 0, 1, nr, rel_w_n, hd, 1.0f, q, p->q_tok_stride, qi,
                              p->rel_pos_w, hd, 0, 0.0f, RW, rel_ld, r_stride, nc, bf, 0);
                }
                // 3. S += rel-pos terms; S = softmax(S) row-wise, in place.
                launch_softmax(x, S, (int64_t)nc * nr, k_len, ld, RH, RW, rel_ld, r0, nr,
                               rel ? p->grid_h : 1, rel ? p->grid_w : 1);
                // 4. o(nr, hd) = P(nr, k_len) v(k_len, hd)
                cuda_gemm(x, 0, 0, nr, hd, k_len, 1.0f, S, ld, s_stride, v, p->v_tok_stride,
                          vi, 0.0f, out, p->o_tok_stride, oi, nc, bf, bf);
            }
        }
    }
}
