// Stage "fused": bf16 plus what torch.compile gave the seed, the C way: composite operations
// in fused kernels, and the image encoder (per batch size) and the mask decoder (per prompt
// count) captured once as CUDA Graphs and replayed.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "fused",
    .after = "bf16",
    .adds = "fused kernels; encoder and decoder captured as CUDA Graphs and replayed",
    .choices = {WATERFALL_FUSED},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
