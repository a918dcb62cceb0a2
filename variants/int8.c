// Stage "int8": nested plus the seed's dynamic quantisation (torchao apply_dynamic_quant): the
// four linears of every encoder block with int8 weights (per output channel, symmetric, once at
// load) and int8 activations (per token, symmetric, scales computed at run time), int8 x int8 ->
// int32 on Hopper's wgmma, the dequantisation, bias, GELU and residual fused into the GEMM's
// epilogue (kernels/cuda/int8_linear.cu; the rules in kernels/int8_rules.h). Needs an sm_90 GPU.
#include "waterfall.h"

static const StageDesc STAGE = {
    .name = "int8",
    .after = "nested",
    .adds = "encoder linears as dynamic int8 (per-token activations, per-channel weights), wgmma "
            "int8 GEMM with the dequantisation fused",
    .choices = {WATERFALL_INT8},
    WATERFALL_CUDA_BACKEND,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
