// COCO instances annotation files (instances_<slice>.json): images, annotations (polygons,
// uncompressed and compressed RLE), categories and supercategories; masks as pycocotools'
// COCO.annToMask; image selection as segment-anything-fast's eval_combo.py.
// ref: pycocotools/coco.py COCO.createIndex, getImgIds, getAnnIds, annToRLE, annToMask
#ifndef SAM_DATA_COCO_H
#define SAM_DATA_COCO_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/rle.h"

typedef enum {
    COCO_SEG_POLYGONS = 0,  // list of polygons, each x0,y0,x1,y1,... (>= 3 points)
    COCO_SEG_RLE = 1,       // {"counts": [ints], "size": [h, w]} (iscrowd 1)
    COCO_SEG_RLE_STRING = 2 // {"counts": "compressed", "size": [h, w]}
} CocoSegKind;

typedef struct {
    int64_t id;
    int width, height;
    char *file_name;
    int ann_first, ann_count;  // this image's annotations: ds->image_anns[ann_first ...]
} CocoImage;

typedef struct {
    int64_t id;
    char *name;
    char *supercategory;
    int super_index;           // into ds->supercategories
} CocoCategory;

typedef struct {
    int64_t id, image_id, category_id;
    int image_index;           // into ds->images
    int category_index;        // into ds->categories
    int iscrowd;
    double area;               // as given in the file (0 when absent)
    CocoSegKind kind;
    int n_parts;               // polygons: number of parts
    size_t first;              // polygons: first part in ds->parts; RLE: first count in
                               // ds->counts; RLE string: offset of the string in ds->chars
    size_t len;                // RLE: number of counts; RLE string: string length
} CocoAnnotation;

typedef struct CocoDataset {
    char *path;                // the annotation file (for messages)
    int n_images, n_anns, n_categories, n_supercategories;
    CocoImage *images;         // file order
    CocoAnnotation *anns;      // file order
    CocoCategory *categories;  // file order
    char **supercategories;    // order of first appearance
    int *image_anns;           // annotation indices grouped by image, file order within each
    double *coords;            // polygon coordinates of every part
    size_t *parts;             // (start, count) pairs into coords
    uint32_t *counts;          // uncompressed RLE counts
    char *chars;               // compressed RLE strings, NUL-terminated
    struct CocoIndex *index;   // id -> index hash tables
} CocoDataset;

// Reads and indexes an annotation file. Returns NULL with one error line in err naming the
// file and, where it applies, the image / annotation / category id and the problem.
// Checks every image (positive sizes within RLE_MAX_SIDE, a plain file name), every
// annotation (known image and category, polygons of >= 6 coordinates, an even count, finite
// values within four image sizes (+1000 pixels) of the image; RLE size equal to the image's and counts
// covering exactly height * width pixels) and refuses duplicate ids.
CocoDataset *coco_load(const char *json_path, char *err, size_t err_len);
// Same from text in memory; name is used in messages.
CocoDataset *coco_parse(const char *name, const char *text, size_t len, char *err,
                        size_t err_len);
void coco_free(CocoDataset *ds);

// id -> index, or -1.
int coco_image_index(const CocoDataset *ds, int64_t id);
int coco_ann_index(const CocoDataset *ds, int64_t id);
int coco_category_index(const CocoDataset *ds, int64_t id);
int coco_category_by_name(const CocoDataset *ds, const char *name);

// ref: coco.py annToRLE. Polygons: each part rasterised (rleFrPoly) and merged (union);
// RLEs as stored. Returns 0 or -1 with an error naming the file and annotation id.
int coco_ann_to_rle(const CocoDataset *ds, int ann_index, Rle *out, char *err, size_t err_len);
// ref: coco.py annToMask. mask is row-major (height, width) of the annotation's image, 0/1.
int coco_ann_to_mask(const CocoDataset *ds, int ann_index, uint8_t *mask, char *err,
                     size_t err_len);

// The images an evaluation runs over, as the seed (eval_combo.py run + setup_coco_img_ids):
// with no category filter, every image in file order; with category names, images that hold
// an annotation of every named category (pycocotools getImgIds(catIds) intersects), in file
// order (the seed's order there is Python set order); image_id > 0 selects that image only.
// Then images without an annotation of the selected categories are dropped (crowd included),
// and the first `limit` kept (0 = all). Each image's prompts are its annotations of the
// selected categories, in file order (getAnnIds).
typedef struct {
    int n_images;
    int *images;      // (n_images,) image indices
    int *ann_offset;  // (n_images + 1,) into anns
    int *anns;        // annotation indices
    int n_anns;
} CocoSelection;

int coco_select(const CocoDataset *ds, const char *category_names, int64_t image_id, int limit,
                CocoSelection *sel, char *err, size_t err_len);
void coco_selection_free(CocoSelection *sel);

#endif
