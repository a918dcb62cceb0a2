// waterfall list / show, and the summary table printed after every run.
#include <math.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "store.h"
#include "util.h"

long long parse_run_id(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v <= 0) die("'%s' is not a run id (see waterfall list)", s);
    return v;
}

long long report_latest_complete(sqlite3 *db, int or_published) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT id FROM runs WHERE status = 'complete' AND (published = 0 OR ?1)"
        " ORDER BY published, id DESC LIMIT 1");
    db_bind_int(db, st, 1, or_published);
    long long id = SQL_ROW(db, st) ? sqlite3_column_int64(st, 0) : 0;
    db_finalize(db, st);
    return id;
}

void require_complete(sqlite3 *db, long long run_id, const char *what) {
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    int exists = SQL_ROW(db, st) && sqlite3_column_int(st, 0) > 0;
    db_finalize(db, st);
    if (!exists) die("no run %lld (see waterfall list)", run_id);
    const char *state = store_run_state(db, run_id);
    // An incomplete run has a partial set of experiments: plotting or comparing it would
    // show a waterfall that was never measured.
    if (strcmp(state, "complete") != 0)
        die("run %lld is %s: it cannot be %s (waterfall run --resume %lld finishes it)", run_id,
            state, what, run_id);
}

typedef struct {
    long long id;
    int seq, wf, batch_size;
    char stage[64], model[256], status[16], reason[1024], gate[16], gate_reason[512];
    double img_s, med, noise, peak, first_ms, miou, agree, busy, same, passes, batches;
} Row;

static int cmp_row(const void *a, const void *b) {
    const Row *x = a, *y = b;
    if (x->wf != y->wf) return x->wf - y->wf;
    if (strcmp(x->stage, y->stage)) return strcmp(x->stage, y->stage);
    return x->seq - y->seq;
}

static Row *load_rows(sqlite3 *db, long long run_id, int *n) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT id, seq, stage, model, batch_size, status, reason, img_s, batch_ms_median,"
        " batch_ms_noise, peak_bytes, first_mask_ms, miou, agreement, gate, gate_reason, other_load,"
        " same_index_agreement, passes, batches_timed"
        " FROM experiments WHERE run_id = ?1 ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    Row *v = NULL;
    *n = 0;
    while (SQL_ROW(db, st)) {
        v = xrealloc(v, sizeof(Row) * (size_t)(*n + 1));
        Row *r = &v[(*n)++];
        r->id = sqlite3_column_int64(st, 0);
        r->seq = sqlite3_column_int(st, 1);
        snprintf(r->stage, sizeof r->stage, "%s", db_col_text(st, 2));
        snprintf(r->model, sizeof r->model, "%s", db_col_text(st, 3));
        r->batch_size = sqlite3_column_int(st, 4);
        snprintf(r->status, sizeof r->status, "%s", db_col_text(st, 5));
        snprintf(r->reason, sizeof r->reason, "%s", db_col_text(st, 6));
        r->img_s = db_col_real(st, 7);
        r->med = db_col_real(st, 8);
        r->noise = db_col_real(st, 9);
        r->peak = db_col_real(st, 10);
        r->first_ms = db_col_real(st, 11);
        r->miou = db_col_real(st, 12);
        r->agree = db_col_real(st, 13);
        snprintf(r->gate, sizeof r->gate, "%s", db_col_text(st, 14));
        snprintf(r->gate_reason, sizeof r->gate_reason, "%s", db_col_text(st, 15));
        r->busy = db_col_real(st, 16);
        r->same = db_col_real(st, 17);
        r->passes = db_col_real(st, 18);
        r->batches = db_col_real(st, 19);
        r->wf = waterfall_index(r->stage);
    }
    db_finalize(db, st);
    // Waterfall order for reading (the reference stage ran first, but reads in its place).
    for (int i = 1; i < *n; i++) {
        Row x = v[i];
        int j = i - 1;
        while (j >= 0 && cmp_row(&v[j], &x) > 0) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
    return v;
}

