// The image encoder's attention as one flash kernel with SAM's decomposed rel-pos terms made
// inside: o = softmax(scale q k^T + rel_h + rel_w) v, bfloat16 in and out, nothing materialised.
// ref: segment_anything/modeling/image_encoder.py Attention.forward, add_decomposed_rel_pos
//   rel_h[q, kh] = q . Rh[qh - kh + H - 1],  rel_w[q, kw] = q . Rw[qw - kw + W - 1]
//   (the unscaled q; query q = qh W + qw, key k = kh W + kw on the H x W grid)
//
// One block = one (batch, head) pair and a tile of BM = WARPS x MT x 16 queries; each warp owns
// MT row blocks of 16 queries and walks the keys in tiles of BN (FlashAttention-2's scheme):
//   prologue  cp.async Q and the first K/V tile to shared memory; Q to registers (ldmatrix,
//             A fragments kept for the whole kernel). The tile's rel-pos products: each warp's
//             16 rows times the rows of Rh (then Rw) they need, on the tensor cores
//             (mma.sync m16n8k16, B fragments straight from the table in global memory: it is
//             a few KiB and stays in L1/L2), scattered as rel_h[row][kh] and rel_w[row][kw]
//             (float32, divided by scale) into shared memory over Q's buffer.
//   main loop per key tile (K/V double-buffered with cp.async, the next tile in flight):
//             S = C + q k^T on the tensor cores where the accumulator C starts as the rel-pos
//             terms (so the mma adds them), then the online softmax in float32 (exp2 in
//             log2(e) scale units, running max and sum per row), P rounded to bfloat16 straight
//             from the S registers into A fragments, O += P v (ldmatrix.trans of V).
//   epilogue  O / l, bfloat16, through shared memory into 16-byte stores with o's strides.
// Keys in grid-row slots: the kernel walks key slots s = kh SEGW + kw (SEGW = 16 or 64, a
// compile-time constant of each kernel, at least grid_w), slot columns kw >= grid_w and rows
// kh >= grid_h masked (their K and V rows zero-filled, not read; their C -inf). So every 8-key
// group of a tile lies in one grid row at columns known at compile time, with no division and
// no gather per score: C = rel_w[row][kw], one 8-byte shared load per 2 scores, the padding
// columns of rel_w holding -inf; and rel_h[row][kh] is one number per row and grid row:
//   SEGW 64  (grids up to 64 wide: the global blocks' 64 x 64, no padding there) folded into
//            the row's max and the exp2 argument's offset, no per-score work at all;
//   SEGW 16  (up to 16 wide: the 14 x 14 windows, 224 slots for 196 keys, and the tiny
//            fixture's 16 x 16 grid) added to C, one addition per score.
// Padded tokens of the windowed blocks (the zero-padded grid's edge windows) are ordinary rows
// here, as in the official code, which pads x before attention; only the slot padding is
// masked (keys) and the tile padding past q_len not stored (queries).
//
// On sm_90 the two products run on wgmma instead: each warpgroup of 4 warps multiplies its 64
// rows by a whole key tile, q k^T with Q's fragments in registers and K from shared memory
// (K-major), P v with P in registers and V from shared memory (MN-major), both tiles in 128-byte
// rows with the 128-byte swizzle (head dim 80: the first 64 columns so, the last 16 in a second
// tile of 32-byte rows with the 32-byte swizzle, a fifth k step and an n16 product); the
// accumulators land in the mma.sync path's register layout, so the rel-pos start and the softmax
// are the same code. These -tma configs
// copy K and V with the tensor-memory accelerator (one thread issues, under full/empty barriers
// per stage), so the loop has no block barrier and no copy arithmetic in the warps.
// The softmax keeps a lazy running max (a row's max moves only when a tile's exceeds it by more
// than 8 exp2 units; O is rescaled only in warps where some row's moved).
//
// The -res configs (sm_90, windowed) run the same steps in resident blocks that take (window and
// head, query tile) items in turn, loading the next item during the current one
// (flash_resident_body; measured 1-2 % faster; the build's windowed choice since session 16,
// vit_h's -res and vit_b's -resh). The -resh configs
// are -res with a window's last key tile (its 32 slots past the grid left out: N = 32 products)
// as code of its own after the tile loop; they serve grids whose last tile is half padding
// (H SEGW = 32 mod 64: the 14-row windows).
//
// Tile shapes are compile-time kernels (FLASH_CONFIGS below); which one serves a call is
// chosen per head dim and kind (SEGW 64: global, 16: windowed and small grids) by the table
// FLASH_CHOICE at build time, from measurements: no tuning at run time.
// tests/gpu/test_flash_relpos --bench times every compiled candidate on the benchmark shapes.
//
// Requirements (refused by name otherwise): bfloat16 activations; rel_pos present; q_len ==
// k_len == grid_h grid_w; head dim 64 or 80 (80 is not padded: its rows are 160 bytes, five
// 16-wide k steps); grids of at most 64 x 64; 16-byte aligned pointers and strides that are
// multiples of 8 elements (the cp.async and the output's 16-byte stores); token offsets within
// one (batch, head) under 2^31 elements; at most 65535 (batch, head) pairs. No workspace, no
// allocation, no synchronisation: capturable in a graph (the -tma configs' tensor maps are made
// on the host per launch and travel in the kernel's argument).
#include <string.h>

#include "../grid_div.h"
#include "cuda_common.cuh"
#include "mma_ptx.cuh"
#include "sm90_ptx.cuh"

#define FLASH_MAX_GRID 64
static_assert(FLASH_MAX_GRID * FLASH_MAX_GRID <= GRID_DIV_MAX_Q && FLASH_MAX_GRID <= GRID_DIV_MAX_W,
              "grid_div serves every token index and grid width of the grids served");

typedef struct {
    // WG 1: K and V as tensor maps of (hd, L, heads, batch) read in boxes of (64, W, 1, 1), one
    // grid row of keys, with the 128-byte swizzle (unused by the other configs).
    CUtensorMap tmk, tmv;
    CUtensorMap tmk80, tmv80;  // head dim 80: the last 16 columns, boxes of (16, W, 1, 1), 32-byte swizzle
    const bf16 *q, *k, *v;
    bf16 *o;
    const bf16 *rh, *rw;  // (2H - 1, hd) and (2W - 1, hd)
    int64_t q_bs, q_hs, q_ts, k_bs, k_hs, k_ts, v_bs, v_hs, v_ts, o_bs, o_hs, o_ts;
    int heads, L, H, W;
    float c;          // scale * log2(e): S (in q.k units) to exp2 units
    float inv_scale;  // the rel-pos terms are stored divided by scale (the units of q.k)
    float inv_w;      // 1 / W rounded to float (grid_div)
    int pairs;        // batch x heads
    // WG 2 and 3: Q as a tensor map like K's, read in boxes of (64, BM, 1, 1) (rows past the sequence
    // come as zeros), and head dim 80's last 16 columns in boxes of (16, BM, 1, 1).
    CUtensorMap tmq, tmq80;
} FlashArgs;

// Row strides of the shared buffers. Q, K, V, O rows of hd bfloat16 padded by 16 bytes (144 or
// 176 bytes: an odd number of 16-byte units, so the 8 row addresses of an ldmatrix hit 8
// different bank groups). rel_h rows H + 1 floats (a column read by 8 rows: 8 banks); rel_w
// rows SEGW + 8 floats (24 or 72: the 8-byte loads of 4 rows x 4 lanes cover the 32 banks once).
static __host__ __device__ __forceinline__ int flash_ks(int hd) { return hd + 8; }
static __host__ __device__ __forceinline__ int flash_hs(int H) { return H + 1; }
static __host__ __device__ __forceinline__ int flash_ws(int segw) { return segw + 8; }

// Shared memory of a config: [Q tile | rel_h, rel_w] (the tables overwrite Q once it is in
// registers; O is staged there at the end) then STAGES = 2 tiles of K and of V.
static __host__ __device__ __forceinline__ size_t flash_rel_bytes(int BM, int H, int segw) {
    size_t h = ((size_t)BM * flash_hs(H) * 4 + 15) / 16 * 16;
    return h + (size_t)BM * flash_ws(segw) * 4;
}
static __host__ __device__ __forceinline__ size_t flash_a_bytes(int BM, int hd, int H, int segw) {
    size_t q = (size_t)BM * flash_ks(hd) * 2, r = flash_rel_bytes(BM, H, segw);
    return ((q > r ? q : r) + 127) / 128 * 128;
}
// The wgmma kernels' K and V rows are 128 bytes (head dim 64) in the 128-byte swizzle instead of
// padded, their tiles 1024-byte aligned: the A region is rounded up to 1024 bytes and the dynamic
// shared memory, whose base alignment is not promised, gets 1024 bytes of slack.
// Head dim 80 on wgmma: each tile is its 64-column part (128-byte rows, 128-byte swizzle) followed
// by its last 16 columns (32-byte rows, 32-byte swizzle), 160 bytes per key in all.
static __host__ __device__ __forceinline__ int flash_kv_row_bytes(int hd, int wg) {
    return wg ? 2 * hd : 2 * flash_ks(hd);
}
static __host__ __device__ __forceinline__ size_t flash_wg_a_bytes(int BM, int hd, int H, int segw, int wg) {
    size_t a = flash_a_bytes(BM, hd, H, segw);
    return wg ? (a + 1023) / 1024 * 1024 : a;
}
static __host__ __device__ __forceinline__ size_t flash_smem_bytes(int BM, int BN, int hd, int H, int segw, int wg) {
    return flash_wg_a_bytes(BM, hd, H, segw, wg) + (size_t)4 * BN * flash_kv_row_bytes(hd, wg) + (wg ? 1024 : 0) +
           (wg ? 4 * sizeof(uint64_t) : 0);  // WG 1: the stages' full and empty barriers
}
// WG 2 and 3 (resident, flash_resident_body): Q's buffer (BM rows of hd bfloat16: 128-byte rows, then
// head dim 80's 32-byte rows), 2 stages of K and of V as WG 1's, a region per warp holding its
// 16 rows' rel-pos tables (rows as above) or, at the end of an item, its 16 output rows (KS
// apart), and 6 barriers (full and empty per stage, Q's full and empty); 1024 bytes of slack for
// the alignment.
static __host__ __device__ __forceinline__ int flash_res_q_bytes(int BM, int hd) {
    return (BM * hd * 2 + 1023) / 1024 * 1024;
}
static __host__ __device__ __forceinline__ int flash_res_region_bytes(int H, int segw, int hd) {
    int rel = (16 * flash_hs(H) * 4 + 15) / 16 * 16 + 16 * flash_ws(segw) * 4, out = 16 * flash_ks(hd) * 2;
    return ((rel > out ? rel : out) + 15) / 16 * 16;
}
static __host__ __device__ __forceinline__ size_t flash_res_smem_bytes(int warps, int BN, int hd, int H, int segw) {
    return 1024 + (size_t)flash_res_q_bytes(16 * warps, hd) + (size_t)4 * BN * hd * 2 +
           (size_t)warps * flash_res_region_bytes(H, segw, hd) + 6 * sizeof(uint64_t);
}

