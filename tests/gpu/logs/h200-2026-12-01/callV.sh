#!/usr/bin/env bash
# Device call V (nvidia-h200): the sdpa fixes checked before the runs (golden per site, test_sdpa
# with the static decoder plans, the same with a float32 bias, both benchmarks), the flash
# kernel's racecheck in --race mode, and sam-sdpa over the whole subset (the crash of call 2).
set -u
cd "$(dirname "$0")/../../../.."
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
[ -x build/sam-fp32 ] || { tar -xJf .carry/bundle.tar.xz && mkdir -p build/fixtures && tar -C build/fixtures -xJf build/sam-golden.tar.xz; } || exit 1
export BUILD=build
d=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib
export LD_LIBRARY_PATH="$d:/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib:/usr/local/cuda/lib64"
build/sam-data synth --out build/data/synthetic-coco >/dev/null
coco=build/data/synthetic-coco
mkdir -p build/logs
one() {  # out-file name limit cmd...
    local f=$1 n=$2 lim=$3; shift 3
    local s=$(date +%s)
    timeout --kill-after=5 "$lim" "$@" > build/logs/$n.log 2>&1
    local rc=$?
    { echo "=== $n rc=$rc pass=$(grep -c '^PASS' build/logs/$n.log) fail=$(grep -c '^FAIL' build/logs/$n.log) $(( $(date +%s) - s ))s (at $(el)s)"
      grep -v '^PASS' build/logs/$n.log | tail -${TAILN:-60}; } >> "$OUT/$f"
}
TAILN=30 one sdpa.txt golden 60 build/tests/gpu/test_golden_gpu
TAILN=60 one sdpa.txt test_sdpa 60 build/tests/gpu/test_sdpa
TAILN=60 one sdpa.txt test_sdpa_f32 60 build/tests/gpu/test_sdpa --bias-f32
TAILN=40 one bench.txt sdpa_bench 90 build/tests/gpu/test_sdpa --bench
TAILN=40 one bench.txt sdpa_bench_f32 90 build/tests/gpu/test_sdpa --bias-f32 --bench
TAILN=30 one misc.txt racecheck 90 /usr/local/cuda/bin/compute-sanitizer --tool racecheck --racecheck-report all --kernel-name kns=flash_relpos --error-exitcode 99 build/tests/gpu/test_flash_relpos --race
for m in vit_b vit_h; do
    TAILN=4 one misc.txt sdpa_eval_$m 60 build/sam-sdpa eval --checkpoint synthetic:$m --coco $coco --batch-size 8 --masks-out /dev/null
done
echo "done at $(el)s" >> "$OUT/misc.txt"
