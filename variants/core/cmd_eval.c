// sam-<stage> eval: the timed COCO evaluation of design.md section 3, speaking the harness's
// JSON-lines protocol (harness/PROTOCOL.md) on stdout. Diagnostics go to stderr only: stdout
// carries nothing but protocol lines.
// ref: segment-anything-fast experiments/eval_combo.py (build_results: warm-up, the timed loop,
//      only full batches timed; img/s = images / total seconds) and experiments/metrics.py.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../datasets/batch.h"
#include "../../datasets/rle.h"
#include "common/check.h"
#include "commands.h"

#define EVAL_PROTOCOL 1

// One batch as the model sees it. Shapes are set for the planning pass too; host pointers
// are NULL while planning. Device pointers are carved from the arena by eval_batch.
typedef struct {
    const Batch *b;
    int n_images;           // images encoded (the full batch, or fewer in the last one)
    // outputs (arena memory, valid until the arena is released)
    uint8_t *top;           // top masks, laid out as b->gt_masks (mask_offset)
    int32_t *top_index;     // (n_prompts,)
    int64_t *inter, *uni;   // (n_prompts,)
    float *iou;             // (n_prompts, C) predicted IoUs
    double ms;              // timed milliseconds (real passes)
    // Per-phase milliseconds of the timed region (real passes, backends with timer_mark):
    // the image encoder; prompt encoding + mask decoding, summed over the images; upscaling
    // to the original size + top-mask statistics, summed likewise. -1 when not measured.
    double phase_ms[3];
    // Host milliseconds spent queueing each phase (same boundaries): when a phase's host time
    // reaches its device time, the device waited for launches (the host is the bound).
    double host_ms[3];
} EvalBatch;

enum { PHASE_ENCODER, PHASE_DECODER, PHASE_POST, N_PHASES };

static const char *const phase_names[N_PHASES] = {"encoder", "decoder", "post"};

// Appends `,"name":{"encoder":..,"decoder":..,"post":..}` at buf + o; returns the new length
// (buf holds both objects of a line: two such objects are under 200 characters).
static size_t phases_json(char *buf, size_t len, size_t o, const char *name, const double v[N_PHASES]) {
    char obj[160];
    int n = snprintf(obj, sizeof obj, ",\"%s\":{\"%s\":%.6f,\"%s\":%.6f,\"%s\":%.6f}", name, phase_names[0],
             v[0], phase_names[1], v[1], phase_names[2], v[2]);
    CHECK(n > 0 && (size_t)n < sizeof obj && o + (size_t)n < len);
    memcpy(buf + o, obj, (size_t)n + 1);
    return o + (size_t)n;
}

// Fails the experiment in the protocol (a status line with the error) and on stderr.
__attribute__((noreturn, format(printf, 1, 2))) static void eval_fail(const char *fmt, ...) {
    char msg[1024], esc[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    printf("{\"type\":\"status\",\"ok\":false,\"error\":\"%s\"}\n", json_escape(msg, esc, sizeof esc));
    fflush(stdout);
    fprintf(stderr, "sam: eval: %s\n", msg);
    exit(1);
}

// Seconds since this process started (from /proc/self/stat's start time, so the dynamic
// loader and everything before main count too: the "time to first mask" is the user's wait).
static double process_age_s(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    char line[4096];
    size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f) fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')');
    if (!p) die("eval: cannot parse /proc/self/stat");
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) die("eval: cannot parse /proc/self/stat");
        p++;
    }
    double start = strtoull(p, NULL, 10) / (double)sysconf(_SC_CLK_TCK);
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9 - start;
}

