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
// plus a materialised score matrix and a softmax pass. The kernels here read q, k and v once,
// keep the scores in registers and shared memory, and take a float32 online softmax
// (flash-attention's running max and sum) with the output rounded once. Per prompt and head
// the products are a few MFLOP: the aim is to move q, k, v and o once at memory speed.
//
//   bfloat16, every head of a batch entry in one block, on tensor cores (below: t2i_mma_body,
//   i2t_mma_body): token-to-image (q_len <= 16) as flash-decoding over splits of the keys,
//   image-to-token and the tokens' self-attention (k_len <= 16) one product per 16 queries.
//   CUDA cores, float32 (the tests' reference-precision path) and bfloat16 calls past those
//   limits (more than 16 prompt tokens against more than 16 keys, e.g. predict with many
//   points):
//   short keys  one thread per (query, head); the keys and values of DA_WARPS heads staged in
//               shared memory DA_KCHUNK at a time, the output row accumulated in registers.
//   split keys  (q_len <= 32, k_len > 256) flash-decoding: block (split, head, batch entry),
//               one key per thread per step.
// The split kernels write a partial (max, sum, output row) per split to the workspace and a
// second kernel merges them. cuda_decoder_flash_kernel names the kernel a call takes.
//
// History on the H200 at 52 prompts (tests/gpu/logs/h200-2026-12-01-d): the split kernel on
// CUDA cores took 0.19 ms per token-to-image call (explicit bf16: 0.12; not profiled); on tensor
// cores with each head's 32-byte row slices loaded straight into fragments, 0.072 ms, bound by
// L1 wavefronts (call 4's ncu: 93 % of L1 throughput); the image-to-token calls on CUDA cores
// 0.086 ms with heads across a warp's lanes (not profiled) and 0.117 ms with a warp per head,
// bound by L2 (call 4's ncu: 82 %, partial-sector accesses).
//
// Ragged decoding: AttnParams.q_batch_of / kv_batch_of let call entry b read q (or k and v) of
// another batch entry (its image's, shared by all its prompts) without a per-prompt copy.
#include "cuda_common.cuh"
#include "mma_ptx.cuh"

#define DA_THREADS 128
#define DA_WARPS (DA_THREADS / 32)
#define DA_KEYS DA_THREADS               // split keys: keys per step, one per thread
#define DA_MAX_Q 32                      // split keys: at most this many queries
#define DA_QPW (DA_MAX_Q / DA_WARPS)     // split keys: queries per warp
#define DA_KCHUNK 8                      // short keys: keys staged per step
#define DA_SPLIT_MIN_KEYS (2 * DA_KEYS)  // split keys serve k_len above this (and q_len <= DA_MAX_Q)
#define DA_MAX_HD 32                     // shared arrays are sized for the larger head dim

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
// -> head of the group, lane -> query: a warp's lanes read the same staged key and value rows
// (shared-memory broadcasts). Measured for bfloat16 image-to-token at 52 prompts this mapping
// was slower than heads across a warp's lanes (0.117 against 0.086 ms a call, calls 2-3: L2-bound
// on partial-sector q loads and o stores); bfloat16 calls within the tensor-core kernels' limits
// no longer come here, so this kernel serves float32 and the calls past those limits.
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

