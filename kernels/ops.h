// The interface of operations the SAM model is written against (variants/core/).
// One table per implementation: kernels/cpu (float32 reference, OpenBLAS) and kernels/cuda
// (float32 and bfloat16 on the GPU). A stage file picks a table; the model never changes.
//
// Conventions shared by every implementation:
// - Pointers named "act" hold activations in the table's activation dtype (float32 or bfloat16)
//   in the table's memory (host for the CPU, device for CUDA). Pointers typed float* hold float32.
// - Layouts are row-major. Image-like activations are channels-last: (N, H, W, C) with the
//   pixel index p = y * W + x, so an (N, H*W, C) token matrix and an NHWC image are one buffer.
// - Sizes and strides are in elements, not bytes.
// - An implementation refuses a case it cannot do (a head dim, a dtype) by name with die(),
//   never by falling back to something else.
#ifndef SAM_OPS_H
#define SAM_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/check.h"

typedef struct Ops Ops;

// The execution context every operation receives: the operation table a stage chose and the
// backend's state. The remaining fields are the model's activation arena (variants/core/exec.h
// allocates from it with a stack discipline); operations never touch them.
typedef struct Exec {
    const Ops *ops;
    void *backend;        // implementation state (cuBLAS handle, stream, ...)
    size_t act_size;      // bytes per activation element (4 or 2)
    int planning;         // 1: record arena use only, run nothing
    int preparing;        // 1: real arena addresses, nothing run except graph captures
    char *arena;          // backend memory, arena_size bytes (NULL while planning)
    size_t arena_size, arena_top, arena_peak;
    unsigned arena_generation;  // bumped when the arena moves (captured graphs are stale)
    size_t workspace_need;      // the largest operation scratch the planning pass met
    int lane_planning;          // 1: the planning pass is measuring work for the other lanes
    size_t lane_workspace_need; // the largest scratch of that work (Ops.lanes_open)
} Exec;

// Records that an operation will need `need` bytes of scratch on the lane it is planned for
// (called while planning, by the op wrappers and by formats' plan hooks).
static inline void exec_need_workspace(Exec *x, size_t need) {
    size_t *w = x->lane_planning ? &x->lane_workspace_need : &x->workspace_need;
    if (need > *w) *w = need;
}

typedef enum { DT_F32 = 0, DT_BF16 = 1 } DType;

typedef enum { ACT_NONE = 0, ACT_GELU = 1, ACT_RELU = 2 } Act;

typedef struct LinearFormat LinearFormat;

// A linear layer's parameters in whatever form its format wants (transposed, converted,
// quantised, pruned). Created once from float32 host weights by LinearFormat.prepare, freed by
// LinearFormat.release when the model closes.
typedef struct LinearWeight {
    int out_features, in_features;
    const LinearFormat *format;  // how it is multiplied (set by linear_prepare)
    void *impl;                  // format-owned
} LinearWeight;

// What a linear layer is in the model, so a stage's linear-format choice applies to exactly the
// layers design.md section 2 names (the four linears of every encoder block), not to the patch
// embedding and neck (convolutions computed as GEMMs) or the prompt encoder and decoder.
typedef enum {
    LAYER_ENC_QKV, LAYER_ENC_PROJ, LAYER_ENC_LIN1, LAYER_ENC_LIN2,  // image_encoder Block
    LAYER_CONV,     // a convolution computed as a GEMM (patch embedding, neck, mask downscaling)
    LAYER_DECODER,  // prompt encoder and mask decoder linears and transposed convolutions
} LayerRole;
static inline int layer_is_encoder_linear(LayerRole r) { return r <= LAYER_ENC_LIN2; }

// One attention call: o = softmax(scale * q k^T + relpos) v, for every (batch, head).
// q, k, v, o are activation pointers addressed with explicit strides so heads can stay
// interleaved in the projection output ((B, T, 3, heads, head_dim) for the encoder's qkv).
// ref: segment_anything/modeling/image_encoder.py Attention.forward
//      segment_anything/modeling/transformer.py Attention.forward
typedef enum { ATTN_ENCODER, ATTN_DECODER } AttnSite;  // which of the stage's choices serves it

