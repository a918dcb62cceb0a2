// Attention as the official code computes it: the scores are materialised, the decomposed
// relative-position terms added, the softmax taken, and the probabilities multiplied by V.
// ref: segment_anything/modeling/image_encoder.py Attention.forward, add_decomposed_rel_pos
// ref: segment_anything/modeling/transformer.py Attention.forward
//
// Per chunk of (batch, head) pairs and query rows, in a reused workspace:
//   1. S = scale q k^T                     cuBLAS batched, (pairs, rows, k_len) act
//   2. [RH | RW] = q [Rh; Rw]^T            one cuBLAS call against both tables, stacked once at
//                                           load (AttnParams.rel_pos): the rel-pos dot products
//                                           for every relative offset (2g - 1 of them) instead
//                                           of official's gathered (g, g) tables
//   3. S += RH[qy - ky + g - 1] + RW[qx - kx + g - 1]; P = softmax(S)   one fused kernel that
//                                           reads S once and writes P in place (float32 math)
//                                           where the stage chose fusion; else the add is a
//                                           pass of its own over S, as in eager PyTorch
//   4. o = P v                              cuBLAS batched
// Pairs are numbered outer-major over (outer, inner) = (batch, head) or (head, batch), the
// longer index inner. A chunk within one outer index has a uniform stride between its pairs
// and uses strided-batched GEMMs; a chunk of several whole outer indices (the windowed blocks'
// 12 heads x 200 windows, the decoder's heads x prompts) uses pointer-array GEMMs, the
// pointers written by one small kernel, so each product is one launch for the whole chunk
// instead of one per outer index (the decoder's attentions were one launch triple per prompt).
// Chunk size: whole pairs, as many as fit the backend's attn_ws_cap (a memory bound, 2 GiB by
// default: vit_b's global attention at batch 8 in bf16 took 5.92 ms with 512 MiB, 5.63-5.77
// with 2 GiB, measured on the H100); a pair larger than that is split into blocks of query
// rows. Measured on the H100 (tests/gpu/logs): smaller, L2-sized chunks and computing the
// rel-pos dot products inside the softmax kernel were both slower than this (more, smaller
// GEMMs; a latency-bound softmax), so neither is kept.
// bfloat16 table: S and P are bfloat16 as in the official bf16 model, each product accumulates
// in float32, the rel-pos sums and the softmax are float32. The rel-pos dot products are
// stored in the activation type, as the official bf16 model's einsums store them. Variants that
// differ from this only in float32 rounding (float32 rel-pos products, a two-pass softmax,
// expf for __expf) moved the stage's top-mask agreement with fp32 by up to 0.004 either way
// on the default subset and the golden masks' lowest IoU by 0.001: that is the noise of those
// statistics, not a precision ranking (tests/gpu/logs/NOTES.md).
#include "cuda_common.cuh"

#define SOFTMAX_BLOCK 256
#define SOFTMAX_MAX_WARP_LEN (32 * 32)               // warp-per-row kernels: up to 32 per lane
#define SOFTMAX_MAX_LEN (SOFTMAX_BLOCK * 32)         // block-per-row kernels: 8192
#define SOFTMAX_REL_SMEM 512                          // staged rel-pos terms per block, split among its rows

// =============================================================================================
// kernels
// =============================================================================================

// n / d for 0 <= n < 2^31 by a multiply and a shift (m = ceil(2^p / d), p = 31 + ceil(log2 d):
// exact over that range), set up on the host. A hardware-less integer division is some 25
// instructions; the rel-pos rows need three per thread, a visible share of a kernel that
// otherwise issues a few hundred.
typedef struct {
    unsigned m;
    int p;
} FastDiv;
static FastDiv fast_div(int d) {
    int l = 0;
    while ((1ll << l) < d) l++;
    FastDiv f;
    f.p = 31 + l;
    f.m = (unsigned)(((1ull << f.p) + (unsigned long long)d - 1) / (unsigned long long)d);
    return f;
}
static __device__ __forceinline__ int fdiv(int n, FastDiv f) {
    return (int)(((unsigned long long)(unsigned)n * f.m) >> f.p);
}

// VEC consecutive elements at i (VEC = 8: one 16-byte bfloat16 access; 4: 16-byte float32 or
// 8-byte bfloat16; 1: scalar); the caller guarantees the alignment.
static __device__ __forceinline__ void ldv(const void *p, int64_t i, float *v, const int BF,
                                           const int VEC) {
    if (VEC == 8) {
        uint4 u = *(const uint4 *)((const bf16 *)p + i);
        const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int h = 0; h < 4; h++) {
            float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&w[h]);
            v[2 * h] = f.x, v[2 * h + 1] = f.y;
        }
    } else if (VEC == 4) {
        ld4(p, i, v, BF);
    } else {
        v[0] = ld1(p, i, BF);
    }
}
static __device__ __forceinline__ void stv(void *p, int64_t i, const float *v, const int BF,
                                           const int VEC) {
    if (VEC == 8) {
        unsigned w[4];
#pragma unroll
        for (int h = 0; h < 4; h++) {
            __nv_bfloat162 b = __floats2bfloat162_rn(v[2 * h], v[2 * h + 1]);
            w[h] = *(const unsigned *)&b;
        }
        *(uint4 *)((bf16 *)p + i) = make_uint4(w[0], w[1], w[2], w[3]);
    } else if (VEC == 4) {
        st4(p, i, v, BF);
    } else {
        st1(p, i, v[0], BF);
    }
}

