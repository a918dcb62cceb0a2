#!/usr/bin/env bash
# build/sdpa-aot's refusals, which need no GPU: a key file with malformed keys (each named in a
# FAIL line, exit 1, nothing written), one with no key, one that does not exist, and a usage
# error. (Building plans needs the GPU: tests/gpu/test_gpu_sdpa_cache.sh.)
set -u
B=${BUILD:-build}
work=$B/test-work/sdpa_aot
rm -rf "$work" && mkdir -p "$work"
fail=0
if [ ! -x "$B/sdpa-aot" ]; then echo "FAIL $B/sdpa-aot: not built"; exit 1; fi
check() {  # name, expected rc, command...; then the patterns its output must hold
    local name=$1 want=$2; shift 2
    local cmd=() pats=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do cmd+=("$1"); shift; done
    shift
    pats=("$@")
    "${cmd[@]}" >"$work/$name.out" 2>&1
    local rc=$? p
    if [ "$rc" != "$want" ]; then
        echo "FAIL sdpa-aot $name: exit $rc (want $want), output: $(head -c 300 "$work/$name.out")"; fail=1; return
    fi
    for p in "${pats[@]}"; do
        if grep -qF -- "$p" "$work/$name.out"; then echo "PASS sdpa-aot $name: exit $rc, says '$p'"
        else echo "FAIL sdpa-aot $name: no '$p' in: $(head -c 300 "$work/$name.out")"; fail=1; fi
    done
}
printf '# plan keys\nb=1 h=8 sq=7\nb=1 h=8 sq=7 skv=7 d=32 bias=3 pitch=0 q=1792,32,256 k=1792,32,256 v=1792,32,256 o=1792,32,256\n' >"$work/bad.keys"
check malformed 1 "$B/sdpa-aot" --keys "$work/bad.keys" --out "$work/plans" -- \
    "FAIL not a plan key: 'b=1 h=8 sq=7'" "FAIL not a plan key: 'b=1 h=8 sq=7 skv=7 d=32 bias=3" \
    "2 plans: 0 built, 0 already in $work/plans, 2 failed"
if [ -e "$work/plans" ]; then echo "FAIL sdpa-aot malformed: $work/plans was made"; fail=1
else echo "PASS sdpa-aot malformed: nothing written"; fi
printf '# only a comment\n\n' >"$work/empty.keys"
check empty 1 "$B/sdpa-aot" --keys "$work/empty.keys" --out "$work/plans" -- "$work/empty.keys holds no plan keys"
check missing 1 "$B/sdpa-aot" --keys "$work/none.keys" --out "$work/plans" -- \
    "sdpa-aot: $work/none.keys: cannot open: No such file or directory"
check usage 2 "$B/sdpa-aot" --keys "$work/bad.keys" -- "usage: sdpa-aot --keys K --out DIR"
exit $fail
