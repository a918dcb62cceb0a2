// The core's dispatch to a linear format's fused LayerNorm (LinearFormat.run_ln, through
// variants/core/exec.h op_layernorm_linear), checked on the CPU where CI runs: the image
// encoder of the tiny fixture (windowed blocks on a zero-padded 16 x 16 grid and global
// blocks) with the fusion choice on, once with the dense format (no run_ln: LayerNorm, then
// the linear) and once with a test format that is the dense one plus a run_ln doing the
// LayerNorm itself from the LnSpec the core passes (window partition included). The two
// embeddings must be equal bit for bit (the same float32 operations in the same order), and
// run_ln must be called for qkv and lin1 of every block with the block's geometry: one image of
// the grid, the window of a windowed block's qkv, none otherwise. The int8 format's own run_ln
// is checked on the GPU (tests/gpu/test_int8.c: bit for bit against LayerNorm then its
// quantisation pass). The same for the MLP (LinearFormat.run_ln_mlp, through op_layernorm_mlp):
// a third format adds a run_ln_mlp made of the test's run_ln and the dense linear; it must be
// called once per block, with lin1 and lin2 of the block, the block's geometry and the block's
// input as output and residual, and give the same embedding bit for bit.
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "common/check.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/exec.h"
#include "../../variants/core/model.h"
#include "../test_util.h"

static int g_calls, g_bad_geometry, g_windowed_calls, g_mlp_calls, g_mlp_bad;
static int g_grid, g_window;  // the tiny model's token grid and window

// The CPU backend implements no fusion: the fused LayerNorm + window partition the encoder asks
// for with fusion on is the two CPU operations here.
static void test_layernorm_window(Exec *x, void *dst, const void *in, const void *g, const void *b, int n,
                                  int h, int w, int c, float eps, int win) {
    float *t = xmalloc((size_t)n * h * w * c * sizeof(float));
    cpu_layernorm(x, t, in, g, b, (int64_t)n * h * w, c, eps, ACT_NONE);
    cpu_window_partition(x, dst, t, n, h, w, c, win);
    free(t);
}

static void test_run_ln(Exec *x, void *y, const void *in, const LnSpec *ln, const LinearWeight *w, Act act,
                        const void *residual) {
    // The partition's rows written out here, not taken from ln_spec_rows: the windows of the
    // zero-padded grid, win x win rows each.
    int nwin = (g_grid + g_window - 1) / g_window;
    int64_t rows = ln->win > 0 ? (int64_t)nwin * nwin * ln->win * ln->win : (int64_t)g_grid * g_grid;
    g_calls++;
    g_windowed_calls += ln->win > 0;
    g_bad_geometry += ln->n != 1 || ln->h != g_grid || ln->w != g_grid || ln->dim != w->in_features ||
                      (ln->win != 0 && ln->win != g_window);
    float *t = xmalloc((size_t)rows * ln->dim * sizeof(float));
    if (ln->win > 0) test_layernorm_window(x, t, in, ln->g, ln->b, ln->n, ln->h, ln->w, ln->dim, ln->eps, ln->win);
    else cpu_layernorm(x, t, in, ln->g, ln->b, rows, ln->dim, ln->eps, ACT_NONE);
    cpu_linear_dense.run(x, y, t, w, rows, act, residual);
    free(t);
}

static void test_run_ln_mlp(Exec *x, void *y, void *hidden, const void *in, const LnSpec *ln,
                            const LinearWeight *w1, Act act, const LinearWeight *w2, const void *residual) {
    g_mlp_calls++;
    g_mlp_bad += ln->win != 0 || w1->in_features != ln->dim || w2->in_features != w1->out_features ||
                 w2->out_features != ln->dim || w1->out_features != 4 * ln->dim || act != ACT_GELU ||
                 residual != in || y != in;
    test_run_ln(x, hidden, in, ln, w1, act, NULL);
    cpu_linear_dense.run(x, y, hidden, w2, ln_spec_rows(ln), ACT_NONE, residual);
}

typedef struct {
    const float *input;
    void *embed;
} Enc;
static void encode(Sam *m, void *ctx) {
    Enc *e = ctx;
    sam_encode(m, e->embed, e->input, 1);
}

