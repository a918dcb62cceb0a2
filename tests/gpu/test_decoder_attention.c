// The mask decoder's flash attention (kernels/cuda/decoder_attention.cu, the nested stage's
// decoder attention) against the explicit float32 attention, on the two-way transformer's
// shapes: token self-attention (T x T, head dim 32), token-to-image (T x 4096, head dim 16, the
// split-keys kernel), image-to-token (4096 x T, head dim 16), at the tiny fixtures' sizes (2
// heads, 16 x 16 and 64 x 64 grids) and at full size for a batch of 8 images (52 prompts,
// 8 heads), with and without the batch index of ragged decoding (prompts reading their
// image's rows), and the split kernel's edges (k_len not a multiple of its step, q_len at its
// limit, one query).
//   float32: within 2e-5 of the explicit float32 attention (max|x - ref| / max|ref|);
//   bfloat16: flash-attention's rule on the same bfloat16-exact inputs: the error against the
//   float32 result at most twice the explicit bfloat16 path's (scores and probabilities
//   materialised in bfloat16), in max and Frobenius measures; and, so a broken reference cannot
//   loosen the rule, the explicit path's max error under 5e-2 and this kernel's under 2e-2.
// Each shape also checks which kernel takes it, per precision, against the limits the kernel
// file documents (cuda_decoder_flash_kernel).
// Outputs are poisoned (NaN) first: every element must be written, the gaps of a gapped output
// layout must keep the poison. Graph capture: the replay equals the eager call bit for bit.
//
//   build/tests/gpu/test_decoder_attention            the suite (make test-gpu)
//   build/tests/gpu/test_decoder_attention --bench    the decoder's attentions at batch 8
//                                                     (52 prompts) and 32 (208): this kernel
//                                                     beside explicit bf16
//   build/tests/gpu/test_decoder_attention --refuse N (internal: one refusal, must exit 1)
// SAM_TEST_SEED sets the random seed.
#include "../../kernels/cuda/cuda_ops.h"
#include "attn_check.h"
#include "test_rand.h"

static CudaBackend *BK;
static Exec F32, BF;
static uint64_t rng = 0xdec0a77e1ull;

// =============================================================================================
// problems
// =============================================================================================

// n call entries of heads x hd; q rows (nq_src, tq, di) and k, v rows (nkv_src, tk, di), di =
// heads x hd, as the decoder's projections write them; o (n, tq, di), or gapped (8 more
// elements after each head's row, 16 after each entry). shared: q (1) or k, v (2) of entry b
// are those of image (7 b + 3) % images (the index), else each entry has its own.
typedef struct {
    const char *label;
    int n, heads, tq, tk, hd, shared, images, gapped;
} Shape;

typedef struct {
    Shape s;
    AttnParams p;  // sizes and strides
    int nq_src, nkv_src;
    int64_t n_q, n_kv, n_out;
    int32_t *of;  // (n) host: entry -> image
    float *q, *k, *v;  // host inputs, bfloat16-exact
    float *ref;        // float32 result, NaN in the gaps
    double ex_max, ex_fro;  // explicit bfloat16's error
} Case;

static void case_layout(Case *c) {
    Shape s = c->s;
    AttnParams *p = &c->p;
    memset(p, 0, sizeof *p);
    int64_t di = (int64_t)s.heads * s.hd;
    p->site = ATTN_DECODER;
    p->batch = s.n, p->heads = s.heads, p->q_len = s.tq, p->k_len = s.tk, p->head_dim = s.hd;
    p->scale = 1.0f / sqrtf((float)s.hd);
    p->q_batch_stride = s.tq * di, p->q_tok_stride = di, p->q_head_stride = s.hd;
    p->k_batch_stride = p->v_batch_stride = s.tk * di;
    p->k_tok_stride = p->v_tok_stride = di, p->k_head_stride = p->v_head_stride = s.hd;
    if (s.gapped) {
        p->o_head_stride = s.hd + 8, p->o_tok_stride = (int64_t)s.heads * (s.hd + 8);
        p->o_batch_stride = s.tq * p->o_tok_stride + 16;
    } else {
        p->o_head_stride = s.hd, p->o_tok_stride = di, p->o_batch_stride = s.tq * di;
    }
    c->nq_src = s.shared == 1 ? s.images : s.n;
    c->nkv_src = s.shared == 2 ? s.images : s.n;
    c->n_q = (int64_t)c->nq_src * s.tq * di;
    c->n_kv = (int64_t)c->nkv_src * s.tk * di;
    c->n_out = s.n * p->o_batch_stride;
}

