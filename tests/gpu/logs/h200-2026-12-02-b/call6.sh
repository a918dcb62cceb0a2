#!/usr/bin/env bash
# Device call 6 (nvidia-h200), session 15: ncu readings of the resident windowed kernels at vit_b
# (-resh, the fastest candidate, and -res) for issue 15's note: where the time goes now. The
# bundle of call 3 with call 5's build/tests/gpu/test_flash_relpos (.carry/flash-test.tar.xz).
set -u
. "$(dirname "$0")/env.sh"
tar -xJf .carry/flash-test.tar.xz
NCU="ncu --clock-control none"
for k in g3 g2; do
    TAILN=5 step gpu0.txt ncu_$k $(left $([ $k = g3 ] && echo 70 || echo 130)) $NCU \
        --kernel-name "regex:hd64_s16_w8m1n64b2_$k" --launch-count 1 \
        --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
        --section SchedulerStats --section InstructionStats --section SourceCounters \
        -o "$STEPS_LOGS/ncu_$k" build/tests/gpu/test_flash_relpos --bench
    ncu --import "$STEPS_LOGS/ncu_$k.ncu-rep" --print-details all > "$STEPS_LOGS/ncu_$k.txt" 2>&1
    ncu --import "$STEPS_LOGS/ncu_$k.ncu-rep" --page source --csv --print-source sass > "$STEPS_LOGS/ncu_${k}_sass.csv" 2>&1
    rm -f "$STEPS_LOGS/ncu_$k.ncu-rep"
    { echo "ncu $k:"; grep -E "Duration|Issue Active|Eligible Warps|Executed Instructions  |Achieved Occupancy|Registers Per|Stall" "$STEPS_LOGS/ncu_$k.txt"; } >> "$OUT/gpu0.txt"
done
steps_pack logs-call6.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