typedef struct {
    AttnSite site;
    const void *q, *k, *v;
    void *o;
    int batch, heads, q_len, k_len, head_dim;
    int64_t q_batch_stride, q_tok_stride, q_head_stride;
    int64_t k_batch_stride, k_tok_stride, k_head_stride;
    int64_t v_batch_stride, v_tok_stride, v_head_stride;
    int64_t o_batch_stride, o_tok_stride, o_head_stride;
    float scale;  // multiplies q k^T; the rel-pos terms use the unscaled q, as the official code
    // Decomposed relative position (ref: image_encoder.py add_decomposed_rel_pos), or NULL:
    // rel_pos_h's 2 * grid_h - 1 rows followed by rel_pos_w's 2 * grid_w - 1 rows, already
    // resized (get_rel_pos interpolation is done once at load) and stacked once, so a backend
    // can take all the rel-pos dot products in one product against it.
    // Only q_len == k_len == grid_h * grid_w is supported.
    const void *rel_pos;  // (2 * grid_h - 1 + 2 * grid_w - 1, head_dim) act
    int grid_h, grid_w;
    // Ragged decoding (variants/core/decoder.c): call entry b reads q from batch entry
    // q_batch_of[b] and k, v from kv_batch_of[b] of their buffers (int32, backend memory),
    // instead of entry b: a prompt reads its image's shared rows without a per-prompt copy.
    // The output is always entry b's. NULL: entry b. Only an implementation whose
    // takes_batch_index is set serves a call that sets them (op_attention refuses the others).
    const int32_t *q_batch_of, *kv_batch_of;
} AttnParams;

// ---- implementation choices of a stage (variants/core/stage.h) -------------------------------
// A choice is a descriptor an implementation exports (cuda_attention_explicit, cpu_linear_dense,
// ...); a stage names the descriptors it uses, so an executable links only the code (and the
// libraries) of its own choices. `name` is what `sam-<stage> info` and the harness show.

// An attention implementation.
typedef struct AttentionImpl {
    const char *name;                            // "explicit", ...
    const char *backend;                         // "cpu" or "cuda": whose Exec it runs on
    unsigned dtypes;                             // bit (1 << DType) per activation dtype it serves
    void (*run)(Exec *x, const AttnParams *p);
    // Scratch bytes the call will need; the planning pass asks, so the workspace is allocated
    // before anything runs (nothing allocates inside a captured graph). NULL: none.
    size_t (*workspace_bytes)(Exec *x, const AttnParams *p);
    int takes_batch_index;  // serves AttnParams.q_batch_of / kv_batch_of
} AttentionImpl;

// A linear-layer format: how weights are prepared and multiplied.
// A LayerNorm whose output feeds a linear layer (LinearFormat.run_ln): its parameters over
// x (n, h, w, dim) act, and where win > 0 the window partition that follows it (the encoder's
// windowed blocks: rows of (n nWin, win win, dim) with the padded windows' rows zero).
typedef struct {
    const void *g, *b;  // (dim) act
    float eps;
    int n, h, w, dim, win;
} LnSpec;
// The rows its LayerNorm gives: n h w, or the padded windows' n nWin win win.
static inline int64_t ln_spec_rows(const LnSpec *ln) {
    if (ln->win <= 0) return (int64_t)ln->n * ln->h * ln->w;
    return (int64_t)ln->n * ((ln->h + ln->win - 1) / ln->win) * ((ln->w + ln->win - 1) / ln->win) * ln->win * ln->win;
}

