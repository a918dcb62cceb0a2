// waterfall run: one fresh stage process per (stage, model, batch size), results into SQLite.
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "common/build_info.h"
#include "db.h"
#include "plan.h"
#include "runner.h"
#include "store.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: waterfall run [EXPERIMENT] [--stages LIST] [--models LIST] [--batch-sizes LIST]\n"
        "           [--coco DIR] [--slice NAME] [--checkpoint-dir DIR] [--limit N] [--warmup N]\n"
        "           [--min-batches N] [--max-passes P] [--target-noise X] [--timeout SECONDS]\n"
        "           [--stage-dir DIR] [--db FILE]\n"
        "       waterfall run --resume [RUN] [--force] [--close REASON] [--db FILE]\n"
        "Runs every (stage, model, batch size) of the experiment as its own sam-<stage> eval\n"
        "process and stores the results. EXPERIMENT is a definition file (experiments/NAME.json,\n"
        "or just NAME); options given after it override its fields.\n"
        "  --stages LIST        comma-separated stages; 'gpu' = every built GPU stage, 'all' = cpu too\n"
        "  --models LIST        vit_b,vit_h,... or LABEL=CHECKPOINT (a .pth or synthetic:MODEL[:SEED])\n"
        "  --batch-sizes LIST   e.g. 1,8,32\n"
        "  --coco DIR           COCO layout folder (default: the synthetic subset beside waterfall,\n"
        "                       data/synthetic-coco, made by sam-data synth on first use)\n"
        "  --slice NAME         annotation slice (default val2017)\n"
        "  --checkpoint-dir DIR find sam_<model>_*.pth there (default: synthetic weights)\n"
        "  --limit N            images per experiment (default all)\n"
        "  --warmup N           warm-up repetitions of the first batch (default 3)\n"
        "  --timeout SECONDS    limit per experiment (default 1800)\n"
        "  --min-batches N      timed passes over the subset continue until N batches are timed\n"
        "                       (default %d) ...\n"
        "  --target-noise X     ... and, up to 4 N batches, until the batch-time noise (relative\n"
        "                       standard deviation) is at most X (default %g) ...\n"
        "  --max-passes P       ... or P passes are made (default %d)\n"
        "  --stage-dir DIR      where sam-<stage> executables are (default: beside waterfall)\n"
        "  --db FILE            results database (default " WF_DEFAULT_DB ")\n"
        "  --resume [RUN]       finish an incomplete run (default: the latest incomplete one)\n"
        "  --force              with --resume: take over a run started on another host\n"
        "  --close REASON       with --resume: run nothing more; record the experiments not run as\n"
        "                       failed (\"not run: REASON\") and complete the run (its machine is gone)\n"
        "mIoU and masks come from the first pass; img/s is images timed over the timed ms of every\n"
        "pass. Every stage and checkpoint is checked before anything is made (database, dataset,\n"
        "logs). A progress line follows each experiment, the run's expected duration the first.\n"
        "A failed experiment (crash, signal, timeout, out of memory, bad output) is recorded with\n"
        "its reason and the run goes on. Exit status: 0 when the run completed (even with failed\n"
        "experiments), 1 on a harness error.\n", WF_DEFAULT_MIN_BATCHES, WF_DEFAULT_TARGET_NOISE,
        WF_DEFAULT_MAX_PASSES);
}

// "45 s", "12 min", "2.3 h".
static void format_duration(double s, char *buf, size_t len) {
    if (s < 90) snprintf(buf, len, "%.0f s", s);
    else if (s < 5400) snprintf(buf, len, "%.0f min", s / 60);
    else snprintf(buf, len, "%.1f h", s / 3600);
}

