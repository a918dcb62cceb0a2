// The int8 linear format (design.md section 2, stage int8): dynamic symmetric int8 for the image
// encoder's four linears per block, as torchao's dynamic quantisation, on Hopper tensor cores.
//   prepare: weights quantised once per output channel (kernels/int8_rules.h) by a kernel, int8 (out, in)
//            plus float32 scales and a float32 bias on the device.
//   run:     1. int8_quant_rows: one pass over the bfloat16 activations, one warp per row:
//               max|x|, scale = max / 127, int8 values, into the operation scratch (reserved by
//               the planning pass: LinearFormat.workspace_bytes).
//            2. int8_gemm: int8 x int8 -> int32 on wgmma (m64n256k32 .s32.s8.s8), TMA loads into
//               128-byte-swizzled shared memory, an mbarrier pipeline (3 stages), one producer
//               warpgroup and two consumer warpgroups per 128 x 256 tile, persistent; the
//               epilogue dequantises (acc * x_scale[row] * w_scale[col] + bias[col], float32),
//               adds the residual, rounds to bfloat16 once into swizzled shared memory and
//               stores the tile by TMA while the warpgroups go on to their next tile (the
//               "tstore" epilogue; the "direct" one stores from the registers: 1.20-1.59 times
//               slower at the encoder's shapes on the H200,
//               tests/gpu/logs/h200-2026-12-01-h/call4-gpu0.log). With GELU (lin1) the
//               consumers hand the rounded pre-activation over in shared memory to three idle
//               warps of the producer warpgroup, which apply GELU (an erfc fit, gelu_erfc_fit)
//               and store the tile while the consumers multiply the next one (the
//               "gelu-warps" variant: lin1 0.313 / 0.564 ms against 0.352 / 0.776 for bf16 at
//               vit_b / vit_h, tests/gpu/logs/h200-2026-12-01-j/call4-gpu0.log); the GELU warps
//               read GELU from a shared-memory table of bfloat16 inputs where it has the input
//               (the "gelu-table" variant, the build's: lin1 0.271-0.272 / 0.489-0.493 ms,
//               tests/gpu/logs/h200-2026-12-02-c, calls 2 and 4).
// Where a LayerNorm feeds the layer (qkv, lin1; the stage's fusion choice), step 1 is the
// LayerNorm kernel itself (run_ln: layernorm.cu writes the int8 values and scales). The GELU
// before lin2 is lin1's epilogue, which sees 256 of a row's 3072 (5120) columns: its row scale
// needs the whole row, so lin2's input still takes a pass, but in the encoder's MLP (run_ln_mlp)
// lin1's consumers record each row's largest pre-activation (atomicMax over the row's column
// tiles) and the pass takes GELU of it as the row's maximum, reading each value once
// (int8_quant_rows_gelu: 0.110 / 0.176 ms at vit_b / vit_h's 32768 x 3072 (5120) against the
// two-read pass's 0.120 / 0.214 and a GEMM of 0.132 / 0.329; lin1 recording the maxima 0.313 /
// 0.571 against 0.312 / 0.563; tests/gpu/logs/h200-2026-12-01-k/call3-gpu0.log). The passes
// issue about an instruction per cycle per scheduler, so their rounding is int8_quantize4_inv's
// (kernels/int8_rules.h: 0.104 / 0.151 ms for lin2's from the maxima, was 0.108 / 0.176;
// session 17 call 2, tests/gpu/logs/h200-2026-12-02-d). The bench
// (tests/gpu/test_int8 --bench) prints each pass's cost per shape beside the GEMM's.
// "call N" below: tests/gpu/logs/h200-2026-12-01-h/callN-gpu0.log (the H200, batch 8 shapes).
// Needs sm_90 (wgmma, TMA): on another GPU the format refuses by name.
#include <string.h>

#include <cuda.h>
#include <cudaTypedefs.h>

#include "cuda_common.cuh"
#include "kernels/int8_rules.h"
#include "sm90_ptx.cuh"

#define I8_BM 128                          // tile rows per block (two consumer warpgroups of 64)
#define I8_BN 256                          // tile columns (output features)
#define I8_BK 128                          // bytes of K per stage: one 128-byte swizzle row
#define I8_THREADS 384                     // consumer warpgroups 0 and 1, producer warpgroup 2
// Registers per thread after setmaxnreg: the launch holds 168 x 384 (65536 / 384, rounded down to
// 8), and the consumers' setmaxnreg.inc waits until the producer's dec has freed enough, so
// 2 consumers + 1 producer must fit 3 x 168 or the block hangs (2 x 200 + 112 did on the H200,
// session 11 call 2). GW: the GELU-warps variant, whose producer warpgroup also runs GELU.
// ptxas compiles every branch within the launch's 168 (-Xptxas -v: 168 registers, no spill), so
// a fourth warpgroup of GELU warps (128 at launch) cannot be had: the consumers' m64n256k32
// products need at least 154 (ptxas C7602, session 16).
#define I8_REGS_LAUNCH 168
#define I8_REGS_CONSUMER 232
#define I8_REGS_PRODUCER 40
#define I8_REGS_CONSUMER_GW 192
#define I8_REGS_PRODUCER_GW 120
static_assert(2 * I8_REGS_CONSUMER + I8_REGS_PRODUCER <= 3 * I8_REGS_LAUNCH, "int8 GEMM register split");
static_assert(2 * I8_REGS_CONSUMER_GW + I8_REGS_PRODUCER_GW <= 3 * I8_REGS_LAUNCH, "int8 GEMM register split");
static_assert(I8_REGS_LAUNCH == 65536 / I8_THREADS / 8 * 8, "int8 GEMM launch registers");
#define I8_STR_(x) #x
#define I8_STR(x) I8_STR_(x)
#define I8_A_BYTES (I8_BM * I8_BK)         // 16 KiB of A per stage
#define I8_B_BYTES (I8_BN * I8_BK)         // 32 KiB of B per stage
#define I8_STAGE_BYTES (I8_A_BYTES + I8_B_BYTES)
#define I8_Y_BYTES (I8_BM * I8_BN * 2)     // tstore: the block's bfloat16 output tile (64 KiB)
#define I8_EP_BYTES (16 * 256 * 4)         // direct: GELU's staging (int8_epilogue's s_ep)
// TS 3's table of GELU over bfloat16 inputs (int8_gelu_warps).
#define I8_GT_LO (111 << 7)   // the first entry's magnitude bits (2^-16)
#define I8_GT_HALF 2560       // entries per sign: exponent fields 111 .. 130 (up to 16)
#define I8_GT_BYTES (2 * I8_GT_HALF * 2)
// Dynamic shared memory of a variant: 1024 for alignment, the stages, the epilogue's buffer, the
// stages' full and empty barriers, the two warpgroups' residual barriers, (TS 2, 3) their output
// buffers' full and free barriers and (TS 3) the GELU table (I8_GT_BYTES).
#define I8_SMEM_BYTES(STAGES, TS)                                                                \
    (1024 + (STAGES) * I8_STAGE_BYTES + ((TS) ? I8_Y_BYTES : I8_EP_BYTES) + (2 * (STAGES) + 6) * 8 + \
     ((TS) == 3 ? I8_GT_BYTES : 0))
// The static shared memory (s_ws, s_b: 4 KiB) and the largest variant's dynamic within the 227 KiB
// a block may have.
static_assert(4096 + I8_SMEM_BYTES(3, 3) <= 227 * 1024, "int8 GEMM shared memory");

typedef struct {
    int8_t *Wq;       // (out, in) int8, per-row scales below
    float *w_scale;   // (out)
    float *bias;      // (out) float32, or NULL
    CUtensorMap tmap_w;  // Wq in boxes of 128 bytes x 256 rows
} CudaInt8Linear;

// =============================================================================================
// device helpers: shared-memory barriers, TMA, wgmma (in the sm_90a compilation only)
// =============================================================================================
#if SM90A_PTX

// wgmma m64n256k32, s8 x s8 -> s32, both operands K-major from shared memory (descriptors),
// accumulating into d (scale-d = 1).
static __device__ __forceinline__ void wgmma_s8_m64n256k32(int *d, uint64_t da, uint64_t db) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        " %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        " %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63,"
        " %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79,"
        " %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95,"
        " %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111,"
        " %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127},"
        " %128, %129, p;\n"
        "}\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]),
          "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]),
          "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]),
          "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
          "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]),
          "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]),
          "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
          "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63]),
          "+r"(d[64]), "+r"(d[65]), "+r"(d[66]), "+r"(d[67]), "+r"(d[68]), "+r"(d[69]), "+r"(d[70]), "+r"(d[71]),
          "+r"(d[72]), "+r"(d[73]), "+r"(d[74]), "+r"(d[75]), "+r"(d[76]), "+r"(d[77]), "+r"(d[78]), "+r"(d[79]),
          "+r"(d[80]), "+r"(d[81]), "+r"(d[82]), "+r"(d[83]), "+r"(d[84]), "+r"(d[85]), "+r"(d[86]), "+r"(d[87]),
          "+r"(d[88]), "+r"(d[89]), "+r"(d[90]), "+r"(d[91]), "+r"(d[92]), "+r"(d[93]), "+r"(d[94]), "+r"(d[95]),
          "+r"(d[96]), "+r"(d[97]), "+r"(d[98]), "+r"(d[99]), "+r"(d[100]), "+r"(d[101]), "+r"(d[102]), "+r"(d[103]),
          "+r"(d[104]), "+r"(d[105]), "+r"(d[106]), "+r"(d[107]), "+r"(d[108]), "+r"(d[109]), "+r"(d[110]), "+r"(d[111]),
          "+r"(d[112]), "+r"(d[113]), "+r"(d[114]), "+r"(d[115]), "+r"(d[116]), "+r"(d[117]), "+r"(d[118]), "+r"(d[119]),
          "+r"(d[120]), "+r"(d[121]), "+r"(d[122]), "+r"(d[123]), "+r"(d[124]), "+r"(d[125]), "+r"(d[126]), "+r"(d[127])
        : "l"(da), "l"(db), "r"(1));
}
#endif  // SM90A_PTX

