// Checkpoint reading (variants/core/checkpoint.c) and synthetic weights (synthetic.c).
//  1. Both golden fixtures' model.pth against an independent Python-stdlib reader
//     (tests/core/ckpt_oracle.py): every tensor's name, order, shape and float32 values (CRC).
//  2. The configuration derived from their shapes equals manifest.json's.
//  3. Rewritten checkpoints (tests/core/make_pth.py): bfloat16 and float16 storages, views
//     (permuted and transposed strides, a storage offset, a shared storage), a different top
//     folder, ZIP64 records; values against the oracle and against the float32 original.
//  4. Special float16/bfloat16 values (subnormals, infinities, -0, NaN) convert exactly.
//  5. synthetic:vit_b|vit_l|vit_h: configurations, determinism, the initialisation scheme's
//     statistics, bad specs. Prints the wall time of vit_h generation as a NOTE.
// Run from the repository root (tests/run.sh does); the build folder is $BUILD, else the one
// argv[0] lies in (build/tests/core/test_checkpoint -> build).
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/pth_builder.h"
#include "tests/test_util.h"
#include "variants/core/checkpoint.h"
#include "variants/core/config.h"

static char build_dir[512], tmp_dir[600];

static void find_build_dir(const char *argv0) {
    const char *env = getenv("BUILD"), *t = NULL;
    for (const char *s = argv0; (s = strstr(s, "/tests/")); s++) t = s;
    if (env) snprintf(build_dir, sizeof build_dir, "%s", env);
    else if (t) snprintf(build_dir, sizeof build_dir, "%.*s", (int)(t - argv0), argv0);
    else snprintf(build_dir, sizeof build_dir, "build");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp/test_checkpoint", build_dir);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static unsigned long tensor_crc(const HostTensor *t) {
    return crc32_z(0, (const Bytef *)t->data, t->count * sizeof(float));
}

static void shape_text(const HostTensor *t, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s", t->ndim ? "" : "-");
    for (int i = 0; i < t->ndim; i++) n += snprintf(buf + n, len - (size_t)n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
}

// ---- 1. against the oracle -------------------------------------------------------------------

// Runs the oracle on path and compares every tensor of m with its line. Reports one check.
static void compare_with_oracle(const char *what, const char *path, const TensorMap *m) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "python3 tests/core/ckpt_oracle.py '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        report(0, "%s: oracle: cannot run %s", what, cmd);
        return;
    }
    char line[1024], why[1400] = "";
    int i = 0;
    while (fgets(line, sizeof line, p)) {
        char name[512], shape[256];
        unsigned long long count;
        unsigned long crc;
        if (sscanf(line, "T %511s %255s %llu %lx", name, shape, &count, &crc) != 4) {
            snprintf(why, sizeof why, "oracle printed \"%.200s\"", line);
            break;
        }
        if (i >= m->count) {
            snprintf(why, sizeof why, "oracle lists more tensors than the %d read", m->count);
            break;
        }
        const HostTensor *t = &m->items[i++];
        char ours[256];
        shape_text(t, ours, sizeof ours);
        if (strcmp(t->name, name) != 0) {
            snprintf(why, sizeof why, "tensor %d is %s, oracle says %s", i - 1, t->name, name);
            break;
        }
        if (strcmp(ours, shape) != 0 || t->count != count) {
            snprintf(why, sizeof why, "%s has shape %s, oracle says %s", name, ours, shape);
            break;
        }
        if (tensor_crc(t) != crc) {
            snprintf(why, sizeof why, "%s: values differ from the oracle's (crc %08lx vs %08lx)", name,
                     tensor_crc(t), crc);
            break;
        }
    }
    int rc = pclose(p);
    if (!why[0] && rc != 0) snprintf(why, sizeof why, "oracle exited with status %d", rc);
    if (!why[0] && i != m->count) snprintf(why, sizeof why, "oracle listed %d tensors, read %d", i, m->count);
    report(!why[0], "%s: %d tensors equal the oracle's (names, order, shapes, float32 values)%s%s", what,
           m->count, why[0] ? ": " : "", why);
}

