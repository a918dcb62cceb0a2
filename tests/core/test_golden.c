// Golden parity of the CPU reference against the official implementation, for every tensor
// and every prompt case listed in the fixtures' manifest.json.
//   tolerances (shared/fixtures/README.md): float tensors max|ours - golden| / max|golden|
//   <= 1e-4; predicted IoUs within 1e-4 absolute; resized_rgb at most 1 apart in at most 0.1 %
//   of values; masks equal except pixels whose golden logit is within 1e-3 of zero.
// Usage: test_golden [FIXTURES_DIR] (default build/fixtures/sam-golden).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../datasets/image.h"
#include "../../kernels/cpu/cpu_ops.h"
#include "../../variants/core/check.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/model.h"
#include "../../variants/core/npy.h"
#include "../../variants/core/preprocess.h"
#include "../test_util.h"

#define FLOAT_TOL 1e-4
#define IOU_TOL 1e-4

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
    report(err <= FLOAT_TOL, "%s/%s max rel error %.3g (tol %.0e)", g_fixture, what, err, FLOAT_TOL);
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
} TapCtx;

static void tap(void *ctx, const char *name, const void *act, int64_t n) {
    TapCtx *t = ctx;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return;  // tiny1024 keeps only some intermediates
    fclose(f);
    Npy g = golden(name);
    if (g.count != (size_t)n) {
        report(0, "%s/%s size %zu, golden %zu", g_fixture, name, (size_t)n, g.count);
    } else if (strcmp(name, "image_embedding") == 0) {
        check_nchw(name, act, &g, t->cfg->prompt_dim, t->cfg->grid);
    } else {
        check_rel(name, act, g.data, g.count);  // (1, G, G, C): the same layout as ours
    }
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

static void sparse_tap(void *ctx, const char *name, const void *act, int64_t n) {
    if (strcmp(name, "sparse") != 0) return;
    float **dst = ctx;
    *dst = xmalloc((size_t)n * sizeof(float));
    memcpy(*dst, act, (size_t)n * sizeof(float));
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
    c.prompts = (Prompts){.n = n, .t = t, .coords = coords, .labels = labels};
    c.n_masks = multimask ? cfg->num_mask_tokens - 1 : 1;
    Npy mask_in = {0};
    float *mask_buf = NULL;
    if (mi) {  // "point1_lowres[2]": a row of another case's golden low-res logits
        char src[64];
        int row;
        if (sscanf(mi->valuestring, "%63[^[][%d]", src, &row) != 2) die("bad mask_input %s", mi->valuestring);
        mask_in = golden(src);
        mask_buf = (float *)mask_in.data + (size_t)row * L * L;
        c.prompts.mask_input = mask_buf;
    }
    float *sparse = NULL;
    if (batched) {
        m->tap = sparse_tap;
        m->tap_ctx = &sparse;
    }
    sam_plan(m, run_case, &c);
    run_case(m, &c);
    m->tap = NULL;

    char what[128];
    int k = n * c.n_masks;
    Npy g;
    snprintf(what, sizeof what, "%s_lowres", name);
    if (golden_exists(what)) {  // tiny1024 omits batch6_lowres (manifest "omitted")
        g = golden(what);
        report(g.count == (size_t)k * L * L, "%s/%s shape (%zu values, golden %zu)", g_fixture,
               what, (size_t)k * L * L, g.count);
        if (g.count == (size_t)k * L * L) check_rel(what, c.lowres, g.data, g.count);
        npy_free(&g);
    }

    snprintf(what, sizeof what, "%s_iou", name);
    g = golden(what);
    double worst_iou = 0;
    for (int i = 0; i < k && (size_t)i < g.count; i++) {
        double d = fabs(c.iou[i] - ((float *)g.data)[i]);
        worst_iou = d > worst_iou ? d : worst_iou;
    }
    report(g.count == (size_t)k && worst_iou <= IOU_TOL, "%s/%s max abs error %.3g (tol %.0e)",
           g_fixture, what, worst_iou, IOU_TOL);
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
        check_rel(what, c.logits, gl.data, gl.count);
    }
    snprintf(what, sizeof what, "%s_masks", name);
    g = golden(what);
    size_t bad = 0, excused = 0, total = (size_t)k * h * w;
    if (g.count == total) {
        const uint8_t *gm = g.data;
        for (size_t i = 0; i < total; i++) {
            int ours = c.logits[i] > 0.0f;
            if (ours == (gm[i] != 0)) continue;
            float boundary = gl.data ? ((float *)gl.data)[i] : c.logits[i];
            if (fabsf(boundary) < 1e-3f) excused++;
            else bad++;
        }
    }
    report(g.count == total && bad == 0, "%s/%s %zu pixels differ (%zu more within 1e-3 of zero)",
           g_fixture, what, bad, excused);
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
            float *nm = xmalloc((size_t)cfg->prompt_dim * sizeof(float));
            m->x->ops->download_act(m->x, nm, m->w.no_mask_embed, (size_t)cfg->prompt_dim);
            float *dense = xmalloc((size_t)HW * cfg->prompt_dim * sizeof(float));
            for (int p = 0; p < HW; p++) memcpy(dense + (size_t)p * cfg->prompt_dim, nm, (size_t)cfg->prompt_dim * 4);
            check_nchw("batch6_dense0", dense, &g, cfg->prompt_dim, cfg->grid);
            free(nm), free(dense);
            npy_free(&g);
        }
    }
    ex_release(m->x, 0);
    free(sparse);
    if (mask_in.data) npy_free(&mask_in);
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

static void run_fixture(const char *root, const char *name, const cJSON *manifest) {
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
    exec_init(&x, cpu_ops(), NULL);
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
    TapCtx tc = {cfg};
    m.tap = tap;
    m.tap_ctx = &tc;
    void *embed = xmalloc((size_t)cfg->grid * cfg->grid * cfg->prompt_dim * sizeof(float));
    EncodePlan ep = {input, embed};
    sam_plan(&m, encode_plan, &ep);
    sam_encode(&m, embed, input, 1);
    m.tap = NULL;

    snprintf(path, sizeof path, "%s/dense_pe.npy", dir);
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        Npy g = golden("dense_pe");
        float *pe = xmalloc(g.count * sizeof(float));
        x.ops->download_act(&x, pe, m.w.dense_pe, g.count);
        check_nchw("dense_pe", pe, &g, cfg->prompt_dim, cfg->grid);
        free(pe);
        npy_free(&g);
    }

    // Every prompt case of the manifest; the arena is planned for each.
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases"), *cs;
    cJSON_ArrayForEach(cs, cases) {
        check_case(&m, cs->string, cs, embed, h, w, in_h, in_w);
    }
    printf("NOTE %s: largest float relative error %.3g\n", name, g_worst);
    free(embed), free(input), free(resized);
    npy_free(&img), npy_free(&gr);
    sam_free(&m);
    tmap_free(&t);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "build/fixtures/sam-golden";
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", root);
    cJSON *manifest = load_json_or_die(path);
    run_fixture(root, "tiny", manifest);
    run_fixture(root, "tiny1024", manifest);
    cJSON_Delete(manifest);
    return test_exit_status();
}
