#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 19: all of make test-gpu on the final device code
# (session 18 call 1's device code plus the float32 upload straight from the pinned slot into
# the weight), in parallel parts sharing the GPU (accuracy only):
# the programs and short scripts, the sparse script, the full-size script, the flash sanitizer
# script, memcheck and racecheck of test_int8 --mlp-only, the agreement of int8 with fp32 per
# family, then the combined agreement check. Every stage's weights now come through the upload
# ring, so every test that builds a model or uploads a weight exercises it.
set -u
. "$(dirname "$0")/env.sh"
rm -rf build/sdpa-plans
TAILN=2 step gpu0.txt aot $(left 40) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
end=$(left 585)
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
    OPENBLAS_NUM_THREADS=8 TAILN=30 step gpu3.txt fullsize $end bash tests/run.sh gpu test_gpu_fullsize.sh
} &
for fam in vit_b vit_h; do
    TAILN=30 step gpu4-$fam.txt agreement_$fam $end env AGREEMENT_FAMILIES=$fam \
        AGREEMENT_RUN_ARGS="--stages fp32,int8" AGREEMENT_WORK=build/test-work/agreement_$fam bash tests/gpu/test_gpu_agreement.sh &
done
wait
for f in gpu1 gpu2 gpu3 gpu4-vit_b gpu4-vit_h; do cat "$OUT/$f.txt" >> "$OUT/gpu0.txt"; rm -f "$OUT/$f.txt"; done
TAILN=40 step gpu0.txt agreement_check $(left 598) env \
    AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
