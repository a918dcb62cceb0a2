#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 12: the bundle of 7fbbd64 (the session's stage code: int8's
# fused MLP with the consumers' row maxima and the reciprocal-scale quantisation, sdpa's bucketed
# decoder chunks). With the GPU to itself: test_int8 and its bench; test_ops; then, sharing the
# GPU (accuracy only): every other test program and script of make test-gpu, test_gpu_sparse.sh,
# (test_int8 ran first), and the agreement runs of the stages whose code changed (int8, sdpa) against fp32, both
# families, with the combined agreement check. The flash sanitizer script is not run (the flash
# kernels are unchanged since session 10, whose call 2 ran it clean).
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt test_int8 $(left 60) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 80) build/tests/gpu/test_int8 --bench-only
TAILN=40 step gpu0.txt test_ops $(left 190) bash tests/run.sh gpu test_ops
end=$(left 540)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh &
TAILN=40 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
for fam in vit_b vit_h; do
    TAILN=40 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,sdpa,int8" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt"
for fam in vit_b vit_h; do db_back build/test-work/agreement_$fam/agreement.db agreement-$fam-call3.db.xz; done
TAILN=60 step gpu0.txt agreement_check $(left 565) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
