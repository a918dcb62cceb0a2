#include "store.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agreement.h"
#include "common/weights_spec.h"
#include "db.h"
#include "../datasets/metrics.h"
#include "stats.h"
#include "util.h"

// design.md section 4: MLPerf's rule, 99 % of the reference.
#define GATE_FRACTION 0.99

static void now_iso(char *buf, size_t len) { iso_time(wall_now(), buf, len); }

long long store_create_run(sqlite3 *db, const Plan *p, const RunIdentity *id, const char *plan_json) {
    char now[32];
    now_iso(now, sizeof now);
    const char *ref = plan_reference_stage(p);
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db,
        "INSERT INTO runs (name, started_at, status, config_key, plan_json, git_commit, git_dirty,"
        " argv, host, pid, pid_start, dataset, dataset_hash, reference_stage)"
        " VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    db_bind_text(db, st, 1, p->name);
    db_bind_text(db, st, 2, now);
    db_bind_text(db, st, 3, id->config_key);
    db_bind_text(db, st, 4, plan_json);
    db_bind_text(db, st, 5, id->git_commit[0] ? id->git_commit : NULL);
    if (id->git_dirty >= 0) db_bind_int(db, st, 6, id->git_dirty);
    else db_bind_null(db, st, 6);
    db_bind_text(db, st, 7, id->argv);
    db_bind_text(db, st, 8, id->host);
    db_bind_int(db, st, 9, getpid());
    db_bind_int(db, st, 10, (long long)proc_start_ticks(getpid()));
    db_bind_text(db, st, 11, id->dataset);
    db_bind_text(db, st, 12, id->dataset_hash);
    db_bind_text(db, st, 13, ref);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    long long run_id = sqlite3_last_insert_rowid(db);

    st = db_prepare(db,
        "INSERT INTO experiments (run_id, seq, stage, model, batch_size, checkpoint,"
        " checkpoint_hash, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')");
    int seq = 0;
    // The reference stage runs first so every later experiment can be judged against it.
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < p->n_stages; s++) {
            int is_ref = strcmp(p->stages[s], ref) == 0;
            if (is_ref != (pass == 0)) continue;
            for (int m = 0; m < p->n_models; m++)
                for (int b = 0; b < p->n_batch_sizes; b++) {
                    SQL_OK(db, sqlite3_reset(st));
                    db_bind_int(db, st, 1, run_id);
                    db_bind_int(db, st, 2, seq++);
                    db_bind_text(db, st, 3, p->stages[s]);
                    db_bind_text(db, st, 4, p->models[m].label);
                    db_bind_int(db, st, 5, p->batch_sizes[b]);
                    db_bind_text(db, st, 6, p->models[m].spec);
                    db_bind_text(db, st, 7, id->ckpt_hash[m]);
                    SQL_DONE(db, sqlite3_step(st));
                }
        }
    db_finalize(db, st);
    db_commit(db);
    return run_id;
}

void store_experiment_started(sqlite3 *db, long long exp_id) {
    char now[32];
    now_iso(now, sizeof now);
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db, "UPDATE experiments SET status = 'running', started_at = ?1 WHERE id = ?2");
    db_bind_text(db, st, 1, now);
    db_bind_int(db, st, 2, exp_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    db_commit(db);
}

void store_run_device(sqlite3 *db, long long run_id, const char *name, const char *json) {
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db,
        "UPDATE runs SET device_name = ?1, device_json = ?2 WHERE id = ?3 AND device_name IS NULL");
    db_bind_text(db, st, 1, name);
    db_bind_text(db, st, 2, json);
    db_bind_int(db, st, 3, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    db_commit(db);
}

// ---- accuracy gate ---------------------------------------------------------------------------
typedef struct {
    long long ann_id;
    int h, w;
    char *rle;
    char *masks;  // every multimask output (JSON array of RLE strings), NULL when not stored
} RefMask;

static int cmp_ref(const void *a, const void *b) {
    long long x = ((const RefMask *)a)->ann_id, y = ((const RefMask *)b)->ann_id;
    return (x > y) - (x < y);
}

static RefMask *load_masks(sqlite3 *db, long long exp_id, int *n) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT ann_id, height, width, rle, masks FROM annotations WHERE experiment_id = ?1 ORDER BY ann_id");
    db_bind_int(db, st, 1, exp_id);
    RefMask *v = NULL;
    int cap = 0;
    *n = 0;
    while (SQL_ROW(db, st)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            v = xrealloc(v, sizeof(RefMask) * (size_t)cap);
        }
        const char *m = (const char *)sqlite3_column_text(st, 4);
        v[*n] = (RefMask){sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
                          sqlite3_column_int(st, 2), xstrdup(db_col_text(st, 3)), m ? xstrdup(m) : NULL};
        (*n)++;
    }
    db_finalize(db, st);
    return v;
}

