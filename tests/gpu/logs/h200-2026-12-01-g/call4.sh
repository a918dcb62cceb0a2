#!/usr/bin/env bash
# Device call 4 (nvidia-h200): the -tma configs (K and V by the tensor-memory accelerator, per-stage
# barriers, no block barrier in the loop). The suite, the bench,
# ncu of the wgmma2 global config beside the wgmma one.
set -u
. "$(dirname "$0")/env.sh"
TAILN=120 step gpu0.txt flash_suite $(left 220) bash tests/run.sh gpu test_flash_relpos
TAILN=100 step gpu0.txt flash_bench $(left 260) build/tests/gpu/test_flash_relpos --bench
TAILN=300 step gpu0.txt ncu_flash_wg $(left 330) ncu --clock-control none \
    --kernel-name 'regex:hd64_s64_w8m1n64b2_g3' --launch-skip 2 --launch-count 2 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section ComputeWorkloadAnalysis --section InstructionStats \
    --metrics smsp__average_warp_latency_issue_stalled_barrier,smsp__average_warp_latency_issue_stalled_long_scoreboard,smsp__average_warp_latency_issue_stalled_math_pipe_throttle,smsp__average_warp_latency_issue_stalled_wait,smsp__average_warp_latency_issue_stalled_short_scoreboard,smsp__average_warp_latency_issue_stalled_mio_throttle,smsp__inst_executed_pipe_xu.sum,smsp__inst_executed_pipe_alu.sum,smsp__inst_executed_pipe_fma.sum,smsp__inst_executed.sum \
    build/tests/gpu/test_flash_relpos --bench
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