// One rel-pos table's products for the 16 rows of one m-tile: rel[row][kk] =
// q_row . R[pos(row) - kk + n - 1] / scale for kk < n, where pos is the row's grid coordinate
// along this table's axis. The warp takes the table rows [lo, hi + n - 1] its rows need, 8 at a
// time (one n-tile): B fragments from global memory (rows past the table read as 0).
static __device__ __forceinline__ void rel_products(float *dst, int dstride, const bf16 *R, int n,
                                                    const unsigned qf[5][4], int lo, int hi,
                                                    int pos0, int pos1, int lr0, float inv_scale,
                                                    int lane, const int HD) {
    const int g = lane >> 2, tq = lane & 3, nrows = 2 * n - 1;
    for (int tb = lo; tb <= hi + n - 1; tb += 8) {
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        int t = tb + g;
        const bf16 *row = R + (int64_t)(t < nrows ? t : nrows - 1) * HD;
#pragma unroll
        for (int ks = 0; ks < HD / 16; ks++) {
            unsigned b0 = *(const unsigned *)(row + 16 * ks + 2 * tq);
            unsigned b1 = *(const unsigned *)(row + 16 * ks + 8 + 2 * tq);
            if (t >= nrows) b0 = b1 = 0u;
            mma_bf16(acc, qf[ks], b0, b1);
        }
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int pos = e < 2 ? pos0 : pos1;
            int kk = pos - (tb + 2 * tq + (e & 1)) + n - 1;
            if (kk >= 0 && kk < n) dst[(lr0 + 8 * (e >> 1)) * dstride + kk] = acc[e] * inv_scale;
        }
    }
}

// ---- the wgmma kernels' two products (head dim 64; sm_90a) ------------------------------------
// Each warpgroup (4 warps, 64 query rows) multiplies its rows by a whole key tile at once; the
// accumulators land in the same registers, in the same layout, as the mma.sync path's (the
// m16n8 C fragment per warp and 8 keys), so the softmax between them is shared code. The sm_80
// compilation has no wgmma: there these trap, and the launcher never picks these kernels there.

// Issues s (BN / 8 n-groups of 4 floats) += q k^T over the tile tk (BN rows of 64 bfloat16,
// swizzled) as one group: A = the warp's Q fragments (registers), B = K rows, K-major; 64 keys
// per product. The wgmma fence first orders every register write before it (s's start, and
// o and the P fragments of the previous tile).
// HALF (compile-time; BN 64): the tile's keys 32-63 are all padding slots (a window's last tile
// in the -resh kernels), so only keys 0-31 are multiplied (N = 32); the others keep their
// start, -inf.
static __device__ __forceinline__ void flash_wg_qk_issue(float *s, const unsigned qf[5][4], const bf16 *tk,
                                                         const int BN, const int HD, const int HALF) {
#if SM90A_PTX
    const uint64_t dk = smem_desc(tk);
    const uint64_t dk80 = smem_desc_sw32(tk + BN * 64);  // HD 80: columns 64-79
#pragma unroll
    for (int nh = 0; nh < BN / 64; nh++) reg_fence32(s + 32 * nh);
    wgmma_fence();
    if (HALF) {
#pragma unroll
        for (int ks = 0; ks < 4; ks++) wgmma_bf16_m64n32k16_kmajor(s, qf[ks], dk + 2 * ks);
        if (HD == 80) wgmma_bf16_m64n32k16_kmajor(s, qf[4], dk80);
        wgmma_commit();
        return;
    }
#pragma unroll
    for (int nh = 0; nh < BN / 64; nh++) {
#pragma unroll
        for (int ks = 0; ks < 4; ks++)  // 64 rows of 128 bytes = 512 units of 16; 32 bytes of k = 2
            wgmma_bf16_m64n64k16_kmajor(s + 32 * nh, qf[ks], dk + nh * 512 + 2 * ks);
        if (HD == 80)  // the 32-byte swizzled part (its descriptor says so); 64 rows of 32 bytes = 128 units
            wgmma_bf16_m64n64k16_kmajor(s + 32 * nh, qf[4], dk80 + nh * 128);
    }
    wgmma_commit();
#else
    __trap();
#endif
}

// Issues o (8 groups of 4 floats: head dim 64) += P v over the tile tv as one group: A = P in
// registers (pa[kk]: keys 16 kk .. 16 kk + 15), B = V rows (keys) of 64 head-dim values, MN-major.
// The wgmma fence first orders the register writes before it (P's fragments, o's rescale).
// HALF: as flash_wg_qk_issue's; keys 32-63 have P = 0 and are left out.
static __device__ __forceinline__ void flash_wg_pv_issue(float *o, const unsigned pa[][4], const bf16 *tv,
                                                         const int BN, const int HD, const int HALF) {
#if SM90A_PTX
    const uint64_t dv = smem_desc(tv);
    const uint64_t dv80 = smem_desc_sw32(tv + BN * 64);  // HD 80: columns 64-79
    reg_fence_n(o, HD / 2);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < (HALF ? 2 : BN / 16); kk++) {  // 16 rows of 128 bytes = 128 units of 16
        wgmma_bf16_m64n64k16_mnmajor(o, pa[kk], dv + 128 * kk);
        if (HD == 80)  // 16 rows of 32 bytes = 32 units of 16
            wgmma_bf16_m64n16k16_mnmajor(o + 32, pa[kk], dv80 + 32 * kk);
    }
    wgmma_commit();
#else
    __trap();
#endif
}

// Waits for this warpgroup's products, then fences the registers of acc (n floats) they wrote.
// (Each product is waited for before the next is issued: a tile's P v product overlapping the
// next tile's softmax, with a third V stage, measured slower here: 1.431 against 1.364 ms, vit_b
// global.)
static __device__ __forceinline__ void flash_wg_wait(float *acc, const int n) {
#if SM90A_PTX
    wgmma_wait0();
    reg_fence_n(acc, n);
#else
    __trap();
#endif
}

// Ordinary shared-memory stores (the K/V zero fill), made visible to the copy engine and the
// wgmma reads (the async proxy) after the barrier.
static __device__ __forceinline__ void flash_wg_publish(void) {
#if SM90A_PTX
    fence_proxy_async_smem();
#endif
}

// WG 1: tile `tile`'s valid grid rows (up to BN / SEGW of them) into stage buffers dk, dv, one
// box of W keys per grid row at its slot row, completion counted on `full` (one thread issues).
// Slots past W in a row, and grid rows past H, are not written: they hold zeros from the start,
// or a finite earlier key, which the -inf of their rel-pos term masks (p = 0 exactly).
static __device__ __forceinline__ void flash_tma_tile(const FlashArgs *ap, bf16 *dk, bf16 *dv, uint64_t *full,
                                                      int tile, int b, int h, const int BN, const int SEGW,
                                                      const int HD) {
#if SM90A_PTX
    const int NSEG = BN / SEGW, kh0 = tile * NSEG, nv = min(NSEG, ap->H - kh0);
    mbar_expect_tx(full, (uint32_t)(nv * ap->W * HD * 2 * 2));
    for (int sg = 0; sg < nv; sg++) {
        tma_load_4d(dk + sg * SEGW * 64, &ap->tmk, 0, (kh0 + sg) * ap->W, h, b, full);
        tma_load_4d(dv + sg * SEGW * 64, &ap->tmv, 0, (kh0 + sg) * ap->W, h, b, full);
        if (HD == 80) {  // columns 64-79 behind the tile's 64-column part, 16 per row
            tma_load_4d(dk + BN * 64 + sg * SEGW * 16, &ap->tmk80, 64, (kh0 + sg) * ap->W, h, b, full);
            tma_load_4d(dv + BN * 64 + sg * SEGW * 16, &ap->tmv80, 64, (kh0 + sg) * ap->W, h, b, full);
        }
    }
#else
    __trap();
#endif
}

// Keys 16 kk .. 16 kk + 15 of P (the softmax's bfloat16 probabilities, in s's registers: 8 keys
// per n-group) as an A fragment, for mma.sync and wgmma alike.
static __device__ __forceinline__ void flash_pack_p16(unsigned pa[4], float s[][4], int kk) {
    pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
    pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
    pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
}

// ---- the per-tile steps both kernel bodies share (each warp on its own rows) ------------------
// wr0: the table row of the warp's first row (its m-tile mt, half hf, lane row g: table row
// wr0 + 16 mt + g + 8 hf); relh (rows, HS) and relw (rows, WS) the tables, divided by scale.