// =============================================================================================
// kernels
// =============================================================================================

// Per-token quantisation: x (rows, K) bfloat16 -> q (rows, K) int8 and scale (rows) float32,
// one warp per row, 8 elements (16 bytes) per access; K % 8 == 0, x and q 16- and 8-byte aligned.
// The row is read twice (the maximum, then the rounding; the second read mostly from cache):
// a version that kept rows of up to 5120 in registers between the two was 2.1-3.4 times slower
// on the H200 (fewer warps per SM; tests/gpu/logs/h200-2026-12-01-h/call2-gpu0.log, q ms).
static __device__ __forceinline__ float int8_amax8(uint4 u, float amax) {
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float2 f = __bfloat1622float2(h[j]);
        amax = fmaxf(amax, fmaxf(fabsf(f.x), fabsf(f.y)));
    }
    return amax;
}
// inv: 1 / s, correctly rounded (int8_quantize_inv), once per row.
static __device__ __forceinline__ uint2 int8_quant8(uint4 u, float s, float inv) {
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
    float2 f[4];
#pragma unroll
    for (int j = 0; j < 4; j++) f[j] = __bfloat1622float2(h[j]);
    return make_uint2(int8_quantize4_inv(f[0].x, f[0].y, f[1].x, f[1].y, s, inv),
                      int8_quantize4_inv(f[2].x, f[2].y, f[3].x, f[3].y, s, inv));
}
__global__ void int8_quant_rows(const bf16 *x, int8_t *q, float *scale, int64_t rows, int K) {
    int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const uint4 *xr = (const uint4 *)(x + row * K);
    uint2 *qr = (uint2 *)(q + row * K);
    int chunks = K / 8;
    float amax = 0.0f;
    for (int c = lane; c < chunks; c += 32) amax = int8_amax8(xr[c], amax);
    amax = warp_max(amax);
    float s = int8_scale(amax), inv = 1.0f / s;
    if (lane == 0) scale[row] = s;
    for (int c = lane; c < chunks; c += 32) qr[c] = int8_quant8(xr[c], s, inv);
}

// Per-output-channel weight quantisation at load: W (rows, K) float32 -> q (rows, K) int8 and
// scale (rows), one warp per row, the rules of int8_rules.h (IEEE division: nvcc's default
// -prec-div=true), so the values equal the CPU reference's bit for bit (test_int8 compares the
// int32 products exactly). On the GPU because with the host loop (one thread over vit_h's 630 M
// encoder weights) int8 vit_h's time to first mask was 3.80 s on the H200 against nested's
// 1.47 s; 1.15 s with this kernel (experiments/h200-gpu-results.sql, runs 6 and 8).
__global__ void int8_quant_weight_rows(const float *w, int8_t *q, float *scale, int rows, int K) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *wr = w + (size_t)row * K;
    float amax = 0.0f;
    for (int i = lane; i < K; i += 32) amax = fmaxf(amax, fabsf(wr[i]));
    amax = warp_max(amax);
    float s = int8_scale(amax);
    if (lane == 0) scale[row] = s;
    for (int i = lane; i < K; i += 32) q[(size_t)row * K + i] = int8_quantize(wr[i], s);
}

// The GEMM's epilogue operands.
typedef struct {
    void *y;              // (M, N) bfloat16 output, or int32 when raw
    const float *x_scale; // (M)
    const float *w_scale; // (N)
    const float *bias;    // (N) or NULL
    const void *residual; // (M, N) bfloat16 or NULL; may equal y
    int act;              // Act
    int raw;              // 1: store the int32 products (tests), nothing else
    int f32;              // 1: store float32, unrounded (tests; residual must not be y)
    // (M) or NULL: each output row's largest pre-activation (the bfloat16 value GELU reads), in
    // i8_order's encoding, raised by atomicMax over the row's column tiles (the caller zeroes it
    // first). The GELU-warps variant's bfloat16 GELU output only (lin1 in the fused MLP): the
    // consumers record it while they hand the tile over, and lin2's quantisation takes GELU of
    // it as the row's largest magnitude (int8_quant_rows_gelu).
    unsigned *row_xmax;
} I8Epilogue;

// Kernel variants (compile-time, so each holds only its own epilogue code: the unrolled
// epilogue of 128 accumulators is large, and a runtime switch between variants, or GELU's erff
// inlined 128 times, made the first version stall on instruction fetch about half the time).
#define I8_OUT_BF16 0
#define I8_OUT_F32 1  // tests: float32, unrounded
#define I8_OUT_RAW 2  // tests: the int32 products

// GELU for the int8 GEMM's bfloat16 epilogues: x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2, with
// erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), P of degree 9 (Numerical Recipes' erfcc,
// a Chebyshev fit with fractional error below 1.2e-7 for every z >= 0), on the reciprocal and
// exp2 of the special-function unit: about 25 instructions a value where erff's two branches,
// both evaluated and selected, take about 65 (cuobjdump of the GELU warps' loop), and erff was
// half of lin1's time (vit_b lin1 0.351 ms against qkv's rate for 0.18). Its values are within
// (1e-6 + 2.5e-7 x^2) relative of GELU in double precision (test_int8: 1.8e-5 at |x| = 12, from
// float32's rounding of x / sqrt 2 and of z^2, which erff's GELU shares); test_int8 also checks
// each variant's output against double-precision GELU of its own pre-activation. z is
// x * 0.70710678f as erff's argument is. For x << 0 the fit is the more accurate one: 1 + erff(z)
// loses every digit to cancellation there, erfc keeps them.
static __device__ __forceinline__ float gelu_erfc_fit(float x) {
    float z = fabsf(x * 0.70710678118654752f);
    float t = __fdividef(1.0f, fmaf(0.5f, z, 1.0f));
    float p = fmaf(t, 0.17087277f, -0.82215223f);
    p = fmaf(t, p, 1.48851587f);
    p = fmaf(t, p, -1.13520398f);
    p = fmaf(t, p, 0.27886807f);
    p = fmaf(t, p, -0.18628806f);
    p = fmaf(t, p, 0.09678418f);
    p = fmaf(t, p, 0.37409196f);
    p = fmaf(t, p, 1.00002368f);
    p = fmaf(t, p, -1.26551223f);
    float a = fmaf(-z, z, p) * 1.4426950408889634f, e;  // exp(-z^2 + P) = 2^(a)
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(a));
    // Every rounding explicit (1 - erfc / 2 as one fma, erfc / 2 as a product the compiler may
    // not fuse), so the function gives the same bits wherever it is inlined: lin2's quantisation
    // recomputes GELU of a row's largest pre-activation and must meet the GELU warps' value.
    float ht = 0.5f * t;
    float phi = x >= 0.0f ? fmaf(-ht, e, 1.0f) : __fmul_rn(ht, e);
    return __fmul_rn(x, phi);
}
// Floats as unsigned integers in the same order (negatives below positives), for atomicMax
// (i8_order, in the sm_90a code below); 0, what a zeroed maximum holds, decodes to NaN, below
// every value: "none recorded".
static __device__ __forceinline__ float i8_unorder(unsigned u) {
    return __uint_as_float(u & 0x80000000u ? u & 0x7fffffffu : ~u);
}

// lin2's quantisation in the fused MLP: x (rows, K) is lin1's GELU output and xmax (rows) each
// row's largest pre-activation (i8_order), recorded by lin1's consumers. Where it is at least 1,
// the row's largest magnitude is GELU of it rounded to bfloat16, as the GELU warps stored it: the
// rounded fitted GELU is non-decreasing over the bfloat16 values from 1 up, and below 1 every
// magnitude is under GELU(1) = 0.84 (GELU(x) >= -0.17; test_int8 checks both over every
// bfloat16 value), so each value is read once. A row whose maximum is under 1 (or none: NaN) is
// read for its maximum first, as int8_quant_rows does. One block per row, its loads issued
// before any is used; equal bit for bit to int8_quant_rows (test_int8).
#define I8_QG_THREADS 128
#define I8_QG_PER 5  // 16-byte loads per thread: rows of up to 5120 values in one round
__global__ void __launch_bounds__(I8_QG_THREADS) int8_quant_rows_gelu(const bf16 *x, int8_t *q, float *scale,
                                                                      const unsigned *xmax, int K) {
    __shared__ float s_red[I8_QG_THREADS / 32];
    int64_t row = blockIdx.x;
    const uint4 *xr = (const uint4 *)(x + row * K);
    uint2 *qr = (uint2 *)(q + row * K);
    int chunks = K / 8;
    float xm = i8_unorder(xmax[row]), amax;
    if (xm >= 1.0f) {
        amax = __bfloat162float(__float2bfloat16_rn(gelu_erfc_fit(xm) + 0.0f));
    } else {
        amax = 0.0f;
        for (int c = threadIdx.x; c < chunks; c += I8_QG_THREADS) amax = int8_amax8(xr[c], amax);
        amax = warp_max(amax);
        if (threadIdx.x % 32 == 0) s_red[threadIdx.x / 32] = amax;
        __syncthreads();
        for (int w = 0; w < I8_QG_THREADS / 32; w++) amax = fmaxf(amax, s_red[w]);
    }
    float s = int8_scale(amax), inv = 1.0f / s;
    if (threadIdx.x == 0) scale[row] = s;
    for (int c0 = threadIdx.x; c0 < chunks; c0 += I8_QG_PER * I8_QG_THREADS) {
        uint4 u[I8_QG_PER];
#pragma unroll
        for (int j = 0; j < I8_QG_PER; j++) {
            int c = c0 + j * I8_QG_THREADS;
            if (c < chunks) u[j] = xr[c];
        }
#pragma unroll
        for (int j = 0; j < I8_QG_PER; j++) {
            int c = c0 + j * I8_QG_THREADS;
            if (c < chunks) qr[c] = int8_quant8(u[j], s, inv);
        }
    }
}

