#include "common/readfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"

static void say(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || !err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

char *read_whole_file(const char *path, size_t max_bytes, size_t *size, int *open_errno, char *err,
                      size_t err_len) {
    *size = 0;
    if (open_errno) *open_errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (open_errno) *open_errno = e;
        say(err, err_len, "%s: cannot open: %s", path, strerror(e));
        return NULL;
    }
    const char *problem = NULL;
    int e = 0;
    long len = -1;
    if (fseek(f, 0, SEEK_END) != 0) e = errno, problem = "cannot seek";
    else if ((len = ftell(f)) < 0) problem = "cannot size the file";
    else if ((size_t)len > max_bytes) problem = "file too large";
    if (problem) {
        fclose(f);
        if (e) say(err, err_len, "%s: %s: %s", path, problem, strerror(e));
        else say(err, err_len, "%s: %s", path, problem);
        return NULL;
    }
    rewind(f);
    char *buf = xmalloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        e = ferror(f) ? errno : 0;
        fclose(f);
        free(buf);
        say(err, err_len, "%s: read failed: %s", path, e ? strerror(e) : "short read");
        return NULL;
    }
    fclose(f);
    buf[len] = 0;
    *size = (size_t)len;
    return buf;
}
