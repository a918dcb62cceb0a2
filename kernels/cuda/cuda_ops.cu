// The two CUDA operation tables. They share every function: each operation reads the table's
// activation dtype (x->ops->act_dtype) and launches the float32 or bfloat16 kernels.
#include "cuda_common.cuh"

static void fill(Ops *t, const char *name, DType dt) {
    t->name = name;
    t->act_dtype = dt;
    t->mem_alloc = cuda_mem_alloc;
    t->mem_free = cuda_mem_free;
    t->copy_to_device = cuda_copy_to_device;
    t->copy_to_host = cuda_copy_to_host;
    t->upload_act = cuda_upload_act;
    t->download_act = cuda_download_act;
    t->sync = cuda_sync;
    t->peak_bytes = cuda_peak_bytes;
    t->range_push = cuda_range_push;
    t->range_pop = cuda_range_pop;
    t->linear_prepare = cuda_linear_prepare;
    t->linear = cuda_linear;
    t->layernorm = cuda_layernorm;
    t->attention = cuda_attention;
    t->matmul_nt = cuda_matmul_nt;
    t->add = cuda_add;
    t->copy3d = cuda_copy3d;
    t->im2col = cuda_im2col;
    t->window_partition = cuda_window_partition;
    t->window_unpartition = cuda_window_unpartition;
    t->pixel_shuffle2 = cuda_pixel_shuffle2;
    t->embed_prompts = cuda_embed_prompts;
    t->act_to_f32 = cuda_act_to_f32;
    t->resize_bilinear = cuda_resize_bilinear;
    t->top_mask_stats = cuda_top_mask_stats;
    t->timer_begin = cuda_timer_begin;
    t->timer_end_ms = cuda_timer_end_ms;
    t->timer_mark = cuda_timer_mark;
    t->timer_mark_ms = cuda_timer_mark_ms;
}

// Filled on first use (C++ compilation has no C designated initialisers); a stage asks for
// its table once, before any thread exists.
extern "C" const Ops *cuda_ops_fp32(void) {
    static Ops t;
    if (!t.name) fill(&t, "cuda-fp32", DT_F32);
    return &t;
}

extern "C" const Ops *cuda_ops_bf16(void) {
    static Ops t;
    if (!t.name) fill(&t, "cuda-bf16", DT_BF16);
    return &t;
}