// Tests: the fitted GELU of n values (test_int8 compares it with double precision).
__global__ void int8_gelu_fit_values(const float *x, float *y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = gelu_erfc_fit(x[i]);
}

#if SM90A_PTX
static __device__ __forceinline__ unsigned i8_order(float f) {  // i8_unorder's inverse
    unsigned b = __float_as_uint(f);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}

// One accumulator dequantised and biased: the order of kernels/int8_rules.h, each operation
// rounded (no contraction), as the CPU reference computes it.
static __device__ __forceinline__ float int8_dequant(int acc, float x_scale, float w_scale, float bias) {
    return __fadd_rn(__fmul_rn(__fmul_rn((float)acc, x_scale), w_scale), bias);
}

// The residual values of 8 column groups i0 .. i0 + 7 of this thread's two rows (row0, row0 + 8;
// columns col0 + 8 j, + 1), read before any is used so the loads overlap; zeros where there is
// no residual or the element is outside (M, N) (N % 8 == 0: col + 1 < N with col).
static __device__ __forceinline__ void int8_residual8(float2 rv[8][2], const bf16 *res, int M, int N,
                                                      int row0, int col0) {
#pragma unroll
    for (int j = 0; j < 8; j++) {
        int col = col0 + 8 * j;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = row0 + 8 * h;
            rv[j][h] = make_float2(0.0f, 0.0f);
            if (res && row < M && col < N)
                rv[j][h] = __bfloat1622float2(*(const __nv_bfloat162 *)(res + (int64_t)row * N + col));
        }
    }
}

// The epilogue of one 64 x 256 accumulator block (a consumer warpgroup's) at rows r0.. of its
// warp and columns n0..: acc[4i + 2h + j] is row r0 + 8h, column n0 + 8i + 2 (lane % 4) + j.
// The columns' weight scales and biases come from shared memory; the residual is read 8
// column groups at a time before any of them is stored (it may be the output itself), so the
// loads overlap. With GELU, the dequantised values go 16 at a time through shared memory
// (s_ep, this thread's column) to a rolled loop, so erff's code appears 8 times, not 128.
static __device__ __forceinline__ void int8_epilogue(const int *acc, const I8Epilogue &e, int M,
                                                     int N, int r0, int n0, int lane,
                                                     const float *s_ws, const float *s_b,
                                                     float (*s_ep)[256], const int OUT,
                                                     const int ACT) {
    float xs[2];
#pragma unroll
    for (int h = 0; h < 2; h++) xs[h] = OUT != I8_OUT_RAW && r0 + 8 * h < M ? e.x_scale[r0 + 8 * h] : 0.0f;
    const bf16 *res = (const bf16 *)e.residual;
    if (OUT == I8_OUT_RAW) {
#pragma unroll
        for (int i = 0; i < 32; i++) {
            int col = n0 + 8 * i + 2 * (lane % 4);
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int row = r0 + 8 * h;
                if (row < M && col < N)
                    *(int2 *)((int32_t *)e.y + (int64_t)row * N + col) =
                        make_int2(acc[4 * i + 2 * h], acc[4 * i + 2 * h + 1]);
            }
        }
        return;
    }
    if (ACT == ACT_GELU) {
        int tid = threadIdx.x;
#pragma unroll
        for (int i0 = 0; i0 < 32; i0 += 4) {
#pragma unroll
            for (int q = 0; q < 16; q++) {
                int i = i0 + q / 4, h = (q / 2) % 2, j = q % 2, c = 8 * i + 2 * (lane % 4) + j;
                s_ep[q][tid] = int8_dequant(acc[4 * i + 2 * h + j], xs[h], s_ws[c], s_b[c]);
            }
#pragma unroll 1
            for (int p = 0; p < 8; p++) {
                int i = i0 + p / 2, h = p % 2;
                int row = r0 + 8 * h, col = n0 + 8 * i + 2 * (lane % 4);
                float v0 = act_apply(s_ep[2 * p][tid], ACT_GELU), v1 = act_apply(s_ep[2 * p + 1][tid], ACT_GELU);
                if (row >= M || col >= N) continue;
                int64_t at = (int64_t)row * N + col;
                if (res) {
                    float2 r = __bfloat1622float2(*(const __nv_bfloat162 *)(res + at));
                    v0 += r.x;
                    v1 += r.y;
                }
                if (OUT == I8_OUT_F32) *(float2 *)((float *)e.y + at) = make_float2(v0, v1);
                else *(__nv_bfloat162 *)((bf16 *)e.y + at) = __floats2bfloat162_rn(v0, v1);
            }
        }
        return;
    }
#pragma unroll
    for (int i0 = 0; i0 < 32; i0 += 8) {
        float2 rv[8][2];
        int8_residual8(rv, res, M, N, r0, n0 + 8 * i0 + 2 * (lane % 4));
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int i = i0 + j, c = 8 * i + 2 * (lane % 4), col = n0 + c;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int row = r0 + 8 * h;
                if (row >= M || col >= N) continue;  // N % 8 == 0: col + 1 < N too
                int64_t at = (int64_t)row * N + col;
                float v0 = int8_dequant(acc[4 * i + 2 * h], xs[h], s_ws[c], s_b[c]);
                float v1 = int8_dequant(acc[4 * i + 2 * h + 1], xs[h], s_ws[c + 1], s_b[c + 1]);
                v0 += rv[j][h].x;
                v1 += rv[j][h].y;
                if (OUT == I8_OUT_F32) *(float2 *)((float *)e.y + at) = make_float2(v0, v1);
                else *(__nv_bfloat162 *)((bf16 *)e.y + at) = __floats2bfloat162_rn(v0, v1);
            }
        }
    }
}