// The timed region of design.md section 3 for one batch, written once for planning and for
// real passes. Input copies happen before timer_begin; result copies after timer_end_ms.
static void eval_batch(Sam *m, void *ctx) {
    EvalBatch *e = ctx;
    const Batch *b = e->b;
    Exec *x = m->x;
    const SamConfig *c = &m->cfg;
    const int S = c->img_size, G = c->grid, D = c->prompt_dim, L = 4 * G;
    const int C = c->num_mask_tokens - 1;  // multimask outputs
    const int P = b->n_prompts;
    const size_t mask_bytes = b->mask_offset[P];

    // inputs
    float *pixels = ex_f32(x, (int64_t)e->n_images * 3 * S * S);
    float *coords = ex_f32(x, (int64_t)P * 2 * 2);  // (P, t=2, 2): the point and the pad point
    int32_t *labels = ex_alloc_bytes(x, sizeof(int32_t) * (size_t)P * 2);
    uint8_t *gt = ex_alloc_bytes(x, mask_bytes);
    // outputs
    e->top = ex_alloc_bytes(x, mask_bytes);
    e->top_index = ex_alloc_bytes(x, sizeof(int32_t) * (size_t)P);
    e->inter = ex_alloc_bytes(x, sizeof(int64_t) * (size_t)P);
    e->uni = ex_alloc_bytes(x, sizeof(int64_t) * (size_t)P);
    e->iou = ex_f32(x, (int64_t)P * C);

    if (!x->planning) {
        // ref: PromptEncoder._embed_points(pad=True): one point and a padding point (0, 0)
        // labelled -1, as SamPredictor.predict_torch with point prompts and no box.
        float *hc = xmalloc(sizeof(float) * (size_t)P * 4 + 1);
        int32_t *hl = xmalloc(sizeof(int32_t) * (size_t)P * 2 + 1);
        for (int p = 0; p < P; p++) {
            hc[4 * p] = b->point[2 * p];
            hc[4 * p + 1] = b->point[2 * p + 1];
            hc[4 * p + 2] = hc[4 * p + 3] = 0.0f;
            hl[2 * p] = 1;
            hl[2 * p + 1] = -1;
        }
        x->ops->copy_to_device(x, pixels, b->pixels, sizeof(float) * (size_t)e->n_images * 3 * S * S);
        x->ops->copy_to_device(x, coords, hc, sizeof(float) * (size_t)P * 4);
        x->ops->copy_to_device(x, labels, hl, sizeof(int32_t) * (size_t)P * 2);
        x->ops->copy_to_device(x, gt, b->gt_masks, mask_bytes);
        x->ops->sync(x);
        free(hc);
        free(hl);
        x->ops->timer_begin(x);
    }
    // Phase marks (device events, no host wait): 0 before the encoder, 1 after it, then for
    // each image with prompts one after its decoding and one after its post-processing.
    int marks = !x->planning && x->ops->timer_mark != NULL, n_marks = 0;
    if (marks) x->ops->timer_mark(x, n_marks++);
    for (int k = 0; k < N_PHASES; k++) e->host_ms[k] = 0.0;
    double host_t = now_seconds() * 1e3, host_now;
#define HOST_PHASE(k) (host_now = now_seconds() * 1e3, e->host_ms[k] += host_now - host_t, host_t = host_now)

    // ---- timed region ----
    void *embed = ex_act(x, (int64_t)e->n_images * G * G * D);
    sam_encode(m, embed, pixels, e->n_images);
    if (marks) x->ops->timer_mark(x, n_marks++);
    HOST_PHASE(PHASE_ENCODER);
    for (int i = 0; i < e->n_images; i++) {
        int p0 = b->prompt_offset[i], n = b->prompt_offset[i + 1] - p0;
        if (n == 0) continue;
        int H = b->orig_h[i], W = b->orig_w[i];
        size_t mark = ex_mark(x);
        // All prompts of the image in one decoder call (the seed's batched predict_torch).
        Prompts pr = {.n = n, .t = 2, .coords = coords + (size_t)p0 * 4,
                      .labels = labels + (size_t)p0 * 2, .mask_input = NULL};
        float *lowres = ex_f32(x, (int64_t)n * C * L * L);
        sam_decode(m, lowres, e->iou + (size_t)p0 * C, act_at(x, embed, (int64_t)i * G * G * D), &pr, 1);
        if (marks) x->ops->timer_mark(x, n_marks++);
        HOST_PHASE(PHASE_DECODER);
        float *logits = ex_f32(x, (int64_t)n * C * H * W);
        sam_postprocess(m, logits, lowres, n * C, b->input_h[i], b->input_w[i], H, W);
        size_t off = b->mask_offset[p0];
        op_top_mask_stats(x, e->top + off, e->top_index + p0, e->inter + p0, e->uni + p0, logits,
                          e->iou + (size_t)p0 * C, gt + off, n, C, H, W);
        if (marks) x->ops->timer_mark(x, n_marks++);
        HOST_PHASE(PHASE_POST);
        ex_release(x, mark);
    }
#undef HOST_PHASE
    if (!x->planning) e->ms = x->ops->timer_end_ms(x);
    for (int k = 0; k < N_PHASES; k++) e->phase_ms[k] = -1.0;
    if (marks) {
        e->phase_ms[PHASE_ENCODER] = x->ops->timer_mark_ms(x, 0, 1);
        e->phase_ms[PHASE_DECODER] = e->phase_ms[PHASE_POST] = 0.0;
        for (int k = 2; k + 1 < n_marks; k += 2) {
            e->phase_ms[PHASE_DECODER] += x->ops->timer_mark_ms(x, k - 1, k);
            e->phase_ms[PHASE_POST] += x->ops->timer_mark_ms(x, k, k + 1);
        }
    }
}

