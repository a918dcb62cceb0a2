#!/usr/bin/env bash
# Runs the test programs and scripts of one suite and prints "N passed, N failed" last.
#   tests/run.sh cpu   every tests/<area>/ except gpu (make test)
#   tests/run.sh gpu   tests/gpu/ only (make test-gpu, on a machine with a GPU)
#   tests/run.sh SUITE NAME...  only the suite's tests named (test_ops, test_gpu_agreement.sh, or
#                      with their folder: gpu/test_ops), so one suite can be run in parts (on two
#                      GPUs, or across device calls of limited length); a name the suite lacks
#                      is an error
#   tests/run.sh SUITE --list   the suite's test names, one per line
# A test prints one line per check, "PASS <what>" or "FAIL <what>: <why>"; a test that exits
# non-zero without a FAIL line counts as one failure. Logs go to build/test-logs/.
set -u
suite=${1:-cpu}
shift || true
cd "$(dirname "$0")/.."
B=${BUILD:-build}
export BUILD=$B
logs=$B/test-logs/$suite
mkdir -p "$logs"
pass=0
fail=0
failed_tests=()

run_one() {
    local name=$1; shift
    local log="$logs/$(echo "$name" | tr '/' '_').log"
    local start=$(date +%s.%N)
    timeout --kill-after=10 "${TEST_TIMEOUT:-1200}" "$@" >"$log" 2>&1
    local rc=$?
    local secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    local p f
    p=$(grep -c '^PASS' "$log")
    f=$(grep -c '^FAIL' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name: exited with status $rc" >>"$log"
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name: reported no checks" >>"$log"
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        failed_tests+=("$name")
        printf '%-48s %4d passed %4d FAILED  (%ss)\n' "$name" "$p" "$f" "$secs"
        grep '^FAIL' "$log" | head -20 | sed 's/^/    /'
        tail -5 "$log" | sed 's/^/    | /'
    else
        printf '%-48s %4d passed  (%ss)\n' "$name" "$p" "$secs"
    fi
    grep '^NOTE' "$log" | sed 's/^/    /'
}

if [ "$suite" = gpu ]; then
    bins=$(ls $B/tests/gpu/test_* 2>/dev/null | grep -v '\.d$')
    scripts=$(ls tests/gpu/test_*.sh 2>/dev/null)
else
    bins=$(find $B/tests -path $B/tests/gpu -prune -o -type f -name 'test_*' -perm -u+x -print 2>/dev/null | sort)
    scripts=$(ls tests/*/test_*.sh 2>/dev/null | grep -v '^tests/gpu/')
fi
if [ "${1:-}" = --list ]; then
    for b in $bins; do echo "${b#$B/tests/}"; done
    for s in $scripts; do echo "${s#tests/}"; done
    exit 0
fi
# A test is wanted when no names are given, or when one names it (with or without its folder).
wanted() {
    [ $# -gt 1 ] || return 0
    local t=$1 n
    shift
    for n in "$@"; do
        [ "$n" = "$t" ] || [ "$n" = "${t#*/}" ] && return 0
    done
    return 1
}
all="$(for b in $bins; do echo "${b#$B/tests/}"; done; for s in $scripts; do echo "${s#tests/}"; done)"
for n in "$@"; do
    if ! echo "$all" | grep -qx -e "$n" -e "[^/]*/$n"; then
        echo "tests/run.sh: $suite suite has no test named '$n' (tests/run.sh $suite --list names them)" >&2
        exit 2
    fi
done
for b in $bins; do wanted "${b#$B/tests/}" "$@" && run_one "${b#$B/tests/}" "$b"; done
for s in $scripts; do wanted "${s#tests/}" "$@" && run_one "${s#tests/}" bash "$s"; done

echo
if [ "${#failed_tests[@]}" -gt 0 ]; then echo "failed: ${failed_tests[*]}"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