static void free_masks(RefMask *v, int n) {
    for (int i = 0; i < n; i++) {
        free(v[i].rle);
        free(v[i].masks);
    }
    free(v);
}

// Judges one ok experiment inside the caller's transaction (design.md section 4): agreement
// with the reference stage's experiment of the same model (same batch size preferred);
// flagged when mIoU is under 99 % of the reference's, or when the top-mask agreement is under
// the floor of the stage's precision (the run's agreement_floor). A stage that prunes its
// weights to 2:4 against a reference that ran unpruned is reported, not judged: pruning changes
// the model, and its reference is fp32 on the same pruned weights (design.md section 4).
static int experiment_pruned(sqlite3 *db, long long exp_id) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT coalesce(json_extract(stage_info, '$.choices.prune'), 'none') = '2:4'"
        " OR coalesce(checkpoint, '') LIKE '%+prune24%' FROM experiments WHERE id = ?1");
    db_bind_int(db, st, 1, exp_id);
    int pruned = SQL_ROW(db, st) && sqlite3_column_int(st, 0);
    db_finalize(db, st);
    return pruned;
}

static void gate_experiment(sqlite3 *db, long long exp_id) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT e.run_id, e.stage, e.model, e.batch_size, e.miou, r.reference_stage, r.plan_json,"
        " json_extract(e.stage_info, '$.choices.precision'), json_extract(e.stage_info, '$.choices.linear')"
        " FROM experiments e JOIN runs r ON r.id = e.run_id WHERE e.id = ?1");
    db_bind_int(db, st, 1, exp_id);
    CHECK(SQL_ROW(db, st));
    long long run_id = sqlite3_column_int64(st, 0);
    char stage[64], model[256], ref_stage[64], precision[64];
    snprintf(stage, sizeof stage, "%s", db_col_text(st, 1));
    snprintf(model, sizeof model, "%s", db_col_text(st, 2));
    int bs = sqlite3_column_int(st, 3);
    double miou = db_col_real(st, 4);
    snprintf(ref_stage, sizeof ref_stage, "%s", db_col_text(st, 5));
    snprintf(precision, sizeof precision, "%s", db_col_text(st, 7));
    char linear[64], floor_key[64];
    snprintf(linear, sizeof linear, "%s", db_col_text(st, 8));
    const char *key;
    double agree_floor = plan_json_stage_floor(db_col_text(st, 6), precision, linear, &key);
    snprintf(floor_key, sizeof floor_key, "%s", key ? key : "");
    db_finalize(db, st);

    st = db_prepare(db,
        "SELECT id, miou FROM experiments WHERE run_id = ?1 AND stage = ?2 AND model = ?3"
        " AND status = 'ok' ORDER BY (batch_size = ?4) DESC, batch_size LIMIT 1");
    db_bind_int(db, st, 1, run_id);
    db_bind_text(db, st, 2, ref_stage);
    db_bind_text(db, st, 3, model);
    db_bind_int(db, st, 4, bs);
    long long ref_id = -1;
    double ref_miou = NAN;
    if (SQL_ROW(db, st)) {
        ref_id = sqlite3_column_int64(st, 0);
        ref_miou = db_col_real(st, 1);
    }
    db_finalize(db, st);

    double agreement = NAN, same = NAN;
    const char *gate = NULL;
    char reason[512] = "";
    if (ref_id < 0) {
        snprintf(reason, sizeof reason, "not judged: no successful %s experiment for %s", ref_stage, model);
    } else if (ref_id == exp_id) {
        // The reference agrees 1 with itself, same-index too where it kept its multimask outputs.
        st = db_prepare(db, "UPDATE annotations SET agreement = 1, same_index = CASE WHEN masks IS NULL"
                            " THEN NULL ELSE 1 END WHERE experiment_id = ?1");
        db_bind_int(db, st, 1, exp_id);
        SQL_DONE(db, sqlite3_step(st));
        db_finalize(db, st);
        st = db_prepare(db, "SELECT count(*), count(masks) FROM annotations WHERE experiment_id = ?1");
        db_bind_int(db, st, 1, exp_id);
        CHECK(SQL_ROW(db, st));
        int n = sqlite3_column_int(st, 0);
        if (n > 0) agreement = 1;
        if (n > 0 && sqlite3_column_int(st, 1) == n) same = 1;
        db_finalize(db, st);
        gate = "ok";
        snprintf(reason, sizeof reason, "reference");
    } else {
        int na, nr;
        RefMask *mine = load_masks(db, exp_id, &na), *ref = load_masks(db, ref_id, &nr);
        // The pairs with the reference's annotation of the same id and size, measured on every
        // core (agreement.h); summed below in annotation order.
        AgreePair *pairs = xcalloc((size_t)na + 1, sizeof(AgreePair));
        int *pair_of = xmalloc(sizeof(int) * ((size_t)na + 1));  // mine[i]'s pair, -1: none, -2: sizes differ
        int n_pairs = 0;
        for (int i = 0; i < na; i++) {
            RefMask *r = bsearch(&mine[i], ref, (size_t)nr, sizeof(RefMask), cmp_ref);
            pair_of[i] = !r ? -1 : r->h != mine[i].h || r->w != mine[i].w ? -2 : n_pairs;
            if (pair_of[i] >= 0)
                pairs[n_pairs++] = (AgreePair){.rle_a = mine[i].rle, .rle_b = r->rle, .masks_a = mine[i].masks,
                                               .masks_b = r->masks, .h = (uint32_t)r->h, .w = (uint32_t)r->w};
        }
        agree_pairs(pairs, n_pairs);
        sqlite3_stmt *up = db_prepare(db,
            "UPDATE annotations SET agreement = ?1, same_index = ?2 WHERE experiment_id = ?3 AND ann_id = ?4");
        double sum = 0, same_sum = 0;
        int matched = 0, bad = 0, same_n = 0;
        for (int i = 0; i < na; i++) {
            if (pair_of[i] == -1) continue;
            double a = pair_of[i] >= 0 ? pairs[pair_of[i]].top : -1;
            double si = pair_of[i] >= 0 ? pairs[pair_of[i]].same : -1;
            if (a < 0 || si < 0) {
                bad++;
                continue;
            }
            sum += a;
            matched++;
            if (!isnan(si)) {
                same_sum += si;
                same_n++;
            }
            SQL_OK(db, sqlite3_reset(up));
            db_bind_double(db, up, 1, a);
            db_bind_real_or_null(db, up, 2, si);
            db_bind_int(db, up, 3, exp_id);
            db_bind_int(db, up, 4, mine[i].ann_id);
            SQL_DONE(db, sqlite3_step(up));
        }
        db_finalize(db, up);
        if (matched > 0) agreement = sum / matched;
        // Same-index agreement only where every matched annotation had its masks.
        if (same_n > 0 && same_n == matched) same = same_sum / same_n;
        char extra[160] = "";
        if (matched != na || matched != nr || bad)
            snprintf(extra, sizeof extra, " (%d of %d annotations matched the reference's %d, %d unreadable)",
                     matched, na, nr, bad);
        int pruned_vs_dense = experiment_pruned(db, exp_id) && !experiment_pruned(db, ref_id);
        int low_miou = !isnan(ref_miou) && (isnan(miou) || miou < GATE_FRACTION * ref_miou);
        int low_agree = !isnan(agree_floor) && (isnan(agreement) || agreement < agree_floor);
        Str why;
        str_init(&why);
        if (low_agree)
            str_addf(&why, "agreement %.4f with %s under the %s floor %g", agreement, ref_stage, floor_key, agree_floor);
        if (low_miou)
            str_addf(&why, "%smIoU %.4f under %.0f%% of %s's %.4f", why.len ? "; " : "", miou,
                     GATE_FRACTION * 100, ref_stage, ref_miou);
        if (pruned_vs_dense) {
            snprintf(reason, sizeof reason, "not judged: 2:4-pruned weights against the unpruned %s "
                     "(pruning changes the model; its reference is %s on the same weights +prune24)%s",
                     ref_stage, ref_stage, extra);
        } else if (low_agree || low_miou) {
            gate = "flagged";
            snprintf(reason, sizeof reason, "%s%s", why.s, extra);
        } else if (isnan(agree_floor)) {
            // No floor for this precision: the agreement is shown but not judged, and the
            // report says so rather than passing it silently.
            snprintf(reason, sizeof reason, "not judged: no agreement floor for precision '%s' in the "
                     "experiment's agreement_floor%s", precision[0] ? precision : "(none)", extra);
        } else {
            gate = "ok";
            snprintf(reason, sizeof reason, "agreement >= %s floor %g, mIoU within %.0f%% of %s%s", floor_key,
                     agree_floor, GATE_FRACTION * 100, ref_stage, extra);
        }
        str_free(&why);
        free(pairs);
        free(pair_of);
        free_masks(mine, na);
        free_masks(ref, nr);
    }
    st = db_prepare(db,
        "UPDATE experiments SET agreement = ?1, ref_experiment_id = ?2, gate = ?3, gate_reason = ?4,"
        " same_index_agreement = ?5, agreement_floor = ?6 WHERE id = ?7");
    db_bind_real_or_null(db, st, 1, agreement);
    if (ref_id >= 0) db_bind_int(db, st, 2, ref_id);
    else db_bind_null(db, st, 2);
    db_bind_text(db, st, 3, gate);
    db_bind_text(db, st, 4, reason);
    db_bind_real_or_null(db, st, 5, same);
    db_bind_real_or_null(db, st, 6, ref_id == exp_id ? NAN : agree_floor);
    db_bind_int(db, st, 7, exp_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
}

