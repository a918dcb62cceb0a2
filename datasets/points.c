// Centre points (data.py _get_center_point) and the per-annotation point cache.
#include "datasets/points.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/fsutil.h"
#include "common/check.h"

// ref: scipy ndimage.center_of_mass -> sum(input * grid) / sum(input). The sums are of
// integers below 2^53, so they are exact in any summation order and match NumPy's pairwise
// float64 sums bit for bit; the division is the same correctly rounded double division.
void centre_of_mass(const uint8_t *mask, int h, int w, double *cy, double *cx) {
    uint64_t n = 0, sy = 0, sx = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * w;
        uint64_t rn = 0, rx = 0;
        for (int x = 0; x < w; x++)
            if (row[x]) {
                rn++;
                rx += (uint64_t)x;
            }
        n += rn;
        sx += rx;
        sy += rn * (uint64_t)y;
    }
    *cy = (double)sy / (double)n;  // 0/0 = NaN for an empty mask, as SciPy
    *cx = (double)sx / (double)n;
}

// Python's round(v, 0) on a float: to the nearest integer, halves to even.
static double round_half_even(double v) {
    // nearbyint follows the current rounding mode; the default (to nearest, ties to even)
    // is what Python uses, and nothing in this program changes it.
    return nearbyint(v);
}

int centre_point(const uint8_t *mask, int h, int w, int *px, int *py) {
    double cy, cx;
    centre_of_mass(mask, h, w, &cy, &cx);
    if (isnan(cy) || isnan(cx)) return -1;
    // ref: com_y, com_x = int(round(com_y, 0)), int(round(com_x, 0)); if mask[com_y][com_x]
    int ry = (int)round_half_even(cy), rx = (int)round_half_even(cx);
    if (mask[(size_t)ry * w + rx]) {
        *px = rx;
        *py = ry;
        return 0;
    }
    // Fallback. The seed walks from each mask pixel in four directions; the walks' lengths
    // are the runs of mask pixels above, right, below and left of it, computed here once in
    // four linear passes, with the seed's scan order and early exit kept exactly.
    // up/down per column, left/right per row (distance excludes the pixel itself).
    int32_t *up = xmalloc(sizeof(int32_t) * (size_t)h * w);
    int32_t *down = xmalloc(sizeof(int32_t) * (size_t)h * w);
    for (int x = 0; x < w; x++) {
        int32_t run = -1;
        for (int y = 0; y < h; y++) {
            run = mask[(size_t)y * w + x] ? run + 1 : -1;
            up[(size_t)y * w + x] = run;
        }
        run = -1;
        for (int y = h - 1; y >= 0; y--) {
            run = mask[(size_t)y * w + x] ? run + 1 : -1;
            down[(size_t)y * w + x] = run;
        }
    }
    int32_t *right = xmalloc(sizeof(int32_t) * (size_t)w);
    long best = -1;  // the seed starts from -inf; every minimum is >= 0
    int bx = -1, by = -1;
    const int GOOD_ENOUGH = 20;  // ref: DISTANCE_GOOD_ENOUGH_THRESHOLD
    for (int y = 0; y < h; y++) {
        const uint8_t *row = mask + (size_t)y * w;
        int32_t run = -1;
        for (int x = w - 1; x >= 0; x--) {
            run = row[x] ? run + 1 : -1;
            right[x] = run;
        }
        int32_t left = -1;
        for (int x = 0; x < w; x++) {
            left = row[x] ? left + 1 : -1;
            if (!row[x]) continue;  // ref: skip points outside the mask
            int32_t m = up[(size_t)y * w + x];
            if (right[x] < m) m = right[x];
            if (down[(size_t)y * w + x] < m) m = down[(size_t)y * w + x];
            if (left < m) m = left;
            if (m > best) {  // strictly larger replaces: the first wins ties
                best = m;
                bx = x;
                by = y;
            }
            if (best >= GOOD_ENOUGH) break;  // ref: breaks the column loop only
        }
    }
    free(up);
    free(down);
    free(right);
    *px = bx;
    *py = by;
    return 0;
}

uint64_t mask_hash(const uint8_t *mask, int h, int w) {
    // FNV-1a over 8-byte words, then a final mix; size folded in first.
    uint64_t x = 0xcbf29ce484222325ULL ^ ((uint64_t)(uint32_t)h << 32 | (uint32_t)w);
    size_t n = (size_t)h * w, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, mask + i, 8);
        x = (x ^ v) * 0x100000001b3ULL;
    }
    for (; i < n; i++) x = (x ^ mask[i]) * 0x100000001b3ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 33);
}

// ---- cache ---------------------------------------------------------------------------------

typedef struct {
    int64_t id;
    uint64_t hash;
    int x, y;
} PointEntry;

struct PointCache {
    char *path;
    pthread_mutex_t lock;
    PointEntry *e;  // open-addressing table keyed by id; id == INT64_MIN marks empty
    size_t cap, n;
    int dirty;
};

#define EMPTY_ID INT64_MIN

static void table_insert(PointCache *pc, int64_t id, uint64_t hash, int x, int y);

