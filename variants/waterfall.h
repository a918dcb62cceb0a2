// The waterfall's stages as sets of choices (design.md section 2), each the previous stage's set
// with one choice changed, as the seed's columns (use_half, use_compile, ...) change one thing.
// variants/<stage>.c takes its set from here and names the stage; the choices' descriptors
// come from the kernels, so an executable links only the code its own choices use.
#ifndef SAM_WATERFALL_H
#define SAM_WATERFALL_H

#include "../kernels/cuda/cuda_ops.h"
#include "core/stage.h"

// A later designated initialiser overrides an earlier one: that is how a stage states "the
// previous set, with this changed".
#pragma GCC diagnostic ignored "-Woverride-init"

// fp32: the GPU baseline, as the official code runs eagerly in float32.
#define WATERFALL_FP32                                                                        \
    .device = "cuda",                                                                         \
    .ops = {.precision = DT_F32, .fusion = 0, .encoder_attention = &cuda_attention_explicit,  \
            .decoder_attention = &cuda_attention_explicit, .encoder_linear = &cuda_linear_dense}, \
    .graphs = 0, .decoding = DECODE_PER_IMAGE

// bf16 = fp32 with bfloat16 weights and activations (float32 accumulation).
#define WATERFALL_BF16 WATERFALL_FP32, .ops.precision = DT_BF16

// fused = bf16 with what torch.compile gave the seed: fused kernels, and the encoder and the
// decoder captured as CUDA Graphs.
#define WATERFALL_FUSED WATERFALL_BF16, .ops.fusion = 1, .graphs = 1

// Every GPU stage opens the CUDA backend the same way.
#define WATERFALL_CUDA_BACKEND \
    .open = cuda_stage_open, .close = cuda_stage_close, .describe = cuda_stage_describe

#endif