struct LinearFormat {
    const char *name;                            // "dense", ...
    const char *backend;                         // "cpu" or "cuda"
    unsigned dtypes;                             // as AttentionImpl.dtypes
    // W: (out, in) float32 row-major as in nn.Linear; b: (out) float32 or NULL.
    LinearWeight *(*prepare)(Exec *x, const float *W, const float *b, int out, int in);
    // y(rows, out) = act(x(rows, in) W^T + b) [+ residual(rows, out)]; residual may equal y.
    void (*run)(Exec *x, void *y_act, const void *x_act, const LinearWeight *w, int64_t rows,
                Act act, const void *residual_act);
    void (*release)(Exec *x, LinearWeight *w);   // frees what prepare made, w included
    // Scratch bytes a run of `rows` rows will need (int8: the quantised activations and their
    // scales); asked by the planning pass as AttentionImpl.workspace_bytes. NULL: none.
    size_t (*workspace_bytes)(Exec *x, const LinearWeight *w, int64_t rows);
    // Optional (NULL: none). Called by the stage's backend when it opens, before anything is
    // loaded: a format that needs a library loads it here, or exits with one line naming the
    // stage and the library (sparse24: cuSPARSELt).
    void (*open)(const char *stage_name);
    // Optional (NULL: none). The planning pass calls it for every run the model will make
    // (rows, activation, whether a residual is added), before any run or capture: a format
    // makes its per-shape plans here (sparse24: cuSPARSELt's algorithm search, which runs
    // kernels), never in a timed or captured region.
    void (*plan)(Exec *x, const LinearWeight *w, int64_t rows, Act act, int has_residual);
    // Optional (NULL: none; the stage's fusion choice uses it where present). run with the
    // LayerNorm before it fused into the format's input side: y = act(LN(x) W^T + b)
    // [+ residual], x as ln says, over the LayerNorm's ln_spec_rows(ln) output rows (int8: the
    // LayerNorm kernel writes the quantised activations and their scales, no bfloat16 round
    // trip, no quantisation pass). Its scratch is workspace_bytes of those rows.
    void (*run_ln)(Exec *x, void *y_act, const void *x_act, const LnSpec *ln, const LinearWeight *w, Act act,
                   const void *residual_act);
    // Optional (NULL: none; the stage's fusion choice uses it where present and both layers are
    // this format's). An MLP as one call: hidden = act(LN(x) w1^T + b1) as run_ln makes it, then
    // y = hidden w2^T + b2 [+ residual], over ln_spec_rows(ln) rows; hidden (rows, w1 out) act is
    // the caller's and holds lin1's output afterwards, as the two calls leave it. The outputs
    // equal those of run_ln then run bit for bit (int8: lin1's GEMM records each hidden row's
    // largest pre-activation, GELU of which is the row's largest magnitude, so lin2's
    // quantisation reads the row once instead of twice). Its scratch is the larger of the two
    // layers' workspace_bytes.
    void (*run_ln_mlp)(Exec *x, void *y_act, void *hidden_act, const void *x_act, const LnSpec *ln,
                       const LinearWeight *w1, Act act, const LinearWeight *w2, const void *residual_act);
};

// A layer in format f: f's weights made from W and b, marked as f's (what op_linear and the
// release call through). Every layer is made this way.
static inline LinearWeight *linear_prepare(const LinearFormat *f, Exec *x, const float *W,
                                           const float *b, int out, int in) {
    LinearWeight *w = f->prepare(x, W, b, out, in);
    w->format = f;
    return w;
}

// What a stage chooses of its backend. A backend refuses, by name, a choice it cannot do.
typedef struct OpsChoices {
    DType precision;                             // activations and weights
    // Fused kernels for the composite operations (the fused stage's choice). Off (fp32, bf16:
    // the official code's eager order), a linear layer's activation and residual add, a
    // LayerNorm's activation and the encoder's rel-pos add are each a pass of their own over
    // memory (variants/core/exec.h, the attention implementations); on, they are folded into
    // the GEMM epilogue, the LayerNorm and the softmax.
    int fusion;
    const AttentionImpl *encoder_attention;      // the image encoder's (rel-pos) attention
    const AttentionImpl *decoder_attention;      // the two-way transformer's attention
    const LinearFormat *encoder_linear;          // qkv, proj, lin1, lin2 of every encoder block
} OpsChoices;

