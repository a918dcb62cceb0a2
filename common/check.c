#include "check.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

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

// A fatal signal's report: the signal and the stack's return addresses, for the user a line
// that says the program died and where, for us addresses that `addr2line -f -e` resolves
// against the unstripped build (the GPU bundle's executables are stripped). Then the default
// action, so the parent still sees the signal. Only async-signal-safe calls here (write, the
// pre-loaded backtrace), no stdio.
static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "11 (Segmentation fault)";
    case SIGBUS: return "7 (Bus error)";
    case SIGFPE: return "8 (Floating point exception)";
    case SIGILL: return "4 (Illegal instruction)";
    case SIGABRT: return "6 (Aborted)";
    default: return "(another)";
    }
}

static void write_str(const char *s) {
    if (write(2, s, strlen(s)) < 0) _exit(1);
}

static void crash_report(int sig) {
    void *frames[48];
    int n = backtrace(frames, 48);
    write_str("sam: fatal signal ");
    write_str(signal_name(sig));
    write_str("; stack:\n");
    backtrace_symbols_fd(frames, n, 2);
    raise(sig);  // the default action: SA_RESETHAND restored it on entry
}

void install_crash_report(void) {
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    void *warm[1];
    backtrace(warm, 1);  // loads libgcc's unwinder now, not inside the handler
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = crash_report;
        sa.sa_flags = SA_RESETHAND;
        if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction(%d): %s", sigs[i], strerror(errno));
    }
}
