// How the weights' upload ring (kernels/cuda/upload.cu) cuts n values into chunks: each chunk
// whole units (a unit is one value, or one weight row where a consumer needs whole rows: int8's
// per-row scales) and at most one slot. Host only, so the CPU test (tests/core/
// test_upload_chunks.c) checks the cut and the refusals without a device.
#ifndef SAM_UPLOAD_CHUNKS_H
#define SAM_UPLOAD_CHUNKS_H

#include <stddef.h>
#include <stdio.h>

// A slot's float32 values: 4 MiB, so the copy engine's start-up is lost in a chunk, and the
// ring's four device buffers (16 MiB) stay under any eval's peak.
#define UPLOAD_SLOT_VALUES ((size_t)1 << 20)

// Values per chunk for n values in units of `unit` through slots of `slot_values`: the most whole
// units a slot holds. 0 with the reason in err when the cut is impossible: a unit of 0, a unit
// larger than a slot, or n not whole units.
static inline size_t upload_chunk_values(size_t n, size_t unit, size_t slot_values, char *err, size_t len) {
    if (unit == 0 || unit > slot_values) {
        snprintf(err, len, "a unit of %zu values (the ring's slots hold %zu)", unit, slot_values);
        return 0;
    }
    if (n % unit) {
        snprintf(err, len, "%zu values are not whole units of %zu", n, unit);
        return 0;
    }
    return slot_values / unit * unit;
}

// The chunk starting at `first` of n values cut in chunks of `per_chunk`.
static inline size_t upload_chunk_count(size_t n, size_t first, size_t per_chunk) {
    return n - first < per_chunk ? n - first : per_chunk;
}

#endif
