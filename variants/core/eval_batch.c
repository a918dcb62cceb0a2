#include "eval_batch.h"

#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common/check.h"

// Graph kinds (GraphCache keys are per kind).
enum { GRAPH_ENCODER, GRAPH_DECODER, GRAPH_RAGGED };

// Lanes for the graphs choice's decoding: EVAL_DECODE_LANES, or SAM_DECODE_LANES (1..7) for
// the measurement that chose it (tests/gpu/logs/NOTES.md).
int eval_decode_lanes(void) {
    static int lanes;
    if (!lanes) {
        const char *s = getenv("SAM_DECODE_LANES");
        lanes = EVAL_DECODE_LANES;
        if (s) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || *end || v < 1 || v > 7) die("SAM_DECODE_LANES=%s: want 1..7", s);
            lanes = (int)v;
        }
    }
    return lanes;
}

// ---- inputs and outputs ---------------------------------------------------------------------

static void *regrow(Exec *x, void *p, size_t bytes) {
    if (p) x->ops->mem_free(x, p);
    return x->ops->mem_alloc(x, bytes);
}

void eval_io_load(Exec *x, EvalIO *io, const Batch *b, int C) {
    const size_t P = (size_t)b->n_prompts, mask_bytes = b->mask_offset[P];
    if (P > io->prompt_cap) {
        io->prompt_cap = P;
        io->coords = regrow(x, io->coords, sizeof(float) * P * 4);
        io->labels = regrow(x, io->labels, sizeof(int32_t) * P * 2);
        io->top_index = regrow(x, io->top_index, sizeof(int32_t) * P);
        io->inter = regrow(x, io->inter, sizeof(int64_t) * P);
        io->uni = regrow(x, io->uni, sizeof(int64_t) * P);
        io->iou = regrow(x, io->iou, sizeof(float) * P * (size_t)C);
        io->image_of = regrow(x, io->image_of, sizeof(int32_t) * P);
        io->size = regrow(x, io->size, sizeof(int32_t) * P * 4);
        io->offset = regrow(x, io->offset, sizeof(int64_t) * P);
    }
    if (mask_bytes > io->mask_cap) {
        io->mask_cap = mask_bytes;
        io->gt = regrow(x, io->gt, mask_bytes);
        io->masks = regrow(x, io->masks, mask_bytes * (size_t)C);
    }
    // ref: PromptEncoder._embed_points(pad=True): one point and a padding point (0, 0)
    // labelled -1, as SamPredictor.predict_torch with point prompts and no box.
    float *hc = xmalloc(sizeof(float) * P * 4 + 1);
    int32_t *hl = xmalloc(sizeof(int32_t) * P * 2 + 1);
    for (size_t p = 0; p < P; p++) {
        hc[4 * p] = b->point[2 * p];
        hc[4 * p + 1] = b->point[2 * p + 1];
        hc[4 * p + 2] = hc[4 * p + 3] = 0.0f;
        hl[2 * p] = 1;
        hl[2 * p + 1] = -1;
    }
    // The ragged decoding's index and geometry (kernels/ops.h RaggedMasks).
    int32_t *hi = xmalloc(sizeof(int32_t) * P * 5 + 1), *hs = hi + P;
    int64_t *ho = xmalloc(sizeof(int64_t) * P + 1);
    for (size_t p = 0; p < P; p++) {
        int img = b->prompt_image[p];
        hi[p] = img;
        hs[4 * p] = b->input_h[img], hs[4 * p + 1] = b->input_w[img];
        hs[4 * p + 2] = b->orig_h[img], hs[4 * p + 3] = b->orig_w[img];
        ho[p] = (int64_t)b->mask_offset[p];
    }
    x->ops->copy_to_device(x, io->coords, hc, sizeof(float) * P * 4);
    x->ops->copy_to_device(x, io->labels, hl, sizeof(int32_t) * P * 2);
    x->ops->copy_to_device(x, io->image_of, hi, sizeof(int32_t) * P);
    x->ops->copy_to_device(x, io->size, hs, sizeof(int32_t) * P * 4);
    x->ops->copy_to_device(x, io->offset, ho, sizeof(int64_t) * P);
    x->ops->copy_to_device(x, io->gt, b->gt_masks, mask_bytes);
    x->ops->sync(x);
    free(hc);
    free(hl);
    free(hi);
    free(ho);
}

