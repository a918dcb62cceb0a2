// Captured graphs of the model's steps (the graphs choice): a step is captured once per key
// (the encoder per batch size, the decoder per prompt count) and replayed after. A capture
// records the arena and scratch addresses it ran at, so a graph is valid only while neither has
// moved (Exec.arena_generation, bumped by a new arena and by a moved scratch) and while the caller
// lays the arena out the same way for the key.
#ifndef SAM_GRAPHS_H
#define SAM_GRAPHS_H

#include <stdint.h>

#include "exec.h"

typedef struct {
    int kind;           // which step (the caller's numbering)
    int64_t key;        // the shape it was captured for
    unsigned generation;
    void *graph;
} GraphEntry;

typedef struct {
    Exec *x;
    GraphEntry *items;
    int n, cap;
    int captures;       // graphs captured so far (reported by eval)
} GraphCache;

void graph_cache_init(GraphCache *gc, Exec *x);
void graph_cache_free(GraphCache *gc);

// Runs fn(ctx) through the graph of (kind, key). The step must leave the arena as it found it.
// - planning pass: fn runs in planning mode (its arena use is recorded);
// - preparing pass (x->preparing): a missing graph is captured, nothing runs;
// - real pass: the graph is replayed; it must have been captured by the preparing pass of
//   the same batch (an internal error otherwise: a capture inside a timed region).
void graph_run(GraphCache *gc, int kind, int64_t key, void (*fn)(void *ctx), void *ctx);

#endif