// C, the accumulators' start for the key tile whose first grid row is kh0: the rel-pos terms.
// Grid rows past H are -inf (their K rows are zeros). FOLD: rel_h goes to bh (one number per
// row and grid row, folded into the max), not into C.
static __device__ __forceinline__ void flash_c_start(float s[][16][4], float bh[][2][2], const float *relh,
                                                     const float *relw, int HS, int WS, int wr0, int kh0,
                                                     int H, int lane, const int MT, const int NSEG,
                                                     const int NPS, const int FOLD) {
    const int g = lane >> 2, tq = lane & 3;
#pragma unroll
    for (int sg = 0; sg < NSEG; sg++) {
        int kh = kh0 + sg;
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                int lr = wr0 + 16 * mt + g + 8 * hf;
                float rh = kh < H ? relh[lr * HS + kh] : -INFINITY;
                if (FOLD) bh[mt][hf][sg] = rh;
                const float *rwr = relw + lr * WS + 2 * tq;
#pragma unroll
                for (int n = 0; n < NPS; n++) {
                    float2 v2 = *(const float2 *)(rwr + 8 * n);
                    s[mt][sg * NPS + n][2 * hf] = FOLD ? v2.x : v2.x + rh;
                    s[mt][sg * NPS + n][2 * hf + 1] = FOLD ? v2.y : v2.y + rh;
                }
            }
    }
}

// Online softmax of one key tile, float32, in exp2 units: score = c (S + bh) (bh = 0 unless
// FOLD); s becomes P (unrounded), o is rescaled where a row's max moved. The first tile holds a
// valid key for every row, so the running max is finite from there on. Lazy max
// (FlashAttention-4's): a row's running max moves only when the tile's exceeds it by more than
// 8 exp2 units, so p <= 2^8 (float32 sums and bfloat16 P keep their relative precision), and O
// is rescaled only in warps where some row's moved.
static __device__ __forceinline__ void flash_softmax(float s[][16][4], const float bh[][2][2], float o[][10][4],
                                                     float m_run[][2], float l_run[][2], float c, const int MT,
                                                     const int BN, const int NSEG, const int FOLD, const int HD) {
    float alpha[2][2];
    int moved = 0;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            // Maxima and sums in four independent chains, so each is a few dependent steps.
            const int SEGS = FOLD ? NSEG : 1, PER = BN / 8 / SEGS;
            float mx = -INFINITY;
#pragma unroll
            for (int sg = 0; sg < SEGS; sg++) {
                float mq[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
#pragma unroll
                for (int n = sg * PER; n < (sg + 1) * PER; n++)
                    mq[n & 3] = fmaxf(mq[n & 3], fmaxf(s[mt][n][2 * hf], s[mt][n][2 * hf + 1]));
                float ms = fmaxf(fmaxf(mq[0], mq[1]), fmaxf(mq[2], mq[3]));
                mx = fmaxf(mx, FOLD ? ms + bh[mt][hf][sg] : ms);
            }
            mx = quad_max(mx);
            // The first tile: m_run = -inf, the difference +inf, so m_new = mx.
            float m_new = (mx - m_run[mt][hf]) * c > 8.0f ? mx : m_run[mt][hf];
            alpha[mt][hf] = ex2((m_run[mt][hf] - m_new) * c);  // 1 when unmoved; 0 on the first tile
            moved |= m_new != m_run[mt][hf];
            m_run[mt][hf] = m_new;
            float rq[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int sg = 0; sg < SEGS; sg++) {
                float off = ((FOLD ? bh[mt][hf][sg] : 0.0f) - m_new) * c;
#pragma unroll
                for (int n = sg * PER; n < (sg + 1) * PER; n++) {
                    float p0 = ex2(fmaf(s[mt][n][2 * hf], c, off));
                    float p1 = ex2(fmaf(s[mt][n][2 * hf + 1], c, off));
                    s[mt][n][2 * hf] = p0, s[mt][n][2 * hf + 1] = p1;
                    rq[n & 3] += p0 + p1;
                }
            }
            float rs = (rq[0] + rq[1]) + (rq[2] + rq[3]);
            l_run[mt][hf] = l_run[mt][hf] * alpha[mt][hf] + rs;  // this thread's columns; summed at the end
        }
    if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int hf = 0; hf < 2; hf++)
#pragma unroll
                for (int d = 0; d < HD / 8; d++) o[mt][d][2 * hf] *= alpha[mt][hf], o[mt][d][2 * hf + 1] *= alpha[mt][hf];
    }
}

// The epilogue of one warp: O / l in bfloat16 through the warp's rows of shared memory (rows wr0
// on of sO, KS apart), then 16-byte stores of the rows whose query (q0 + the row) is below L,
// consecutive lanes along a row; op the (batch, head)'s output.
static __device__ __forceinline__ void flash_store_o(bf16 *sO, int wr0, float o[][10][4], float l_run[][2],
                                                     bf16 *op, int64_t o_ts, int q0, int L, int lane,
                                                     const int MT, const int HD) {
    const int g = lane >> 2, tq = lane & 3, KS = HD + 8, CPR = HD / 8;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float inv = 1.0f / quad_sum(l_run[mt][hf]);
            int lr = wr0 + 16 * mt + g + 8 * hf;
#pragma unroll
            for (int d = 0; d < HD / 8; d++)
                *(unsigned *)(sO + lr * KS + 8 * d + 2 * tq) =
                    pack_bf16(o[mt][d][2 * hf] * inv, o[mt][d][2 * hf + 1] * inv);
        }
    __syncwarp();
    for (int c2 = lane; c2 < MT * 16 * CPR; c2 += 32) {
        int r = c2 / CPR, col = c2 - r * CPR, qi = q0 + wr0 + r;
        if (qi < L) *(uint4 *)(op + (int64_t)qi * o_ts + col * 8) = *(const uint4 *)(sO + (wr0 + r) * KS + col * 8);
    }
}

// =============================================================================================
// the kernel body (one per config: HD, WARPS, MT, BN, SEGW, WG are compile-time constants)
// =============================================================================================
// WG 0: mma.sync, K and V by cp.async under one block barrier per tile. WG 1: the products on
// wgmma, each tile's two waited for in turn, K and V copied by the tensor-memory accelerator,
// one thread issuing, under per-stage full/empty barriers: no block barrier in the loop, so the
// warps drift apart by up to a tile.

static __device__ __forceinline__ void flash_body(const FlashArgs a, const FlashArgs *ap, const int HD,
                                                  const int WARPS, const int MT, const int BN, const int SEGW,
                                                  const int WG) {
    extern __shared__ __align__(128) unsigned char smem_raw[];
    // WG: the tiles must sit on 1024-byte boundaries (the swizzle's period); the size has the
    // slack. An offset from smem_raw, not a rounded integer cast back: the compiler then still
    // knows these are shared-memory pointers (LDS, not generic loads).
    unsigned char *smem = WG ? smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u) : smem_raw;
    const int BM = WARPS * MT * 16, NT = WARPS * 32, KS = HD + 8, CPR = HD / 8;
    const int NSEG = BN / SEGW, NPS = SEGW / 8;  // grid rows per key tile, 8-key groups per row
    const int FOLD = SEGW == 64;                 // rel_h folded into the max (else added to C)
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2;
    const int L = a.L, H = a.H, W = a.W;
    const int q0 = blockIdx.x * BM;
    // A warp whose rows all lie past the sequence (in a short last tile: a window's 196 queries
    // leave rows 196-255 of the fourth 64-row tile, warps 1-3 wholly) makes no rel-pos terms and
    // no softmax: it only takes part in the block's copies, barriers and (WG 1) its warpgroup's
    // collective products, whose results in its rows are never stored.
    // SEGW 16 only: the global configs (SEGW 64) keep their code as measured (sequences there
    // are whole tiles).
    const int idle = SEGW == 16 && q0 + warp * MT * 16 >= L;
    const int pair = blockIdx.y, b = pair / a.heads, h = pair - b * a.heads;
    const bf16 *qp = a.q + b * a.q_bs + h * a.q_hs;
    const bf16 *kp = a.k + b * a.k_bs + h * a.k_hs;
    const bf16 *vp = a.v + b * a.v_bs + h * a.v_hs;
    bf16 *op = a.o + b * a.o_bs + h * a.o_hs;

    const size_t a_bytes = flash_wg_a_bytes(BM, HD, H, SEGW, WG);
    const int KVS = flash_kv_row_bytes(HD, WG) / 2;  // K/V row stride in shared memory (elements)
    bf16 *sQ = (bf16 *)smem;
    float *relh = (float *)smem;  // (BM, HS): rel_h[row][kh] / scale
    const int HS = flash_hs(H), WS = flash_ws(SEGW);
    float *relw = relh + ((size_t)BM * HS * 4 + 15) / 16 * 4;  // (BM, WS): rel_w[row][kw] / scale
    bf16 *sK = (bf16 *)(smem + a_bytes);  // 2 stages of (BN, KVS)
    bf16 *sV = sK + 2 * BN * KVS;         // 2 stages of (BN, KVS)
    // WG 1: full[stage] completes when a tile's copies land, empty[stage] when every warp is done
    // with it (one arrival per warp).
    uint64_t *full = (uint64_t *)(sV + 2 * BN * KVS);
#if SM90A_PTX
    uint64_t *empty = full + 2;
#endif

    // ---- loads: Q tile and K/V tile 0 in one group ---------------------------------------
    for (int c = tid; c < BM * CPR; c += NT) {
        int r = c / CPR, col = c - r * CPR, qi = q0 + r;
        cp_async16(sQ + r * KS + col * 8, qp + (int64_t)(qi < L ? qi : L - 1) * a.q_ts + col * 8,
                   qi < L ? 16 : 0);
    }
    const int n_tiles = (H * SEGW + BN - 1) / BN;
    // Slot s of the tile = key (s / SEGW, s % SEGW) of the grid; padding slots zero-filled.
    // Where the row length divides the block (head dim 64: CPR 8), each thread copies the same
    // 16-byte unit col_ of tile rows r0_, r0_ + RS_, ... (unrolled): its shared offsets are fixed
    // and only the key's grid row moves with the tile, so the per-copy index arithmetic is a few
    // shifts (SEGW is a power of two) and one multiply. Offsets within one (batch, head) are
    // 32-bit (flash_check refuses sequences whose token offsets do not fit).
