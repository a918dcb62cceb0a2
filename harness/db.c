#include "db.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

// Long enough for another harness to finish writing one experiment (a few thousand rows).
#define BUSY_TIMEOUT_MS 120000

void sql_fail(sqlite3 *db, int rc, const char *call, const char *file, int line) {
    fprintf(stderr, "waterfall: SQLite call %s failed at %s:%d: %s (%s)\n", call, file, line,
            db ? sqlite3_errmsg(db) : "no connection", sqlite3_errstr(rc));
    exit(1);
}

int sql_row_impl(sqlite3 *db, sqlite3_stmt *st, const char *call, const char *file, int line) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    sql_fail(db, rc, call, file, line);
    return 0;
}

void db_exec_at(sqlite3 *db, const char *sql, const char *file, int line) {
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "waterfall: SQLite failed on \"%.200s\" at %s:%d: %s\n", sql, file, line,
                err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        exit(1);
    }
}

sqlite3_stmt *db_prepare_at(sqlite3 *db, const char *sql, const char *file, int line) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "waterfall: SQLite could not prepare \"%.200s\" at %s:%d: %s\n", sql, file, line,
                sqlite3_errmsg(db));
        exit(1);
    }
    return st;
}
void db_finalize_at(sqlite3 *db, sqlite3_stmt *st, const char *file, int line) {
    int rc = sqlite3_finalize(st);
    if (rc != SQLITE_OK) sql_fail(db, rc, "sqlite3_finalize", file, line);
}

#define BIND_CHECK(call, what)                                   \
    do {                                                         \
        int rc_ = (call);                                        \
        if (rc_ != SQLITE_OK) sql_fail(db, rc_, what, file, line); \
    } while (0)
void db_bind_text_at(sqlite3 *db, sqlite3_stmt *st, int i, const char *v, const char *file, int line) {
    if (!v) BIND_CHECK(sqlite3_bind_null(st, i), "sqlite3_bind_null");
    else BIND_CHECK(sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT), "sqlite3_bind_text");
}
void db_bind_int_at(sqlite3 *db, sqlite3_stmt *st, int i, long long v, const char *file, int line) {
    BIND_CHECK(sqlite3_bind_int64(st, i, v), "sqlite3_bind_int64");
}
void db_bind_double_at(sqlite3 *db, sqlite3_stmt *st, int i, double v, const char *file, int line) {
    BIND_CHECK(sqlite3_bind_double(st, i, v), "sqlite3_bind_double");
}
void db_bind_real_or_null_at(sqlite3 *db, sqlite3_stmt *st, int i, double v, const char *file, int line) {
    if (isnan(v)) BIND_CHECK(sqlite3_bind_null(st, i), "sqlite3_bind_null");
    else BIND_CHECK(sqlite3_bind_double(st, i, v), "sqlite3_bind_double");
}
void db_bind_null_at(sqlite3 *db, sqlite3_stmt *st, int i, const char *file, int line) {
    BIND_CHECK(sqlite3_bind_null(st, i), "sqlite3_bind_null");
}
const char *db_col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}
double db_col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

