// Writing runs and experiments: each step one BEGIN IMMEDIATE transaction, so a harness killed
// at any point leaves the last committed state, and concurrent harnesses interleave safely.
#ifndef WF_STORE_H
#define WF_STORE_H

#include <sqlite3.h>

#include "plan.h"
#include "proto.h"
#include "runner.h"

typedef struct {
    char git_commit[64];   // "" when not a git checkout
    int git_dirty;         // -1 unknown
    char host[256];
    char dataset[4096];
    char dataset_hash[65];
    char **ckpt_hash;      // per plan model
    char config_key[65];
    char *argv;            // the command line, space-joined
} RunIdentity;

// Inserts the run (status running, owned by this process) and one pending experiment per
// (stage, model, batch size), the reference stage first. Returns the run id.
long long store_create_run(sqlite3 *db, const Plan *p, const RunIdentity *id, const char *plan_json);
// Marks an experiment running (start time).
void store_experiment_started(sqlite3 *db, long long exp_id);
// Stores an experiment's outcome, samples and masks, then its agreement and gate.
void store_experiment_result(sqlite3 *db, long long exp_id, const ExpResult *r, const RunOutcome *o);
// The stored top-mask agreement with the reference stage of an experiment, and its same-index
// agreement (NAN where not stored): 1, or 0 when it has no agreement (not judged yet, failed).
int store_experiment_agreement(sqlite3 *db, long long exp_id, double *agreement, double *same_index);
// Judges the accuracy gate for every ok experiment of the run not yet judged (a reference
// that finished late), marks the run complete with its end time.
void store_finish_run(sqlite3 *db, long long run_id);
// The reason of an experiment a closed run never ran begins with this (compare tells it from a
// failure: missing data, not a regression).
#define NOT_RUN_PREFIX "not run: "
// Records every experiment of the run not yet run (pending, or running when its harness died)
// as failed with "not run: REASON"; returns how many. For a run that cannot be resumed (its
// machine is gone): closed by store_finish_run after it, it can be shown, compared, exported.
int store_close_run(sqlite3 *db, long long run_id, const char *reason);
// Records the device of the run (from the first stage that said hello).
void store_run_device(sqlite3 *db, long long run_id, const char *name, const char *json);

// Whether the run's owning harness process still lives: 1 alive, 0 dead, -1 unknown (another
// host). A run with status running and a dead owner is incomplete.
int store_owner_alive(sqlite3 *db, long long run_id);
// "complete", "running", "incomplete" or "running elsewhere".
const char *store_run_state(sqlite3 *db, long long run_id);
// Takes over an incomplete run for this process: pending again every experiment left
// running. Exits with a message if the run is not incomplete.
void store_claim_run(sqlite3 *db, long long run_id, int force);

// Checkpoint identity: SHA-256 of the file (cached by path, size and mtime), or of the spec
// string for synthetic weights ("spec:" prefix in the stored value).
void store_checkpoint_hash(sqlite3 *db, const char *spec, char out[72]);

#endif