static __device__ __forceinline__ void named_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// The tstore epilogue of one consumer warpgroup's 64 x 256 accumulators (rows m0w.., columns
// n0..; layout as int8_epilogue's): dequantised, biased, GELU'd, residual added in float32, one
// rounding to bfloat16 into sy (this warpgroup's 4 chunks of 64 rows x 64 columns, 128-byte rows
// with the 128-byte swizzle: the 8 rows of a store land in 8 different 16-byte units, no bank
// conflict), then one thread stores the chunks by TMA (rows past M and columns past N clipped)
// and the warpgroup goes on to its next tile while they drain; their shared memory is waited for
// only when the next tile's epilogue writes it again.
// GELU: the pre-activations go through sy as float32 (128 columns at a time, each thread its own
// column of sy viewed as [64][128] floats) to a rolled loop, so GELU's code appears once (erff
// inlined 128 times stalled the first version on instruction fetch; as a call it was slower
// still: vit_b lin1 0.424 against the direct epilogue's 0.412 ms, call 2), and come back into
// acc. GELU is gelu_erfc_fit here (since session 11; the direct epilogue keeps erff).
// HAND (the TS 2 variant's GELU layer; the caller passes ACT_NONE and no residual, so the tile
// goes to sy as the rounded pre-activation): no wait for sy (the caller has waited until the
// GELU warps freed it), and the tile is handed to the GELU warps (int8_gelu_warps) by an arrival
// of every thread on hand_full instead of being stored.
// Measured and dropped (session 11 call 4): the warpgroup doing the GELU of the first of the 4
// column chunks itself, to unload the GELU warps: vit_b lin1 0.3113 ms against 0.3132, vit_h
// 0.5805 against 0.5639.
static __device__ __forceinline__ void int8_epilogue_tstore(int *acc, const I8Epilogue &e,
                                                            const CUtensorMap *ty, int M, int N, int m0w,
                                                            int n0, int warp, int lane, const float *s_ws,
                                                            const float *s_b, uint8_t *sy, int wg,
                                                            bool res_in_sy, const int ACT, const int HAND,
                                                            uint64_t *hand_full, const int XMAX) {
    const int g = lane / 4, tq = lane % 4, t = threadIdx.x % 128;
    const bool lead = t == 0;
    if (!res_in_sy && !HAND) {  // else the lead waited before loading the residual into sy
        if (lead) bulk_wait_read0();
        named_barrier(2 + wg, 128);
    }
    float xs[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        int row = m0w + warp * 16 + g + 8 * h;
        xs[h] = row < M ? e.x_scale[row] : 0.0f;
    }
    if (ACT == ACT_GELU) {
        float(*scratch)[128] = (float(*)[128])sy;  // [64][128]: 32 KiB, this thread column t
#pragma unroll
        for (int half = 0; half < 2; half++) {
#pragma unroll
            for (int k = 0; k < 64; k++) {
                int i = 16 * half + k / 4, h = (k / 2) % 2, j = k % 2, c = 8 * i + 2 * tq + j;
                scratch[k][t] = int8_dequant(acc[4 * i + 2 * h + j], xs[h], s_ws[c], s_b[c]);
            }
            // 8 at a time: one chain per iteration left the warps waiting on its latency (call 3:
            // vit_b lin1 0.461 ms against qkv's 0.158 for 0.9 times the products).
#pragma unroll 8
            for (int k = 0; k < 64; k++) scratch[k][t] = gelu_erfc_fit(scratch[k][t]);
#pragma unroll
            for (int k = 0; k < 64; k++) acc[64 * half + k] = __float_as_int(scratch[k][t]);
        }
        named_barrier(2 + wg, 128);  // every thread's column read back before sy takes the output
    }
    // The residual: already in sy (res_in_sy: loaded by TMA during the mainloop, each value where
    // its output goes), else from global memory 16 values ahead.
    const bf16 *res = res_in_sy ? NULL : (const bf16 *)e.residual;
    // XMAX: the largest stored (rounded) value of each of this thread's two rows, columns inside
    // N, kept as bfloat16 pairs: one packed max per pair of values (__hmax2, which like fmaxf
    // drops NaN): lin1 0.313 / 0.571 ms against 0.312 / 0.563 without at vit_b / vit_h; in float32,
    // two maxima per pair, 0.325 / 0.591 (tests/gpu/logs/h200-2026-12-01-k, calls 3 and 2).
    __nv_bfloat162 xm[2];
    xm[0] = xm[1] = __floats2bfloat162_rn(-INFINITY, -INFINITY);
#pragma unroll
    for (int i0 = 0; i0 < 32; i0 += 8) {
        float2 rv[8][2];
        int8_residual8(rv, res, M, N, m0w + warp * 16 + g, n0 + 8 * i0 + 2 * tq);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int i = i0 + j, c = 8 * i + 2 * tq;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int lr = warp * 16 + g + 8 * h;  // row within the warpgroup's 64
                __nv_bfloat162 *at = (__nv_bfloat162 *)(sy + (i / 8) * 8192 + lr * 128 + (((i % 8) ^ (lr & 7)) * 16) + 4 * tq);
                if (res_in_sy) rv[j][h] = __bfloat1622float2(*at);
                float v0, v1;
                if (ACT == ACT_GELU) {  // acc[64 half + k] holds the value of k = 4 (i % 16) + 2 h + j
                    v0 = __int_as_float(acc[64 * (i / 16) + 4 * (i % 16) + 2 * h]);
                    v1 = __int_as_float(acc[64 * (i / 16) + 4 * (i % 16) + 2 * h + 1]);
                } else {
                    v0 = int8_dequant(acc[4 * i + 2 * h], xs[h], s_ws[c], s_b[c]);
                    v1 = int8_dequant(acc[4 * i + 2 * h + 1], xs[h], s_ws[c + 1], s_b[c + 1]);
                }
                v0 += rv[j][h].x;
                v1 += rv[j][h].y;
                __nv_bfloat162 pk = __floats2bfloat162_rn(v0, v1);
                if (XMAX && n0 + c < N) xm[h] = __hmax2(xm[h], pk);
                *at = pk;
            }
        }
    }
    if (XMAX) {  // a row's 256 columns are the 4 threads of a quad: reduce, then one atomic per row
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float2 pair = __bfloat1622float2(xm[h]);
            float m = quad_max(fmaxf(pair.x, pair.y));
            int row = m0w + warp * 16 + g + 8 * h;
            if (tq == 0 && row < M && m > -INFINITY) atomicMax(&e.row_xmax[row], i8_order(m));
        }
    }
    if (HAND) {
        mbar_arrive(hand_full);  // release: this thread's values of sy, to the GELU warps
        return;
    }
    fence_proxy_async_smem();
    named_barrier(2 + wg, 128);
    if (lead) {
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (n0 + 64 * c < N) tma_store_2d(ty, sy + c * 8192, n0 + 64 * c, m0w);
        bulk_commit();
    }
}

// The GELU layer of the TS 2 variant: warps 9-11 of the producer warpgroup (warp 8 issues the
// loads), 96 threads, take each consumer warpgroup's 64 x 256 pre-activation tile from sy when
// it is handed over (full[wg]), apply GELU in place (plus a residual from global memory: tests
// only), store it by TMA and free sy for the warpgroup's next tile (free[wg]). So GELU
// runs beside the next tile's products instead of between them: in the TS 1 epilogue the
// tensor cores and the loads waited on it (vit_b lin1 14.7 us a tile against qkv's 7.6 at the
// same K; session 10's NOTES). The pre-activation is rounded to bfloat16 before GELU, as
// torchao's linear stores it and nn.GELU then reads it (and as the dense format's lin1 + GELU
// kernel); one rounding more than TS 1's epilogue, the same as every bfloat16 stage.
// 32 bytes (16 values) at a time: 16 independent GELU chains per thread. Still the bound of
// vit_b's lin1: ncu (session 11 call 4) has it at 44 % SM and 23 % L2 throughput, 12 warps per
// SM issuing an instruction every 6.4 cycles each: the three warps' GELU, not the products,
// sets the pace (lin1 0.313 ms against 0.18 estimated from qkv's rate at the same K).
// TS 3: GELU of a bfloat16 input has 65536 possible values; those of the inputs whose magnitude
// lies in [2^-16, 16) (exponent fields 111 .. 130, both signs: 5120) are made once per block into
// a table in shared memory (I8_GT_*) while the first tile's products run, and a value is then a
// table read: a few integer instructions and a shared-memory load in place of the fit's 27 or
// so. A 16-byte unit with any input outside (zeros, tiny or large magnitudes, NaN) and any unit
// with a residual (tests) takes the fit as TS 2 does. Each entry is what TS 2 stores for that
// input (the fit plus a zero residual, rounded once), so the two variants' outputs are equal
// bit for bit (test_int8 checks every bfloat16 input and every variant's GEMM outputs). Measured (session 16, calls 2 and 4 of
// tests/gpu/logs/h200-2026-12-02-c): vit_b lin1 0.2710-0.2719 ms against s3-gelu-warps'
// 0.3104-0.3109 (bf16 0.3515: 1.29-1.30 times), vit_h 0.4887-0.4923 against 0.5629-0.5676
// (1.56-1.57 times). ncu of vit_b's (call 4): 273 us, SM throughput 32 %, L1 55 %, L2 27 %, one
// instruction every 3.1 cycles per scheduler, 0.42 eligible warps: latency-bound still, and a
// tile takes about 1.5 times qkv's at the same K (0.158 ms for 2763 tiles of 128 x 256).
static __device__ __forceinline__ uint32_t i8_gelu_bits(float x) {  // TS 2's output bits, low half
    return __bfloat16_as_ushort(__float2bfloat16_rn(gelu_erfc_fit(x) + 0.0f));
}
// A table read at a shared-memory address: ld.shared (the table's pointer, derived from the
// aligned dynamic buffer, would compile to generic loads).
static __device__ __forceinline__ uint32_t i8_lds_u16(uint32_t addr) {
    unsigned short v;
    asm volatile("ld.shared.u16 %0, [%1];\n" : "=h"(v) : "r"(addr));
    return v;
}
static __device__ __forceinline__ void int8_gelu_warps(const I8Epilogue &e, const CUtensorMap *ty, int M, int N,
                                                       int tiles, int tiles_n, uint8_t *sx, uint64_t *full,
                                                       uint64_t *free_, uint16_t *gtab, const int TS) {
    const int gt = threadIdx.x - 288;  // 0 .. 95
    const bf16 *res = (const bf16 *)e.residual;
    if (TS == 3) {
        for (int i = gt; i < 2 * I8_GT_HALF; i += 96) {
            uint32_t bits = (uint32_t)(i / I8_GT_HALF) << 15 | (uint32_t)(I8_GT_LO + i % I8_GT_HALF);
            gtab[i] = (uint16_t)i8_gelu_bits(__uint_as_float(bits << 16));
        }
        named_barrier(4, 96);
    }
    const uint32_t gbase = (uint32_t)__cvta_generic_to_shared(gtab);
    int phases = 0;  // bit wg: the parity of full[wg]'s next phase (bits, not an array: no local memory)
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int m0 = (t / tiles_n) * I8_BM, n0 = (t % tiles_n) * I8_BN;
#pragma unroll 1
        for (int wg = 0; wg < 2; wg++) {
            uint8_t *sy = sx + wg * (I8_Y_BYTES / 2);
            int m0w = m0 + 64 * wg;
            mbar_wait(&full[wg], (phases >> wg) & 1);
            phases ^= 1 << wg;
#pragma unroll 1
            for (int v0 = gt; v0 < I8_Y_BYTES / 2 / 16; v0 += 2 * 96) {  // two 16-byte units
                uint4 u[2];
                float2 r[2][4];
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int v = v0 + 96 * q;
#pragma unroll
                    for (int j = 0; j < 4; j++) r[q][j] = make_float2(0.0f, 0.0f);
                    if (v >= I8_Y_BYTES / 2 / 16) continue;
                    u[q] = *(const uint4 *)(sy + 16 * v);
                    if (res) {  // where this unit's 8 values go: chunk, row, logical 16-byte unit
                        int c = v / 512, lr = (v / 8) % 64, unit = (v % 8) ^ (lr & 7);
                        int64_t row = m0w + lr;
                        int col = n0 + 64 * c + 8 * unit;
                        if (row < M && col < N) {
                            uint4 ru = *(const uint4 *)(res + row * N + col);
                            const __nv_bfloat162 *rh = (const __nv_bfloat162 *)&ru;
#pragma unroll
                            for (int j = 0; j < 4; j++) r[q][j] = __bfloat1622float2(rh[j]);
                        }
                    }
                }
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int v = v0 + 96 * q;
                    if (v >= I8_Y_BYTES / 2 / 16) continue;
                    uint32_t *w = (uint32_t *)&u[q];
                    if (TS == 3 && !res) {
                        uint32_t idx[8];  // the entries' shared-memory addresses
                        bool inside = true;
#pragma unroll
                        for (int k = 0; k < 8; k++) {
                            uint32_t bits = (w[k / 2] >> (16 * (k % 2))) & 0xffffu;
                            uint32_t mag = (bits & 0x7fffu) - I8_GT_LO;  // wraps below the table
                            inside = inside && mag < I8_GT_HALF;
                            idx[k] = gbase + 2 * (mag + (bits >> 15) * I8_GT_HALF);
                        }
                        if (inside) {
#pragma unroll
                            for (int j = 0; j < 4; j++) w[j] = i8_lds_u16(idx[2 * j]) | i8_lds_u16(idx[2 * j + 1]) << 16;
                            *(uint4 *)(sy + 16 * v) = u[q];
                            continue;
                        }
                    }
                    __nv_bfloat162 *h = (__nv_bfloat162 *)&u[q];
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        float2 f = __bfloat1622float2(h[j]);
                        h[j] = __floats2bfloat162_rn(gelu_erfc_fit(f.x) + r[q][j].x, gelu_erfc_fit(f.y) + r[q][j].y);
                    }
                    *(uint4 *)(sy + 16 * v) = u[q];
                }
            }
            fence_proxy_async_smem();
            named_barrier(4, 96);
            if (gt == 0) {
#pragma unroll
                for (int c = 0; c < 4; c++)
                    if (n0 + 64 * c < N) tma_store_2d(ty, sy + c * 8192, n0 + 64 * c, m0w);
                bulk_commit();
                bulk_wait_read0();
                mbar_arrive(&free_[wg]);
            }
        }
    }
    if (gt == 0) bulk_wait0();
}
#endif  // SM90A_PTX