#define FLASH_LOAD_KV(tile, stage)                                                                  \
    do {                                                                                            \
        bf16 *dk = sK + (stage) * BN * KVS, *dv = sV + (stage) * BN * KVS;                          \
        if (NT % CPR == 0) {                                                                        \
            const int RS_ = NT / CPR, col_ = tid % CPR, r0_ = tid / CPR, kht_ = (tile) * NSEG;     \
            _Pragma("unroll") for (int i_ = 0; i_ < (BN + RS_ - 1) / RS_; i_++) {                  \
                int r = r0_ + i_ * RS_;                                                             \
                if (r < BN) {                                                                       \
                    int kh = kht_ + r / SEGW, kw = r % SEGW;                                        \
                    int ok = kh < H && kw < W, j = ok ? kh * W + kw : 0;                             \
                    int at = r * KS + col_ * 8;                                                     \
                    cp_async16(dk + at, kp + j * (int)a.k_ts + col_ * 8, ok ? 16 : 0);              \
                    cp_async16(dv + at, vp + j * (int)a.v_ts + col_ * 8, ok ? 16 : 0);              \
                }                                                                                   \
            }                                                                                       \
            break;                                                                                  \
        }                                                                                           \
        int s0_ = (tile) * BN;                                                                      \
        for (int c = tid; c < BN * CPR; c += NT) {                                                  \
            int r = c / CPR, col = c - r * CPR, sl = s0_ + r, kh = sl / SEGW, kw = sl % SEGW;      \
            int ok = kh < H && kw < W, j = ok ? kh * W + kw : 0;                                     \
            int at = r * KS + col * 8;                                                              \
            cp_async16(dk + at, kp + (int64_t)j * a.k_ts + col * 8, ok ? 16 : 0);                   \
            cp_async16(dv + at, vp + (int64_t)j * a.v_ts + col * 8, ok ? 16 : 0);                   \
        }                                                                                           \
    } while (0)
    if (WG) {
        // Zeros in every K/V slot first: the copies never write the padding slots, whose V rows
        // are multiplied by p = 0 (never-written shared memory could hold a NaN's bits).
        for (int i = tid; i < 4 * BN * KVS / 8; i += NT) ((uint4 *)sK)[i] = make_uint4(0u, 0u, 0u, 0u);
#if SM90A_PTX
        if (tid == 0) {
            mbar_init(&full[0], 1), mbar_init(&full[1], 1);
            mbar_init(&empty[0], WARPS), mbar_init(&empty[1], WARPS);
            asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        }
#endif
        flash_wg_publish();  // the zeros, to the copy engine and the tensor cores
        __syncthreads();
        if (tid == 0) flash_tma_tile(ap, sK, sV, &full[0], 0, b, h, BN, SEGW, HD);
    } else {
        FLASH_LOAD_KV(0, 0);
    }
    cp_async_commit();
    cp_async_wait0();
    __syncthreads();

    // ---- Q to registers: A fragments of the warp's MT m-tiles ------------------------------
    unsigned qf[2][5][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        int rb = (warp * MT + mt) * 16;
#pragma unroll
        for (int ks = 0; ks < HD / 16; ks++)
            ldsm_x4(qf[mt][ks], sQ + (rb + (lane & 7) + 8 * ((lane >> 3) & 1)) * KS + 16 * ks + 8 * (lane >> 4));
    }
    __syncthreads();  // Q's buffer becomes the rel-pos tables

    // ---- rel-pos products of the tile's rows ------------------------------------------------
    // SEGW 16 (windowed): grid rows by grid_div rather than integer divisions, whose
    // instruction sequences were a visible part of these short blocks' setup under ncu.
#define FLASH_GRID_ROW(q) (SEGW == 16 ? grid_div((q), a.inv_w) : (q) / W)
    if (SEGW == 16) {
        for (int r = tid; r < BM; r += NT)  // rel_w's padding columns: masked keys
            for (int kw = W; kw < SEGW; kw++) relw[r * WS + kw] = -INFINITY;
    } else {
        for (int i = tid; i < BM * (SEGW - W); i += NT) {
            int r = i / (SEGW - W);
            relw[r * WS + W + (i - r * (SEGW - W))] = -INFINITY;
        }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        int rb = (warp * MT + mt) * 16;
        if (idle) continue;  // rows past the sequence: nothing to make
        int qa = min(q0 + rb, L - 1), qb = min(q0 + rb + 15, L - 1);
        int ha = FLASH_GRID_ROW(qa), hb = FLASH_GRID_ROW(qb);
        int wa = ha == hb ? qa - ha * W : 0, wb = ha == hb ? qb - hb * W : W - 1;
        int r0 = min(q0 + rb + g, L - 1), r1 = min(q0 + rb + g + 8, L - 1);
        int h0 = FLASH_GRID_ROW(r0), h1 = FLASH_GRID_ROW(r1);
        rel_products(relh, HS, a.rh, H, qf[mt], ha, hb, h0, h1, rb + g, a.inv_scale, lane, HD);
        rel_products(relw, WS, a.rw, W, qf[mt], wa, wb, r0 - h0 * W, r1 - h1 * W, rb + g, a.inv_scale, lane, HD);
    }
    // The padding columns above were written by any thread, for every row: published before a
    // warp reads its rows (WG 1's loop has no block barrier that would do it).
    __syncthreads();

    // ---- main loop over key tiles ------------------------------------------------------------
    float o[2][10][4];
    float m_run[2][2], l_run[2][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int d = 0; d < HD / 8; d++) o[mt][d][0] = o[mt][d][1] = o[mt][d][2] = o[mt][d][3] = 0.0f;
        m_run[mt][0] = m_run[mt][1] = -INFINITY;
        l_run[mt][0] = l_run[mt][1] = 0.0f;
    }
    const float c = a.c;

    unsigned pw[8][4];  // wgmma configs: P's A fragments of the tile (BN <= 128)
    for (int it = 0; it < n_tiles; it++) {
        // cp.async configs: one barrier per tile. Tile it has landed (its group is the only one
        // in flight). Past the barrier every warp is done with tile it - 1's products, so tile
        // it + 1 goes to the stage it held while tile it is used.
        if (WG) {
            // No block barrier: one thread refills stage (it + 1) % 2 once every warp has
            // released tile it - 1 from it; each warp waits only for its own tile to land.
            if (tid == 0 && it + 1 < n_tiles) {
                const int st = (it + 1) & 1;
#if SM90A_PTX
                if (it >= 1) mbar_wait(&empty[st], ((it - 1) >> 1) & 1);
#endif
                flash_tma_tile(ap, sK + st * BN * KVS, sV + st * BN * KVS, &full[st], it + 1, b, h, BN, SEGW, HD);
            }
#if SM90A_PTX
            mbar_wait(&full[it & 1], (it >> 1) & 1);
#endif
        } else {
            cp_async_wait0();
            __syncthreads();
            if (it + 1 < n_tiles) {
                FLASH_LOAD_KV(it + 1, (it + 1) & 1);
                cp_async_commit();
            }
        }
        const bf16 *tk = sK + (it & 1) * BN * KVS;
        const bf16 *tv = sV + (it & 1) * BN * KVS;
        const int kh0 = it * NSEG;  // the tile's first grid row

        // C: the rel-pos terms (divided by scale), the accumulators' start. Grid rows past H
        // are -inf (their K rows are zeros).
        float s[2][16][4];
        float bh[2][2][2];  // FOLD: rel_h[row][kh] per (m-tile, row half, grid row of the tile)
        if (idle) {  // defined values for the collective product, never used
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int n = 0; n < BN / 8; n++) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.0f;
        } else {
            flash_c_start(s, bh, relh, relw, HS, WS, warp * MT * 16, kh0, H, lane, MT, NSEG, NPS, FOLD);
        }

        // S += q k^T
        if (WG) {
            flash_wg_qk_issue(&s[0][0][0], qf[0], tk, BN, HD, 0);
            flash_wg_wait(&s[0][0][0], BN / 2);
        } else if (!idle) {
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++)
#pragma unroll
                for (int np = 0; np < BN / 16; np++) {
                    unsigned kb[4];
                    ldsm_x4(kb, tk + (16 * np + (lane & 7) + 8 * (lane >> 4)) * KS + 16 * ks + 8 * ((lane >> 3) & 1));
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16(s[mt][2 * np], qf[mt][ks], kb[0], kb[1]);
                        mma_bf16(s[mt][2 * np + 1], qf[mt][ks], kb[2], kb[3]);
                    }
                }
        }

        if (!idle) flash_softmax(s, bh, o, m_run, l_run, c, MT, BN, NSEG, FOLD, HD);

        // O += P v
        if (WG) {
#pragma unroll
            for (int kk = 0; kk < BN / 16; kk++) flash_pack_p16(pw[kk], s[0], kk);
            flash_wg_pv_issue(&o[0][0][0], pw, tv, BN, HD, 0);
            flash_wg_wait(&o[0][0][0], HD / 2);
#if SM90A_PTX
            if (lane == 0) mbar_arrive(&empty[it & 1]);  // the warp is done with this stage
#endif
        }
        if (!WG && !idle) {
#pragma unroll
            for (int kk = 0; kk < BN / 16; kk++) {
                unsigned pa[2][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++) flash_pack_p16(pa[mt], s[mt], kk);
#pragma unroll
                for (int dp = 0; dp < HD / 16; dp++) {
                    unsigned vb[4];
                    ldsm_x4_t(vb, tv + (16 * kk + (lane & 7) + 8 * ((lane >> 3) & 1)) * KS + 16 * dp + 8 * (lane >> 4));
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16(o[mt][2 * dp], pa[mt], vb[0], vb[1]);
                        mma_bf16(o[mt][2 * dp + 1], pa[mt], vb[2], vb[3]);
                    }
                }
            }
        }
    }
#undef FLASH_LOAD_KV
#undef FLASH_GRID_ROW
    // Every warp past its last tile before any overwrites the rel-pos tables with its output:
    // the warps leave the loop at different times (WG 1 has no block barrier in it at all).
    __syncthreads();

    // ---- epilogue: O / l through shared memory (over the rel-pos tables) --------------------
    flash_store_o((bf16 *)smem, warp * MT * 16, o, l_run, op, a.o_ts, q0, L, lane, MT, HD);
}