static inline int impl_serves(unsigned dtypes, DType dt) { return (dtypes >> dt) & 1u; }

// A stage's attention and linear-format choices checked for a backend when the stage opens:
// each must be that backend's (by its backend field, not by a list of the backend's
// descriptors: a list would link every implementation, and its libraries, into every stage)
// and serve the stage's precision. Anything else is refused by name.
static inline void ops_check_choices(const char *stage_name, const char *backend, const OpsChoices *c) {
    const AttentionImpl *att[2] = {c->encoder_attention, c->decoder_attention};
    const char *site[2] = {"attention", "decoder attention"}, *prec = c->precision == DT_BF16 ? "bf16" : "fp32";
    for (int i = 0; i < 2; i++) {
        if (strcmp(att[i]->backend, backend) != 0)
            die("stage %s: %s '%s' is not implemented by the %s backend", stage_name, site[i], att[i]->name, backend);
        if (!impl_serves(att[i]->dtypes, c->precision))
            die("stage %s: %s '%s' does not implement precision %s", stage_name, site[i], att[i]->name, prec);
    }
    if (strcmp(c->encoder_linear->backend, backend) != 0)
        die("stage %s: linear format '%s' is not implemented by the %s backend", stage_name,
            c->encoder_linear->name, backend);
    if (!impl_serves(c->encoder_linear->dtypes, c->precision))
        die("stage %s: linear format '%s' does not implement precision %s", stage_name, c->encoder_linear->name, prec);
}

// A ragged set of per-prompt masks for post-processing (the nested stage's ragged decoding):
// n prompts, each of its own image's size, packed one after another. Prompt p's c planes of
// (orig_h, orig_w) start at element c * offset[p] of a mask or logit buffer, and its ground
// truth (one plane) at offset[p]: the layout of Batch.mask_offset (datasets/batch.h). Every
// array is in backend memory.
typedef struct {
    int n;                  // prompts
    const int32_t *size;    // (n, 4): in_h, in_w (the resized image inside the padded input),
                            // orig_h, orig_w of the prompt's image
    const int64_t *offset;  // (n): pixel offset of the prompt's planes, as above
} RaggedMasks;

struct Ops {
    const char *name;  // "cpu", "cuda-fp32", "cuda-bf16", ...
    DType act_dtype;
    OpsChoices choices;               // what the stage chose (act_dtype == choices.precision)
    const LinearFormat *dense_linear; // the layers outside the encoder blocks

    // ---- memory -------------------------------------------------------------------------
    void *(*mem_alloc)(Exec *x, size_t bytes);  // backend memory, checked; never NULL
    void (*mem_free)(Exec *x, void *p);
    void (*copy_to_device)(Exec *x, void *dst, const void *host_src, size_t bytes);
    void (*copy_to_host)(Exec *x, void *host_dst, const void *src, size_t bytes);
    // Backend memory to backend memory, queued in order like the operations.
    void (*copy_device)(Exec *x, void *dst, const void *src, size_t bytes);
    // Host float32 -> backend activation dtype (converting), and back.
    void (*upload_act)(Exec *x, void *dst_act, const float *host_src, size_t n);
    void (*download_act)(Exec *x, float *host_dst, const void *src_act, size_t n);
    void (*sync)(Exec *x);  // waits for all queued work
    // The model's build is over: waits for its uploads and frees what only they used (the
    // CUDA backend's pinned staging ring). A later upload opens it again.
    void (*load_end)(Exec *x);
    // Peak backend memory in bytes since start (device allocator high-water mark or 0).
    size_t (*peak_bytes)(Exec *x);

    // ---- profiling ranges (NVTX on CUDA, nothing on the CPU) ------------------------------
    void (*range_push)(Exec *x, const char *name);
    void (*range_pop)(Exec *x);

