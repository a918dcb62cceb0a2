#include "plan.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

const char *const WATERFALL_ORDER[] = {"cpu", "fp32", "bf16", "fused", "sdpa",
                                       "relpos", "nested", "int8", "sparse", "fp8", "int8sparse"};
const int WATERFALL_COUNT = (int)(sizeof WATERFALL_ORDER / sizeof WATERFALL_ORDER[0]);

int waterfall_index(const char *stage) {
    for (int i = 0; i < WATERFALL_COUNT; i++)
        if (strcmp(stage, WATERFALL_ORDER[i]) == 0) return i;
    return WATERFALL_COUNT;
}

void plan_init(Plan *p) {
    memset(p, 0, sizeof *p);
    p->name = xstrdup("flags");
    p->slice = xstrdup("val2017");
    p->warmup = 3;
    p->timeout_s = 1800;
    p->min_batches = WF_DEFAULT_MIN_BATCHES;
    p->max_passes = WF_DEFAULT_MAX_PASSES;
    p->target_noise = WF_DEFAULT_TARGET_NOISE;
    cJSON *floors = cJSON_Parse(WF_DEFAULT_FLOORS);
    char err[64];
    CHECK(floors && plan_set_floors(p, floors, "defaults", err, sizeof err) == 0);
    cJSON_Delete(floors);
}

static void clear_floors(Plan *p) {
    for (int i = 0; i < p->n_floors; i++) free(p->floor_keys[i]);
    free(p->floor_keys);
    free(p->floor_values);
    p->floor_keys = NULL;
    p->floor_values = NULL;
    p->n_floors = 0;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}
static void clear_models(Plan *p) {
    for (int i = 0; i < p->n_models; i++) {
        free(p->models[i].label);
        free(p->models[i].spec);
    }
    free(p->models);
    p->models = NULL;
    p->n_models = 0;
}

void plan_free(Plan *p) {
    free(p->name);
    free_list(p->stages, p->n_stages);
    clear_models(p);
    free(p->batch_sizes);
    free(p->coco);
    free(p->slice);
    free(p->checkpoint_dir);
    free(p->stage_dir);
    clear_floors(p);
    memset(p, 0, sizeof *p);
}

static void set_str(char **dst, const char *v) {
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

static void add_stage(Plan *p, const char *s) {
    for (int i = 0; i < p->n_stages; i++)
        if (strcmp(p->stages[i], s) == 0) return;
    p->stages = xrealloc(p->stages, sizeof(char *) * (size_t)(p->n_stages + 1));
    p->stages[p->n_stages++] = xstrdup(s);
}

// "vit_b" or "label=spec".
static void add_model(Plan *p, const char *s) {
    const char *eq = strchr(s, '=');
    ModelSpec m;
    if (eq) {
        m.label = xmalloc((size_t)(eq - s) + 1);
        memcpy(m.label, s, (size_t)(eq - s));
        m.label[eq - s] = 0;
        m.spec = xstrdup(eq + 1);
    } else {
        m.label = xstrdup(s);
        m.spec = NULL;  // resolved later: checkpoint_dir or synthetic
    }
    p->models = xrealloc(p->models, sizeof(ModelSpec) * (size_t)(p->n_models + 1));
    p->models[p->n_models++] = m;
}

static void for_each_csv(const char *csv, void (*fn)(Plan *, const char *), Plan *p) {
    char *copy = xstrdup(csv), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t) fn(p, t);
    free(copy);
}

void plan_set_stages(Plan *p, const char *csv) {
    free_list(p->stages, p->n_stages);
    p->stages = NULL;
    p->n_stages = 0;
    for_each_csv(csv, add_stage, p);
}
void plan_set_models(Plan *p, const char *csv) {
    clear_models(p);
    for_each_csv(csv, add_model, p);
}

static int parse_positive(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 4096) return -1;
    *out = (int)v;
    return 0;
}

int plan_set_batch_sizes(Plan *p, const char *csv) {
    free(p->batch_sizes);
    p->batch_sizes = NULL;
    p->n_batch_sizes = 0;
    char *copy = xstrdup(csv), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int v;
        if (parse_positive(t, &v) != 0) {
            rc = -1;
            break;
        }
        p->batch_sizes = xrealloc(p->batch_sizes, sizeof(int) * (size_t)(p->n_batch_sizes + 1));
        p->batch_sizes[p->n_batch_sizes++] = v;
    }
    free(copy);
    return rc;
}

#define FAIL(...)                                   \
    do {                                            \
        snprintf(err, err_len, __VA_ARGS__);        \
        return -1;                                  \
    } while (0)

