#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 13: the bundle of the windowed candidates (rel-pos tables
# staged in shared memory for SEGW 16, split configs with a one-warp tail kernel, 128-key -tma
# windowed configs). With the GPU to itself: the flash bench (every candidate, both windowed
# shapes), then ncu of the windowed kernel (the old choice's kernel, now with staged tables).
# Then, sharing the GPU (accuracy only): test_flash_relpos (every config, split ones included),
# its sanitizer script, test_sdpa and test_int8 (session 12's review changes, not run before),
# and the unfiltered initcheck of test_int8 --mlp-only (session 12 call 7's open reports).
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 60) build/tests/gpu/test_flash_relpos --bench
NCU="ncu --clock-control none"
TAILN=150 step gpu0.txt ncu_flash_win $(left 150) $NCU --kernel-name 'regex:hd64_s16_w4m1n64b3_g1' --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section SourceCounters \
    -o "$STEPS_LOGS/ncu_win" build/tests/gpu/test_flash_relpos --bench
ncu --import "$STEPS_LOGS/ncu_win.ncu-rep" --print-details all > "$STEPS_LOGS/ncu_win.txt" 2>&1
ncu --import "$STEPS_LOGS/ncu_win.ncu-rep" --page source --csv --print-source sass > "$STEPS_LOGS/ncu_win_sass.csv" 2>&1
xz -k "$STEPS_LOGS/ncu_win_sass.csv"; cp "$STEPS_LOGS/ncu_win_sass.csv.xz" "$OUT/" 2>/dev/null
head -c 3000 "$STEPS_LOGS/ncu_win_sass.csv" >> "$OUT/gpu0.txt"
end=$(left 420)
TAILN=50 step gpu1.txt flash_suite $end build/tests/gpu/test_flash_relpos &
TAILN=30 step gpu2.txt sanitize_flash $end bash tests/gpu/sanitize_flash_relpos.sh &
TAILN=30 step gpu3.txt test_sdpa $end build/tests/gpu/test_sdpa &
( TAILN=40 step gpu4.txt test_int8 $end build/tests/gpu/test_int8
  cs=compute-sanitizer; command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
  TAILN=30 step gpu4.txt mlp_initcheck_all $end $cs --tool initcheck --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only ) &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4.txt"
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
