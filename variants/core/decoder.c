// The prompt encoder, the mask decoder and post-processing, written once against the
// operations interface.
#include <math.h>
#include <stdio.h>

#include "common/check.h"
#include "model.h"

static void tap(Sam *m, const char *name, const void *act, int64_t n) {
    if (m->tap && !m->x->planning) {
        m->x->ops->sync(m->x);
        m->tap(m->tap_ctx, name, act, n);
    }
}

// Rows a ragged set's prompts share with their image (the first two-way layer's image-side
// inputs): `of` (n) int32 in backend memory, the image of each prompt, `count` images.
typedef struct {
    const int32_t *of;
    int count;
} SharedRows;

// Projections made before the attention (the ragged path's merged image-side products,
// weights.c pe_split): q, or k and v, as rows of `stride` elements per token (n entries).
typedef struct {
    const void *q, *k, *v;  // NULL: dec_attention projects its input
    int64_t q_stride, kv_stride;
} PreProj;

// A ragged set's image-side projections of every prompt's keys (n, HW, D) as one product whose
// table holds the positional encoding's share (weights.c pe_split). proj's outputs per token:
// k and v of a token-to-image attention, kv_dim columns each, then, where iq is asked for, the
// image-to-token attention's q; kv and iq point into the result (arena) with its row stride.
static void split_products(Sam *m, const LinearWeight *proj, const void *table, const void *keys, int n,
                           int kv_dim, PreProj *kv, PreProj *iq) {
    Exec *ex = m->x;
    int HW = m->cfg.grid * m->cfg.grid, st = proj->out_features;
    void *out = ex_act(ex, (int64_t)n * HW * st);  // (n, HW, [k | v (| q)])
    op_linear_table(ex, out, keys, proj, (int64_t)n * HW, table, HW);
    *kv = (PreProj){.k = out, .v = act_at(ex, out, kv_dim), .kv_stride = st};
    if (iq) *iq = (PreProj){.q = act_at(ex, out, 2 * kv_dim), .q_stride = st};
}

// ref: transformer.py Attention.forward. q_in (n, tq, D), k_in/v_in (n, tk, D) act, or
// (qs->count, tq, D) / (kvs->count, tk, D) rows shared through the index when qs / kvs are set:
// their projections run once per image and the attention reads them through the index; or
// already projected (pre). out (n, tq, D) = [residual +] out_proj(attention); residual may be
// out itself.
static void dec_attention(Sam *m, const DecAttnW *w, void *out, const void *q_in, const void *k_in,
                          const void *v_in, int n, int tq, int tk, const void *residual,
                          const SharedRows *qs, const SharedRows *kvs, const PreProj *pre) {
    Exec *ex = m->x;
    int di = w->internal_dim, heads = m->cfg.dec_heads, hd = di / heads;
    int nq = qs ? qs->count : n, nkv = kvs ? kvs->count : n;
    size_t mark = ex_mark(ex);
    const void *q = pre ? pre->q : NULL, *k = pre ? pre->k : NULL, *v = pre ? pre->v : NULL;
    int64_t qst = q ? pre->q_stride : di, kvst = k ? pre->kv_stride : di;
    if (!q) {
        void *qp = ex_act(ex, (int64_t)nq * tq * di);
        op_linear(ex, qp, q_in, w->q, (int64_t)nq * tq, ACT_NONE, NULL);
        q = qp;
    }
    if (!k) {
        void *kp = ex_act(ex, (int64_t)nkv * tk * di), *vp = ex_act(ex, (int64_t)nkv * tk * di);
        op_linear(ex, kp, k_in, w->k, (int64_t)nkv * tk, ACT_NONE, NULL);
        op_linear(ex, vp, v_in, w->v, (int64_t)nkv * tk, ACT_NONE, NULL);
        k = kp, v = vp;
    }
    void *o = ex_act(ex, (int64_t)n * tq * di);
    AttnParams p = {
        .site = ATTN_DECODER,
        .q = q, .k = k, .v = v, .o = o,
        .batch = n, .heads = heads, .q_len = tq, .k_len = tk, .head_dim = hd,
        .q_batch_stride = (int64_t)tq * qst, .q_tok_stride = qst, .q_head_stride = hd,
        .k_batch_stride = (int64_t)tk * kvst, .k_tok_stride = kvst, .k_head_stride = hd,
        .v_batch_stride = (int64_t)tk * kvst, .v_tok_stride = kvst, .v_head_stride = hd,
        .o_batch_stride = (int64_t)tq * di, .o_tok_stride = di, .o_head_stride = hd,
        .scale = 1.0f / sqrtf((float)hd),
        .q_batch_of = qs ? qs->of : NULL, .kv_batch_of = kvs ? kvs->of : NULL,
    };
    op_attention(ex, &p);
    op_linear(ex, out, o, w->out, (int64_t)n * tq, ACT_NONE, residual);
    ex_release(ex, mark);
}