// ---- identity -------------------------------------------------------------------------------
static void git_identity(const char *dir, RunIdentity *id) {
    char out[8192];
    id->git_commit[0] = 0;
    id->git_dirty = -1;
    char *rev[] = {"git", "-C", (char *)dir, "rev-parse", "HEAD", NULL};
    if (capture_cmd(rev, out, sizeof out) != 0 || strlen(out) < 7) return;  // not a checkout
    snprintf(id->git_commit, sizeof id->git_commit, "%s", out);
    // Untracked files count: the Makefile builds every source it finds in a folder.
    char *status[] = {"git", "-C", (char *)dir, "status", "--porcelain", NULL};
    if (capture_cmd(status, out, sizeof out) == 0) id->git_dirty = out[0] != 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The dataset's identity: the annotation file's bytes and every image file's name and size.
static void dataset_hash(const char *coco, const char *slice, char out[65]) {
    char path[4096];
    snprintf(path, sizeof path, "%s/annotations/instances_%s.json", coco, slice);
    char ann[65];
    if (sha256_file(path, ann) != 0) die("dataset: cannot read %s: %s", path, strerror(errno));
    Sha256 c;
    sha256_init(&c);
    sha256_update(&c, ann, 64);
    snprintf(path, sizeof path, "%s/%s", coco, slice);
    DIR *d = opendir(path);
    if (!d) die("dataset: cannot open image folder %s: %s", path, strerror(errno));
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = xrealloc(names, sizeof(char *) * (size_t)(n + 1));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    for (int i = 0; i < n; i++) {
        char file[4096], line[4400];
        struct stat sb;
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        long long size = stat(file, &sb) == 0 ? (long long)sb.st_size : -1;
        int len = snprintf(line, sizeof line, "%s\t%lld\n", names[i], size);
        sha256_update(&c, line, (size_t)len);
        free(names[i]);
    }
    free(names);
    sha256_hex(&c, out);
}

// The default synthetic subset, made once by sam-data beside waterfall. A lock file keeps two
// harnesses started together from generating it into one folder at once.
static void ensure_default_dataset(const char *dir, const char *slice) {
    char ann[4096], lock[4096], parent[4096];
    snprintf(ann, sizeof ann, "%s/annotations/instances_%s.json", dir, slice);
    if (file_exists(ann)) return;
    snprintf(parent, sizeof parent, "%s", dir);
    *strrchr(parent, '/') = 0;
    if (mkdir_p(parent) != 0) die("cannot create %s: %s", parent, strerror(errno));
    snprintf(lock, sizeof lock, "%s/.synth.lock", parent);
    int fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) die("cannot lock %s: %s", lock, strerror(errno));
    if (!file_exists(ann)) {
        char tool[4096];
        snprintf(tool, sizeof tool, "%s/sam-data", exe_dir());
        if (access(tool, X_OK) != 0)
            die("the default synthetic subset %s is missing and %s is not built (make %s)", dir, tool, tool);
        fprintf(stderr, "waterfall: making the default synthetic subset in %s\n", dir);
        char *argv[] = {tool, "synth", "--out", (char *)dir, NULL};
        char out[4096];
        int rc = capture_cmd(argv, out, sizeof out);
        if (rc != 0 || !file_exists(ann))
            die("%s synth --out %s failed (status %d); run it by hand to see why", tool, dir, rc);
    }
    flock(fd, LOCK_UN);
    close(fd);
}

// ---- progress ------------------------------------------------------------------------------
typedef struct {
    int tty, index, total;
    const char *stage, *model;
    int batch_size;
    double t0;
} Progress;

static void on_batch(void *ctx, const ExpResult *r) {
    Progress *p = ctx;
    if (!p->tty) return;
    double ms = 0;
    long long images = 0;
    for (int i = 0; i < r->n_samples; i++) {
        ms += r->samples[i].ms;
        images += r->samples[i].images;
    }
    fprintf(stderr, "\r\033[K[%d/%d] %s %s bs=%d: %d batches timed, %.2f img/s, %.0f s",
            p->index, p->total, p->stage, p->model, p->batch_size, r->n_samples,
            ms > 0 ? images / ms * 1000 : 0.0, mono_now() - p->t0);
    fflush(stderr);
}

// ---- the run loop ----------------------------------------------------------------------------
typedef struct {
    long long id;
    int seq, batch_size;
    char stage[64], model[256], spec[4096];
} PendingExp;

