#!/usr/bin/env bash
# Device call 4 (nvidia-h200): the int8 tstore epilogue with the residual loaded by TMA during
# the mainloop and GELU 8 at a time: test_int8 (every case, both variants), then its bench.
# test_int8 is carried beside call 1's bundle (.carry/extra).
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/test_int8.xz > build/tests/gpu/test_int8 && chmod +x build/tests/gpu/test_int8
TAILN=40 step gpu0.txt int8_tests $(left 200) bash tests/run.sh gpu test_int8
TAILN=60 step gpu0.txt int8_bench $(left 300) build/tests/gpu/test_int8 --bench-only
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
