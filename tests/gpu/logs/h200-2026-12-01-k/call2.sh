#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 12: test_int8 and sam-int8 of 1a97d73
# (.carry/extra) on call 1's bundle: lin1's GELU warps as in session 11 (call 1's row maxima on
# them made lin1 0.36 -> 0.48 ms at vit_b); lin1's consumers record each row's largest
# pre-activation instead and lin2's quantisation takes GELU of it as the row's maximum.
# test_int8 and its bench with the GPU to itself, then a harness run of nested and int8.
set -u
. "$(dirname "$0")/env.sh"
for t in tests/gpu/test_int8 sam-int8; do
    xz -dc .carry/extra/$(basename $t).xz > build/$t && chmod +x build/$t
done
TAILN=40 step gpu0.txt test_int8 $(left 110) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 170) build/tests/gpu/test_int8 --bench-only
TAILN=30 step gpu0.txt waterfall_nested_int8 $(left 420) build/waterfall run gpu --stages nested,int8 \
    --max-passes 2 --db build/results.db
db_back build/results.db results-call2.db.xz
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
