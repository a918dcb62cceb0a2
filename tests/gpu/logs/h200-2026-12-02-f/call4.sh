#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 19, the device time left: the seed-mean agreement bound
# (design.md section 4) of sdpa and relpos on the final code (e02dec8's bundle, as calls 2-3),
# fp32 as the reference, seeds 0-3, one harness run per family in parallel on the GPU, then the
# combined check over both databases (the bfloat16 bound applies to sdpa and relpos).
set -u
. "$(dirname "$0")/env.sh"
end=$(left 175)
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,sdpa,relpos" AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
for f in gpu4-vit_b gpu4-vit_h; do cat "$OUT/$f.txt" >> "$OUT/gpu0.txt"; rm -f "$OUT/$f.txt"; done
TAILN=40 step gpu0.txt agreement_check $(left 190) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
