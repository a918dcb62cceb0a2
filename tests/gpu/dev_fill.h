// Device memory filled with one byte value through an operation table, so an element a kernel
// leaves unwritten keeps it: 0xff is NaN in float32 and in bfloat16. For the GPU tests' poisoned
// outputs (attn_check.h, test_ops, test_int8).
#ifndef SAM_TEST_DEV_FILL_H
#define SAM_TEST_DEV_FILL_H

#include <stdlib.h>
#include <string.h>

#include "../../kernels/ops.h"
#include "common/check.h"

static inline void dev_fill(Exec *x, void *d, size_t bytes, int value) {
    unsigned char *h = xmalloc(bytes + 1);
    memset(h, value, bytes);
    x->ops->copy_to_device(x, d, h, bytes);
    x->ops->sync(x);  // the host buffer is freed next
    free(h);
}

#endif
