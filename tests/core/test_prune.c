// 2:4 pruning (variants/core/prune.h): the rule on hand-made weights (ties, zeros, negative
// values, NaN), the refusal of a width that is not a multiple of 4, the weights spec's
// +prune24 option (and unknown options refused by name), and the model built through the C
// API with pruning on: exactly the four linears of every encoder block reach their format
// pruned (two zeros in every group of 4, equal to prune24 of the checkpoint's tensor), every
// other layer unpruned.
#include <math.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "common/check.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/model.h"
#include "../../variants/core/prune.h"
#include "../test_util.h"

// Prunes one group of four and compares with the expected values, bit for bit (so -0.0 and
// +0.0 differ only where the input had them).
static void group(const char *what, const float in[4], const float want[4]) {
    float g[4];
    memcpy(g, in, sizeof g);
    char err[256] = "";
    int rc = prune24(g, 1, 4, err, sizeof err);
    int ok = rc == 0;
    for (int i = 0; i < 4; i++) ok &= (isnan(want[i]) ? isnan(g[i]) : memcmp(&g[i], &want[i], 4) == 0);
    report(ok, "%s: [%g %g %g %g] -> [%g %g %g %g] (want [%g %g %g %g])%s%s", what, in[0], in[1],
           in[2], in[3], g[0], g[1], g[2], g[3], want[0], want[1], want[2], want[3], err[0] ? ": " : "",
           err);
}