static void usage(const StageDesc *stage) {
    printf("usage: sam-%s eval --checkpoint C [--coco DIR] [--slice val2017] [--batch-size B]\n"
           "           [--limit N] [--warmup W] [--categories A,B] [--masks-out FILE]\n"
           "The timed COCO evaluation (design.md section 3) run by build/waterfall: one centre-point\n"
           "prompt per annotation, multimask, top-scored mask vs the ground truth. The first batch\n"
           "runs W times (default 3) as warm-up; then every full batch is timed. Prints JSON lines\n"
           "on stdout (harness/PROTOCOL.md) and writes each annotation's top mask as compressed COCO\n"
           "RLE to FILE. DIR defaults to the synthetic subset beside the executable\n"
           "(data/synthetic-coco, made by 'sam-data synth').\n",
           stage->name);
}

static int parse_int(const char *s, int lo, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > 1000000000) return -1;
    *out = (int)v;
    return 0;
}

// Writes one masks-file line: the annotation's top mask as compressed COCO RLE, with every
// mask's predicted IoU (scores, C of them) and the index picked, so a study of the top-mask
// choice (how close the runner-up was) needs no second run.
static void write_mask_line(FILE *f, const Batch *b, int p, const uint8_t *top, double iou,
                            const float *scores, int n_scores, int top_index) {
    int img = b->prompt_image[p];
    uint32_t H = (uint32_t)b->orig_h[img], W = (uint32_t)b->orig_w[img];
    Rle r;
    rle_encode(&r, top + b->mask_offset[p], H, W);
    char *s = rle_to_string(&r);
    // RLE strings use ASCII 48..111: no character needs JSON escaping except backslash (92).
    fprintf(f, "{\"ann_id\":%lld,\"image_id\":%lld,\"category_id\":%lld,\"iou\":%.17g,"
               "\"score\":%.9g,\"top\":%d,\"scores\":[",
            (long long)b->ann_id[p], (long long)b->image_id[img], (long long)b->category_id[p], iou,
            (double)scores[top_index], top_index);
    for (int i = 0; i < n_scores; i++) fprintf(f, "%s%.9g", i ? "," : "", (double)scores[i]);
    fprintf(f, "],\"size\":[%u,%u],\"counts\":\"", H, W);
    for (const char *q = s; *q; q++) {
        if (*q == '\\') fputc('\\', f);
        fputc(*q, f);
    }
    fputs("\"}\n", f);
    free(s);
    rle_free(&r);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of v[0..n) (n > 0), v left as it is.
static double median(const double *v, int n) {
    double *s = xmalloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    double r = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return r;
}

int cmd_eval(int argc, char **argv, const StageDesc *stage) {
    const char *ckpt = NULL, *coco = NULL, *slice = "val2017", *masks_out = NULL, *cats = NULL;
    int batch_size = 1, limit = 0, warmup = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--help") == 0) {
            usage(stage);
            return 0;
        } else if (strcmp(a, "--checkpoint") == 0 && more) ckpt = argv[++i];
        else if (strcmp(a, "--coco") == 0 && more) coco = argv[++i];
        else if (strcmp(a, "--slice") == 0 && more) slice = argv[++i];
        else if (strcmp(a, "--masks-out") == 0 && more) masks_out = argv[++i];
        else if (strcmp(a, "--categories") == 0 && more) cats = argv[++i];
        else if (strcmp(a, "--batch-size") == 0 && more) {
            if (parse_int(argv[++i], 1, &batch_size)) die("eval: --batch-size wants an integer >= 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--limit") == 0 && more) {
            if (parse_int(argv[++i], 0, &limit)) die("eval: --limit wants an integer >= 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--warmup") == 0 && more) {
            if (parse_int(argv[++i], 0, &warmup)) die("eval: --warmup wants an integer >= 0, got '%s'", argv[i]);
        } else die("eval: unknown or incomplete option '%s' (see --help)", a);
    }
    if (!ckpt) die("eval: --checkpoint is required (see --help)");
    char default_coco[4096];
    if (!coco) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) die("eval: cannot read /proc/self/exe: %s", strerror(errno));
        exe[n] = 0;
        *strrchr(exe, '/') = 0;
        snprintf(default_coco, sizeof default_coco, "%s/data/synthetic-coco", exe);
        coco = default_coco;
    }

    Exec x;
    Sam m;
    double load_s = model_open(stage, ckpt, &x, &m);
    const SamConfig *c = &m.cfg;
    const int C = c->num_mask_tokens - 1;

    char err[1024];
    BatchLoaderConfig bc = {.coco_root = coco, .slice = slice, .image_size = c->img_size,
                            .batch_size = batch_size, .limit = limit, .categories = cats};
    BatchLoader *bl = batch_loader_open(&bc, err, sizeof err);
    if (!bl) eval_fail("%s", err);

    FILE *mf = NULL;
    if (masks_out && !(mf = fopen(masks_out, "w")))
        eval_fail("cannot write masks file %s: %s", masks_out, strerror(errno));

    {
        char dev[2048], cfg[4096], esc[8192];
        stage->describe(x.backend, dev, sizeof dev);
        sam_config_json(c, cfg, sizeof cfg);
        printf("{\"type\":\"hello\",\"protocol\":%d,\"stage\":\"%s\",\"ops\":\"%s\",\"device\":%s,"
               "\"model\":%s,\"checkpoint\":\"%s\",\"batch_size\":%d,\"images\":%d,\"warmup\":%d,"
               "\"load_s\":%.6f}\n",
               EVAL_PROTOCOL, stage->name, x.ops->name, dev, cfg, json_escape(ckpt, esc, sizeof esc),
               batch_size, batch_loader_selected(bl), warmup, load_s);
        fflush(stdout);
    }

    double *batch_ms = NULL, *phase_ms[N_PHASES] = {NULL}, *host_ms[N_PHASES] = {NULL};
    int n_timed = 0, cap_timed = 0, have_phases = 1;
    long long images_timed = 0, annotations = 0, images_skipped = 0, images_untimed = 0;
    double iou_sum = 0, total_ms = 0, first_mask_s = -1;
    uint8_t *top = NULL;
    size_t top_cap = 0;
    int32_t *top_index = NULL;
    int64_t *inter = NULL, *uni = NULL;
    float *iou = NULL;
    size_t prompt_cap = 0;

    for (int bi = 0;; bi++) {
        Batch *b;
        int rc = batch_loader_next(bl, &b, err, sizeof err);
        if (rc < 0) eval_fail("%s", err);
        if (rc == 0) break;
        for (int s = 0; s < b->n_skipped; s++) {
            char esc[600];
            printf("{\"type\":\"skip\",\"image_id\":%lld,\"reason\":\"%s\"}\n",
                   (long long)b->skipped[s].image_id, json_escape(b->skipped[s].reason, esc, sizeof esc));
            images_skipped++;
        }
        if (b->n_images == 0) {
            batch_loader_release(bl, b);
            continue;
        }
        EvalBatch e = {.b = b, .n_images = b->n_images};
        // Plans this batch's arena use: the arena only grows (sam_plan keeps the high-water
        // mark), so after the first batches no allocation happens, and never inside timing.
        sam_plan(&m, eval_batch, &e);
        int reps = bi == 0 ? warmup : 0;
        for (int r = 0; r < reps; r++) {
            eval_batch(&m, &e);
            if (first_mask_s < 0) first_mask_s = process_age_s();
            ex_release(&x, 0);
        }
        eval_batch(&m, &e);
        if (first_mask_s < 0) first_mask_s = process_age_s();
        int timed = b->n_images == b->batch_size;
        if (timed) {
            if (n_timed == cap_timed) {
                cap_timed = cap_timed ? 2 * cap_timed : 64;
                batch_ms = xrealloc(batch_ms, sizeof(double) * (size_t)cap_timed);
                for (int k = 0; k < N_PHASES; k++) {
                    phase_ms[k] = xrealloc(phase_ms[k], sizeof(double) * (size_t)cap_timed);
                    host_ms[k] = xrealloc(host_ms[k], sizeof(double) * (size_t)cap_timed);
                }
            }
            batch_ms[n_timed] = e.ms;
            for (int k = 0; k < N_PHASES; k++) {
                phase_ms[k][n_timed] = e.phase_ms[k];
                host_ms[k][n_timed] = e.host_ms[k];
            }
            if (e.phase_ms[0] < 0) have_phases = 0;
            // The batch's own phase split, where the backend marks phases: which phase a slow
            // batch lost its time in, and whether the host or the device held it up.
            char split[320] = "";
            if (e.phase_ms[0] >= 0)
                phases_json(split, sizeof split, phases_json(split, sizeof split, 0, "phase_ms", e.phase_ms),
                            "host_ms", e.host_ms);
            printf("{\"type\":\"batch\",\"index\":%d,\"images\":%d,\"prompts\":%d,\"ms\":%.17g%s}\n",
                   n_timed, b->n_images, b->n_prompts, e.ms, split);
            fflush(stdout);
            n_timed++;
            images_timed += b->n_images;
            total_ms += e.ms;
        } else {
            images_untimed += b->n_images;
        }

        // Results back to the host (outside timing).
        const int P = b->n_prompts;
        size_t mask_bytes = b->mask_offset[P];
        if (mask_bytes > top_cap) {
            top_cap = mask_bytes;
            top = xrealloc(top, top_cap);
        }
        if ((size_t)P > prompt_cap) {
            prompt_cap = (size_t)P;
            top_index = xrealloc(top_index, sizeof(int32_t) * prompt_cap);
            inter = xrealloc(inter, sizeof(int64_t) * prompt_cap);
            uni = xrealloc(uni, sizeof(int64_t) * prompt_cap);
            iou = xrealloc(iou, sizeof(float) * prompt_cap * (size_t)C);
        }
        x.ops->copy_to_host(&x, top, e.top, mask_bytes);
        x.ops->copy_to_host(&x, top_index, e.top_index, sizeof(int32_t) * (size_t)P);
        x.ops->copy_to_host(&x, inter, e.inter, sizeof(int64_t) * (size_t)P);
        x.ops->copy_to_host(&x, uni, e.uni, sizeof(int64_t) * (size_t)P);
        x.ops->copy_to_host(&x, iou, e.iou, sizeof(float) * (size_t)P * (size_t)C);
        ex_release(&x, 0);
        for (int p = 0; p < P; p++) {
            // ref: metrics.py: IoU of the top mask with the ground truth. The loader leaves out
            // empty ground-truth masks, so the union is never 0.
            double v = uni[p] > 0 ? (double)inter[p] / (double)uni[p] : 0.0;
            CHECK(top_index[p] >= 0 && top_index[p] < C);
            iou_sum += v;
            annotations++;
            if (mf) write_mask_line(mf, b, p, top, v, iou + (size_t)p * C, C, top_index[p]);
        }
        batch_loader_release(bl, b);
    }
    if (mf && fclose(mf) != 0) eval_fail("cannot write masks file %s: %s", masks_out, strerror(errno));

    size_t peak = x.ops->peak_bytes(&x);
    const char *peak_kind = "device";
    if (peak == 0) {
        // A host-memory backend (the CPU stage): its memory is the process's peak RSS.
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0) die("eval: getrusage: %s", strerror(errno));
        peak = (size_t)ru.ru_maxrss * 1024;
        peak_kind = "host_rss";
    }
    double med = NAN, mn = NAN, mx = NAN, noise = NAN;
    // "phase_ms": per-phase medians over the timed batches, where the backend marks phases,
    // and "host_ms": the host's queueing time of the same phases (additive fields of the
    // summary; the harness keeps the summary line whole).
    char phases[320] = "";
    if (n_timed > 0 && have_phases) {
        double dev[N_PHASES], host[N_PHASES];
        for (int k = 0; k < N_PHASES; k++)
            dev[k] = median(phase_ms[k], n_timed), host[k] = median(host_ms[k], n_timed);
        phases_json(phases, sizeof phases, phases_json(phases, sizeof phases, 0, "phase_ms", dev),
                    "host_ms", host);
    }
    if (n_timed > 0) {
        double *s = xmalloc(sizeof(double) * (size_t)n_timed);
        memcpy(s, batch_ms, sizeof(double) * (size_t)n_timed);
        qsort(s, (size_t)n_timed, sizeof(double), cmp_double);
        med = n_timed % 2 ? s[n_timed / 2] : 0.5 * (s[n_timed / 2 - 1] + s[n_timed / 2]);
        mn = s[0];
        mx = s[n_timed - 1];
        double mean = total_ms / n_timed, ss = 0;
        for (int i = 0; i < n_timed; i++) ss += (batch_ms[i] - mean) * (batch_ms[i] - mean);
        noise = n_timed > 1 ? sqrt(ss / (n_timed - 1)) / mean : 0.0;
        free(s);
    }
    char miou[64];
    if (annotations > 0) snprintf(miou, sizeof miou, "%.17g", iou_sum / (double)annotations);
    else snprintf(miou, sizeof miou, "null");
