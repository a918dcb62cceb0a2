// Named float32 host tensors: what a checkpoint (or the synthetic generator) yields before the
// model's weights are built for a backend.
#ifndef SAM_TENSORS_H
#define SAM_TENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;        // e.g. "image_encoder.blocks.0.attn.qkv.weight"
    int ndim;
    int64_t shape[8];
    size_t count;      // product of shape
    float *data;       // count floats, C order (converted from f16/bf16 storages on load)
} HostTensor;

typedef struct {
    HostTensor *items;
    int count, capacity;
    char *source;      // file path or "synthetic:vit_b:0", for messages
    int prune24;       // the source's "+prune24" option (checkpoint.h): sam_build prunes the
                       // encoder blocks' four linears 2:4 (prune.h) before preparing them
} TensorMap;

void tmap_init(TensorMap *m, const char *source);
// Adds a tensor (takes ownership of data, copies the name). Returns the new entry.
HostTensor *tmap_add(TensorMap *m, const char *name, int ndim, const int64_t *shape, float *data);
const HostTensor *tmap_find(const TensorMap *m, const char *name);
void tmap_free(TensorMap *m);

#endif
