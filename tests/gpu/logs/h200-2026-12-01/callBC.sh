#!/usr/bin/env bash
# Device calls B and C (nvidia-h200-x2), the same bundle. GPU 0: the waterfall
# (experiments/gpu.json, every GPU stage, vit_b and vit_h, batch 8 and 32, at most 2 timed passes)
# in one harness run, its database to $OUT as soon as it ends, then benchmarks while time is
# left. GPU 1: call B: golden, test_sdpa, the flash sanitizer, the agreement run of vit_h;
# call C: the agreement run of vit_b, the sparse stage's test (its pruned-fp32 agreement).
#   bash callBC.sh B|C
# Every step has its own time limit, so the call ends inside its 600 s.
set -u
which=$1
cd "$(dirname "$0")/../../../.."
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
[ -x build/sam-fp32 ] || { tar -xJf .carry/bundle.tar.xz && mkdir -p build/fixtures && tar -C build/fixtures -xJf build/sam-golden.tar.xz; } || exit 1
export BUILD=build PYTHONUNBUFFERED=1
d=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib
export LD_LIBRARY_PATH="$d:/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,memory.total --format=csv,noheader
build/sam-data synth --out build/data/synthetic-coco >/dev/null
mkdir -p build/logs
one() {  # out-file name limit cmd...
    local f=$1 n=$2 lim=$3; shift 3
    local s=$(date +%s)
    [ "$lim" -gt 5 ] || { echo "=== $n skipped: no time left (at $(el)s)" >> "$OUT/$f"; return; }
    timeout --kill-after=5 "$lim" "$@" > build/logs/$n.log 2>&1
    local rc=$?
    { echo "=== $n rc=$rc pass=$(grep -c '^PASS' build/logs/$n.log) fail=$(grep -c '^FAIL' build/logs/$n.log) $(( $(date +%s) - s ))s (at $(el)s)"
      grep -v '^PASS' build/logs/$n.log | tail -${TAILN:-60}; } >> "$OUT/$f"
}
left() { echo $(( ${1} - $(el) )); }  # seconds left before the step's deadline
db_out() {  # the results database without masks, compressed
    cp "$1" build/transport.db && python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE annotations SET rle=NULL, masks=NULL'); c.commit(); c.execute('VACUUM'); c.close()" build/transport.db && xz -T4 -c build/transport.db > "$OUT/$2"
}
gpu0() {
    export CUDA_VISIBLE_DEVICES=0
    TAILN=60 one gpu0.txt waterfall $(left 520) build/waterfall run gpu --max-passes 2 --db build/results.db
    db_out build/results.db results-$which.db.xz
    echo "db at $(el)s" >> "$OUT/gpu0.txt"
    if [ $which = B ]; then
        TAILN=60 one gpu0.txt flashbench $(left 570) build/tests/gpu/test_flash_relpos --bench
    else
        TAILN=30 one gpu0.txt int8bench $(left 500) build/tests/gpu/test_int8 --bench-only
        TAILN=50 one gpu0.txt sparsebench $(left 570) build/tests/gpu/test_sparse24 --bench
    fi
}
gpu1() {
    export CUDA_VISIBLE_DEVICES=1
    stages="--stages fp32,bf16,fused,sdpa,relpos,nested,int8"
    if [ $which = B ]; then
        TAILN=20 one gpu1.txt golden 60 build/tests/gpu/test_golden_gpu
        TAILN=70 one gpu1.txt test_sdpa 60 build/tests/gpu/test_sdpa
        TAILN=30 one gpu1.txt test_sdpa_f32 60 build/tests/gpu/test_sdpa --bias-f32
        TAILN=40 one gpu1.txt sdpa_bench 90 build/tests/gpu/test_sdpa --bench
        # memcheck, synccheck and initcheck of these kernels ran clean in call A
        TAILN=20 one gpu1.txt racecheck 110 /usr/local/cuda/bin/compute-sanitizer --tool racecheck --racecheck-report all --kernel-name kns=flash_relpos --error-exitcode 99 build/tests/gpu/test_flash_relpos --race
        TAILN=60 one gpu1.txt agreement_vit_h $(left 560) env AGREEMENT_FAMILIES=vit_h AGREEMENT_RUN_ARGS="$stages" bash tests/gpu/test_gpu_agreement.sh
    else
        TAILN=60 one gpu1.txt agreement_vit_b $(left 300) env AGREEMENT_FAMILIES=vit_b AGREEMENT_RUN_ARGS="$stages" bash tests/gpu/test_gpu_agreement.sh
        TAILN=40 one gpu1.txt sparse $(left 570) bash tests/gpu/test_gpu_sparse.sh
        db_out build/test-work/gpu_sparse/agreement.db sparse-agreement.db.xz 2>/dev/null
    fi
    tail -c 6000 build/test-work/gpu_agreement/run.log > "$OUT/agreement-run-$which.log" 2>/dev/null
    db_out build/test-work/gpu_agreement/agreement.db agreement-$which.db.xz
}
gpu0 &
gpu1 &
wait
echo "done at $(el)s"
