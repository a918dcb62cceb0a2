#!/usr/bin/env bash
# Device call 3 (nvidia-h200, one GPU, cold), the bundle of the commit named in NOTES.md: the
# same stage code as calls 1-2, the tests' bounds as that commit states them.
# make test-gpu's suite but the two long scripts (calls 1-2 ran them: test_gpu_agreement.sh
# in halves, test_gpu_sparse.sh) and the two of part 2 (call 1); then ncu readings: every
# kernel of a short sam-nested eval (its decoder is replayed from graphs, so NVTX ranges do not
# select it: call 2), and the int8 GEMM at vit_b's qkv shape.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=80 step gpu0.txt test-gpu-part1 $(left 400) bash tests/run.sh gpu test_golden_gpu test_sdpa \
    test_flash_relpos test_int8 test_ops test_ragged_gpu test_sparse24 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs-part1"
TAILN=200 step gpu0.txt ncu_nested_all $(left 470) $NCU --metrics gpu__time_duration.sum --print-summary per-kernel \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1
TAILN=120 step gpu0.txt ncu_int8_qkv $(left 520) $NCU -k regex:int8_gemm --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section WarpStateStats build/tests/gpu/test_int8 --bench-only
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
