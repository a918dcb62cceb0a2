// The SAM configuration, derived from tensor shapes (never from a file name), and the list of
// tensors a configuration implies: the one source for checkpoint validation and for the
// synthetic generator.
#ifndef SAM_CONFIG_H
#define SAM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tensors.h"

#define SAM_MAX_DEPTH 64

typedef struct {
    char model[16];            // "vit_b", "vit_l", "vit_h" or "custom" (by shape)
    // image encoder  ref: segment_anything/build_sam.py _build_sam
    int img_size;              // 1024
    int patch;                 // 16
    int grid;                  // img_size / patch = 64
    int enc_dim;               // 768 / 1024 / 1280
    int enc_depth;             // 12 / 24 / 32
    int enc_heads;             // 12 / 16 / 16
    int enc_head_dim;          // enc_dim / enc_heads = 64 / 64 / 80
    int enc_mlp_dim;           // 4 * enc_dim
    int window;                // 14
    uint8_t is_global[SAM_MAX_DEPTH];   // 1 for global-attention blocks
    int rel_pos_len[SAM_MAX_DEPTH];     // rows of rel_pos_h/w as stored (resized at load if
                                        // they differ from 2 * attention grid - 1)
    // prompt encoder and decoder
    int prompt_dim;            // 256 (neck output channels, transformer dim)
    int mask_in_chans;         // 16
    int dec_depth;             // 2
    int dec_heads;             // 8 (see config.c: not recorded in shapes)
    int dec_mlp_dim;           // 2048
    int dec_cross_dim;         // prompt_dim / attention_downsample_rate = 128
    int num_mask_tokens;       // 4 = 3 multimask outputs + 1
    int iou_hidden;            // 256
    int iou_depth;             // 3
    int hyper_depth;           // 3
} SamConfig;

// LayerNorm epsilons of the official modules (encoder blocks, LayerNorm2d: 1e-6;
// TwoWayTransformer's nn.LayerNorm: PyTorch's default 1e-5).
#define SAM_ENC_LN_EPS 1e-6f
#define SAM_LN2D_EPS 1e-6f
#define SAM_DEC_LN_EPS 1e-5f

// Preset for "vit_b" / "vit_l" / "vit_h". Returns 0, or -1 if the name is unknown.
int sam_config_preset(const char *name, SamConfig *cfg);

// Derives the configuration from the tensors' shapes and checks that exactly the expected
// tensors are present with consistent shapes. Returns 0, or -1 with one line in err naming
// the source and the problem.
int sam_config_from_tensors(const TensorMap *m, SamConfig *cfg, char *err, size_t err_len);

// Calls fn once per tensor the configuration implies, in the official state_dict order.
typedef void (*TensorVisitor)(void *ctx, const char *name, int ndim, const int64_t *shape);
void sam_config_visit_tensors(const SamConfig *cfg, TensorVisitor fn, void *ctx);

// One JSON object (no newline) describing cfg, written to buf. Returns the length.
int sam_config_json(const SamConfig *cfg, char *buf, size_t len);

#endif
