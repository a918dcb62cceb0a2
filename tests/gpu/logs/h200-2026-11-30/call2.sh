#!/usr/bin/env bash
# Device call 2 on nvidia-h200-x2. GPU 1: the waterfall (experiments/gpu.json, every built GPU
# stage, vit_b and vit_h, batch 8 and 32) in one harness run. GPU 0: op tests and benchmarks,
# the relpos vit_h crash under SAM_CUDA_SYNC, then the seed-mean agreement test.
# Logs go to $OUT as they finish, so a cut call still brings back what ran.
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
mkdir -p build && tar -xJf .carry/bundle.tar.xz && mkdir -p build/fixtures && tar -C build/fixtures -xJf build/sam-golden.tar.xz || exit 1
export BUILD=build
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcudnn.so.9" ] && { export LD_LIBRARY_PATH="$d:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; echo "cuDNN from $d"; break; }
done
csl=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib
[ -e $csl/libcusparseLt.so.0 ] && export LD_LIBRARY_PATH="$csl:$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,memory.total --format=csv,noheader
build/sam-data synth --out build/data/synthetic-coco >/dev/null
mkdir -p build/logs
one() {  # file name cmd...
    local f=$1 n=$2; shift 2
    local s=$(date +%s)
    timeout --kill-after=5 "${LIM:-300}" "$@" > build/logs/$n.log 2>&1
    local rc=$?
    { echo "=== $n rc=$rc pass=$(grep -c '^PASS' build/logs/$n.log) fail=$(grep -c '^FAIL' build/logs/$n.log) $(( $(date +%s) - s ))s (at $(el)s)"
      grep -v '^PASS' build/logs/$n.log | tail -${TAILN:-60}; } >> "$OUT/$f"
}
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    one gpu0.txt golden build/tests/gpu/test_golden_gpu
    TAILN=40 one gpu0.txt ops build/tests/gpu/test_ops --bench
    TAILN=80 one gpu0.txt flashbench build/tests/gpu/test_flash_relpos --bench
    TAILN=40 one gpu0.txt int8bench build/tests/gpu/test_int8 --bench-only
    LIM=90 TAILN=60 one gpu0.txt sparse24bench build/tests/gpu/test_sparse24 --bench
    one gpu0.txt ragged build/tests/gpu/test_ragged_gpu
    one gpu0.txt graphs bash tests/gpu/test_gpu_graphs.sh
    LIM=60 TAILN=10 one gpu0.txt relpos_vith_sync env SAM_CUDA_SYNC=1 build/sam-relpos eval --checkpoint synthetic:vit_h --batch-size 8 --limit 24 --masks-out /dev/null
    LIM=30 TAILN=10 one gpu0.txt sdpa_vitb build/sam-sdpa eval --checkpoint synthetic:vit_b --batch-size 8 --limit 8 --masks-out /dev/null
    LIM=440 TAILN=80 one agreement.txt agreement env AGREEMENT_RUN_ARGS="--stages fp32,bf16,fused,relpos,nested,int8" bash tests/gpu/test_gpu_agreement.sh
    cp build/test-work/gpu_agreement/run.log "$OUT/agreement-run.log" 2>/dev/null
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    LIM=520 TAILN=70 one gpu1.txt bench build/waterfall run gpu --max-passes 3 --db results/results.db
    cp results/results.db build/transport.db && python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE annotations SET rle=NULL, masks=NULL'); c.commit(); c.execute('VACUUM'); c.close()" build/transport.db && xz -T4 -c build/transport.db > "$OUT/results.db.xz"
    echo "db at $(el)s" >> "$OUT/gpu1.txt"
}
gpu0 &
gpu1 &
wait
echo "done at $(el)s"
