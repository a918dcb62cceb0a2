#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 13: the bundle of 'flash_relpos: the idle warps and
# grid_div for the windowed configs only' (the global configs' SASS as measured before). The
# flash bench, then the whole waterfall in one harness run with the GPU to itself (every GPU
# stage, vit_b and vit_h, batch 8 and 32), for the chart and every stage ratio at one commit
# (issue 15: fused, sdpa and relpos in one run; session 12's sdpa host changes in a harness run);
# then, in what time is left, the flash sanitizer script (its initcheck now unfiltered, on --race).
set -u
. "$(dirname "$0")/env.sh"
TAILN=70 step gpu0.txt flash_bench $(left 40) build/tests/gpu/test_flash_relpos --bench
TAILN=45 step gpu0.txt waterfall $(left 585) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call3.db.xz
TAILN=30 step gpu0.txt sanitize_flash $(left 592) bash tests/gpu/sanitize_flash_relpos.sh
cp -r build/test-logs/sanitize "$OUT/sanitize-logs" 2>/dev/null
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
