#include "stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double stats_median(double *v, int n) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Summary stats_summary(const double *v, int n) {
    Summary s = {NAN, NAN, NAN, NAN, NAN};
    if (n <= 0) return s;
    double *c = xmalloc(sizeof(double) * (size_t)n);
    memcpy(c, v, sizeof(double) * (size_t)n);
    s.median = stats_median(c, n);
    s.min = c[0];
    s.max = c[n - 1];
    free(c);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    s.mean = sum / n;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (v[i] - s.mean) * (v[i] - s.mean);
    // Sample standard deviation; one batch has no spread to speak of.
    s.noise = n > 1 ? sqrt(ss / (n - 1)) / s.mean : 0;
    return s;
}

const char *verdict_name(Verdict v) {
    switch (v) {
    case V_SAME: return "SAME";
    case V_FASTER: return "FASTER";
    case V_SLOWER: return "SLOWER";
    default: return "UNCLEAR";
    }
}

// xorshift64*: a fixed, portable generator so a comparison prints the same CI every time.
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double resample_median(const double *v, int n, double *tmp, uint64_t *rng) {
    for (int i = 0; i < n; i++) tmp[i] = v[rng_next(rng) % (uint64_t)n];
    return stats_median(tmp, n);
}

// Two-sided Mann-Whitney U test, normal approximation with tie correction.
static double mann_whitney_p(const double *a, int na, const double *b, int nb) {
    int n = na + nb;
    typedef struct { double v; int from_a; } Item;
    Item *it = xmalloc(sizeof(Item) * (size_t)n);
    for (int i = 0; i < na; i++) it[i] = (Item){a[i], 1};
    for (int i = 0; i < nb; i++) it[na + i] = (Item){b[i], 0};
    // Insertion sort is fine for per-batch samples (hundreds at most) and keeps this local.
    for (int i = 1; i < n; i++) {
        Item x = it[i];
        int j = i - 1;
        while (j >= 0 && it[j].v > x.v) {
            it[j + 1] = it[j];
            j--;
        }
        it[j + 1] = x;
    }
    double rank_a = 0, tie_term = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && it[j].v == it[i].v) j++;
        double r = 0.5 * (i + 1 + j);  // average rank of the tie group
        for (int k = i; k < j; k++)
            if (it[k].from_a) rank_a += r;
        double t = j - i;
        tie_term += t * t * t - t;
        i = j;
    }
    free(it);
    double u = rank_a - na * (na + 1) / 2.0;
    double mu = na * (double)nb / 2.0;
    double var = na * (double)nb / 12.0 * ((n + 1) - tie_term / ((double)n * (n - 1)));
    if (var <= 0) return 1.0;
    double z = (fabs(u - mu) - 0.5) / sqrt(var);  // continuity correction
    if (z < 0) z = 0;
    return erfc(z / sqrt(2.0));
}

static Verdict decide(CompareResult *r, double min_effect, double alpha) {
    double up = 1 + min_effect, down = 1 / (1 + min_effect);
    if (r->lo > up && r->p_value < alpha) return V_SLOWER;
    if (r->hi < down && r->p_value < alpha) return V_FASTER;
    if (r->lo >= down && r->hi <= up) return V_SAME;
    r->why = "confidence interval crosses the minimum effect";
    return V_UNCLEAR;
}

