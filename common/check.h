// Error checking shared by every part of sam-waterfall.
// Every failing call prints the call, the file and the line, then exits non-zero:
// a benchmark that silently continues after an error produces wrong numbers.
#ifndef SAM_CHECK_H
#define SAM_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>

// Prints "sam: <message>" on stderr and exits with status 1. Used for user-facing errors
// (bad file, bad argument) where the message itself names the file and the problem.
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

// Allocation checks: a failed malloc is reported with the size, the call and the location.
void *check_malloc_impl(size_t bytes, const char *call, const char *file, int line);
void *check_calloc_impl(size_t n, size_t size, const char *call, const char *file, int line);
void *check_realloc_impl(void *p, size_t bytes, const char *call, const char *file, int line);
#define xmalloc(bytes) check_malloc_impl((bytes), "malloc(" #bytes ")", __FILE__, __LINE__)
#define xcalloc(n, size) check_calloc_impl((n), (size), "calloc(" #n ", " #size ")", __FILE__, __LINE__)
#define xrealloc(p, bytes) check_realloc_impl((p), (bytes), "realloc(" #p ", " #bytes ")", __FILE__, __LINE__)

// On SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT: one line naming the signal and the stack's
// addresses on stderr, then the signal's default action (the exit status still says it).
void install_crash_report(void);

// Generic condition check for internal invariants ("cannot happen" states).
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "sam: internal check failed: %s at %s:%d\n", #cond, __FILE__,    \
                    __LINE__);                                                               \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#endif
