// LayerNorm over the last dimension (nn.LayerNorm, and LayerNorm2d on channels-last data).
#include <math.h>

#include "cpu_ops.h"

typedef struct {
    float *y;
    const float *x, *g, *b;
    int dim;
    float eps;
    Act act;
} LnArgs;

// ref: common.py LayerNorm2d.forward: u = mean(x), s = mean((x - u)^2), (x - u) / sqrt(s + eps).
// Statistics accumulate in double so the reference sits below float32 rounding.
static void ln_rows(void *ctx, int64_t r0, int64_t r1) {
    LnArgs *a = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * a->dim;
        float *y = a->y + r * a->dim;
        double sum = 0.0;
        for (int i = 0; i < a->dim; i++) sum += x[i];
        double mean = sum / a->dim, var = 0.0;
        for (int i = 0; i < a->dim; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= a->dim;
        float rstd = (float)(1.0 / sqrt(var + (double)a->eps));
        float m = (float)mean;
        for (int i = 0; i < a->dim; i++)
            y[i] = cpu_act((x[i] - m) * rstd * a->g[i] + a->b[i], a->act);
    }
}

void cpu_layernorm(Exec *x, void *y, const void *in, const void *g, const void *b, int64_t rows,
                   int dim, float eps, Act act) {
    LnArgs a = {y, in, g, b, dim, eps, act};
    cpu_parallel_for(rows, ln_rows, &a);
}
