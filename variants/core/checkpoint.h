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

// Either of the above, by the form of spec ("synthetic:" prefix or a path), followed by
// options, each "+NAME":
//   +prune24   2:4-prune the four linears of every encoder block at load (prune.h), as the
//              sparse stage does; sets out->prune24. Any stage runs on pruned weights this way
//              (the float32 stages on pruned weights are the sparse stage's reference).
// An option is the text after a '+' that holds only letters, digits, '_' and '-' (so a path
// such as /data/a+b/sam.pth or sam+v2.pth is a path); an unknown one is refused by name.
int weights_source_load(const char *spec, TensorMap *out, char *err, size_t err_len);

// Splits spec into its source (written to base) and options, as weights_source_load reads
// them. Returns 0, or -1 with one line in err (an unknown or empty option, or a source longer
// than base_len - 1).
int weights_spec_parse(const char *spec, char *base, size_t base_len, int *prune24, char *err,
                       size_t err_len);

#endif
