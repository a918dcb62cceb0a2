// Synthetic SAM weights, "synthetic:vit_b|vit_l|vit_h[:SEED]" (seed 0 when omitted), for speed
// and agreement work where no checkpoint is at hand.
//
// Scheme: PyTorch's default initialisation of each layer type, i.e. what a freshly constructed
// segment_anything Sam holds before load_state_dict (ref: torch/nn/modules/linear.py,
// conv.py, normalization.py, sparse.py reset_parameters; segment_anything/modeling/*.py):
//   nn.Linear weight (out, in) and bias     U(-b, b), b = 1/sqrt(in)  (kaiming_uniform_(a=sqrt(5)))
//   nn.Conv2d weight (out, in, k, k), bias  U(-b, b), b = 1/sqrt(in*k*k)
//   nn.ConvTranspose2d weight (in, out, k, k), bias
//                                           U(-b, b), b = 1/sqrt(out*k*k): PyTorch takes fan_in
//                                           from weight.size(1), which is out for a transpose
//   nn.LayerNorm, LayerNorm2d               weight 1, bias 0
//   nn.Embedding                            N(0, 1)
//   positional_encoding_gaussian_matrix     N(0, 1) (PositionEmbeddingRandom, scale 1)
//   pos_embed, rel_pos_h, rel_pos_w         N(0, 0.02^2) truncated to +-2 std (+-0.04), so
//                                           the empirical std is 0.02 * 0.8796 = 0.01759.
//                                           (The official code zero-fills these; zeros would
//                                           leave the position paths untested.)
// Every value is a pure function of (seed, tensor name, element index): a splitmix64 stream
// keyed by a hash of seed and name, indexed by the element (normals: by element and attempt).
// So the tensor order, the chunking and the thread count cannot change a single bit, and a
// tensor with the same name and shape is identical across vit_b/vit_l/vit_h.
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "config.h"

typedef enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NORMAL, INIT_TRUNC_NORMAL } InitKind;

typedef struct {
    char name[256];
    int ndim;
    int64_t shape[8];
    size_t count;
    InitKind kind;
    float scale;    // uniform bound, or normal std
    uint64_t key;   // stream key from (seed, name)
    float *data;
} Gen;

typedef struct {
    Gen *items;
    int count, cap;
} GenList;

static int fail(char *err, size_t len, const char *spec, const char *fmt, ...) {
    int k = snprintf(err, len, "%s: ", spec);
    if (k >= 0 && (size_t)k < len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, len - (size_t)k, fmt, ap);
        va_end(ap);
    }
    for (char *s = err; len && *s; s++)
        if ((unsigned char)*s < 0x20) *s = '?';
    return -1;
}

// ---- random numbers ------------------------------------------------------------------------

#define GAMMA UINT64_C(0x9e3779b97f4a7c15)

// splitmix64's output function: a bijection with good avalanche.
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t seed, const char *name) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);  // FNV-1a
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * UINT64_C(0x100000001b3);
    return mix64(mix64(seed) ^ mix64(h + GAMMA));
}

static inline uint64_t draw(uint64_t key, uint64_t ctr) { return mix64(key + (ctr + 1) * GAMMA); }

// Uniform on [-1, 1] from the top 32 bits (the int->float rounding may reach +-1 exactly).
static inline float uniform_pm1(uint64_t r) { return (float)(int32_t)(uint32_t)(r >> 32) * 0x1p-31f; }

