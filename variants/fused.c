// Stage "fused": bf16 plus what torch.compile gave the seed, the C way: composite operations
// in fused kernels (LayerNorm with window partition, residual adds in the GEMM epilogue, the
// rel-pos add in the softmax, activations folded where the kernel allows; bf16 runs each as a
// pass of its own, as eager PyTorch does), and the image encoder (per batch size) and the mask
// decoder (per prompt count) captured once as CUDA Graphs and replayed.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "fused",
    .after = "bf16",
    .adds = "fused kernels; encoder and decoder captured as CUDA Graphs and replayed",
    .choices = {WATERFALL_FUSED},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
