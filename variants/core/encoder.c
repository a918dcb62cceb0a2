// The image encoder, written once against the operations interface.
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

// ref: image_encoder.py Block.forward and Attention.forward
// x (b, G, G, C) act, updated in place.
static void encoder_block(Sam *m, const EncBlockW *w, void *x, int b) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int G = c->grid, C = c->enc_dim, heads = c->enc_heads, hd = c->enc_head_dim;
    int64_t tokens = (int64_t)b * G * G;
    size_t mark = ex_mark(ex);

    void *xn = ex_act(ex, tokens * C);  // (b, G, G, C)

    // Windowed blocks attend within win x win windows of the zero-padded grid.
    int win = w->attn_grid, windowed = win != G;
    int n_win = windowed ? ((G + win - 1) / win) * ((G + win - 1) / win) : 1;
    int seq = win * win;            // tokens per attention sequence
    int seqs = b * n_win;           // attention batch
    void *qkv = ex_act(ex, (int64_t)seqs * seq * 3 * C);  // (seqs, seq, 3, heads, hd)
    void *xw = windowed ? ex_act(ex, (int64_t)seqs * seq * C) : xn;  // (seqs, seq, C): norm1's output
    LnSpec norm1 = {w->norm1.weight, w->norm1.bias, SAM_ENC_LN_EPS, b, G, G, C, windowed ? win : 0};
    op_layernorm_linear(ex, qkv, xw, xn, x, &norm1, w->qkv, ACT_NONE, NULL);  // (seqs seq) rows
    void *attn = ex_act(ex, (int64_t)seqs * seq * C);     // (seqs, seq, heads, hd)
    AttnParams p = {
        .site = ATTN_ENCODER,
        .q = qkv, .k = act_at(ex, qkv, C), .v = act_at(ex, qkv, 2 * C), .o = attn,
        .batch = seqs, .heads = heads, .q_len = seq, .k_len = seq, .head_dim = hd,
        .q_batch_stride = (int64_t)seq * 3 * C, .q_tok_stride = 3 * C, .q_head_stride = hd,
        .k_batch_stride = (int64_t)seq * 3 * C, .k_tok_stride = 3 * C, .k_head_stride = hd,
        .v_batch_stride = (int64_t)seq * 3 * C, .v_tok_stride = 3 * C, .v_head_stride = hd,
        .o_batch_stride = (int64_t)seq * C, .o_tok_stride = C, .o_head_stride = hd,
        .scale = 1.0f / sqrtf((float)hd),
        .rel_pos = w->rel_pos, .grid_h = win, .grid_w = win,
    };
    op_attention(ex, &p);
    // proj is per token, so it commutes with window_unpartition: unpartition first (padding
    // tokens dropped), then proj with the shortcut added in its epilogue.
    const void *attn_tokens = attn;
    if (windowed) {
        op_window_unpartition(ex, xn, attn, b, G, G, C, win);
        attn_tokens = xn;
    }
    op_linear(ex, x, attn_tokens, w->proj, tokens, ACT_NONE, x);  // x = shortcut + proj(attn)
    ex_release(ex, mark);

    // x = x + mlp(norm2(x))
    void *xn2 = ex_act(ex, tokens * C);
    void *hidden = ex_act(ex, tokens * c->enc_mlp_dim);
    LnSpec norm2 = {w->norm2.weight, w->norm2.bias, SAM_ENC_LN_EPS, b, G, G, C, 0};
    op_layernorm_mlp(ex, x, hidden, xn2, x, &norm2, w->lin1, ACT_GELU, w->lin2, x);
    ex_release(ex, mark);
}

// ref: image_encoder.py ImageEncoderViT.forward
void sam_encode(Sam *m, void *embed, const float *pixels, int b) {
    Exec *ex = m->x;
    const SamConfig *c = &m->cfg;
    int G = c->grid, C = c->enc_dim, D = c->prompt_dim, P = c->patch;
    int64_t tokens = (int64_t)b * G * G;
    size_t mark = ex_mark(ex);
    op_range_push(ex, "image_encoder");

    // ref: image_encoder.py PatchEmbed.forward: Conv2d(k=P, s=P) then permute to (b, G, G, C).
    op_range_push(ex, "patch_embed");
    void *x = ex_act(ex, tokens * C);
    size_t inner = ex_mark(ex);
    void *cols = ex_act(ex, tokens * 3 * P * P);
    op_im2col(ex, cols, pixels, 1, 1, b, c->img_size, c->img_size, 3, P, P, 0);
    op_linear(ex, x, cols, m->w.patch_embed, tokens, ACT_NONE, NULL);
    ex_release(ex, inner);
    tap(m, "patch_embed", x, tokens * C);
    op_add(ex, x, x, m->w.pos_embed, tokens * C, tokens * C, (int64_t)G * G * C);
    op_range_pop(ex);

    for (int i = 0; i < c->enc_depth; i++) {
        char name[32];
        snprintf(name, sizeof name, "block%d", i);
        op_range_push(ex, name);
        encoder_block(m, &m->w.blocks[i], x, b);
        op_range_pop(ex);
        tap(m, name, x, tokens * C);
    }

    // ref: image_encoder.py ImageEncoderViT.neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d,
    // all channels-last here.
    op_range_push(ex, "neck");
    void *t = ex_act(ex, tokens * D);
    op_linear(ex, t, x, m->w.neck_conv1, tokens, ACT_NONE, NULL);
    op_layernorm(ex, t, t, m->w.neck_norm1.weight, m->w.neck_norm1.bias, tokens, D, SAM_LN2D_EPS, ACT_NONE);
    void *cols3 = ex_act(ex, tokens * D * 9);
    op_im2col(ex, cols3, t, 0, 0, b, G, G, D, 3, 1, 1);
    op_linear(ex, embed, cols3, m->w.neck_conv2, tokens, ACT_NONE, NULL);
    op_layernorm(ex, embed, embed, m->w.neck_norm2.weight, m->w.neck_norm2.bias, tokens, D, SAM_LN2D_EPS, ACT_NONE);
    op_range_pop(ex);
    op_range_pop(ex);
    ex_release(ex, mark);
    tap(m, "image_embedding", embed, tokens * D);
}

void sam_plan(Sam *m, void (*fn)(Sam *m, void *ctx), void *ctx) {
    Exec *ex = m->x;
    CHECK(ex->arena_top == 0);
    ex->planning = 1;
    fn(m, ctx);
    ex->planning = 0;
    ex->arena_top = 0;
    exec_arena_commit(ex);
    // Captured graphs hold the scratch's addresses too: a moved scratch makes them stale, as a
    // moved arena does.
    if (ex->ops->reserve_workspace && ex->ops->reserve_workspace(ex, ex->workspace_need, ex->lane_workspace_need))
        ex->arena_generation++;
}
