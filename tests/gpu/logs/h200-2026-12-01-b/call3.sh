#!/usr/bin/env bash
# Device call 3 (nvidia-h200-x2, warm: the bundle unpacked by call 1 is still there).
# GPU 0: the vit_b half of test_gpu_agreement.sh (the vit_h half: 2173d70's committed run).
# GPU 1: test_sdpa --bench, then test_gpu_sparse.sh.
set -u
. "$(dirname "$0")/env.sh"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TAILN=40 step gpu0.txt agreement_vit_b $(left 555) env AGREEMENT_FAMILIES=vit_b bash tests/gpu/test_gpu_agreement.sh
    db_back build/test-work/gpu_agreement/agreement.db agreement-vit_b.db.xz
    cp build/test-work/gpu_agreement/run.log "$STEPS_LOGS/agreement-vit_b-run.log"
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=60 step gpu1.txt sdpa_bench 40 build/tests/gpu/test_sdpa --bench
    TAILN=40 step gpu1.txt test-gpu-sparse $(left 560) bash tests/run.sh gpu test_gpu_sparse.sh
    db_back build/test-work/gpu_sparse/agreement.db sparse-agreement.db.xz
}
gpu0 &
gpu1 &
wait
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
