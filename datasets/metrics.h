// Accuracy measures, as segment-anything-fast's experiments/metrics.py.
// ref: metrics.py create_result_entry (_iou of the top-scored mask) and calculate_miou
//      (mean over all annotations; pivot tables per category and per supercategory).
#ifndef SAM_DATA_METRICS_H
#define SAM_DATA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/rle.h"

struct CocoDataset;

// ref: metrics.py _iou: logical_and(a, b).sum() / logical_or(a, b).sum(), integer counts
// divided in float32 (torch's true division of int64 tensors). NaN when the union is empty
// (0 / 0), which pandas' mean then skips. Masks are n bytes, nonzero = set.
float mask_iou(const uint8_t *a, const uint8_t *b, size_t n);
void mask_inter_union(const uint8_t *a, const uint8_t *b, size_t n, uint64_t *inter,
                      uint64_t *uni);

// The same IoU on two RLEs of one size, without decoding (NaN when both are empty; -1 when
// the sizes differ). Unlike pycocotools' rleIou, no crowd rule and no box shortcut.
float rle_iou_plain(const Rle *a, const Rle *b);

// Agreement between two stages' top masks of one annotation: IoU as above, except that two
// empty masks agree (1), since neither stage found anything.
float mask_agreement(const uint8_t *a, const uint8_t *b, size_t n);

// The same agreement on two compressed COCO RLE strings of an (h, w) mask (the harness's
// stored top masks), without decoding to pixels. -1 when a string is malformed or its runs do
// not cover h * w.
double rle_string_agreement(const char *a, const char *b, uint32_t h, uint32_t w);

// Per-annotation results (metrics.py's DataFrame rows: img_id, ann_id, cat_id, iou).
typedef struct {
    int64_t image_id, ann_id, category_id;
    float iou;
} MiouRow;

typedef struct {
    MiouRow *rows;
    size_t n, cap;
} MiouTable;

void miou_init(MiouTable *t);
void miou_add(MiouTable *t, int64_t image_id, int64_t ann_id, int64_t category_id, float iou);
void miou_free(MiouTable *t);

typedef struct {
    double mean;  // NaN when count == 0
    long count;   // rows with a defined IoU (pandas' count skips NaN)
} MeanCount;

typedef struct {
    int64_t category_id;
    const char *name, *supercategory;  // owned by the dataset
    MeanCount mc;
} CategoryMiou;

typedef struct {
    const char *supercategory;  // owned by the dataset
    MeanCount mc;
} SupercategoryMiou;

typedef struct {
    MeanCount all;                 // the seed's mIoU
    long rows, undefined;          // rows added, rows with NaN IoU
    int n_categories;              // categories with at least one row, by id (pivot order)
    CategoryMiou *categories;
    int n_supercategories;         // by name (pivot order)
    SupercategoryMiou *supercategories;
} MiouSummary;

// ref: calculate_miou. Means are NumPy's pairwise float64 sums (NaN rows as 0) divided by
// the count, as pandas computes them without bottleneck. Category ids unknown to ds are
// reported with name "?" . Returns 0.
int miou_summarise(const MiouTable *t, const struct CocoDataset *ds, MiouSummary *s);
void miou_summary_free(MiouSummary *s);

// Mean of the defined values (NaN skipped), NumPy pairwise summation; NaN when none.
MeanCount mean_skip_nan(const float *v, size_t n);

// Writes the rows as metrics.py's df.csv (index,img_id,ann_id,cat_id,iou). 0 or -1 (errno).
int miou_write_csv(const MiouTable *t, const char *path);

#endif
