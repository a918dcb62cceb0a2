// Sparse prompt embeddings on the CPU.
// ref: segment_anything/modeling/prompt_encoder.py PositionEmbeddingRandom._pe_encoding,
//      PromptEncoder._embed_points, PromptEncoder._embed_boxes
#include <math.h>

#include "cpu_ops.h"

void cpu_embed_prompts(Exec *x, void *out_, const float *coords, const int32_t *labels, int n,
                       int t, int dim, const float *gauss, const void *pe_, const void *nap_,
                       int img) {
    float *out = out_;
    const float *pe = pe_, *nap = nap_;
    int half = dim / 2;
    const float two_pi = (float)(2.0 * M_PI);
    for (int i = 0; i < n * t; i++) {
        float *o = out + (int64_t)i * dim;
        int label = labels[i];
        if (label == -1) {  // padding point: embedding zeroed, then not_a_point_embed
            for (int j = 0; j < dim; j++) o[j] = nap[j];
            continue;
        }
        // +0.5: shift to the pixel centre; / size: into [0, 1]; 2c - 1: into [-1, 1].
        float cx = (coords[2 * i] + 0.5f) / (float)img;
        float cy = (coords[2 * i + 1] + 0.5f) / (float)img;
        cx = 2.0f * cx - 1.0f;
        cy = 2.0f * cy - 1.0f;
        for (int j = 0; j < half; j++) {
            float v = two_pi * (cx * gauss[j] + cy * gauss[half + j]);
            o[j] = sinf(v);
            o[half + j] = cosf(v);
        }
        if (label >= 0 && label <= 3)
            for (int j = 0; j < dim; j++) o[j] += pe[label * dim + j];
    }
}