void eval_io_free(Exec *x, EvalIO *io) {
    void *all[] = {io->coords, io->labels, io->gt, io->masks, io->top_index, io->inter, io->uni, io->iou,
                   io->image_of, io->size, io->offset};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) x->ops->mem_free(x, all[i]);
    memset(io, 0, sizeof *io);
}

// ---- encode -----------------------------------------------------------------------------------

static void encode_fn(void *ctx) {
    EvalBatch *e = ctx;
    sam_encode(e->m, e->embed, e->pixels, e->n_images);
}

// ref: SamPredictor.set_torch_image -> ImageEncoderViT.forward on the padded batch.
static void step_encode(EvalBatch *e) {
    if (e->graphs) graph_run(e->graphs, GRAPH_ENCODER, e->n_images, encode_fn, e);
    else encode_fn(e);
}

// ---- decode -------------------------------------------------------------------------------------

typedef struct {
    Sam *m;
    int n;                        // prompts
    const void *embed;            // (G*G, D) act of the image
    const float *coords;          // (n, 2, 2)
    const int32_t *labels;        // (n, 2)
    float *lowres, *iou;          // (n, C, 4G, 4G), (n, C)
} DecodeCall;

static void decode_fn(void *ctx) {
    DecodeCall *d = ctx;
    Prompts pr = {.n = d->n, .t = 2, .coords = d->coords, .labels = d->labels, .mask_input = NULL};
    sam_decode(d->m, d->lowres, d->iou, d->embed, &pr, 1);
}

// Prompts [p0, p0 + n) of image i, all in one decoder call (the seed's batched predict_torch).
// With graphs, the decoder is replayed from the capture for (images in the batch, n): the
// image's embedding and prompts are first copied into arena buffers whose addresses depend
// only on that key, and its predicted IoUs copied out after.
static void decode_image(EvalBatch *e, int i, int p0, int n, float *lowres, int lane) {
    Exec *x = e->m->x;
    const SamConfig *c = &e->m->cfg;
    const int C = c->num_mask_tokens - 1, GGD = c->grid * c->grid * c->prompt_dim;
    const void *embed = act_at(x, e->embed, (int64_t)i * GGD);
    DecodeCall d = {e->m, n, embed, e->io->coords + (size_t)p0 * 4, e->io->labels + (size_t)p0 * 2,
                    lowres, e->io->iou + (size_t)p0 * C};
    if (!e->graphs) {
        decode_fn(&d);
        return;
    }
    size_t mark = ex_mark(x);
    void *stage_embed = ex_act(x, GGD);
    float *stage_coords = ex_f32(x, (int64_t)n * 4);
    int32_t *stage_labels = ex_alloc_bytes(x, sizeof(int32_t) * (size_t)n * 2);
    float *stage_iou = ex_f32(x, (int64_t)n * C);
    op_copy_device(x, stage_embed, embed, (size_t)GGD * x->act_size);
    op_copy_device(x, stage_coords, d.coords, sizeof(float) * (size_t)n * 4);
    op_copy_device(x, stage_labels, d.labels, sizeof(int32_t) * (size_t)n * 2);
    DecodeCall staged = {e->m, n, stage_embed, stage_coords, stage_labels, lowres, stage_iou};
    // The key is what fixes the addresses: the images in the batch (where the lanes' regions
    // start), the lane and its region size, and the prompt count.
    size_t region = e->io->lane_bytes >> 8;
    CHECK(n < (1 << 16) && lane < (1 << 8) && e->n_images < (1 << 16) && region < ((size_t)1 << 23));
    int64_t key = (int64_t)region << 40 | (int64_t)e->n_images << 24 | (int64_t)lane << 16 | n;
    graph_run(e->graphs, GRAPH_DECODER, key, decode_fn, &staged);
    op_copy_device(x, d.iou, stage_iou, sizeof(float) * (size_t)n * C);
    ex_release(x, mark);
}

// ---- post and stats ---------------------------------------------------------------------------

