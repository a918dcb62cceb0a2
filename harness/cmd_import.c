// waterfall import: copies the complete runs of another results database (a .db file, or a
// text dump made by `sqlite3 results.db .dump`) into this one, for results measured on another
// machine (the lent GPU machine) or committed under experiments/.
#include <errno.h>
#include <math.h>
#include <string.h>

#include "cmds.h"
#include "db.h"
#include "util.h"

#include <cjson/cJSON.h>

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall import FILE [--db FILE]\n"
               "Copies every complete run of FILE (a results database, an SQL dump made by 'waterfall\n"
               "export --sql' or 'sqlite3 results.db .dump', or such a dump xz-compressed) into the\n"
               "database, with new run and experiment ids. Older schemas are migrated first; runs already present (same start\n"
               "time, host, process and configuration) and incomplete runs are skipped.\n"
               "FILE may also be the seed's results.csv (segment-anything-fast experiments/results.csv\n"
               "or p4d_results/*.csv): it becomes one run marked published, on the device the seed's\n"
               "README names (" WF_PUBLISHED_DEVICE "), the seed's techniques named as our stages\n"
               "(fp32, bf16, compile -> fused, SDPA -> sdpa, Triton -> relpos, NT -> nested, int8,\n"
               "sparse; other names kept); rows marked ERROR are skipped. Importing a file twice adds\n"
               "nothing. The database is created if it does not exist.\n");
}

// ---- the seed's results.csv --------------------------------------------------------------------
// The header's start (experiments/run_experiments.py writes it); the device of its README.
static const char SEED_HEADER[] = "technique,time,sam_commit_name,pytorch_version,sam_model_type,batch_size,"
                                  "memory(MiB),memory(%),img_s(avg),batch_ms(avg)/batch_size,mIoU";

typedef struct {
    char **v;
    int n;
} Fields;

static void fields_free(Fields *f) {
    for (int i = 0; i < f->n; i++) free(f->v[i]);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

// One CSV line (quotes as RFC 4180; no newline inside a field in the seed's files).
static void split_csv(const char *line, Fields *out) {
    out->v = NULL;
    out->n = 0;
    const char *p = line;
    for (;;) {
        Str s;
        str_init(&s);
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                str_addn(&s, p++, 1);
            }
            if (*p == '"') p++;
        }
        while (*p && *p != ',') str_addn(&s, p++, 1);
        out->v = xrealloc(out->v, sizeof(char *) * (size_t)(out->n + 1));
        out->v[out->n++] = s.s;
        if (*p != ',') break;
        p++;
    }
}

static int col_of(const Fields *h, const char *name) {
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->v[i], name)) return i;
    return -1;
}

static const char *stage_of_technique(const char *t) {
    static const char *const map[][2] = {{"fp32", "fp32"}, {"bf16", "bf16"}, {"compile", "fused"},
                                         {"SDPA", "sdpa"}, {"Triton", "relpos"}, {"NT", "nested"},
                                         {"int8", "int8"}, {"sparse", "sparse"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], t)) return map[i][1];
    return NULL;
}

static int parse_num(const char *s, double *out) {
    char *end;
    if (!s || !*s) return -1;
    *out = strtod(s, &end);
    return *end || !isfinite(*out) ? -1 : 0;
}

