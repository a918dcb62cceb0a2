// kernels/grid_div.h: the float-reciprocal division equals the integer division for every token
// index and grid width it serves (the flash attention's grids: at most 64 x 64), and its bound is
// where the method ends: the same formula over a wider range of q does fail.
#include "../../kernels/grid_div.h"
#include "../test_util.h"

// Cases of q in [0, max_q) and W in [1, max_w] where grid_div differs from q / W.
static long mismatches(int max_q, int max_w) {
    long bad = 0;
    for (int w = 1; w <= max_w; w++) {
        float inv_w = 1.0f / (float)w;
        for (int q = 0; q < max_q; q++) bad += grid_div(q, inv_w) != q / w;
    }
    return bad;
}

int main(void) {
    long bad = mismatches(GRID_DIV_MAX_Q, GRID_DIV_MAX_W);
    report(bad == 0, "grid_div equals q / W for every q < %d and W in [1, %d]: %ld differ", GRID_DIV_MAX_Q,
           GRID_DIV_MAX_W, bad);
    // Far past the bound the float product's error reaches 0.5 / W: the check above can fail.
    long far = mismatches(1 << 23, GRID_DIV_MAX_W);
    report(far > 0, "the same formula for q up to 2^23 does differ somewhere (%ld cases): the bound matters", far);
    return test_exit_status();
}
