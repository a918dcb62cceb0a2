// Stage "nested": relpos with ragged decoding (the seed's NT, NestedTensors): the prompts of all
// images of a batch go through the prompt encoder and the mask decoder as one set, with a
// per-prompt image index and no padding (each prompt's keys read from its image's embedding
// through the index), then every prompt's masks are post-processed to its own image's sizes and
// scored in one pass each (variants/core/eval_batch.c decode_ragged). The decoder is captured as
// one CUDA Graph per (images, prompts) of a batch.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "nested",
    .after = "relpos",
    .adds = "ragged decoding: every prompt of the batch through the prompt encoder, decoder, "
            "post-processing and statistics at once, with a per-prompt image index",
    .choices = {WATERFALL_NESTED},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
