#!/usr/bin/env bash
# Device call 2 (nvidia-h200), this session's final stage code: the whole waterfall, every GPU
# stage, vit_b and vit_h, batch 8 and 32, in one harness run and nothing else in the call (the
# GPU to itself while it times; call 1's tests passed on the same kernels but upscale_masks'
# grid, which call 3 tests).
set -u
. "$(dirname "$0")/env.sh"
TAILN=45 step gpu0.txt waterfall $(left 575) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call2.db.xz
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