int plan_set_floors(Plan *p, const cJSON *obj, const char *source, char *err, size_t err_len) {
    if (!cJSON_IsObject(obj))
        FAIL("%s: \"agreement_floor\" must be an object of precision: floor (e.g. {\"bf16\": 0.96})", source);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0 && it->valuedouble <= 1))
            FAIL("%s: \"agreement_floor\": the floor of \"%s\" must be a number in (0, 1]", source, it->string);
    }
    clear_floors(p);
    cJSON_ArrayForEach(it, obj) {
        p->floor_keys = xrealloc(p->floor_keys, sizeof(char *) * (size_t)(p->n_floors + 1));
        p->floor_values = xrealloc(p->floor_values, sizeof(double) * (size_t)(p->n_floors + 1));
        p->floor_keys[p->n_floors] = xstrdup(it->string);
        p->floor_values[p->n_floors++] = it->valuedouble;
    }
    return 0;
}

// The "agreement_floor" object of a stored plan, or the defaults (caller deletes).
static cJSON *floors_of(const char *plan_json) {
    cJSON *plan = plan_json ? cJSON_Parse(plan_json) : NULL;
    cJSON *f = plan ? cJSON_DetachItemFromObjectCaseSensitive(plan, "agreement_floor") : NULL;
    cJSON_Delete(plan);
    if (!cJSON_IsObject(f)) {
        cJSON_Delete(f);
        f = cJSON_Parse(WF_DEFAULT_FLOORS);
    }
    return f;
}

double plan_json_floor(const char *plan_json, const char *precision) {
    if (!precision || !precision[0]) return NAN;
    cJSON *f = floors_of(plan_json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, precision);
    double out = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(f);
    return out;
}

double plan_json_stage_floor(const char *plan_json, const char *precision, const char *linear, const char **key) {
    *key = NULL;
    if (linear && linear[0] && strcmp(linear, "dense") != 0) {
        double f = plan_json_floor(plan_json, linear);
        if (!isnan(f)) {
            *key = linear;
            return f;
        }
    }
    double f = plan_json_floor(plan_json, precision);
    if (!isnan(f)) *key = precision;
    return f;
}

void plan_json_floors_text(const char *plan_json, char *buf, size_t len) {
    cJSON *f = floors_of(plan_json);
    Str s;
    str_init(&s);
    const cJSON *it;
    cJSON_ArrayForEach(it, f) {
        if (cJSON_IsNumber(it)) str_addf(&s, "%s%s %g", s.len ? ", " : "", it->string, it->valuedouble);
    }
    snprintf(buf, len, "%s", s.len ? s.s : "none");
    str_free(&s);
    cJSON_Delete(f);
}

static int string_list(const cJSON *j, const char *key, const char *source, char ***out, int *n,
                       char *err, size_t err_len) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!a) return 0;
    if (!cJSON_IsArray(a)) FAIL("%s: \"%s\" must be an array of strings", source, key);
    free_list(*out, *n);
    *out = NULL;
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e)) FAIL("%s: \"%s\" must be an array of strings", source, key);
        *out = xrealloc(*out, sizeof(char *) * (size_t)(*n + 1));
        (*out)[(*n)++] = xstrdup(e->valuestring);
    }
    return 0;
}

int plan_from_json(Plan *p, const cJSON *j, const char *source, char *err, size_t err_len) {
    if (!cJSON_IsObject(j)) FAIL("%s: an experiment definition must be a JSON object", source);
    static const char *known[] = {"name", "description", "stages", "models", "batch_sizes",
                                  "coco", "slice", "limit", "warmup", "timeout_s",
                                  "checkpoint_dir", "stage_dir", "min_batches", "max_passes",
                                  "target_noise", "agreement_floor", NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= strcmp(it->string, known[i]) == 0;
        // An unknown key is refused: a misspelt "batch_size" must not silently run defaults.
        if (!ok) FAIL("%s: unknown key \"%s\"", source, it->string);
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "name"))) {
        if (!cJSON_IsString(v)) FAIL("%s: \"name\" must be a string", source);
        set_str(&p->name, v->valuestring);
    }
    if (string_list(j, "stages", source, &p->stages, &p->n_stages, err, err_len)) return -1;
    char **models = NULL;
    int n_models = 0;
    if (cJSON_GetObjectItemCaseSensitive(j, "models")) {
        if (string_list(j, "models", source, &models, &n_models, err, err_len)) return -1;
        clear_models(p);
        for (int i = 0; i < n_models; i++) add_model(p, models[i]);
        free_list(models, n_models);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "batch_sizes"))) {
        if (!cJSON_IsArray(v)) FAIL("%s: \"batch_sizes\" must be an array of integers", source);
        free(p->batch_sizes);
        p->batch_sizes = NULL;
        p->n_batch_sizes = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 4096 ||
                e->valuedouble != (int)e->valuedouble)
                FAIL("%s: \"batch_sizes\" must hold integers 1..4096", source);
            p->batch_sizes = xrealloc(p->batch_sizes, sizeof(int) * (size_t)(p->n_batch_sizes + 1));
            p->batch_sizes[p->n_batch_sizes++] = e->valueint;
        }
    }
    static const char *strs[] = {"coco", "slice", "checkpoint_dir", "stage_dir"};
    char **dst[] = {&p->coco, &p->slice, &p->checkpoint_dir, &p->stage_dir};
    for (int i = 0; i < 4; i++) {
        if (!(v = cJSON_GetObjectItemCaseSensitive(j, strs[i]))) continue;
        if (cJSON_IsNull(v)) set_str(dst[i], NULL);
        else if (cJSON_IsString(v)) set_str(dst[i], v->valuestring);
        else FAIL("%s: \"%s\" must be a string or null", source, strs[i]);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "limit"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) FAIL("%s: \"limit\" must be >= 0", source);
        p->limit = v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "warmup"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) FAIL("%s: \"warmup\" must be >= 0", source);
        p->warmup = v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "timeout_s"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble <= 0) FAIL("%s: \"timeout_s\" must be > 0", source);
        p->timeout_s = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "min_batches"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1000000 || v->valuedouble != (int)v->valuedouble)
            FAIL("%s: \"min_batches\" must be an integer >= 1", source);
        p->min_batches = v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "max_passes"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1000 || v->valuedouble != (int)v->valuedouble)
            FAIL("%s: \"max_passes\" must be an integer 1..1000", source);
        p->max_passes = v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "target_noise"))) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1))
            FAIL("%s: \"target_noise\" must be a number in (0, 1)", source);
        p->target_noise = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "agreement_floor")))
        if (plan_set_floors(p, v, source, err, err_len) != 0) return -1;
    return 0;
}

