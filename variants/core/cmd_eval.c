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

#include "commands.h"
#include "common/check.h"
#include "datasets/batch.h"
#include "datasets/rle.h"
#include "eval_batch.h"

#define EVAL_PROTOCOL 1

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

static void usage(const StageDesc *stage) {
    printf("usage: sam-%s eval --checkpoint C [--coco DIR] [--slice val2017] [--batch-size B]\n"
           "           [--limit N] [--warmup W] [--categories A,B] [--masks-out FILE]\n"
           "           [--min-batches N] [--max-passes P] [--target-noise X] [--eager]\n"
           "The timed COCO evaluation (design.md section 3) run by build/waterfall: one centre-point\n"
           "prompt per annotation, multimask, top-scored mask vs the ground truth. The first batch\n"
           "runs W times (default 3) as warm-up; then every full batch is timed. When a pass over the\n"
           "subset gives fewer than N timed batches (default 1), or their noise (relative standard\n"
           "deviation) is over X (default: no target) with fewer than 4N of them, another timed pass\n"
           "over the subset follows, at most P passes in all (default 1); accuracy and masks come from\n"
           "the first pass. Prints JSON lines on stdout (harness/PROTOCOL.md) and writes each\n"
           "annotation's masks as compressed COCO RLE to FILE. DIR defaults to the synthetic subset\n"
           "beside the executable (data/synthetic-coco, made by 'sam-data synth').\n"
           "--eager runs a stage that captures graphs without them (its kernels launched one by one,\n"
           "the summary's graphs_captured 0): what a replay must equal (tests/gpu/test_gpu_graphs.sh).\n"
           "The harness never passes it: a stage's timings are those of its choices.\n",
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

// One mask of prompt p as a compressed COCO RLE string (caller frees).
static char *mask_rle(const Batch *b, int p, const uint8_t *mask) {
    int img = b->prompt_image[p];
    Rle r;
    rle_encode(&r, mask, (uint32_t)b->orig_h[img], (uint32_t)b->orig_w[img]);
    char *s = rle_to_string(&r);
    rle_free(&r);
    return s;
}

// Appends an RLE string JSON-quoted. RLE strings use ASCII 48..111: no character needs JSON
// escaping except backslash (92).
static void put_rle(FILE *f, const char *s) {
    fputc('"', f);
    for (const char *q = s; *q; q++) {
        if (*q == '\\') fputc('\\', f);
        fputc(*q, f);
    }
    fputc('"', f);
}

// Writes one masks-file line: the annotation's top mask ("counts") and every multimask output
// ("masks", in index order) as compressed COCO RLE, with every mask's predicted IoU (scores) and
// the index picked, so a study of the choice and the same-index agreement need no second run.
// masks: prompt p's C masks, h * w each.
static void write_mask_line(FILE *f, const Batch *b, int p, const uint8_t *masks, double iou,
                            const float *scores, int n_scores, int top_index) {
    int img = b->prompt_image[p];
    size_t hw = (size_t)b->orig_h[img] * (size_t)b->orig_w[img];
    fprintf(f, "{\"ann_id\":%lld,\"image_id\":%lld,\"category_id\":%lld,\"iou\":%.17g,"
               "\"score\":%.9g,\"top\":%d,\"scores\":[",
            (long long)b->ann_id[p], (long long)b->image_id[img], (long long)b->category_id[p], iou,
            (double)scores[top_index], top_index);
    for (int i = 0; i < n_scores; i++) fprintf(f, "%s%.9g", i ? "," : "", (double)scores[i]);
    // Each output encoded once; the top mask ("counts") is one of them.
    char **rles = xmalloc(sizeof(char *) * (size_t)n_scores);
    for (int i = 0; i < n_scores; i++) rles[i] = mask_rle(b, p, masks + (size_t)i * hw);
    fprintf(f, "],\"size\":[%d,%d],\"counts\":", b->orig_h[img], b->orig_w[img]);
    put_rle(f, rles[top_index]);
    fputs(",\"masks\":[", f);
    for (int i = 0; i < n_scores; i++) {
        if (i) fputc(',', f);
        put_rle(f, rles[i]);
        free(rles[i]);
    }
    free(rles);
    fputs("]}\n", f);
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

// Relative standard deviation of v[0..n).
static double noise_of(const double *v, int n) {
    if (n < 2) return 0.0;
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    return sqrt(ss / (n - 1)) / mean;
}

// Timed batches, grown as they come.
typedef struct {
    int n, cap;
    double *ms, *phase[N_PHASES], *host[N_PHASES], *launches, *kernels;
} Samples;

static void samples_add(Samples *t, const EvalBatch *e) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        size_t sz = sizeof(double) * (size_t)t->cap;
        t->ms = xrealloc(t->ms, sz), t->launches = xrealloc(t->launches, sz), t->kernels = xrealloc(t->kernels, sz);
        for (int k = 0; k < N_PHASES; k++) t->phase[k] = xrealloc(t->phase[k], sz), t->host[k] = xrealloc(t->host[k], sz);
    }
    t->ms[t->n] = e->ms;
    t->launches[t->n] = (double)e->launches;
    t->kernels[t->n] = (double)e->kernels;
    for (int k = 0; k < N_PHASES; k++) t->phase[k][t->n] = e->phase_ms[k], t->host[k][t->n] = e->host_ms[k];
    t->n++;
}

static void samples_free(Samples *t) {
    free(t->ms), free(t->launches), free(t->kernels);
    for (int k = 0; k < N_PHASES; k++) free(t->phase[k]), free(t->host[k]);
}

// model_open's weights_ready hook of the evaluation: the batch loader opened at the model's
// image size (a failure is the evaluation's, reported as eval_fail reports it).
typedef struct {
    BatchLoaderConfig bc;
    BatchLoader *bl;
} LoaderStart;

static void open_loader(const TensorMap *tensors, void *ctx) {
    LoaderStart *start = (LoaderStart *)ctx;
    SamConfig cfg;
    char err[1024];
    if (sam_config_from_tensors(tensors, &cfg, err, sizeof err) != 0) eval_fail("%s", err);
    start->bc.image_size = cfg.img_size;
    if (!(start->bl = batch_loader_open(&start->bc, err, sizeof err))) eval_fail("%s", err);
}

// Seconds since *t, the queued work finished first; *t moves to now.
static double end_part(Exec *x, double *t) {
    if (x->ops->sync) x->ops->sync(x);
    double now = now_seconds(), d = now - *t;
    *t = now;
    return d;
}

int cmd_eval(int argc, char **argv, const StageDesc *stage) {
    const char *ckpt = NULL, *coco = NULL, *slice = "val2017", *masks_out = NULL, *cats = NULL;
    int batch_size = 1, limit = 0, warmup = 3, min_batches = 1, max_passes = 1;
    double target_noise = -1.0;  // none
    int eager = 0;
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
        else if (strcmp(a, "--eager") == 0) eager = 1;
        else if (strcmp(a, "--batch-size") == 0 && more) {
            if (parse_int(argv[++i], 1, &batch_size)) die("eval: --batch-size wants an integer >= 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--limit") == 0 && more) {
            if (parse_int(argv[++i], 0, &limit)) die("eval: --limit wants an integer >= 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--warmup") == 0 && more) {
            if (parse_int(argv[++i], 0, &warmup)) die("eval: --warmup wants an integer >= 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--min-batches") == 0 && more) {
            if (parse_int(argv[++i], 1, &min_batches)) die("eval: --min-batches wants an integer >= 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--max-passes") == 0 && more) {
            if (parse_int(argv[++i], 1, &max_passes)) die("eval: --max-passes wants an integer >= 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--target-noise") == 0 && more) {
            char *end;
            target_noise = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(target_noise > 0 && target_noise < 1))
                die("eval: --target-noise wants a number in (0, 1), got '%s'", argv[i]);
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
    LoadSplit load;
    // The loader opens as soon as the weights give the image size, so its workers decode the
    // first batch while the model is built and uploaded.
    LoaderStart start = {.bc = {.coco_root = coco, .slice = slice, .batch_size = batch_size,
                                .limit = limit, .categories = cats}};
    double load_s = model_open(stage, ckpt, &x, &m, &load, open_loader, &start);
    double t_part = now_seconds();  // the start of the next part of the time to first mask
    const SamConfig *c = &m.cfg;
    const int C = c->num_mask_tokens - 1;
    BatchLoaderConfig bc = start.bc;
    BatchLoader *bl = start.bl;
    CHECK(bl && bc.image_size == c->img_size);
    char err[1024];

    FILE *mf = NULL;
    if (masks_out && !(mf = fopen(masks_out, "w")))
        eval_fail("cannot write masks file %s: %s", masks_out, strerror(errno));

    {
        char dev[2048], cfg[4096], esc[8192], st[2048];
        stage->describe(x.backend, dev, sizeof dev);
        sam_config_json(c, cfg, sizeof cfg);
        StageDesc shown = *stage;  // --eager runs without graphs: the hello says so
        if (eager) shown.choices.graphs = 0;
        stage_info_json(&shown, st, sizeof st);
        printf("{\"type\":\"hello\",\"protocol\":%d,\"stage\":\"%s\",\"ops\":\"%s\",\"stage_info\":%s,"
               "\"device\":%s,\"model\":%s,\"checkpoint\":\"%s\",\"prune\":\"%s\",\"batch_size\":%d,"
               "\"images\":%d,\"warmup\":%d,\"load_s\":%.6f}\n",
               EVAL_PROTOCOL, stage->name, x.ops->name, st, dev, cfg,
               json_escape(ckpt, esc, sizeof esc), m.prune24 ? "2:4" : "none", batch_size,
               batch_loader_selected(bl), warmup, load_s);
        fflush(stdout);
    }

    GraphCache graphs;
    graph_cache_init(&graphs, &x);
    int use_graphs = stage->choices.graphs && !eager;
    // Lanes serve per-image decoding only (the ragged decoding is one graph on the main lane).
    if (use_graphs && stage->choices.decoding == DECODE_PER_IMAGE && x.ops->lanes_open)
        x.ops->lanes_open(&x, 1 + eval_decode_lanes());
    EvalIO io = {0};
    Samples t = {0};
    int have_phases = 1, passes = 0;
    long long images_timed = 0, annotations = 0, images_skipped = 0, images_untimed = 0;
    double iou_sum = 0, total_ms = 0, first_mask_s = -1;
    // The first batch's part of the time to first mask: the wait for its inputs and their copy
    // (io), the planning pass (arena, library plans), the graphs captured, the run giving the mask.
    double first_io_s = 0, first_plan_s = 0, first_capture_s = 0, first_run_s = 0;
    uint8_t *masks = NULL;
    size_t masks_cap = 0;
    int32_t *top_index = NULL;
    int64_t *inter = NULL, *uni = NULL;
    float *iou = NULL;
    size_t prompt_cap = 0;

    for (int pass = 0; pass < max_passes; pass++) {
        // Later passes time the subset again (nvbench's rule: until the statistic can decide).
        if (pass > 0) {
            int enough = t.n >= min_batches &&
                         (target_noise < 0 || noise_of(t.ms, t.n) <= target_noise || t.n >= 4 * min_batches);
            if (enough) break;
            batch_loader_close(bl);
            if (!(bl = batch_loader_open(&bc, err, sizeof err))) eval_fail("%s", err);
        }
        passes = pass + 1;
        for (int bi = 0;; bi++) {
            Batch *b;
            int rc = batch_loader_next(bl, &b, err, sizeof err);
            if (rc < 0) eval_fail("%s", err);
            if (rc == 0) break;
            for (int s = 0; s < b->n_skipped && pass == 0; s++) {
                char esc[600];
                printf("{\"type\":\"skip\",\"image_id\":%lld,\"reason\":\"%s\"}\n",
                       (long long)b->skipped[s].image_id, json_escape(b->skipped[s].reason, esc, sizeof esc));
                images_skipped++;
            }
            if (b->n_images == 0) {
                batch_loader_release(bl, b);
                continue;
            }
            // Outside timing: inputs copied, the arena planned (it only grows, so after the
            // first batches nothing is allocated), missing graphs captured. Before the first
            // mask each part ends with the device idle, so that the split adds up.
            const int before_first = first_mask_s < 0;
            eval_io_load(&x, &io, b, C);
            EvalBatch e = {.m = &m, .b = b, .n_images = b->n_images, .choices = &stage->choices,
                           .io = &io, .graphs = use_graphs ? &graphs : NULL};
            if (before_first) first_io_s = end_part(&x, &t_part);
            sam_plan(&m, eval_batch, &e);
            if (before_first) first_plan_s = end_part(&x, &t_part);
            if (e.graphs) {
                x.preparing = 1;
                eval_batch(&m, &e);
                x.preparing = 0;
                ex_release(&x, 0);
                if (before_first) first_capture_s = end_part(&x, &t_part);
            }
            // The first batch's warm-up runs, then the run whose time counts (e keeps its times).
            int reps = pass == 0 && bi == 0 ? warmup : 0;
            for (int r = 0; r <= reps; r++) {
                eval_batch(&m, &e);
                ex_release(&x, 0);
                if (first_mask_s < 0) {  // the mask is there once the device has finished it
                    first_run_s = end_part(&x, &t_part);
                    first_mask_s = process_age_seconds();
                }
            }
            if (b->n_images == b->batch_size) {
                if (e.phase_ms[0] < 0) have_phases = 0;
                // The batch's own phase split, where the backend marks phases: which phase a
                // slow batch lost its time in, and whether the host or the device held it up.
                char split[320] = "";
                if (e.phase_ms[0] >= 0)
                    phases_json(split, sizeof split, phases_json(split, sizeof split, 0, "phase_ms", e.phase_ms),
                                "host_ms", e.host_ms);
                printf("{\"type\":\"batch\",\"index\":%d,\"pass\":%d,\"images\":%d,\"prompts\":%d,\"ms\":%.17g%s}\n",
                       t.n, pass, b->n_images, b->n_prompts, e.ms, split);
                fflush(stdout);
                samples_add(&t, &e);
                images_timed += b->n_images;
                total_ms += e.ms;
            } else if (pass == 0) {
                images_untimed += b->n_images;
            }
            if (pass > 0) {
                batch_loader_release(bl, b);
                continue;
            }

            // Results back to the host (outside timing), from the first pass only.
            const int P = b->n_prompts;
            size_t mask_bytes = b->mask_offset[P] * (size_t)C;
            if (mask_bytes > masks_cap) masks_cap = mask_bytes, masks = xrealloc(masks, masks_cap);
            if ((size_t)P > prompt_cap) {
                prompt_cap = (size_t)P;
                top_index = xrealloc(top_index, sizeof(int32_t) * prompt_cap);
                inter = xrealloc(inter, sizeof(int64_t) * prompt_cap);
                uni = xrealloc(uni, sizeof(int64_t) * prompt_cap);
                iou = xrealloc(iou, sizeof(float) * prompt_cap * (size_t)C);
            }
            x.ops->copy_to_host(&x, masks, io.masks, mask_bytes);
            x.ops->copy_to_host(&x, top_index, io.top_index, sizeof(int32_t) * (size_t)P);
            x.ops->copy_to_host(&x, inter, io.inter, sizeof(int64_t) * (size_t)P);
            x.ops->copy_to_host(&x, uni, io.uni, sizeof(int64_t) * (size_t)P);
            x.ops->copy_to_host(&x, iou, io.iou, sizeof(float) * (size_t)P * (size_t)C);
            for (int p = 0; p < P; p++) {
                // ref: metrics.py: IoU of the top mask with the ground truth. The loader leaves
                // out empty ground-truth masks, so the union is never 0.
                double v = uni[p] > 0 ? (double)inter[p] / (double)uni[p] : 0.0;
                CHECK(top_index[p] >= 0 && top_index[p] < C);
                iou_sum += v;
                annotations++;
                if (mf)
                    write_mask_line(mf, b, p, masks + b->mask_offset[p] * (size_t)C, v,
                                    iou + (size_t)p * C, C, top_index[p]);
            }
            batch_loader_release(bl, b);
        }
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
    const int n_timed = t.n;
    double med = NAN, mn = NAN, mx = NAN, noise = NAN;
    // "phase_ms": per-phase medians over the timed batches, where the backend marks phases,
    // and "host_ms": the host's queueing time of the same phases; "launches_per_batch" and
    // "kernels_per_batch": medians of what the timed region queued, where the backend counts
    // (additive fields of the summary; the harness keeps the summary line whole).
    char extra[640] = "";
    if (n_timed > 0 && have_phases) {
        double dev[N_PHASES], host[N_PHASES];
        for (int k = 0; k < N_PHASES; k++) dev[k] = median(t.phase[k], n_timed), host[k] = median(t.host[k], n_timed);
        phases_json(extra, sizeof extra, phases_json(extra, sizeof extra, 0, "phase_ms", dev), "host_ms", host);
    }
    if (n_timed > 0 && x.ops->launch_counts) {
        size_t o = strlen(extra);
        snprintf(extra + o, sizeof extra - o, ",\"launches_per_batch\":%.0f,\"kernels_per_batch\":%.0f,\"graphs_captured\":%d",
                 median(t.launches, n_timed), median(t.kernels, n_timed), graphs.captures);
    }
    if (n_timed > 0) {
        med = median(t.ms, n_timed);
        mn = mx = t.ms[0];
        for (int i = 1; i < n_timed; i++) mn = t.ms[i] < mn ? t.ms[i] : mn, mx = t.ms[i] > mx ? t.ms[i] : mx;
        noise = noise_of(t.ms, n_timed);
    }
    char miou[64];
    if (annotations > 0) snprintf(miou, sizeof miou, "%.17g", iou_sum / (double)annotations);
    else snprintf(miou, sizeof miou, "null");
#define NUM(v) (isnan(v) ? 0.0 : (v))
    printf("{\"type\":\"summary\",\"images_timed\":%lld,\"batches_timed\":%d,\"passes\":%d,\"total_ms\":%.17g,"
           "\"img_s\":%.17g,\"batch_ms_median\":%.17g,\"batch_ms_min\":%.17g,\"batch_ms_max\":%.17g,"
           "\"batch_ms_noise\":%.17g,\"peak_bytes\":%zu,\"peak_kind\":\"%s\",\"first_mask_ms\":%.6f,"
           "\"miou\":%s,\"annotations\":%lld,\"images_skipped\":%lld,\"images_untimed\":%lld,"
           "\"load_s\":%.6f,\"first_mask_split_s\":{\"before_main\":%.6f,\"backend\":%.6f,"
           "\"weights\":%.6f,\"dataset\":%.6f,\"build\":%.6f,\"first_io\":%.6f,\"first_plan\":%.6f,"
           "\"first_capture\":%.6f,\"first_run\":%.6f}%s}\n",
           images_timed, n_timed, passes, total_ms, total_ms > 0 ? images_timed / total_ms * 1000.0 : 0.0,
           NUM(med), NUM(mn), NUM(mx), NUM(noise), peak, peak_kind,
           first_mask_s < 0 ? 0.0 : first_mask_s * 1000.0, miou, annotations, images_skipped,
           images_untimed, load_s, load.before_main_s, load.backend_s, load.weights_s, load.ready_s,
           load.build_s, first_io_s, first_plan_s, first_capture_s, first_run_s, extra);
#undef NUM
    printf("{\"type\":\"status\",\"ok\":true}\n");
    fflush(stdout);

    samples_free(&t);
    free(masks), free(top_index), free(inter), free(uni), free(iou);
    batch_loader_close(bl);
    graph_cache_free(&graphs);
    eval_io_free(&x, &io);
    model_close(stage, &x, &m);
    return 0;
}