static int run_experiments(sqlite3 *db, long long run_id, const Plan *p, const char *db_path) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT id, seq, stage, model, batch_size, checkpoint FROM experiments"
        " WHERE run_id = ?1 AND status = 'pending' ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    PendingExp *v = NULL;
    int n = 0;
    while (SQL_ROW(db, st)) {
        v = xrealloc(v, sizeof(PendingExp) * (size_t)(n + 1));
        PendingExp *e = &v[n++];
        e->id = sqlite3_column_int64(st, 0);
        e->seq = sqlite3_column_int(st, 1);
        snprintf(e->stage, sizeof e->stage, "%s", db_col_text(st, 2));
        snprintf(e->model, sizeof e->model, "%s", db_col_text(st, 3));
        e->batch_size = sqlite3_column_int(st, 4);
        snprintf(e->spec, sizeof e->spec, "%s", db_col_text(st, 5));
    }
    db_finalize(db, st);
    st = db_prepare(db, "SELECT count(*) FROM experiments WHERE run_id = ?1");
    db_bind_int(db, st, 1, run_id);
    int total = SQL_ROW(db, st) ? sqlite3_column_int(st, 0) : 0;
    db_finalize(db, st);

    char logdir[4096], dbdir[4096];
    snprintf(dbdir, sizeof dbdir, "%s", db_path);
    char *slash = strrchr(dbdir, '/');
    if (slash) *slash = 0;
    else snprintf(dbdir, sizeof dbdir, ".");
    snprintf(logdir, sizeof logdir, "%s/logs/run-%lld", dbdir, run_id);
    if (mkdir_p(logdir) != 0) die("cannot create %s: %s", logdir, strerror(errno));

    int tty = isatty(2);
    double spent = 0;  // wall seconds of the experiments run by this process
    Str noted_builds;  // " stage " for each stage noted as built from another commit
    str_init(&noted_builds);
    for (int i = 0; i < n; i++) {
        PendingExp *e = &v[i];
        double iter_start = mono_now();
        char exe[4096], bs[16], limit[16], warm[16], masks[4400], errlog[4400], minb[16], maxp[16], noise[32];
        plan_stage_path(p, e->stage, exe, sizeof exe);
        snprintf(bs, sizeof bs, "%d", e->batch_size);
        snprintf(limit, sizeof limit, "%d", p->limit);
        snprintf(warm, sizeof warm, "%d", p->warmup);
        snprintf(minb, sizeof minb, "%d", p->min_batches);
        snprintf(maxp, sizeof maxp, "%d", p->max_passes);
        snprintf(noise, sizeof noise, "%.17g", p->target_noise);
        snprintf(masks, sizeof masks, "%s/%03d-%s-%s-bs%d.masks.jsonl", logdir, e->seq, e->stage, e->model, e->batch_size);
        snprintf(errlog, sizeof errlog, "%s/%03d-%s-%s-bs%d.stderr", logdir, e->seq, e->stage, e->model, e->batch_size);
        char *argv[] = {exe, "eval", "--checkpoint", e->spec, "--coco", p->coco, "--slice", p->slice,
                        "--batch-size", bs, "--limit", limit, "--warmup", warm,
                        "--min-batches", minb, "--max-passes", maxp, "--target-noise", noise,
                        "--masks-out", masks, NULL};
        Progress prog = {tty, e->seq + 1, total, e->stage, e->model, e->batch_size, mono_now()};
        RunSpec spec = {exe, argv, errlog, masks, p->timeout_s, on_batch, &prog};
        store_experiment_started(db, e->id);
        if (tty) {
            fprintf(stderr, "\r\033[K[%d/%d] %s %s bs=%d: loading the model and the first batch",
                    e->seq + 1, total, e->stage, e->model, e->batch_size);
            fflush(stderr);
        }
        ExpResult r;
        RunOutcome o;
        exp_result_init(&r);
        runner_run(&spec, &r, &o);
        // A stage built from another commit than this waterfall (a bundle mixed by hand, a
        // stage folder from elsewhere): said once per stage. `show` lists every build of a run.
        char key[96];
        snprintf(key, sizeof key, " %s ", e->stage);
        if (r.build && strcmp(r.build, sam_build_commit()) != 0 && !strstr(noted_builds.s, key)) {
            fprintf(stderr, "waterfall: note: sam-%s was built from %s, this waterfall from %s\n", e->stage,
                    r.build, sam_build_commit());
            str_add(&noted_builds, key);
        }
        if (r.device_name) store_run_device(db, run_id, r.device_name, r.device_json);
        store_experiment_result(db, e->id, &r, &o);
        if (tty) fprintf(stderr, "\r\033[K");
        // The expected duration: the experiments left at the mean time of those run so far,
        // storing each included (its masks and their agreement with the reference's: on the
        // H200 a third of a vit_b run's time; the reference stage runs first, so the first
        // estimate errs long on a GPU).
        spent += mono_now() - iter_start;
        int left = n - i - 1;
        char eta[64] = "", took[32];
        format_duration(o.wall_s, took, sizeof took);
        if (left > 0) {
            char d[32];
            format_duration(spent / (i + 1) * left, d, sizeof d);
            snprintf(eta, sizeof eta, "; %d left, about %s", left, d);
        }
        if (o.ok) {
            // The agreement too, so that a log cut off with its database still holds the
            // accuracy of every finished experiment.
            double agree, same;
            char acc[96] = "";
            if (store_experiment_agreement(db, e->id, &agree, &same)) {
                int o = snprintf(acc, sizeof acc, ", agreement %.4f", agree);
                if (!isnan(same)) snprintf(acc + o, sizeof acc - (size_t)o, " (same-index %.4f)", same);
            }
            fprintf(stderr, "[%d/%d] %s %s bs=%d: ok, %.2f img/s over %lld batches in %lld pass%s, mIoU %.4f%s (%s%s)\n",
                    e->seq + 1, total, e->stage, e->model, e->batch_size, r.img_s, r.batches_timed,
                    r.passes, r.passes == 1 ? "" : "es", r.miou, acc, took, eta);
            unlink(masks);  // stored in the database now
        } else {
            fprintf(stderr, "[%d/%d] %s %s bs=%d: FAILED: %s (%s%s)\n", e->seq + 1, total, e->stage,
                    e->model, e->batch_size, o.reason, took, eta);
        }
        if (i == 0) {
            char d[32];
            char first[32];
            format_duration(spent, first, sizeof first);
            format_duration(spent * n, d, sizeof d);
            fprintf(stderr, "waterfall: expected duration of %s: about %s (%d experiment%s at the first one's %s)\n",
                    n == total ? "the run" : "the rest of the run", d, n, n == 1 ? "" : "s", first);
        }
        exp_result_free(&r);
    }
    str_free(&noted_builds);
    free(v);
    return 0;
}