// ref: mask_decoder.py MLP.forward: ReLU between layers, none after the last.
// in (rows, in_dim) act -> out (rows, out_dim) act.
static void mlp_forward(Sam *m, const MlpW *w, void *out, const void *in, int rows) {
    Exec *ex = m->x;
    size_t mark = ex_mark(ex);
    const void *cur = in;
    for (int i = 0; i < w->depth; i++) {
        int last = i == w->depth - 1;
        void *dst = last ? out : ex_act(ex, (int64_t)rows * w->layers[i]->out_features);
        op_linear(ex, dst, cur, w->layers[i], rows, last ? ACT_NONE : ACT_RELU, NULL);
        cur = dst;
    }
    ex_release(ex, mark);
}

// ref: prompt_encoder.py PromptEncoder._embed_masks (mask_downscaling): mask (n, 4G, 4G)
// float32 -> dense (n, G*G, D) act.
static void embed_masks(Sam *m, void *dense, const float *mask, int n) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int G = c->grid, mic = c->mask_in_chans;
    int64_t rows2 = (int64_t)n * 2 * G * 2 * G, rows1 = (int64_t)n * G * G;
    size_t mark = ex_mark(ex);
    void *cols = ex_act(ex, rows2 * 4);
    op_im2col(ex, cols, mask, 1, 1, n, 4 * G, 4 * G, 1, 2, 2, 0);
    void *h1 = ex_act(ex, rows2 * (mic / 4));  // (n, 2G, 2G, mic/4)
    op_linear(ex, h1, cols, m->w.mask_down1, rows2, ACT_NONE, NULL);
    op_layernorm(ex, h1, h1, m->w.mask_norm1.weight, m->w.mask_norm1.bias, rows2, mic / 4, SAM_LN2D_EPS, ACT_GELU);
    void *cols2 = ex_act(ex, rows1 * mic);
    op_im2col(ex, cols2, h1, 0, 0, n, 2 * G, 2 * G, mic / 4, 2, 2, 0);
    void *h2 = ex_act(ex, rows1 * mic);  // (n, G, G, mic)
    op_linear(ex, h2, cols2, m->w.mask_down2, rows1, ACT_NONE, NULL);
    op_layernorm(ex, h2, h2, m->w.mask_norm2.weight, m->w.mask_norm2.bias, rows1, mic, SAM_LN2D_EPS, ACT_GELU);
    op_linear(ex, dense, h2, m->w.mask_down3, rows1, ACT_NONE, NULL);
    ex_release(ex, mark);
}