// bfloat16: the hardware exp2 (__expf, about 1e-6 relative here), far under the rounding of P
// to bfloat16; float32: the accurate expf.
static __device__ __forceinline__ float sm_exp(float d, const int BF) { return BF ? __expf(d) : expf(d); }

// Merges two partial softmax statistics (max m, sum s of exp(v - m)); a part with no elements
// has s = 0 (and m = -inf), which must not turn the product into NaN.
static __device__ __forceinline__ void sm_merge(float *m, float *s, float m2, float s2, const int BF) {
    float M = fmaxf(*m, m2);
    float a = *s > 0.0f ? *s * sm_exp(*m - M, BF) : 0.0f;
    float b = s2 > 0.0f ? s2 * sm_exp(m2 - M, BF) : 0.0f;
    *m = M, *s = a + b;
}

// One row of S per TPR threads (TPR = 1: a thread, for rows of a few keys such as the decoder's
// image -> token attention, where a warp per row left most lanes idle; TPR = 8: the windowed
// blocks' 196 keys; TPR = 32: a warp; TPR = SOFTMAX_BLOCK: a block). Thread t holds
// the VEC-element groups t, t + TPR, ... in EPT registers (EPT = elements per thread, chosen
// by the launcher as the smallest of 8, 16, 32 that covers the row, so short rows do not pay
// for a long row's registers). Unused slots hold -inf (exp gives 0).
//
// Rel-pos terms from the tables the GEMMs computed: held in registers when every group of a
// thread sits at the same key columns (the global grid, below), else the row's gh + gw terms
// are staged in shared memory (reversed, so key row ky reads hs[ky]) when they fit, else read
// from RH/RW.
// S: (nrows, ld) act. rh, rw: rows of stride rel_ld, act, with 2 gh - 1 / 2 gw - 1 valid
// columns, or NULL. The chunk holds `rows` query rows of each pair starting at query row0: row R is
// query r = row0 + R % rows of its pair, at grid cell (r / gw, r % gw).
//
// The statistics take one pass: each thread's (max, sum of exp) merged across the row, one
// block barrier for the merge (plus one for staging); the stored values are rescaled by
// exp(m_thread - m_row) / sum.
static __device__ __forceinline__ void softmax_body(void *S, int64_t nrows, int k_len,
                                                    int64_t ld, const void *rh,
                                                    const void *rw, int rel_ld, int row0,
                                                    int rows, int gh, int gw,
                                                    FastDiv div_rows, FastDiv div_gw,
                                                    const int BF,
                                                    const int TPR, const int VEC, const int EPT) {
    const int WARPS = SOFTMAX_BLOCK / 32;
    const int GROUPS = TPR >= SOFTMAX_BLOCK ? 1 : SOFTMAX_BLOCK / TPR;  // rows per block
    const int REL_CAP = TPR == 1 ? 0 : SOFTMAX_REL_SMEM / GROUPS;       // staged terms per row
    __shared__ float red_m[WARPS], red_s[WARPS];
    __shared__ float rel_smem[SOFTMAX_REL_SMEM];
    int row;  // nrows < 2^31 (the launcher refuses more)
    int t, live = 1;
    float *stage;
    if (TPR == 1) {
        row = blockIdx.x * SOFTMAX_BLOCK + threadIdx.x;
        t = 0;
        stage = rel_smem;
        if (row >= nrows) return;  // no barrier on this path
    } else if (TPR <= 32) {
        row = blockIdx.x * GROUPS + threadIdx.x / TPR;
        t = threadIdx.x % TPR;
        stage = rel_smem + (threadIdx.x / TPR) * REL_CAP;
        if (TPR == 32 && row >= nrows) return;  // whole warps; no block barrier on this path
        // Narrower groups share a warp with live rows, whose shuffles need every lane: an
        // out-of-range group redoes the last row and stores nothing.
        if (row >= nrows) row = (int)nrows - 1, live = 0;
    } else {
        row = blockIdx.x;
        t = threadIdx.x;
        stage = rel_smem;
    }
    const int NG = EPT / VEC;
    int64_t base = (int64_t)row * ld;
    // The rel-pos terms are fetched first: they are few and their latency hides under the
    // row's loads.
    int64_t h = 0, w = 0;  // rh[h - ky] and rw[w - kx] are the key's terms
    float *hs = stage, *ws = stage;
    // When a thread's groups all sit at the same key column (TPR VEC a multiple of gw, groups
    // within one key row: the 64 x 64 global grid), the thread needs only VEC column terms and
    // one row term per group: it loads them into registers (L2 hits: the table was just
    // written) with no shared memory and no barrier. Dropping it for staging cost bf16 vit_b 2.5 %
    // end to end on the H100 (160.1-160.8 against 164.5-165.0 img/s at batch 8, a58f8e5), so
    // both paths stay.
    const int in_regs = TPR > 1 && rh && (TPR * VEC) % gw == 0 && gw % VEC == 0;
    const int staged = TPR > 1 && rh && !in_regs && gh + gw <= REL_CAP;  // uniform over the row
    if (rh) {
        // attn[q, (ky, kx)] += rel_h[q, ky] + rel_w[q, kx], rel_h[q, ky] = q . Rh[qy - ky + gh - 1]
        int r = row0 + row - fdiv(row, div_rows) * rows;
        int qy = fdiv(r, div_gw), qx = r - qy * gw;
        h = (int64_t)row * rel_ld + qy + gh - 1;
        w = (int64_t)row * rel_ld + qx + gw - 1;
        ws = stage + gh;
    }
    // Staged terms go to registers first and to shared memory only after the row's loads are
    // issued: a store straight from the load would wait for it before the row's loads start.
    const int PRE = (REL_CAP + TPR - 1) / TPR;
    float pre[2];  // PRE <= 2: REL_CAP <= 2 TPR for every TPR above
    if (staged)
#pragma unroll
        for (int k = 0; k < PRE; k++) {
            int i = t + k * TPR;
            pre[k] = i < gh ? ld1(rh, h - i, BF) : i < gh + gw ? ld1(rw, w - (i - gh), BF) : 0.0f;
        }
    float hreg[32], wreg[8];  // in_regs: row term per group, column terms of the groups
    if (in_regs) {
        int ky0 = fdiv(t * VEC, div_gw), kx0 = t * VEC - ky0 * gw, dky = fdiv(TPR * VEC, div_gw);
#pragma unroll
        for (int u = 0; u < VEC; u++) wreg[u] = ld1(rw, w - (kx0 + u), BF);
#pragma unroll
        for (int s = 0; s < NG; s++)
            hreg[s] = (t + TPR * s) * VEC < k_len ? ld1(rh, h - (ky0 + s * dky), BF) : 0.0f;
    }
    float v[32];  // EPT used: the loops below run to the constant EPT, the rest is dead
#pragma unroll
    for (int s = 0; s < NG; s++) {
        int j = (t + TPR * s) * VEC;
        if (j < k_len) ldv(S, base + j, &v[VEC * s], BF, VEC);
        else
#pragma unroll
            for (int u = 0; u < VEC; u++) v[VEC * s + u] = -INFINITY;
    }
    if (in_regs) {
#pragma unroll
        for (int s = 0; s < NG; s++)
#pragma unroll
            for (int u = 0; u < VEC; u++) v[VEC * s + u] += hreg[s] + wreg[u];  // -inf stays
    } else if (rh) {
        if (staged) {
#pragma unroll
            for (int k = 0; k < PRE; k++)
                if (t + k * TPR < gh + gw) stage[t + k * TPR] = pre[k];
            if (TPR <= 32) __syncwarp();
            else __syncthreads();
        }
        // Key j = (ky, kx): one quotient per group, by a float reciprocal (exact: the
        // quotient's error, under j * 2^-23, stays far from the 0.5 / gw to the next integer
        // for j < 2^22), then the group's keys step along the row.
        float inv_gw = 1.0f / (float)gw;
#pragma unroll
        for (int s = 0; s < NG; s++) {
            int j0 = (t + TPR * s) * VEC;
            if (j0 < k_len) {
                int ky = (int)(((float)j0 + 0.5f) * inv_gw), kx = j0 - ky * gw;
                if (VEC > 1 && gw % VEC == 0) {
                    // The group lies in one key row (the global blocks' 64 x 64 grid).
                    float hv = staged ? hs[ky] : ld1(rh, h - ky, BF);
#pragma unroll
                    for (int u = 0; u < VEC; u++)
                        v[VEC * s + u] += hv + (staged ? ws[kx + u] : ld1(rw, w - (kx + u), BF));
                } else {
#pragma unroll
                    for (int u = 0; u < VEC; u++) {
                        v[VEC * s + u] += staged ? hs[ky] + ws[kx] : ld1(rh, h - ky, BF) + ld1(rw, w - kx, BF);
                        if (++kx == gw) kx = 0, ky++;
                    }
                }
            }
        }
    }
    // This thread's statistics; a thread with no elements keeps (-inf, 0).
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < EPT; i++) m = fmaxf(m, v[i]);
    float msafe = m == -INFINITY ? 0.0f : m, sum = 0.0f;
