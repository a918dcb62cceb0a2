#!/usr/bin/env bash
# waterfall agree: two masks files' agreement as the accuracy gate measures it (top-mask IoU,
# two empty masks agreeing 1; same-index agreement; picks of another index), on files whose
# every number is worked out by hand below (masks made and RLE-encoded by pycocotools), its
# --min exit status, and one clear error for each bad input.
. tests/harness/lib.sh
py=$B/venv/bin/python
[ -x "$py" ] || { fail "setup: $py missing (make BUILD=$B venv)"; exit 1; }
"$py" - "$TMP" <<'PY' || fail "setup: writing the masks files"
import json, sys
import numpy as np
from pycocotools import mask as mu
tmp = sys.argv[1]
def rle(m):
    return mu.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()
def line(ann, masks, top):
    return json.dumps({"ann_id": ann, "image_id": 7, "category_id": 1, "size": [10, 10],
                       "counts": rle(masks[top]), "iou": None, "top": top,
                       "masks": [rle(m) for m in masks]})
z = np.zeros((10, 10), bool)
full = np.ones((10, 10), bool)
left, top_half, col0 = z.copy(), z.copy(), z.copy()
left[:, :5] = True
top_half[:5, :] = True
col0[:, 0] = True
# ann 1: identical outputs, same pick. ann 2: A picks left (index 0), B top_half (index 1),
# outputs identical: top IoU 25/75, same-index 1. ann 3: top masks both empty (agree 1); B's
# index 2 is col0 where A's is full: same-index (1 + 1 + 10/100) / 3.
A = [line(1, [full, left, z], 0), line(2, [left, top_half, z], 0), line(3, [z, left, full], 0)]
B = [line(1, [full, left, z], 0), line(2, [left, top_half, z], 1), line(3, [z, left, col0], 0)]
open(f"{tmp}/a.jsonl", "w").write("\n".join(A) + "\n")
open(f"{tmp}/b.jsonl", "w").write("\n".join(reversed(B)) + "\n")  # order does not matter
open(f"{tmp}/b4.jsonl", "w").write("\n".join(B + [line(4, [full, z, z], 0)]) + "\n")
open(f"{tmp}/bad.jsonl", "w").write(A[0] + "\n{not json\n")
PY
$WF agree "$TMP/a.jsonl" "$TMP/b.jsonl" >"$TMP/out" 2>"$TMP/err"
expect "exit 0 without --min" [ $? -eq 0 ]
top=$(python3 -c "print(f'{(1 + 25 / 75 + 1) / 3:.5f}')")
same=$(python3 -c "print(f'{(1 + 1 + (1 + 1 + 0.1) / 3) / 3:.5f}')")
expect "top-mask agreement (1 + 1/3 + 1) / 3 = $top, lowest annotation 2" \
    grep -q "^3 annotations: top-mask agreement $top (lowest 0.3333, annotation 2)" "$TMP/out"
expect "one pick of another index (annotation 2), same-index agreement $same" \
    grep -q ", 1 picked another mask index, same-index agreement $same\$" "$TMP/out"
$WF agree "$TMP/a.jsonl" "$TMP/b.jsonl" --min 0.7 >"$TMP/out2" 2>&1
expect "--min 0.7: exit 0, said" eq "$? $(grep -c 'at least the minimum 0.7$' "$TMP/out2")" "0 1"
$WF agree "$TMP/a.jsonl" "$TMP/b.jsonl" --min 0.8 >"$TMP/out3" 2>&1
expect "--min 0.8: exit 1, said" eq "$? $(grep -c 'UNDER the minimum 0.8$' "$TMP/out3")" "1 1"
$WF agree "$TMP/a.jsonl" "$TMP/a.jsonl" >"$TMP/out4" 2>&1
expect "a file against itself agrees 1 everywhere" grep -q "agreement 1.00000 (lowest 1.0000.*0 picked another mask index, same-index agreement 1.00000" "$TMP/out4"
$WF agree "$TMP/a.jsonl" "$TMP/b4.jsonl" >/dev/null 2>"$TMP/err5"
expect "other annotations: exit 1, one line naming both files" eq "$? $(wc -l <"$TMP/err5")" "1 1"
expect "... that says what differs" grep -q "^waterfall: agree: .*a.jsonl holds 3 annotations, .*b4.jsonl 4$" "$TMP/err5"
$WF agree "$TMP/a.jsonl" "$TMP/bad.jsonl" >/dev/null 2>"$TMP/err6"
expect "a malformed line: exit 1, the file and line named" eq "$? $(grep -c 'bad.jsonl line 2 is malformed' "$TMP/err6")" "1 1"
$WF agree "$TMP/a.jsonl" "$TMP/missing.jsonl" >/dev/null 2>"$TMP/err7"
expect "a missing file: exit 1, named" eq "$? $(grep -c 'missing.jsonl: No such file' "$TMP/err7")" "1 1"
$WF agree "$TMP/a.jsonl" >/dev/null 2>&1
expect "one file: usage, exit 2" [ $? -eq 2 ]