// ---- schema -------------------------------------------------------------------------------
// Migration i takes a database from version i to i + 1. Never edit a released step: add one.
static const char *const MIGRATIONS[WF_SCHEMA_VERSION] = {
    // 0 -> 1: the first schema.
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT,"                     // experiment definition name ("default", "flags")
    "  started_at TEXT NOT NULL, ended_at TEXT,"
    "  status TEXT NOT NULL,"          // running | complete (a dead 'running' is incomplete)
    "  config_key TEXT NOT NULL,"      // hash of plan + dataset + checkpoints: same configuration
    "  plan_json TEXT NOT NULL,"       // everything needed to resume
    "  git_commit TEXT, git_dirty INTEGER,"
    "  argv TEXT, host TEXT, pid INTEGER, pid_start INTEGER,"
    "  device_name TEXT, device_json TEXT,"
    "  dataset TEXT, dataset_hash TEXT,"
    "  reference_stage TEXT"
    ");"
    "CREATE TABLE experiments ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  seq INTEGER NOT NULL,"
    "  stage TEXT NOT NULL, model TEXT NOT NULL, batch_size INTEGER NOT NULL,"
    "  checkpoint TEXT, checkpoint_hash TEXT,"
    "  status TEXT NOT NULL,"          // pending | running | ok | failed
    "  reason TEXT,"                   // why it failed
    "  started_at TEXT, ended_at TEXT, wall_s REAL,"
    "  images_timed INTEGER, batches_timed INTEGER, total_ms REAL, img_s REAL,"
    "  batch_ms_median REAL, batch_ms_min REAL, batch_ms_max REAL, batch_ms_noise REAL,"
    "  peak_bytes INTEGER, first_mask_ms REAL, miou REAL, annotations INTEGER,"
    "  images_skipped INTEGER,"
    "  agreement REAL, ref_experiment_id INTEGER,"
    "  device_name TEXT, device_json TEXT, model_json TEXT, summary_json TEXT, stderr_tail TEXT,"
    "  UNIQUE (run_id, seq)"
    ");"
    "CREATE TABLE samples ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    "  batch_index INTEGER NOT NULL, images INTEGER NOT NULL, ms REAL NOT NULL,"
    "  PRIMARY KEY (experiment_id, batch_index)"
    ");"
    "CREATE TABLE annotations ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    "  ann_id INTEGER NOT NULL, image_id INTEGER, category_id INTEGER,"
    "  iou REAL, score REAL, agreement REAL,"
    "  height INTEGER, width INTEGER, rle TEXT,"  // top mask, compressed COCO RLE
    "  PRIMARY KEY (experiment_id, ann_id)"
    ");"
    "CREATE INDEX experiments_run ON experiments(run_id);",
    // 1 -> 2: the accuracy gate (design.md section 4) stored with each experiment.
    "ALTER TABLE experiments ADD COLUMN gate TEXT;"         // ok | flagged | NULL (not judged)
    "ALTER TABLE experiments ADD COLUMN gate_reason TEXT;"
    "CREATE INDEX runs_config ON runs(config_key, id);"
    // Checkpoint hashes by (path, size, mtime): a 2.5 GB vit_h file is hashed once, not per run.
    "CREATE TABLE file_hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT);",
    // 2 -> 3: how busy the machine was while each stage ran (compare does not judge timings
    // taken on a busy machine) and the stage's own CPU time.
    "ALTER TABLE experiments ADD COLUMN cpu_s REAL;"
    "ALTER TABLE experiments ADD COLUMN other_load REAL;",
    // 3 -> 4: stages as sets of choices, timing passes, same-index agreement, the agreement
    // floor per precision, published runs.
    "ALTER TABLE runs ADD COLUMN published INTEGER NOT NULL DEFAULT 0;"  // imported results.csv
    "ALTER TABLE experiments ADD COLUMN passes INTEGER;"           // timed passes over the subset
    "ALTER TABLE experiments ADD COLUMN stage_info TEXT;"          // hello's stage_info (JSON)
    "ALTER TABLE experiments ADD COLUMN same_index_agreement REAL;" // mean of annotations' same_index
    "ALTER TABLE experiments ADD COLUMN agreement_floor REAL;"     // the floor the gate applied
    "ALTER TABLE experiments ADD COLUMN launches_per_batch REAL;"
    "ALTER TABLE experiments ADD COLUMN kernels_per_batch REAL;"
    "ALTER TABLE samples ADD COLUMN pass INTEGER NOT NULL DEFAULT 0;"
    // Mean over the mask indices of IoU(mask i, reference mask i).
    "ALTER TABLE annotations ADD COLUMN same_index REAL;"
    // Every multimask output (JSON array of compressed RLE), kept until the run is complete.
    "ALTER TABLE annotations ADD COLUMN masks TEXT;"
    "CREATE INDEX experiments_key ON experiments(stage, model, batch_size);",
};

static int user_version(sqlite3 *db) {
    sqlite3_stmt *st = db_prepare(db, "PRAGMA user_version");
    int v = SQL_ROW(db, st) ? sqlite3_column_int(st, 0) : 0;
    db_finalize(db, st);
    return v;
}

