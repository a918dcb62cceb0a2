// The waterfall's stages as sets of choices (design.md section 2), each the previous stage's set
// with what the seed's column (use_half, use_compile, ...) changes: one choice for most; fused
// changes two (fusion and graphs: torch.compile gave the seed both), and nested two (ragged
// decoding, and the decoder attention made for the ragged set's shapes; relpos keeps explicit
// attention in its per-image decoder, so nested / relpos counts both).
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

// sdpa = fused with attention through cuDNN's fused scaled-dot-product attention (flash), the
// encoder's rel-pos terms materialised as an attention bias, as the seed's SDPA stage passes
// attn_mask; the decoder's attentions through it too.
#define WATERFALL_SDPA                                                                        \
    WATERFALL_FUSED, .ops.encoder_attention = &cuda_attention_cudnn_sdpa,                     \
                     .ops.decoder_attention = &cuda_attention_cudnn_sdpa

// sparse = nested with the four linears of every encoder block 2:4-pruned at load
// (variants/core/prune.h) and multiplied as 2:4 sparse bfloat16 on cuSPARSELt
// (kernels/cuda/sparse24_linear.cu), as the seed's sparse stage (int8 and sparse are
// alternatives on top of nested). Its format takes only 2:4 weights, so the stage prunes.
#define WATERFALL_SPARSE WATERFALL_NESTED, .ops.encoder_linear = &cuda_linear_sparse24, .prune24 = 1

// relpos = fused with the image encoder's attention as one flash kernel that computes the
// decomposed rel-pos terms inside (the seed's Triton kernel); the decoder keeps explicit
// attention (the kernel serves the rel-pos attention only).
#define WATERFALL_RELPOS WATERFALL_FUSED, .ops.encoder_attention = &cuda_attention_flash_relpos

// nested = relpos with ragged decoding: every prompt of a batch through the prompt encoder, the
// mask decoder (captured as one graph per batch shape), post-processing and the top-mask
// statistics at once, with a per-prompt image index and no padding (the seed's NT stage,
// NestedTensors; variants/core/eval_batch.c decode_ragged). The ragged set's attentions (a few
// tokens against every prompt's 4096 image tokens) run as flash kernels made for that shape,
// which read the rows a prompt shares with its image through the index
// (kernels/cuda/decoder_attention.cu); relpos keeps explicit attention in its decoder.
#define WATERFALL_NESTED \
    WATERFALL_RELPOS, .decoding = DECODE_RAGGED, .ops.decoder_attention = &cuda_attention_decoder_flash

// int8 = nested with the four linears of every encoder block as dynamic symmetric int8 (weights
// per output channel at load, activations per token at run time, wgmma int8 GEMM with the
// dequantisation, bias, GELU and residual in its epilogue: kernels/cuda/int8_linear.cu), as the
// seed's int8 stage (torchao dynamic quantisation; int8 and sparse are alternatives on nested).
#define WATERFALL_INT8 WATERFALL_NESTED, .ops.encoder_linear = &cuda_linear_int8

// Every GPU stage opens the CUDA backend the same way.
#define WATERFALL_CUDA_BACKEND \
    .open = cuda_stage_open, .close = cuda_stage_close, .describe = cuda_stage_describe

#endif
