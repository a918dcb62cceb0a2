#!/usr/bin/env bash
# Device call 3 (nvidia-h200, warm after call 2), session 13: call 2's bundle: the
# whole waterfall in one harness run with the GPU to itself (every GPU stage, vit_b and vit_h,
# batch 8 and 32), for the chart and every stage ratio at one commit (issue 15: fused, sdpa and
# relpos in one run; the sdpa host changes of session 12's review in a harness run).
set -u
. "$(dirname "$0")/env.sh"
TAILN=45 step gpu0.txt waterfall $(left 585) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call3.db.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