static int import_seed_csv(const char *src, const char *text, const char *db_path) {
    char hash[65];
    Sha256 c;
    sha256_init(&c);
    sha256_update(&c, text, strlen(text));
    sha256_hex(&c, hash);
    char key[80];
    snprintf(key, sizeof key, "published:%.64s", hash);
    sqlite3 *db = db_open(db_path);
    db_begin(db);
    sqlite3_stmt *st = db_prepare(db, "SELECT id FROM runs WHERE config_key = ?1 AND published = 1");
    db_bind_text(db, st, 1, key);
    if (SQL_ROW(db, st)) {
        printf("0 runs imported: %s is already run %lld\n", src, (long long)sqlite3_column_int64(st, 0));
        db_finalize(db, st);
        db_exec(db, "ROLLBACK");
        db_close(db);
        return 0;
    }
    db_finalize(db, st);

    // Lines: the header, then one row per experiment.
    char *copy = xstrdup(text), *save = NULL;
    char *line = strtok_r(copy, "\n", &save);
    Fields h = {0};
    split_csv(line, &h);
    for (int i = 0; i < h.n; i++) h.v[i][strcspn(h.v[i], "\r")] = 0;
    static const char *const need[] = {"technique", "sam_model_type", "batch_size", "memory(MiB)", "img_s(avg)",
                                       "batch_ms(avg)/batch_size", "mIoU"};
    int ci[7];
    for (int i = 0; i < 7; i++)
        if ((ci[i] = col_of(&h, need[i])) < 0) die("import: %s: the header has no column %s", src, need[i]);
    int c_nb = col_of(&h, "num_batches"), c_ni = col_of(&h, "num_images");

    char now[32], name[300];
    iso_time(wall_now(), now, sizeof now);
    const char *base = strrchr(src, '/');
    snprintf(name, sizeof name, "published %s", base ? base + 1 : src);
    cJSON *plan = cJSON_CreateObject();
    cJSON_AddStringToObject(plan, "published", src);
    cJSON_AddStringToObject(plan, "source", "segment-anything-fast results.csv");
    char *plan_json = cJSON_PrintUnformatted(plan);
    cJSON_Delete(plan);
    Str argvs;
    str_init(&argvs);
    str_addf(&argvs, "waterfall import %s", src);
    st = db_prepare(db,
        "INSERT INTO runs (name, started_at, ended_at, status, config_key, plan_json, argv, device_name,"
        " device_json, dataset, reference_stage, published) VALUES (?1, ?2, ?2, 'complete', ?3, ?4, ?5, ?6, ?7,"
        " 'COCO val2017 (the seed''s, 4952 images with annotations)', 'fp32', 1)");
    db_bind_text(db, st, 1, name);
    db_bind_text(db, st, 2, now);
    db_bind_text(db, st, 3, key);
    db_bind_text(db, st, 4, plan_json);
    db_bind_text(db, st, 5, argvs.s);
    db_bind_text(db, st, 6, WF_PUBLISHED_DEVICE);
    db_bind_text(db, st, 7, "{\"name\":\"" WF_PUBLISHED_DEVICE "\",\"source\":\"segment-anything-fast README "
                            "(A100 40 GB, p4d.24xlarge)\"}");
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
    cJSON_free(plan_json);
    str_free(&argvs);
    long long run_id = sqlite3_last_insert_rowid(db);

    sqlite3_stmt *ins = db_prepare(db,
        "INSERT INTO experiments (run_id, seq, stage, model, batch_size, checkpoint, status, images_timed,"
        " batches_timed, total_ms, img_s, peak_bytes, miou, device_name, device_json, summary_json, stage_info,"
        " gate_reason) VALUES (?1, ?2, ?3, ?4, ?5, 'published', 'ok', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
        " 'not judged: published figures, no masks')");
    int seq = 0, lineno = 1, errors = 0, dups = 0;
    Str renamed;
    str_init(&renamed);
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        line[strcspn(line, "\r")] = 0;
        if (!line[0]) continue;
        Fields r;
        split_csv(line, &r);
        // The seed writes "technique,time,commit,version,ERROR" for an experiment that failed.
        int is_error = 0;
        for (int i = 0; i < r.n; i++) is_error |= !strcmp(r.v[i], "ERROR");
        if (is_error) {
            errors++;
            fields_free(&r);
            continue;
        }
        if (r.n < h.n) die("import: %s line %d has %d fields, the header %d", src, lineno, r.n, h.n);
        const char *tech = r.v[ci[0]], *model = r.v[ci[1]];
        const char *stage = stage_of_technique(tech);
        if (!stage) {
            stage = tech;
            if (!strstr(renamed.s, tech)) str_addf(&renamed, "%s%s", renamed.len ? ", " : "", tech);
        }
        double bs, mib, img_s, per_image, miou, nb = NAN, ni = NAN;
        if (parse_num(r.v[ci[2]], &bs) || bs < 1 || bs != (int)bs || parse_num(r.v[ci[3]], &mib) ||
            parse_num(r.v[ci[4]], &img_s) || img_s <= 0 || parse_num(r.v[ci[5]], &per_image) ||
            parse_num(r.v[ci[6]], &miou) || !model[0])
            die("import: %s line %d: batch_size, memory(MiB), img_s(avg), batch_ms(avg)/batch_size or mIoU "
                "is not a number", src, lineno);
        if (c_nb >= 0) parse_num(r.v[c_nb], &nb);
        if (c_ni >= 0) parse_num(r.v[c_ni], &ni);
        // One experiment per stage, model and batch size: a repeated row is left out.
        sqlite3_stmt *dup = db_prepare(db,
            "SELECT count(*) FROM experiments WHERE run_id = ?1 AND stage = ?2 AND model = ?3 AND batch_size = ?4");
        db_bind_int(db, dup, 1, run_id);
        db_bind_text(db, dup, 2, stage);
        db_bind_text(db, dup, 3, model);
        db_bind_int(db, dup, 4, (long long)bs);
        CHECK(SQL_ROW(db, dup));
        int seen = sqlite3_column_int(dup, 0);
        db_finalize(db, dup);
        if (seen) {
            dups++;
            fields_free(&r);
            continue;
        }
        // The row as it was, and the seed's switches as the stage's choices.
        cJSON *row = cJSON_CreateObject();
        for (int i = 0; i < h.n; i++) cJSON_AddStringToObject(row, h.v[i], r.v[i]);
        cJSON *si = cJSON_CreateObject();
        cJSON_AddStringToObject(si, "name", stage);
        // The stage each builds on (design.md section 2), so show can say what changed.
        static const char *const after[][2] = {{"bf16", "fp32"}, {"fused", "bf16"}, {"sdpa", "fused"},
                                               {"relpos", "fused"}, {"nested", "relpos"}, {"int8", "nested"},
                                               {"sparse", "nested"}};
        const char *aft = NULL;
        for (size_t k = 0; k < sizeof after / sizeof after[0]; k++)
            if (!strcmp(after[k][0], stage)) aft = after[k][1];
        if (aft) cJSON_AddStringToObject(si, "after", aft);
        else cJSON_AddNullToObject(si, "after");
        Str adds;
        str_init(&adds);
        str_addf(&adds, "the seed's %s", tech);
        cJSON_AddStringToObject(si, "adds", adds.s);
        str_free(&adds);
        cJSON *ch = cJSON_AddObjectToObject(si, "choices");
        static const char *const sw[] = {"use_compile", "use_half", "compress", "epilogue_fusion_first",
                                         "use_compile_decoder", "use_nested_tensor", "use_rel_pos",
                                         "pad_input_image_batch"};
        for (size_t k = 0; k < sizeof sw / sizeof sw[0]; k++) {
            int c2 = col_of(&h, sw[k]);
            if (c2 >= 0) cJSON_AddStringToObject(ch, sw[k], r.v[c2]);
        }
        char *row_json = cJSON_PrintUnformatted(row), *si_json = cJSON_PrintUnformatted(si);
        SQL_OK(db, sqlite3_reset(ins));
        db_bind_int(db, ins, 1, run_id);
        db_bind_int(db, ins, 2, seq++);
        db_bind_text(db, ins, 3, stage);
        db_bind_text(db, ins, 4, model);
        db_bind_int(db, ins, 5, (long long)bs);
        // total_ms so that total / batches / batch size is the seed's batch_ms(avg)/batch_size.
        if (!isnan(ni) && !isnan(nb) && nb > 0) {
            db_bind_int(db, ins, 6, (long long)ni);
            db_bind_int(db, ins, 7, (long long)nb);
            db_bind_double(db, ins, 8, per_image * bs * nb);
        } else {
            db_bind_null(db, ins, 6), db_bind_null(db, ins, 7), db_bind_null(db, ins, 8);
        }
        db_bind_double(db, ins, 9, img_s);
        db_bind_int(db, ins, 10, (long long)(mib * 1048576.0));
        db_bind_double(db, ins, 11, miou);
        db_bind_text(db, ins, 12, WF_PUBLISHED_DEVICE);
        db_bind_text(db, ins, 13, "{\"name\":\"" WF_PUBLISHED_DEVICE "\",\"kind\":\"cuda\"}");
        db_bind_text(db, ins, 14, row_json);
        db_bind_text(db, ins, 15, si_json);
        SQL_DONE(db, sqlite3_step(ins));
        cJSON_free(row_json);
        cJSON_free(si_json);
        cJSON_Delete(row);
        cJSON_Delete(si);
        fields_free(&r);
    }
    db_finalize(db, ins);
    if (seq == 0) die("import: %s holds no row to import (%d marked ERROR)", src, errors);
    db_commit(db);
    db_close(db);
    fields_free(&h);
    free(copy);
    printf("imported %s as run %lld (published, %s): %d experiments", src, run_id, WF_PUBLISHED_DEVICE, seq);
    if (errors) printf(", %d row%s marked ERROR skipped", errors, errors == 1 ? "" : "s");
    if (dups) printf(", %d repeated row%s skipped", dups, dups == 1 ? "" : "s");
    if (renamed.len) printf(", techniques kept by their own name: %s", renamed.s);
    printf("\n");
    str_free(&renamed);
    return 0;
}

