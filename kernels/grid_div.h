// A grid coordinate from a token index without an integer division: q / W for the encoder's
// token grids (q < 4096 on grids of at most 64 x 64, W <= 64) from a float reciprocal, for the
// flash attention's per-block setup (kernels/cuda/flash_relpos.cu), where each integer division
// by a runtime W is a sequence of some 20 instructions. Host and device, so the CPU test
// (tests/core/test_grid_div.c) checks every case it serves.
//
// Exact: with inv_w = 1/W rounded to float, (q + 0.5) / W lies at least 0.5 / W >= 1/128 from an
// integer, while the float product (q + 0.5) inv_w is within about 2^-23 relative of it, under
// 4096 2^-23 = 2^-11 absolute; the truncation then gives the integer below (q + 0.5) / W, which
// is q / W.
#ifndef SAM_GRID_DIV_H
#define SAM_GRID_DIV_H

#ifdef __CUDACC__
#define GRID_DIV_HD __host__ __device__ __forceinline__
#else
#define GRID_DIV_HD static inline
#endif

#define GRID_DIV_MAX_Q 4096  // q < this
#define GRID_DIV_MAX_W 64    // 1 <= W <= this

// q / W for 0 <= q < GRID_DIV_MAX_Q and 1 <= W <= GRID_DIV_MAX_W, inv_w = 1.0f / W.
GRID_DIV_HD int grid_div(int q, float inv_w) { return (int)(((float)q + 0.5f) * inv_w); }

#endif
