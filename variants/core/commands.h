// The commands every stage executable shares (stage_main dispatches to them).
#ifndef SAM_COMMANDS_H
#define SAM_COMMANDS_H

#include "model.h"
#include "stage.h"
#include "tensors.h"

int cmd_info(int argc, char **argv, const StageDesc *stage);
int cmd_predict(int argc, char **argv, const StageDesc *stage);
int cmd_eval(int argc, char **argv, const StageDesc *stage);

// The weights of spec as the stage builds its model: the stage's pruning choice applied (its
// format needs 2:4 weights) beside the spec's own +prune24. Exits with the source's error.
void stage_weights_load(const StageDesc *stage, const char *spec, TensorMap *t);
// Where model_open's seconds went (the first parts of the time to first mask).
typedef struct {
    double before_main_s;  // process start to stage_main: the dynamic loader and the libraries
    double backend_s;      // the stage's backend opened (device context, library handles)
    double weights_s;      // the wait for the weights (read or made on a thread of their own
                           // while the backend opened) once the backend was open
    double ready_s;        // the caller's weights_ready hook
    double build_s;        // the model built from them (conversion, upload)
} LoadSplit;

// Called by model_open with the weights once they are in, before the model is built from them:
// work that needs only the weights (the configuration) starts here and runs beside the build's
// uploads (the evaluation's batch loader decodes its first batch meanwhile).
typedef void (*WeightsReady)(const TensorMap *tensors, void *ctx);

// Opens the stage's backend into x, loads the weights named by spec (a .pth path or
// "synthetic:<model>[:seed]") and builds the model. Exits with one error line on failure.
// Returns the seconds spent loading and building, the hook's excluded; split (may be NULL) gets
// their parts; ready (may be NULL) is called as above.
double model_open(const StageDesc *stage, const char *spec, Exec *x, Sam *m, LoadSplit *split,
                  WeightsReady ready, void *ready_ctx);
void model_close(const StageDesc *stage, Exec *x, Sam *m);

// Seconds on a monotonic clock.
double now_seconds(void);
// Seconds since this process started (its start time in /proc/self/stat: the dynamic loader and
// everything before main count, as they count in the user's wait for a first mask).
double process_age_seconds(void);

// s as the body of a JSON string (quotes, backslashes and control characters escaped).
const char *json_escape(const char *s, char *buf, size_t len);

#endif
