// Builds SamWeights for a backend from named float32 host tensors: conversions to the
// backend's dtype, convolutions reshaped into GEMM weights, rel-pos tables resized, and the
// constant dense positional encoding computed once.
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "common/check.h"
#include "model.h"
#include "prune.h"

static void own(Sam *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        m->cap_owned = m->cap_owned ? 2 * m->cap_owned : 256;
        m->owned = xrealloc(m->owned, (size_t)m->cap_owned * sizeof *m->owned);
    }
    m->owned[m->n_owned++] = p;
}

static const HostTensor *get(Sam *m, const TensorMap *t, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const HostTensor *h = tmap_find(t, name);
    // sam_config_from_tensors has already checked every name and shape.
    if (!h) die("%s: missing tensor %s", t->source, name);
    return h;
}

// Host float32 values -> backend activation buffer.
static const void *upload(Sam *m, const float *v, size_t n) {
    void *p = m->x->ops->mem_alloc(m->x, n * m->x->act_size);
    m->x->ops->upload_act(m->x, p, v, n);
    own(m, p);
    return p;
}

static NormW norm(Sam *m, const TensorMap *t, const char *prefix) {
    const HostTensor *w = get(m, t, "%s.weight", prefix), *b = get(m, t, "%s.bias", prefix);
    return (NormW){upload(m, w->data, w->count), upload(m, b->data, b->count)};
}

// Prepares a layer in the format the stage chose for its role (design.md section 2: the
// encoder blocks' four linears take the stage's linear format, every other layer is dense) and
// keeps it for sam_free. With pruning on (Sam.prune24), the encoder blocks' linears are 2:4-
// pruned here, in float32, before any format sees them: every format, dense ones included,
// prepares the same pruned weights.
static LinearWeight *linear_raw(Sam *m, LayerRole role, const char *name, const float *W,
                                const float *b, int out, int in) {
    const Ops *ops = m->x->ops;
    int encoder = layer_is_encoder_linear(role);
    const LinearFormat *f = encoder ? ops->choices.encoder_linear : ops->dense_linear;
    float *pruned = NULL;
    if (encoder && m->prune24) {
        char err[256];
        pruned = xmalloc((size_t)out * in * sizeof(float));
        memcpy(pruned, W, (size_t)out * in * sizeof(float));
        if (prune24(pruned, out, in, err, sizeof err) != 0) die("%s: %s", name, err);
        W = pruned;
    }
    LinearWeight *lw = linear_prepare(f, m->x, W, b, out, in);
    free(pruned);
    if (m->n_linears == m->cap_linears) {
        m->cap_linears = m->cap_linears ? 2 * m->cap_linears : 256;
        m->linears = xrealloc(m->linears, (size_t)m->cap_linears * sizeof *m->linears);
    }
    m->linears[m->n_linears++] = lw;
    return lw;
}

// nn.Linear, or a convolution whose (out, in, k, k) weight flattens to the im2col order.
static LinearWeight *linear(Sam *m, LayerRole role, const TensorMap *t, const char *prefix, int has_bias) {
    const HostTensor *w = get(m, t, "%s.weight", prefix);
    const HostTensor *b = has_bias ? get(m, t, "%s.bias", prefix) : NULL;
    int out = (int)w->shape[0];
    return linear_raw(m, role, prefix, w->data, b ? b->data : NULL, out, (int)(w->count / (size_t)out));
}

// ConvTranspose2d(k=2, s=2) as a per-pixel linear layer of 4 * cout outputs, sub-pixel major:
// output k * cout + co is channel co of the output pixel (2y + dy, 2x + dx), k = 2 dy + dx. So
// each input pixel's product row holds its four output pixels one after another, each a
// contiguous row of cout channels: the decoder takes them as rows (per-pixel LayerNorm and the
// next product do not care about pixel order) and puts the masks in image order at the end
// (variants/core/decoder.c mask_decode).
static LinearWeight *conv_transpose(Sam *m, const TensorMap *t, const char *prefix) {
    const HostTensor *w = get(m, t, "%s.weight", prefix), *b = get(m, t, "%s.bias", prefix);
    int cin = (int)w->shape[0], cout = (int)w->shape[1];
    float *W = xmalloc((size_t)cout * 4 * cin * sizeof(float));
    float *B = xmalloc((size_t)cout * 4 * sizeof(float));
    for (int k = 0; k < 4; k++)
        for (int co = 0; co < cout; co++) {
            B[k * cout + co] = b->data[co];
            for (int ci = 0; ci < cin; ci++) W[((size_t)k * cout + co) * cin + ci] = w->data[((size_t)ci * cout + co) * 4 + k];
        }
    LinearWeight *lw = linear_raw(m, LAYER_DECODER, prefix, W, B, cout * 4, cin);
    free(W);
    free(B);
    return lw;
}

