// Stage "bf16": fp32 with bfloat16 weights and activations; GEMMs accumulate in float32
// (CUBLAS_COMPUTE_32F); softmax and normalisations accumulate in float32.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "bf16",
    .after = "fp32",
    .adds = "bfloat16 weights and activations, float32 accumulation",
    .choices = {WATERFALL_BF16},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