static int load(const char *what, const char *path, TensorMap *m) {
    char err[1024];
    int rc = checkpoint_read(path, m, err, sizeof err);
    report(rc == 0, "%s: checkpoint_read %s%s%s", what, path, rc ? ": " : "", rc ? err : "");
    return rc;
}

// ---- 2. configuration ------------------------------------------------------------------------

static int json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static void check_fixture_config(const char *fixture, const TensorMap *m, const cJSON *manifest) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(manifest, "fixtures"), fixture), "config");
    SamConfig cfg;
    char err[1024] = "";
    if (!c || sam_config_from_tensors(m, &cfg, err, sizeof err) != 0) {
        report(0, "%s: configuration from shapes: %s", fixture, c ? err : "no config in manifest.json");
        return;
    }
    const cJSON *glob = cJSON_GetObjectItemCaseSensitive(c, "glob");
    uint8_t want_global[SAM_MAX_DEPTH] = {0};
    const cJSON *g;
    cJSON_ArrayForEach(g, glob) if (g->valueint >= 0 && g->valueint < SAM_MAX_DEPTH) want_global[g->valueint] = 1;
    char why[256] = "";
#define SAME(field, want) \
    if (!why[0] && (field) != (want)) snprintf(why, sizeof why, #field " is %d, manifest says %d", (int)(field), (int)(want))
    SAME(cfg.img_size, json_int(c, "img"));
    SAME(cfg.enc_dim, json_int(c, "embed"));
    SAME(cfg.enc_depth, json_int(c, "depth"));
    SAME(cfg.enc_heads, json_int(c, "heads"));
    SAME(cfg.window, json_int(c, "window"));
    SAME(cfg.prompt_dim, json_int(c, "pdim"));
    SAME(cfg.dec_mlp_dim, json_int(c, "dec_mlp"));
    SAME(cfg.dec_heads, json_int(c, "dec_heads"));
    SAME(cfg.mask_in_chans, json_int(c, "mask_in"));
    // Fixed by build_sam.py for every model (fixtures/README.md).
    SAME(cfg.patch, 16);
    SAME(cfg.grid, cfg.img_size / 16);
    SAME(cfg.enc_head_dim, cfg.enc_dim / cfg.enc_heads);
    SAME(cfg.enc_mlp_dim, 4 * cfg.enc_dim);
    SAME(cfg.dec_depth, 2);
    SAME(cfg.num_mask_tokens, 4);
    SAME(cfg.iou_depth, 3);
    SAME(cfg.hyper_depth, 3);
    for (int i = 0; i < SAM_MAX_DEPTH; i++) SAME(cfg.is_global[i], i < cfg.enc_depth && want_global[i]);
#undef SAME
    if (!why[0] && strcmp(cfg.model, "custom") != 0) snprintf(why, sizeof why, "model is %s, expected custom", cfg.model);
    char json[1024];
    sam_config_json(&cfg, json, sizeof json);
    report(!why[0], "%s: configuration from shapes equals manifest.json's: %s%s%s", fixture, json,
           why[0] ? ": " : "", why);
}

// ---- 3. rewritten checkpoints ------------------------------------------------------------------

static int make_pth(const char *src, const char *dst, const char *options) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 tests/core/make_pth.py '%s' '%s' %s", src, dst, options);
    int rc = system(cmd);
    report(rc == 0, "make_pth.py %s -> %s%s", options, dst, rc ? " failed" : "");
    return rc;
}

// The file contains the byte string s (to prove a variant is what it claims to be).
static int file_contains(const char *path, const void *s, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)size);
    int found = fread(buf, 1, (size_t)size, f) == (size_t)size && memmem(buf, (size_t)size, s, n) != NULL;
    fclose(f);
    free(buf);
    return found;
}