// ref: sam.py Sam.postprocess_masks, predictor.py predict_torch (masks > 0), metrics.py.
static void post_image(EvalBatch *e, int i, int p0, int n, const float *lowres) {
    Exec *x = e->m->x;
    const Batch *b = e->b;
    const int C = e->m->cfg.num_mask_tokens - 1, H = b->orig_h[i], W = b->orig_w[i];
    size_t mark = ex_mark(x);
    float *logits = ex_f32(x, (int64_t)n * C * H * W);
    sam_postprocess(e->m, logits, lowres, n * C, b->input_h[i], b->input_w[i], H, W);
    size_t off = b->mask_offset[p0];
    op_top_mask_stats(x, e->io->masks + (size_t)C * off, e->io->top_index + p0, e->io->inter + p0,
                      e->io->uni + p0, logits, e->io->iou + (size_t)p0 * C, e->io->gt + off, n, C, H, W);
    ex_release(x, mark);
}

// ---- decoding modes -------------------------------------------------------------------------

typedef struct {
    int marks;        // phase marks queued so far
    int use_marks;    // the backend marks phases, and this is a real pass
    double host_t;    // host clock at the last phase boundary (ms)
} PhaseClock;

static void phase_end(EvalBatch *e, PhaseClock *pc, int phase) {
    Exec *x = e->m->x;
    if (pc->use_marks) x->ops->timer_mark(x, pc->marks++);
    double now = now_seconds() * 1e3;
    e->host_ms[phase] += now - pc->host_t;
    pc->host_t = now;
}

// DECODE_PER_IMAGE: one prompt-encoder and decoder call per image, then its post-processing.
static void decode_per_image(EvalBatch *e, PhaseClock *pc) {
    Exec *x = e->m->x;
    const Batch *b = e->b;
    const SamConfig *c = &e->m->cfg;
    const int C = c->num_mask_tokens - 1, L = 4 * c->grid;
    for (int i = 0; i < e->n_images; i++) {
        int p0 = b->prompt_offset[i], n = b->prompt_offset[i + 1] - p0;
        if (n == 0) continue;
        size_t mark = ex_mark(x);
        float *lowres = ex_f32(x, (int64_t)n * C * L * L);
        decode_image(e, i, p0, n, lowres, 0);
        phase_end(e, pc, PHASE_DECODER);
        post_image(e, i, p0, n, lowres);
        phase_end(e, pc, PHASE_POST);
        ex_release(x, mark);
    }
}

// DECODE_PER_IMAGE with the graphs choice: each image's decode (a replayed graph) and its
// post-processing run on one of EVAL_DECODE_LANES lanes, images round-robin, in arena regions
// of their own (lane_bytes each, the largest footprint the planning passes met), so the lanes
// never share a buffer. The decoder phase then holds the post-processing too (post reads 0).
static void decode_per_image_lanes(EvalBatch *e, PhaseClock *pc) {
    Exec *x = e->m->x;
    const Batch *b = e->b;
    const SamConfig *c = &e->m->cfg;
    const int C = c->num_mask_tokens - 1, L = 4 * c->grid;
    size_t base = ex_mark(x);
    if (x->planning) {
        // Each image's footprint from base; the arena's high-water mark is restored after.
        for (int i = 0; i < e->n_images; i++) {
            int p0 = b->prompt_offset[i], n = b->prompt_offset[i + 1] - p0;
            if (n == 0) continue;
            size_t peak = x->arena_peak;
            x->arena_peak = base;
            x->lane_planning = 1;
            float *lowres = ex_f32(x, (int64_t)n * C * L * L);
            decode_image(e, i, p0, n, lowres, 1);
            post_image(e, i, p0, n, lowres);
            x->lane_planning = 0;
            size_t need = (x->arena_peak - base + 255) / 256 * 256;
            if (need > e->io->lane_bytes) e->io->lane_bytes = need;
            x->arena_peak = peak > x->arena_peak ? peak : x->arena_peak;
            ex_release(x, base);
        }
    }
    const size_t R = e->io->lane_bytes;
    (void)ex_alloc_bytes(x, R * eval_decode_lanes());  // the lanes' regions
    if (x->planning) {
        ex_release(x, base);
        return;
    }
    const int real = !x->preparing;
    size_t start = (base + 255) / 256 * 256;  // where ex_alloc_bytes put the regions
    if (real) x->ops->lanes_fork(x);
    for (int i = 0, k = 0; i < e->n_images; i++) {
        int p0 = b->prompt_offset[i], n = b->prompt_offset[i + 1] - p0;
        if (n == 0) continue;
        int lane = 1 + k++ % eval_decode_lanes();
        x->ops->set_lane(x, lane);  // captures too: a lane's graph holds its lane's scratch
        x->arena_top = start + (size_t)(lane - 1) * R;
        float *lowres = ex_f32(x, (int64_t)n * C * L * L);
        decode_image(e, i, p0, n, lowres, lane);
        post_image(e, i, p0, n, lowres);
    }
    x->ops->set_lane(x, 0);
    x->arena_top = start + R * eval_decode_lanes();
    if (real) x->ops->lanes_join(x);
    phase_end(e, pc, PHASE_DECODER);
    phase_end(e, pc, PHASE_POST);
    ex_release(x, base);
}

