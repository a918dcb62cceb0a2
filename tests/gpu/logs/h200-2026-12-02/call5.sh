#!/usr/bin/env bash
# Device call 5 (nvidia-h200), session 14: the session's final code (the -resp configs taken out,
# -res kept as two candidates; the build's FLASH_CHOICE unchanged: -tma windowed; every kept
# kernel's SASS as call 3's and 4's, by opcode). With the GPU to itself: the flash bench. Then,
# sharing the GPU (accuracy only): every program and script of make test-gpu in parallel parts
# (the agreement runs with fp32, relpos and nested: the stages whose chosen flash kernels' setup
# code was reorganised this session), then the flash sanitizer script.
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt flash_bench $(left 45) build/tests/gpu/test_flash_relpos --bench
end=$(left 530)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_int8 test_ops test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh &
TAILN=20 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,relpos,nested" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt" >> "$OUT/gpu0.txt"
rm -f "$OUT/gpu1.txt" "$OUT/gpu2.txt" "$OUT/gpu4-vit_b.txt" "$OUT/gpu4-vit_h.txt"
for fam in vit_b vit_h; do db_back build/test-work/agreement_$fam/agreement.db agreement-$fam-call5.db.xz; done
TAILN=40 step gpu0.txt agreement_check $(left 540) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
TAILN=12 step gpu0.txt sanitize_flash $(left 580) bash tests/gpu/sanitize_flash_relpos.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
