#!/usr/bin/env bash
# Device call 6 (nvidia-h200): sdpa's plans built together at the end of each planning pass,
# on up to 8 threads with a cuDNN handle each (sdpa_flush). call 4's bundle (dfdfa92) with
# test_sdpa, test_golden_gpu and sam-sdpa rebuilt (.carry/extra): test_sdpa (its planned and
# captured path now takes the flush) and test_golden_gpu (sam-sdpa's golden tests: the stage's
# planning passes), then the short evals of call 5 (sdpa vit_h cold and warm, fused vit_h,
# sdpa vit_b) for the time to first mask.
set -u
. "$(dirname "$0")/env.sh"
for t in tests/gpu/test_sdpa tests/gpu/test_golden_gpu sam-sdpa; do
    xz -dc .carry/extra/$(basename $t).xz > build/$t && chmod +x build/$t
done
TAILN=12 step gpu0.txt tests $(left 90) bash tests/run.sh gpu test_sdpa test_golden_gpu
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    SAM_SDPA_REPORT=1 timeout 40 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 16 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
    grep -v '^{' "$log" | sed 's/, strides.*built in/ built in/' | cut -c1-200 >> "$OUT/gpu0.txt"
}
ev sdpa_vit_h_cold sdpa vit_h
ev sdpa_vit_h_warm sdpa vit_h
ev fused_vit_h fused vit_h
ev sdpa_vit_b sdpa vit_b
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
