// Shared by the attention op tests (test_flash_relpos, test_decoder_attention, test_sdpa): PASS/FAIL
// lines and their counts, device buffers through a table (poisoned with NaN first, so unwritten
// elements show), the error measures against a float32 result, and the refusal runner (each
// refusal in a child process of the test itself, since die() exits).
#ifndef SAM_ATTN_CHECK_H
#define SAM_ATTN_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../kernels/cuda/cuda_ops.h"
#include "../../variants/core/exec.h"
#include "common/check.h"
#include "dev_fill.h"

static int n_pass, n_fail;

// The test's backend on device 0 and its float32 and bfloat16 tables on it; SAM_TEST_SEED, when
// set, replaces the random seed.
static inline CudaBackend *attn_test_open(const char *name, Exec *f32, Exec *bf, uint64_t *seed) {
    const char *env = getenv("SAM_TEST_SEED");
    if (env) *seed = strtoull(env, NULL, 0);
    CudaBackend *b = cuda_backend_open(name);
    exec_init(f32, cuda_ops_fp32(), b);
    exec_init(bf, cuda_ops_bf16(), b);
    return b;
}

static inline void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void result(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    if (ok) n_pass++;
    else n_fail++;
}

// ---- device buffers (on the backend's stream, through the tables) ----------------------------
static inline void poison(Exec *x, void *d, size_t bytes) { dev_fill(x, d, bytes, 0xff); }
static inline void *dev_poisoned(Exec *x, size_t bytes) {
    void *d = x->ops->mem_alloc(x, bytes);
    poison(x, d, bytes);
    return d;
}
static inline void *dev_act(Exec *x, const float *h, int64_t n) {
    void *d = x->ops->mem_alloc(x, (size_t)(n > 0 ? n : 1) * x->act_size);
    if (n > 0) x->ops->upload_act(x, d, h, (size_t)n);
    return d;
}
static inline float *get_act(Exec *x, const void *d, int64_t n) {
    float *h = xmalloc((size_t)n * sizeof(float) + 4);
    x->ops->download_act(x, h, d, (size_t)n);
    return h;
}
static inline void dfree(Exec *x, void *d) { x->ops->mem_free(x, d); }

// ---- errors against the float32 result -------------------------------------------------------
//   max   max|x - ref| / max|ref|
//   fro   ||x - ref||_F / ||ref||_F
// Where the reference holds NaN (a gap of the output layout) x must too (else `overwritten`);
// every other element of x must be finite (else `unwritten`). ref_nan counts the reference's
// NaNs: a caller checks it equals its layout's gap count, so a NaN the reference computed is
// not taken for a gap.
typedef struct {
    double max, fro;
    int64_t unwritten, overwritten, ref_nan;
} Err;
static inline Err error_of(const float *x, const float *ref, int64_t n) {
    Err e = {0, 0, 0, 0, 0};
    double num = 0, den = 0, ss = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(ref[i])) {
            e.ref_nan++;
            if (!isnan(x[i])) e.overwritten++;
            continue;
        }
        if (!isfinite(x[i])) {
            e.unwritten++;
            continue;
        }
        double d = (double)x[i] - ref[i];
        if (fabs(d) > num) num = fabs(d);
        if (fabs(ref[i]) > den) den = fabs(ref[i]);
        ss += d * d, sr += (double)ref[i] * ref[i];
    }
    e.max = den > 0 ? num / den : num;
    e.fro = sr > 0 ? sqrt(ss / sr) : sqrt(ss);
    return e;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Runs this test program as `--refuse n`; returns its exit status (-1 when it did not exit)
// and its output (the last newline dropped) in out.
static inline int refusal_run(int n, char *out, size_t len) {
    char self[1024], cmd[2048], line[512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) die("readlink /proc/self/exe");
    self[sl] = 0;
    snprintf(cmd, sizeof cmd, "'%s' --refuse %d 2>&1", self, n);
    FILE *f = popen(cmd, "r");
    if (!f) die("popen %s", cmd);
    size_t used = 0;
    out[0] = 0;
    while (fgets(line, sizeof line, f))
        if (used + strlen(line) < len) strcpy(out + used, line), used += strlen(line);
    int st = pclose(f);
    char *nl = strrchr(out, '\n');
    if (nl && nl[1] == 0) *nl = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Every refusal case n of `cases` (its name, and the words its message must give) through
// refusal_run: exit 1 with both `who` and those words on the output.
static inline void check_refusals_of(const char *who, const char *const (*cases)[2], int n_cases) {
    for (int n = 0; n < n_cases; n++) {
        char out[1024];
        int code = refusal_run(n, out, sizeof out);
        result(code == 1 && strstr(out, who) != NULL && strstr(out, cases[n][1]) != NULL,
               "%s refuses %s: exit %d, \"%s\"", who, cases[n][0], code, out);
    }
}

#endif
