// A stand-in stage executable for the harness tests: it speaks harness/PROTOCOL.md well or
// badly depending on its name (sam-<name>), without any model, so the tests are fast.
//   cpu, fp32, bf16, fused, sdpa, relpos, nested, int8, sparse, good
//                          correct output; batch times FAKE_MS (default 10) ms per image with
//                          FAKE_NOISE (default 0.03) relative Gaussian noise, times FAKE_SCALE
//   lossy                  correct protocol, top masks shifted (agreement ~0.82: gate flags it)
//   flip                   picks mask 1 instead of mask 2 for every 10th annotation: top-mask
//                          agreement under 1, same-index agreement exactly 1
//   crash                  two batches, then SIGSEGV
//   hang                   hello, then sleeps forever ignoring SIGTERM (needs SIGKILL)
//   garbage                hello, then a line that is not JSON
//   oom                    "out of memory" on stderr, exit 1
//   badsum                 a summary whose img/s disagrees with its batch lines
//   nomasks                everything right except the masks file is never written
//   nostageinfo            a hello without stage_info (refused by the harness)
// Every stage's hello carries stage_info (the waterfall of design.md section 2; other names
// are a bf16 stage after fp32); FAKE_PRECISION overrides its precision choice.
// eval's --min-batches N --max-passes P --target-noise X are emulated: timed passes over the
// subset go on while (batches < N, or noise > X with batches < 4 N) and passes < P; masks come
// from pass 0 only. The values received are echoed in hello's "timing" (the harness ignores it).
// Each masks-file line has three masks (rectangles growing with the index), mask 2 on top.
// FAKE_DEVICE sets the device name (default "Fake Device 1"); FAKE_SLEEP_MS makes each batch
// take that long in real time (for kill tests); FAKE_SHIFT_STAGE=<name> shifts that stage's
// masks like lossy (an accuracy regression between two runs), only for checkpoints ending in
// ":FAKE_SHIFT_SEED" when that is set, and only every FAKE_SHIFT_EVERY-th annotation when
// that is set; FAKE_LAUNCHES=n reports n launches and 2n kernels per batch; FAKE_NO_MASKS=1
// leaves out the masks-file lines' "masks" array. FAKE_SEED=s makes the noise a function of s,
// the stage, batch size and checkpoint (a test that asserts a verdict then gets the same batch
// times on every run); without it each process draws its own.
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
#define N_MASKS 3

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

// The waterfall of design.md section 2 as stage_info: each stage the one before with one
// choice changed.
typedef struct {
    const char *name, *after, *adds, *device, *precision, *graphs, *fusion, *attention, *decoding, *linear;
} Info;
static const Info INFOS[] = {
    {"cpu", NULL, "float32 reference on the CPU", "cpu", "fp32", "off", "off", "explicit", "per-image", "dense"},
    {"fp32", NULL, "GPU float32 baseline", "cuda", "fp32", "off", "off", "explicit", "per-image", "dense"},
    {"bf16", "fp32", "bfloat16 weights and activations", "cuda", "bf16", "off", "off", "explicit", "per-image", "dense"},
    {"fused", "bf16", "fused kernels and CUDA Graphs", "cuda", "bf16", "on", "on", "explicit", "per-image", "dense"},
    {"sdpa", "fused", "cuDNN flash attention", "cuda", "bf16", "on", "on", "cudnn", "per-image", "dense"},
    {"relpos", "fused", "flash attention with rel-pos inside", "cuda", "bf16", "on", "on", "relpos", "per-image", "dense"},
    {"nested", "relpos", "ragged decoding", "cuda", "bf16", "on", "on", "relpos", "ragged", "dense"},
    {"int8", "nested", "int8 encoder linears", "cuda", "bf16", "on", "on", "relpos", "ragged", "int8"},
    {"sparse", "nested", "2:4 sparse encoder linears", "cuda", "bf16", "on", "on", "relpos", "ragged", "sparse24"},
};