// The tiny model's embedding of `input` under ops.
static float *embed_with(const Ops *ops, const char *path, const float *input, SamConfig *cfg_out) {
    char err[512];
    TensorMap t;
    if (checkpoint_read(path, &t, err, sizeof err) != 0) {
        report(0, "read %s: %s", path, err);
        return NULL;
    }
    Exec x;
    exec_init(&x, ops, NULL);
    Sam m;
    if (sam_build(&m, &x, &t, err, sizeof err) != 0) {
        report(0, "build %s: %s", path, err);
        tmap_free(&t);
        return NULL;
    }
    *cfg_out = m.cfg;
    size_t n = (size_t)m.cfg.grid * m.cfg.grid * m.cfg.prompt_dim;
    float *embed = xmalloc(n * sizeof(float));
    Enc e = {input, embed};
    sam_plan(&m, encode, &e);
    sam_encode(&m, embed, input, 1);
    sam_free(&m);
    tmap_free(&t);
    return embed;
}

int main(void) {
    const char *b = getenv("BUILD") ? getenv("BUILD") : "build";
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/sam-golden/tiny/model.pth", b);

    Ops dense = *cpu_ops();
    dense.choices.fusion = 1;
    dense.layernorm_window = test_layernorm_window;
    LinearFormat with_ln = cpu_linear_dense;
    with_ln.name = "dense+run_ln";
    with_ln.run_ln = test_run_ln;
    Ops fused = dense;
    fused.choices.encoder_linear = &with_ln;
    LinearFormat with_mlp = with_ln;
    with_mlp.name = "dense+run_ln+run_ln_mlp";
    with_mlp.run_ln_mlp = test_run_ln_mlp;
    Ops fused_mlp = dense;
    fused_mlp.choices.encoder_linear = &with_mlp;

    // Pixels in [-2, 2] at the model's input size (read from a first build).
    SamConfig cfg;
    TensorMap t;
    char err[512];
    if (checkpoint_read(path, &t, err, sizeof err) != 0) {
        report(0, "read %s: %s", path, err);
        return test_exit_status();
    }
    if (sam_config_from_tensors(&t, &cfg, err, sizeof err) != 0) {
        report(0, "config of %s: %s", path, err);
        tmap_free(&t);
        return test_exit_status();
    }
    tmap_free(&t);
    g_grid = cfg.grid, g_window = cfg.window;
    size_t n_in = (size_t)3 * cfg.img_size * cfg.img_size;
    float *input = xmalloc(n_in * sizeof(float));
    uint32_t s = 12345u;
    for (size_t i = 0; i < n_in; i++) {
        s = s * 1664525u + 1013904223u;
        input[i] = 4.0f * (float)(s >> 8) / 16777216.0f - 2.0f;
    }

    SamConfig c1, c2;
    float *e1 = embed_with(&dense, path, input, &c1);
    float *e2 = embed_with(&fused, path, input, &c2);
    if (e1 && e2) {
        size_t n = (size_t)c1.grid * c1.grid * c1.prompt_dim, diff = 0;
        for (size_t i = 0; i < n; i++) diff += memcmp(&e1[i], &e2[i], sizeof(float)) != 0;
        report(diff == 0, "encoder with run_ln equals LayerNorm then linear, bit for bit (%zu of %zu values differ)",
               diff, n);
        int windowed = 0;
        for (int i = 0; i < c1.enc_depth; i++) windowed += !c1.is_global[i];
        report(g_calls == 2 * c1.enc_depth && g_windowed_calls == windowed && g_bad_geometry == 0,
               "run_ln called for qkv and lin1 of each of %d blocks (%d calls, %d with a window partition for "
               "%d windowed blocks, %d with another geometry than the block's)",
               c1.enc_depth, g_calls, g_windowed_calls, windowed, g_bad_geometry);
    }
    g_calls = g_windowed_calls = g_bad_geometry = 0;
    SamConfig c3;
    float *e3 = e1 ? embed_with(&fused_mlp, path, input, &c3) : NULL;
    if (e1 && e3) {
        size_t n = (size_t)c1.grid * c1.grid * c1.prompt_dim, diff = 0;
        for (size_t i = 0; i < n; i++) diff += memcmp(&e1[i], &e3[i], sizeof(float)) != 0;
        report(diff == 0, "encoder with run_ln_mlp equals LayerNorm then the two linears, bit for bit (%zu of %zu "
               "values differ)", diff, n);
        report(g_mlp_calls == c1.enc_depth && g_mlp_bad == 0 && g_calls == 2 * c1.enc_depth && g_bad_geometry == 0,
               "run_ln_mlp called once per block with its MLP (%d calls for %d blocks, %d with other layers, "
               "geometry or operands; run_ln %d times in all, %d of another geometry)", g_mlp_calls, c1.enc_depth,
               g_mlp_bad, g_calls, g_bad_geometry);
    }
    free(e1), free(e2), free(e3), free(input);
    return test_exit_status();
}
