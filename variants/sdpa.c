// Stage "sdpa": fused with attention through cuDNN's fused scaled-dot-product attention (flash
// attention, cuDNN's backend graph API), SAM's decomposed rel-pos terms materialised as a bf16
// attention bias as the seed's SDPA stage passes attn_mask; encoder and decoder attentions.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "sdpa",
    .after = "fused",
    .adds = "attention through cuDNN's fused SDPA (flash), rel-pos as a materialised bf16 bias; "
            "encoder and decoder",
    .choices = {WATERFALL_SDPA},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
