// A waterfall stage: which operation implementation and execution options it uses.
// variants/<stage>.c fills one StageDesc and calls stage_main; every stage executable shares
// the commands info, predict and eval.
#ifndef SAM_STAGE_H
#define SAM_STAGE_H

#include "exec.h"

typedef struct {
    const char *name;           // "cpu", "fp32", "bf16", ...
    const char *summary;        // one line for --help
    // Creates the backend state and returns the operation table (exits with a message if the
    // machine cannot run this stage, e.g. no GPU or an unsupported compute capability).
    const Ops *(*open)(void **backend);
    void (*close)(void *backend);
    // Describes the device for result records (GPU name, driver, SMs, clocks or CPU model),
    // as a JSON object without newline.
    void (*describe)(void *backend, char *buf, size_t len);
} StageDesc;

int stage_main(int argc, char **argv, const StageDesc *stage);

#endif
