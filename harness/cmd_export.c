// waterfall export: the seed's results.csv columns (or JSON) for one complete run.
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmds.h"
#include "db.h"
#include "plan.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f, "usage: waterfall export --csv|--json [--run ID] [--out FILE] [--db FILE]\n"
               "Writes one row per experiment of a complete run (default: the latest) with the seed's\n"
               "results.csv columns first: technique, sam_model_type, batch_size, memory(MiB),\n"
               "img_s(avg), batch_ms(avg)/batch_size, mIoU; then ours: status, reason, agreement,\n"
               "gate, batch_ms_median, batch_ms_min, batch_ms_max, noise, first_mask_s,\n"
               "images_timed, annotations, images_skipped, device, run. Default output: stdout.\n");
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

int cmd_export(int argc, char **argv) {
    const char *db_path = WF_DEFAULT_DB, *out = NULL;
    long long run_id = 0;
    int csv = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) db_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--run") && i + 1 < argc) run_id = parse_run_id(argv[++i]);
        else if (!strcmp(argv[i], "--csv")) csv = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else die("export: unknown option '%s' (see waterfall export --help)", argv[i]);
    }
    if (csv == json) die("export: give exactly one of --csv and --json");
    sqlite3 *db = db_open(db_path);
    if (!run_id) run_id = report_latest_complete(db);
    if (!run_id) die("export: %s holds no complete run", db_path);
    require_complete(db, run_id, "exported");
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) die("export: cannot write %s", out);

    sqlite3_stmt *st = db_prepare(db,
        "SELECT stage, model, batch_size, peak_bytes, img_s, total_ms, batches_timed, miou, status,"
        " reason, agreement, gate, batch_ms_median, batch_ms_min, batch_ms_max, batch_ms_noise,"
        " first_mask_ms, images_timed, annotations, images_skipped, device_name"
        " FROM experiments WHERE run_id = ?1 ORDER BY seq");
    db_bind_int(db, st, 1, run_id);
    static const char *const cols[] = {"technique", "sam_model_type", "batch_size", "memory(MiB)",
        "img_s(avg)", "batch_ms(avg)/batch_size", "mIoU", "status", "reason", "agreement", "gate",
        "batch_ms_median", "batch_ms_min", "batch_ms_max", "noise", "first_mask_s", "images_timed",
        "annotations", "images_skipped", "device", "run"};
    const int ncols = (int)(sizeof cols / sizeof cols[0]);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (csv)
        for (int i = 0; i < ncols; i++) fprintf(f, "%s%s", cols[i], i + 1 < ncols ? "," : "\n");
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
            csv_field(f, db_col_text(st, 20)), fprintf(f, ",%lld\n", run_id);
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
            const char *more[] = {"agreement", NULL, "batch_ms_median", "batch_ms_min", "batch_ms_max", "noise",
                                  "first_mask_ms", "images_timed", "annotations", "images_skipped"};
            for (int k = 10; k <= 19; k++) {
                if (k == 11) continue;
                double v = db_col_real(st, k);
                if (isnan(v)) cJSON_AddNullToObject(o, more[k - 10]);
                else cJSON_AddNumberToObject(o, more[k - 10], v);
            }
            if (sqlite3_column_type(st, 11) != SQLITE_NULL) cJSON_AddStringToObject(o, "gate", db_col_text(st, 11));
            cJSON_AddStringToObject(o, "device", db_col_text(st, 20));
            cJSON_AddNumberToObject(o, "run", (double)run_id);
            cJSON_AddItemToArray(arr, o);
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
    db_close(db);
    return 0;
}