static void print_stage_info(const char *name) {
    Info other = {name, "fp32", "a test stage", "cuda", "bf16", "off", "off", "explicit", "per-image", "dense"};
    const Info *in = &other;
    for (size_t i = 0; i < sizeof INFOS / sizeof INFOS[0]; i++)
        if (!strcmp(INFOS[i].name, name)) in = &INFOS[i];
    const char *prec = getenv("FAKE_PRECISION");
    char after[64];
    if (in->after) snprintf(after, sizeof after, "\"%s\"", in->after);
    else snprintf(after, sizeof after, "null");
    printf(",\"stage_info\":{\"name\":\"%s\",\"after\":%s,\"adds\":\"%s\",\"choices\":{\"device\":\"%s\","
           "\"precision\":\"%s\",\"graphs\":\"%s\",\"fusion\":\"%s\",\"attention\":\"%s\",\"decoding\":\"%s\","
           "\"linear\":\"%s\",\"prune\":\"%s\"}", in->name, after, in->adds, in->device, prec && *prec ? prec : in->precision,
           in->graphs, in->fusion, in->attention, in->decoding, in->linear,
           strcmp(in->linear, "sparse24") == 0 ? "2:4" : "none");  // as the stages say (sparse prunes)
    // FAKE_BUILD: the commit the stage says it was built from (none without it, as older stages)
    const char *build = getenv("FAKE_BUILD");
    if (build) printf(",\"build\":\"%s\"", build);
    printf("}");
}

// Relative sample standard deviation.
static double noise_of(const double *v, int n) {
    if (n < 2) return 0;
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    return sqrt(ss / (n - 1)) / mean;
}

// The mask of index k of annotation a: a rectangle of (8 + 2k) x (10 + 2k) at a place that
// depends on the annotation, moved one pixel right when shifted.
static void make_mask(uint8_t *m, int a, int k, int shift) {
    memset(m, 0, H * W);
    int x0 = a % 10 + shift, y0 = a % 7;
    for (int y = y0; y < y0 + 8 + 2 * k && y < H; y++)
        for (int x = x0; x < x0 + 10 + 2 * k && x < W; x++) m[y * W + x] = 1;
}

