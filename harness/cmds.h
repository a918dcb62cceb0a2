// The waterfall commands (one file each) and what they share.
#ifndef WF_CMDS_H
#define WF_CMDS_H

#include <sqlite3.h>
#include <stdio.h>

#define WF_DEFAULT_DB "results/results.db"

int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

// The summary table of a run (one row per experiment, accuracy gate flagged).
void report_summary(sqlite3 *db, long long run_id, FILE *f);
// The latest complete run (0 if none).
long long report_latest_complete(sqlite3 *db);
// Parses a run id argument or exits with a message.
long long parse_run_id(const char *s);
// Exits with a message unless the run exists and is complete (only complete runs are
// plotted, compared and exported).
void require_complete(sqlite3 *db, long long run_id, const char *what);

#endif
