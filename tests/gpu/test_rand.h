// Random inputs for the GPU op tests: splitmix64 uniforms from the including test's seed (its
// `static uint64_t rng = SEED;`, printed so a failure can be replayed with SAM_TEST_SEED) and
// the host's bfloat16 rounding, the same as the GPU conversion.
#ifndef SAM_TEST_RAND_H
#define SAM_TEST_RAND_H

#include <stdint.h>
#include <string.h>

#include "common/check.h"

static uint64_t rng;  // defined with its seed by the includer

static inline double urand(void) {  // splitmix64 -> [0, 1)
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static inline float bf16_round(float f) {  // round to nearest even, as the GPU conversion
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

// n bfloat16-exact values uniform in [lo, hi), never zero (a zero hides unwritten outputs).
static inline float *rnd_bf16(int64_t n, double lo, double hi) {
    float *p = xmalloc((size_t)n * sizeof(float) + 4);
    for (int64_t i = 0; i < n; i++) {
        float v;
        do v = bf16_round((float)(lo + (hi - lo) * urand()));
        while (v == 0.0f);
        p[i] = v;
    }
    return p;
}

#endif