// Every tensor of a equals b's of the same name: exactly (tol 0) or within tol relative to
// each value (float16 rounding). Returns the number of tensors that are not bit-identical.
static int compare_maps(const char *what, const TensorMap *a, const TensorMap *b, double tol) {
    char why[512] = "";
    int inexact = 0;
    if (a->count != b->count) snprintf(why, sizeof why, "%d tensors vs %d", a->count, b->count);
    for (int i = 0; i < a->count && !why[0]; i++) {
        const HostTensor *x = &a->items[i], *y = tmap_find(b, x->name);
        if (!y || y->count != x->count || y->ndim != x->ndim ||
            memcmp(y->shape, x->shape, sizeof x->shape[0] * (size_t)x->ndim) != 0) {
            snprintf(why, sizeof why, "%s: missing or shaped differently", x->name);
            break;
        }
        if (memcmp(x->data, y->data, x->count * sizeof(float)) == 0) continue;
        inexact++;
        for (size_t k = 0; k < x->count; k++) {
            double d = fabs((double)x->data[k] - y->data[k]), r = fabs((double)y->data[k]);
            // float16 keeps 11 significant bits, fewer in its subnormals (below 2^-14, in
            // steps of 2^-24): half a step absolute or 2^-11 relative.
            if (!(d <= tol * r) && !(d <= 0x1p-25)) {
                snprintf(why, sizeof why, "%s[%zu] = %.9g, original %.9g", x->name, k, x->data[k], y->data[k]);
                break;
            }
        }
    }
    report(!why[0], "%s: every tensor equals the float32 original%s%s%s", what,
           tol > 0 ? " within float16 rounding" : " exactly", why[0] ? ": " : "", why);
    return inexact;
}

static void check_config_same(const char *what, const TensorMap *m, const TensorMap *orig) {
    SamConfig a, b;
    char err[1024] = "";
    int ok = sam_config_from_tensors(m, &a, err, sizeof err) == 0 &&
             sam_config_from_tensors(orig, &b, err, sizeof err) == 0 && memcmp(&a, &b, sizeof a) == 0;
    report(ok, "%s: sam_config_from_tensors accepts it, same configuration as the original%s%s", what,
           err[0] ? ": " : "", err);
}

static void rewritten_checkpoints(const char *tiny, const TensorMap *orig) {
    struct {
        const char *file, *options, *must_contain;
        size_t must_len;
        double tol;
    } v[] = {
        {"bf16.pth", "--dtype bf16", "BFloat16Storage", 15, 0},
        {"f16.pth", "--dtype f16 --top sam_vit_b_01ec64", "HalfStorage", 11, 1.0 / 2048},
        // ZIP64 end-of-central-directory locator signature proves the ZIP64 path is taken.
        {"views_zip64.pth", "--views --zip64 --top weird.top-folder", "PK\x06\x07", 4, 0},
        {"bf16_views.pth", "--views --dtype bf16", "BFloat16Storage", 15, 0},
        {"f16_views.pth", "--views --dtype f16", "HalfStorage", 11, 1.0 / 2048},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, v[i].file);
        if (make_pth(tiny, path, v[i].options)) continue;
        report(file_contains(path, v[i].must_contain, v[i].must_len), "%s: file holds \"%s\"", v[i].file,
               v[i].must_contain[0] == 'P' ? "PK\\x06\\x07" : v[i].must_contain);
        TensorMap m;
        if (load(v[i].file, path, &m)) continue;
        compare_with_oracle(v[i].file, path, &m);
        int inexact = compare_maps(v[i].file, &m, orig, v[i].tol);
        // float16 must actually have rounded something, or the f16 path went untested.
        if (v[i].tol > 0) report(inexact > 0, "%s: float16 rounding visible in %d tensors", v[i].file, inexact);
        check_config_same(v[i].file, &m, orig);
        tmap_free(&m);
    }
}

