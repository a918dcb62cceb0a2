// The CUDA operation tables: one per stage's choices (cuda_stage_open), and the two default
// tables (float32, bfloat16; explicit attention, dense linears, unfused) the op tests use.
// Every operation reads the table's activation dtype (x->ops->act_dtype) and launches the
// float32 or bfloat16 kernels.
#include <string.h>

#include "cuda_common.cuh"

static void fill(Ops *t, const char *name, DType dt) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->act_dtype = dt;
    t->choices.precision = dt;
    t->choices.fusion = 0;
    t->choices.encoder_attention = &cuda_attention_explicit;
    t->choices.decoder_attention = &cuda_attention_explicit;
    t->choices.encoder_linear = &cuda_linear_dense;
    t->dense_linear = &cuda_linear_dense;
    t->mem_alloc = cuda_mem_alloc;
    t->mem_free = cuda_mem_free;
    t->copy_to_device = cuda_copy_to_device;
    t->copy_to_host = cuda_copy_to_host;
    t->copy_device = cuda_copy_device;
    t->upload_act = cuda_upload_act;
    t->download_act = cuda_download_act;
    t->sync = cuda_sync;
    t->load_end = cuda_load_end;
    t->peak_bytes = cuda_peak_bytes;
    t->range_push = cuda_range_push;
    t->range_pop = cuda_range_pop;
    t->layernorm = cuda_layernorm;
    t->layernorm_window = cuda_layernorm_window;
    t->matmul_nt = cuda_matmul_nt;
    t->linear_table = cuda_linear_table;
    t->activation = cuda_activation;
    t->add = cuda_add;
    t->gather_add = cuda_gather_add;
    t->copy3d = cuda_copy3d;
    t->im2col = cuda_im2col;
    t->window_partition = cuda_window_partition;
    t->window_unpartition = cuda_window_unpartition;
    t->select_masks = cuda_select_masks;
    t->upscale_masks = cuda_upscale_masks;
    t->embed_prompts = cuda_embed_prompts;
    t->act_to_f32 = cuda_act_to_f32;
    t->resize_bilinear = cuda_resize_bilinear;
    t->resize_masks_ragged = cuda_resize_masks_ragged;
    t->top_mask_stats = cuda_top_mask_stats;
    t->top_mask_stats_ragged = cuda_top_mask_stats_ragged;
    t->timer_begin = cuda_timer_begin;
    t->timer_end_ms = cuda_timer_end_ms;
    t->timer_mark = cuda_timer_mark;
    t->timer_mark_ms = cuda_timer_mark_ms;
    t->reserve_workspace = cuda_reserve_workspace;
    t->graph_begin = cuda_graph_begin;
    t->graph_end = cuda_graph_end;
    t->graph_launch = cuda_graph_launch;
    t->graph_free = cuda_graph_free;
    t->launch_counts = cuda_launch_counts;
    t->lanes_open = cuda_lanes_open;
    t->set_lane = cuda_set_lane;
    t->lanes_fork = cuda_lanes_fork;
    t->lanes_join = cuda_lanes_join;
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

extern "C" const Ops *cuda_stage_open(const char *stage_name, const OpsChoices *c, void **backend) {
    ops_check_choices(stage_name, "cuda", c);
    // A format's library (cuSPARSELt) is loaded first: a missing one is named before the GPU
    // is touched.
    if (c->encoder_linear->open) c->encoder_linear->open(stage_name);
    CudaBackend *b = cuda_backend_open(stage_name);  // exits: no GPU, or CC < 8.0
    fill(&b->ops, c->precision == DT_BF16 ? "cuda-bf16" : "cuda-fp32", c->precision);
    b->ops.choices = *c;
    *backend = b;
    return &b->ops;
}

extern "C" void cuda_stage_close(void *backend) { cuda_backend_close((CudaBackend *)backend); }

extern "C" void cuda_stage_describe(void *backend, char *buf, size_t len) {
    cuda_backend_describe((CudaBackend *)backend, buf, len);
}