// Per-image decoding: on concurrent lanes where the stage captures graphs and the backend has
// lanes, else in order on the main queue.
static void decode_per_image_step(EvalBatch *e, PhaseClock *pc) {
    if (e->graphs && e->m->x->ops->lanes_open) decode_per_image_lanes(e, pc);
    else decode_per_image(e, pc);
}

// ---- ragged decoding ---------------------------------------------------------------------------

typedef struct {
    Sam *m;
    const void *embed;            // (n_images, G*G, D) act
    RaggedPrompts pr;
    float *lowres, *iou;          // (P, C, 4G, 4G), (P, C)
} RaggedCall;

static void ragged_fn(void *ctx) {
    RaggedCall *d = ctx;
    sam_decode_ragged(d->m, d->lowres, d->iou, d->embed, &d->pr, 1);
}

// Every prompt of the batch in one prompt-encoder and mask-decoder pass. With graphs, the pass
// is replayed from the capture for (images in the batch, prompts in the batch): the arena
// holds the embeddings and lowres at addresses that depend only on that key; the prompts and
// their image index are first copied into arena buffers (the EvalIO buffers move when they
// grow) and the predicted IoUs copied out after, as decode_image does.
static void decode_set(EvalBatch *e, int P, float *lowres) {
    Exec *x = e->m->x;
    const int C = e->m->cfg.num_mask_tokens - 1;
    EvalIO *io = e->io;
    RaggedCall d = {e->m, e->embed,
                    {.n = P, .t = 2, .images = e->n_images, .image_of = io->image_of, .coords = io->coords, .labels = io->labels},
                    lowres, io->iou};
    if (!e->graphs) {
        ragged_fn(&d);
        return;
    }
    size_t mark = ex_mark(x);
    float *stage_coords = ex_f32(x, (int64_t)P * 4);
    int32_t *stage_labels = ex_alloc_bytes(x, sizeof(int32_t) * (size_t)P * 2);
    int32_t *stage_image = ex_alloc_bytes(x, sizeof(int32_t) * (size_t)P);
    float *stage_iou = ex_f32(x, (int64_t)P * C);
    op_copy_device(x, stage_coords, io->coords, sizeof(float) * (size_t)P * 4);
    op_copy_device(x, stage_labels, io->labels, sizeof(int32_t) * (size_t)P * 2);
    op_copy_device(x, stage_image, io->image_of, sizeof(int32_t) * (size_t)P);
    RaggedCall staged = d;
    staged.pr.coords = stage_coords, staged.pr.labels = stage_labels, staged.pr.image_of = stage_image;
    staged.iou = stage_iou;
    CHECK(P < (1 << 24) && e->n_images < (1 << 24));
    graph_run(e->graphs, GRAPH_RAGGED, (int64_t)e->n_images << 32 | P, ragged_fn, &staged);
    op_copy_device(x, io->iou, stage_iou, sizeof(float) * (size_t)P * C);
    ex_release(x, mark);
}

