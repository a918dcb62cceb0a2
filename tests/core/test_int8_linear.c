// The CPU int8 linear format (kernels/cpu/int8_linear.c, the rules of kernels/int8_rules.h) on
// hand-made cases whose answers are worked out here: the scale, round half to even, the clamp
// to [-127, 127], exact int32 sums, the dequantisation order, GELU and the residual (in place),
// and the fault cases: activations all zero (scale 0, output = bias, nothing non-finite) and a
// weight row of zeros.
//
//   test_int8_linear                    the checks above
//   test_int8_linear --dump DIR CKPT    the oracle's inputs (tests/core/test_int8_oracle.sh): for
//       every encoder linear of the checkpoint, deterministic activations (50 rows, one of them
//       zero) through the CPU format, written to DIR as <layer>.{x,y,xs,ws}.npy (float32),
//       <layer>.{xq,wq}.npy (int8 as |u1) and <layer>.acc.i32 (raw little-endian int32).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "../../kernels/int8_rules.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/exec.h"
#include "common/check.h"
#include "common/npy.h"
#include "../test_util.h"

static Exec X;

static void test_rules(void) {
    // max 127: scale 1, so each quotient is the value itself; .5 goes to the even neighbour.
    const float row[] = {127.0f, 2.5f, -2.5f, 3.5f, -0.5f, 0.5f, 1.5f, 126.5f, -63.5f};
    const int8_t want[] = {127, 2, -2, 4, 0, 0, 2, 126, -64};
    int n = (int)(sizeof row / sizeof row[0]);
    int8_t q[16];
    float s;
    cpu_int8_quantize_rows(q, &s, row, 1, n);
    report(s == 1.0f && memcmp(q, want, (size_t)n) == 0,
           "quantise: scale max/127 = 1, round half to even (2.5 -> 2, 3.5 -> 4, -63.5 -> -64)");

    const float row2[] = {-254.0f, 100.0f, 1.0f, 3.0f};  // scale 2: -127, 50, 0 (0.5), 2 (1.5)
    const int8_t want2[] = {-127, 50, 0, 2};
    cpu_int8_quantize_rows(q, &s, row2, 1, 4);
    report(s == 2.0f && memcmp(q, want2, 4) == 0, "quantise: negative maximum maps to -127, never -128");

    // A quotient past 127 (only a scale other than max/127 gives one) is clamped.
    report(int8_quantize(300.0f, 1.0f) == 127 && int8_quantize(-300.0f, 1.0f) == -127 &&
               int8_quantize(-127.5f, 1.0f) == -127,
           "quantise: clamp to [-127, 127]");

    const float zeros[8] = {0};
    memset(q, 7, sizeof q);
    cpu_int8_quantize_rows(q, &s, zeros, 1, 8);
    int ok = s == 0.0f;
    for (int i = 0; i < 8; i++) ok &= q[i] == 0;
    report(ok, "quantise: an all-zero row has scale 0 and int8 zeros (no division by zero)");

    // A scale computed in float32: max|x| / 127 rounded once.
    const float row3[] = {0.1f, -0.3f, 0.2f};
    cpu_int8_quantize_rows(q, &s, row3, 1, 3);
    // 0.1 / (0.3 / 127) = 42.33 and 0.2 / (0.3 / 127) = 84.67, worked out by hand
    report(s == 0.3f / 127.0f && q[1] == -127 && q[0] == 42 && q[2] == 85,
           "quantise: scale = 0.3f / 127.0f, q = (42, -127, 85)");
}

static void test_products(void) {
    const int8_t a[] = {1, 2, 3, -127, 127, -127};
    const int8_t b[] = {127, -1, 0, 127, 127, 127};
    int32_t c;
    cpu_int8_products(&c, a, b, 1, 1, 6);
    report(c == 127 - 2 + 0 - 16129 + 16129 - 16129, "int32 products: small dot product exact (%d)", c);

    // The largest magnitudes at K = 5120 (vit_h lin2): 127 * 127 * 5120 = 82,580,480 < 2^31.
    enum { K = 5120 };
    static int8_t pa[K], pb[K], na[K];
    for (int i = 0; i < K; i++) pa[i] = 127, pb[i] = 127, na[i] = -127;
    int32_t c2[2];
    int8_t two[2 * K];
    memcpy(two, pa, K);
    memcpy(two + K, na, K);
    cpu_int8_products(c2, two, pb, 2, 1, K);
    report(c2[0] == 82580480 && c2[1] == -82580480, "int32 products: K = 5120 at full scale exact");

    // (2, 3) x (2, 3)^T with every sign combination.
    const int8_t A[] = {1, -2, 3, -4, 5, -6};
    const int8_t B[] = {7, 8, -9, -10, 11, 12};
    int32_t C[4];
    cpu_int8_products(C, A, B, 2, 2, 3);
    report(C[0] == 7 - 16 - 27 && C[1] == -10 - 22 + 36 && C[2] == -28 + 40 + 54 && C[3] == 40 + 55 - 72,
           "int32 products: row-major (m, k) x (n, k)^T");
}

