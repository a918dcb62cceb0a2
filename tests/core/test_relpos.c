// Rel-pos tables whose length differs from 2 * size - 1: the interpolation of get_rel_pos
// (values computed by hand) and a checkpoint whose global tables need it.
#include <string.h>

#include "../../kernels/cpu/cpu_ops.h"
#include "common/check.h"
#include "../../variants/core/checkpoint.h"
#include "../../variants/core/model.h"
#include "../test_util.h"

int main(void) {
    // F.interpolate(linear, align_corners=False) from 3 rows to 5: source index
    // (i + 0.5) * 3/5 - 0.5 clamped at 0 -> 0, 0.4, 1.0, 1.6, 2.2 (the last clamps to row 2).
    const float t[3 * 2] = {1, 10, 2, 20, 4, 40};
    const float want[5 * 2] = {1, 10, 1.4f, 14, 2, 20, 3.2f, 32, 4, 40};
    float out[5 * 2];
    sam_resize_rel_pos(t, 3, 2, 5, out);
    double err = rel_error(out, want, 10);
    report(err < 1e-6, "rel-pos 3 -> 5 rows by hand: max rel error %.3g", err);
    // Shrinking 5 -> 3: source index (i + 0.5) * 5/3 - 0.5 -> 0.3333, 2, 3.6667.
    const float t5[5] = {0, 1, 2, 3, 4};
    const float want3[3] = {1.0f / 3, 2, 11.0f / 3};
    float out3[3];
    sam_resize_rel_pos(t5, 5, 1, 3, out3);
    err = rel_error(out3, want3, 3);
    report(err < 1e-6, "rel-pos 5 -> 3 rows by hand: max rel error %.3g", err);
    sam_resize_rel_pos(t, 3, 2, 3, out);
    report(memcmp(out, t, sizeof t) == 0, "rel-pos of the right length is copied unchanged");

    // The tiny fixture with its global blocks' tables stretched to 41 rows (as a checkpoint
    // trained at another resolution): the blocks must stay global and be resized back to 31.
    const char *b = getenv("BUILD") ? getenv("BUILD") : "build";
    char path[1024], err_s[512];
    snprintf(path, sizeof path, "%s/fixtures/sam-golden/tiny/model.pth", b);
    TensorMap m;
    if (checkpoint_read(path, &m, err_s, sizeof err_s) != 0) {
        report(0, "read %s: %s", path, err_s);
        return 1;
    }
    for (int i = 0; i < m.count; i++) {
        HostTensor *h = &m.items[i];
        if ((strstr(h->name, "blocks.1.attn.rel_pos") || strstr(h->name, "blocks.3.attn.rel_pos"))) {
            int dim = (int)h->shape[1];
            float *longer = xmalloc((size_t)41 * dim * sizeof(float));
            sam_resize_rel_pos(h->data, 31, dim, 41, longer);
            free(h->data);
            h->data = longer;
            h->shape[0] = 41;
            h->count = (size_t)41 * dim;
        }
    }
    SamConfig cfg;
    int ok = sam_config_from_tensors(&m, &cfg, err_s, sizeof err_s) == 0;
    report(ok && cfg.window == 14 && cfg.is_global[1] && cfg.is_global[3] && !cfg.is_global[0] &&
               !cfg.is_global[2] && cfg.rel_pos_len[1] == 41,
           "stretched global tables keep blocks 1 and 3 global (window %d)", cfg.window);
    Exec x;
    exec_init(&x, cpu_ops(), NULL);
    Sam sam;
    ok = sam_build(&sam, &x, &m, err_s, sizeof err_s) == 0;
    report(ok && sam.w.blocks[1].attn_grid == 16, "the model resizes them to 2 * 16 - 1 rows");
    if (ok) sam_free(&sam);
    tmap_free(&m);
    return test_exit_status();
}
