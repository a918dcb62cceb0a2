// Image files to 8-bit RGB, as the seed reads them (skimage.io.imread -> Pillow, then
// color.gray2rgb for grayscale), and masks to PNG.
// ref: segment-anything-fast experiments/data.py build_datapoint (io.imread, gray2rgb)
#ifndef SAM_DATA_IMAGE_H
#define SAM_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

// Reads a JPEG (TurboJPEG), PNG (libpng) or HxWx3 / HxW uint8 .npy file, chosen by the
// file's first bytes, never by its name. On success *rgb is a malloc'ed (h, w, 3) uint8
// buffer that the caller frees, and 0 is returned. On failure returns -1, leaves *rgb NULL
// and writes one line naming the file and the problem into err (corrupt, truncated,
// unsupported kind, too large).
// Conversions, all as Pillow's convert("RGB"): grayscale is replicated into R, G and B;
// PNG palettes are expanded; alpha (and tRNS transparency) is dropped, not composited;
// 16-bit colour PNG samples keep their high byte and 16-bit gray ones are clipped to 255
// (Pillow's "RGB;16B" and "I;16" paths); CMYK and YCCK JPEGs are read as Adobe-inverted CMYK
// and converted with Pillow's cmyk2rgb.
int image_load_rgb(const char *path, uint8_t **rgb, int *h, int *w, char *err, size_t err_len);

// Same, from a buffer in memory (name is used in messages only).
int image_decode_rgb(const char *name, const uint8_t *data, size_t size, uint8_t **rgb, int *h,
                     int *w, char *err, size_t err_len);

// Reads only the header of a JPEG or PNG file: its size, without decoding the pixels.
// Returns 0 or -1 with a message in err.
int image_probe_size(const char *path, int *h, int *w, char *err, size_t err_len);

// Writes a (h, w) uint8 mask as an 8-bit grayscale PNG, nonzero -> 255. Returns 0 or -1 with
// errno set (the caller names the file).
int image_write_png_gray(const char *path, const uint8_t *mask, int h, int w);

// Writes (h, w, 3) RGB as a JPEG of the given quality (1..100), 4:2:0 subsampling, as
// Pillow's default save. Returns 0 or -1 with a message in err.
int image_write_jpeg(const char *path, const uint8_t *rgb, int h, int w, int quality, char *err,
                     size_t err_len);

// Writes (h, w) 8-bit luminance as a grayscale JPEG (one component, as COCO's gray images).
int image_write_jpeg_gray(const char *path, const uint8_t *gray, int h, int w, int quality,
                          char *err, size_t err_len);

// Largest side accepted when decoding (a bigger header is refused, not allocated).
#define IMAGE_MAX_SIDE 32768

#endif
