#!/usr/bin/env bash
# tests/run.sh SUITE NAME... runs only the tests named (how make test-gpu's suite is split over
# two GPUs and over device calls of limited length), and refuses a name the suite lacks.
set -u
B=${BUILD:-build}
want=$($B/tests/datasets/test_rle 2>/dev/null | grep -c '^PASS')
out=$(bash tests/run.sh cpu datasets/test_rle 2>&1)
rc=$?
last=$(echo "$out" | tail -1)
ran=$(echo "$out" | grep -c 'passed')
if [ $rc -eq 0 ] && [ "$last" = "$want passed, 0 failed" ] && [ "$ran" -eq 2 ]; then
    echo "PASS run.sh cpu datasets/test_rle runs that test alone: $last"
else
    echo "FAIL run.sh cpu datasets/test_rle: rc $rc, last line '$last' (want '$want passed, 0 failed'), $ran lines with 'passed' (want 2)"
fi
out=$(bash tests/run.sh cpu test_rle 2>&1 | tail -1)
[ "$out" = "$want passed, 0 failed" ] && echo "PASS a name without its folder is found: $out" \
    || echo "FAIL run.sh cpu test_rle: last line '$out'"
err=$(bash tests/run.sh cpu test_rle no_such_test 2>&1)
rc=$?
if [ $rc -eq 2 ] && echo "$err" | grep -q "no test named 'no_such_test'" && ! echo "$err" | grep -q passed; then
    echo "PASS an unknown name is refused before any test runs (exit 2): $err"
else
    echo "FAIL unknown name: rc $rc, output: $(echo "$err" | head -3)"
fi
n=$(bash tests/run.sh gpu --list | grep -c -x -e 'gpu/test_gpu_agreement.sh' -e 'gpu/test_gpu_sparse.sh')
[ "$n" -eq 2 ] && echo "PASS run.sh gpu --list names the GPU scripts" || echo "FAIL run.sh gpu --list: $n of the 2 scripts named"
