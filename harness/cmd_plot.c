// waterfall plot: the chart of one complete run through gnuplot (plots/waterfall.gp).
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall plot [--run ID] [--out FILE.svg] [--db FILE] [--script FILE.gp]\n"
               "Draws the chart of a complete run (default: the latest) with gnuplot: rows img/s,\n"
               "peak memory MiB, mIoU and agreement with the reference stage; one panel per model;\n"
               "one bar per stage in waterfall order; one colour per batch size; values on the bars.\n"
               "Default output: results/bar_chart.svg. The script is plots/waterfall.gp (found in the\n"
               "current folder or beside the build folder).\n");
}

typedef struct {
    char **v;
    int n;
} Names;

static int name_index(Names *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return i;
    s->v = xrealloc(s->v, sizeof(char *) * (size_t)(s->n + 1));
    s->v[s->n] = xstrdup(name);
    return s->n++;
}

static void names_free(Names *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

static void join(Str *out, const Names *s) {
    for (int i = 0; i < s->n; i++) str_addf(out, "%s%s", i ? " " : "", s->v[i]);
}

// A gnuplot string literal body: names come from the database, so quote them safely.
static int gp_safe(const char *s) {
    for (; *s; s++)
        if (*s == '\'' || *s == ' ' || *s == '\n') return 0;
    return 1;
}

static int cmp_stage(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int d = waterfall_index(x) - waterfall_index(y);
    return d ? d : strcmp(x, y);
}
static int cmp_int_str(const void *a, const void *b) {
    return atoi(*(char *const *)a) - atoi(*(char *const *)b);
}

int cmd_plot(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB, *out = "results/bar_chart.svg", *script = NULL;
    long long run_id = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--run") && i + 1 < argc) run_id = parse_run_id(argv[++i]);
        else if (!strcmp(argv[i], "--script") && i + 1 < argc) script = argv[++i];
        else die("plot: unknown option '%s' (see waterfall plot --help)", argv[i]);
    }
    char script_path[4096];
    if (!script) {
        snprintf(script_path, sizeof script_path, "plots/waterfall.gp");
        if (!file_exists(script_path))
            snprintf(script_path, sizeof script_path, "%s/../plots/waterfall.gp", exe_dir());
        if (!file_exists(script_path)) die("plot: plots/waterfall.gp not found (run from the repository, or --script)");
        script = script_path;
    }
    sqlite3 *db = db_open(db_path);
    if (!run_id) run_id = report_latest_complete(db);
    if (!run_id) die("plot: %s holds no complete run", db_path);
    require_complete(db, run_id, "plotted");

    // Axes: models in run order, stages in waterfall order, batch sizes ascending.
    Names models = {0}, stages = {0}, batches = {0};
    sqlite3_stmt *st = db_prepare(db,
        "SELECT stage, model, batch_size FROM experiments WHERE run_id = ?1 ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    while (SQL_ROW(db, st)) {
        char bs[16];
        name_index(&stages, db_col_text(st, 0));
        name_index(&models, db_col_text(st, 1));
        snprintf(bs, sizeof bs, "%d", sqlite3_column_int(st, 2));
        name_index(&batches, bs);
    }
    db_finalize(db, st);
    if (models.n == 0) die("plot: run %lld has no experiment", run_id);
    qsort(stages.v, (size_t)stages.n, sizeof(char *), cmp_stage);
    qsort(batches.v, (size_t)batches.n, sizeof(char *), cmp_int_str);
    for (int i = 0; i < models.n; i++)
        if (!gp_safe(models.v[i])) die("plot: model name '%s' has a quote or space", models.v[i]);
    for (int i = 0; i < stages.n; i++)
        if (!gp_safe(stages.v[i])) die("plot: stage name '%s' has a quote or space", stages.v[i]);

    char tmpdir[] = "/tmp/waterfall-plot-XXXXXX";
    if (!mkdtemp(tmpdir)) die("plot: mkdtemp: %s", strerror(errno));
    char data_path[4200];
    snprintf(data_path, sizeof data_path, "%s/data.tsv", tmpdir);
    FILE *df = fopen(data_path, "w");
    if (!df) die("plot: cannot write %s: %s", data_path, strerror(errno));
    double *ymax = xcalloc((size_t)(4 * models.n), sizeof(double));
    st = db_prepare(db,
        "SELECT stage, model, batch_size, status, img_s, peak_bytes, miou, agreement"
        " FROM experiments WHERE run_id = ?1 ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    while (SQL_ROW(db, st)) {
        char bs[16];
        snprintf(bs, sizeof bs, "%d", sqlite3_column_int(st, 2));
        int m = name_index(&models, db_col_text(st, 1));
        int ok = strcmp(db_col_text(st, 3), "ok") == 0;
        double v[4] = {db_col_real(st, 4), db_col_real(st, 5) / 1048576.0, db_col_real(st, 6), db_col_real(st, 7)};
        fprintf(df, "%d %d %d", m, name_index(&stages, db_col_text(st, 0)), name_index(&batches, bs));
        for (int k = 0; k < 4; k++) {
            if (!ok || isnan(v[k])) fprintf(df, " NaN");
            else {
                fprintf(df, " %.9g", v[k]);
                if (v[k] > ymax[k * models.n + m]) ymax[k * models.n + m] = v[k];
            }
        }
        fprintf(df, " %d\n", ok);
    }
    db_finalize(db, st);
    if (fclose(df) != 0) die("plot: cannot write %s: %s", data_path, strerror(errno));

    Str ym, mo, sg, bt, title, expr;
    str_init(&ym), str_init(&mo), str_init(&sg), str_init(&bt), str_init(&title), str_init(&expr);
    // Headroom above the tallest bar for its value label; an empty panel still gets an axis.
    for (int i = 0; i < 4 * models.n; i++) str_addf(&ym, "%s%.6g", i ? " " : "", ymax[i] > 0 ? ymax[i] * 1.18 : 1.0);
    join(&mo, &models), join(&sg, &stages), join(&bt, &batches);
    st = db_prepare(db, "SELECT name, device_name, started_at, git_commit FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    CHECK(SQL_ROW(db, st));
    str_addf(&title, "SAM waterfall, run %lld (%s) on %s, %s, commit %.8s", run_id, db_col_text(st, 0),
             db_col_text(st, 1), db_col_text(st, 2), db_col_text(st, 3));
    db_finalize(db, st);
    for (char *p = title.s; *p; p++)
        if (*p == '\'' || *p == '"' || *p == '\\') *p = ' ';
    char *outdir = xstrdup(out), *slash = strrchr(outdir, '/');
    if (slash) {
        *slash = 0;
        if (mkdir_p(outdir) != 0) die("plot: cannot create %s: %s", outdir, strerror(errno));
    }
    free(outdir);
    str_addf(&expr, "datafile='%s'; outfile='%s'; models='%s'; stages='%s'; batches='%s'; ymax='%s'; title='%s'",
             data_path, out, mo.s, sg.s, bt.s, ym.s, title.s);

    pid_t pid = fork();
    if (pid < 0) die("plot: fork: %s", strerror(errno));
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", expr.s, script, (char *)NULL);
        fprintf(stderr, "sam: cannot run gnuplot: %s (install Debian's gnuplot-nox)\n", strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("plot: waitpid: %s", strerror(errno));
    unlink(data_path);
    rmdir(tmpdir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("plot: gnuplot failed (status %d)", status);
    fprintf(stderr, "waterfall: run %lld drawn to %s\n", run_id, out);
    str_free(&ym), str_free(&mo), str_free(&sg), str_free(&bt), str_free(&title), str_free(&expr);
    names_free(&models), names_free(&stages), names_free(&batches);
    free(ymax);
    db_close(db);
    return 0;
}
