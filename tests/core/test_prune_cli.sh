#!/usr/bin/env bash
# Pruning as an option of every stage, through the cpu stage's commands: "C+prune24" predicts
# exactly (bit for bit) what the same checkpoint pre-pruned by an independent implementation of
# the rule (tests/core/make_pth.py --prune24, Python's sort) predicts, and differs from the
# unpruned model; info reports the pruning; an unknown option is refused by name.
set -u
B=${BUILD:-build}
work=$B/test-work/prune_cli
rm -rf "$work" && mkdir -p "$work"
fx=$B/fixtures/sam-golden/tiny
rc=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; rc=1; }

if python3 tests/core/make_pth.py $fx/model.pth "$work/pruned.pth" --prune24 2>"$work/err"; then
    pass "make_pth.py --prune24 writes the tiny fixture with its encoder linears pruned"
else
    fail "make_pth.py --prune24: $(head -c 300 "$work/err")"
fi

predict() {  # out-prefix checkpoint
    $B/sam-cpu predict --checkpoint "$2" --image $fx/image.png --point 114,91,1 --multimask --out "$1" \
        >"$1.log" 2>&1
}
predict "$work/opt" "$fx/model.pth+prune24" || fail "predict with +prune24: $(tail -c 300 "$work/opt.log")"
predict "$work/file" "$work/pruned.pth" || fail "predict on the pre-pruned checkpoint: $(tail -c 300 "$work/file.log")"
predict "$work/dense" "$fx/model.pth" || fail "predict unpruned: $(tail -c 300 "$work/dense.log")"
same=1
for f in logits lowres iou; do
    cmp -s "$work/opt_$f.npy" "$work/file_$f.npy" || same=0
    [ -s "$work/opt_$f.npy" ] || same=0
done
[ $same = 1 ] && pass "predict on C+prune24 equals predict on C pruned by make_pth.py, bit for bit (logits, low-res, IoU)" ||
    fail "predict on C+prune24 differs from C pruned by make_pth.py"
if [ -s "$work/dense_lowres.npy" ] && ! cmp -s "$work/opt_lowres.npy" "$work/dense_lowres.npy"; then
    pass "the pruned model's low-res masks differ from the unpruned model's"
else
    fail "pruning did not change the low-res masks"
fi

json_field() {  # file python-expression-on-c
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print($2)" "$1"
}
if $B/sam-cpu info --checkpoint "synthetic:vit_b+prune24" >"$work/info_p.json" 2>"$work/err" &&
   $B/sam-cpu info --checkpoint "synthetic:vit_b" >"$work/info_d.json" 2>>"$work/err"; then
    p=$(json_field "$work/info_p.json" "c['prune'], c['stage']['choices']['prune'], c['checkpoint'], c['embed_dim']")
    d=$(json_field "$work/info_d.json" "c['prune'], c['stage']['choices']['prune']")
    [ "$p" = "2:4 none synthetic:vit_b+prune24 768" ] && [ "$d" = "none none" ] &&
        pass "info: \"prune\" 2:4 with +prune24 (the cpu stage's own choice stays none), none without" ||
        fail "info prune fields: with +prune24 '$p', without '$d'"
else
    fail "info on synthetic:vit_b(+prune24): $(head -c 300 "$work/err")"
fi

check_error() {  # what, expected substring, command...
    local what=$1 want=$2; shift 2
    "$@" >"$work/out" 2>"$work/err"
    local code=$? lines=$(wc -l <"$work/err")
    if [ $code -ne 0 ] && [ "$lines" -eq 1 ] && grep -qF -- "$want" "$work/err"; then
        pass "$what: $(cat "$work/err")"
    else
        fail "$what: exit $code, stderr: $(head -c 300 "$work/err")"
    fi
}
check_error "an unknown weights option is refused by name" 'unknown weights option "+prune42"' \
    $B/sam-cpu info --checkpoint "synthetic:vit_b+prune42"
check_error "predict refuses it too" 'unknown weights option "+sparse"' \
    $B/sam-cpu predict --checkpoint "$fx/model.pth+sparse" --image $fx/image.png --point 1,1,1 --out "$work/x"
if $B/sam-cpu --help | grep -q "+prune24"; then
    pass "--help documents +prune24"
else
    fail "--help does not mention +prune24"
fi
exit $rc
