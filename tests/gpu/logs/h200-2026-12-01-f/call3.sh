#!/usr/bin/env bash
# Device call 3 (nvidia-h200), the stage code of call 2 (947fd05): the one part of make
# test-gpu call 2 did not run, test_gpu_agreement.sh, its two model families at once (accuracy
# only, no timing: they share the GPU), checked together; then ncu's detail of the two decoder
# kernels that call 2's per-kernel times put first (upscale_masks, the ragged resize) over a
# short sam-nested eval, for the next session.
set -u
. "$(dirname "$0")/env.sh"
end=$(left 560)
TAILN=40 step gpu1.txt agreement_vit_b $end env AGREEMENT_FAMILIES=vit_b \
    AGREEMENT_WORK=build/test-work/agreement_vit_b bash tests/gpu/test_gpu_agreement.sh &
TAILN=40 step gpu2.txt agreement_vit_h $end env AGREEMENT_FAMILIES=vit_h \
    AGREEMENT_WORK=build/test-work/agreement_vit_h bash tests/gpu/test_gpu_agreement.sh &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" >> "$OUT/gpu0.txt"
db_back build/test-work/agreement_vit_b/agreement.db agreement-vit_b.db.xz
db_back build/test-work/agreement_vit_h/agreement.db agreement-vit_h.db.xz
TAILN=60 step gpu0.txt agreement_check $(left 565) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
TAILN=400 step gpu0.txt ncu_decoder_detail $(left 595) ncu --clock-control none \
    --kernel-name 'regex:upscale_masks|resize_masks_ragged' --launch-skip 2 --launch-count 2 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 16 --warmup 1
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
