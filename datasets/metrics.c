// mIoU, per-category / per-supercategory breakdowns and stage agreement.
#include "datasets/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/coco.h"
#include "common/check.h"

void mask_inter_union(const uint8_t *a, const uint8_t *b, size_t n, uint64_t *inter,
                      uint64_t *uni) {
    uint64_t i = 0, u = 0;
    for (size_t k = 0; k < n; k++) {
        int x = a[k] != 0, y = b[k] != 0;
        i += (uint64_t)(x & y);
        u += (uint64_t)(x | y);
    }
    *inter = i;
    *uni = u;
}

float mask_iou(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t i, u;
    mask_inter_union(a, b, n, &i, &u);
    return (float)i / (float)u;  // NaN for 0 / 0, as torch
}

float mask_agreement(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t i, u;
    mask_inter_union(a, b, n, &i, &u);
    return u ? (float)i / (float)u : 1.0f;
}

// Walks both run lists together (as rleIou's loop) counting intersection and union. A list
// that ends before h * w pixels counts as background for the rest.
typedef struct {
    const Rle *r;
    size_t i;       // current run; its value is i % 2 (runs start with background)
    uint64_t left;  // pixels left in it
} RunCursor;

static void cursor_fix(RunCursor *c) {
    while (c->left == 0 && c->i + 1 < c->r->m) c->left = c->r->cnts[++c->i];
    if (c->left == 0) {  // exhausted: background forever
        c->i = 0;
        c->left = UINT64_MAX;
    }
}

float rle_iou_plain(const Rle *a, const Rle *b) {
    if (a->h != b->h || a->w != b->w) return -1;
    RunCursor ca = {a, 0, a->m ? a->cnts[0] : 0}, cb = {b, 0, b->m ? b->cnts[0] : 0};
    uint64_t left = (uint64_t)a->h * a->w, inter = 0, uni = 0;
    while (left > 0) {
        cursor_fix(&ca);
        cursor_fix(&cb);
        uint64_t c = ca.left < cb.left ? ca.left : cb.left;
        if (c > left) c = left;
        int va = (int)(ca.i & 1), vb = (int)(cb.i & 1);
        if (va || vb) uni += c;
        if (va && vb) inter += c;
        ca.left -= c;
        cb.left -= c;
        left -= c;
    }
    return (float)inter / (float)uni;
}

void miou_init(MiouTable *t) { memset(t, 0, sizeof *t); }

void miou_add(MiouTable *t, int64_t image_id, int64_t ann_id, int64_t category_id, float iou) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->rows = xrealloc(t->rows, sizeof(MiouRow) * t->cap);
    }
    t->rows[t->n++] = (MiouRow){image_id, ann_id, category_id, iou};
}

void miou_free(MiouTable *t) {
    free(t->rows);
    memset(t, 0, sizeof *t);
}

// ref: numpy/core/src/umath/loops_utils.h.src pairwise_sum (blocks of 128, 8 accumulators)
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    } else if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    } else {
        size_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
}

// pandas nanmean: NaN -> 0, float64 sum, divided by the count of non-NaN values.
static MeanCount mean_of(const double *v, size_t n) {
    double *x = xmalloc(sizeof(double) * (n ? n : 1));
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = isnan(v[i]) ? 0.0 : v[i];
        count += !isnan(v[i]);
    }
    MeanCount mc = {count ? pairwise_sum(x, n) / (double)count : NAN, count};
    free(x);
    return mc;
}

MeanCount mean_skip_nan(const float *v, size_t n) {
    double *d = xmalloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) d[i] = v[i];
    MeanCount mc = mean_of(d, n);
    free(d);
    return mc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x > y ? 1 : x < y ? -1 : 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int miou_summarise(const MiouTable *t, const CocoDataset *ds, MiouSummary *s) {
    memset(s, 0, sizeof *s);
    size_t n = t->n;
    double *v = xmalloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        v[i] = t->rows[i].iou;
        s->undefined += isnan(t->rows[i].iou);
    }
    s->rows = (long)n;
    s->all = mean_of(v, n);

    // Per category, ordered by id (pivot_table sorts its index). The rows of each group keep
    // table order, as a groupby does.
    int64_t *ids = xmalloc(sizeof(int64_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) ids[i] = t->rows[i].category_id;
    qsort(ids, n, sizeof(int64_t), cmp_i64);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1]) ids[nu++] = ids[i];
    s->categories = xcalloc(nu ? nu : 1, sizeof(CategoryMiou));
    double *g = xmalloc(sizeof(double) * (n ? n : 1));
    for (size_t c = 0; c < nu; c++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (t->rows[i].category_id == ids[c]) g[k++] = v[i];
        int ci = ds ? coco_category_index(ds, ids[c]) : -1;
        CategoryMiou *cm = &s->categories[c];
        cm->category_id = ids[c];
        cm->name = ci >= 0 ? ds->categories[ci].name : "?";
        cm->supercategory = ci >= 0 ? ds->categories[ci].supercategory : "?";
        cm->mc = mean_of(g, k);
    }
    s->n_categories = (int)nu;

    // Per supercategory, ordered by name.
    const char **names = xmalloc(sizeof(char *) * (nu ? nu : 1));
    for (size_t c = 0; c < nu; c++) names[c] = s->categories[c].supercategory;
    qsort(names, nu, sizeof(char *), cmp_str);
    size_t ns = 0;
    for (size_t c = 0; c < nu; c++)
        if (ns == 0 || strcmp(names[c], names[ns - 1]) != 0) names[ns++] = names[c];
    s->supercategories = xcalloc(ns ? ns : 1, sizeof(SupercategoryMiou));
    for (size_t sc = 0; sc < ns; sc++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int ci = ds ? coco_category_index(ds, t->rows[i].category_id) : -1;
            const char *sn = ci >= 0 ? ds->categories[ci].supercategory : "?";
            if (strcmp(sn, names[sc]) == 0) g[k++] = v[i];
        }
        s->supercategories[sc].supercategory = names[sc];
        s->supercategories[sc].mc = mean_of(g, k);
    }
    s->n_supercategories = (int)ns;
    free(names);
    free(g);
    free(ids);
    free(v);
    return 0;
}

void miou_summary_free(MiouSummary *s) {
    free(s->categories);
    free(s->supercategories);
    memset(s, 0, sizeof *s);
}

int miou_write_csv(const MiouTable *t, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, ",img_id,ann_id,cat_id,iou\n");
    for (size_t i = 0; i < t->n; i++)
        fprintf(f, "%zu,%lld,%lld,%lld,%.9g\n", i, (long long)t->rows[i].image_id,
                (long long)t->rows[i].ann_id, (long long)t->rows[i].category_id,
                (double)t->rows[i].iou);
    return fclose(f);
}

double rle_string_agreement(const char *a, const char *b, uint32_t h, uint32_t w) {
    Rle r[2];
    if (rle_from_string(&r[0], a, h, w) != 0) return -1;
    if (rle_from_string(&r[1], b, h, w) != 0) {
        rle_free(&r[0]);
        return -1;
    }
    double out = -1;
    uint64_t n = (uint64_t)h * w;
    if (rle_total(&r[0]) == n && rle_total(&r[1]) == n) {
        Rle inter, uni;
        rle_merge(r, 2, &inter, 1);
        rle_merge(r, 2, &uni, 0);
        uint64_t i = rle_area(&inter), u = rle_area(&uni);
        out = u == 0 ? 1.0 : (double)i / (double)u;
        rle_free(&inter);
        rle_free(&uni);
    }
    rle_free(&r[0]);
    rle_free(&r[1]);
    return out;
}
