// Centre-point prompts, exactly as segment-anything-fast's experiments/data.py
// _get_center_point (design.md section 4), and their per-annotation cache.
#ifndef SAM_DATA_POINTS_H
#define SAM_DATA_POINTS_H

#include <stddef.h>
#include <stdint.h>

// ref: scipy.ndimage.center_of_mass on a 0/1 mask: (sum of row indices) / count and
// (sum of column indices) / count in double. Both NaN for an empty mask.
void centre_of_mass(const uint8_t *mask, int h, int w, double *cy, double *cx);

// ref: data.py _get_center_point. The centre of mass with each coordinate rounded half to
// even (Python round); if that pixel is outside the mask, the row-major scan for the pixel
// whose smallest run of mask pixels up, right, down and left is largest (first wins ties;
// within a row the scan stops once the best is >= 20, and every later row still examines
// its first mask pixel). Writes (x, y). Returns 0, or -1 for an empty mask (the seed fails
// there: NaN centre of mass).
int centre_point(const uint8_t *mask, int h, int w, int *x, int *y);

// Bump when the rule above changes: cached points of another version are ignored.
#define POINT_RULE_VERSION 1
#define POINT_RULE_TAG "com-round-half-even+4dir-min-max-early-exit-20"

// 64-bit hash of a mask's content and size, stored with each cached point so that an
// annotation edited under the same id is recomputed.
uint64_t mask_hash(const uint8_t *mask, int h, int w);

// Cache of centre points per annotation id, one text file per slice:
// <dir>/centre-points-<slice>.v<POINT_RULE_VERSION>.txt, first line a header with the version
// and rule tag, then "ann_id x y hash" lines. Thread-safe. A missing or unreadable file gives
// an empty cache; a file of another version is ignored and replaced on save.
typedef struct PointCache PointCache;

PointCache *point_cache_open(const char *dir, const char *slice);
// Returns 1 and (x, y) when ann_id is cached with this mask hash, else 0.
int point_cache_get(PointCache *pc, int64_t ann_id, uint64_t hash, int *x, int *y);
void point_cache_put(PointCache *pc, int64_t ann_id, uint64_t hash, int x, int y);
// Writes the cache if anything was added (temporary file + rename, so concurrent writers
// never leave a torn file). Returns 0, or -1 with one error line in err.
int point_cache_save(PointCache *pc, char *err, size_t err_len);
// The cache file's path (for messages).
const char *point_cache_path(const PointCache *pc);
void point_cache_close(PointCache *pc);

#endif
