// 2:4 magnitude pruning (prune.h states the rule and its ties).
#include "prune.h"

#include <stdio.h>
#include <string.h>

int prune24(float *W, int out, int in, char *err, size_t err_len) {
    if (in % 4 != 0) {
        snprintf(err, err_len, "2:4 pruning: the weight (%d x %d) has %d input columns, not a multiple of 4",
                 out, in, in);
        return -1;
    }
    // A float's magnitude orders as its bits without the sign, as unsigned integers (+-0 are
    // 0, infinity above every finite value, NaN above infinity: topk's order). Weight j ranks
    // below weight i when its key is smaller, or equal at a lower column; a weight is zeroed
    // when fewer than two rank below it. Branch-free, so the compiler vectorises it (vit_h
    // has 630 million encoder weights to prune at load).
    size_t groups = (size_t)out * in / 4;
    for (size_t g = 0; g < groups; g++) {
        uint32_t v[4];
        memcpy(v, W + 4 * g, sizeof v);
        uint32_t k0 = v[0] & 0x7fffffffu, k1 = v[1] & 0x7fffffffu, k2 = v[2] & 0x7fffffffu,
                 k3 = v[3] & 0x7fffffffu;
        uint32_t r0 = (k1 < k0) + (k2 < k0) + (k3 < k0);
        uint32_t r1 = (k0 <= k1) + (k2 < k1) + (k3 < k1);
        uint32_t r2 = (k0 <= k2) + (k1 <= k2) + (k3 < k2);
        uint32_t r3 = (k0 <= k3) + (k1 <= k3) + (k2 <= k3);
        v[0] = r0 < 2 ? 0u : v[0];
        v[1] = r1 < 2 ? 0u : v[1];
        v[2] = r2 < 2 ? 0u : v[2];
        v[3] = r3 < 2 ? 0u : v[3];
        memcpy(W + 4 * g, v, sizeof v);
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