static char *join_argv(int argc, char **argv) {
    Str s;
    str_init(&s);
    str_add(&s, "waterfall");
    for (int i = 0; i < argc; i++) {
        str_add(&s, " ");
        str_add(&s, argv[i]);
    }
    return s.s;
}

static void find_experiment_file(const char *arg, char *out, size_t len) {
    if (file_exists(arg)) {
        snprintf(out, len, "%s", arg);
        return;
    }
    snprintf(out, len, "experiments/%s.json", arg);
    if (file_exists(out)) return;
    snprintf(out, len, "%s/../experiments/%s.json", exe_dir(), arg);
    if (file_exists(out)) return;
    die("no experiment definition '%s' (not a file, not experiments/%s.json)", arg, arg);
}

static long long latest_incomplete(sqlite3 *db) {
    sqlite3_stmt *st = db_prepare(db, "SELECT id FROM runs WHERE status != 'complete' ORDER BY id DESC");
    long long found = 0;
    while (!found && SQL_ROW(db, st)) {
        long long id = sqlite3_column_int64(st, 0);
        if (strcmp(store_run_state(db, id), "incomplete") == 0) found = id;
    }
    db_finalize(db, st);
    return found;
}

// A count flag: an integer >= 0, refused otherwise (a typo must not mean "all images").
static int parse_count(const char *s, const char *flag) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 100000000) die("run: %s wants an integer >= 0, got '%s'", flag, s);
    return (int)v;
}

