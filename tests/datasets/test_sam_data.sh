#!/usr/bin/env bash
# build/sam-data end to end, as on a fresh machine: synth, info, mask (.npy and .png), points,
# batches, decode, --help of every command, and one-line errors for bad input.
set -u
BUILD=${BUILD:-build}
tool=$BUILD/sam-data
py=$BUILD/venv/bin/python
[ -x "$tool" ] || { echo "FAIL $tool missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }

if "$tool" synth --out "$tmp/coco" --images 12 --seed 3 >"$tmp/out" 2>&1 &&
   [ -f "$tmp/coco/annotations/instances_val2017.json" ] &&
   [ "$(ls "$tmp/coco/val2017" | grep -c '^[0-9]\{12\}\.jpg$')" = 12 ]; then
    pass "synth writes annotations/instances_val2017.json and 12 JPEGs named as COCO's"
else
    fail "synth: $(tail -2 "$tmp/out")"
fi

"$tool" info --coco "$tmp/coco" >"$tmp/info" 2>&1
if grep -q "^images: 12 (12 with at least one annotation" "$tmp/info" &&
   grep -q "^skipped images: 0 of 12" "$tmp/info" && grep -q "supercategories" "$tmp/info"; then
    pass "info: counts, categories, no skipped image"
else
    fail "info: $(head -5 "$tmp/info")"
fi

# Break one image and make another the wrong size: info reports both by image id.
first=$(ls "$tmp/coco/val2017" | head -1)
second=$(ls "$tmp/coco/val2017" | sed -n 2p)
head -c 300 "$tmp/coco/val2017/$first" >"$tmp/cut" && mv "$tmp/cut" "$tmp/coco/val2017/$first"
"$tool" decode --image "$tmp/coco/val2017/$(ls "$tmp/coco/val2017" | sed -n 3p)" --out "$tmp/x.npy" >/dev/null
cp "$tmp/coco/val2017/$(ls "$tmp/coco/val2017" | sed -n 3p)" "$tmp/coco/val2017/$second"
"$tool" info --coco "$tmp/coco" --decode >"$tmp/info2" 2>&1
id1=$((10#${first%.jpg})); id2=$((10#${second%.jpg}))
if grep -q "^skipped image $id1: .*truncated" "$tmp/info2" &&
   grep -q "^skipped image $id2: .*differs" "$tmp/info2" &&
   grep -q "^skipped images: 2 of 12" "$tmp/info2"; then
    pass "info --decode reports a truncated JPEG and a size mismatch by image id"
else
    fail "info --decode: $(grep skipped "$tmp/info2" | head -3)"
fi

"$tool" batches --coco "$tmp/coco" --batch 4 --size 256 >"$tmp/batches" 2>&1
if grep -q "^delivered 10 images" "$tmp/batches" && grep -q "skipped 2 images" "$tmp/batches" &&
   grep -q "^skipped image $id1" "$tmp/batches"; then
    pass "batches: 10 images delivered, the 2 broken ones skipped and reported"
else
    fail "batches: $(tail -3 "$tmp/batches")"
fi

ann=$("$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['annotations'][0]['id'])" \
      "$tmp/coco/annotations/instances_val2017.json")
if "$tool" mask --coco "$tmp/coco" --ann "$ann" --out "$tmp/m.npy" >/dev/null &&
   "$tool" mask --coco "$tmp/coco" --ann "$ann" --out "$tmp/m.png" >/dev/null &&
   "$py" - "$tmp" "$ann" <<'PY'
import json, sys
import numpy as np
from PIL import Image
from pycocotools.coco import COCO
import contextlib, io
tmp, ann = sys.argv[1], int(sys.argv[2])
with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO(f"{tmp}/coco/annotations/instances_val2017.json")
ref = coco.annToMask(coco.anns[ann])
npy = np.load(f"{tmp}/m.npy")
png = np.asarray(Image.open(f"{tmp}/m.png"))
assert npy.dtype == np.uint8 and np.array_equal(npy, ref), "npy differs"
assert np.array_equal(png, ref * 255), "png differs"
PY
then
    pass "mask --out .npy (0/1) and .png (0/255) equal annToMask"
else
    fail "mask output differs from annToMask"
fi

if "$tool" points --coco "$tmp/coco" --out "$tmp/p.json" >"$tmp/pout" 2>&1 &&
   "$tool" points --coco "$tmp/coco" --out "$tmp/p2.json" >"$tmp/pout2" 2>&1 &&
   cmp -s "$tmp/p.json" "$tmp/p2.json" && grep -q "0 computed" "$tmp/pout2" &&
   "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['points'])>0" "$tmp/p.json"; then
    pass "points writes JSON per annotation id; the second run reads every point from the cache"
else
    fail "points: $(cat "$tmp/pout" "$tmp/pout2" | tail -2)"
fi

ok=1
for c in synth info mask points batches decode rles; do
    "$tool" "$c" --help | grep -q "^usage: sam-data $c" || { ok=0; echo "  no usage for $c"; }
done
[ $ok = 1 ] && pass "--help of every command" || fail "--help"

# Bad input: exit status 1, one line on stderr naming the file or option.
check_err() {  # what, expected substring, command...
    local what=$1 want=$2; shift 2
    "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$want" "$tmp/err"; then
        pass "$what ($(cat "$tmp/err"))"
    else
        fail "$what: status $rc, stderr: $(head -3 "$tmp/err")"
    fi
}
check_err "missing COCO folder" "/nonexistent/annotations/instances_val2017.json: cannot open" \
    "$tool" info --coco /nonexistent
printf '{"images": [{"id": 1, "width": 4' >"$tmp/trunc.json"
check_err "truncated JSON" "trunc.json: malformed JSON" "$tool" rles --json "$tmp/trunc.json" --out "$tmp/o.json"
printf '{"images":[{"id":1,"width":4,"height":3,"file_name":"a.jpg"}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":77,"image_id":1,"category_id":1,"segmentation":[[1,2,3,4]]}]}' >"$tmp/short.json"
check_err "polygon with 4 numbers" "annotation 77: polygon 0 has 4 coordinates" \
    "$tool" rles --json "$tmp/short.json" --out "$tmp/o.json"
check_err "unknown annotation id" "no annotation with id 123456789" \
    "$tool" mask --coco "$tmp/coco" --ann 123456789 --out "$tmp/x.png"
check_err "bad option value" "--images wants an integer" "$tool" synth --out "$tmp/s" --images lots
check_err "unknown option" "unknown option --frobnicate" "$tool" info --coco "$tmp/coco" --frobnicate 1
check_err "mask output kind" "want a .npy or .png" "$tool" mask --coco "$tmp/coco" --ann 1 --out "$tmp/x.bmp"
