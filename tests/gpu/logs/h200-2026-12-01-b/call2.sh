#!/usr/bin/env bash
# Device call 2 (nvidia-h200-x2), the same bundle as call 1 (whose full waterfall was cut at its
# sparse experiments and whose database did not come back: the unpack took 30 s of the 600).
# GPU 0: the vit_b waterfall (all nine stages, batch 8 and 32) twice, each run's database back
#        as it ends (the pair: compare's false-alarm rate on one build, issue 13), then benches.
# GPU 1: the vit_h waterfall, then the rest of make test-gpu's short scripts.
set -u
. "$(dirname "$0")/env.sh"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    for r in 1 2; do
        TAILN=20 step gpu0.txt waterfall_vit_b_$r $(left 505) build/waterfall run gpu --models vit_b=synthetic:vit_b --max-passes 2 --db build/results-vit_b.db
        db_back build/results-vit_b.db results-vit_b-$r.db.xz
        echo "db back at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
    done
    TAILN=40 step gpu0.txt sdpa_bench $(left 525) build/tests/gpu/test_sdpa --bench
    TAILN=30 step gpu0.txt flash_bench $(left 540) build/tests/gpu/test_flash_relpos --bench
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=20 step gpu1.txt waterfall_vit_h $(left 470) build/waterfall run gpu --models vit_h=synthetic:vit_h --max-passes 2 --db build/results-vit_h.db
    db_back build/results-vit_h.db results-vit_h.db.xz
    echo "db back at $(steps_elapsed)s" >> "$OUT/gpu1.txt"
    OPENBLAS_NUM_THREADS=8 TAILN=40 step gpu1.txt test-gpu-part2 $(left 540) bash tests/run.sh gpu test_prune_oracle.sh test_gpu_fullsize.sh
}
gpu0 &
gpu1 &
wait
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
