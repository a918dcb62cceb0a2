#!/usr/bin/env bash
# Device call 5 (nvidia-h200, warm after call 4), the stage code of calls 2-4: call 4's time to
# first mask for vit_h, sdpa and relpos (the command of the call, as run).
export STEPS_T0=$(date +%s); . tests/gpu/logs/h200-2026-12-01-f/env.sh; for s in sdpa relpos; do build/sam-$s eval --checkpoint synthetic:vit_h --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1 2>&1 | grep '"type":"summary"' | python3 -c "
import sys, json
for l in sys.stdin:
    j = json.loads(l); print('$s vit_h first_mask_ms', round(j['first_mask_ms'], 1), 'load_s', round(j['load_s'], 3))"; done | tee $OUT/ttfm-vit_h.txt
