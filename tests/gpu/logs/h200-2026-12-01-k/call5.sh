#!/usr/bin/env bash
# Device call 5 (nvidia-h200, warm after call 4), session 12: the command as it ran (given inline
# to the device call): three short evals each of sdpa and fused vit_h, time to first mask.
export STEPS_T0=$(date +%s); . tests/gpu/logs/h200-2026-12-01-k/env.sh; for i in 1 2 3; do for st in sdpa fused; do timeout 40 build/sam-$st eval --checkpoint synthetic:vit_h --coco build/data/synthetic-coco --batch-size 8 --limit 16 --warmup 1 > /tmp/e.log 2>&1; echo "$st vit_h run $i rc=$? $(grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*' /tmp/e.log | sort -u | tr '\n' ' ')"; done; done 2>&1 | tee $OUT/call5-gpu0.txt