// ---- 4. special values -----------------------------------------------------------------------

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void special_values(void) {
    // float16 bit patterns and their exact float32 values (IEEE 754 binary16).
    const uint16_t h[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0xfc00, 0x3555};
    const float hv[] = {0.0f, -0.0f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 1.0f, -2.0f, 65504.0f,
                        INFINITY, -INFINITY, 0x1.554p-2f};
    const uint16_t bf[] = {0x3f80, 0xc0a0, 0x0001, 0x7f80, 0xff80, 0x8000, 0x7f7f, 0x3eaa};
    enum { NH = sizeof h / sizeof h[0], NB = sizeof bf / sizeof bf[0] };
    Buf s16 = {0}, sbf = {0}, pkl = {0};
    for (int i = 0; i < NH; i++) buf_le(&s16, h[i], 2);
    buf_le(&s16, 0x7e00, 2);  // NaN, checked separately
    for (int i = 0; i < NB; i++) buf_le(&sbf, bf[i], 2);
    pk_proto(&pkl);
    pk_empty_ordered_dict(&pkl);
    pk_mark(&pkl);
    pk_str(&pkl, "half");
    pk_tensor(&pkl, "HalfStorage", "0", NH + 1, 0, 1, (int64_t[]){NH + 1}, (int64_t[]){1});
    pk_str(&pkl, "bfloat");
    pk_tensor(&pkl, "BFloat16Storage", "1", NB, 0, 1, (int64_t[]){NB}, (int64_t[]){1});
    buf_u8(&pkl, 'u');  // SETITEMS
    pk_stop(&pkl);
    char path[800];
    snprintf(path, sizeof path, "%s/special.pth", tmp_dir);
    Buf st[2] = {s16, sbf};
    TensorMap m;
    if (pth_write(path, &pkl, st, 2) == 0 && load("special values", path, &m) == 0) {
        const HostTensor *a = tmap_find(&m, "half"), *b = tmap_find(&m, "bfloat");
        char why[256] = "";
        for (int i = 0; a && i < NH && !why[0]; i++)
            if (memcmp(&a->data[i], &hv[i], 4) != 0)
                snprintf(why, sizeof why, "float16 0x%04x gave %a, expected %a", h[i], a->data[i], hv[i]);
        if (a && !why[0] && !isnan(a->data[NH])) snprintf(why, sizeof why, "float16 0x7e00 gave %a, not NaN", a->data[NH]);
        for (int i = 0; b && i < NB && !why[0]; i++)
            if (memcmp(&b->data[i], &(float){bits_f32((uint32_t)bf[i] << 16)}, 4) != 0)
                snprintf(why, sizeof why, "bfloat16 0x%04x gave %a", bf[i], b->data[i]);
        if (!a || !b) snprintf(why, sizeof why, "tensors missing");
        report(!why[0], "float16 (zeros, subnormals, max, infinities, NaN) and bfloat16 storages convert exactly%s%s",
               why[0] ? ": " : "", why);
        tmap_free(&m);
    }
    buf_free(&s16), buf_free(&sbf), buf_free(&pkl);
}

// ---- 5. synthetic weights --------------------------------------------------------------------

static const char *config_diff(const SamConfig *a, const SamConfig *b) {
#define F(x) if (memcmp(&a->x, &b->x, sizeof a->x) != 0) return #x
    F(model); F(img_size); F(patch); F(grid); F(enc_dim); F(enc_depth); F(enc_heads); F(enc_head_dim);
    F(enc_mlp_dim); F(window); F(is_global); F(rel_pos_len); F(prompt_dim); F(mask_in_chans);
    F(dec_depth); F(dec_heads); F(dec_mlp_dim); F(dec_cross_dim); F(num_mask_tokens); F(iou_hidden);
    F(iou_depth); F(hyper_depth);
#undef F
    return NULL;
}

static unsigned long map_crc(const TensorMap *m) {
    unsigned long c = 0;
    for (int i = 0; i < m->count; i++) {
        c = crc32_z(c, (const Bytef *)m->items[i].name, strlen(m->items[i].name));
        c = crc32_z(c, (const Bytef *)m->items[i].data, m->items[i].count * sizeof(float));
    }
    return c;
}

typedef struct {
    double mean, std, min, max;
    size_t n;
} Stats;

static Stats stats_of(const TensorMap *m, const char *name) {
    Stats s = {0, 0, INFINITY, -INFINITY, 0};
    const HostTensor *t = tmap_find(m, name);
    if (!t) return s;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < t->count; i++) {
        double v = t->data[i];
        sum += v, sq += v * v;
        s.min = v < s.min ? v : s.min;
        s.max = v > s.max ? v : s.max;
    }
    s.n = t->count;
    s.mean = sum / (double)t->count;
    s.std = sqrt(sq / (double)t->count - s.mean * s.mean);
    return s;
}

