// Unit tests of the harness's parts: RLE reading against the datasets' encoder, the timing
// statistics and the compare rule's false-alarm rate on simulated samples, the protocol
// parser, schema migration, experiment definitions.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../datasets/metrics.h"
#include "../../datasets/rle.h"
#include "../../harness/agreement.c"
#include "../../harness/db.c"
#include "../../harness/plan.c"
#include "../../harness/proto.c"
#include "../../harness/stats.c"
#include "../../harness/util.c"

static int failures = 0;
#define EXPECT(cond, ...)                                                                     \
    do {                                                                                      \
        if (cond) {                                                                           \
            printf("PASS ");                                                                  \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
        } else {                                                                              \
            failures++;                                                                       \
            printf("FAIL ");                                                                  \
            printf(__VA_ARGS__);                                                              \
            printf(": %s is false (%s:%d)\n", #cond, __FILE__, __LINE__);                     \
        }                                                                                     \
    } while (0)

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double uniform(void) { return (next_u64() >> 11) * (1.0 / 9007199254740992.0); }
static double normal(void) { return sqrt(-2 * log(uniform() + 1e-300)) * cos(2 * M_PI * uniform()); }

static void random_mask(uint8_t *m, int h, int w) {
    int kind = (int)(next_u64() % 4);
    for (int i = 0; i < h * w; i++) m[i] = 0;
    if (kind == 0) return;  // empty
    if (kind == 1) {        // full
        for (int i = 0; i < h * w; i++) m[i] = 1;
        return;
    }
    int blobs = 1 + (int)(next_u64() % 5);
    for (int b = 0; b < blobs; b++) {
        int x0 = (int)(next_u64() % (uint64_t)w), y0 = (int)(next_u64() % (uint64_t)h);
        int x1 = x0 + (int)(next_u64() % (uint64_t)w), y1 = y0 + (int)(next_u64() % (uint64_t)h);
        for (int y = y0; y < y1 && y < h; y++)
            for (int x = x0; x < x1 && x < w; x++) m[y * w + x] = kind == 3 ? (uint8_t)(next_u64() & 1) : 1;
    }
}

static void test_rle(void) {
    int bad_iou = 0, n = 300;
    for (int t = 0; t < n; t++) {
        int h = 1 + (int)(next_u64() % 70), w = 1 + (int)(next_u64() % 90);
        uint8_t *a = xmalloc((size_t)h * w), *b = xmalloc((size_t)h * w);
        random_mask(a, h, w);
        random_mask(b, h, w);
        Rle ra, rb;
        rle_encode(&ra, a, (uint32_t)h, (uint32_t)w);
        rle_encode(&rb, b, (uint32_t)h, (uint32_t)w);
        char *sa = rle_to_string(&ra), *sb = rle_to_string(&rb);
        long long inter = 0, uni = 0;
        for (int i = 0; i < h * w; i++) {
            inter += a[i] && b[i];
            uni += a[i] || b[i];
        }
        double want = uni ? (double)inter / uni : 1.0;
        if (fabs(rle_string_agreement(sa, sb, (uint32_t)h, (uint32_t)w) - want) > 1e-12) bad_iou++;
        free(sa), free(sb), free(a), free(b);
        rle_free(&ra), rle_free(&rb);
    }
    EXPECT(bad_iou == 0, "agreement on RLE strings equals pixel IoU on %d random mask pairs (both empty = 1)", n);
    EXPECT(rle_string_agreement("0=", "0=", 3, 3) < 0, "RLE whose runs do not cover h*w refused");
    EXPECT(rle_string_agreement("\x7f", "1", 1, 1) < 0, "RLE with a character outside 48..111 refused");
    EXPECT(rle_string_agreement("ooooooooooooooo", "1", 1, 1) < 0, "RLE with an endless number refused");
    EXPECT(rle_string_agreement("4", "4", 2, 2) == 1.0, "two empty masks agree fully");
}

static void test_stats(void) {
    double v[] = {5, 1, 4, 2, 3};
    Summary s = stats_summary(v, 5);
    EXPECT(s.median == 3 && s.min == 1 && s.max == 5 && fabs(s.noise - sqrt(2.5) / 3) < 1e-12,
           "median, min, max and relative std of 1..5");
    double e[] = {4, 1, 3, 2};
    EXPECT(stats_median(e, 4) == 2.5, "median of an even count");

    // False alarms: both sides from one distribution (5 % lognormal noise, as a quiet GPU,
    // and 25 % with heavy tails, as this shared 2-core machine).
    int trials = 400, alarms_u = 0, alarms_p = 0, alarms_noisy = 0, n = 30;
    double a[64], b[64];
    for (int t = 0; t < trials; t++) {
        for (int i = 0; i < n; i++) {
            double work = 1 + 0.5 * uniform();  // per-batch workload, the same in both runs
            a[i] = 10 * work * exp(0.05 * normal());
            b[i] = 10 * work * exp(0.05 * normal());
        }
        CompareResult u = stats_compare(a, n, b, n, 0.05, 0.95, 1000, 5);
        CompareResult p = stats_compare_paired(a, b, n, 0.05, 0.95, 1000, 5);
        alarms_u += u.verdict == V_FASTER || u.verdict == V_SLOWER;
        alarms_p += p.verdict == V_FASTER || p.verdict == V_SLOWER;
        for (int i = 0; i < n; i++) {
            double tail = uniform() < 0.1 ? 1.5 : 1.0;  // 10 % of batches disturbed
            a[i] = 10 * exp(0.25 * normal()) * tail;
            b[i] = 10 * exp(0.25 * normal()) * (uniform() < 0.1 ? 1.5 : 1.0);
        }
        CompareResult q = stats_compare(a, n, b, n, 0.05, 0.95, 1000, 5);
        alarms_noisy += q.verdict == V_FASTER || q.verdict == V_SLOWER;
    }
    printf("NOTE simulated false alarms: unpaired %d/%d, paired %d/%d (5%% noise); unpaired %d/%d "
           "(25%% noise, 10%% disturbed batches)\n", alarms_u, trials, alarms_p, trials, alarms_noisy, trials);
    EXPECT(alarms_u <= trials / 100 && alarms_p <= trials / 100 && alarms_noisy <= trials / 100,
           "compare rule false alarms at most 1 %% on identical distributions");

    int hits = 0, hits_p = 0, wrong = 0;
    for (int t = 0; t < 100; t++) {
        for (int i = 0; i < n; i++) {
            double work = 1 + 0.5 * uniform();
            a[i] = 10 * work * exp(0.05 * normal());
            b[i] = 12 * work * exp(0.05 * normal());  // 20 % slower
        }
        CompareResult u = stats_compare(a, n, b, n, 0.05, 0.95, 1000, 5);
        CompareResult p = stats_compare_paired(a, b, n, 0.05, 0.95, 1000, 5);
        hits += u.verdict == V_SLOWER;
        hits_p += p.verdict == V_SLOWER;
        wrong += u.verdict == V_FASTER || p.verdict == V_FASTER;
        CompareResult f = stats_compare_paired(b, a, n, 0.05, 0.95, 1000, 5);
        wrong += f.verdict != V_FASTER && f.verdict != V_UNCLEAR;
    }
    printf("NOTE 20%% slowdown detected: unpaired %d/100, paired %d/100\n", hits, hits_p);
    EXPECT(hits_p >= 95, "a 20 %% slowdown is SLOWER (paired) in at least 95 of 100 trials");
    EXPECT(wrong == 0, "a slowdown is never called FASTER, a speed-up never SLOWER");
    double few[] = {1, 2, 3};
    EXPECT(stats_compare(few, 3, few, 3, 0.05, 0.95, 100, 5).verdict == V_UNCLEAR, "too few batches is UNCLEAR");
    double c1[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    EXPECT(stats_compare_paired(c1, c1, 8, 0.05, 0.95, 100, 5).verdict == V_SAME, "identical samples are SAME");
}

static void test_proto(void) {
    ExpResult r;
    exp_result_init(&r);
    EXPECT(proto_line(&r, "{\"type\":\"batch\",\"index\":0,\"images\":1,\"ms\":1}") < 0 &&
               strstr(r.garbage, "batch before hello"), "batch before hello refused");
    exp_result_free(&r);
    exp_result_init(&r);
#define SI "\"stage_info\":{\"name\":\"bf16\",\"after\":\"fp32\",\"adds\":\"bfloat16\",\"choices\":{\"precision\":\"bf16\",\"graphs\":\"off\"}}"
    proto_line(&r, "{\"type\":\"hello\",\"protocol\":1,\"device\":{\"name\":\"X\"}," SI "}");
    proto_line(&r, "{\"type\":\"batch\",\"index\":0,\"pass\":0,\"images\":2,\"ms\":10}");
    EXPECT(proto_line(&r, "{\"type\":\"batch\",\"index\":2,\"pass\":0,\"images\":2,\"ms\":10}") < 0 &&
               strstr(r.garbage, "out of sequence"), "batch index out of sequence refused");
    exp_result_free(&r);
    exp_result_init(&r);
    proto_line(&r, "{\"type\":\"hello\",\"protocol\":1,\"device\":{\"name\":\"X\"}," SI "}");
    proto_line(&r, "{\"type\":\"batch\",\"index\":0,\"pass\":0,\"images\":2,\"ms\":10}");
    EXPECT(proto_line(&r, "{\"type\":\"batch\",\"index\":1,\"pass\":2,\"images\":2,\"ms\":10}") < 0 &&
               strstr(r.garbage, "pass out of sequence"), "a batch skipping a pass refused");
    exp_result_free(&r);
    const char *bad[] = {"not json", "[1,2]", "{\"type\":\"wat\"}", "{\"type\":\"hello\",\"protocol\":2,\"device\":{}," SI "}",
                         "{\"type\":\"hello\",\"protocol\":1," SI "}", "{\"type\":\"status\",\"ok\":1}",
                         "{\"type\":\"hello\",\"protocol\":1,\"device\":{}}",
                         "{\"type\":\"hello\",\"protocol\":1,\"device\":{},\"stage_info\":{\"name\":\"x\",\"after\":null,"
                         "\"adds\":\"y\",\"choices\":{\"graphs\":true}}}",
                         "{\"type\":\"hello\",\"protocol\":1,\"device\":{},\"stage_info\":{\"name\":\"x\",\"adds\":\"y\","
                         "\"choices\":{}}}"};
    int refused = 0;
    for (int i = 0; i < 9; i++) {
        exp_result_init(&r);
        refused += proto_line(&r, bad[i]) < 0 && r.garbage;
        exp_result_free(&r);
    }
    EXPECT(refused == 9, "malformed lines refused: not JSON, not an object, unknown type, protocol 2, no device, "
                         "non-boolean ok, no stage_info, a choice not a string, stage_info without after");
    exp_result_init(&r);
    EXPECT(proto_line(&r, "{\"type\":\"hello\",\"protocol\":1,\"device\":{},\"stage_info\":{\"name\":\"fp32\","
                          "\"after\":null,\"adds\":\"GPU fp32\",\"choices\":{\"precision\":\"fp32\",\"new_choice\":\"x\"}}}") == 0 &&
               !strcmp(r.precision, "fp32") && strstr(r.stage_info_json, "\"new_choice\":\"x\""),
           "stage_info with after null and an unknown choice kept as JSON, its precision read");
    exp_result_free(&r);
    exp_result_init(&r);
    proto_line(&r, "{\"type\":\"hello\",\"protocol\":1,\"device\":{\"kind\":\"cpu\",\"name\":\"EPYC\"},\"model\":{\"m\":1}," SI "}");
    proto_line(&r, "{\"type\":\"batch\",\"index\":0,\"pass\":0,\"images\":2,\"ms\":10}");
    proto_line(&r, "{\"type\":\"batch\",\"index\":1,\"pass\":1,\"images\":2,\"ms\":30}");
    proto_line(&r, "{\"type\":\"skip\",\"image_id\":5,\"reason\":\"truncated\"}");
    int rc = proto_line(&r, "{\"type\":\"summary\",\"images_timed\":4,\"batches_timed\":2,\"passes\":2,\"total_ms\":40,"
                            "\"img_s\":100,\"peak_bytes\":1,\"first_mask_ms\":3,\"miou\":null,"
                            "\"annotations\":0,\"images_skipped\":1,\"launches_per_batch\":412,\"kernels_per_batch\":980}");
    char why[256];
    EXPECT(rc == 0 && proto_check_summary(&r, why, sizeof why) == 0 && isnan(r.miou) &&
               !strcmp(r.device_name, "EPYC") && r.passes == 2 && r.samples[1].pass == 1 &&
               r.launches_per_batch == 412 && r.kernels_per_batch == 980 && !strcmp(r.precision, "bf16"),
           "a consistent summary of two passes accepted (mIoU null, launches and kernels per batch read)");
    r.passes = 3;
    EXPECT(proto_check_summary(&r, why, sizeof why) < 0 && strstr(why, "passes"), "passes not the batch lines' refused");
    r.passes = 2;
    proto_line(&r, "{\"type\":\"status\",\"ok\":true}");
    EXPECT(proto_line(&r, "{\"type\":\"log\"}") < 0 && strstr(r.garbage, "after the status"), "output after the status line refused");
    r.img_s = 101;
    EXPECT(proto_check_summary(&r, why, sizeof why) < 0 && strstr(why, "img_s"), "img/s not images / ms refused");
    r.img_s = 100;
    r.total_ms = 41;
    EXPECT(proto_check_summary(&r, why, sizeof why) < 0 && strstr(why, "total_ms"), "total ms not the batches' sum refused");
    exp_result_free(&r);
}

static void test_migration(void) {
    char path[] = "/tmp/wf-units-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    sqlite3 *db;
    SQL_OK(NULL, sqlite3_open(path, &db));
    db_exec(db, MIGRATIONS[0]);
    db_exec(db, "PRAGMA user_version = 1");
    db_exec(db, "INSERT INTO runs (id, started_at, status, config_key, plan_json) VALUES (7, 'then', 'complete', 'k', '{}')");
    sqlite3_close(db);
    db = db_open(path);
    sqlite3_stmt *st = db_prepare(db, "SELECT (SELECT user_version FROM pragma_user_version), "
                                      "(SELECT count(*) FROM runs WHERE id = 7), "
                                      "(SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'gate')");
    EXPECT(SQL_ROW(db, st) && sqlite3_column_int(st, 0) == WF_SCHEMA_VERSION && sqlite3_column_int(st, 1) == 1 &&
               sqlite3_column_int(st, 2) == 1, "a version 1 database migrates forward to %d keeping its runs", WF_SCHEMA_VERSION);
    db_finalize(db, st);
    st = db_prepare(db, "SELECT (SELECT count(*) FROM pragma_table_info('experiments') WHERE name IN ('passes',"
                        " 'stage_info', 'same_index_agreement', 'agreement_floor', 'launches_per_batch', 'kernels_per_batch')),"
                        " (SELECT count(*) FROM pragma_table_info('annotations') WHERE name IN ('same_index', 'masks')),"
                        " (SELECT count(*) FROM pragma_table_info('samples') WHERE name = 'pass'),"
                        " (SELECT published FROM runs WHERE id = 7)");
    EXPECT(SQL_ROW(db, st) && sqlite3_column_int(st, 0) == 6 && sqlite3_column_int(st, 1) == 2 &&
               sqlite3_column_int(st, 2) == 1 && sqlite3_column_int(st, 3) == 0,
           "schema 4: passes, stage_info, same-index agreement, floors, launch counts, samples' pass, published");
    db_finalize(db, st);
    db_exec(db, "PRAGMA user_version = 99");
    db_close(db);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        db_open(path);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 1, "a database from a newer schema is refused, not downgraded");
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
}

static void test_plan(void) {
    Plan p;
    char err[512];
    plan_init(&p);
    cJSON *j = cJSON_Parse("{\"stages\":[\"cpu\"],\"batch_size\":[8]}");
    EXPECT(plan_from_json(&p, j, "x.json", err, sizeof err) < 0 && strstr(err, "unknown key \"batch_size\""),
           "a misspelt key in an experiment file is refused");
    cJSON_Delete(j);
    j = cJSON_Parse("{\"batch_sizes\":[0]}");
    EXPECT(plan_from_json(&p, j, "x.json", err, sizeof err) < 0, "batch size 0 refused");
    cJSON_Delete(j);
    plan_free(&p);
    plan_init(&p);
    plan_set_stages(&p, "sparse,newthing,cpu,nested,fp32,bf16");
    sort_stages(p.stages, p.n_stages);
    Str s;
    str_init(&s);
    for (int i = 0; i < p.n_stages; i++) str_addf(&s, "%s ", p.stages[i]);
    EXPECT(!strcmp(s.s, "cpu fp32 bf16 nested sparse newthing "), "stages sort in waterfall order (%s)", s.s);
    EXPECT(!strcmp(plan_reference_stage(&p), "fp32"), "fp32 is the reference when present");
    str_free(&s);
    plan_free(&p);
    int fd;
    char path[] = "/tmp/wf-plan-XXXXXX";
    fd = mkstemp(path);
    dprintf(fd, "{\"name\":\"x\",\"models\":[\"vit_b\",\"t=a.pth\"],\"limit\":4}");
    close(fd);
    plan_init(&p);
    EXPECT(plan_load_file(&p, path, err, sizeof err) == 0 && p.n_models == 2 && !strcmp(p.models[1].spec, "a.pth") &&
               p.limit == 4 && !strcmp(p.name, "x"), "an experiment file is read");
    plan_free(&p);
    unlink(path);

    // Timing passes and agreement floors: defaults, the experiment file's, refused values, and
    // the floor read back from a stored plan.
    plan_init(&p);
    EXPECT(p.min_batches == 10 && p.max_passes == 8 && p.target_noise == 0.02 && p.n_floors == 3,
           "defaults: min_batches 10, max_passes 8, target_noise 0.02, three floors");
    j = cJSON_Parse("{\"min_batches\":20,\"max_passes\":3,\"target_noise\":0.05,"
                    "\"agreement_floor\":{\"bf16\":0.97,\"fp8\":0.9}}");
    EXPECT(plan_from_json(&p, j, "x.json", err, sizeof err) == 0 && p.min_batches == 20 && p.max_passes == 3 &&
               p.target_noise == 0.05 && p.n_floors == 2, "an experiment file sets the passes and its own floors");
    cJSON_Delete(j);
    char *pj = plan_to_json(&p);
    char floors[128];
    plan_json_floors_text(pj, floors, sizeof floors);
    EXPECT(plan_json_floor(pj, "bf16") == 0.97 && plan_json_floor(pj, "fp8") == 0.9 && isnan(plan_json_floor(pj, "fp32")) &&
               !strcmp(floors, "bf16 0.97, fp8 0.9"), "floors read back from the stored plan (%s; none for fp32)", floors);
    cJSON_free(pj);
    const char *key;
    EXPECT(plan_json_stage_floor("{}", "bf16", "int8", &key) == 0.95 && !strcmp(key, "int8") &&
               plan_json_stage_floor("{}", "bf16", "dense", &key) == 0.96 && !strcmp(key, "bf16") &&
               plan_json_stage_floor("{}", "bf16", "sparse24", &key) == 0.96 && !strcmp(key, "bf16") &&
               isnan(plan_json_stage_floor("{}", "fp8", "dense", &key)) && key == NULL,
           "a stage's floor: its linear format's when named (int8), else its precision's");
    EXPECT(plan_json_floor("{\"name\":\"old\"}", "bf16") == 0.96 && plan_json_floor("{}", "fp32") == 0.999 &&
               isnan(plan_json_floor("{}", "")), "a plan stored before floors gets the defaults");
    const char *bads[] = {"{\"agreement_floor\":{\"bf16\":1.5}}", "{\"agreement_floor\":[0.9]}",
                          "{\"min_batches\":0}", "{\"max_passes\":2.5}", "{\"target_noise\":1}"};
    int refused = 0;
    for (int i = 0; i < 5; i++) {
        j = cJSON_Parse(bads[i]);
        refused += plan_from_json(&p, j, "x.json", err, sizeof err) < 0;
        cJSON_Delete(j);
    }
    EXPECT(refused == 5, "refused: a floor over 1, floors not an object, min_batches 0, a fractional max_passes, noise 1");
    plan_free(&p);

    // The committed experiment files read, state their floors and the passes (tests run from
    // the repository root).
    const char *files[] = {"experiments/cpu.json", "experiments/gpu.json"};
    for (int i = 0; i < 2; i++) {
        plan_init(&p);
        int rc = plan_load_file(&p, files[i], err, sizeof err);
        char *pj = rc == 0 ? plan_to_json(&p) : NULL;
        EXPECT(rc == 0 && pj && plan_json_floor(pj, "bf16") == 0.96 && plan_json_floor(pj, "fp32") == 0.999 &&
                   plan_json_floor(pj, "int8") == 0.95 && p.target_noise == 0.02,
               "%s reads, with its floors (bf16 0.96, fp32 0.999, int8 0.95) and target noise", files[i]);
        if (pj) cJSON_free(pj);
        plan_free(&p);
    }
}

static double pixel_iou(const uint8_t *a, const uint8_t *b, int n) {
    long long inter = 0, uni = 0;
    for (int i = 0; i < n; i++) inter += a[i] && b[i], uni += a[i] || b[i];
    return uni ? (double)inter / uni : 1.0;
}

// agree_pairs (harness/agreement.h) on every core against pixel IoU: the top masks, the
// same-index mean of three outputs, which index each top stands at; lines without outputs.
static void test_agreement(void) {
    enum { N = 203, K = 3 };
    int h = 37, w = 53, n = h * w;
    AgreePair *v = xcalloc(N, sizeof(AgreePair));
    double *want_top = xmalloc(sizeof(double) * N), *want_same = xmalloc(sizeof(double) * N);
    int *want_other = xmalloc(sizeof(int) * N);
    char **strings = xcalloc((size_t)N * 2 * (K + 1), sizeof(char *));
    uint8_t *m = xmalloc((size_t)2 * K * n);
    for (int i = 0; i < N; i++) {
        char *json[2];
        int top[2];
        for (int side = 0; side < 2; side++) {
            Str js;
            str_init(&js);
            str_add(&js, "[");
            for (int k = 0; k < K; k++) {
                random_mask(m + (size_t)(side * K + k) * n, h, w);
                Rle r;
                rle_encode(&r, m + (size_t)(side * K + k) * n, (uint32_t)h, (uint32_t)w);
                char *str = rle_to_string(&r);
                rle_free(&r);
                // As JSON text: the RLE alphabet (48..111) holds the backslash.
                str_add(&js, k ? ",\"" : "\"");
                for (const char *c = str; *c; c++) str_add(&js, *c == '\\' ? "\\\\" : (char[2]){*c, 0});
                str_add(&js, "\"");
                strings[(i * 2 + side) * (K + 1) + k] = str;
            }
            str_add(&js, "]");
            json[side] = js.s;
            strings[(i * 2 + side) * (K + 1) + K] = json[side];
            top[side] = (int)(next_u64() % K);
        }
        int with_outputs = i % 7 != 0;
        v[i] = (AgreePair){.rle_a = strings[(i * 2) * (K + 1) + top[0]], .rle_b = strings[(i * 2 + 1) * (K + 1) + top[1]],
                           .masks_a = with_outputs ? json[0] : NULL, .masks_b = json[1], .h = (uint32_t)h, .w = (uint32_t)w};
        want_top[i] = pixel_iou(m + (size_t)top[0] * n, m + (size_t)(K + top[1]) * n, n);
        double s = 0;
        for (int k = 0; k < K; k++) s += pixel_iou(m + (size_t)k * n, m + (size_t)(K + k) * n, n);
        want_same[i] = with_outputs ? s / K : NAN;
        // The index a top stands at is the first output equal to it (equal masks, equal strings).
        int first[2];
        for (int side = 0; side < 2; side++) {
            first[side] = 0;
            while (strcmp(strings[(i * 2 + side) * (K + 1) + first[side]], side ? v[i].rle_b : v[i].rle_a)) first[side]++;
        }
        want_other[i] = with_outputs && first[0] != first[1];
    }
    agree_pairs(v, N);
    int bad_top = 0, bad_same = 0, bad_other = 0;
    for (int i = 0; i < N; i++) {
        bad_top += fabs(v[i].top - want_top[i]) > 1e-12;
        bad_same += isnan(want_same[i]) ? !isnan(v[i].same) : !(fabs(v[i].same - want_same[i]) <= 1e-12);
        bad_other += v[i].other_index != want_other[i];
    }
    EXPECT(bad_top == 0, "agree_pairs: top-mask agreement equals pixel IoU on %d pairs (%d wrong)", N, bad_top);
    EXPECT(bad_same == 0, "agree_pairs: same-index agreement equals the pixel mean over %d outputs, NaN where a line "
           "kept none (%d wrong)", K, bad_same);
    EXPECT(bad_other == 0, "agree_pairs: a different top index counted where both kept outputs (%d wrong)", bad_other);
    AgreePair broken = {.rle_a = "0=", .rle_b = "0=", .masks_a = "[\"0=\"]", .masks_b = "[\"0=\"]", .h = 3, .w = 3};
    agree_pairs(&broken, 1);
    EXPECT(broken.top < 0 && broken.same < 0, "agree_pairs: masks that do not cover h x w are refused (top %g, same %g)",
           broken.top, broken.same);
    for (int i = 0; i < N * 2 * (K + 1); i++) free(strings[i]);
    free(strings), free(m), free(v), free(want_top), free(want_same), free(want_other);
}

int main(void) {
    test_rle();
    test_agreement();
    test_stats();
    test_proto();
    test_migration();
    test_plan();
    return failures ? 1 : 0;
}