// The schema version of a dump (which does not carry PRAGMA user_version), from its columns.
static int infer_version(sqlite3 *db) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'runs'),"
        " (SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'gate'),"
        " (SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'other_load'),"
        " (SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'stage_info')");
    CHECK(SQL_ROW(db, st));
    int v = !sqlite3_column_int(st, 0) ? 0 : sqlite3_column_int(st, 3) ? 4 : sqlite3_column_int(st, 2) ? 3
          : sqlite3_column_int(st, 1) ? 2 : 1;
    db_finalize(db, st);
    return v;
}

// "a, b, c" of a table's columns except id, in the current schema's order.
static char *columns(sqlite3 *db, const char *table, const char *prefix) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') ORDER BY cid", table);
    sqlite3_stmt *st = db_prepare(db, sql);
    Str s;
    str_init(&s);
    while (SQL_ROW(db, st)) {
        const char *c = db_col_text(st, 0);
        if (!strcmp(c, "id")) continue;
        str_addf(&s, "%s%s%s", s.len ? ", " : "", prefix, c);
    }
    db_finalize(db, st);
    return s.s;
}

static void exec_int(sqlite3 *db, const char *sql, long long a, long long b) {
    sqlite3_stmt *st = db_prepare(db, sql);
    db_bind_int(db, st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2) db_bind_int(db, st, 2, b);
    SQL_DONE(db, sqlite3_step(st));
    db_finalize(db, st);
}

