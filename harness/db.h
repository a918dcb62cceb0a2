// The results database: SQLite in WAL mode, shared safely by concurrent harness processes.
// Every write is one BEGIN IMMEDIATE transaction (the write lock is taken up front, so two
// writers wait on the busy timeout instead of failing with a deadlock on lock upgrade).
// The schema carries a version (PRAGMA user_version) and is migrated forward on open.
#ifndef WF_DB_H
#define WF_DB_H

#include <sqlite3.h>
#include <stddef.h>

// Every SQLite call is checked: the failing call, its file and line and SQLite's message.
void sql_fail(sqlite3 *db, int rc, const char *call, const char *file, int line);
#define SQL_OK(db, call)                                                                      \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        if (rc_ != SQLITE_OK) sql_fail((db), rc_, #call, __FILE__, __LINE__);                  \
    } while (0)
// sqlite3_step returning SQLITE_DONE (a statement that yields no row).
#define SQL_DONE(db, call)                                                                    \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        if (rc_ != SQLITE_DONE) sql_fail((db), rc_, #call, __FILE__, __LINE__);                \
    } while (0)
// sqlite3_step in a row loop: returns 1 for a row, 0 when done, fails otherwise.
int sql_row_impl(sqlite3 *db, sqlite3_stmt *st, const char *call, const char *file, int line);
#define SQL_ROW(db, st) sql_row_impl((db), (st), "sqlite3_step(" #st ")", __FILE__, __LINE__)

#define WF_SCHEMA_VERSION 4

// Opens (creating the file and folders if needed), sets WAL, busy timeout, foreign keys and
// migrates the schema. Exits with a message on failure.
sqlite3 *db_open(const char *path);
// For the commands that only read results (list, show, compare, plot, export): never creates
// a file or folder. Exits naming the file looked for when it does not exist or is not a
// waterfall results database; otherwise as db_open (an older schema is migrated).
sqlite3 *db_open_existing(const char *path);
void db_close(sqlite3 *db);
// Applies the migrations after version `from` to db (an in-memory copy being imported) and
// sets its user_version to the current one.
void db_migrate_from(sqlite3 *db, int from);

// Checked helpers; the macros pass the caller's file and line, so a failure names the call
// site, not this module.
void db_exec_at(sqlite3 *db, const char *sql, const char *file, int line);
sqlite3_stmt *db_prepare_at(sqlite3 *db, const char *sql, const char *file, int line);
void db_finalize_at(sqlite3 *db, sqlite3_stmt *st, const char *file, int line);
void db_bind_text_at(sqlite3 *db, sqlite3_stmt *st, int i, const char *v, const char *file, int line);
void db_bind_int_at(sqlite3 *db, sqlite3_stmt *st, int i, long long v, const char *file, int line);
void db_bind_double_at(sqlite3 *db, sqlite3_stmt *st, int i, double v, const char *file, int line);
void db_bind_real_or_null_at(sqlite3 *db, sqlite3_stmt *st, int i, double v, const char *file, int line);
void db_bind_null_at(sqlite3 *db, sqlite3_stmt *st, int i, const char *file, int line);
// Runs SQL without results.
#define db_exec(db, sql) db_exec_at((db), (sql), __FILE__, __LINE__)
#define db_begin(db) db_exec_at((db), "BEGIN IMMEDIATE", __FILE__, __LINE__)
#define db_commit(db) db_exec_at((db), "COMMIT", __FILE__, __LINE__)
#define db_prepare(db, sql) db_prepare_at((db), (sql), __FILE__, __LINE__)
#define db_finalize(db, st) db_finalize_at((db), (st), __FILE__, __LINE__)
// Binds; text may be NULL (binds NULL); real_or_null binds NULL for NaN (a figure not reported).
#define db_bind_text(db, st, i, v) db_bind_text_at((db), (st), (i), (v), __FILE__, __LINE__)
#define db_bind_int(db, st, i, v) db_bind_int_at((db), (st), (i), (v), __FILE__, __LINE__)
#define db_bind_double(db, st, i, v) db_bind_double_at((db), (st), (i), (v), __FILE__, __LINE__)
#define db_bind_real_or_null(db, st, i, v) db_bind_real_or_null_at((db), (st), (i), (v), __FILE__, __LINE__)
#define db_bind_null(db, st, i) db_bind_null_at((db), (st), (i), __FILE__, __LINE__)
// Column helpers: text returns "" for NULL; real returns NaN for NULL.
const char *db_col_text(sqlite3_stmt *st, int i);
double db_col_real(sqlite3_stmt *st, int i);

// PRAGMA integrity_check: 1 when the answer is "ok".
int db_integrity_ok(sqlite3 *db, char *msg, size_t len);

#endif
