// Official SAM checkpoints: torch.save's zip archive (zipread.c) holding <top>/data.pkl, a
// state_dict pickle (torchpickle.c) whose tensors view storages <top>/data/<key>.
// ref: torch/serialization.py _load (_use_new_zipfile_serialization layout), torch/_utils.py
// _rebuild_tensor_v2; design.md section 5.
//
// Everything is validated before anything is allocated for the weights, so the conversion pass
// (parallel over tensors, straight from the mapped file) cannot fail half way.
#include "checkpoint.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/weights_spec.h"
#include "torchpickle.h"
#include "zipread.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c copies little-endian storages as they lie; port the loads for a big-endian host"
#endif

// One tensor with more elements than this is refused as implausible (SAM's largest: 6.6M).
#define MAX_TENSOR_ELEMS (UINT64_C(1) << 31)

// Every message is one line: names from the file may hold control characters.
static int fail(char *err, size_t len, const char *path, const char *fmt, ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, len, "%s: %s", path, what);
    for (char *s = err; len && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
    return -1;
}

// ---- conversion to float32 -----------------------------------------------------------------

// IEEE half to single, exactly (subnormals, infinities and NaN payloads kept).
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else {
        float f = (float)man * 0x1p-24f;  // subnormal (or zero): exact in float32
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// bfloat16 is the top half of a float32.
static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Storage bytes may sit at any alignment (torch aligns them to 64, other writers need not):
// every load goes through memcpy.
static inline float load(const uint8_t *src, uint64_t i, TorchDtype t) {
    if (t == TP_FLOAT32) {
        float f;
        memcpy(&f, src + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, src + 2 * i, 2);
    return t == TP_FLOAT16 ? f16_to_f32(h) : bf16_to_f32(h);
}

static void convert_run(float *dst, const uint8_t *src, size_t n, TorchDtype t) {
    if (t == TP_FLOAT32) {
        memcpy(dst, src, n * 4);
    } else if (t == TP_FLOAT16) {
        for (size_t i = 0; i < n; i++) dst[i] = load(src, i, TP_FLOAT16);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = load(src, i, TP_BFLOAT16);
    }
}

typedef struct {
    const TorchTensorRef *ref;
    const uint8_t *storage;  // first byte of the storage entry
    float *dst;
    size_t count;
} Job;

// Gathers one tensor: contiguous views are one run; others walk the index space in C order.
static void convert(const Job *j) {
    const TorchTensorRef *r = j->ref;
    if (j->count == 0) return;
    int nd = r->ndim;
    int contiguous = 1;
    int64_t expect = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (r->shape[d] != 1 && r->stride[d] != expect) contiguous = 0;
        expect *= r->shape[d];
    }
    size_t esz = torch_dtype_size(r->dtype);
    if (contiguous) {
        convert_run(j->dst, j->storage + (size_t)r->offset * esz, j->count, r->dtype);
        return;
    }
    // nd >= 1 here: a 0-d tensor is contiguous.
    int64_t idx[8] = {0}, inner = r->shape[nd - 1], s = r->stride[nd - 1];
    float *dst = j->dst;
    for (size_t done = 0; done < j->count; done += (size_t)inner) {
        uint64_t base = (uint64_t)r->offset;
        for (int d = 0; d < nd - 1; d++) base += (uint64_t)(idx[d] * r->stride[d]);
        for (int64_t k = 0; k < inner; k++) *dst++ = load(j->storage, base + (uint64_t)(k * s), r->dtype);
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < r->shape[d]) break;
            idx[d] = 0;
        }
    }
}

typedef struct {
    const Job *jobs;
    size_t n;
    atomic_size_t next;
} Pool;

static void *worker(void *arg) {
    Pool *p = arg;
    for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;) convert(&p->jobs[i]);
    return NULL;
}

