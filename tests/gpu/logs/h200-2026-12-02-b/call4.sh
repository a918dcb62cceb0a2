#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 15: issue 15's windowed attention with the windows' last
# key tile (32 real slots of 64) multiplied as N = 32 in the resident (-res) kernels. The bundle
# of call 3 with build/tests/gpu/test_flash_relpos replaced by the working tree's
# (.carry/flash-test.tar.xz): the flash bench, then every flash test.
set -u
. "$(dirname "$0")/env.sh"
tar -xJf .carry/flash-test.tar.xz
TAILN=45 step gpu0.txt flash_bench $(left 60) build/tests/gpu/test_flash_relpos --bench
TAILN=8 step gpu0.txt flash_tests $(left 150) build/tests/gpu/test_flash_relpos
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
