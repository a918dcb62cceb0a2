// Writes the float32 tensors of a weights source ("synthetic:vit_h:0" or a .pth) as one .npy
// per tensor, DIR/<name>.npy, so a Python oracle can load exactly the weights the stages use.
//
//     dump_weights SPEC DIR
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../variants/core/checkpoint.h"
#include "common/npy.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: dump_weights SPEC DIR\n");
        return 2;
    }
    char err[1024];
    TensorMap m;
    if (weights_source_load(argv[1], &m, err, sizeof err) != 0) {
        fprintf(stderr, "dump_weights: %s\n", err);
        return 1;
    }
    if (mkdir(argv[2], 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dump_weights: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    for (int i = 0; i < m.count; i++) {
        const HostTensor *t = &m.items[i];
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.npy", argv[2], t->name) >= (int)sizeof path) {
            fprintf(stderr, "dump_weights: %s: path too long\n", t->name);
            return 1;
        }
        if (npy_write(path, "<f4", t->ndim, t->shape, t->data) != 0) {
            fprintf(stderr, "dump_weights: %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    printf("%d tensors from %s written to %s\n", m.count, m.source, argv[2]);
    tmap_free(&m);
    return 0;
}
