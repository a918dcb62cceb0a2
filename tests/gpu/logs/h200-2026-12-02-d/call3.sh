#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 17: the whole waterfall on the session's build, with the GPU
# to itself. What make run does on a GPU machine: build/sdpa-aot builds sdpa's plans into
# build/sdpa-plans, then one harness run of experiments/gpu.json's every GPU stage (vit_b and
# vit_h, batch 8 and 32, two passes at most). Every experiment's summary now carries the time to
# first mask's parts (first_mask_split_s).
set -u
. "$(dirname "$0")/env.sh"
rm -rf build/sdpa-plans build/results.db
TAILN=5 step gpu0.txt aot $(left 60) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
TAILN=45 step gpu0.txt waterfall $(left 592) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call3.db.xz
build/waterfall show --db build/results.db 2>&1 | tail -60 >> "$OUT/gpu0.txt"
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
