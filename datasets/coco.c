// COCO annotation files: parsing with cJSON, validation, id indexes, annToRLE / annToMask.
#include "datasets/coco.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

// ---- id -> index hash tables (open addressing, power-of-two size) --------------------------

typedef struct {
    int64_t *keys;
    int *vals;  // -1 = empty
    size_t mask;
} IdMap;

struct CocoIndex {
    IdMap images, anns, cats;
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void idmap_init(IdMap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 1) cap <<= 1;
    m->keys = xmalloc(sizeof(int64_t) * cap);
    m->vals = xmalloc(sizeof(int) * cap);
    for (size_t i = 0; i < cap; i++) m->vals[i] = -1;
    m->mask = cap - 1;
}

// Inserts id -> val; returns the existing value if id is already present, else -1.
static int idmap_put(IdMap *m, int64_t id, int val) {
    size_t i = mix64((uint64_t)id) & m->mask;
    while (m->vals[i] >= 0) {
        if (m->keys[i] == id) return m->vals[i];
        i = (i + 1) & m->mask;
    }
    m->keys[i] = id;
    m->vals[i] = val;
    return -1;
}

static int idmap_get(const IdMap *m, int64_t id) {
    if (!m->keys) return -1;
    size_t i = mix64((uint64_t)id) & m->mask;
    while (m->vals[i] >= 0) {
        if (m->keys[i] == id) return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return -1;
}

static void idmap_free(IdMap *m) {
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}

// ---- growable pools ------------------------------------------------------------------------

typedef struct {
    void *data;
    size_t n, cap, item;
} Vec;

static void *vec_push(Vec *v, size_t count) {
    if (v->n + count > v->cap) {
        size_t cap = v->cap ? v->cap : 1024;
        while (cap < v->n + count) cap *= 2;
        v->data = xrealloc(v->data, cap * v->item);
        v->cap = cap;
    }
    void *p = (char *)v->data + v->n * v->item;
    v->n += count;
    return p;
}

// ---- cJSON allocations from an arena while parsing --------------------------------------------
// A val2017 file is about 2 million cJSON nodes; malloc and free of each one were a third of
// the parse time. While coco_parse runs, nodes on its thread come from a bump arena that is
// dropped at once; everywhere else (other threads, other users of cJSON) the hooks are plain
// malloc and free. The hooks are installed once, before main, when no thread exists yet.

#define ARENA_CHUNK ((size_t)32 << 20)

typedef struct ArenaChunk {
    struct ArenaChunk *next;
    size_t used, size;
    char *base;
} ArenaChunk;

static _Thread_local ArenaChunk *tl_arena;  // non-NULL only inside coco_parse on this thread

static int in_arena(const void *p) {
    for (const ArenaChunk *c = tl_arena; c; c = c->next)
        if ((const char *)p >= c->base && (const char *)p < c->base + c->size) return 1;
    return 0;
}

static void *hook_malloc(size_t n) {
    ArenaChunk *c = tl_arena;
    if (!c) return malloc(n);
    n = (n + 15) & ~(size_t)15;
    if (c->used + n > c->size) {
        // A new chunk, twice the last up to ARENA_CHUNK (a big string gets one of its own
        // size), in front of the list.
        size_t size = c->size * 2 < ARENA_CHUNK ? c->size * 2 : ARENA_CHUNK;
        if (n > size) size = n;
        ArenaChunk *nc = malloc(sizeof *nc);
        if (!nc) return NULL;
        nc->base = malloc(size);
        if (!nc->base) {
            free(nc);
            return NULL;
        }
        nc->size = size;
        nc->used = 0;
        nc->next = c;
        tl_arena = c = nc;
    }
    void *p = c->base + c->used;
    c->used += n;
    return p;
}

static void hook_free(void *p) {
    // cJSON frees inside the parse only on its error paths; arena memory is dropped later.
    if (p && !(tl_arena && in_arena(p))) free(p);
}

__attribute__((constructor)) static void install_cjson_hooks(void) {
    cJSON_Hooks h = {hook_malloc, hook_free};
    cJSON_InitHooks(&h);
}

// The first chunk is sized from the text (a small file must not pay for a 32 MiB chunk).
static void arena_begin(size_t text_len) {
    size_t size = text_len * 4;
    size = size < ((size_t)64 << 10) ? (size_t)64 << 10 : size > ARENA_CHUNK ? ARENA_CHUNK : size;
    ArenaChunk *c = xmalloc(sizeof *c);
    c->base = xmalloc(size);
    c->size = size;
    c->used = 0;
    c->next = NULL;
    tl_arena = c;
}

static void arena_end(void) {
    ArenaChunk *c = tl_arena;
    tl_arena = NULL;
    while (c) {
        ArenaChunk *n = c->next;
        free(c->base);
        free(c);
        c = n;
    }
}

// ---- errors --------------------------------------------------------------------------------

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || !err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

// ---- typed field access --------------------------------------------------------------------

// JSON integers arrive as doubles; ids must be integral and exact (|v| <= 2^53).
static int get_int64(const cJSON *obj, const char *key, int64_t *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it)) return -1;
    double v = it->valuedouble;
    if (!(fabs(v) <= 9007199254740992.0) || v != floor(v)) return -1;
    *out = (int64_t)v;
    return 0;
}