int main(int argc, char **argv) {
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    const char *name = strncmp(base, "sam-", 4) == 0 ? base + 4 : base;
    if (argc < 2 || strcmp(argv[1], "eval") != 0) {
        fprintf(stderr, "fake stage %s: only 'eval'\n", name);
        return 2;
    }
    int bs = 1, limit = 0, min_batches = -1, max_passes = -1;
    double target_noise = -1;
    const char *masks = NULL, *ckpt = "";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch-size")) bs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--limit")) limit = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--masks-out")) masks = argv[i + 1];
        else if (!strcmp(argv[i], "--checkpoint")) ckpt = argv[i + 1];
        else if (!strcmp(argv[i], "--min-batches")) min_batches = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-passes")) max_passes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--target-noise")) target_noise = atof(argv[i + 1]);
    }
    // As cmd_eval: all three are required (the harness always passes them).
    if (min_batches < 1 || max_passes < 1 || !(target_noise > 0)) {
        fprintf(stderr, "fake stage %s: eval needs --min-batches, --max-passes and --target-noise\n", name);
        return 2;
    }
    int images = limit > 0 ? limit : 12;
    const char *seed = getenv("FAKE_SEED");
    if (seed) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s/%d/%s", seed, name, bs, ckpt);
        uint32_t h = 2166136261u;  // FNV-1a
        for (const char *c = key; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
        srand(h);
    } else {
        srand((unsigned)(getpid() ^ time(NULL)));
    }
    const char *dev = getenv("FAKE_DEVICE");
    printf("{\"type\":\"hello\",\"protocol\":1,\"stage\":\"%s\",\"ops\":\"fake\",\"device\":"
           "{\"kind\":\"fake\",\"name\":\"%s\"},\"model\":{\"model\":\"fake\"},\"batch_size\":%d,"
           "\"images\":%d,\"timing\":{\"min_batches\":%d,\"max_passes\":%d,\"target_noise\":%.17g}",
           name, dev ? dev : "Fake Device 1", bs, images, min_batches, max_passes, target_noise);
    if (strcmp(name, "nostageinfo")) print_stage_info(name);
    printf("}\n");
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
    int cap = full * max_passes + 1, timed = 0, passes = 0;
    double *times = malloc(sizeof(double) * (size_t)cap);
    // The rule of cmd_eval: pass 0 always; another while it is wanted and allowed.
    while (full > 0 && passes < max_passes &&
           (passes == 0 || timed < min_batches ||
            (noise_of(times, timed) > target_noise && timed < 4 * min_batches))) {
        for (int b = 0; b < full; b++) {
            if (!strcmp(name, "crash") && timed == 2) {
                fprintf(stderr, "fake: about to crash\n");
                raise(SIGSEGV);
            }
            double ms = bs * ms_per_image * (1 + noise * gauss());
            if (ms < 0.01) ms = 0.01;
            total += ms;
            times[timed] = ms;
            double sleep_ms = env_num("FAKE_SLEEP_MS", 0);
            if (sleep_ms > 0) usleep((useconds_t)(sleep_ms * 1000));
            printf("{\"type\":\"batch\",\"index\":%d,\"pass\":%d,\"images\":%d,\"prompts\":%d,\"ms\":%.17g}\n",
                   timed, passes, bs, bs * ANNS_PER_IMAGE, ms);
            fflush(stdout);
            timed++;
        }
        passes++;
    }
    free(times);
    int n_anns = images * ANNS_PER_IMAGE;
    double iou_sum = 0;
    FILE *f = masks && strcmp(name, "nomasks") ? fopen(masks, "w") : NULL;
    const char *shift_stage = getenv("FAKE_SHIFT_STAGE"), *shift_seed = getenv("FAKE_SHIFT_SEED");
    int shift_every = (int)env_num("FAKE_SHIFT_EVERY", 1);
    int seed_hit = 1;
    if (shift_seed && *shift_seed) {
        const char *colon = strrchr(ckpt, ':');
        seed_hit = colon && !strcmp(colon + 1, shift_seed);
    }
    int shift_this = !strcmp(name, "lossy") || (shift_stage && !strcmp(shift_stage, name) && seed_hit);
    for (int a = 0; a < n_anns; a++) {
        int shift = shift_this && a % (shift_every > 0 ? shift_every : 1) == 0;
        int top = !strcmp(name, "flip") && a % 10 == 0 ? 1 : 2;
        char rle[N_MASKS][4 * H * W];
        uint8_t m[H * W];
        for (int k = 0; k < N_MASKS; k++) {
            make_mask(m, a, k, shift);
            rle_string(m, rle[k]);
        }
        double iou = 0.5 + 0.01 * (a % 10);
        iou_sum += iou;
        double scores[N_MASKS] = {0.5, 0.7, 0.9};
        if (top == 1) scores[1] = 0.95;
        if (f) {
            fprintf(f, "{\"ann_id\":%d,\"image_id\":%d,\"category_id\":%d,\"iou\":%.17g,\"score\":%g,"
                       "\"top\":%d,\"scores\":[%g,%g,%g],\"size\":[%d,%d],\"counts\":\"%s\"",
                    1000 + a, a / ANNS_PER_IMAGE, 1 + a % 3, iou, scores[top], top, scores[0], scores[1],
                    scores[2], H, W, rle[top]);
            if (!getenv("FAKE_NO_MASKS")) fprintf(f, ",\"masks\":[\"%s\",\"%s\",\"%s\"]", rle[0], rle[1], rle[2]);
            fprintf(f, "}\n");
        }
    }
    if (f) fclose(f);
    double img_s = total > 0 ? timed * bs / total * 1000 : 0;
    if (!strcmp(name, "badsum")) img_s *= 2;
    printf("{\"type\":\"summary\",\"images_timed\":%d,\"batches_timed\":%d,\"passes\":%d,\"total_ms\":%.17g,"
           "\"img_s\":%.17g,\"batch_ms_median\":0,\"batch_ms_min\":0,\"batch_ms_max\":0,"
           "\"batch_ms_noise\":0,\"peak_bytes\":%d,\"first_mask_ms\":12.5,\"miou\":%.17g,"
           "\"annotations\":%d,\"images_skipped\":0,\"images_untimed\":%d",
           timed * bs, timed, passes, total, img_s, 1048576 * (100 + 10 * bs), iou_sum / n_anns, n_anns,
           images - full * bs);
    double launches = env_num("FAKE_LAUNCHES", 0);
    if (launches > 0) printf(",\"launches_per_batch\":%g,\"kernels_per_batch\":%g", launches, 2 * launches);
    printf("}\n{\"type\":\"status\",\"ok\":true}\n");
    return 0;
}
