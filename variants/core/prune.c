// 2:4 magnitude pruning (prune.h states the rule and its ties).
#include "prune.h"

#include <math.h>
#include <stdio.h>

// a ranks below b: smaller magnitude, or the same magnitude at a lower column. NaN ranks above
// every number (and NaNs among themselves by column).
static int ranks_below(float a, int ia, float b, int ib) {
    int na = isnan(a), nb = isnan(b);
    if (na != nb) return nb;
    if (!na) {
        float ma = fabsf(a), mb = fabsf(b);
        if (ma != mb) return ma < mb;
    }
    return ia < ib;
}

int prune24(float *W, int out, int in, char *err, size_t err_len) {
    if (in % 4 != 0) {
        snprintf(err, err_len, "2:4 pruning: the weight (%d x %d) has %d input columns, not a multiple of 4",
                 out, in, in);
        return -1;
    }
    for (int64_t r = 0; r < out; r++)
        for (int c = 0; c < in; c += 4) {
            float *g = W + r * in + c;
            // The two lowest-ranked of the four (a strict order, so exactly two): a weight's rank
            // is the number of the others ranking below it.
            int rank[4] = {0, 0, 0, 0};
            for (int i = 0; i < 4; i++)
                for (int j = i + 1; j < 4; j++) rank[ranks_below(g[j], j, g[i], i) ? i : j]++;
            for (int i = 0; i < 4; i++)
                if (rank[i] < 2) g[i] = 0.0f;
        }
    return 0;
}

int64_t prune24_violations(const float *W, int out, int in, int *first_row, int *first_col) {
    int64_t bad = 0;
    for (int64_t r = 0; r < out; r++)
        for (int c = 0; c + 3 < in; c += 4) {
            const float *g = W + r * in + c;
            int nz = (g[0] != 0.0f) + (g[1] != 0.0f) + (g[2] != 0.0f) + (g[3] != 0.0f);
            if (nz > 2) {
                if (bad == 0 && first_row) *first_row = (int)r;
                if (bad == 0 && first_col) *first_col = c;
                bad++;
            }
        }
    return bad;
}
