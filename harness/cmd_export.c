// waterfall export: the seed's results.csv columns (or JSON) for one complete run.
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall export --csv|--json|--sql [--run ID]... [--out FILE] [--db FILE]\n"
               "--csv, --json: one row per experiment of the complete runs named (default: the latest)\n"
               "with the seed's results.csv columns first: technique, sam_model_type, batch_size,\n"
               "memory(MiB), img_s(avg), batch_ms(avg)/batch_size, mIoU; then ours: status, reason,\n"
               "agreement, gate, batch_ms_median, batch_ms_min, batch_ms_max, noise, first_mask_s,\n"
               "images_timed, annotations, images_skipped, same_index_agreement, agreement_floor,\n"
               "passes, launches_per_batch, kernels_per_batch, device, run; --json adds stage and\n"
               "stage_info (what the stage adds and its choices).\n"
               "--sql: an SQL dump of the complete runs named (default: all) with their experiments,\n"
               "batch samples and per-annotation IoU, top-mask and same-index agreement, without the\n"
               "masks' RLE: the lean form to commit under experiments/. Load it with 'waterfall import\n"
               "FILE' (or 'sqlite3 new.db < FILE'). Default output: stdout. Never creates the database.\n");
}

// The seed's name of each stage (experiments/run_experiments.py).
static const char *technique(const char *stage) {
    static const char *const map[][2] = {{"fp32", "fp32"}, {"bf16", "bf16"}, {"fused", "compile"},
                                         {"sdpa", "SDPA"}, {"relpos", "Triton"}, {"nested", "NT"},
                                         {"int8", "int8"}, {"sparse", "sparse"}, {"cpu", "cpu"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], stage) == 0) return map[i][1];
    return stage;
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, const char *fmt, double v) {
    if (!isnan(v)) fprintf(f, fmt, v);
}

// SQL text of one value, as sqlite3's .dump writes it.
static void sql_value(FILE *f, sqlite3_stmt *st, int i) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: fputs("NULL", f); break;
    case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(st, i);
        // The shortest form that reads back as the same double; "1.0" rather than "1" so the
        // value stays a REAL.
        char buf[40];
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, v);
            if (strtod(buf, NULL) == v) break;
        }
        if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
        fputs(buf, f);
        break;
    }
    case SQLITE_BLOB: {
        const unsigned char *b = sqlite3_column_blob(st, i);
        fputs("X'", f);
        for (int k = 0; k < sqlite3_column_bytes(st, i); k++) fprintf(f, "%02x", b[k]);
        fputc('\'', f);
        break;
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        fputc('\'', f);
        for (; *t; t++) {
            if (*t == '\'') fputc('\'', f);
            fputc(*t, f);
        }
        fputc('\'', f);
    }
    }
}

