#!/usr/bin/env bash
# Published results beside ours (issue 13): `waterfall import` reads the seed's results.csv
# (its exact header, the batch-8 rows of design.md section 7 for vit_b and vit_h, all eight
# techniques, and a row the seed marked ERROR) into one run marked published on the A100 the
# seed's README names, technique names mapped to our stages; `plot --with` draws its bars
# beside ours; `compare` across the two devices gives ratios, never a verdict.
. tests/harness/lib.sh
make_fakes fp32 bf16 fused
make_fake_coco
DB=$TMP/r.db
CSV=$TMP/results.csv
# The committed batch-8 rows of design.md section 7 (what the H200 chart draws beside ours), and
# a row the seed marked ERROR.
cp experiments/seed-published-batch8.csv "$CSV"
echo "sparse,0.2041,local-fork,2.2.0a0+git247d5e1,ERROR" >>"$CSV"
expect "the committed CSV has the seed's exact header" eq "$(head -1 "$CSV" | cut -d, -f1-11)" \
    "technique,time,sam_commit_name,pytorch_version,sam_model_type,batch_size,memory(MiB),memory(%),img_s(avg),batch_ms(avg)/batch_size,mIoU"

$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages fp32,bf16,fused --models vit_b,vit_h \
    --batch-sizes 8 --limit 16 >/dev/null 2>&1
$WF import "$CSV" --db "$DB" >"$TMP/out"
expect "import of results.csv exits 0" [ $? -eq 0 ]
expect "one published run of 16 experiments, the ERROR row skipped" \
    grep -q "^imported .* as run 2 (published, NVIDIA A100-SXM4-40GB): 16 experiments, 1 row marked ERROR skipped" "$TMP/out"
expect "the run is marked published, on the A100, complete" eq \
    "$(q "$DB" "select published || ' ' || status || ' ' || device_name from runs where id = 2")" "1 complete NVIDIA A100-SXM4-40GB"
expect "techniques mapped to our stages" eq \
    "$(q "$DB" "select group_concat(stage, ' ') from (select stage from experiments where run_id = 2 and model = 'vit_b' order by seq)")" \
    "fp32 bf16 fused sdpa relpos nested int8 sparse"
expect "the figures arrive (vit_b compile, vit_h int8)" eq \
    "$(q "$DB" "select group_concat(img_s || '/' || (peak_bytes / 1048576) || '/' || miou, ' ') from experiments where run_id = 2 and ((stage = 'fused' and model = 'vit_b') or (stage = 'int8' and model = 'vit_h')) order by seq")" \
    "54.71/7916/0.5408 24.88/4167/0.5819"
expect "list shows it published" grep -qE "^ +2 +published .*NVIDIA A100-SXM4-40GB +16 ok" <<<"$($WF list --db "$DB")"
$WF export --csv --db "$DB" >"$TMP/latest.csv"
expect "export with no --run: our latest run, not the published one imported after it" eq \
    "$(tail -n +2 "$TMP/latest.csv" | wc -l) $(grep -c 'A100' "$TMP/latest.csv")" "6 0"
$WF export --csv --run 2 --db "$DB" >"$TMP/back.csv"
expect "export gives the seed's names and per-image ms back" grep -q "^compile,vit_b,8,7916,54.7100,18.2782,0.540800," "$TMP/back.csv"
$WF import "$CSV" --db "$DB" >"$TMP/out2"
expect "importing the same file twice adds nothing" grep -q "^0 runs imported: .* is already run 2" "$TMP/out2"
expect "still two runs" eq "$(q "$DB" "select count(*) from runs")" 2

# compare across devices: a ratio table, never a verdict.
$WF compare 2 1 --db "$DB" >"$TMP/cmp"
rc=$?
expect "compare published vs ours: exit 0" [ $rc -eq 0 ]
expect "compare published vs ours: ratios only" grep -q "different devices, so ratios only, no verdict" "$TMP/cmp"
expect "compare published vs ours: no verdict word" eq "$(grep -cE ' (SAME|FASTER|SLOWER|UNCLEAR) ' "$TMP/cmp")" 0
expect "compare published vs ours: the 6 shared experiments, weights differ" eq "$(grep -cE '^(fp32|bf16|fused) +vit_[bh] +8 .* differ$' "$TMP/cmp")" 6
ours=$(q "$DB" "select img_s from experiments where run_id = 1 and stage = 'bf16' and model = 'vit_b'")
expect "compare published vs ours: B/A img/s is ours over the A100's" eq \
    "$(awk '$1 == "bf16" && $2 == "vit_b" {print $6}' "$TMP/cmp")" "$(awk -v o="$ours" 'BEGIN { printf "%.3f", o / 39.78 }')"
$WF compare --db "$DB" >/dev/null 2>&1
expect "a plain compare never takes the published run as a baseline" [ $? -ne 0 ]

# plot --with: the published bars beside ours, per stage and model.
$WF plot --db "$DB" --run 1 --with 2 --out "$TMP/with.svg" 2>"$TMP/perr"
expect "plot --with exits 0" [ $? -eq 0 ]
python3 - "$TMP/with.svg" <<'PY' >"$TMP/py" 2>&1
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
polys = [p for p in root.iter(ns + "polygon") if p.get("fill", "").startswith("rgb")]
texts = ["".join(t.itertext()).strip() for t in root.iter(ns + "text")]
colours = {}
for p in polys:
    colours[p.get("fill")] = colours.get(p.get("fill"), 0) + 1
# Bars by colour, less the key's box of each colour.
print("bars", " ".join(str(n - 1) for _, n in sorted(colours.items(), key=lambda kv: -kv[1])))
print("key", "A100-SXM4-40GB published, batch 8" in texts and "batch 8" in texts)
print("values", "54.7" in texts and "7916" in texts and "0.541" in texts)
ticks = [t for t in texts if t in ("fp32", "bf16", "fused", "sdpa", "relpos", "nested", "int8", "sparse")]
print("order", " ".join(ticks[:8]))
print("beside", any("beside it: run 2" in t for t in texts))
print("synthetic", sum(1 for t in texts if "ours: synthetic weights" in t))
PY
# Published: 8 stages x 2 models x 3 rows (no agreement) = 48; ours: 3 x 2 x 4 = 24.
expect "published bars beside ours (48 published, 24 ours)" grep -q "^bars 48 24$" "$TMP/py"
expect "the key names the published series" grep -q "^key True" "$TMP/py"
expect "the published values are printed on their bars" grep -q "^values True" "$TMP/py"
expect "stages of both runs in waterfall order" grep -q "^order fp32 bf16 fused sdpa relpos nested int8 sparse" "$TMP/py"
expect "the title names the run beside" grep -q "^beside True" "$TMP/py"
expect "the mIoU panels say ours are synthetic weights" grep -q "^synthetic 2$" "$TMP/py"
