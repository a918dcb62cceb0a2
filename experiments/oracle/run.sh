#!/usr/bin/env bash
# The official segment_anything code on the CPU over the default synthetic subset, with the
# synthetic weights the stages use (experiments/oracle/README.md):
#
#     experiments/oracle/run.sh MODEL MODE [SEED]     MODE: bf16 | autocast | fp32
#
# IMAGES=N in the environment limits the run to the first N images (a quick check).
# writes build/oracle/official-MODE-MODEL[-sSEED].masks (a masks file, harness/PROTOCOL.md)
# and its log beside it. Run `make oracle` first (the venv, dump_weights, sam-data).
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
model=${1:?usage: run.sh MODEL MODE [SEED]} mode=${2:?usage: run.sh MODEL MODE [SEED]} seed=${3:-0}
O=$B/oracle
for f in "$B/dump_weights" "$B/sam-data" "$O/venv/bin/python"; do
    [ -e "$f" ] || { echo "run.sh: $f is missing (make oracle)" >&2; exit 1; }
done
coco=$O/synthetic-coco
[ -f "$coco/annotations/instances_val2017.json" ] || "$B/sam-data" synth --out "$coco" >/dev/null
[ -f "$O/points.json" ] || "$B/sam-data" points --coco "$coco" --out "$O/points.json" >/dev/null
w=$O/weights-$model-s$seed
[ -d "$w" ] || "$B/dump_weights" "synthetic:$model:$seed" "$w"
suffix=$([ "$seed" = 0 ] && echo "" || echo "-s$seed")
out=$O/official-$mode-$model$suffix
"$O/venv/bin/python" experiments/oracle/official_agreement.py --model "$model" --weights "$w" \
    --coco "$coco" --points "$O/points.json" --dtype "$mode" --images "${IMAGES:-0}" \
    --out "$out.masks" | tee "$out.log"
