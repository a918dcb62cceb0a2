#!/usr/bin/env bash
# Device call 1 (nvidia-h200) at e113852 (stage code: 38c7a92's kernels, PTX identical after the
# review mends): the part of make test-gpu that session 6 could not finish, the vit_h half of
# test_gpu_agreement.sh, alone on the GPU, then checked together with session 6's vit_b half
# (agreement-vit_b-call3.db.xz, stages built from 38c7a92). Before it, test_ops (its
# upscale_masks test was refactored in the review mends) and compute-sanitizer racecheck of
# `test_ops --race` (im2col's channels-last kernel and upscale_masks alone, no cuBLAS).
set -u
. "$(dirname "$0")/env.sh"
TAILN=30 step gpu0.txt test_ops $(left 60) bash tests/run.sh gpu test_ops
CS=compute-sanitizer; command -v $CS >/dev/null || CS=/usr/local/cuda/bin/compute-sanitizer
TAILN=30 step gpu0.txt racecheck_race $(left 130) $CS --tool racecheck --racecheck-report all \
    --error-exitcode 99 build/tests/gpu/test_ops --race
TAILN=40 step gpu0.txt agreement_vit_h $(left 575) env AGREEMENT_FAMILIES=vit_h \
    AGREEMENT_WORK=build/test-work/agreement_vit_h bash tests/gpu/test_gpu_agreement.sh
db_back build/test-work/agreement_vit_h/agreement.db agreement-vit_h.db.xz
xz -dc tests/gpu/logs/h200-2026-12-01-e/agreement-vit_b-call3.db.xz > build/agreement-vit_b-s6.db
TAILN=60 step gpu0.txt agreement_check $(left 595) env \
    AGREEMENT_DB=build/agreement-vit_b-s6.db:build/test-work/agreement_vit_h/agreement.db \
    bash tests/gpu/test_gpu_agreement.sh
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
