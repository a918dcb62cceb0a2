#!/usr/bin/env bash
# Device call 5 (nvidia-h200): call 3's tests and readings with the tensor-core kernels that
# stage whole rows (every head of an entry in one block) for bfloat16: t2i, i2t.
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none"
TAILN=80 step gpu0.txt tests $(left 230) bash tests/run.sh gpu test_decoder_attention test_ops test_ragged_gpu \
    test_golden_gpu test_gpu_nested.sh test_gpu_graphs.sh
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs"
TAILN=20 step gpu0.txt dec_bench $(left 270) build/tests/gpu/test_decoder_attention --bench
TAILN=25 step gpu0.txt relpos_nested $(left 350) build/waterfall run gpu --stages relpos,nested --models vit_b \
    --batch-sizes 8 --max-passes 2 --db build/results-call5.db
db_back build/results-call5.db results-call5.db.xz
TAILN=150 step gpu0.txt ncu_nested_all $(left 470) $NCU --metrics gpu__time_duration.sum --print-summary per-kernel \
    build/sam-nested eval --checkpoint synthetic:vit_b --coco build/data/synthetic-coco --batch-size 8 --limit 8 --warmup 1
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