// Threads take tensors in turn; the calling thread works too. Page faults on the mapping and
// on the fresh buffers dominate a large load, and they proceed in parallel.
static void convert_all(const Job *jobs, size_t n, uint64_t bytes) {
    Pool pool = {jobs, n, 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t helpers = cpus > 1 ? (size_t)(cpus > 8 ? 8 : cpus) - 1 : 0;
    if (bytes < (16u << 20)) helpers = 0;  // small files: threads cost more than they save
    if (helpers > n) helpers = n;
    pthread_t tid[8];
    for (size_t i = 0; i < helpers; i++) CHECK(pthread_create(&tid[i], NULL, worker, &pool) == 0);
    worker(&pool);
    for (size_t i = 0; i < helpers; i++) CHECK(pthread_join(tid[i], NULL) == 0);
}

// ---- validation ----------------------------------------------------------------------------

// Checks that the tensor's every element lies inside its storage and the storage inside its
// zip entry. Sets *count. Returns 0 or -1 with err.
static int check_tensor(const char *path, const TorchTensorRef *r, const ZipEntry *e,
                        uint64_t *count, char *err, size_t len) {
    uint64_t esz = torch_dtype_size(r->dtype), c = 1;
    if ((uint64_t)r->storage_numel > e->size / esz)
        return fail(err, len, path, "tensor %s: storage entry %s has %llu bytes, fewer than its %lld %s elements need",
                    r->name, e->name, (unsigned long long)e->size, (long long)r->storage_numel,
                    torch_dtype_name(r->dtype));
    for (int d = 0; d < r->ndim; d++)
        if (__builtin_mul_overflow(c, (uint64_t)r->shape[d], &c) || c > MAX_TENSOR_ELEMS)
            return fail(err, len, path, "tensor %s has an implausible number of elements", r->name);
    if (c > 0) {
        // Last element touched: offset + sum((size - 1) * stride). Sizes < 2^31 and strides
        // < 2^62 can still overflow 64 bits, hence the checked arithmetic.
        uint64_t last = (uint64_t)r->offset, term;
        int overflow = 0;
        for (int d = 0; d < r->ndim; d++)
            overflow |= __builtin_mul_overflow((uint64_t)(r->shape[d] - 1), (uint64_t)r->stride[d], &term) ||
                        __builtin_add_overflow(last, term, &last);
        if (overflow || last >= (uint64_t)r->storage_numel)
            return fail(err, len, path,
                        "tensor %s: reaches element %s%llu of storage %s, which has %lld elements",
                        r->name, overflow ? "> " : "", (unsigned long long)(overflow ? UINT64_MAX : last),
                        r->key, (long long)r->storage_numel);
    }
    *count = c;
    return 0;
}

int checkpoint_read(const char *path, TensorMap *out, char *err, size_t len) {
    memset(out, 0, sizeof *out);
    char why[768];
    ZipArchive z;
    if (zip_open(&z, path, why, sizeof why)) return fail(err, len, path, "%s", why);
    int rc = -1, n = 0;
    TorchTensorRef *refs = NULL;
    Job *jobs = NULL;
    char *name = NULL, *top = NULL;

    // The one top folder is whatever holds data.pkl (torch names it after the file or "archive").
    const ZipEntry *pkl = NULL;
    for (size_t i = 0; i < z.count; i++) {
        const char *nm = z.entries[i].name, *slash = strchr(nm, '/');
        if (slash && slash != nm && strcmp(slash, "/data.pkl") == 0) {
            if (pkl) {
                fail(err, len, path, "two data.pkl entries (%.200s, %.200s)", pkl->name, nm);
                goto out;
            }
            pkl = &z.entries[i];
        }
    }
    if (!pkl) {
        fail(err, len, path, "no <top>/data.pkl entry: not a torch.save checkpoint");
        goto out;
    }
    size_t top_len = (size_t)(strchr(pkl->name, '/') - pkl->name);
    top = xmalloc(top_len + 1);
    memcpy(top, pkl->name, top_len);
    top[top_len] = 0;
    name = xmalloc(top_len + 96);  // "<top>/data/<key>", keys are at most 64 bytes

    snprintf(name, top_len + 96, "%s/byteorder", top);
    const ZipEntry *bo = zip_find(&z, name);
    if (bo) {
        const uint8_t *b = zip_stored_data(&z, bo, why, sizeof why);
        if (!b) {
            fail(err, len, path, "%s", why);
            goto out;
        }
        if (bo->size != 6 || memcmp(b, "little", 6) != 0) {
            fail(err, len, path, "byteorder is \"%.*s\"; only little-endian checkpoints are supported",
                 bo->size > 16 ? 16 : (int)bo->size, (const char *)b);
            goto out;
        }
    }

    const uint8_t *pickle = zip_stored_data(&z, pkl, why, sizeof why);
    if (!pickle) {
        fail(err, len, path, "%s", why);
        goto out;
    }
    if (torch_pickle_parse(pickle, pkl->size, &refs, &n, why, sizeof why)) {
        fail(err, len, path, "%s %s", pkl->name, why);
        goto out;
    }
    if (n == 0) {
        fail(err, len, path, "the state_dict holds no tensors");
        goto out;
    }

    jobs = xcalloc((size_t)n, sizeof *jobs);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const TorchTensorRef *r = &refs[i];
        snprintf(name, top_len + 96, "%s/data/%s", top, r->key);
        const ZipEntry *e = zip_find(&z, name);
        if (!e) {
            fail(err, len, path, "tensor %s: storage entry %s is missing", r->name, name);
            goto out;
        }
        const uint8_t *data = zip_stored_data(&z, e, why, sizeof why);
        if (!data) {
            fail(err, len, path, "tensor %s: %s", r->name, why);
            goto out;
        }
        uint64_t count = 0;
        if (check_tensor(path, r, e, &count, err, len)) goto out;
        // Views may share storages, but a small file must not ask for a huge allocation: at
        // most one element per byte of the file (4x its size in float32) plus slack.
        total += count;
        if (total > z.size + (16u << 20)) {
            fail(err, len, path, "tensors total %llu elements, implausible for a %zu-byte file",
                 (unsigned long long)total, z.size);
            goto out;
        }
        jobs[i] = (Job){r, data, NULL, (size_t)count};
    }

    tmap_init(out, path);
    for (int i = 0; i < n; i++) {
        jobs[i].dst = xmalloc(jobs[i].count * sizeof(float));
        tmap_add(out, refs[i].name, refs[i].ndim, refs[i].shape, jobs[i].dst);
    }
    convert_all(jobs, (size_t)n, total * 4);
    rc = 0;
out:
    torch_refs_free(refs, n);
    free(jobs);
    free(name);
    free(top);
    zip_close(&z);
    return rc;
}