// ref: transformer.py TwoWayAttentionBlock.forward. queries (n, T, D), keys (n, HW, D) act,
// updated in place; qpe = the original tokens, kpe = dense_pe (HW, D) broadcast over n.
// With img (mask_decode passes it to the first layer of a ragged set without mask inputs only),
// keys_img (img->count, HW, D) holds what every prompt's keys equal before the first
// image-side update (its image's embedding plus the no-mask embedding): the image-side
// projections of the token-to-image and image-to-token attentions are made from it once per
// image and read through the index. Else with split (a ragged set; the layer's img_proj made),
// those three projections of every prompt's keys are one product whose table holds the
// positional encoding's share (weights.c pe_split), and keys + key_pe is never made.
static void two_way_block(Sam *m, const DecLayerW *w, int first, void *queries, void *keys,
                          const void *qpe, int n, int T, const SharedRows *img, const void *keys_img,
                          int split) {
    Exec *ex = m->x;
    int D = m->cfg.prompt_dim, HW = m->cfg.grid * m->cfg.grid;
    int64_t nq = (int64_t)n * T * D;
    size_t mark = ex_mark(ex);
    void *q = ex_act(ex, nq);
    // Self attention; the first layer skips the positional encoding and the residual.
    if (first) {
        dec_attention(m, &w->self_attn, queries, queries, queries, queries, n, T, T, NULL, NULL, NULL, NULL);
    } else {
        op_add(ex, q, queries, qpe, nq, nq, nq);
        dec_attention(m, &w->self_attn, queries, q, q, queries, n, T, T, queries, NULL, NULL, NULL);
    }
    op_layernorm(ex, queries, queries, w->norm1.weight, w->norm1.bias, (int64_t)n * T, D, SAM_DEC_LN_EPS, ACT_NONE);
    // Cross attention, tokens attending to the image: k = keys + key_pe, per image when shared.
    const void *kv_keys = img ? keys_img : keys;
    void *k = NULL;          // keys + key_pe (unsplit)
    PreProj kv = {0}, iq = {0};  // the split product's parts
    split = split && !img && w->img_proj;
    if (split) {
        split_products(m, w->img_proj, w->img_table, keys, n, w->cross_t2i.internal_dim, &kv, &iq);
    } else {
        int64_t nkk = (int64_t)(img ? img->count : n) * HW * D;
        k = ex_act(ex, nkk);
        op_add(ex, k, kv_keys, m->w.dense_pe, nkk, nkk, (int64_t)HW * D);
    }
    op_add(ex, q, queries, qpe, nq, nq, nq);
    dec_attention(m, &w->cross_t2i, queries, q, k, kv_keys, n, T, HW, queries, NULL, img, split ? &kv : NULL);
    op_layernorm(ex, queries, queries, w->norm2.weight, w->norm2.bias, (int64_t)n * T, D, SAM_DEC_LN_EPS, ACT_NONE);
    // MLP (ReLU).
    void *hidden = ex_act(ex, (int64_t)n * T * w->lin1->out_features);
    op_linear(ex, hidden, queries, w->lin1, (int64_t)n * T, ACT_RELU, NULL);
    op_linear(ex, queries, hidden, w->lin2, (int64_t)n * T, ACT_NONE, queries);
    op_layernorm(ex, queries, queries, w->norm3.weight, w->norm3.bias, (int64_t)n * T, D, SAM_DEC_LN_EPS, ACT_NONE);
    // Cross attention, image attending to tokens (its q from keys + key_pe: k, or the split
    // product's part); the residual is every prompt's own keys.
    op_add(ex, q, queries, qpe, nq, nq, nq);
    dec_attention(m, &w->cross_i2t, keys, k, q, queries, n, HW, T, keys, img, NULL, split ? &iq : NULL);
    op_layernorm(ex, keys, keys, w->norm4.weight, w->norm4.bias, (int64_t)n * HW, D, SAM_DEC_LN_EPS, ACT_NONE);
    ex_release(ex, mark);
}

// ref: prompt_encoder.py PromptEncoder.forward (the sparse embeddings) and
// mask_decoder.py MaskDecoder.predict_masks (output tokens concatenated in front):
// tokens (n, T, D) act in the arena, T = 1 + num_mask_tokens + t.
static void *prompt_tokens(Sam *m, const float *coords, const int32_t *labels, int n, int t) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int D = c->prompt_dim, M = c->num_mask_tokens, T = 1 + M + t;
    void *tokens = ex_act(ex, (int64_t)n * T * D);  // output tokens then sparse prompt embeddings
    op_copy3d(ex, tokens, m->w.output_tokens, n, 1 + M, D, (int64_t)T * D, D, 0, D);
    if (t > 0) {
        size_t mark = ex_mark(ex);
        void *sparse = ex_act(ex, (int64_t)n * t * D);
        op_embed_prompts(ex, sparse, coords, labels, n, t, D, m->w.pe_gauss, m->w.point_embed,
                         m->w.not_a_point, c->img_size);
        tap(m, "sparse", sparse, (int64_t)n * t * D);
        op_copy3d(ex, act_at(ex, tokens, (int64_t)(1 + M) * D), sparse, n, t, D, (int64_t)T * D, D,
                  (int64_t)t * D, D);
        ex_release(ex, mark);
    }
    return tokens;
}

static void mask_decode(Sam *m, float *lowres, float *iou, const void *tokens, void *keys, int n,
                        int T, int multimask, const SharedRows *img, const void *keys_img, int split);

