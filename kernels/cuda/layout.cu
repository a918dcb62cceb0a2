// Element-wise adds and data movement on the GPU: the broadcasting add, strided copies,
// im2col, window partition and unpartition, the decoder's masks into image order
// (select_masks), and the activation -> float32 conversion.
// Pure moves work on bytes in "units": the widest of 16, 8, 4 or 2 bytes that divides every
// size, stride and address involved, so a row of 768 bfloat16 moves as 96 16-byte accesses
// and the same kernel serves both tables.
#include "cuda_common.cuh"

// =============================================================================================
// kernels
// =============================================================================================

static __device__ __forceinline__ void copy_unit(char *d, const char *s, const int U) {
    if (U == 16) *(uint4 *)d = *(const uint4 *)s;
    else if (U == 8) *(uint2 *)d = *(const uint2 *)s;
    else if (U == 4) *(unsigned *)d = *(const unsigned *)s;
    else *(unsigned short *)d = *(const unsigned short *)s;
}
static __device__ __forceinline__ void zero_unit(char *d, const int U) {
    if (U == 16) *(uint4 *)d = make_uint4(0, 0, 0, 0);
    else if (U == 8) *(uint2 *)d = make_uint2(0, 0);
    else if (U == 4) *(unsigned *)d = 0u;
    else *(unsigned short *)d = 0;
}

// y[i] = a[i % ap] + b[i % bp] in float32, VEC consecutive elements at a time.
static __device__ __forceinline__ void add_body(void *y, const void *a, const void *b, int64_t n,
                                                int64_t ap, int64_t bp, const int BF,
                                                const int VEC) {
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < n / VEC;
         g += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = g * VEC;
        float va[4], vb[4];
        if (VEC == 4) {
            ld4(a, i % ap, va, BF);
            ld4(b, i % bp, vb, BF);
            for (int u = 0; u < 4; u++) va[u] += vb[u];
            st4(y, i, va, BF);
        } else {
            st1(y, i, ld1(a, i % ap, BF) + ld1(b, i % bp, BF), BF);
        }
    }
}
#define ADD_ARGS void *y, const void *a, const void *b, int64_t n, int64_t ap, int64_t bp
// y = a + b with nothing broadcast, 16 bytes per access and no modulo: the residual adds of a
// stage without fusion (vit_b's 24 per batch, 50 MB each in bfloat16 at batch 8) run at the
// memory's speed, as eager PyTorch's add does, so the fused stage is not credited with a slow
// add's time.
static __device__ __forceinline__ void add16_body(void *y, const void *a, const void *b, int64_t n16,
                                                  const int BF) {
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < n16;
         g += (int64_t)gridDim.x * blockDim.x) {
        uint4 ua = ((const uint4 *)a)[g], ub = ((const uint4 *)b)[g];
        unsigned wa[4] = {ua.x, ua.y, ua.z, ua.w}, wb[4] = {ub.x, ub.y, ub.z, ub.w};
#pragma unroll
        for (int h = 0; h < 4; h++) {
            if (BF) {
                float2 fa = __bfloat1622float2(*(const __nv_bfloat162 *)&wa[h]);
                float2 fb = __bfloat1622float2(*(const __nv_bfloat162 *)&wb[h]);
                __nv_bfloat162 r = __floats2bfloat162_rn(fa.x + fb.x, fa.y + fb.y);
                wa[h] = *(const unsigned *)&r;
            } else {
                wa[h] = __float_as_uint(__uint_as_float(wa[h]) + __uint_as_float(wb[h]));
            }
        }
        ((uint4 *)y)[g] = make_uint4(wa[0], wa[1], wa[2], wa[3]);
    }
}
__global__ void add16_f32(void *y, const void *a, const void *b, int64_t n16) { add16_body(y, a, b, n16, 0); }
__global__ void add16_bf16(void *y, const void *a, const void *b, int64_t n16) { add16_body(y, a, b, n16, 1); }
__global__ void add_f32_v1(ADD_ARGS) { add_body(y, a, b, n, ap, bp, 0, 1); }
__global__ void add_f32_v4(ADD_ARGS) { add_body(y, a, b, n, ap, bp, 0, 4); }
__global__ void add_bf16_v1(ADD_ARGS) { add_body(y, a, b, n, ap, bp, 1, 1); }
__global__ void add_bf16_v4(ADD_ARGS) { add_body(y, a, b, n, ap, bp, 1, 4); }

