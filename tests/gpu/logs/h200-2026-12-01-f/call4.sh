#!/usr/bin/env bash
# Device call 4 (nvidia-h200), the stage code of calls 2-3 (947fd05): where sam-sdpa's time to
# first mask goes (issue 14: 4.99 s in session 6's run 11, 2.10 s in run 9). The same short
# eval three times in fresh processes, sdpa first (cuDNN's libraries not yet in the page cache
# of this machine), then relpos, then sdpa again; each prints its load time and first mask.
set -u
. "$(dirname "$0")/env.sh"
i=0
for s in sdpa relpos sdpa; do
    i=$((i + 1))
    TAILN=4 step gpu0.txt "ttfm_${i}_$s" $(left 200) build/sam-$s eval --checkpoint synthetic:vit_b \
        --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1
done
grep -h '"type":"summary"' build/step-logs/ttfm_*.log | python3 -c "
import sys, json
for l in sys.stdin:
    j = json.loads(l); print('first_mask_ms', round(j['first_mask_ms'], 1), 'load_s', round(j['load_s'], 3))" >> "$OUT/gpu0.txt"
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
