#include "check.h"

#include <errno.h>
#include <string.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sam: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void alloc_failed(size_t bytes, const char *call, const char *file, int line) {
    fprintf(stderr, "sam: %s failed for %zu bytes at %s:%d: %s\n", call, bytes, file, line,
            strerror(errno ? errno : ENOMEM));
    exit(1);
}

void *check_malloc_impl(size_t bytes, const char *call, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) alloc_failed(bytes, call, file, line);
    return p;
}

void *check_calloc_impl(size_t n, size_t size, const char *call, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) alloc_failed(n * size, call, file, line);
    return p;
}

void *check_realloc_impl(void *p, size_t bytes, const char *call, const char *file, int line) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) alloc_failed(bytes, call, file, line);
    return q;
}