// ref: predictor.py SamPredictor.predict_torch -> PromptEncoder.forward, MaskDecoder.forward
// n prompts of t points (and optional mask inputs) through the prompt encoder and the mask
// decoder. Each prompt's keys are its image's embedding plus its dense prompt embedding: with
// image_of NULL every prompt is of the one image `embed` (repeat_interleave, by period), else
// prompt p is of image image_of[p] of `embed` (the ragged set: one gather over the set).
// A ragged set without mask inputs shares its images' rows with its prompts in the first
// two-way layer (two_way_block) where the decoder attention takes a batch index; `images`:
// how many embeddings `embed` holds.
static void decode_set(Sam *m, float *lowres, float *iou, const void *embed, int images,
                       const int32_t *image_of, const float *coords, const int32_t *labels,
                       const float *mask_input, int n, int t, int multimask) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int D = c->prompt_dim, HW = c->grid * c->grid, T = 1 + c->num_mask_tokens + t;
    if (n <= 0) return;
    int64_t nk = (int64_t)n * HW * D;
    size_t mark = ex_mark(ex);
    op_range_push(ex, "prompt_encoder");
    void *tokens = prompt_tokens(m, coords, labels, n, t);
    // keys[p] = image_embeddings[image of p] + dense_prompt_embeddings[p]
    void *keys = ex_act(ex, nk);
    size_t inner = ex_mark(ex);
    const void *dense = m->w.no_mask_embed;  // (D), or per prompt (n, HW, D) with mask inputs
    int64_t dense_period = D;
    if (mask_input) {
        void *d = ex_act(ex, nk);
        embed_masks(m, d, mask_input, n);
        tap(m, "dense", d, nk);
        dense = d, dense_period = nk;
    }
    if (image_of) op_gather_add(ex, keys, embed, image_of, dense, n, (int64_t)HW * D, dense_period);
    else op_add(ex, keys, embed, dense, nk, (int64_t)HW * D, dense_period);
    ex_release(ex, inner);
    SharedRows img = {image_of, images}, *share = NULL;
    void *keys_img = NULL;  // (images, HW, D): each image's embedding + the no-mask embedding
    if (image_of && !mask_input && ex->ops->choices.decoder_attention->takes_batch_index) {
        int64_t ni = (int64_t)images * HW * D;
        keys_img = ex_act(ex, ni);
        op_add(ex, keys_img, embed, m->w.no_mask_embed, ni, ni, D);
        share = &img;
    }
    op_range_pop(ex);
    // A ragged set takes the merged image-side products where they were made (weights.c).
    int split = image_of && m->w.final_kv;
    mask_decode(m, lowres, iou, tokens, keys, n, T, multimask, share, keys_img, split);
    ex_release(ex, mark);
}

void sam_decode(Sam *m, float *lowres, float *iou, const void *embed, const Prompts *pr,
                int multimask) {
    decode_set(m, lowres, iou, embed, 1, NULL, pr->coords, pr->labels, pr->mask_input, pr->n, pr->t, multimask);
}

void sam_decode_ragged(Sam *m, float *lowres, float *iou, const void *embed,
                       const RaggedPrompts *pr, int multimask) {
    if (pr->n > 0 && pr->images <= 0)
        die("sam_decode_ragged: %d prompts but RaggedPrompts.images is %d (the embeddings they index)", pr->n,
            pr->images);
    decode_set(m, lowres, iou, embed, pr->images, pr->image_of, pr->coords, pr->labels, pr->mask_input,
               pr->n, pr->t, multimask);
}

