// Entry point shared by every stage executable: build/sam-<stage> <command> [options].
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/build_info.h"
#include "common/check.h"
#include "checkpoint.h"
#include "commands.h"

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double process_age_seconds(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    char line[4096];
    size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f) fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')');
    if (!p) die("cannot parse /proc/self/stat");
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) die("cannot parse /proc/self/stat");
        p++;
    }
    double start = strtoull(p, NULL, 10) / (double)sysconf(_SC_CLK_TCK);
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9 - start;
}

// The process's age when stage_main began (model_open's split reports it).
static double age_at_main = -1.0;

const char *json_escape(const char *s, char *buf, size_t len) {
    size_t o = 0;
    for (; *s && o + 7 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') o += (size_t)snprintf(buf + o, len - o, "\\%c", c);
        else if (c < 0x20) o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = 0;
    return buf;
}

static const char *const decoding_names[] = {[DECODE_PER_IMAGE] = "per-image", [DECODE_RAGGED] = "ragged"};

void stage_info_json(const StageDesc *stage, char *buf, size_t len) {
    const StageChoices *c = &stage->choices;
    char after[80], adds[1024];
    if (stage->after) snprintf(after, sizeof after, "\"%s\"", stage->after);
    else snprintf(after, sizeof after, "null");
    snprintf(buf, len,
             "{\"name\":\"%s\",\"after\":%s,\"adds\":\"%s\",\"choices\":{\"device\":\"%s\","
             "\"precision\":\"%s\",\"graphs\":\"%s\",\"fusion\":\"%s\",\"attention\":\"%s\","
             "\"decoder_attention\":\"%s\",\"decoding\":\"%s\",\"linear\":\"%s\",\"prune\":\"%s\"},"
             "\"build\":\"%s\"}",
             stage->name, after, json_escape(stage->adds, adds, sizeof adds), c->device,
             c->ops.precision == DT_BF16 ? "bf16" : "fp32", c->graphs ? "on" : "off",
             c->ops.fusion ? "on" : "off", c->ops.encoder_attention->name,
             c->ops.decoder_attention->name, decoding_names[c->decoding], c->ops.encoder_linear->name,
             c->prune24 ? "2:4" : "none", sam_build_commit());
}

// stage_weights_load's work, its error in err instead of an exit.
static int stage_weights_try(const StageDesc *stage, const char *spec, TensorMap *t, char *err, size_t len) {
    if (weights_source_load(spec, t, err, len) != 0) return -1;
    if (stage->choices.prune24) t->prune24 = 1;
    return 0;
}

void stage_weights_load(const StageDesc *stage, const char *spec, TensorMap *t) {
    char err[512];
    if (stage_weights_try(stage, spec, t, err, sizeof err) != 0) die("%s", err);
}

// The weights made or read on a thread of their own while the backend opens (the device
// context alone is about 0.22 s on the H200, vit_h's synthetic weights 0.2 s: session 17 call 1).
// A failure is reported by the main thread after the join: an exit from this thread while the
// main one is inside the CUDA runtime's initialisation could block in the runtime's teardown.
typedef struct {
    const StageDesc *stage;
    const char *spec;
    TensorMap tensors;
    int rc;
    char err[512];
} WeightsJob;

static void *weights_job(void *arg) {
    WeightsJob *j = (WeightsJob *)arg;
    j->rc = stage_weights_try(j->stage, j->spec, &j->tensors, j->err, sizeof j->err);
    return NULL;
}

double model_open(const StageDesc *stage, const char *spec, Exec *x, Sam *m, LoadSplit *split,
                  WeightsReady ready, void *ready_ctx) {
    double t0 = now_seconds();
    WeightsJob job = {.stage = stage, .spec = spec};
    pthread_t weights_thread;
    int rc = pthread_create(&weights_thread, NULL, weights_job, &job);
    if (rc != 0) die("cannot start the weights' thread: %s", strerror(rc));
    void *backend = NULL;
    const Ops *ops = stage->open(stage->name, &stage->choices.ops, &backend);
    if (stage->choices.graphs && !(ops->graph_begin && ops->graph_end && ops->graph_launch))
        die("stage %s: graphs=on: the %s backend cannot capture graphs", stage->name, ops->name);
    exec_init(x, ops, backend);
    double t1 = now_seconds();
    rc = pthread_join(weights_thread, NULL);
    if (rc != 0) die("cannot join the weights' thread: %s", strerror(rc));
    if (job.rc != 0) die("%s", job.err);
    double t2 = now_seconds();
    if (ready) ready(&job.tensors, ready_ctx);
    double t2r = now_seconds();
    char err[512];
    if (sam_build(m, x, &job.tensors, err, sizeof err) != 0) die("%s", err);
    tmap_free(&job.tensors);
    // Uploads may still be queued: the build's part ends when the device has them (load_end
    // waits for them, then frees the backend's staging).
    ops->load_end(x);
    double t3 = now_seconds();
    if (split) *split = (LoadSplit){age_at_main, t1 - t0, t2 - t1, t2r - t2, t3 - t2r};
    return t3 - t0 - (t2r - t2);
}

void model_close(const StageDesc *stage, Exec *x, Sam *m) {
    sam_free(m);
    stage->close(x->backend);
}

static void usage(const StageDesc *stage, FILE *f) {
    fprintf(f,
            "usage: sam-%s <command> [options]\n"
            "  %s%s%s\n\n"
            "commands:\n"
            "  info     --checkpoint C            print the configuration derived from C\n"
            "  predict  --checkpoint C --image F  one image, one prompt, as SamPredictor.predict\n"
            "  eval     --checkpoint C [--coco D] the timed COCO evaluation run by the harness\n\n"
            "C is an official SAM .pth file or synthetic:vit_b|vit_l|vit_h[:SEED], optionally\n"
            "followed by +prune24: the four linears of every encoder block 2:4-pruned at load\n"
            "(in every group of 4 input columns of a row the two smallest |w| zeroed, the lower\n"
            "column first among equals), as the sparse stage prunes%s.\n"
            "'sam-%s <command> --help' describes a command's options.\n",
            stage->name, stage->after ? stage->after : "", stage->after ? " + " : "", stage->adds,
            stage->choices.prune24 ? " (this stage always prunes)" : "", stage->name);
}

int stage_main(int argc, char **argv, const StageDesc *stage) {
    age_at_main = process_age_seconds();
    install_crash_report();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1, stage);
    if (strcmp(cmd, "predict") == 0) return cmd_predict(argc - 1, argv + 1, stage);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1, stage);
    fprintf(stderr, "sam-%s: unknown command '%s' (info, predict, eval)\n", stage->name, cmd);
    return 2;
}
