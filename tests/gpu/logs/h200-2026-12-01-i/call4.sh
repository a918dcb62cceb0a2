#!/usr/bin/env bash
# Device call 4 (nvidia-h200), main with the rel-pos products' N padded to 8 and the bias
# kernel's index work once per row (sdpa only): test_sdpa and test_golden_gpu (sam-sdpa's golden
# bf16 tests among them); the sdpa bench and ncu of its first kernels (the products' kernel, the
# bias kernel) with the GPU to itself; one harness run of fp32, fused and sdpa (vit_b, vit_h,
# batch 8; issue 14's run with fused); then the seed agreement of sdpa against fp32, both
# families at once (accuracy only).
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=30 step gpu0.txt tests $(left 60) bash tests/run.sh gpu test_sdpa test_golden_gpu
TAILN=40 step gpu0.txt sdpa_bench $(left 80) build/tests/gpu/test_sdpa --bench-only
TAILN=150 step gpu0.txt ncu_sdpa_global $(left 110) $NCU --launch-count 8 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
    build/tests/gpu/test_sdpa --bench-only
TAILN=20 step gpu0.txt waterfall $(left 260) build/waterfall run gpu --stages fp32,fused,sdpa \
    --batch-sizes 8 --max-passes 2 --db build/results.db
db_back build/results.db results-call4.db.xz
end=$(left 585)
for fam in vit_b vit_h; do
    TAILN=20 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,sdpa" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
cat "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt"
TAILN=30 step gpu0.txt agreement_check $(left 595) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
