#!/usr/bin/env bash
# Device call 4 (nvidia-h200-x2, cold), the bundle of this session's last commit of code.
# GPU 0: the full waterfall again at this build (experiments/gpu.json, one harness run), its
#        database back.
# GPU 1: the GPU tests whose code changed since calls 1-3's bundles (eval --eager: graphs,
#        nested, predict; the int8 format's load-time quantisation: test_int8), then the sdpa
#        and flash benches at this build.
set -u
. "$(dirname "$0")/env.sh"
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TAILN=45 step gpu0.txt waterfall $(left 512) build/waterfall run gpu --max-passes 2 --db build/results.db
    db_back build/results.db results-call4.db.xz
    echo "db back at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    TAILN=60 step gpu1.txt test-gpu-changed $(left 200) bash tests/run.sh gpu test_int8 test_gpu_graphs.sh \
        test_gpu_nested.sh test_gpu_predict_cli.sh
    TAILN=45 step gpu1.txt sdpa_bench $(left 300) build/tests/gpu/test_sdpa --bench
    TAILN=30 step gpu1.txt flash_bench $(left 360) build/tests/gpu/test_flash_relpos --bench
}
gpu0 &
gpu1 &
wait
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
