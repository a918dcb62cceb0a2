#include "tensors.h"

#include <string.h>

#include "common/check.h"

void tmap_init(TensorMap *m, const char *source) {
    memset(m, 0, sizeof *m);
    m->source = strdup(source ? source : "?");
    CHECK(m->source);
}

HostTensor *tmap_add(TensorMap *m, const char *name, int ndim, const int64_t *shape, float *data) {
    CHECK(ndim >= 0 && ndim <= 8);
    if (m->count == m->capacity) {
        m->capacity = m->capacity ? m->capacity * 2 : 64;
        m->items = xrealloc(m->items, (size_t)m->capacity * sizeof *m->items);
    }
    HostTensor *t = &m->items[m->count++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    CHECK(t->name);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    t->data = data;
    return t;
}

const HostTensor *tmap_find(const TensorMap *m, const char *name) {
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->items[i].name, name) == 0) return &m->items[i];
    return NULL;
}

void tmap_free(TensorMap *m) {
    for (int i = 0; i < m->count; i++) {
        free(m->items[i].name);
        free(m->items[i].data);
    }
    free(m->items);
    free(m->source);
    memset(m, 0, sizeof *m);
}