void store_experiment_result(sqlite3 *db, long long exp_id, const ExpResult *r, const RunOutcome *o) {
    char now[32];
    now_iso(now, sizeof now);
    // Timing figures are recomputed here from the per-batch samples (the stored samples are
    // the source of truth; the stage's own summary only had to agree with them).
    double *ms = xmalloc(sizeof(double) * (size_t)(r->n_samples + 1));
    for (int i = 0; i < r->n_samples; i++) ms[i] = r->samples[i].ms;
    Summary s = stats_summary(ms, r->n_samples);
    free(ms);

    db_begin(db);
    sqlite3_stmt *st = db_prepare(db,
        "UPDATE experiments SET status = ?1, reason = ?2, ended_at = ?3, wall_s = ?4,"
        " images_timed = ?5, batches_timed = ?6, total_ms = ?7, img_s = ?8, batch_ms_median = ?9,"
        " batch_ms_min = ?10, batch_ms_max = ?11, batch_ms_noise = ?12, peak_bytes = ?13,"
        " first_mask_ms = ?14, miou = ?15, annotations = ?16, images_skipped = ?17,"
        " device_name = ?18, device_json = ?19, model_json = ?20, summary_json = ?21,"
        " stderr_tail = ?22, cpu_s = ?24, other_load = ?25, passes = ?26, stage_info = ?27,"
        " launches_per_batch = ?28, kernels_per_batch = ?29 WHERE id = ?23");
    db_bind_text(db, st, 1, o->ok ? "ok" : "failed");
    db_bind_text(db, st, 2, o->ok ? NULL : o->reason);
    db_bind_text(db, st, 3, now);
    db_bind_double(db, st, 4, o->wall_s);
    int have = r->have_summary;
    if (have) {
        db_bind_int(db, st, 5, r->images_timed);
        db_bind_int(db, st, 6, r->batches_timed);
        db_bind_double(db, st, 7, r->total_ms);
        db_bind_double(db, st, 8, r->img_s);
        db_bind_int(db, st, 13, r->peak_bytes);
        db_bind_double(db, st, 14, r->first_mask_ms);
        db_bind_real_or_null(db, st, 15, r->miou);
        db_bind_int(db, st, 16, r->annotations);
        db_bind_int(db, st, 17, r->images_skipped);
    } else {
        for (int i = 5; i <= 8; i++) db_bind_null(db, st, i);
        for (int i = 13; i <= 17; i++) db_bind_null(db, st, i);
    }
    db_bind_real_or_null(db, st, 9, s.median);
    db_bind_real_or_null(db, st, 10, s.min);
    db_bind_real_or_null(db, st, 11, s.max);
    db_bind_real_or_null(db, st, 12, s.noise);
    db_bind_text(db, st, 18, r->device_name);
    db_bind_text(db, st, 19, r->device_json);
    db_bind_text(db, st, 20, r->model_json);
    db_bind_text(db, st, 21, r->summary_json);
    db_bind_text(db, st, 22, o->stderr_tail);
    db_bind_int(db, st, 23, exp_id);
    db_bind_double(db, st, 24, o->cpu_s);
    db_bind_real_or_null(db, st, 25, o->other_load);
    if (have) db_bind_int(db, st, 26, r->passes);
    else db_bind_null(db, st, 26);
    db_bind_text(db, st, 27, r->stage_info_json);
    db_bind_real_or_null(db, st, 28, r->launches_per_batch);
    db_bind_real_or_null(db, st, 29, r->kernels_per_batch);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);

    // A rerun (resume) replaces whatever an earlier attempt left.
    st = db_prepare(db, "DELETE FROM samples WHERE experiment_id = ?1");
    db_bind_int(db, st, 1, exp_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    st = db_prepare(db, "DELETE FROM annotations WHERE experiment_id = ?1");
    db_bind_int(db, st, 1, exp_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);

    // Samples are kept for failed experiments too: they show how far a crashed stage got.
    st = db_prepare(db, "INSERT INTO samples (experiment_id, batch_index, images, ms, pass) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (int i = 0; i < r->n_samples; i++) {
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, exp_id);
        db_bind_int(db, st, 2, r->samples[i].index);
        db_bind_int(db, st, 3, r->samples[i].images);
        db_bind_double(db, st, 4, r->samples[i].ms);
        db_bind_int(db, st, 5, r->samples[i].pass);
        SQL_DONE(db, sqlite3_step(st));
    }
    db_finalize(db, st);
    if (o->ok) {
        st = db_prepare(db,
            "INSERT INTO annotations (experiment_id, ann_id, image_id, category_id, iou, score,"
            " height, width, rle, masks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        for (int i = 0; i < r->n_anns; i++) {
            const AnnMask *a = &r->anns[i];
            SQL_OK(db, sqlite3_reset(st));
            db_bind_int(db, st, 1, exp_id);
            db_bind_int(db, st, 2, a->ann_id);
            db_bind_int(db, st, 3, a->image_id);
            if (a->category_id >= 0) db_bind_int(db, st, 4, a->category_id);
            else db_bind_null(db, st, 4);
            db_bind_real_or_null(db, st, 5, a->iou);
            db_bind_real_or_null(db, st, 6, a->score);
            db_bind_int(db, st, 7, a->height);
            db_bind_int(db, st, 8, a->width);
            db_bind_text(db, st, 9, a->rle);
            db_bind_text(db, st, 10, a->masks_json);
            SQL_DONE(db, sqlite3_step(st));
        }
        db_finalize(db, st);
        gate_experiment(db, exp_id);
    }
    db_commit(db);
}

