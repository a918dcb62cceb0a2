#!/usr/bin/env bash
# Device call 5 (nvidia-h200): the int8 quantisation with 4 loads in flight per lane: test_int8's
# bench alone (its checks ran at call 4; the quantisation's equality with the CPU's is checked
# again in call 6's test run). test_int8 is carried beside call 1's bundle (.carry/extra).
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/test_int8.xz > build/tests/gpu/test_int8 && chmod +x build/tests/gpu/test_int8
TAILN=60 step gpu0.txt int8_bench $(left 300) build/tests/gpu/test_int8 --bench-only
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
