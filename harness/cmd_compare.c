// waterfall compare: is run B faster, slower or the same as run A, experiment by experiment?
// The rule (harness/README.md "compare"): per experiment, per-image batch times of each run;
// ratio of times B/A (paired by batch when both runs timed the same batches) with a 95 %
// percentile-bootstrap interval and a Wilcoxon signed-rank or Mann-Whitney U test;
// a verdict only beyond a minimum effect (default 5 %).
#include <math.h>
#include <string.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "stats.h"
#include "store.h"
#include "util.h"

#define BOOTSTRAP_REPS 4000
#define MIN_BATCHES 5
// The floor on the minimum effect for stages that ran on a CPU: between-process variation on a CPU (memory
// placement, frequency) is invisible in one process's per-batch samples; measured up to 14 %
// between two runs of one build on an idle CI machine, so 5 % would raise false alarms.
#define CPU_MIN_EFFECT 0.25
// Timings taken while other processes used more than this share of the machine's CPU time
// are not judged: no statistic on two runs can tell a slower build from a busier machine.
#define DEFAULT_MAX_LOAD 0.10

static void usage(FILE *f) {
    fprintf(f,
        "usage: waterfall compare [RUN_A] [RUN_B] [--db FILE] [--min-effect F] [--confidence C]\n"
        "                         [--max-load L]\n"
        "Compares experiments of two complete runs. An experiment is matched by what makes it\n"
        "comparable: stage, model, batch size, checkpoint (SHA-256), dataset (SHA-256) and device,\n"
        "whatever else the runs hold (a stage added or dropped between them does not matter).\n"
        "Default: every experiment of the latest complete run (B) against the same experiment in\n"
        "the latest earlier complete run that has it (A, per experiment); with one RUN, that run\n"
        "(A) against the latest complete run (B); with two, A against B.\n"
        "Verdict per experiment, from the per-batch samples (milliseconds per image):\n"
        "  r = B's time over A's: exp(median(log(b_i/a_i))) over paired batches when both timed\n"
        "  the same batches (same images per batch and per pass), else median(B) / median(A);\n"
        "  [lo, hi] its percentile-bootstrap interval at confidence C (default 0.95; %d\n"
        "  resamples, fixed seed); p the two-sided Wilcoxon signed-rank (paired) or Mann-Whitney U\n"
        "  (unpaired) p-value;\n"
        "  SLOWER if lo > 1 + F and p < 1 - C; FASTER if hi < 1 / (1 + F) and p < 1 - C;\n"
        "  SAME if [lo, hi] lies within [1 / (1 + F), 1 + F]; UNCLEAR otherwise or with fewer\n"
        "  than %d timed batches on a side, or when other processes used more than L (default\n"
        "  0.10) of the machine's CPU time while either stage ran (the 'busy' column of show).\n"
        "  F (--min-effect) defaults to 0.05; for stages run on a CPU it is at least %.2f, as two\n"
        "  processes of one build differ there by more than their batches vary (measured 1.14,\n"
        "  CI [1.10, 1.20], on an idle 2-core CI machine) and one process's samples cannot show it.\n"
        "Accuracy: mIoU, top-mask and same-index agreement deltas, and the accuracy gate of B.\n"
        "Two runs on different devices (RUN_A and RUN_B given, as a published run beside ours) get\n"
        "a table of img/s, memory and mIoU ratios by stage, model and batch size: never a verdict.\n"
        "Exit status 1 on a regression: an experiment SLOWER, newly flagged by the accuracy gate,\n"
        "or failed in B but ok in A (not one B never ran: a run closed with run --close); 0\n"
        "otherwise. Never creates the database.\n", BOOTSTRAP_REPS, MIN_BATCHES,
        CPU_MIN_EFFECT);
}

