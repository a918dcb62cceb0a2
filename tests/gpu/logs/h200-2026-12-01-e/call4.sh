#!/usr/bin/env bash
# Device call 4 (nvidia-h200), the same code as calls 2-3: the kernels of a short sam-nested eval
# under ncu (the fused upscale_masks with its final grid; call 1 read it with a block per 4 tiles).
set -u
. "$(dirname "$0")/env.sh"
TAILN=150 step gpu0.txt ncu_nested_all $(left 150) ncu --clock-control none --metrics gpu__time_duration.sum \
    --print-summary per-kernel build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco \
    --batch-size 8 --limit 8 --warmup 1
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