#pragma unroll
    for (int i = 0; i < EPT; i++) {
        float e = sm_exp(v[i] - msafe, BF);
        v[i] = e;
        sum += e;
    }
    float rm = m, rs = sum;
#pragma unroll
    for (int o = (TPR < 32 ? TPR : 32) / 2; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, rm, o), s2 = __shfl_xor_sync(0xffffffffu, rs, o);
        sm_merge(&rm, &rs, m2, s2, BF);
    }
    if (TPR > 32) {
        if ((t & 31) == 0) red_m[t / 32] = rm, red_s[t / 32] = rs;
        __syncthreads();
        rm = red_m[0], rs = red_s[0];
        for (int i = 1; i < TPR / 32; i++) sm_merge(&rm, &rs, red_m[i], red_s[i], BF);
    }
    float scale = sum > 0.0f ? sm_exp(m - rm, BF) / rs : 0.0f;
#pragma unroll
    for (int s = 0; s < NG; s++) {
        int j = (t + TPR * s) * VEC;
        if (live && j < k_len) {
            float o[8];
#pragma unroll
            for (int u = 0; u < VEC; u++) o[u] = v[VEC * s + u] * scale;
            stv(S, base + j, o, BF, VEC);
        }
    }
}

#define SM_ARGS void *S, int64_t nrows, int k_len, int64_t ld, const void *rh, const void *rw, int rel_ld, int row0, int rows, int gh, int gw, FastDiv div_rows, FastDiv div_gw
#define SM_PASS S, nrows, k_len, ld, rh, rw, rel_ld, row0, rows, gh, gw, div_rows, div_gw
typedef void (*SoftmaxKernel)(SM_ARGS);
// softmax_<warp|block>_<dtype>_v<VEC>_e<EPT>
#define SM_KERNEL(KIND, TPR, DT, BF, VEC, EPT)                                                   \
    __global__ void __launch_bounds__(SOFTMAX_BLOCK) softmax_##KIND##_##DT##_v##VEC##_e##EPT(SM_ARGS) { \
        softmax_body(SM_PASS, BF, TPR, VEC, EPT);                                                \
    }
