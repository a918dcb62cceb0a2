#!/usr/bin/env bash
# Device call 7 (nvidia-h200), session 15: the flash bench twice more with call 5's
# test_flash_relpos (.carry/flash-test.tar.xz), for the spread of -resh against -res and -tma.
set -u
. "$(dirname "$0")/env.sh"
tar -xJf .carry/flash-test.tar.xz
for i in 1 2; do
    TAILN=0 step gpu0.txt flash_bench$i $(left $((20 + 30 * i))) build/tests/gpu/test_flash_relpos --bench
    grep -E "s16-w8m1n64b2|s16-w4m1n64b3-tma|global.*<- the build" "$STEPS_LOGS/flash_bench$i.log" >> "$OUT/gpu0.txt"
done
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