// y[p][i] = a[index[p]][i] + b[(p * block + i) % bp] in float32, VEC consecutive elements at
// a time; grid (blocks over one block of elements, prompts).
static __device__ __forceinline__ void gather_add_body(void *y, const void *a, const int32_t *index,
                                                       const void *b, int64_t block, int64_t bp,
                                                       const int BF, const int VEC) {
    int64_t p = blockIdx.y;
    int64_t src = (int64_t)index[p] * block, dst = p * block;
    for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * VEC; i < block;
         i += (int64_t)gridDim.x * blockDim.x * VEC) {
        int64_t bi = (dst + i) % bp;
        if (VEC == 4) {
            float va[4], vb[4];
            ld4(a, src + i, va, BF);
            ld4(b, bi, vb, BF);
            for (int u = 0; u < 4; u++) va[u] += vb[u];
            st4(y, dst + i, va, BF);
        } else {
            st1(y, dst + i, ld1(a, src + i, BF) + ld1(b, bi, BF), BF);
        }
    }
}
#define GA_ARGS void *y, const void *a, const int32_t *index, const void *b, int64_t block, int64_t bp
#define GA_PASS y, a, index, b, block, bp
__global__ void gather_add_f32_v1(GA_ARGS) { gather_add_body(GA_PASS, 0, 1); }
__global__ void gather_add_f32_v4(GA_ARGS) { gather_add_body(GA_PASS, 0, 4); }
__global__ void gather_add_bf16_v1(GA_ARGS) { gather_add_body(GA_PASS, 1, 1); }
__global__ void gather_add_bf16_v4(GA_ARGS) { gather_add_body(GA_PASS, 1, 4); }

// dst[b][r][u] = src[b][r][u] in units of U bytes; strides in units.
static __device__ __forceinline__ void copy3d_body(char *dst, const char *src, int64_t batch,
                                                   int64_t rows, int64_t units, int64_t dbs,
                                                   int64_t drs, int64_t sbs, int64_t srs,
                                                   const int U) {
    int64_t total = batch * rows * units;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t u = i % units, rr = i / units;
        int64_t r = rr % rows, b = rr / rows;
        copy_unit(dst + (b * dbs + r * drs + u) * U, src + (b * sbs + r * srs + u) * U, U);
    }
}
#define C3_ARGS char *dst, const char *src, int64_t batch, int64_t rows, int64_t units, int64_t dbs, int64_t drs, int64_t sbs, int64_t srs
#define C3_PASS dst, src, batch, rows, units, dbs, drs, sbs, srs
__global__ void copy3d_u16(C3_ARGS) { copy3d_body(C3_PASS, 16); }
__global__ void copy3d_u8(C3_ARGS) { copy3d_body(C3_PASS, 8); }
__global__ void copy3d_u4(C3_ARGS) { copy3d_body(C3_PASS, 4); }
__global__ void copy3d_u2(C3_ARGS) { copy3d_body(C3_PASS, 2); }

// ref: torch.nn.Conv2d as a GEMM: dst row (b, oy, ox), column (ci, ky, kx), zero padding.
// One thread per (output pixel, input channel, kernel row): it copies the row's k taps (k
// consecutive columns of dst). Threads are numbered so neighbours read neighbouring source
// elements: kernel row fastest for NCHW (the taps of one row are contiguous there), channel
// fastest for NHWC. Index math in 32 bits (the launcher checks the element count). The
// element-wise version with 64-bit divisions ran the neck's 3x3 im2col at 0.3 TB/s on the H100.
static __device__ __forceinline__ void im2col_body(void *dst, const void *src, int nchw, int n,
                                                   int h, int w, int c, int k, int stride,
                                                   int pad, int oh, int ow, const int SBF,
                                                   const int DBF) {
    int items = n * oh * ow * c * k;  // < 2^31
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < items; i += gridDim.x * blockDim.x) {
        int ky, ci, row;
        if (nchw) {
            ky = i % k;
            int t = i / k;
            ci = t % c, row = t / c;
        } else {
            ci = i % c;
            int t = i / c;
            ky = t % k, row = t / k;
        }
        int ox = row % ow, t2 = row / ow;
        int oy = t2 % oh, b = t2 / oh;
        int iy = oy * stride - pad + ky, ix0 = ox * stride - pad;
        int64_t d = ((int64_t)row * c + ci) * k * k + (int64_t)ky * k;
        int64_t srow = nchw ? (((int64_t)b * c + ci) * h + iy) * w : ((int64_t)b * h + iy) * w;
        int yin = iy >= 0 && iy < h;
        for (int kx = 0; kx < k; kx++) {
            int ix = ix0 + kx;
            float v = 0.0f;
            if (yin && ix >= 0 && ix < w) v = ld1(src, nchw ? srow + ix : (srow + ix) * c + ci, SBF);
            st1(dst, d + kx, v, DBF);
        }
    }
}
#define I2C_ARGS void *dst, const void *src, int nchw, int n, int h, int w, int c, int k, int stride, int pad, int oh, int ow
#define I2C_PASS dst, src, nchw, n, h, w, c, k, stride, pad, oh, ow
__global__ void im2col_f32_f32(I2C_ARGS) { im2col_body(I2C_PASS, 0, 0); }
__global__ void im2col_f32_bf16(I2C_ARGS) { im2col_body(I2C_PASS, 0, 1); }
__global__ void im2col_bf16_bf16(I2C_ARGS) { im2col_body(I2C_PASS, 1, 1); }