// ---- the weights spec: SOURCE[+OPTION]... -----------------------------------------------------

int weights_spec_parse(const char *spec, char *base, size_t base_len, int *prune24, char *err,
                       size_t len) {
    *prune24 = 0;
    size_t end = weights_spec_source_len(spec);
    // The options after the source, each option-shaped (common/weights_spec.h): no '+' inside.
    for (const char *plus = spec + end; *plus == '+';) {
        const char *opt = plus + 1;
        size_t n = strcspn(opt, "+");
        if (n == 7 && strncmp(opt, "prune24", 7) == 0) *prune24 = 1;
        else if (n == 0) return fail(err, len, spec, "empty weights option after '+' (known: +prune24)");
        else
            return fail(err, len, spec, "unknown weights option \"+%.*s\" (known: +prune24)",
                        n > 32 ? 32 : (int)n, opt);
        plus = opt + n;
    }
    if (end == 0) return fail(err, len, spec, "no weights source before the options");
    if (end >= base_len) return fail(err, len, spec, "the weights source is too long");
    memcpy(base, spec, end);
    base[end] = 0;
    return 0;
}

int weights_source_load(const char *spec, TensorMap *out, char *err, size_t len) {
    memset(out, 0, sizeof *out);
    char base[4096];
    int prune24 = 0;
    if (weights_spec_parse(spec, base, sizeof base, &prune24, err, len)) return -1;
    int rc = strncmp(base, "synthetic:", 10) == 0 ? synthetic_make(base, out, err, len)
                                                 : checkpoint_read(base, out, err, len);
    if (rc == 0) out->prune24 = prune24;
    return rc;
}
