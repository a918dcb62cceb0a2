// RLE codec self-consistency: encode/decode and string round trips, merge, area, box and IoU
// against direct computation on the masks, and refusal of malformed strings and runs.
// (The pycocotools comparison is tests/datasets/test_coco_oracle.sh.)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/metrics.h"
#include "datasets/rle.h"

static int failures;
#define CHECK_OR_FAIL(cond, ...)                                                              \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            printf("FAIL " __VA_ARGS__);                                                      \
            printf("\n");                                                                     \
            return;                                                                           \
        }                                                                                     \
    } while (0)

static uint64_t state = 0x12345678abcdefULL;
static uint32_t rnd(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 11);
}

// Random mask: rectangles and noise of a random density.
static void random_mask(uint8_t *m, int h, int w) {
    int kind = rnd() % 4;
    memset(m, 0, (size_t)h * w);
    if (kind == 0) {
        uint32_t p = rnd() % 1000;
        for (int i = 0; i < h * w; i++) m[i] = rnd() % 1000 < p;
    } else if (kind == 1) {
        for (int r = 0; r < 5; r++) {
            int y0 = rnd() % h, x0 = rnd() % w, y1 = y0 + rnd() % (h - y0 + 1),
                x1 = x0 + rnd() % (w - x0 + 1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) m[y * w + x] = 1;
        }
    } else if (kind == 2) {
        memset(m, 1, (size_t)h * w);
    }  // kind 3: empty
}

static void round_trip(int trial, int h, int w) {
    uint8_t *m = malloc((size_t)h * w), *d = malloc((size_t)h * w), *m2 = malloc((size_t)h * w);
    random_mask(m, h, w);
    random_mask(m2, h, w);
    Rle r, r2, s;
    rle_encode(&r, m, (uint32_t)h, (uint32_t)w);
    rle_encode(&r2, m2, (uint32_t)h, (uint32_t)w);
    // decode
    int ok = rle_decode(&r, d) == 0 && memcmp(m, d, (size_t)h * w) == 0;
    // pycocotools' canonical runs: only the first (the leading zeros) may be 0
    for (size_t j = 1; j < r.m; j++) ok &= r.cnts[j] > 0;
    if (!ok) {
        failures++;
        printf("FAIL rle round trip %d (%dx%d): decode differs from the encoded mask, or a run after the first is 0\n", trial, h, w);
        goto done;
    }
    // string codec
    char *str = rle_to_string(&r);
    if (rle_from_string(&s, str, (uint32_t)h, (uint32_t)w) != 0 || s.m != r.m ||
        memcmp(s.cnts, r.cnts, r.m * sizeof(uint32_t)) != 0) {
        failures++;
        printf("FAIL rle string round trip %d (%dx%d): \"%.40s\"\n", trial, h, w, str);
        free(str);
        goto done;
    }
    free(str);
    rle_free(&s);
    // area, box
    uint64_t area = 0;
    int xs = w, ys = h, xe = -1, ye = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[y * w + x]) {
                area++;
                if (x < xs) xs = x;
                if (x > xe) xe = x;
                if (y < ys) ys = y;
                if (y > ye) ye = y;
            }
    double bb[4];
    rle_to_bbox(&r, bb);
    if (rle_area(&r) != area) {
        failures++;
        printf("FAIL rle area %d: %llu vs %llu\n", trial, (unsigned long long)rle_area(&r),
               (unsigned long long)area);
        goto done;
    }
    // pycocotools' box spans whole columns when a run crosses a column: only the x extent and
    // (for single-column runs) y are exact; check x always, y when it is tight.
    if (area && (bb[0] != xs || bb[2] != xe - xs + 1 || bb[1] > ys || bb[1] + bb[3] < ye + 1)) {
        failures++;
        printf("FAIL rle box %d: [%g %g %g %g] vs x %d..%d y %d..%d\n", trial, bb[0], bb[1], bb[2],
               bb[3], xs, xe, ys, ye);
        goto done;
    }
    // merge: union and intersection
    for (int inter = 0; inter < 2; inter++) {
        Rle pair[2] = {r, r2}, mg, ref;
        rle_merge(pair, 2, &mg, inter);
        for (int i = 0; i < h * w; i++) d[i] = inter ? (m[i] && m2[i]) : (m[i] || m2[i]);
        rle_encode(&ref, d, (uint32_t)h, (uint32_t)w);
        int same = mg.m == ref.m && memcmp(mg.cnts, ref.cnts, ref.m * sizeof(uint32_t)) == 0;
        rle_free(&mg);
        rle_free(&ref);
        if (!same) {
            failures++;
            printf("FAIL rle merge %d (%s)\n", trial, inter ? "intersection" : "union");
            goto done;
        }
    }
    // IoU: plain (metrics) and pycocotools' (crowd and not)
    uint64_t i, u;
    mask_inter_union(m, m2, (size_t)h * w, &i, &u);
    float plain = rle_iou_plain(&r, &r2), ref_plain = mask_iou(m, m2, (size_t)h * w);
    if (!(plain == ref_plain || (isnan(plain) && isnan(ref_plain)))) {
        failures++;
        printf("FAIL rle plain IoU %d: %g vs %g\n", trial, plain, ref_plain);
        goto done;
    }
    double coco = rle_iou(&r, &r2, 0), crowd = rle_iou(&r, &r2, 1);
    double want = i == 0 ? 0.0 : (double)i / (double)u;
    double want_crowd = i == 0 ? 0.0 : (double)i / (double)area;
    if (coco != want || crowd != want_crowd) {
        failures++;
        printf("FAIL rle IoU %d: %.17g / %.17g vs %.17g / %.17g\n", trial, coco, crowd, want,
               want_crowd);
    }
