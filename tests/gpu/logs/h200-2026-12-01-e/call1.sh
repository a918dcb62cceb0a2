#!/usr/bin/env bash
# Device call 1 (nvidia-h200), this session's stage code (f52628a: im2col fast paths, the fused
# upscale_masks): every test program of make test-gpu and its short scripts, then
# compute-sanitizer over the two new kernels' op tests, ncu of cuSPARSELt and cuBLASLt at the
# MLP shapes (issue 18), ncu of every kernel of a short sam-nested eval.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=80 step gpu0.txt tests $(left 250) bash tests/run.sh gpu test_ops test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_flash_relpos test_sdpa test_int8 test_sparse24 test_gpu_graphs.sh \
    test_gpu_nested.sh test_gpu_predict_cli.sh test_gpu_fullsize.sh test_prune_oracle.sh
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs"
CS=compute-sanitizer; command -v $CS >/dev/null || CS=/usr/local/cuda/bin/compute-sanitizer
TAILN=15 step gpu0.txt memcheck_new $(left 300) $CS --tool memcheck --kernel-name regex:'im2col_(patch|nhwc)|upscale_masks' \
    build/tests/gpu/test_ops
TAILN=15 step gpu0.txt racecheck_new $(left 340) $CS --tool racecheck --racecheck-report all \
    --kernel-name regex:'im2col_nhwc|upscale_masks' build/tests/gpu/test_ops
TAILN=200 step gpu0.txt ncu_sparse_mlp $(left 440) $NCU --nvtx --nvtx-include "vit_b.lin2.sparse0/" \
    --nvtx-include "vit_b.lin2.sparse1/" --nvtx-include "vit_b.lin2.dense/" --nvtx-include "vit_b.lin1.sparse0/" \
    --nvtx-include "vit_b.lin1.dense/" \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
    --print-summary per-kernel build/tests/gpu/test_sparse24 --bench
TAILN=150 step gpu0.txt ncu_nested_all $(left 490) $NCU --metrics gpu__time_duration.sum --print-summary per-kernel \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
