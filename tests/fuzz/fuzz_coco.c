// libFuzzer target: annotation JSON -> index -> masks -> RLE codec -> centre points.
// Any input must give either an error line or valid masks: never a crash, an out-of-bounds
// access (AddressSanitizer), undefined behaviour (UBSan) or a hang.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/coco.h"
#include "datasets/metrics.h"
#include "datasets/points.h"
#include "datasets/rle.h"

// Masks above this many pixels (256 x 256) are skipped: the parser accepts up to 2^28, but
// big masks only make each input slow (a 1M-pixel limit ran at ~250 inputs/s under ASan);
// big images are covered by the pycocotools oracle test instead.
#define FUZZ_MAX_PIXELS (1u << 16)

// The fuzz build's UBSan recovers by default; a report must stop the run like a crash.
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // As coco_load: the text in a NUL-terminated buffer.
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    char err[512];
    CocoDataset *ds = coco_parse("fuzz.json", text, size, err, sizeof err);
    free(text);
    if (!ds) {
        // The error must be one line naming the file.
        if (strncmp(err, "fuzz.json: ", 11) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    CocoSelection sel;
    if (coco_select(ds, NULL, 0, 0, &sel, err, sizeof err) == 0) coco_selection_free(&sel);
    if (ds->n_categories > 0 &&
        coco_select(ds, ds->categories[0].name, 0, 3, &sel, err, sizeof err) == 0)
        coco_selection_free(&sel);
    Rle prev = {0};
    int have_prev = 0;
    for (int ai = 0; ai < ds->n_anns && ai < 64; ai++) {
        const CocoImage *im = &ds->images[ds->anns[ai].image_index];
        size_t n = (size_t)im->height * im->width;
        if (n > FUZZ_MAX_PIXELS) continue;
        Rle r;
        if (coco_ann_to_rle(ds, ai, &r, err, sizeof err) != 0) {
            if (!strstr(err, "fuzz.json: annotation ")) abort();
            continue;
        }
        uint8_t *m = malloc(n ? n : 1);
        if (rle_decode(&r, m) == 0) {
            // string codec round trip must be exact
            char *s = rle_to_string(&r);
            Rle back;
            if (rle_from_string(&back, s, r.h, r.w) != 0 || back.m != r.m ||
                (r.m && memcmp(back.cnts, r.cnts, r.m * sizeof(uint32_t))))
                abort();
            rle_free(&back);
            free(s);
            int x, y;
            if (centre_point(m, im->height, im->width, &x, &y) == 0 &&
                (x < 0 || y < 0 || x >= im->width || y >= im->height ||
                 !m[(size_t)y * im->width + x]))
                abort();  // a centre point always lies on the mask
            double bb[4];
            rle_to_bbox(&r, bb);
            (void)rle_area(&r);
            if (have_prev) {
                (void)rle_iou(&r, &prev, ds->anns[ai].iscrowd);
                (void)rle_iou_plain(&r, &prev);
            }
        }
        free(m);
        if (have_prev) rle_free(&prev);
        prev = r;
        have_prev = 1;
    }
    if (have_prev) rle_free(&prev);
    coco_free(ds);
    return 0;
}
