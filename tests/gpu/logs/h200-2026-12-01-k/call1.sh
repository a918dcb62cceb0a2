#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 12: the bundle of 172ae89: int8's MLP
# in one format call (lin1's GELU warps record the hidden rows' maxima, lin2's quantisation reads
# each value once) and sdpa's decoder attentions in bucketed chunks (a plan per bucket, not per
# prompt count) with the encoder's chunks even. test_int8 (every variant, the fused MLP's
# bit-for-bit checks) and its bench with the GPU to itself; test_sdpa; short evals of sdpa (time
# to first mask and its plans); then one harness run of fused, sdpa, nested and int8 (vit_b,
# vit_h; batch 8 and 32) for issues 14's and 17's img/s ratios and first masks.
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt test_int8 $(left 110) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 170) build/tests/gpu/test_int8 --bench-only
TAILN=30 step gpu0.txt test_sdpa $(left 240) build/tests/gpu/test_sdpa
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    timeout 40 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 64 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    grep -o 'sdpa: cuDNN handle made in .*' "$log" >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
}
ev sdpa_vit_h sdpa vit_h
ev sdpa_vit_b sdpa vit_b
ev fused_vit_h fused vit_h
TAILN=45 step gpu0.txt waterfall $(left 585) build/waterfall run gpu --stages fused,sdpa,nested,int8 \
    --max-passes 2 --db build/results.db
db_back build/results.db results-call1.db.xz
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
