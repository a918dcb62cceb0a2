#!/usr/bin/env bash
# Device call 2 (nvidia-h200-x2; cold: call 1's machine was handed back), call 1's bundle.
# GPU 0: test_gpu_sparse.sh whole (its per-test limit 580 s), its database back.
# GPU 1: the vit_b half of test_gpu_agreement.sh, its database back; then the benches
#        (test_ops --bench: what each fusion saves; test_int8 --bench-only; test_sparse24
#        --bench) and ncu readings of the targets missed (nested's decoder, the flash kernel's
#        vit_b global attention, int8's GEMM), as far as the call's limit allows.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TEST_TIMEOUT=575 TAILN=40 step gpu0.txt test-gpu-sparse $(left 580) bash tests/run.sh gpu test_gpu_sparse.sh
    db_back build/test-work/gpu_sparse/agreement.db sparse-agreement.db.xz
    cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs-sparse" 2>/dev/null
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=40 step gpu1.txt agreement_vit_b $(left 470) env AGREEMENT_FAMILIES=vit_b bash tests/gpu/test_gpu_agreement.sh
    db_back build/test-work/gpu_agreement/agreement.db agreement-vit_b.db.xz
    cp build/test-work/gpu_agreement/run.log "$STEPS_LOGS/agreement-vit_b-run.log"
    TAILN=30 step gpu1.txt ops_bench $(left 520) build/tests/gpu/test_ops --bench
    TAILN=40 step gpu1.txt int8_bench $(left 535) build/tests/gpu/test_int8 --bench-only
    TAILN=40 step gpu1.txt sparse24_bench $(left 555) build/tests/gpu/test_sparse24 --bench
    TAILN=80 step gpu1.txt ncu_nested_decoder $(left 570) $NCU --nvtx --nvtx-include "mask_decoder/" \
        --metrics gpu__time_duration.sum --print-summary per-kernel build/sam-nested eval \
        --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 16 --warmup 1
    TAILN=120 step gpu1.txt ncu_flash_global $(left 585) $NCU -k regex:flash --launch-count 1 \
        --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
        --section MemoryWorkloadAnalysis --section WarpStateStats build/tests/gpu/test_flash_relpos --bench
}
gpu0 &
gpu1 &
wait
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
