#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 14: the bundle of the resident windowed flash configs
# (-res: blocks that take (window, head, query tile) items in turn, the next item's Q and first
# K/V tile loaded during the current item) and the kernel's shared per-tile steps. With the GPU to
# itself: the flash bench (every config, -res among them), ncu of the -res vit_b kernel. Then,
# sharing the GPU (accuracy only): test_flash_relpos (every config, the new shapes and the
# isolation check), test_sdpa, test_int8 and test_ops (session 13's review commits, not run on a
# GPU before); then the flash sanitizer script alone.
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
NCU="ncu --clock-control none"
TAILN=5 step gpu0.txt ncu_flash_res $(left 85) $NCU --kernel-name 'regex:hd64_s16_w4m1n64b4_g2' --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section SourceCounters \
    -o "$STEPS_LOGS/ncu_res" build/tests/gpu/test_flash_relpos --bench
ncu --import "$STEPS_LOGS/ncu_res.ncu-rep" --print-details all > "$STEPS_LOGS/ncu_res.txt" 2>&1
ncu --import "$STEPS_LOGS/ncu_res.ncu-rep" --page source --csv --print-source sass > "$STEPS_LOGS/ncu_res_sass.csv" 2>&1
rm -f "$STEPS_LOGS/ncu_res.ncu-rep"
grep -E "Duration|Issue Active|Active Warps Per|Eligible Warps|Executed Instructions  |Registers Per|Achieved Occ" "$STEPS_LOGS/ncu_res.txt" >> "$OUT/gpu0.txt"
end=$(left 230)
TAILN=25 step gpu1.txt flash_suite $end build/tests/gpu/test_flash_relpos &
TAILN=15 step gpu2.txt test_sdpa $end build/tests/gpu/test_sdpa &
TAILN=15 step gpu3.txt test_int8 $end build/tests/gpu/test_int8 &
TAILN=15 step gpu4.txt test_ops $end build/tests/gpu/test_ops &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4.txt"
TAILN=30 step gpu0.txt sanitize_flash $(left 330) bash tests/gpu/sanitize_flash_relpos.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