static void hand_made(void) {
    const float nan = NAN;
    // Distinct magnitudes: the two smallest |w| go, whatever their sign and place.
    group("distinct magnitudes", (float[]){0.5f, -0.1f, 0.3f, 0.2f}, (float[]){0.5f, 0, 0.3f, 0});
    group("negative values rank by magnitude", (float[]){-4, 1, -2, 3}, (float[]){-4, 0, 0, 3});
    group("the largest magnitudes negative", (float[]){-0.9f, 0.01f, -0.8f, -0.02f}, (float[]){-0.9f, 0, -0.8f, 0});
    // Ties: the lower column is zeroed first, the higher kept.
    group("all four equal: columns 0, 1 zeroed", (float[]){1, 1, 1, 1}, (float[]){0, 0, 1, 1});
    group("+w and -w tie (magnitude): the lower column zeroed", (float[]){2, -1, 1, 3}, (float[]){2, 0, 0, 3});
    group("a tie across the cut: of two equal third-smallest, the lower goes",
          (float[]){0.1f, 0.5f, 0.9f, 0.5f}, (float[]){0, 0, 0.9f, 0.5f});
    group("three equal smallest: the lower two go", (float[]){0.2f, 0.2f, 0.2f, 0.7f}, (float[]){0, 0, 0.2f, 0.7f});
    group("two equal smallest at the high columns", (float[]){0.7f, 0.7f, 0.2f, 0.2f}, (float[]){0.7f, 0.7f, 0, 0});
    group("negative ties", (float[]){-3, -3, -3, 5}, (float[]){0, 0, -3, 5});
    // Zeros already there count as the smallest magnitudes; -0.0 ties with +0.0.
    group("two zeros stay the two zeroed", (float[]){0, 7, 0, -7}, (float[]){0, 7, 0, -7});
    group("three zeros: two are written, the third stays zero", (float[]){0, 0, 5, 0}, (float[]){0, 0, 5, 0});
    group("-0.0 and +0.0 tie: the lower column first", (float[]){1, -0.0f, 0.0f, 2}, (float[]){1, 0, 0, 2});
    group("all zero", (float[]){0, 0, 0, 0}, (float[]){0, 0, 0, 0});
    // NaN ranks above every number (torch.topk's order): kept.
    group("NaN is kept", (float[]){nan, 1, 2, 3}, (float[]){nan, 0, 0, 3});
    group("infinity is the largest number", (float[]){INFINITY, -INFINITY, 1e30f, 1}, (float[]){INFINITY, -INFINITY, 0, 0});
    // Subnormals keep their order (w * w would flush both to 0 and tie them).
    group("subnormal magnitudes ordered", (float[]){3e-45f, 1e-44f, 0.5f, 1.4e-45f}, (float[]){0, 1e-44f, 0.5f, 0});

    // A (2, 8) matrix: rows and groups are independent.
    float W[16] = {1, 2, 3, 4, -8, 7, -6, 5,    //
                   0.25f, 0.25f, 0.5f, 0.5f, 9, 0, 0, 1};
    const float want[16] = {0, 0, 3, 4, -8, 7, 0, 0,  //
                            0, 0, 0.5f, 0.5f, 9, 0, 0, 1};
    char err[256] = "";
    int ok = prune24(W, 2, 8, err, sizeof err) == 0 && memcmp(W, want, sizeof W) == 0;
    report(ok, "a 2 x 8 matrix, group by group, row by row%s%s", err[0] ? ": " : "", err);
    report(prune24_violations(W, 2, 8, NULL, NULL) == 0, "the pruned matrix has no group with more than 2 non-zeros");
    float dense[8] = {1, 2, 3, 0, 1, 0, 0, 0};
    int r = -1, c = -1;
    int64_t v = prune24_violations(dense, 1, 8, &r, &c);
    report(v == 1 && r == 0 && c == 0, "violations: a group with 3 non-zeros counted, at row 0 column 0 (%lld at %d, %d)",
           (long long)v, r, c);

    // A width the rule cannot group is refused by name, the weight untouched.
    float odd[6] = {1, 2, 3, 4, 5, 6};
    const float odd0[6] = {1, 2, 3, 4, 5, 6};
    err[0] = 0;
    int rc = prune24(odd, 1, 6, err, sizeof err);
    report(rc == -1 && strstr(err, "not a multiple of 4") && strstr(err, "6 input columns") &&
               memcmp(odd, odd0, sizeof odd) == 0,
           "in = 6 refused by name, weight untouched: %s", err);

    // A large random matrix with many ties: pruned twice, the same bits; in every group exactly
    // the rule's two (the smallest |w|, the lower column first among equals) are zeroed, the
    // other two kept as they were.
    const int O = 96, I = 256;
    float *a = xmalloc(sizeof(float) * O * I), *b = xmalloc(sizeof(float) * O * I);
    float *orig = xmalloc(sizeof(float) * O * I);
    uint32_t s = 12345;
    for (int i = 0; i < O * I; i++) {
        s = s * 1664525u + 1013904223u;
        // Few distinct values, so ties are frequent.
        a[i] = (float)((int)(s >> 28) - 8) * 0.125f;
    }
    memcpy(b, a, sizeof(float) * O * I);
    memcpy(orig, a, sizeof(float) * O * I);
    prune24(a, O, I, err, sizeof err);
    prune24(b, O, I, err, sizeof err);
    int rule_ok = 1;
    for (int g = 0; g < O * I; g += 4) {
        // rank of column j in the group: how many columns come before it in (|w|, column) order
        for (int j = 0; j < 4; j++) {
            int rank = 0;
            for (int k = 0; k < 4; k++) {
                float wk = fabsf(orig[g + k]), wj = fabsf(orig[g + j]);
                rank += wk < wj || (wk == wj && k < j);
            }
            rule_ok &= rank < 2 ? a[g + j] == 0.0f : a[g + j] == orig[g + j];
        }
    }
    report(memcmp(a, b, sizeof(float) * O * I) == 0 && rule_ok,
           "96 x 256 with many ties: deterministic, and every group keeps exactly the rule's two");
    free(a), free(b), free(orig);
}

