#!/usr/bin/env bash
# Device call 7 (nvidia-h200), the session's last stage code (call 5's: call 6's ragged-resize
# window made post-processing slower, 0.42 -> 0.69 ms per batch of 8, and was reverted, with
# t2i's split count, which changed nothing measurable): relpos, nested, int8 and sparse of both
# families at batch 8 in one harness run (the ratios at the final code), then the agreement
# bound of design.md section 4 for nested (fp32 and nested, seeds 0-3 of both families).
set -u
. "$(dirname "$0")/env.sh"
TAILN=20 step gpu0.txt last_stages $(left 120) build/waterfall run gpu --stages relpos,nested,int8,sparse \
    --batch-sizes 8 --max-passes 2 --db build/results-last.db
db_back build/results-last.db results-call7.db.xz
TAILN=40 step gpu0.txt agreement_nested $(left 330) env AGREEMENT_RUN_ARGS="--stages fp32,nested" \
    bash tests/gpu/test_gpu_agreement.sh
db_back build/test-work/gpu_agreement/agreement.db agreement-nested.db.xz
cp build/test-work/gpu_agreement/run.log "$STEPS_LOGS/agreement-nested-run.log"
steps_pack logs-call7.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
