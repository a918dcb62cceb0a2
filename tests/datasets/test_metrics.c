// mIoU as metrics.py (float32 IoU, NaN for an empty union skipped by the means, pivot tables
// per category and supercategory) and stage agreement, with answers worked out by hand.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/coco.h"
#include "datasets/metrics.h"

static int failures;
#define EXPECT(cond, ...)                                                                     \
    do {                                                                                      \
        if (cond) {                                                                           \
            printf("PASS " __VA_ARGS__);                                                      \
        } else {                                                                              \
            failures++;                                                                       \
            printf("FAIL " __VA_ARGS__);                                                      \
        }                                                                                     \
        printf("\n");                                                                         \
    } while (0)

int main(void) {
    uint8_t a[4] = {1, 1, 0, 0}, b[4] = {1, 0, 1, 0}, z[4] = {0, 0, 0, 0};
    EXPECT(mask_iou(a, b, 4) == 1.0f / 3.0f, "IoU 1/3 in float32 (torch int64 / int64)");
    EXPECT(isnan(mask_iou(z, z, 4)), "IoU of two empty masks is NaN (0 / 0)");
    EXPECT(mask_iou(a, z, 4) == 0.0f, "IoU against an empty mask is 0");
    EXPECT(mask_agreement(z, z, 4) == 1.0f && mask_agreement(a, b, 4) == 1.0f / 3.0f,
           "agreement: two empty masks agree (1), otherwise IoU");
    Rle ra, rb, rz;
    rle_encode(&ra, a, 2, 2);
    rle_encode(&rb, b, 2, 2);
    rle_encode(&rz, z, 2, 2);
    EXPECT(rle_iou_plain(&ra, &rb) == 1.0f / 3.0f && isnan(rle_iou_plain(&rz, &rz)),
           "IoU on RLEs equals IoU on masks");
    rle_free(&ra);
    rle_free(&rb);
    rle_free(&rz);

    const char *json =
        "{\"images\":[],\"annotations\":[],\"categories\":["
        "{\"id\":2,\"name\":\"dog\",\"supercategory\":\"animal\"},"
        "{\"id\":1,\"name\":\"cat\",\"supercategory\":\"animal\"},"
        "{\"id\":3,\"name\":\"car\",\"supercategory\":\"vehicle\"}]}";
    char err[256];
    CocoDataset *ds = coco_parse("cats.json", json, strlen(json), err, sizeof err);
    if (!ds) {
        printf("FAIL %s\n", err);
        return 1;
    }
    MiouTable t;
    miou_init(&t);
    miou_add(&t, 10, 100, 3, 0.0f);
    miou_add(&t, 10, 101, 1, 0.5f);
    miou_add(&t, 11, 102, 2, 1.0f);
    miou_add(&t, 11, 103, 1, 0.25f);
    miou_add(&t, 12, 104, 2, NAN);
    MiouSummary s;
    miou_summarise(&t, ds, &s);
    // all: (0 + 0.5 + 1 + 0.25) / 4 = 0.4375 (the NaN row is not counted)
    EXPECT(s.all.mean == 0.4375 && s.all.count == 4 && s.rows == 5 && s.undefined == 1,
           "mIoU over annotations skips NaN rows (0.4375 over 4 of 5)");
    // per category by id: 1 cat (0.5, 0.25) 0.375; 2 dog (1, NaN) 1.0; 3 car 0
    EXPECT(s.n_categories == 3 && s.categories[0].category_id == 1 &&
               s.categories[0].mc.mean == 0.375 && s.categories[0].mc.count == 2 &&
               !strcmp(s.categories[0].name, "cat") && s.categories[1].mc.mean == 1.0 &&
               s.categories[1].mc.count == 1 && s.categories[2].mc.mean == 0.0,
           "per category, ordered by id (0.375, 1, 0)");
    // per supercategory by name: animal (0.5, 1, 0.25) = 1.75 / 3; vehicle 0
    EXPECT(s.n_supercategories == 2 && !strcmp(s.supercategories[0].supercategory, "animal") &&
               s.supercategories[0].mc.mean == 1.75 / 3 && s.supercategories[0].mc.count == 3 &&
               !strcmp(s.supercategories[1].supercategory, "vehicle") &&
               s.supercategories[1].mc.mean == 0.0,
           "per supercategory, ordered by name (1.75 / 3, 0)");
    miou_summary_free(&s);

    // Means use NumPy's blocked pairwise float64 sum; the value below is what NumPy prints
    // for the same input.
    float *v = malloc(sizeof(float) * 1000);
    for (int i = 0; i < 1000; i++) v[i] = 0.1f;
    MeanCount mc = mean_skip_nan(v, 1000);
    // numpy.full(1000, np.float32(0.1)).astype(np.float64).mean() == 0.10000000149011612
    EXPECT(mc.mean == 0.10000000149011612 && mc.count == 1000,
           "mean as NumPy's float64 mean (%.17g)", mc.mean);
    free(v);

    char path[] = "/tmp/sam-test-metrics-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        FILE *f;
        char line[128];
        int ok = miou_write_csv(&t, path) == 0 && (f = fopen(path, "r")) != NULL;
        if (ok) {
            ok = fgets(line, sizeof line, f) && !strcmp(line, ",img_id,ann_id,cat_id,iou\n") &&
                 fgets(line, sizeof line, f) && !strcmp(line, "0,10,100,3,0\n");
            fclose(f);
        }
        EXPECT(ok, "df.csv written with the seed's columns");
        remove(path);
    }
    miou_free(&t);
    coco_free(ds);
    return failures ? 1 : 0;
}
