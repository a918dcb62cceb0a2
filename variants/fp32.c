// Stage "fp32": the GPU float32 baseline, as the official code runs eagerly in float32:
// cuBLAS SGEMM with TF32 off, explicit attention (scores materialised, rel-pos terms added,
// softmax, product with V), one prompt-encoder/decoder call per image.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "fp32",
    .after = NULL,
    .adds = "GPU float32 (cuBLAS SGEMM, TF32 off, explicit attention, one decoder call per image)",
    .choices = {WATERFALL_FP32},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
