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
        "usage: waterfall compare [RUN_A] [RUN_B] [--db FILE] [--force] [--min-effect F]\n"
        "                         [--confidence C] [--max-load L]\n"
        "Compares two complete runs experiment by experiment (same stage, model, batch size).\n"
        "Default: the latest complete run (B) against the previous complete run of the same\n"
        "configuration (A); with one RUN, that run (A) against the latest complete run (B).\n"
        "Verdict per experiment, from the per-batch samples (milliseconds per image):\n"
        "  r = B's time over A's: exp(median(log(b_i/a_i))) over paired batches when both runs\n"
        "  timed the same batches (same configuration), else median(B) / median(A);\n"
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
        "Accuracy: mIoU and agreement deltas, and the accuracy gate of run B.\n"
        "Refuses runs on different devices unless --force.\n"
        "Exit status 1 on a regression: an experiment SLOWER, newly flagged by the accuracy gate,\n"
        "or failed in B but ok in A; 0 otherwise.\n", BOOTSTRAP_REPS, MIN_BATCHES, CPU_MIN_EFFECT);
}

static long long previous_same_config(sqlite3 *db, long long run_b) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT a.id FROM runs a JOIN runs b ON a.config_key = b.config_key"
        " WHERE b.id = ?1 AND a.id < b.id AND a.status = 'complete' ORDER BY a.id DESC LIMIT 1");
    db_bind_int(db, st, 1, run_b);
    long long id = SQL_ROW(db, st) ? sqlite3_column_int64(st, 0) : 0;
    db_finalize(db, st);
    return id;
}

// Milliseconds per image of every timed batch; images per batch in *images (for pairing).
static double *load_samples(sqlite3 *db, long long exp_id, int *n, int **images) {
    sqlite3_stmt *st = db_prepare(db, "SELECT ms, images FROM samples WHERE experiment_id = ?1 ORDER BY batch_index");
    db_bind_int(db, st, 1, exp_id);
    double *v = NULL;
    *images = NULL;
    *n = 0;
    while (SQL_ROW(db, st)) {
        v = xrealloc(v, sizeof(double) * (size_t)(*n + 1));
        *images = xrealloc(*images, sizeof(int) * (size_t)(*n + 1));
        (*images)[*n] = sqlite3_column_int(st, 1);
        v[(*n)++] = sqlite3_column_double(st, 0) / sqlite3_column_int(st, 1);
    }
    db_finalize(db, st);
    return v;
}