// The patch embedding's im2col (NCHW float32 image, stride == k, no padding, k a multiple of 8):
// the patches do not overlap, so every (output pixel, channel, kernel row) is k contiguous
// floats of the image and k contiguous columns of dst. One thread per such run, output column
// ox fastest so a warp reads 32 consecutive runs of one image row; 16-byte loads and stores.
// The element-by-element kernel above took 0.245 ms for vit_b's batch of 8 on the H200
// (tests/gpu/logs/h200-2026-12-01-d/step-call5-ncu_nested_all.log): 100 MB read, 50 MB written.
static __device__ __forceinline__ void im2col_patch_body(void *dst, const float *src, int n, int h,
                                                         int w, int c, int k, int oh, int ow,
                                                         const int DBF) {
    int items = n * c * oh * k * ow;  // < 2^31 (the launcher checks the element count)
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < items; i += gridDim.x * blockDim.x) {
        int ox = i % ow, t = i / ow;
        int ky = t % k;
        t /= k;
        int oy = t % oh;
        t /= oh;
        int ci = t % c, b = t / c;
        const float4 *s4 = (const float4 *)(src + (((int64_t)b * c + ci) * h + (int64_t)oy * k + ky) * w + (int64_t)ox * k);
        int64_t d = (((int64_t)b * oh + oy) * ow + ox) * c * k * k + (int64_t)ci * k * k + (int64_t)ky * k;
        for (int q = 0; q < k / 8; q++) {
            float4 f0 = s4[2 * q], f1 = s4[2 * q + 1];
            if (DBF) {
                __nv_bfloat162 p0 = __floats2bfloat162_rn(f0.x, f0.y), p1 = __floats2bfloat162_rn(f0.z, f0.w);
                __nv_bfloat162 p2 = __floats2bfloat162_rn(f1.x, f1.y), p3 = __floats2bfloat162_rn(f1.z, f1.w);
                *(uint4 *)((bf16 *)dst + d + 8 * q) = make_uint4(*(const unsigned *)&p0, *(const unsigned *)&p1,
                                                                 *(const unsigned *)&p2, *(const unsigned *)&p3);
            } else {
                *(float4 *)((float *)dst + d + 8 * q) = f0;
                *(float4 *)((float *)dst + d + 8 * q + 4) = f1;
            }
        }
    }
}
#define I2P_ARGS void *dst, const float *src, int n, int h, int w, int c, int k, int oh, int ow
__global__ void im2col_patch_f32(I2P_ARGS) { im2col_patch_body(dst, src, n, h, w, c, k, oh, ow, 0); }
__global__ void im2col_patch_bf16(I2P_ARGS) { im2col_patch_body(dst, src, n, h, w, c, k, oh, ow, 1); }

