#include "runner.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

// A stage that ignores SIGTERM this long after its deadline is killed.
#define KILL_GRACE_S 3.0

static void read_tail(const char *path, char *buf, size_t len) {
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long start = size > (long)len - 1 ? size - (long)len + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
    // Drop a partial first line when cut.
    if (start > 0) {
        char *nl = strchr(buf, '\n');
        if (nl) memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
}

// The last non-empty line of text (for reasons), written to out.
static void last_line(const char *text, char *out, size_t len) {
    out[0] = 0;
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
    const char *start = end;
    while (start > text && start[-1] != '\n') start--;
    size_t n = (size_t)(end - start) < len - 1 ? (size_t)(end - start) : len - 1;
    memcpy(out, start, n);
    out[n] = 0;
}

static int mentions_oom(const char *text) {
    return strcasestr(text, "out of memory") || strcasestr(text, "cudaErrorMemoryAllocation") ||
           strcasestr(text, "CUBLAS_STATUS_ALLOC_FAILED") || strcasestr(text, "std::bad_alloc") ||
           strcasestr(text, "Cannot allocate memory");
}

// CPU ticks of the whole machine from /proc/stat: busy (everything but idle and iowait) and
// total. Returns 0 or -1.
static int machine_ticks(unsigned long long *busy, unsigned long long *total) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 4) return -1;
    // guest and guest_nice (8, 9) are already counted in user and nice.
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - v[3] - v[4];
    return 0;
}

// Waits for the stage, keeping its resource use (CPU time) for the load measurement.
static pid_t wait_child(pid_t pid, int *st, int options, struct rusage *ru) {
    pid_t r;
    while ((r = wait4(pid, st, options, ru)) < 0 && errno == EINTR) {}
    return r;
}

static void kill_group(pid_t pid, int sig) {
    // The stage leads its own process group, so helpers it started die with it.
    if (kill(-pid, sig) != 0 && errno == ESRCH) kill(pid, sig);
}