// One rel-pos table's products for one m-tile as rel_products, with every n-tile's B fragments
// loaded before any product (NTILE n-tiles at a time, unrolled): one load latency per group
// rather than one per n-tile. The resident kernel's (a windowed row needs at most 2 n-tiles of
// Rh and 4 of Rw there). Kept apart from rel_products, with the per-m-tile setup that calls it:
// made one function (and one setup) for both bodies, every kernel's setup code changed, and on
// the H200 the resident vit_b kernel lost its 1 % and the chosen vit_h global kernel timed 1.743
// ms against 1.600-1.693 before (session 14 call 7, tests/gpu/logs/h200-2026-12-02); each
// schedule stays the one its kernels were measured with.
static __device__ __forceinline__ void rel_products_grouped(float *dst, int dstride, const bf16 *R, int n,
                                                            const unsigned qf[5][4], int lo, int hi, int pos0,
                                                            int pos1, int lr0, float inv_scale, int lane,
                                                            const int HD, const int NTILE) {
    const int g = lane >> 2, tq = lane & 3, nrows = 2 * n - 1;
    for (int tb0 = lo; tb0 <= hi + n - 1; tb0 += 8 * NTILE) {
        unsigned bfr[4][5][2];
#pragma unroll
        for (int j = 0; j < NTILE; j++) {
            int t = tb0 + 8 * j + g;
            const bf16 *row = R + (int64_t)(t < nrows ? t : nrows - 1) * HD;
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++) {
                bfr[j][ks][0] = t < nrows ? *(const unsigned *)(row + 16 * ks + 2 * tq) : 0u;
                bfr[j][ks][1] = t < nrows ? *(const unsigned *)(row + 16 * ks + 8 + 2 * tq) : 0u;
            }
        }
#pragma unroll
        for (int j = 0; j < NTILE; j++) {
            float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++) mma_bf16(acc, qf[ks], bfr[j][ks][0], bfr[j][ks][1]);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int pos = e < 2 ? pos0 : pos1;
                int kk = pos - (tb0 + 8 * j + 2 * tq + (e & 1)) + n - 1;
                if (kk >= 0 && kk < n) dst[(lr0 + 8 * (e >> 1)) * dstride + kk] = acc[e] * inv_scale;
            }
        }
    }
}

// =============================================================================================
// the resident windowed kernel (WG 2 and 3, names ending in -res and -resh; sm_90a)
// =============================================================================================
// Measured 1-2 % faster than WG 1's windowed configs, the build's windowed choice since session
// 16 (the FLASH_CONFIGS comment has the numbers and what was tried on top of it).
// The windowed attention's blocks are short: a window's 196 queries make four 64-row tiles, and
// in a block of WG 1 the setup (barriers, the K/V zero fill, the loads of Q and the first K/V
// tile waited for, the rel-pos products, the output) took as long as its four key tiles (ncu,
// tests/gpu/logs/h200-2026-12-01-l). Here a grid of as many blocks as fit on the GPU at once
// takes the (window and head, 64-row query tile) items in turn, item = blockIdx.x + k gridDim.x
// (a window's query tiles are consecutive items, so they run side by side and share its K and V
// in L2). The setup that does not depend on the item is done once per block; the item's loads
// are one stream of tensor-memory-accelerator copies issued ahead by one thread: the K/V stages
// take key tiles in a running count T across items (the next item's first tile is loaded during
// the current item's last), and Q has a buffer of its own, in the 128-byte swizzle like K (head
// dim 80: its last 16 columns in a second buffer of 32-byte rows), loaded for the next item once
// every warp has its fragments (the `qempty` barrier) during the current item's second key
// tile. No block barrier after the setup: each warp has a private region of shared memory for
// its 16 rows' rel-pos tables and, over them at the end of each item, its output rows.
// A stage's slots that a tile's copies do not write hold zeros from the fill or keys of the
// same item, never another item's: columns past W are never written; grid rows past H occur in
// a partial last tile t only, and every item of a launch has the same tiles, so its stage last
// held this item's tile t - 2 or, where an item has at most 2 tiles, tile t of an earlier item
// (the same slots written). An item's result thus depends on its own inputs only, as in the
// other configs (test_flash_relpos checks it with a NaN in one (window, head)'s keys).
static __device__ __forceinline__ void flash_resident_body(const FlashArgs *ap, const int HD, const int WARPS,
                                                           const int BN, const int SEGW, const int HALF_LAST) {
#if SM90A_PTX
    extern __shared__ __align__(128) unsigned char smem_raw[];
    unsigned char *smem = smem_raw + ((1024u - (smem_u32(smem_raw) & 1023u)) & 1023u);
    const int BM = WARPS * 16, NT = WARPS * 32, NSEG = BN / SEGW, NPS = SEGW / 8;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    // The thread that issues the copies: in the last warp, which a window's short last query
    // tile leaves idle (its waits then delay no warp with rows to compute).
    const int producer = tid == NT - 32;
    const int L = ap->L, H = ap->H, W = ap->W, heads = ap->heads;
    const int QT = (L + BM - 1) / BM, n_items = QT * ap->pairs, n_tiles = (H * SEGW + BN - 1) / BN;
    const int HS = flash_hs(H), WS = flash_ws(SEGW);
    const float c = ap->c;

    // Layout (flash_res_smem_bytes): Q (BM rows of 128 bytes, then head dim 80's BM rows of 32),
    // 2 stages of K then 2 of V (BN rows of hd, as WG 1), the warps' regions, the barriers.
    bf16 *sQ = (bf16 *)smem;
    bf16 *sK = (bf16 *)(smem + flash_res_q_bytes(BM, HD));
    bf16 *sV = sK + 2 * BN * HD;
    unsigned char *region = (unsigned char *)(sV + 2 * BN * HD) + warp * flash_res_region_bytes(H, SEGW, HD);
    float *relh = (float *)region;                       // (16, HS): rel_h[row][kh] / scale
    float *relw = relh + (16 * HS * 4 + 15) / 16 * 4;    // (16, WS): rel_w[row][kw] / scale
    bf16 *sO = (bf16 *)region;                           // (16, KS): the output rows, over the tables
    uint64_t *bars = (uint64_t *)((unsigned char *)(sV + 2 * BN * HD) + WARPS * flash_res_region_bytes(H, SEGW, HD));
    uint64_t *full = bars, *empty = bars + 2, *qfull = bars + 4, *qempty = bars + 5;

    for (int i = tid; i < 4 * BN * HD / 8; i += NT) ((uint4 *)sK)[i] = make_uint4(0u, 0u, 0u, 0u);
    if (producer) {
        mbar_init(&full[0], 1), mbar_init(&full[1], 1);
        mbar_init(&empty[0], WARPS), mbar_init(&empty[1], WARPS);
        mbar_init(qfull, 1), mbar_init(qempty, WARPS);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    flash_wg_publish();  // the zeros, to the copy engine and the tensor cores
    __syncthreads();
    int item = blockIdx.x;
    if (item >= n_items) return;

    // One thread issues every copy: Q of an item, and key tile t of an item into stage st.
    // An item's (batch, head, first query row).
#define RES_ITEM(it_, b_, h_, q0_)                                                                  \
    do {                                                                                            \
        const int pr_ = (it_) / QT;                                                                 \
        b_ = pr_ / heads, h_ = pr_ - b_ * heads, q0_ = ((it_) - pr_ * QT) * BM;                    \
    } while (0)
#define RES_LOAD_Q(b_, h_, q0_)                                                                     \
    do {                                                                                            \
        mbar_expect_tx(qfull, (uint32_t)(BM * HD * 2));                                             \
        tma_load_4d(sQ, &ap->tmq, 0, (q0_), (h_), (b_), qfull);                                     \
        if (HD == 80) tma_load_4d(sQ + BM * 64, &ap->tmq80, 64, (q0_), (h_), (b_), qfull);         \
    } while (0)
    int b, h, q0;
    RES_ITEM(item, b, h, q0);
    if (producer) {
        RES_LOAD_Q(b, h, q0);
        flash_tma_tile(ap, sK, sV, &full[0], 0, b, h, BN, SEGW, HD);
    }

    const int q_at = n_tiles > 1 ? 1 : 0;  // the key tile during which the next item's Q is loaded
    int T = 0;                              // key tiles consumed by this block so far
    for (int n = 0; item < n_items; item += gridDim.x, n++) {
        const int next = item + (int)gridDim.x;
        int nb = 0, nh = 0, nq0 = 0;  // the next item's
        if (next < n_items) RES_ITEM(next, nb, nh, nq0);
        const int idle = q0 + warp * 16 >= L;  // every row of the warp past the sequence
        bf16 *op = ap->o + b * ap->o_bs + h * ap->o_hs;

        // Q to registers: A fragments of the warp's 16 rows, from the swizzled buffer.
        unsigned qf[5][4];
        mbar_wait(qfull, n & 1);
        {
            const int r = warp * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
#pragma unroll
            for (int ks = 0; ks < 4; ks++)
                ldsm_x4(qf[ks], sQ + r * 64 + (((2 * ks + (lane >> 4)) ^ (r & 7)) << 3));
            if (HD == 80) ldsm_x4(qf[4], sQ + BM * 64 + r * 16 + (((lane >> 4) ^ ((r >> 2) & 1)) << 3));
        }
        __syncwarp();
        if (lane == 0) mbar_arrive(qempty);

        // The rel-pos products of the warp's rows (its own region; the previous item's output
        // rows there were stored before the __syncwarp that ended it).
        if (!idle) {
            const int g = lane >> 2, rb = q0 + warp * 16;
            if (lane < 16)
                for (int kw = W; kw < SEGW; kw++) relw[lane * WS + kw] = -INFINITY;  // masked slot columns
            int qa = min(rb, L - 1), qb = min(rb + 15, L - 1);
            int ha = grid_div(qa, ap->inv_w), hb = grid_div(qb, ap->inv_w);
            int wa = ha == hb ? qa - ha * W : 0, wb = ha == hb ? qb - hb * W : W - 1;
            int r0 = min(rb + g, L - 1), r1 = min(rb + g + 8, L - 1);
            int h0 = grid_div(r0, ap->inv_w), h1 = grid_div(r1, ap->inv_w);
            rel_products_grouped(relh, HS, ap->rh, H, qf, ha, hb, h0, h1, g, ap->inv_scale, lane, HD, 2);
            rel_products_grouped(relw, WS, ap->rw, W, qf, wa, wb, r0 - h0 * W, r1 - h1 * W, g, ap->inv_scale, lane,
                                 HD, 4);
        }
        __syncwarp();

        float o[1][10][4], m_run[1][2], l_run[1][2];
#pragma unroll
        for (int d = 0; d < HD / 8; d++) o[0][d][0] = o[0][d][1] = o[0][d][2] = o[0][d][3] = 0.0f;
        m_run[0][0] = m_run[0][1] = -INFINITY;
        l_run[0][0] = l_run[0][1] = 0.0f;
        unsigned pw[8][4];
        // One key tile: tile it of the item, the block's T-th. HALF: its keys 32-63 are padding.
#define RES_TILE(HALF) {                                                                                           \
            if (producer) {                                                                                        \
                /* The next key tile (this item's, or the next item's first) into the other */                     \
                /* stage, once every warp has released the tile T - 1 that it held. */                             \
                const int more = it + 1 < n_tiles;                                                                 \
                if (more || next < n_items) {                                                                      \
                    const int st = (T + 1) & 1;                                                                    \
                    if (T >= 1) mbar_wait(&empty[st], ((T - 1) >> 1) & 1);                                         \
                    flash_tma_tile(ap, sK + st * BN * HD, sV + st * BN * HD, &full[st], more ? it + 1 : 0,         \
                                   more ? b : nb, more ? h : nh, BN, SEGW, HD);                                    \
                }                                                                                                  \
                if (it == q_at && next < n_items) {                                                                \
                    mbar_wait(qempty, n & 1);  /* every warp has this item's Q in registers */                     \
                    RES_LOAD_Q(nb, nh, nq0);                                                                       \
                }                                                                                                  \
            }                                                                                                      \
            mbar_wait(&full[T & 1], (T >> 1) & 1);                                                                 \
            const bf16 *tk = sK + (T & 1) * BN * HD, *tv = sV + (T & 1) * BN * HD;                                 \
                                                                                                                   \
            float s[1][16][4], bh[1][2][2];                                                                        \
            if (idle) {  /* defined values for the collective product, never used */                               \
_Pragma("unroll")                                                                                                  \
                for (int nn = 0; nn < BN / 8; nn++) s[0][nn][0] = s[0][nn][1] = s[0][nn][2] = s[0][nn][3] = 0.0f;  \
            } else {                                                                                               \
                flash_c_start(s, bh, relh, relw, HS, WS, 0, it * NSEG, H, lane, 1, NSEG, NPS, 0);                  \
            }                                                                                                      \
            flash_wg_qk_issue(&s[0][0][0], qf, tk, BN, HD, HALF);                                                  \
            flash_wg_wait(&s[0][0][0], BN / 2);                                                                    \
            if (!idle) flash_softmax(s, bh, o, m_run, l_run, c, 1, BN, NSEG, 0, HD);                               \
_Pragma("unroll")                                                                                                  \
            for (int kk = 0; kk < (HALF ? 2 : BN / 16); kk++) flash_pack_p16(pw[kk], s[0], kk);                    \
            flash_wg_pv_issue(&o[0][0][0], pw, tv, BN, HD, HALF);                                                  \
            flash_wg_wait(&o[0][0][0], HD / 2);                                                                    \
            if (lane == 0) mbar_arrive(&empty[T & 1]);  /* the warp is done with this stage */                     \
        }
        for (int it = 0; it < n_tiles - HALF_LAST; it++, T++) RES_TILE(0)
        // -resh (HALF_LAST): a window's last tile (2 grid rows of 16 slots, the rest past the
        // grid) after the loop, as code of its own: chosen by a branch inside the loop, its N = 32
        // product made ptxas serialise every product of the kernel (C7520; call 4 of session 15).
        if (HALF_LAST) {
            const int it = n_tiles - 1;
            RES_TILE(1)
            T++;
        }
#undef RES_TILE

        // The output rows, over the warp's tables (its last reads of them are behind it).
        __syncwarp();
        if (!idle) flash_store_o(sO, 0, o, l_run, op, ap->o_ts, q0 + warp * 16, L, lane, 1, HD);
        __syncwarp();
        b = nb, h = nh, q0 = nq0;
    }
#undef RES_ITEM
#undef RES_LOAD_Q
#else
    __trap();
#endif
}