#define NUM(v) (isnan(v) ? 0.0 : (v))
    printf("{\"type\":\"summary\",\"images_timed\":%lld,\"batches_timed\":%d,\"total_ms\":%.17g,"
           "\"img_s\":%.17g,\"batch_ms_median\":%.17g,\"batch_ms_min\":%.17g,\"batch_ms_max\":%.17g,"
           "\"batch_ms_noise\":%.17g,\"peak_bytes\":%zu,\"peak_kind\":\"%s\",\"first_mask_ms\":%.6f,"
           "\"miou\":%s,\"annotations\":%lld,\"images_skipped\":%lld,\"images_untimed\":%lld,"
           "\"load_s\":%.6f%s}\n",
           images_timed, n_timed, total_ms, total_ms > 0 ? images_timed / total_ms * 1000.0 : 0.0,
           NUM(med), NUM(mn), NUM(mx), NUM(noise), peak, peak_kind,
           first_mask_s < 0 ? 0.0 : first_mask_s * 1000.0, miou, annotations, images_skipped,
           images_untimed, load_s, phases);
#undef NUM
    printf("{\"type\":\"status\",\"ok\":true}\n");
    fflush(stdout);

    for (int k = 0; k < N_PHASES; k++) free(phase_ms[k]), free(host_ms[k]);
    free(batch_ms), free(top), free(top_index), free(inter), free(uni), free(iou);
    batch_loader_close(bl);
    model_close(stage, &x, &m);
    return 0;
}