// Entry b's rows copied out of the shared ones: the reference's own-rows inputs.
static float *expand(const float *src, const int32_t *of, int n, int64_t per) {
    float *e = xmalloc((size_t)(n * per > 0 ? n * per : 1) * sizeof(float));
    for (int b = 0; b < n; b++) memcpy(e + b * per, src + (int64_t)of[b] * per, (size_t)per * sizeof(float));
    return e;
}

// The explicit attention of table x on the expanded inputs.
static float *run_explicit(Exec *x, const AttentionImpl *impl, const Case *c, const float *qe,
                           const float *ke, const float *ve) {
    const Shape *s = &c->s;
    int64_t di = (int64_t)s->heads * s->hd;
    int64_t nq = (int64_t)s->n * s->tq * di, nk = (int64_t)s->n * s->tk * di;
    void *q = dev_act(x, qe, nq), *k = dev_act(x, ke, nk), *v = dev_act(x, ve, nk);
    void *o = dev_poisoned(x, (size_t)c->n_out * x->act_size);
    AttnParams p = c->p;
    p.q = q, p.k = k, p.v = v, p.o = o;
    impl->run(x, &p);
    float *h = get_act(x, o, c->n_out);
    dfree(x, q), dfree(x, k), dfree(x, v), dfree(x, o);
    return h;
}

static void case_open(Case *c, Shape s) {
    memset(c, 0, sizeof *c);
    c->s = s;
    case_layout(c);
    c->of = xmalloc((size_t)(s.n > 0 ? s.n : 1) * sizeof(int32_t));
    for (int b = 0; b < s.n; b++) c->of[b] = s.shared ? (int32_t)((b * 7 + 3) % s.images) : b;
    c->q = rnd_bf16(c->n_q, -2.0f, 2.0f);
    c->k = rnd_bf16(c->n_kv, -2.0f, 2.0f);
    c->v = rnd_bf16(c->n_kv, -1.0f, 1.0f);
    int64_t di = (int64_t)s.heads * s.hd;
    float *qe = s.shared == 1 ? expand(c->q, c->of, s.n, s.tq * di) : c->q;
    float *ke = s.shared == 2 ? expand(c->k, c->of, s.n, s.tk * di) : c->k;
    float *ve = s.shared == 2 ? expand(c->v, c->of, s.n, s.tk * di) : c->v;
    c->ref = run_explicit(&F32, &cuda_attention_explicit, c, qe, ke, ve);
    float *xe = run_explicit(&BF, &cuda_attention_explicit, c, qe, ke, ve);
    Err e = error_of(xe, c->ref, c->n_out);
    c->ex_max = e.max, c->ex_fro = e.fro;
    free(xe);
    if (qe != c->q) free(qe);
    if (ke != c->k) free(ke), free(ve);
}
static void case_close(Case *c) { free(c->of), free(c->q), free(c->k), free(c->v), free(c->ref); }

// decoder-flash on table x, through the index where the shape shares rows; eager or captured.
static float *run_flash(Exec *x, const Case *c, int graph) {
    const Shape *s = &c->s;
    void *q = dev_act(x, c->q, c->n_q), *k = dev_act(x, c->k, c->n_kv), *v = dev_act(x, c->v, c->n_kv);
    void *o = dev_poisoned(x, (size_t)c->n_out * x->act_size);
    void *of = x->ops->mem_alloc(x, (size_t)(s->n > 0 ? s->n : 1) * sizeof(int32_t));
    x->ops->copy_to_device(x, of, c->of, (size_t)s->n * sizeof(int32_t));
    AttnParams p = c->p;
    p.q = q, p.k = k, p.v = v, p.o = o;
    if (s->shared == 1) p.q_batch_of = of;
    if (s->shared == 2) p.kv_batch_of = of;
    size_t ws = cuda_attention_decoder_flash.workspace_bytes(x, &p);
    if (ws) x->ops->reserve_workspace(x, ws, 0);
    if (graph) {
        cuda_backend_set_sync_each_launch(BK, 0);
        x->ops->graph_begin(x);
        cuda_attention_decoder_flash.run(x, &p);
        void *g = x->ops->graph_end(x);
        x->ops->graph_launch(x, g);
        x->ops->sync(x);
        x->ops->graph_free(x, g);
        cuda_backend_set_sync_each_launch(BK, 1);
    } else {
        cuda_attention_decoder_flash.run(x, &p);
    }
    float *h = get_act(x, o, c->n_out);
    dfree(x, q), dfree(x, k), dfree(x, v), dfree(x, o), dfree(x, of);
    return h;
}