static void run_info(sqlite3 *db, long long id, char *device, size_t len, char *key, size_t klen) {
    sqlite3_stmt *st = db_prepare(db, "SELECT device_name, config_key FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, id);
    CHECK(SQL_ROW(db, st));
    snprintf(device, len, "%s", db_col_text(st, 0));
    snprintf(key, klen, "%s", db_col_text(st, 1));
    db_finalize(db, st);
}

int cmd_compare(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB;
    long long ids[2] = {0, 0};
    int n_ids = 0, force = 0;
    double min_effect = 0.05, conf = 0.95, max_load = DEFAULT_MAX_LOAD;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--force")) force = 1;
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
    sqlite3 *db = db_open(db_path);
    long long a, b;
    if (n_ids == 2) a = ids[0], b = ids[1];
    else if (n_ids == 1) {
        a = ids[0];
        b = report_latest_complete(db);
        if (b == a || !b) die("compare: no complete run newer than %lld to compare with", a);
    } else {
        b = report_latest_complete(db);
        if (!b) die("compare: %s holds no complete run", db_path);
        a = previous_same_config(db, b);
        if (!a) die("compare: no earlier complete run of the same configuration as run %lld", b);
    }
    require_complete(db, a, "compared");
    require_complete(db, b, "compared");
    char dev_a[512], dev_b[512], key_a[80], key_b[80];
    run_info(db, a, dev_a, sizeof dev_a, key_a, sizeof key_a);
    run_info(db, b, dev_b, sizeof dev_b, key_b, sizeof key_b);
    if (strcmp(dev_a, dev_b) != 0) {
        if (!force)
            die("compare: run %lld ran on '%s' and run %lld on '%s': timings across devices are not "
                "comparable (--force to compare anyway)", a, dev_a, b, dev_b);
        printf("warning: different devices ('%s' vs '%s'), compared because of --force\n", dev_a, dev_b);
    }
    int same_config = strcmp(key_a, key_b) == 0;
    if (!same_config)
        printf("note: the runs differ in configuration (dataset, weights, limit or plan); only "
               "experiments present in both are compared\n");
    printf("compare run %lld (A) -> run %lld (B) on %s; rule: bootstrap %.0f%% CI of the median time "
           "ratio, Wilcoxon or Mann-Whitney, min effect %.0f%%\n", a, b, dev_b, conf * 100, min_effect * 100);
    printf("%-8s %-8s %4s %9s %9s %7s %17s %8s %-8s %9s %9s  %s\n", "stage", "model", "bs", "A img/s",
           "B img/s", "B/A t", "CI", "p", "verdict", "dmIoU", "dagree", "gate (B)");

    sqlite3_stmt *st = db_prepare(db,
        "SELECT eb.stage, eb.model, eb.batch_size, ea.id, eb.id, ea.status, eb.status, ea.img_s, eb.img_s,"
        " ea.miou, eb.miou, ea.agreement, eb.agreement, ea.gate, eb.gate, eb.gate_reason, eb.reason,"
        " ea.other_load, eb.other_load, json_extract(eb.device_json, '$.kind')"
        " FROM experiments eb JOIN experiments ea ON ea.run_id = ?1 AND ea.stage = eb.stage"
        " AND ea.model = eb.model AND ea.batch_size = eb.batch_size WHERE eb.run_id = ?2 ORDER BY eb.seq");
    db_bind_int(db, st, 1, a);
    db_bind_int(db, st, 2, b);
    int regressions = 0, compared = 0, counts[4] = {0};
    typedef struct { char line[1024]; int wf, seq; } Line;
    Line *lines = NULL;
    int n_lines = 0;
    while (SQL_ROW(db, st)) {
        const char *stage = db_col_text(st, 0), *model = db_col_text(st, 1);
        int bs = sqlite3_column_int(st, 2);
        int ok_a = !strcmp(db_col_text(st, 5), "ok"), ok_b = !strcmp(db_col_text(st, 6), "ok");
        lines = xrealloc(lines, sizeof(Line) * (size_t)(n_lines + 1));
        Line *L = &lines[n_lines];
        L->wf = waterfall_index(stage);
        L->seq = n_lines++;
        if (!ok_a || !ok_b) {
            if (ok_a && !ok_b) regressions++;
            snprintf(L->line, sizeof L->line, "%-8s %-8s %4d  %s%s%s\n", stage, model, bs,
                     ok_a ? "" : "failed in A", !ok_a && !ok_b ? ", " : "",
                     ok_b ? "" : (ok_a ? "REGRESSION: failed in B: " : "failed in B: "));
            if (!ok_b) {
                size_t n = strlen(L->line) - 1;
                snprintf(L->line + n, sizeof L->line - n, "%.300s\n", db_col_text(st, 16));
            }
            continue;
        }
        int na, nb, *ia, *ib;
        double *sa = load_samples(db, sqlite3_column_int64(st, 3), &na, &ia);
        double *sb = load_samples(db, sqlite3_column_int64(st, 4), &nb, &ib);
        // Paired when both runs timed the same batches: same configuration (dataset, limit,
        // weights) and the same images per batch at every index.
        int paired = same_config && na == nb && na > 0;
        for (int k = 0; paired && k < na; k++) paired = ia[k] == ib[k];
        // The floor follows the device the stage ran on (its describe: kind "cpu"), not its name.
        int on_cpu = !strcmp(db_col_text(st, 19), "cpu");
        double effect = on_cpu && min_effect < CPU_MIN_EFFECT ? CPU_MIN_EFFECT : min_effect;
        CompareResult c = paired ? stats_compare_paired(sa, sb, na, effect, conf, BOOTSTRAP_REPS, MIN_BATCHES)
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
        char ci[64], dm[32], dg[32], p[32];
        if (c.why && c.why[0] == '(') snprintf(ci, sizeof ci, "%s", c.why);
        else if (isnan(c.lo)) snprintf(ci, sizeof ci, "(%s)", c.why ? c.why : "-");
        else snprintf(ci, sizeof ci, "[%.3f, %.3f]", c.lo, c.hi);
        double d_miou = db_col_real(st, 10) - db_col_real(st, 9);
        double d_agree = db_col_real(st, 12) - db_col_real(st, 11);
        if (isnan(d_miou)) snprintf(dm, sizeof dm, "-");
        else snprintf(dm, sizeof dm, "%+.4f", d_miou);
        if (isnan(d_agree)) snprintf(dg, sizeof dg, "-");
        else snprintf(dg, sizeof dg, "%+.4f", d_agree);
        if (isnan(c.p_value)) snprintf(p, sizeof p, "-");
        else snprintf(p, sizeof p, "%.2g", c.p_value);
        const char *gate = db_col_text(st, 14);
        snprintf(L->line, sizeof L->line, "%-8s %-8s %4d %9.4g %9.4g %7.3f %17s %8s%c %-8s %9s %9s  %s%s%s\n",
                 stage, model, bs, db_col_real(st, 7), db_col_real(st, 8), c.ratio, ci, p, paired ? 'w' : 'u',
                 verdict_name(c.verdict), dm, dg,
                 !strcmp(gate, "flagged") ? (gate_new ? "NEWLY FLAGGED: " : "FLAGGED: ") : gate,
                 !strcmp(gate, "flagged") ? db_col_text(st, 15) : "", "");
    }
    db_finalize(db, st);
    // Waterfall order for reading.
    for (int i = 1; i < n_lines; i++) {
        Line x = lines[i];
        int j = i - 1;
        while (j >= 0 && (lines[j].wf > x.wf || (lines[j].wf == x.wf && lines[j].seq > x.seq))) {
            lines[j + 1] = lines[j];
            j--;
        }
        lines[j + 1] = x;
    }
    for (int i = 0; i < n_lines; i++) fputs(lines[i].line, stdout);
    free(lines);
    printf("p: w = paired (Wilcoxon signed-rank, same batches in both runs), u = unpaired (Mann-Whitney U)\n");
    printf("%d compared: %d SAME, %d FASTER, %d SLOWER, %d UNCLEAR; %d regression%s\n", compared,
           counts[V_SAME], counts[V_FASTER], counts[V_SLOWER], counts[V_UNCLEAR], regressions,
           regressions == 1 ? "" : "s");
    db_close(db);
    return regressions ? 1 : 0;
}
