#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 14: the resident windowed configs after call 1 (0.218-0.226
# ms against -tma's 0.193): the grid coprime to the query tiles per window (in call 1 every block,
# and every block beside it on its SM, took the same query tile of each window: a quarter of the
# SMs only the short last tiles), the next item's coordinates once per item, the copies issued by
# the last warp. The flash bench twice (the global kernels' spread), ncu of the -res vit_b
# kernel, then the flash suite.
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
TAILN=8 step gpu0.txt flash_bench2 $(left 90) build/tests/gpu/test_flash_relpos --bench
NCU="ncu --clock-control none"
TAILN=5 step gpu0.txt ncu_flash_res $(left 130) $NCU --kernel-name 'regex:hd64_s16_w4m1n64b4_g2' --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section SourceCounters \
    -o "$STEPS_LOGS/ncu_res" build/tests/gpu/test_flash_relpos --bench
ncu --import "$STEPS_LOGS/ncu_res.ncu-rep" --print-details all > "$STEPS_LOGS/ncu_res.txt" 2>&1
ncu --import "$STEPS_LOGS/ncu_res.ncu-rep" --page source --csv --print-source sass > "$STEPS_LOGS/ncu_res_sass.csv" 2>&1
rm -f "$STEPS_LOGS/ncu_res.ncu-rep"
grep -E "Duration|Issue Active|Eligible Warps|Executed Instructions  " "$STEPS_LOGS/ncu_res.txt" >> "$OUT/gpu0.txt"
TAILN=6 step gpu0.txt flash_suite $(left 200) build/tests/gpu/test_flash_relpos
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