static const char *share_name(int s) { return s == 1 ? ", q through the index" : s == 2 ? ", k and v through the index" : ""; }

// The kernel kernels/cuda/decoder_attention.cu documents for a shape: in bfloat16 the
// tensor-core ones up to 256 columns (heads x head dim), i2t for k_len <= 16, else t2i for
// q_len <= 16; past those (and in float32) split keys for q_len <= 32 and k_len > 256, else short
// keys.
static const char *expected_kernel(const Shape *s, int bf16) {
    if (bf16 && s->heads * s->hd <= 256) {
        if (s->tk <= 16) return "i2t (tensor cores)";
        if (s->tq <= 16) return "t2i (tensor cores)";
    }
    return s->tq <= 32 && s->tk > 256 ? "split keys" : "short keys";
}

static void check_shape(Shape s) {
    Case c;
    case_open(&c, s);
    char what[256], kind[2][64];
    snprintf(what, sizeof what, "%s: n=%d heads=%d %dx%d hd=%d%s%s", s.label, s.n, s.heads, s.tq, s.tk, s.hd,
             share_name(s.shared), s.gapped ? ", gapped o" : "");
    Exec *tables[2] = {&F32, &BF};
    for (int bf = 0; bf < 2; bf++) {
        const char *got = cuda_decoder_flash_kernel(tables[bf], &c.p), *want = expected_kernel(&s, bf);
        snprintf(kind[bf], sizeof kind[bf], ", %s", got);
        result(strcmp(got, want) == 0, "decoder-flash %s %s: takes the %s kernel (expected: %s)",
               bf ? "bf16" : "fp32", what, got, want);
    }
    const int64_t gaps = c.n_out - (int64_t)s.n * s.tq * s.heads * s.hd;  // NaNs the reference keeps
    // float32
    float *x32 = run_flash(&F32, &c, 0);
    Err e = error_of(x32, c.ref, c.n_out);
    result(e.unwritten == 0 && e.overwritten == 0 && e.ref_nan == gaps && e.max <= 2e-5,
           "decoder-flash fp32 %s%s: max %.3g (tol 2e-05)%s%s", what, kind[0], e.max,
           e.unwritten ? ", elements not written" : "", e.overwritten ? ", gap elements written" : "");
    // bfloat16, eager and captured
    float *x16 = run_flash(&BF, &c, 0), *g16 = run_flash(&BF, &c, 1);
    e = error_of(x16, c.ref, c.n_out);
    int ok = e.unwritten == 0 && e.overwritten == 0 && e.ref_nan == gaps && e.max <= 2 * c.ex_max && e.fro <= 2 * c.ex_fro &&
             c.ex_max < 5e-2 && e.max < 2e-2;
    result(ok, "decoder-flash bf16 %s%s: max %.3g (explicit bf16 %.3g, ratio %.2f), fro %.3g (explicit %.3g, "
           "ratio %.2f)%s%s", what, kind[1], e.max, c.ex_max, c.ex_max > 0 ? e.max / c.ex_max : 0.0, e.fro, c.ex_fro,
           c.ex_fro > 0 ? e.fro / c.ex_fro : 0.0, e.unwritten ? ", elements not written" : "",
           e.overwritten ? ", gap elements written" : "");
    int64_t diff = 0;
    for (int64_t i = 0; i < c.n_out; i++)
        if (memcmp(&x16[i], &g16[i], 4) != 0) diff++;
    result(diff == 0, "decoder-flash bf16 graph %s%s: %lld elements of the replay differ from the eager call",
           what, kind[1], (long long)diff);
    free(x32), free(x16), free(g16);
    case_close(&c);
}

// =============================================================================================
// refusals: each in a child process (die() exits), which must exit 1 naming the kernel
// =============================================================================================

