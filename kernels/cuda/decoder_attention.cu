// The mask decoder's attentions as flash kernels for few tokens (the nested stage's decoder
// attention, "decoder-flash"): in SAM's two-way transformer one side of every attention is a
// prompt's handful of tokens (1 IoU + 4 mask tokens + the sparse prompt embeddings, 7 for a
// point prompt) and the other its 4096 image tokens, head dims 16 (cross attentions, 128 / 8)
// and 32 (token self-attention, 256 / 8).
// ref: segment_anything/modeling/transformer.py Attention.forward
//
// Explicit attention runs these as batched GEMMs whose shapes (7 x 4096 x 16 per prompt and
// head) cuBLAS serves with its slow fallbacks (cutlass_75 wmma, magma_sgemmEx: 0.35 ms per
// batch of 26 prompts on the H200, tests/gpu/logs/h200-2026-12-01-c/step-call3-ncu_nested_all.log)
// plus a materialised score matrix and a softmax pass. Both kernels here read q, k and v once,
// keep the scores in registers and shared memory, and take a float32 online softmax
// (flash-attention's running max and sum) with the output rounded once:
//
//   short keys  (any q_len; k_len small: self-attention, image-to-token): one thread per
//               (query, head); the keys and values of DA_WARPS heads staged in shared memory
//               DA_KCHUNK at a time, the output row accumulated in registers.
//   split keys  (few queries, k_len long: token-to-image): flash-decoding. Block (split, head,
//               batch entry) takes a range of keys; partial (max, sum, output row) per split to
//               the workspace, and a second kernel merges the splits. bfloat16 (q_len <= 16):
//               on tensor cores, each warp a flash-attention-2 loop over chunks of 32 keys
//               (split_mma_body). float32 (q_len <= 32, the tests' reference-precision path):
//               on CUDA cores, one key per thread per step (split_keys_body).
//
// Per prompt and head the token-to-image products are 7 x 4096 x 16, a few MFLOP: the aim is
// to read k and v (and q and o for image-to-token) once each at memory speed. The first
// version of the split kernel on CUDA cores took 0.19 ms per call at 52 prompts (explicit
// bf16: 0.12; tests/gpu/logs/h200-2026-12-01-d/call1), its P V loop issue-bound.
//
// Ragged decoding: AttnParams.q_batch_of / kv_batch_of let call entry b read q (or k and v) of
// another batch entry (its image's, shared by all its prompts) without a per-prompt copy.
#include "cuda_common.cuh"

#define DA_THREADS 128
#define DA_WARPS (DA_THREADS / 32)
#define DA_KEYS DA_THREADS               // split keys: keys per step, one per thread
#define DA_MAX_Q 32                      // split keys: at most this many queries
#define DA_QPW (DA_MAX_Q / DA_WARPS)     // split keys: queries per warp
#define DA_KCHUNK 8                      // short keys: keys staged per step
#define DA_SPLIT_MIN_KEYS (2 * DA_KEYS)  // split keys serve k_len above this (and q_len <= DA_MAX_Q)
#define DA_MAX_HD 32                     // shared arrays are sized for the larger head dim
#define DA_LOG2E 1.4426950408889634f

typedef struct {
    const void *q, *k, *v;
    void *o;
    float *part;  // split keys: (batch, heads, q_len, splits, 2 + hd) max, sum, output row
    const int32_t *q_of, *kv_of;  // batch entry of q and of k, v per call entry, or NULL
    int heads, q_len, k_len, splits, keys_per_split;
    int64_t q_bs, q_ts, q_hs, k_bs, k_ts, k_hs, v_bs, v_ts, v_hs, o_bs, o_ts, o_hs;
    float c;  // scale * log2(e): scores in base 2
} DaArgs;

// HD consecutive elements at i into v (HD a multiple of 4; 8-byte bfloat16 / 16-byte float32
// accesses, aligned by the checks of da_check).
static __device__ __forceinline__ void ld_row(const void *p, int64_t i, float *v, const int BF, const int HD) {
#pragma unroll
    for (int d = 0; d < HD; d += 4) ld4(p, i + d, v + d, BF);
}

