// The flash rel-pos attention (kernels/cuda/flash_relpos.cu) against the explicit float32
// attention with the rel-pos terms, beside the explicit bfloat16 path, by flash-attention's rule:
// on the same bfloat16-exact inputs, the flash kernel's error against the float32 result is at
// most twice the explicit bfloat16 path's (the fused stage's explicit attention, which relpos
// replaces: scores and probabilities materialised in bfloat16, the rel-pos terms added inside
// the softmax in float32; not the bf16 stage's unfused one, which rounds the biased scores once
// more and so errs more) error against that same result, in both measures:
//   max   max|x - ref| / max|ref|
//   fro   ||x - ref||_F / ||ref||_F
// The float32 result is the CUDA float32 table's explicit attention (itself checked against the
// CPU reference in test_ops to 2e-5). Outputs are poisoned (NaN) first: every element must be
// written, and the gaps of a gapped output layout must still hold the poison.
//
//   build/tests/gpu/test_flash_relpos           the suite (make test-gpu): graph capture,
//                                               every compiled tile config on small shapes, the
//                                               fixtures' grids, the full vit_b / vit_h shapes at
//                                               batch 8 (every config that serves them), one pair's
//                                               NaN key kept from the others, refusals
//   build/tests/gpu/test_flash_relpos --small   small shapes only (compute-sanitizer:
//                                               tests/gpu/sanitize_flash_relpos.sh)
//   build/tests/gpu/test_flash_relpos --race    the small shapes, the build's tile choices only, no
//                                               reference products: every element written, no gap
//                                               touched, graph replay equal to eager (for
//                                               racecheck: it failed inside cuBLAS's Hopper
//                                               kernels of the references on the H200, so the
//                                               run has none)
//   build/tests/gpu/test_flash_relpos --bench   timings at batch 8: one global attention of
//                                               vit_b and vit_h, one windowed attention of each,
//                                               every serving config and the explicit bf16 path,
//                                               TFLOP/s counted as 4 B H L^2 d
//   build/tests/gpu/test_flash_relpos --refuse N   (internal: one refusal case, must exit 1)
// SAM_TEST_SEED sets the random seed.
#include "../../kernels/cuda/cuda_ops.h"
#include "attn_check.h"
#include "test_rand.h"

static CudaBackend *BK;
static Exec F32, BF;  // the cuda-fp32 and cuda-bf16 tables on one backend
static Ops FUSED;     // cuda-bf16 with fusion on: the fused stage's explicit attention
static Exec BFF;      // BF through FUSED
static uint64_t rng = 0xf1a5e7e1ull;
static int coverage_only;  // --race: no reference products, only which elements are written

// =============================================================================================
// problems: sizes and layouts
// =============================================================================================

// layout 0: the encoder's: qkv (batch, T, 3, heads, hd) from the qkv projection, o (batch, T,
//           heads, hd).
// layout 1: q, k, v separate (batch, heads, T, hd) in one buffer; o gapped: (batch, T, heads,
//           hd + 8) rows with 8 more elements after each token and 16 after each batch entry
//           (the gaps keep the poison).
typedef struct {
    const char *label;
    int batch, heads, H, W, hd, layout;
} Shape;

typedef struct {
    AttnParams p;  // sizes and strides; pointers set per table
    int64_t n_in, q_off, k_off, v_off, n_out, n_rel;
} Problem;