    // ---- dense layers ---------------------------------------------------------------------
    // Linear layers and attention go through the stage's choices (LinearWeight.format,
    // choices.*_attention). y(rows, dim) = act(LayerNorm(x) * gamma + beta), statistics over
    // dim in float32. gamma, beta are act. y may equal x.
    void (*layernorm)(Exec *x, void *y_act, const void *x_act, const void *gamma_act,
                      const void *beta_act, int64_t rows, int dim, float eps, Act act);
    // The composite at the start of a windowed encoder block: LayerNorm of x (b, h, w, c), then
    // window_partition (below) into dst. One kernel where the stage chose fusion, else the two.
    void (*layernorm_window)(Exec *x, void *dst_act, const void *x_act, const void *gamma_act,
                             const void *beta_act, int b, int h, int w, int c, float eps, int win);
    // y(rows, out) = x(rows, in) W^T + table[r % period]: a linear layer whose bias is a
    // (period, out) act table repeated over the rows (rows a multiple of period). w is of the
    // backend's dense format and has no bias (the table holds it). The ragged decoder's
    // image-side products (variants/core/decoder.c): (keys + pe) W^T + b = keys W^T + table
    // with table = pe W^T + b, the same for every prompt.
    void (*linear_table)(Exec *x, void *y_act, const void *x_act, const LinearWeight *w,
                         int64_t rows, const void *table_act, int64_t period);
    // c[b](m, n) = alpha * sum_k a[b](m, k) * bmat[b](n, k), row-major with batch strides.
    void (*matmul_nt)(Exec *x, void *c_act, const void *a_act, const void *b_act, int batch, int m,
                      int n, int k, int64_t a_batch_stride, int64_t b_batch_stride,
                      int64_t c_batch_stride, float alpha);

    // ---- element-wise and data movement ----------------------------------------------------
    // y[i] = act(y[i]) for i < n, in place (GELU: exact erf, as nn.GELU; ReLU). The activation
    // as a pass of its own: what a stage without fusion runs after a linear layer or LayerNorm.
    void (*activation)(Exec *x, void *y_act, int64_t n, Act act);
    // y[i] = a[i % a_period] + b[i % b_period] for i < n (broadcasting by period). y may alias.
    void (*add)(Exec *x, void *y_act, const void *a_act, const void *b_act, int64_t n,
                int64_t a_period, int64_t b_period);
    // The per-image part of a ragged set read through the prompts' image index, in one pass:
    // y[p * block + i] = a[index[p] * block + i] + b[(p * block + i) % b_period] for p < n,
    // i < block. index (n) int32 in backend memory. With b the no-mask embedding (period dim)
    // it makes every prompt's keys from its image's embedding; with b per prompt (period
    // n * block), the image's embedding plus the prompt's dense mask embedding. y must not
    // alias a.
    void (*gather_add)(Exec *x, void *y_act, const void *a_act, const int32_t *index,
                       const void *b_act, int64_t n, int64_t block, int64_t b_period);
    // Strided 3-D copy of act elements: dst[b][r][c] = src[b][r][c], for c < cols.
    void (*copy3d)(Exec *x, void *dst_act, const void *src_act, int64_t batch, int64_t rows,
                   int64_t cols, int64_t dst_batch_stride, int64_t dst_row_stride,
                   int64_t src_batch_stride, int64_t src_row_stride);
    // Patches for a convolution as a GEMM: dst(N*OH*OW, C*k*k) with columns ordered (c, ky, kx)
    // as nn.Conv2d's weight (out, C, k, k) flattens. src is NCHW when src_nchw, else NHWC.
    // Zero padding of pad pixels on every side. src is act, or float32 when src_f32 (the
    // normalised image and mask inputs arrive in float32 whatever the activation dtype).
    void (*im2col)(Exec *x, void *dst_act, const void *src, int src_f32, int src_nchw, int n,
                   int h, int w, int c, int k, int stride, int pad);
    // ref: image_encoder.py window_partition: (B, H, W, C) -> (B * nWin, win * win, C),
    // zero-padded to multiples of win; windows ordered row-major.
    void (*window_partition)(Exec *x, void *dst_act, const void *src_act, int b, int h, int w,
                             int c, int win);
    // ref: image_encoder.py window_unpartition: inverse of the above, padding dropped.
    void (*window_unpartition)(Exec *x, void *dst_act, const void *src_act, int b, int h, int w,
                               int c, int win);
    // The mask decoder's low-res masks put in image order (variants/core/decoder.c
    // mask_decode: its two 2x upscalings leave their output pixels in sub-pixel order).
    // src (n, m, g*g*16) act, pixel order (y, x, s1, s2) with s = 2 dy + dx of each 2x step;
    // dst (n, count, 4g, 4g) float32: masks first .. first + count - 1 of each prompt, the
    // pixel (y, x, s1, s2) at (4y + 2 dy1 + dy2, 4x + 2 dx1 + dx2).
    void (*select_masks)(Exec *x, float *dst, const void *src_act, int n, int m, int first,
                         int count, int g);
    // The first upscaling's LayerNorm2d and GELU, the second upscaling, its GELU, the masks'
    // product and select_masks in one (a fused kernel; NULL where the backend has none:
    // variants/core/exec.h op_upscale_masks composes it from layernorm, linear, matmul_nt and
    // select_masks without fusion). u1 (n * 4g*g, d4) act in sub-pixel order (y, x, s1), the
    // first upscaling's product before its norm; ln_g, ln_b (d4) act and eps the norm's; w the
    // second transposed convolution as a linear layer (4 d8 outputs, sub-pixel s2 major);
    // hyper_in (n, m, d8) act; dst as select_masks'. Each pixel's masks are
    // hyper_in[p] . GELU(GELU(LN(u1 row)) . W[s2]^T + b).
    void (*upscale_masks)(Exec *x, float *dst, const void *u1_act, const void *ln_g_act,
                          const void *ln_b_act, float eps, const LinearWeight *w,
                          const void *hyper_in_act, int n, int m, int first, int count, int g);

