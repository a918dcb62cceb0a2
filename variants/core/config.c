// ref: segment_anything/build_sam.py _build_sam and the module constructors it calls.
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sam_config_preset(const char *name, SamConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    int dim, depth, heads;
    int glob[4];
    if (strcmp(name, "vit_b") == 0) {
        dim = 768, depth = 12, heads = 12;
        glob[0] = 2, glob[1] = 5, glob[2] = 8, glob[3] = 11;
    } else if (strcmp(name, "vit_l") == 0) {
        dim = 1024, depth = 24, heads = 16;
        glob[0] = 5, glob[1] = 11, glob[2] = 17, glob[3] = 23;
    } else if (strcmp(name, "vit_h") == 0) {
        dim = 1280, depth = 32, heads = 16;
        glob[0] = 7, glob[1] = 15, glob[2] = 23, glob[3] = 31;
    } else {
        return -1;
    }
    snprintf(cfg->model, sizeof cfg->model, "%s", name);
    cfg->img_size = 1024;
    cfg->patch = 16;
    cfg->grid = 64;
    cfg->enc_dim = dim;
    cfg->enc_depth = depth;
    cfg->enc_heads = heads;
    cfg->enc_head_dim = dim / heads;
    cfg->enc_mlp_dim = 4 * dim;
    cfg->window = 14;
    for (int i = 0; i < 4; i++) cfg->is_global[glob[i]] = 1;
    for (int i = 0; i < depth; i++)
        cfg->rel_pos_len[i] = cfg->is_global[i] ? 2 * cfg->grid - 1 : 2 * cfg->window - 1;
    cfg->prompt_dim = 256;
    cfg->mask_in_chans = 16;
    cfg->dec_depth = 2;
    cfg->dec_heads = 8;
    cfg->dec_mlp_dim = 2048;
    cfg->dec_cross_dim = 128;
    cfg->num_mask_tokens = 4;
    cfg->iou_hidden = 256;
    cfg->iou_depth = 3;
    cfg->hyper_depth = 3;
    return 0;
}

// ---- the tensors a configuration implies ---------------------------------------------------

typedef struct {
    TensorVisitor fn;
    void *ctx;
} Visit;

