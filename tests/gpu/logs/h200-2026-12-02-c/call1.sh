#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 16: the bundle of 7044a3c (int8: s3-gelu-table, lin1's GELU
# from a shared-memory table, the candidate choice; FLASH_CHOICE's windowed entries the resident
# configs, vit_b -resh and vit_h -res). With the GPU to itself: the int8 bench (every variant
# beside bfloat16 and cuBLASLt's int8) and the flash bench. Then, sharing the GPU (accuracy only),
# make test-gpu's programs and scripts in parallel parts (test_gpu_fullsize.sh left out: its
# stages, cpu, fp32 and bf16, are untouched), the sparse script, the flash sanitizer script and
# memcheck and racecheck of test_int8 --mlp-only (now both GELU-warps variants), the agreement
# of relpos, nested and int8 with fp32 per family, then the combined agreement check.
set -u
. "$(dirname "$0")/env.sh"
TAILN=45 step gpu0.txt int8_bench $(left 200) build/tests/gpu/test_int8 --bench-only
TAILN=70 step gpu0.txt flash_bench $(left 240) build/tests/gpu/test_flash_relpos --bench
end=$(left 575)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_int8 test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_ops test_gpu_graphs.sh test_gpu_nested.sh \
    test_gpu_predict_cli.sh test_prune_oracle.sh test_gpu_sdpa_cache.sh &
TAILN=20 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
{
    TAILN=30 step gpu3.txt sanitize_flash $end bash tests/gpu/sanitize_flash_relpos.sh
    cs=compute-sanitizer; command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
    for tool in memcheck racecheck; do
        TAILN=6 step gpu3.txt int8_mlp_$tool $end $cs --tool $tool --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only
    done
} &
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,relpos,nested,int8" \
        AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
for f in gpu1 gpu2 gpu3 gpu4-vit_b gpu4-vit_h; do cat "$OUT/$f.txt" >> "$OUT/gpu0.txt"; rm -f "$OUT/$f.txt"; done
TAILN=40 step gpu0.txt agreement_check $(left 585) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