// im2col of a channels-last activation (the neck's 3x3 convolution) through shared memory: a
// block takes `rb` output rows, reads each tap's channels with 16-byte loads (channels are
// contiguous in NHWC) and writes them to shared memory in dst's column order (channel, ky,
// kx), then stores the rows as one contiguous run of 16-byte stores. The element-by-element
// kernel above scattered 2-byte stores 18 bytes apart: 0.376 ms for vit_b's neck at batch 8
// (151 MB written) in the same ncu reading. ESZ: bytes per element (src and dst alike).
static __device__ __forceinline__ void im2col_nhwc_body(void *dst, const void *src, int n, int h,
                                                        int w, int c, int k, int stride, int pad,
                                                        int oh, int ow, int rb, const int ESZ) {
    extern __shared__ __align__(16) unsigned char i2c_smem[];
    const int VE = 16 / ESZ, CV = c / VE, KK = k * k, CKK = c * KK;
    const int rows = n * oh * ow;
    for (int r0 = blockIdx.x * rb; r0 < rows; r0 += gridDim.x * rb) {
        int nr = rows - r0 < rb ? rows - r0 : rb;
        __syncthreads();  // the previous group's rows are stored
        for (int u = threadIdx.x; u < nr * KK * CV; u += blockDim.x) {
            int cv = u % CV, t = u / CV;
            int tap = t % KK, r = t / KK;
            int row = r0 + r, ox = row % ow, t2 = row / ow;
            int oy = t2 % oh, b = t2 / oh;
            int iy = oy * stride - pad + tap / k, ix = ox * stride - pad + tap % k;
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                v = *(const uint4 *)((const unsigned char *)src + ((((int64_t)b * h + iy) * w + ix) * c + (int64_t)cv * VE) * ESZ);
            unsigned char *sr = i2c_smem + ((size_t)r * CKK + (size_t)cv * VE * KK + tap) * ESZ;
            if (ESZ == 2) {
                const unsigned short *e = (const unsigned short *)&v;
#pragma unroll
                for (int q = 0; q < 8; q++) *(unsigned short *)(sr + (size_t)q * KK * 2) = e[q];
            } else {
                const unsigned *e = (const unsigned *)&v;
#pragma unroll
                for (int q = 0; q < 4; q++) *(unsigned *)(sr + (size_t)q * KK * 4) = e[q];
            }
        }
        __syncthreads();
        const uint4 *s16 = (const uint4 *)i2c_smem;
        uint4 *d16 = (uint4 *)((unsigned char *)dst + (int64_t)r0 * CKK * ESZ);
        for (int u = threadIdx.x; u < nr * CKK * ESZ / 16; u += blockDim.x) d16[u] = s16[u];
    }
}
#define I2N_ARGS void *dst, const void *src, int n, int h, int w, int c, int k, int stride, int pad, int oh, int ow, int rb
#define I2N_PASS dst, src, n, h, w, c, k, stride, pad, oh, ow, rb
__global__ void im2col_nhwc_e2(I2N_ARGS) { im2col_nhwc_body(I2N_PASS, 2); }
__global__ void im2col_nhwc_e4(I2N_ARGS) { im2col_nhwc_body(I2N_PASS, 4); }
#define I2C_NHWC_SMEM 49152  // bytes of shared memory a block's rows may take

// ref: image_encoder.py window_partition / window_unpartition, per token in units of U bytes.
// Partition: dst (b * nwh * nww, win * win, C) gets src (b, h, w, C) or zeros in the padding.
// Unpartition (inverse): dst (b, h, w, C) from src windows, padding dropped.
static __device__ __forceinline__ void window_body(char *dst, const char *src, int b, int h,
                                                   int w, int units, int win, int nwh, int nww,
                                                   int unpartition, const int U) {
    int64_t tokens = unpartition ? (int64_t)b * h * w : (int64_t)b * nwh * nww * win * win;
    int64_t total = tokens * units;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t tok = i / units;
        int u = (int)(i - tok * units);
        int64_t img_tok, win_tok;  // the token's index in (b, h, w) and in the windows
        int inside = 1;
        if (unpartition) {
            int xx = (int)(tok % w);
            int64_t t = tok / w;
            int y = (int)(t % h), bi = (int)(t / h);
            win_tok = (((int64_t)bi * nwh + y / win) * nww + xx / win) * win * win +
                      (y % win) * win + xx % win;
            img_tok = tok;
        } else {
            int tx = (int)(tok % win);
            int64_t t = tok / win;
            int ty = (int)(t % win);
            t /= win;
            int wx = (int)(t % nww);
            t /= nww;
            int wy = (int)(t % nwh), bi = (int)(t / nwh);
            int y = wy * win + ty, xx = wx * win + tx;
            inside = y < h && xx < w;
            img_tok = ((int64_t)bi * h + y) * w + xx;
            win_tok = tok;
        }
        if (unpartition)
            copy_unit(dst + (img_tok * units + u) * U, src + (win_tok * units + u) * U, U);
        else if (inside)
            copy_unit(dst + (win_tok * units + u) * U, src + (img_tok * units + u) * U, U);
        else
            zero_unit(dst + (win_tok * units + u) * U, U);
    }
}
#define WIN_ARGS char *dst, const char *src, int b, int h, int w, int units, int win, int nwh, int nww, int unpartition
#define WIN_PASS dst, src, b, h, w, units, win, nwh, nww, unpartition
__global__ void window_u16(WIN_ARGS) { window_body(WIN_PASS, 16); }
__global__ void window_u8(WIN_ARGS) { window_body(WIN_PASS, 8); }
__global__ void window_u4(WIN_ARGS) { window_body(WIN_PASS, 4); }
__global__ void window_u2(WIN_ARGS) { window_body(WIN_PASS, 2); }