static void emit(Visit *v, int ndim, const int64_t *shape, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    v->fn(v->ctx, name, ndim, shape);
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define EMIT(v, nd, shape, ...) emit(v, nd, shape, __VA_ARGS__)

static void emit_linear(Visit *v, const char *prefix, int out, int in) {
    EMIT(v, 2, SHAPE(out, in), "%s.weight", prefix);
    EMIT(v, 1, SHAPE(out), "%s.bias", prefix);
}

static void emit_norm(Visit *v, const char *prefix, int dim) {
    EMIT(v, 1, SHAPE(dim), "%s.weight", prefix);
    EMIT(v, 1, SHAPE(dim), "%s.bias", prefix);
}

// ref: transformer.py Attention.__init__
static void emit_dec_attention(Visit *v, const char *prefix, int dim, int internal) {
    char p[200];
    const char *proj[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s.%s", prefix, proj[i]);
        emit_linear(v, p, internal, dim);
    }
    snprintf(p, sizeof p, "%s.out_proj", prefix);
    emit_linear(v, p, dim, internal);
}

static void emit_mlp(Visit *v, const char *prefix, int in, int hidden, int out, int depth) {
    char p[200];
    for (int i = 0; i < depth; i++) {
        snprintf(p, sizeof p, "%s.layers.%d", prefix, i);
        emit_linear(v, p, i == depth - 1 ? out : hidden, i == 0 ? in : hidden);
    }
}

void sam_config_visit_tensors(const SamConfig *c, TensorVisitor fn, void *ctx) {
    Visit vv = {fn, ctx}, *v = &vv;
    char p[200];
    int C = c->enc_dim, D = c->prompt_dim, G = c->grid, P = c->patch;
    // ref: image_encoder.py ImageEncoderViT.__init__
    EMIT(v, 4, SHAPE(1, G, G, C), "image_encoder.pos_embed");
    EMIT(v, 4, SHAPE(C, 3, P, P), "image_encoder.patch_embed.proj.weight");
    EMIT(v, 1, SHAPE(C), "image_encoder.patch_embed.proj.bias");
    for (int i = 0; i < c->enc_depth; i++) {
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm1", i);
        emit_norm(v, p, C);
        EMIT(v, 2, SHAPE(c->rel_pos_len[i], c->enc_head_dim), "image_encoder.blocks.%d.attn.rel_pos_h", i);
        EMIT(v, 2, SHAPE(c->rel_pos_len[i], c->enc_head_dim), "image_encoder.blocks.%d.attn.rel_pos_w", i);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.qkv", i);
        emit_linear(v, p, 3 * C, C);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.proj", i);
        emit_linear(v, p, C, C);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm2", i);
        emit_norm(v, p, C);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin1", i);
        emit_linear(v, p, c->enc_mlp_dim, C);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin2", i);
        emit_linear(v, p, C, c->enc_mlp_dim);
    }
    EMIT(v, 4, SHAPE(D, C, 1, 1), "image_encoder.neck.0.weight");
    emit_norm(v, "image_encoder.neck.1", D);
    EMIT(v, 4, SHAPE(D, D, 3, 3), "image_encoder.neck.2.weight");
    emit_norm(v, "image_encoder.neck.3", D);
    // ref: prompt_encoder.py PromptEncoder.__init__
    int mic = c->mask_in_chans;
    EMIT(v, 2, SHAPE(2, D / 2), "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    for (int i = 0; i < 4; i++) EMIT(v, 2, SHAPE(1, D), "prompt_encoder.point_embeddings.%d.weight", i);
    EMIT(v, 2, SHAPE(1, D), "prompt_encoder.not_a_point_embed.weight");
    EMIT(v, 4, SHAPE(mic / 4, 1, 2, 2), "prompt_encoder.mask_downscaling.0.weight");
    EMIT(v, 1, SHAPE(mic / 4), "prompt_encoder.mask_downscaling.0.bias");
    emit_norm(v, "prompt_encoder.mask_downscaling.1", mic / 4);
    EMIT(v, 4, SHAPE(mic, mic / 4, 2, 2), "prompt_encoder.mask_downscaling.3.weight");
    EMIT(v, 1, SHAPE(mic), "prompt_encoder.mask_downscaling.3.bias");
    emit_norm(v, "prompt_encoder.mask_downscaling.4", mic);
    EMIT(v, 4, SHAPE(D, mic, 1, 1), "prompt_encoder.mask_downscaling.6.weight");
    EMIT(v, 1, SHAPE(D), "prompt_encoder.mask_downscaling.6.bias");
    EMIT(v, 2, SHAPE(1, D), "prompt_encoder.no_mask_embed.weight");
    // ref: transformer.py TwoWayTransformer.__init__, TwoWayAttentionBlock.__init__
    for (int i = 0; i < c->dec_depth; i++) {
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.self_attn", i);
        emit_dec_attention(v, p, D, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm1", i);
        emit_norm(v, p, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_token_to_image", i);
        emit_dec_attention(v, p, D, c->dec_cross_dim);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm2", i);
        emit_norm(v, p, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin1", i);
        emit_linear(v, p, c->dec_mlp_dim, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.lin2", i);
        emit_linear(v, p, D, c->dec_mlp_dim);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm3", i);
        emit_norm(v, p, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm4", i);
        emit_norm(v, p, D);
        snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.cross_attn_image_to_token", i);
        emit_dec_attention(v, p, D, c->dec_cross_dim);
    }
    emit_dec_attention(v, "mask_decoder.transformer.final_attn_token_to_image", D, c->dec_cross_dim);
    emit_norm(v, "mask_decoder.transformer.norm_final_attn", D);
    // ref: mask_decoder.py MaskDecoder.__init__
    EMIT(v, 2, SHAPE(1, D), "mask_decoder.iou_token.weight");
    EMIT(v, 2, SHAPE(c->num_mask_tokens, D), "mask_decoder.mask_tokens.weight");
    EMIT(v, 4, SHAPE(D, D / 4, 2, 2), "mask_decoder.output_upscaling.0.weight");
    EMIT(v, 1, SHAPE(D / 4), "mask_decoder.output_upscaling.0.bias");
    emit_norm(v, "mask_decoder.output_upscaling.1", D / 4);
    EMIT(v, 4, SHAPE(D / 4, D / 8, 2, 2), "mask_decoder.output_upscaling.3.weight");
    EMIT(v, 1, SHAPE(D / 8), "mask_decoder.output_upscaling.3.bias");
    for (int i = 0; i < c->num_mask_tokens; i++) {
        snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d", i);
        emit_mlp(v, p, D, D, D / 8, c->hyper_depth);
    }
    emit_mlp(v, "mask_decoder.iou_prediction_head", D, c->iou_hidden, c->num_mask_tokens, c->iou_depth);
}

// ---- derivation from shapes ----------------------------------------------------------------

static int fail(char *err, size_t len, const TensorMap *m, const char *fmt, ...) {
    int n = snprintf(err, len, "%s: ", m->source);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < len) vsnprintf(err + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

// Looks up a tensor that must exist with ndim dimensions.
static const HostTensor *need(const TensorMap *m, int ndim, char *err, size_t len,
                              const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const HostTensor *t = tmap_find(m, name);
    if (!t) {
        fail(err, len, m, "missing tensor %s", name);
        return NULL;
    }
    if (t->ndim != ndim) {
        fail(err, len, m, "tensor %s has %d dimensions, expected %d", name, t->ndim, ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] <= 0 || t->shape[i] > (1 << 20)) {
            fail(err, len, m, "tensor %s has an implausible dimension %lld", name,
                 (long long)t->shape[i]);
            return NULL;
        }
    return t;
}

static int count_indexed(const TensorMap *m, const char *fmt) {
    char name[256];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!tmap_find(m, name)) return n;
    }
}

typedef struct {
    const TensorMap *m;
    char *err;
    size_t len;
    int failed;
    int seen;
} CheckCtx;

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    int n = snprintf(buf, len, "(");
    for (int i = 0; i < ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, ")");
}

static void check_one(void *ctx, const char *name, int ndim, const int64_t *shape) {
    CheckCtx *c = ctx;
    if (c->failed) return;
    const HostTensor *t = tmap_find(c->m, name);
    if (!t) {
        c->failed = 1;
        fail(c->err, c->len, c->m, "missing tensor %s", name);
        return;
    }
    c->seen++;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[96], want[96];
        shape_str(have, sizeof have, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        c->failed = 1;
        fail(c->err, c->len, c->m, "tensor %s has shape %s but the configuration implies %s",
             name, have, want);
    }
}

typedef struct {
    const char *name;
    int found;
} FindCtx;

static void find_one(void *ctx, const char *name, int ndim, const int64_t *shape) {
    (void)ndim, (void)shape;
    FindCtx *f = ctx;
    if (strcmp(f->name, name) == 0) f->found = 1;
}

int sam_config_from_tensors(const TensorMap *m, SamConfig *cfg, char *err, size_t len) {
    memset(cfg, 0, sizeof *cfg);
    const HostTensor *t;
    if (!(t = need(m, 4, err, len, "image_encoder.pos_embed"))) return -1;
    if (t->shape[0] != 1 || t->shape[1] != t->shape[2])
        return fail(err, len, m, "image_encoder.pos_embed must be (1, G, G, C)");
    cfg->grid = (int)t->shape[1];
    cfg->enc_dim = (int)t->shape[3];
    if (!(t = need(m, 4, err, len, "image_encoder.patch_embed.proj.weight"))) return -1;
    if (t->shape[0] != cfg->enc_dim || t->shape[1] != 3 || t->shape[2] != t->shape[3])
        return fail(err, len, m, "image_encoder.patch_embed.proj.weight must be (C, 3, P, P)");
    cfg->patch = (int)t->shape[2];
    cfg->img_size = cfg->grid * cfg->patch;
    if (cfg->img_size > 8192) return fail(err, len, m, "image size %d is implausible", cfg->img_size);

    cfg->enc_depth = count_indexed(m, "image_encoder.blocks.%d.norm1.weight");
    if (cfg->enc_depth < 1 || cfg->enc_depth > SAM_MAX_DEPTH)
        return fail(err, len, m, "encoder depth %d is not supported (1..%d)", cfg->enc_depth, SAM_MAX_DEPTH);
    // Head dim from the rel-pos tables (rows, head_dim); heads = dim / head_dim.
    if (!(t = need(m, 2, err, len, "image_encoder.blocks.0.attn.rel_pos_h"))) return -1;
    cfg->enc_head_dim = (int)t->shape[1];
    if (cfg->enc_dim % cfg->enc_head_dim)
        return fail(err, len, m, "embed dim %d is not a multiple of the rel-pos head dim %d",
                    cfg->enc_dim, cfg->enc_head_dim);
    cfg->enc_heads = cfg->enc_dim / cfg->enc_head_dim;
    if (!(t = need(m, 2, err, len, "image_encoder.blocks.0.mlp.lin1.weight"))) return -1;
    cfg->enc_mlp_dim = (int)t->shape[0];

    // Windowed blocks carry the shortest rel-pos tables (2 * window - 1 rows); the others are
    // global and attend over the whole grid (their tables are resized to 2 * grid - 1 at load
    // if they differ, as get_rel_pos interpolates).
    int min_len = 1 << 30, max_len = 0;
    for (int i = 0; i < cfg->enc_depth; i++) {
        if (!(t = need(m, 2, err, len, "image_encoder.blocks.%d.attn.rel_pos_h", i))) return -1;
        cfg->rel_pos_len[i] = (int)t->shape[0];
        if (t->shape[0] < 1) return fail(err, len, m, "empty rel-pos table in block %d", i);
        if (cfg->rel_pos_len[i] < min_len) min_len = cfg->rel_pos_len[i];
        if (cfg->rel_pos_len[i] > max_len) max_len = cfg->rel_pos_len[i];
    }
    int all_global = min_len == max_len && min_len == 2 * cfg->grid - 1;
    if (!all_global && min_len % 2 == 0)
        return fail(err, len, m, "windowed rel-pos tables have %d rows; 2 * window - 1 is odd", min_len);
    cfg->window = all_global ? 0 : (min_len + 1) / 2;
    for (int i = 0; i < cfg->enc_depth; i++)
        cfg->is_global[i] = all_global || cfg->rel_pos_len[i] != min_len;

    if (!(t = need(m, 4, err, len, "image_encoder.neck.0.weight"))) return -1;
    cfg->prompt_dim = (int)t->shape[0];
    if (cfg->prompt_dim % 32)
        return fail(err, len, m, "prompt dim %d is not a multiple of 32", cfg->prompt_dim);
    if (!(t = need(m, 4, err, len, "prompt_encoder.mask_downscaling.3.weight"))) return -1;
    cfg->mask_in_chans = (int)t->shape[0];
    if (cfg->mask_in_chans % 4)
        return fail(err, len, m, "mask_in_chans %d is not a multiple of 4", cfg->mask_in_chans);

    cfg->dec_depth = count_indexed(m, "mask_decoder.transformer.layers.%d.norm1.weight");
    if (cfg->dec_depth < 1 || cfg->dec_depth > 16)
        return fail(err, len, m, "decoder depth %d is not supported (1..16)", cfg->dec_depth);
    if (!(t = need(m, 2, err, len, "mask_decoder.transformer.layers.0.mlp.lin1.weight"))) return -1;
    cfg->dec_mlp_dim = (int)t->shape[0];
    if (!(t = need(m, 2, err, len, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight")))
        return -1;
    cfg->dec_cross_dim = (int)t->shape[0];
    // The decoder's head count is recorded in no tensor shape. SAM's decoder gives each
    // self-attention head 32 channels (256 / 8 heads), and so do the fixtures (64 / 2).
    cfg->dec_heads = cfg->prompt_dim / 32;
    if (cfg->dec_cross_dim % cfg->dec_heads)
        return fail(err, len, m, "decoder cross-attention dim %d is not a multiple of %d heads",
                    cfg->dec_cross_dim, cfg->dec_heads);
    if (!(t = need(m, 2, err, len, "mask_decoder.mask_tokens.weight"))) return -1;
    cfg->num_mask_tokens = (int)t->shape[0];
    if (cfg->num_mask_tokens < 2 || cfg->num_mask_tokens > 16)
        return fail(err, len, m, "%d mask tokens are not supported", cfg->num_mask_tokens);
    if (!(t = need(m, 2, err, len, "mask_decoder.iou_prediction_head.layers.0.weight"))) return -1;
    cfg->iou_hidden = (int)t->shape[0];
    cfg->iou_depth = count_indexed(m, "mask_decoder.iou_prediction_head.layers.%d.weight");
    cfg->hyper_depth = count_indexed(m, "mask_decoder.output_hypernetworks_mlps.0.layers.%d.weight");
    if (cfg->iou_depth < 1 || cfg->iou_depth > 8 || cfg->hyper_depth < 1 || cfg->hyper_depth > 8)
        return fail(err, len, m, "unsupported MLP depth (iou head %d, hypernetworks %d)",
                    cfg->iou_depth, cfg->hyper_depth);

    // Every implied tensor present with its exact shape, and nothing else.
    CheckCtx cc = {m, err, len, 0, 0};
    sam_config_visit_tensors(cfg, check_one, &cc);
    if (cc.failed) return -1;
    if (cc.seen != m->count) {
        for (int i = 0; i < m->count; i++) {
            FindCtx f = {m->items[i].name, 0};
            sam_config_visit_tensors(cfg, find_one, &f);
            if (!f.found) return fail(err, len, m, "unexpected tensor %s", m->items[i].name);
        }
        return fail(err, len, m, "duplicate tensor names");
    }

    snprintf(cfg->model, sizeof cfg->model, "custom");
    const char *names[3] = {"vit_b", "vit_l", "vit_h"};
    for (int i = 0; i < 3; i++) {
        SamConfig p;
        sam_config_preset(names[i], &p);
        if (p.enc_dim == cfg->enc_dim && p.enc_depth == cfg->enc_depth &&
            p.img_size == cfg->img_size && p.prompt_dim == cfg->prompt_dim)
            snprintf(cfg->model, sizeof cfg->model, "%s", names[i]);
    }
    return 0;
}

int sam_config_json(const SamConfig *c, char *buf, size_t len) {
    char glob[512] = "";
    int g = 0;
    for (int i = 0; i < c->enc_depth; i++)
        if (c->is_global[i])
            g += snprintf(glob + g, sizeof glob - (size_t)g, "%s%d", g ? "," : "", i);
    return snprintf(buf, len,
                    "{\"model\":\"%s\",\"img_size\":%d,\"patch\":%d,\"grid\":%d,\"embed_dim\":%d,"
                    "\"depth\":%d,\"heads\":%d,\"head_dim\":%d,\"mlp_dim\":%d,\"window\":%d,"
                    "\"global_blocks\":[%s],\"prompt_dim\":%d,\"mask_in_chans\":%d,"
                    "\"decoder_depth\":%d,\"decoder_heads\":%d,\"decoder_mlp_dim\":%d,"
                    "\"decoder_cross_dim\":%d,\"mask_tokens\":%d,\"iou_hidden\":%d,"
                    "\"iou_depth\":%d,\"hyper_depth\":%d}",
                    c->model, c->img_size, c->patch, c->grid, c->enc_dim, c->enc_depth,
                    c->enc_heads, c->enc_head_dim, c->enc_mlp_dim, c->window, glob, c->prompt_dim,
                    c->mask_in_chans, c->dec_depth, c->dec_heads, c->dec_mlp_dim, c->dec_cross_dim,
                    c->num_mask_tokens, c->iou_hidden, c->iou_depth, c->hyper_depth);
}
