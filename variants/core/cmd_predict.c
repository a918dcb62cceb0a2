// sam-<stage> predict: one image and one prompt, as SamPredictor.set_image + predict.
// ref: segment_anything/predictor.py SamPredictor.set_image, predict, predict_torch
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../datasets/image.h"
#include "common/check.h"
#include "commands.h"
#include "common/npy.h"
#include "datasets/preprocess.h"

#define MAX_POINTS 64

typedef struct {
    // inputs (backend memory)
    const float *pixels;  // (1, 3, S, S)
    Prompts prompts;
    int multimask, in_h, in_w, orig_h, orig_w;
    // outputs (arena)
    void *embed;          // (G*G, D) act
    float *lowres, *iou, *logits;
    int n_masks;
    double encode_s, decode_s;
} Predict;

static void run_predict(Sam *m, void *ctx) {
    Predict *p = ctx;
    Exec *x = m->x;
    const SamConfig *c = &m->cfg;
    int L = 4 * c->grid;
    p->n_masks = p->multimask ? c->num_mask_tokens - 1 : 1;
    double t0 = now_seconds();
    p->embed = ex_act(x, (int64_t)c->grid * c->grid * c->prompt_dim);
    sam_encode(m, p->embed, p->pixels, 1);
    if (!x->planning) x->ops->sync(x);
    double t1 = now_seconds();
    p->lowres = ex_f32(x, (int64_t)p->n_masks * L * L);
    p->iou = ex_f32(x, p->n_masks);
    p->logits = ex_f32(x, (int64_t)p->n_masks * p->orig_h * p->orig_w);
    sam_decode(m, p->lowres, p->iou, p->embed, &p->prompts, p->multimask);
    sam_postprocess(m, p->logits, p->lowres, p->n_masks, p->in_h, p->in_w, p->orig_h, p->orig_w);
    if (!x->planning) x->ops->sync(x);
    p->encode_s = t1 - t0;
    p->decode_s = now_seconds() - t1;
}

static int parse_floats(const char *s, double *v, int n) {
    char *end;
    for (int i = 0; i < n; i++) {
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || errno) return -1;
        s = end;
        if (i + 1 < n) {
            if (*s != ',') return -1;
            s++;
        }
    }
    return *s == 0 ? 0 : -1;
}

static void write_npy_or_die(const char *prefix, const char *suffix, const char *dtype, int ndim,
                             const int64_t *shape, const void *data) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s", prefix, suffix);
    if (npy_write(path, dtype, ndim, shape, data) != 0) die("%s: cannot write: %s", path, strerror(errno));
}

static void usage(const StageDesc *stage) {
    printf("usage: sam-%s predict --checkpoint C --image FILE [--point X,Y,LABEL]...\n"
           "           [--box X0,Y0,X1,Y1] [--mask-input LOWRES.npy] [--multimask] [--embedding]\n"
           "           --out PREFIX\n"
           "Coordinates are original-image pixels; LABEL is 1 (foreground) or 0 (background);\n"
           "several --point options form one prompt. FILE is a PNG, a JPEG or an HxWx3 uint8 .npy.\n"
           "LOWRES.npy is (1, 4G, 4G) or (4G, 4G) float32 low-res logits (a previous _lowres.npy row).\n"
           "Writes PREFIX_logits.npy (CxHxW float32), PREFIX_lowres.npy, PREFIX_iou.npy and\n"
           "PREFIX_masks.png (the mask with the highest predicted IoU); with --embedding also\n"
           "PREFIX_embedding.npy, the image embedding (1, D, G, G) float32 as the official encoder.\n",
           stage->name);
}