static Problem problem(Shape s) {
    Problem pr;
    memset(&pr, 0, sizeof pr);
    AttnParams *p = &pr.p;
    int64_t T = (int64_t)s.H * s.W, C = (int64_t)s.heads * s.hd;
    p->site = ATTN_ENCODER;
    p->batch = s.batch, p->heads = s.heads, p->q_len = p->k_len = (int)T, p->head_dim = s.hd;
    p->scale = 1.0f / sqrtf((float)s.hd);
    p->grid_h = s.H, p->grid_w = s.W;
    if (s.layout == 0) {
        pr.n_in = s.batch * T * 3 * C;
        pr.q_off = 0, pr.k_off = C, pr.v_off = 2 * C;
        p->q_batch_stride = p->k_batch_stride = p->v_batch_stride = T * 3 * C;
        p->q_tok_stride = p->k_tok_stride = p->v_tok_stride = 3 * C;
        p->q_head_stride = p->k_head_stride = p->v_head_stride = s.hd;
        p->o_batch_stride = T * C, p->o_tok_stride = C, p->o_head_stride = s.hd;
        pr.n_out = s.batch * T * C;
    } else {
        int64_t one = s.batch * T * C;
        pr.n_in = 3 * one;
        pr.q_off = 0, pr.k_off = one, pr.v_off = 2 * one;
        p->q_batch_stride = p->k_batch_stride = p->v_batch_stride = T * C;
        p->q_head_stride = p->k_head_stride = p->v_head_stride = T * s.hd;
        p->q_tok_stride = p->k_tok_stride = p->v_tok_stride = s.hd;
        p->o_head_stride = s.hd + 8;
        p->o_tok_stride = (int64_t)s.heads * (s.hd + 8) + 8;
        p->o_batch_stride = T * p->o_tok_stride + 16;
        pr.n_out = s.batch * p->o_batch_stride;
    }
    pr.n_rel = (int64_t)(2 * s.H - 1 + 2 * s.W - 1) * s.hd;
    return pr;
}
static AttnParams bind(const Problem *pr, Exec *x, void *in, void *rel, void *out) {
    AttnParams p = pr->p;
    p.q = act_at(x, in, pr->q_off), p.k = act_at(x, in, pr->k_off), p.v = act_at(x, in, pr->v_off);
    p.o = out, p.rel_pos = rel;
    return p;
}

// One problem on the device: its float32 result, the explicit bfloat16 path's error, and the
// bfloat16 input buffers the flash runs read.
typedef struct {
    Shape s;
    Problem pr;
    float *ref;       // float32 result (host), NaN in the gaps
    Err explicit_err;
    void *in16, *rel16;
} Case;

static void case_open(Case *c, Shape s) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->pr = problem(s);
    Problem *pr = &c->pr;
    float *in = rnd_bf16(pr->n_in, -1.0f, 1.0f), *rel = rnd_bf16(pr->n_rel, -0.5f, 0.5f);
    if (coverage_only) {
        // The "reference" is 0 where the output layout has an element and NaN in its gaps.
        const AttnParams *q = &pr->p;
        c->ref = xmalloc((size_t)pr->n_out * sizeof(float));
        for (int64_t i = 0; i < pr->n_out; i++) c->ref[i] = NAN;
        for (int64_t b = 0; b < q->batch; b++)
            for (int64_t t = 0; t < q->q_len; t++)
                for (int64_t h = 0; h < q->heads; h++)
                    for (int64_t d = 0; d < q->head_dim; d++)
                        c->ref[b * q->o_batch_stride + t * q->o_tok_stride + h * q->o_head_stride + d] = 0;
        c->in16 = dev_act(&BF, in, pr->n_in), c->rel16 = dev_act(&BF, rel, pr->n_rel);
        free(in), free(rel);
        return;
    }
    // float32 result
    void *in32 = dev_act(&F32, in, pr->n_in), *rel32 = dev_act(&F32, rel, pr->n_rel);
    void *out32 = dev_poisoned(&F32, (size_t)pr->n_out * 4);
    AttnParams p = bind(pr, &F32, in32, rel32, out32);
    cuda_ops_fp32()->choices.encoder_attention->run(&F32, &p);
    c->ref = get_act(&F32, out32, pr->n_out);
    dfree(&F32, in32), dfree(&F32, rel32), dfree(&F32, out32);
    // explicit bfloat16
    c->in16 = dev_act(&BF, in, pr->n_in), c->rel16 = dev_act(&BF, rel, pr->n_rel);
    void *oute = dev_poisoned(&BF, (size_t)pr->n_out * 2);
    p = bind(pr, &BF, c->in16, c->rel16, oute);
    FUSED.choices.encoder_attention->run(&BFF, &p);
    float *xe = get_act(&BF, oute, pr->n_out);
    c->explicit_err = error_of(xe, c->ref, pr->n_out);
    dfree(&BF, oute);
    free(xe), free(in), free(rel);
}
static void case_close(Case *c) {
    dfree(&BF, c->in16), dfree(&BF, c->rel16);
    free(c->ref);
}

