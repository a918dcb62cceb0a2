// Synthetic COCO-format subset (see synth.h).
#include "datasets/synth.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/fsutil.h"
#include "datasets/image.h"
#include "datasets/rle.h"
#include "common/check.h"

// ---- deterministic random numbers: xoshiro256** seeded through splitmix64 -------------------

typedef struct {
    uint64_t s[4];
} Rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// One independent stream per (seed, image index): an image does not depend on the others.
static void rng_seed(Rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL) ^ 0x5A4D5F5741544552ULL;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *r) {
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double rng_unit(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static double rng_range(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_unit(r); }
static int rng_int(Rng *r, int lo, int hi) {  // inclusive
    return lo + (int)(rng_unit(r) * (hi - lo + 1));
}

// ---- categories ---------------------------------------------------------------------------

typedef enum {
    SH_BLOB, SH_TRIANGLE, SH_QUAD, SH_STAR, SH_ELLIPSE, SH_DISC, SH_ARC, SH_PAIR, SH_CLUSTER,
    SH_CROWD, SH_COUNT
} Shape;

// Ids with gaps, as COCO's (1..90 for 80 categories).
static const struct {
    int id;
    const char *name, *super;
    double weight;  // how often it is drawn
} CATS[SH_COUNT] = {
    {1, "blob", "shape", 0.20},      {2, "triangle", "shape", 0.10},
    {3, "quadrilateral", "shape", 0.10}, {5, "star", "shape", 0.10},
    {6, "ellipse", "round", 0.14},   {7, "disc", "round", 0.06},
    {9, "arc", "round", 0.08},       {10, "pair", "compound", 0.08},
    {13, "cluster", "compound", 0.06}, {15, "dots", "crowd", 0.08},
};

static const int SIZES[][2] = {  // (width, height), COCO's common sizes
    {640, 480}, {480, 640}, {640, 427}, {427, 640}, {500, 375}, {375, 500},
    {640, 426}, {640, 360}, {612, 612}, {640, 512}, {640, 425}, {333, 500},
};

// ---- pixels ---------------------------------------------------------------------------------

static void hsv_to_rgb(double h, double s, double v, double rgb[3]) {
    h = fmod(h, 1.0) * 6.0;
    int i = (int)h;
    double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double tab[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int c = 0; c < 3; c++) rgb[c] = tab[i % 6][c] * 255.0;
}

static uint8_t clamp8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

// Smooth value noise in [-1, 1] on a grid of `cell` pixels.
typedef struct {
    int gw, gh, cell;
    float *g;
} Noise;

static void noise_init(Noise *n, Rng *r, int w, int h, int cell) {
    n->cell = cell;
    n->gw = w / cell + 2;
    n->gh = h / cell + 2;
    n->g = xmalloc(sizeof(float) * (size_t)n->gw * n->gh);
    for (int i = 0; i < n->gw * n->gh; i++) n->g[i] = (float)rng_range(r, -1, 1);
}

static double noise_at(const Noise *n, int x, int y) {
    double fx = (double)x / n->cell, fy = (double)y / n->cell;
    int ix = (int)fx, iy = (int)fy;
    double tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const float *g = n->g;
    double a = g[iy * n->gw + ix], b = g[iy * n->gw + ix + 1];
    double c = g[(iy + 1) * n->gw + ix], d = g[(iy + 1) * n->gw + ix + 1];
    return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
}

static void paint_background(Rng *r, uint8_t *rgb, int w, int h) {
    double base[3], tint[3];
    double hue = rng_unit(r);
    hsv_to_rgb(hue, rng_range(r, 0.08, 0.3), rng_range(r, 0.35, 0.7), base);
    hsv_to_rgb(hue + rng_range(r, 0.1, 0.4), rng_range(r, 0.1, 0.3), rng_range(r, 0.3, 0.7),
               tint);
    Noise coarse, fine;
    noise_init(&coarse, r, w, h, rng_int(r, 40, 90));
    noise_init(&fine, r, w, h, rng_int(r, 6, 14));
    double gx = rng_range(r, -1, 1), gy = rng_range(r, -1, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double t = 0.5 + 0.5 * (gx * (x - w / 2.0) / w + gy * (y - h / 2.0) / h);
            double v = 38 * noise_at(&coarse, x, y) + 12 * noise_at(&fine, x, y) +
                       rng_range(r, -5, 5);
            uint8_t *p = rgb + 3 * ((size_t)y * w + x);
            for (int c = 0; c < 3; c++) p[c] = clamp8(base[c] * (1 - t) + tint[c] * t + v);
        }
    free(coarse.g);
    free(fine.g);
}

typedef struct {
    double c1[3], c2[3];
    int texture;  // 0 flat+grain, 1 stripes, 2 checker, 3 radial, 4 speckle
    double angle, period, cx, cy, radius;
} Look;

static void pick_look(Rng *r, double hue, double cx, double cy, double radius, Look *lk) {
    double s = rng_range(r, 0.65, 1.0), v = rng_range(r, 0.6, 1.0);
    hsv_to_rgb(hue, s, v, lk->c1);
    hsv_to_rgb(hue + rng_range(r, 0.0, 0.06), s * rng_range(r, 0.6, 1.0),
               v * rng_range(r, 0.45, 0.75), lk->c2);
    lk->texture = rng_int(r, 0, 4);
    lk->angle = rng_range(r, 0, M_PI);
    lk->period = rng_range(r, 4, 14);
    lk->cx = cx;
    lk->cy = cy;
    lk->radius = radius > 1 ? radius : 1;
}

static void paint_pixel(Rng *r, const Look *lk, uint8_t *p, int x, int y) {
    double t;
    switch (lk->texture) {
    case 1: {
        double u = (x * cos(lk->angle) + y * sin(lk->angle)) / lk->period;
        t = u - floor(u) < 0.5 ? 0 : 1;
        break;
    }
    case 2:
        t = (((int)floor(x / lk->period) + (int)floor(y / lk->period)) & 1) ? 1 : 0;
        break;
    case 3:
        t = hypot(x - lk->cx, y - lk->cy) / lk->radius;
        t = t > 1 ? 1 : t;
        break;
    case 4:
        t = rng_unit(r) < 0.2 ? 1 : 0;
        break;
    default:
        t = 0;
    }
    double g = rng_range(r, -6, 6);
    for (int c = 0; c < 3; c++) p[c] = clamp8(lk->c1[c] * (1 - t) + lk->c2[c] * t + g);
}

// ---- shapes as polygons ---------------------------------------------------------------------

typedef struct {
    int n;          // points
    double *xy;     // 2n, rounded to 0.01 as written to the JSON
} Poly;

typedef struct {
    Shape shape;
    int iscrowd;
    int n_parts;
    Poly parts[40];
    Rle rle;        // the annotation's mask
    double bbox[4];
    uint64_t area;
} Obj;

// COCO writes coordinates with 2 decimals; the mask must be that of the written values.
static double q2(double v) { return round(v * 100.0) / 100.0; }

static void poly_add(Poly *p, double x, double y, int w, int h) {
    // Clamp to the image box, as COCO's polygons lie within it (this also makes objects that
    // touch the border).
    x = x < 0 ? 0 : x > w ? w : x;
    y = y < 0 ? 0 : y > h ? h : y;
    p->xy[2 * p->n] = q2(x);
    p->xy[2 * p->n + 1] = q2(y);
    p->n++;
}

// Star-shaped polygon around (cx, cy): k vertices at radii r * (1 - jitter .. 1).
static void make_radial(Rng *r, Poly *p, double cx, double cy, double rx, double ry, int k,
                        double jitter, double rot, int w, int h) {
    p->xy = xmalloc(sizeof(double) * 2 * (size_t)k);
    p->n = 0;
    for (int i = 0; i < k; i++) {
        double a = rot + 2 * M_PI * i / k, s = 1 - jitter * rng_unit(r);
        poly_add(p, cx + rx * s * cos(a), cy + ry * s * sin(a), w, h);
    }
}

static void make_star(Poly *p, double cx, double cy, double rad, int spikes, double rot, int w,
                      int h) {
    p->xy = xmalloc(sizeof(double) * 4 * (size_t)spikes);
    p->n = 0;
    for (int i = 0; i < 2 * spikes; i++) {
        double a = rot + M_PI * i / spikes, rr = (i & 1) ? rad * 0.45 : rad;
        poly_add(p, cx + rr * cos(a), cy + rr * sin(a), w, h);
    }
}

// C shape: an annulus sector spanning `span` radians (its centre of mass lies outside).
static void make_arc(Poly *p, double cx, double cy, double rad, double thick, double span,
                     double rot, int w, int h) {
    int k = 24;
    p->xy = xmalloc(sizeof(double) * 4 * (size_t)(k + 1));
    p->n = 0;
    for (int i = 0; i <= k; i++) {
        double a = rot + span * i / k;
        poly_add(p, cx + rad * cos(a), cy + rad * sin(a), w, h);
    }
    for (int i = k; i >= 0; i--) {
        double a = rot + span * i / k;
        poly_add(p, cx + (rad - thick) * cos(a), cy + (rad - thick) * sin(a), w, h);
    }
}

static Shape pick_shape(Rng *r, int allow_crowd) {
    for (;;) {
        double u = rng_unit(r), acc = 0;
        for (int s = 0; s < SH_COUNT; s++) {
            acc += CATS[s].weight;
            if (u < acc) {
                if (s == SH_CROWD && !allow_crowd) break;
                return (Shape)s;
            }
        }
    }
}

static void obj_free(Obj *o) {
    for (int i = 0; i < o->n_parts; i++) free(o->parts[i].xy);
    o->n_parts = 0;
    rle_free(&o->rle);
}

// Builds the object's polygons around (cx, cy) with size rad, and its mask RLE.
static int build_object(Rng *r, Obj *o, Shape s, double cx, double cy, double rad, int w,
                        int h) {
    memset(o, 0, sizeof *o);
    o->shape = s;
    double rot = rng_range(r, 0, 2 * M_PI);
    switch (s) {
    case SH_BLOB:
        make_radial(r, &o->parts[0], cx, cy, rad, rad * rng_range(r, 0.5, 1), rng_int(r, 7, 16),
                    0.45, rot, w, h);
        o->n_parts = 1;
        break;
    case SH_TRIANGLE:
        make_radial(r, &o->parts[0], cx, cy, rad, rad, 3, 0.3, rot, w, h);
        o->n_parts = 1;
        break;
    case SH_QUAD:
        make_radial(r, &o->parts[0], cx, cy, rad, rad * rng_range(r, 0.4, 1), 4, 0.25, rot, w, h);
        o->n_parts = 1;
        break;
    case SH_STAR:
        make_star(&o->parts[0], cx, cy, rad, rng_int(r, 5, 8), rot, w, h);
        o->n_parts = 1;
        break;
    case SH_ELLIPSE:
        make_radial(r, &o->parts[0], cx, cy, rad, rad * rng_range(r, 0.35, 0.9),
                    rng_int(r, 24, 48), 0.0, rot, w, h);
        o->n_parts = 1;
        break;
    case SH_DISC:
        make_radial(r, &o->parts[0], cx, cy, rad, rad, 40, 0.0, rot, w, h);
        o->n_parts = 1;
        break;
    case SH_ARC:
        make_arc(&o->parts[0], cx, cy, rad, rad * rng_range(r, 0.25, 0.45),
                 rng_range(r, 1.2 * M_PI, 1.7 * M_PI), rot, w, h);
        o->n_parts = 1;
        break;
    case SH_PAIR:
    case SH_CLUSTER: {
        // An object split into parts (as COCO annotates an occluded object).
        int n = s == SH_PAIR ? 2 : rng_int(r, 3, 4);
        for (int i = 0; i < n; i++) {
            double a = rot + 2 * M_PI * i / n, d = rad * 0.62;
            make_radial(r, &o->parts[i], cx + d * cos(a), cy + d * sin(a), rad * 0.36,
                        rad * rng_range(r, 0.2, 0.36), rng_int(r, 5, 10), 0.3,
                        rng_range(r, 0, 2 * M_PI), w, h);
        }
        o->n_parts = n;
        break;
    }
    case SH_CROWD: {
        // A crowd: a cluster of small dots, annotated as one RLE region.
        int n = rng_int(r, 8, 30);
        for (int i = 0; i < n && i < 40; i++) {
            double dx = rng_range(r, -rad, rad), dy = rng_range(r, -rad * 0.6, rad * 0.6);
            double dr = rng_range(r, 2.5, 2.5 + rad * 0.12);
            make_radial(r, &o->parts[i], cx + dx, cy + dy, dr, dr, 12, 0.1, 0, w, h);
        }
        o->n_parts = n < 40 ? n : 40;
        o->iscrowd = 1;
        break;
    }
    default:
        return -1;
    }
    Rle parts[40];
    int ok = 1;
    for (int i = 0; i < o->n_parts; i++)
        if (rle_from_poly(&parts[i], o->parts[i].xy, (size_t)o->parts[i].n, (uint32_t)h,
                          (uint32_t)w) != 0) {
            for (int j = 0; j < i; j++) rle_free(&parts[j]);
            ok = 0;
            break;
        }
    if (!ok) return -1;
    rle_merge(parts, (size_t)o->n_parts, &o->rle, 0);
    for (int i = 0; i < o->n_parts; i++) rle_free(&parts[i]);
    o->area = rle_area(&o->rle);
    rle_to_bbox(&o->rle, o->bbox);
    return o->area > 0 ? 0 : -1;
}

// ---- one image ------------------------------------------------------------------------------

typedef struct {
    int64_t id;
    int w, h;
    int n_objs;
    Obj objs[20];
} SynthImage;

static int generate_image(uint64_t seed, int index, SynthImage *im, const char *jpg_path,
                          char *err, size_t err_len) {
    Rng r;
    rng_seed(&r, seed, (uint64_t)index);
    int si = rng_int(&r, 0, (int)(sizeof SIZES / sizeof *SIZES) - 1);
    int w = SIZES[si][0], h = SIZES[si][1];
    im->w = w;
    im->h = h;
    size_t npix = (size_t)w * h;
    uint8_t *rgb = xmalloc(npix * 3), *occ = xcalloc(npix, 1), *m = xmalloc(npix);
    paint_background(&r, rgb, w, h);
    // 1..20 objects, skewed towards few (COCO averages about 7 per image).
    double u = rng_unit(&r);
    int want = 1 + (int)(19.999 * u * u);
    double hue0 = rng_unit(&r);
    int have_crowd = 0;
    im->n_objs = 0;
    for (int k = 0; k < want; k++) {
        Shape s = pick_shape(&r, !have_crowd);
        double maxr = (w < h ? w : h) / 3.5;
        double rad = exp(rng_range(&r, log(5.0), log(maxr)));
        for (int attempt = 0; attempt < 40; attempt++) {
            double cx = rng_range(&r, -0.05 * w, 1.05 * w), cy = rng_range(&r, -0.05 * h, 1.05 * h);
            Obj o;
            if (build_object(&r, &o, s, cx, cy, rad, w, h) != 0) {
                obj_free(&o);
                continue;
            }
            rle_decode(&o.rle, m);
            int clash = 0;
            for (size_t i = 0; i < npix && !clash; i++) clash = m[i] & occ[i];
            if (clash) {
                obj_free(&o);
                rad *= 0.9;
                continue;
            }
            // Paint it and reserve it with a 2-pixel margin, so objects never touch.
            Look lk;
            pick_look(&r, hue0 + 0.618034 * im->n_objs, cx, cy, rad, &lk);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if (m[(size_t)y * w + x]) {
                        paint_pixel(&r, &lk, rgb + 3 * ((size_t)y * w + x), x, y);
                        for (int dy = -2; dy <= 2; dy++)
                            for (int dx = -2; dx <= 2; dx++) {
                                int yy = y + dy, xx = x + dx;
                                if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                    occ[(size_t)yy * w + xx] = 1;
                            }
                    }
            im->objs[im->n_objs++] = o;
            if (s == SH_CROWD) have_crowd = 1;
            break;
        }
    }
    // A picture with no object is useless to the evaluation; put a disc at the centre
    // (there is room: nothing else was placed).
    if (im->n_objs == 0) {
        Obj o;
        if (build_object(&r, &o, SH_DISC, w / 2.0, h / 2.0, (w < h ? w : h) / 6.0, w, h) == 0) {
            Look lk;
            pick_look(&r, hue0, w / 2.0, h / 2.0, h / 6.0, &lk);
            rle_decode(&o.rle, m);
            for (size_t i = 0; i < npix; i++)
                if (m[i]) paint_pixel(&r, &lk, rgb + 3 * i, (int)(i % w), (int)(i / w));
            im->objs[im->n_objs++] = o;
        } else {
            obj_free(&o);
        }
    }
    // About one image in 25 is grayscale, as some of COCO's are (image 61418, for one).
    int rc;
    if (rng_unit(&r) < 0.04) {
        uint8_t *g = xmalloc(npix);
        for (size_t i = 0; i < npix; i++)  // ITU-R 601 luma, as Pillow's convert("L")
            g[i] = (uint8_t)((rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 +
                              rgb[3 * i + 2] * 7471 + 0x8000) >> 16);
        rc = image_write_jpeg_gray(jpg_path, g, h, w, 90, err, err_len);
        free(g);
    } else {
        rc = image_write_jpeg(jpg_path, rgb, h, w, 90, err, err_len);
    }
    free(rgb);
    free(occ);
    free(m);
    return rc;
}

// ---- files ----------------------------------------------------------------------------------

void synth_description(const SynthConfig *cfg, char *buf, size_t len) {
    snprintf(buf, len, "sam-waterfall synthetic COCO subset v%d seed=%llu images=%d",
             SYNTH_VERSION, (unsigned long long)cfg->seed, cfg->n_images);
}

// Writes a double as JSON: integers without a fraction, others with up to 2 decimals.
static void put_num(FILE *f, double v) {
    if (v == floor(v) && fabs(v) < 1e15) fprintf(f, "%.1f", v);
    else fprintf(f, "%.2f", v);
}

static void write_annotation(FILE *f, const Obj *o, int64_t ann_id, int64_t image_id,
                             int first) {
    fprintf(f, "%s\n{\"segmentation\":", first ? "" : ",");
    if (o->iscrowd) {
        fprintf(f, "{\"counts\":[");
        for (size_t j = 0; j < o->rle.m; j++) fprintf(f, "%s%u", j ? "," : "", o->rle.cnts[j]);
        fprintf(f, "],\"size\":[%u,%u]}", o->rle.h, o->rle.w);
    } else {
        fputc('[', f);
        for (int p = 0; p < o->n_parts; p++) {
            fprintf(f, "%s[", p ? "," : "");
            for (int j = 0; j < 2 * o->parts[p].n; j++) {
                if (j) fputc(',', f);
                fprintf(f, "%.2f", o->parts[p].xy[j]);
            }
            fputc(']', f);
        }
        fputc(']', f);
    }
    fprintf(f, ",\"area\":");
    put_num(f, (double)o->area);
    fprintf(f, ",\"iscrowd\":%d,\"image_id\":%lld,\"bbox\":[", o->iscrowd, (long long)image_id);
    for (int j = 0; j < 4; j++) {
        if (j) fputc(',', f);
        put_num(f, o->bbox[j]);
    }
    fprintf(f, "],\"category_id\":%d,\"id\":%lld}", CATS[o->shape].id, (long long)ann_id);
}

int synth_generate(const char *root, const SynthConfig *cfg, char *err, size_t err_len) {
    const char *slice = cfg->slice ? cfg->slice : SYNTH_DEFAULT_SLICE;
    if (cfg->n_images < 1 || cfg->n_images > 1000000) {
        snprintf(err, err_len, "%s: image count %d out of range (1..1000000)", root,
                 cfg->n_images);
        return -1;
    }
    size_t plen = strlen(root) + strlen(slice) + 64;
    char *dir = xmalloc(plen), *path = xmalloc(plen), *tmp = xmalloc(plen);
    int rc = 0;
    snprintf(dir, plen, "%s/%s", root, slice);
    snprintf(path, plen, "%s/annotations", root);
    if (mkdirs(dir) != 0 || mkdirs(path) != 0) {
        snprintf(err, err_len, "%s: cannot create folders: %s", root, strerror(errno));
        free(dir);
        free(path);
        free(tmp);
        return -1;
    }
    snprintf(path, plen, "%s/annotations/instances_%s.json", root, slice);
    snprintf(tmp, plen, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_len, "%s: cannot create: %s", tmp, strerror(errno));
        free(dir);
        free(path);
        free(tmp);
        return -1;
    }
    char desc[160];
    synth_description(cfg, desc, sizeof desc);
    fprintf(f, "{\"info\":{\"description\":\"%s\",\"version\":\"%d\",\"year\":2026,"
            "\"contributor\":\"sam-waterfall datasets/synth.c\",\"date_created\":\"\"},\n"
            "\"licenses\":[{\"url\":\"\",\"id\":1,\"name\":\"CC0\"}],\n\"images\":[",
            desc, SYNTH_VERSION);
    // Images first (ids and sizes), keeping each image's objects for the annotation list.
    SynthImage *ims = xcalloc((size_t)cfg->n_images, sizeof(SynthImage));
    Rng idr;
    rng_seed(&idr, cfg->seed, 0xFFFFFFFFull);
    int64_t id = 0;
    for (int i = 0; i < cfg->n_images && !rc; i++) {
        id += 1 + (int64_t)(rng_unit(&idr) * 50);  // sparse increasing ids, as COCO's
        ims[i].id = id;
        char jpg[64];
        snprintf(jpg, sizeof jpg, "%012lld.jpg", (long long)id);
        char *jp = xmalloc(strlen(dir) + 80);
        sprintf(jp, "%s/%s", dir, jpg);
        rc = generate_image(cfg->seed, i, &ims[i], jp, err, err_len);
        free(jp);
        if (!rc)
            fprintf(f, "%s\n{\"license\":1,\"file_name\":\"%s\",\"coco_url\":\"\",\"height\":%d,"
                    "\"width\":%d,\"date_captured\":\"\",\"flickr_url\":\"\",\"id\":%lld}",
                    i ? "," : "", jpg, ims[i].h, ims[i].w, (long long)id);
    }
    if (!rc) {
        fprintf(f, "],\n\"annotations\":[");
        int64_t ann_id = 0, crowd_id = 900100000000LL;  // COCO numbers crowd regions so too
        int first = 1;
        for (int i = 0; i < cfg->n_images; i++)
            for (int k = 0; k < ims[i].n_objs; k++) {
                const Obj *o = &ims[i].objs[k];
                write_annotation(f, o, o->iscrowd ? ++crowd_id : ++ann_id, ims[i].id, first);
                first = 0;
            }
        fprintf(f, "],\n\"categories\":[");
        for (int s = 0; s < SH_COUNT; s++)
            fprintf(f, "%s\n{\"supercategory\":\"%s\",\"id\":%d,\"name\":\"%s\"}", s ? "," : "",
                    CATS[s].super, CATS[s].id, CATS[s].name);
        fprintf(f, "]}\n");
    }
    for (int i = 0; i < cfg->n_images; i++)
        for (int k = 0; k < ims[i].n_objs; k++) obj_free(&ims[i].objs[k]);
    free(ims);
    if (fclose(f) != 0 && !rc) {
        snprintf(err, err_len, "%s: write failed: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (!rc && rename(tmp, path) != 0) {
        snprintf(err, err_len, "%s: cannot rename into place: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc) remove(tmp);
    free(dir);
    free(path);
    free(tmp);
    return rc;
}

int synth_ensure(const char *root, const SynthConfig *cfg, int *generated, char *err,
                 size_t err_len) {
    *generated = 0;
    const char *slice = cfg->slice ? cfg->slice : SYNTH_DEFAULT_SLICE;
    size_t plen = strlen(root) + strlen(slice) + 64;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/annotations/instances_%s.json", root, slice);
    // The description sits in the first line; reading the head avoids parsing the file.
    char head[512] = "", desc[160];
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(head, sizeof head, f)) head[0] = 0;
        fclose(f);
    }
    free(path);
    synth_description(cfg, desc, sizeof desc);
    char quoted[200];
    snprintf(quoted, sizeof quoted, "\"%s\"", desc);
    if (strstr(head, quoted)) return 0;
    *generated = 1;
    return synth_generate(root, cfg, err, err_len);
}
