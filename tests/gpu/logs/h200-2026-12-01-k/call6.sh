#!/usr/bin/env bash
# Device call 6 (nvidia-h200), session 12: call 3's bundle with test_int8 of 5cd96c5, which adds
# --mlp-only (.carry/extra; the int8 kernels' SASS is the bundle's). compute-sanitizer over the
# fused MLP's new kernels (lin1 recording the rows' maxima, the quantisation from them):
# memcheck, then racecheck, on `test_int8 --mlp-only` (the vit_h block and the 99-row tails
# case), only the int8 kernels instrumented (kernel names holding int8).
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/test_int8.xz > build/tests/gpu/test_int8 && chmod +x build/tests/gpu/test_int8
cs=compute-sanitizer
command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
TAILN=30 step gpu0.txt mlp_plain $(left 60) build/tests/gpu/test_int8 --mlp-only
TAILN=30 step gpu0.txt mlp_memcheck $(left 165) $cs --tool memcheck --kernel-name kns=int8 \
    --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only
TAILN=30 step gpu0.txt mlp_racecheck $(left 245) $cs --tool racecheck --racecheck-report all \
    --kernel-name kns=int8 --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