// cuda_select_masks: thread per output pixel of a (prompt, mask) plane; blockIdx.y strides over
// the n x count planes, so any count of prompts is one launch. Within a plane (16 g^2 pixels,
// the launcher checks it fits) the index math is 32-bit.
static __device__ __forceinline__ void select_masks_body(float *dst, const void *src, int64_t planes, int m,
                                                         int first, int count, int g, const int BF) {
    const int L = 4 * g, px = L * L;
    for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
        int64_t p = plane / count, c = plane % count;
        const int64_t s0 = (p * m + first + c) * px;
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < px; i += gridDim.x * blockDim.x) {
            int oy = i / L, ox = i - oy * L;
            int s1 = ((oy >> 1) & 1) * 2 + ((ox >> 1) & 1), s2 = (oy & 1) * 2 + (ox & 1);
            dst[plane * px + i] = ld1(src, s0 + (((oy >> 2) * g + (ox >> 2)) * 4 + s1) * 4 + s2, BF);
        }
    }
}
__global__ void select_masks_f32(float *dst, const void *src, int64_t planes, int m, int first, int count, int g) {
    select_masks_body(dst, src, planes, m, first, count, g, 0);
}
__global__ void select_masks_bf16(float *dst, const void *src, int64_t planes, int m, int first, int count, int g) {
    select_masks_body(dst, src, planes, m, first, count, g, 1);
}

// bfloat16 -> float32, 4 elements at a time when VEC = 4.
static __device__ __forceinline__ void to_f32_body(float *dst, const void *src, int64_t n,
                                                   const int VEC) {
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < n / VEC;
         g += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = g * VEC;
        if (VEC == 4) {
            float v[4];
            ld4(src, i, v, 1);
            *(float4 *)(dst + i) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
            dst[i] = ld1(src, i, 1);
        }
    }
}
__global__ void bf16_to_f32_v1(float *dst, const void *src, int64_t n) { to_f32_body(dst, src, n, 1); }
__global__ void bf16_to_f32_v4(float *dst, const void *src, int64_t n) { to_f32_body(dst, src, n, 4); }

// =============================================================================================
// launchers
// =============================================================================================

// The widest unit (16, 8, 4 bytes; 2 at least, the bfloat16 size) dividing every value.
static int unit_for(const int64_t *bytes_or_addrs, int n) {
    int u = 16;
    for (int i = 0; i < n; i++)
        while (u > 2 && bytes_or_addrs[i] % u != 0) u /= 2;
    return u;
}