static const char *layout_name(int l) { return l == 0 ? "encoder qkv layout" : "separate q/k/v, gapped o"; }

// The flash kernel with config ci (-1: the build's choice) on case c: the rule above.
static void check_flash(Case *c, int ci, const char *how) {
    Problem *pr = &c->pr;
    void *out = dev_poisoned(&BF, (size_t)pr->n_out * 2);
    AttnParams p = bind(pr, &BF, c->in16, c->rel16, out);
    int chosen = cuda_flash_relpos_chosen(&p);
    if (ci < 0) cuda_attention_flash_relpos.run(&BF, &p);
    else cuda_flash_relpos_run_config(&BF, &p, ci);
    float *x = get_act(&BF, out, pr->n_out);
    Err e = error_of(x, c->ref, pr->n_out), ex = c->explicit_err;
    const AttnParams *q = &pr->p;
    int64_t gaps = pr->n_out - (int64_t)q->batch * q->q_len * q->heads * q->head_dim;
    // The rule, and sanity bounds on both errors (a broken reference would loosen the rule); the
    // reference's NaNs are the layout's gaps and nothing else.
    int ok = e.unwritten == 0 && e.overwritten == 0 && ex.unwritten == 0 && ex.overwritten == 0 && e.ref_nan == gaps &&
             (coverage_only || (e.max <= 2 * ex.max && e.fro <= 2 * ex.fro && ex.max < 5e-2 && e.max < 2e-2));
    const Shape *s = &c->s;
    char extra[160] = "";
    if (e.unwritten) snprintf(extra, sizeof extra, ", %lld elements not written", (long long)e.unwritten);
    if (e.overwritten)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %lld gap elements written",
                 (long long)e.overwritten);
    result(ok, "flash_relpos %s: batch=%d heads=%d grid %dx%d hd=%d, %s, config %s%s: max %.3g "
           "(explicit bf16 %.3g, ratio %.2f), fro %.3g (explicit %.3g, ratio %.2f)%s",
           s->label, s->batch, s->heads, s->H, s->W, s->hd, layout_name(s->layout),
           cuda_flash_relpos_config_name(ci < 0 ? chosen : ci), how, e.max, ex.max,
           ex.max > 0 ? e.max / ex.max : 0.0, e.fro, ex.fro, ex.fro > 0 ? e.fro / ex.fro : 0.0,
           extra);
    dfree(&BF, out);
    free(x);
}

// Every compiled config that serves the case, then the build's choice.
static void check_all_configs(Case *c) {
    AttnParams p = bind(&c->pr, &BF, c->in16, c->rel16, c->in16);
    for (int i = 0; i < cuda_flash_relpos_configs(); i++)
        if (cuda_flash_relpos_config_serves(i, &p)) check_flash(c, i, "");
}

static void check_shape(Shape s, int all) {
    Case c;
    case_open(&c, s);
    if (all && !coverage_only) check_all_configs(&c);  // --race: the build's choices only
    check_flash(&c, -1, " (the build's choice)");
    case_close(&c);
}

