#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 15: make test-gpu on the session's final code. First what
# make run does for sdpa (build/sdpa-aot over variants/aot/sdpa-plans-h200.keys, now with the
# decoder's bucket-64 keys written by hand), then, sharing the GPU (accuracy only), every program
# and script of make test-gpu in parallel parts: the test programs and short scripts (the new
# test_gpu_sdpa_cache.sh among them), the sparse script, and the agreement of fp32 and sdpa per
# family, then the combined agreement check.
set -u
. "$(dirname "$0")/env.sh"
rm -rf build/sdpa-plans
TAILN=25 step gpu0.txt aot $(left 120) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
end=$(left 540)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_int8 test_ops test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh test_gpu_sdpa_cache.sh &
TAILN=20 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,sdpa" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt"
TAILN=40 step gpu0.txt agreement_check $(left 580) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
