// Batches for the model, built ahead of use on worker threads: the consumer (the `eval`
// command) asks for the next batch, runs it, and gives it back.
// ref: segment-anything-fast experiments/data.py build_data / build_datapoint / build_batch,
//      experiments/eval_combo.py run (image selection, limit, batching).
//
// What a batch holds, per image i in [0, n_images) of the batch:
//   image id, original (h, w), resized (h, w) = ResizeLongestSide(image_size), and the image
//   resized (PIL bilinear), normalised ((x - mean) / std, float32) and zero-padded to
//   image_size x image_size at the bottom and right, in pixels[i] (channels first).
// and per prompt p (one per annotation of the image, in the annotation file's order; an
// annotation with an empty mask has no centre point and is left out, counted in the stats,
// and an image left with no prompt is skipped):
//   annotation id, category id, crowd flag, the centre point in original pixels (integers,
//   design.md section 4), the same point through apply_coords (float32, model input frame),
//   and the ground-truth mask at the original size (uint8 0/1, row-major, h * w).
// Prompts are ragged: those of image i are [prompt_offset[i], prompt_offset[i + 1]).
//
// Selection, as the seed: every image of the annotation file (file order) that has at least
// one annotation of the selected categories, crowd ones included; then the first `limit`.
// Batches are consecutive groups of batch_size selected images. An image that cannot be
// decoded, or whose decoded size disagrees with the JSON, is skipped (reported in the batch
// that would have held it) and the batch is filled with the next image, so every batch but
// the last is full. If images at the very end are skipped, one more batch with n_images == 0
// carries their reports.
// Where no COCO folder is given, the caller first makes the synthetic default (synth.h,
// synth_ensure) and passes its folder here.
#ifndef SAM_DATA_BATCH_H
#define SAM_DATA_BATCH_H

#include <stddef.h>
#include <stdint.h>

struct CocoDataset;

typedef struct {
    int64_t image_id;
    char reason[256];  // one line naming the file and the problem
} BatchSkipped;

typedef struct {
    int index;         // 0, 1, 2, ... in delivery order
    int batch_size;    // capacity B (the configured batch size)
    int image_size;    // S, the model's input side (1024 for released SAM)
    int n_images;      // valid images, <= B; B except possibly in the last batch

    // per image, arrays of length B (entries >= n_images are unused)
    int64_t *image_id;
    int *orig_h, *orig_w;    // size of the JPEG (= the JSON's height, width)
    int *input_h, *input_w;  // after ResizeLongestSide(S), before padding
    int *selection_index;    // position of the image in the selection (0-based)
    float *pixels;           // (B, 3, S, S) float32; images >= n_images are all zero (the
                             // seed pads a short batch by repeating image 0: the consumer's
                             // choice). Page-aligned; see batch_loader_pixel_buffers.

    // ragged prompts
    int n_prompts;           // total over the batch
    int *prompt_offset;      // (n_images + 1,): image i owns [prompt_offset[i], prompt_offset[i+1])
    int *prompt_image;       // (n_prompts,) image index within the batch of each prompt
    int64_t *ann_id;         // (n_prompts,)
    int64_t *category_id;    // (n_prompts,)
    uint8_t *iscrowd;        // (n_prompts,) 0 or 1
    int *point_orig;         // (n_prompts, 2) centre (x, y) in original pixels
    float *point;            // (n_prompts, 2) centre (x, y) after apply_coords, float32
    size_t *mask_offset;     // (n_prompts + 1,) byte offsets into gt_masks
    uint8_t *gt_masks;       // ground truth of prompt p: gt_masks + mask_offset[p], shape
                             // (orig_h[img], orig_w[img]) row-major, values 0/1

    // images skipped while this batch was filled (corrupt, truncated, size mismatch)
    int n_skipped;
    BatchSkipped *skipped;
} Batch;

typedef struct {
    const char *coco_root;   // <root>/annotations/instances_<slice>.json, <root>/<slice>/*.jpg
    const char *slice;       // e.g. "val2017"
    int image_size;          // S (1024)
    int batch_size;          // B >= 1
    int limit;               // use the first `limit` selected images; 0 = all
    const char *categories;  // comma-separated category names (as the seed's
                             // coco_category_names: images holding all of them, prompts of any
                             // of them); NULL or "" = all categories
    int64_t image_id;        // > 0: only this image (the seed's img_id); 0 = selection as above
    const char *cache_dir;   // centre-point cache folder; NULL = <coco_root>/.sam-cache
    int queue_depth;         // batches built ahead of use; 0 = 2
    int workers;             // decoding threads; 0 = automatic (cores - 1, at least 1, at most 8)
} BatchLoaderConfig;

typedef struct BatchLoader BatchLoader;

// Loads the annotation file, selects images and starts the worker threads. Centre points
// are computed (or read from the cache) on the workers, not here. Returns NULL with one error
// line in err (naming the file and the image or annotation id) on failure.
BatchLoader *batch_loader_open(const BatchLoaderConfig *cfg, char *err, size_t err_len);

// The loaded annotations (categories, supercategories, counts) for reports.
const struct CocoDataset *batch_loader_dataset(const BatchLoader *bl);

// Number of images selected (after limit) and the number of batches that will be delivered
// if no image is skipped: ceil(selected / B).
int batch_loader_selected(const BatchLoader *bl);

// Next batch in order. Returns 1 with *out set, 0 when the selection is exhausted, or -1 on a
// fatal error (message in err; a bad image is not fatal, it is skipped). Blocks only if the
// workers have not finished the batch yet. The batch stays valid until batch_loader_release.
int batch_loader_next(BatchLoader *bl, Batch **out, char *err, size_t err_len);

// Gives a batch back for reuse. Every batch from next must be released before close.
void batch_loader_release(BatchLoader *bl, Batch *b);

// The pixel buffers are a fixed pool (queue_depth + 1 buffers of B * 3 * S * S floats) reused
// for every batch, so a GPU consumer can page-lock each once (cudaHostRegister). Writes up to
// max pointers and returns the pool size; bytes_each gets each buffer's size.
int batch_loader_pixel_buffers(const BatchLoader *bl, float **bufs, int max, size_t *bytes_each);

typedef struct {
    int selected;            // images selected (after limit)
    int delivered_images;    // images in delivered batches
    int skipped_images;      // images skipped (decode failure or size mismatch)
    int delivered_prompts;   // annotations (prompts) delivered
    int empty_masks;         // annotations whose mask is empty: no centre point exists; they
                             // are left out of batches (the seed would stop with an error)
    int points_from_cache;   // centre points read from the cache
    int points_computed;     // centre points computed (and written to the cache)
    double wait_ms;          // total time batch_loader_next waited for the workers
} BatchLoaderStats;

void batch_loader_stats(const BatchLoader *bl, BatchLoaderStats *st);

// Stops the workers, writes new centre points to the cache, frees everything.
void batch_loader_close(BatchLoader *bl);

#endif