int store_close_run(sqlite3 *db, long long run_id, const char *reason) {
    char why[1200];
    snprintf(why, sizeof why, NOT_RUN_PREFIX "%s", reason);
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db, "UPDATE experiments SET status = 'failed', reason = ?1"
                                      " WHERE run_id = ?2 AND status IN ('pending', 'running')");
    db_bind_text(db, st, 1, why);
    db_bind_int(db, st, 2, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    int n = sqlite3_changes(db);
    db_commit(db);
    return n;
}

void store_finish_run(sqlite3 *db, long long run_id) {
    char now[32];
    now_iso(now, sizeof now);
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db,
        "SELECT id FROM experiments WHERE run_id = ?1 AND status = 'ok' AND ref_experiment_id IS NULL ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    long long ids[4096];
    int n = 0;
    while (SQL_ROW(db, st) && n < 4096) ids[n++] = sqlite3_column_int64(st, 0);
    db_finalize(db, st);
    for (int i = 0; i < n; i++) gate_experiment(db, ids[i]);
    // Every experiment is judged: the multimask outputs served the same-index agreement and
    // are dropped (the top mask stays); storage stays as lean as before them.
    st = db_prepare(db, "UPDATE annotations SET masks = NULL WHERE masks IS NOT NULL AND experiment_id IN"
                        " (SELECT id FROM experiments WHERE run_id = ?1)");
    db_bind_int(db, st, 1, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    st = db_prepare(db, "UPDATE runs SET status = 'complete', ended_at = ?1 WHERE id = ?2");
    db_bind_text(db, st, 1, now);
    db_bind_int(db, st, 2, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    db_commit(db);
}

int store_owner_alive(sqlite3 *db, long long run_id) {
    sqlite3_stmt *st = db_prepare(db, "SELECT host, pid, pid_start FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    int alive = 0;
    if (SQL_ROW(db, st)) {
        char host[256];
        host_name(host, sizeof host);
        if (strcmp(host, db_col_text(st, 0)) != 0) alive = -1;
        else {
            int pid = sqlite3_column_int(st, 1);
            unsigned long long start = (unsigned long long)sqlite3_column_int64(st, 2);
            // Same pid and same start time: the very process, not a later one reusing the pid.
            alive = pid > 0 && proc_start_ticks(pid) == start && start != 0;
        }
    }
    db_finalize(db, st);
    return alive;
}

const char *store_run_state(sqlite3 *db, long long run_id) {
    sqlite3_stmt *st = db_prepare(db, "SELECT status FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    int complete = SQL_ROW(db, st) && strcmp(db_col_text(st, 0), "complete") == 0;
    db_finalize(db, st);
    if (complete) return "complete";
    int alive = store_owner_alive(db, run_id);
    return alive == 1 ? "running" : alive == 0 ? "incomplete" : "running elsewhere";
}

void store_claim_run(sqlite3 *db, long long run_id, int force) {
    db_begin(db);
    // Checked under the write lock, so two resuming harnesses cannot both take the run.
    const char *state = store_run_state(db, run_id);
    if (strcmp(state, "incomplete") != 0 && !(force && strcmp(state, "running elsewhere") == 0)) {
        db_exec(db, "ROLLBACK");
        die("run %lld is %s: only an incomplete run can be resumed%s", run_id, state,
            strcmp(state, "running elsewhere") == 0 ? " (use --force if that host's harness is gone)" : "");
    }
    char host[256];
    host_name(host, sizeof host);
    sqlite3_stmt *st = db_prepare(db, "UPDATE runs SET host = ?1, pid = ?2, pid_start = ?3 WHERE id = ?4");
    db_bind_text(db, st, 1, host);
    db_bind_int(db, st, 2, getpid());
    db_bind_int(db, st, 3, (long long)proc_start_ticks(getpid()));
    db_bind_int(db, st, 4, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    st = db_prepare(db, "UPDATE experiments SET status = 'pending' WHERE run_id = ?1 AND status = 'running'");
    db_bind_int(db, st, 1, run_id);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    db_commit(db);
}

void store_checkpoint_hash(sqlite3 *db, const char *spec, char out[72]) {
    if (strncmp(spec, "synthetic:", 10) == 0) {
        Sha256 c;
        char hex[65];
        sha256_init(&c);
        sha256_update(&c, spec, strlen(spec));
        sha256_hex(&c, hex);
        snprintf(out, 72, "spec:%s", hex);
        return;
    }
    // The file's hash (cached by path, size and mtime), then its weights options ("+prune24":
    // other weights from the same file) hashed with it.
    size_t flen = weights_spec_source_len(spec);
    if (flen < strlen(spec)) {
        char *file = spec_file(spec), hex[65];
        store_checkpoint_hash(db, file, out);
        free(file);
        Sha256 c;
        sha256_init(&c);
        sha256_update(&c, out, strlen(out));
        sha256_update(&c, spec + flen, strlen(spec + flen));
        sha256_hex(&c, hex);
        snprintf(out, 72, "%s", hex);
        return;
    }
    struct stat sb;
    if (stat(spec, &sb) != 0) die("checkpoint %s: %s", spec, strerror(errno));
    long long mtime = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    sqlite3_stmt *st = db_prepare(db, "SELECT sha256 FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3");
    db_bind_text(db, st, 1, spec);
    db_bind_int(db, st, 2, (long long)sb.st_size);
    db_bind_int(db, st, 3, mtime);
    int hit = SQL_ROW(db, st);
    if (hit) snprintf(out, 72, "%s", db_col_text(st, 0));
    db_finalize(db, st);
    if (hit) return;
    char hex[65];
    if (sha256_file(spec, hex) != 0) die("checkpoint %s: %s", spec, strerror(errno));
    snprintf(out, 72, "%s", hex);
    db_begin(db);
    st = db_prepare(db, "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)");
    db_bind_text(db, st, 1, spec);
    db_bind_int(db, st, 2, (long long)sb.st_size);
    db_bind_int(db, st, 3, mtime);
    db_bind_text(db, st, 4, hex);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    db_commit(db);
}

int store_experiment_agreement(sqlite3 *db, long long exp_id, double *agreement, double *same_index) {
    sqlite3_stmt *st = db_prepare(db, "SELECT agreement, same_index_agreement FROM experiments WHERE id = ?1");
    db_bind_int(db, st, 1, exp_id);
    int have = SQL_ROW(db, st) && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (have) {
        *agreement = sqlite3_column_double(st, 0);
        *same_index = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
    }
    db_finalize(db, st);
    return have;
}
