// waterfall import: copies the complete runs of another results database (a .db file, or a
// text dump made by `sqlite3 results.db .dump`) into this one, for results measured on another
// machine (the lent GPU machine) or committed under experiments/.
#include <errno.h>
#include <string.h>

#include "cmds.h"
#include "db.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall import FILE [--db FILE]\n"
               "Copies every complete run of FILE (a results database, or an SQL text dump of one made\n"
               "with 'sqlite3 results.db .dump') into the database, with new run and experiment ids.\n"
               "Older schemas are migrated first; runs already present (same start time, host,\n"
               "process and configuration) and incomplete runs are skipped.\n");
}

// The schema version of a dump (which does not carry PRAGMA user_version), from its columns.
static int infer_version(sqlite3 *db) {
    sqlite3_stmt *st = db_prepare(db,
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'runs'),"
        " (SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'gate'),"
        " (SELECT count(*) FROM pragma_table_info('experiments') WHERE name = 'other_load')");
    CHECK(SQL_ROW(db, st));
    int v = !sqlite3_column_int(st, 0) ? 0 : sqlite3_column_int(st, 2) ? 3 : sqlite3_column_int(st, 1) ? 2 : 1;
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
    // The destination exists and is current before anything is copied into it.
    db_close(db_open(db_path));

    // The source goes into memory, where it can be migrated without touching the file.
    sqlite3 *mem;
    SQL_OK(NULL, sqlite3_open(":memory:", &mem));
    size_t len;
    char *text = read_file_all(src, &len);
    if (!text) die("import: cannot read %s: %s", src, strerror(errno));
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
            die("import: %s is neither a results database nor an SQL dump of one: %s", src, err ? err : "?");
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
            exec_int(mem, "INSERT INTO dst.samples (experiment_id, batch_index, images, ms)"
                          " SELECT ?1, batch_index, images, ms FROM main.samples WHERE experiment_id = ?2",
                     new_exp, eids[k]);
            exec_int(mem, "INSERT INTO dst.annotations (experiment_id, ann_id, image_id, category_id, iou,"
                          " score, agreement, height, width, rle) SELECT ?1, ann_id, image_id, category_id,"
                          " iou, score, agreement, height, width, rle FROM main.annotations"
                          " WHERE experiment_id = ?2", new_exp, eids[k]);
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
