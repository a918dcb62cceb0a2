// Annotation files: every kind of bad input gives one error line naming the file and the
// image / annotation / category id; selection follows the seed (eval_combo.py).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/coco.h"

static int failures;

#define IMG "{\"id\":1,\"width\":4,\"height\":3,\"file_name\":\"a.jpg\"}"
#define CAT "{\"id\":1,\"name\":\"thing\",\"supercategory\":\"stuff\"}"
#define POLY "[[0,0,3,0,3,2]]"

// A file with one image and category and one annotation whose body is given.
static char *with_ann(const char *ann) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"images\":[" IMG "],\"categories\":[" CAT "],\"annotations\":[%s]}", ann);
    return buf;
}

static void expect_error(const char *what, const char *json, const char *needle) {
    char err[512] = "";
    CocoDataset *ds = coco_parse("bad.json", json, strlen(json), err, sizeof err);
    if (ds) {
        failures++;
        printf("FAIL %s: accepted\n", what);
        coco_free(ds);
    } else if (strncmp(err, "bad.json: ", 10) != 0 || !strstr(err, needle) || strchr(err, '\n')) {
        failures++;
        printf("FAIL %s: error \"%s\" should start with the file and contain \"%s\"\n", what, err,
               needle);
    } else {
        printf("PASS %s (%s)\n", what, err);
    }
}

static CocoDataset *parse_ok(const char *what, const char *json) {
    char err[512] = "";
    CocoDataset *ds = coco_parse("ok.json", json, strlen(json), err, sizeof err);
    if (!ds) {
        failures++;
        printf("FAIL %s: %s\n", what, err);
    }
    return ds;
}

