// Stage "relpos": fused with the image encoder's attention as one flash kernel that makes the
// decomposed rel-pos terms inside (kernels/cuda/flash_relpos.cu): no scores, probabilities or
// rel-pos bias materialised. The decoder keeps fused's explicit attention.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "relpos",
    .after = "fused",
    .adds = "flash attention kernel with the decomposed rel-pos terms computed inside (encoder)",
    .choices = {WATERFALL_RELPOS},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
