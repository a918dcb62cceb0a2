#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 14: the flash bench of the resident configs with grouped
# rel-pos products (every n-tile's B fragments loaded before the products).
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
