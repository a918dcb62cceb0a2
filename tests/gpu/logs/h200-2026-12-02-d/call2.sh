#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 17: the bundle of the quantisers' fast rounding
# (int8_quantize4_inv in the quantising LayerNorm and the activation passes) and the weights made
# beside the backend's opening. With the GPU to itself: the int8 bench (the passes' times beside
# the GEMMs), ncu of the quantising LayerNorms and the passes as call 1, the first-mask split of
# sdpa and fused at vit_h. Then, sharing the GPU (accuracy only), all of make test-gpu in
# parallel parts: the programs and scripts, the sparse script, the flash sanitizer script,
# memcheck and racecheck of test_int8 --mlp-only, the full-size script (every stage's
# eval changed: the split, the weights' thread), the agreement of int8 (the quantisers changed)
# with fp32 per family, then the combined agreement check.
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
TAILN=45 step gpu0.txt int8_bench $(left 200) build/tests/gpu/test_int8 --bench-only
sec="--section LaunchStats --section Occupancy --section WarpStateStats --section SpeedOfLight"
TAILN=0 step gpu0.txt ncu_lnq $(left 240) ncu --clock-control none -k 'regex:lnq|int8_quant_rows' --launch-skip 8 --launch-count 4 $sec \
    build/sam-int8 eval --checkpoint synthetic:vit_b --coco $coco --batch-size 8 --limit 8 --warmup 1 --eager
grep -E "^  [a-z_0-9]+\(|Duration|Compute \(SM\) Throughput|DRAM Throughput|Registers Per|Warp Cycles Per Issued|Achieved Occupancy" \
    build/step-logs/ncu_lnq.log >> "$OUT/gpu0.txt"
rm -rf build/sdpa-plans
TAILN=2 step gpu0.txt aot $(left 260) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
split() { grep -o '"first_mask_ms":[0-9.]*\|"first_mask_split_s":{[^}]*}\|"img_s":[0-9.]*' "$1" | tr '\n' ' '; echo; }
for st in fused sdpa int8; do
    TAILN=0 step gpu0.txt fm_${st} $(left 300) build/sam-$st eval --checkpoint synthetic:vit_h --coco $coco \
        --batch-size 8 --limit 16 --warmup 3
    echo "$st vit_h: $(split build/step-logs/fm_${st}.log)" >> "$OUT/gpu0.txt"
done
end=$(left 590)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_int8 test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_ops test_gpu_graphs.sh test_gpu_nested.sh \
    test_gpu_predict_cli.sh test_prune_oracle.sh test_gpu_sdpa_cache.sh &
{
    TAILN=20 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh
    OPENBLAS_NUM_THREADS=8 TAILN=30 step gpu2.txt fullsize $end bash tests/run.sh gpu test_gpu_fullsize.sh
} &
{
    TAILN=30 step gpu3.txt sanitize_flash $end bash tests/gpu/sanitize_flash_relpos.sh
    cs=compute-sanitizer; command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
    for tool in memcheck racecheck; do
        TAILN=6 step gpu3.txt int8_mlp_$tool $end $cs --tool $tool --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only
    done
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