int cmd_import(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB, *src = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (argv[i][0] != '-' && !src) src = argv[i];
        else die("import: unknown option '%s' (see waterfall import --help)", argv[i]);
    }
    if (!src) die("import: which file? (see waterfall import --help)");
    size_t len;
    char *text;
    // An xz-compressed dump (the committed evidence is kept compressed): its text, through xz.
    static const unsigned char XZ_MAGIC[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    if (file_starts_with(src, XZ_MAGIC, sizeof XZ_MAGIC)) {
        int status;
        text = read_xz_all(src, &len, &status);
        if (!text)
            die("import: %s is xz-compressed and %s", src,
                status == 127 ? "xz could not be run (the xz-utils package)" : "xz could not decompress it");
    } else {
        text = read_file_all(src, &len);
        if (!text) die("import: cannot read %s: %s", src, strerror(errno));
    }
    if (strncmp(text, SEED_HEADER, strlen(SEED_HEADER)) == 0) {
        int rc = import_seed_csv(src, text, db_path);
        free(text);
        return rc;
    }
    // The destination exists and is current before anything is copied into it.
    db_close(db_open(db_path));

    // The source goes into memory, where it can be migrated without touching the file.
    sqlite3 *mem;
    SQL_OK(NULL, sqlite3_open(":memory:", &mem));
    if (len >= 16 && memcmp(text, "SQLite format 3", 16) == 0) {
        sqlite3 *file;
        SQL_OK(NULL, sqlite3_open_v2(src, &file, SQLITE_OPEN_READONLY, NULL));
        sqlite3_backup *bk = sqlite3_backup_init(mem, "main", file, "main");
        if (!bk) die("import: cannot read %s: %s", src, sqlite3_errmsg(mem));
        int rc = sqlite3_backup_step(bk, -1);
        if (rc != SQLITE_DONE) sql_fail(mem, rc, "sqlite3_backup_step", __FILE__, __LINE__);
        SQL_OK(mem, sqlite3_backup_finish(bk));
        SQL_OK(file, sqlite3_close(file));
    } else {
        char *err = NULL;
        if (sqlite3_exec(mem, text, NULL, NULL, &err) != SQLITE_OK)
            die("import: %s is neither a results database, an SQL dump of one, nor the seed's results.csv: %s",
                src, err ? err : "?");
    }
    free(text);
    int v;
    {
        sqlite3_stmt *st = db_prepare(mem, "PRAGMA user_version");
        v = SQL_ROW(mem, st) ? sqlite3_column_int(st, 0) : 0;
        db_finalize(mem, st);
    }
    if (v == 0) v = infer_version(mem);
    if (v == 0) die("import: %s holds no waterfall results (no runs table)", src);
    if (v > WF_SCHEMA_VERSION) die("import: %s has schema version %d, newer than this waterfall (%d)", src, v, WF_SCHEMA_VERSION);
    db_migrate_from(mem, v);

    char attach[4200];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS dst", db_path);
    if (strchr(db_path, '\'')) die("import: database path %s has a quote", db_path);
    db_exec(mem, attach);
    SQL_OK(mem, sqlite3_busy_timeout(mem, 120000));
    char *run_cols = columns(mem, "runs", ""), *exp_cols = columns(mem, "experiments", "");
    char *exp_cols_new = columns(mem, "experiments", "");
    // run_id is replaced by the new run's id when experiments are copied.
    {
        Str s;
        str_init(&s);
        char *copy = xstrdup(exp_cols_new), *save = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
            str_addf(&s, "%s%s", s.len ? ", " : "", strcmp(t, "run_id") ? t : "?1");
        free(copy);
        free(exp_cols_new);
        exp_cols_new = s.s;
    }
    db_begin(mem);
    db_exec(mem, "CREATE TEMP TABLE idmap (old INTEGER PRIMARY KEY, new INTEGER)");
    sqlite3_stmt *runs = db_prepare(mem,
        "SELECT r.id FROM main.runs r WHERE r.status = 'complete' AND NOT EXISTS (SELECT 1 FROM dst.runs d"
        " WHERE d.started_at = r.started_at AND d.host IS r.host AND d.pid IS r.pid"
        " AND d.config_key = r.config_key) ORDER BY r.id");
    int n_runs = 0, n_exps = 0;
    long long *ids = NULL;
    while (SQL_ROW(mem, runs)) {
        ids = xrealloc(ids, sizeof(long long) * (size_t)(n_runs + 1));
        ids[n_runs++] = sqlite3_column_int64(runs, 0);
    }
    db_finalize(mem, runs);
    for (int i = 0; i < n_runs; i++) {
        Str sql;
        str_init(&sql);
        str_addf(&sql, "INSERT INTO dst.runs (%s) SELECT %s FROM main.runs WHERE id = ?1", run_cols, run_cols);
        exec_int(mem, sql.s, ids[i], 0);
        long long new_run = sqlite3_last_insert_rowid(mem);
        str_free(&sql);
        sqlite3_stmt *ex = db_prepare(mem, "SELECT id FROM main.experiments WHERE run_id = ?1 ORDER BY seq");
        db_bind_int(mem, ex, 1, ids[i]);
        long long *eids = NULL;
        int ne = 0;
        while (SQL_ROW(mem, ex)) {
            eids = xrealloc(eids, sizeof(long long) * (size_t)(ne + 1));
            eids[ne++] = sqlite3_column_int64(ex, 0);
        }
        db_finalize(mem, ex);
        for (int k = 0; k < ne; k++) {
            str_init(&sql);
            str_addf(&sql, "INSERT INTO dst.experiments (%s) SELECT %s FROM main.experiments WHERE id = ?2",
                     exp_cols, exp_cols_new);
            exec_int(mem, sql.s, new_run, eids[k]);
            str_free(&sql);
            long long new_exp = sqlite3_last_insert_rowid(mem);
            exec_int(mem, "INSERT INTO idmap (old, new) VALUES (?1, ?2)", eids[k], new_exp);
            exec_int(mem, "INSERT INTO dst.samples (experiment_id, batch_index, images, ms, pass)"
                          " SELECT ?1, batch_index, images, ms, pass FROM main.samples WHERE experiment_id = ?2",
                     new_exp, eids[k]);
            exec_int(mem, "INSERT INTO dst.annotations (experiment_id, ann_id, image_id, category_id, iou,"
                          " score, agreement, height, width, rle, same_index, masks) SELECT ?1, ann_id, image_id,"
                          " category_id, iou, score, agreement, height, width, rle, same_index, masks"
                          " FROM main.annotations WHERE experiment_id = ?2", new_exp, eids[k]);
            n_exps++;
        }
        // The accuracy gate's reference, renumbered.
        exec_int(mem, "UPDATE dst.experiments SET ref_experiment_id = (SELECT new FROM idmap"
                      " WHERE old = dst.experiments.ref_experiment_id) WHERE run_id = ?1"
                      " AND ref_experiment_id IS NOT NULL", new_run, 0);
        free(eids);
        printf("imported run %lld as run %lld\n", ids[i], new_run);
    }
    db_commit(mem);
    free(ids);
    free(run_cols), free(exp_cols), free(exp_cols_new);
    SQL_OK(mem, sqlite3_close(mem));
    printf("%d run%s, %d experiments imported from %s into %s\n", n_runs, n_runs == 1 ? "" : "s",
           n_exps, src, db_path);
    return 0;
}
