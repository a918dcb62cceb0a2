#!/usr/bin/env bash
# Device call 7 (nvidia-h200), session 14: the review commit after call 5 (one rel-pos product
# function and one per-m-tile table setup for both kernel bodies, the quad reductions through
# cuda_common's helpers; every flash kernel's setup SASS changed, the chosen kernels' key loops
# the same instructions but for 2 lines). With the GPU to itself: the flash bench. Then, sharing
# the GPU: the tests that run the flash kernels (the op tests, the golden tests, the stage-level
# scripts), then the flash sanitizer script. Not rerun: the rest of make test-gpu (call 5).
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
end=$(left 200)
TAILN=30 step gpu1.txt tests $end bash tests/run.sh gpu test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_gpu_graphs.sh test_gpu_nested.sh test_gpu_predict_cli.sh &
TAILN=12 step gpu2.txt fullsize $end bash tests/run.sh gpu test_gpu_fullsize.sh &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" >> "$OUT/gpu0.txt"; rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt"
TAILN=12 step gpu0.txt sanitize_flash $(left 250) bash tests/gpu/sanitize_flash_relpos.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call7.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