static const char *get_string(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) && it->valuestring ? it->valuestring : NULL;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

// "annotation 42" or, without a usable id, "annotation #7 (the 8th)".
static void ann_label(char *buf, size_t n, const cJSON *a, int pos) {
    int64_t id;
    if (get_int64(a, "id", &id) == 0) snprintf(buf, n, "annotation %lld", (long long)id);
    else snprintf(buf, n, "annotation #%d in file order", pos);
}

// ---- parsing -------------------------------------------------------------------------------

static int parse_categories(CocoDataset *ds, const cJSON *arr, char *err, size_t err_len) {
    int n = cJSON_GetArraySize(arr);
    ds->categories = xcalloc((size_t)(n ? n : 1), sizeof(CocoCategory));
    ds->supercategories = xcalloc((size_t)(n ? n : 1), sizeof(char *));
    idmap_init(&ds->index->cats, (size_t)n);
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        CocoCategory *cat = &ds->categories[i];
        const char *name, *super;
        if (!cJSON_IsObject(c) || get_int64(c, "id", &cat->id) != 0) {
            set_err(err, err_len, "%s: category #%d: not an object with an integer \"id\"",
                    ds->path, i);
            return -1;
        }
        if (!(name = get_string(c, "name"))) {
            set_err(err, err_len, "%s: category %lld: \"name\" missing or not a string",
                    ds->path, (long long)cat->id);
            return -1;
        }
        super = get_string(c, "supercategory");
        if (!super && cJSON_GetObjectItemCaseSensitive(c, "supercategory")) {
            set_err(err, err_len, "%s: category %lld: \"supercategory\" is not a string",
                    ds->path, (long long)cat->id);
            return -1;
        }
        if (idmap_put(&ds->index->cats, cat->id, i) >= 0) {
            set_err(err, err_len, "%s: category %lld: duplicate id", ds->path,
                    (long long)cat->id);
            return -1;
        }
        cat->name = xstrdup(name);
        cat->supercategory = xstrdup(super ? super : "");
        int s = 0;
        while (s < ds->n_supercategories && strcmp(ds->supercategories[s], cat->supercategory))
            s++;
        if (s == ds->n_supercategories) ds->supercategories[ds->n_supercategories++] =
                                            xstrdup(cat->supercategory);
        cat->super_index = s;
        ds->n_categories = i + 1;
    }
    return 0;
}

