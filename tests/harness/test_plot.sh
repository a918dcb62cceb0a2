#!/usr/bin/env bash
# waterfall plot and export: the SVG is valid XML with one bar per stored experiment in every
# row (img/s, memory, mIoU, agreement) and stages in waterfall order; export writes the seed's
# results.csv columns, one row per experiment, and valid JSON.
. tests/harness/lib.sh
make_fakes cpu fp32 bf16 int8 sparse crash
make_fake_coco
DB=$TMP/r.db
# Stages given out of order: the chart must put them in waterfall order (fp32 is the reference).
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages sparse,crash,bf16,cpu,int8,fp32 \
    --models vit_b,vit_h --batch-sizes 1,8 --limit 16 >/dev/null 2>&1
expect "run complete" eq "$(q "$DB" "select status from runs")" complete
expect "fp32 is the reference when present" eq "$(q "$DB" "select reference_stage from runs")" fp32
$WF plot --db "$DB" --out "$TMP/chart.svg" 2>"$TMP/err"
expect "plot exits 0" [ $? -eq 0 ]
# Expected bars: one per ok experiment in each row where it has the figure.
expected=$(q "$DB" "select 2 * count(*) + count(miou) + count(agreement) from experiments where status = 'ok'")
python3 - "$TMP/chart.svg" "$expected" <<'PY' >"$TMP/py" 2>&1
import re, sys
import xml.etree.ElementTree as ET
path, expected = sys.argv[1], int(sys.argv[2])
root = ET.parse(path).getroot()           # raises on invalid XML
ns = "{http://www.w3.org/2000/svg}"
fills = [p.get("fill") for p in root.iter(ns + "polygon") if p.get("fill", "").startswith("rgb")]
texts = ["".join(t.itertext()) for t in root.iter(ns + "text")]
keys = sum(1 for t in texts if re.fullmatch(r"batch \d+", t.strip()))
print("root", root.tag == ns + "svg")
print("bars", len(fills) - keys, expected)
print("colours", len(set(fills)))
print("failed", sum(1 for t in texts if t.strip() == "failed"))
ticks = [t.strip() for t in texts if t.strip() in ("cpu", "fp32", "bf16", "int8", "sparse", "crash")]
print("order", " ".join(ticks[:6]))
print("titles", sum(1 for t in texts if re.match(r"vit_[bh]: ", t.strip())))
PY
expect "SVG is valid XML with an svg root" grep -q "^root True" "$TMP/py"
read -r _ bars want < <(grep '^bars' "$TMP/py")
expect "one bar per stored experiment and row ($bars of $want)" eq "${bars:-none}" "$want"
expect "one colour per batch size" grep -q "^colours 2" "$TMP/py"
nfailed=$(q "$DB" "select count(*) from experiments where status = 'failed'")
expect "failed experiments marked in every row ($nfailed failed)" grep -q "^failed $((4 * nfailed))\$" "$TMP/py"
expect "stages in waterfall order" grep -q "^order cpu fp32 bf16 int8 sparse crash" "$TMP/py"
expect "one panel per model and row" grep -q "^titles 8" "$TMP/py"

$WF export --csv --db "$DB" --out "$TMP/r.csv"
expect "csv header starts with the seed's columns" eq "$(head -1 "$TMP/r.csv" | cut -d, -f1-7)" \
    "technique,sam_model_type,batch_size,memory(MiB),img_s(avg),batch_ms(avg)/batch_size,mIoU"
expect "csv: one row per experiment" eq "$(($(wc -l <"$TMP/r.csv") - 1))" "$(q "$DB" "select count(*) from experiments")"
expect "csv: the seed's technique names" grep -q "^sparse,vit_h,8," "$TMP/r.csv"
$WF export --json --db "$DB" >"$TMP/r.json"
expect "json export parses, one object per experiment" eq \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/r.json")" 24
$WF export --db "$DB" >/dev/null 2>&1
expect "export without --csv or --json refused" [ $? -ne 0 ]

# Smallest charts: one ok experiment; one failed experiment (gnuplot 5.4 crashed on a labels
# plot without any valid point before plots/waterfall.gp kept one).
DB1=$TMP/one.db
$WF run --db "$DB1" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --models vit_b --batch-sizes 1 --limit 4 >/dev/null 2>&1
$WF plot --db "$DB1" --out "$TMP/one.svg" 2>/dev/null
expect "chart of a single experiment" python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/one.svg"
$WF run --db "$DB1" --stage-dir "$FAKES" --coco "$COCO" --stages crash --models vit_b --batch-sizes 1 --limit 4 >/dev/null 2>&1
$WF plot --db "$DB1" --out "$TMP/failed.svg" 2>/dev/null
expect "chart of a single failed experiment" python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/failed.svg"

# What each stage adds (stage_info), flagged experiments, synthetic weights (issue 12).
make_fakes cpu fp32 bf16 fused lossy
DB2=$TMP/choices.db
: >"$TMP/real_vit_h.pth"   # the fake stages read no checkpoint; the harness only hashes it
$WF run --db "$DB2" --stage-dir "$FAKES" --coco "$COCO" --stages fp32,bf16,fused,lossy \
    --models "vit_b,vit_h=$TMP/real_vit_h.pth" --batch-sizes 8 --limit 16 >/dev/null 2>&1