static void bad_inputs(void) {
    expect_error("empty file", "", "malformed JSON");
    expect_error("truncated file", "{\"images\":[" IMG, "ends early");
    expect_error("not an object", "[1,2]", "not a COCO instances file");
    expect_error("images not a list", "{\"images\":{},\"annotations\":[],\"categories\":[]}",
                 "not a COCO instances file");
    expect_error("image without id",
                 "{\"images\":[{\"width\":4,\"height\":3,\"file_name\":\"a.jpg\"}],"
                 "\"annotations\":[],\"categories\":[]}", "image #0");
    expect_error("negative height",
                 "{\"images\":[{\"id\":7,\"width\":4,\"height\":-3,\"file_name\":\"a.jpg\"}],"
                 "\"annotations\":[],\"categories\":[]}", "image 7: size");
    expect_error("huge width",
                 "{\"images\":[{\"id\":7,\"width\":1e9,\"height\":3,\"file_name\":\"a.jpg\"}],"
                 "\"annotations\":[],\"categories\":[]}", "image 7: size");
    expect_error("width as a string",
                 "{\"images\":[{\"id\":7,\"width\":\"640\",\"height\":3,\"file_name\":\"a.jpg\"}],"
                 "\"annotations\":[],\"categories\":[]}", "image 7: \"height\" or \"width\"");
    expect_error("file name with a path",
                 "{\"images\":[{\"id\":7,\"width\":4,\"height\":3,\"file_name\":\"../a.jpg\"}],"
                 "\"annotations\":[],\"categories\":[]}", "image 7: \"file_name\"");
    expect_error("duplicate image id",
                 "{\"images\":[" IMG "," IMG "],\"annotations\":[],\"categories\":[]}",
                 "image 1: duplicate id");
    expect_error("category without a name",
                 "{\"images\":[],\"annotations\":[],\"categories\":[{\"id\":3}]}",
                 "category 3: \"name\"");
    expect_error("unknown image id",
                 with_ann("{\"id\":5,\"image_id\":2,\"category_id\":1,\"segmentation\":" POLY "}"),
                 "annotation 5: unknown image_id 2");
    expect_error("unknown category id",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":9,\"segmentation\":" POLY "}"),
                 "annotation 5: unknown category_id 9");
    expect_error("annotation id not an integer",
                 with_ann("{\"id\":5.5,\"image_id\":1,\"category_id\":1,\"segmentation\":" POLY "}"),
                 "annotation #0");
    expect_error("annotation id beyond 2^53",
                 with_ann("{\"id\":1e300,\"image_id\":1,\"category_id\":1,\"segmentation\":" POLY "}"),
                 "annotation #0");
    expect_error("polygon with 4 numbers",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":[[0,0,1,1]]}"),
                 "annotation 5: polygon 0 has 4 coordinates");
    expect_error("polygon with an odd count",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":"
                          "[[0,0,3,0,3,2],[0,0,1,1,2,2,3]]}"),
                 "annotation 5: polygon 1 has 7 coordinates");
    expect_error("polygon with a string",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":"
                          "[[0,0,\"3\",0,3,2]]}"),
                 "annotation 5: polygon 0 coordinate 2");
    expect_error("polygon far outside the image",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":"
                          "[[0,0,3e4,0,3,2]]}"),
                 "annotation 5: polygon 0 coordinate 2");
    expect_error("empty polygon list",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":[]}"),
                 "annotation 5: empty polygon list");
    expect_error("no segmentation", with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1}"),
                 "annotation 5: \"segmentation\"");
    expect_error("RLE counts overrunning the mask",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":1,"
                          "\"segmentation\":{\"counts\":[3,4,6],\"size\":[3,4]}}"),
                 "annotation 5: RLE counts overrun");
    expect_error("RLE counts short of the mask",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":1,"
                          "\"segmentation\":{\"counts\":[3,4],\"size\":[3,4]}}"),
                 "annotation 5: RLE counts cover 7 pixels");
    expect_error("negative RLE count",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":1,"
                          "\"segmentation\":{\"counts\":[3,-4,13],\"size\":[3,4]}}"),
                 "annotation 5: RLE count 1 is not");
    expect_error("RLE size differing from the image",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":1,"
                          "\"segmentation\":{\"counts\":[12],\"size\":[4,3]}}"),
                 "annotation 5: RLE size [4, 3] differs from image 1's [3, 4]");
    expect_error("RLE size not a pair",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":1,"
                          "\"segmentation\":{\"counts\":[12],\"size\":3}}"),
                 "annotation 5: RLE \"size\"");
    expect_error("malformed compressed RLE",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,"
                          "\"segmentation\":{\"counts\":\"0 \",\"size\":[3,4]}}"),
                 "annotation 5: malformed compressed RLE");
    expect_error("compressed RLE overrunning the mask",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,"
                          "\"segmentation\":{\"counts\":\"=\",\"size\":[3,4]}}"),
                 "annotation 5: RLE counts overrun");
    expect_error("iscrowd 2",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"iscrowd\":2,"
                          "\"segmentation\":" POLY "}"),
                 "annotation 5: \"iscrowd\"");
    expect_error("duplicate annotation id",
                 with_ann("{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":" POLY "},"
                          "{\"id\":5,\"image_id\":1,\"category_id\":1,\"segmentation\":" POLY "}"),
                 "annotation 5: duplicate id");
    char err[512];
    CocoDataset *ds = coco_load("/nonexistent/instances_val2017.json", err, sizeof err);
    if (ds || !strstr(err, "/nonexistent/instances_val2017.json: cannot open")) {
        failures++;
        printf("FAIL missing file: \"%s\"\n", err);
    } else {
        printf("PASS missing file (%s)\n", err);
    }
}

static int sel_is(const CocoSelection *s, const int64_t *imgs, int n_img, const int64_t *anns,
                  int n_ann, const CocoDataset *ds) {
    if (s->n_images != n_img || s->n_anns != n_ann) return 0;
    for (int i = 0; i < n_img; i++)
        if (ds->images[s->images[i]].id != imgs[i]) return 0;
    for (int i = 0; i < n_ann; i++)
        if (ds->anns[s->anns[i]].id != anns[i]) return 0;
    return 1;
}

