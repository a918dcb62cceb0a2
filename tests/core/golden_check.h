// Golden parity of one operation table against the official implementation, for every tensor
// and every prompt case listed in the fixtures' manifest.json. Included by
// tests/core/test_golden.c (the CPU reference) and tests/gpu/test_golden_gpu.c (the GPU stages).
//   float32 tolerances (shared/fixtures/README.md): float tensors max|ours - golden| /
//   max|golden| <= 1e-4; predicted IoUs within 1e-4 absolute; masks equal except pixels whose
//   golden logit is within 1e-3 of zero. resized_rgb at most 1 apart in at most 0.1 % of values.
//   bfloat16 (issue 5): float tensors within 3e-2 and the top mask's IoU with the golden at least
//   test_golden_gpu.c's BF16_MASK_MIN_IOU for the bf16 stage (0.975: the official bf16 code's
//   lowest less 0.01, rounded up) and FUSED_MASK_MIN_IOU (0.98) for fused and later stages.
#ifndef SAM_GOLDEN_CHECK_H
#define SAM_GOLDEN_CHECK_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../datasets/image.h"
#include "common/check.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/model.h"
#include "common/npy.h"
#include "datasets/preprocess.h"
#include "../test_util.h"

typedef struct {
    const char *label;       // "cpu", "fp32", "bf16" (in messages)
    double float_tol;        // relative, every float tensor
    double iou_tol;          // absolute, predicted IoUs
    double mask_min_iou;     // 0: masks exact but for boundary pixels; else top-mask IoU bound
} GoldenTolerance;

static GoldenTolerance g_tol;
#define FLOAT_TOL g_tol.float_tol
#define IOU_TOL g_tol.iou_tol

static const char *g_dir;      // fixture directory
static const char *g_fixture;  // fixture name
static double g_worst;         // largest float relative error of this fixture

static Npy golden(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", g_dir, name);
    return npy_load_or_die(path);
}

