#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 17: where the time to first mask goes (issue 14: sam-sdpa
# vit_h took 2.08 s in run 21 against fused's 1.67, the limit 2 s), from the summary's new
# first_mask_split_s; sdpa's plans from the cache build/sdpa-aot makes, as make run does, and its
# plan report (SAM_SDPA_REPORT). Then (issue 17) ncu's warp-state, occupancy and memory reading
# of the quantising LayerNorm (lnq, lnqwin) and the activation passes (proj's, lin2's) beside the
# plain LayerNorm, vit_b batch 8 (one launch of each, the third block's).
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
rm -rf build/sdpa-plans
TAILN=5 step gpu0.txt aot $(left 60) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
split() { grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"first_mask_split_s":{[^}]*}\|"img_s":[0-9.]*' "$1" | tr '\n' ' '; echo; }
for rep in 1 2; do
    for m in vit_h vit_b; do
        for st in fused sdpa relpos int8; do
            [ $m = vit_b ] && [ $rep = 2 ] && continue
            SAM_SDPA_REPORT=1 TAILN=0 step gpu0.txt fm_${st}_${m}_$rep $(left 200) build/sam-$st eval \
                --checkpoint synthetic:$m --coco $coco --batch-size 8 --limit 16 --warmup 3
            echo "$st $m rep $rep: $(split build/step-logs/fm_${st}_${m}_$rep.log)" >> "$OUT/gpu0.txt"
        done
    done
done
grep -h "handle made\|from the plan cache\|built in" build/step-logs/fm_sdpa_vit_h_1.log | head -12 >> "$OUT/gpu0.txt"
sec="--section LaunchStats --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis --section SpeedOfLight"
TAILN=400 step gpu0.txt ncu_lnq $(left 300) ncu --clock-control none -k 'regex:lnq|int8_quant_rows' --launch-skip 8 --launch-count 4 $sec \
    build/sam-int8 eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 8 --warmup 1 --eager
TAILN=400 step gpu0.txt ncu_ln $(left 360) ncu --clock-control none -k 'regex:layernorm_bf16|lnwin_bf16' --launch-skip 4 --launch-count 2 $sec \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 8 --warmup 1 --eager
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
