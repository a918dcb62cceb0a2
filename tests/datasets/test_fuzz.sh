#!/usr/bin/env bash
# Fuzzes annotation JSON -> masks (tests/fuzz/fuzz_coco.c, libFuzzer + ASan + UBSan) for
# FUZZ_SECONDS (default 60) from a small seed corpus. PASS when nothing crashed, leaked past
# the limits or hung.
#   FUZZ_SECONDS=3600 bash tests/datasets/test_fuzz.sh      a longer run by hand
set -u
BUILD=${BUILD:-build}
fuzzer=$BUILD/fuzz/fuzz_coco
secs=${FUZZ_SECONDS:-60}
[ -x "$fuzzer" ] || { echo "FAIL fuzz_coco not built ($fuzzer; make BUILD=$BUILD $fuzzer)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=$tmp/corpus
mkdir -p "$corpus"
img='{"id":1,"width":9,"height":7,"file_name":"a.jpg"},{"id":2,"width":3,"height":2,"file_name":"b.jpg"}'
cats='{"id":1,"name":"a","supercategory":"x"},{"id":2,"name":"b","supercategory":"y"}'
seed() { printf '{"images":[%s],"categories":[%s],"annotations":[%s]}' "$img" "$cats" "$1" >"$corpus/$2.json"; }
seed '{"id":1,"image_id":1,"category_id":1,"segmentation":[[0,0,8.5,0,8.5,6.5,0,6.5]]}' poly
seed '{"id":2,"image_id":1,"category_id":2,"segmentation":[[-3,-2,12,1,4,9],[1,1,2,1,1.5,2]]}' multi
seed '{"id":3,"image_id":1,"category_id":1,"iscrowd":1,"segmentation":{"counts":[5,10,20,28],"size":[7,9]}}' rle
seed '{"id":4,"image_id":2,"category_id":2,"segmentation":{"counts":"0;1","size":[2,3]}},{"id":5,"image_id":2,"category_id":1,"segmentation":{"counts":"12","size":[2,3]}}' rlestr
seed '{"id":6,"image_id":1,"category_id":1,"segmentation":[[4,0,8,3,8,6,4,6,4,3,6,3,6,1,4,1]]}' cshape
seed '{"id":7,"image_id":1,"category_id":1,"segmentation":[[0,0,1,1,2,2]]},{"id":8,"image_id":1,"category_id":1,"segmentation":[[3,3,3,3,3,3]]}' degenerate
cat >"$tmp/coco.dict" <<'DICT'
"images"
"annotations"
"categories"
"segmentation"
"counts"
"size"
"iscrowd"
"image_id"
"category_id"
"file_name"
"width"
"height"
"supercategory"
"name"
"id"
"area"
"bbox"
"1e308"
"-1"
"4294967295"
"9007199254740993"
DICT
# The fuzz build recovers from UBSan reports by default: make them stop the run (and keep the
# input) like any crash.
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
"$fuzzer" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -dict="$tmp/coco.dict" -artifact_prefix="$tmp/" -print_final_stats=1 "$corpus" \
    >"$tmp/log" 2>&1
rc=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$tmp/log" | grep -o '[0-9]*$')
cov=$(grep -o 'cov: [0-9]*' "$tmp/log" | tail -1)
if [ $rc -eq 0 ] && ! grep -q "runtime error\|ERROR: " "$tmp/log" &&
   ! ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* >/dev/null 2>&1; then
    echo "PASS fuzz_coco: JSON -> masks for ${secs} s, ${runs:-?} inputs, ${cov:-?}, no finding"
else
    echo "FAIL fuzz_coco: exit status $rc after ${runs:-?} inputs; finding:"
    grep -E "ERROR|SUMMARY|runtime error" "$tmp/log" | head -5
    mkdir -p "$BUILD/fuzz-findings" && cp "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* \
        "$tmp"/oom-* "$BUILD/fuzz-findings/" 2>/dev/null && echo "inputs kept in $BUILD/fuzz-findings/"
fi