static void migrate(sqlite3 *db, const char *path) {
    // Cheap check first so readers do not take the write lock on every open.
    if (user_version(db) == WF_SCHEMA_VERSION) return;
    db_begin(db);
    // Re-read under the write lock: another harness may have migrated meanwhile.
    int v = user_version(db);
    if (v > WF_SCHEMA_VERSION)
        die("%s: schema version %d is newer than this waterfall understands (%d); use a newer "
            "build", path, v, WF_SCHEMA_VERSION);
    for (; v < WF_SCHEMA_VERSION; v++) {
        db_exec(db, MIGRATIONS[v]);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        db_exec(db, sql);
    }
    db_commit(db);
}

// Switching a new database to WAL takes an exclusive lock without consulting the busy handler,
// so harnesses opening a new file together retry here (within the busy timeout), then check
// that the mode really is WAL.
static void set_wal(sqlite3 *db, const char *path) {
    double give_up = mono_now() + BUSY_TIMEOUT_MS / 1000.0;
    for (;;) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        char mode[16] = "";
        if (rc == SQLITE_ROW) snprintf(mode, sizeof mode, "%s", db_col_text(st, 0));
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW) {
            if (strcmp(mode, "wal") != 0) die("%s: cannot use WAL journal mode (got '%s')", path, mode);
            return;
        }
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) sql_fail(db, rc, "PRAGMA journal_mode = WAL", __FILE__, __LINE__);
        if (mono_now() > give_up) sql_fail(db, rc, "PRAGMA journal_mode = WAL (busy)", __FILE__, __LINE__);
        usleep(10000);
    }
}

void db_migrate_from(sqlite3 *db, int from) {
    for (int v = from; v < WF_SCHEMA_VERSION; v++) db_exec(db, MIGRATIONS[v]);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", WF_SCHEMA_VERSION);
    db_exec(db, sql);
}

// What every opened database gets: WAL (readers never block the writer, and a killed writer
// leaves the last committed state), synchronous FULL (a committed experiment survives power
// loss too, not only a killed process), foreign keys, the schema migrated to this version.
// A new database gets 64 KiB pages (an existing one keeps its own): an experiment on synthetic
// weights stores some 250 MB of mask RLE, a million 4 KiB page reads and writes otherwise.
static void db_setup(sqlite3 *db, const char *path) {
    db_exec(db, "PRAGMA page_size = 65536");
    set_wal(db, path);
    db_exec(db, "PRAGMA synchronous = FULL");
    db_exec(db, "PRAGMA foreign_keys = ON");
    migrate(db, path);
}

sqlite3 *db_open(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir_p(dir) != 0) die("cannot create folder %s: %s", dir, strerror(errno));
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) die("cannot open database %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    SQL_OK(db, sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS));
    db_setup(db, path);
    return db;
}

sqlite3 *db_open_existing(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        die("no results database %s (%s): 'waterfall run' makes one, --db FILE names another",
            path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) die("%s is not a results database (not a file)", path);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) die("cannot open database %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    SQL_OK(db, sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS));
    // A file that is not SQLite, or SQLite without the harness's tables, is not ours to migrate.
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
                                " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs')", -1, &st, NULL);
    int ok = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0 &&
             sqlite3_column_int(st, 1) == 1;
    sqlite3_finalize(st);
    if (!ok) die("%s is not a waterfall results database", path);
    db_setup(db, path);
    return db;
}

void db_close(sqlite3 *db) { SQL_OK(db, sqlite3_close(db)); }

int db_integrity_ok(sqlite3 *db, char *msg, size_t len) {
    sqlite3_stmt *st = db_prepare(db, "PRAGMA integrity_check");
    msg[0] = 0;
    int ok = 0;
    if (SQL_ROW(db, st)) {
        snprintf(msg, len, "%s", db_col_text(st, 0));
        ok = strcmp(msg, "ok") == 0;
    }
    db_finalize(db, st);
    return ok;
}
