// Port of pycocotools' common/maskApi.c (the version shipped in pycocotools 2.0.8), with the
// same arithmetic so masks come out bit-identical, plus bounds checks that pycocotools lacks
// (a malformed file must give an error, never an out-of-bounds write).
#include "datasets/rle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

// Longest edge walk accepted for one polygon (points at 5x resolution): keeps a forged
// polygon from allocating gigabytes. A 32768-wide image's border is ~6.6e5 steps.
#define RLE_MAX_WALK ((uint64_t)1 << 24)

static uint32_t umin(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t umax(uint32_t a, uint32_t b) { return a > b ? a : b; }

void rle_free(Rle *r) {
    free(r->cnts);
    r->cnts = NULL;
    r->m = 0;
}

// ref: maskApi.c rleInit
void rle_init(Rle *r, uint32_t h, uint32_t w, size_t m, const uint32_t *cnts) {
    r->h = h;
    r->w = w;
    r->m = m;
    r->cnts = m ? xmalloc(sizeof(uint32_t) * m) : NULL;
    if (cnts && m) memcpy(r->cnts, cnts, sizeof(uint32_t) * m);
}

// Takes ownership of cnts.
static void rle_adopt(Rle *r, uint32_t h, uint32_t w, size_t m, uint32_t *cnts) {
    r->h = h;
    r->w = w;
    r->m = m;
    r->cnts = cnts;
    if (!m) {
        free(cnts);
        r->cnts = NULL;
    }
}

// ref: maskApi.c rleEncode. pycocotools walks the Fortran-order array; here the row-major
// mask is read column by column, which is the same sequence of pixels.
void rle_encode(Rle *r, const uint8_t *mask, uint32_t h, uint32_t w) {
    size_t a = (size_t)h * w, k = 0;
    uint32_t *cnts = xmalloc(sizeof(uint32_t) * (a + 1));
    uint32_t c = 0;
    uint8_t p = 0;
    for (uint32_t x = 0; x < w; x++)
        for (uint32_t y = 0; y < h; y++) {
            uint8_t v = mask[(size_t)y * w + x] != 0;
            if (v != p) {
                cnts[k++] = c;
                c = 0;
                p = v;
            }
            c++;
        }
    cnts[k++] = c;
    rle_init(r, h, w, k, cnts);
    free(cnts);
}

uint64_t rle_total(const Rle *r) {
    uint64_t s = 0;
    for (size_t j = 0; j < r->m; j++) s += r->cnts[j];
    return s;
}

// ref: maskApi.c rleDecode (with its boundary safeguard)
int rle_decode(const Rle *r, uint8_t *mask) {
    size_t h = r->h, w = r->w, s = h * w, c = 0;
    memset(mask, 0, s);
    uint8_t v = 0;
    for (size_t j = 0; j < r->m; j++) {
        size_t n = r->cnts[j];
        if (n > s - c) return -1;  // would cross the mask's end: invalid RLE
        if (v) {
            // Column-major index c..c+n-1 -> row-major (y, x), walking down each column.
            size_t x = c / h, y = c % h;
            for (size_t k = 0; k < n; k++) {
                mask[y * w + x] = 1;
                if (++y == h) {
                    y = 0;
                    x++;
                }
            }
        }
        c += n;
        v = !v;
    }
    return 0;
}

// ref: maskApi.c rleMerge. The output buffer is bounded by the input run counts instead of
// h * w + 1 (each step of the walk consumes a run boundary of A or B).
void rle_merge(const Rle *R, size_t n, Rle *M, int intersect) {
    if (n == 0) {
        rle_init(M, 0, 0, 0, NULL);
        return;
    }
    uint32_t h = R[0].h, w = R[0].w;
    size_t m = R[0].m;
    if (n == 1) {
        rle_init(M, h, w, m, R[0].cnts);
        return;
    }
    size_t cap = m + 1;
    uint32_t *cnts = xmalloc(sizeof(uint32_t) * cap);
    if (m) memcpy(cnts, R[0].cnts, sizeof(uint32_t) * m);
    for (size_t i = 1; i < n; i++) {
        Rle B = R[i];
        if (B.h != h || B.w != w) {
            h = w = 0;
            m = 0;
            break;
        }
        if (m == 0 || B.m == 0) {
            // pycocotools would read cnts[0] of an empty RLE; an empty operand only arises
            // for a 0-pixel mask, where the merge is empty too.
            m = 0;
            continue;
        }
        Rle A;
        rle_init(&A, h, w, m, cnts);
        if (A.m + B.m + 1 > cap) {
            cap = A.m + B.m + 1;
            cnts = xrealloc(cnts, sizeof(uint32_t) * cap);
        }
        uint32_t ca = A.cnts[0], cb = B.cnts[0], cc = 0, ct = 1, c;
        int v = 0, va = 0, vb = 0, vp;
        size_t a = 1, b = 1;
        m = 0;
        while (ct > 0) {
            c = umin(ca, cb);
            cc += c;
            ct = 0;
            ca -= c;
            if (!ca && a < A.m) {
                ca = A.cnts[a++];
                va = !va;
            }
            ct += ca;
            cb -= c;
            if (!cb && b < B.m) {
                cb = B.cnts[b++];
                vb = !vb;
            }
            ct += cb;
            vp = v;
            if (intersect) v = va && vb;
            else v = va || vb;
            if (v != vp || ct == 0) {
                cnts[m++] = cc;
                cc = 0;
            }
        }
        rle_free(&A);
    }
    rle_init(M, h, w, m, cnts);
    free(cnts);
}

// ref: maskApi.c rleArea
uint64_t rle_area(const Rle *r) {
    uint64_t a = 0;
    for (size_t j = 1; j < r->m; j += 2) a += r->cnts[j];
    return a;
}

// ref: maskApi.c rleToBbox
void rle_to_bbox(const Rle *R, double bb[4]) {
    uint32_t h = R->h, w = R->w, xs, ys, xe, ye, cc;
    size_t m = (R->m / 2) * 2;
    xs = w;
    ys = h;
    xe = ye = 0;
    cc = 0;
    if (m == 0 || h == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    for (size_t j = 0; j < m; j++) {
        uint32_t start = cc;
        cc += R->cnts[j];
        if (j % 2 == 0) continue;
        if (R->cnts[j] == 0) continue;
        uint32_t y_start = start % h, x_start = (start - y_start) / h;
        uint32_t y_end = (cc - 1) % h, x_end = (cc - 1 - y_end) / h;
        xs = umin(xs, x_start);
        xe = umax(xe, x_end);
        if (x_start < x_end) {
            ys = 0;
            ye = h - 1;
        } else {
            ys = umin(ys, y_start);
            ye = umax(ye, y_end);
        }
    }
    bb[0] = xs;
    bb[2] = (double)xe - xs + 1;
    bb[1] = ys;
    bb[3] = (double)ye - ys + 1;
}

// ref: maskApi.c bbIou for one pair
static double bb_iou(const double *D, const double *G, int crowd) {
    double ga = G[2] * G[3], da = D[2] * D[3];
    double w = fmin(D[2] + D[0], G[2] + G[0]) - fmax(D[0], G[0]);
    if (w <= 0) return 0;
    double h = fmin(D[3] + D[1], G[3] + G[1]) - fmax(D[1], G[1]);
    if (h <= 0) return 0;
    double i = w * h, u = crowd ? da : da + ga - i;
    return i / u;
}

// ref: maskApi.c rleIou for one (dt, gt) pair
double rle_iou(const Rle *dt, const Rle *gt, int crowd) {
    double db[4], gb[4];
    rle_to_bbox(dt, db);
    rle_to_bbox(gt, gb);
    double o = bb_iou(db, gb, crowd);
    if (!(o > 0)) return o;
    if (dt->h != gt->h || dt->w != gt->w) return -1;
    if (dt->m == 0 || gt->m == 0) return 0;
    size_t ka = dt->m, kb = gt->m, a = 1, b = 1;
    uint32_t c, ca = dt->cnts[0], cb = gt->cnts[0], ct = 1, i = 0, u = 0;
    int va = 0, vb = 0;
    while (ct > 0) {
        c = umin(ca, cb);
        if (va || vb) {
            u += c;
            if (va && vb) i += c;
        }
        ct = 0;
        ca -= c;
        if (!ca && a < ka) {
            ca = dt->cnts[a++];
            va = !va;
        }
        ct += ca;
        cb -= c;
        if (!cb && b < kb) {
            cb = gt->cnts[b++];
            vb = !vb;
        }
        ct += cb;
    }
    if (i == 0) u = 1;
    else if (crowd) u = (uint32_t)rle_area(dt);
    return (double)i / (double)u;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t c = *(const uint32_t *)a, d = *(const uint32_t *)b;
    return c > d ? 1 : c < d ? -1 : 0;
}

// ref: maskApi.c rleFrPoly. Same double arithmetic and int truncations (casts toward zero).
int rle_from_poly(Rle *R, const double *xy, size_t k, uint32_t h, uint32_t w) {
    memset(R, 0, sizeof *R);
    if (k < 1 || h == 0 || w == 0 || (uint64_t)h * w > RLE_MAX_PIXELS) return -1;
    for (size_t j = 0; j < 2 * k; j++)
        if (!isfinite(xy[j]) || fabs(xy[j]) > RLE_MAX_COORD) return -1;
    /* upsample and get discrete points densely along entire boundary */
    const double scale = 5;
    int *x = xmalloc(sizeof(int) * (k + 1)), *y = xmalloc(sizeof(int) * (k + 1));
    for (size_t j = 0; j < k; j++) x[j] = (int)(scale * xy[j * 2 + 0] + .5);
    x[k] = x[0];
    for (size_t j = 0; j < k; j++) y[j] = (int)(scale * xy[j * 2 + 1] + .5);
    y[k] = y[0];
    uint64_t walk = 0;
    for (size_t j = 0; j < k; j++)
        walk += umax((uint32_t)abs(x[j] - x[j + 1]), (uint32_t)abs(y[j] - y[j + 1])) + 1;
    if (walk > RLE_MAX_WALK) {
        free(x);
        free(y);
        return -1;
    }
    size_t m = 0;
    int *u = xmalloc(sizeof(int) * walk), *v = xmalloc(sizeof(int) * walk);
    for (size_t j = 0; j < k; j++) {
        int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1], dx, dy, t, d;
        int flip;
        double s;
        dx = abs(xe - xs);
        dy = abs(ys - ye);
        flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            t = xs, xs = xe, xe = t;
            t = ys, ys = ye, ye = t;
        }
        // A repeated vertex (dx = dy = 0) makes pycocotools divide 0 by 0 and convert the NaN
        // to int (undefined; INT_MIN on x86). That one point shares its x with both neighbours,
        // so the y-boundary pass never reads it: slope 0 gives the same mask without the UB.
        if (dx == 0 && dy == 0) s = 0;
        else s = dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
        if (dx >= dy)
            for (d = 0; d <= dx; d++) {
                t = flip ? dx - d : d;
                u[m] = t + xs;
                v[m] = (int)(ys + s * t + .5);
                m++;
            }
        else
            for (d = 0; d <= dy; d++) {
                t = flip ? dy - d : d;
                v[m] = t + ys;
                u[m] = (int)(xs + s * t + .5);
                m++;
            }
    }
    /* get points along y-boundary and downsample */
    free(x);
    free(y);
    k = m;
    m = 0;
    double xd, yd;
    x = xmalloc(sizeof(int) * (k ? k : 1));
    y = xmalloc(sizeof(int) * (k ? k : 1));
    for (size_t j = 1; j < k; j++)
        if (u[j] != u[j - 1]) {
            xd = (double)(u[j] < u[j - 1] ? u[j] : u[j] - 1);
            xd = (xd + .5) / scale - .5;
            if (floor(xd) != xd || xd < 0 || xd > (double)(w - 1)) continue;
            yd = (double)(v[j] < v[j - 1] ? v[j] : v[j - 1]);
            yd = (yd + .5) / scale - .5;
            if (yd < 0) yd = 0;
            else if (yd > h) yd = h;
            yd = ceil(yd);
            x[m] = (int)xd;
            y[m] = (int)yd;
            m++;
        }
    /* compute rle encoding given y-boundary points */
    k = m;
    uint32_t *a = xmalloc(sizeof(uint32_t) * (k + 1));
    for (size_t j = 0; j < k; j++) a[j] = (uint32_t)(x[j] * (int)h + y[j]);
    a[k++] = (uint32_t)((uint64_t)h * w);
    free(u);
    free(v);
    free(x);
    free(y);
    qsort(a, k, sizeof(uint32_t), cmp_u32);
    uint32_t p = 0;
    for (size_t j = 0; j < k; j++) {
        uint32_t t = a[j];
        a[j] -= p;
        p = t;
    }
    uint32_t *b = xmalloc(sizeof(uint32_t) * k);
    size_t j = 0;
    m = 0;
    b[m++] = a[j++];
    while (j < k)
        if (a[j] > 0) b[m++] = a[j++];
        else {
            j++;
            if (j < k) b[m - 1] += a[j++];
        }
    free(a);
    rle_adopt(R, h, w, m, b);
    return 0;
}