// U(-b, b): all within b, the extremes near b, std b/sqrt(3) within rel_tol, mean near 0.
static void check_uniform(const TensorMap *m, const char *name, double b, double rel_tol, const char *why_b) {
    Stats s = stats_of(m, name);
    double want = b / sqrt(3.0);
    int ok = s.n > 0 && s.max <= b && s.min >= -b && s.max > 0.99 * b && s.min < -0.99 * b &&
             fabs(s.std / want - 1) < rel_tol && fabs(s.mean) < 5 * want / sqrt((double)s.n);
    report(ok, "synthetic:vit_b %s ~ U(-%.6f, %.6f) (%s): n %zu, min %.6f max %.6f, std %.6f (expected %.6f), mean %.2e",
           name, b, b, why_b, s.n, s.min, s.max, s.std, want, s.mean);
}

static void check_normal(const TensorMap *m, const char *name, double std, double trunc, double rel_tol) {
    Stats s = stats_of(m, name);
    // A normal truncated at +-2 std has std 0.879596 times the untruncated one.
    double want = trunc > 0 ? std * 0.8795968 : std;
    int ok = s.n > 0 && fabs(s.std / want - 1) < rel_tol && fabs(s.mean) < 5 * want / sqrt((double)s.n);
    if (trunc > 0) ok &= s.max <= trunc * std && s.min >= -trunc * std && s.max > 0.9 * trunc * std;
    else ok &= s.max - s.min > 3 * std;  // not a narrow uniform
    report(ok, "synthetic:vit_b %s ~ N(0, %g^2)%s: n %zu, min %.5f max %.5f, std %.5f (expected %.5f), mean %.2e",
           name, std, trunc > 0 ? " truncated at +-2 std" : "", s.n, s.min, s.max, s.std, want, s.mean);
}

static void check_constant(const TensorMap *m, const char *name, float value) {
    const HostTensor *t = tmap_find(m, name);
    size_t bad = t ? 0 : 1;
    for (size_t i = 0; t && i < t->count; i++) bad += t->data[i] != value;
    report(!bad, "synthetic:vit_b %s is all %g (LayerNorm default)", name, value);
}

static int make_synthetic(const char *spec, TensorMap *m, SamConfig *cfg, double *seconds) {
    char err[1024] = "";
    double t0 = now();
    int rc = synthetic_make(spec, m, err, sizeof err);
    if (seconds) *seconds = now() - t0;
    if (rc == 0 && cfg) rc = sam_config_from_tensors(m, cfg, err, sizeof err);
    if (rc) report(0, "%s: %s", spec, err);
    return rc;
}

