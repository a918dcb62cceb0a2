// Small helpers shared by the harness commands: growable strings, time stamps, hashing,
// process and machine identity, paths.
#ifndef WF_UTIL_H
#define WF_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/check.h"

// One error prefix for the program: the harness's own die, CHECK and allocation checks print
// "waterfall: ..." (common/check.h's print "sam: ", the stages' prefix). Defined after
// check.h so every harness file that includes util.h uses these.
__attribute__((noreturn, format(printf, 1, 2))) void wf_die(const char *fmt, ...);
void *wf_alloc(void *p, size_t n, size_t size, int zero, const char *call, const char *file, int line);
#undef die
#undef CHECK
#undef xmalloc
#undef xcalloc
#undef xrealloc
#define die(...) wf_die(__VA_ARGS__)
#define xmalloc(bytes) wf_alloc(NULL, 1, (bytes), 0, "malloc(" #bytes ")", __FILE__, __LINE__)
#define xcalloc(n, size) wf_alloc(NULL, (n), (size), 1, "calloc(" #n ", " #size ")", __FILE__, __LINE__)
#define xrealloc(p, bytes) wf_alloc((p), 1, (bytes), 0, "realloc(" #p ", " #bytes ")", __FILE__, __LINE__)
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "waterfall: internal check failed: %s at %s:%d\n", #cond,        \
                    __FILE__, __LINE__);                                                     \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

// A growable NUL-terminated string.
typedef struct {
    char *s;
    size_t len, cap;
} Str;

void str_init(Str *b);
void str_free(Str *b);
void str_add(Str *b, const char *s);
void str_addn(Str *b, const char *s, size_t n);
__attribute__((format(printf, 2, 3))) void str_addf(Str *b, const char *fmt, ...);
char *xstrdup(const char *s);

// Seconds since the epoch with microseconds, and monotonic seconds (for deadlines).
double wall_now(void);
double mono_now(void);
// "2026-11-24T14:25:40Z" for a wall-clock time.
void iso_time(double t, char *buf, size_t len);

// SHA-256 of a byte range, of a file (0 or -1 with errno), as 64 lowercase hex digits + NUL.
typedef struct {
    uint32_t h[8];
    uint64_t bits;
    uint8_t buf[64];
    size_t n;
} Sha256;
void sha256_init(Sha256 *c);
void sha256_update(Sha256 *c, const void *data, size_t len);
void sha256_hex(Sha256 *c, char out[65]);
int sha256_file(const char *path, char out[65]);

// The directory holding this executable (from /proc/self/exe), without trailing slash.
const char *exe_dir(void);
// Host name; process start time of pid from /proc (clock ticks since boot), 0 if gone.
void host_name(char *buf, size_t len);
unsigned long long proc_start_ticks(int pid);
// Runs a shell-free command (argv), captures up to len-1 bytes of its stdout, trimmed.
// Returns its exit status, or -1 if it could not run.
int capture_cmd(char *const argv[], char *buf, size_t len);
// mkdir -p. Returns 0 or -1 (errno set).
int mkdir_p(const char *path);
int file_exists(const char *path);
// The file of a checkpoint spec, without its weights options ("+prune24"; the grammar the stages
// parse, common/weights_spec.h), as a new string (the caller frees it).
char *spec_file(const char *spec);
// Reads a whole file (NUL-terminated). NULL with errno on failure.
char *read_file_all(const char *path, size_t *len_out);
// Whether the file's first n bytes (n <= 16) are magic; 0 when it cannot be read.
int file_starts_with(const char *path, const void *magic, size_t n);
// Reads an xz-compressed file whole, decompressed (NUL-terminated), through an `xz -dc` child.
// NULL on failure, with *status xz's exit status (127: xz could not be run; -1: no child).
char *read_xz_all(const char *path, size_t *len_out, int *status);

#endif