// ref: maskApi.c rleFrBbox
int rle_from_bbox(Rle *R, const double bb[4], uint32_t h, uint32_t w) {
    double xs = bb[0], xe = xs + bb[2];
    double ys = bb[1], ye = ys + bb[3];
    double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
    return rle_from_poly(R, xy, 4, h, w);
}

// ref: maskApi.c rleToString
char *rle_to_string(const Rle *R) {
    size_t p = 0;
    char *s = xmalloc(R->m * 7 + 1);  // 7 chars hold any 32-bit difference
    for (size_t i = 0; i < R->m; i++) {
        long long x = (long long)R->cnts[i];
        if (i > 2) x -= (long long)R->cnts[i - 2];
        int more = 1;
        while (more) {
            char c = (char)(x & 0x1f);
            x >>= 5;
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            c += 48;
            s[p++] = c;
        }
    }
    s[p] = 0;
    return s;
}

// ref: maskApi.c rleFrString. pycocotools shifts int values by 5*k bits, which is exact for
// numbers of up to 6 characters (30 bits) and undefined beyond; every count of a mask within
// RLE_MAX_PIXELS fits in 6 characters, so longer numbers are refused.
int rle_from_string(Rle *R, const char *s, uint32_t h, uint32_t w) {
    memset(R, 0, sizeof *R);
    size_t len = strlen(s), m = 0, p = 0;
    uint32_t *cnts = xmalloc(sizeof(uint32_t) * (len ? len : 1));
    while (s[p]) {
        long long x = 0;
        int k = 0, more = 1;
        while (more) {
            unsigned char ch = (unsigned char)s[p];
            if (ch < 48 || ch > 111 || k >= 6) {
                free(cnts);
                return -1;  // bad character, end inside a number, or number too long
            }
            int c = ch - 48;
            x |= (long long)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= -((long long)1 << (5 * k));
        }
        if (m > 2) x += (long long)cnts[m - 2];
        if (x < 0 || x > 0xFFFFFFFFll) {
            free(cnts);
            return -1;
        }
        cnts[m++] = (uint32_t)x;
    }
    rle_adopt(R, h, w, m, cnts);
    return 0;
}
