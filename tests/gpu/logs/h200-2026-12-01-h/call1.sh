#!/usr/bin/env bash
# Device call 1 (nvidia-h200), branch hd80-wgmma: the head dim 80 -tma flash configs' first run.
# The suite (every config against the float32 attention on the small, fixture and full shapes),
# the flash bench with the GPU to itself, the int8 bench (the GEMM rates issue 17 starts from),
# and ncu of the int8 GEMM at vit_b's lin2 shape (the slowest ratio).
set -u
. "$(dirname "$0")/env.sh"
TAILN=120 step gpu0.txt flash_suite $(left 200) bash tests/run.sh gpu test_flash_relpos
TAILN=100 step gpu0.txt flash_bench $(left 240) build/tests/gpu/test_flash_relpos --bench
TAILN=60 step gpu0.txt int8_bench $(left 300) build/tests/gpu/test_int8 --bench-only
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