// C(M, N) = A(M, K) B(N, K)^T over int8, both K-major, read through the tensor maps ta (box
// 128 x I8_BM) and tb (box 128 x I8_BN); K's tail and rows past M or N read as zeros.
// Persistent: each block takes the 128 x 256 tiles blockIdx.x, + gridDim.x, ..., n fastest (the
// blocks in flight share their A tiles; B stays in L2). The producer runs on into the next
// tile's stages while the consumers finish a tile's epilogue. TS 1 (bfloat16 out): the epilogue
// stores through shared memory and TMA (int8_epilogue_tstore), else directly from the
// registers (int8_epilogue).
// Measured and dropped (call 2): clusters of 2 blocks with the same B tile, each block's
// producer loading half of it and multicasting it to both (a third less L2 traffic per
// product; ncu had put this kernel at 76 % of L2's throughput), under empty barriers that both
// blocks' consumers arrive on: 1.02-1.49 times slower than one block at every shape, with
// either epilogue.
static __device__ __forceinline__ void int8_gemm_body(const CUtensorMap *ta, const CUtensorMap *tb,
                                                      const CUtensorMap *ty, const CUtensorMap *tr,
                                                      int M, int N, int K,
                                                      const I8Epilogue &e, const int OUT, const int ACT,
                                                      const int STAGES, const int TS, const int XMAX) {
#if SM90A_PTX
    extern __shared__ uint8_t smem_raw[];
    __shared__ float s_ws[2][I8_BN], s_b[2][I8_BN];  // per tile, double-buffered
    uint8_t *smem = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    uint8_t *sa = smem;                          // STAGES x (I8_BM x 128)
    uint8_t *sb = smem + STAGES * I8_A_BYTES;    // STAGES x (I8_BN x 128)
    uint8_t *sx = sb + STAGES * I8_B_BYTES;      // TS: 2 warpgroups x 4 chunks of 64 x 128; else s_ep
    uint64_t *full = (uint64_t *)(sx + (TS ? I8_Y_BYTES : I8_EP_BYTES));
    uint64_t *empty = full + STAGES;
    uint64_t *res_full = empty + STAGES;  // [2]: a warpgroup's residual tile has landed in sy
    uint64_t *hand_full = res_full + 2;   // [2] (gw): a warpgroup's pre-activations are in sy
    uint64_t *hand_free = hand_full + 2;  // [2] (gw): the GELU warps' store has read sy
    uint16_t *gtab = (uint16_t *)(hand_free + 2);  // TS 3: the GELU table (int8_gelu_warps)
    // TS 2 with GELU: the GELU layer runs on the producer warpgroup's idle warps (int8_gelu_warps).
    const bool gw = TS >= 2 && OUT == I8_OUT_BF16 && ACT == ACT_GELU;
    if (TS == 3 && !gw) __trap();  // TS 3 compiles its bfloat16 GELU kernels only
    // A launch with less shared memory than this kernel lays out traps instead of writing past it
    // (session 16's first s3-gelu-table launches got TS 1's amount: memcheck found the table's
    // writes out of bounds).
    uint32_t dyn_smem;
    asm("mov.u32 %0, %%dynamic_smem_size;\n" : "=r"(dyn_smem));
    if (dyn_smem < I8_SMEM_BYTES(STAGES, TS)) __trap();
    // tstore with a residual and no GELU (proj, lin2): each warpgroup's lead loads its residual
    // tile into sy by TMA when its mainloop starts (the previous tile's store has read sy by
    // then), so the epilogue finds it in place instead of waiting on global loads (the four
    // batches of 16 loads made vit_b proj 2 times slower per tile than qkv, call 3). GELU uses
    // sy as scratch: with both (tests only) the residual comes from global memory.
    const bool res_tma = TS && OUT == I8_OUT_BF16 && ACT != ACT_GELU && e.residual != NULL;
    int tiles_n = (N + I8_BN - 1) / I8_BN;
    int tiles = ((M + I8_BM - 1) / I8_BM) * tiles_n;
    int kt_count = (K + I8_BK - 1) / I8_BK;
    int wg = threadIdx.x / 128;

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 8);  // one arrival per consumer warp
        }
        mbar_init(&res_full[0], 1);
        mbar_init(&res_full[1], 1);
        for (int w = 0; w < 2; w++) {
            mbar_init(&hand_full[w], 128);  // every thread of the warpgroup
            mbar_init(&hand_free[w], 1);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 2) {
        // Producer: one thread issues the loads of every stage of every tile; with gw, warps
        // 9-11 are the GELU layer, with registers for their 16 chains (at the launch's 168 the
        // consumers spilled; the split: I8_REGS_*).
        if (gw) asm volatile("setmaxnreg.dec.sync.aligned.u32 " I8_STR(I8_REGS_PRODUCER_GW) ";\n");
        else asm volatile("setmaxnreg.dec.sync.aligned.u32 " I8_STR(I8_REGS_PRODUCER) ";\n");
        if (gw && threadIdx.x >= 288) int8_gelu_warps(e, ty, M, N, tiles, tiles_n, sx, hand_full, hand_free, gtab, TS);
        if (threadIdx.x == 256) {
            int it = 0;
            for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
                int m0 = (t / tiles_n) * I8_BM, n0 = (t % tiles_n) * I8_BN;
                for (int kt = 0; kt < kt_count; kt++, it++) {
                    int s = it % STAGES, round = it / STAGES;
                    if (round > 0) mbar_wait(&empty[s], (round - 1) & 1);
                    mbar_expect_tx(&full[s], I8_STAGE_BYTES);
                    tma_load_2d(sa + s * I8_A_BYTES, ta, kt * I8_BK, m0, &full[s]);
                    tma_load_2d(sb + s * I8_B_BYTES, tb, kt * I8_BK, n0, &full[s]);
                }
            }
        }
        return;
    }

    // Consumers: warpgroup wg multiplies rows wg * 64 .. + 63 of the tile by all its columns.
    if (gw) asm volatile("setmaxnreg.inc.sync.aligned.u32 " I8_STR(I8_REGS_CONSUMER_GW) ";\n");
    else asm volatile("setmaxnreg.inc.sync.aligned.u32 " I8_STR(I8_REGS_CONSUMER) ";\n");
    int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
    int it = 0, buf = 0, res_phase = 0, free_phase = 0;
    bool first = true;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x, buf ^= 1) {
        int m0 = (t / tiles_n) * I8_BM, n0 = (t % tiles_n) * I8_BN;
        if (OUT != I8_OUT_RAW) {
            int c = threadIdx.x, col = n0 + c;  // 256 consumer threads, one column each
            s_ws[buf][c] = col < N ? e.w_scale[col] : 0.0f;
            s_b[buf][c] = col < N && e.bias ? e.bias[col] : 0.0f;
        }
        named_barrier(1, 256);  // the consumers only
        uint8_t *sy = sx + wg * (I8_Y_BYTES / 2);
        if (res_tma && threadIdx.x % 128 == 0) {
            int m0w = m0 + wg * 64, chunks = 0;
            bulk_wait_read0();
            for (int c = 0; c < 4; c++) chunks += n0 + 64 * c < N;
            mbar_expect_tx(&res_full[wg], chunks * 8192);
            for (int c = 0; c < chunks; c++) tma_load_2d(sy + c * 8192, tr, n0 + 64 * c, m0w, &res_full[wg]);
        }
        int acc[128];
#pragma unroll
        for (int i = 0; i < 128; i++) acc[i] = 0;
        for (int kt = 0; kt < kt_count; kt++, it++) {
            int s = it % STAGES;
            mbar_wait(&full[s], (it / STAGES) & 1);
            uint64_t da = smem_desc(sa + s * I8_A_BYTES + wg * 64 * I8_BK);
            uint64_t db = smem_desc(sb + s * I8_B_BYTES);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < I8_BK / 32; kk++)  // 32 bytes of K: +2 in the descriptor's address
                wgmma_s8_m64n256k32(acc, da + 2 * kk, db + 2 * kk);
            wgmma_commit();
            wgmma_wait1();  // the previous stage's products are done: give its buffers back
            if (kt > 0) {
                __syncwarp();
                if (lane == 0) mbar_arrive(&empty[(it - 1) % STAGES]);
            }
        }
        wgmma_wait0();
        __syncwarp();
        if (lane == 0) mbar_arrive(&empty[(it - 1) % STAGES]);
        if (res_tma) mbar_wait(&res_full[wg], res_phase), res_phase ^= 1;
        if (gw) {
            if (!first) mbar_wait(&hand_free[wg], free_phase), free_phase ^= 1;
            first = false;
            I8Epilogue pre = e;  // the pre-activation: GELU and the residual are the GELU warps'
            pre.residual = NULL;
            int8_epilogue_tstore(acc, pre, ty, M, N, m0 + wg * 64, n0, warp, lane, s_ws[buf], s_b[buf], sy, wg,
                                 false, ACT_NONE, 1, &hand_full[wg], XMAX);
        } else if (TS && OUT == I8_OUT_BF16)
            int8_epilogue_tstore(acc, e, ty, M, N, m0 + wg * 64, n0, warp, lane, s_ws[buf], s_b[buf], sy, wg,
                                 res_tma, ACT, 0, NULL, 0);
        else
            int8_epilogue(acc, e, M, N, m0 + wg * 64 + warp * 16 + lane / 4, n0, lane, s_ws[buf],
                          s_b[buf], (float (*)[256])sx, OUT, ACT);
    }
    if (TS && OUT == I8_OUT_BF16 && threadIdx.x % 128 == 0) bulk_wait0();
