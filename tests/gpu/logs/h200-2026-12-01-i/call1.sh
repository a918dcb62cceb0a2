#!/usr/bin/env bash
# Device call 1 (nvidia-h200): main's bundle (e653b74) and three test programs built from the
# candidate branches, carried in .carry/extra:
#   test_int8 of main (the review mends' host code: its first GPU run), then test_int8 of
#   int8-gelu-in (the one-read quantisation, GELU moved into lin2's quantisation) with its bench;
#   test_flash_relpos of flash-n112 (112-key windowed tiles) with its bench;
#   test_sdpa of main + the 16-rows-per-block bias kernel, with its bench.
set -u
. "$(dirname "$0")/env.sh"
for t in test_int8_gelu test_flash_n112 test_sdpa_bias16; do
    xz -dc .carry/extra/$t.xz > build/tests/gpu/$t && chmod +x build/tests/gpu/$t
done
TAILN=6 step gpu0.txt int8_main $(left 60) build/tests/gpu/test_int8
TAILN=6 step gpu0.txt int8_gelu $(left 90) build/tests/gpu/test_int8_gelu
TAILN=30 step gpu0.txt int8_gelu_bench $(left 130) build/tests/gpu/test_int8_gelu --bench-only
TAILN=6 step gpu0.txt flash_n112 $(left 190) build/tests/gpu/test_flash_n112
TAILN=30 step gpu0.txt flash_n112_bench $(left 220) build/tests/gpu/test_flash_n112 --bench
TAILN=40 step gpu0.txt sdpa_bias16 $(left 330) build/tests/gpu/test_sdpa_bias16 --bench
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