// Milliseconds per image of every timed batch; images per batch in *images and the batches of
// pass 0 in *per_pass (for pairing).
static double *load_samples(sqlite3 *db, long long exp_id, int *n, int **images, int *per_pass) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT ms, images, pass FROM samples WHERE experiment_id = ?1 ORDER BY batch_index");
    db_bind_int(db, st, 1, exp_id);
    double *v = NULL;
    *images = NULL;
    *n = 0;
    *per_pass = 0;
    while (SQL_ROW(db, st)) {
        v = xrealloc(v, sizeof(double) * (size_t)(*n + 1));
        *images = xrealloc(*images, sizeof(int) * (size_t)(*n + 1));
        (*images)[*n] = sqlite3_column_int(st, 1);
        if (sqlite3_column_int(st, 2) == 0) (*per_pass)++;
        v[(*n)++] = sqlite3_column_double(st, 0) / sqlite3_column_int(st, 1);
    }
    db_finalize(db, st);
    return v;
}

static void run_device(sqlite3 *db, long long id, char *device, size_t len, int *published) {
    sqlite3_stmt *st = db_prepare(db, "SELECT device_name, published FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, id);
    CHECK(SQL_ROW(db, st));
    snprintf(device, len, "%s", db_col_text(st, 0));
    *published = sqlite3_column_int(st, 1);
    db_finalize(db, st);
}

typedef struct {
    char line[1200];
    int wf, seq;
} Line;

static void sort_lines(Line *lines, int n) {
    for (int i = 1; i < n; i++) {
        Line x = lines[i];
        int j = i - 1;
        while (j >= 0 && (lines[j].wf > x.wf || (lines[j].wf == x.wf && lines[j].seq > x.seq))) {
            lines[j + 1] = lines[j];
            j--;
        }
        lines[j + 1] = x;
    }
}

static void fmt_num(char *buf, size_t len, const char *f, double v) {
    if (isnan(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, f, v);
}

// Runs on different devices: ratios only (design.md section 7 sets the seed's A100 figures
// beside ours this way). Matched by stage, model and batch size.
static int ratio_table(sqlite3 *db, long long a, long long b, const char *dev_a, const char *dev_b) {
    printf("compare run %lld (A, %s) -> run %lld (B, %s): different devices, so ratios only, no verdict\n",
           a, dev_a, b, dev_b);
    printf("%-8s %-8s %4s %9s %9s %9s %9s %9s %9s %8s %8s  %s\n", "stage", "model", "bs", "A img/s", "B img/s",
           "B/A img/s", "A MiB", "B MiB", "B/A MiB", "A mIoU", "B mIoU", "weights");
    sqlite3_stmt *st = db_prepare(db,
        "SELECT eb.stage, eb.model, eb.batch_size, ea.img_s, eb.img_s, ea.peak_bytes, eb.peak_bytes, ea.miou,"
        " eb.miou, ea.checkpoint_hash IS eb.checkpoint_hash, ea.status, eb.status, eb.seq"
        " FROM experiments eb JOIN experiments ea ON ea.run_id = ?1 AND ea.stage = eb.stage"
        " AND ea.model = eb.model AND ea.batch_size = eb.batch_size WHERE eb.run_id = ?2 ORDER BY eb.seq");
    db_bind_int(db, st, 1, a);
    db_bind_int(db, st, 2, b);
    Line *lines = NULL;
    int n = 0;
    while (SQL_ROW(db, st)) {
        lines = xrealloc(lines, sizeof(Line) * (size_t)(n + 1));
        Line *L = &lines[n];
        L->wf = waterfall_index(db_col_text(st, 0));
        L->seq = n++;
        int ok = !strcmp(db_col_text(st, 10), "ok") && !strcmp(db_col_text(st, 11), "ok");
        double ia = ok ? db_col_real(st, 3) : NAN, ib = ok ? db_col_real(st, 4) : NAN;
        double ma = ok ? db_col_real(st, 5) / 1048576.0 : NAN, mb = ok ? db_col_real(st, 6) / 1048576.0 : NAN;
        char c[9][32];
        fmt_num(c[0], 32, "%.4g", ia);
        fmt_num(c[1], 32, "%.4g", ib);
        fmt_num(c[2], 32, "%.3f", ib / ia);
        fmt_num(c[3], 32, "%.0f", ma);
        fmt_num(c[4], 32, "%.0f", mb);
        fmt_num(c[5], 32, "%.3f", mb / ma);
        fmt_num(c[6], 32, "%.4f", ok ? db_col_real(st, 7) : NAN);
        fmt_num(c[7], 32, "%.4f", ok ? db_col_real(st, 8) : NAN);
        snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %9s %9s %9s %9s %9s %9s %8s %8s  %s%s\n", db_col_text(st, 0),
                 db_col_text(st, 1), sqlite3_column_int(st, 2), c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                 sqlite3_column_int(st, 9) ? "same" : "differ",
                 ok ? "" : " (failed in A or B)");
    }
    db_finalize(db, st);
    sort_lines(lines, n);
    for (int i = 0; i < n; i++) fputs(lines[i].line, stdout);
    free(lines);
    printf("%d matched by stage, model and batch size; different devices are not judged (mIoU means\n"
           "something only with real weights: 'weights differ' marks rows where they are not the same)\n", n);
    return 0;
}

int cmd_compare(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB;
    long long ids[2] = {0, 0};
    int n_ids = 0;
    double min_effect = 0.05, conf = 0.95, max_load = DEFAULT_MAX_LOAD;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--min-effect") && i + 1 < argc) {
            min_effect = atof(argv[++i]);
            if (!(min_effect > 0 && min_effect < 1)) die("compare: --min-effect wants 0 < F < 1");
        } else if (!strcmp(argv[i], "--confidence") && i + 1 < argc) {
            conf = atof(argv[++i]);
            if (!(conf > 0.5 && conf < 1)) die("compare: --confidence wants 0.5 < C < 1");
        } else if (!strcmp(argv[i], "--max-load") && i + 1 < argc) {
            max_load = atof(argv[++i]);
            if (!(max_load > 0 && max_load <= 1)) die("compare: --max-load wants 0 < L <= 1");
        } else if (argv[i][0] != '-' && n_ids < 2) ids[n_ids++] = parse_run_id(argv[i]);
        else die("compare: unknown option '%s' (see waterfall compare --help)", argv[i]);
    }
    sqlite3 *db = db_open_existing(db_path);
    long long a = 0, b;
    if (n_ids == 2) a = ids[0], b = ids[1];
    else if (n_ids == 1) {
        a = ids[0];
        b = report_latest_complete(db, 0);
        if (b == a || !b) die("compare: no complete run newer than %lld to compare with", a);
    } else {
        b = report_latest_complete(db, 0);
        if (!b) die("compare: %s holds no complete run", db_path);
    }
    if (a) require_complete(db, a, "compared");
    require_complete(db, b, "compared");
    char dev_a[512] = "", dev_b[512];
    int pub_a = 0, pub_b;
    run_device(db, b, dev_b, sizeof dev_b, &pub_b);
    if (a) {
        run_device(db, a, dev_a, sizeof dev_a, &pub_a);
        if (strcmp(dev_a, dev_b) != 0) {
            int rc = ratio_table(db, a, b, dev_a, dev_b);
            db_close(db);
            return rc;
        }
    }
    // Each experiment of B and its counterpart: same stage, model, batch size, checkpoint,
    // dataset and device; in run A, or (default) in the latest earlier complete run having it.
    static const char *const KEY =
        " ea.stage = eb.stage AND ea.model = eb.model AND ea.batch_size = eb.batch_size"
        " AND ea.checkpoint_hash IS eb.checkpoint_hash AND ra.dataset_hash IS rb.dataset_hash"
        " AND json_extract(ra.plan_json, '$.limit') IS json_extract(rb.plan_json, '$.limit')"
        " AND json_extract(ra.plan_json, '$.slice') IS json_extract(rb.plan_json, '$.slice')"
        " AND coalesce(ea.device_name, ra.device_name) IS coalesce(eb.device_name, rb.device_name)";
    Str sql;
    str_init(&sql);
    str_addf(&sql,
        "SELECT eb.id, (SELECT ea.id FROM experiments ea JOIN runs ra ON ra.id = ea.run_id WHERE %s AND %s"
        " ORDER BY ra.id DESC, ea.seq LIMIT 1) FROM experiments eb JOIN runs rb ON rb.id = eb.run_id"
        " WHERE eb.run_id = ?2 ORDER BY eb.seq", KEY,
        a ? "ra.id = ?1"
          : "ra.id < rb.id AND ra.status = 'complete' AND ra.published = 0"
            // An experiment a closed run never ran is no baseline: the one before it is.
            " AND NOT (ea.status = 'failed' AND ea.reason LIKE '" NOT_RUN_PREFIX "%')");
    sqlite3_stmt *pairs = db_prepare(db, sql.s);
    str_free(&sql);
    if (a) db_bind_int(db, pairs, 1, a);
    else db_bind_null(db, pairs, 1);
    db_bind_int(db, pairs, 2, b);
    long long (*pv)[2] = NULL;
    int np = 0, matched = 0;
    while (SQL_ROW(db, pairs)) {
        pv = xrealloc(pv, sizeof *pv * (size_t)(np + 1));
        pv[np][0] = sqlite3_column_int64(pairs, 0);
        pv[np][1] = sqlite3_column_type(pairs, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(pairs, 1);
        matched += pv[np][1] != 0;
        np++;
    }
    db_finalize(db, pairs);
    if (!matched) {
        if (a) die("compare: no experiment of run %lld matches one of run %lld (same stage, model, batch size, "
                   "checkpoint, dataset, subset and device)", b, a);
        die("compare: no earlier complete run holds any experiment of run %lld (same stage, model, batch size, "
            "checkpoint, dataset, subset and device)", b);
    }
    if (a) printf("compare run %lld (A) -> run %lld (B) on %s", a, b, dev_b);
    else printf("compare run %lld (B) on %s, each experiment against the latest earlier complete run that has it (A)",
                b, dev_b);
    printf("; rule: bootstrap %.0f%% CI of the median time ratio, Wilcoxon or Mann-Whitney, min effect %.0f%%\n",
           conf * 100, min_effect * 100);
    printf("%-8s %-8s %4s %5s %9s %9s %7s %17s %8s %-8s %9s %9s %9s  %s\n", "stage", "model", "bs", "A run",
           "A img/s", "B img/s", "B/A t", "CI", "p", "verdict", "dmIoU", "dagree", "dsame-ix", "gate (B)");

    sqlite3_stmt *st = db_prepare(db,
        "SELECT eb.stage, eb.model, eb.batch_size, ea.id, eb.id, ea.status, eb.status, ea.img_s, eb.img_s,"
        " ea.miou, eb.miou, ea.agreement, eb.agreement, ea.gate, eb.gate, eb.gate_reason, eb.reason,"
        " ea.other_load, eb.other_load, json_extract(eb.device_json, '$.kind'), ea.run_id,"
        " ea.same_index_agreement, eb.same_index_agreement,"
        " (SELECT reference_stage FROM runs WHERE id = ea.run_id), (SELECT reference_stage FROM runs WHERE id = eb.run_id)"
        " FROM experiments eb JOIN experiments ea ON ea.id = ?1 WHERE eb.id = ?2");
    char other_ref[128] = "";  // the first pair whose runs' agreements have different references
    int regressions = 0, compared = 0, counts[4] = {0}, flagged = 0, not_run = 0;
    Line *lines = NULL;
    int n_lines = 0;
    for (int k = 0; k < np; k++) {
        lines = xrealloc(lines, sizeof(Line) * (size_t)(n_lines + 1));
        Line *L = &lines[n_lines];
        L->seq = n_lines++;
        if (!pv[k][1]) {
            sqlite3_stmt *one = db_prepare(db, "SELECT stage, model, batch_size FROM experiments WHERE id = ?1");
            db_bind_int(db, one, 1, pv[k][0]);
            CHECK(SQL_ROW(db, one));
            L->wf = waterfall_index(db_col_text(one, 0));
            snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %5s  new: %s\n", db_col_text(one, 0),
                     db_col_text(one, 1), sqlite3_column_int(one, 2), "-",
                     a ? "not in run A" : "no earlier complete run has it");
            db_finalize(db, one);
            continue;
        }
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, pv[k][1]);
        db_bind_int(db, st, 2, pv[k][0]);
        CHECK(SQL_ROW(db, st));
        const char *stage = db_col_text(st, 0), *model = db_col_text(st, 1);
        int bs = sqlite3_column_int(st, 2);
        long long run_a = sqlite3_column_int64(st, 20);
        L->wf = waterfall_index(stage);
        int ok_a = !strcmp(db_col_text(st, 5), "ok"), ok_b = !strcmp(db_col_text(st, 6), "ok");
        // Not run in B (its run was closed after its machine was gone, run --close): missing
        // data, not a failure of the build, so no regression; said so, with the reason.
        if (ok_a && !ok_b && !strncmp(db_col_text(st, 16), NOT_RUN_PREFIX, strlen(NOT_RUN_PREFIX))) {
            not_run++;
            snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %5lld  not run in B (%.300s)\n", stage, model, bs,
                     run_a, db_col_text(st, 16) + strlen(NOT_RUN_PREFIX));
            continue;
        }
        if (!ok_a || !ok_b) {
            if (ok_a && !ok_b) regressions++;
            snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %5lld  %s%s%s", stage, model, bs, run_a,
                     ok_a ? "" : "failed in A", !ok_a && !ok_b ? ", " : "",
                     ok_b ? "" : (ok_a ? "REGRESSION: failed in B: " : "failed in B: "));
            size_t n = strlen(L->line);
            snprintf(L->line + n, sizeof L->line - n, "%.300s\n", ok_b ? "" : db_col_text(st, 16));
            continue;
        }
        int na, nb, *ia, *ib, ppa, ppb;
        double *sa = load_samples(db, sqlite3_column_int64(st, 3), &na, &ia, &ppa);
        double *sb = load_samples(db, sqlite3_column_int64(st, 4), &nb, &ib, &ppb);
        // Paired when both timed the same batches: the same number of batches per pass and the
        // same images per batch at every index both have (the dataset and weights are the same
        // by the match); the first min(na, nb) batches are paired.
        int np_ = na < nb ? na : nb;
        int paired = ppa == ppb && np_ > 0;
        for (int i = 0; paired && i < np_; i++) paired = ia[i] == ib[i];
        // The floor follows the device the stage ran on (its describe: kind "cpu"), not its name.
        int on_cpu = !strcmp(db_col_text(st, 19), "cpu");
        double effect = on_cpu && min_effect < CPU_MIN_EFFECT ? CPU_MIN_EFFECT : min_effect;
        CompareResult c = paired ? stats_compare_paired(sa, sb, np_, effect, conf, BOOTSTRAP_REPS, MIN_BATCHES)
                                 : stats_compare(sa, na, sb, nb, effect, conf, BOOTSTRAP_REPS, MIN_BATCHES);
        free(sa), free(sb), free(ia), free(ib);
        double load_a = db_col_real(st, 17), load_b = db_col_real(st, 18);
        char busy_why[96];
        // An unknown load (a run stored before schema 3) does not block a verdict.
        if (load_a > max_load || load_b > max_load) {
            char la[16] = "?", lb[16] = "?";
            if (!isnan(load_a)) snprintf(la, sizeof la, "%.0f%%", load_a * 100);
            if (!isnan(load_b)) snprintf(lb, sizeof lb, "%.0f%%", load_b * 100);
            snprintf(busy_why, sizeof busy_why, "(busy: %s / %s)", la, lb);
            c.verdict = V_UNCLEAR;
            c.why = busy_why;
        }
        compared++;
        counts[c.verdict]++;
        int gate_new = !strcmp(db_col_text(st, 14), "flagged") && strcmp(db_col_text(st, 13), "flagged") != 0;
        if (c.verdict == V_SLOWER || gate_new) regressions++;
        char ci[64], dm[32], dg[32], ds[32], p[32];
        if (c.why && c.why[0] == '(') snprintf(ci, sizeof ci, "%s", c.why);
        else if (isnan(c.lo)) snprintf(ci, sizeof ci, "(%s)", c.why ? c.why : "-");
        else snprintf(ci, sizeof ci, "[%.3f, %.3f]", c.lo, c.hi);
        fmt_num(dm, sizeof dm, "%+.4f", db_col_real(st, 10) - db_col_real(st, 9));
        // Agreements subtract only against the same reference stage (a run without fp32 or
        // cpu measures them against its first stage).
        const char *ref_a = db_col_text(st, 23), *ref_b = db_col_text(st, 24);
        if (strcmp(ref_a, ref_b) == 0) {
            fmt_num(dg, sizeof dg, "%+.4f", db_col_real(st, 12) - db_col_real(st, 11));
            fmt_num(ds, sizeof ds, "%+.4f", db_col_real(st, 22) - db_col_real(st, 21));
        } else {
            snprintf(dg, sizeof dg, "other-ref");
            snprintf(ds, sizeof ds, "other-ref");
            if (!other_ref[0])
                snprintf(other_ref, sizeof other_ref, "run %lld's agreements are against %s, run %lld's against %s",
                         run_a, ref_a[0] ? ref_a : "?", b, ref_b[0] ? ref_b : "?");
        }
        fmt_num(p, sizeof p, "%.2g", c.p_value);
        const char *gate = db_col_text(st, 14);
        if (!strcmp(gate, "flagged")) flagged++;
        snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %5lld %9.4g %9.4g %7.3f %17s %8s%c %-8s %9s %9s %9s  %s%s\n",
                 stage, model, bs, run_a, db_col_real(st, 7), db_col_real(st, 8), c.ratio, ci, p, paired ? 'w' : 'u',
                 verdict_name(c.verdict), dm, dg, ds,
                 !strcmp(gate, "flagged") ? (gate_new ? "NEWLY FLAGGED: " : "FLAGGED: ") : gate,
                 !strcmp(gate, "flagged") ? db_col_text(st, 15) : "");
    }
    db_finalize(db, st);
    free(pv);
    // Waterfall order for reading.
    sort_lines(lines, n_lines);
    for (int i = 0; i < n_lines; i++) fputs(lines[i].line, stdout);
    free(lines);
    printf("p: w = paired (Wilcoxon signed-rank, same batches in both runs), u = unpaired (Mann-Whitney U)\n");
    if (other_ref[0])
        printf("other-ref: the two runs measured agreement against different reference stages (%s), so "
               "their agreements are not subtracted\n", other_ref);
    if (flagged) report_gate_rule(db, b, stdout);
    printf("%d compared: %d SAME, %d FASTER, %d SLOWER, %d UNCLEAR; %d new; ", compared, counts[V_SAME],
           counts[V_FASTER], counts[V_SLOWER], counts[V_UNCLEAR], np - matched);
    if (not_run) printf("%d not run in B; ", not_run);
    printf("%d regression%s\n", regressions, regressions == 1 ? "" : "s");
    db_close(db);
    return regressions ? 1 : 0;
}