// W (2, 4): row 0 has max 1 (scale 1/127: q 127, -64 (-63.5, half to even), 32, 0), row 1 is
// zero. x: max 127 (scale 1: q 127, 64 (63.5 -> 64), -2, 0). Products: row 0 = 127*127 -
// 64*64 - 2*32 = 11969; row 1 = 0.
static void test_layer(void) {
    const float W[] = {1.0f, -0.5f, 0.25f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    const float b[] = {0.75f, -1.25f};
    const float x[] = {127.0f, 63.5f, -2.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};  // row 1 all zero
    LinearWeight *w = linear_prepare(&cpu_linear_int8, &X, W, b, 2, 4);
    const int8_t *wq;
    const float *ws;
    cpu_int8_weights(w, &wq, &ws);
    const int8_t wq_want[] = {127, -64, 32, 0, 0, 0, 0, 0};
    report(memcmp(wq, wq_want, 8) == 0 && ws[0] == 1.0f / 127.0f && ws[1] == 0.0f,
           "weights: per output channel, the zero row has scale 0 and int8 zeros");

    float y[4];
    cpu_linear_int8.run(&X, y, x, w, 2, ACT_NONE, NULL);
    float y00 = (float)11969 * 1.0f * (1.0f / 127.0f) + 0.75f;  // the dequantisation order
    report(y[0] == y00 && fabsf(y[0] - (11969.0f / 127.0f + 0.75f)) < 1e-4f,
           "layer: float(acc) * x_scale * w_scale + bias (%.6f)", y[0]);
    report(y[1] == b[1] && y[2] == b[0] && y[3] == b[1],
           "layer: a zero weight row and an all-zero activation row give exactly the bias");
    int finite = 1;
    for (int i = 0; i < 4; i++) finite &= isfinite(y[i]);
    report(finite, "layer: nothing non-finite with zero scales");

    float g[4];
    cpu_linear_int8.run(&X, g, x, w, 2, ACT_GELU, NULL);
    report(g[0] == cpu_gelu(y00) && g[1] == cpu_gelu(b[1]) && g[2] == cpu_gelu(b[0]),
           "layer: GELU after the bias");

    float r[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    cpu_linear_int8.run(&X, r, x, w, 2, ACT_NONE, r);  // in place, as proj and lin2
    report(r[0] == y00 + 1.0f && r[1] == b[1] + 2.0f && r[2] == b[0] + 3.0f && r[3] == b[1] + 4.0f,
           "layer: residual added in place (residual == output)");
    cpu_linear_int8.release(&X, w);

    // A whole layer of zero activations: output = bias everywhere.
    enum { R = 5, O = 3, I = 16 };
    float Wr[O * I], br[O] = {0.5f, -0.25f, 2.0f}, xz[R * I], yz[R * O];
    for (int i = 0; i < O * I; i++) Wr[i] = (float)((i * 37) % 11 - 5) / 7.0f;
    memset(xz, 0, sizeof xz);
    w = linear_prepare(&cpu_linear_int8, &X, Wr, br, O, I);
    cpu_linear_int8.run(&X, yz, xz, w, R, ACT_NONE, NULL);
    int ok = 1;
    for (int r2 = 0; r2 < R; r2++)
        for (int o = 0; o < O; o++) ok &= yz[r2 * O + o] == br[o];
    report(ok, "fault: a layer whose activations are all zero outputs its bias, no NaN");
    cpu_linear_int8.release(&X, w);

    // No bias: the zero cases give exact zeros.
    w = linear_prepare(&cpu_linear_int8, &X, Wr, NULL, O, I);
    cpu_linear_int8.run(&X, yz, xz, w, R, ACT_GELU, NULL);
    ok = 1;
    for (int i = 0; i < R * O; i++) ok &= yz[i] == 0.0f && !signbit(yz[i]);
    report(ok, "fault: zero activations without a bias give +0 (GELU(0) = 0)");
    cpu_linear_int8.release(&X, w);
}

static void write_npy(const char *dir, const char *layer, const char *what, const char *dtype,
                      int64_t r, int64_t c, const void *data) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.npy", dir, layer, what);
    int64_t shape[2] = {r, c};
    if (npy_write(path, dtype, 2, shape, data) != 0) die("cannot write %s", path);
}

static int dump(const char *dir, const char *ckpt) {
    TensorMap tm;
    char err[512];
    if (checkpoint_read(ckpt, &tm, err, sizeof err) != 0) die("%s", err);
    static const char *layers[4] = {"attn.qkv", "attn.proj", "mlp.lin1", "mlp.lin2"};
    uint64_t state = 0x0dd5eed;
    int n = 0;
    for (int blk = 0;; blk++) {
        char name[256];
        snprintf(name, sizeof name, "image_encoder.blocks.%d.attn.qkv.weight", blk);
        if (!tmap_find(&tm, name)) break;
        for (int l = 0; l < 4; l++) {
            snprintf(name, sizeof name, "image_encoder.blocks.%d.%s.weight", blk, layers[l]);
            const HostTensor *W = tmap_find(&tm, name);
            snprintf(name, sizeof name, "image_encoder.blocks.%d.%s.bias", blk, layers[l]);
            const HostTensor *B = tmap_find(&tm, name);
            if (!W || !B || W->ndim != 2) die("%s: no 2-D weight and bias", name);
            int out = (int)W->shape[0], in = (int)W->shape[1], rows = 50;
            float *x = xmalloc((size_t)rows * in * sizeof(float));
            for (int64_t i = 0; i < (int64_t)rows * in; i++) {  // splitmix64, roughly +-4
                uint64_t z = (state += 0x9e3779b97f4a7c15ull);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                z ^= z >> 31;
                x[i] = (float)((double)(z >> 11) / 9007199254740992.0 * 8.0 - 4.0);
            }
            memset(x + (size_t)7 * in, 0, (size_t)in * sizeof(float));  // row 7: all zero
            LinearWeight *w = linear_prepare(&cpu_linear_int8, &X, W->data, B->data, out, in);
            float *y = xmalloc((size_t)rows * out * sizeof(float));
            cpu_linear_int8.run(&X, y, x, w, rows, l == 2 ? ACT_GELU : ACT_NONE, NULL);
            int8_t *xq = xmalloc((size_t)rows * in);
            float *xs = xmalloc((size_t)rows * sizeof(float));
            int32_t *acc = xmalloc((size_t)rows * out * sizeof(int32_t));
            const int8_t *wq;
            const float *ws;
            cpu_int8_weights(w, &wq, &ws);
            cpu_int8_quantize_rows(xq, xs, x, rows, in);
            cpu_int8_products(acc, xq, wq, rows, out, in);
            char layer[64];
            snprintf(layer, sizeof layer, "blocks.%d.%s", blk, layers[l]);
            write_npy(dir, layer, "x", "<f4", rows, in, x);
            write_npy(dir, layer, "y", "<f4", rows, out, y);
            write_npy(dir, layer, "xq", "|u1", rows, in, xq);
            write_npy(dir, layer, "xs", "<f4", rows, 1, xs);
            write_npy(dir, layer, "wq", "|u1", out, in, wq);
            write_npy(dir, layer, "ws", "<f4", out, 1, ws);
            char path[1024];
            snprintf(path, sizeof path, "%s/%s.acc.i32", dir, layer);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(acc, sizeof(int32_t), (size_t)rows * out, f) != (size_t)rows * out || fclose(f))
                die("cannot write %s", path);
            cpu_linear_int8.release(&X, w);
            free(x), free(y), free(xq), free(xs), free(acc);
            n++;
        }
    }
    tmap_free(&tm);
    printf("dumped %d encoder linears of %s to %s\n", n, ckpt, dir);
    return n > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    exec_init(&X, cpu_ops(), NULL);
    if (argc == 4 && strcmp(argv[1], "--dump") == 0) return dump(argv[2], argv[3]);
    test_rules();
    test_products();
    test_layer();
    return test_exit_status();
}