static int parse_images(CocoDataset *ds, const cJSON *arr, char *err, size_t err_len) {
    int n = cJSON_GetArraySize(arr);
    ds->images = xcalloc((size_t)(n ? n : 1), sizeof(CocoImage));
    idmap_init(&ds->index->images, (size_t)n);
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        CocoImage *im = &ds->images[i];
        if (!cJSON_IsObject(c) || get_int64(c, "id", &im->id) != 0) {
            set_err(err, err_len, "%s: image #%d: not an object with an integer \"id\"",
                    ds->path, i);
            return -1;
        }
        int64_t h, w;
        if (get_int64(c, "height", &h) != 0 || get_int64(c, "width", &w) != 0) {
            set_err(err, err_len, "%s: image %lld: \"height\" or \"width\" missing or not an "
                    "integer", ds->path, (long long)im->id);
            return -1;
        }
        if (h <= 0 || w <= 0 || h > RLE_MAX_SIDE || w > RLE_MAX_SIDE ||
            (uint64_t)h * (uint64_t)w > RLE_MAX_PIXELS) {
            set_err(err, err_len, "%s: image %lld: size %lldx%lld out of range (1..%u per side)",
                    ds->path, (long long)im->id, (long long)w, (long long)h, RLE_MAX_SIDE);
            return -1;
        }
        const char *fn = get_string(c, "file_name");
        if (!fn || !*fn || strchr(fn, '/') || strchr(fn, '\\') || strcmp(fn, "..") == 0 ||
            strcmp(fn, ".") == 0) {
            set_err(err, err_len, "%s: image %lld: \"file_name\" missing, not a string or not "
                    "a plain file name", ds->path, (long long)im->id);
            return -1;
        }
        if (idmap_put(&ds->index->images, im->id, i) >= 0) {
            set_err(err, err_len, "%s: image %lld: duplicate id", ds->path, (long long)im->id);
            return -1;
        }
        im->height = (int)h;
        im->width = (int)w;
        im->file_name = xstrdup(fn);
        ds->n_images = i + 1;
    }
    return 0;
}

typedef struct {
    Vec coords, parts, counts, chars;
} Pools;

static int parse_polygons(CocoDataset *ds, Pools *P, CocoAnnotation *an, const cJSON *seg,
                          const char *label, char *err, size_t err_len) {
    if (!seg->child) {
        set_err(err, err_len, "%s: %s: empty polygon list", ds->path, label);
        return -1;
    }
    an->kind = COCO_SEG_POLYGONS;
    an->first = P->parts.n / 2;
    int pi = 0;
    // Coordinates within four image sizes plus 1000 pixels of the image are kept (rasterised
    // exactly as pycocotools); farther ones are refused, which bounds the rasteriser's walk.
    const CocoImage *im = &ds->images[an->image_index];
    double side = im->width > im->height ? im->width : im->height;
    double lo = -4 * side - 1000, hi = 5 * side + 1000;
    // One pass over each list (cJSON lists are linked: counting first would walk them twice,
    // and the walk is cache misses, a third of the parse time on a val2017-sized file).
    for (const cJSON *poly = seg->child; poly; poly = poly->next, pi++) {
        if (!cJSON_IsArray(poly)) {
            set_err(err, err_len, "%s: %s: polygon %d is not a list of numbers", ds->path, label,
                    pi);
            return -1;
        }
        size_t start = P->coords.n;
        int k = 0;
        for (const cJSON *v = poly->child; v; v = v->next, k++) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                set_err(err, err_len, "%s: %s: polygon %d coordinate %d is not a number",
                        ds->path, label, pi, k);
                return -1;
            }
            if (v->valuedouble < lo || v->valuedouble > hi) {
                set_err(err, err_len, "%s: %s: polygon %d coordinate %d (%g) is far outside the "
                        "%dx%d image", ds->path, label, pi, k, v->valuedouble, im->width,
                        im->height);
                return -1;
            }
            *(double *)vec_push(&P->coords, 1) = v->valuedouble;
        }
        if (k < 6 || k % 2) {
            set_err(err, err_len, "%s: %s: polygon %d has %d coordinates (need an even number, "
                    "at least 6)", ds->path, label, pi, k);
            return -1;
        }
        size_t *part = vec_push(&P->parts, 2);
        part[0] = start;
        part[1] = (size_t)k;
    }
    an->n_parts = pi;
    return 0;
}

