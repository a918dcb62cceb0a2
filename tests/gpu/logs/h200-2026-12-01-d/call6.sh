#!/usr/bin/env bash
# Device call 6 (nvidia-h200), this session's stage code: the correctness tests of what
# changed since call 5 (the ragged resize's source-row window, t2i's splits), then the whole
# waterfall, every GPU stage, vit_b and vit_h, batch 8 and 32, in one harness run; then the
# remaining short test scripts while time is left.
set -u
. "$(dirname "$0")/env.sh"
TAILN=40 step gpu0.txt tests-first $(left 60) bash tests/run.sh gpu test_ragged_gpu test_ops test_decoder_attention \
    test_golden_gpu
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs-first"
TAILN=45 step gpu0.txt waterfall $(left 535) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call6.db.xz
echo "db back at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
TAILN=30 step gpu0.txt tests-then $(left 585) bash tests/run.sh gpu test_gpu_graphs.sh test_gpu_predict_cli.sh
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs-then"
steps_pack logs-call6.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
