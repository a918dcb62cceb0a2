// Stage "cpu": the float32 reference on the CPU (OpenBLAS GEMMs). The oracle for every GPU
// stage, and the stage that runs where there is no GPU.
#include <stdio.h>
#include <string.h>

#include "../kernels/cpu/cpu_ops.h"
#include "core/stage.h"

static const Ops *open_cpu(const char *stage_name, const OpsChoices *choices, void **backend) {
    *backend = NULL;
    return cpu_open(stage_name, choices);  // exits naming a choice the CPU cannot do
}

static void close_cpu(void *backend) {}

// The CPU model name from /proc/cpuinfo, for result records.
static void describe_cpu(void *backend, char *buf, size_t len) {
    char model[256] = "", line[512];
    int cores = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 && !model[0]) {
            const char *v = strchr(line, ':');
            if (v) snprintf(model, sizeof model, "%s", v + 2);
            model[strcspn(model, "\n\"\\")] = 0;
        }
        if (strncmp(line, "processor", 9) == 0) cores++;
    }
    if (f) fclose(f);
    if (!model[0]) snprintf(model, sizeof model, "unknown");
    snprintf(buf, len, "{\"kind\":\"cpu\",\"name\":\"%s\",\"cores\":%d}", model, cores);
}

static const StageDesc STAGE = {
    .name = "cpu",
    .after = NULL,
    .adds = "float32 reference on the CPU (OpenBLAS SGEMM, explicit attention)",
    .choices = {.device = "cpu",
                .ops = {.precision = DT_F32, .fusion = 0, .encoder_attention = &cpu_attention_explicit,
                        .decoder_attention = &cpu_attention_explicit, .encoder_linear = &cpu_linear_dense},
                .graphs = 0, .decoding = DECODE_PER_IMAGE},
    .open = open_cpu,
    .close = close_cpu,
    .describe = describe_cpu,
};

int main(int argc, char **argv) { return stage_main(argc, argv, &STAGE); }