int cmd_predict(int argc, char **argv, const StageDesc *stage) {
    const char *ckpt = NULL, *image = NULL, *mask_path = NULL, *out = NULL;
    int save_embedding = 0;
    double points[MAX_POINTS][3], box[4];
    int n_points = 0, has_box = 0, multimask = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--help") == 0) {
            usage(stage);
            return 0;
        } else if (strcmp(a, "--checkpoint") == 0 && more) ckpt = argv[++i];
        else if (strcmp(a, "--image") == 0 && more) image = argv[++i];
        else if (strcmp(a, "--mask-input") == 0 && more) mask_path = argv[++i];
        else if (strcmp(a, "--out") == 0 && more) out = argv[++i];
        else if (strcmp(a, "--multimask") == 0) multimask = 1;
        else if (strcmp(a, "--embedding") == 0) save_embedding = 1;
        else if (strcmp(a, "--point") == 0 && more) {
            if (n_points == MAX_POINTS) die("predict: at most %d points", MAX_POINTS);
            double *p = points[n_points++];
            if (parse_floats(argv[++i], p, 3) != 0 || (p[2] != 0 && p[2] != 1))
                die("predict: --point wants X,Y,LABEL with LABEL 0 or 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--box") == 0 && more) {
            if (parse_floats(argv[++i], box, 4) != 0) die("predict: --box wants X0,Y0,X1,Y1, got '%s'", argv[i]);
            has_box = 1;
        } else die("predict: unknown or incomplete option '%s' (see --help)", a);
    }
    if (!ckpt || !image || !out) die("predict: --checkpoint, --image and --out are required (see --help)");

    char err[512];
    uint8_t *rgb;
    int h, w;
    if (image_load_rgb(image, &rgb, &h, &w, err, sizeof err) != 0) die("%s", err);

    Exec x;
    Sam m;
    double load_s = model_open(stage, ckpt, &x, &m, NULL, NULL, NULL);
    const SamConfig *c = &m.cfg;
    int S = c->img_size, L = 4 * c->grid;

    // ref: SamPredictor.set_image: ResizeLongestSide, normalise, pad.
    Predict p = {.multimask = multimask, .orig_h = h, .orig_w = w};
    sam_preprocess_shape(h, w, S, &p.in_h, &p.in_w);
    uint8_t *resized = xmalloc((size_t)p.in_h * p.in_w * 3);
    sam_resize_rgb(rgb, h, w, resized, p.in_h, p.in_w);
    float *pixels = xmalloc((size_t)3 * S * S * sizeof(float));
    sam_normalize_pad(resized, p.in_h, p.in_w, S, pixels);
    float *d_pixels = x.ops->mem_alloc(&x, (size_t)3 * S * S * sizeof(float));
    x.ops->copy_to_device(&x, d_pixels, pixels, (size_t)3 * S * S * sizeof(float));
    p.pixels = d_pixels;

    double xy[2 * MAX_POINTS];
    int point_labels[MAX_POINTS];
    for (int i = 0; i < n_points; i++) {
        xy[2 * i] = points[i][0], xy[2 * i + 1] = points[i][1];
        point_labels[i] = (int)points[i][2];
    }
    float coords[2 * (MAX_POINTS + 2)];
    int32_t labels[MAX_POINTS + 2];
    int t = sam_build_prompt(xy, point_labels, n_points, has_box ? box : NULL, h, w, S, coords, labels);
    float *d_coords = x.ops->mem_alloc(&x, sizeof coords);
    int32_t *d_labels = x.ops->mem_alloc(&x, sizeof labels);
    x.ops->copy_to_device(&x, d_coords, coords, sizeof coords);
    x.ops->copy_to_device(&x, d_labels, labels, sizeof labels);
    p.prompts = (Prompts){.n = 1, .t = t, .coords = d_coords, .labels = d_labels};
    float *d_mask = NULL;
    if (mask_path) {
        Npy mi = npy_load_or_die(mask_path);
        int ok = strcmp(mi.dtype, "<f4") == 0 && mi.count == (size_t)L * L &&
                 ((mi.ndim == 2) || (mi.ndim == 3 && mi.shape[0] == 1));
        if (!ok) die("%s: mask input must be float32 (1, %d, %d) or (%d, %d)", mask_path, L, L, L, L);
        d_mask = x.ops->mem_alloc(&x, (size_t)L * L * sizeof(float));
        x.ops->copy_to_device(&x, d_mask, mi.data, (size_t)L * L * sizeof(float));
        p.prompts.mask_input = d_mask;
        npy_free(&mi);
    }

    sam_plan(&m, run_predict, &p);
    run_predict(&m, &p);

    int C = p.n_masks;
    float *lowres = xmalloc((size_t)C * L * L * sizeof(float));
    float *iou = xmalloc((size_t)C * sizeof(float));
    float *logits = xmalloc((size_t)C * h * w * sizeof(float));
    x.ops->copy_to_host(&x, lowres, p.lowres, (size_t)C * L * L * sizeof(float));
    x.ops->copy_to_host(&x, iou, p.iou, (size_t)C * sizeof(float));
    x.ops->copy_to_host(&x, logits, p.logits, (size_t)C * h * w * sizeof(float));
    write_npy_or_die(out, "_logits.npy", "<f4", 3, (int64_t[]){C, h, w}, logits);
    write_npy_or_die(out, "_lowres.npy", "<f4", 3, (int64_t[]){C, L, L}, lowres);
    write_npy_or_die(out, "_iou.npy", "<f4", 1, (int64_t[]){C}, iou);
    if (save_embedding) {
        int G = c->grid, D = c->prompt_dim;
        float *hwc = xmalloc((size_t)G * G * D * sizeof(float)), *chw = xmalloc((size_t)G * G * D * sizeof(float));
        x.ops->download_act(&x, hwc, p.embed, (size_t)G * G * D);
        for (int ch = 0; ch < D; ch++)
            for (int q = 0; q < G * G; q++) chw[(size_t)ch * G * G + q] = hwc[(size_t)q * D + ch];
        write_npy_or_die(out, "_embedding.npy", "<f4", 4, (int64_t[]){1, D, G, G}, chw);
        free(hwc), free(chw);
    }
    int best = 0;
    for (int i = 1; i < C; i++)
        if (iou[i] > iou[best]) best = i;
    uint8_t *mask = xmalloc((size_t)h * w);
    for (size_t i = 0; i < (size_t)h * w; i++) mask[i] = logits[(size_t)best * h * w + i] > 0.0f;
    char path[4096];
    snprintf(path, sizeof path, "%s_masks.png", out);
    if (image_write_png_gray(path, mask, h, w) != 0) die("%s: cannot write: %s", path, strerror(errno));

    printf("{\"stage\":\"%s\",\"model\":\"%s\",\"image\":[%d,%d],\"masks\":%d,\"best\":%d,\"iou\":[",
           stage->name, c->model, h, w, C, best);
    for (int i = 0; i < C; i++) printf("%s%.6f", i ? "," : "", iou[i]);
    printf("],\"load_s\":%.3f,\"encode_s\":%.3f,\"decode_s\":%.3f}\n", load_s, p.encode_s, p.decode_s);

    free(mask), free(logits), free(iou), free(lowres), free(pixels), free(resized), free(rgb);
    x.ops->mem_free(&x, d_pixels);
    x.ops->mem_free(&x, d_coords);
    x.ops->mem_free(&x, d_labels);
    if (d_mask) x.ops->mem_free(&x, d_mask);
    model_close(stage, &x, &m);
    return 0;
}
