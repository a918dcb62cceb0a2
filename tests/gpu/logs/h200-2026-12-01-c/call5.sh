#!/usr/bin/env bash
# Device call 5 (nvidia-h200, one GPU), call 4's bundle (this session's last code): the vit_b
# waterfall (every GPU stage, batch 8 and 32) at this build, for `waterfall compare` against
# call 1's run of the build before (eval --eager and the int8 load path changed since).
set -u
. "$(dirname "$0")/env.sh"
TAILN=25 step gpu0.txt waterfall_vit_b $(left 280) build/waterfall run gpu --models vit_b --max-passes 2 --db build/results-vit_b.db
db_back build/results-vit_b.db results-call5-vit_b.db.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