static int golden_exists(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void check_rel(const char *what, const float *ours, const float *gold, size_t n) {
    double err = rel_error(ours, gold, n);
    if (err > g_worst) g_worst = err;
    report(err <= FLOAT_TOL, "%s %s/%s max rel error %.3g (tol %.0e)", g_tol.label, g_fixture,
           what, err, FLOAT_TOL);
}

// Backend buffers <-> host (the CPU table's "device" is host memory).
static float *to_host_act(Exec *x, const void *act, size_t n) {
    float *h = xmalloc(n * sizeof(float));
    x->ops->download_act(x, h, act, n);
    return h;
}
static float *to_host_f32(Exec *x, const float *p, size_t n) {
    float *h = xmalloc(n * sizeof(float));
    x->ops->copy_to_host(x, h, p, n * sizeof(float));
    return h;
}
static void *to_device(Exec *x, const void *host, size_t bytes) {
    void *d = x->ops->mem_alloc(x, bytes ? bytes : 4);
    if (bytes) x->ops->copy_to_device(x, d, host, bytes);
    return d;
}

// Channels-last (G*G, D) of ours against the official (1, D, G, G).
static void check_nchw(const char *what, const float *ours_hwc, const Npy *gold, int d, int g) {
    float *t = xmalloc((size_t)d * g * g * sizeof(float));
    for (int c = 0; c < d; c++)
        for (int p = 0; p < g * g; p++) t[(size_t)c * g * g + p] = ours_hwc[(size_t)p * d + c];
    check_rel(what, t, gold->data, gold->count);
    free(t);
}

// ---- encoder taps ---------------------------------------------------------------------------
typedef struct {
    const SamConfig *cfg;
    Exec *x;
} TapCtx;

static void tap(void *ctx, const char *name, const void *act_dev, int64_t n) {
    TapCtx *t = ctx;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return;  // tiny1024 keeps only some intermediates
    fclose(f);
    Npy g = golden(name);
    float *act = to_host_act(t->x, act_dev, (size_t)n);
    if (g.count != (size_t)n) {
        report(0, "%s/%s size %zu, golden %zu", g_fixture, name, (size_t)n, g.count);
    } else if (strcmp(name, "image_embedding") == 0) {
        check_nchw(name, act, &g, t->cfg->prompt_dim, t->cfg->grid);
    } else {
        check_rel(name, act, g.data, g.count);  // (1, G, G, C): the same layout as ours
    }
    free(act);
    npy_free(&g);
}

// ---- one prompt case ------------------------------------------------------------------------
typedef struct {
    Sam *m;
    const void *embed;
    Prompts prompts;
    int multimask, in_h, in_w, orig_h, orig_w;
    float *lowres, *iou, *logits;
    int n_masks;
} Case;

static void run_case(Sam *m, void *ctx) {
    Case *c = ctx;
    int L = 4 * m->cfg.grid, k = c->prompts.n * c->n_masks;
    c->lowres = ex_f32(m->x, (int64_t)k * L * L);
    c->iou = ex_f32(m->x, k);
    c->logits = ex_f32(m->x, (int64_t)k * c->orig_h * c->orig_w);
    sam_decode(m, c->lowres, c->iou, c->embed, &c->prompts, c->multimask);
    sam_postprocess(m, c->logits, c->lowres, k, c->in_h, c->in_w, c->orig_h, c->orig_w);
}

typedef struct {
    Exec *x;
    float *sparse;
} SparseTap;

static void sparse_tap(void *ctx, const char *name, const void *act, int64_t n) {
    if (strcmp(name, "sparse") != 0) return;
    SparseTap *s = ctx;
    s->sparse = to_host_act(s->x, act, (size_t)n);
}

static void check_case(Sam *m, const char *name, const cJSON *spec, const void *embed, int h,
                       int w, int in_h, int in_w) {
    const SamConfig *cfg = &m->cfg;
    int L = 4 * cfg->grid;
    const cJSON *pc = cJSON_GetObjectItem(spec, "point_coords");
    const cJSON *pl = cJSON_GetObjectItem(spec, "point_labels");
    const cJSON *bx = cJSON_GetObjectItem(spec, "box");
    const cJSON *mi = cJSON_GetObjectItem(spec, "mask_input");
    int multimask = cJSON_IsTrue(cJSON_GetObjectItem(spec, "multimask_output"));
    int batched = strncmp(name, "batch", 5) == 0;  // one single-point prompt per point
    int np = pc ? cJSON_GetArraySize(pc) : 0;
    double *pts = xcalloc((size_t)np * 2 + 2, sizeof(double));
    int *lab = xcalloc((size_t)np + 1, sizeof(int));
    for (int i = 0; i < np; i++) {
        pts[2 * i] = cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 0)->valuedouble;
        pts[2 * i + 1] = cJSON_GetArrayItem(cJSON_GetArrayItem(pc, i), 1)->valuedouble;
        lab[i] = cJSON_GetArrayItem(pl, i)->valueint;
    }
    double box[4];
    for (int i = 0; bx && i < 4; i++) box[i] = cJSON_GetArrayItem(bx, i)->valuedouble;

    int n = batched ? np : 1;
    int t_max = (batched ? 1 : np) + 2;
    float *coords = xcalloc((size_t)n * t_max * 2, sizeof(float));
    int32_t *labels = xcalloc((size_t)n * t_max, sizeof(int32_t));
    int t = 0;
    for (int i = 0; i < n; i++)
        t = sam_build_prompt(batched ? pts + 2 * i : pts, batched ? lab + i : lab, batched ? 1 : np,
                             bx ? box : NULL, h, w, cfg->img_size, coords + (size_t)i * t * 2,
                             labels + (size_t)i * t);
    Case c = {.m = m, .embed = embed, .multimask = multimask, .in_h = in_h, .in_w = in_w,
              .orig_h = h, .orig_w = w};
    float *d_coords = to_device(m->x, coords, (size_t)n * t * 2 * sizeof(float));
    int32_t *d_labels = to_device(m->x, labels, (size_t)n * t * sizeof(int32_t));
    c.prompts = (Prompts){.n = n, .t = t, .coords = d_coords, .labels = d_labels};
    c.n_masks = multimask ? cfg->num_mask_tokens - 1 : 1;
    Npy mask_in = {0};
    float *mask_buf = NULL;
    if (mi) {  // "point1_lowres[2]": a row of another case's golden low-res logits
        char src[64];
        int row;
        if (sscanf(mi->valuestring, "%63[^[][%d]", src, &row) != 2) die("bad mask_input %s", mi->valuestring);
        mask_in = golden(src);
        mask_buf = to_device(m->x, (float *)mask_in.data + (size_t)row * L * L, (size_t)L * L * sizeof(float));
        c.prompts.mask_input = mask_buf;
    }
    SparseTap st = {m->x, NULL};
    if (batched) {
        m->tap = sparse_tap;
        m->tap_ctx = &st;
    }
    sam_plan(m, run_case, &c);
    run_case(m, &c);
    m->tap = NULL;
    float *sparse = st.sparse;
    int k_all = n * c.n_masks;
    float *lowres = to_host_f32(m->x, c.lowres, (size_t)k_all * L * L);
    float *iou_pred = to_host_f32(m->x, c.iou, (size_t)k_all);
    float *logits = to_host_f32(m->x, c.logits, (size_t)k_all * h * w);

    char what[128];
    int k = n * c.n_masks;
    Npy g;
    snprintf(what, sizeof what, "%s_lowres", name);
    if (golden_exists(what)) {  // tiny1024 omits batch6_lowres (manifest "omitted")
        g = golden(what);
        report(g.count == (size_t)k * L * L, "%s/%s shape (%zu values, golden %zu)", g_fixture,
               what, (size_t)k * L * L, g.count);
        if (g.count == (size_t)k * L * L) check_rel(what, lowres, g.data, g.count);
        npy_free(&g);
    }

    snprintf(what, sizeof what, "%s_iou", name);
    g = golden(what);
    double worst_iou = 0;
    for (int i = 0; i < k && (size_t)i < g.count; i++) {
        double d = fabs(iou_pred[i] - ((float *)g.data)[i]);
        worst_iou = d > worst_iou ? d : worst_iou;
    }
    report(g.count == (size_t)k && worst_iou <= IOU_TOL, "%s %s/%s max abs error %.3g (tol %.0e)",
           g_tol.label, g_fixture, what, worst_iou, IOU_TOL);
    npy_free(&g);

    // Masks: logits > 0 against the golden booleans; pixels whose logit lies within 1e-3 of
    // zero may differ. The golden logits exist for point1 only; elsewhere our own logit decides
    // whether a pixel is on the boundary.
    Npy gl = {0};
    snprintf(what, sizeof what, "%s_logits", name);
    char path[1024];
    FILE *f;
    if (golden_exists(what)) {
        gl = golden(what);
        check_rel(what, logits, gl.data, gl.count);
    }
    snprintf(what, sizeof what, "%s_masks", name);
    g = golden(what);
    size_t total = (size_t)k * h * w, hw = (size_t)h * w;
    if (g.count != total) {
        report(0, "%s %s/%s has %zu values, ours %zu", g_tol.label, g_fixture, what, g.count, total);
    } else if (g_tol.mask_min_iou == 0) {
        const uint8_t *gm = g.data;
        size_t bad = 0, excused = 0;
        for (size_t i = 0; i < total; i++) {
            int ours = logits[i] > 0.0f;
            if (ours == (gm[i] != 0)) continue;
            float boundary = gl.data ? ((float *)gl.data)[i] : logits[i];
            if (fabsf(boundary) < 1e-3f) excused++;
            else bad++;
        }
        report(bad == 0, "%s %s/%s %zu pixels differ (%zu more within 1e-3 of zero)", g_tol.label,
               g_fixture, what, bad, excused);
    } else {
        // Per prompt, the mask the golden IoU head ranks first, against the golden mask.
        Npy gi;
        char iname[128];
        snprintf(iname, sizeof iname, "%s_iou", name);
        gi = golden(iname);
        double worst = 1.0;
        for (int pi = 0; pi < n; pi++) {
            int best = 0;
            for (int j = 1; j < c.n_masks; j++)
                if (((float *)gi.data)[pi * c.n_masks + j] > ((float *)gi.data)[pi * c.n_masks + best]) best = j;
            size_t off = ((size_t)pi * c.n_masks + best) * hw, in = 0, un = 0;
            for (size_t q = 0; q < hw; q++) {
                int a = logits[off + q] > 0.0f, b = ((uint8_t *)g.data)[off + q] != 0;
                in += a & b;
                un += a | b;
            }
            double iou = un ? (double)in / un : 1.0;
            worst = iou < worst ? iou : worst;
        }
        report(worst >= g_tol.mask_min_iou, "%s %s/%s lowest top-mask IoU %.4f (min %.3f)",
               g_tol.label, g_fixture, what, worst, g_tol.mask_min_iou);
        npy_free(&gi);
    }
    npy_free(&g);
    if (gl.data) npy_free(&gl);

    if (batched) {
        g = golden("batch6_sparse");
        report(sparse && g.count == (size_t)n * t * cfg->prompt_dim, "%s/batch6_sparse shape", g_fixture);
        if (sparse && g.count == (size_t)n * t * cfg->prompt_dim) check_rel("batch6_sparse", sparse, g.data, g.count);
        npy_free(&g);
        // Without a mask input the dense embedding is no_mask_embed broadcast (PromptEncoder.forward).
        snprintf(path, sizeof path, "%s/batch6_dense0.npy", g_dir);
        if ((f = fopen(path, "rb"))) {
            fclose(f);
            g = golden("batch6_dense0");
            int HW = cfg->grid * cfg->grid;
            float *nm = to_host_act(m->x, m->w.no_mask_embed, (size_t)cfg->prompt_dim);
            float *dense = xmalloc((size_t)HW * cfg->prompt_dim * sizeof(float));
            for (int p = 0; p < HW; p++) memcpy(dense + (size_t)p * cfg->prompt_dim, nm, (size_t)cfg->prompt_dim * 4);
            check_nchw("batch6_dense0", dense, &g, cfg->prompt_dim, cfg->grid);
            free(nm), free(dense);
            npy_free(&g);
        }
    }
    ex_release(m->x, 0);
    free(sparse), free(lowres), free(iou_pred), free(logits);
    if (mask_in.data) npy_free(&mask_in);
    if (mask_buf) m->x->ops->mem_free(m->x, mask_buf);
    m->x->ops->mem_free(m->x, d_coords);
    m->x->ops->mem_free(m->x, d_labels);
    free(pts), free(lab), free(coords), free(labels);
}