// ---- short keys --------------------------------------------------------------------------
// grid (query chunks of 32, groups of DA_WARPS heads, batch entries), DA_THREADS threads: warp
// -> head of the group, lane -> query. A warp's lanes read the same staged key and value rows
// (shared-memory broadcasts; with heads across a warp's lanes instead, each 16-byte read of a
// quarter-warp was a transaction of its own and the kernel was bound by them: 43 us per
// image-to-token call at 26 prompts, call 2).
static __device__ __forceinline__ void short_keys_body(const DaArgs a, const int BF, const int HD) {
    __shared__ __align__(16) float ks[DA_KCHUNK][DA_WARPS][DA_MAX_HD + 4];
    __shared__ __align__(16) float vs[DA_KCHUNK][DA_WARPS][DA_MAX_HD + 4];
    int b = blockIdx.z, g0 = blockIdx.y * DA_WARPS;
    int hg = a.heads - g0 < DA_WARPS ? a.heads - g0 : DA_WARPS;
    int hl = threadIdx.x >> 5, t = blockIdx.x * 32 + (threadIdx.x & 31), h = g0 + hl;
    bool active = hl < hg && t < a.q_len;
    int64_t qb = a.q_of ? a.q_of[b] : b, kb = a.kv_of ? a.kv_of[b] : b;
    float q[DA_MAX_HD], o[DA_MAX_HD], m = -INFINITY, l = 0.0f;
#pragma unroll
    for (int d = 0; d < HD; d++) o[d] = 0.0f, q[d] = 0.0f;
    if (active) {
        ld_row(a.q, qb * a.q_bs + (int64_t)t * a.q_ts + (int64_t)h * a.q_hs, q, BF, HD);
#pragma unroll
        for (int d = 0; d < HD; d++) q[d] *= a.c;
    }
    for (int j0 = 0; j0 < a.k_len; j0 += DA_KCHUNK) {
        int nk = a.k_len - j0 < DA_KCHUNK ? a.k_len - j0 : DA_KCHUNK;
        __syncthreads();  // the previous step's keys are read
        for (int i = threadIdx.x; i < nk * hg * (HD / 4); i += DA_THREADS) {
            int qd = i % (HD / 4), r = i / (HD / 4), hh = r % hg, jj = r / hg;
            int64_t tok = j0 + jj;
            ld4(a.k, kb * a.k_bs + tok * a.k_ts + (int64_t)(g0 + hh) * a.k_hs + 4 * qd, &ks[jj][hh][4 * qd], BF);
            ld4(a.v, kb * a.v_bs + tok * a.v_ts + (int64_t)(g0 + hh) * a.v_hs + 4 * qd, &vs[jj][hh][4 * qd], BF);
        }
        __syncthreads();
        if (!active) continue;
        // The chunk's scores, then one rescale of the running sums per chunk (not per key).
        float sc[DA_KCHUNK], mx = m;
#pragma unroll
        for (int jj = 0; jj < DA_KCHUNK; jj++) {
            float s = -INFINITY;
            if (jj < nk) {
                s = 0.0f;
#pragma unroll
                for (int d = 0; d < HD; d += 4) {
                    float4 kk = *(const float4 *)&ks[jj][hl][d];
                    s += q[d] * kk.x + q[d + 1] * kk.y + q[d + 2] * kk.z + q[d + 3] * kk.w;
                }
            }
            sc[jj] = s, mx = fmaxf(mx, s);
        }
        float corr = exp2f(m - mx);
        l *= corr;
#pragma unroll
        for (int d = 0; d < HD; d++) o[d] *= corr;
#pragma unroll
        for (int jj = 0; jj < DA_KCHUNK; jj++) {
            if (jj >= nk) break;
            float p = exp2f(sc[jj] - mx);
            l += p;
#pragma unroll
            for (int d = 0; d < HD; d += 4) {
                float4 vv = *(const float4 *)&vs[jj][hl][d];
                o[d] += p * vv.x, o[d + 1] += p * vv.y, o[d + 2] += p * vv.z, o[d + 3] += p * vv.w;
            }
        }
        m = mx;
    }
    if (!active) return;
    float inv = 1.0f / l;
#pragma unroll
    for (int d = 0; d < HD; d++) o[d] *= inv;
    int64_t oi = (int64_t)b * a.o_bs + (int64_t)t * a.o_ts + (int64_t)h * a.o_hs;
#pragma unroll
    for (int d = 0; d < HD; d += 4) st4(a.o, oi + d, o + d, BF);
}