// The per-image block of each of n prompts through its image index, plus b (ops.h gather_add).
extern "C" void cuda_gather_add(Exec *x, void *y, const void *a, const int32_t *index,
                                const void *b, int64_t n, int64_t block, int64_t bp) {
    if (n <= 0 || block <= 0) return;
    if (bp <= 0) die("cuda gather_add: period must be positive (got %lld)", (long long)bp);
    if (n > 65535) die("cuda gather_add: %lld prompts is over the 65535 of one launch", (long long)n);
    if (y == a) die("cuda gather_add: y must not alias a (a is read through the index)");
    int bf = is_bf16(x);
    int vec = block % 4 == 0 && bp % 4 == 0 &&
              (bf ? aligned8(y) && aligned8(a) && aligned8(b) : aligned16(y) && aligned16(a) && aligned16(b));
    // Enough blocks over one prompt's block to fill the GPU with the prompts together.
    int64_t per = (block / (vec ? 4 : 1) + 255) / 256;
    int64_t want = (16 * (int64_t)cuda_backend(x)->prop.multiProcessorCount + n - 1) / n;
    unsigned gx = (unsigned)(per < want ? per : want < 1 ? 1 : want);
    dim3 grid(gx, (unsigned)n);
    cudaStream_t s = cuda_stream(x);
    if (bf) {
        if (vec) gather_add_bf16_v4<<<grid, 256, 0, s>>>(y, a, index, b, block, bp);
        else gather_add_bf16_v1<<<grid, 256, 0, s>>>(y, a, index, b, block, bp);
    } else {
        if (vec) gather_add_f32_v4<<<grid, 256, 0, s>>>(y, a, index, b, block, bp);
        else gather_add_f32_v1<<<grid, 256, 0, s>>>(y, a, index, b, block, bp);
    }
    LAUNCH_CHECK(x, "gather_add");
}

extern "C" void cuda_add(Exec *x, void *y, const void *a, const void *b, int64_t n, int64_t ap,
                         int64_t bp) {
    if (n <= 0) return;
    if (ap <= 0 || bp <= 0) die("cuda add: periods must be positive (got %lld, %lld)", (long long)ap, (long long)bp);
    // In place is safe element by element only when the aliased operand is not broadcast.
    if ((y == a && ap != n) || (y == b && bp != n))
        die("cuda add: y may alias a broadcast operand only when its period is n");
    int bf = is_bf16(x);
    cudaStream_t s = cuda_stream(x);
    size_t bytes = (size_t)n * (bf ? 2 : 4);
    if (ap == n && bp == n && bytes % 16 == 0 && aligned16(y) && aligned16(a) && aligned16(b)) {
        int64_t n16 = (int64_t)(bytes / 16);
        if (bf) add16_bf16<<<grid_for(n16, 256), 256, 0, s>>>(y, a, b, n16);
        else add16_f32<<<grid_for(n16, 256), 256, 0, s>>>(y, a, b, n16);
        LAUNCH_CHECK(x, "add");
        return;
    }
    int vec = n % 4 == 0 && ap % 4 == 0 && bp % 4 == 0 &&
              (bf ? aligned8(y) && aligned8(a) && aligned8(b) : aligned16(y) && aligned16(a) && aligned16(b));
    unsigned grid = grid_for(n / (vec ? 4 : 1), 256);
    if (bf) {
        if (vec) add_bf16_v4<<<grid, 256, 0, s>>>(y, a, b, n, ap, bp);
        else add_bf16_v1<<<grid, 256, 0, s>>>(y, a, b, n, ap, bp);
    } else {
        if (vec) add_f32_v4<<<grid, 256, 0, s>>>(y, a, b, n, ap, bp);
        else add_f32_v1<<<grid, 256, 0, s>>>(y, a, b, n, ap, bp);
    }
    LAUNCH_CHECK(x, "add");
}

// Byte extent [lo, hi) touched by a (batch, rows, cols) strided view.
static void extent(const void *p, int64_t batch, int64_t rows, int64_t cols, int64_t bs,
                   int64_t rs, int64_t es, uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)p;
    *hi = (uintptr_t)p + (uintptr_t)(((batch - 1) * bs + (rows - 1) * rs + cols) * es);
}

