// Stage "nested": relpos with ragged decoding (the seed's NT, NestedTensors): the prompts of all
// images of a batch go through the prompt encoder and the mask decoder as one set, with a
// per-prompt image index and no padding, then every prompt's masks are post-processed to its
// own image's sizes and scored in one pass each (variants/core/eval_batch.c decode_ragged). What
// a prompt shares with its image is read through the index: its keys start from the image's
// embedding (one gather), and the first two-way layer's image-side projections are made once per
// image (variants/core/decoder.c two_way_block). The set's attentions (a few tokens against
// every prompt's 4096 image tokens) run as flash kernels made for that shape
// (kernels/cuda/decoder_attention.cu). The decoder is captured as one CUDA Graph per
// (images, prompts) of a batch.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "nested",
    .after = "relpos",
    .adds = "ragged decoding: every prompt of the batch through the prompt encoder, decoder, "
            "post-processing and statistics at once, with a per-prompt image index; the decoder's "
            "attentions as flash kernels for few tokens",
    .choices = {WATERFALL_NESTED},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