// ---- tensor-core kernels (bfloat16): every head of a batch entry in one block -------------
// mma.sync.m16n8k16 (bfloat16 in, float32 accumulate), one warp per head. The block stages
// whole token rows (all heads: contiguous, 16-byte loads) in shared memory and each warp takes
// its head's columns with ldmatrix. (A first version gave each head its own block and loaded
// its 32-byte slice of every row straight into fragments: bound by L1 wavefronts, 93 % of L1
// throughput at 1.9 TB/s, 60 us per token-to-image call at 52 prompts; call 4's ncu.)
//
//   t2i (q_len <= 16, k_len > 16: token-to-image): block (split, batch entry) takes a range of
//       keys in chunks of 32, double-buffered through cp.async. The queries are one 16-row A
//       operand in registers; per chunk S = Q K^T, the scaled scores' row max over the quad,
//       P = exp2(S - max) as the next product's A operand (bfloat16, as flash attention rounds
//       P), O += P V (V read transposed by ldmatrix). Partial (max, sum, row) per split.
//   i2t (k_len <= 16: image-to-token, token self-attention): block (tile of DA_QTILE queries,
//       batch entry); K and V (zero rows past k_len) staged once, their fragments kept in
//       registers; per 16 queries one product for S, a softmax over the quad, one for P V; the
//       normalised rows go back over the tile's q rows in shared memory and leave as whole
//       16-byte row pieces.
#define DA_CHUNK 32        // t2i: keys per step
#define DA_MMA_MAX_Q 16    // t2i: queries (one m-tile)
#define DA_MMA_MAX_K 16    // i2t: keys (one k-step)
#define DA_QTILE 64        // i2t: queries per block
#define DA_MMA_MAX_DI 256  // heads x head dim staged per row
#define DA_MMA_MAX_THREADS (32 * DA_MMA_MAX_DI / 16)  // a warp per head, head dim at least 16

static __device__ __forceinline__ unsigned da_ld32(const bf16 *p) { return *(const unsigned *)p; }
// S's accumulators over NT n-tiles (key key0 + 8 nt + 2 tq + (e & 1)) scaled to base 2 by c,
// keys at or past `limit` set to -inf; *mx0, *mx1 (rows g, g + 8) raised to the rows' maxima
// over the quad.
static __device__ __forceinline__ void scale_mask_max(float s[][4], const int NT, int key0, int limit, float c,
                                                      int tq, float *mx0, float *mx1) {
    float a = *mx0, b = *mx1;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int key = key0 + 8 * nt + 2 * tq + (e & 1);
            float v = key < limit ? s[nt][e] * c : -INFINITY;
            s[nt][e] = v;
            if (e < 2) a = fmaxf(a, v);
            else b = fmaxf(b, v);
        }
    *mx0 = quad_max(a), *mx1 = quad_max(b);
}
static __host__ __device__ __forceinline__ int da_rs(int di) { return di + 8; }  // smem row: an odd count of 16-byte units
static __host__ __device__ __forceinline__ size_t da_t2i_smem(int di) { return (size_t)4 * DA_CHUNK * da_rs(di) * 2; }
static __host__ __device__ __forceinline__ size_t da_i2t_smem(int di) {
    return (size_t)(2 * DA_MMA_MAX_K + DA_QTILE) * da_rs(di) * 2;
}

// Rows [r0, r0 + n) of a (rows, heads, HD) tensor (explicit strides) into shared rows of RS
// elements, head hh at column hh * HD, by 16-byte cp.async pieces; rows at or past `valid`
// are zero-filled (their source clamped to row 0, never read).
static __device__ __forceinline__ void da_stage(bf16 *dst, int RS, const bf16 *src, int64_t ts, int64_t hs,
                                                int r0, int n, int valid, int heads, const int HD) {
    const int per_row = heads * (HD / 8);
    for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
        int r = i / per_row, rem = i - r * per_row, hh = rem / (HD / 8), cc = rem - hh * (HD / 8);
        int row = r0 + r;
        bool ok = row < valid;
        cp_async16(dst + (int64_t)r * RS + hh * HD + cc * 8, src + (ok ? (int64_t)row * ts : 0) + hh * hs + cc * 8, ok ? 16 : 0);
    }
    cp_async_commit();
}