static int parse_rle(CocoDataset *ds, Pools *P, CocoAnnotation *an, const cJSON *seg,
                     const char *label, char *err, size_t err_len) {
    const CocoImage *im = &ds->images[an->image_index];
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(seg, "size");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(seg, "counts");
    if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 || !cJSON_IsNumber(size->child) ||
        !cJSON_IsNumber(size->child->next)) {
        set_err(err, err_len, "%s: %s: RLE \"size\" is not [height, width]", ds->path, label);
        return -1;
    }
    double sh = size->child->valuedouble, sw = size->child->next->valuedouble;
    if (sh != im->height || sw != im->width) {
        set_err(err, err_len, "%s: %s: RLE size [%g, %g] differs from image %lld's [%d, %d]",
                ds->path, label, sh, sw, (long long)im->id, im->height, im->width);
        return -1;
    }
    uint64_t want = (uint64_t)im->height * (uint64_t)im->width, total = 0;
    if (cJSON_IsArray(counts)) {
        an->kind = COCO_SEG_RLE;
        an->first = P->counts.n;
        size_t j = 0;
        for (const cJSON *v = counts->child; v; v = v->next, j++) {
            uint32_t *slot = vec_push(&P->counts, 1);
            double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
            if (!(x >= 0 && x <= 4294967295.0) || x != floor(x)) {
                set_err(err, err_len, "%s: %s: RLE count %zu is not an integer in 0..2^32-1",
                        ds->path, label, j);
                return -1;
            }
            *slot = (uint32_t)x;
            total += *slot;
            if (total > want) {
                set_err(err, err_len, "%s: %s: RLE counts overrun the %dx%d mask at count %zu",
                        ds->path, label, im->width, im->height, j);
                return -1;
            }
        }
        an->len = j;
    } else if (cJSON_IsString(counts)) {
        an->kind = COCO_SEG_RLE_STRING;
        Rle r;
        if (rle_from_string(&r, counts->valuestring, (uint32_t)im->height,
                            (uint32_t)im->width) != 0) {
            set_err(err, err_len, "%s: %s: malformed compressed RLE string", ds->path, label);
            return -1;
        }
        total = rle_total(&r);
        rle_free(&r);
        if (total > want) {
            set_err(err, err_len, "%s: %s: RLE counts overrun the %dx%d mask", ds->path, label,
                    im->width, im->height);
            return -1;
        }
        an->len = strlen(counts->valuestring);
        an->first = P->chars.n;
        memcpy(vec_push(&P->chars, an->len + 1), counts->valuestring, an->len + 1);
    } else {
        set_err(err, err_len, "%s: %s: RLE \"counts\" is neither a list nor a string", ds->path,
                label);
        return -1;
    }
    // pycocotools leaves pixels past a short RLE uninitialised; refuse rather than guess.
    if (total != want) {
        set_err(err, err_len, "%s: %s: RLE counts cover %llu pixels, the %dx%d mask has %llu",
                ds->path, label, (unsigned long long)total, im->width, im->height,
                (unsigned long long)want);
        return -1;
    }
    return 0;
}

