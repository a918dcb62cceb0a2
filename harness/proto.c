#include "proto.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "datasets/metrics.h"
#include "util.h"

void exp_result_init(ExpResult *r) {
    memset(r, 0, sizeof *r);
    r->images_timed = r->batches_timed = r->peak_bytes = r->annotations = r->images_skipped = -1;
    r->passes = -1;
    r->total_ms = r->img_s = r->first_mask_ms = r->miou = NAN;
    r->launches_per_batch = r->kernels_per_batch = NAN;
}

void exp_result_free(ExpResult *r) {
    free(r->device_json);
    free(r->device_name);
    free(r->model_json);
    free(r->stage_info_json);
    free(r->precision);
    free(r->build);
    free(r->samples);
    free(r->summary_json);
    free(r->status_error);
    free(r->garbage);
    for (int i = 0; i < r->n_anns; i++) {
        free(r->anns[i].rle);
        free(r->anns[i].masks_json);
    }
    free(r->anns);
    memset(r, 0, sizeof *r);
}

static int violation(ExpResult *r, const char *line, const char *fmt, const char *what) {
    if (!r->garbage) {
        Str s;
        str_init(&s);
        str_addf(&s, "protocol violation on stdout line %d: ", r->lines);
        str_addf(&s, fmt, what);
        str_addf(&s, ": \"%.80s\"", line);
        r->garbage = s.s;
    }
    return -1;
}

static int get_num(const cJSON *j, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
    *out = v->valuedouble;
    return 0;
}

// Integers arrive as JSON numbers; reject fractions and negatives.
static int get_count(const cJSON *j, const char *key, long long *out) {
    double d;
    if (get_num(j, key, &d) || d < 0 || d != floor(d) || d > 9e15) return -1;
    *out = (long long)d;
    return 0;
}

static char *print_compact(const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    CHECK(s != NULL);
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

static int on_hello(ExpResult *r, const cJSON *j, const char *line) {
    double proto;
    if (r->have_hello) return violation(r, line, "%s", "second hello line");
    if (get_num(j, "protocol", &proto)) return violation(r, line, "%s", "hello without protocol");
    if ((int)proto != WF_PROTOCOL_VERSION)
        return violation(r, line, "%s", "unsupported protocol version");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(j, "device");
    if (!cJSON_IsObject(dev)) return violation(r, line, "%s", "hello without a device object");
    r->device_json = print_compact(dev);
    // The device's name is what compare matches on: "name" (GPU) or "cpu" (CPU model).
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(dev, "name");
    if (!cJSON_IsString(name)) name = cJSON_GetObjectItemCaseSensitive(dev, "cpu");
    r->device_name = xstrdup(cJSON_IsString(name) ? name->valuestring : "unknown");
    // What the stage is: its name, the stage it builds on, what it adds, and its choices
    // (string keys and values; which keys exist grows with the waterfall, so they are kept
    // as JSON text, not columns).
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(j, "stage_info");
    if (!cJSON_IsObject(si)) return violation(r, line, "%s", "hello without a stage_info object");
    const cJSON *si_name = cJSON_GetObjectItemCaseSensitive(si, "name");
    const cJSON *si_after = cJSON_GetObjectItemCaseSensitive(si, "after");
    const cJSON *si_adds = cJSON_GetObjectItemCaseSensitive(si, "adds");
    const cJSON *si_choices = cJSON_GetObjectItemCaseSensitive(si, "choices");
    if (!cJSON_IsString(si_name) || !(cJSON_IsString(si_after) || cJSON_IsNull(si_after)) ||
        !cJSON_IsString(si_adds) || !cJSON_IsObject(si_choices))
        return violation(r, line, "%s",
                         "stage_info needs name (string), after (string or null), adds (string) and choices (object)");
    const cJSON *c;
    cJSON_ArrayForEach(c, si_choices) {
        if (!cJSON_IsString(c)) return violation(r, line, "%s", "stage_info choices must be strings");
    }
    const cJSON *si_build = cJSON_GetObjectItemCaseSensitive(si, "build");
    if (si_build && !cJSON_IsString(si_build)) return violation(r, line, "%s", "stage_info build must be a string");
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(si_choices, "precision");
    r->stage_info_json = print_compact(si);
    r->precision = cJSON_IsString(prec) ? xstrdup(prec->valuestring) : NULL;
    r->build = si_build ? xstrdup(si_build->valuestring) : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model) r->model_json = print_compact(model);
    r->have_hello = 1;
    return 0;
}

