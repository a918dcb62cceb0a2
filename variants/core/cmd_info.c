// sam-<stage> info --checkpoint C: the configuration derived from the tensors, as JSON.
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "checkpoint.h"
#include "commands.h"
#include "config.h"

int cmd_info(int argc, char **argv, const StageDesc *stage) {
    const char *ckpt = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) ckpt = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: sam-%s info --checkpoint C\n"
                   "Prints the stage's choices and the configuration derived from C's tensor shapes as\n"
                   "one JSON object; \"prune\" is \"2:4\" when the model is built 2:4-pruned (the\n"
                   "stage's choice or C's +prune24), else \"none\".\n",
                   stage->name);
            return 0;
        } else die("info: unknown or incomplete option '%s'", argv[i]);
    }
    if (!ckpt) die("info: --checkpoint is required");
    TensorMap t;
    SamConfig cfg;
    char err[512];
    stage_weights_load(stage, ckpt, &t);
    if (sam_config_from_tensors(&t, &cfg, err, sizeof err) != 0) die("%s", err);
    size_t params = 0;
    for (int i = 0; i < t.count; i++) params += t.items[i].count;
    char json[2048], st[2048];
    sam_config_json(&cfg, json, sizeof json);
    stage_info_json(stage, st, sizeof st);
    // Splice the stage, the source, the parameter count and the pruning the model is built
    // with (the stage's or the spec's) into the configuration object.
    char esc[1024];
    printf("{\"stage\":%s,\"checkpoint\":\"%s\",\"prune\":\"%s\",\"tensors\":%d,\"params\":%zu,%s\n",
           st, json_escape(ckpt, esc, sizeof esc), t.prune24 ? "2:4" : "none", t.count, params, json + 1);
    tmap_free(&t);
    return 0;
}
