#!/usr/bin/env bash
# Device call 7 (nvidia-h200, warm after call 6), session 12: the command as it ran (given inline
# to the device call): memcheck of test_int8 --mlp-only with every kernel instrumented, then
# initcheck with the int8 filter (cut at its limit).
export STEPS_T0=$(date +%s); . tests/gpu/logs/h200-2026-12-01-k/env.sh; cs=compute-sanitizer; command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer; TAILN=20 step gpu0.txt mlp_memcheck_all $(left 90) $cs --tool memcheck --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only; TAILN=20 step gpu0.txt mlp_initcheck_int8 $(left 150) $cs --tool initcheck --kernel-name kns=int8 --error-exitcode 99 build/tests/gpu/test_int8 --mlp-only; grep -v "^PASS\|NOTE device" $OUT/gpu0.txt
