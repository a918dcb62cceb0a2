// The quantisation rules of the int8 linear format (design.md section 2, torchao's dynamic
// quantisation as the seed applied it), in one place for the CPU reference
// (kernels/cpu/int8_linear.c) and the CUDA format (kernels/cuda/int8_linear.cu), host and device:
// both sides quantise the same float32 numbers with the same float32 operations, so their int8
// values, and so their int32 products, are equal bit for bit.
//
// - Symmetric, one scale per row of a matrix: per output channel for a weight (out, in), per
//   token for an activation (rows, in). scale = max|v| / 127 (float32 division, rounded to
//   nearest).
// - q = clamp(round(v / scale), -127, 127): v / scale is a correctly rounded float32 division
//   (no reciprocal), round is round-half-to-even (rintf in the default rounding mode; torch.round
//   and torchao round the same way), then clamped. -128 is never produced.
// - A row that is all zero has scale 0: every q is 0 (no division by zero), so the row's
//   products are 0 and the layer's output is its bias. torchao clamps the scale to at least
//   1e-5 / 127 instead; for an all-zero row the int8 values and the output are the same.
// - Dequantisation: y = float(acc) * x_scale[row] * w_scale[col] + bias[col], in that order,
//   float32, each operation rounded (no fused multiply-add), then GELU or the residual. The CUDA
//   format's bfloat16 output with GELU (lin1) rounds y to bfloat16 before GELU, as torchao's
//   linear stores its output and nn.GELU then reads it, and computes GELU from an erfc fit
//   (int8_linear.cu gelu_erfc_fit, within a few float32 ulps of erff's); its float32 test output
//   and this CPU reference apply erff's GELU to the unrounded y.
//
// Where torchao differed (its int8 weights, apply_dynamic_quant in late 2023): the weight scale
// was max|w| / 127.5 with q clamped to [-128, 127], and it quantised the bfloat16 weights with a
// bfloat16 scale. This format follows design.md (max / 127, [-127, 127], float32 weights and
// scales), the same rule for weights and activations.
#ifndef SAM_INT8_RULES_H
#define SAM_INT8_RULES_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define INT8_HD __host__ __device__ __forceinline__
#else
#define INT8_HD static inline
#endif

// The scale of a row whose largest magnitude is amax.
INT8_HD float int8_scale(float amax) { return amax / 127.0f; }

// One value quantised with its row's scale.
INT8_HD int8_t int8_quantize(float v, float scale) {
    if (scale == 0.0f) return 0;
    float q = rintf(v / scale);
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    return (int8_t)q;
}

#ifdef __CUDACC__
// int8_quantize's value without its division where the division cannot change it (the GPU's
// activation passes, where a correctly rounded division is about 8 instructions a value: the
// two-read pass at vit_b / vit_h lin2's input went from 0.136 / 0.244 to 0.120 / 0.214 ms, proj's
// from 0.036 / 0.055 to 0.031 / 0.044; tests/gpu/logs/h200-2026-12-01-k, calls 2 and 3).
// inv = 1 / scale, correctly rounded, once per row. r = v inv
// is within 2 ulps of t = v / scale, so where |t| <= 128 |r - t| < 1.6e-5: if r lies at most
// 0.4999 from its nearest integer, t lies under 0.5 from it and rounds to it too; otherwise
// (about 0.02 % of values, near a tie; NaN) the division decides. Where |t| > 128 both round past
// 127 and clamp to it. So the value equals int8_quantize's for every input (test_int8 compares
// the GPU's int8 values with the CPU reference's exactly).
__device__ __forceinline__ int8_t int8_quantize_inv(float v, float scale, float inv) {
    if (scale == 0.0f) return 0;
    float r = __fmul_rn(v, inv);
    float q = rintf(r);
    if (!(fabsf(r - q) <= 0.4999f)) q = rintf(v / scale);
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    return (int8_t)q;
}

// Four values of one row as int8_quantize_inv quantises them, packed into a word (value u in
// byte u, two's complement), in about 6 instructions a value where int8_quantize_inv takes 14
// and a branch: the activation passes and the quantising LayerNorm issue about one instruction
// per cycle per scheduler (ncu, session 17 call 1: lnq 43 us, the passes 30 and 104 us at vit_b,
// SM throughput 71-73 %, DRAM 30-58 %), so their instructions set their time. r + 1.5 2^23 holds
// rint(r) (half to even, as rintf) in its low bits wherever |r| < 2^22, so its low byte is the
// int8 value and q = (r + 1.5 2^23) - 1.5 2^23 is rint(r) exactly; where every value's q is
// within 127 and its r within 0.4999 of q (int8_quantize_inv's own test), the word is
// int8_quantize_inv's values, else the four take int8_quantize_inv itself (a near-tie, a scale
// of 0, a non-finite value, a value past 127.5 scales).
__device__ __forceinline__ uint32_t int8_quantize4_inv(float v0, float v1, float v2, float v3, float scale,
                                                       float inv) {
    const float magic = 12582912.0f;  // 1.5 x 2^23
    const float v[4] = {v0, v1, v2, v3};
    uint32_t t[4];
    bool ok = true;
#pragma unroll
    for (int u = 0; u < 4; u++) {
        float r = __fmul_rn(v[u], inv);
        float tr = __fadd_rn(r, magic);
        float q = __fadd_rn(tr, -magic);
        ok = ok && fabsf(__fadd_rn(r, -q)) <= 0.4999f && fabsf(q) <= 127.0f;
        t[u] = __float_as_uint(tr);
    }
    if (__builtin_expect(ok, 1)) return __byte_perm(__byte_perm(t[0], t[1], 0x0040), __byte_perm(t[2], t[3], 0x0040), 0x5410);
    uint32_t w = 0;
#pragma unroll
    for (int u = 0; u < 4; u++) w |= (uint32_t)(uint8_t)int8_quantize_inv(v[u], scale, inv) << (8 * u);
    return w;
}
#endif

#endif
