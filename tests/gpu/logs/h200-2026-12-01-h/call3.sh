#!/usr/bin/env bash
# Device call 3 (nvidia-h200): the int8 GEMM variants s4-direct and s3-tstore (its GELU through
# shared memory to a rolled loop), the two-read quantisation: test_int8 (every case for every
# variant), then its bench alone. test_int8 is carried beside call 1's bundle (.carry/extra).
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/test_int8.xz > build/tests/gpu/test_int8 && chmod +x build/tests/gpu/test_int8
TAILN=40 step gpu0.txt int8_tests $(left 200) bash tests/run.sh gpu test_int8
TAILN=60 step gpu0.txt int8_bench $(left 300) build/tests/gpu/test_int8 --bench-only
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
