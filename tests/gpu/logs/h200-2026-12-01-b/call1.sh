#!/usr/bin/env bash
# Device call 1 (nvidia-h200-x2), bundle of the commit named in NOTES.md.
# GPU 0: the full waterfall (experiments/gpu.json: all nine stages of the GPU, vit_b and vit_h,
#        batch 8 and 32) in one harness run, its database back as soon as it ends.
# GPU 1: make test-gpu's suite, part 1 (tests/run.sh gpu NAMES: every test program and the
#        short scripts), then the vit_b half of test_gpu_agreement.sh (its check fails here for
#        want of vit_h: call 2 runs vit_h and checks both databases together).
set -u
. "$(dirname "$0")/env.sh"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TAILN=45 step gpu0.txt waterfall $(left 568) build/waterfall run gpu --max-passes 2 --db build/results.db
    db_back build/results.db results-call1.db.xz
    echo "db back at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=80 step gpu1.txt test-gpu-part1 $(left 250) bash tests/run.sh gpu test_golden_gpu test_sdpa \
        test_flash_relpos test_int8 test_ops test_ragged_gpu test_sparse24 test_gpu_graphs.sh \
        test_gpu_nested.sh test_gpu_predict_cli.sh
    cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs-part1"
    TAILN=40 step gpu1.txt agreement_vit_b $(left 578) env AGREEMENT_FAMILIES=vit_b bash tests/gpu/test_gpu_agreement.sh
    db_back build/test-work/gpu_agreement/agreement.db agreement-vit_b.db.xz
    cp build/test-work/gpu_agreement/run.log "$STEPS_LOGS/agreement-vit_b-run.log"
}
gpu0 &
gpu1 &
wait
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
