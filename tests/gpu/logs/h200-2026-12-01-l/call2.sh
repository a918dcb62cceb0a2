#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 13: the bundle of the flash kernel's idle warps (rows past
# the sequence make no rel-pos terms and no softmax) and grid_div, call 1's losing candidates
# removed, and test_int8's byte-filled hidden outputs. With the GPU to itself: the flash bench,
# ncu of the windowed kernel; then the flash suite, test_int8, and the flash sanitizer script
# (alone: under call 1's load its initcheck did not finish in its limit).
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 40) build/tests/gpu/test_flash_relpos --bench
NCU="ncu --clock-control none"
TAILN=5 step gpu0.txt ncu_flash_win $(left 80) $NCU --kernel-name 'regex:hd64_s16_w4m1n64b3_g1' --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section SourceCounters \
    -o "$STEPS_LOGS/ncu_win" build/tests/gpu/test_flash_relpos --bench
ncu --import "$STEPS_LOGS/ncu_win.ncu-rep" --print-details all > "$STEPS_LOGS/ncu_win.txt" 2>&1
ncu --import "$STEPS_LOGS/ncu_win.ncu-rep" --page source --csv --print-source sass > "$STEPS_LOGS/ncu_win_sass.csv" 2>&1
rm -f "$STEPS_LOGS/ncu_win.ncu-rep"
grep -E "Duration|Issue Active|Active Warps Per|Eligible Warps|Executed Instructions  " "$STEPS_LOGS/ncu_win.txt" >> "$OUT/gpu0.txt"
end=$(left 150)
TAILN=20 step gpu1.txt flash_suite $end build/tests/gpu/test_flash_relpos &
TAILN=20 step gpu2.txt test_int8 $end build/tests/gpu/test_int8 &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt"
TAILN=30 step gpu0.txt sanitize_flash $(left 330) bash tests/gpu/sanitize_flash_relpos.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