#define SM_KERNELS_EPT(KIND, TPR, EPT)        \
    SM_KERNEL(KIND, TPR, f32, 0, 1, EPT)      \
    SM_KERNEL(KIND, TPR, f32, 0, 4, EPT)      \
    SM_KERNEL(KIND, TPR, bf16, 1, 1, EPT)     \
    SM_KERNEL(KIND, TPR, bf16, 1, 4, EPT)     \
    SM_KERNEL(KIND, TPR, bf16, 1, 8, EPT)
SM_KERNELS_EPT(row, 1, 8)
SM_KERNELS_EPT(row, 1, 32)
SM_KERNELS_EPT(sub8, 8, 32)
SM_KERNELS_EPT(warp, 32, 32)
SM_KERNELS_EPT(block, SOFTMAX_BLOCK, 8)
SM_KERNELS_EPT(block, SOFTMAX_BLOCK, 16)
SM_KERNELS_EPT(block, SOFTMAX_BLOCK, 32)

// [vec index: 1, 4, 8] entries of one (kind, EPT); float32 has no 8-wide access (NULL).
#define SM_ROW(KIND, EPT)                                                                        \
    {{softmax_##KIND##_f32_v1_e##EPT, softmax_##KIND##_f32_v4_e##EPT, NULL},                     \
     {softmax_##KIND##_bf16_v1_e##EPT, softmax_##KIND##_bf16_v4_e##EPT, softmax_##KIND##_bf16_v8_e##EPT}}
static const SoftmaxKernel softmax_row_kernels[2][2][3] = {SM_ROW(row, 8), SM_ROW(row, 32)};
static const SoftmaxKernel softmax_sub_kernels[1][2][3] = {SM_ROW(sub8, 32)};
static const SoftmaxKernel softmax_warp_kernels[1][2][3] = {SM_ROW(warp, 32)};
static const SoftmaxKernel softmax_block_kernels[3][2][3] = {SM_ROW(block, 8), SM_ROW(block, 16), SM_ROW(block, 32)};

// The rel-pos add as a pass of its own (a stage without fusion: the official code's broadcast
// add `attn + rel_h + rel_w` in eager PyTorch): S += RH[qy - ky + gh - 1] + RW[qx - kx + gw - 1],
// read and written in the activation type, one block per score row, VEC consecutive keys per
// thread. The softmax then runs without rel-pos. Indexing as softmax_body's.
static __device__ __forceinline__ void relpos_add_body(void *S, int k_len, int64_t ld,
                                                       const void *rh, const void *rw, int rel_ld,
                                                       int row0, int rows, int gw,
                                                       FastDiv div_rows, FastDiv div_gw,
                                                       int gh, const int BF, const int VEC) {
    int row = blockIdx.x;
    int r = row0 + row - fdiv(row, div_rows) * rows;
    int qy = fdiv(r, div_gw), qx = r - qy * gw;
    int64_t h = (int64_t)row * rel_ld + qy + gh - 1, w = (int64_t)row * rel_ld + qx + gw - 1;
    int64_t base = (int64_t)row * ld;
    for (int j0 = threadIdx.x * VEC; j0 < k_len; j0 += blockDim.x * VEC) {
        int ky = fdiv(j0, div_gw), kx = j0 - ky * gw;
        float v[4];
        ldv(S, base + j0, v, BF, VEC);
#pragma unroll
        for (int u = 0; u < VEC; u++) {
            v[u] += ld1(rh, h - ky, BF) + ld1(rw, w - kx, BF);
            if (++kx == gw) kx = 0, ky++;
        }
        stv(S, base + j0, v, BF, VEC);
    }
}
#define RA_ARGS void *S, int k_len, int64_t ld, const void *rh, const void *rw, int rel_ld, int row0, int rows, int gw, FastDiv div_rows, FastDiv div_gw, int gh
#define RA_PASS S, k_len, ld, rh, rw, rel_ld, row0, rows, gw, div_rows, div_gw, gh
__global__ void relpos_add_f32_v1(RA_ARGS) { relpos_add_body(RA_PASS, 0, 1); }
__global__ void relpos_add_f32_v4(RA_ARGS) { relpos_add_body(RA_PASS, 0, 4); }
__global__ void relpos_add_bf16_v1(RA_ARGS) { relpos_add_body(RA_PASS, 1, 1); }
__global__ void relpos_add_bf16_v4(RA_ARGS) { relpos_add_body(RA_PASS, 1, 4); }

// Device pointer arrays of a multi-outer chunk, pairs p0 .. p0 + np - 1 (pair p: outer
// p / n_inner, inner p % n_inner): out[a * np + i] = base[a] + outer[a] o + inner[a] i for the
// arrays below, in this order (the workspace arrays' bases are shifted so pair p0 is first).
enum { PTR_Q, PTR_K, PTR_V, PTR_O, PTR_S, PTR_REL, PTR_TAB, N_PTR };
typedef struct {
    const char *base[N_PTR];
    int64_t inner[N_PTR], outer[N_PTR];  // byte strides
} PtrPlan;
__global__ void attn_pointers(const char **out, int np, int p0, int n_inner, PtrPlan pl) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < np; i += gridDim.x * blockDim.x) {
        int p = p0 + i, o = p / n_inner, in = p - o * n_inner;
        for (int a = 0; a < N_PTR; a++) out[a * np + i] = pl.base[a] + o * pl.outer[a] + in * pl.inner[a];
    }
}

// =============================================================================================
// launchers
// =============================================================================================

static void launch_softmax(Exec *x, void *S, int64_t nrows, int k_len, int64_t ld,
                           const void *rh, const void *rw, int rel_ld, int row0, int rows,
                           int gh, int gw) {
    int bf = is_bf16(x);
    // Vector accesses need whole groups in every row and aligned row starts (16 bytes).
    int vi = 0;
    if (bf && k_len % 8 == 0 && ld % 8 == 0 && aligned16(S)) vi = 2;
    else if (k_len % 4 == 0 && ld % 4 == 0 && (bf ? aligned8(S) : aligned16(S))) vi = 1;
    if (nrows > 0x7fffffff) die("cuda attention: %lld score rows in one chunk", (long long)nrows);
    if (rh && !x->ops->choices.fusion) {
        // Without fusion the rel-pos terms are added by a pass of their own (above).
        int v4 = vi > 0;
        int threads = k_len / (v4 ? 4 : 1) >= 256 ? 256 : 64;
        void (*ra)(RA_ARGS) = bf ? (v4 ? relpos_add_bf16_v4 : relpos_add_bf16_v1)
                                 : (v4 ? relpos_add_f32_v4 : relpos_add_f32_v1);
        ra<<<(unsigned)nrows, threads, 0, cuda_stream(x)>>>(S, k_len, ld, rh, rw, rel_ld, row0, rows, gw,
                                                           fast_div(rows), fast_div(gw), gh);
        LAUNCH_CHECK(x, "attention rel-pos add");
        rh = rw = NULL;
        gh = gw = 1;
    }
    // A thread per row up to 32 keys (the rel-pos terms of a grid that small come from global
    // memory: no staging on that path), 8 threads up to 256, a warp up to 1024, a block beyond.
    // Measured on the H100, vit_b's windowed attention (196 keys) at batch 8: 0.96 ms with a
    // warp per row, 0.90 with 16 threads, 0.82 with 8 (more rows in flight per warp, fewer
    // shuffle rounds).
    int per_thread = k_len <= 32, warp = !per_thread && k_len <= SOFTMAX_MAX_WARP_LEN;
    SoftmaxKernel k;
    int64_t blocks;
    if (per_thread) {
        k = softmax_row_kernels[k_len <= 8 ? 0 : 1][bf][vi];
        blocks = (nrows + SOFTMAX_BLOCK - 1) / SOFTMAX_BLOCK;
    } else if (k_len <= 8 * 32) {
        k = softmax_sub_kernels[0][bf][vi];
        blocks = (nrows + SOFTMAX_BLOCK / 8 - 1) / (SOFTMAX_BLOCK / 8);
    } else if (warp) {
        k = softmax_warp_kernels[0][bf][vi];  // 257 to 1024 keys: 32 per lane
        blocks = (nrows + SOFTMAX_BLOCK / 32 - 1) / (SOFTMAX_BLOCK / 32);
    } else {
        k = softmax_block_kernels[k_len <= SOFTMAX_BLOCK * 8 ? 0 : k_len <= SOFTMAX_BLOCK * 16 ? 1 : 2][bf][vi];
        blocks = nrows;
    }
    if (blocks > 0x7fffffff) die("cuda attention: %lld score rows in one chunk", (long long)nrows);
    k<<<(unsigned)blocks, SOFTMAX_BLOCK, 0, cuda_stream(x)>>>(S, nrows, k_len, ld, rh, rw, rel_ld,
                                                              row0, rows, gh, gw,
                                                              fast_div(rows), fast_div(gw));
    LAUNCH_CHECK(x, "attention softmax");
}

// Workspace per query row: S (ld) then [RH | RW] (rel_row: RH in columns [0, rel_h_n), RW
// after it), act, rows padded to 8 elements (aligned rows for cuBLAS and the softmax's 16-byte
// accesses; the rel-pos terms are read one by one).
typedef struct {
    int64_t ld;            // S row: k_len padded
    int rel_h_n, rel_w_n;  // rows of Rh and Rw in the stacked table (0 without rel-pos)
    int64_t rel_row;       // [RH | RW] row: rel_h_n + rel_w_n padded
    size_t row_bytes;
} AttnRows;

static AttnRows attn_rows(const AttnParams *p, size_t es) {
    AttnRows g;
    int rel = p->rel_pos != NULL;
    g.ld = (int64_t)round_up((size_t)p->k_len, 8);
    g.rel_h_n = rel ? 2 * p->grid_h - 1 : 0;
    g.rel_w_n = rel ? 2 * p->grid_w - 1 : 0;
    g.rel_row = (int64_t)round_up((size_t)(g.rel_h_n + g.rel_w_n), 8);
    g.row_bytes = ((size_t)g.ld + (size_t)g.rel_row) * es;
    return g;
}

extern "C" size_t cuda_attention_pair_bytes(const AttnParams *p, int bf16) {
    return attn_rows(p, bf16 ? 2 : 4).row_bytes * (size_t)p->q_len;
}

// How a call is cut into chunks that fit the workspace bound, and the workspace they need.
typedef struct {
    int inner_heads, n_inner, n_outer;
    int outers, pairs, rows, ptrs;
    size_t s_bytes, r_bytes, p_bytes;
} AttnChunks;

static AttnChunks attn_chunks(const AttnParams *p, size_t es, size_t ws_cap) {
    AttnChunks c;
    int rel = p->rel_pos != NULL, q_len = p->q_len;
    // Pairs run inner along the longer of (heads, batch).
    c.inner_heads = p->heads >= p->batch;
    int n_inner = c.inner_heads ? p->heads : p->batch, n_outer = c.inner_heads ? p->batch : p->heads;
    c.n_inner = n_inner, c.n_outer = n_outer;
    AttnRows g = attn_rows(p, es);
    size_t rows_fit = ws_cap / g.row_bytes;
    size_t pairs_fit = rows_fit / (size_t)q_len;
    // Chunks: several whole outer indices (pointer arrays), or pairs of one outer index
    // (strided), or query-row blocks of one pair; balanced so the last is not a sliver.
    int outers = 1, pairs, rows;
    if (pairs_fit >= (size_t)n_inner && n_outer > 1) {
        outers = (int)(pairs_fit / n_inner < (size_t)n_outer ? pairs_fit / n_inner : (size_t)n_outer);
        int n_oc = (n_outer + outers - 1) / outers;
        outers = (n_outer + n_oc - 1) / n_oc;
        pairs = outers * n_inner;
        rows = q_len;
    } else if (pairs_fit >= 1) {
        pairs = (int)(pairs_fit < (size_t)n_inner ? pairs_fit : (size_t)n_inner);
        int n_pc = (n_inner + pairs - 1) / pairs;
        pairs = (n_inner + n_pc - 1) / n_pc;
        rows = q_len;
    } else {
        pairs = 1;
        rows = rows_fit >= 64 ? (int)(rows_fit / 64 * 64) : rows_fit > 0 ? (int)rows_fit : 1;
        int n_rc = (q_len + rows - 1) / rows;
        rows = (q_len + n_rc - 1) / n_rc;
    }
    c.outers = outers, c.pairs = pairs, c.rows = rows, c.ptrs = outers > 1;
    c.s_bytes = round_up((size_t)pairs * rows * g.ld * es, 256);
    c.r_bytes = rel ? round_up((size_t)pairs * rows * g.rel_row * es, 256) : 0;
    c.p_bytes = c.ptrs ? round_up((size_t)N_PTR * pairs * sizeof(void *), 256) : 0;
    return c;
}

// The workspace a call needs (the planning pass sizes the workspace with it).
static size_t explicit_workspace_bytes(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0 || p->k_len <= 0) return 0;
    AttnChunks c = attn_chunks(p, is_bf16(x) ? 2 : 4, cuda_backend(x)->attn_ws_cap);
    return c.s_bytes + c.r_bytes + c.p_bytes;
}

