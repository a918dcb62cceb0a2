#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 11. Call 2's bundle (aec73f8) with test_int8 and sam-int8
# rebuilt (.carry/extra) after call 2's hang: the GELU-warps variant's register split is now
# 192 x 2 + 120 (within the launch's 168 x 3 per thread; 200 x 2 + 112 left the consumers'
# setmaxnreg.inc waiting forever). Steps: test_int8 and its bench (short limits: a hang costs
# little), then short evals of int8 and nested (vit_b, vit_h).
set -u
. "$(dirname "$0")/env.sh"
for t in tests/gpu/test_int8 sam-int8; do
    xz -dc .carry/extra/$(basename $t).xz > build/$t && chmod +x build/$t
done
TAILN=30 step gpu0.txt test_int8 $(left 75) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 120) build/tests/gpu/test_int8 --bench-only
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    timeout 30 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 64 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
}
for fam in vit_b vit_h; do for st in nested int8; do ev ${st}_$fam $st $fam; done; done
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