// The runs named (or every complete run) with their rows, copied into a fresh in-memory
// database of the current schema without the masks, then written as SQL.
static void export_sql(sqlite3 *db, const char *db_path, const long long *runs, int n_runs, FILE *f) {
    sqlite3 *mem;
    SQL_OK(NULL, sqlite3_open(":memory:", &mem));
    db_migrate_from(mem, 0);
    if (strchr(db_path, '\'')) die("export: database path %s has a quote", db_path);
    char attach[4200];
    snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS src", db_path);
    db_exec(mem, attach);
    SQL_OK(mem, sqlite3_busy_timeout(mem, 120000));
    db_exec(mem, "CREATE TEMP TABLE chosen (id INTEGER PRIMARY KEY)");
    if (n_runs == 0) db_exec(mem, "INSERT INTO chosen SELECT id FROM src.runs WHERE status = 'complete'");
    for (int i = 0; i < n_runs; i++) {
        sqlite3_stmt *st = db_prepare(mem, "INSERT OR IGNORE INTO chosen (id) VALUES (?1)");
        db_bind_int(mem, st, 1, runs[i]);
        SQL_DONE(mem, sqlite3_step(st));
        db_finalize(mem, st);
    }
    static const char *const tables[] = {"runs", "experiments", "samples", "annotations"};
    static const char *const where[] = {
        "id IN (SELECT id FROM temp.chosen)",
        "run_id IN (SELECT id FROM temp.chosen)",
        "experiment_id IN (SELECT e.id FROM src.experiments e WHERE e.run_id IN (SELECT id FROM temp.chosen))",
        "experiment_id IN (SELECT e.id FROM src.experiments e WHERE e.run_id IN (SELECT id FROM temp.chosen))"};
    db_begin(mem);
    for (int t = 0; t < 4; t++) {
        // Column lists from the current schema (the source was migrated to it when opened).
        Str cols, sel, sql;
        str_init(&cols), str_init(&sel), str_init(&sql);
        char q[128];
        snprintf(q, sizeof q, "SELECT name FROM pragma_table_info('%s') ORDER BY cid", tables[t]);
        sqlite3_stmt *st = db_prepare(mem, q);
        while (SQL_ROW(mem, st)) {
            const char *c = db_col_text(st, 0);
            str_addf(&cols, "%s%s", cols.len ? ", " : "", c);
            // The masks' RLE stays behind: 97 % of a results database is masks.
            int drop = t == 3 && (!strcmp(c, "rle") || !strcmp(c, "masks"));
            str_addf(&sel, "%s%s", sel.len ? ", " : "", drop ? "NULL" : c);
        }
        db_finalize(mem, st);
        str_addf(&sql, "INSERT INTO main.%s (%s) SELECT %s FROM src.%s WHERE %s", tables[t], cols.s, sel.s, tables[t],
                 where[t]);
        db_exec(mem, sql.s);
        str_free(&cols), str_free(&sel), str_free(&sql);
    }
    db_commit(mem);
    db_exec(mem, "DETACH DATABASE src");

    sqlite3_stmt *st = db_prepare(mem, "SELECT count(*), group_concat(id, ' ') FROM runs");
    CHECK(SQL_ROW(mem, st));
    int found = sqlite3_column_int(st, 0);
    fprintf(f, "-- waterfall export --sql: %d run%s (%s) with experiments, batch samples and per-annotation\n"
               "-- IoU and agreement, without the masks' RLE; schema version %d.\n"
               "-- Load: waterfall import FILE [--db results/results.db]   (or: sqlite3 new.db < FILE)\n",
            found, found == 1 ? "" : "s", db_col_text(st, 1), WF_SCHEMA_VERSION);
    db_finalize(mem, st);
    (void)db;
    fputs("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n", f);
    st = db_prepare(mem, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')"
                         " ORDER BY type = 'index', rowid");
    while (SQL_ROW(mem, st)) fprintf(f, "%s;\n", db_col_text(st, 0));
    db_finalize(mem, st);
    for (int t = 0; t < 4; t++) {
        char q[160];
        snprintf(q, sizeof q, "SELECT * FROM %s ORDER BY rowid", tables[t]);
        st = db_prepare(mem, q);
        int nc = sqlite3_column_count(st), rows = 0;
        // Up to 400 rows per INSERT (SQLite's compound limit is 500): a third of the size of
        // one INSERT per row, and as quick to load.
        while (SQL_ROW(mem, st)) {
            fprintf(f, rows % 400 == 0 ? "INSERT INTO %s VALUES\n(" : ",\n(", tables[t]);
            for (int i = 0; i < nc; i++) {
                if (i) fputc(',', f);
                sql_value(f, st, i);
            }
            fputc(')', f);
            if (++rows % 400 == 0) fputs(";\n", f);
        }
        if (rows % 400) fputs(";\n", f);
        db_finalize(mem, st);
    }
    fprintf(f, "PRAGMA user_version = %d;\nCOMMIT;\n", WF_SCHEMA_VERSION);
    SQL_OK(mem, sqlite3_close(mem));
}