int plan_load_file(Plan *p, const char *path, char *err, size_t err_len) {
    char *text = read_file_all(path, NULL);
    if (!text) FAIL("cannot read experiment file %s: %s", path, strerror(errno));
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) FAIL("%s: not valid JSON (near \"%.40s\")", path, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    // The file's stem is the default name.
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = 0;
    set_str(&p->name, stem);
    int rc = plan_from_json(p, j, path, err, err_len);
    cJSON_Delete(j);
    return rc;
}

const char *plan_stage_dir(const Plan *p) { return p->stage_dir ? p->stage_dir : exe_dir(); }

void plan_stage_path(const Plan *p, const char *stage, char *buf, size_t len) {
    snprintf(buf, len, "%s/sam-%s", plan_stage_dir(p), stage);
}

static int stage_cmp(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int ix = waterfall_index(x), iy = waterfall_index(y);
    if (ix != iy) return ix - iy;
    return 0;  // unknown stages: qsort is not stable, fixed below by insertion sort
}

// Insertion sort keeps the given order among stages outside the waterfall list.
static void sort_stages(char **v, int n) {
    for (int i = 1; i < n; i++) {
        char *s = v[i];
        int j = i - 1;
        while (j >= 0 && stage_cmp(&v[j], &s) > 0) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = s;
    }
}

// Finds <dir>/sam_<model>*.pth (the official names carry an MD5 prefix after the model).
static char *find_checkpoint(const char *dir, const char *model) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sam_%s_", model);
    char *found = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > 4 &&
            strcmp(e->d_name + n - 4, ".pth") == 0) {
            Str s;
            str_init(&s);
            str_addf(&s, "%s/%s", dir, e->d_name);
            free(found);  // several matches: the last in directory order; resolve reports it
            found = s.s;
        }
    }
    closedir(d);
    return found;
}