static void selection(void) {
    // Images 10, 20, 30, 40 (30 has no annotation); categories 1 "cat", 2 "dog".
    const char *json =
        "{\"images\":["
        "{\"id\":10,\"width\":4,\"height\":3,\"file_name\":\"a.jpg\"},"
        "{\"id\":20,\"width\":4,\"height\":3,\"file_name\":\"b.jpg\"},"
        "{\"id\":30,\"width\":4,\"height\":3,\"file_name\":\"c.jpg\"},"
        "{\"id\":40,\"width\":4,\"height\":3,\"file_name\":\"d.jpg\"}],"
        "\"categories\":[{\"id\":1,\"name\":\"cat\",\"supercategory\":\"animal\"},"
        "{\"id\":2,\"name\":\"dog\",\"supercategory\":\"animal\"}],"
        "\"annotations\":["
        "{\"id\":104,\"image_id\":40,\"category_id\":1,\"iscrowd\":1,"
        "\"segmentation\":{\"counts\":[2,3,7],\"size\":[3,4]}},"
        "{\"id\":101,\"image_id\":10,\"category_id\":2,\"segmentation\":" POLY "},"
        "{\"id\":102,\"image_id\":20,\"category_id\":2,\"segmentation\":" POLY "},"
        "{\"id\":103,\"image_id\":10,\"category_id\":1,\"segmentation\":{\"counts\":\"0;1\","
        "\"size\":[3,4]}}]}";
    CocoDataset *ds = parse_ok("selection file", json);
    if (!ds) return;
    CocoSelection s;
    char err[256];
    struct {
        const char *what, *cats;
        int64_t image_id;
        int limit;
        int64_t imgs[4];
        int n_img;
        int64_t anns[4];
        int n_ann;
    } cases[] = {
        {"all images with an annotation, file order; annotations in file order", NULL, 0, 0,
         {10, 20, 40}, 3, {101, 103, 102, 104}, 4},
        {"limit keeps the first N selected images", NULL, 0, 2, {10, 20}, 2, {101, 103, 102}, 3},
        {"one category: images holding it, only its prompts", "cat", 0, 0, {10, 40}, 2,
         {103, 104}, 2},
        {"two categories: images holding both (getImgIds intersects)", "cat,dog", 0, 0, {10}, 1,
         {101, 103}, 2},
        {"one image id", NULL, 20, 0, {20}, 1, {102}, 1},
        {"an image without annotations is dropped", NULL, 30, 0, {0}, 0, {0}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        if (coco_select(ds, cases[k].cats, cases[k].image_id, cases[k].limit, &s, err,
                        sizeof err) != 0) {
            failures++;
            printf("FAIL selection: %s: %s\n", cases[k].what, err);
            continue;
        }
        if (sel_is(&s, cases[k].imgs, cases[k].n_img, cases[k].anns, cases[k].n_ann, ds))
            printf("PASS selection: %s\n", cases[k].what);
        else {
            failures++;
            printf("FAIL selection: %s (%d images, %d annotations)\n", cases[k].what, s.n_images,
                   s.n_anns);
        }
        coco_selection_free(&s);
    }
    if (coco_select(ds, "cat,horse", 0, 0, &s, err, sizeof err) == 0 || !strstr(err, "horse")) {
        failures++;
        printf("FAIL unknown category name accepted\n");
    } else {
        printf("PASS unknown category name refused (%s)\n", err);
    }
    // Masks of the three kinds (column-major runs).
    uint8_t m[12];
    int ai = coco_ann_index(ds, 104);
    // counts [2,3,7] on 3x4: pixels 2,3,4 column-major = (y2,x0), (y0,x1), (y1,x1).
    uint8_t want[12] = {0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0};
    int ok = ai >= 0 && coco_ann_to_mask(ds, ai, m, err, sizeof err) == 0 && !memcmp(m, want, 12);
    ai = coco_ann_index(ds, 103);  // "0;1" = counts [0, 11, 1]: all but the last pixel
    uint8_t m2[12];
    ok = ok && ai >= 0 && coco_ann_to_mask(ds, ai, m2, err, sizeof err) == 0;
    int area = 0;
    for (int i = 0; i < 12; i++) area += m2[i];
    ok = ok && m2[0] == 1 && area == 11 && m2[11] == 0;
    if (ok) printf("PASS masks from uncompressed and compressed RLE (column-major runs)\n");
    else {
        failures++;
        printf("FAIL masks from RLE: %s\n", err);
    }
    printf("%s categories and supercategories indexed\n",
           ds->n_categories == 2 && ds->n_supercategories == 1 &&
                   coco_category_by_name(ds, "dog") == 1 && coco_category_index(ds, 2) == 1
               ? "PASS"
               : (failures++, "FAIL"));
    coco_free(ds);
}

int main(void) {
    bad_inputs();
    selection();
    return failures ? 1 : 0;
}
