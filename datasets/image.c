// Image decoding (JPEG, PNG, .npy) to 8-bit RGB and mask/JPEG writing.
// See image.h for the conversions; each follows Pillow, which the seed reads images with.
#include "datasets/image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "common/check.h"
#include "common/npy.h"
#include "common/readfile.h"

// Files larger than this are refused before reading (a COCO JPEG is well under 1 MiB).
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)
// Largest pixel count accepted (h * w), so a forged header cannot ask for gigabytes.
#define IMAGE_MAX_PIXELS ((size_t)1 << 28)

static int fail(char *err, size_t err_len, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t err_len, const char *name, const char *fmt, ...) {
    if (err && err_len) {
        int n = snprintf(err, err_len, "%s: ", name);
        if (n < 0) n = 0;
        if ((size_t)n < err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int size_ok(int h, int w) {
    return h > 0 && w > 0 && h <= IMAGE_MAX_SIDE && w <= IMAGE_MAX_SIDE &&
           (size_t)h * (size_t)w <= IMAGE_MAX_PIXELS;
}

typedef enum { KIND_UNKNOWN, KIND_JPEG, KIND_PNG, KIND_NPY } ImageKind;

static ImageKind sniff(const uint8_t *d, size_t n) {
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return KIND_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return KIND_PNG;
    if (n >= 6 && memcmp(d, "\x93NUMPY", 6) == 0) return KIND_NPY;
    return KIND_UNKNOWN;
}

// ---- JPEG (TurboJPEG 2.1 API: tjDecompressHeader3 / tjDecompress2) ----------------------

static const char *colorspace_name(int cs) {
    switch (cs) {
    case TJCS_RGB: return "RGB";
    case TJCS_YCbCr: return "YCbCr";
    case TJCS_GRAY: return "grayscale";
    case TJCS_CMYK: return "CMYK";
    case TJCS_YCCK: return "YCCK";
    default: return "unknown colour space";
    }
}

// ref: Pillow Convert.c cmyk2rgb, after JpegImagePlugin's "CMYK;I" raw mode (Adobe JPEGs
// store inverted CMYK, and Pillow assumes Adobe conventions for every CMYK JPEG).
static void cmyk_inverted_to_rgb(const uint8_t *cmyk, size_t n, uint8_t *rgb) {
    for (size_t i = 0; i < n; i++) {
        int c = 255 - cmyk[4 * i + 0], m = 255 - cmyk[4 * i + 1], y = 255 - cmyk[4 * i + 2];
        int nk = cmyk[4 * i + 3];  // 255 - k, with k itself inverted
        int v[3] = {c, m, y};
        for (int ch = 0; ch < 3; ch++) {
            int t = v[ch] * nk + 128;
            int r = nk - (((t >> 8) + t) >> 8);  // MULDIV255
            rgb[3 * i + ch] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

static int decode_jpeg(const char *name, const uint8_t *data, size_t size, uint8_t **rgb, int *h,
                       int *w, char *err, size_t err_len) {
    if (size > (size_t)0xFFFFFFFFu) return fail(err, err_len, name, "JPEG file too large");
    tjhandle tj = tjInitDecompress();
    if (!tj) return fail(err, err_len, name, "TurboJPEG init failed: %s", tjGetErrorStr2(NULL));
    int width = 0, height = 0, subsamp = -1, cs = -1;
    // Only for the wording of errors: a file cut short has no end-of-image marker.
    int ends = size >= 2 && data[size - 2] == 0xFF && data[size - 1] == 0xD9;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsamp, &cs) != 0) {
        int r = fail(err, err_len, name, "%s: %s",
                     ends ? "corrupt JPEG header" : "truncated JPEG (no end-of-image marker)",
                     tjGetErrorStr2(tj));
        tjDestroy(tj);
        return r;
    }
    // A file cut before its frame header can "succeed" without setting the size.
    if (width <= 0 || height <= 0 || cs < 0) {
        tjDestroy(tj);
        return fail(err, err_len, name, "truncated JPEG: no frame header");
    }
    if (!size_ok(height, width)) {
        tjDestroy(tj);
        return fail(err, err_len, name, "JPEG size %dx%d out of range (max side %d)", width,
                    height, IMAGE_MAX_SIDE);
    }
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    if (!cmyk && cs != TJCS_RGB && cs != TJCS_YCbCr && cs != TJCS_GRAY) {
        tjDestroy(tj);
        return fail(err, err_len, name, "unsupported JPEG colour space (%s)", colorspace_name(cs));
    }
    size_t npix = (size_t)width * (size_t)height;
    uint8_t *out = xmalloc(npix * (cmyk ? 4 : 3));
    // Flags 0: accurate integer DCT and fancy upsampling, libjpeg's defaults, as Pillow uses.
    int rc = tjDecompress2(tj, data, (unsigned long)size, out, width, 0, height,
                           cmyk ? TJPF_CMYK : TJPF_RGB, 0);
    if (rc != 0) {
        // A warning still yields an image. Pillow accepts every libjpeg warning except a
        // premature end of data, which it reports as a truncated file; do the same.
        const char *msg = tjGetErrorStr2(tj);
        int fatal = tjGetErrorCode(tj) == TJERR_FATAL || strstr(msg, "Premature end") != NULL;
        if (fatal) {
            int r = fail(err, err_len, name, "%s JPEG: %s",
                         strstr(msg, "Premature end") ? "truncated" : "corrupt", msg);
            free(out);
            tjDestroy(tj);
            return r;
        }
    }
    tjDestroy(tj);
    if (cmyk) {
        uint8_t *conv = xmalloc(npix * 3);
        cmyk_inverted_to_rgb(out, npix, conv);
        free(out);
        out = conv;
    }
    *rgb = out;
    *h = height;
    *w = width;
    return 0;
}

// ---- PNG (libpng, classic API from memory) --------------------------------------------------

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    char msg[200];
} PngSrc;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    PngSrc *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) {
        snprintf(s->msg, sizeof s->msg, "truncated PNG (data ends at byte %zu)", s->size);
        png_longjmp(png, 1);
    }
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    PngSrc *s = png_get_error_ptr(png);
    if (s && !s->msg[0]) snprintf(s->msg, sizeof s->msg, "corrupt PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static int decode_png(const char *name, const uint8_t *data, size_t size, uint8_t **rgb, int *h,
                      int *w, char *err, size_t err_len) {
    PngSrc src = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error,
                                             png_on_warning);
    if (!png) return fail(err, err_len, name, "libpng init failed");
    png_infop info = png_create_info_struct(png);
    // Volatile: assigned between setjmp and a possible longjmp, read after it.
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(out);
        free(rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return fail(err, err_len, name, "%s", src.msg[0] ? src.msg : "corrupt PNG");
    }
    png_set_read_fn(png, &src, png_read_mem);
    png_read_info(png, info);
    png_uint_32 pw, ph;
    int depth, color, interlace;
    png_get_IHDR(png, info, &pw, &ph, &depth, &color, &interlace, NULL, NULL);
    if (pw > IMAGE_MAX_SIDE || ph > IMAGE_MAX_SIDE || !size_ok((int)ph, (int)pw)) {
        snprintf(src.msg, sizeof src.msg, "PNG size %ux%u out of range (max side %d)", pw, ph,
                 IMAGE_MAX_SIDE);
        png_longjmp(png, 1);
    }
    // To 8-bit RGB as Pillow's convert("RGB"): palette expanded, transparency ignored (the
    // palette expansion turns tRNS into alpha, stripped again), alpha stripped rather than
    // composited, 16-bit colour -> high byte (Pillow's "RGB;16B"), 16-bit gray -> clipped to
    // 255 (Pillow opens it as "I;16" and converts through "I" with clipping).
    int gray16 = depth == 16 && !(color & PNG_COLOR_MASK_COLOR);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (!gray16 && (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA))
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (gray16) {
        if (png_get_rowbytes(png, info) != (size_t)pw * 2) {
            snprintf(src.msg, sizeof src.msg, "16-bit grayscale PNG did not read as one channel");
            png_longjmp(png, 1);
        }
        uint8_t *raw = xmalloc((size_t)pw * ph * 2);
        rows = xmalloc(sizeof(png_bytep) * ph);
        for (png_uint_32 y = 0; y < ph; y++) rows[y] = raw + (size_t)y * pw * 2;
        out = raw;  // freed on a longjmp
        png_read_image(png, rows);
        png_read_end(png, NULL);
        uint8_t *rgb8 = xmalloc((size_t)pw * ph * 3);
        for (size_t i = 0; i < (size_t)pw * ph; i++) {
            unsigned v = (unsigned)raw[2 * i] << 8 | raw[2 * i + 1];  // PNG is big-endian
            rgb8[3 * i] = rgb8[3 * i + 1] = rgb8[3 * i + 2] = (uint8_t)(v > 255 ? 255 : v);
        }
        free(raw);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        *rgb = rgb8;
        *h = (int)ph;
        *w = (int)pw;
        return 0;
    }
    if (png_get_rowbytes(png, info) != (size_t)pw * 3) {
        snprintf(src.msg, sizeof src.msg, "PNG did not convert to 8-bit RGB (colour type %d, "
                 "depth %d)", color, depth);
        png_longjmp(png, 1);
    }
    out = xmalloc((size_t)pw * ph * 3);
    rows = xmalloc(sizeof(png_bytep) * ph);
    for (png_uint_32 y = 0; y < ph; y++) rows[y] = out + (size_t)y * pw * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *rgb = out;
    *h = (int)ph;
    *w = (int)pw;
    return 0;
}

// ---- .npy (HxWx3, HxWx4 or HxW uint8) -------------------------------------------------------

static int load_npy(const char *path, uint8_t **rgb, int *h, int *w, char *err, size_t err_len) {
    Npy a;
    if (npy_read(path, &a, err, err_len) != 0) return -1;
    int ok = strcmp(a.dtype, "|u1") == 0 &&
             (a.ndim == 2 || (a.ndim == 3 && (a.shape[2] == 3 || a.shape[2] == 4))) &&
             a.shape[0] <= IMAGE_MAX_SIDE && a.shape[1] <= IMAGE_MAX_SIDE &&
             size_ok((int)a.shape[0], (int)a.shape[1]);
    if (!ok) {
        int r = fail(err, err_len, path, "want a uint8 .npy image of shape (H, W, 3), (H, W, 4) "
                     "or (H, W), got dtype %s with %d dimensions", a.dtype, a.ndim);
        npy_free(&a);
        return r;
    }
    size_t npix = (size_t)a.shape[0] * (size_t)a.shape[1];
    int ch = a.ndim == 2 ? 1 : (int)a.shape[2];
    uint8_t *out = xmalloc(npix * 3);
    const uint8_t *in = a.data;
    for (size_t i = 0; i < npix; i++)
        for (int c = 0; c < 3; c++) out[3 * i + c] = in[i * ch + (ch == 1 ? 0 : c)];
    *h = (int)a.shape[0];
    *w = (int)a.shape[1];
    *rgb = out;
    npy_free(&a);
    return 0;
}

// ---- entry points ---------------------------------------------------------------------------

int image_decode_rgb(const char *name, const uint8_t *data, size_t size, uint8_t **rgb, int *h,
                     int *w, char *err, size_t err_len) {
    *rgb = NULL;
    *h = *w = 0;
    switch (sniff(data, size)) {
    case KIND_JPEG: return decode_jpeg(name, data, size, rgb, h, w, err, err_len);
    case KIND_PNG: return decode_png(name, data, size, rgb, h, w, err, err_len);
    case KIND_NPY: return fail(err, err_len, name, ".npy images are read from a path only");
    default:
        return fail(err, err_len, name, size == 0 ? "empty file" :
                    "not a JPEG, PNG or .npy file (unrecognised first bytes)");
    }
}

int image_load_rgb(const char *path, uint8_t **rgb, int *h, int *w, char *err, size_t err_len) {
    *rgb = NULL;
    *h = *w = 0;
    uint8_t *data;
    size_t size;
    if (!(data = (uint8_t *)read_whole_file(path, IMAGE_MAX_FILE_BYTES, &size, NULL, err, err_len))) return -1;
    int r;
    if (sniff(data, size) == KIND_NPY) r = load_npy(path, rgb, h, w, err, err_len);
    else r = image_decode_rgb(path, data, size, rgb, h, w, err, err_len);
    free(data);
    return r;
}

int image_probe_size(const char *path, int *h, int *w, char *err, size_t err_len) {
    *h = *w = 0;
    uint8_t *data;
    size_t size;
    if (!(data = (uint8_t *)read_whole_file(path, IMAGE_MAX_FILE_BYTES, &size, NULL, err, err_len))) return -1;
    int r = 0;
    switch (sniff(data, size)) {
    case KIND_JPEG: {
        tjhandle tj = tjInitDecompress();
        int sub = -1, cs = -1;
        if (!tj) r = fail(err, err_len, path, "TurboJPEG init failed");
        else if (tjDecompressHeader3(tj, data, (unsigned long)size, w, h, &sub, &cs) != 0)
            r = fail(err, err_len, path, "%s: %s",
                     size >= 2 && data[size - 2] == 0xFF && data[size - 1] == 0xD9
                         ? "corrupt JPEG header"
                         : "truncated JPEG (no end-of-image marker)",
                     tjGetErrorStr2(tj));
        else if (*w <= 0 || *h <= 0 || cs < 0)
            r = fail(err, err_len, path, "truncated JPEG: no frame header");
        if (tj) tjDestroy(tj);
        break;
    }
    case KIND_PNG:
        // IHDR is the first chunk: length(4) "IHDR"(4) width(4) height(4), big-endian.
        if (size < 24 || memcmp(data + 12, "IHDR", 4) != 0) {
            r = fail(err, err_len, path, "corrupt PNG header");
        } else {
            uint32_t pw = (uint32_t)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
            uint32_t ph = (uint32_t)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
            if (pw > IMAGE_MAX_SIDE || ph > IMAGE_MAX_SIDE)
                r = fail(err, err_len, path, "PNG size out of range");
            *w = (int)pw;
            *h = (int)ph;
        }
        break;
    default: {
        free(data);
        uint8_t *rgb;
        return image_load_rgb(path, &rgb, h, w, err, err_len) == 0 ? (free(rgb), 0) : -1;
    }
    }
    free(data);
    if (r == 0 && !size_ok(*h, *w))
        r = fail(err, err_len, path, "image size %dx%d out of range", *w, *h);
    return r;
}

int image_write_png_gray(const char *path, const uint8_t *mask, int h, int w) {
    if (h <= 0 || w <= 0) {
        errno = EINVAL;
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile row = NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        free(row);
        png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(f);
        errno = EIO;
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    row = xmalloc((size_t)w);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) row[x] = mask[(size_t)y * w + x] ? 255 : 0;
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    free(row);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_jpeg(const char *path, const uint8_t *px, int h, int w, int gray, int quality,
                      char *err, size_t err_len);

int image_write_jpeg(const char *path, const uint8_t *rgb, int h, int w, int quality, char *err,
                     size_t err_len) {
    return write_jpeg(path, rgb, h, w, 0, quality, err, err_len);
}

int image_write_jpeg_gray(const char *path, const uint8_t *gray, int h, int w, int quality,
                          char *err, size_t err_len) {
    return write_jpeg(path, gray, h, w, 1, quality, err, err_len);
}

static int write_jpeg(const char *path, const uint8_t *rgb, int h, int w, int gray, int quality,
                      char *err, size_t err_len) {
    if (!size_ok(h, w) || quality < 1 || quality > 100)
        return fail(err, err_len, path, "bad JPEG parameters (%dx%d, quality %d)", w, h, quality);
    tjhandle tj = tjInitCompress();
    if (!tj) return fail(err, err_len, path, "TurboJPEG init failed");
    unsigned char *jpeg = NULL;
    unsigned long jpeg_size = 0;
    if (tjCompress2(tj, rgb, w, 0, h, gray ? TJPF_GRAY : TJPF_RGB, &jpeg, &jpeg_size,
                    gray ? TJSAMP_GRAY : TJSAMP_420, quality, 0) != 0) {
        int r = fail(err, err_len, path, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return r;
    }
    tjDestroy(tj);
    FILE *f = fopen(path, "wb");
    int r = 0;
    if (!f) {
        r = fail(err, err_len, path, "cannot create: %s", strerror(errno));
    } else {
        int ok = fwrite(jpeg, 1, jpeg_size, f) == jpeg_size;
        if (fclose(f) != 0) ok = 0;
        if (!ok) r = fail(err, err_len, path, "write failed: %s", strerror(errno));
    }
    tjFree(jpeg);
    return r;
}
