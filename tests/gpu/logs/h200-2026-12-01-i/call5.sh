#!/usr/bin/env bash
# Device call 5 (nvidia-h200): where sdpa's time to first mask goes. call 4's bundle (dfdfa92)
# with build/sam-sdpa rebuilt to print its cuDNN handle and plan build times at exit
# (SAM_SDPA_REPORT=1; carried in .carry/extra); short evals (16 images, batch 8, one warm-up
# batch): sdpa vit_h twice (cuDNN's files cold, then in the page cache), fused vit_h, sdpa vit_b.
set -u
. "$(dirname "$0")/env.sh"
xz -dc .carry/extra/sam-sdpa.xz > build/sam-sdpa && chmod +x build/sam-sdpa
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    SAM_SDPA_REPORT=1 timeout 60 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 16 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
    grep -v '^{' "$log" | cut -c1-400 >> "$OUT/gpu0.txt"
}
ev sdpa_vit_h_cold sdpa vit_h
ev sdpa_vit_h_warm sdpa vit_h
ev fused_vit_h fused vit_h
ev sdpa_vit_b sdpa vit_b
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