// =============================================================================================
// the compiled configs
// =============================================================================================

// name: hd<HD>-s<SEGW>-w<WARPS>m<MT>n<BN>b<MINB>[-tma]: head dim, key slots per grid row (64:
// grids up to 64 wide, 16: up to 16), warps per block, m-tiles of 16 query rows per warp (BM = 16
// WARPS MT), keys per tile, and __launch_bounds__'s minimum blocks per SM (which caps the
// registers at 65536 / (32 WARPS MINB); with 1 ptxas takes what it wants, up to 255). Shared
// memory: BM (hd + 8) 2 bytes of Q or BM (H + 1 + SEGW + 8) 4 of rel-pos tables, whichever is
// larger, plus 4 BN (hd + 8) 2 of K and V. (Spilling candidates, e.g. 2 m-tiles with 128-key
// tiles, are left out.)
// The last column, WG: 0 mma.sync (any sm_80+ GPU), 1 the products on wgmma with K and V copied
// by the tensor-memory accelerator under per-stage barriers instead of cp.async and a block
// barrier (sm_90 only; head dim 64 or 80, warps in whole warpgroups, one m-tile each, key tiles
// of 64 or 128; K and V in 128-byte rows with the 128-byte swizzle, plus head dim 80's 32-byte
// rows, 1024 bytes more shared memory for their alignment). Their names end in -tma. Head dim
// 80's -tma configs against its best mma.sync ones (tests/gpu/logs/h200-2026-12-01-h, call 1):
// vit_h global 1.602 against 2.815 ms, windowed 0.293 against 0.394. Measured and left out
// (vit_b, batch 8, the H200, tests/gpu/logs/h200-2026-12-01-g, against the kept -tma configs of
// the same call): wgmma with
// K and V by cp.async under a block barrier per tile, 1.362 against -tma's 1.156 ms global and
// 0.205 against 0.202 windowed (call 5); 12 warps, 0.40 ms slower global and 0.47 windowed on
// 64-slot rows; 128-key tiles, 0.05-0.26 ms slower global; the P v product overlapping the next
// tile's softmax, 0.07 ms slower (call 3). Windowed, measured and left out (session 13,
// tests/gpu/logs/h200-2026-12-01-l/call1-gpu0.log, every windowed config there with the tables
// staged; vit_b against hd64-s16-w4m1n64b3-tma's 0.2032 ms there, vit_h against
// hd80-s16-w8m1n64b2-tma's 0.2870): the rel-pos tables staged in shared memory with Q, the
// products' B fragments from there instead of global memory, no faster (0.2032 against the
// unstaged kernel's 0.2007 ms in its own run, session 9: tests/gpu/logs/h200-2026-12-01-h/
// call1-gpu0.log); 128-key -tma tiles, 0.2841 (vit_h 0.4245); split launches, the whole 64-row
// tiles then a one-warp mma.sync kernel for a window's last 4 rows, 0.2161 (vit_h 0.3305, 0.4702
// with 128-row tiles). What did pay: the warps of a window's last tile whose rows all lie past
// its 196 queries skip the rel-pos terms and the softmax, and grid rows come from grid_div
// instead of integer divisions (tables unstaged: 0.1944 ms in call 2, 0.1941 in call 3).
// WG 2, the resident windowed kernel (-res, session 14, tests/gpu/logs/h200-2026-12-02): vit_b
// windowed hd64-s16-w8m1n64b2-res 0.1920-0.1936 ms against the chosen -tma config's 0.1947-0.1951
// in the same calls (3 and 4), vit_h hd80-s16-w8m1n64b2-res 0.2825-0.2826 against 0.2846-0.2854:
// about 1 % faster; made vit_h's windowed choice in session 16, with the waterfall rerun.
// Measured and left out: -res
// with one warpgroup (BM 64), vit_b 0.1981-0.2264 ms, vit_h 0.3233-0.3830 (calls 1-4; in call 1,
// before the grid was made coprime to the query tiles, every -res config 0.218-0.226 / 0.326-0.383);
// -resp, three K/V stages with a window's four key tiles in straight-line code and tile t + 1's
// q k^T issued before tile t's softmax (FlashAttention-3's overlap, no ptxas serialisation):
// 165-191 registers, 8-12 warps per SM, vit_b 0.2464 / 0.3031 ms, vit_h 0.4558 (call 4).
// WG 3, -resh (session 15, tests/gpu/logs/h200-2026-12-02-b call 5): vit_b 0.1888 ms against
// -res 0.1911 and the chosen -tma 0.1937 in the same run; vit_h 0.2841 against -res 0.2818 and
// -tma 0.2838 (no gain at head dim 80); vit_b's windowed choice since session 16. The same tile chosen by a
// branch inside the loop (call 4) made ptxas serialise the products (C7520): 0.2001 / 0.3020.
#define FLASH_CONFIGS(X)        \
    X(64, 64, 4, 1, 64, 2, 0)   \
    X(64, 64, 4, 1, 64, 4, 0)   \
    X(64, 64, 8, 1, 64, 1, 0)   \
    X(64, 64, 8, 1, 64, 2, 0)   \
    X(64, 64, 4, 2, 64, 1, 0)   \
    X(64, 64, 4, 1, 128, 1, 0)  \
    X(64, 64, 8, 1, 128, 1, 0)  \
    X(80, 64, 4, 1, 64, 2, 0)   \
    X(80, 64, 4, 1, 64, 4, 0)   \
    X(80, 64, 8, 1, 64, 1, 0)   \
    X(80, 64, 8, 1, 64, 2, 0)   \
    X(80, 64, 4, 1, 128, 1, 0)  \
    X(80, 64, 8, 1, 128, 1, 0)  \
    X(64, 16, 4, 1, 64, 2, 0)   \
    X(64, 16, 4, 1, 64, 4, 0)   \
    X(64, 16, 7, 1, 64, 1, 0)   \
    X(64, 16, 7, 1, 112, 1, 0)  \
    X(64, 16, 13, 1, 64, 1, 0)  \
    X(64, 16, 7, 2, 64, 1, 0)   \
    X(80, 16, 4, 1, 64, 2, 0)   \
    X(80, 16, 7, 1, 64, 1, 0)   \
    X(80, 16, 7, 1, 112, 1, 0)  \
    X(80, 16, 13, 1, 64, 1, 0)  \
    X(64, 64, 8, 1, 64, 2, 1)   \
    X(64, 64, 4, 1, 64, 3, 1)   \
    X(64, 16, 4, 1, 64, 3, 1)   \
    X(64, 16, 8, 1, 64, 2, 1)   \
    X(80, 64, 8, 1, 64, 2, 1)   \
    X(80, 64, 4, 1, 64, 2, 1)   \
    X(80, 16, 4, 1, 64, 3, 1)   \
    X(80, 16, 8, 1, 64, 2, 1)   \
    X(64, 16, 8, 1, 64, 2, 2)   \
    X(80, 16, 8, 1, 64, 2, 2)   \
    X(64, 16, 8, 1, 64, 2, 3)   \
    X(80, 16, 8, 1, 64, 2, 3)

