#!/usr/bin/env bash
# experiments/oracle/compare_masks.py, the statistic behind the bf16 agreement study, on masks
# files whose every number is worked out by hand below: agreement, flips, margin errors and
# the expected flips they predict; and one clear error for a malformed line.
. tests/harness/lib.sh
py=$B/venv/bin/python
[ -x "$py" ] || { fail "setup: $py missing (make BUILD=$B venv)"; exit 1; }
"$py" - "$TMP" <<'PY' || fail "setup: writing the masks files"
import json, sys
import numpy as np
from pycocotools import mask as mu
tmp = sys.argv[1]
def line(ann, m, scores):
    rle = mu.encode(np.asfortranarray(m.astype(np.uint8)))
    top = int(np.argmax(scores))
    return json.dumps({"ann_id": ann, "image_id": 1, "score": scores[top], "top": top,
                       "scores": scores, "size": list(m.shape), "counts": rle["counts"].decode()})
z = np.zeros((10, 10), bool)
left, top_half, full = z.copy(), z.copy(), np.ones((10, 10), bool)
left[:, :5] = True
top_half[:5, :] = True
# A (the reference) and B. Annotation 3: B's mask is the top half where A's is the left half:
# IoU 25 / 75. Annotation 4: both empty (IoU 1). Margins of A (best - second): 0.1, 0.05,
# 0.01, 0.2; B moves them by d = 0, -0.02, -0.02, +0.01 (in B's score of A's two best masks).
A = [line(1, full, [0.1, 0.3, 0.2]), line(2, left, [0.5, 0.45, 0.0]),
     line(3, left, [0.0, 0.20, 0.21]), line(4, z, [0.4, 0.1, 0.2])]
B = [line(1, full, [0.1, 0.3, 0.2]), line(2, left, [0.5, 0.47, 0.02]),
     line(3, top_half, [0.0, 0.21, 0.20]), line(4, z, [0.41, 0.1, 0.2])]
open(f"{tmp}/a.masks", "w").write("\n".join(A) + "\n")
open(f"{tmp}/b.masks", "w").write("\n".join(B) + "\n")
# one annotation only in B
open(f"{tmp}/b5.masks", "w").write("\n".join(B + [line(5, full, [0.1, 0.2, 0.3])]) + "\n")
open(f"{tmp}/bad.masks", "w").write(A[0] + "\n{not json\n")
PY
"$py" experiments/oracle/compare_masks.py "$TMP/a.masks" "$TMP/b5.masks" --label t >"$TMP/out" 2>"$TMP/err"
expect "compare_masks exits 0" [ $? -eq 0 ]
# A check script that stops early (a missing field) must fail the test, not drop its checks.
"$py" - "$TMP/out" <<'PY' >"$TMP/checks" || echo "FAIL reading compare_masks' output ($TMP/out): the check script stopped" >>"$TMP/checks"
import json, math, sys
r = json.load(open(sys.argv[1]))
def check(what, got, want, tol=1e-6):
    ok = abs(got - want) <= tol
    print(("PASS " if ok else "FAIL ") + f"{what}: {got}" + ("" if ok else f", wanted {want}"))
check("annotations in both", r["annotations"], 4)
check("only in B", r["only_b"], 1)
check("agreement = (1 + 1 + 1/3 + 1) / 4", r["agreement"], (3 + 1 / 3) / 4)
check("under 0.5: annotation 3", r["under_0.5"], 1)
check("mean of the rest", r["mean_of_the_rest"], 1.0)
check("other index picked: annotation 3", r["other_index_picked"], 1)
# d = (sB[i] - sB[j]) - (sA[i] - sA[j]) over A's best i and second j
d = [0.0, (0.5 - 0.47) - 0.05, (0.20 - 0.21) - 0.01, (0.41 - 0.2) - 0.2]
check("margin error RMS", r["margin_error_rms"], math.sqrt(sum(x * x for x in d) / 4))
check("A's margins under 0.002: none", r["a_margins_under_0.002"], 0)
# Expected flips: P(d < -m) over the four d values, per margin 0.1, 0.05, 0.01, 0.2:
# only annotation 3's margin 0.01 has d values below -0.01 (both -0.02): 2 of 4.
check("expected flips", r["expected_flips"], 0.5, 1e-2)
check("expected flips sd", r["expected_flips_sd"], 0.5, 1e-2)
# Agreement if the flip costs what the observed flip cost (1 - 1/3) over 4 annotations.
check("expected agreement", r["expected_agreement"], 1 - 0.5 * (1 - 1 / 3) / 4, 1e-4)
PY
cat "$TMP/checks"
"$py" experiments/oracle/compare_masks.py "$TMP/a.masks" "$TMP/bad.masks" >/dev/null 2>"$TMP/err"
rc=$?
expect "malformed line: non-zero exit" [ $rc -ne 0 ]
expect "malformed line: one error naming the file and line" grep -q "bad.masks:2: not a masks-file line" "$TMP/err"