// Each case and the words its refusal must give (every message of the kernel names it, so the
// name alone would pass a refusal for another reason).
static const char *const REFUSALS[][2] = {
    {"head dim 64", "head dim 64 is not implemented"},
    {"head dim 8", "head dim 8 is not implemented"},
    {"a rel-pos table", "rel-pos table is not implemented"},
    {"token stride not a multiple of 8 (bf16)", "strides must be multiples of 8"},
    {"q not 16-byte aligned", "must be 16-byte aligned"},
};
#define N_REFUSALS ((int)(sizeof REFUSALS / sizeof REFUSALS[0]))

static int refuse_child(int r) {
    Shape s = {"refuse", 2, 2, 7, 64, r == 0 ? 64 : r == 1 ? 8 : 16, 0, 0, 0};
    Case c;
    memset(&c, 0, sizeof c);
    c.s = s;
    case_layout(&c);
    void *buf = BF.ops->mem_alloc(&BF, (size_t)(c.n_q + 2 * c.n_kv + c.n_out) * 2 + 256);
    AttnParams p = c.p;
    p.q = buf, p.k = act_at(&BF, buf, c.n_q), p.v = act_at(&BF, buf, c.n_q + c.n_kv);
    p.o = act_at(&BF, buf, c.n_q + 2 * c.n_kv);
    if (r == 2) p.rel_pos = buf, p.grid_h = p.grid_w = 8;
    if (r == 3) p.q_tok_stride += 2;
    if (r == 4) p.q = act_at(&BF, buf, 4);
    cuda_attention_decoder_flash.run(&BF, &p);
    BF.ops->sync(&BF);
    printf("the call returned\n");
    return 0;
}


// =============================================================================================
// benchmark
// =============================================================================================

static double time_impl(const AttentionImpl *impl, const AttnParams *p) {
    double t[15];
    size_t ws = impl->workspace_bytes ? impl->workspace_bytes(&BF, p) : 0;
    if (ws) BF.ops->reserve_workspace(&BF, ws, 0);
    for (int i = 0; i < 3; i++) impl->run(&BF, p);
    for (int r = 0; r < 15; r++) {
        BF.ops->timer_begin(&BF);
        for (int i = 0; i < 10; i++) impl->run(&BF, p);
        t[r] = BF.ops->timer_end_ms(&BF) / 10;
    }
    qsort(t, 15, sizeof t[0], cmp_double);
    return t[7];
}