static pid_t spawn(const RunSpec *spec, int *out_fd, char *why, size_t len) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, len, "pipe: %s", strerror(errno));
        return -1;
    }
    int errfd = open(spec->stderr_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (errfd < 0) {
        snprintf(why, len, "cannot create %s: %s", spec->stderr_log, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        close(errfd);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        // If the harness is killed (even by SIGKILL) the stage goes too: no orphan keeps the
        // GPU busy while a resumed run measures.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(errfd, 2);
        execv(spec->exe, spec->argv);
        dprintf(2, "waterfall: cannot execute %s: %s\n", spec->exe, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);  // also from the parent, so kill(-pid) works at once
    close(fds[1]);
    close(errfd);
    *out_fd = fds[0];
    return pid;
}

void runner_run(const RunSpec *spec, ExpResult *r, RunOutcome *out) {
    memset(out, 0, sizeof *out);
    double t0 = mono_now();
    unlink(spec->masks_path);
    out->other_load = NAN;
    unsigned long long busy0 = 0, total0 = 0;
    int have_ticks = machine_ticks(&busy0, &total0) == 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    int fd;
    pid_t pid = spawn(spec, &fd, out->reason, sizeof out->reason);
    if (pid < 0) return;

    double deadline = t0 + spec->timeout_s;
    int timed_out = 0, killed_for_garbage = 0;
    Str pending;
    str_init(&pending);
    for (;;) {
        double left = deadline - mono_now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, (int)(left * 1000) + 1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            snprintf(out->reason, sizeof out->reason, "poll: %s", strerror(errno));
            break;
        }
        if (rc == 0) continue;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            snprintf(out->reason, sizeof out->reason, "read from stage: %s", strerror(errno));
            break;
        }
        if (n == 0) break;  // EOF: the stage closed stdout (normally: it exited)
        str_addn(&pending, buf, (size_t)n);
        // Binary junk: a NUL byte cannot be in a JSON line.
        if (memchr(buf, 0, (size_t)n)) {
            proto_line(r, "(binary data with NUL bytes)");
            killed_for_garbage = 1;
            break;
        }
        char *start = pending.s, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = 0;
            if (nl > start && nl[-1] == '\r') nl[-1] = 0;
            int before = r->n_samples;
            if (proto_line(r, start) != 0) killed_for_garbage = 1;
            else if (r->n_samples > before && spec->on_batch) spec->on_batch(spec->ctx, r);
            start = nl + 1;
        }
        size_t rest = strlen(start);
        memmove(pending.s, start, rest + 1);
        pending.len = rest;
        // A line longer than 16 MiB is not a protocol line.
        if (pending.len > (16u << 20)) {
            proto_line(r, "(a line over 16 MiB)");
            killed_for_garbage = 1;
        }
        if (killed_for_garbage) break;
    }
    if (!timed_out && !killed_for_garbage && !out->reason[0] && pending.len > 0) {
        // Output that does not end with a newline: the last line is incomplete.
        if (proto_line(r, pending.s) != 0) killed_for_garbage = 1;
    }
    str_free(&pending);
    if (timed_out || killed_for_garbage || out->reason[0]) {
        kill_group(pid, SIGTERM);
        double grace_end = mono_now() + KILL_GRACE_S;
        int st;
        while (wait_child(pid, &st, WNOHANG, &ru) == 0) {
            if (mono_now() > grace_end) {
                kill_group(pid, SIGKILL);
                wait_child(pid, &st, 0, &ru);
                break;
            }
            usleep(20000);
        }
        close(fd);
        out->wall_s = mono_now() - t0;
        read_tail(spec->stderr_log, out->stderr_tail, sizeof out->stderr_tail);
        if (timed_out)
            snprintf(out->reason, sizeof out->reason, "timeout: no result after %.0f s (limit)",
                     spec->timeout_s);
        else if (killed_for_garbage)
            snprintf(out->reason, sizeof out->reason, "garbage output: %s", r->garbage);
        return;
    }
    close(fd);
    int st;
    if (wait_child(pid, &st, 0, &ru) < 0) {
        snprintf(out->reason, sizeof out->reason, "wait4: %s", strerror(errno));
        return;
    }
    out->cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    unsigned long long busy1, total1;
    if (have_ticks && machine_ticks(&busy1, &total1) == 0 && total1 > total0) {
        double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
        double other = (double)(busy1 - busy0) * tick - out->cpu_s;
        double load = other / ((double)(total1 - total0) * tick);
        out->other_load = load < 0 ? 0 : load > 1 ? 1 : load;
    }
    // The stage closed stdout; make sure any helper in its group is gone too.
    kill_group(pid, SIGKILL);
    out->wall_s = mono_now() - t0;
    read_tail(spec->stderr_log, out->stderr_tail, sizeof out->stderr_tail);
    char last[400];
    last_line(out->stderr_tail, last, sizeof last);
    int oom = mentions_oom(out->stderr_tail) || (r->status_error && mentions_oom(r->status_error));

    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        if (sig == SIGKILL)
            snprintf(out->reason, sizeof out->reason,
                     "killed by signal 9 (SIGKILL, not sent by the harness: most likely the "
                     "kernel's out-of-memory killer)%s%s", last[0] ? ": " : "", last);
        else
            snprintf(out->reason, sizeof out->reason, "%skilled by signal %d (%s)%s%s",
                     oom ? "out of memory: " : "", sig, strsignal(sig), last[0] ? ": " : "", last);
        return;
    }
    int code = WEXITSTATUS(st);
    if (code != 0) {
        const char *msg = r->status_error ? r->status_error : last;
        snprintf(out->reason, sizeof out->reason, "%sexit status %d%s%s", oom ? "out of memory: " : "",
                 code, msg[0] ? ": " : "", msg);
        return;
    }
    if (!r->have_hello) {
        snprintf(out->reason, sizeof out->reason, "exit status 0 without a hello line%s%s",
                 last[0] ? ": " : "", last);
        return;
    }
    if (!r->have_status) {
        snprintf(out->reason, sizeof out->reason, "exit status 0 without a status line");
        return;
    }
    if (!r->status_ok) {
        snprintf(out->reason, sizeof out->reason, "%sstage reported failure: %s",
                 oom ? "out of memory: " : "", r->status_error ? r->status_error : "(no error text)");
        return;
    }
    if (!r->have_summary) {
        snprintf(out->reason, sizeof out->reason, "status ok without a summary line");
        return;
    }
    char why[512];
    if (proto_check_summary(r, why, sizeof why) != 0) {
        snprintf(out->reason, sizeof out->reason, "inconsistent summary: %s", why);
        return;
    }
    if (r->batches_timed == 0) {
        snprintf(out->reason, sizeof out->reason,
                 "no full batch was timed (fewer images than the batch size?)");
        return;
    }
    if (proto_read_masks(r, spec->masks_path, why, sizeof why) != 0) {
        snprintf(out->reason, sizeof out->reason, "%s", why);
        return;
    }
    out->ok = 1;
}