static __device__ __forceinline__ void t2i_mma_body(const DaArgs a, const int HD) {
    extern __shared__ __align__(16) unsigned char da_smem[];
    const int KC = HD / 16, NV = HD / 8;
    const int heads = a.heads, RS = da_rs(heads * HD);
    bf16 *sK = (bf16 *)da_smem, *sV = sK + 2 * DA_CHUNK * RS;  // [stage][key][RS] each
    int split = blockIdx.x, b = blockIdx.y;
    int h = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    int64_t qb = a.q_of ? a.q_of[b] : b, kb = a.kv_of ? a.kv_of[b] : b;
    const bf16 *qp = (const bf16 *)a.q + qb * a.q_bs + (int64_t)h * a.q_hs;
    const bf16 *kbase = (const bf16 *)a.k + kb * a.k_bs, *vbase = (const bf16 *)a.v + kb * a.v_bs;
    int k0 = split * a.keys_per_split;
    int k1 = k0 + a.keys_per_split < a.k_len ? k0 + a.keys_per_split : a.k_len;
    da_stage(sK, RS, kbase, a.k_ts, a.k_hs, k0, DA_CHUNK, k1, heads, HD);
    da_stage(sV, RS, vbase, a.v_ts, a.v_hs, k0, DA_CHUNK, k1, heads, HD);
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
    int st = 0;
    for (int c0 = k0; c0 < k1; c0 += DA_CHUNK, st ^= 1) {
        if (c0 + DA_CHUNK < k1) {
            da_stage(sK + (st ^ 1) * DA_CHUNK * RS, RS, kbase, a.k_ts, a.k_hs, c0 + DA_CHUNK, DA_CHUNK, k1, heads, HD);
            da_stage(sV + (st ^ 1) * DA_CHUNK * RS, RS, vbase, a.v_ts, a.v_hs, c0 + DA_CHUNK, DA_CHUNK, k1, heads, HD);
            cp_async_wait2();
        } else {
            cp_async_wait0();
        }
        __syncthreads();
        const bf16 *cK = sK + st * DA_CHUNK * RS + h * HD, *cV = sV + st * DA_CHUNK * RS + h * HD;
        // S = Q K^T: n-tiles of 8 keys, two per ldmatrix.x4 (key rows, head columns).
        float s[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
        for (int np = 0; np < 2; np++)
#pragma unroll
            for (int ks = 0; ks < KC; ks++) {
                unsigned r[4];
                ldsm_x4(r, cK + (16 * np + (lane & 7) + ((lane >> 4) << 3)) * RS + 16 * ks + ((lane >> 3) & 1) * 8);
                mma_bf16(s[2 * np], qa[ks], r[0], r[1]);
                mma_bf16(s[2 * np + 1], qa[ks], r[2], r[3]);
            }
        // Scale to base 2, mask keys past the range, running max per row over the quad.
        float mx0 = m0, mx1 = m1;
        scale_mask_max(s, 4, c0, k1, a.c, tq, &mx0, &mx1);
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
            pa[nt >> 1][(nt & 1) * 2] = pack_bf16(p0, p1);
            pa[nt >> 1][(nt & 1) * 2 + 1] = pack_bf16(p2, p3);
        }
        // O += P V: k-steps of 16 keys; V's B fragments by ldmatrix.trans, two n-tiles per x4.
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int pr = 0; pr < NV / 2; pr++) {
                unsigned r[4];
                ldsm_x4_t(r, cV + (16 * j + (lane & 7) + ((lane >> 3) & 1) * 8) * RS + 16 * pr + (lane >> 4) * 8);
                mma_bf16(o[2 * pr], pa[j], r[0], r[1]);
                mma_bf16(o[2 * pr + 1], pa[j], r[2], r[3]);
            }
        __syncthreads();  // stage st is read before the next iteration loads into it
    }
    l0 = quad_sum(l0), l1 = quad_sum(l1);
    const int row = 2 + HD;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int t = g + 8 * half;
        if (t >= a.q_len) continue;
        float *pp = a.part + ((((int64_t)b * heads + h) * a.q_len + t) * a.splits + split) * row;
        if (tq == 0) pp[0] = half ? m1 : m0, pp[1] = half ? l1 : l0;
#pragma unroll
        for (int nv = 0; nv < NV; nv++) {
            pp[2 + 8 * nv + 2 * tq] = o[nv][2 * half];
            pp[2 + 8 * nv + 2 * tq + 1] = o[nv][2 * half + 1];
        }
    }
}

