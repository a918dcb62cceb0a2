#!/usr/bin/env bash
# Device call 3 (nvidia-h200), the same stage code as call 2: the tests call 1 could not finish
# (test_ops: its new upscale_masks test crashed on the test's own unmarked weights) and the
# ones upscale_masks' grid change touches, compute-sanitizer over the two new kernels, the
# sparse and dense GEMM rates unprofiled (test_sparse24 --bench), then make test-gpu's three
# long accuracy scripts at once: they judge accuracy only (no timing), so they share the GPU.
set -u
. "$(dirname "$0")/env.sh"
TAILN=60 step gpu0.txt tests $(left 60) bash tests/run.sh gpu test_ops test_golden_gpu test_ragged_gpu test_gpu_nested.sh
cp -r build/test-logs/gpu "$STEPS_LOGS/test-logs"
CS=compute-sanitizer; command -v $CS >/dev/null || CS=/usr/local/cuda/bin/compute-sanitizer
TAILN=12 step gpu0.txt memcheck_new $(left 100) $CS --tool memcheck --kernel-name 'regex=im2col_(patch|nhwc)|upscale_masks' \
    build/tests/gpu/test_ops
TAILN=12 step gpu0.txt racecheck_new $(left 140) $CS --tool racecheck --racecheck-report all \
    --kernel-name 'regex=im2col_nhwc|upscale_masks' build/tests/gpu/test_ops
TAILN=40 step gpu0.txt sparse_bench $(left 185) build/tests/gpu/test_sparse24 --bench
# The three accuracy scripts in parallel; each writes its own work folder.
end=$(left 585)
TAILN=40 step gpu0.txt agreement_vit_b $end env AGREEMENT_FAMILIES=vit_b \
    AGREEMENT_WORK=build/test-work/agreement_vit_b bash tests/gpu/test_gpu_agreement.sh &
TAILN=40 step gpu1.txt agreement_vit_h $end env AGREEMENT_FAMILIES=vit_h \
    AGREEMENT_WORK=build/test-work/agreement_vit_h bash tests/gpu/test_gpu_agreement.sh &
TAILN=40 step gpu2.txt sparse_script $end bash tests/gpu/test_gpu_sparse.sh &
wait
cat "$OUT/gpu1.txt" "$OUT/gpu2.txt" >> "$OUT/gpu0.txt"
db_back build/test-work/agreement_vit_b/agreement.db agreement-vit_b.db.xz
db_back build/test-work/agreement_vit_h/agreement.db agreement-vit_h.db.xz
TAILN=40 step gpu0.txt agreement_check $(left 595) env AGREEMENT_DB=build/test-work/agreement_vit_b/agreement.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
cp -r build/test-work/gpu_sparse "$STEPS_LOGS/gpu_sparse-work" 2>/dev/null
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
