#!/usr/bin/env bash
# Device call 2 (nvidia-h200) at 947fd05: the ragged decoder's merged image-side products
# (linear_table) and upscale_masks with the LayerNorm2d inside. test_ops first (its
# linear_table and upscale_masks cases; the call stops there if it fails), then relpos, nested,
# int8 and sparse, vit_b and vit_h, batch 8 and 32, in one harness run with the GPU to itself;
# ncu of every kernel of a short sam-nested eval; then every other test program and short
# script of make test-gpu beside test_gpu_sparse.sh (accuracy only, no timing: they share the GPU).
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=40 step gpu0.txt test_ops $(left 60) bash tests/run.sh gpu test_ops || {
    steps_pack logs-call2.tar.xz; echo "stopped: test_ops failed" >> "$OUT/gpu0.txt"; exit 1; }
TAILN=45 step gpu0.txt waterfall $(left 300) build/waterfall run gpu --stages relpos,nested,int8,sparse \
    --max-passes 2 --db build/results.db
db_back build/results.db results-call2.db.xz
TAILN=150 step gpu0.txt ncu_nested_all $(left 330) $NCU --metrics gpu__time_duration.sum --print-summary per-kernel \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1
end=$(left 590)
TAILN=60 step gpu1.txt tests $end bash tests/run.sh gpu test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_flash_relpos test_sdpa test_int8 test_sparse24 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh &
TAILN=40 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" >> "$OUT/gpu0.txt"
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
