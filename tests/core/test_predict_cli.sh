#!/usr/bin/env bash
# sam-cpu predict on every single-prompt fixture case reproduces the golden outputs, and bad
# input gives one error line and a non-zero exit.
set -u
B=${BUILD:-build}
work=$B/test-work/predict_cli
rm -rf "$work" && mkdir -p "$work"
$B/venv/bin/python tests/core/predict_cli_check.py $B/sam-cpu $B/fixtures/sam-golden "$work"
rc=$?

check_error() {  # what, expected substring, command...
    local what=$1 want=$2; shift 2
    "$@" >"$work/out" 2>"$work/err"
    local code=$? lines=$(wc -l <"$work/err")
    if [ $code -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$want" "$work/err"; then
        echo "PASS $what: $(cat "$work/err")"
    else
        echo "FAIL $what: exit $code, stderr: $(head -c 300 "$work/err")"
        rc=1
    fi
}
fx=$B/fixtures/sam-golden/tiny
check_error "info on a missing checkpoint" "$work/missing.pth" $B/sam-cpu info --checkpoint "$work/missing.pth"
head -c 5000 $fx/model.pth >"$work/trunc.pth"
check_error "info on a truncated checkpoint" "$work/trunc.pth" $B/sam-cpu info --checkpoint "$work/trunc.pth"
check_error "predict on a missing image" "$work/none.png" $B/sam-cpu predict --checkpoint $fx/model.pth --image "$work/none.png" --point 1,1,1 --out "$work/x"
printf 'not an image' >"$work/bad.jpg"
check_error "predict on a corrupt image" "$work/bad.jpg" $B/sam-cpu predict --checkpoint $fx/model.pth --image "$work/bad.jpg" --point 1,1,1 --out "$work/x"
check_error "predict with a bad point" "--point" $B/sam-cpu predict --checkpoint $fx/model.pth --image $fx/image.png --point 1,2 --out "$work/x"
check_error "predict with a bad label" "LABEL" $B/sam-cpu predict --checkpoint $fx/model.pth --image $fx/image.png --point 1,2,7 --out "$work/x"
check_error "unknown synthetic model" "vit_q" $B/sam-cpu info --checkpoint synthetic:vit_q
if $B/sam-cpu info --checkpoint $fx/model.pth >"$work/info.json" 2>"$work/err" &&
   $B/venv/bin/python -c "import json,sys; c=json.load(open(sys.argv[1])); assert (c['img_size'],c['embed_dim'],c['depth'],c['heads'],c['global_blocks'],c['prompt_dim'],c['decoder_heads'])==(256,128,4,2,[1,3],64,2), c" "$work/info.json"; then
    echo "PASS info prints the tiny fixture's configuration as JSON"
else
    echo "FAIL info on the tiny fixture: $(cat "$work/err" "$work/info.json" | head -c 300)"
    rc=1
fi
exit $rc