// ref: transformer.py TwoWayTransformer.forward, mask_decoder.py MaskDecoder.predict_masks and
// the multimask selection of MaskDecoder.forward. tokens (n, T, D) act; keys (n, HW, D) act,
// overwritten. lowres (n, C, 4G, 4G) and iou (n, C) float32. img, keys_img: the first layer's
// shared rows (two_way_block), or NULL; split: the merged image-side products (two_way_block).
static void mask_decode(Sam *m, float *lowres, float *iou, const void *tokens, void *keys, int n,
                        int T, int multimask, const SharedRows *img, const void *keys_img, int split) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int D = c->prompt_dim, G = c->grid, HW = G * G, M = c->num_mask_tokens;
    int64_t nq = (int64_t)n * T * D, nk = (int64_t)n * HW * D;
    size_t mark = ex_mark(ex);

    // ---- two-way transformer ----
    // ref: transformer.py TwoWayTransformer.forward
    op_range_push(ex, "mask_decoder");
    void *queries = ex_act(ex, nq);
    op_copy3d(ex, queries, tokens, 1, 1, nq, 0, nq, 0, nq);
    for (int i = 0; i < c->dec_depth; i++)
        two_way_block(m, &m->w.dec_layers[i], i == 0, queries, keys, tokens, n, T, i == 0 ? img : NULL,
                      keys_img, split);
    {
        size_t inner = ex_mark(ex);
        void *q = ex_act(ex, nq), *k = NULL;
        PreProj kv = {0};
        if (split) {
            split_products(m, m->w.final_kv, m->w.final_kv_table, keys, n, m->w.final_attn.internal_dim, &kv, NULL);
        } else {
            k = ex_act(ex, nk);
            op_add(ex, k, keys, m->w.dense_pe, nk, nk, (int64_t)HW * D);
        }
        op_add(ex, q, queries, tokens, nq, nq, nq);
        dec_attention(m, &m->w.final_attn, queries, q, k, keys, n, T, HW, queries, NULL, NULL, split ? &kv : NULL);
        op_layernorm(ex, queries, queries, m->w.norm_final.weight, m->w.norm_final.bias, (int64_t)n * T, D, SAM_DEC_LN_EPS, ACT_NONE);
        ex_release(ex, inner);
    }

    // ---- mask prediction ----
    // ref: mask_decoder.py MaskDecoder.predict_masks
    // Upscale: keys (n, G, G, D) -> ConvT -> LayerNorm2d -> GELU -> ConvT -> GELU, each
    // transposed convolution a per-pixel product (weights.c conv_transpose) whose output pixels
    // stay in sub-pixel order: u1 (n, G, G, 2, 2, d4) is n * 4HW rows of d4 channels, one per
    // output pixel (LayerNorm2d is per pixel); the second one's output (n, G, G, 2, 2, 2, 2, d8)
    // meets the hypernetworks' vectors and the masks are put in image order on M planes instead
    // of d8 channels (op_upscale_masks, from the LayerNorm2d on: one kernel with fusion, never
    // storing the normalised or the upscaled map).
    int d8 = D / 8;
    void *u1 = ex_act(ex, nk);  // (n * 4HW, D / 4), before its LayerNorm2d
    op_linear(ex, u1, keys, m->w.upscale1, (int64_t)n * HW, ACT_NONE, NULL);

    // Hypernetworks: one MLP per mask token -> hyper_in (n, M, d8).
    void *hyper_in = ex_act(ex, (int64_t)n * M * d8);
    void *tok = ex_act(ex, (int64_t)n * D), *hout = ex_act(ex, (int64_t)n * d8);
    for (int i = 0; i < M; i++) {
        op_copy3d(ex, tok, act_at(ex, queries, (int64_t)(1 + i) * D), 1, n, D, 0, D, 0, (int64_t)T * D);
        mlp_forward(m, &m->w.hyper[i], hout, tok, n);
        op_copy3d(ex, act_at(ex, hyper_in, (int64_t)i * d8), hout, 1, n, d8, 0, (int64_t)M * d8, 0, d8);
    }
    // IoU head on the iou token.
    op_copy3d(ex, tok, queries, 1, n, D, 0, D, 0, (int64_t)T * D);
    void *iou_pred = ex_act(ex, (int64_t)n * M);
    mlp_forward(m, &m->w.iou_head, iou_pred, tok, n);

    // Masks 1.. when multimask, else mask 0 (MaskDecoder.forward's mask_slice), in image order.
    int first = multimask ? 1 : 0, count = multimask ? M - 1 : 1;
    op_upscale_masks(ex, lowres, u1, m->w.upscale_norm.weight, m->w.upscale_norm.bias, SAM_LN2D_EPS,
                     m->w.upscale2, hyper_in, n, M, first, count, G);
    void *isel = ex_act(ex, (int64_t)n * count);
    op_copy3d(ex, isel, act_at(ex, iou_pred, first), n, 1, count, count, count, M, M);
    op_act_to_f32(ex, iou, isel, (int64_t)n * count);
    op_range_pop(ex);
    ex_release(ex, mark);
}

// ref: sam.py Sam.postprocess_masks: interpolate to (S, S), crop to the resized image,
// interpolate to the original size; bilinear, align_corners=False.
void sam_postprocess(Sam *m, float *logits, const float *lowres, int k, int in_h, int in_w,
                     int orig_h, int orig_w) {
    Exec *ex = m->x;
    int L = 4 * m->cfg.grid, S = m->cfg.img_size;
    size_t mark = ex_mark(ex);
    op_range_push(ex, "postprocess");
    float *crop = ex_f32(ex, (int64_t)k * in_h * in_w);
    op_resize_bilinear(ex, crop, lowres, k, L, L, S, S, in_h, in_w);
    op_resize_bilinear(ex, logits, crop, k, in_h, in_w, orig_h, orig_w, orig_h, orig_w);
    op_range_pop(ex);
    ex_release(ex, mark);
}

// sam_postprocess for a ragged set: every prompt's masks to its own image's input and original
// size in one operation (the crop never stored).
void sam_postprocess_ragged(Sam *m, float *logits, const float *lowres, int c,
                            const RaggedMasks *r) {
    Exec *ex = m->x;
    int L = 4 * m->cfg.grid, S = m->cfg.img_size;
    if (r->n <= 0) return;
    op_range_push(ex, "postprocess");
    op_resize_masks_ragged(ex, logits, lowres, c, L, L, S, S, r);
    op_range_pop(ex);
}