// ---- split keys --------------------------------------------------------------------------
// grid (splits, heads, batch entries), DA_THREADS threads. Warp w owns queries w, w + DA_WARPS,
// ...: lane (phase, d) holds output element d of a query, over the keys of its phase (lanes
// past HD take the other keys of a step when HD < 32; folded at the end).
static __device__ __forceinline__ void split_keys_body(const DaArgs a, const int BF, const int HD) {
    __shared__ __align__(16) float qs[DA_MAX_Q][DA_MAX_HD];  // q * scale * log2 e
    __shared__ float vs[DA_KEYS][DA_MAX_HD + 1];           // +1: a step's row-per-thread stores spread over banks
    __shared__ float ps[DA_MAX_Q][DA_KEYS];                // scores, then probabilities
    int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int NPH = 32 / HD;
    int d = lane % HD, phase = lane / HD;
    int64_t qb = a.q_of ? a.q_of[b] : b, kb = a.kv_of ? a.kv_of[b] : b;
    for (int i = threadIdx.x; i < a.q_len * (HD / 4); i += DA_THREADS) {
        int t = i / (HD / 4), qd = i % (HD / 4);
        float v4[4];
        ld4(a.q, qb * a.q_bs + (int64_t)t * a.q_ts + (int64_t)h * a.q_hs + 4 * qd, v4, BF);
#pragma unroll
        for (int e = 0; e < 4; e++) qs[t][4 * qd + e] = v4[e] * a.c;
    }
    float m[DA_QPW], l[DA_QPW], o[DA_QPW];
#pragma unroll
    for (int i = 0; i < DA_QPW; i++) m[i] = -INFINITY, l[i] = 0.0f, o[i] = 0.0f;
    int k0 = split * a.keys_per_split;
    int k1 = k0 + a.keys_per_split < a.k_len ? k0 + a.keys_per_split : a.k_len;
    for (int c0 = k0; c0 < k1; c0 += DA_KEYS) {
        __syncthreads();  // q staged / the previous step's values and probabilities read
        int j = c0 + threadIdx.x;
        bool valid = j < k1;
        float kr[DA_MAX_HD];
        if (valid) {
            ld_row(a.k, kb * a.k_bs + (int64_t)j * a.k_ts + (int64_t)h * a.k_hs, kr, BF, HD);
            float vr[DA_MAX_HD];
            ld_row(a.v, kb * a.v_bs + (int64_t)j * a.v_ts + (int64_t)h * a.v_hs, vr, BF, HD);
#pragma unroll
            for (int e = 0; e < HD; e++) vs[threadIdx.x][e] = vr[e];
        } else {
#pragma unroll
            for (int e = 0; e < HD; e++) vs[threadIdx.x][e] = 0.0f, kr[e] = 0.0f;
        }
        for (int t = 0; t < a.q_len; t++) {
            float s = 0.0f;
#pragma unroll
            for (int e = 0; e < HD; e += 4) {
                float4 qq = *(const float4 *)&qs[t][e];
                s += qq.x * kr[e] + qq.y * kr[e + 1] + qq.z * kr[e + 2] + qq.w * kr[e + 3];
            }
            ps[t][threadIdx.x] = valid ? s : -INFINITY;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < DA_QPW; i++) {
            int t = warp + DA_WARPS * i;
            if (t >= a.q_len) continue;  // uniform over the warp
            float s4[DA_KEYS / 32], mx = -INFINITY;
#pragma unroll
            for (int r = 0; r < DA_KEYS / 32; r++) s4[r] = ps[t][lane + 32 * r], mx = fmaxf(mx, s4[r]);
            mx = warp_max(mx);
            float mn = fmaxf(m[i], mx), sum = 0.0f;  // finite: a step has at least one key
#pragma unroll
            for (int r = 0; r < DA_KEYS / 32; r++) {
                float p = exp2f(s4[r] - mn);
                ps[t][lane + 32 * r] = p;
                sum += p;
            }
            sum = warp_sum(sum);
            float corr = exp2f(m[i] - mn);
            l[i] = l[i] * corr + sum, m[i] = mn;
            __syncwarp();
            float acc = 0.0f;
            for (int jj = phase; jj < DA_KEYS; jj += NPH) acc += ps[t][jj] * vs[jj][d];
            o[i] = o[i] * corr + acc;
        }
    }
    const int row = 2 + HD;
#pragma unroll
    for (int i = 0; i < DA_QPW; i++) {
        int t = warp + DA_WARPS * i;
        if (t >= a.q_len) continue;
        float oo = o[i];
        for (int off = HD; off < 32; off <<= 1) oo += __shfl_xor_sync(0xffffffffu, oo, off);
        if (phase != 0) continue;
        float *pp = a.part + ((((int64_t)b * a.heads + h) * a.q_len + t) * a.splits + split) * row;
        if (d == 0) pp[0] = m[i], pp[1] = l[i];
        pp[2 + d] = oo;
    }
}