int plan_resolve(Plan *p, char *err, size_t err_len) {
    if (p->n_stages == 0) plan_set_stages(p, "cpu");
    if (p->n_models == 0) plan_set_models(p, "vit_b");
    if (p->n_batch_sizes == 0) plan_set_batch_sizes(p, "1");
    // "gpu": every GPU stage of the waterfall built beside the harness; "all": cpu too.
    for (int i = 0; i < p->n_stages; i++) {
        int gpu = strcmp(p->stages[i], "gpu") == 0, all = strcmp(p->stages[i], "all") == 0;
        if (!gpu && !all) continue;
        char **old = p->stages;
        int n_old = p->n_stages;
        p->stages = NULL;
        p->n_stages = 0;
        for (int k = 0; k < n_old; k++) {
            if (k != i) {
                add_stage(p, old[k]);
                continue;
            }
            for (int w = all ? 0 : 1; w < WATERFALL_COUNT; w++) {
                char path[4096];
                plan_stage_path(p, WATERFALL_ORDER[w], path, sizeof path);
                if (access(path, X_OK) == 0) add_stage(p, WATERFALL_ORDER[w]);
            }
        }
        free_list(old, n_old);
        i = -1;  // rescan: the expansion may be followed by another keyword
    }
    if (p->n_stages == 0) FAIL("no stage to run (no GPU stage is built in %s)", plan_stage_dir(p));
    sort_stages(p->stages, p->n_stages);
    // The same experiment twice in one run would be paired twice by compare and drawn twice
    // (a stage named twice is run once: add_stage, as 'gpu' and 'all' may name it again; a
    // model label twice is refused below).
    for (int i = 0; i < p->n_batch_sizes; i++)
        for (int k = 0; k < i; k++)
            if (p->batch_sizes[i] == p->batch_sizes[k]) FAIL("batch size %d is listed twice", p->batch_sizes[i]);
    for (int i = 0; i < p->n_stages; i++) {
        char path[4096];
        plan_stage_path(p, p->stages[i], path, sizeof path);
        if (access(path, X_OK) != 0)
            FAIL("stage \"%s\": %s is not an executable (build it with make)", p->stages[i], path);
    }
    for (int i = 0; i < p->n_models; i++) {
        ModelSpec *m = &p->models[i];
        if (m->spec) continue;
        if (strncmp(m->label, "synthetic:", 10) == 0) {
            // "synthetic:vit_b[:seed]" given as a model: label is the model name.
            m->spec = m->label;
            char label[64];
            snprintf(label, sizeof label, "%s", m->label + 10);
            char *colon = strchr(label, ':');
            if (colon) *colon = 0;
            m->label = xstrdup(label);
            continue;
        }
        if (p->checkpoint_dir) {
            m->spec = find_checkpoint(p->checkpoint_dir, m->label);
            if (!m->spec)
                FAIL("no checkpoint sam_%s_*.pth in %s", m->label, p->checkpoint_dir);
        } else {
            Str s;
            str_init(&s);
            str_addf(&s, "synthetic:%s", m->label);
            m->spec = s.s;
        }
    }
    for (int i = 0; i < p->n_models; i++) {
        const char *spec = p->models[i].spec;
        char *file = spec_file(spec);
        int unreadable = strncmp(spec, "synthetic:", 10) != 0 && access(file, R_OK) != 0;
        int e = errno;
        free(file);
        if (unreadable)
            FAIL("model \"%s\": cannot read checkpoint %s: %s", p->models[i].label, spec, strerror(e));
    }
    for (int i = 0; i < p->n_models; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(p->models[i].label, p->models[k].label) == 0)
                FAIL("model \"%s\" is listed twice", p->models[i].label);
    return 0;
}

char *plan_to_json(const Plan *p) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", p->name);
    cJSON *a = cJSON_AddArrayToObject(j, "stages");
    for (int i = 0; i < p->n_stages; i++) cJSON_AddItemToArray(a, cJSON_CreateString(p->stages[i]));
    a = cJSON_AddArrayToObject(j, "models");
    for (int i = 0; i < p->n_models; i++) {
        Str s;
        str_init(&s);
        str_addf(&s, "%s=%s", p->models[i].label, p->models[i].spec);
        cJSON_AddItemToArray(a, cJSON_CreateString(s.s));
        str_free(&s);
    }
    a = cJSON_AddArrayToObject(j, "batch_sizes");
    for (int i = 0; i < p->n_batch_sizes; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(p->batch_sizes[i]));
    if (p->coco) cJSON_AddStringToObject(j, "coco", p->coco);
    else cJSON_AddNullToObject(j, "coco");
    cJSON_AddStringToObject(j, "slice", p->slice);
    cJSON_AddNumberToObject(j, "limit", p->limit);
    cJSON_AddNumberToObject(j, "warmup", p->warmup);
    cJSON_AddNumberToObject(j, "timeout_s", p->timeout_s);
    if (p->checkpoint_dir) cJSON_AddStringToObject(j, "checkpoint_dir", p->checkpoint_dir);
    else cJSON_AddNullToObject(j, "checkpoint_dir");
    if (p->stage_dir) cJSON_AddStringToObject(j, "stage_dir", p->stage_dir);
    cJSON_AddNumberToObject(j, "min_batches", p->min_batches);
    cJSON_AddNumberToObject(j, "max_passes", p->max_passes);
    cJSON_AddNumberToObject(j, "target_noise", p->target_noise);
    cJSON *f = cJSON_AddObjectToObject(j, "agreement_floor");
    for (int i = 0; i < p->n_floors; i++) cJSON_AddNumberToObject(f, p->floor_keys[i], p->floor_values[i]);
    char *s = cJSON_PrintUnformatted(j);
    CHECK(s != NULL);
    cJSON_Delete(j);
    return s;
}

const char *plan_reference_stage(const Plan *p) {
    for (int i = 0; i < p->n_stages; i++)
        if (strcmp(p->stages[i], "fp32") == 0) return "fp32";
    for (int i = 0; i < p->n_stages; i++)
        if (strcmp(p->stages[i], "cpu") == 0) return "cpu";
    return p->stages[0];
}
