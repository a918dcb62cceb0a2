// Element-wise adds and data movement on the CPU: broadcasting add, strided copies, im2col,
// window partition, and the ConvTranspose2d(2, 2) scatter.
#include <string.h>

#include "cpu_ops.h"

void cpu_add(Exec *x, void *y_, const void *a_, const void *b_, int64_t n, int64_t ap, int64_t bp) {
    float *y = y_;
    const float *a = a_, *b = b_;
    for (int64_t i = 0; i < n; i++) y[i] = a[i % ap] + b[i % bp];
}

void cpu_activation(Exec *x, void *y_, int64_t n, Act act) {
    float *y = y_;
    for (int64_t i = 0; i < n; i++) y[i] = cpu_act(y[i], act);
}

// The per-image block of each prompt, read through the prompt's image index, plus b.
void cpu_gather_add(Exec *x, void *y_, const void *a_, const int32_t *index, const void *b_,
                    int64_t n, int64_t block, int64_t bp) {
    float *y = y_;
    const float *a = a_, *b = b_;
    for (int64_t p = 0; p < n; p++) {
        const float *src = a + (int64_t)index[p] * block;
        float *dst = y + p * block;
        for (int64_t i = 0; i < block; i++) dst[i] = src[i] + b[(p * block + i) % bp];
    }
}

void cpu_copy3d(Exec *x, void *dst_, const void *src_, int64_t batch, int64_t rows, int64_t cols,
                int64_t dbs, int64_t drs, int64_t sbs, int64_t srs) {
    float *dst = dst_;
    const float *src = src_;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < rows; r++)
            memmove(dst + b * dbs + r * drs, src + b * sbs + r * srs, (size_t)cols * sizeof(float));
}

// ref: torch.nn.Conv2d as a GEMM: rows (n, oy, ox), columns (c, ky, kx).
void cpu_im2col(Exec *x, void *dst_, const void *src_, int src_f32, int src_nchw, int n, int h,
                int w, int c, int k, int stride, int pad) {
    (void)src_f32;  // float32 is the CPU's activation dtype too
    float *dst = dst_;
    const float *src = src_;
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int64_t cols = (int64_t)c * k * k;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *row = dst + (((int64_t)b * oh + oy) * ow + ox) * cols;
                for (int ci = 0; ci < c; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            float v = 0.0f;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                v = src_nchw ? src[(((int64_t)b * c + ci) * h + iy) * w + ix]
                                             : src[(((int64_t)b * h + iy) * w + ix) * c + ci];
                            row[(ci * k + ky) * k + kx] = v;
                        }
            }
}

// ref: image_encoder.py window_partition (F.pad with zeros, then view/permute).
void cpu_window_partition(Exec *x, void *dst_, const void *src_, int b, int h, int w, int c,
                          int win) {
    float *dst = dst_;
    const float *src = src_;
    int hp = (h + win - 1) / win * win, wp = (w + win - 1) / win * win;
    int nwh = hp / win, nww = wp / win;
    for (int bi = 0; bi < b; bi++)
        for (int wy = 0; wy < nwh; wy++)
            for (int wx = 0; wx < nww; wx++)
                for (int ty = 0; ty < win; ty++)
                    for (int tx = 0; tx < win; tx++) {
                        int y = wy * win + ty, xx = wx * win + tx;
                        float *d = dst + ((((int64_t)bi * nwh + wy) * nww + wx) * win * win +
                                          ty * win + tx) * c;
                        if (y < h && xx < w)
                            memcpy(d, src + (((int64_t)bi * h + y) * w + xx) * c, (size_t)c * 4);
                        else
                            memset(d, 0, (size_t)c * 4);
                    }
}

// ref: image_encoder.py window_unpartition (the padding is dropped).
void cpu_window_unpartition(Exec *x, void *dst_, const void *src_, int b, int h, int w, int c,
                            int win) {
    float *dst = dst_;
    const float *src = src_;
    int hp = (h + win - 1) / win * win, wp = (w + win - 1) / win * win;
    int nwh = hp / win, nww = wp / win;
    for (int bi = 0; bi < b; bi++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                int wy = y / win, wx = xx / win, ty = y % win, tx = xx % win;
                memcpy(dst + (((int64_t)bi * h + y) * w + xx) * c,
                       src + ((((int64_t)bi * nwh + wy) * nww + wx) * win * win + ty * win + tx) * c,
                       (size_t)c * 4);
            }
}

// The decoder's masks from the upscaling's sub-pixel order into image order (kernels/ops.h
// select_masks).
void cpu_select_masks(Exec *x, float *dst, const void *src_, int n, int m, int first, int count, int g) {
    (void)x;
    const float *src = src_;
    int L = 4 * g;
    for (int64_t p = 0; p < n; p++)
        for (int c = 0; c < count; c++) {
            const float *s = src + (p * m + first + c) * (int64_t)L * L;
            float *d = dst + (p * count + c) * (int64_t)L * L;
            for (int oy = 0; oy < L; oy++)
                for (int ox = 0; ox < L; ox++) {
                    int s1 = ((oy >> 1) & 1) * 2 + ((ox >> 1) & 1), s2 = (oy & 1) * 2 + (ox & 1);
                    d[(int64_t)oy * L + ox] = s[(((int64_t)(oy >> 2) * g + (ox >> 2)) * 4 + s1) * 4 + s2];
                }
        }
}
