#!/usr/bin/env bash
# Device call 4 (nvidia-h200, warm after call 3), session 13: the command as it ran (given inline
# to the device call): short evals of sam-sdpa (64 images, batch 8) after the waterfall run, whose
# sdpa first masks were 2.66 s (vit_b) and 2.78 s (vit_h). Output in call4-gpu0.log.
export STEPS_T0=$(date +%s); . tests/gpu/logs/h200-2026-12-01-l/env.sh >/dev/null 2>&1; for f in vit_b vit_h; do timeout 40 build/sam-sdpa eval --checkpoint synthetic:$f --coco build/data/synthetic-coco --batch-size 8 --limit 64 --warmup 1 > $OUT/ev_$f.log 2>&1; echo "$f rc=$? $(grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' $OUT/ev_$f.log | tr '\n' ' ') plans=$(grep -c 'built in' $OUT/ev_$f.log)"; grep -i "sdpa:" $OUT/ev_$f.log | head -5; done