static int parse_annotations(CocoDataset *ds, Pools *P, const cJSON *arr, char *err,
                             size_t err_len) {
    int n = cJSON_GetArraySize(arr);
    ds->anns = xcalloc((size_t)(n ? n : 1), sizeof(CocoAnnotation));
    idmap_init(&ds->index->anns, (size_t)n);
    int i = 0;
    char label[64];
    for (const cJSON *a = arr->child; a; a = a->next, i++) {
        CocoAnnotation *an = &ds->anns[i];
        ann_label(label, sizeof label, a, i);
        if (!cJSON_IsObject(a) || get_int64(a, "id", &an->id) != 0) {
            set_err(err, err_len, "%s: %s: not an object with an integer \"id\"", ds->path,
                    label);
            return -1;
        }
        if (get_int64(a, "image_id", &an->image_id) != 0 ||
            get_int64(a, "category_id", &an->category_id) != 0) {
            set_err(err, err_len, "%s: %s: \"image_id\" or \"category_id\" missing or not an "
                    "integer", ds->path, label);
            return -1;
        }
        if ((an->image_index = idmap_get(&ds->index->images, an->image_id)) < 0) {
            set_err(err, err_len, "%s: %s: unknown image_id %lld", ds->path, label,
                    (long long)an->image_id);
            return -1;
        }
        if ((an->category_index = idmap_get(&ds->index->cats, an->category_id)) < 0) {
            set_err(err, err_len, "%s: %s: unknown category_id %lld", ds->path, label,
                    (long long)an->category_id);
            return -1;
        }
        const cJSON *crowd = cJSON_GetObjectItemCaseSensitive(a, "iscrowd");
        if (crowd) {
            int64_t c;
            if (get_int64(a, "iscrowd", &c) != 0 || (c != 0 && c != 1)) {
                set_err(err, err_len, "%s: %s: \"iscrowd\" is not 0 or 1", ds->path, label);
                return -1;
            }
            an->iscrowd = (int)c;
        }
        const cJSON *area = cJSON_GetObjectItemCaseSensitive(a, "area");
        if (cJSON_IsNumber(area)) an->area = area->valuedouble;
        const cJSON *seg = cJSON_GetObjectItemCaseSensitive(a, "segmentation");
        int r;
        if (cJSON_IsArray(seg)) r = parse_polygons(ds, P, an, seg, label, err, err_len);
        else if (cJSON_IsObject(seg)) r = parse_rle(ds, P, an, seg, label, err, err_len);
        else {
            set_err(err, err_len, "%s: %s: \"segmentation\" missing or neither a polygon list "
                    "nor an RLE object", ds->path, label);
            r = -1;
        }
        if (r) return -1;
        if (idmap_put(&ds->index->anns, an->id, i) >= 0) {
            set_err(err, err_len, "%s: %s: duplicate id", ds->path, label);
            return -1;
        }
        ds->n_anns = i + 1;
    }
    return 0;
}

// Groups annotation indices by image, keeping file order within each image (createIndex's
// imgToAnns).
static void group_by_image(CocoDataset *ds) {
    for (int i = 0; i < ds->n_anns; i++) ds->images[ds->anns[i].image_index].ann_count++;
    int off = 0;
    for (int i = 0; i < ds->n_images; i++) {
        ds->images[i].ann_first = off;
        off += ds->images[i].ann_count;
        ds->images[i].ann_count = 0;
    }
    ds->image_anns = xmalloc(sizeof(int) * (size_t)(ds->n_anns ? ds->n_anns : 1));
    for (int i = 0; i < ds->n_anns; i++) {
        CocoImage *im = &ds->images[ds->anns[i].image_index];
        ds->image_anns[im->ann_first + im->ann_count++] = i;
    }
}

static const cJSON *get_array(const cJSON *root, const char *key) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsArray(a) ? a : NULL;
}

CocoDataset *coco_parse(const char *name, const char *text, size_t len, char *err,
                        size_t err_len) {
    CocoDataset *ds = xcalloc(1, sizeof *ds);
    ds->path = xstrdup(name);
    ds->index = xcalloc(1, sizeof *ds->index);
    const char *end = NULL;
    arena_begin(len);
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        arena_end();
        size_t pos = end && end >= text ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < pos && i < len; i++) line += text[i] == '\n';
        set_err(err, err_len, "%s: malformed JSON at byte %zu (line %zu)%s", name, pos, line,
                pos + 1 >= len ? ": the file ends early (truncated?)" : "");
        coco_free(ds);
        return NULL;
    }
    Pools P = {{NULL, 0, 0, sizeof(double)}, {NULL, 0, 0, sizeof(size_t)},
               {NULL, 0, 0, sizeof(uint32_t)}, {NULL, 0, 0, 1}};
    const cJSON *images = get_array(root, "images"), *anns = get_array(root, "annotations"),
                *cats = get_array(root, "categories");
    int r = 0;
    if (!cJSON_IsObject(root) || !images || !anns || !cats) {
        set_err(err, err_len, "%s: not a COCO instances file: want an object with \"images\", "
                "\"annotations\" and \"categories\" lists", name);
        r = -1;
    }
    if (!r) r = parse_categories(ds, cats, err, err_len);
    if (!r) r = parse_images(ds, images, err, err_len);
    if (!r) r = parse_annotations(ds, &P, anns, err, err_len);
    // Every node and string of the tree lives in the arena: dropping it frees the tree, with
    // no walk over two million nodes (cJSON_Delete is not needed).
    arena_end();
    ds->coords = P.coords.data;
    ds->parts = P.parts.data;
    ds->counts = P.counts.data;
    ds->chars = P.chars.data;
    if (r) {
        coco_free(ds);
        return NULL;
    }
    group_by_image(ds);
    return ds;
}

