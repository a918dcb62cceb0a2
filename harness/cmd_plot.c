// waterfall plot: the chart of a complete run through gnuplot (plots/waterfall.gp), or of
// several runs of one device that each hold other models (one family per GPU of a host), with
// another run's bars beside it (--with: the seed's published A100 figures, say).
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall plot [--run ID]... [--with RUN] [--out FILE.svg] [--db FILE] [--script FILE.gp]\n"
               "Draws the chart of a complete run (default: the latest) with gnuplot: rows img/s,\n"
               "peak memory MiB, mIoU and agreement with the reference stage; one panel per model;\n"
               "one bar per stage in waterfall order, labelled with the choices it changes over the\n"
               "stage it builds on; one colour per batch size; values on the bars; experiments flagged\n"
               "by the accuracy gate marked 'flagged', failed ones 'failed'. The mIoU panels say when\n"
               "the weights are synthetic (mIoU against ground truth means nothing then). The title\n"
               "states the gate's rule and what each stage adds.\n"
               "--run given more than once draws those runs as one chart: runs of one device, each\n"
               "holding other models (the families of a waterfall run one per GPU); a model in two of\n"
               "them, or runs of different devices, are refused.\n"
               "--with RUN draws that run's bars beside ours for every stage and model both have (a\n"
               "published run imported from the seed's results.csv, or a run on another device).\n"
               "Default output: results/bar_chart.svg. The script is plots/waterfall.gp (found in the\n"
               "current folder or beside the build folder). Never creates the database.\n");
}

typedef struct {
    char **v;
    int n;
} Names;

static int name_find(const Names *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return i;
    return -1;
}

static int name_index(Names *s, const char *name) {
    int i = name_find(s, name);
    if (i >= 0) return i;
    s->v = xrealloc(s->v, sizeof(char *) * (size_t)(s->n + 1));
    s->v[s->n] = xstrdup(name);
    return s->n++;
}