$WF plot --db "$DB2" --out "$TMP/choices.svg" 2>/dev/null
python3 - "$TMP/choices.svg" <<'PY' >"$TMP/py2" 2>&1
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
texts = ["".join(t.itertext()).strip() for t in root.iter(ns + "text")]
print("flagged", sum(1 for t in texts if t == "flagged"))
red = [p for p in root.iter(ns + "path") if p.get("stroke") == "rgb(176,   0,   0)"]
print("outlined", len(red))
print("changes", " ".join(t for t in texts if t.startswith("+")))
print("synthetic", sum(1 for t in texts if "synthetic weights" in t))
print("title", any("under the floor of the stage's precision (fp32 0.999, bf16 0.96, int8 0.95)" in t for t in texts) or
      "under the floor" in " ".join(texts))
print("adds", "fused (after bf16): fused kernels and CUDA Graphs;" in " ".join(texts))
PY
expect "flagged experiments marked in every row (lossy: 2 models x 4 rows)" grep -q "^flagged 8$" "$TMP/py2"
expect "flagged bars outlined in red where they have a bar (img/s, memory, mIoU, agreement)" grep -q "^outlined 8$" "$TMP/py2"
expect "x labels say what each stage changes (bf16 +bf16; fused +graphs +fusion; per panel)" \
    grep -q "^changes +bf16 +graphs +fusion +bf16 +bf16 +graphs +fusion +bf16" "$TMP/py2"
expect "the mIoU panel of synthetic weights says so, not the one of a checkpoint" grep -q "^synthetic 1$" "$TMP/py2"
expect "the title states the gate's floors" grep -q "^title True" "$TMP/py2"
expect "the title says what each stage adds" grep -q "^adds True" "$TMP/py2"
$WF export --json --db "$DB2" >"$TMP/choices.json"
expect "export --json: stage_info with its choices, same-index agreement, floor and passes" eq \
    "$(python3 -c 'import json,sys; r = [x for x in json.load(open(sys.argv[1])) if x["stage"] == "fused"][0]; print(r["stage_info"]["after"], r["stage_info"]["choices"]["graphs"], r["same_index_agreement"], r["agreement_floor"], r["passes"] >= 1)' "$TMP/choices.json")" \
    "bf16 on 1 0.96 True"
$WF export --csv --db "$DB2" >"$TMP/choices.csv"
expect "export --csv: same-index agreement and floor columns" eq \
    "$(python3 -c 'import csv,sys; r = [x for x in csv.DictReader(open(sys.argv[1])) if x["technique"] == "lossy"][0]; print(r["agreement"], r["same_index_agreement"], r["agreement_floor"], r["gate"])' "$TMP/choices.csv")" \
    "0.866667 0.843667 0.96 flagged"

# Several runs of one device as one chart (--run repeated): the families of a waterfall run one
# per GPU of a host, each in a run of its own.
DB3=$TMP/families.db
$WF run --db "$DB3" --stage-dir "$FAKES" --coco "$COCO" --stages fp32,bf16 --models vit_b --batch-sizes 1,8 --limit 16 >/dev/null 2>&1
$WF run --db "$DB3" --stage-dir "$FAKES" --coco "$COCO" --stages fp32,bf16,fused --models vit_h --batch-sizes 8 --limit 16 >/dev/null 2>&1
$WF plot --db "$DB3" --run 1 --run 2 --out "$TMP/families.svg" 2>"$TMP/err3"
expect "plot --run 1 --run 2 exits 0 and names both runs" eq "$? $(cat "$TMP/err3")" "0 waterfall: runs 1 and 2 drawn to $TMP/families.svg"
python3 - "$TMP/families.svg" <<'PY' >"$TMP/py3" 2>&1
import re, sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
texts = ["".join(t.itertext()).strip() for t in root.iter(ns + "text")]
print("panels", " ".join(sorted({t.split(":")[0] for t in texts if re.fullmatch(r"vit_[bh]: img/s", t)})))
print("keys", " ".join(t for t in texts if re.fullmatch(r"batch \d+", t)))
print("with", sum(1 for t in texts if t.startswith("with run 2 (") and t.endswith(": vit_h)")))
fills = [p.get("fill") for p in root.iter(ns + "polygon") if p.get("fill", "").startswith("rgb")]
print("bars", len(fills) - 2)
PY
expect "one panel per model, each from its run" grep -qx "panels vit_b vit_h" "$TMP/py3"
expect "one legend key per batch size of either run, once" grep -qx "keys batch 1 batch 8" "$TMP/py3"
expect "the title names the second run and its model" grep -qx "with 1" "$TMP/py3"
want=$(q "$DB3" "select 2 * count(*) + count(miou) + count(agreement) from experiments where status = 'ok'")
expect "every experiment of both runs drawn ($want bars)" grep -qx "bars $want" "$TMP/py3"
$WF run --db "$DB3" --stage-dir "$FAKES" --coco "$COCO" --stages fp32 --models vit_b --batch-sizes 8 --limit 16 >/dev/null 2>&1
$WF plot --db "$DB3" --run 1 --run 3 --out "$TMP/x.svg" 2>"$TMP/err4"
expect "a model in two of the runs: refused by name, no chart" eq "$? $(cat "$TMP/err4") $([ -e "$TMP/x.svg" ] && echo drawn)" \
    "1 waterfall: plot: model vit_b is in runs 1 and 3: a chart of several runs takes each model from one "
FAKE_DEVICE="Fake Device 2" $WF run --db "$DB3" --stage-dir "$FAKES" --coco "$COCO" --stages fp32 --models vit_l --batch-sizes 8 --limit 16 >/dev/null 2>&1
$WF plot --db "$DB3" --run 1 --run 4 --out "$TMP/x.svg" 2>"$TMP/err5"
expect "runs of two devices: refused, pointed to --with" grep -q "^waterfall: plot: runs 1 and 4 ran on different devices (Fake Device 1, Fake Device 2): draw one beside the other with --with" "$TMP/err5"
