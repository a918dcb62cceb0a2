#include "exec.h"

#include <string.h>

#include "common/check.h"

// Every arena allocation is aligned for vector loads and tensor-core operands.
#define ARENA_ALIGN 256

void *ex_alloc_bytes(Exec *x, size_t bytes) {
    size_t start = (x->arena_top + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    size_t end = start + bytes;
    if (end > x->arena_peak) x->arena_peak = end;
    if (x->planning) {
        x->arena_top = end;
        // A recognisable non-NULL address: nothing may dereference it while planning.
        return (void *)(uintptr_t)(0x1000 + start);
    }
    if (end > x->arena_size)
        die("activation arena overflow: need %zu bytes, planned %zu (the planning pass and the "
            "real pass allocated differently)", end, x->arena_size);
    x->arena_top = end;
    return x->arena + start;
}

void exec_arena_commit(Exec *x) {
    if (x->arena && x->arena_size >= x->arena_peak) return;
    exec_arena_free(x);
    x->arena_generation++;
    x->arena_size = x->arena_peak;
    x->arena = x->ops->mem_alloc(x, x->arena_size);
    x->arena_top = 0;
}

void exec_arena_free(Exec *x) {
    if (x->arena) x->ops->mem_free(x, x->arena);
    x->arena = NULL;
    x->arena_size = 0;
    x->arena_top = 0;
}
