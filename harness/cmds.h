// The waterfall commands (one file each) and what they share.
#ifndef WF_CMDS_H
#define WF_CMDS_H

#include <sqlite3.h>
#include <stdio.h>

#define WF_DEFAULT_DB "results/results.db"
// The device of the seed's published results (its README: A100 40 GB on a p4d.24xlarge).
#define WF_PUBLISHED_DEVICE "NVIDIA A100-SXM4-40GB"

int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_agree(int argc, char **argv);

// The summary table of a run (one row per experiment, accuracy gate flagged).
void report_summary(sqlite3 *db, long long run_id, FILE *f);
// The accuracy gate's rule of a run with its agreement floors (every report that shows a
// flag prints it).
void report_gate_rule(sqlite3 *db, long long run_id, FILE *f);
// What each stage of a run is: its stage_info (after, adds, choices changed from `after`).
void report_stages(sqlite3 *db, long long run_id, FILE *f);
// The choices of a stage_info that differ from those of the stage it names as `after` in the
// same run ("precision=bf16, graphs=on"), or its whole choices when `after` is null or not in
// the run. Empty when the experiment has no stage_info.
void stage_changes(sqlite3 *db, long long run_id, const char *stage_info, char *buf, size_t len);
// The commits the run's stage executables were built from (their stage_info's build),
// distinct, ", "-separated, into buf; "" when none reported one (runs before stages did).
void run_stage_builds(sqlite3 *db, long long run_id, char *buf, size_t len);
// The latest complete run of our own (not an imported published one); with or_published, the
// latest published run when there is none of our own. 0 if none.
long long report_latest_complete(sqlite3 *db, int or_published);
// Parses a run id argument or exits with a message.
long long parse_run_id(const char *s);
// Exits with a message unless the run exists and is complete (only complete runs are
// plotted, compared and exported).
void require_complete(sqlite3 *db, long long run_id, const char *what);

#endif