static int on_batch(ExpResult *r, const cJSON *j, const char *line) {
    long long index, images, prompts = 0, pass;
    double ms;
    if (!r->have_hello) return violation(r, line, "%s", "batch before hello");
    if (r->have_summary) return violation(r, line, "%s", "batch after summary");
    if (get_count(j, "index", &index) || get_count(j, "images", &images) || images == 0 ||
        get_num(j, "ms", &ms) || ms <= 0 || get_count(j, "pass", &pass))
        return violation(r, line, "%s", "batch needs index, pass, images > 0 and ms > 0");
    if (cJSON_GetObjectItemCaseSensitive(j, "prompts") && get_count(j, "prompts", &prompts))
        return violation(r, line, "%s", "batch prompts must be a count");
    // index counts every timed batch of the process (all passes); pass starts at 0 and goes
    // up by one at a time.
    if (index != r->n_samples) return violation(r, line, "%s", "batch index out of sequence");
    long long prev = r->n_samples ? r->samples[r->n_samples - 1].pass : 0;
    if (pass != prev && pass != prev + 1) return violation(r, line, "%s", "batch pass out of sequence");
    if (r->n_samples == r->cap_samples) {
        r->cap_samples = r->cap_samples ? 2 * r->cap_samples : 64;
        r->samples = xrealloc(r->samples, sizeof(Sample) * (size_t)r->cap_samples);
    }
    r->samples[r->n_samples++] = (Sample){(int)index, (int)images, (int)prompts, (int)pass, ms};
    return 0;
}

static int on_summary(ExpResult *r, const cJSON *j, const char *line) {
    if (!r->have_hello) return violation(r, line, "%s", "summary before hello");
    if (r->have_summary) return violation(r, line, "%s", "second summary");
    if (get_count(j, "images_timed", &r->images_timed) ||
        get_count(j, "batches_timed", &r->batches_timed) || get_num(j, "total_ms", &r->total_ms) ||
        get_num(j, "img_s", &r->img_s) || get_count(j, "peak_bytes", &r->peak_bytes) ||
        get_num(j, "first_mask_ms", &r->first_mask_ms) ||
        get_count(j, "annotations", &r->annotations) ||
        get_count(j, "images_skipped", &r->images_skipped) || get_count(j, "passes", &r->passes))
        return violation(r, line, "%s",
                         "summary needs images_timed, batches_timed, total_ms, img_s, peak_bytes, "
                         "first_mask_ms, annotations, images_skipped, passes");
    // Optional counters of the backend: kernel launches (graph replays count one) and kernels
    // run per timed batch.
    const char *opt[] = {"launches_per_batch", "kernels_per_batch"};
    double *dst[] = {&r->launches_per_batch, &r->kernels_per_batch};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, opt[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
            return violation(r, line, "summary %s must be a number >= 0", opt[i]);
        *dst[i] = v->valuedouble;
    }
    // mIoU is null when no annotation was evaluated.
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "miou");
    if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) r->miou = m->valuedouble;
    else if (!cJSON_IsNull(m)) return violation(r, line, "%s", "summary miou must be a number or null");
    r->summary_json = xstrdup(line);
    r->have_summary = 1;
    return 0;
}

static int on_status(ExpResult *r, const cJSON *j, const char *line) {
    if (r->have_status) return violation(r, line, "%s", "second status line");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
    if (!cJSON_IsBool(ok)) return violation(r, line, "%s", "status without boolean ok");
    r->have_status = 1;
    r->status_ok = cJSON_IsTrue(ok);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(e)) r->status_error = xstrdup(e->valuestring);
    return 0;
}

int proto_line(ExpResult *r, const char *line) {
    r->lines++;
    if (r->garbage) return -1;
    if (r->have_status) return violation(r, line, "%s", "output after the status line");
    cJSON *j = cJSON_Parse(line);
    if (!j) return violation(r, line, "%s", "not JSON");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    int rc;
    if (!cJSON_IsObject(j) || !cJSON_IsString(type)) rc = violation(r, line, "%s", "no \"type\"");
    else if (strcmp(type->valuestring, "hello") == 0) rc = on_hello(r, j, line);
    else if (strcmp(type->valuestring, "batch") == 0) rc = on_batch(r, j, line);
    else if (strcmp(type->valuestring, "summary") == 0) rc = on_summary(r, j, line);
    else if (strcmp(type->valuestring, "status") == 0) rc = on_status(r, j, line);
    else if (strcmp(type->valuestring, "skip") == 0 || strcmp(type->valuestring, "log") == 0) rc = 0;
    else rc = violation(r, line, "unknown type \"%s\"", type->valuestring);
    cJSON_Delete(j);
    return rc;
}

static int close_rel(double a, double b, double rel, double abs_tol) {
    return fabs(a - b) <= abs_tol + rel * fmax(fabs(a), fabs(b));
}

