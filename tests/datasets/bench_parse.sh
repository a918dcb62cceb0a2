#!/usr/bin/env bash
# Benchmark (not a test): parse + index a val2017-sized annotation file (5,000 images, 36,781
# annotations, ~25 MB; tests/datasets/gen_val2017_like.py) on one core, five times.
#   bash tests/datasets/bench_parse.sh            (after make build/sam-data)
set -eu
BUILD=${BUILD:-build}
dir=$BUILD/bench-val2017
[ -f "$dir/annotations/instances_val2017.json" ] || python3 tests/datasets/gen_val2017_like.py "$dir"
ls -l "$dir/annotations/instances_val2017.json"
for i in 1 2 3 4 5; do
    taskset -c 0 "$BUILD/sam-data" info --coco "$dir" | grep "parsed and indexed"
done
