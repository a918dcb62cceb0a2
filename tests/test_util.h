// Shared by the C test programs: one "PASS <what>" or "FAIL <what>" line per check (counted by
// tests/run.sh), relative errors, JSON files.
#ifndef SAM_TEST_UTIL_H
#define SAM_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures;

__attribute__((format(printf, 2, 3), unused)) static void report(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "PASS " : "FAIL ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
    if (!ok) test_failures++;
}

__attribute__((unused)) static int test_exit_status(void) { return test_failures ? 1 : 0; }

// max|a - b| / max|b|; NaN or Inf anywhere gives +Inf (never a pass).
__attribute__((unused)) static double rel_error(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = fabs((double)a[i] - b[i]);
        num = d > num ? d : num;
        den = fabs(b[i]) > den ? fabs(b[i]) : den;
    }
    return den > 0 ? num / den : num;
}

__attribute__((unused)) static cJSON *load_json_or_die(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FAIL cannot open %s\n", path);
        printf("FAIL cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        printf("FAIL cannot read %s\n", path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) {
        printf("FAIL %s is not valid JSON\n", path);
        exit(1);
    }
    return j;
}

#endif