static void fmt(char *buf, size_t len, const char *f, double v) {
    if (isnan(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, f, v);
}

void run_stage_builds(sqlite3 *db, long long run_id, char *buf, size_t len) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT DISTINCT json_extract(stage_info, '$.build') FROM experiments WHERE run_id = ?1"
        " AND json_valid(stage_info) AND json_type(stage_info, '$.build') = 'text' ORDER BY 1");
    db_bind_int(db, st, 1, run_id);
    size_t o = 0;
    buf[0] = 0;
    while (SQL_ROW(db, st) && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", db_col_text(st, 0));
    db_finalize(db, st);
}

static void run_header(sqlite3 *db, long long run_id, FILE *f) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT name, started_at, ended_at, git_commit, git_dirty, host, device_name,"
        " reference_stage, dataset, dataset_hash, published, argv FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    if (!SQL_ROW(db, st)) die("no run %lld (see waterfall list)", run_id);
    const char *commit = db_col_text(st, 3);
    if (sqlite3_column_int(st, 10)) {
        fprintf(f, "run %lld (%s): published results, imported %s\n", run_id, db_col_text(st, 0), db_col_text(st, 1));
        fprintf(f, "  device %s  dataset %s\n  (%s)\n", db_col_text(st, 6), db_col_text(st, 8), db_col_text(st, 11));
        db_finalize(db, st);
        return;
    }
    fprintf(f, "run %lld (%s): %s, started %s%s%s\n", run_id, db_col_text(st, 0),
            store_run_state(db, run_id), db_col_text(st, 1),
            sqlite3_column_type(st, 2) != SQLITE_NULL ? ", ended " : "", db_col_text(st, 2));
    char shown[64];
    snprintf(shown, sizeof shown, "%.12s", commit[0] ? commit : "none (not a git checkout)");
    if (!commit[0]) snprintf(shown, sizeof shown, "none (not a git checkout)");
    fprintf(f, "  commit %s%s  host %s  device %s\n", shown,
            sqlite3_column_type(st, 4) != SQLITE_NULL && sqlite3_column_int(st, 4) ? " (dirty)" : "",
            db_col_text(st, 5), db_col_text(st, 6)[0] ? db_col_text(st, 6) : "(no stage reported one)");
    char builds[512];
    run_stage_builds(db, run_id, builds, sizeof builds);
    if (builds[0]) fprintf(f, "  stages built from %s\n", builds);
    fprintf(f, "  dataset %s (sha256 %.12s)  reference stage %s\n", db_col_text(st, 8),
            db_col_text(st, 9), db_col_text(st, 7));
    db_finalize(db, st);
}

void report_gate_rule(sqlite3 *db, long long run_id, FILE *f) {
    sqlite3_stmt *st = db_prepare(db, "SELECT plan_json, reference_stage, published FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    if (SQL_ROW(db, st) && !sqlite3_column_int(st, 2)) {
        char floors[512];
        plan_json_floors_text(db_col_text(st, 0), floors, sizeof floors);
        fprintf(f, "accuracy gate of run %lld: flagged when mIoU is under 99%% of the reference stage's (%s), or\n"
                   "  top-mask agreement with it is under the floor of the stage's precision: %s\n",
                run_id, db_col_text(st, 1), floors);
    }
    db_finalize(db, st);
}