done:
    rle_free(&r);
    rle_free(&r2);
    free(m);
    free(m2);
    free(d);
}

static void malformed(void) {
    Rle r;
    const char *bad[] = {" 0", "0P", "ooooooo1", "0 1", "\x7f"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        CHECK_OR_FAIL(rle_from_string(&r, bad[k], 4, 4) != 0,
                      "malformed RLE string \"%s\" accepted", bad[k]);
    // A difference that makes a count negative ("3" "1" then -5 relative to count 0).
    Rle three;
    uint32_t c3[4] = {3, 1, 5, 1};
    rle_init(&three, 10, 1, 4, c3);
    char *s = rle_to_string(&three);
    CHECK_OR_FAIL(rle_from_string(&r, s, 10, 1) == 0 && r.m == 4 && r.cnts[3] == 1,
                  "valid string \"%s\" refused", s);
    rle_free(&r);
    free(s);
    rle_free(&three);
    CHECK_OR_FAIL(rle_from_string(&r, "1O", 4, 4) != 0 || r.cnts[1] < 0x80000000u,
                  "negative count accepted");
    printf("PASS malformed RLE strings refused (bad characters, unfinished or too long numbers)\n");

    uint8_t m[16];
    uint32_t over[3] = {5, 10, 2};  // 17 > 16 pixels
    rle_init(&r, 4, 4, 3, over);
    CHECK_OR_FAIL(rle_decode(&r, m) != 0, "RLE overrunning a 4x4 mask decoded");
    rle_free(&r);
    uint32_t exact[3] = {5, 10, 1};
    rle_init(&r, 4, 4, 3, exact);
    CHECK_OR_FAIL(rle_decode(&r, m) == 0 && m[0] == 0 && m[4] == 0 && m[1 * 4 + 1] == 1 &&
                      m[3 * 4 + 3] == 0,
                  "column-major decode of [5,10,1] wrong");
    rle_free(&r);
    printf("PASS RLE decode refuses runs past h*w and walks columns first\n");

    double nan_xy[6] = {0, 0, NAN, 1, 2, 2}, far_xy[6] = {0, 0, 1e300, 1, 2, 2};
    CHECK_OR_FAIL(rle_from_poly(&r, nan_xy, 3, 10, 10) != 0, "polygon with NaN accepted");
    CHECK_OR_FAIL(rle_from_poly(&r, far_xy, 3, 10, 10) != 0, "polygon at 1e300 accepted");
    printf("PASS polygons with non-finite or far-away coordinates refused\n");
}

int main(void) {
    const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {37, 53}, {64, 64}, {480, 640}};
    int trials = 0, before = failures;
    for (int t = 0; t < 600; t++) {
        int k = t % 7;
        round_trip(t, sizes[k][0], sizes[k][1]);
        trials++;
    }
    if (failures == before)
        printf("PASS RLE encode/decode/string/merge/area/box/IoU consistent on %d random masks\n",
               trials);
    malformed();
    return failures ? 1 : 0;
}