static void bench(void) {
    cuda_backend_set_sync_each_launch(BK, 0);
    char desc[1024];
    cuda_backend_describe(BK, desc, sizeof desc);
    printf("device %s\n", desc);
    // Per decoder pass (two layers and the final attention): 2 self, 3 token-to-image,
    // 2 image-to-token attentions.
    const int prompts[2] = {52, 208};
    printf("\n%-34s %8s %12s %12s %8s\n", "attention (count per pass)", "prompts", "flash ms", "explicit ms", "speedup");
    for (int pi = 0; pi < 2; pi++) {
        int n = prompts[pi];
        struct {
            const char *label;
            Shape s;
            int count;
        } B[] = {
            {"self 7x7 hd32", {"", n, 8, 7, 7, 32, 0, 0, 0}, 2},
            {"token-to-image 7x4096 hd16", {"", n, 8, 7, 4096, 16, 0, 0, 0}, 3},
            {"image-to-token 4096x7 hd16", {"", n, 8, 4096, 7, 16, 0, 0, 0}, 2},
        };
        double tf = 0, te = 0;
        for (int i = 0; i < 3; i++) {
            Case c;
            memset(&c, 0, sizeof c);
            c.s = B[i].s;
            case_layout(&c);
            float *h = rnd_bf16(c.n_q + 2 * c.n_kv, -2.0f, 2.0f);
            void *in = dev_act(&BF, h, c.n_q + 2 * c.n_kv);
            void *o = BF.ops->mem_alloc(&BF, (size_t)c.n_out * 2);
            AttnParams p = c.p;
            p.q = in, p.k = act_at(&BF, in, c.n_q), p.v = act_at(&BF, in, c.n_q + c.n_kv), p.o = o;
            double f = time_impl(&cuda_attention_decoder_flash, &p), e = time_impl(&cuda_attention_explicit, &p);
            printf("%-30s (%d) %8d %12.4f %12.4f %7.1fx\n", B[i].label, B[i].count, n, f, e, e / f);
            tf += B[i].count * f, te += B[i].count * e;
            dfree(&BF, in), dfree(&BF, o);
            free(h);
        }
        printf("NOTE bench decoder attentions per pass, %d prompts: decoder-flash %.3f ms, explicit bf16 %.3f ms (%.1fx)\n",
               n, tf, te, te / tf);
    }
    cuda_backend_set_sync_each_launch(BK, 1);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    BK = attn_test_open("test_decoder_attention", &F32, &BF, &rng);
    if (strcmp(mode, "--refuse") == 0 && argc > 2) return refuse_child(atoi(argv[2]));
    printf("test_decoder_attention: seed 0x%llx\n", (unsigned long long)rng);
    if (strcmp(mode, "--bench") == 0) {
        bench();
        cuda_backend_close(BK);
        return 0;
    }
    cuda_backend_set_sync_each_launch(BK, 1);
    // The tiny fixture (prompt dim 64, 2 heads: self hd 32, cross hd 16, 16 x 16 grid) and
    // tiny1024 (64 x 64 grid), a point prompt (7 tokens) and a box + point prompt (8).
    check_shape((Shape){"tiny self", 6, 2, 7, 7, 32, 0, 0, 0});
    check_shape((Shape){"tiny token-to-image", 6, 2, 7, 256, 16, 0, 0, 0});
    check_shape((Shape){"tiny image-to-token", 6, 2, 256, 7, 16, 0, 0, 0});
    check_shape((Shape){"tiny1024 token-to-image", 5, 2, 8, 4096, 16, 0, 0, 0});
    check_shape((Shape){"tiny1024 image-to-token", 5, 2, 4096, 8, 16, 0, 0, 0});
    // Ragged decoding's first layer: k, v (token-to-image) and q (image-to-token) of 3 images
    // shared by 11 prompts.
    check_shape((Shape){"shared token-to-image", 11, 2, 7, 4096, 16, 2, 3, 0});
    check_shape((Shape){"shared image-to-token", 11, 2, 4096, 7, 16, 1, 3, 0});
    // The split kernel's edges: k_len just over its threshold and not a multiple of its step,
    // q_len at its limit (32) and one query; past the limit the short-keys kernel takes it.
    check_shape((Shape){"split edge", 3, 3, 1, 257, 16, 0, 0, 1});
    check_shape((Shape){"split edge", 2, 2, 32, 1000, 32, 0, 0, 0});
    check_shape((Shape){"split limit", 2, 2, 33, 1000, 16, 0, 0, 1});
    // The tensor-core kernels' limits: 16 queries (token-to-image), 16 keys (image-to-token),
    // 256 columns (heads x head dim); past them the CUDA-core kernels take the call.
    check_shape((Shape){"t2i limit", 2, 3, 16, 700, 16, 0, 0, 1});
    check_shape((Shape){"t2i limit", 2, 2, 17, 700, 16, 0, 0, 0});
    check_shape((Shape){"t2i hd32", 3, 2, 9, 1500, 32, 2, 2, 1});
    check_shape((Shape){"t2i short range", 2, 4, 5, 20, 16, 0, 0, 0});
    check_shape((Shape){"one split", 1, 1, 7, 4096, 16, 0, 0, 0});
    check_shape((Shape){"i2t limit", 2, 3, 100, 16, 32, 0, 0, 1});
    check_shape((Shape){"i2t limit", 2, 3, 100, 17, 16, 0, 0, 1});
    check_shape((Shape){"i2t hd32 shared q", 5, 8, 130, 9, 32, 1, 2, 0});
    check_shape((Shape){"256 columns", 2, 16, 7, 300, 16, 0, 0, 0});
    check_shape((Shape){"256 columns", 2, 17, 7, 300, 16, 0, 0, 0});
    check_shape((Shape){"many heads", 2, 11, 5, 300, 16, 0, 0, 1});  // head groups of 8 and 3
    check_shape((Shape){"many tokens", 2, 9, 70, 70, 32, 0, 0, 1});
    // Full size, batch 8 (52 prompts, 8 heads).
    check_shape((Shape){"vit self", 52, 8, 7, 7, 32, 0, 0, 0});
    check_shape((Shape){"vit token-to-image", 52, 8, 7, 4096, 16, 0, 0, 0});
    check_shape((Shape){"vit image-to-token", 52, 8, 4096, 7, 16, 0, 0, 0});
    check_shape((Shape){"vit shared token-to-image", 52, 8, 7, 4096, 16, 2, 8, 0});
    check_refusals_of("decoder-flash", REFUSALS, N_REFUSALS);
    cuda_backend_close(BK);
    printf("test_decoder_attention: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