// ---- split keys on tensor cores (bfloat16) ------------------------------------------------
// As split_keys_body, with mma.sync.m16n8k16 (bfloat16 in, float32 accumulate): the queries
// (q_len <= 16, zero rows past it) are one 16-row A operand held in registers for the whole
// range; each warp takes chunks of 32 keys (warp w: chunks w, w + DA_WARPS, ...) with its own
// running softmax, flash-attention-2 style: S = Q K^T (K's B fragments straight from global
// memory), the scaled scores' row max over the quad, P = exp2(S - max) kept in registers as the
// next product's A operand (bfloat16, as flash attention rounds P), O += P V (V's chunk staged
// in shared memory and read transposed by ldmatrix). Each warp's partial (max, sum, output row)
// goes to the workspace as a split of its own: splits x DA_WARPS of them, merged by merge_body.
#define DA_MMA_MAX_Q 16
#define DA_CHUNK 32
#define DA_VS (DA_MAX_HD + 8)  // V chunk row: 80 bytes, so an ldmatrix's 8 rows hit 8 bank groups

static __device__ __forceinline__ unsigned da_ld32(const bf16 *p) { return *(const unsigned *)p; }
static __device__ __forceinline__ void da_ldsm_x4_t(unsigned r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}
// d (16 x 8, float32) += a (16 x 16, bfloat16, row) b (16 x 8, bfloat16, col)
static __device__ __forceinline__ void da_mma(float d[4], const unsigned a[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ unsigned da_pack(float lo, float hi) {
    __nv_bfloat162 b = __floats2bfloat162_rn(lo, hi);
    return *(const unsigned *)&b;
}

// One chunk's loads: the B fragments of K for the chunk's 4 n-tiles (key c0 + 8 nt + g; keys
// past the range read the last valid key, masked later) and this lane's V row (key c0 + lane;
// zeros past the range).
static __device__ __forceinline__ void da_load_chunk(const bf16 *kp, const bf16 *vp, int64_t k_ts, int64_t v_ts, int c0,
                                                     int k1, int lane, int g, int tq,
                                                     unsigned kf[4][DA_MAX_HD / 16][2], uint2 vr[DA_MAX_HD / 4],
                                                     const int HD) {
#pragma unroll
    for (int nt = 0; nt < 4; nt++) {
        int key = c0 + 8 * nt + g;
        const bf16 *kr = kp + (int64_t)(key < k1 ? key : k1 - 1) * k_ts + 2 * tq;
#pragma unroll
        for (int ks = 0; ks < HD / 16; ks++) kf[nt][ks][0] = da_ld32(kr + 16 * ks), kf[nt][ks][1] = da_ld32(kr + 16 * ks + 8);
    }
    int key = c0 + lane;
#pragma unroll
    for (int d = 0; d < HD; d += 4)
        vr[d / 4] = key < k1 ? *(const uint2 *)(vp + (int64_t)key * v_ts + d) : make_uint2(0u, 0u);
}

static __device__ __forceinline__ void split_mma_body(const DaArgs a, const int HD) {
    const int KC = HD / 16, NV = HD / 8;  // k-steps of Q K^T, n-tiles of the output row
    __shared__ __align__(16) bf16 sv[DA_WARPS][DA_CHUNK][DA_VS];
    int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    int64_t qb = a.q_of ? a.q_of[b] : b, kb = a.kv_of ? a.kv_of[b] : b;
    const bf16 *qp = (const bf16 *)a.q + qb * a.q_bs + (int64_t)h * a.q_hs;
    const bf16 *kp = (const bf16 *)a.k + kb * a.k_bs + (int64_t)h * a.k_hs;
    const bf16 *vp = (const bf16 *)a.v + kb * a.v_bs + (int64_t)h * a.v_hs;
    unsigned qa[DA_MAX_HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < KC; ks++) {
        const bf16 *r0 = qp + (int64_t)g * a.q_ts + 16 * ks + 2 * tq, *r1 = r0 + 8 * a.q_ts;
        bool v0 = g < a.q_len, v1 = g + 8 < a.q_len;
        qa[ks][0] = v0 ? da_ld32(r0) : 0u, qa[ks][1] = v1 ? da_ld32(r1) : 0u;
        qa[ks][2] = v0 ? da_ld32(r0 + 8) : 0u, qa[ks][3] = v1 ? da_ld32(r1 + 8) : 0u;
    }
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // rows g, g + 8
    float o[DA_MAX_HD / 8][4];
#pragma unroll
    for (int nv = 0; nv < NV; nv++) o[nv][0] = o[nv][1] = o[nv][2] = o[nv][3] = 0.0f;
    int k0 = split * a.keys_per_split;
    int k1 = k0 + a.keys_per_split < a.k_len ? k0 + a.keys_per_split : a.k_len;
    // Software pipelined: chunk c's K fragments and V row are in registers while chunk c - 1 is
    // computed, so each warp has a chunk's loads in flight at all times (without it the loop
    // waited on every chunk's loads: 35 us per token-to-image call at 26 prompts, call 2).
    unsigned kf[4][DA_MAX_HD / 16][2];
    uint2 vr[DA_MAX_HD / 4];
    int c0 = k0 + warp * DA_CHUNK;
    if (c0 < k1) da_load_chunk(kp, vp, a.k_ts, a.v_ts, c0, k1, lane, g, tq, kf, vr, HD);
    for (; c0 < k1; c0 += DA_WARPS * DA_CHUNK) {
        unsigned kc[4][DA_MAX_HD / 16][2];
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int ks = 0; ks < KC; ks++) kc[nt][ks][0] = kf[nt][ks][0], kc[nt][ks][1] = kf[nt][ks][1];
        {
            bf16 *dst = &sv[warp][lane][0];
#pragma unroll
            for (int d = 0; d < HD; d += 4) *(uint2 *)(dst + d) = vr[d / 4];
        }
        int cn = c0 + DA_WARPS * DA_CHUNK;
        if (cn < k1) da_load_chunk(kp, vp, a.k_ts, a.v_ts, cn, k1, lane, g, tq, kf, vr, HD);
        // S = Q K^T: 4 n-tiles of 8 keys.
        float s[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < KC; ks++) da_mma(s[nt], qa[ks], kc[nt][ks][0], kc[nt][ks][1]);
        }
        // Scale to base 2, mask keys past the range, running max per row over the quad.
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = c0 + 8 * nt + 2 * tq + (e & 1);
                float v = key < k1 ? s[nt][e] * a.c : -INFINITY;
                s[nt][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v);
                else mx1 = fmaxf(mx1, v);
            }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float c0r = exp2f(m0 - mx0), c1r = exp2f(m1 - mx1);  // finite maxima: a chunk has a key
        m0 = mx0, m1 = mx1;
        l0 *= c0r, l1 *= c1r;  // per-lane partial sums, reduced over the quad at the end
#pragma unroll
        for (int nv = 0; nv < NV; nv++) o[nv][0] *= c0r, o[nv][1] *= c0r, o[nv][2] *= c1r, o[nv][3] *= c1r;
        unsigned pa[2][4];
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            float p0 = exp2f(s[nt][0] - mx0), p1 = exp2f(s[nt][1] - mx0);
            float p2 = exp2f(s[nt][2] - mx1), p3 = exp2f(s[nt][3] - mx1);
            l0 += p0 + p1, l1 += p2 + p3;
            pa[nt >> 1][(nt & 1) * 2] = da_pack(p0, p1);
            pa[nt >> 1][(nt & 1) * 2 + 1] = da_pack(p2, p3);
        }
        __syncwarp();  // the V chunk is written
        // O += P V: k-steps of 16 keys; V's B fragments by ldmatrix.trans, two n-tiles per x4.
