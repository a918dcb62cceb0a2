#!/usr/bin/env bash
# Device call 1 (nvidia-h200-x2, cold), the bundle of the commit named in NOTES.md.
# GPU 0: the full waterfall (experiments/gpu.json: every GPU stage, vit_b and vit_h, batch 8 and
#        32) in one harness run; its database stays in build/ for `run --resume` in call 2 if the
#        call's limit cuts it, and comes back (without masks) either way.
# GPU 1: test_ops and test_golden_gpu first (the new unfused paths' first GPU run), the vit_h
#        half of test_gpu_agreement.sh, then test_gpu_fullsize.sh and test_prune_oracle.sh.
set -u
. "$(dirname "$0")/env.sh"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TAILN=45 step gpu0.txt waterfall $(left 572) build/waterfall run gpu --max-passes 2 --db build/results.db
    db_back build/results.db results-call1.db.xz
    echo "db back at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=40 step gpu1.txt ops-golden 60 bash tests/run.sh gpu test_ops test_golden_gpu
    TAILN=40 step gpu1.txt agreement_vit_h $(left 540) env AGREEMENT_FAMILIES=vit_h bash tests/gpu/test_gpu_agreement.sh
    db_back build/test-work/gpu_agreement/agreement.db agreement-vit_h.db.xz
    cp build/test-work/gpu_agreement/run.log "$STEPS_LOGS/agreement-vit_h-run.log"
    OPENBLAS_NUM_THREADS=8 TAILN=40 step gpu1.txt test-gpu-part2 $(left 585) bash tests/run.sh gpu test_prune_oracle.sh test_gpu_fullsize.sh
}
gpu0 &
gpu1 &
wait
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