#define FLASH_KNAME(HD, SEGW, WARPS, MT, BN, MINB, WG) \
    flash_relpos_hd##HD##_s##SEGW##_w##WARPS##m##MT##n##BN##b##MINB##_g##WG
#define FLASH_DEFINE(HD, SEGW, WARPS, MT, BN, MINB, WG)                                \
    static_assert(!WG || ((HD == 64 || HD == 80) && WARPS % 4 == 0 && MT == 1 &&  \
                          BN % 64 == 0 && BN <= 128),                                           \
                  "a wgmma flash config: head dim 64 or 80, whole warpgroups, one m-tile, " \
                  "64 or 128 keys");                                                            \
    static_assert(WG < 2 || (SEGW == 16 && BN == 64), "a resident config: windowed, 64-key tiles"); \
    __global__ void __launch_bounds__(WARPS * 32, MINB)                                \
        FLASH_KNAME(HD, SEGW, WARPS, MT, BN, MINB, WG)(const __grid_constant__ FlashArgs a) { \
        if (WG >= 2) flash_resident_body(&a, HD, WARPS, BN, SEGW, WG == 3);            \
        else flash_body(a, &a, HD, WARPS, MT, BN, SEGW, WG);                           \
    }
FLASH_CONFIGS(FLASH_DEFINE)

