#!/usr/bin/env bash
# Device call 7 (nvidia-h200), the stage code of calls 5-6: ncu of the three flash kernels the
# build chooses for the bench shapes, one launch each after warm-up: vit_b global (-tma), vit_b
# windowed (-tma; its 0.15 ms target missed) and vit_h global (mma.sync, head dim 80; 2.4 missed).
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none --launch-skip 5 --launch-count 1 --section SpeedOfLight --section Occupancy
 --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section LaunchStats
 --metrics smsp__average_warp_latency_issue_stalled_barrier.ratio,smsp__average_warp_latency_issue_stalled_long_scoreboard.ratio,smsp__average_warp_latency_issue_stalled_math_pipe_throttle.ratio,smsp__average_warp_latency_issue_stalled_wait.ratio,smsp__average_warp_latency_issue_stalled_short_scoreboard.ratio,smsp__average_warp_latency_issue_stalled_mio_throttle.ratio,smsp__inst_executed_pipe_xu.sum,smsp__inst_executed_pipe_alu.sum,smsp__inst_executed_pipe_fma.sum,smsp__inst_executed.sum"
for k in hd64_s64_w8m1n64b2_g2 hd64_s16_w4m1n64b3_g2 hd80_s64_w8m1n64b2_g0; do
    TAILN=200 step gpu0.txt ncu_$k $(left 200) $NCU --kernel-name regex:$k build/tests/gpu/test_flash_relpos --bench
done
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