// ref: image_encoder.py get_rel_pos: F.interpolate(mode="linear", align_corners=False) of the
// table along its length when it differs from 2 * size - 1.
void sam_resize_rel_pos(const float *table, int len, int dim, int want_len, float *out) {
    if (len == want_len) {
        memcpy(out, table, (size_t)len * dim * sizeof(float));
        return;
    }
    float ratio = (float)len / (float)want_len;
    for (int i = 0; i < want_len; i++) {
        float src = ratio * ((float)i + 0.5f) - 0.5f;
        if (src < 0.0f) src = 0.0f;
        int i0 = (int)floorf(src);
        if (i0 > len - 1) i0 = len - 1;
        int i1 = i0 + (i0 < len - 1 ? 1 : 0);
        float l1 = src - (float)i0, l0 = 1.0f - l1;
        for (int c = 0; c < dim; c++)
            out[(size_t)i * dim + c] = l0 * table[(size_t)i0 * dim + c] + l1 * table[(size_t)i1 * dim + c];
    }
}

static float *resize_rel_pos(const HostTensor *h, int want_len) {
    float *out = xmalloc((size_t)want_len * h->shape[1] * sizeof(float));
    sam_resize_rel_pos(h->data, (int)h->shape[0], (int)h->shape[1], want_len, out);
    return out;
}

// ref: prompt_encoder.py PositionEmbeddingRandom.forward (the grid of pixel centres) and
// _pe_encoding, in float32 as the official code; stored channels-last (G*G, D).
static float *dense_pe(const float *gauss, int grid, int dim) {
    int half = dim / 2;
    float *pe = xmalloc((size_t)grid * grid * dim * sizeof(float));
    const float two_pi = (float)(2.0 * M_PI);
    for (int y = 0; y < grid; y++)
        for (int x = 0; x < grid; x++) {
            float cx = ((float)x + 0.5f) / (float)grid, cy = ((float)y + 0.5f) / (float)grid;
            cx = 2.0f * cx - 1.0f;
            cy = 2.0f * cy - 1.0f;
            float *o = pe + ((size_t)y * grid + x) * dim;
            for (int j = 0; j < half; j++) {
                float v = two_pi * (cx * gauss[j] + cy * gauss[half + j]);
                o[j] = sinf(v);
                o[half + j] = cosf(v);
            }
        }
    return pe;
}

static MlpW mlp(Sam *m, const TensorMap *t, const char *prefix, int depth) {
    MlpW w = {.depth = depth};
    char p[200];
    for (int i = 0; i < depth; i++) {
        snprintf(p, sizeof p, "%s.layers.%d", prefix, i);
        w.layers[i] = linear(m, LAYER_DECODER, t, p, 1);
    }
    return w;
}

static DecAttnW dec_attn(Sam *m, const TensorMap *t, const char *prefix) {
    char p[200];
    DecAttnW a;
    snprintf(p, sizeof p, "%s.q_proj", prefix);
    a.q = linear(m, LAYER_DECODER, t, p, 1);
    snprintf(p, sizeof p, "%s.k_proj", prefix);
    a.k = linear(m, LAYER_DECODER, t, p, 1);
    snprintf(p, sizeof p, "%s.v_proj", prefix);
    a.v = linear(m, LAYER_DECODER, t, p, 1);
    snprintf(p, sizeof p, "%s.out_proj", prefix);
    a.out = linear(m, LAYER_DECODER, t, p, 1);
    a.internal_dim = a.q->out_features;
    return a;
}

