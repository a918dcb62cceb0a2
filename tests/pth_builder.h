// Hand-built torch.save checkpoints for the checkpoint tests: a byte buffer, the pickle opcodes
// a state_dict uses (so a test can write any sequence, malformed ones included), and a minimal
// zip writer of stored entries. Independent of variants/core/zipread.c and torchpickle.c.
#ifndef SAM_PTH_BUILDER_H
#define SAM_PTH_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Buf;

__attribute__((unused)) static void buf_put(Buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
__attribute__((unused)) static void buf_u8(Buf *b, unsigned v) {
    uint8_t x = (uint8_t)v;
    buf_put(b, &x, 1);
}
__attribute__((unused)) static void buf_le(Buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) buf_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}
__attribute__((unused)) static void buf_free(Buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

// ---- pickle opcodes (protocol 2), ref: CPython Lib/pickletools.py ----------------------------
__attribute__((unused)) static void pk_proto(Buf *b) { buf_u8(b, 0x80), buf_u8(b, 2); }
__attribute__((unused)) static void pk_mark(Buf *b) { buf_u8(b, '('); }
__attribute__((unused)) static void pk_stop(Buf *b) { buf_u8(b, '.'); }
__attribute__((unused)) static void pk_global(Buf *b, const char *module, const char *name) {
    buf_u8(b, 'c');
    buf_put(b, module, strlen(module));
    buf_u8(b, '\n');
    buf_put(b, name, strlen(name));
    buf_u8(b, '\n');
}
__attribute__((unused)) static void pk_strn(Buf *b, const char *s, size_t n) {
    buf_u8(b, 'X');  // BINUNICODE
    buf_le(b, n, 4);
    buf_put(b, s, n);
}
__attribute__((unused)) static void pk_str(Buf *b, const char *s) { pk_strn(b, s, strlen(s)); }
// The smallest encoding, as pickle.py chooses: BININT1, BININT2, BININT or LONG1.
__attribute__((unused)) static void pk_int(Buf *b, int64_t v) {
    if (v >= 0 && v < 256) {
        buf_u8(b, 'K'), buf_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        buf_u8(b, 'M'), buf_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        buf_u8(b, 'J'), buf_le(b, (uint64_t)v, 4);
    } else {
        buf_u8(b, 0x8a), buf_u8(b, 8), buf_le(b, (uint64_t)v, 8);
    }
}
__attribute__((unused)) static void pk_empty_ordered_dict(Buf *b) {
    pk_global(b, "collections", "OrderedDict");
    buf_u8(b, ')');  // EMPTY_TUPLE
    buf_u8(b, 'R');  // REDUCE
}

// _rebuild_tensor_v2(('storage', torch.<storage_type>, key, 'cpu', numel), offset, size,
// stride, False, OrderedDict()), as torch.save pickles a tensor.
__attribute__((unused)) static void pk_tensor(Buf *b, const char *storage_type, const char *key,
                                              int64_t numel, int64_t offset, int ndim,
                                              const int64_t *shape, const int64_t *stride) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pk_mark(b);
    pk_mark(b);
    pk_str(b, "storage");
    pk_global(b, "torch", storage_type);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    buf_u8(b, 't');  // TUPLE
    buf_u8(b, 'Q');  // BINPERSID
    pk_int(b, offset);
    pk_mark(b);
    for (int i = 0; i < ndim; i++) pk_int(b, shape[i]);
    buf_u8(b, 't');
    pk_mark(b);
    for (int i = 0; i < ndim; i++) pk_int(b, stride[i]);
    buf_u8(b, 't');
    buf_u8(b, 0x89);  // NEWFALSE
    pk_empty_ordered_dict(b);
    buf_u8(b, 't');
    buf_u8(b, 'R');
}

// ---- zip of stored entries, ref: PKWARE APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16 --------------------
typedef struct {
    const char *name;
    const void *data;
    size_t size;
    unsigned method;  // 0 stored; anything else only labels the entry (data is not deflated)
    unsigned flags;
} ZipIn;

// Writes the archive to path. Returns 0, or -1 if the file cannot be written.
__attribute__((unused)) static int zip_write(const char *path, const ZipIn *e, int n) {
    Buf z = {0};
    uint64_t *offsets = xcalloc((size_t)n, sizeof *offsets);
    for (int i = 0; i < n; i++) {
        offsets[i] = z.n;
        buf_le(&z, 0x04034b50, 4);
        buf_le(&z, 20, 2), buf_le(&z, e[i].flags, 2), buf_le(&z, e[i].method, 2);
        buf_le(&z, 0, 2), buf_le(&z, 0x21, 2);  // 1980-01-01 00:00
        buf_le(&z, 0, 4);                        // CRC: the reader does not check it
        buf_le(&z, e[i].size, 4), buf_le(&z, e[i].size, 4);
        buf_le(&z, strlen(e[i].name), 2), buf_le(&z, 0, 2);
        buf_put(&z, e[i].name, strlen(e[i].name));
        buf_put(&z, e[i].data, e[i].size);
    }
    uint64_t cd = z.n;
    for (int i = 0; i < n; i++) {
        buf_le(&z, 0x02014b50, 4);
        buf_le(&z, 20, 2), buf_le(&z, 20, 2), buf_le(&z, e[i].flags, 2), buf_le(&z, e[i].method, 2);
        buf_le(&z, 0, 2), buf_le(&z, 0x21, 2), buf_le(&z, 0, 4);
        buf_le(&z, e[i].size, 4), buf_le(&z, e[i].size, 4);
        buf_le(&z, strlen(e[i].name), 2), buf_le(&z, 0, 2), buf_le(&z, 0, 2);
        buf_le(&z, 0, 2), buf_le(&z, 0, 2), buf_le(&z, 0, 4);
        buf_le(&z, offsets[i], 4);
        buf_put(&z, e[i].name, strlen(e[i].name));
    }
    uint64_t cd_size = z.n - cd;
    buf_le(&z, 0x06054b50, 4);
    buf_le(&z, 0, 2), buf_le(&z, 0, 2), buf_le(&z, (uint64_t)n, 2), buf_le(&z, (uint64_t)n, 2);
    buf_le(&z, cd_size, 4), buf_le(&z, cd, 4), buf_le(&z, 0, 2);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(z.p, 1, z.n, f) == z.n;
    if (f) ok &= fclose(f) == 0;
    free(offsets);
    buf_free(&z);
    return ok ? 0 : -1;
}

// A checkpoint of pickle pkl under top folder "archive" with storages data/0, data/1, ...
__attribute__((unused)) static int pth_write(const char *path, const Buf *pkl, const Buf *storages,
                                             int nstorages) {
    ZipIn e[18];
    char names[16][32];
    int n = 0;
    e[n++] = (ZipIn){"archive/data.pkl", pkl->p, pkl->n, 0, 0};
    e[n++] = (ZipIn){"archive/byteorder", "little", 6, 0, 0};
    for (int i = 0; i < nstorages && i < 16; i++) {
        snprintf(names[i], sizeof names[i], "archive/data/%d", i);
        e[n++] = (ZipIn){names[i], storages[i].p, storages[i].n, 0, 0};
    }
    return zip_write(path, e, n);
}

#endif
