// sdpa-aot: the sdpa stage's cuDNN execution plans built ahead of time into the plan cache.
//
// usage: sdpa-aot --keys K --out DIR [--threads N]
//   K    plan keys, one per line ('#' starts a comment): the keys sam-sdpa's evaluations ask for
//        (variants/aot/sdpa-plans-h200.keys: the keys of the entries an H200 run wrote)
//   DIR  the plan cache to fill (build/sdpa-plans: where the stages beside it look)
// Each key's plan is built on GPU 0 (cuDNN's fused-attention engines compile their kernel with
// NVRTC then: 0.06-1.45 s a plan on the H200, 8 at a time, session 15 calls 2 and 3) and
// written as a cache entry; an entry already in
// DIR is deserialised instead, which checks it. A stage then loads its plans from DIR instead of
// compiling them at its first batch (kernels/cuda/sdpa_plan_cache.cu says why). It needs the
// GPU: cuDNN 9.19's deviceless finalisation (a device described in JSON) loads the compiled
// kernel through the driver too, which the toolkit's stub libcuda refuses (cuLibraryLoadData:
// error 34), so the plans cannot be made on the build machine.
// Exit 1 if a key is malformed; a key cuDNN refuses ends the run naming the shape and cuDNN's
// message, as in the stage.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/readfile.h"
#include "kernels/cuda/cuda_ops.h"


typedef struct {
    char **keys;
    int n, next, failed, built, present;
    const char *dir;
    pthread_mutex_t lock;
} Work;

typedef struct {
    Work *w;
    int index;
} Worker;

static void one(Work *w, int i, int thread) {
    char msg[2048];
    int r = cuda_sdpa_aot(w->keys[i], w->dir, thread, msg, sizeof msg);
    pthread_mutex_lock(&w->lock);
    printf("%s %s\n", r < 0 ? "FAIL" : r ? "have" : "made", msg);
    fflush(stdout);
    if (r < 0) w->failed++;
    else if (r) w->present++;
    else w->built++;
    pthread_mutex_unlock(&w->lock);
}

static void *worker(void *arg) {
    Worker *me = arg;
    for (;;) {
        int i = __atomic_fetch_add(&me->w->next, 1, __ATOMIC_RELAXED);
        if (i >= me->w->n) return NULL;
        one(me->w, i, me->index);
    }
}

int main(int argc, char **argv) {
    const char *keys_path = NULL, *dir = NULL;
    int threads = 8;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc) keys_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: sdpa-aot --keys K --out DIR [--threads N] (not understood: '%s')\n", argv[i]);
            return 2;
        }
    }
    if (!keys_path || !dir || threads < 1 || threads > CUDA_SDPA_AOT_THREADS) {
        fprintf(stderr, "usage: sdpa-aot --keys K --out DIR [--threads N], N in 1..%d\n", CUDA_SDPA_AOT_THREADS);
        return 2;
    }
    Work w;
    memset(&w, 0, sizeof w);
    w.dir = dir;
    pthread_mutex_init(&w.lock, NULL);
    char err[1200];
    size_t text_len;
    char *text = read_whole_file(keys_path, (size_t)1 << 24, &text_len, NULL, err, sizeof err);
    if (!text) die("sdpa-aot: %s", err);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ') line++;
        if (!*line || *line == '#') continue;
        w.keys = xrealloc(w.keys, sizeof(char *) * (size_t)(w.n + 1));
        w.keys[w.n++] = line;
    }
    if (w.n == 0) die("sdpa-aot: %s holds no plan keys", keys_path);
    // Keys alone up to the first good one: it opens the cache, once, before any thread.
    int opened = 0;
    while (w.next < w.n && !opened) {
        int failed = w.failed;
        one(&w, w.next++, 0);
        opened = w.failed == failed;
    }
    if (threads > w.n - w.next) threads = w.n - w.next;
    Worker who[CUDA_SDPA_AOT_THREADS];
    pthread_t tid[CUDA_SDPA_AOT_THREADS];
    for (int t = 0; t < threads; t++) {
        who[t].w = &w, who[t].index = t;
        if (pthread_create(&tid[t], NULL, worker, &who[t]) != 0) die("sdpa-aot: pthread_create failed");
    }
    for (int t = 0; t < threads; t++)
        if (pthread_join(tid[t], NULL) != 0) die("sdpa-aot: pthread_join failed");
    printf("sdpa-aot: %d plans: %d built, %d already in %s, %d failed\n", w.n, w.built, w.present, dir, w.failed);
    return w.failed ? 1 : 0;
}
