#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 11. The bundle: branch sdpa-parallel-plans (d892593, main
# plus sdpa's plans built together on threads). .carry/extra: test_int8 and sam-int8 of branch
# int8-gelu-warps (lin1's GELU on the producer warpgroup's idle warps, beside the next tile's
# products). Steps: test_sdpa + test_golden_gpu (the plans); short evals for sdpa's time to
# first mask (vit_h cold then warm, fused vit_h, sdpa vit_b); test_int8 of the new variant and
# its bench; then, if it passed, nested and int8 in one harness run (batch 8, both families).
set -u
. "$(dirname "$0")/env.sh"
for t in tests/gpu/test_int8 sam-int8; do
    xz -dc .carry/extra/$(basename $t).xz > build/$t && chmod +x build/$t
done
TAILN=12 step gpu0.txt tests_sdpa $(left 90) bash tests/run.sh gpu test_sdpa test_golden_gpu
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    SAM_SDPA_REPORT=1 timeout 40 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 16 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
    grep -v '^{' "$log" | sed 's/, strides.*built in/ built in/' | cut -c1-160 | head -12 >> "$OUT/gpu0.txt"
}
ev sdpa_vit_h_cold sdpa vit_h
ev sdpa_vit_h_warm sdpa vit_h
ev fused_vit_h fused vit_h
ev sdpa_vit_b sdpa vit_b
ev int8_vit_h int8 vit_h
TAILN=40 step gpu0.txt test_int8 $(left 230) build/tests/gpu/test_int8 && int8_ok=1 || int8_ok=0
TAILN=45 step gpu0.txt int8_bench $(left 290) build/tests/gpu/test_int8 --bench-only
if [ $int8_ok = 1 ]; then
    TAILN=20 step gpu0.txt waterfall $(left 480) build/waterfall run gpu --stages nested,int8 \
        --batch-sizes 8 --max-passes 2 --db build/results.db
    db_back build/results.db results-call1.db.xz
fi
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
