// Centre points (design.md section 4) on hand-made masks whose answers are worked out below,
// and the per-annotation cache. (SciPy and the seed's own Python function are compared on
// thousands of masks in tests/datasets/test_coco_oracle.sh.)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/points.h"

static int failures;

static void expect_point(const char *what, const uint8_t *m, int h, int w, int ex, int ey) {
    int x, y;
    if (centre_point(m, h, w, &x, &y) != 0) {
        failures++;
        printf("FAIL %s: no point\n", what);
    } else if (x != ex || y != ey) {
        failures++;
        printf("FAIL %s: got (%d, %d), want (%d, %d)\n", what, x, y, ex, ey);
    } else {
        printf("PASS %s -> (%d, %d)\n", what, x, y);
    }
}

static void rect(uint8_t *m, int w, int x0, int x1, int y0, int y1, int v) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) m[y * w + x] = (uint8_t)v;
}

int main(void) {
    // 1. Square ring in 11x11: pixels of [1,9]^2 outside [3,7]^2 (bands 2 wide). The centre
    //    of mass is (5, 5), in the hole, so the scan runs. No pixel can have all four runs
    //    >= 2 (each band is 2 wide, so the run towards the band's outer edge is <= 1); the
    //    first with minimum 1 in row-major order is (2, 2): up 1, left 1, right 7, down 7.
    {
        uint8_t m[121] = {0};
        rect(m, 11, 1, 9, 1, 9, 1);
        rect(m, 11, 3, 7, 3, 7, 0);
        expect_point("ring: fallback, first pixel with the largest minimum", m, 11, 11, 2, 2);
    }
    // 2. C shape in 16x16: left bar x 1..5, y 1..13 (65 px); top bar x 6..14, y 1..3 (27);
    //    bottom bar x 6..14, y 11..13 (27). n = 119; sum x = 195 + 270 + 270 = 735,
    //    735 / 119 = 6.18 -> 6; sum y = 455 + 54 + 324 = 833, 833 / 119 = 7 -> (6, 7), in the
    //    gap. Scan: row 2 gives minimum 1 first at (2, 2); row 3 gives 2 at (3, 3) (up 2,
    //    left 2, right 11, down 10). Nothing reaches 3: in the bars' rows up or down is <= 2,
    //    and in the gap rows x >= 4 has right <= 1. Answer (3, 3).
    {
        uint8_t m[256] = {0};
        rect(m, 16, 1, 5, 1, 13, 1);
        rect(m, 16, 6, 14, 1, 3, 1);
        rect(m, 16, 6, 14, 11, 13, 1);
        expect_point("C shape: fallback", m, 16, 16, 3, 3);
    }
    // 3. Thin diagonal (i, i), i = 0..9 in 10x10: centre of mass (4.5, 4.5) rounds half to
    //    even -> (4, 4), which is on the diagonal: taken directly.
    {
        uint8_t m[100] = {0};
        for (int i = 0; i < 10; i++) m[i * 10 + i] = 1;
        expect_point("thin diagonal: centre of mass, halves round to even", m, 10, 10, 4, 4);
    }
    // 4. Diagonal x = y + 1 (y = 0..8) plus the pixel (0, 9) in 10x10: n = 10, sum x = 45,
    //    sum y = 36 + 9 = 45 -> (4.5, 4.5) -> (4, 4), not on it. Every pixel is isolated in
    //    some direction (minimum 0), so the first mask pixel in row-major order wins: (1, 0).
    {
        uint8_t m[100] = {0};
        for (int y = 0; y < 9; y++) m[y * 10 + y + 1] = 1;
        m[9 * 10 + 0] = 1;
        expect_point("diagonal with the centre off it: first mask pixel", m, 10, 10, 1, 0);
    }
    // 5. Early exit: 60x60, square x, y in 5..54 with a 2x2 hole at 29..30. Centre of mass
    //    29.5 -> 30 (half to even): in the hole. In row y the minimum is y - 5, first reached
    //    at x = y; row 25 reaches 20 at (25, 25) and stops the scan of that row; every later
    //    row stops after its first mask pixel (minimum 0). Without the early exit the answer
    //    would be nearer the middle.
    {
        uint8_t *m = calloc(3600, 1);
        rect(m, 60, 5, 54, 5, 54, 1);
        rect(m, 60, 29, 30, 29, 30, 0);
        expect_point("early exit once the best minimum reaches 20", m, 60, 60, 25, 25);
        free(m);
    }
    // 6. Centre of mass inside: a 3x5 block at x 2..6, y 1..3 -> (4, 2).
    {
        uint8_t m[80] = {0};
        rect(m, 10, 2, 6, 1, 3, 1);
        expect_point("block: centre of mass", m, 8, 10, 4, 2);
    }
    // 7. Empty mask: no point (the seed would fail on NaN).
    {
        uint8_t m[16] = {0};
        int x, y;
        double cy, cx;
        centre_of_mass(m, 4, 4, &cy, &cx);
        if (centre_point(m, 4, 4, &x, &y) == 0 || !isnan(cy)) {
            failures++;
            printf("FAIL empty mask: a point was returned\n");
        } else {
            printf("PASS empty mask: no centre point, NaN centre of mass\n");
        }
    }

    // Cache: put, save, reopen, hit; another hash misses; another version is ignored.
    char dir[] = "/tmp/sam-test-points-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("FAIL cannot create a temporary folder\n");
        return 1;
    }
    char err[512];
    PointCache *pc = point_cache_open(dir, "val2017");
    int x = -1, y = -1;
    int miss = !point_cache_get(pc, 42, 7, &x, &y);
    point_cache_put(pc, 42, 7, 3, 4);
    point_cache_put(pc, 900100000001LL, 9, 10, 11);
    for (int i = 0; i < 5000; i++) point_cache_put(pc, 1000 + i, (uint64_t)i, i, -i);
    int saved = point_cache_save(pc, err, sizeof err) == 0;
    char path[512];
    snprintf(path, sizeof path, "%s", point_cache_path(pc));
    point_cache_close(pc);
    pc = point_cache_open(dir, "val2017");
    int hit = point_cache_get(pc, 42, 7, &x, &y) && x == 3 && y == 4;
    int big = point_cache_get(pc, 900100000001LL, 9, &x, &y) && x == 10 && y == 11;
    int many = point_cache_get(pc, 1000 + 4321, 4321, &x, &y) && x == 4321 && y == -4321;
    int stale = !point_cache_get(pc, 42, 8, &x, &y);
    point_cache_close(pc);
    if (miss && saved && hit && big && many && stale)
        printf("PASS point cache: saved, reloaded, keyed by annotation id and mask hash\n");
    else {
        failures++;
        printf("FAIL point cache: miss %d saved %d hit %d big-id %d many %d stale %d (%s)\n", miss,
               saved, hit, big, many, stale, saved ? path : err);
    }
    // Rewrite the header as another version: the entries must be ignored.
    FILE *f = fopen(path, "r+");
    if (f) {
        fputs("sam-waterfall centre-point cache v0", f);
        fclose(f);
    }
    pc = point_cache_open(dir, "val2017");
    int ignored = !point_cache_get(pc, 42, 7, &x, &y);
    point_cache_close(pc);
    if (ignored) printf("PASS point cache of another rule version ignored\n");
    else {
        failures++;
        printf("FAIL point cache of another rule version was used\n");
    }
    remove(path);
    rmdir(dir);
    return failures ? 1 : 0;
}
