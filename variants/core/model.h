// The one SAM model: weights built for a backend, and the forward passes written once against
// the operations interface (kernels/ops.h). Stages differ only in the Ops table they pass in.
#ifndef SAM_MODEL_H
#define SAM_MODEL_H

#include <stdint.h>

#include "config.h"
#include "exec.h"
#include "tensors.h"

typedef struct {
    const void *weight, *bias;  // (dim) act
} NormW;

// ref: image_encoder.py Block
typedef struct {
    NormW norm1, norm2;
    LinearWeight *qkv;          // (3C, C)
    LinearWeight *proj;         // (C, C)
    LinearWeight *lin1, *lin2;  // (4C, C), (C, 4C)
    const void *rel_pos;        // (2 * (2 * attn_grid - 1), head_dim) act: rel_pos_h's rows
                                // then rel_pos_w's, resized at load (AttnParams.rel_pos)
    int attn_grid;              // window (windowed block) or grid (global block)
} EncBlockW;

// ref: transformer.py Attention
typedef struct {
    LinearWeight *q, *k, *v, *out;
    int internal_dim;
} DecAttnW;

// ref: transformer.py TwoWayAttentionBlock
typedef struct {
    DecAttnW self_attn, cross_t2i, cross_i2t;
    NormW norm1, norm2, norm3, norm4;
    LinearWeight *lin1, *lin2;  // (mlp, D), (D, mlp)
    // The ragged decoder's image-side products (weights.c pe_split; NULL where not made): the
    // k and v of cross_t2i and the q of cross_i2t from the keys in one product, the positional
    // encoding's share and the biases in its table.
    LinearWeight *img_proj;     // (2 di_t2i + di_i2t, D), no bias
    const void *img_table;      // (G*G, 2 di_t2i + di_i2t) act
} DecLayerW;

typedef struct {
    LinearWeight *layers[8];
    int depth;
} MlpW;

typedef struct {
    // image encoder
    LinearWeight *patch_embed;  // (C, 3*P*P) im2col order (c, ky, kx)
    const void *pos_embed;      // (G*G, C) act
    EncBlockW blocks[SAM_MAX_DEPTH];
    LinearWeight *neck_conv1;   // (D, C) 1x1 conv, no bias
    NormW neck_norm1;
    LinearWeight *neck_conv2;   // (D, D*9) 3x3 conv, no bias, im2col order (c, ky, kx)
    NormW neck_norm2;
    // prompt encoder
    float *pe_gauss;            // (2, D/2) float32, backend memory
    const void *point_embed;    // (4, D) act: point_embeddings[0..3]
    const void *not_a_point;    // (D) act
    const void *no_mask_embed;  // (D) act
    const void *dense_pe;       // (G*G, D) act: get_dense_pe() channels-last, computed at load
    LinearWeight *mask_down1;   // (mic/4, 1*2*2)
    NormW mask_norm1;
    LinearWeight *mask_down2;   // (mic, mic/4*2*2)
    NormW mask_norm2;
    LinearWeight *mask_down3;   // (D, mic) 1x1 conv
    // mask decoder
    DecLayerW dec_layers[16];
    DecAttnW final_attn;
    LinearWeight *final_kv;     // (2 di, D), no bias: final_attn's k and v as img_proj (or NULL)
    const void *final_kv_table; // (G*G, 2 di) act
    NormW norm_final;
    const void *output_tokens;  // (1 + num_mask_tokens, D) act: iou_token then mask_tokens
    LinearWeight *upscale1;     // (4*D/4, D) ConvTranspose2d as GEMM, outputs (dy, dx, co): weights.c conv_transpose
    NormW upscale_norm;
    LinearWeight *upscale2;     // (D/8*4, D/4)
    MlpW hyper[16];             // per mask token: D -> D -> D/8
    MlpW iou_head;              // D -> hidden -> num_mask_tokens
} SamWeights;