static void synthetic(void) {
    const char *models[3] = {"vit_b", "vit_l", "vit_h"};
    TensorMap b0 = {0}, hmap = {0};
    SamConfig cfg, preset;
    for (int i = 0; i < 3; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "synthetic:%s", models[i]);
        TensorMap m;
        double secs;
        if (make_synthetic(spec, &m, &cfg, &secs)) continue;
        sam_config_preset(models[i], &preset);
        const char *d = config_diff(&cfg, &preset);
        char json[1024];
        sam_config_json(&cfg, json, sizeof json);
        report(!d, "%s: sam_config_from_tensors accepts it and derives the %s preset%s%s: %s", spec, models[i],
               d ? ", but differs in " : "", d ? d : "", json);
        size_t params = 0;
        for (int k = 0; k < m.count; k++) params += m.items[k].count;
        if (i == 2) {
            printf("NOTE synthetic:vit_h generation (%zu parameters, %d tensors): %.2f s wall on %ld CPUs\n",
                   params, m.count, secs, sysconf(_SC_NPROCESSORS_ONLN));
            hmap = m;
        } else if (i == 0) {
            b0 = m;
        } else {
            tmap_free(&m);
        }
    }
    if (!b0.count || !hmap.count) return;

    // Same (seed, name) -> same values, whatever the model, order or thread schedule: tensors
    // shared by vit_b and vit_h (prompt encoder, decoder) must be bit-identical.
    int shared = 0, differ = 0;
    for (int i = 0; i < b0.count; i++) {
        const HostTensor *x = &b0.items[i], *y = tmap_find(&hmap, x->name);
        if (!y || y->count != x->count) continue;
        shared++;
        differ += memcmp(x->data, y->data, x->count * sizeof(float)) != 0;
    }
    report(shared > 60 && differ == 0, "synthetic vit_b and vit_h agree bit for bit on the %d tensors with the same name and shape (%d differ)",
           shared, differ);
    tmap_free(&hmap);

    TensorMap again, seed0, seed1;
    unsigned long c0 = map_crc(&b0);
    if (!make_synthetic("synthetic:vit_b", &again, NULL, NULL)) {
        report(map_crc(&again) == c0, "synthetic:vit_b twice: same values (crc %08lx, %08lx)", c0, map_crc(&again));
        tmap_free(&again);
    }
    if (!make_synthetic("synthetic:vit_b:0", &seed0, NULL, NULL)) {
        report(map_crc(&seed0) == c0 && strcmp(seed0.source, "synthetic:vit_b:0") == 0,
               "synthetic:vit_b:0 equals synthetic:vit_b (seed 0 by default), source \"%s\"", seed0.source);
        tmap_free(&seed0);
    }
    if (!make_synthetic("synthetic:vit_b:1", &seed1, NULL, NULL)) {
        int same_random = 0, random = 0;
        for (int i = 0; i < b0.count; i++) {
            const HostTensor *x = &b0.items[i], *y = &seed1.items[i];
            int constant = strstr(x->name, "norm") || strstr(x->name, "neck.1") || strstr(x->name, "neck.3") ||
                           strstr(x->name, "mask_downscaling.1") || strstr(x->name, "mask_downscaling.4") ||
                           strstr(x->name, "output_upscaling.1");
            if (constant) continue;
            random++;
            same_random += memcmp(x->data, y->data, x->count * sizeof(float)) == 0;
        }
        report(map_crc(&seed1) != c0 && same_random == 0 && random > 100,
               "synthetic:vit_b:1 differs from seed 0 in all %d randomly initialised tensors (%d equal)", random,
               same_random);
        tmap_free(&seed1);
    }

    // The scheme (synthetic.c's header), tensor kind by tensor kind.
    check_uniform(&b0, "image_encoder.blocks.0.mlp.lin1.weight", 1 / sqrt(768.0), 0.005, "Linear, fan_in 768");
    check_uniform(&b0, "image_encoder.blocks.3.mlp.lin2.weight", 1 / sqrt(3072.0), 0.005, "Linear, fan_in 3072");
    check_uniform(&b0, "image_encoder.blocks.0.attn.qkv.bias", 1 / sqrt(768.0), 0.05, "Linear bias, fan_in 768");
    check_uniform(&b0, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.out_proj.weight",
                  1 / sqrt(128.0), 0.02, "Linear, fan_in 128");
    check_uniform(&b0, "image_encoder.patch_embed.proj.weight", 1 / sqrt(3 * 16 * 16.0), 0.005, "Conv2d, fan_in 3*16*16");
    check_uniform(&b0, "image_encoder.neck.2.weight", 1 / sqrt(256 * 9.0), 0.005, "Conv2d, fan_in 256*3*3");
    check_uniform(&b0, "mask_decoder.output_upscaling.0.weight", 1 / sqrt(64 * 4.0), 0.02,
                  "ConvTranspose2d (256, 64, 2, 2): fan_in = size(1)*k*k = 256");
    check_uniform(&b0, "mask_decoder.output_upscaling.3.weight", 1 / sqrt(32 * 4.0), 0.03,
                  "ConvTranspose2d (64, 32, 2, 2): fan_in = 128");
    check_uniform(&b0, "mask_decoder.output_upscaling.0.bias", 1 / sqrt(64 * 4.0), 0.3, "ConvTranspose2d bias");
    check_normal(&b0, "mask_decoder.mask_tokens.weight", 1.0, 0, 0.1);
    check_normal(&b0, "prompt_encoder.point_embeddings.0.weight", 1.0, 0, 0.2);
    check_normal(&b0, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 1.0, 0, 0.2);
    check_normal(&b0, "image_encoder.pos_embed", 0.02, 2, 0.005);
    check_normal(&b0, "image_encoder.blocks.2.attn.rel_pos_h", 0.02, 2, 0.04);  // global: 127 x 64
    check_normal(&b0, "image_encoder.blocks.0.attn.rel_pos_w", 0.02, 2, 0.1);   // windowed: 27 x 64
    check_constant(&b0, "image_encoder.blocks.0.norm1.weight", 1.0f);
    check_constant(&b0, "image_encoder.blocks.0.norm1.bias", 0.0f);
    check_constant(&b0, "image_encoder.neck.3.weight", 1.0f);
    check_constant(&b0, "mask_decoder.transformer.norm_final_attn.bias", 0.0f);
    tmap_free(&b0);

    // Bad specs: -1, one line naming the spec.
    const char *bad[] = {"synthetic:vit_x", "synthetic:", "synthetic:vit_b:", "synthetic:vit_b:abc",
                         "synthetic:vit_b:-1", "synthetic:vit_b:1x", "synthetic:vit_b:99999999999999999999999",
                         "synthetic:vit_bbbbbbbbbbbbbbbbbbbbbbb", "synthetic:vit_b:1:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TensorMap m;
        char err[256] = "";
        int rc = synthetic_make(bad[i], &m, err, sizeof err);
        report(rc == -1 && m.count == 0 && strstr(err, bad[i]) && !strchr(err, '\n'),
               "synthetic_make(\"%s\") refused: %s", bad[i], err);
        if (rc == 0) tmap_free(&m);
    }
}

