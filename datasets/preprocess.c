// Pre-processing on the host, bit-exact with the official pipeline.
#include "datasets/preprocess.h"

#include <math.h>
#include <string.h>

#include "common/check.h"

// ref: transforms.py ResizeLongestSide.get_preprocess_shape
void sam_preprocess_shape(int h, int w, int target, int *new_h, int *new_w) {
    double scale = target * 1.0 / (h > w ? h : w);
    *new_h = (int)(h * scale + 0.5);
    *new_w = (int)(w * scale + 0.5);
}

// ---- PIL's resampling (Pillow src/libImaging/Resample.c), bilinear filter ------------------
// torchvision's resize of a PIL image calls Image.resize(size, BILINEAR): a separable
// convolution whose support widens by the scale when shrinking (the antialiasing), with
// coefficients rounded to 22-bit fixed point and uint8 rounding after each pass.

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

// ref: Resample.c precompute_coeffs + normalize_coeffs_8bpc. Returns ksize; bounds holds
// (first input index, count) per output index, coeffs ksize fixed-point weights each.
static int pil_coeffs(int in_size, int out_size, int **bounds_out, int32_t **coeffs_out) {
    const double filter_support = 1.0;
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = xmalloc((size_t)out_size * 2 * sizeof(int));
    int32_t *kk = xmalloc((size_t)out_size * ksize * sizeof(int32_t));
    double *k = xmalloc((size_t)ksize * sizeof(double));
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        for (x = 0; x < ksize; x++)
            kk[(size_t)xx * ksize + x] = k[x] < 0 ? (int32_t)(-0.5 + k[x] * (1 << PIL_PRECISION_BITS))
                                                  : (int32_t)(0.5 + k[x] * (1 << PIL_PRECISION_BITS));
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *coeffs_out = kk;
    return ksize;
}

static uint8_t pil_clip8(int32_t v) {
    if (v >= (1 << PIL_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

// ref: Resample.c ImagingResampleInner: horizontal pass over the rows the vertical pass uses,
// then the vertical pass; a pass is skipped when its size does not change.
void sam_resize_rgb(const uint8_t *rgb, int h, int w, uint8_t *out, int new_h, int new_w) {
    int *bh, *bv;
    int32_t *kh, *kv;
    int ksh = pil_coeffs(w, new_w, &bh, &kh), ksv = pil_coeffs(h, new_h, &bv, &kv);
    int need_h = new_w != w, need_v = new_h != h;
    int y_first = bv[0], y_last = bv[2 * new_h - 2] + bv[2 * new_h - 1];
    const uint8_t *src = rgb;
    int src_rows_offset = 0;
    uint8_t *tmp = NULL;
    if (need_h) {
        int rows = need_v ? y_last - y_first : h;
        int first = need_v ? y_first : 0;
        uint8_t *dst = need_v ? (tmp = xmalloc((size_t)rows * new_w * 3)) : out;
        for (int y = 0; y < rows; y++)
            for (int xx = 0; xx < new_w; xx++) {
                const int32_t *k = kh + (size_t)xx * ksh;
                int xmin = bh[2 * xx], xmax = bh[2 * xx + 1];
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                const uint8_t *row = rgb + ((size_t)(y + first) * w + xmin) * 3;
                for (int x = 0; x < xmax; x++) {
                    s0 += row[3 * x] * k[x];
                    s1 += row[3 * x + 1] * k[x];
                    s2 += row[3 * x + 2] * k[x];
                }
                uint8_t *o = dst + ((size_t)y * new_w + xx) * 3;
                o[0] = pil_clip8(s0), o[1] = pil_clip8(s1), o[2] = pil_clip8(s2);
            }
        src = dst;
        src_rows_offset = first;
    }
    if (need_v) {
        int sw = need_h ? new_w : w;
        for (int yy = 0; yy < new_h; yy++) {
            const int32_t *k = kv + (size_t)yy * ksv;
            int ymin = bv[2 * yy] - src_rows_offset, ymax = bv[2 * yy + 1];
            for (int xx = 0; xx < sw; xx++) {
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < ymax; y++) {
                    const uint8_t *p = src + ((size_t)(y + ymin) * sw + xx) * 3;
                    s0 += p[0] * k[y];
                    s1 += p[1] * k[y];
                    s2 += p[2] * k[y];
                }
                uint8_t *o = out + ((size_t)yy * sw + xx) * 3;
                o[0] = pil_clip8(s0), o[1] = pil_clip8(s1), o[2] = pil_clip8(s2);
            }
        }
    }
    if (!need_h && !need_v) memcpy(out, rgb, (size_t)h * w * 3);
    free(tmp);
    free(bh), free(bv), free(kh), free(kv);
}

// ref: sam.py Sam.preprocess with pixel_mean / pixel_std of build_sam.py.
void sam_normalize_pad(const uint8_t *rgb, int h, int w, int size, float *out) {
    static const float mean[3] = {123.675f, 116.28f, 103.53f};
    static const float std[3] = {58.395f, 57.12f, 57.375f};
    memset(out, 0, (size_t)3 * size * size * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)c * size + y) * size + x] = ((float)rgb[((size_t)y * w + x) * 3 + c] - mean[c]) / std[c];
}

// ref: transforms.py ResizeLongestSide.apply_coords
void sam_apply_coords(double x, double y, int orig_h, int orig_w, int target, float *out_x,
                      float *out_y) {
    int new_h, new_w;
    sam_preprocess_shape(orig_h, orig_w, target, &new_h, &new_w);
    *out_x = (float)(x * ((double)new_w / orig_w));
    *out_y = (float)(y * ((double)new_h / orig_h));
}

int sam_build_prompt(const double *points, const int *point_labels, int n_points,
                     const double *box, int orig_h, int orig_w, int target, float *coords,
                     int32_t *labels) {
    int k = 0;
    for (int i = 0; i < n_points; i++, k++) {
        sam_apply_coords(points[2 * i], points[2 * i + 1], orig_h, orig_w, target, &coords[2 * k],
                         &coords[2 * k + 1]);
        labels[k] = point_labels[i];
    }
    if (box) {
        for (int corner = 0; corner < 2; corner++, k++) {
            sam_apply_coords(box[2 * corner], box[2 * corner + 1], orig_h, orig_w, target,
                             &coords[2 * k], &coords[2 * k + 1]);
            labels[k] = 2 + corner;
        }
    } else if (n_points > 0) {
        coords[2 * k] = coords[2 * k + 1] = 0.0f;
        labels[k++] = -1;
    }
    return k;
}
