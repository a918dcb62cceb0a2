// A stand-in stage executable for the harness tests: it speaks harness/PROTOCOL.md well or
// badly depending on its name (sam-<name>), without any model, so the tests are fast.
//   cpu, fp32, bf16, good  correct output; batch times FAKE_MS (default 10) ms per image with
//                          FAKE_NOISE (default 0.03) relative Gaussian noise, times FAKE_SCALE
//   lossy                  correct protocol, top masks shifted (agreement ~0.8: gate flags it)
//   crash                  two batches, then SIGSEGV
//   hang                   hello, then sleeps forever ignoring SIGTERM (needs SIGKILL)
//   garbage                hello, then a line that is not JSON
//   oom                    "out of memory" on stderr, exit 1
//   badsum                 a summary whose img/s disagrees with its batch lines
//   nomasks                everything right except the masks file is never written
// FAKE_DEVICE sets the device name (default "Fake Device 1"); FAKE_SLEEP_MS makes each batch
// take that long in real time (for kill tests); FAKE_SHIFT_STAGE=<name> shifts that stage's
// masks like lossy (an accuracy regression between two runs).
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define H 24
#define W 32
#define ANNS_PER_IMAGE 3

static double env_num(const char *name, double def) {
    const char *v = getenv(name);
    return v && *v ? atof(v) : def;
}

// COCO compressed RLE (maskApi.c rleToString) of a row-major H x W mask.
static void rle_string(const uint8_t *m, char *out) {
    uint32_t cnts[H * W + 2];
    int n = 0;
    uint8_t cur = 0;
    uint32_t run = 0;
    for (int x = 0; x < W; x++)
        for (int y = 0; y < H; y++) {
            uint8_t v = m[y * W + x];
            if (v != cur) {
                cnts[n++] = run;
                run = 0;
                cur = v;
            }
            run++;
        }
    cnts[n++] = run;
    int p = 0;
    for (int i = 0; i < n; i++) {
        long x = cnts[i];
        if (i > 2) x -= (long)cnts[i - 2];
        int more = 1;
        while (more) {
            long c = x & 0x1f;
            x >>= 5;
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            // JSON needs the backslash (48 + 44) escaped.
            if (c + 48 == '\\') out[p++] = '\\';
            out[p++] = (char)(c + 48);
        }
    }
    out[p] = 0;
}

static double gauss(void) {
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    const char *name = strncmp(base, "sam-", 4) == 0 ? base + 4 : base;
    if (argc < 2 || strcmp(argv[1], "eval") != 0) {
        fprintf(stderr, "fake stage %s: only 'eval'\n", name);
        return 2;
    }
    int bs = 1, limit = 0;
    const char *masks = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch-size")) bs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--limit")) limit = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--masks-out")) masks = argv[i + 1];
    }
    int images = limit > 0 ? limit : 12;
    srand((unsigned)(getpid() ^ time(NULL)));
    const char *dev = getenv("FAKE_DEVICE");
    printf("{\"type\":\"hello\",\"protocol\":1,\"stage\":\"%s\",\"ops\":\"fake\",\"device\":"
           "{\"kind\":\"fake\",\"name\":\"%s\"},\"model\":{\"model\":\"fake\"},\"batch_size\":%d,"
           "\"images\":%d}\n", name, dev ? dev : "Fake Device 1", bs, images);
    fflush(stdout);
    if (!strcmp(name, "oom")) {
        fprintf(stderr, "sam: cudaMalloc(arena) failed: out of memory\n");
        return 1;
    }
    if (!strcmp(name, "garbage")) {
        printf("Segment Anything says hello, this is not JSON\n");
        fflush(stdout);
        sleep(30);  // the harness must not wait for it to end
        return 0;
    }
    if (!strcmp(name, "hang")) {
        signal(SIGTERM, SIG_IGN);
        for (;;) pause();
    }
    double ms_per_image = env_num("FAKE_MS", 10) * env_num("FAKE_SCALE", 1);
    double noise = env_num("FAKE_NOISE", 0.03);
    int full = images / bs;
    double total = 0;
    for (int b = 0; b < full; b++) {
        if (!strcmp(name, "crash") && b == 2) {
            fprintf(stderr, "fake: about to crash\n");
            raise(SIGSEGV);
        }
        double ms = bs * ms_per_image * (1 + noise * gauss());
        if (ms < 0.01) ms = 0.01;
        total += ms;
        double sleep_ms = env_num("FAKE_SLEEP_MS", 0);
        if (sleep_ms > 0) usleep((useconds_t)(sleep_ms * 1000));
        printf("{\"type\":\"batch\",\"index\":%d,\"images\":%d,\"prompts\":%d,\"ms\":%.17g}\n", b, bs,
               bs * ANNS_PER_IMAGE, ms);
        fflush(stdout);
    }
    int n_anns = images * ANNS_PER_IMAGE;
    double iou_sum = 0;
    FILE *f = masks && strcmp(name, "nomasks") ? fopen(masks, "w") : NULL;
    for (int a = 0; a < n_anns; a++) {
        uint8_t m[H * W] = {0};
        const char *shift_stage = getenv("FAKE_SHIFT_STAGE");
        int shift = !strcmp(name, "lossy") || (shift_stage && !strcmp(shift_stage, name)) ? 1 : 0;
        int x0 = a % 10 + shift, y0 = a % 7;
        for (int y = y0; y < y0 + 8; y++)
            for (int x = x0; x < x0 + 10; x++) m[y * W + x] = 1;
        char rle[4 * H * W];
        rle_string(m, rle);
        double iou = 0.5 + 0.01 * (a % 10);
        iou_sum += iou;
        if (f)
            fprintf(f, "{\"ann_id\":%d,\"image_id\":%d,\"category_id\":%d,\"iou\":%.17g,\"score\":0.9,"
                       "\"size\":[%d,%d],\"counts\":\"%s\"}\n", 1000 + a, a / ANNS_PER_IMAGE, 1 + a % 3,
                    iou, H, W, rle);
    }
    if (f) fclose(f);
    double img_s = total > 0 ? full * bs / total * 1000 : 0;
    if (!strcmp(name, "badsum")) img_s *= 2;
    printf("{\"type\":\"summary\",\"images_timed\":%d,\"batches_timed\":%d,\"total_ms\":%.17g,"
           "\"img_s\":%.17g,\"batch_ms_median\":0,\"batch_ms_min\":0,\"batch_ms_max\":0,"
           "\"batch_ms_noise\":0,\"peak_bytes\":%d,\"first_mask_ms\":12.5,\"miou\":%.17g,"
           "\"annotations\":%d,\"images_skipped\":0,\"images_untimed\":%d}\n",
           full * bs, full, total, img_s, 1048576 * (100 + 10 * bs), iou_sum / n_anns, n_anns,
           images - full * bs);
    printf("{\"type\":\"status\",\"ok\":true}\n");
    return 0;
}