CocoDataset *coco_load(const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : (1 << 20);
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        set_err(err, err_len, "%s: read failed", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    CocoDataset *ds = coco_parse(path, buf, n, err, err_len);
    free(buf);
    return ds;
}

void coco_free(CocoDataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_images; i++) free(ds->images[i].file_name);
    for (int i = 0; i < ds->n_categories; i++) {
        free(ds->categories[i].name);
        free(ds->categories[i].supercategory);
    }
    for (int i = 0; i < ds->n_supercategories; i++) free(ds->supercategories[i]);
    free(ds->images);
    free(ds->categories);
    free(ds->supercategories);
    free(ds->anns);
    free(ds->image_anns);
    free(ds->coords);
    free(ds->parts);
    free(ds->counts);
    free(ds->chars);
    if (ds->index) {
        idmap_free(&ds->index->images);
        idmap_free(&ds->index->anns);
        idmap_free(&ds->index->cats);
        free(ds->index);
    }
    free(ds->path);
    free(ds);
}

int coco_image_index(const CocoDataset *ds, int64_t id) { return idmap_get(&ds->index->images, id); }
int coco_ann_index(const CocoDataset *ds, int64_t id) { return idmap_get(&ds->index->anns, id); }
int coco_category_index(const CocoDataset *ds, int64_t id) { return idmap_get(&ds->index->cats, id); }

int coco_category_by_name(const CocoDataset *ds, const char *name) {
    for (int i = 0; i < ds->n_categories; i++)
        if (strcmp(ds->categories[i].name, name) == 0) return i;
    return -1;
}

// ---- masks ---------------------------------------------------------------------------------

// ref: coco.py annToRLE: polygons -> frPyObjects (frPoly per part) -> merge; uncompressed RLE
// -> frPyObjects (same runs); compressed RLE used as is.
int coco_ann_to_rle(const CocoDataset *ds, int ai, Rle *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    const CocoAnnotation *an = &ds->anns[ai];
    const CocoImage *im = &ds->images[an->image_index];
    uint32_t h = (uint32_t)im->height, w = (uint32_t)im->width;
    switch (an->kind) {
    case COCO_SEG_POLYGONS: {
        Rle *parts = xcalloc((size_t)an->n_parts, sizeof(Rle));
        int r = 0;
        for (int p = 0; p < an->n_parts && !r; p++) {
            const size_t *part = &ds->parts[2 * (an->first + (size_t)p)];
            if (rle_from_poly(&parts[p], ds->coords + part[0], part[1] / 2, h, w) != 0) {
                set_err(err, err_len, "%s: annotation %lld: polygon %d cannot be rasterised "
                        "(coordinates too far outside the %ux%u image)", ds->path,
                        (long long)an->id, p, w, h);
                r = -1;
            }
        }
        if (!r) rle_merge(parts, (size_t)an->n_parts, out, 0);
        for (int p = 0; p < an->n_parts; p++) rle_free(&parts[p]);
        free(parts);
        return r;
    }
    case COCO_SEG_RLE:
        rle_init(out, h, w, an->len, ds->counts + an->first);
        return 0;
    case COCO_SEG_RLE_STRING:
        if (rle_from_string(out, ds->chars + an->first, h, w) != 0) {
            set_err(err, err_len, "%s: annotation %lld: malformed compressed RLE string",
                    ds->path, (long long)an->id);
            return -1;
        }
        return 0;
    }
    return -1;
}