int cmd_export(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB, *out = NULL;
    long long *runs = NULL;
    int n_runs = 0, csv = 0, json = 0, sql = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--run") && i + 1 < argc) {
            runs = xrealloc(runs, sizeof(long long) * (size_t)(n_runs + 1));
            runs[n_runs++] = parse_run_id(argv[++i]);
        } else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--sql")) sql = 1;
        else die("export: unknown option '%s' (see waterfall export --help)", argv[i]);
    }
    if (csv + json + sql != 1) die("export: give exactly one of --csv, --json and --sql");
    sqlite3 *db = db_open_existing(db_path);
    if (!n_runs && !sql) {
        runs = xmalloc(sizeof(long long));
        runs[0] = report_latest_complete(db, 1);
        if (!runs[0]) die("export: %s holds no complete run", db_path);
        n_runs = 1;
    }
    for (int i = 0; i < n_runs; i++) require_complete(db, runs[i], "exported");
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) die("export: cannot write %s: %s", out, strerror(errno));
    if (sql) {
        export_sql(db, db_path, runs, n_runs, f);
        if (out && fclose(f) != 0) die("export: cannot write %s", out);
        free(runs);
        db_close(db);
        return 0;
    }
    sqlite3_stmt *st = db_prepare(db,
        "SELECT stage, model, batch_size, peak_bytes, img_s, total_ms, batches_timed, miou, status,"
        " reason, agreement, gate, batch_ms_median, batch_ms_min, batch_ms_max, batch_ms_noise,"
        " first_mask_ms, images_timed, annotations, images_skipped, same_index_agreement,"
        " agreement_floor, passes, launches_per_batch, kernels_per_batch, device_name, stage_info, gate_reason"
        " FROM experiments WHERE run_id = ?1 ORDER BY seq");
    static const char *const cols[] = {"technique", "sam_model_type", "batch_size", "memory(MiB)",
        "img_s(avg)", "batch_ms(avg)/batch_size", "mIoU", "status", "reason", "agreement", "gate",
        "batch_ms_median", "batch_ms_min", "batch_ms_max", "noise", "first_mask_s", "images_timed",
        "annotations", "images_skipped", "same_index_agreement", "agreement_floor", "passes",
        "launches_per_batch", "kernels_per_batch", "device", "run"};
    const int ncols = (int)(sizeof cols / sizeof cols[0]);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (csv)
        for (int i = 0; i < ncols; i++) fprintf(f, "%s%s", cols[i], i + 1 < ncols ? "," : "\n");
    for (int r = 0; r < n_runs; r++) {
        long long run_id = runs[r];
        SQL_OK(db, sqlite3_reset(st));
        db_bind_int(db, st, 1, run_id);
        while (SQL_ROW(db, st)) {
            int bs = sqlite3_column_int(st, 2);
            double mem = db_col_real(st, 3) / 1048576.0;
            double nb = db_col_real(st, 6);
            // The seed's batch_ms(avg)/batch_size: mean milliseconds per batch over the batch size.
            double per_image = nb > 0 ? db_col_real(st, 5) / nb / bs : NAN;
            double nums[] = {mem, db_col_real(st, 4), per_image, db_col_real(st, 7)};
            const char *stage = db_col_text(st, 0);
            if (csv) {
                csv_field(f, technique(stage)), fputc(',', f);
                csv_field(f, db_col_text(st, 1)), fprintf(f, ",%d,", bs);
                csv_num(f, "%.0f", nums[0]), fputc(',', f);
                csv_num(f, "%.4f", nums[1]), fputc(',', f);
                csv_num(f, "%.4f", nums[2]), fputc(',', f);
                csv_num(f, "%.6f", nums[3]), fputc(',', f);
                csv_field(f, db_col_text(st, 8)), fputc(',', f);
                csv_field(f, db_col_text(st, 9)), fputc(',', f);
                csv_num(f, "%.6f", db_col_real(st, 10)), fputc(',', f);
                csv_field(f, db_col_text(st, 11)), fputc(',', f);
                for (int k = 12; k <= 15; k++) csv_num(f, "%.6g", db_col_real(st, k)), fputc(',', f);
                csv_num(f, "%.3f", db_col_real(st, 16) / 1000.0), fputc(',', f);
                for (int k = 17; k <= 19; k++) csv_num(f, "%.0f", db_col_real(st, k)), fputc(',', f);
                csv_num(f, "%.6f", db_col_real(st, 20)), fputc(',', f);
                csv_num(f, "%g", db_col_real(st, 21)), fputc(',', f);
                csv_num(f, "%.0f", db_col_real(st, 22)), fputc(',', f);
                csv_num(f, "%g", db_col_real(st, 23)), fputc(',', f);
                csv_num(f, "%g", db_col_real(st, 24)), fputc(',', f);
                csv_field(f, db_col_text(st, 25)), fprintf(f, ",%lld\n", run_id);
            } else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "technique", technique(stage));
                cJSON_AddStringToObject(o, "stage", stage);
                cJSON_AddStringToObject(o, "sam_model_type", db_col_text(st, 1));
                cJSON_AddNumberToObject(o, "batch_size", bs);
                const char *keys[] = {"memory(MiB)", "img_s(avg)", "batch_ms(avg)/batch_size", "mIoU"};
                for (int k = 0; k < 4; k++) {
                    if (isnan(nums[k])) cJSON_AddNullToObject(o, keys[k]);
                    else cJSON_AddNumberToObject(o, keys[k], nums[k]);
                }
                cJSON_AddStringToObject(o, "status", db_col_text(st, 8));
                if (sqlite3_column_type(st, 9) != SQLITE_NULL) cJSON_AddStringToObject(o, "reason", db_col_text(st, 9));
                static const char *const more[] = {"agreement", NULL, "batch_ms_median", "batch_ms_min",
                    "batch_ms_max", "noise", "first_mask_ms", "images_timed", "annotations", "images_skipped",
                    "same_index_agreement", "agreement_floor", "passes", "launches_per_batch", "kernels_per_batch"};
                for (int k = 10; k <= 24; k++) {
                    if (k == 11) continue;
                    double v = db_col_real(st, k);
                    if (isnan(v)) cJSON_AddNullToObject(o, more[k - 10]);
                    else cJSON_AddNumberToObject(o, more[k - 10], v);
                }
                if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
                    cJSON_AddStringToObject(o, "gate", db_col_text(st, 11));
                    cJSON_AddStringToObject(o, "gate_reason", db_col_text(st, 27));
                }
                // What the stage is: its stage_info as the stage printed it (null before schema 4).
                cJSON *si = sqlite3_column_type(st, 26) != SQLITE_NULL ? cJSON_Parse(db_col_text(st, 26)) : NULL;
                if (si) cJSON_AddItemToObject(o, "stage_info", si);
                else cJSON_AddNullToObject(o, "stage_info");
                cJSON_AddStringToObject(o, "device", db_col_text(st, 25));
                cJSON_AddNumberToObject(o, "run", (double)run_id);
                cJSON_AddItemToArray(arr, o);
            }
        }
    }
    db_finalize(db, st);
    if (json) {
        char *s = cJSON_Print(arr);
        CHECK(s != NULL);
        fprintf(f, "%s\n", s);
        cJSON_free(s);
        cJSON_Delete(arr);
    }
    if (out && fclose(f) != 0) die("export: cannot write %s", out);
    free(runs);
    db_close(db);
    return 0;
}
