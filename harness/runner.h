// Runs one experiment: a fresh stage process (fork/exec of sam-<stage> eval), its stdout read
// line by line under a deadline, stderr kept in a log file. Every way a stage can go wrong —
// exit status, signal, timeout, out of memory, protocol violation, inconsistent summary,
// missing masks — becomes a failed result with a reason; the harness itself never dies of it.
#ifndef WF_RUNNER_H
#define WF_RUNNER_H

#include "proto.h"

typedef struct {
    const char *exe;        // path of sam-<stage>
    char *const *argv;      // full argv (argv[0] = exe), NULL-terminated
    const char *stderr_log; // file receiving the stage's stderr
    const char *masks_path; // the masks file the stage was told to write
    double timeout_s;
    // Progress: called after every batch line (may be NULL).
    void (*on_batch)(void *ctx, const ExpResult *r);
    void *ctx;
} RunSpec;

typedef struct {
    int ok;                 // 1: a valid, complete experiment
    char reason[1024];      // why it failed
    double wall_s;
    char stderr_tail[2048]; // last lines of stderr
    double cpu_s;           // CPU seconds the stage used (user + system)
    // Share of the machine's CPU time used by other processes while the stage ran (0..1, NaN
    // if unknown): a busy machine makes timings incomparable (compare refuses to judge them).
    double other_load;
} RunOutcome;

// Runs the stage and fills r (the parsed output) and out.
void runner_run(const RunSpec *spec, ExpResult *r, RunOutcome *out);

#endif