// ref: coco.py annToMask (maskUtils.decode of annToRLE)
int coco_ann_to_mask(const CocoDataset *ds, int ai, uint8_t *mask, char *err, size_t err_len) {
    Rle r;
    if (coco_ann_to_rle(ds, ai, &r, err, err_len) != 0) return -1;
    int rc = rle_decode(&r, mask);
    rle_free(&r);
    if (rc != 0)
        set_err(err, err_len, "%s: annotation %lld: RLE counts overrun the mask", ds->path,
                (long long)ds->anns[ai].id);
    return rc;
}

// ---- selection -----------------------------------------------------------------------------

int coco_select(const CocoDataset *ds, const char *names, int64_t image_id, int limit,
                CocoSelection *sel, char *err, size_t err_len) {
    memset(sel, 0, sizeof *sel);
    // Category filter: indices of the named categories (all when none named).
    uint8_t *want = xcalloc((size_t)(ds->n_categories ? ds->n_categories : 1), 1);
    int *named = xmalloc(sizeof(int) * (size_t)(ds->n_categories + 1));
    int n_named = 0;
    if (names && *names) {
        char *copy = xstrdup(names), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            int c = coco_category_by_name(ds, tok);
            if (c < 0) {
                set_err(err, err_len, "%s: no category named \"%s\"", ds->path, tok);
                free(copy);
                free(want);
                free(named);
                return -1;
            }
            if (!want[c]) named[n_named++] = c;
            want[c] = 1;
        }
        free(copy);
    } else {
        memset(want, 1, (size_t)ds->n_categories);
    }
    int first = 0, last = ds->n_images;
    if (image_id > 0) {
        int ii = coco_image_index(ds, image_id);
        if (ii < 0) {
            set_err(err, err_len, "%s: no image with id %lld", ds->path, (long long)image_id);
            free(want);
            free(named);
            return -1;
        }
        first = ii;
        last = ii + 1;
    }
    sel->images = xmalloc(sizeof(int) * (size_t)(ds->n_images + 1));
    sel->ann_offset = xmalloc(sizeof(int) * (size_t)(ds->n_images + 2));
    sel->anns = xmalloc(sizeof(int) * (size_t)(ds->n_anns + 1));
    sel->ann_offset[0] = 0;
    uint8_t *seen = xcalloc((size_t)(ds->n_categories ? ds->n_categories : 1), 1);
    for (int i = first; i < last && (limit <= 0 || sel->n_images < limit); i++) {
        const CocoImage *im = &ds->images[i];
        if (n_named && image_id <= 0) {
            // getImgIds(catIds=...): images holding every named category.
            for (int k = 0; k < n_named; k++) seen[named[k]] = 0;
            for (int k = 0; k < im->ann_count; k++)
                seen[ds->anns[ds->image_anns[im->ann_first + k]].category_index] = 1;
            int all = 1;
            for (int k = 0; k < n_named; k++) all &= seen[named[k]];
            if (!all) continue;
        }
        int start = sel->n_anns;
        for (int k = 0; k < im->ann_count; k++) {
            int a = ds->image_anns[im->ann_first + k];
            if (want[ds->anns[a].category_index]) sel->anns[sel->n_anns++] = a;
        }
        if (sel->n_anns == start) continue;  // eval_combo.py drops images without annotations
        sel->images[sel->n_images++] = i;
        sel->ann_offset[sel->n_images] = sel->n_anns;
    }
    free(seen);
    free(want);
    free(named);
    return 0;
}

void coco_selection_free(CocoSelection *sel) {
    free(sel->images);
    free(sel->ann_offset);
    free(sel->anns);
    memset(sel, 0, sizeof *sel);
}