// Captured in a CUDA graph and replayed: the same output as the eager call, bit for bit. Run
// first, so the kernel's first launch (which raises its shared-memory limit) is inside the
// capture.
static void check_graph(Shape s) {
    Case c;
    case_open(&c, s);
    Problem *pr = &c.pr;
    void *og = dev_poisoned(&BF, (size_t)pr->n_out * 2), *oe = dev_poisoned(&BF, (size_t)pr->n_out * 2);
    AttnParams pg = bind(pr, &BF, c.in16, c.rel16, og), pe = bind(pr, &BF, c.in16, c.rel16, oe);
    cuda_backend_set_sync_each_launch(BK, 0);
    BF.ops->graph_begin(&BF);
    cuda_attention_flash_relpos.run(&BF, &pg);
    void *graph = BF.ops->graph_end(&BF);
    BF.ops->graph_launch(&BF, graph);
    BF.ops->sync(&BF);
    cuda_backend_set_sync_each_launch(BK, 1);
    cuda_attention_flash_relpos.run(&BF, &pe);
    float *xg = get_act(&BF, og, pr->n_out), *xe = get_act(&BF, oe, pr->n_out);
    int64_t diff = 0;
    for (int64_t i = 0; i < pr->n_out; i++)
        if (memcmp(&xg[i], &xe[i], 4) != 0) diff++;
    Err e = error_of(xg, c.ref, pr->n_out);
    result(diff == 0 && e.unwritten == 0 && (coverage_only || e.max <= 2 * c.explicit_err.max),
           "flash_relpos graph %s: batch=%d heads=%d grid %dx%d hd=%d: captured and replayed, "
           "%lld elements differ from the eager call, max %.3g (explicit bf16 %.3g)",
           s.label, s.batch, s.heads, s.H, s.W, s.hd, (long long)diff, e.max, c.explicit_err.max);
    BF.ops->graph_free(&BF, graph);
    dfree(&BF, og), dfree(&BF, oe);
    free(xg), free(xe);
    case_close(&c);
}

// One (batch, head)'s result depends on its inputs only: with a NaN in one key (and its value)
// of pair (0, 0), every output of that pair is NaN (each query scores that key: the reference's
// result too) and every other pair's output is bit for bit the clean input's, for every config
// that serves the shape. (The -res configs' stages carry keys from item to item.)
static void check_isolation(Shape s) {
    Problem pr = problem(s);
    const AttnParams *q = &pr.p;
    float *in = rnd_bf16(pr.n_in, -1.0f, 1.0f), *rel = rnd_bf16(pr.n_rel, -0.5f, 0.5f);
    void *clean = dev_act(&BF, in, pr.n_in), *rel16 = dev_act(&BF, rel, pr.n_rel);
    int64_t tok = (int64_t)(s.H - 1) * s.W;  // the last grid row's first key: a late key tile
    in[pr.k_off + tok * q->k_tok_stride] = NAN, in[pr.v_off + tok * q->v_tok_stride] = NAN;
    void *dirty = dev_act(&BF, in, pr.n_in);
    for (int ci = -1; ci < cuda_flash_relpos_configs(); ci++) {
        AttnParams pc = bind(&pr, &BF, clean, rel16, NULL);
        if (ci >= 0 && !cuda_flash_relpos_config_serves(ci, &pc)) continue;
        void *oc = dev_poisoned(&BF, (size_t)pr.n_out * 2), *od = dev_poisoned(&BF, (size_t)pr.n_out * 2);
        AttnParams pd = bind(&pr, &BF, dirty, rel16, od);
        pc.o = oc;
        if (ci < 0) cuda_attention_flash_relpos.run(&BF, &pc), cuda_attention_flash_relpos.run(&BF, &pd);
        else cuda_flash_relpos_run_config(&BF, &pc, ci), cuda_flash_relpos_run_config(&BF, &pd, ci);
        float *xc = get_act(&BF, oc, pr.n_out), *xd = get_act(&BF, od, pr.n_out);
        int64_t other_diff = 0, pair_finite = 0, finite_clean = 0;
        for (int64_t b = 0; b < q->batch; b++)
            for (int64_t t = 0; t < q->q_len; t++)
                for (int64_t h = 0; h < q->heads; h++)
                    for (int64_t d = 0; d < q->head_dim; d++) {
                        int64_t i = b * q->o_batch_stride + t * q->o_tok_stride + h * q->o_head_stride + d;
                        finite_clean += isfinite(xc[i]) != 0;
                        if (b == 0 && h == 0) pair_finite += isfinite(xd[i]) != 0;
                        else other_diff += memcmp(&xc[i], &xd[i], 4) != 0;
                    }
        int64_t total = (int64_t)q->batch * q->q_len * q->heads * q->head_dim;
        result(other_diff == 0 && pair_finite == 0 && finite_clean == total,
               "flash_relpos isolation %s: batch=%d heads=%d grid %dx%d hd=%d, config %s: NaN key in pair "
               "(0, 0): %lld of its outputs finite (0 expected), %lld outputs of other pairs differ from "
               "the clean run (0 expected)",
               s.label, s.batch, s.heads, s.H, s.W, s.hd,
               cuda_flash_relpos_config_name(ci < 0 ? cuda_flash_relpos_chosen(&pc) : ci), (long long)pair_finite,
               (long long)other_diff);
        dfree(&BF, oc), dfree(&BF, od);
        free(xc), free(xd);
    }
    dfree(&BF, clean), dfree(&BF, dirty), dfree(&BF, rel16);
    free(in), free(rel);
}

