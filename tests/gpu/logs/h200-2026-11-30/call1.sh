#!/usr/bin/env bash
# Device call 1 on nvidia-h200-x2: GPU 0 runs the GPU tests then the op benchmarks, GPU 1 the
# harness waterfall (experiments/gpu.json) then the sparse stage's pruned-reference test.
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
one() {  # name cmd...
    local n=$1; shift
    local s=$(date +%s)
    timeout --kill-after=5 "${LIM:-300}" "$@" > build/logs/$n.log 2>&1
    local rc=$?
    echo "$n rc=$rc pass=$(grep -c '^PASS' build/logs/$n.log) fail=$(grep -c '^FAIL' build/logs/$n.log) $(( $(date +%s) - s ))s (at $(el)s)"
    grep '^FAIL' build/logs/$n.log | head -6
}
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    one golden build/tests/gpu/test_golden_gpu
    one ops build/tests/gpu/test_ops --bench
    one flash build/tests/gpu/test_flash_relpos
    one flashbench build/tests/gpu/test_flash_relpos --bench
    one sdpa build/tests/gpu/test_sdpa
    LIM=200 one sdpabench build/tests/gpu/test_sdpa --bench
    one int8 build/tests/gpu/test_int8
    LIM=120 one int8bench build/tests/gpu/test_int8 --bench-only
    one sparse24 build/tests/gpu/test_sparse24
    LIM=150 one sparse24bench build/tests/gpu/test_sparse24 --bench
    one ragged build/tests/gpu/test_ragged_gpu
    for s in graphs nested predict_cli fullsize; do one $s bash tests/gpu/test_gpu_$s.sh; done
    one prune_oracle bash tests/gpu/test_prune_oracle.sh
    for l in 1 2 7; do SAM_DECODE_LANES=$l build/sam-fused eval --checkpoint synthetic:vit_b --batch-size 8 --masks-out /dev/null 2>/dev/null | grep '"summary"' | sed "s/^/lanes $l: /" | cut -c1-400; done
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    LIM=420 one bench build/waterfall run gpu --db results/results.db
    tail -45 build/logs/bench.log
    LIM=150 one gpu_sparse bash tests/gpu/test_gpu_sparse.sh
}
gpu0 > build/logs/gpu0.out 2>&1 &
gpu1 > build/logs/gpu1.out 2>&1 &
wait
cat build/logs/gpu0.out build/logs/gpu1.out
cp build/logs/gpu0.out build/logs/gpu1.out "$OUT/"
cp results/results.db build/transport.db 2>/dev/null && python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE annotations SET rle=NULL, masks=NULL'); c.commit(); c.execute('VACUUM'); c.close()" build/transport.db && xz -T0 -c build/transport.db > "$OUT/results.db.xz"
tar -C build --exclude='*.jsonl' --exclude='*.npy' --exclude='*.db*' --exclude='*.png' -cJf "$OUT/logs.tar.xz" logs test-work test-logs 2>/dev/null
echo "done at $(el)s"
