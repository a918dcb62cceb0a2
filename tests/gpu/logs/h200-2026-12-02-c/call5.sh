#!/usr/bin/env bash
# Device call 5 (nvidia-h200), session 16, the bundle of 09533c7 (the final device code): where
# int8's encoder differs from nested's (issue 17: int8's batch is 0.2 ms under nested's in run 21
# where the op bench says its linears save 0.8 ms). ncu's per-kernel device time (kernels
# serialised) of the kernels inside image_encoder/ over one batch of 8 vit_b images plus the
# warm-up batch, eager (no graphs: the NVTX ranges are pushed at launch), nested then int8.
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
for st in nested int8; do
    TAILN=3 step gpu0.txt ncu_$st $(left $([ $st = nested ] && echo 110 || echo 220)) \
        ncu --clock-control none --nvtx --nvtx-include image_encoder/ --metrics gpu__time_duration.sum \
        --print-summary per-kernel build/sam-$st eval --checkpoint synthetic:vit_b --coco $coco \
        --batch-size 8 --limit 8 --warmup 1 --eager
done
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