// The ragged decoder's image-side products (decoder.c two_way_block): every prompt's keys go
// through the k and v projections of a token-to-image attention (k with the positional
// encoding added) and, in a two-way layer, the q projection of the image-to-token attention
// (with it added too). Since (keys + pe) W^T + b = keys W^T + (pe W^T + b) and pe is the same
// for every prompt, one product of the keys with [Wk | Wv | Wq] and a table of pe [Wk | 0 | Wq]^T
// + [bk | bv | bq] made here once (ops.h linear_table) replace the per-prompt positional adds
// and three reads of the keys. kv_prefix names the attention whose k and v are made, q_prefix
// the one whose q is (NULL: none, the final attention).
static void pe_split(Sam *m, const char *kv_prefix, const char *q_prefix, const TensorMap *t,
                     LinearWeight **proj, const void **table) {
    Exec *x = m->x;
    const SamConfig *c = &m->cfg;
    int D = c->prompt_dim, HW = c->grid * c->grid;
    const HostTensor *part[3][2];  // k, v, q: weight, bias
    const char *pre[3] = {kv_prefix, kv_prefix, q_prefix}, *nm[3] = {"k_proj", "v_proj", "q_proj"};
    int parts = q_prefix ? 3 : 2, out = 0;
    for (int i = 0; i < parts; i++) {
        part[i][0] = get(m, t, "%s.%s.weight", pre[i], nm[i]);
        part[i][1] = get(m, t, "%s.%s.bias", pre[i], nm[i]);
        if ((int)(part[i][0]->count / (size_t)part[i][0]->shape[0]) != D)
            die("%s.%s: %d inputs, not the prompt dim %d", pre[i], nm[i], (int)(part[i][0]->count / (size_t)part[i][0]->shape[0]), D);
        out += (int)part[i][0]->shape[0];
    }
    float *W = xmalloc((size_t)out * D * sizeof(float)), *Wpe = xmalloc((size_t)out * D * sizeof(float));
    float *b = xmalloc((size_t)out * sizeof(float));
    for (int i = 0, row = 0; i < parts; i++) {
        int n = (int)part[i][0]->shape[0];
        memcpy(W + (size_t)row * D, part[i][0]->data, (size_t)n * D * sizeof(float));
        if (i == 1) memset(Wpe + (size_t)row * D, 0, (size_t)n * D * sizeof(float));  // v: no pe
        else memcpy(Wpe + (size_t)row * D, part[i][0]->data, (size_t)n * D * sizeof(float));
        memcpy(b + row, part[i][1]->data, (size_t)n * sizeof(float));
        row += n;
    }
    *proj = linear_raw(m, LAYER_DECODER, kv_prefix, W, NULL, out, D);
    LinearWeight *pe_layer = linear_prepare(x->ops->dense_linear, x, Wpe, b, out, D);
    void *tab = x->ops->mem_alloc(x, (size_t)HW * out * x->act_size);
    own(m, tab);
    op_linear(x, tab, m->w.dense_pe, pe_layer, HW, ACT_NONE, NULL);
    x->ops->sync(x);
    pe_layer->format->release(x, pe_layer);
    *table = tab;
    free(W), free(Wpe), free(b);
}