// Two-sided Wilcoxon signed-rank test, normal approximation, zeros dropped, tie-corrected.
static double wilcoxon_p(const double *d, int n) {
    typedef struct { double abs; int pos; } Item;
    Item *it = xmalloc(sizeof(Item) * (size_t)(n + 1));
    int m = 0;
    for (int i = 0; i < n; i++)
        if (d[i] != 0) it[m++] = (Item){fabs(d[i]), d[i] > 0};
    for (int i = 1; i < m; i++) {
        Item x = it[i];
        int j = i - 1;
        while (j >= 0 && it[j].abs > x.abs) {
            it[j + 1] = it[j];
            j--;
        }
        it[j + 1] = x;
    }
    double w_plus = 0, tie_term = 0;
    for (int i = 0; i < m;) {
        int j = i;
        while (j < m && it[j].abs == it[i].abs) j++;
        double r = 0.5 * (i + 1 + j);
        for (int k = i; k < j; k++)
            if (it[k].pos) w_plus += r;
        double t = j - i;
        tie_term += t * t * t - t;
        i = j;
    }
    free(it);
    if (m == 0) return 1.0;
    double mu = m * (m + 1) / 4.0;
    double var = m * (m + 1) * (2.0 * m + 1) / 24.0 - tie_term / 48.0;
    if (var <= 0) return 1.0;
    double z = (fabs(w_plus - mu) - 0.5) / sqrt(var);
    if (z < 0) z = 0;
    return erfc(z / sqrt(2.0));
}

CompareResult stats_compare_paired(const double *a, const double *b, int n, double min_effect,
                                   double conf, int reps, int min_n) {
    CompareResult r = {NAN, NAN, NAN, NAN, V_UNCLEAR, NULL};
    if (n <= 0) {
        r.why = "too few batches";
        return r;
    }
    double *d = xmalloc(sizeof(double) * (size_t)n), *tmp = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) d[i] = log(b[i] / a[i]);
    memcpy(tmp, d, sizeof(double) * (size_t)n);
    r.ratio = exp(stats_median(tmp, n));
    if (n < min_n) {
        r.why = "too few batches";
        free(d);
        free(tmp);
        return r;
    }
    double *meds = xmalloc(sizeof(double) * (size_t)reps);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int k = 0; k < reps; k++) meds[k] = resample_median(d, n, tmp, &rng);
    qsort(meds, (size_t)reps, sizeof(double), cmp_double);
    double alpha = 1 - conf;
    r.lo = exp(meds[(int)floor(alpha / 2 * (reps - 1))]);
    r.hi = exp(meds[(int)ceil((1 - alpha / 2) * (reps - 1))]);
    r.p_value = wilcoxon_p(d, n);
    r.verdict = decide(&r, min_effect, alpha);
    free(meds);
    free(d);
    free(tmp);
    return r;
}

CompareResult stats_compare(const double *a, int na, const double *b, int nb, double min_effect,
                            double conf, int reps, int min_n) {
    CompareResult r = {NAN, NAN, NAN, NAN, V_UNCLEAR, NULL};
    if (na < min_n || nb < min_n) {
        r.why = "too few batches";
        if (na > 0 && nb > 0) {
            double *c = xmalloc(sizeof(double) * (size_t)(na > nb ? na : nb));
            memcpy(c, a, sizeof(double) * (size_t)na);
            double ma = stats_median(c, na);
            memcpy(c, b, sizeof(double) * (size_t)nb);
            r.ratio = stats_median(c, nb) / ma;
            free(c);
        }
        return r;
    }
    double *tmp = xmalloc(sizeof(double) * (size_t)(na > nb ? na : nb));
    double *ratios = xmalloc(sizeof(double) * (size_t)reps);
    memcpy(tmp, a, sizeof(double) * (size_t)na);
    double ma = stats_median(tmp, na);
    memcpy(tmp, b, sizeof(double) * (size_t)nb);
    double mb = stats_median(tmp, nb);
    r.ratio = mb / ma;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < reps; i++) {
        double ra = resample_median(a, na, tmp, &rng);
        double rb = resample_median(b, nb, tmp, &rng);
        ratios[i] = rb / ra;
    }
    qsort(ratios, (size_t)reps, sizeof(double), cmp_double);
    double alpha = 1 - conf;
    int lo_i = (int)floor(alpha / 2 * (reps - 1)), hi_i = (int)ceil((1 - alpha / 2) * (reps - 1));
    r.lo = ratios[lo_i];
    r.hi = ratios[hi_i];
    free(ratios);
    free(tmp);
    r.p_value = mann_whitney_p(a, na, b, nb);
    r.verdict = decide(&r, min_effect, alpha);
    return r;
}
