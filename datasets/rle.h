// Run-length encoded binary masks, bit-identical to pycocotools (common/maskApi.c).
// Runs are column-major (down the first column, then the next), alternating background and
// foreground, starting with background (a mask whose first pixel is set starts with a 0 run).
// The masks this module reads and writes are row-major (h, w) uint8, as annToMask returns.
#ifndef SAM_DATA_RLE_H
#define SAM_DATA_RLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h, w;   // mask size
    size_t m;        // number of runs
    uint32_t *cnts;  // (m,) run lengths; NULL when m == 0
} Rle;

// Limits accepted from files: larger sizes are refused, not allocated.
#define RLE_MAX_SIDE 32768u
#define RLE_MAX_PIXELS ((uint64_t)1 << 28)

void rle_free(Rle *r);
// Copies cnts (m values) into a new RLE.
void rle_init(Rle *r, uint32_t h, uint32_t w, size_t m, const uint32_t *cnts);

// ref: maskApi.c rleEncode. mask is row-major (h, w), nonzero = foreground.
void rle_encode(Rle *r, const uint8_t *mask, uint32_t h, uint32_t w);

// ref: maskApi.c rleDecode. Writes the row-major (h, w) 0/1 mask. Returns 0, or -1 when the
// runs overrun h * w (pycocotools: "Invalid RLE mask representation"). Runs that stop short
// of h * w leave the rest 0 (pycocotools leaves it uninitialised).
int rle_decode(const Rle *r, uint8_t *mask);

// Sum of the run lengths (to check against h * w).
uint64_t rle_total(const Rle *r);

// ref: maskApi.c rleMerge. Union (intersect 0) or intersection (1) of n RLEs of one size.
// n == 0 gives an empty 0x0 RLE; RLEs of different sizes give an empty 0x0 RLE, as pycocotools.
void rle_merge(const Rle *rs, size_t n, Rle *out, int intersect);

// ref: maskApi.c rleArea.
uint64_t rle_area(const Rle *r);

// ref: maskApi.c rleToBbox. bb = x, y, w, h.
void rle_to_bbox(const Rle *r, double bb[4]);

// ref: maskApi.c rleIou for one pair (dt, gt): intersection / union, or intersection / area(dt)
// when gt is a crowd region, 0 when they do not overlap, -1 when the sizes differ. Like
// pycocotools, boxes are checked first: disjoint boxes give 0.
double rle_iou(const Rle *dt, const Rle *gt, int gt_iscrowd);

// ref: maskApi.c rleFrPoly. Rasterises one polygon of k points (xy = x0, y0, x1, y1, ...)
// into an h x w RLE exactly as pycocotools (5x upsampled edge walk, pixel-centre sampling).
// Returns 0, or -1 when a coordinate is not finite or beyond +-RLE_MAX_COORD (the integer
// arithmetic's range), when the edge walk would exceed 2^24 points, or when k < 1.
#define RLE_MAX_COORD 1.0e6
int rle_from_poly(Rle *r, const double *xy, size_t k, uint32_t h, uint32_t w);

// ref: maskApi.c rleFrBbox.
int rle_from_bbox(Rle *r, const double bb[4], uint32_t h, uint32_t w);

// ref: maskApi.c rleToString. COCO's compressed counts: LEB128-like, 6 bits per character
// (ASCII 48..111), each count after the second stored as the difference to the one two back.
// Returns a malloc'ed NUL-terminated string.
char *rle_to_string(const Rle *r);

// ref: maskApi.c rleFrString. Returns 0, or -1 for a string pycocotools would misread:
// a character outside 48..111, a number longer than 6 characters (pycocotools' int shifts
// are exact up to 30 bits; every count of a mask within RLE_MAX_PIXELS fits), a value outside
// 0..2^32-1, or a string that ends inside a number.
int rle_from_string(Rle *r, const char *s, uint32_t h, uint32_t w);

#endif