static void names_free(Names *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

static int cmp_stage(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int d = waterfall_index(x) - waterfall_index(y);
    return d ? d : strcmp(x, y);
}

// A gnuplot double-quoted string literal ("\n" inside breaks the line).
static void gp_string(Str *out, const char *s) {
    str_add(out, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') str_addn(out, "\\", 1);
        if (*s == '\n') {
            str_add(out, "\\n");
            continue;
        }
        str_addn(out, s, 1);
    }
    str_add(out, "\"");
}

// Appends text to a title, wrapping lines at about width characters.
static void wrap_into(Str *out, const char *text, int width) {
    int col = 0;
    const char *p = text;
    while (*p) {
        const char *sp = strchr(p, ' ');
        int len = sp ? (int)(sp - p) : (int)strlen(p);
        if (col > 0 && col + 1 + len > width) {
            str_add(out, "\n  ");
            col = 2;
        } else if (col > 0) {
            str_add(out, " ");
            col++;
        }
        str_addn(out, p, (size_t)len);
        col += len;
        p += len;
        while (*p == ' ') p++;
    }
}

typedef struct {
    long long run;
    int published;
    char device[256], name[256];
} RunInfo;

static void run_info(sqlite3 *db, long long id, RunInfo *r) {
    sqlite3_stmt *st = db_prepare(db, "SELECT device_name, published, name FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, id);
    CHECK(SQL_ROW(db, st));
    r->run = id;
    snprintf(r->device, sizeof r->device, "%s", db_col_text(st, 0));
    r->published = sqlite3_column_int(st, 1);
    snprintf(r->name, sizeof r->name, "%s", db_col_text(st, 2));
    db_finalize(db, st);
}

// What code a run ran, for the title: its checkout's commit, and the commits its stages say
// they were built from where they say it (on a machine the build was copied to, those name the
// code).
static void title_code(Str *title, sqlite3 *db, long long run_id, const char *commit) {
    str_addf(title, "commit %.8s", commit);
    char builds[512];
    run_stage_builds(db, run_id, builds, sizeof builds);
    if (builds[0]) str_addf(title, " (stages built from %s)", builds);
}

int cmd_plot(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB, *out = "results/bar_chart.svg", *script = NULL;
    enum { MAX_RUNS = 8 };
    long long ours[MAX_RUNS], with_id = 0;
    int n_ours = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--run") && i + 1 < argc) {
            if (n_ours == MAX_RUNS) die("plot: at most %d runs (--run) in one chart", MAX_RUNS);
            ours[n_ours++] = parse_run_id(argv[++i]);
        }
        else if (!strcmp(argv[i], "--with") && i + 1 < argc) with_id = parse_run_id(argv[++i]);
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
    sqlite3 *db = db_open_existing(db_path);
    if (!n_ours) {
        ours[0] = report_latest_complete(db, 1);
        if (!ours[0]) die("plot: %s holds no complete run", db_path);
        n_ours = 1;
    }
    long long run_id = ours[0];  // the title's run, and the one named in messages
    RunInfo me, other = {0};
    run_info(db, run_id, &me);
    for (int r = 0; r < n_ours; r++) {
        require_complete(db, ours[r], "plotted");
        if (ours[r] == with_id) die("plot: --with %lld is a run being drawn", with_id);
        for (int k = 0; k < r; k++)
            if (ours[k] == ours[r]) die("plot: run %lld is named twice", ours[r]);
        RunInfo ri;
        run_info(db, ours[r], &ri);
        // Bars of one chart compare with each other: a second device belongs beside it (--with).
        if (strcmp(ri.device, me.device) != 0)
            die("plot: runs %lld and %lld ran on different devices (%s, %s): draw one beside the other with --with",
                run_id, ours[r], me.device, ri.device);
    }
    if (with_id) {
        require_complete(db, with_id, "plotted");
        run_info(db, with_id, &other);
    }

    // Axes: models of the run in run order, stages of both runs in waterfall order; series:
    // the run's batch sizes, then the other run's.
    Names models = {0}, stages = {0}, series = {0};
    int *series_bs = NULL;
    // runs[0 .. n_ours - 1]: ours; runs[n_ours]: the run beside them, if any.
    long long runs[MAX_RUNS + 1];
    memcpy(runs, ours, sizeof(long long) * (size_t)n_ours);
    runs[n_ours] = with_id;
    int n_runs = n_ours + (with_id ? 1 : 0);
    sqlite3_stmt *st = db_prepare(db,
        "SELECT DISTINCT batch_size FROM experiments WHERE run_id = ?1 ORDER BY batch_size");
    for (int r = 0; r < n_runs; r++) {
        int beside = r == n_ours;
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, runs[r]);
        while (SQL_ROW(db, st)) {
            char label[400];
            int bs = sqlite3_column_int(st, 0);
            if (!beside) snprintf(label, sizeof label, "batch %d", bs);
            else {
                // "A100-SXM4-40GB published, batch 8": the device without its vendor.
                const char *dev = strncmp(other.device, "NVIDIA ", 7) == 0 ? other.device + 7 : other.device;
                snprintf(label, sizeof label, "%.40s %s, batch %d", dev, other.published ? "published" : "run", bs);
            }
            if (name_find(&series, label) >= 0) continue;  // a batch size of another of our runs
            name_index(&series, label);
            series_bs = xrealloc(series_bs, sizeof(int) * (size_t)series.n);
            series_bs[series.n - 1] = bs * (beside ? -1 : 1);  // negative: the run beside
        }
    }
    db_finalize(db, st);
    // Models in run order, each from one of our runs (model_run): a model in two would draw
    // two runs' bars as one.
    long long *model_run = NULL;
    st = db_prepare(db, "SELECT stage, model FROM experiments WHERE run_id = ?1 ORDER BY seq");
    for (int r = 0; r < n_ours; r++) {
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, ours[r]);
        int before = models.n;
        while (SQL_ROW(db, st)) {
            const char *model = db_col_text(st, 1);
            int m = name_find(&models, model);
            if (m >= 0 && m < before)
                die("plot: model %s is in runs %lld and %lld: a chart of several runs takes each model from one",
                    model, model_run[m], ours[r]);
            name_index(&stages, db_col_text(st, 0));
            if (m < 0) {
                name_index(&models, model);
                model_run = xrealloc(model_run, sizeof(long long) * (size_t)models.n);
                model_run[models.n - 1] = ours[r];
            }
        }
        if (models.n == before) die("plot: run %lld has no experiment", ours[r]);
    }
    db_finalize(db, st);
    int with_rows = 0;
    if (with_id) {
        // The other run's stages of the models drawn (its other models have no panel).
        st = db_prepare(db, "SELECT stage, model FROM experiments WHERE run_id = ?1 ORDER BY seq");
        db_bind_int(db, st, 1, with_id);
        while (SQL_ROW(db, st))
            if (name_find(&models, db_col_text(st, 1)) >= 0) {
                name_index(&stages, db_col_text(st, 0));
                with_rows++;
            }
        db_finalize(db, st);
        if (!with_rows)
            fprintf(stderr, "waterfall: plot: run %lld has no experiment of the models drawn\n", with_id);
    }
    qsort(stages.v, (size_t)stages.n, sizeof(char *), cmp_stage);

    char tmpdir[] = "/tmp/waterfall-plot-XXXXXX";
    if (!mkdtemp(tmpdir)) die("plot: mkdtemp: %s", strerror(errno));
    char data_path[4200], vars_path[4200];
    snprintf(data_path, sizeof data_path, "%s/data.tsv", tmpdir);
    snprintf(vars_path, sizeof vars_path, "%s/vars.gp", tmpdir);
    FILE *df = fopen(data_path, "w");
    if (!df) die("plot: cannot write %s: %s", data_path, strerror(errno));
    double *ymax = xcalloc((size_t)(4 * models.n), sizeof(double));
    int flagged = 0;
    st = db_prepare(db,
        "SELECT stage, model, batch_size, status, img_s, peak_bytes, miou, agreement, gate = 'flagged'"
        " FROM experiments WHERE run_id = ?1 ORDER BY seq");
    for (int r = 0; r < n_runs; r++) {
        int beside = r == n_ours;
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, runs[r]);
        while (SQL_ROW(db, st)) {
            int m = name_find(&models, db_col_text(st, 1));
            if (m < 0) continue;
            int bs = sqlite3_column_int(st, 2), sidx = -1;
            for (int k = 0; k < series.n; k++)
                if (series_bs[k] == (beside ? -bs : bs)) sidx = k;
            CHECK(sidx >= 0);
            int ok = strcmp(db_col_text(st, 3), "ok") == 0;
            int flag = sqlite3_column_int(st, 8);
            flagged += flag && !beside;
            double v[4] = {db_col_real(st, 4), db_col_real(st, 5) / 1048576.0, db_col_real(st, 6), db_col_real(st, 7)};
            fprintf(df, "%d %d %d", m, name_find(&stages, db_col_text(st, 0)), sidx);
            for (int k = 0; k < 4; k++) {
                if (!ok || isnan(v[k])) fprintf(df, " NaN");
                else {
                    fprintf(df, " %.9g", v[k]);
                    if (v[k] > ymax[k * models.n + m]) ymax[k * models.n + m] = v[k];
                }
            }
            fprintf(df, " %d %d\n", ok, flag);
        }
    }
    db_finalize(db, st);
    if (fclose(df) != 0) die("plot: cannot write %s: %s", data_path, strerror(errno));

    // x labels: the stage and the choices it changes over the stage it builds on.
    Str vars;
    str_init(&vars);
    str_add(&vars, "datafile = ");
    gp_string(&vars, data_path);
    str_add(&vars, "\noutfile = ");
    gp_string(&vars, out);
    str_addf(&vars, "\nnm = %d\nns = %d\nnb = %d\n", models.n, stages.n, series.n);
    Str adds;
    str_init(&adds);
    str_add(&vars, "array models[nm] = [");
    for (int i = 0; i < models.n; i++) {
        if (i) str_add(&vars, ", ");
        gp_string(&vars, models.v[i]);
    }
    // Weights are synthetic when every experiment of the model used a synthetic:... spec.
    str_add(&vars, "]\narray synthetic[nm] = [");
    st = db_prepare(db, "SELECT count(*) = count(CASE WHEN checkpoint LIKE 'synthetic:%' THEN 1 END)"
                        " FROM experiments WHERE run_id = ?1 AND model = ?2");
    for (int i = 0; i < models.n; i++) {
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, model_run[i]);
        db_bind_text(db, st, 2, models.v[i]);
        CHECK(SQL_ROW(db, st));
        str_addf(&vars, "%s%d", i ? ", " : "", sqlite3_column_int(st, 0));
    }
    db_finalize(db, st);
    str_addf(&vars, "]\nbeside = %d\narray xlabels[ns] = [", with_id ? 1 : 0);
    st = db_prepare(db, "SELECT stage_info FROM experiments WHERE run_id = ?1 AND stage = ?2"
                        " AND stage_info IS NOT NULL LIMIT 1");
    for (int i = 0; i < stages.n; i++) {
        char changes[512] = "";
        Str label;
        str_init(&label);
        str_add(&label, stages.v[i]);
        // The stage's description from the first of our runs that has one (the run beside,
        // published, has none).
        int found = 0, r = 0;
        for (; r < n_ours && !found; r++) {
            SQL_OK(db, sqlite3_reset(st));
            db_bind_int(db, st, 1, ours[r]);
            db_bind_text(db, st, 2, stages.v[i]);
            found = SQL_ROW(db, st);
        }
        if (found) {
            const char *info = db_col_text(st, 0);
            stage_changes(db, ours[r - 1], info, changes, sizeof changes);
            cJSON *j = cJSON_Parse(info);
            const cJSON *after = cJSON_GetObjectItemCaseSensitive(j, "after");
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "adds");
            if (cJSON_IsString(a)) {
                Str line;
                str_init(&line);
                str_addf(&line, "%s%s%s%s: %s;", stages.v[i], cJSON_IsString(after) ? " (after " : "",
                         cJSON_IsString(after) ? after->valuestring : "", cJSON_IsString(after) ? ")" : "",
                         a->valuestring);
                str_addf(&adds, "%s%s", adds.len ? " " : "", line.s);
                str_free(&line);
            }
            cJSON_Delete(j);
            // One changed choice per line under the name, short: its value ("+bf16"), or its
            // name when the value is "on" ("+graphs").
            if (changes[0] && strcmp(changes, "(no choice changed)")) {
                char *save = NULL;
                for (char *t = strtok_r(changes, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                    while (*t == ' ') t++;
                    char *eq = strchr(t, '=');
                    if (eq && strcmp(eq + 1, "on") == 0) *eq = 0;
                    str_addf(&label, "\n+%s", eq && *eq ? eq + 1 : t);
                }
            }
        }
        if (i) str_add(&vars, ", ");
        gp_string(&vars, label.s);
        str_free(&label);
    }
    db_finalize(db, st);
    str_add(&vars, "]\narray series[nb] = [");
    for (int i = 0; i < series.n; i++) {
        if (i) str_add(&vars, ", ");
        gp_string(&vars, series.v[i]);
    }
    str_add(&vars, "]\narray ymax[4 * nm] = [");
    // Headroom above the tallest bar for its value label; an empty panel still gets an axis.
    for (int i = 0; i < 4 * models.n; i++) str_addf(&vars, "%s%.6g", i ? ", " : "", ymax[i] > 0 ? ymax[i] * 1.18 : 1.0);
    str_add(&vars, "]\n");

    // The title: the run, the run beside it, the gate's rule with its floors, what each stage adds.
    Str title;
    str_init(&title);
    st = db_prepare(db, "SELECT name, device_name, started_at, git_commit, plan_json, reference_stage FROM runs WHERE id = ?1");
    db_bind_int(db, st, 1, run_id);
    CHECK(SQL_ROW(db, st));
    int width_chars = (360 * models.n + 80 < 720 ? 720 : 360 * models.n + 80) / 7 - 4;
    str_addf(&title, "SAM waterfall, run %lld (%s) on %s, %s, ", run_id, db_col_text(st, 0),
             db_col_text(st, 1), db_col_text(st, 2));
    title_code(&title, db, run_id, db_col_text(st, 3));
    for (int m = 0, first = 1; n_ours > 1 && m < models.n; m++)
        if (model_run[m] == run_id) {
            str_addf(&title, "%s%s", first ? ": " : ", ", models.v[m]);
            first = 0;
        }
    if (n_ours > 1) {
        // The other runs drawn, each with what makes it another run (its start and commit).
        sqlite3_stmt *o = db_prepare(db, "SELECT name, started_at, git_commit FROM runs WHERE id = ?1");
        str_add(&title, "\nwith");
        for (int r = 1; r < n_ours; r++) {
            SQL_OK(db, sqlite3_reset(o));
            db_bind_int(db, o, 1, ours[r]);
            CHECK(SQL_ROW(db, o));
            str_addf(&title, "%s run %lld (%s, %s, ", r > 1 ? ";" : "", ours[r], db_col_text(o, 0),
                     db_col_text(o, 1));
            title_code(&title, db, ours[r], db_col_text(o, 2));
            str_add(&title, ": ");
            int first = 1;
            for (int m = 0; m < models.n; m++)
                if (model_run[m] == ours[r]) {
                    str_addf(&title, "%s%s", first ? "" : ", ", models.v[m]);
                    first = 0;
                }
            str_add(&title, ")");
        }
        db_finalize(db, o);
    }
    if (with_id)
        str_addf(&title, "\nbeside it: run %lld (%s%s) on %s", with_id, other.name,
                 other.published ? ", published figures" : "", other.device);
    char floors[512], rule[1024];
    plan_json_floors_text(db_col_text(st, 4), floors, sizeof floors);
    snprintf(rule, sizeof rule, "flagged (%d) = accuracy gate: mIoU under 99%% of %s's, or top-mask agreement with %s "
             "under the floor of the stage's precision (%s)", flagged, db_col_text(st, 5), db_col_text(st, 5), floors);
    db_finalize(db, st);
    str_add(&title, "\n");
    wrap_into(&title, rule, width_chars);
    if (adds.len) {
        str_add(&title, "\n");
        wrap_into(&title, adds.s, width_chars);
    }
    int title_lines = 1;
    for (const char *p = title.s; *p; p++) title_lines += *p == '\n';
    str_add(&vars, "title = ");
    gp_string(&vars, title.s);
    str_addf(&vars, "\ntitle_lines = %d\n", title_lines);
    FILE *vf = fopen(vars_path, "w");
    if (!vf || fputs(vars.s, vf) < 0 || fclose(vf) != 0) die("plot: cannot write %s: %s", vars_path, strerror(errno));

    char *outdir = xstrdup(out), *slash = strrchr(outdir, '/');
    if (slash) {
        *slash = 0;
        if (mkdir_p(outdir) != 0) die("plot: cannot create %s: %s", outdir, strerror(errno));
    }
    free(outdir);
    Str expr;
    str_init(&expr);
    str_add(&expr, "varsfile = ");
    gp_string(&expr, vars_path);

    pid_t pid = fork();
    if (pid < 0) die("plot: fork: %s", strerror(errno));
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", expr.s, script, (char *)NULL);
        fprintf(stderr, "waterfall: cannot run gnuplot: %s (install Debian's gnuplot-nox)\n", strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("plot: waitpid: %s", strerror(errno));
    if (!getenv("WF_KEEP_PLOT_DATA")) {
        unlink(data_path);
        unlink(vars_path);
        rmdir(tmpdir);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("plot: gnuplot failed (status %d)", status);
    fprintf(stderr, "waterfall: run%s", n_ours > 1 ? "s" : "");
    for (int r = 0; r < n_ours; r++) fprintf(stderr, "%s%lld", r == 0 ? " " : r == n_ours - 1 ? " and " : ", ", ours[r]);
    if (with_id) fprintf(stderr, ", with run %lld beside %s,", with_id, n_ours > 1 ? "them" : "it");
    fprintf(stderr, " drawn to %s\n", out);
    str_free(&vars), str_free(&title), str_free(&expr), str_free(&adds);
    names_free(&models), names_free(&stages), names_free(&series);
    free(series_bs);
    free(model_run);
    free(ymax);
    db_close(db);
    return 0;
}
