// Stage "sparse": nested plus the seed's sparse compression: the four linears of every encoder
// block 2:4 magnitude-pruned at load (variants/core/prune.h, as WeightNormSparsifier with
// (1, 4) blocks and 2 zeros) and multiplied as 2:4 sparse bfloat16 on cuSPARSELt's sparse
// tensor-core GEMMs (kernels/cuda/sparse24_linear.cu). Pruning changes the model: this stage's
// numerical reference is fp32 on the same pruned weights (--checkpoint SPEC+prune24).
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "sparse",
    .after = "nested",
    .adds = "encoder linears 2:4-pruned at load and run as 2:4 sparse bf16 GEMMs (cuSPARSELt)",
    .choices = {WATERFALL_SPARSE},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