// =============================================================================================
// refusals: each in a child process (die() exits), which must exit 1 naming the kernel
// =============================================================================================

// Each case and the words its refusal must give (every message names flash_relpos).
static const char *const REFUSALS[][2] = {
    {"precision fp32", "precision fp32 is not implemented"},
    {"no rel-pos table", "no rel-pos table"},
    {"q_len != k_len", "!= k_len"},
    {"head dim 32", "head dim 32 is not implemented"},
    {"head dim 128", "head dim 128 is not implemented"},
    {"grid 65 x 65", "grid 65 x 65 over"},
    {"token stride not a multiple of 8", "strides must be multiples of 8"},
};
#define N_REFUSALS ((int)(sizeof REFUSALS / sizeof REFUSALS[0]))

static int refuse_child(int n) {
    Shape s = {"refuse", 1, 2, 14, 14, 64, 0};
    if (n == 3) s.hd = 32;
    if (n == 4) s.hd = 128;
    if (n == 5) s.H = s.W = 65;
    Problem pr = problem(s);
    Exec *x = n == 0 ? &F32 : &BF;
    void *in = x->ops->mem_alloc(x, (size_t)pr.n_in * x->act_size + 64);
    void *rel = x->ops->mem_alloc(x, (size_t)pr.n_rel * x->act_size);
    void *out = x->ops->mem_alloc(x, (size_t)pr.n_out * x->act_size + 64);
    AttnParams p = bind(&pr, x, in, rel, out);
    if (n == 1) p.rel_pos = NULL;
    if (n == 2) p.k_len = p.q_len - 1;
    if (n == 6) p.q_tok_stride += 4;
    cuda_attention_flash_relpos.run(x, &p);
    x->ops->sync(x);
    printf("the call returned\n");
    return 0;
}


// =============================================================================================
// benchmark
// =============================================================================================

