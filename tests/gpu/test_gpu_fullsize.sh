#!/usr/bin/env bash
# Full size (1024), synthetic vit_b and vit_h on one image: GPU fp32 against the CPU float32
# reference (image embedding within 1e-4 relative, every mask >= 0.999 IoU), and bf16 against
# GPU fp32 (reported; its bound is the agreement over the subset, test_gpu_agreement.sh).
set -u
B=${BUILD:-build}
PY=${PYTHON:-python3}
work=$B/test-work/gpu_fullsize
rm -rf "$work" && mkdir -p "$work"
img=$B/fixtures/sam-golden/tiny1024/image.png
rc=0
for model in vit_b vit_h; do
    for stage in cpu fp32 bf16; do
        start=$(date +%s.%N)
        if ! $B/sam-$stage predict --checkpoint synthetic:$model --image "$img" --point 486,361,1 \
                --multimask --embedding --out "$work/${model}_$stage" >"$work/${model}_$stage.json" 2>"$work/err"; then
            echo "FAIL $model $stage predict: $(cat "$work/err")"
            rc=1
            continue
        fi
        echo "NOTE $model $stage: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s wall, $(cat "$work/${model}_$stage.json")"
    done
    $PY - "$work" "$model" <<'PY' || rc=1
import sys, numpy as np
w, model = sys.argv[1:]
def load(stage, what):
    return np.load(f"{w}/{model}_{stage}_{what}.npy")
def rel(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())
def miou(a, b):
    out = []
    for x, y in zip(a > 0, b > 0):
        u = np.logical_or(x, y).sum()
        out.append(np.logical_and(x, y).sum() / u if u else 1.0)
    return min(out)
ok = True
def rep(good, what):
    global ok
    print(("PASS " if good else "FAIL ") + what)
    ok &= good
e = rel(load("fp32", "embedding"), load("cpu", "embedding"))
rep(e <= 1e-4, f"{model} GPU fp32 embedding vs CPU: max rel error {e:.3g} (tol 1e-4)")
m = miou(load("fp32", "logits"), load("cpu", "logits"))
rep(m >= 0.999, f"{model} GPU fp32 masks vs CPU: lowest IoU {m:.5f} (min 0.999)")
e = rel(load("fp32", "lowres"), load("cpu", "lowres"))
rep(e <= 1e-3, f"{model} GPU fp32 low-res logits vs CPU: max rel error {e:.3g}")
eb = rel(load("bf16", "embedding"), load("fp32", "embedding"))
mb = miou(load("bf16", "logits"), load("fp32", "logits"))
print(f"NOTE {model} bf16 vs fp32: embedding max rel error {eb:.3g}, lowest mask IoU {mb:.4f}")
rep(np.isfinite(load("bf16", "logits")).all(), f"{model} bf16 logits finite")
sys.exit(0 if ok else 1)
PY
done
exit $rc