// Standard normal by Box-Muller from two draws; attempt j lets rejection stay counter-based.
static inline double normal(uint64_t key, uint64_t i, uint64_t j) {
    uint64_t c = (i << 7 | j) << 1;
    double u1 = (double)((draw(key, c) >> 11) + 1) * 0x1p-53;  // (0, 1]: log is finite
    double u2 = (double)(draw(key, c + 1) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void fill(const Gen *g, size_t lo, size_t hi) {
    float *d = g->data;
    switch (g->kind) {
    case INIT_UNIFORM:
        for (size_t i = lo; i < hi; i++) d[i] = g->scale * uniform_pm1(draw(g->key, i));
        break;
    case INIT_ONES:
        for (size_t i = lo; i < hi; i++) d[i] = 1.0f;
        break;
    case INIT_ZEROS:
        memset(d + lo, 0, (hi - lo) * sizeof *d);
        break;
    case INIT_NORMAL:
        for (size_t i = lo; i < hi; i++) d[i] = (float)(g->scale * normal(g->key, i, 0));
        break;
    case INIT_TRUNC_NORMAL:
        // Rejection: 4.6 % of draws fall outside +-2; 128 attempts all failing has probability
        // 1e-171, and even then the value stays in range (0).
        for (size_t i = lo; i < hi; i++) {
            double z = 0;
            for (uint64_t j = 0; j < 128; j++) {
                double t = normal(g->key, i, j);
                if (fabs(t) <= 2.0) {
                    z = t;
                    break;
                }
            }
            d[i] = (float)(g->scale * z);
        }
        break;
    }
}

// ---- which initialisation each tensor gets -------------------------------------------------

static void collect(void *ctx, const char *name, int ndim, const int64_t *shape) {
    GenList *l = ctx;
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    Gen *g = &l->items[l->count++];
    memset(g, 0, sizeof *g);
    CHECK(strlen(name) < sizeof g->name && ndim <= 8);
    strcpy(g->name, name);
    g->ndim = ndim;
    g->count = 1;
    for (int i = 0; i < ndim; i++) {
        g->shape[i] = shape[i];
        g->count *= (size_t)shape[i];
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int module_is(const char *module, const char *const *list) {
    for (; *list; list++)
        if (strcmp(module, *list) == 0) return 1;
    return 0;
}

// ref: image_encoder.py (neck), prompt_encoder.py (mask_downscaling, embeddings),
// mask_decoder.py (output_upscaling, tokens), transformer.py (norms).
static const char *const LAYER_NORMS[] = {
    "image_encoder.neck.1", "image_encoder.neck.3", "prompt_encoder.mask_downscaling.1",
    "prompt_encoder.mask_downscaling.4", "mask_decoder.output_upscaling.1", NULL};
static const char *const EMBEDDINGS[] = {
    "prompt_encoder.point_embeddings.0", "prompt_encoder.point_embeddings.1",
    "prompt_encoder.point_embeddings.2", "prompt_encoder.point_embeddings.3",
    "prompt_encoder.not_a_point_embed", "prompt_encoder.no_mask_embed",
    "mask_decoder.iou_token", "mask_decoder.mask_tokens", NULL};
// Fan-in as PyTorch computes it (torch/nn/init.py _calculate_fan_in_and_fan_out):
// weight.size(1) * receptive field. For Linear (out, in) and Conv2d (out, in, k, k) that is
// in * k * k; for ConvTranspose2d, whose weight is (in, out, k, k), it is out * k * k.
static int64_t fan_in(const Gen *w) {
    int64_t receptive = 1;
    for (int i = 2; i < w->ndim; i++) receptive *= w->shape[i];
    return w->shape[1] * receptive;
}

static void choose_init(GenList *l, Gen *g) {
    const char *name = g->name, *dot = strrchr(name, '.');
    char module[256];
    size_t mlen = dot ? (size_t)(dot - name) : 0;
    memcpy(module, name, mlen);
    module[mlen] = 0;
    const char *last = strrchr(module, '.');
    last = last ? last + 1 : module;
    int is_weight = ends_with(name, ".weight"), is_bias = ends_with(name, ".bias");

    if (ends_with(name, ".pos_embed") || ends_with(name, ".rel_pos_h") || ends_with(name, ".rel_pos_w")) {
        g->kind = INIT_TRUNC_NORMAL, g->scale = 0.02f;
    } else if (ends_with(name, ".positional_encoding_gaussian_matrix")) {
        g->kind = INIT_NORMAL, g->scale = 1.0f;
    } else if ((is_weight || is_bias) && (strncmp(last, "norm", 4) == 0 || module_is(module, LAYER_NORMS))) {
        g->kind = is_weight ? INIT_ONES : INIT_ZEROS;
    } else if (is_weight && module_is(module, EMBEDDINGS)) {
        g->kind = INIT_NORMAL, g->scale = 1.0f;
    } else if (is_weight || is_bias) {
        // Linear, Conv2d or ConvTranspose2d; a bias takes its bound from its module's weight.
        const Gen *w = NULL;
        if (is_weight) {
            w = g;
        } else {
            char wname[256];
            snprintf(wname, sizeof wname, "%s.weight", module);
            for (int i = 0; i < l->count && !w; i++)
                if (strcmp(l->items[i].name, wname) == 0) w = &l->items[i];
        }
        CHECK(w && (w->ndim == 2 || w->ndim == 4));  // config.c lists a weight for every bias
        g->kind = INIT_UNIFORM;
        g->scale = (float)(1.0 / sqrt((double)fan_in(w)));
    } else {
        die("synthetic weights: no initialisation rule for tensor %s", name);
    }
}

// ---- generation, in parallel over chunks ---------------------------------------------------

#define CHUNK ((size_t)1 << 20)

typedef struct {
    const GenList *l;
    int *chunk_tensor;   // per chunk: tensor index
    size_t *chunk_start; // per chunk: first element
    size_t nchunks;
    atomic_size_t next;
} Pool;

static void *worker(void *arg) {
    Pool *p = arg;
    for (size_t c; (c = atomic_fetch_add(&p->next, 1)) < p->nchunks;) {
        const Gen *g = &p->l->items[p->chunk_tensor[c]];
        size_t lo = p->chunk_start[c], hi = lo + CHUNK < g->count ? lo + CHUNK : g->count;
        fill(g, lo, hi);
    }
    return NULL;
}

static void generate(const GenList *l) {
    Pool p = {.l = l};
    size_t n = 0;
    for (int i = 0; i < l->count; i++) n += (l->items[i].count + CHUNK - 1) / CHUNK;
    p.chunk_tensor = xmalloc(n * sizeof *p.chunk_tensor);
    p.chunk_start = xmalloc(n * sizeof *p.chunk_start);
    for (int i = 0; i < l->count; i++)
        for (size_t s = 0; s < l->items[i].count; s += CHUNK) {
            p.chunk_tensor[p.nchunks] = i;
            p.chunk_start[p.nchunks++] = s;
        }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t helpers = cpus > 1 ? (size_t)(cpus > 16 ? 16 : cpus) - 1 : 0;
    pthread_t tid[16];
    for (size_t i = 0; i < helpers; i++) CHECK(pthread_create(&tid[i], NULL, worker, &p) == 0);
    worker(&p);
    for (size_t i = 0; i < helpers; i++) CHECK(pthread_join(tid[i], NULL) == 0);
    free(p.chunk_tensor);
    free(p.chunk_start);
}

// ---- the spec ------------------------------------------------------------------------------

int synthetic_make(const char *spec, TensorMap *out, char *err, size_t len) {
    memset(out, 0, sizeof *out);
    if (strncmp(spec, "synthetic:", 10) != 0)
        return fail(err, len, spec, "not a synthetic weights spec (synthetic:vit_b|vit_l|vit_h[:SEED])");
    const char *model = spec + 10, *colon = strchr(model, ':');
    size_t mlen = colon ? (size_t)(colon - model) : strlen(model);
    char name[16];
    SamConfig cfg;
    if (mlen < sizeof name) {
        memcpy(name, model, mlen);
        name[mlen] = 0;
    }
    if (mlen >= sizeof name || sam_config_preset(name, &cfg) != 0)
        return fail(err, len, spec, "unknown model \"%.*s\" (expected vit_b, vit_l or vit_h)",
                    mlen > 32 ? 32 : (int)mlen, model);
    uint64_t seed = 0;
    if (colon) {
        const char *s = colon + 1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || errno == ERANGE)
            return fail(err, len, spec, "bad seed \"%.32s\" (expected a decimal integer below 2^64)", s);
        seed = v;
    }

    GenList l = {0};
    sam_config_visit_tensors(&cfg, collect, &l);
    for (int i = 0; i < l.count; i++) {
        choose_init(&l, &l.items[i]);
        l.items[i].key = stream_key(seed, l.items[i].name);
        l.items[i].data = xmalloc(l.items[i].count * sizeof(float));
    }
    generate(&l);

    char source[64];
    snprintf(source, sizeof source, "synthetic:%s:%llu", name, (unsigned long long)seed);
    tmap_init(out, source);
    for (int i = 0; i < l.count; i++) tmap_add(out, l.items[i].name, l.items[i].ndim, l.items[i].shape, l.items[i].data);
    free(l.items);
    return 0;
}