static __device__ __forceinline__ void i2t_mma_body(const DaArgs a, const int HD) {
    extern __shared__ __align__(16) unsigned char da_smem[];
    const int KC = HD / 16, NV = HD / 8;
    const int heads = a.heads, RS = da_rs(heads * HD);
    bf16 *sK = (bf16 *)da_smem, *sV = sK + DA_MMA_MAX_K * RS, *sQ = sV + DA_MMA_MAX_K * RS;
    int t0 = blockIdx.x * DA_QTILE, b = blockIdx.y;
    int h = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    int64_t qb = a.q_of ? a.q_of[b] : b, kb = a.kv_of ? a.kv_of[b] : b;
    da_stage(sK, RS, (const bf16 *)a.k + kb * a.k_bs, a.k_ts, a.k_hs, 0, DA_MMA_MAX_K, a.k_len, heads, HD);
    da_stage(sV, RS, (const bf16 *)a.v + kb * a.v_bs, a.v_ts, a.v_hs, 0, DA_MMA_MAX_K, a.k_len, heads, HD);
    da_stage(sQ, RS, (const bf16 *)a.q + qb * a.q_bs, a.q_ts, a.q_hs, t0, DA_QTILE, a.q_len, heads, HD);
    cp_async_wait0();
    __syncthreads();
    // K's B fragments (n-tiles of keys 0-7, 8-15) and V's (two n-tiles of head dims per x4).
    unsigned kf[DA_MAX_HD / 16][4], vf[DA_MAX_HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < KC; ks++)
        ldsm_x4(kf[ks], sK + ((lane & 7) + ((lane >> 4) << 3)) * RS + h * HD + 16 * ks + ((lane >> 3) & 1) * 8);
#pragma unroll
    for (int pr = 0; pr < NV / 2; pr++)
        ldsm_x4_t(vf[pr], sV + ((lane & 7) + ((lane >> 3) & 1) * 8) * RS + h * HD + 16 * pr + (lane >> 4) * 8);
    int mtiles = (a.q_len - t0 + 15) / 16;
    if (mtiles > DA_QTILE / 16) mtiles = DA_QTILE / 16;
    for (int mt = 0; mt < mtiles; mt++) {
        bf16 *rows = sQ + 16 * mt * RS + h * HD;
        float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
        for (int ks = 0; ks < KC; ks++) {
            unsigned qa[4];
            ldsm_x4(qa, rows + (lane & 15) * RS + 16 * ks + (lane >> 4) * 8);
            mma_bf16(s[0], qa, kf[ks][0], kf[ks][1]);
            mma_bf16(s[1], qa, kf[ks][2], kf[ks][3]);
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
        scale_mask_max(s, 2, 0, a.k_len, a.c, tq, &mx0, &mx1);
        float p[2][4], l0 = 0.0f, l1 = 0.0f;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            p[nt][0] = exp2f(s[nt][0] - mx0), p[nt][1] = exp2f(s[nt][1] - mx0);
            p[nt][2] = exp2f(s[nt][2] - mx1), p[nt][3] = exp2f(s[nt][3] - mx1);
            l0 += p[nt][0] + p[nt][1], l1 += p[nt][2] + p[nt][3];
        }
        l0 = quad_sum(l0), l1 = quad_sum(l1);
        unsigned pa[4] = {pack_bf16(p[0][0], p[0][1]), pack_bf16(p[0][2], p[0][3]), pack_bf16(p[1][0], p[1][1]),
                          pack_bf16(p[1][2], p[1][3])};
        float o[DA_MAX_HD / 8][4];
#pragma unroll
        for (int pr = 0; pr < NV / 2; pr++) {
#pragma unroll
            for (int e = 0; e < 4; e++) o[2 * pr][e] = o[2 * pr + 1][e] = 0.0f;
            mma_bf16(o[2 * pr], pa, vf[pr][0], vf[pr][1]);
            mma_bf16(o[2 * pr + 1], pa, vf[pr][2], vf[pr][3]);
        }
        float i0 = 1.0f / l0, i1 = 1.0f / l1;
        __syncwarp();  // every lane's q fragments are read before the rows are overwritten
#pragma unroll
        for (int nv = 0; nv < NV; nv++) {
            *(unsigned *)(rows + g * RS + 8 * nv + 2 * tq) = pack_bf16(o[nv][0] * i0, o[nv][1] * i0);
            *(unsigned *)(rows + (g + 8) * RS + 8 * nv + 2 * tq) = pack_bf16(o[nv][2] * i1, o[nv][3] * i1);
        }
    }
    __syncthreads();
    // The tile's output rows, as 16-byte pieces of each head's columns.
    const int per_row = heads * (HD / 8);
    int n = a.q_len - t0 < DA_QTILE ? a.q_len - t0 : DA_QTILE;
    bf16 *op = (bf16 *)a.o + (int64_t)b * a.o_bs;
    for (int i = threadIdx.x; i < n * per_row; i += blockDim.x) {
        int r = i / per_row, rem = i - r * per_row, hh = rem / (HD / 8), cc = rem - hh * (HD / 8);
        *(uint4 *)(op + (int64_t)(t0 + r) * a.o_ts + (int64_t)hh * a.o_hs + cc * 8) =
            *(const uint4 *)(sQ + r * RS + hh * HD + cc * 8);
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
    __global__ void __launch_bounds__(DA_MMA_MAX_THREADS) da_t2i_mma_hd##HD(DaArgs a) { t2i_mma_body(a, HD); } \
    __global__ void __launch_bounds__(DA_MMA_MAX_THREADS) da_i2t_mma_hd##HD(DaArgs a) { i2t_mma_body(a, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_merge_f32_hd##HD(DaArgs a, int64_t rows) { merge_body(a, rows, 0, HD); } \
    __global__ void __launch_bounds__(DA_THREADS) da_merge_bf16_hd##HD(DaArgs a, int64_t rows) { merge_body(a, rows, 1, HD); }
DA_KERNELS(16)
DA_KERNELS(32)

typedef void (*DaKernel)(DaArgs);
typedef void (*DaMerge)(DaArgs, int64_t);
// [head dim 16, 32][float32, bfloat16]
static const DaKernel da_short[2][2] = {{da_short_f32_hd16, da_short_bf16_hd16}, {da_short_f32_hd32, da_short_bf16_hd32}};
static const DaKernel da_split[2][2] = {{da_split_f32_hd16, da_split_bf16_hd16}, {da_split_f32_hd32, da_split_bf16_hd32}};
static const DaKernel da_t2i[2] = {da_t2i_mma_hd16, da_t2i_mma_hd32};
static const DaKernel da_i2t[2] = {da_i2t_mma_hd16, da_i2t_mma_hd32};
static const DaMerge da_merge[2][2] = {{da_merge_f32_hd16, da_merge_bf16_hd16}, {da_merge_f32_hd32, da_merge_bf16_hd32}};
static size_t da_smem_set[2][2];  // [t2i, i2t][head dim]: the dynamic shared-memory limit raised so far

// =============================================================================================
// launcher
// =============================================================================================

// Refuses, by name, what the kernels do not do.
static void da_check(Exec *x, const AttnParams *p) {
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
    int unit = is_bf16(x) ? 8 : 4;  // 16 bytes: the tensor-core kernels move 16-byte row pieces
    for (int i = 0; i < 12; i++)
        if (st[i] % unit != 0) die("%s: strides must be multiples of %d elements (16 bytes)", who, unit);
    if (p->batch > 65535 || p->heads > 65535)
        die("%s: batch %d or heads %d over 65535 is not implemented", who, p->batch, p->heads);
}

// Which kernel: 0 short keys (CUDA cores), 1 split keys (CUDA cores), 2 t2i and 3 i2t (tensor
// cores, bfloat16, every head of an entry in one block: up to DA_MMA_MAX_DI columns, so at most
// 16 heads of 16).
static int da_kind(Exec *x, const AttnParams *p) {
    if (is_bf16(x) && p->heads * p->head_dim <= DA_MMA_MAX_DI) {
        if (p->k_len <= DA_MMA_MAX_K) return 3;
        if (p->q_len <= DA_MMA_MAX_Q) return 2;
    }
    return p->q_len <= DA_MAX_Q && p->k_len > DA_SPLIT_MIN_KEYS ? 1 : 0;
}

// A call's kernel and, for the split kernels, its splits of the keys and workspace: t2i blocks
// take whole chunks of DA_CHUNK keys, about 4 blocks per SM; the CUDA-core split kernel whole
// steps of DA_KEYS, about 8 blocks per SM.
typedef struct {
    int kind;            // da_kind
    int splits, keys_per_split;
    size_t ws_bytes;     // partials of the split kernels
} DaPlan;

static DaPlan da_plan(Exec *x, const AttnParams *p) {
    DaPlan pl = {da_kind(x, p), 0, 0, 0};
    if (pl.kind != 1 && pl.kind != 2) return pl;
    int mma = pl.kind == 2, unit = mma ? DA_CHUNK : DA_KEYS;
    int64_t per_split = mma ? p->batch : (int64_t)p->batch * p->heads;  // blocks per split
    int64_t want = (mma ? 4LL : 8LL) * cuda_backend(x)->prop.multiProcessorCount;
    int steps = (p->k_len + unit - 1) / unit;
    int64_t s = (want + per_split - 1) / per_split;
    if (s > steps) s = steps;
    if (s < 1) s = 1;
    pl.keys_per_split = (int)((steps + s - 1) / s) * unit;
    pl.splits = (p->k_len + pl.keys_per_split - 1) / pl.keys_per_split;
    pl.ws_bytes = (size_t)p->batch * p->heads * p->q_len * pl.splits * (2 + p->head_dim) * sizeof(float);
    return pl;
}

static size_t da_workspace_bytes(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0 || p->k_len <= 0) return 0;
    return da_plan(x, p).ws_bytes;
}

// Raises a tensor-core kernel's dynamic shared-memory limit to `smem`, once (not a stream
// operation: allowed while a graph is captured); refuses what the device cannot give.
static void da_smem_limit(Exec *x, int which, int hi, size_t smem) {
    CudaBackend *bk = cuda_backend(x);
    if (smem > bk->prop.sharedMemPerBlockOptin)
        die("cuda attention decoder-flash: %zu bytes of shared memory needed (device: %zu)", smem,
            (size_t)bk->prop.sharedMemPerBlockOptin);
    if (da_smem_set[which][hi] < smem) {
        const void *k = which ? (const void *)da_i2t[hi] : (const void *)da_t2i[hi];
        cudaCheck(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        da_smem_set[which][hi] = smem;
    }
}

static void da_run(Exec *x, const AttnParams *p) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    da_check(x, p);
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
    a.c = p->scale * LOG2E_F;
    cudaStream_t s = cuda_stream(x);
    DaPlan pl = da_plan(x, p);
    int di = p->heads * p->head_dim;
    if (pl.kind == 3) {
        size_t smem = da_i2t_smem(di);
        da_smem_limit(x, 1, hi, smem);
        dim3 grid((unsigned)((p->q_len + DA_QTILE - 1) / DA_QTILE), (unsigned)p->batch);
        da_i2t[hi]<<<grid, 32 * p->heads, smem, s>>>(a);
        LAUNCH_CHECK(x, "decoder-flash i2t (tensor cores)");
    } else if (pl.kind) {
        int splits = pl.splits;
        a.splits = splits, a.keys_per_split = pl.keys_per_split;
        a.part = (float *)cuda_workspace(x, pl.ws_bytes);
        if (pl.kind == 2) {
            size_t smem = da_t2i_smem(di);
            da_smem_limit(x, 0, hi, smem);
            dim3 grid((unsigned)splits, (unsigned)p->batch);
            da_t2i[hi]<<<grid, 32 * p->heads, smem, s>>>(a);
            LAUNCH_CHECK(x, "decoder-flash t2i (tensor cores)");
        } else {
            dim3 grid((unsigned)splits, (unsigned)p->heads, (unsigned)p->batch);
            da_split[hi][bf]<<<grid, DA_THREADS, 0, s>>>(a);
            LAUNCH_CHECK(x, "decoder-flash split keys");
        }
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
    static const char *const name[4] = {"short keys", "split keys", "t2i (tensor cores)", "i2t (tensor cores)"};
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