#pragma unroll
        for (int j = 0; j < 2; j++) {
            int key = 16 * j + (lane & 7) + ((lane >> 3) & 1) * 8;
            if (NV >= 4) {
#pragma unroll
                for (int pr = 0; pr < NV / 2; pr++) {
                    unsigned r[4];
                    da_ldsm_x4_t(r, &sv[warp][key][16 * pr + (lane >> 4) * 8]);
                    da_mma(o[2 * pr], pa[j], r[0], r[1]);
                    da_mma(o[2 * pr + 1], pa[j], r[2], r[3]);
                }
            } else {
                unsigned r[4];
                da_ldsm_x4_t(r, &sv[warp][key][(lane >> 4) * 8]);
                da_mma(o[0], pa[j], r[0], r[1]);
                da_mma(o[1], pa[j], r[2], r[3]);
            }
        }
        __syncwarp();  // read before the next chunk overwrites it
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const int row = 2 + HD;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int t = g + 8 * half;
        if (t >= a.q_len) continue;
        float *pp = a.part + ((((int64_t)b * a.heads + h) * a.q_len + t) * a.splits + (int64_t)split * DA_WARPS + warp) * row;
        if (tq == 0) pp[0] = half ? m1 : m0, pp[1] = half ? l1 : l0;
#pragma unroll
        for (int nv = 0; nv < NV; nv++) {
            pp[2 + 8 * nv + 2 * tq] = o[nv][2 * half];
            pp[2 + 8 * nv + 2 * tq + 1] = o[nv][2 * half + 1];
        }
    }
}

