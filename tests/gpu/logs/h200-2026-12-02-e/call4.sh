#!/usr/bin/env bash
# Device call 4 (nvidia-h200), session 18: call 3's make test-gpu failed two refusal checks
# (test_sdpa, test_flash_relpos: a child process refused by name, then died with status 139 in
# its exit, while cuBLASLt's early query was still running on its thread). Mended: an exit waits
# for a running query. Here, with the GPU to itself, the programs and short scripts of make
# test-gpu again (the part that failed; the sparse, full-size, sanitizer and agreement parts
# passed in call 3 on the same upload and query code), then one first-mask split of sdpa at
# vit_h batch 32 (the query still made during the upload).
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
rm -rf build/sdpa-plans
TAILN=2 step gpu0.txt aot $(left 40) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
TAILN=60 step gpu0.txt tests $(left 480) bash tests/run.sh gpu test_int8 test_flash_relpos test_golden_gpu test_ragged_gpu \
    test_decoder_attention test_sdpa test_sparse24 test_ops test_gpu_graphs.sh test_gpu_nested.sh \
    test_gpu_predict_cli.sh test_prune_oracle.sh test_gpu_sdpa_cache.sh
TAILN=0 step gpu0.txt fm_sdpa $(left 500) env SAM_LOAD_REPORT=1 build/sam-sdpa eval --checkpoint synthetic:vit_h \
    --coco $coco --batch-size 32 --limit 32 --warmup 3
grep -o '"first_mask_ms":[0-9.]*\|"first_mask_split_s":{[^}]*}' build/step-logs/fm_sdpa.log >> "$OUT/gpu0.txt"
grep -h '^sam: upload ring\|^sam: cuBLASLt' build/step-logs/fm_sdpa.log >> "$OUT/gpu0.txt"
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call4.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