void report_summary(sqlite3 *db, long long run_id, FILE *f) {
    run_header(db, run_id, f);
    int n;
    Row *v = load_rows(db, run_id, &n);
    fprintf(f, "%-8s %-8s %4s %-7s %9s %12s %7s %6s %5s %9s %10s %7s %7s %7s  %s\n", "stage", "model", "bs",
            "status", "img/s", "batch ms med", "batches", "noise", "busy", "peak MiB", "1st mask s", "mIoU",
            "agree", "same-ix", "accuracy gate");
    int flagged = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        Row *r = &v[i];
        if (strcmp(r->status, "ok") != 0) {
            if (strcmp(r->status, "failed") == 0) failed++;
            fprintf(f, "%-8s %-8s %4d %-7s %s\n", r->stage, r->model, r->batch_size,
                    strcmp(r->status, "failed") == 0 ? "FAILED" : r->status, r->reason);
            continue;
        }
        char a[32], b[32], c[32], d[32], e[32], g[32], h[32], k[32], sx[32], nb[32];
        fmt(k, sizeof k, "%.0f%%", r->busy * 100);
        fmt(a, sizeof a, "%.4g", r->img_s);
        fmt(b, sizeof b, "%.1f", r->med);
        fmt(c, sizeof c, "%.1f%%", r->noise * 100);
        fmt(d, sizeof d, "%.0f", r->peak / 1048576.0);
        fmt(e, sizeof e, "%.2f", r->first_ms / 1000.0);
        fmt(g, sizeof g, "%.4f", r->miou);
        fmt(h, sizeof h, "%.4f", r->agree);
        fmt(sx, sizeof sx, "%.4f", r->same);
        // Timed batches and the passes they took ("32/8p").
        if (isnan(r->batches)) snprintf(nb, sizeof nb, "-");
        else if (isnan(r->passes)) snprintf(nb, sizeof nb, "%.0f", r->batches);
        else snprintf(nb, sizeof nb, "%.0f/%.0fp", r->batches, r->passes);
        const char *gate = strcmp(r->gate, "flagged") == 0 ? "FLAGGED: " : strcmp(r->gate, "ok") == 0 ? "ok: " : "";
        if (strcmp(r->gate, "flagged") == 0) flagged++;
        fprintf(f, "%-8s %-8s %4d %-7s %9s %12s %7s %6s %5s %9s %10s %7s %7s %7s  %s%s\n", r->stage, r->model,
                r->batch_size, "ok", a, b, nb, c, k, d, e, g, h, sx, gate, r->gate_reason);
    }
    fprintf(f, "%d experiments, %d failed, %d flagged by the accuracy gate (batches: timed batches / passes over\n"
               "the subset; busy: CPU share other processes used while the stage ran; agree: top-mask agreement\n"
               "with the reference stage; same-ix: the three masks against the reference's of the same index)\n",
            n, failed, flagged);
    report_gate_rule(db, run_id, f);
    free(v);
}

// ---- stages: what each adds --------------------------------------------------------------------
void stage_changes(sqlite3 *db, long long run_id, const char *stage_info, char *buf, size_t len) {
    buf[0] = 0;
    cJSON *me = stage_info && stage_info[0] ? cJSON_Parse(stage_info) : NULL;
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(me, "after");
    const cJSON *mine = cJSON_GetObjectItemCaseSensitive(me, "choices");
    if (!cJSON_IsString(after) || !cJSON_IsObject(mine)) {
        cJSON_Delete(me);
        return;
    }
    sqlite3_stmt *st = db_prepare(db,
        "SELECT stage_info FROM experiments WHERE run_id = ?1 AND stage = ?2 AND stage_info IS NOT NULL LIMIT 1");
    db_bind_int(db, st, 1, run_id);
    db_bind_text(db, st, 2, after->valuestring);
    cJSON *prev = SQL_ROW(db, st) ? cJSON_Parse(db_col_text(st, 0)) : NULL;
    db_finalize(db, st);
    const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(prev, "choices");
    if (cJSON_IsObject(theirs)) {
        Str s;
        str_init(&s);
        const cJSON *c;
        cJSON_ArrayForEach(c, mine) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(theirs, c->string);
            if (!cJSON_IsString(c)) continue;
            if (!cJSON_IsString(t) || strcmp(t->valuestring, c->valuestring) != 0)
                str_addf(&s, "%s%s=%s", s.len ? ", " : "", c->string, c->valuestring);
        }
        snprintf(buf, len, "%s", s.len ? s.s : "(no choice changed)");
        str_free(&s);
    }
    cJSON_Delete(prev);
    cJSON_Delete(me);
}