int cmd_run(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB;
    int resume = 0, force = 0;
    long long resume_id = 0;
    const char *close_reason = NULL;
    Plan p;
    plan_init(&p);
    char err[1024];
    // First pass: the definition file, so flags given anywhere override it.
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-') {
            if (strcmp(argv[i], "--resume") && strcmp(argv[i], "--force") && i + 1 < argc) i++;
            else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc && argv[i + 1][0] != '-') i++;
            continue;
        }
        char path[4096];
        find_experiment_file(argv[i], path, sizeof path);
        if (plan_load_file(&p, path, err, sizeof err) != 0) die("%s", err);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (a[0] != '-') continue;
        if (strcmp(a, "--db") == 0 && more) db_path = argv[++i];
        else if (strcmp(a, "--stages") == 0 && more) plan_set_stages(&p, argv[++i]);
        else if (strcmp(a, "--models") == 0 && more) plan_set_models(&p, argv[++i]);
        else if (strcmp(a, "--batch-sizes") == 0 && more) {
            if (plan_set_batch_sizes(&p, argv[++i]) != 0) die("run: --batch-sizes wants integers 1..4096, got '%s'", argv[i]);
        } else if (strcmp(a, "--coco") == 0 && more) {
            free(p.coco);
            p.coco = xstrdup(argv[++i]);
        } else if (strcmp(a, "--slice") == 0 && more) {
            free(p.slice);
            p.slice = xstrdup(argv[++i]);
        } else if (strcmp(a, "--checkpoint-dir") == 0 && more) {
            free(p.checkpoint_dir);
            p.checkpoint_dir = xstrdup(argv[++i]);
        } else if (strcmp(a, "--stage-dir") == 0 && more) {
            free(p.stage_dir);
            p.stage_dir = xstrdup(argv[++i]);
        } else if (strcmp(a, "--limit") == 0 && more) p.limit = parse_count(argv[++i], "--limit");
        else if (strcmp(a, "--warmup") == 0 && more) p.warmup = parse_count(argv[++i], "--warmup");
        else if (strcmp(a, "--min-batches") == 0 && more) {
            p.min_batches = parse_count(argv[++i], "--min-batches");
            if (p.min_batches < 1) die("run: --min-batches wants an integer >= 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--max-passes") == 0 && more) {
            p.max_passes = parse_count(argv[++i], "--max-passes");
            if (p.max_passes < 1 || p.max_passes > 1000) die("run: --max-passes wants an integer 1..1000, got '%s'", argv[i]);
        } else if (strcmp(a, "--target-noise") == 0 && more) {
            char *end;
            p.target_noise = strtod(argv[++i], &end);
            if (*end || !(p.target_noise > 0 && p.target_noise < 1))
                die("run: --target-noise wants a number in (0, 1), got '%s'", argv[i]);
        }
        else if (strcmp(a, "--timeout") == 0 && more) {
            char *end;
            p.timeout_s = strtod(argv[++i], &end);
            if (*end || !(p.timeout_s > 0)) die("run: --timeout wants seconds > 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--resume") == 0) {
            resume = 1;
            if (more && argv[i + 1][0] != '-') resume_id = parse_run_id(argv[++i]);
        } else if (strcmp(a, "--force") == 0) force = 1;
        else if (strcmp(a, "--close") == 0 && more) close_reason = argv[++i];
        else die("run: unknown or incomplete option '%s' (see waterfall run --help)", a);
    }

    if (close_reason && !resume) die("run: --close goes with --resume (it closes an incomplete run)");
    sqlite3 *db;
    long long run_id;
    if (resume) {
        db = db_open_existing(db_path);
        if (!resume_id) resume_id = latest_incomplete(db);
        if (!resume_id) die("run --resume: no incomplete run in %s", db_path);
        sqlite3_stmt *st = db_prepare(db, "SELECT plan_json FROM runs WHERE id = ?1");
        db_bind_int(db, st, 1, resume_id);
        if (!SQL_ROW(db, st)) die("run --resume: no run %lld in %s", resume_id, db_path);
        cJSON *j = cJSON_Parse(db_col_text(st, 0));
        db_finalize(db, st);
        if (!j) die("run %lld: its stored plan is not JSON", resume_id);
        plan_free(&p);
        plan_init(&p);
        if (plan_from_json(&p, j, "stored plan", err, sizeof err) != 0) die("%s", err);
        cJSON_Delete(j);
        if (close_reason) {  // nothing runs: the stages need not be here
            store_claim_run(db, resume_id, force);
            int n = store_close_run(db, resume_id, close_reason);
            store_finish_run(db, resume_id);
            fprintf(stderr, "waterfall: run %lld closed with %d experiments not run (%s)\n", resume_id, n, close_reason);
            db_close(db);
            plan_free(&p);
            return 0;
        }
        // Every stage is checked before the run is taken over.
        if (plan_resolve(&p, err, sizeof err) != 0) die("run %lld: %s", resume_id, err);
        store_claim_run(db, resume_id, force);
        run_id = resume_id;
        fprintf(stderr, "waterfall: resuming run %lld\n", run_id);
    } else {
        // Stages, models and checkpoints are checked before anything is made: no database,
        // no dataset, no log folder for a run that cannot start.
        if (plan_resolve(&p, err, sizeof err) != 0) die("run: %s", err);
        if (!p.coco) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/data/synthetic-coco", exe_dir());
            ensure_default_dataset(dir, p.slice);
            p.coco = xstrdup(dir);
        }
        RunIdentity id = {0};
        git_identity(plan_stage_dir(&p), &id);
        host_name(id.host, sizeof id.host);
        char *real = realpath(p.coco, NULL);
        if (!real) die("dataset %s: %s", p.coco, strerror(errno));
        snprintf(id.dataset, sizeof id.dataset, "%s", real);
        free(real);
        dataset_hash(p.coco, p.slice, id.dataset_hash);
        db = db_open(db_path);
        id.ckpt_hash = xcalloc((size_t)p.n_models, sizeof(char *));
        // Same configuration = same stages, models (by weights), batch sizes, images. (compare
        // pairs experiments by their own identity, not by this key; import uses it to skip
        // runs it already has.)
        Str key;
        str_init(&key);
        str_addf(&key, "dataset=%s;slice=%s;limit=%d;warmup=%d;stages=", id.dataset_hash, p.slice, p.limit, p.warmup);
        for (int s = 0; s < p.n_stages; s++) str_addf(&key, "%s,", p.stages[s]);
        str_add(&key, ";models=");
        for (int m = 0; m < p.n_models; m++) {
            char h[72];
            store_checkpoint_hash(db, p.models[m].spec, h);
            id.ckpt_hash[m] = xstrdup(h);
            str_addf(&key, "%s:%s,", p.models[m].label, h);
        }
        str_add(&key, ";bs=");
        for (int b = 0; b < p.n_batch_sizes; b++) str_addf(&key, "%d,", p.batch_sizes[b]);
        Sha256 c;
        sha256_init(&c);
        sha256_update(&c, key.s, key.len);
        sha256_hex(&c, id.config_key);
        str_free(&key);
        id.argv = join_argv(argc, argv);
        char *plan_json = plan_to_json(&p);
        run_id = store_create_run(db, &p, &id, plan_json);
        free(plan_json);
        free(id.argv);
        for (int m = 0; m < p.n_models; m++) free(id.ckpt_hash[m]);
        free(id.ckpt_hash);
        fprintf(stderr, "waterfall: run %lld (%s) into %s\n", run_id, p.name, db_path);
    }
    run_experiments(db, run_id, &p, db_path);
    store_finish_run(db, run_id);
    report_summary(db, run_id, stdout);
    db_close(db);
    plan_free(&p);
    return 0;
}
