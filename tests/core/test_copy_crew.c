// common/copy_crew.c: every byte of a copy arrives, whatever the crew's size, the copy's size
// and the buffers' alignment; nothing outside the destination is written; a crew serves many
// copies in a row; a crew size out of range is refused.
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/check.h"
#include "../../common/copy_crew.h"
#include "../test_util.h"

enum { GUARD = 256 };

// One copy of `bytes` at the given misalignments; returns the first wrong byte's index in the
// guarded destination or -1.
static long copy_once(CopyCrew *c, size_t bytes, size_t src_off, size_t dst_off, size_t alone_below,
                      unsigned seed) {
    unsigned char *src = malloc(bytes + src_off + 1), *dst = malloc(bytes + dst_off + 2 * GUARD);
    if (!src || !dst) die("test_copy_crew: out of memory");
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < bytes + src_off + 1; i++) src[i] = (unsigned char)((s = s * 1664525u + 1013904223u) >> 24);
    memset(dst, 0xA5, bytes + dst_off + 2 * GUARD);
    copy_crew_memcpy(c, dst + GUARD + dst_off, src + src_off, bytes, alone_below);
    long bad = -1;
    for (size_t i = 0; i < bytes + dst_off + 2 * GUARD && bad < 0; i++) {
        int inside = i >= GUARD + dst_off && i < GUARD + dst_off + bytes;
        unsigned char want = inside ? src[src_off + i - GUARD - dst_off] : 0xA5;
        if (dst[i] != want) bad = (long)i;
    }
    free(src);
    free(dst);
    return bad;
}

// Exit status and first line of stderr of copy_crew_open(threads) in a child process.
static int open_refused(int threads) {
    pid_t pid = fork();
    if (pid < 0) die("test_copy_crew: fork failed");
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        copy_crew_close(copy_crew_open(threads));
        _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) die("test_copy_crew: waitpid failed");
    return WIFEXITED(status) && WEXITSTATUS(status) == 1;
}

int main(void) {
    const int crews[] = {1, 2, 3, 4, 7, 16};
    const size_t sizes[] = {0, 1, 63, 64, 65, 447, 448, 4097, (1u << 20) + 3, (10u << 20) + 17};
    for (size_t ci = 0; ci < sizeof crews / sizeof *crews; ci++) {
        CopyCrew *c = copy_crew_open(crews[ci]);
        report(copy_crew_threads(c) == crews[ci], "crew of %d reports %d threads", crews[ci], copy_crew_threads(c));
        long bad_any = -1;
        size_t bad_size = 0;
        int copies = 0;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (size_t off = 0; off < 3; off++) {
                // alone_below 0: every copy of 64 bytes per thread or more is shared.
                long bad = copy_once(c, sizes[si], off * 5, off * 3, 0, (unsigned)(si * 7 + off));
                copies++;
                if (bad >= 0 && bad_any < 0) bad_any = bad, bad_size = sizes[si];
            }
        report(bad_any < 0, "crew of %d: %d shared copies of 0 to 10 MiB at odd offsets arrive whole, "
               "nothing written around them (first wrong byte %ld of the %zu-byte copy)",
               crews[ci], copies, bad_any, bad_size);
        long bad_alone = copy_once(c, (3u << 20) + 1, 1, 2, 4u << 20, 99);
        report(bad_alone < 0, "crew of %d: a copy under alone_below, made by the caller, arrives whole", crews[ci]);
        copy_crew_close(c);
    }
    report(open_refused(0), "a crew of 0 threads is refused (exit 1)");
    report(open_refused(COPY_CREW_MAX + 1), "a crew of %d threads is refused (exit 1)", COPY_CREW_MAX + 1);
    return test_exit_status();
}
