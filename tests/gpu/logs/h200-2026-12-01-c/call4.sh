#!/usr/bin/env bash
# Device call 4 (nvidia-h200, one GPU, cold: the two-GPU kind was not lent at the time), the
# bundle of this session's last commit of code. Its stage code differs from calls 1-3's in
# eval's --eager option and the int8 format's load-time quantisation (a kernel now).
# The GPU tests whose code changed (test_int8: the int32 products equal the CPU reference's
# exactly, so the GPU-quantised weights are the host rule's bit for bit; eval --eager: graphs,
# nested, predict); a short harness run of fp32, nested and int8 (int8's time to first mask
# beside nested's, both families, batch 8); the sdpa and flash benches at this build.
set -u
. "$(dirname "$0")/env.sh"
TAILN=60 step gpu0.txt test-gpu-changed $(left 200) bash tests/run.sh gpu test_int8 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh
TAILN=25 step gpu0.txt ttfm_run $(left 340) build/waterfall run gpu --stages fp32,nested,int8 --batch-sizes 8 \
    --max-passes 2 --db build/results-ttfm.db
db_back build/results-ttfm.db results-ttfm.db.xz
TAILN=45 step gpu0.txt sdpa_bench $(left 400) build/tests/gpu/test_sdpa --bench
TAILN=30 step gpu0.txt flash_bench $(left 440) build/tests/gpu/test_flash_relpos --bench
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
