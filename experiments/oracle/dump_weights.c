// Writes the float32 tensors of a weights source ("synthetic:vit_h:0" or a .pth) as one .npy
// per tensor, DIR/<name>.npy, so a Python oracle can load exactly the weights the stages use.
// With SPEC+prune24 the four linears of every encoder block are written 2:4-pruned, as the
// stages build them (variants/core/prune.h): the official code then runs the sparse stage's
// model.
//
//     dump_weights SPEC DIR
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../../variants/core/checkpoint.h"
#include "../../variants/core/prune.h"
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
    for (int i = 0; i < m.count && m.prune24; i++) {
        HostTensor *t = &m.items[i];
        int block;
        char kind[16], rest[16];
        // image_encoder.blocks.N.{attn.qkv,attn.proj,mlp.lin1,mlp.lin2}.weight
        if (t->ndim == 2 && sscanf(t->name, "image_encoder.blocks.%d.%15[a-z].%15s", &block, kind, rest) == 3 &&
            (strcmp(rest, "qkv.weight") == 0 || strcmp(rest, "proj.weight") == 0 ||
             strcmp(rest, "lin1.weight") == 0 || strcmp(rest, "lin2.weight") == 0) &&
            prune24(t->data, (int)t->shape[0], (int)t->shape[1], err, sizeof err) != 0) {
            fprintf(stderr, "dump_weights: %s: %s\n", t->name, err);
            return 1;
        }
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
    printf("%d tensors from %s%s written to %s\n", m.count, m.source, m.prune24 ? " (encoder linears 2:4-pruned)" : "",
           argv[2]);
    tmap_free(&m);
    return 0;
}