typedef struct {
    const float *input;
    void *embed;
} EncodePlan;

static void encode_plan(Sam *m, void *ctx) {
    EncodePlan *e = ctx;
    sam_encode(m, e->embed, e->input, 1);
}

static void run_fixture(const char *root, const char *name, const cJSON *manifest, const Ops *ops,
                        void *backend) {
    char dir[1024], path[1200], err[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    g_dir = dir;
    g_fixture = name;
    g_worst = 0;
    const cJSON *fx = cJSON_GetObjectItem(cJSON_GetObjectItem(manifest, "fixtures"), name);

    TensorMap t;
    snprintf(path, sizeof path, "%s/model.pth", dir);
    if (checkpoint_read(path, &t, err, sizeof err) != 0) {
        report(0, "%s checkpoint: %s", name, err);
        return;
    }
    Exec x;
    exec_init(&x, ops, backend);
    Sam m;
    if (sam_build(&m, &x, &t, err, sizeof err) != 0) {
        report(0, "%s build: %s", name, err);
        tmap_free(&t);
        return;
    }
    const SamConfig *cfg = &m.cfg;

    // Pre-processing: PIL's resize, bit for bit.
    Npy img = golden("image_rgb");
    int h = (int)img.shape[0], w = (int)img.shape[1], in_h, in_w, S = cfg->img_size;
    sam_preprocess_shape(h, w, S, &in_h, &in_w);
    uint8_t *resized = xmalloc((size_t)in_h * in_w * 3);
    sam_resize_rgb(img.data, h, w, resized, in_h, in_w);
    Npy gr = golden("resized_rgb");
    size_t diff = 0, far = 0;
    int same_shape = gr.shape[0] == in_h && gr.shape[1] == in_w;
    for (size_t i = 0; same_shape && i < gr.count; i++) {
        int d = abs((int)resized[i] - (int)((uint8_t *)gr.data)[i]);
        diff += d != 0;
        far += d > 1;
    }
    report(same_shape && far == 0 && diff * 1000 <= gr.count,
           "%s/resized_rgb %zu of %zu values differ (by 1; allowed 0.1%%), %zu by more", name, diff,
           gr.count, far);
    if (diff) printf("NOTE %s/resized_rgb differs from PIL in %zu values\n", name, diff);
    float *input = xmalloc((size_t)3 * S * S * sizeof(float));
    sam_normalize_pad(resized, in_h, in_w, S, input);
    snprintf(path, sizeof path, "%s/input.npy", dir);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        Npy gi = golden("input");
        check_rel("input", input, gi.data, gi.count);
        npy_free(&gi);
    }

    // Encoder, with every stored intermediate compared on the way.
    TapCtx tc = {cfg, &x};
    m.tap = tap;
    m.tap_ctx = &tc;
    void *embed = x.ops->mem_alloc(&x, (size_t)cfg->grid * cfg->grid * cfg->prompt_dim * x.act_size);
    float *d_input = to_device(&x, input, (size_t)3 * S * S * sizeof(float));
    EncodePlan ep = {d_input, embed};
    sam_plan(&m, encode_plan, &ep);
    sam_encode(&m, embed, d_input, 1);
    m.tap = NULL;

    snprintf(path, sizeof path, "%s/dense_pe.npy", dir);
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        Npy g = golden("dense_pe");
        float *pe = to_host_act(&x, m.w.dense_pe, g.count);
        check_nchw("dense_pe", pe, &g, cfg->prompt_dim, cfg->grid);
        free(pe);
        npy_free(&g);
    }

    // Every prompt case of the manifest; the arena is planned for each.
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases"), *cs;
    cJSON_ArrayForEach(cs, cases) {
        check_case(&m, cs->string, cs, embed, h, w, in_h, in_w);
    }
    printf("NOTE %s %s: largest float relative error %.3g\n", g_tol.label, name, g_worst);
    x.ops->mem_free(&x, embed);
    x.ops->mem_free(&x, d_input);
    free(input), free(resized);
    npy_free(&img), npy_free(&gr);
    sam_free(&m);
    tmap_free(&t);
}

// Runs both fixtures of root through ops with the given tolerances. Returns the exit status.
static int golden_run(const char *root, const Ops *ops, void *backend, GoldenTolerance tol) {
    g_tol = tol;
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", root);
    cJSON *manifest = load_json_or_die(path);
    run_fixture(root, "tiny", manifest, ops, backend);
    run_fixture(root, "tiny1024", manifest, ops, backend);
    cJSON_Delete(manifest);
    return test_exit_status();
}

#endif
