#!/usr/bin/env bash
# Device call 6 (nvidia-h200), session 16: the bundle of 59ce3ed (the activation passes quantise
# four values per branch; the quantising LayerNorm without the runtime activation). test_int8
# first (the call stops if it fails: every quantised value is checked against the CPU's, the
# quantising LayerNorm against LayerNorm then the pass, bit for bit), then ncu's per-kernel
# time of int8's vit_b encoder as in call 5, then the harness: nested and int8, vit_b and
# vit_h, batch 8, in one run (int8/nested beside run 21's).
set -u
. "$(dirname "$0")/env.sh"
TAILN=12 step gpu0.txt test_int8 $(left 55) build/tests/gpu/test_int8 || {
    steps_pack logs-call6.tar.xz; echo "stopped: test_int8 failed" >> "$OUT/gpu0.txt"; exit 1; }
TAILN=3 step gpu0.txt ncu_int8 $(left 70) \
    ncu --clock-control none --nvtx --nvtx-include image_encoder/ --metrics gpu__time_duration.sum \
    --print-summary per-kernel build/sam-int8 eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco \
    --batch-size 8 --limit 8 --warmup 1 --eager
rm -f build/results.db
TAILN=12 step gpu0.txt waterfall $(left 140) build/waterfall run gpu --stages nested,int8 --batch-sizes 8 \
    --max-passes 2 --db build/results.db
db_back build/results.db results-call6.db.xz
steps_pack logs-call6.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