typedef void (*FlashKernel)(FlashArgs);
typedef struct {
    int hd, segw, warps, mt, bn, minb, wg;
    FlashKernel kernel;
    const char *name;
} FlashConfig;
#define FLASH_ENTRY(HD, SEGW, WARPS, MT, BN, MINB, WG)                                      \
    {HD, SEGW, WARPS, MT, BN, MINB, WG, FLASH_KNAME(HD, SEGW, WARPS, MT, BN, MINB, WG),      \
     WG == 3 ? "hd" #HD "-s" #SEGW "-w" #WARPS "m" #MT "n" #BN "b" #MINB "-resh"             \
     : WG == 2 ? "hd" #HD "-s" #SEGW "-w" #WARPS "m" #MT "n" #BN "b" #MINB "-res"            \
     : WG    ? "hd" #HD "-s" #SEGW "-w" #WARPS "m" #MT "n" #BN "b" #MINB "-tma"              \
             : "hd" #HD "-s" #SEGW "-w" #WARPS "m" #MT "n" #BN "b" #MINB},
static const FlashConfig flash_configs[] = {FLASH_CONFIGS(FLASH_ENTRY)};
#define N_FLASH_CONFIGS ((int)(sizeof flash_configs / sizeof flash_configs[0]))
static int flash_smem_set[N_FLASH_CONFIGS];  // dynamic shared memory limit raised to (bytes)
static int flash_res_blocks[N_FLASH_CONFIGS][2];  // WG 2, 3: (shared memory bytes, resident blocks per SM at it)

// A config's shared memory for a grid of H rows.
static size_t config_smem_bytes(const FlashConfig *f, int H) {
    if (f->wg >= 2) return flash_res_smem_bytes(f->warps, f->bn, f->hd, H, f->segw);
    return flash_smem_bytes(f->warps * f->mt * 16, f->bn, f->hd, H, f->segw, f->wg);
}

// The build's choice per head dim and kind (config names as above); a call takes the first
// entry of its head dim that serves it: 16 slots per grid row where the grid is at most 16
// wide, else 64; a -tma config only on an sm_90 GPU. Measured: the fastest config of each shape
// in `tests/gpu/test_flash_relpos --bench` on the H200 at batch 8
// (head dim 64: tests/gpu/logs/h200-2026-12-01-g/call5-gpu0.log; head dim 80:
// tests/gpu/logs/h200-2026-12-01-h/call1-gpu0.log, whose FLASH_CHOICE lines the first four are);
// the tiny fixture's 16 x 16 grid takes the windowed entry.
// Since session 16 the windowed entries are the resident configs (sessions 14 and 15's benches,
// tests/gpu/logs/h200-2026-12-02 and -02-b: vit_b -resh 0.1885-0.1888 ms against -tma's
// 0.1932-0.1937, vit_h -res 0.2815-0.2826 against -tma's 0.2838-0.2885, in the same calls).
static const char *const FLASH_CHOICE[] = {
    // vit_b windowed (14 x 14, 196 tokens; -resh serves grids whose last key tile is half
    // padding): 0.1888 ms, 125 TFLOP/s (session 15 call 5, tests/gpu/logs/h200-2026-12-02-b)
    "hd64-s16-w8m1n64b2-resh",
    // other grids up to 16 wide (the fixtures' 16 x 16): 0.194 ms at vit_b's windows (session 13)
    "hd64-s16-w4m1n64b3-tma",
    "hd64-s64-w8m1n64b2-tma",  // vit_b global (64 x 64 grid, 4096 tokens): 1.156 ms, 357 TFLOP/s
    "hd80-s16-w8m1n64b2-res",  // vit_l / vit_h windowed: 0.2818 ms, 139 TFLOP/s (session 15 call 5)
    "hd80-s64-w8m1n64b2-tma",  // vit_l / vit_h global: 1.602 ms, 429 TFLOP/s
    // A GPU without wgmma (not sm_90) takes the fastest mma.sync configs instead:
    "hd64-s16-w4m1n64b4",   // vit_b windowed: 0.254 ms on the H200
    "hd64-s64-w4m2n64b1",   // vit_b global: 1.700 ms on the H200
    "hd80-s16-w13m1n64b1",  // vit_h windowed: 0.394 ms on the H200
    "hd80-s64-w8m1n64b2",   // vit_h global: 2.815 ms on the H200
};

// =============================================================================================
// launcher
// =============================================================================================

static int config_by_name(const char *name) {
    for (int i = 0; i < N_FLASH_CONFIGS; i++)
        if (strcmp(flash_configs[i].name, name) == 0) return i;
    return -1;
}

// Refuses, by name, what the kernel does not do.
static void flash_check(Exec *x, const AttnParams *p) {
    const char *who = "cuda attention flash_relpos";
    if (!is_bf16(x)) die("%s: precision fp32 is not implemented (bf16 only)", who);
    if (!p->rel_pos)
        die("%s: no rel-pos table: only the image encoder's attention (with rel-pos) is implemented", who);
    if (p->q_len != p->k_len)
        die("%s: q_len %d != k_len %d is not implemented (self-attention on the grid only)", who, p->q_len, p->k_len);
    if (p->grid_h < 1 || p->grid_w < 1 || p->q_len != p->grid_h * p->grid_w)
        die("%s: q_len %d is not grid_h x grid_w (%d x %d)", who, p->q_len, p->grid_h, p->grid_w);
    if (p->grid_h > FLASH_MAX_GRID || p->grid_w > FLASH_MAX_GRID)
        die("%s: grid %d x %d over %d x %d is not implemented", who, p->grid_h, p->grid_w, FLASH_MAX_GRID, FLASH_MAX_GRID);
    if (p->head_dim != 64 && p->head_dim != 80)
        die("%s: head dim %d is not implemented (64 and 80 only)", who, p->head_dim);
    if (!(p->scale > 0.0f)) die("%s: scale %g is not implemented (positive only)", who, p->scale);
    const void *ptrs[5] = {p->q, p->k, p->v, p->o, p->rel_pos};
    for (int i = 0; i < 5; i++)
        if (!aligned16(ptrs[i])) die("%s: q, k, v, o and rel_pos must be 16-byte aligned", who);
    const int64_t st[12] = {p->q_batch_stride, p->q_tok_stride, p->q_head_stride,
                            p->k_batch_stride, p->k_tok_stride, p->k_head_stride,
                            p->v_batch_stride, p->v_tok_stride, p->v_head_stride,
                            p->o_batch_stride, p->o_tok_stride, p->o_head_stride};
    for (int i = 0; i < 12; i++)
        if (st[i] % 8 != 0) die("%s: strides must be multiples of 8 elements (16 bytes)", who);
    const int64_t tok[3] = {p->q_tok_stride, p->k_tok_stride, p->v_tok_stride};
    for (int i = 0; i < 3; i++)
        if ((int64_t)p->q_len * (tok[i] < 0 ? -tok[i] : tok[i]) >= ((int64_t)1 << 31))
            die("%s: token offsets of %d tokens with stride %lld over 2^31 elements are not implemented", who,
                p->q_len, (long long)tok[i]);
    if ((int64_t)p->batch * p->heads > 65535)
        die("%s: %lld (batch, head) pairs over 65535 are not implemented", who, (long long)p->batch * p->heads);
}

// Whether this process's GPU runs the -tma configs (wgmma, TMA: sm_90, compute capability 9.x).
static int device_has_wgmma(void) {
    static int known = -1;
    if (known < 0) {
        int dev = 0, major = 0;
        cudaCheck(cudaGetDevice(&dev));
        cudaCheck(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        known = major == 9;
    }
    return known;
}

// A config serves grids at most SEGW wide; a wgmma config only on an sm_90 GPU.
static int config_serves(const FlashConfig *f, const AttnParams *p) {
    return f->hd == p->head_dim && p->grid_w <= f->segw && (!f->wg || device_has_wgmma()) &&
           (f->wg != 3 || p->grid_h * f->segw % f->bn == 32);
}

static int chosen_config(const AttnParams *p) {
    int n = (int)(sizeof FLASH_CHOICE / sizeof FLASH_CHOICE[0]);
    for (int i = 0; i < n; i++) {
        int k = config_by_name(FLASH_CHOICE[i]);
        if (k < 0) die("cuda attention flash_relpos: FLASH_CHOICE names %s, which is not compiled", FLASH_CHOICE[i]);
        if (config_serves(&flash_configs[k], p)) return k;
    }
    die("cuda attention flash_relpos: no config chosen for head dim %d", p->head_dim);
}

// Raises config ci's dynamic shared-memory limit to `smem` bytes, once (not a stream operation:
// allowed while a graph is being captured); refuses by name what the device cannot give.
static void flash_smem_limit(Exec *x, int ci, size_t smem) {
    const FlashConfig *f = &flash_configs[ci];
    CudaBackend *bk = cuda_backend(x);
    if (smem > bk->prop.sharedMemPerBlockOptin)
        die("cuda attention flash_relpos: config %s needs %zu bytes of shared memory (device: %zu)",
            f->name, smem, (size_t)bk->prop.sharedMemPerBlockOptin);
    if ((size_t)flash_smem_set[ci] < smem) {
        cudaCheck(cudaFuncSetAttribute(f->kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        flash_smem_set[ci] = (int)smem;
    }
}

// The wgmma configs' tensor map of K, V (or, resident configs, Q): (hd, L, heads, batch) with the
// call's strides, read in boxes of `rows` tokens (K, V: one grid row, W; Q: the BM rows of a query
// tile) of `cols` columns: (64, rows, 1, 1) into 128-byte swizzled rows, or (head dim 80's last
// columns) (16, rows, 1, 1) into 32-byte swizzled rows. Made per launch on the host
// (no stream work: allowed during graph capture) and passed by value in the kernel's argument.
static CUtensorMap flash_tok_map(const void *base, const AttnParams *p, int64_t ts, int64_t hs, int64_t bs,
                                int cols, int rows) {
    CUtensorMap m;
    cuuint64_t dims[4] = {(cuuint64_t)p->head_dim, (cuuint64_t)p->q_len, (cuuint64_t)p->heads, (cuuint64_t)p->batch};
    cuuint64_t strides[3] = {(cuuint64_t)ts * 2, (cuuint64_t)hs * 2, (cuuint64_t)bs * 2};
    cuuint32_t box[4] = {(cuuint32_t)cols, (cuuint32_t)rows, 1, 1}, estr[4] = {1, 1, 1, 1};
    for (int i = 0; i < 3; i++)
        if (strides[i] == 0) strides[i] = 16;  // a dimension of size 1 may have any stride
    CUresult r = tensor_map_encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, (void *)base, dims, strides, box, estr,
                                      CU_TENSOR_MAP_INTERLEAVE_NONE,
                                      cols == 64 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_32B,
                                      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        die("cuda attention flash_relpos: cuTensorMapEncodeTiled failed (%d) for K/V of %d x %d tokens, %d heads, "
            "batch %d, strides %lld %lld %lld", (int)r, p->grid_h, p->grid_w, p->heads, p->batch, (long long)ts,
            (long long)hs, (long long)bs);
    return m;
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

// ci: a config that serves p (flash_check done by the caller).
static void flash_launch(Exec *x, const AttnParams *p, int ci) {
    if (p->batch <= 0 || p->heads <= 0 || p->q_len <= 0) return;
    const FlashConfig *f = &flash_configs[ci];
    if (!config_serves(f, p)) die("cuda attention flash_relpos: config %s does not serve this call", f->name);
    int BM = f->warps * f->mt * 16;
    size_t smem = config_smem_bytes(f, p->grid_h);
    flash_smem_limit(x, ci, smem);
    FlashArgs a;
    memset(&a, 0, sizeof a);  // the tensor maps a config does not use stay zero
    a.q = (const bf16 *)p->q, a.k = (const bf16 *)p->k, a.v = (const bf16 *)p->v, a.o = (bf16 *)p->o;
    a.rh = (const bf16 *)p->rel_pos;
    a.rw = a.rh + (int64_t)(2 * p->grid_h - 1) * p->head_dim;
    a.q_bs = p->q_batch_stride, a.q_hs = p->q_head_stride, a.q_ts = p->q_tok_stride;
    a.k_bs = p->k_batch_stride, a.k_hs = p->k_head_stride, a.k_ts = p->k_tok_stride;
    a.v_bs = p->v_batch_stride, a.v_hs = p->v_head_stride, a.v_ts = p->v_tok_stride;
    a.o_bs = p->o_batch_stride, a.o_hs = p->o_head_stride, a.o_ts = p->o_tok_stride;
    a.heads = p->heads, a.L = p->q_len, a.H = p->grid_h, a.W = p->grid_w;
    if (f->wg) {
        const int W = p->grid_w;
        a.tmk = flash_tok_map(p->k, p, p->k_tok_stride, p->k_head_stride, p->k_batch_stride, 64, W);
        a.tmv = flash_tok_map(p->v, p, p->v_tok_stride, p->v_head_stride, p->v_batch_stride, 64, W);
        if (f->hd == 80) {  // the last 16 columns
            a.tmk80 = flash_tok_map(p->k, p, p->k_tok_stride, p->k_head_stride, p->k_batch_stride, 16, W);
            a.tmv80 = flash_tok_map(p->v, p, p->v_tok_stride, p->v_head_stride, p->v_batch_stride, 16, W);
        }
    }
    if (f->wg >= 2) {
        a.tmq = flash_tok_map(p->q, p, p->q_tok_stride, p->q_head_stride, p->q_batch_stride, 64, BM);
        if (f->hd == 80) a.tmq80 = flash_tok_map(p->q, p, p->q_tok_stride, p->q_head_stride, p->q_batch_stride, 16, BM);
    }
    a.inv_w = 1.0f / (float)p->grid_w;
    a.c = p->scale * LOG2E_F;
    a.inv_scale = 1.0f / p->scale;
    a.pairs = p->batch * p->heads;
    dim3 grid((unsigned)((p->q_len + BM - 1) / BM), (unsigned)(p->batch * p->heads));
    if (f->wg >= 2) {  // as many blocks as are resident at once, or one per item if fewer
        if (flash_res_blocks[ci][0] != (int)smem) {
            int per_sm = 0;
            cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, f->kernel, f->warps * 32, smem));
            if (per_sm < 1) die("cuda attention flash_relpos: config %s fits no block on an SM", f->name);
            flash_res_blocks[ci][0] = (int)smem, flash_res_blocks[ci][1] = per_sm;
        }
        int64_t items = (int64_t)grid.x * grid.y, fit = (int64_t)flash_res_blocks[ci][1] * cuda_backend(x)->prop.multiProcessorCount;
        int64_t blocks = items < fit ? items : fit;
        // Block k takes items k, k + G, ...: with G a multiple of the query tiles per window, a
        // block (and the blocks beside it on its SM) would take the same query tile of every
        // window, some only the short last tiles; G coprime to it rotates each block through all.
        while (blocks > 1 && gcd64(blocks, grid.x) != 1) blocks--;
        grid = dim3((unsigned)blocks);
    }
    f->kernel<<<grid, f->warps * 32, smem, cuda_stream(x)>>>(a);
    LAUNCH_CHECK(x, "flash_relpos attention");
}

static void flash_relpos_run(Exec *x, const AttnParams *p) {
    flash_check(x, p);
    flash_launch(x, p, chosen_config(p));
}

// ---- the candidates, for the tests and the benchmark ----------------------------------------
extern "C" int cuda_flash_relpos_configs(void) { return N_FLASH_CONFIGS; }
extern "C" const char *cuda_flash_relpos_config_name(int i) {
    return i >= 0 && i < N_FLASH_CONFIGS ? flash_configs[i].name : "?";
}
extern "C" int cuda_flash_relpos_config_serves(int i, const AttnParams *p) {
    return i >= 0 && i < N_FLASH_CONFIGS && config_serves(&flash_configs[i], p);
}
extern "C" int cuda_flash_relpos_chosen(const AttnParams *p) { return chosen_config(p); }
extern "C" void cuda_flash_relpos_config_describe(Exec *x, const AttnParams *p, int i, char *buf, size_t len) {
    if (i < 0 || i >= N_FLASH_CONFIGS) die("cuda attention flash_relpos: no config %d", i);
    const FlashConfig *f = &flash_configs[i];
    int BM = f->warps * f->mt * 16;
    size_t smem = config_smem_bytes(f, p->grid_h);
    flash_smem_limit(x, i, smem);
    cudaFuncAttributes at;
    cudaCheck(cudaFuncGetAttributes(&at, f->kernel));
    int blocks = 0;
    cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f->kernel, f->warps * 32, smem));
    snprintf(buf, len, "BM %3d, %2d regs spill %d B, smem %3zu KiB, %d blocks = %2d warps/SM", BM,
             at.numRegs, (int)at.localSizeBytes, smem >> 10, blocks, blocks * f->warps);
}

extern "C" void cuda_flash_relpos_run_config(Exec *x, const AttnParams *p, int i) {
    if (i < 0 || i >= N_FLASH_CONFIGS) die("cuda attention flash_relpos: no config %d", i);
    flash_check(x, p);
    flash_launch(x, p, i);
}

extern "C" const AttentionImpl cuda_attention_flash_relpos = {
    "flash-relpos",       // name
    "cuda",               // backend
    1u << DT_BF16,        // dtypes
    flash_relpos_run,     // run
    NULL,                 // workspace_bytes: none
};
