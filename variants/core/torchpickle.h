// A restricted unpickler for torch.save's data.pkl: it understands exactly what a state_dict
// pickles to (an OrderedDict of torch._utils._rebuild_tensor_v2 calls on persistent storages)
// and refuses anything else by name. It executes no code and never recurses.
#ifndef SAM_TORCHPICKLE_H
#define SAM_TORCHPICKLE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TP_FLOAT32, TP_FLOAT16, TP_BFLOAT16 } TorchDtype;

// One tensor of the state_dict, as _rebuild_tensor_v2 describes it: element (i0, i1, ...) is
// storage element offset + sum(ik * stride[k]), the storage being zip entry <top>/data/<key>.
typedef struct {
    char *name;              // state_dict key (NUL-terminated, no control characters)
    char *key;               // storage key
    TorchDtype dtype;        // of the storage
    int64_t storage_numel;   // elements the storage declares
    int64_t offset;          // storage offset, in elements
    int ndim;                // 0..8
    int64_t shape[8];
    int64_t stride[8];       // in elements, non-negative
} TorchTensorRef;

// Parses a pickle of n bytes. Returns 0 with *out (xmalloc'd, free with torch_refs_free) and
// *count, or -1 with one line in err (without a file name; byte offsets are into the pickle).
int torch_pickle_parse(const uint8_t *p, size_t n, TorchTensorRef **out, int *count, char *err,
                       size_t err_len);
void torch_refs_free(TorchTensorRef *refs, int count);

size_t torch_dtype_size(TorchDtype t);
const char *torch_dtype_name(TorchDtype t);

#endif
