// Official SAM checkpoints (torch.save zip + pickle) and synthetic weights, as named float32
// host tensors. The model configuration is derived from these by config.c, never from a name.
#ifndef SAM_CHECKPOINT_H
#define SAM_CHECKPOINT_H

#include <stddef.h>

#include "tensors.h"

// Reads a .pth written by torch.save (zip archive of stored entries, <top>/data.pkl pickle
// protocol 2 of an OrderedDict name -> torch._utils._rebuild_tensor_v2(...)).
// float32, float16 and bfloat16 storages are converted to float32.
// Returns 0, or -1 with one line in err naming the file and the problem. Never crashes on
// malformed input; on failure *out is left empty (nothing to free).
int checkpoint_read(const char *path, TensorMap *out, char *err, size_t err_len);

// "synthetic:vit_b|vit_l|vit_h[:SEED]": deterministic weights with PyTorch's default
// per-layer initialisation (see synthetic.c for the scheme). Returns 0 or -1 with err.
int synthetic_make(const char *spec, TensorMap *out, char *err, size_t err_len);

// Either of the above, by the form of spec ("synthetic:" prefix or a path).
int weights_source_load(const char *spec, TensorMap *out, char *err, size_t err_len);

#endif