typedef struct {
    SamConfig cfg;
    SamWeights w;
    Exec *x;
    void **owned;               // backend allocations made for weights (freed by sam_free)
    int n_owned, cap_owned;
    LinearWeight **linears;     // every prepared layer (released by sam_free)
    int n_linears, cap_linears;
    int prune24;                // the encoder blocks' linears were 2:4-pruned at load (prune.h)
    // Optional observer of intermediate activations (golden tests): called with a name such
    // as "patch_embed", "block3", "sparse", "dense" and the act buffer of n elements.
    void (*tap)(void *ctx, const char *name, const void *act, int64_t n);
    void *tap_ctx;
} Sam;

// Derives the configuration and builds every weight for x's backend; with tensors->prune24 the
// four linears of every encoder block are 2:4-pruned first (prune.h). Returns 0 or -1 with err.
int sam_build(Sam *m, Exec *x, const TensorMap *tensors, char *err, size_t err_len);
void sam_free(Sam *m);

// ref: image_encoder.py ImageEncoderViT.forward
// pixels (b, 3, S, S) float32 normalised and zero-padded (backend memory);
// embed (b, G*G, D) act, channels-last (the official (b, D, G, G) transposed).
void sam_encode(Sam *m, void *embed, const float *pixels, int b);

// The prompts of one image, in backend memory. Points and box corners are given in the
// resized-image frame (apply_coords / apply_boxes). Each of the n prompts has t points.
typedef struct {
    int n, t;
    const float *coords;        // (n, t, 2) float32
    const int32_t *labels;      // (n, t): 1 fg, 0 bg, -1 pad, 2/3 box corners
    const float *mask_input;    // (n, 4G, 4G) float32 low-res logits, or NULL
} Prompts;

// ref: predictor.py SamPredictor.predict_torch (prompt encoder + mask decoder)
// embed: (G*G, D) act of one image. lowres (n, C, 4G, 4G) float32 and iou (n, C) float32 with
// C = num_mask_tokens - 1 when multimask, else 1.
void sam_decode(Sam *m, float *lowres, float *iou, const void *embed, const Prompts *p,
                int multimask);

// The prompts of a batch of images decoded as one ragged set (DECODE_RAGGED): sum(n_i) prompts
// with each prompt's image index; an image may have none. Every prompt has t points. Eval keeps
// the prompts in image order (image i owns Batch.prompt_offset[i] .. [i + 1]), but the
// decoder needs only the index.
typedef struct {
    int n, t;
    int images;                 // embeddings in embed (image_of's values are below it)
    const int32_t *image_of;    // (n) int32, backend memory: the prompt's image in embed
    const float *coords;        // (n, t, 2) float32, as Prompts
    const int32_t *labels;      // (n, t)
    const float *mask_input;    // (n, 4G, 4G) float32 or NULL (for every prompt of the set)
} RaggedPrompts;

// sam_decode of a ragged set in one pass: embed (images, G*G, D) act, the embeddings of every
// image the index names; lowres (n, C, 4G, 4G) and iou (n, C) float32 as sam_decode's, prompt
// p's equal to what sam_decode gives for it with its own image's embedding.
void sam_decode_ragged(Sam *m, float *lowres, float *iou, const void *embed,
                       const RaggedPrompts *p, int multimask);

// ref: sam.py Sam.postprocess_masks
// lowres (k, 4G, 4G) -> logits (k, orig_h, orig_w), via (S, S) cropped to (in_h, in_w).
void sam_postprocess(Sam *m, float *logits, const float *lowres, int k, int in_h, int in_w,
                     int orig_h, int orig_w);
// The same for a ragged set: lowres (r->n, c, 4G, 4G) -> prompt p's c logit planes of its
// image's original size at logits + c * r->offset[p] (kernels/ops.h RaggedMasks).
void sam_postprocess_ragged(Sam *m, float *logits, const float *lowres, int c,
                            const RaggedMasks *r);

// ref: image_encoder.py get_rel_pos's interpolation of a (len, dim) table to want_len rows
// (F.interpolate, mode="linear", align_corners=False); a copy when the lengths agree.
void sam_resize_rel_pos(const float *table, int len, int dim, int want_len, float *out);

// Runs fn in planning mode (ops skipped, arena use recorded), then commits the arena.
void sam_plan(Sam *m, void (*fn)(Sam *m, void *ctx), void *ctx);

#endif