// One warp per (batch entry, head, query): the splits' partial softmaxes merged, the row
// normalised and stored. Lanes past HD only help read the maxima and sums.
static __device__ __forceinline__ void merge_body(const DaArgs a, int64_t rows, const int BF, const int HD) {
    int64_t r = ((int64_t)blockIdx.x * DA_THREADS + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    int t = (int)(r % a.q_len);
    int64_t bh = r / a.q_len;
    int h = (int)(bh % a.heads);
    int64_t b = bh / a.heads;
    const int row = 2 + HD;
    const float *pp = a.part + r * a.splits * row;
    // The lanes read the partials' maxima and sums side by side; the output rows' loads are
    // independent of each other (unrolled), so they overlap instead of queueing.
    float mx = -INFINITY;
    for (int s = lane; s < a.splits; s += 32) mx = fmaxf(mx, pp[s * row]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int s = lane; s < a.splits; s += 32) sum += pp[s * row + 1] * exp2f(pp[s * row] - mx);
    sum = warp_sum(sum);
    if (lane >= HD) return;
    float acc = 0.0f;
#pragma unroll 8
    for (int s = 0; s < a.splits; s++) acc += pp[s * row + 2 + lane] * exp2f(pp[s * row] - mx);
    st1(a.o, b * a.o_bs + (int64_t)t * a.o_ts + (int64_t)h * a.o_hs + lane, acc / sum, BF);
}

#define DA_KERNELS(HD)                                                                                  \
    __global__ void __launch_bounds__(DA_THREADS) da_short_f32_hd##HD(DaArgs a) { short_keys_body(a, 0, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_short_bf16_hd##HD(DaArgs a) { short_keys_body(a, 1, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_split_f32_hd##HD(DaArgs a) { split_keys_body(a, 0, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_split_bf16_hd##HD(DaArgs a) { split_keys_body(a, 1, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_split_mma_hd##HD(DaArgs a) { split_mma_body(a, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_merge_f32_hd##HD(DaArgs a, int64_t rows) { merge_body(a, rows, 0, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_merge_bf16_hd##HD(DaArgs a, int64_t rows) { merge_body(a, rows, 1, HD); }
DA_KERNELS(16)
DA_KERNELS(32)

typedef void (*DaKernel)(DaArgs);
typedef void (*DaMerge)(DaArgs, int64_t);
// [head dim 16, 32][float32, bfloat16]
static const DaKernel da_short[2][2] = {{da_short_f32_hd16, da_short_bf16_hd16}, {da_short_f32_hd32, da_short_bf16_hd32}};
static const DaKernel da_split[2][2] = {{da_split_f32_hd16, da_split_bf16_hd16}, {da_split_f32_hd32, da_split_bf16_hd32}};
static const DaKernel da_split_mma[2] = {da_split_mma_hd16, da_split_mma_hd32};
static const DaMerge da_merge[2][2] = {{da_merge_f32_hd16, da_merge_bf16_hd16}, {da_merge_f32_hd32, da_merge_bf16_hd32}};

// =============================================================================================
// launcher
// =============================================================================================

// Refuses, by name, what the kernels do not do.
static void da_check(const AttnParams *p) {
    const char *who = "cuda attention decoder-flash";
    if (p->rel_pos) die("%s: a rel-pos table is not implemented (the decoder's attentions have none)", who);
    if (p->head_dim != 16 && p->head_dim != 32)
        die("%s: head dim %d is not implemented (16 and 32: the SAM decoder's)", who, p->head_dim);
    if (p->k_len <= 0) die("%s: k_len %d must be positive", who, p->k_len);
    if (!(p->scale > 0.0f)) die("%s: scale %g is not implemented (positive only)", who, p->scale);
    const void *ptrs[4] = {p->q, p->k, p->v, p->o};
    for (int i = 0; i < 4; i++)
        if (!aligned16(ptrs[i])) die("%s: q, k, v and o must be 16-byte aligned", who);
    const int64_t st[12] = {p->q_batch_stride, p->q_tok_stride, p->q_head_stride,
                            p->k_batch_stride, p->k_tok_stride, p->k_head_stride,
                            p->v_batch_stride, p->v_tok_stride, p->v_head_stride,
                            p->o_batch_stride, p->o_tok_stride, p->o_head_stride};
    for (int i = 0; i < 12; i++)
        if (st[i] % 4 != 0) die("%s: strides must be multiples of 4 elements", who);
    if (p->batch > 65535 || p->heads > 65535)
        die("%s: batch %d or heads %d over 65535 is not implemented", who, p->batch, p->heads);
}

// 0: short keys; 1: split keys on CUDA cores (float32); 2: split keys on tensor cores (bfloat16).
static int da_kind(Exec *x, const AttnParams *p) {
    if (p->k_len <= DA_SPLIT_MIN_KEYS) return 0;
    if (is_bf16(x)) return p->q_len <= DA_MMA_MAX_Q ? 2 : 0;
    return p->q_len <= DA_MAX_Q ? 1 : 0;
}

// Splits of the keys: enough blocks for 8 per SM, whole steps of DA_KEYS keys each. Partial
// results per split, or per split and warp on tensor cores.
static void da_splits(Exec *x, const AttnParams *p, int *splits, int *keys_per_split, int *partials) {
    int64_t pairs = (int64_t)p->batch * p->heads, want = 8LL * cuda_backend(x)->prop.multiProcessorCount;
    int steps = (p->k_len + DA_KEYS - 1) / DA_KEYS;
    int64_t s = (want + pairs - 1) / pairs;
    if (s > steps) s = steps;
    if (s < 1) s = 1;
    int per = (int)((steps + s - 1) / s) * DA_KEYS;
    *keys_per_split = per;
    *splits = (p->k_len + per - 1) / per;
    *partials = *splits * (da_kind(x, p) == 2 ? DA_WARPS : 1);
}

static size_t da_workspace_bytes(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0 || p->k_len <= 0 || da_kind(x, p) == 0) return 0;
    int splits, per, partials;
    da_splits(x, p, &splits, &per, &partials);
    return (size_t)p->batch * p->heads * p->q_len * partials * (2 + p->head_dim) * sizeof(float);
}