int proto_check_summary(const ExpResult *r, char *why, size_t len) {
    long long images = 0;
    double ms = 0;
    for (int i = 0; i < r->n_samples; i++) {
        images += r->samples[i].images;
        ms += r->samples[i].ms;
    }
    if (r->batches_timed != r->n_samples) {
        snprintf(why, len, "summary says %lld timed batches, stdout had %d batch lines",
                 r->batches_timed, r->n_samples);
        return -1;
    }
    int passes = r->n_samples ? r->samples[r->n_samples - 1].pass + 1 : 0;
    if (r->n_samples && r->passes != passes) {
        snprintf(why, len, "summary says %lld passes, the batch lines made %d", r->passes, passes);
        return -1;
    }
    if (r->images_timed != images) {
        snprintf(why, len, "summary says %lld timed images, batch lines sum to %lld",
                 r->images_timed, images);
        return -1;
    }
    if (!close_rel(r->total_ms, ms, 1e-6, 1e-3)) {
        snprintf(why, len, "summary total_ms %.6g disagrees with the batch lines' %.6g", r->total_ms, ms);
        return -1;
    }
    double expect = ms > 0 ? images / ms * 1000.0 : 0;
    if (!close_rel(r->img_s, expect, 1e-4, 1e-9)) {
        snprintf(why, len, "summary img_s %.6g is not images/total_ms*1000 = %.6g", r->img_s, expect);
        return -1;
    }
    return 0;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int proto_read_masks(ExpResult *r, const char *path, char *why, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, len, "masks file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    double iou_sum = 0;
    long long n_iou = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        cJSON *j = cJSON_Parse(line);
        AnnMask a = {0};
        double d;
        const cJSON *size = j ? cJSON_GetObjectItemCaseSensitive(j, "size") : NULL;
        const cJSON *counts = j ? cJSON_GetObjectItemCaseSensitive(j, "counts") : NULL;
        const cJSON *iou = j ? cJSON_GetObjectItemCaseSensitive(j, "iou") : NULL;
        const cJSON *all = j ? cJSON_GetObjectItemCaseSensitive(j, "masks") : NULL;
        int masks_ok = !all;
        if (cJSON_IsArray(all) && cJSON_GetArraySize(all) > 0) {
            masks_ok = 1;
            const cJSON *e;
            cJSON_ArrayForEach(e, all) masks_ok &= cJSON_IsString(e);
        }
        int ok = j && masks_ok && get_count(j, "ann_id", &a.ann_id) == 0 &&
                 get_count(j, "image_id", &a.image_id) == 0 && cJSON_IsArray(size) &&
                 cJSON_GetArraySize(size) == 2 && cJSON_IsString(counts) &&
                 (cJSON_IsNumber(iou) || cJSON_IsNull(iou));
        if (ok) {
            a.height = cJSON_GetArrayItem(size, 0)->valueint;
            a.width = cJSON_GetArrayItem(size, 1)->valueint;
            ok = a.height > 0 && a.width > 0;
            a.category_id = get_count(j, "category_id", &a.category_id) == 0 ? a.category_id : -1;
            a.iou = cJSON_IsNumber(iou) ? iou->valuedouble : NAN;
            a.score = get_num(j, "score", &d) == 0 ? d : NAN;
        }
        if (!ok) {
            snprintf(why, len, "masks file %s line %d is malformed", path, lineno);
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        a.rle = xstrdup(counts->valuestring);
        a.masks_json = all ? print_compact(all) : NULL;
        cJSON_Delete(j);
        if (!isnan(a.iou)) {
            iou_sum += a.iou;
            n_iou++;
        }
        if (r->n_anns == r->cap_anns) {
            r->cap_anns = r->cap_anns ? 2 * r->cap_anns : 256;
            r->anns = xrealloc(r->anns, sizeof(AnnMask) * (size_t)r->cap_anns);
        }
        r->anns[r->n_anns++] = a;
    }
    free(line);
    fclose(f);
    if (rc) return rc;
    // One line per annotation: a repeated id is a protocol violation, not something to merge.
    long long *ids = xmalloc(sizeof(long long) * (size_t)(r->n_anns + 1));
    for (int i = 0; i < r->n_anns; i++) ids[i] = r->anns[i].ann_id;
    qsort(ids, (size_t)r->n_anns, sizeof(long long), cmp_ll);
    for (int i = 1; i < r->n_anns; i++)
        if (ids[i] == ids[i - 1]) {
            snprintf(why, len, "masks file %s repeats annotation %lld", path, ids[i]);
            free(ids);
            return -1;
        }
    free(ids);
    if (r->annotations >= 0 && r->n_anns != r->annotations) {
        snprintf(why, len, "masks file has %d annotations, the summary says %lld", r->n_anns,
                 r->annotations);
        return -1;
    }
    if (!isnan(r->miou) && (n_iou == 0 || !close_rel(iou_sum / (double)n_iou, r->miou, 1e-5, 1e-9))) {
        snprintf(why, len, "summary mIoU %.6f disagrees with the masks file's mean %.6f", r->miou,
                 n_iou ? iou_sum / (double)n_iou : NAN);
        return -1;
    }
    return 0;
}

double masks_same_index(const cJSON *a, const cJSON *b, uint32_t h, uint32_t w) {
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || n == 0 || n != cJSON_GetArraySize(b)) return NAN;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        if (!cJSON_IsString(x) || !cJSON_IsString(y)) return -1;
        double v = rle_string_agreement(x->valuestring, y->valuestring, h, w);
        if (v < 0) return -1;
        sum += v;
    }
    return sum / n;
}
