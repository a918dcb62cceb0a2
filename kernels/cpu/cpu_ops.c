// The CPU operation table: host memory, wall-clock timing and phase marks, no profiling ranges.
#include "cpu_ops.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "kernels/ops.h"

static void *cpu_alloc(Exec *x, size_t bytes) { return xmalloc(bytes); }
static void cpu_free(Exec *x, void *p) { free(p); }
static void cpu_copy(Exec *x, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_upload_act(Exec *x, void *dst, const float *src, size_t n) { memcpy(dst, src, n * 4); }
static void cpu_download_act(Exec *x, float *dst, const void *src, size_t n) { memcpy(dst, src, n * 4); }
static void cpu_sync(Exec *x) {}
static void cpu_load_end(Exec *x) {}  // the CPU backend's uploads stage nothing
static size_t cpu_peak(Exec *x) { return 0; }  // the harness reads the process's peak RSS
static void cpu_range_push(Exec *x, const char *name) {}
static void cpu_range_pop(Exec *x) {}
static void cpu_act_to_f32(Exec *x, float *dst, const void *src, int64_t n) {
    if ((const void *)dst != src) memmove(dst, src, (size_t)n * 4);
}

static double timer_start_s;
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static void cpu_timer_begin(Exec *x) { timer_start_s = now_s(); }
static double cpu_timer_end_ms(Exec *x) { return (now_s() - timer_start_s) * 1e3; }
// Phase marks: the work before a mark has run when it is taken (the CPU ops are synchronous),
// so a mark is the wall clock.
static double *mark_s;
static int n_mark_s;
static void cpu_timer_mark(Exec *x, int slot) {
    if (slot < 0) die("cpu timer_mark: slot %d", slot);
    if (slot >= n_mark_s) {
        mark_s = xrealloc(mark_s, sizeof(double) * (size_t)(slot + 1));
        n_mark_s = slot + 1;
    }
    mark_s[slot] = now_s();
}
static double cpu_timer_mark_ms(Exec *x, int from, int to) {
    if (from < 0 || to < 0 || from >= n_mark_s || to >= n_mark_s)
        die("cpu timer_mark_ms: marks %d, %d of %d", from, to, n_mark_s);
    return (mark_s[to] - mark_s[from]) * 1e3;
}

const AttentionImpl cpu_attention_explicit = {
    .name = "explicit",
    .backend = "cpu",
    .dtypes = 1u << DT_F32,
    .run = cpu_attention,
    .workspace_bytes = NULL,  // per-thread score rows, allocated by the call
    .takes_batch_index = 1,
};

const LinearFormat cpu_linear_dense = {
    .name = "dense",
    .backend = "cpu",
    .dtypes = 1u << DT_F32,
    .prepare = cpu_linear_prepare,
    .run = cpu_linear,
    .release = cpu_linear_release,
};

static const Ops CPU_OPS = {
    .name = "cpu",
    .act_dtype = DT_F32,
    .choices = {.precision = DT_F32, .fusion = 0, .encoder_attention = &cpu_attention_explicit,
                .decoder_attention = &cpu_attention_explicit, .encoder_linear = &cpu_linear_dense},
    .dense_linear = &cpu_linear_dense,
    .mem_alloc = cpu_alloc,
    .mem_free = cpu_free,
    .copy_to_device = cpu_copy,
    .copy_to_host = cpu_copy,
    .copy_device = cpu_copy,
    .upload_act = cpu_upload_act,
    .download_act = cpu_download_act,
    .sync = cpu_sync,
    .load_end = cpu_load_end,
    .peak_bytes = cpu_peak,
    .range_push = cpu_range_push,
    .range_pop = cpu_range_pop,
    .layernorm = cpu_layernorm,
    .matmul_nt = cpu_matmul_nt,
    .linear_table = cpu_linear_table,
    .activation = cpu_activation,
    .add = cpu_add,
    .gather_add = cpu_gather_add,
    .copy3d = cpu_copy3d,
    .im2col = cpu_im2col,
    .window_partition = cpu_window_partition,
    .window_unpartition = cpu_window_unpartition,
    .select_masks = cpu_select_masks,
    .embed_prompts = cpu_embed_prompts,
    .act_to_f32 = cpu_act_to_f32,
    .resize_bilinear = cpu_resize_bilinear,
    .resize_masks_ragged = cpu_resize_masks_ragged,
    .top_mask_stats = cpu_top_mask_stats,
    .top_mask_stats_ragged = cpu_top_mask_stats_ragged,
    .timer_begin = cpu_timer_begin,
    .timer_end_ms = cpu_timer_end_ms,
    .timer_mark = cpu_timer_mark,
    .timer_mark_ms = cpu_timer_mark_ms,
};

const Ops *cpu_ops(void) { return &CPU_OPS; }

// The CPU implements float32 with unfused operations, its own attention and linear formats,
// and no graphs: anything else is refused here, by name, before any work.
const Ops *cpu_open(const char *stage_name, const OpsChoices *c) {
    static Ops table;
    if (c->precision != DT_F32)
        die("stage %s: precision bf16 is not implemented by the cpu backend (float32 only)", stage_name);
    if (c->fusion) die("stage %s: fusion=on is not implemented by the cpu backend", stage_name);
    ops_check_choices(stage_name, "cpu", c);
    table = CPU_OPS;
    table.choices = *c;
    return &table;
}
