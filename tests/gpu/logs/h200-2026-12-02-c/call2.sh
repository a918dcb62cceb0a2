#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 16: the bundle of the fix to call 1's failure (the launch
# gave s3-gelu-table's kernels TS 1's shared memory, without the table: i8_smem_bytes passed the
# variant's TS as a boolean; memcheck found the table's writes out of bounds; the kernels now
# trap on a launch with less shared memory than they lay out). test_int8 first (every variant,
# every bfloat16 pre-activation), then with the GPU to itself the int8 bench, then sharing it:
# memcheck and racecheck of test_int8 --mlp-only and the agreement of int8 with fp32 per family,
# then the combined agreement check (the stage-level test of sam-int8; test_golden_gpu has none).
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt test_int8 $(left 90) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 200) build/tests/gpu/test_int8 --bench-only
end=$(left 440)
{
    cs=compute-sanitizer; command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
    for tool in memcheck racecheck; do
        TAILN=6 step gpu1.txt int8_mlp_$tool $end $cs --tool $tool --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only
    done
} &
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,int8" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
for f in gpu1 gpu4-vit_b gpu4-vit_h; do cat "$OUT/$f.txt" >> "$OUT/gpu0.txt"; rm -f "$OUT/$f.txt"; done
TAILN=40 step gpu0.txt agreement_check $(left 450) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