int sam_build(Sam *m, Exec *x, const TensorMap *t, char *err, size_t err_len) {
    memset(m, 0, sizeof *m);
    m->x = x;
    m->prune24 = t->prune24;
    if (sam_config_from_tensors(t, &m->cfg, err, err_len) != 0) return -1;
    const SamConfig *c = &m->cfg;
    SamWeights *w = &m->w;
    char p[200];

    // ref: image_encoder.py ImageEncoderViT.__init__
    w->patch_embed = linear(m, LAYER_CONV, t, "image_encoder.patch_embed.proj", 1);
    const HostTensor *pos = get(m, t, "image_encoder.pos_embed");
    w->pos_embed = upload(m, pos->data, pos->count);
    for (int i = 0; i < c->enc_depth; i++) {
        EncBlockW *b = &w->blocks[i];
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm1", i);
        b->norm1 = norm(m, t, p);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm2", i);
        b->norm2 = norm(m, t, p);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.qkv", i);
        b->qkv = linear(m, LAYER_ENC_QKV, t, p, 1);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.proj", i);
        b->proj = linear(m, LAYER_ENC_PROJ, t, p, 1);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin1", i);
        b->lin1 = linear(m, LAYER_ENC_LIN1, t, p, 1);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin2", i);
        b->lin2 = linear(m, LAYER_ENC_LIN2, t, p, 1);
        b->attn_grid = c->is_global[i] ? c->grid : c->window;
        int len = 2 * b->attn_grid - 1;
        float *rh = resize_rel_pos(get(m, t, "image_encoder.blocks.%d.attn.rel_pos_h", i), len);
        float *rw = resize_rel_pos(get(m, t, "image_encoder.blocks.%d.attn.rel_pos_w", i), len);
        size_t n = (size_t)len * c->enc_head_dim;
        float *stacked = xmalloc(2 * n * sizeof(float));
        memcpy(stacked, rh, n * sizeof(float));
        memcpy(stacked + n, rw, n * sizeof(float));
        b->rel_pos = upload(m, stacked, 2 * n);
        free(stacked);
        free(rh);
        free(rw);
    }
    w->neck_conv1 = linear(m, LAYER_CONV, t, "image_encoder.neck.0", 0);
    w->neck_norm1 = norm(m, t, "image_encoder.neck.1");
    w->neck_conv2 = linear(m, LAYER_CONV, t, "image_encoder.neck.2", 0);
    w->neck_norm2 = norm(m, t, "image_encoder.neck.3");

    // ref: prompt_encoder.py PromptEncoder.__init__
    int D = c->prompt_dim;
    const HostTensor *g = get(m, t, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    w->pe_gauss = x->ops->mem_alloc(x, g->count * sizeof(float));
    x->ops->copy_to_device(x, w->pe_gauss, g->data, g->count * sizeof(float));
    own(m, w->pe_gauss);
    float *pe4 = xmalloc((size_t)4 * D * sizeof(float));
    for (int i = 0; i < 4; i++)
        memcpy(pe4 + (size_t)i * D, get(m, t, "prompt_encoder.point_embeddings.%d.weight", i)->data, (size_t)D * sizeof(float));
    w->point_embed = upload(m, pe4, (size_t)4 * D);
    free(pe4);
    w->not_a_point = upload(m, get(m, t, "prompt_encoder.not_a_point_embed.weight")->data, (size_t)D);
    w->no_mask_embed = upload(m, get(m, t, "prompt_encoder.no_mask_embed.weight")->data, (size_t)D);
    float *dpe = dense_pe(g->data, c->grid, D);
    w->dense_pe = upload(m, dpe, (size_t)c->grid * c->grid * D);
    free(dpe);
    w->mask_down1 = linear(m, LAYER_CONV, t, "prompt_encoder.mask_downscaling.0", 1);
    w->mask_norm1 = norm(m, t, "prompt_encoder.mask_downscaling.1");
    w->mask_down2 = linear(m, LAYER_CONV, t, "prompt_encoder.mask_downscaling.3", 1);
    w->mask_norm2 = norm(m, t, "prompt_encoder.mask_downscaling.4");
    w->mask_down3 = linear(m, LAYER_CONV, t, "prompt_encoder.mask_downscaling.6", 1);

    // ref: mask_decoder.py MaskDecoder.__init__, transformer.py TwoWayTransformer.__init__
    for (int i = 0; i < c->dec_depth; i++) {
        DecLayerW *l = &w->dec_layers[i];
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.self_attn", i);
        l->self_attn = dec_attn(m, t, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_token_to_image", i);
        l->cross_t2i = dec_attn(m, t, p);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_image_to_token", i);
        l->cross_i2t = dec_attn(m, t, p);
        NormW *norms[4] = {&l->norm1, &l->norm2, &l->norm3, &l->norm4};
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm%d", i, k + 1);
            *norms[k] = norm(m, t, p);
        }
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin1", i);
        l->lin1 = linear(m, LAYER_DECODER, t, p, 1);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin2", i);
        l->lin2 = linear(m, LAYER_DECODER, t, p, 1);
    }
    w->final_attn = dec_attn(m, t, "mask_decoder.transformer.final_attn_token_to_image");
    // The ragged path's merged image-side products, where the stage decodes ragged sets with a
    // decoder attention that reads rows through a batch index (decoder.c decode_set).
    if (x->ops->choices.decoder_attention->takes_batch_index) {
        char q[200];
        for (int i = 0; i < c->dec_depth; i++) {
            snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_token_to_image", i);
            snprintf(q, sizeof q, "mask_decoder.transformer.layers.%d.cross_attn_image_to_token", i);
            pe_split(m, p, q, t, &w->dec_layers[i].img_proj, &w->dec_layers[i].img_table);
        }
        pe_split(m, "mask_decoder.transformer.final_attn_token_to_image", NULL, t, &w->final_kv, &w->final_kv_table);
    }
    w->norm_final = norm(m, t, "mask_decoder.transformer.norm_final_attn");
    int M = c->num_mask_tokens;
    float *tok = xmalloc((size_t)(1 + M) * D * sizeof(float));
    memcpy(tok, get(m, t, "mask_decoder.iou_token.weight")->data, (size_t)D * sizeof(float));
    memcpy(tok + D, get(m, t, "mask_decoder.mask_tokens.weight")->data, (size_t)M * D * sizeof(float));
    w->output_tokens = upload(m, tok, (size_t)(1 + M) * D);
    free(tok);
    w->upscale1 = conv_transpose(m, t, "mask_decoder.output_upscaling.0");
    w->upscale_norm = norm(m, t, "mask_decoder.output_upscaling.1");
    w->upscale2 = conv_transpose(m, t, "mask_decoder.output_upscaling.3");
    for (int i = 0; i < M; i++) {
        snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d", i);
        w->hyper[i] = mlp(m, t, p, c->hyper_depth);
    }
    w->iou_head = mlp(m, t, "mask_decoder.iou_prediction_head", c->iou_depth);
    x->ops->sync(x);
    return 0;
}

void sam_free(Sam *m) {
    for (int i = 0; i < m->n_linears; i++) m->linears[i]->format->release(m->x, m->linears[i]);
    free(m->linears);
    for (int i = 0; i < m->n_owned; i++) m->x->ops->mem_free(m->x, m->owned[i]);
    free(m->owned);
    exec_arena_free(m->x);
    memset(m, 0, sizeof *m);
}