void report_stages(sqlite3 *db, long long run_id, FILE *f) {
    // One stage_info per stage (every experiment of a stage prints the same), waterfall order.
    sqlite3_stmt *st = db_prepare(db,
        "SELECT stage, stage_info FROM experiments WHERE run_id = ?1 AND stage_info IS NOT NULL"
        " GROUP BY stage ORDER BY min(seq)");
    db_bind_int(db, st, 1, run_id);
    typedef struct { char stage[64]; char *info; int wf; } S;
    S *v = NULL;
    int n = 0;
    while (SQL_ROW(db, st)) {
        v = xrealloc(v, sizeof(S) * (size_t)(n + 1));
        snprintf(v[n].stage, sizeof v[n].stage, "%s", db_col_text(st, 0));
        v[n].info = xstrdup(db_col_text(st, 1));
        v[n].wf = waterfall_index(v[n].stage);
        n++;
    }
    db_finalize(db, st);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1].wf > v[j].wf; j--) {
            S t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    if (n) fprintf(f, "\nstages (what each adds over the stage it builds on; choices changed):\n");
    for (int i = 0; i < n; i++) {
        cJSON *j = cJSON_Parse(v[i].info);
        const cJSON *after = cJSON_GetObjectItemCaseSensitive(j, "after");
        const cJSON *adds = cJSON_GetObjectItemCaseSensitive(j, "adds");
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
        char changes[1024];
        stage_changes(db, run_id, v[i].info, changes, sizeof changes);
        Str all;
        str_init(&all);
        const cJSON *c;
        cJSON_ArrayForEach(c, choices) {
            if (cJSON_IsString(c)) str_addf(&all, "%s%s=%s", all.len ? " " : "", c->string, c->valuestring);
        }
        fprintf(f, "  %-8s after %-8s %s\n", v[i].stage, cJSON_IsString(after) ? after->valuestring : "-",
                cJSON_IsString(adds) ? adds->valuestring : "");
        if (changes[0]) fprintf(f, "  %-8s changes  %s\n", "", changes);
        fprintf(f, "  %-8s choices  %s\n", "", all.s);
        str_free(&all);
        cJSON_Delete(j);
        free(v[i].info);
    }
    free(v);
}

// ---- list ---------------------------------------------------------------------------------
static void list_usage(FILE *f) {
    fprintf(f, "usage: waterfall list [--db FILE] [--all]\n"
               "Lists runs, newest first (the last 20 unless --all): id, state, name, start time,\n"
               "commit, device and experiment counts. State is complete, running, incomplete\n"
               "(its harness died: finish it with waterfall run --resume ID) or published (results\n"
               "imported from the seed's results.csv). Never creates the database.\n");
}

int cmd_list(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB;
    int all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            list_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--all")) all = 1;
        else die("list: unknown option '%s' (see waterfall list --help)", argv[i]);
    }
    sqlite3 *db = db_open_existing(db_path);
    sqlite3_stmt *st = db_prepare(db,
        "SELECT r.id, r.name, r.started_at, r.git_commit, r.git_dirty, r.device_name,"
        " (SELECT count(*) FROM experiments e WHERE e.run_id = r.id),"
        " (SELECT count(*) FROM experiments e WHERE e.run_id = r.id AND e.status = 'ok'),"
        " (SELECT count(*) FROM experiments e WHERE e.run_id = r.id AND e.status = 'failed'),"
        " (SELECT count(*) FROM experiments e WHERE e.run_id = r.id AND e.gate = 'flagged'), r.published"
        " FROM runs r ORDER BY r.id DESC LIMIT ?1");
    db_bind_int(db, st, 1, all ? -1 : 20);
    printf("%5s  %-17s %-14s %-20s %-13s %-32s %s\n", "run", "state", "name", "started", "commit",
           "device", "experiments");
    while (SQL_ROW(db, st)) {
        long long id = sqlite3_column_int64(st, 0);
        char commit[32];
        const char *c = db_col_text(st, 3);
        snprintf(commit, sizeof commit, "%.8s%s", c[0] ? c : "-",
                 sqlite3_column_int(st, 4) ? "+dirty" : "");
        printf("%5lld  %-17s %-14.14s %-20s %-13s %-32.32s %d ok, %d failed, %d flagged of %d\n", id,
               sqlite3_column_int(st, 10) ? "published" : store_run_state(db, id), db_col_text(st, 1), db_col_text(st, 2), commit,
               db_col_text(st, 5), sqlite3_column_int(st, 7), sqlite3_column_int(st, 8),
               sqlite3_column_int(st, 9), sqlite3_column_int(st, 6));
    }
    db_finalize(db, st);
    db_close(db);
    return 0;
}

// ---- show ---------------------------------------------------------------------------------
static void show_usage(FILE *f) {
    fprintf(f, "usage: waterfall show [RUN] [--db FILE] [--categories]\n"
               "Shows one run (default: the latest): where and on what it ran, the summary table\n"
               "with the accuracy gate and its agreement floors, what each stage adds (its choices),\n"
               "kernel launches per batch where the stage counts them, why failed experiments failed\n"
               "(with the end of their stderr), and with --categories the mIoU and agreements per\n"
               "category of every experiment. Never creates the database.\n");
}

