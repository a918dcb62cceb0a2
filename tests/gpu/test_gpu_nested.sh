#!/usr/bin/env bash
# The nested stage (issue 16): build/sam-nested is relpos with ragged decoding, so its masks must
# agree with build/sam-relpos's (per-image decoding, same encoder) within the bf16 bounds: mean
# top-mask IoU over every annotation at least 0.98 (design.md section 4's bound for a stage of
# bf16 precision; the two differ only where cuBLAS rounds GEMMs of other row counts otherwise).
# Run on the tiny fixture (batches of 4, a short last one) and on synthetic vit_b over the default
# subset at batch 8 and 32. NOTE lines give both stages' per-batch phase times (decoder = prompt
# encoding and decoding of the whole batch, post = post-processing and statistics), img/s, peak
# memory and launches: the issue's target is decoder + post <= 2.0 ms per batch for vit_b at
# batch 8, growing no faster than the prompt count at batch 32.
set -u
B=${BUILD:-build}
PY=${PYTHON:-python3}
work=$B/test-work/gpu_nested
rm -rf "$work" && mkdir -p "$work"
coco=$B/data/synthetic-coco
[ -f $coco/annotations/instances_val2017.json ] || $B/sam-data synth --out $coco >/dev/null
fail=0
for spec in "tiny:$B/fixtures/sam-golden/tiny/model.pth:4:14" "vit_b:synthetic:vit_b:8:0" "vit_b:synthetic:vit_b:32:0"; do
    label=${spec%%:*}; rest=${spec#*:}
    limit=${rest##*:}; rest=${rest%:*}; batch=${rest##*:}; ckpt=${rest%:*}
    tag=$label-b$batch
    for st in relpos nested; do
        if ! $B/sam-$st eval --checkpoint "$ckpt" --coco $coco --batch-size $batch --limit $limit \
                --warmup 2 --masks-out "$work/$tag-$st.jsonl" >"$work/$tag-$st.out" 2>"$work/$tag-$st.err"; then
            echo "FAIL nested $tag: sam-$st eval failed: $(tail -1 "$work/$tag-$st.err")"; fail=1; continue 2
        fi
    done
    $PY - "$work/$tag-relpos.jsonl" "$work/$tag-nested.jsonl" "$tag" <<'PY' || fail=1
import json, sys

def counts(s):  # COCO compressed RLE string -> run lengths (pycocotools rleFrString)
    out, p = [], 0
    while p < len(s):
        x = k = 0
        more = 1
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << 5 * k
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << 5 * k
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out

def ones(s):  # the mask's foreground as [start, end) intervals (column-major order)
    iv, at = [], 0
    for i, n in enumerate(counts(s)):
        if i % 2 and n:
            iv.append((at, at + n))
        at += n
    return iv

def iou(a, b):
    i = j = inter = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        inter += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    na, nb = sum(e - s for s, e in a), sum(e - s for s, e in b)
    union = na + nb - inter
    return inter / union if union else 1.0

ref = {d["ann_id"]: d for d in map(json.loads, open(sys.argv[1]))}
got = {d["ann_id"]: d for d in map(json.loads, open(sys.argv[2]))}
tag = sys.argv[3]
if not ref or set(ref) != set(got):
    print(f"FAIL nested {tag}: masks files hold {len(ref)} and {len(got)} annotations, not the same ones")
    sys.exit(1)
v = [iou(ones(ref[a]["counts"]), ones(got[a]["counts"])) for a in ref]
same_top = sum(ref[a]["top"] == got[a]["top"] for a in ref)
same_idx = [iou(ones(ref[a]["masks"][k]), ones(got[a]["masks"][k])) for a in ref for k in range(len(ref[a]["masks"]))]
mean = sum(v) / len(v)
ok = mean >= 0.98
print(("PASS" if ok else "FAIL") + f" nested {tag}: top masks agree with sam-relpos's at mean IoU "
      f"{mean:.5f} over {len(v)} annotations (min 0.98; lowest {min(v):.4f}; {same_top} same top "
      f"index; same-index mean {sum(same_idx) / len(same_idx):.5f})")
sys.exit(0 if ok else 1)
PY
    for st in relpos nested; do
        s=$(grep '"summary"' "$work/$tag-$st.out")
        f() { echo "$s" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }
        ph=$(echo "$s" | sed -n 's/.*"phase_ms":{\([^}]*\)}.*/\1/p')
        echo "NOTE $tag $st: img/s $(f img_s), batch median $(f batch_ms_median) ms, phase_ms {$ph}, peak $(( $(f peak_bytes) / 1048576 )) MiB, launches $(f launches_per_batch), graphs $(f graphs_captured)"
    done
done
exit $fail
