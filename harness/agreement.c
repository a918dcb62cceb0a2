// harness/agreement.h: the per-annotation agreement of two experiments, on every core.
#include "agreement.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/check.h"
#include "datasets/metrics.h"
#include "proto.h"

// The index of the top mask among the outputs: the one whose RLE equals it; -1 when none does.
static int top_index(const char *top, const cJSON *all) {
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, all) {
        if (cJSON_IsString(e) && strcmp(e->valuestring, top) == 0) return i;
        i++;
    }
    return -1;
}

static void agree_one(AgreePair *p) {
    p->top = rle_string_agreement(p->rle_a, p->rle_b, p->h, p->w);
    p->same = NAN;
    p->other_index = 0;
    if (!p->masks_a || !p->masks_b) return;
    cJSON *ma = cJSON_Parse(p->masks_a), *mb = cJSON_Parse(p->masks_b);
    p->same = masks_same_index(ma, mb, p->h, p->w);
    if (!isnan(p->same) && p->same >= 0) p->other_index = top_index(p->rle_a, ma) != top_index(p->rle_b, mb);
    cJSON_Delete(ma);
    cJSON_Delete(mb);
}

typedef struct {
    AgreePair *v;
    int n;
    atomic_int next;  // the next pair to take: a pair's cost follows its masks, so no fixed split
} Work;

static void *worker(void *arg) {
    Work *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->n;) agree_one(&w->v[i]);
    return NULL;
}

void agree_pairs(AgreePair *v, int n) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores < 1 ? 1 : cores > 32 ? 32 : (int)cores;
    if (threads > n / 4) threads = n / 4 > 0 ? n / 4 : 1;  // a few pairs are not worth a thread
    Work w = {v, n, 0};
    if (threads == 1) {
        worker(&w);
        return;
    }
    pthread_t tid[32];
    for (int t = 0; t < threads; t++) {
        int rc = pthread_create(&tid[t], NULL, worker, &w);
        if (rc != 0) die("agreement: pthread_create: %s", strerror(rc));
    }
    for (int t = 0; t < threads; t++) {
        int rc = pthread_join(tid[t], NULL);
        if (rc != 0) die("agreement: pthread_join: %s", strerror(rc));
    }
}