// DECODE_RAGGED: the batch's prompts as one ragged set, each with its image's index: one
// decode, then one post-processing (every prompt's masks to its own image's sizes) and one
// statistics pass. Phases as per-image's: decoder = prompt encoding and decoding of the whole
// batch, post = post-processing and statistics (outside the graphs).
static void decode_ragged(EvalBatch *e, PhaseClock *pc) {
    Exec *x = e->m->x;
    const Batch *b = e->b;
    const SamConfig *c = &e->m->cfg;
    const int C = c->num_mask_tokens - 1, L = 4 * c->grid;
    const int P = b->prompt_offset[e->n_images];
    size_t mark = ex_mark(x);
    float *lowres = ex_f32(x, (int64_t)P * C * L * L);
    if (P > 0) decode_set(e, P, lowres);
    phase_end(e, pc, PHASE_DECODER);
    if (P > 0) {
        // ref: sam.py Sam.postprocess_masks, predictor.py predict_torch (masks > 0), metrics.py
        float *logits = ex_f32(x, (int64_t)C * (int64_t)b->mask_offset[P]);
        RaggedMasks r = {P, e->io->size, e->io->offset};
        sam_postprocess_ragged(e->m, logits, lowres, C, &r);
        op_top_mask_stats_ragged(x, e->io->masks, e->io->top_index, e->io->inter, e->io->uni,
                                 logits, e->io->iou, e->io->gt, C, &r);
    }
    phase_end(e, pc, PHASE_POST);
    ex_release(x, mark);
}

typedef void (*DecodeSteps)(EvalBatch *e, PhaseClock *pc);
static const DecodeSteps DECODINGS[] = {[DECODE_PER_IMAGE] = decode_per_image_step,
                                        [DECODE_RAGGED] = decode_ragged};

// ---- the timed batch -------------------------------------------------------------------------

void eval_batch(Sam *m, void *ctx) {
    EvalBatch *e = ctx;
    Exec *x = m->x;
    const SamConfig *c = &m->cfg;
    const int S = c->img_size, G = c->grid, D = c->prompt_dim;
    const int real = !x->planning && !x->preparing;
    e->m = m;
    e->pixels = ex_f32(x, (int64_t)e->n_images * 3 * S * S);
    e->embed = ex_act(x, (int64_t)e->n_images * G * G * D);
    uint64_t launches0 = 0, kernels0 = 0;
    if (real) {
        x->ops->copy_to_device(x, e->pixels, e->b->pixels, sizeof(float) * (size_t)e->n_images * 3 * S * S);
        x->ops->sync(x);
        if (x->ops->launch_counts) x->ops->launch_counts(x, &launches0, &kernels0);
        x->ops->timer_begin(x);
    }
    // Phase marks (device events, no host wait): 0 before the encoder, 1 after it, then one
    // after each decode and one after each post-processing.
    PhaseClock pc = {0, real && x->ops->timer_mark != NULL, now_seconds() * 1e3};
    for (int k = 0; k < N_PHASES; k++) e->host_ms[k] = 0.0;
    if (pc.use_marks) x->ops->timer_mark(x, pc.marks++);

    // ---- timed region ----
    step_encode(e);
    phase_end(e, &pc, PHASE_ENCODER);
    DECODINGS[e->choices->decoding](e, &pc);

    if (!real) return;
    e->ms = x->ops->timer_end_ms(x);
    e->launches = e->kernels = 0;
    if (x->ops->launch_counts) {
        uint64_t l1, k1;
        x->ops->launch_counts(x, &l1, &k1);
        e->launches = l1 - launches0, e->kernels = k1 - kernels0;
    }
    for (int k = 0; k < N_PHASES; k++) e->phase_ms[k] = -1.0;
    if (pc.use_marks) {
        e->phase_ms[PHASE_ENCODER] = x->ops->timer_mark_ms(x, 0, 1);
        e->phase_ms[PHASE_DECODER] = e->phase_ms[PHASE_POST] = 0.0;
        for (int k = 2; k + 1 < pc.marks; k += 2) {
            e->phase_ms[PHASE_DECODER] += x->ops->timer_mark_ms(x, k - 1, k);
            e->phase_ms[PHASE_POST] += x->ops->timer_mark_ms(x, k, k + 1);
        }
    }
}
