#!/usr/bin/env bash
# Device call A (nvidia-h200, one GPU): diagnostics before the runs. The sdpa stage's fault
# located (golden per site, test_sdpa whole, the eval's crash stack), the relpos vit_h batch-8
# fault under compute-sanitizer, the sparse op test, the flash tiles now chosen, the sanitizer
# script, and one experiment's wall time split (eval alone vs through the harness).
# Each step's log goes to $OUT as it ends (at most 8 files).
set -u
cd "$(dirname "$0")/../../../.."
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
[ -x build/sam-fp32 ] || { tar -xJf .carry/bundle.tar.xz && mkdir -p build/fixtures && tar -C build/fixtures -xJf build/sam-golden.tar.xz; } || exit 1
export BUILD=build
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib; do
    [ -e "$d/libcudnn.so.9" ] && export LD_LIBRARY_PATH="$d:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
csl=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib
[ -e $csl/libcusparseLt.so.0 ] && export LD_LIBRARY_PATH="$csl:$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,memory.total --format=csv,noheader
build/sam-data synth --out build/data/synthetic-coco >/dev/null
coco=build/data/synthetic-coco
mkdir -p build/logs
one() {  # out-file name cmd...
    local f=$1 n=$2; shift 2
    local s=$(date +%s)
    timeout --kill-after=5 "${LIM:-120}" "$@" > build/logs/$n.log 2>&1
    local rc=$?
    { echo "=== $n rc=$rc pass=$(grep -c '^PASS' build/logs/$n.log) fail=$(grep -c '^FAIL' build/logs/$n.log) $(( $(date +%s) - s ))s (at $(el)s)"
      grep -v '^PASS' build/logs/$n.log | tail -${TAILN:-60}; } >> "$OUT/$f"
}
TAILN=120 one sdpa.txt golden build/tests/gpu/test_golden_gpu
TAILN=150 one sdpa.txt test_sdpa build/tests/gpu/test_sdpa
LIM=60 TAILN=40 one sdpa.txt sdpa_eval build/sam-sdpa eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 16 --masks-out /dev/null
LIM=60 TAILN=40 one sdpa.txt sdpa_eval_sync env SAM_CUDA_SYNC=1 build/sam-sdpa eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 16 --masks-out /dev/null
LIM=60 TAILN=20 one relpos.txt relpos_vith_b8 build/sam-relpos eval --checkpoint synthetic:vit_h --coco $coco --batch-size 8 --limit 48 --masks-out /dev/null
LIM=150 TAILN=60 one relpos.txt relpos_vith_memcheck /usr/local/cuda/bin/compute-sanitizer --tool memcheck --print-limit 20 build/sam-relpos eval --checkpoint synthetic:vit_h --coco $coco --batch-size 8 --limit 16 --warmup 0 --masks-out /dev/null
TAILN=30 one relpos.txt flash build/tests/gpu/test_flash_relpos
LIM=90 TAILN=60 one sparse.txt sparse24 build/tests/gpu/test_sparse24
LIM=60 TAILN=20 one sparse.txt sparse_eval build/sam-sparse eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 32 --masks-out /dev/null
# One experiment's wall time: eval alone, then the same through the harness.
s=$(date +%s); build/sam-bf16 eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --max-passes 3 --min-batches 10 --target-noise 0.02 --masks-out build/logs/m.jsonl > build/logs/time_eval.log 2>&1
echo "=== eval alone: $(( $(date +%s) - s ))s rc=$?" >> "$OUT/timing.txt"; tail -1 build/logs/time_eval.log | cut -c1-400 >> "$OUT/timing.txt"
s=$(date +%s); build/waterfall run gpu --stages bf16 --models vit_b --batch-sizes 8 --max-passes 3 --db build/logs/t.db > build/logs/time_h.log 2>&1
echo "=== harness one experiment (no fp32 reference): $(( $(date +%s) - s ))s" >> "$OUT/timing.txt"; cat build/logs/time_h.log >> "$OUT/timing.txt"
LIM=200 TAILN=40 one relpos.txt sanitize bash tests/gpu/sanitize_flash_relpos.sh
for f in build/test-logs/sanitize/*.log; do echo "== $f"; tail -15 "$f"; done >> "$OUT/relpos.txt" 2>/dev/null
echo "done at $(el)s"