static void spec_parse(void) {
    char base[256], err[512];
    int p = -1;
    struct {
        const char *spec, *base;
        int prune;
    } good[] = {
        {"synthetic:vit_b", "synthetic:vit_b", 0},
        {"synthetic:vit_b+prune24", "synthetic:vit_b", 1},
        {"synthetic:vit_h:3+prune24", "synthetic:vit_h:3", 1},
        {"/data/sam_vit_b_01ec64.pth+prune24", "/data/sam_vit_b_01ec64.pth", 1},
        {"/data/a+b/sam.pth", "/data/a+b/sam.pth", 0},        // '+' inside a path
        {"/data/sam+v2.pth", "/data/sam+v2.pth", 0},          // '.' after it: a path
        {"/data/sam+v2.pth+prune24", "/data/sam+v2.pth", 1},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        err[0] = 0;
        int rc = weights_spec_parse(good[i].spec, base, sizeof base, &p, err, sizeof err);
        report(rc == 0 && strcmp(base, good[i].base) == 0 && p == good[i].prune,
               "spec \"%s\" -> source \"%s\", prune %d%s%s", good[i].spec, rc == 0 ? base : "-", p,
               err[0] ? ": " : "", err);
    }
    struct {
        const char *spec, *want;
    } bad[] = {
        {"synthetic:vit_b+prune42", "unknown weights option \"+prune42\" (known: +prune24)"},
        {"synthetic:vit_b+Prune24", "unknown weights option \"+Prune24\" (known: +prune24)"},
        {"synthetic:vit_b+prune24+int8", "unknown weights option \"+int8\" (known: +prune24)"},
        {"synthetic:vit_b+", "empty weights option"},
        {"+prune24", "no weights source"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = weights_spec_parse(bad[i].spec, base, sizeof base, &p, err, sizeof err);
        report(rc == -1 && strstr(err, bad[i].want) && strstr(err, bad[i].spec), "spec \"%s\" refused by name: %s",
               bad[i].spec, err);
    }
    TensorMap t;
    err[0] = 0;
    int rc = weights_source_load("synthetic:vit_q+prune24", &t, err, sizeof err);
    report(rc == -1 && strstr(err, "vit_q"), "the source behind the option is still checked: %s", err);
}

// ---- the model through the C API: formats that record what they are given ------------------

typedef struct {
    float *W;
    int out, in;
} Seen;
static Seen seen_enc[64], seen_dense[512];
static int n_enc, n_dense;

static LinearWeight *record(Seen *list, int *n, int cap, Exec *x, const float *W, const float *b, int out, int in) {
    CHECK(*n < cap);
    list[*n].W = xmalloc(sizeof(float) * (size_t)out * in);
    memcpy(list[*n].W, W, sizeof(float) * (size_t)out * in);
    list[*n].out = out, list[*n].in = in;
    (*n)++;
    return cpu_linear_prepare(x, W, b, out, in);
}
static LinearWeight *prep_enc(Exec *x, const float *W, const float *b, int out, int in) {
    return record(seen_enc, &n_enc, 64, x, W, b, out, in);
}
static LinearWeight *prep_dense(Exec *x, const float *W, const float *b, int out, int in) {
    return record(seen_dense, &n_dense, 512, x, W, b, out, in);
}
static const LinearFormat rec_enc = {.name = "rec-enc", .backend = "cpu", .dtypes = 1u << DT_F32,
                                     .prepare = prep_enc, .run = cpu_linear, .release = cpu_linear_release};
static const LinearFormat rec_dense = {.name = "rec-dense", .backend = "cpu", .dtypes = 1u << DT_F32,
                                       .prepare = prep_dense, .run = cpu_linear, .release = cpu_linear_release};

static void model_build(const char *build) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/fixtures/sam-golden/tiny/model.pth+prune24", build);
    TensorMap t;
    if (weights_source_load(path, &t, err, sizeof err) != 0) {
        report(0, "load %s: %s", path, err);
        return;
    }
    report(t.prune24 == 1, "a checkpoint path with +prune24 loads, the option set");
    Ops ops = *cpu_ops();
    ops.choices.encoder_linear = &rec_enc;
    ops.dense_linear = &rec_dense;
    Exec x;
    exec_init(&x, &ops, NULL);
    Sam m;
    if (sam_build(&m, &x, &t, err, sizeof err) != 0) {
        report(0, "build: %s", err);
        tmap_free(&t);
        return;
    }
    int depth = m.cfg.enc_depth;
    report(m.prune24 == 1 && n_enc == 4 * depth, "%d encoder linears prepared through the encoder format (want %d)",
           n_enc, 4 * depth);
    const char *kind[4] = {"attn.qkv", "attn.proj", "mlp.lin1", "mlp.lin2"};
    int exact = 0, two_zeros = 0, groups = 0;
    for (int k = 0; k < n_enc && k < 4 * depth; k++) {
        char name[128];
        snprintf(name, sizeof name, "image_encoder.blocks.%d.%s.weight", k / 4, kind[k % 4]);
        const HostTensor *h = tmap_find(&t, name);
        CHECK(h);
        float *want = xmalloc(sizeof(float) * h->count);
        memcpy(want, h->data, sizeof(float) * h->count);
        prune24(want, seen_enc[k].out, seen_enc[k].in, err, sizeof err);
        exact += h->count == (size_t)seen_enc[k].out * seen_enc[k].in &&
                 memcmp(want, seen_enc[k].W, sizeof(float) * h->count) == 0;
        for (size_t i = 0; i < h->count; i += 4) {
            const float *g = seen_enc[k].W + i;
            two_zeros += (g[0] == 0) + (g[1] == 0) + (g[2] == 0) + (g[3] == 0) == 2;
            groups++;
        }
        free(want);
    }
    report(exact == 4 * depth, "every encoder linear equals prune24 of its checkpoint tensor (%d of %d)", exact,
           4 * depth);
    report(groups > 0 && two_zeros == groups,
           "exactly 2 zeros in every group of 4 of the encoder linears (%d of %d groups; the fixture has no zeros)",
           two_zeros, groups);
    int unpruned = 0;
    for (int k = 0; k < n_dense; k++)
        unpruned += seen_dense[k].in % 4 != 0 ||
                    prune24_violations(seen_dense[k].W, seen_dense[k].out, seen_dense[k].in, NULL, NULL) > 0;
    report(n_dense > 0 && unpruned == n_dense,
           "the %d other layers (patch embedding, neck, prompt encoder, decoder) reach the dense format unpruned (%d)",
           n_dense, unpruned);
    sam_free(&m);
    tmap_free(&t);
    for (int k = 0; k < n_enc; k++) free(seen_enc[k].W);
    for (int k = 0; k < n_dense; k++) free(seen_dense[k].W);
    n_enc = n_dense = 0;

    // Without the option nothing is pruned.
    snprintf(path, sizeof path, "%s/fixtures/sam-golden/tiny/model.pth", build);
    if (weights_source_load(path, &t, err, sizeof err) != 0) {
        report(0, "load %s: %s", path, err);
        return;
    }
    exec_init(&x, &ops, NULL);
    if (sam_build(&m, &x, &t, err, sizeof err) != 0) {
        report(0, "build: %s", err);
        tmap_free(&t);
        return;
    }
    int untouched = 0;
    for (int k = 0; k < n_enc; k++) {
        char name[128];
        snprintf(name, sizeof name, "image_encoder.blocks.%d.%s.weight", k / 4, kind[k % 4]);
        const HostTensor *h = tmap_find(&t, name);
        untouched += h && memcmp(h->data, seen_enc[k].W, sizeof(float) * h->count) == 0;
    }
    report(t.prune24 == 0 && m.prune24 == 0 && untouched == 4 * depth,
           "without +prune24 the encoder linears reach their format unchanged (%d of %d)", untouched, 4 * depth);
    sam_free(&m);
    tmap_free(&t);
    for (int k = 0; k < n_enc; k++) free(seen_enc[k].W);
    for (int k = 0; k < n_dense; k++) free(seen_dense[k].W);
}

int main(void) {
    hand_made();
    spec_parse();
    const char *b = getenv("BUILD") ? getenv("BUILD") : "build";
    model_build(b);
    return test_exit_status();
}
