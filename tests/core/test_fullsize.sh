#!/usr/bin/env bash
# synthetic:vit_b at full size (1024) on one image, end to end on the CPU. The wall time is a
# figure for the notes (a NOTE line), not an assertion; the outputs must be complete and finite.
set -u
B=${BUILD:-build}
work=$B/test-work/fullsize
rm -rf "$work" && mkdir -p "$work"
img=$B/fixtures/sam-golden/tiny1024/image.png
start=$(date +%s.%N)
$B/sam-cpu predict --checkpoint synthetic:vit_b --image "$img" --point 486,361,1 --multimask --out "$work/vit_b" >"$work/out.json" 2>"$work/err"
rc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
if [ $rc -ne 0 ]; then echo "FAIL synthetic vit_b predict: $(cat "$work/err")"; exit 1; fi
echo "NOTE synthetic vit_b full-size CPU predict: ${secs} s wall ($(nproc) cores): $(cat "$work/out.json")"
$B/venv/bin/python - "$work" <<'PY'
import json, sys, numpy as np
w = sys.argv[1]
out = json.load(open(f"{w}/out.json"))
logits, lowres, iou = (np.load(f"{w}/vit_b_{s}.npy") for s in ("logits", "lowres", "iou"))
def rep(ok, what):
    print(("PASS " if ok else "FAIL ") + what)
    return ok
ok = rep(out["model"] == "vit_b", "synthetic:vit_b is derived as vit_b from its shapes")
ok &= rep(logits.shape == (3, 480, 640) and lowres.shape == (3, 256, 256) and iou.shape == (3,), f"output shapes {logits.shape} {lowres.shape} {iou.shape}")
ok &= rep(all(np.isfinite(a).all() for a in (logits, lowres, iou)), "outputs are finite")
# Random weights still give masks of varied logits, not a constant image.
ok &= rep(float(logits.std()) > 1e-3 and float(lowres.std()) > 1e-3, f"logit spread {logits.std():.3g}")
sys.exit(0 if ok else 1)
PY