    // ---- prompt encoding ------------------------------------------------------------------
    // ref: prompt_encoder.py PromptEncoder._embed_points / _embed_boxes
    // coords (n, t, 2) float32 in the resized-image frame (already apply_coords'ed, without
    // the +0.5 pixel-centre shift, which this op applies); labels (n, t) int32: 1 foreground,
    // 0 background, -1 padding point, 2 box top-left, 3 box bottom-right.
    // gauss (2, dim/2) float32; point_embed (4, dim) act (rows 0..3 of point_embeddings);
    // not_a_point (dim) act; out (n, t, dim) act.
    void (*embed_prompts)(Exec *x, void *out_act, const float *coords, const int32_t *labels,
                          int n, int t, int dim, const float *gauss, const void *point_embed_act,
                          const void *not_a_point_act, int img_size);

    // ---- post-processing (float32) --------------------------------------------------------
    void (*act_to_f32)(Exec *x, float *dst, const void *src_act, int64_t n);
    // Bilinear resize, align_corners=False, no antialias (F.interpolate): src (n, hin, win) ->
    // the top-left (hout, wout) block of the (hfull, wfull) result; dst (n, hout, wout).
    void (*resize_bilinear)(Exec *x, float *dst, const float *src, int n, int hin, int win,
                            int hfull, int wfull, int hout, int wout);

    // Sam.postprocess_masks of a ragged set in one pass: for each prompt p of r and each of its
    // c masks, src (hin, win) (prompt p's masks at src + p * c * hin * win) is resized to
    // (hfull, wfull), cropped to the top-left (in_h, in_w) of p and resized to (orig_h,
    // orig_w) of p, into dst at c * r->offset[p]. The same float operations, in the same order,
    // as resize_bilinear to the crop followed by resize_bilinear to the original size (the
    // intermediate never stored).
    void (*resize_masks_ragged)(Exec *x, float *dst, const float *src, int c, int hin, int win,
                                int hfull, int wfull, const RaggedMasks *r);

