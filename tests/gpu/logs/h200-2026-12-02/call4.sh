#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 14: the bundle with the -resp configs (resident, three K/V
# stages, a window's four key tiles in straight-line code with tile t + 1's q k^T issued before
# tile t's softmax). The flash bench, then the flash suite (every config: -resp on the grids of
# four key tiles).
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
TAILN=8 step gpu0.txt flash_suite $(left 120) build/tests/gpu/test_flash_relpos
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
