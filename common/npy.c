#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int fail(char *err, size_t err_len, const char *path, const char *what) {
    snprintf(err, err_len, "%s: %s", path, what);
    return -1;
}

// Parses "(a, b, c)" or "(a,)" or "()" into shape; returns ndim or -1.
static int parse_shape(const char *s, int64_t *shape) {
    const char *p = strchr(s, '(');
    if (!p) return -1;
    p++;
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') return n;
        if (*p < '0' || *p > '9' || n >= 8) return -1;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0) return -1;
        shape[n++] = v;
        p = end;
    }
}

int npy_read(const char *path, Npy *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_len, path, strerror(errno));
    unsigned char magic[10];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        fclose(f);
        return fail(err, err_len, path, "not a .npy file (bad magic)");
    }
    size_t header_len;
    if (magic[6] == 1) {
        unsigned char h[2];
        if (fread(h, 1, 2, f) != 2) goto truncated;
        header_len = h[0] | (size_t)h[1] << 8;
    } else if (magic[6] == 2 || magic[6] == 3) {
        unsigned char h[4];
        if (fread(h, 1, 4, f) != 4) goto truncated;
        header_len = h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    } else {
        fclose(f);
        return fail(err, err_len, path, "unsupported .npy format version");
    }
    if (header_len > 1 << 20) {
        fclose(f);
        return fail(err, err_len, path, "implausible .npy header length");
    }
    char *header = xmalloc(header_len + 1);
    if (fread(header, 1, header_len, f) != header_len) {
        free(header);
        goto truncated;
    }
    header[header_len] = 0;
    const char *d = strstr(header, "'descr':");
    const char *fo = strstr(header, "'fortran_order':");
    const char *sh = strstr(header, "'shape':");
    if (!d || !fo || !sh) {
        free(header);
        fclose(f);
        return fail(err, err_len, path, "malformed .npy header");
    }
    if (strncmp(fo + 16, " False", 6) != 0 && strncmp(fo + 16, "False", 5) != 0) {
        free(header);
        fclose(f);
        return fail(err, err_len, path, "Fortran-order arrays are not supported");
    }
    const char *q = strchr(d + 8, '\'');
    if (!q || q[1] == 0 || q[2] == 0 || q[3] == 0 || q[4] != '\'') {
        free(header);
        fclose(f);
        return fail(err, err_len, path, "unsupported dtype in .npy header");
    }
    memcpy(out->dtype, q + 1, 3);
    out->dtype[3] = 0;
    if (strcmp(out->dtype, "<f4") == 0) out->item_size = 4;
    else if (strcmp(out->dtype, "|u1") == 0 || strcmp(out->dtype, "|b1") == 0) out->item_size = 1;
    else {
        free(header);
        fclose(f);
        return fail(err, err_len, path, "unsupported dtype (want <f4, |u1 or |b1)");
    }
    out->ndim = parse_shape(sh + 8, out->shape);
    free(header);
    if (out->ndim < 0) {
        fclose(f);
        return fail(err, err_len, path, "malformed shape in .npy header");
    }
    out->count = 1;
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] > (int64_t)1 << 40 || (out->shape[i] && out->count > ((size_t)1 << 40) / (size_t)out->shape[i])) {
            fclose(f);
            return fail(err, err_len, path, "array too large");
        }
        out->count *= (size_t)out->shape[i];
    }
    out->data = xmalloc(out->count * out->item_size);
    if (fread(out->data, out->item_size, out->count, f) != out->count) {
        free(out->data);
        out->data = NULL;
        goto truncated;
    }
    fclose(f);
    return 0;
truncated:
    fclose(f);
    return fail(err, err_len, path, "truncated .npy file");
}

Npy npy_load_or_die(const char *path) {
    Npy a;
    char err[512];
    if (npy_read(path, &a, err, sizeof err) != 0) die("%s", err);
    return a;
}

void npy_free(Npy *a) {
    free(a->data);
    a->data = NULL;
}

int npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape,
              const void *data) {
    size_t item = strcmp(dtype, "<f4") == 0 ? 4 : 1;
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - n, "%lld%s", (long long)shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count *= (size_t)shape[i];
    }
    n += snprintf(dict + n, sizeof dict - n, "), }");
    // Header (magic + 2 + dict + padding + '\n') is padded to a multiple of 64 bytes.
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned short hl = (unsigned short)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 255),
                             (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; i < pad && ok; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, item, count, f) == count;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}