    // ---- evaluation (the end of the timed region) -------------------------------------------
    // For each of n prompts: write every mask as logits > 0 to masks (n, c, h, w) uint8 0/1
    // (predict_torch's thresholded masks), pick the mask with the highest predicted IoU (the
    // first on ties, as torch.argmax) and count its intersection and union with gt (n, h, w)
    // uint8 0/1. logits (n, c, h, w), pred_iou (n, c) float32; top_index (n) int32, inter and
    // uni (n) int64. All in backend memory.
    void (*top_mask_stats)(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                           int64_t *uni, const float *logits, const float *pred_iou,
                           const uint8_t *gt, int n, int c, int h, int w);
    // top_mask_stats over a ragged set: prompt p's c logit planes at logits + c * r->offset[p]
    // and masks at masks + c * r->offset[p], its ground truth at gt + r->offset[p], all of its
    // image's (orig_h, orig_w); pred_iou (r->n, c); top_index, inter, uni (r->n).
    void (*top_mask_stats_ragged)(Exec *x, uint8_t *masks, int32_t *top_index, int64_t *inter,
                                  int64_t *uni, const float *logits, const float *pred_iou,
                                  const uint8_t *gt, int c, const RaggedMasks *r);

    // ---- timing ------------------------------------------------------------------------------
    // Marks the start of a timed region in the backend's queue (a device event on CUDA).
    void (*timer_begin)(Exec *x);
    // Marks its end, waits for the queued work, returns the elapsed milliseconds.
    double (*timer_end_ms)(Exec *x);
    // Optional (NULL where a backend has none): per-phase timing inside the timed
    // region without waiting in it. timer_mark queues mark `slot` (0, 1, ...; a device event
    // on CUDA) and returns at once; after timer_end_ms has waited, timer_mark_ms gives the
    // milliseconds from mark `from` to mark `to` of that region.
    void (*timer_mark)(Exec *x, int slot);
    double (*timer_mark_ms)(Exec *x, int from, int to);

    // ---- planning and graphs (NULL where a backend has none) ---------------------------------
    // Makes the operations' scratch at least `bytes` on the main lane and `lane_bytes` on every
    // other lane (the planning pass's maxima), outside any timed or captured region. Returns 1
    // when a scratch buffer moved (a graph captured before points at the freed one), else 0.
    int (*reserve_workspace)(Exec *x, size_t bytes, size_t lane_bytes);
    // Graph capture: operations queued between graph_begin and graph_end are recorded, not run,
    // into a graph that graph_launch replays (with the same buffers) and graph_free frees.
    // Nothing may allocate or synchronise while capturing (the backend refuses it by name).
    void (*graph_begin)(Exec *x);
    void *(*graph_end)(Exec *x);
    void (*graph_launch)(Exec *x, void *graph);
    void (*graph_free)(Exec *x, void *graph);
    // Concurrent lanes: lane 0 is the main queue, lanes 1..n-1 run beside it, each with its own
    // scratch. lanes_open makes n lanes (outside any timed or captured region); set_lane sends
    // the following operations to a lane; lanes_fork makes every lane wait for lane 0's work so
    // far; lanes_join makes lane 0 wait for every lane's.
    void (*lanes_open)(Exec *x, int n);
    void (*set_lane)(Exec *x, int lane);
    void (*lanes_fork)(Exec *x);
    void (*lanes_join)(Exec *x);
    // Work queued since start: device kernels and library calls launched from the host
    // (graph_launch counts 1) and kernels executed (a replayed graph counts its kernel nodes).
    void (*launch_counts)(Exec *x, uint64_t *host_launches, uint64_t *kernels);
};

// An execution context for a table and its backend state, with no arena (the model's
// variants/core/exec.h commits one after a planning pass).
static inline void exec_init(Exec *x, const Ops *ops, void *backend) {
    *x = (Exec){0};
    x->ops = ops;
    x->backend = backend;
    x->act_size = ops->act_dtype == DT_BF16 ? 2 : 4;
}

// Element offset in an activation buffer.
static inline void *act_at(const Exec *x, const void *p, int64_t i) {
    return (char *)p + (size_t)i * x->act_size;
}

#endif
