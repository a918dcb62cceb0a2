// A waterfall stage is a set of choices (design.md section 2): precision, fused kernels, the
// attention implementations and the encoder's linear-layer format (the backend's share,
// kernels/ops.h OpsChoices), and graph capture and the decoding mode (the model's share, here).
// variants/<stage>.c names its choices and nothing else; each later stage is the previous
// stage's set with one choice changed (variants/waterfall.h). Every stage executable shares the
// commands info, predict and eval. A choice with no implementation does not exist: the enums
// and descriptors list only what is built.
#ifndef SAM_STAGE_H
#define SAM_STAGE_H

#include <stddef.h>

#include "exec.h"

// How the prompts of a batch reach the decoder.
typedef enum {
    DECODE_PER_IMAGE,  // one prompt-encoder and mask-decoder call per image (the seed's loop)
    DECODE_RAGGED,     // every prompt of the batch through the prompt encoder, the mask decoder,
                       // post-processing and the statistics at once, with a per-prompt image
                       // index and no padding (the seed's NT, NestedTensors)
} Decoding;

typedef struct {
    const char *device; // "cpu" or "cuda": which backend `open` makes
    OpsChoices ops;     // the backend's choices
    int graphs;         // encoder and decoder captured as CUDA Graphs once, then replayed
    Decoding decoding;
    // The four linears of every encoder block 2:4-pruned at load (variants/core/prune.h), as
    // the seed's sparse stage: set by a stage whose linear format needs 2:4 weights (sparse).
    // Any other stage prunes when its weights spec asks ("+prune24", checkpoint.h).
    int prune24;
} StageChoices;

typedef struct StageDesc {
    const char *name;     // "cpu", "fp32", "bf16", "fused", ...
    const char *after;    // the stage this one changes one choice of (NULL: a baseline)
    const char *adds;     // one line: what it adds over `after` (--help, info, the harness)
    StageChoices choices;
    // Creates the backend for the choices and returns its operation table, or exits with one
    // line naming the stage and what it cannot do (no GPU, a compute capability, a choice this
    // backend does not implement).
    const Ops *(*open)(const char *stage_name, const OpsChoices *choices, void **backend);
    void (*close)(void *backend);
    // Describes the device for result records (GPU name, driver, SMs, clocks or CPU model),
    // as a JSON object without newline.
    void (*describe)(void *backend, char *buf, size_t len);
} StageDesc;

int stage_main(int argc, char **argv, const StageDesc *stage);

// {"name":..,"after":..,"adds":..,"choices":{"device":..,"precision":..,...}} without newline:
// what `info` prints under "stage" and eval's hello line carries as "stage_info".
void stage_info_json(const StageDesc *stage, char *buf, size_t len);

#endif