extern "C" void cuda_copy3d(Exec *x, void *dst, const void *src, int64_t batch, int64_t rows,
                            int64_t cols, int64_t dbs, int64_t drs, int64_t sbs, int64_t srs) {
    if (batch <= 0 || rows <= 0 || cols <= 0) return;
    if (dbs < 0 || drs < 0 || sbs < 0 || srs < 0) die("cuda copy3d: negative strides are not supported");
    int64_t es = is_bf16(x) ? 2 : 4;
    uintptr_t dlo, dhi, slo, shi;
    extent(dst, batch, rows, cols, dbs, drs, es, &dlo, &dhi);
    extent(src, batch, rows, cols, sbs, srs, es, &slo, &shi);
    // Threads copy in any order: overlapping views (which the CPU's per-row memmove allows)
    // would race, so they are refused by name rather than copied wrong.
    if (dlo < shi && slo < dhi)
        die("cuda copy3d: source and destination overlap (not supported on the GPU)");
    int64_t v[7] = {cols * es, dbs * es, drs * es, sbs * es, srs * es, (int64_t)(uintptr_t)dst,
                    (int64_t)(uintptr_t)src};
    int U = unit_for(v, 7);
    int64_t units = cols * es / U;
    unsigned grid = grid_for(batch * rows * units, 256);
    cudaStream_t s = cuda_stream(x);
    char *dp = (char *)dst;
    const char *sp = (const char *)src;
#define C3_LAUNCH(K) K<<<grid, 256, 0, s>>>(dp, sp, batch, rows, units, dbs * es / U, drs * es / U, sbs * es / U, srs * es / U)
    if (U == 16) C3_LAUNCH(copy3d_u16);
    else if (U == 8) C3_LAUNCH(copy3d_u8);
    else if (U == 4) C3_LAUNCH(copy3d_u4);
    else C3_LAUNCH(copy3d_u2);
#undef C3_LAUNCH
    LAUNCH_CHECK(x, "copy3d");
}

extern "C" void cuda_im2col(Exec *x, void *dst, const void *src, int src_f32, int src_nchw, int n,
                            int h, int w, int c, int k, int stride, int pad) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    if (n <= 0 || oh <= 0 || ow <= 0) return;
    int bf = is_bf16(x);
    int64_t total = (int64_t)n * oh * ow * c * k * k;
    if (total > 0x7fffffff)
        die("cuda im2col: %lld columns' elements are over the kernel's 32-bit index range", (long long)total);
    cudaStream_t s = cuda_stream(x);
    // Patch embedding: non-overlapping patches of a float32 NCHW image, 16-byte runs.
    if (src_nchw && src_f32 && stride == k && pad == 0 && k % 8 == 0 && w % 4 == 0 && aligned16(src) &&
        aligned16(dst)) {
        unsigned grid = grid_for((int64_t)n * c * oh * k * ow, 256);
        if (bf) im2col_patch_bf16<<<grid, 256, 0, s>>>(dst, (const float *)src, n, h, w, c, k, oh, ow);
        else im2col_patch_f32<<<grid, 256, 0, s>>>(dst, (const float *)src, n, h, w, c, k, oh, ow);
        LAUNCH_CHECK(x, "im2col (patches)");
        return;
    }
    // Channels-last activation (src in the activation dtype): through shared memory.
    int esz = bf ? 2 : 4;
    int64_t row_bytes = (int64_t)c * k * k * esz;
    int src_esz = src_f32 || !bf ? 4 : 2;
    if (!src_nchw && src_esz == esz && c % (16 / esz) == 0 && row_bytes % 16 == 0 &&
        row_bytes <= I2C_NHWC_SMEM && aligned16(src) && aligned16(dst)) {
        int rb = (int)(I2C_NHWC_SMEM / row_bytes);
        if (rb > 16) rb = 16;
        unsigned grid = grid_for((int64_t)n * oh * ow, rb);
        size_t smem = (size_t)rb * row_bytes;
        if (bf) im2col_nhwc_e2<<<grid, 256, smem, s>>>(dst, src, n, h, w, c, k, stride, pad, oh, ow, rb);
        else im2col_nhwc_e4<<<grid, 256, smem, s>>>(dst, src, n, h, w, c, k, stride, pad, oh, ow, rb);
        LAUNCH_CHECK(x, "im2col (channels-last)");
        return;
    }
    unsigned grid = grid_for(total / k, 256);
    if (!bf) im2col_f32_f32<<<grid, 256, 0, s>>>(dst, src, src_nchw, n, h, w, c, k, stride, pad, oh, ow);
    else if (src_f32) im2col_f32_bf16<<<grid, 256, 0, s>>>(dst, src, src_nchw, n, h, w, c, k, stride, pad, oh, ow);
    else im2col_bf16_bf16<<<grid, 256, 0, s>>>(dst, src, src_nchw, n, h, w, c, k, stride, pad, oh, ow);
    LAUNCH_CHECK(x, "im2col");
}