int cmd_show(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB;
    long long run_id = 0;
    int cats = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            show_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--categories")) cats = 1;
        else if (argv[i][0] != '-' && !run_id) run_id = parse_run_id(argv[i]);
        else die("show: unknown option '%s' (see waterfall show --help)", argv[i]);
    }
    sqlite3 *db = db_open_existing(db_path);
    if (!run_id) {
        sqlite3_stmt *st = db_prepare(db, "SELECT max(id) FROM runs");
        if (SQL_ROW(db, st)) run_id = sqlite3_column_int64(st, 0);
        db_finalize(db, st);
        if (!run_id) die("%s holds no run yet (waterfall run)", db_path);
    }
    report_summary(db, run_id, stdout);
    sqlite3_stmt *st = db_prepare(db, "SELECT argv FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    if (SQL_ROW(db, st)) printf("command: %s\n", db_col_text(st, 0));
    db_finalize(db, st);
    report_stages(db, run_id, stdout);
    st = db_prepare(db,
        "SELECT stage, model, batch_size, launches_per_batch, kernels_per_batch FROM experiments"
        " WHERE run_id = ?1 AND (launches_per_batch IS NOT NULL OR kernels_per_batch IS NOT NULL) ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    int header = 0;
    while (SQL_ROW(db, st)) {
        if (!header++) printf("\nper timed batch (the stage's own counts): kernel launches (a graph replay is one), kernels run\n");
        char l[32], k[32];
        fmt(l, sizeof l, "%.0f", db_col_real(st, 3));
        fmt(k, sizeof k, "%.0f", db_col_real(st, 4));
        printf("  %-8s %-8s bs=%-4d launches %-8s kernels %s\n", db_col_text(st, 0), db_col_text(st, 1),
               sqlite3_column_int(st, 2), l, k);
    }
    db_finalize(db, st);

    st = db_prepare(db,
        "SELECT stage, model, batch_size, reason, stderr_tail FROM experiments"
        " WHERE run_id = ?1 AND status = 'failed' ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    while (SQL_ROW(db, st)) {
        printf("\nfailed: %s %s bs=%d: %s\n", db_col_text(st, 0), db_col_text(st, 1),
               sqlite3_column_int(st, 2), db_col_text(st, 3));
        const char *tail = db_col_text(st, 4);
        if (tail[0]) {
            printf("  stderr (end):\n");
            // Indent each line of the tail.
            const char *p = tail;
            while (*p) {
                const char *nl = strchr(p, '\n');
                int len = nl ? (int)(nl - p) : (int)strlen(p);
                printf("    %.*s\n", len, p);
                p += len + (nl ? 1 : 0);
            }
        }
    }
    db_finalize(db, st);
    if (cats) {
        st = db_prepare(db,
            "SELECT e.stage, e.model, e.batch_size, a.category_id, count(*), avg(a.iou), avg(a.agreement),"
            " avg(a.same_index)"
            " FROM annotations a JOIN experiments e ON e.id = a.experiment_id"
            " WHERE e.run_id = ?1 GROUP BY e.id, a.category_id ORDER BY e.seq, a.category_id");
        db_bind_int(db, st, 1, run_id);
        printf("\n%-8s %-8s %4s %9s %6s %7s %7s %7s\n", "stage", "model", "bs", "category", "anns", "mIoU",
               "agree", "same-ix");
        while (SQL_ROW(db, st)) {
            char m[32], a[32], x[32];
            fmt(m, sizeof m, "%.4f", db_col_real(st, 5));
            fmt(a, sizeof a, "%.4f", db_col_real(st, 6));
            fmt(x, sizeof x, "%.4f", db_col_real(st, 7));
            printf("%-8s %-8s %4d %9lld %6d %7s %7s %7s\n", db_col_text(st, 0), db_col_text(st, 1),
                   sqlite3_column_int(st, 2), (long long)sqlite3_column_int64(st, 3),
                   sqlite3_column_int(st, 4), m, a, x);
        }
        db_finalize(db, st);
    }
    db_close(db);
    return 0;
}
