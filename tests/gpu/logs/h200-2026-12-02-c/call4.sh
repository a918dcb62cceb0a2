#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 16, the bundle of 09533c7 (as calls 2 and 3): the int8
# bench once more (a second sample of s3-gelu-table's lin1 beside s3-gelu-warps) and an ncu
# reading of vit_b's lin1 GEMM in the chosen variant (s3-gelu-table): where its time goes now.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=45 step gpu0.txt int8_bench $(left 60) build/tests/gpu/test_int8 --bench-only
TAILN=150 step gpu0.txt ncu_int8_lin1 $(left 200) $NCU --kernel-name regex:int8_gemm --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \
    --section SchedulerStats build/tests/gpu/test_int8 --profile 2
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