static void launch_window(Exec *x, void *dst, const void *src, int b, int h, int w, int c,
                          int win, int unpartition) {
    if (b <= 0 || h <= 0 || w <= 0 || c <= 0) return;
    if (win <= 0) die("cuda window_%spartition: window %d", unpartition ? "un" : "", win);
    if (dst == src) die("cuda window_%spartition: dst must not alias src", unpartition ? "un" : "");
    int64_t es = is_bf16(x) ? 2 : 4;
    int nwh = (h + win - 1) / win, nww = (w + win - 1) / win;
    int64_t v[3] = {c * es, (int64_t)(uintptr_t)dst, (int64_t)(uintptr_t)src};
    int U = unit_for(v, 3);
    int units = (int)(c * es / U);
    int64_t tokens = unpartition ? (int64_t)b * h * w : (int64_t)b * nwh * nww * win * win;
    unsigned grid = grid_for(tokens * units, 256);
    cudaStream_t s = cuda_stream(x);
    char *dp = (char *)dst;
    const char *sp = (const char *)src;
#define WIN_LAUNCH(K) K<<<grid, 256, 0, s>>>(dp, sp, b, h, w, units, win, nwh, nww, unpartition)
    if (U == 16) WIN_LAUNCH(window_u16);
    else if (U == 8) WIN_LAUNCH(window_u8);
    else if (U == 4) WIN_LAUNCH(window_u4);
    else WIN_LAUNCH(window_u2);
#undef WIN_LAUNCH
    LAUNCH_CHECK(x, unpartition ? "window_unpartition" : "window_partition");
}

extern "C" void cuda_window_partition(Exec *x, void *dst, const void *src, int b, int h, int w,
                                      int c, int win) {
    launch_window(x, dst, src, b, h, w, c, win, 0);
}

extern "C" void cuda_window_unpartition(Exec *x, void *dst, const void *src, int b, int h,
                                        int w, int c, int win) {
    launch_window(x, dst, src, b, h, w, c, win, 1);
}

extern "C" void cuda_select_masks(Exec *x, float *dst, const void *src, int n, int m, int first,
                                  int count, int g) {
    if (n <= 0 || count <= 0 || g <= 0) return;
    if (first < 0 || first + count > m) die("cuda select_masks: masks %d..%d of %d", first, first + count - 1, m);
    if ((const void *)dst == src) die("cuda select_masks: dst must not alias src");
    int64_t px = (int64_t)16 * g * g, planes = (int64_t)n * count;
    if (px > 0x7fffffff) die("cuda select_masks: a %d x %d plane is over the kernel's index range", 4 * g, 4 * g);
    dim3 grid(grid_for(px, 256) < 1024 ? grid_for(px, 256) : 1024, (unsigned)(planes < 65535 ? planes : 65535));
    cudaStream_t s = cuda_stream(x);
    if (is_bf16(x)) select_masks_bf16<<<grid, 256, 0, s>>>(dst, src, planes, m, first, count, g);
    else select_masks_f32<<<grid, 256, 0, s>>>(dst, src, planes, m, first, count, g);
    LAUNCH_CHECK(x, "select_masks");
}

extern "C" void cuda_act_to_f32(Exec *x, float *dst, const void *src, int64_t n) {
    if (n <= 0) return;
    cudaStream_t s = cuda_stream(x);
    if (!is_bf16(x)) {
        if ((const void *)dst == src) return;
        uintptr_t d0 = (uintptr_t)dst, s0 = (uintptr_t)src, bytes = (uintptr_t)n * 4;
        if (d0 < s0 + bytes && s0 < d0 + bytes) die("cuda act_to_f32: partially overlapping buffers");
        cuda_copy_device(x, dst, src, (size_t)n * 4);
        return;
    }
    uintptr_t d0 = (uintptr_t)dst, d1 = d0 + (uintptr_t)n * 4, s0 = (uintptr_t)src, s1 = s0 + (uintptr_t)n * 2;
    if (d0 < s1 && s0 < d1) die("cuda act_to_f32: bfloat16 source and float32 destination overlap");
    int vec = n % 4 == 0 && aligned16(dst) && aligned8(src);
    unsigned grid = grid_for(n / (vec ? 4 : 1), 256);
    if (vec) bf16_to_f32_v4<<<grid, 256, 0, s>>>(dst, src, n);
    else bf16_to_f32_v1<<<grid, 256, 0, s>>>(dst, src, n);
    LAUNCH_CHECK(x, "act_to_f32");
}
