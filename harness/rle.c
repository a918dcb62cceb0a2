#include "rle.h"

#include <string.h>

#include "util.h"

int wf_rle_decode(const char *s, long long h, long long w, uint32_t **counts) {
    size_t len = strlen(s);
    uint32_t *c = xmalloc(sizeof(uint32_t) * (len + 1));
    int m = 0;
    size_t p = 0;
    long long total = 0;
    while (p < len) {
        long long x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len || k > 12) {  // ran off the end, or a value too long for 64 bits
                free(c);
                return -1;
            }
            int ch = (unsigned char)s[p] - 48;
            if (ch < 0 || ch > 63) {
                free(c);
                return -1;
            }
            x |= (long long)(ch & 0x1f) << (5 * k);
            more = ch & 0x20;
            p++;
            k++;
            if (!more && (ch & 0x10)) x |= (long long)(~0ULL << (5 * k));
        }
        if (m > 2) x += c[m - 2];
        if (x < 0 || x > 0xffffffffLL) {
            free(c);
            return -1;
        }
        c[m++] = (uint32_t)x;
        total += x;
    }
    if (total != h * w) {
        free(c);
        return -1;
    }
    *counts = c;
    return m;
}

void wf_rle_inter_union(const uint32_t *a, int na, const uint32_t *b, int nb, long long *inter,
                     long long *uni) {
    // Walk both run lists at once; run i is foreground when i is odd.
    long long i_sum = 0, area_a = 0, area_b = 0;
    for (int i = 1; i < na; i += 2) area_a += a[i];
    for (int i = 1; i < nb; i += 2) area_b += b[i];
    int ia = 0, ib = 0;
    long long left_a = na ? a[0] : 0, left_b = nb ? b[0] : 0;
    while (ia < na && ib < nb) {
        long long step = left_a < left_b ? left_a : left_b;
        if ((ia & 1) && (ib & 1)) i_sum += step;
        left_a -= step;
        left_b -= step;
        while (left_a == 0 && ++ia < na) left_a = a[ia];
        while (left_b == 0 && ++ib < nb) left_b = b[ib];
    }
    *inter = i_sum;
    *uni = area_a + area_b - i_sum;
}

double wf_rle_iou_str(const char *a, const char *b, long long h, long long w) {
    uint32_t *ca, *cb;
    int na = wf_rle_decode(a, h, w, &ca);
    if (na < 0) return -1;
    int nb = wf_rle_decode(b, h, w, &cb);
    if (nb < 0) {
        free(ca);
        return -1;
    }
    long long inter, uni;
    wf_rle_inter_union(ca, na, cb, nb, &inter, &uni);
    free(ca);
    free(cb);
    return uni == 0 ? 1.0 : (double)inter / (double)uni;
}