// Median over reps of the milliseconds per call, `inner` back-to-back calls per timed region,
// after warm-up calls. ci: a flash config, -1 the explicit bf16 path.
static double time_call(const AttnParams *p, int ci, int reps, int inner) {
    double t[64];
    for (int i = 0; i < 3; i++) {
        if (ci < 0) FUSED.choices.encoder_attention->run(&BFF, p);
        else cuda_flash_relpos_run_config(&BF, p, ci);
    }
    for (int r = 0; r < reps; r++) {
        BF.ops->timer_begin(&BF);
        for (int i = 0; i < inner; i++) {
            if (ci < 0) FUSED.choices.encoder_attention->run(&BFF, p);
            else cuda_flash_relpos_run_config(&BF, p, ci);
        }
        t[r] = BF.ops->timer_end_ms(&BF) / inner;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

static void bench(void) {
    // batch 8: 64 x 64 global blocks; the windowed blocks' 25 windows of 14 x 14 per image.
    struct {
        Shape s;
        double target_ms;
    } B[] = {
        {{"vit_b global", 8, 12, 64, 64, 64, 0}, 1.2},
        {{"vit_h global", 8, 16, 64, 64, 80, 0}, 2.4},
        {{"vit_b windowed", 200, 12, 14, 14, 64, 0}, 0.15},
        {{"vit_h windowed", 200, 16, 14, 14, 80, 0}, 0},
    };
    cuda_backend_set_sync_each_launch(BK, 0);
    char desc[1024];
    cuda_backend_describe(BK, desc, sizeof desc);
    printf("device %s\n", desc);
    char choice[4][160];
    printf("\n%-16s %-22s %10s %9s  %-58s %s\n", "attention", "config", "ms", "TFLOP/s", "resources", "");
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        Shape s = B[i].s;
        Problem pr = problem(s);
        float *h = rnd_bf16(pr.n_in, -1.0f, 1.0f), *hr = rnd_bf16(pr.n_rel, -0.5f, 0.5f);
        void *in = dev_act(&BF, h, pr.n_in), *rel = dev_act(&BF, hr, pr.n_rel);
        void *out = BF.ops->mem_alloc(&BF, (size_t)pr.n_out * 2);
        AttnParams p = bind(&pr, &BF, in, rel, out);
        double L = (double)s.H * s.W, flop = 4.0 * s.batch * s.heads * L * L * s.hd;
        int inner = L < 1000 ? 20 : 3;
        int chosen = cuda_flash_relpos_chosen(&p);
        double best = 1e30, chosen_ms = 0;
        int best_i = -1;
        for (int c = 0; c < cuda_flash_relpos_configs(); c++) {
            if (!cuda_flash_relpos_config_serves(c, &p)) continue;
            double ms = time_call(&p, c, 15, inner);
            if (ms < best) best = ms, best_i = c;
            if (c == chosen) chosen_ms = ms;
            char res[160];
            cuda_flash_relpos_config_describe(&BF, &p, c, res, sizeof res);
            printf("%-16s %-22s %10.4f %9.1f  %-58s %s\n", s.label, cuda_flash_relpos_config_name(c), ms,
                   flop / ms / 1e9, res, c == chosen ? "<- the build's choice" : "");
        }
        double ex = time_call(&p, -1, 5, L < 1000 ? 5 : 1);
        printf("%-16s %-22s %10.4f %9.1f\n", s.label, "explicit bf16 fused", ex, flop / ex / 1e9);
        char target[64] = "";
        if (B[i].target_ms > 0)
            snprintf(target, sizeof target, ", target <= %.2f ms: %s", B[i].target_ms,
                     chosen_ms <= B[i].target_ms ? "met" : "MISSED");
        printf("NOTE bench %s (%dx%dx%d tokens, hd %d): flash %s %.3f ms = %.0f TFLOP/s%s; fastest "
               "%s %.3f ms; explicit bf16 %.3f ms (%.1fx)\n\n",
               s.label, s.batch, s.heads, (int)L, s.hd, cuda_flash_relpos_config_name(chosen),
               chosen_ms, flop / chosen_ms / 1e9, target, cuda_flash_relpos_config_name(best_i), best,
               ex, ex / chosen_ms);
        snprintf(choice[i], sizeof choice[i], "    \"%s\",  // %s: %.3f ms, %.0f TFLOP/s",
                 cuda_flash_relpos_config_name(best_i), s.label, best, flop / best / 1e9);
        dfree(&BF, in), dfree(&BF, rel), dfree(&BF, out);
        free(h), free(hr);
    }
    // The fastest per shape, in FLASH_CHOICE's order (kernels/cuda/flash_relpos.cu: head dim 64's
    // windowed and global, then head dim 80's; on an sm_90 GPU, whose -tma configs compete).
    printf("FLASH_CHOICE from this run (the fastest config of each shape):\n%s\n%s\n%s\n%s\n",
           choice[2], choice[0], choice[3], choice[1]);
    cuda_backend_set_sync_each_launch(BK, 1);
}

// =============================================================================================

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    BK = attn_test_open("test_flash_relpos", &F32, &BF, &rng);
    FUSED = *BF.ops;
    FUSED.choices.fusion = 1;
    BFF = BF;
    BFF.ops = &FUSED;
    if (strcmp(mode, "--refuse") == 0 && argc > 2) return refuse_child(atoi(argv[2]));
    printf("test_flash_relpos: seed 0x%llx\n", (unsigned long long)rng);
    if (strcmp(mode, "--bench") == 0) {
        bench();
        cuda_backend_close(BK);
        return 0;
    }
    coverage_only = strcmp(mode, "--race") == 0;
    int small = coverage_only || strcmp(mode, "--small") == 0;
    cuda_backend_set_sync_each_launch(BK, 1);  // a fault is reported at its call

    // Graph capture first (the kernels' first launches happen inside the capture).
    check_graph((Shape){"windowed", 6, 2, 14, 14, 64, 0});
    check_graph((Shape){"global", 1, 2, 64, 64, 80, 0});

    // Every compiled config on small shapes of both kinds, both head dims, both layouts.
    for (int hd = 64; hd <= 80; hd += 16) {
        check_shape((Shape){"windowed", 5, 3, 14, 14, hd, 0}, 1);
        check_shape((Shape){"global", 2, 2, 64, 64, hd, 0}, 1);
        check_shape((Shape){"global", 1, 3, 64, 64, hd, 1}, 1);
        check_shape((Shape){"windowed", 3, 2, 14, 14, hd, 1}, 1);
        check_shape((Shape){"odd grid", 2, 2, 7, 9, hd, 0}, 1);     // H != W, a short last tile
        check_shape((Shape){"tall grid", 1, 2, 64, 20, hd, 0}, 1);  // rows of 20 keys
        check_shape((Shape){"small grid", 16, 2, 3, 5, hd, 0}, 1);  // one short tile
        check_shape((Shape){"nine-row grid", 7, 3, 9, 14, hd, 0}, 1);  // 3 key tiles, the last short
        // More (window, head, query tile) items than the -res configs' resident blocks: each
        // block takes several, its stages and Q buffer refilled across items.
        check_shape((Shape){"windowed, items > blocks", 64, 3, 14, 14, hd, 0}, 1);
        if (!coverage_only) {
            check_isolation((Shape){"windowed", 64, 3, 14, 14, hd, 0});
            check_isolation((Shape){"nine-row grid", 7, 3, 9, 14, hd, 0});
        }
    }
    // The fixtures' grids: tiny (16 x 16 global, 14 x 14 windows, hd 64, 2 heads, 4 windows)
    // and tiny1024 (64 x 64 global, 14 x 14 windows, hd 80, 2 heads, 25 windows).
    check_shape((Shape){"tiny global", 1, 2, 16, 16, 64, 0}, 1);
    check_shape((Shape){"tiny windowed", 4, 2, 14, 14, 64, 0}, 1);
    check_shape((Shape){"tiny1024 global", 1, 2, 64, 64, 80, 0}, !small);
    check_shape((Shape){"tiny1024 windowed", 25, 2, 14, 14, 80, 0}, !small);
    if (!small) {
        // Full size at batch 8: vit_b (12 heads, hd 64), vit_h (16 heads, hd 80).
        check_shape((Shape){"vit_b global", 8, 12, 64, 64, 64, 0}, 1);
        check_shape((Shape){"vit_b windowed", 200, 12, 14, 14, 64, 0}, 1);
        check_shape((Shape){"vit_h global", 8, 16, 64, 64, 80, 0}, 1);
        check_shape((Shape){"vit_h windowed", 200, 16, 14, 14, 80, 0}, 1);
        check_refusals_of("flash_relpos", REFUSALS, N_REFUSALS);
    }
    printf("peak device memory through the backend: %.1f MiB\n", BF.ops->peak_bytes(&BF) / 1048576.0);
    cuda_backend_close(BK);
    printf("test_flash_relpos: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
