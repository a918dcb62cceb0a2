#!/usr/bin/env bash
# Device call 6 (nvidia-h200): the int8 format's fused LayerNorm + quantisation (run_ln):
# test_int8 (every case for both GEMM variants, the LayerNorm fusion's exact equality).
# test_int8 is carried beside call 1's bundle (.carry/extra).
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/test_int8.xz > build/tests/gpu/test_int8 && chmod +x build/tests/gpu/test_int8
TAILN=40 step gpu0.txt int8_tests $(left 200) bash tests/run.sh gpu test_int8
steps_pack logs-call6.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
