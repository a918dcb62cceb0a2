#!/usr/bin/env bash
# Device call 5 (nvidia-h200), session 15: issue 15's windowed attention, the windows' last key
# tile as N = 32 again, now as code of its own after the tile loop in new resident configs
# (-resh: no branch between the two product shapes, no ptxas serialisation). The bundle of call
# 3 with build/tests/gpu/test_flash_relpos replaced by the working tree's
# (.carry/flash-test.tar.xz): the flash bench, then every flash test.
set -u
. "$(dirname "$0")/env.sh"
tar -xJf .carry/flash-test.tar.xz
TAILN=50 step gpu0.txt flash_bench $(left 60) build/tests/gpu/test_flash_relpos --bench
TAILN=8 step gpu0.txt flash_tests $(left 150) build/tests/gpu/test_flash_relpos
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
