#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 11's final stage code (the bundle of this commit's parent:
# sdpa's plans on threads, weights converted on the device, the int8 epilogues' fitted GELU,
# s3-gelu-warps chosen, s3-gelu-split a candidate). With the GPU to itself: the int8 bench and an
# ncu reading of vit_b's lin1 GEMM (the chosen variant); test_ops (the call stops if it fails);
# then, sharing the GPU (accuracy only): every other test program and short script of make
# test-gpu, test_gpu_sparse.sh, the flash sanitizer script, and the agreement runs of the stages
# whose code changed numerically or in how plans are made (int8: GELU; sdpa: plans on threads)
# against fp32, both families.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=45 step gpu0.txt int8_bench $(left 45) build/tests/gpu/test_int8 --bench-only
TAILN=120 step gpu0.txt ncu_int8_lin1 $(left 90) $NCU --kernel-name regex:int8_gemm --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \
    build/tests/gpu/test_int8 --profile 2
TAILN=40 step gpu0.txt test_ops $(left 120) bash tests/run.sh gpu test_ops || {
    steps_pack logs-call4.tar.xz; echo "stopped: test_ops failed" >> "$OUT/gpu0.txt"; exit 1; }
end=$(left 575)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_int8 test_sparse24 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh &
TAILN=40 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
TAILN=60 step gpu3.txt sanitize_flash $(left 420) bash tests/gpu/sanitize_flash_relpos.sh &
for fam in vit_b vit_h; do
    TAILN=40 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,sdpa,int8" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu3.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt"
for fam in vit_b vit_h; do db_back build/test-work/agreement_$fam/agreement.db agreement-$fam-call4.db.xz; done
TAILN=60 step gpu0.txt agreement_check $(left 592) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
