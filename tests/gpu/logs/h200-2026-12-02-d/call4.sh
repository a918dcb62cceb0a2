#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 17: the batch loader opened as soon as the weights are in
# (its workers decode the first batch while the model is built and uploaded; run 22 put the
# first batch's wait for its inputs at 0.08-0.15 s at batch 8 and 0.34-0.45 s at batch 32). The
# time to first mask and its parts for fused, sdpa, relpos and int8, vit_h and vit_b, batch 8
# and 32, as the harness runs them (warm-up 3), sdpa's plans from build/sdpa-aot's cache.
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
rm -rf build/sdpa-plans
TAILN=2 step gpu0.txt aot $(left 60) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
split() { grep -o '"first_mask_ms":[0-9.]*\|"first_mask_split_s":{[^}]*}\|"img_s":[0-9.]*' "$1" | tr '\n' ' '; echo; }
for m in vit_h vit_b; do
    for bs in 8 32; do
        for st in fused sdpa relpos int8; do
            TAILN=0 step gpu0.txt fm_${st}_${m}_$bs $(left 280) build/sam-$st eval --checkpoint synthetic:$m \
                --coco $coco --batch-size $bs --limit $bs --warmup 3
            echo "$st $m bs $bs: $(split build/step-logs/fm_${st}_${m}_$bs.log)" >> "$OUT/gpu0.txt"
        done
    done
done
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
