// The timed region of design.md section 3 for one batch, made of steps the stage's choices
// select: encode (the image encoder), decode (prompt encoder and mask decoder), post
// (upscaling to the original size) and stats (every mask thresholded, the top mask, its IoU
// with the ground truth). The decoding choice picks how prompts reach the decoder; the graphs
// choice replays the encode and decode steps from captured graphs.
// ref: segment-anything-fast experiments/eval_combo.py build_results (the timed loop)
#ifndef SAM_EVAL_BATCH_H
#define SAM_EVAL_BATCH_H

#include <stdint.h>

#include "datasets/batch.h"
#include "graphs.h"
#include "model.h"
#include "stage.h"

enum { PHASE_ENCODER, PHASE_DECODER, PHASE_POST, N_PHASES };

// The batch's inputs and outputs in backend memory, outside the arena: grown (never inside a
// timed region) to the largest batch met, so the arena's layout depends only on the number of
// images and each image's prompt count, which is what a captured step needs.
typedef struct {
    size_t prompt_cap, mask_cap;  // prompts, and bytes of one mask per prompt (sum of h * w)
    float *coords;                // (P, 2, 2) float32: the point and the padding point
    int32_t *labels;              // (P, 2): 1 and -1
    uint8_t *gt;                  // ground truth, laid out as Batch.gt_masks (mask_offset)
    uint8_t *masks;               // (P, C, h, w): prompt p's C masks at C * mask_offset[p]
    int32_t *top_index;           // (P,)
    int64_t *inter, *uni;         // (P,) of the top mask with the ground truth
    float *iou;                   // (P, C) predicted IoUs
    // the ragged decoding's per-prompt index and geometry (DECODE_RAGGED)
    int32_t *image_of;            // (P,) the prompt's image in the batch (Batch.prompt_image)
    int32_t *size;                // (P, 4) its image's input_h, input_w, orig_h, orig_w
    int64_t *offset;              // (P,) Batch.mask_offset (kernels/ops.h RaggedMasks)
    size_t lane_bytes;            // arena bytes of one lane's decode + post (the largest met)
} EvalIO;

// Lanes the graphs choice decodes images on, concurrently (the decoder of one image is ~115
// small kernels that leave most of the GPU idle; four images at a time fill it).
#define EVAL_DECODE_LANES 4
int eval_decode_lanes(void);

typedef struct {
    Sam *m;
    const Batch *b;
    int n_images;                 // images encoded (the full batch, or fewer in the last one)
    const StageChoices *choices;
    EvalIO *io;
    GraphCache *graphs;           // non-NULL when the stage chose graphs
    // arena buffers of the pass (set by eval_batch)
    float *pixels;                // (n_images, 3, S, S) float32
    void *embed;                  // (n_images, G*G, D) act
    // measured by a real pass
    double ms;                    // the timed region, milliseconds
    // Per-phase device milliseconds (backends with timer_mark; -1 otherwise) and the host's
    // milliseconds queueing each phase: when the host time reaches the device time, the device
    // waited for launches.
    double phase_ms[N_PHASES], host_ms[N_PHASES];
    uint64_t launches, kernels;   // queued in the timed region (Ops.launch_counts; 0 without)
} EvalBatch;

// Grows io for the batch (C masks per prompt) and copies its prompt inputs and ground truth.
void eval_io_load(Exec *x, EvalIO *io, const Batch *b, int C);
void eval_io_free(Exec *x, EvalIO *io);

// One pass over the batch, for sam_plan (planning), a preparing pass (x->preparing: graphs
// captured, nothing run) and real passes (timed). ctx is an EvalBatch.
void eval_batch(Sam *m, void *ctx);

#endif