#else
    __trap();  // a build without sm_90a's wgmma: never an output silently left unwritten
#endif
}

// The compiled variants: X(STAGES, TS), pipeline stages and the TMA-store epilogue for the
// bfloat16 output (the test outputs, float32 and int32, always store directly; TS 2: GELU on the
// producer warpgroup's 3 idle warps; TS 3: the same, from a table where it can). I8_CHOICE below
// names the one the format runs; the bench times each.
#define I8_VARIANTS(X) \
    X(4, 0)            \
    X(3, 1)            \
    X(3, 2)            \
    X(3, 3)

#define I8_KERNEL_X(name, OUT, ACT, ST, TS, XMAX)                                               \
    __global__ void __launch_bounds__(I8_THREADS, 1)                                            \
    name(const __grid_constant__ CUtensorMap ta, const __grid_constant__ CUtensorMap tb,        \
         const __grid_constant__ CUtensorMap ty, const __grid_constant__ CUtensorMap tr, int M,  \
         int N, int K, I8Epilogue e) {                                                          \
        int8_gemm_body(&ta, &tb, &ty, &tr, M, N, K, e, OUT, ACT, ST, TS, XMAX);                 \
    }
#define I8_KERNEL(name, OUT, ACT, ST, TS) I8_KERNEL_X(name, OUT, ACT, ST, TS, 0)
// The GELU-warps variant also has lin1's kernel that records the rows' largest pre-activations
// (the fused MLP's); the others have none (NULL in their entry).
#define I8_DEFINE_XMAX_0(ST)
#define I8_DEFINE_XMAX_1(ST)
#define I8_DEFINE_XMAX_2(ST) I8_KERNEL_X(int8_gemm_s##ST##t2_bf16_gelu_xmax, I8_OUT_BF16, ACT_GELU, ST, 2, 1)
#define I8_DEFINE_XMAX_3(ST) I8_KERNEL_X(int8_gemm_s##ST##t3_bf16_gelu_xmax, I8_OUT_BF16, ACT_GELU, ST, 3, 1)
#define I8_XMAX_ENTRY_0(ST) NULL
#define I8_XMAX_ENTRY_1(ST) NULL
#define I8_XMAX_ENTRY_2(ST) int8_gemm_s##ST##t2_bf16_gelu_xmax
#define I8_XMAX_ENTRY_3(ST) int8_gemm_s##ST##t3_bf16_gelu_xmax
#define I8_DEFINE_ALL(ST, TS)                                                           \
    I8_KERNEL(int8_gemm_s##ST##t##TS##_bf16, I8_OUT_BF16, ACT_NONE, ST, TS)             \
    I8_KERNEL(int8_gemm_s##ST##t##TS##_bf16_gelu, I8_OUT_BF16, ACT_GELU, ST, TS)        \
    I8_KERNEL(int8_gemm_s##ST##t##TS##_f32, I8_OUT_F32, ACT_NONE, ST, 0)                \
    I8_KERNEL(int8_gemm_s##ST##t##TS##_f32_gelu, I8_OUT_F32, ACT_GELU, ST, 0)           \
    I8_KERNEL(int8_gemm_s##ST##t##TS##_raw, I8_OUT_RAW, ACT_NONE, ST, 0)                \
    I8_DEFINE_XMAX_##TS(ST)
// TS 3 differs from TS 2 in its bfloat16 GELU kernels only: it compiles those, and its entry
// names TS 2's kernels for the other kinds (which leave the GELU warps idle; launched from the
// TS 3 entry they get the table's 10 KiB of shared memory too, unused).
#define I8_DEFINE_0(ST) I8_DEFINE_ALL(ST, 0)
#define I8_DEFINE_1(ST) I8_DEFINE_ALL(ST, 1)
#define I8_DEFINE_2(ST) I8_DEFINE_ALL(ST, 2)
#define I8_DEFINE_3(ST)                                                          \
    I8_KERNEL(int8_gemm_s##ST##t3_bf16_gelu, I8_OUT_BF16, ACT_GELU, ST, 3)       \
    I8_DEFINE_XMAX_3(ST)
#define I8_DEFINE(ST, TS) I8_DEFINE_##TS(ST)
I8_VARIANTS(I8_DEFINE)

typedef void (*I8Kernel)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const CUtensorMap, int, int,
                         int, I8Epilogue);
enum { I8K_BF16, I8K_BF16_GELU, I8K_F32, I8K_F32_GELU, I8K_RAW, I8K_BF16_GELU_XMAX, I8K_COUNT };
typedef struct {
    int stages, tstore;
    I8Kernel k[I8K_COUNT];
    const char *name;
} I8Variant;
#define I8_KNAME(ST, TS, KIND) int8_gemm_s##ST##t##TS##_##KIND
#define I8_ENTRY_KINDS(ST, TS, TG)                                                             \
    {I8_KNAME(ST, TS, bf16), I8_KNAME(ST, TG, bf16_gelu), I8_KNAME(ST, TS, f32), I8_KNAME(ST, TS, f32_gelu), \
     I8_KNAME(ST, TS, raw), I8_XMAX_ENTRY_##TG(ST)}
#define I8_ENTRY_0(ST) {ST, 0, I8_ENTRY_KINDS(ST, 0, 0), "s" #ST "-direct"},
#define I8_ENTRY_1(ST) {ST, 1, I8_ENTRY_KINDS(ST, 1, 1), "s" #ST "-tstore"},
#define I8_ENTRY_2(ST) {ST, 2, I8_ENTRY_KINDS(ST, 2, 2), "s" #ST "-gelu-warps"},
#define I8_ENTRY_3(ST) {ST, 3, I8_ENTRY_KINDS(ST, 2, 3), "s" #ST "-gelu-table"},
#define I8_ENTRY(ST, TS) I8_ENTRY_##TS(ST)
static const I8Variant i8_variants[] = {I8_VARIANTS(I8_ENTRY)};
#define I8_N_VARIANTS ((int)(sizeof i8_variants / sizeof i8_variants[0]))

// =============================================================================================
// host side
// =============================================================================================

// The tensor map of a row-major (rows, cols) matrix of `elem` bytes per value, read or written
// in boxes of 128 bytes x box_rows with the 128-byte swizzle (the wgmma descriptors' and the
// tstore epilogue's layout); elements outside the matrix read as zeros and are not written.
static CUtensorMap swizzled_tmap(const void *p, CUtensorMapDataType dtype, int elem, int64_t rows, int cols,
                                 int box_rows, CUtensorMapL2promotion promotion, const char *what) {
    CUtensorMap m;
    cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows};
    cuuint64_t strides[1] = {(cuuint64_t)cols * elem};
    cuuint32_t box[2] = {(cuuint32_t)(128 / elem), (cuuint32_t)box_rows};
    cuuint32_t estr[2] = {1, 1};
    CUresult r = tensor_map_encoder()(&m, dtype, 2, (void *)p, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                      CU_TENSOR_MAP_SWIZZLE_128B, promotion, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        die("int8 linear: cuTensorMapEncodeTiled failed (%d) for the %lld x %d %s", (int)r, (long long)rows, cols, what);
    return m;
}
// int8 operands (A: box_rows I8_BM, the weights: I8_BN), 128 values of K per box.
static CUtensorMap int8_tmap(const void *p, int64_t rows, int K, int box_rows) {
    return swizzled_tmap(p, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, rows, K, box_rows, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                         "int8 operand");
}
// The bfloat16 output (M, N), or the residual, of the tstore epilogue: boxes of 64 columns x 64 rows.
static CUtensorMap bf16_out_tmap(const void *p, int64_t M, int N) {
    return swizzled_tmap(p, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, M, N, 64, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                         "bfloat16 output");
}

// The variant the format runs: the fastest at every encoder shape of vit_b and vit_h at batch 8
// on the H200 (tests/gpu/logs/h200-2026-12-01-j/call3-gpu0.log, ms: s3-gelu-warps' lin1 0.312
// against s3-tstore's 0.334 (vit_b), 0.560 against 0.644 (vit_h); the shapes without GELU run
// the same code as s3-tstore, within 1 %). s3-gelu-table since session 16: s3-gelu-warps with
// GELU from the table, the same outputs bit for bit, lin1 0.271 against 0.311 (vit_b), 0.489
// against 0.563 (vit_h) (tests/gpu/logs/h200-2026-12-02-c/call2-gpu0.log).
#define I8_CHOICE "s3-gelu-table"
static int i8_current = -1;

static int i8_variant_by_name(const char *name) {
    for (int i = 0; i < I8_N_VARIANTS; i++)
        if (strcmp(i8_variants[i].name, name) == 0) return i;
    return -1;
}

static size_t i8_smem_bytes(const I8Variant *v, int kind) {
    // the variant's TS (its value, not only whether it stores by TMA: TS 3's table) where the kind
    // stores by TMA
    int ts = kind == I8K_BF16 || kind == I8K_BF16_GELU || kind == I8K_BF16_GELU_XMAX ? v->tstore : 0;
    return I8_SMEM_BYTES(v->stages, ts);
}

// The refusals: what the kernels assume.
static void int8_check_shape(Exec *x, int out, int in) {
    CudaBackend *bk = cuda_backend(x);
    if (bk->prop.major != 9)
        die("int8 linear: needs an sm_90 GPU (wgmma, TMA); this one is sm_%d%d", bk->prop.major, bk->prop.minor);
    if (in % 16 != 0 || out % 8 != 0)
        die("int8 linear: in_features %d must be a multiple of 16 and out_features %d of 8", in, out);
    // Set up here, at load, never inside a graph capture: the kernels' shared memory and the
    // driver's tensor-map encoder.
    if (i8_current >= 0) return;
    for (int v = 0; v < I8_N_VARIANTS; v++)
        for (int k = 0; k < I8K_COUNT; k++)
            if (i8_variants[v].k[k])
                cudaCheck(cudaFuncSetAttribute((const void *)i8_variants[v].k[k],
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           (int)i8_smem_bytes(&i8_variants[v], k)));
    (void)tensor_map_encoder();
    i8_current = i8_variant_by_name(I8_CHOICE);
    if (i8_current < 0) die("int8 linear: I8_CHOICE names %s, which is not compiled", I8_CHOICE);
}

// Tests and the benchmark: the compiled variants, by index; select one (after a layer is prepared).
extern "C" int cuda_int8_variant_count(void) { return I8_N_VARIANTS; }
extern "C" const char *cuda_int8_variant_name(int v) {
    if (v < 0 || v >= I8_N_VARIANTS) die("int8 linear: no variant %d", v);
    return i8_variants[v].name;
}
extern "C" void cuda_int8_select_variant(int v) {
    if (i8_current < 0) die("int8 linear: select a variant after preparing a layer");
    if (v < 0 || v >= I8_N_VARIANTS) die("int8 linear: no variant %d", v);
    i8_current = v;
}
extern "C" int cuda_int8_chosen_variant(void) { return i8_variant_by_name(I8_CHOICE); }
// 1 when variant v's bfloat16 GELU output rounds the pre-activation to bfloat16 before GELU (the
// GELU warps), 0 when GELU reads the float32 pre-activation (the tests check each rule exactly).
extern "C" int cuda_int8_variant_rounds_gelu_input(int v) {
    if (v < 0 || v >= I8_N_VARIANTS) die("int8 linear: no variant %d", v);
    return i8_variants[v].tstore >= 2;
}
extern "C" int cuda_int8_variant_records_xmax(int v) {
    if (v < 0 || v >= I8_N_VARIANTS) die("int8 linear: no variant %d", v);
    return i8_variants[v].k[I8K_BF16_GELU_XMAX] != NULL;
}

// The upload ring's consumer: rows [first / in, + count / in) of the weight, quantised in place.
typedef struct {
    int8_t *q;     // (out, in)
    float *scale;  // (out)
    int in;
} WeightRows;

static void quantise_weight_chunk(Exec *x, const float *chunk, size_t first, size_t count, void *ctx) {
    const WeightRows *w = (const WeightRows *)ctx;
    int rows = (int)(count / (size_t)w->in);
    int8_quant_weight_rows<<<(rows + 7) / 8, 256, 0, cuda_stream(x)>>>(chunk, w->q + first,
                                                                       w->scale + first / (size_t)w->in, rows, w->in);
    LAUNCH_CHECK(x, "int8 weight quantisation");
}

extern "C" LinearWeight *cuda_int8_prepare(Exec *x, const float *W, const float *b, int out, int in) {
    if (!is_bf16(x)) die("int8 linear: serves the bfloat16 table only");
    int8_check_shape(x, out, in);
    LinearWeight *lw = (LinearWeight *)xcalloc(1, sizeof *lw);
    CudaInt8Linear *cl = (CudaInt8Linear *)xcalloc(1, sizeof *cl);
    lw->out_features = out;
    lw->in_features = in;
    cl->Wq = (int8_t *)cuda_mem_alloc(x, (size_t)out * in);
    cl->w_scale = (float *)cuda_mem_alloc(x, (size_t)out * sizeof(float));
    // Whole rows per chunk of the upload ring: a row's scale needs all of it.
    WeightRows rows = {cl->Wq, cl->w_scale, in};
    cuda_upload_staged(x, W, (size_t)out * in, (size_t)in, quantise_weight_chunk, &rows);
    if (b) {
        cl->bias = (float *)cuda_mem_alloc(x, (size_t)out * sizeof(float));
        cuda_upload(x, cl->bias, b, (size_t)out, 0);
    }
    cl->tmap_w = int8_tmap(cl->Wq, out, in, I8_BN);
    lw->impl = cl;
    return lw;
}

extern "C" void cuda_int8_release(Exec *x, LinearWeight *w) {
    CudaInt8Linear *cl = (CudaInt8Linear *)w->impl;
    cuda_mem_free(x, cl->Wq);
    cuda_mem_free(x, cl->w_scale);
    if (cl->bias) cuda_mem_free(x, cl->bias);
    free(cl);
    free(w);
}

// Scratch of one call: the int8 activations, their scales, then (run_ln_mlp, lin2's layout)
// the rows' largest pre-activations of lin2's input (256-byte aligned).
static size_t q_bytes(int64_t rows, int in) { return ((size_t)rows * in + 255) & ~(size_t)255; }
static size_t scale_bytes(int64_t rows) { return ((size_t)rows * sizeof(float) + 255) & ~(size_t)255; }
extern "C" size_t cuda_int8_workspace_bytes(Exec *x, const LinearWeight *w, int64_t rows) {
    return q_bytes(rows, w->in_features) + 2 * scale_bytes(rows);
}
static void int8_scratch(Exec *x, const LinearWeight *w, int64_t rows, int8_t **q, float **scale,
                         unsigned **xmax) {
    char *ws = (char *)cuda_workspace(x, cuda_int8_workspace_bytes(x, w, rows));
    *q = (int8_t *)ws;
    *scale = (float *)(ws + q_bytes(rows, w->in_features));
    if (xmax) *xmax = (unsigned *)(ws + q_bytes(rows, w->in_features) + scale_bytes(rows));
}

// Activations (rows, in) bfloat16 -> int8 and per-row scales (tests and the benchmark call it
// alone).
extern "C" void cuda_int8_quantize(Exec *x, int8_t *q, float *scale, const void *in, int64_t rows, int K) {
    if (rows <= 0) return;
    if (K % 8 || !aligned16(in) || !aligned8(q)) die("int8 linear: quantisation needs K %% 8 == 0 and aligned rows");
    int rows_per_block = 8;
    unsigned grid = (unsigned)((rows + rows_per_block - 1) / rows_per_block);
    int8_quant_rows<<<grid, 32 * rows_per_block, 0, cuda_stream(x)>>>((const bf16 *)in, q, scale, rows, K);
    LAUNCH_CHECK(x, "int8 quantise rows");
}

// lin1's GELU output (rows, K) bfloat16 and its rows' largest pre-activations (xmax, recorded by
// the GEMM) -> int8 and per-row scales, most rows read once (tests and the benchmark call it alone).
extern "C" void cuda_int8_quantize_gelu(Exec *x, int8_t *q, float *scale, const void *in, const unsigned *xmax,
                                        int64_t rows, int K) {
    if (rows <= 0) return;
    if (K % 8 || !aligned16(in) || !aligned8(q)) die("int8 linear: quantisation needs K %% 8 == 0 and aligned rows");
    if (rows > 0x7fffffff) die("int8 linear: %lld rows do not fit a grid", (long long)rows);
    int8_quant_rows_gelu<<<(unsigned)rows, I8_QG_THREADS, 0, cuda_stream(x)>>>((const bf16 *)in, q, scale, xmax, K);
    LAUNCH_CHECK(x, "int8 quantise GELU rows");
}

// C(M, N) = A(M, K) B(N, K)^T with the epilogue e (raw int32 when e->raw), by the selected variant.
static void int8_gemm(Exec *x, const int8_t *A, const CudaInt8Linear *cl, int64_t M, int N, int K,
                      const I8Epilogue *e) {
    if (M > 0x7fffffff) die("int8 linear: %lld rows do not fit an int", (long long)M);
    const I8Variant *v = &i8_variants[i8_current];
    if (e->act != ACT_NONE && e->act != ACT_GELU) die("int8 linear: activation %d is not implemented", e->act);
    int gelu = e->act == ACT_GELU;
    int kind = e->raw ? I8K_RAW : e->f32 ? (gelu ? I8K_F32_GELU : I8K_F32) : (gelu ? I8K_BF16_GELU : I8K_BF16);
    if (e->row_xmax) {
        if (kind != I8K_BF16_GELU || !v->k[I8K_BF16_GELU_XMAX])
            die("int8 linear: the rows' largest pre-activations are recorded by the GELU-warps variant's bfloat16 "
                "GELU kernel only; variant %s with this epilogue records none", v->name);
        // int8_quant_rows_gelu takes GELU of the maximum as the output row's: no residual after it
        if (e->residual) die("int8 linear: recording the rows' largest pre-activations with a residual added");
        kind = I8K_BF16_GELU_XMAX;
    }
    CUtensorMap ta = int8_tmap(A, M, K, I8_BM);
    CUtensorMap ty, tr;  // the output and the residual, for the tstore epilogue
    memset(&ty, 0, sizeof ty);
    memset(&tr, 0, sizeof tr);
    if (v->tstore && (kind == I8K_BF16 || kind == I8K_BF16_GELU || kind == I8K_BF16_GELU_XMAX)) {
        ty = bf16_out_tmap(e->y, M, N);
        if (e->residual) tr = bf16_out_tmap(e->residual, M, N);
    }
    int64_t tiles = ((M + I8_BM - 1) / I8_BM) * ((N + I8_BN - 1) / I8_BN);
    if (tiles > 0x7fffffff) die("int8 linear: too many tiles");
    int sms = cuda_backend(x)->prop.multiProcessorCount;
    unsigned grid = (unsigned)(tiles < sms ? tiles : sms);  // persistent: one block per SM
    v->k[kind]<<<grid, I8_THREADS, i8_smem_bytes(v, kind), cuda_stream(x)>>>(ta, cl->tmap_w, ty, tr, (int)M, N, K, *e);
    LAUNCH_CHECK(x, "int8 gemm sm90");
}

// Tests: y = the epilogues' GELU of x, n values (device pointers).
extern "C" void cuda_int8_gelu_fit(Exec *x, float *y, const float *in, int n) {
    if (n <= 0) return;
    int8_gelu_fit_values<<<(n + 255) / 256, 256, 0, cuda_stream(x)>>>(in, y, n);
    LAUNCH_CHECK(x, "int8 gelu fit values");
}

// Debug entry (tests): the int32 products of int8 A (M, K) and the layer's int8 weights.
extern "C" void cuda_int8_gemm_raw(Exec *x, int32_t *C, const int8_t *A, const LinearWeight *w, int64_t M) {
    const CudaInt8Linear *cl = (const CudaInt8Linear *)w->impl;
    I8Epilogue e = {C, NULL, NULL, NULL, NULL, ACT_NONE, 1, 0};
    int8_gemm(x, A, cl, M, w->out_features, w->in_features, &e);
}

// The GEMM and its epilogue on activations already quantised (q, x_scale in device memory):
// y bfloat16, or float32 unrounded when f32_out (tests; then residual must not alias y); with
// row_xmax (zeroed by the caller), each row's largest pre-activation as well (lin1 with GELU).
extern "C" void cuda_int8_gemm_epilogue_xmax(Exec *x, void *y, const int8_t *q, const float *x_scale,
                                             const LinearWeight *w, int64_t rows, Act act, const void *residual,
                                             int f32_out, unsigned *row_xmax) {
    const CudaInt8Linear *cl = (const CudaInt8Linear *)w->impl;
    if (rows <= 0) return;
    I8Epilogue e = {y, x_scale, cl->w_scale, cl->bias, residual, (int)act, 0, f32_out, row_xmax};
    int8_gemm(x, q, cl, rows, w->out_features, w->in_features, &e);
}
extern "C" void cuda_int8_gemm_epilogue(Exec *x, void *y, const int8_t *q, const float *x_scale,
                                        const LinearWeight *w, int64_t rows, Act act,
                                        const void *residual, int f32_out) {
    cuda_int8_gemm_epilogue_xmax(x, y, q, x_scale, w, rows, act, residual, f32_out, NULL);
}

// The layer's weights as the format holds them, copied to the host (tests): int8 (out, in),
// scales (out).
extern "C" void cuda_int8_weights(Exec *x, const LinearWeight *w, int8_t *q, float *scale) {
    const CudaInt8Linear *cl = (const CudaInt8Linear *)w->impl;
    cuda_copy_to_host(x, q, cl->Wq, (size_t)w->out_features * w->in_features);
    cuda_copy_to_host(x, scale, cl->w_scale, (size_t)w->out_features * sizeof(float));
}

// ref: torchao's dynamic int8 linear: y = act(dequant(q(x) q(W)^T) + b) [+ residual].
extern "C" void cuda_int8_linear(Exec *x, void *y, const void *in, const LinearWeight *w, int64_t rows,
                                 Act act, const void *residual) {
    int K = w->in_features;
    if (rows <= 0) return;
    if (!aligned16(in) || !aligned16(y) || (residual && !aligned16(residual)))
        die("int8 linear: activations must be 16-byte aligned");
    int8_t *q;
    float *xs;
    int8_scratch(x, w, rows, &q, &xs, NULL);
    cuda_int8_quantize(x, q, xs, in, rows, K);
    cuda_int8_gemm_epilogue(x, y, q, xs, w, rows, act, residual, 0);
}

// The same with the LayerNorm before it fused in: its kernel writes the int8 activations and
// their scales (layernorm.cu, QUANT), bit for bit what LayerNorm then the quantisation pass give.
extern "C" void cuda_int8_linear_ln(Exec *x, void *y, const void *in, const LnSpec *ln, const LinearWeight *w,
                                    Act act, const void *residual) {
    if (ln->dim != w->in_features)
        die("int8 linear: a LayerNorm of %d features feeds a layer of %d inputs", ln->dim, w->in_features);
    int64_t rows = ln_spec_rows(ln);
    if (rows <= 0) return;
    if (!aligned16(y) || (residual && !aligned16(residual))) die("int8 linear: activations must be 16-byte aligned");
    int8_t *q;
    float *xs;
    int8_scratch(x, w, rows, &q, &xs, NULL);
    cuda_layernorm_quant(x, q, xs, in, ln);
    cuda_int8_gemm_epilogue(x, y, q, xs, w, rows, act, residual, 0);
}

// The encoder's MLP in one call (LinearFormat.run_ln_mlp): the LayerNorm writes lin1's int8
// input; lin1's consumers record each hidden row's largest pre-activation as they hand the tile
// to the GELU warps; lin2's input is then quantised with GELU of it as the row's maximum, each
// value read once (int8_quant_rows_gelu). Equal bit for bit to run_ln then run (test_int8).
// Tried first (tests/gpu/logs/h200-2026-12-01-k/call1-gpu0.log): the GELU warps finding the
// maxima of their outputs: lin1 0.481 / 0.834 ms against 0.363 / 0.627 at vit_b / vit_h (the
// GELU warps set lin1's pace), for a pass of 0.111 / 0.178 ms against the two-read 0.136 / 0.227.
extern "C" void cuda_int8_ln_mlp(Exec *x, void *y, void *hidden, const void *in, const LnSpec *ln,
                                 const LinearWeight *w1, Act act, const LinearWeight *w2, const void *residual) {
    if (ln->dim != w1->in_features || w2->in_features != w1->out_features)
        die("int8 linear: an MLP of %d -> %d, %d -> %d features after a LayerNorm of %d", w1->in_features,
            w1->out_features, w2->in_features, w2->out_features, ln->dim);
    if (act != ACT_GELU) die("int8 linear: the fused MLP's quantisation of lin2's input assumes GELU; activation %d", act);
    int64_t rows = ln_spec_rows(ln);
    if (rows <= 0) return;
    if (!aligned16(y) || !aligned16(hidden) || (residual && !aligned16(residual)))
        die("int8 linear: activations must be 16-byte aligned");
    // One scratch, lin2's layout (the larger): lin1's int8 input and scales at its start are
    // read by lin1's GEMM before lin2's quantisation overwrites them (stream order); the maxima
    // lie past both.
    if (cuda_int8_workspace_bytes(x, w1, rows) > cuda_int8_workspace_bytes(x, w2, rows))
        die("int8 linear: the fused MLP's lin1 (%d inputs) is wider than its lin2 (%d)", w1->in_features, w2->in_features);
    int8_t *q;
    float *xs;
    unsigned *xmax;
    int8_scratch(x, w2, rows, &q, &xs, &xmax);
    cudaCheck(cudaMemsetAsync(xmax, 0, (size_t)rows * sizeof(unsigned), cuda_stream(x)));
    cuda_layernorm_quant(x, q, xs, in, ln);
    cuda_int8_gemm_epilogue_xmax(x, hidden, q, xs, w1, rows, act, NULL, 0, xmax);
    cuda_int8_quantize_gelu(x, q, xs, hidden, xmax, rows, w2->in_features);
    cuda_int8_gemm_epilogue(x, y, q, xs, w2, rows, ACT_NONE, residual, 0);
}

extern "C" const LinearFormat cuda_linear_int8 = {
    "int8",                       // name
    "cuda",                       // backend
    1u << DT_BF16,                // dtypes
    cuda_int8_prepare,            // prepare
    cuda_int8_linear,             // run
    cuda_int8_release,            // release
    cuda_int8_workspace_bytes,    // workspace_bytes
    NULL,                         // open
    NULL,                         // plan
    cuda_int8_linear_ln,          // run_ln
    cuda_int8_ln_mlp,             // run_ln_mlp
};
