#!/usr/bin/env bash
# pycocotools / SciPy / seed oracle for masks, the RLE codec, area, box, IoU, centre of mass
# and centre points: two random instances files (>= 2000 annotations each: polygons inside,
# touching and crossing the border, tiny, degenerate, multi-part; RLEs of every length class)
# and the synthetic subset, all through `sam-data rles` and compared in
# tests/datasets/oracle_coco.py.
set -u
BUILD=${BUILD:-build}
py=$BUILD/venv/bin/python
tool=$BUILD/sam-data
for f in "$py" "$tool"; do
    [ -x "$f" ] || { echo "FAIL oracle setup: $f missing (make BUILD=$BUILD venv $tool)"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for seed in 0 1; do
    if ! "$py" tests/datasets/oracle_coco.py gen "$tmp/ann$seed.json" "$seed"; then
        echo "FAIL oracle generator (seed $seed)"; continue
    fi
    if ! "$tool" rles --json "$tmp/ann$seed.json" --out "$tmp/ours$seed.json"; then
        echo "FAIL sam-data rles on the random file (seed $seed)"; continue
    fi
    "$py" tests/datasets/oracle_coco.py check "$tmp/ann$seed.json" "$tmp/ours$seed.json" |
        sed "s/^\(PASS\|FAIL\) /\1 [random file, seed $seed] /"
done
# The synthetic subset's own annotations (polygons, multi-part, crowd RLE) through the oracle.
if "$tool" synth --out "$tmp/synth" --images 40 --seed 5 >/dev/null &&
   "$tool" rles --json "$tmp/synth/annotations/instances_val2017.json" --out "$tmp/synth.json"; then
    "$py" tests/datasets/oracle_coco.py check "$tmp/synth/annotations/instances_val2017.json" \
        "$tmp/synth.json" | grep -v "oracle size\|length classes" |
        sed "s/^\(PASS\|FAIL\) /\1 [synthetic subset] /"
else
    echo "FAIL sam-data synth / rles on the synthetic subset"
fi