static void dispatch(const char *tiny) {
    TensorMap a, b;
    char err[1024] = "";
    int ok = weights_source_load("synthetic:vit_b:7", &a, err, sizeof err) == 0 &&
             synthetic_make("synthetic:vit_b:7", &b, err, sizeof err) == 0 && map_crc(&a) == map_crc(&b);
    report(ok, "weights_source_load(\"synthetic:vit_b:7\") is synthetic_make%s%s", err[0] ? ": " : "", err);
    if (a.count) tmap_free(&a);
    if (b.count) tmap_free(&b);
    ok = weights_source_load(tiny, &a, err, sizeof err) == 0 && a.count > 100 && strcmp(a.source, tiny) == 0;
    report(ok, "weights_source_load(path) reads the checkpoint%s%s", err[0] ? ": " : "", err);
    if (a.count) tmap_free(&a);
}

int main(int argc, char **argv) {
    (void)argc;
    find_build_dir(argv[0]);
    char dir[700], manifest_path[700];
    snprintf(dir, sizeof dir, "%s/tmp", build_dir);
    mkdir(dir, 0755);
    mkdir(tmp_dir, 0755);
    snprintf(manifest_path, sizeof manifest_path, "%s/fixtures/sam-golden/manifest.json", build_dir);
    cJSON *manifest = load_json_or_die(manifest_path);

    double t0 = now();
    TensorMap tiny = {0};
    char tiny_path[800];
    snprintf(tiny_path, sizeof tiny_path, "%s/fixtures/sam-golden/tiny/model.pth", build_dir);
    const char *fixtures[2] = {"tiny", "tiny1024"};
    for (int i = 0; i < 2; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/fixtures/sam-golden/%s/model.pth", build_dir, fixtures[i]);
        TensorMap m;
        if (load(fixtures[i], path, &m)) continue;
        compare_with_oracle(fixtures[i], path, &m);
        check_fixture_config(fixtures[i], &m, manifest);
        if (i == 0) tiny = m;
        else tmap_free(&m);
    }
    cJSON_Delete(manifest);
    if (tiny.count) {
        rewritten_checkpoints(tiny_path, &tiny);
        tmap_free(&tiny);
    }
    special_values();
    dispatch(tiny_path);
    // The rewritten checkpoints are rebuilt on every run; leave nothing behind.
    const char *made[] = {"bf16.pth", "f16.pth", "views_zip64.pth", "bf16_views.pth", "f16_views.pth", "special.pth"};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, made[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
    printf("NOTE checkpoint tests took %.1f s\n", now() - t0);
    synthetic();
    return test_exit_status();
}