static void table_grow(PointCache *pc) {
    PointEntry *old = pc->e;
    size_t oldcap = pc->cap;
    pc->cap = oldcap ? oldcap * 2 : 1024;
    pc->e = xmalloc(sizeof(PointEntry) * pc->cap);
    for (size_t i = 0; i < pc->cap; i++) pc->e[i].id = EMPTY_ID;
    pc->n = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id != EMPTY_ID) table_insert(pc, old[i].id, old[i].hash, old[i].x, old[i].y);
    free(old);
}

static size_t slot_of(const PointCache *pc, int64_t id) {
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h >> 17) & (pc->cap - 1);
    while (pc->e[i].id != EMPTY_ID && pc->e[i].id != id) i = (i + 1) & (pc->cap - 1);
    return i;
}

static void table_insert(PointCache *pc, int64_t id, uint64_t hash, int x, int y) {
    if (id == EMPTY_ID) return;
    if (2 * (pc->n + 1) > pc->cap) table_grow(pc);
    size_t i = slot_of(pc, id);
    if (pc->e[i].id == EMPTY_ID) pc->n++;
    pc->e[i] = (PointEntry){id, hash, x, y};
}

#define CACHE_HEADER_FMT "sam-waterfall centre-point cache v%d %s"

static const char *cache_header(char *buf, size_t n) {
    snprintf(buf, n, CACHE_HEADER_FMT, POINT_RULE_VERSION, POINT_RULE_TAG);
    return buf;
}

PointCache *point_cache_open(const char *dir, const char *slice) {
    PointCache *pc = xcalloc(1, sizeof *pc);
    pthread_mutex_init(&pc->lock, NULL);
    size_t n = strlen(dir) + strlen(slice) + 64;
    pc->path = xmalloc(n);
    snprintf(pc->path, n, "%s/centre-points-%s.v%d.txt", dir, slice, POINT_RULE_VERSION);
    table_grow(pc);
    FILE *f = fopen(pc->path, "r");
    if (!f) return pc;
    char line[256], hbuf[160];
    const char *hdr = cache_header(hbuf, sizeof hbuf);
    if (!fgets(line, sizeof line, f) || strncmp(line, hdr, strlen(hdr)) != 0 ||
        (line[strlen(hdr)] != '\n' && line[strlen(hdr)] != 0)) {
        fclose(f);  // another rule version: ignored, replaced on save
        pc->dirty = 1;
        return pc;
    }
    while (fgets(line, sizeof line, f)) {
        long long id;
        unsigned long long hash;
        int x, y;
        if (sscanf(line, "%lld %d %d %llx", &id, &x, &y, &hash) == 4)
            table_insert(pc, (int64_t)id, (uint64_t)hash, x, y);
    }
    fclose(f);
    return pc;
}

int point_cache_get(PointCache *pc, int64_t id, uint64_t hash, int *x, int *y) {
    if (!pc || id == EMPTY_ID) return 0;
    pthread_mutex_lock(&pc->lock);
    size_t i = slot_of(pc, id);
    int hit = pc->e[i].id == id && pc->e[i].hash == hash;
    if (hit) {
        *x = pc->e[i].x;
        *y = pc->e[i].y;
    }
    pthread_mutex_unlock(&pc->lock);
    return hit;
}

void point_cache_put(PointCache *pc, int64_t id, uint64_t hash, int x, int y) {
    if (!pc) return;
    pthread_mutex_lock(&pc->lock);
    table_insert(pc, id, hash, x, y);
    pc->dirty = 1;
    pthread_mutex_unlock(&pc->lock);
}

const char *point_cache_path(const PointCache *pc) { return pc->path; }

int point_cache_save(PointCache *pc, char *err, size_t err_len) {
    if (!pc) return 0;
    pthread_mutex_lock(&pc->lock);
    int r = 0;
    if (pc->dirty) {
        char *dir = xmalloc(strlen(pc->path) + 1);
        strcpy(dir, pc->path);
        *strrchr(dir, '/') = 0;
        size_t n = strlen(pc->path) + 32;
        char *tmp = xmalloc(n);
        snprintf(tmp, n, "%s.tmp%ld", pc->path, (long)getpid());
        FILE *f = mkdirs(dir) == 0 ? fopen(tmp, "w") : NULL;
        if (!f) {
            snprintf(err, err_len, "%s: cannot write the centre-point cache: %s", tmp,
                     strerror(errno));
            r = -1;
        } else {
            char hbuf[160];
            fprintf(f, "%s\n", cache_header(hbuf, sizeof hbuf));
            for (size_t i = 0; i < pc->cap; i++)
                if (pc->e[i].id != EMPTY_ID)
                    fprintf(f, "%lld %d %d %016llx\n", (long long)pc->e[i].id, pc->e[i].x,
                            pc->e[i].y, (unsigned long long)pc->e[i].hash);
            if (fclose(f) != 0 || rename(tmp, pc->path) != 0) {
                snprintf(err, err_len, "%s: cannot write the centre-point cache: %s", pc->path,
                         strerror(errno));
                remove(tmp);
                r = -1;
            } else {
                pc->dirty = 0;
            }
        }
        free(tmp);
        free(dir);
    }
    pthread_mutex_unlock(&pc->lock);
    return r;
}

void point_cache_close(PointCache *pc) {
    if (!pc) return;
    pthread_mutex_destroy(&pc->lock);
    free(pc->e);
    free(pc->path);
    free(pc);
}
