// A minimal parallel-for over the machine's cores for the CPU reference's non-GEMM loops
// (softmax, rel-pos, layer norms). GEMMs are threaded by OpenBLAS itself and are never called
// from inside these workers.
#include <pthread.h>
#include <unistd.h>

#include "common/check.h"
#include "cpu_ops.h"

typedef struct {
    void (*fn)(void *, int64_t, int64_t);
    void *ctx;
    int64_t begin, end;
} Chunk;

static void *run_chunk(void *arg) {
    Chunk *c = arg;
    c->fn(c->ctx, c->begin, c->end);
    return NULL;
}

static int cpu_count(void) {
    static int n = 0;
    if (!n) {
        long v = sysconf(_SC_NPROCESSORS_ONLN);
        n = v < 1 ? 1 : v > 64 ? 64 : (int)v;
    }
    return n;
}

void cpu_parallel_for(int64_t n, void (*fn)(void *, int64_t, int64_t), void *ctx) {
    int threads = cpu_count();
    if (threads > n) threads = (int)n;
    if (threads <= 1 || n < 2) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    pthread_t tid[64];
    Chunk chunk[64];
    for (int i = 0; i < threads; i++) {
        chunk[i] = (Chunk){fn, ctx, n * i / threads, n * (i + 1) / threads};
        if (i > 0) {
            int rc = pthread_create(&tid[i], NULL, run_chunk, &chunk[i]);
            if (rc) die("pthread_create failed at %s:%d (error %d)", __FILE__, __LINE__, rc);
        }
    }
    run_chunk(&chunk[0]);
    for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
}
