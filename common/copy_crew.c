// See copy_crew.h. The helpers wait on a condition variable between copies; a copy is split
// into `threads` parts on 64-byte boundaries, part 0 made by the caller.
#include "copy_crew.h"

#include <pthread.h>
#include <string.h>

#include "check.h"

typedef struct HelperArg HelperArg;

struct CopyCrew {
    int threads;
    HelperArg *args;           // the helpers' own arguments, [1, threads)
    pthread_t helper[COPY_CREW_MAX];
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    unsigned long generation;  // bumped for each copy the helpers are to share
    int pending;               // helpers still copying their part of the current copy
    int quit;
    char *dst;
    const char *src;
    size_t bytes;
};

// Part i of n of [0, bytes), its bounds on 64-byte multiples (the last part takes the rest).
static void part_bounds(size_t bytes, int i, int n, size_t *lo, size_t *hi) {
    size_t lines = bytes / 64;
    *lo = lines * (size_t)i / (size_t)n * 64;
    *hi = i == n - 1 ? bytes : lines * (size_t)(i + 1) / (size_t)n * 64;
}

struct HelperArg {
    CopyCrew *crew;
    int index;  // 1 .. threads - 1
};

static void *helper_main(void *arg) {
    CopyCrew *c = ((HelperArg *)arg)->crew;
    int index = ((HelperArg *)arg)->index;
    unsigned long seen = 0;
    CHECK(pthread_mutex_lock(&c->lock) == 0);
    for (;;) {
        while (!c->quit && c->generation == seen) CHECK(pthread_cond_wait(&c->work, &c->lock) == 0);
        if (c->quit) break;
        seen = c->generation;
        char *dst = c->dst;
        const char *src = c->src;
        size_t lo, hi;
        part_bounds(c->bytes, index, c->threads, &lo, &hi);
        CHECK(pthread_mutex_unlock(&c->lock) == 0);
        memcpy(dst + lo, src + lo, hi - lo);
        CHECK(pthread_mutex_lock(&c->lock) == 0);
        if (--c->pending == 0) CHECK(pthread_cond_signal(&c->done) == 0);
    }
    CHECK(pthread_mutex_unlock(&c->lock) == 0);
    return NULL;
}

CopyCrew *copy_crew_open(int threads) {
    if (threads < 1 || threads > COPY_CREW_MAX)
        die("copy crew: %d threads asked for (1 to %d)", threads, COPY_CREW_MAX);
    CopyCrew *c = xcalloc(1, sizeof *c);
    c->threads = threads;
    CHECK(pthread_mutex_init(&c->lock, NULL) == 0);
    CHECK(pthread_cond_init(&c->work, NULL) == 0);
    CHECK(pthread_cond_init(&c->done, NULL) == 0);
    c->args = xcalloc((size_t)threads, sizeof *c->args);
    for (int i = 1; i < threads; i++) {
        c->args[i] = (HelperArg){c, i};
        int rc = pthread_create(&c->helper[i], NULL, helper_main, &c->args[i]);
        if (rc != 0) die("copy crew: cannot start helper %d of %d (error %d)", i, threads - 1, rc);
    }
    return c;
}

int copy_crew_threads(const CopyCrew *c) { return c->threads; }

void copy_crew_memcpy(CopyCrew *c, void *dst, const void *src, size_t bytes, size_t alone_below) {
    if (c->threads == 1 || bytes < alone_below || bytes < (size_t)64 * c->threads) {
        memcpy(dst, src, bytes);
        return;
    }
    CHECK(pthread_mutex_lock(&c->lock) == 0);
    CHECK(c->pending == 0);
    c->dst = dst;
    c->src = src;
    c->bytes = bytes;
    c->pending = c->threads - 1;
    c->generation++;
    CHECK(pthread_cond_broadcast(&c->work) == 0);
    CHECK(pthread_mutex_unlock(&c->lock) == 0);
    size_t lo, hi;
    part_bounds(bytes, 0, c->threads, &lo, &hi);
    memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
    CHECK(pthread_mutex_lock(&c->lock) == 0);
    while (c->pending > 0) CHECK(pthread_cond_wait(&c->done, &c->lock) == 0);
    CHECK(pthread_mutex_unlock(&c->lock) == 0);
}

void copy_crew_close(CopyCrew *c) {
    if (!c) return;
    CHECK(pthread_mutex_lock(&c->lock) == 0);
    c->quit = 1;
    CHECK(pthread_cond_broadcast(&c->work) == 0);
    CHECK(pthread_mutex_unlock(&c->lock) == 0);
    for (int i = 1; i < c->threads; i++) CHECK(pthread_join(c->helper[i], NULL) == 0);
    free(c->args);
    CHECK(pthread_mutex_destroy(&c->lock) == 0);
    CHECK(pthread_cond_destroy(&c->work) == 0);
    CHECK(pthread_cond_destroy(&c->done) == 0);
    free(c);
}