extern "C" void cuda_attention(Exec *x, const AttnParams *p) {
    CudaBackend *bk = cuda_backend(x);
    int bf = is_bf16(x);
    size_t es = bf ? 2 : 4;
    int rel = p->rel_pos != NULL;
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    if (p->k_len <= 0 || p->head_dim <= 0)
        die("cuda attention: k_len %d and head_dim %d must be positive", p->k_len, p->head_dim);
    if (p->k_len > SOFTMAX_MAX_LEN)
        die("cuda attention: k_len %d over %d is not supported (a softmax row lives in registers)",
            p->k_len, SOFTMAX_MAX_LEN);
    if (rel) {
        if (p->q_len != p->k_len || p->q_len != p->grid_h * p->grid_w)
            die("cuda attention: rel-pos needs q_len == k_len == grid_h * grid_w (got %d, %d, %dx%d)",
                p->q_len, p->k_len, p->grid_h, p->grid_w);
    }
    int q_len = p->q_len, k_len = p->k_len, hd = p->head_dim;

    AttnChunks ch = attn_chunks(p, es, bk->attn_ws_cap);
    int inner_heads = ch.inner_heads, n_inner = ch.n_inner, n_outer = ch.n_outer;
    int64_t qi = inner_heads ? p->q_head_stride : p->q_batch_stride;
    int64_t ki = inner_heads ? p->k_head_stride : p->k_batch_stride;
    int64_t vi = inner_heads ? p->v_head_stride : p->v_batch_stride;
    int64_t oi = inner_heads ? p->o_head_stride : p->o_batch_stride;
    int64_t qo = inner_heads ? p->q_batch_stride : p->q_head_stride;
    int64_t ko = inner_heads ? p->k_batch_stride : p->k_head_stride;
    int64_t vo = inner_heads ? p->v_batch_stride : p->v_head_stride;
    int64_t oo = inner_heads ? p->o_batch_stride : p->o_head_stride;

    AttnRows g = attn_rows(p, es);
    const int64_t ld = g.ld, rel_row = g.rel_row;
    const int rel_n = g.rel_h_n + g.rel_w_n;  // columns the stacked table's product writes
    int pairs = ch.pairs, rows = ch.rows, ptrs = ch.ptrs;
    size_t s_bytes = ch.s_bytes, r_bytes = ch.r_bytes, p_bytes = ch.p_bytes;
    char *ws = (char *)cuda_workspace(x, s_bytes + r_bytes + p_bytes);
    void *S = ws;
    char *REL = rel ? ws + s_bytes : NULL;  // [RH | RW] rows
    const void *TAB = p->rel_pos;           // [Rh; Rw]
    const char **P = ptrs ? (const char **)(ws + s_bytes + r_bytes) : NULL;
    const int64_t s_stride = (int64_t)rows * ld, r_stride = (int64_t)rows * rel_row;
    // The softmax's views of the product: RH at column 0, RW right after it.
    const void *RH = REL, *RW = rel ? REL + (size_t)g.rel_h_n * es : NULL;

    if (ptrs) {
        // Whole pairs, several outer indices per chunk: every product one pointer-array call.
        PtrPlan pl;
        const void *bases[N_PTR] = {p->q, p->k, p->v, p->o, S, REL, TAB};
        const int64_t inner[N_PTR] = {qi * (int64_t)es, ki * (int64_t)es, vi * (int64_t)es,
                                      oi * (int64_t)es, s_stride * (int64_t)es,
                                      r_stride * (int64_t)es, 0};
        const int64_t outer[N_PTR] = {qo * (int64_t)es, ko * (int64_t)es, vo * (int64_t)es,
                                      oo * (int64_t)es, (int64_t)n_inner * s_stride * (int64_t)es,
                                      (int64_t)n_inner * r_stride * (int64_t)es, 0};
        for (int a = 0; a < N_PTR; a++) {  // absent arrays (no rel-pos) stay NULL, unused
            pl.base[a] = (const char *)bases[a];
            pl.inner[a] = bases[a] ? inner[a] : 0, pl.outer[a] = bases[a] ? outer[a] : 0;
        }
        // When one outer index's pairs are consecutive query rows (the windowed blocks: the
        // windows of one head), the rel-pos product of a whole outer index is one tall GEMM
        // (m = pairs x rows), strided over the chunk's outers, instead of a small one per pair.
        int rel_tall = qi == (int64_t)q_len * p->q_tok_stride;
        int total = n_outer * n_inner;
        for (int p0 = 0; p0 < total; p0 += pairs) {
            int np = total - p0 < pairs ? total - p0 : pairs;
            // The chunk's S and REL start at the workspace base: outer offsets relative to p0's.
            PtrPlan cp = pl;
            for (int a = PTR_S; a <= PTR_REL; a++)
                if (cp.base[a]) cp.base[a] -= (int64_t)p0 * pl.inner[a];
            attn_pointers<<<grid_for(np, 256), 256, 0, cuda_stream(x)>>>(P, np, p0, n_inner, cp);
            LAUNCH_CHECK(x, "attention pointers");
            const void *const *pq = (const void *const *)P + PTR_Q * np;
            const void *const *pk = (const void *const *)P + PTR_K * np;
            const void *const *pv = (const void *const *)P + PTR_V * np;
            void *const *po = (void *const *)P + PTR_O * np;
            void *const *pS = (void *const *)P + PTR_S * np;
            // 1. S(q_len, k_len) = scale q k^T
            cuda_gemm_ptrs(x, 0, 1, q_len, k_len, hd, p->scale, pq, p->q_tok_stride, pk,
                           p->k_tok_stride, 0.0f, pS, ld, np, bf, bf);
            // 2. rel-pos dot products (the unscaled q, as the official code)
            if (rel && rel_tall) {
                int o0 = p0 / n_inner;  // chunks hold whole outer indices
                cuda_gemm(x, 0, 1, n_inner * q_len, rel_n, hd, 1.0f,
                          (const char *)p->q + o0 * qo * (int64_t)es, p->q_tok_stride, qo, TAB, hd,
                          0, 0.0f, REL, rel_row, (int64_t)n_inner * r_stride, np / n_inner, bf, bf);
            } else if (rel) {
                cuda_gemm_ptrs(x, 0, 1, q_len, rel_n, hd, 1.0f, pq, p->q_tok_stride,
                               (const void *const *)P + PTR_TAB * np, hd, 0.0f,
                               (void *const *)P + PTR_REL * np, rel_row, np, bf, bf);
            }
            // 3. rel-pos terms and softmax, in place
            launch_softmax(x, S, (int64_t)np * q_len, k_len, ld, RH, RW, (int)rel_row, 0, q_len,
                           rel ? p->grid_h : 1, rel ? p->grid_w : 1);
            // 4. o = P v
            cuda_gemm_ptrs(x, 0, 0, q_len, hd, k_len, 1.0f, (const void *const *)pS, ld, pv,
                           p->v_tok_stride, 0.0f, po, p->o_tok_stride, np, bf, bf);
        }
        return;
    }

    for (int o = 0; o < n_outer; o++) {
        for (int c0 = 0; c0 < n_inner; c0 += pairs) {
            int nc = n_inner - c0 < pairs ? n_inner - c0 : pairs;
            const void *k = (const char *)p->k + (o * ko + c0 * ki) * (int64_t)es;
            const void *v = (const char *)p->v + (o * vo + c0 * vi) * (int64_t)es;
            for (int r0 = 0; r0 < q_len; r0 += rows) {
                int nr = q_len - r0 < rows ? q_len - r0 : rows;
                const void *q = (const char *)p->q + (o * qo + c0 * qi + r0 * p->q_tok_stride) * (int64_t)es;
                void *out = (char *)p->o + (o * oo + c0 * oi + r0 * p->o_tok_stride) * (int64_t)es;
                int64_t cs_stride = (int64_t)nr * ld, cr_stride = (int64_t)nr * rel_row;
                // 1. S(nr, k_len) = scale q(nr, hd) k(k_len, hd)^T
                cuda_gemm(x, 0, 1, nr, k_len, hd, p->scale, q, p->q_tok_stride, qi, k,
                          p->k_tok_stride, ki, 0.0f, S, ld, cs_stride, nc, bf, bf);
                // 2. [RH | RW](nr, rel_n) = q [Rh; Rw]^T: the unscaled q, as the official code.
                if (rel)
                    cuda_gemm(x, 0, 1, nr, rel_n, hd, 1.0f, q, p->q_tok_stride, qi, TAB, hd, 0,
                              0.0f, REL, rel_row, cr_stride, nc, bf, bf);
                // 3. S += rel-pos terms; S = softmax(S) row-wise, in place.
                launch_softmax(x, S, (int64_t)nc * nr, k_len, ld, RH, RW, (int)rel_row, r0, nr,
                               rel ? p->grid_h : 1, rel ? p->grid_w : 1);
                // 4. o(nr, hd) = P(nr, k_len) v(k_len, hd)
                cuda_gemm(x, 0, 0, nr, hd, k_len, 1.0f, S, ld, cs_stride, v, p->v_tok_stride,
                          vi, 0.0f, out, p->o_tok_stride, oi, nc, bf, bf);
            }
        }
    }
}

extern "C" const AttentionImpl cuda_attention_explicit = {
    "explicit",                           // name
    "cuda",                               // backend
    (1u << DT_F32) | (1u << DT_BF16),     // dtypes
    cuda_attention,                       // run
    explicit_workspace_bytes,             // workspace_bytes
};