static void da_run(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    da_check(p);
    int bf = is_bf16(x), hi = p->head_dim == 32;
    DaArgs a;
    memset(&a, 0, sizeof a);
    a.q = p->q, a.k = p->k, a.v = p->v, a.o = p->o;
    a.q_of = p->q_batch_of, a.kv_of = p->kv_batch_of;
    a.heads = p->heads, a.q_len = p->q_len, a.k_len = p->k_len;
    a.q_bs = p->q_batch_stride, a.q_ts = p->q_tok_stride, a.q_hs = p->q_head_stride;
    a.k_bs = p->k_batch_stride, a.k_ts = p->k_tok_stride, a.k_hs = p->k_head_stride;
    a.v_bs = p->v_batch_stride, a.v_ts = p->v_tok_stride, a.v_hs = p->v_head_stride;
    a.o_bs = p->o_batch_stride, a.o_ts = p->o_tok_stride, a.o_hs = p->o_head_stride;
    a.c = p->scale * DA_LOG2E;
    cudaStream_t s = cuda_stream(x);
    int kind = da_kind(x, p);
    if (kind) {
        int splits;
        da_splits(x, p, &splits, &a.keys_per_split, &a.splits);
        a.part = (float *)cuda_workspace(x, da_workspace_bytes(x, p));
        dim3 grid((unsigned)splits, (unsigned)p->heads, (unsigned)p->batch);
        if (kind == 2) da_split_mma[hi]<<<grid, DA_THREADS, 0, s>>>(a);
        else da_split[hi][bf]<<<grid, DA_THREADS, 0, s>>>(a);
        LAUNCH_CHECK(x, "decoder-flash split keys");
        int64_t rows = (int64_t)p->batch * p->heads * p->q_len;
        int64_t blocks = (rows * 32 + DA_THREADS - 1) / DA_THREADS;
        if (blocks > 0x7fffffffLL) die("cuda attention decoder-flash: %lld rows are too many", (long long)rows);
        da_merge[hi][bf]<<<(unsigned)blocks, DA_THREADS, 0, s>>>(a, rows);
        LAUNCH_CHECK(x, "decoder-flash merge");
    } else {
        dim3 grid((unsigned)((p->q_len + 31) / 32), (unsigned)((p->heads + DA_WARPS - 1) / DA_WARPS),
                  (unsigned)p->batch);
        da_short[hi][bf]<<<grid, DA_THREADS, 0, s>>>(a);
        LAUNCH_CHECK(x, "decoder-flash short keys");
    }
}

// Which kernel a call takes (the tests and the benchmark name it).
extern "C" const char *cuda_decoder_flash_kernel(Exec *x, const AttnParams *p) {
    static const char *const name[3] = {"short keys", "split keys", "split keys (tensor cores)"};
    return name[da_kind(x, p)];
}

extern "C" const AttentionImpl cuda_attention_decoder_flash = {
    "decoder-flash",                      // name
    "cuda",                               // backend
    (1u << DT_F32) | (1u << DT_BF16),     // dtypes
    da_run,                               // run
    da_workspace_bytes,                   // workspace_bytes
    1,                                    // takes_batch_index
};
