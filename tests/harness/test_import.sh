#!/usr/bin/env bash
# waterfall import: results measured elsewhere (a results database or its SQL dump) are copied
# in with new ids, complete runs only, once; an older schema is migrated on the way.
. tests/harness/lib.sh
make_fakes cpu bf16 lossy
make_fake_coco
SRC=$TMP/device.db DST=$TMP/local.db
args=(--stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1 --batch-sizes 1,2 --limit 8 --max-passes 1)
$WF run --db "$SRC" "${args[@]}" >/dev/null 2>&1
$WF run --db "$SRC" "${args[@]}" >/dev/null 2>&1
FAKE_SLEEP_MS=100 $WF run --db "$SRC" "${args[@]}" >/dev/null 2>&1 &
pid=$!
sleep 0.6
{ kill -9 $pid; wait $pid; } 2>/dev/null
expect "source: two complete runs and an incomplete one" eq "$($WF list --db "$SRC" | awk 'NR > 1 {print $2}' | tr '\n' ' ')" "incomplete complete complete "
$WF run --db "$DST" "${args[@]}" >/dev/null 2>&1
$WF import "$SRC" --db "$DST" >"$TMP/out"
expect "complete runs imported with new ids" grep -q "^2 runs, 12 experiments imported" "$TMP/out"
expect "destination holds three runs" eq "$(q "$DST" "select count(*) from runs")" 3
expect "rows copied" eq "$(q "$DST" "select count(*) from samples") $(q "$DST" "select count(*) from annotations")" \
    "$(( 3 * 3 * (8 + 4) )) $(( 3 * 6 * 24 ))"
expect "gate references renumbered into their own run" eq \
    "$(q "$DST" "select count(*) from experiments e join experiments r on r.id = e.ref_experiment_id where r.run_id = e.run_id")" 18
$WF compare 2 3 --db "$DST" --max-load 1 >/dev/null
expect "imported runs compare" [ $? -eq 0 ]
$WF import "$SRC" --db "$DST" >"$TMP/out2"
expect "a second import adds nothing" grep -q "^0 runs, 0 experiments imported" "$TMP/out2"
# An SQL dump of a schema-1 database (what the first release wrote): migrated on import.
sqlite3 "$TMP/old.db" <<'SQL'
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, config_key TEXT NOT NULL, plan_json TEXT NOT NULL, git_commit TEXT, git_dirty INTEGER, argv TEXT, host TEXT, pid INTEGER, pid_start INTEGER, device_name TEXT, device_json TEXT, dataset TEXT, dataset_hash TEXT, reference_stage TEXT);
CREATE TABLE experiments (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL, batch_size INTEGER NOT NULL, checkpoint TEXT, checkpoint_hash TEXT, status TEXT NOT NULL, reason TEXT, started_at TEXT, ended_at TEXT, wall_s REAL, images_timed INTEGER, batches_timed INTEGER, total_ms REAL, img_s REAL, batch_ms_median REAL, batch_ms_min REAL, batch_ms_max REAL, batch_ms_noise REAL, peak_bytes INTEGER, first_mask_ms REAL, miou REAL, annotations INTEGER, images_skipped INTEGER, agreement REAL, ref_experiment_id INTEGER, device_name TEXT, device_json TEXT, model_json TEXT, summary_json TEXT, stderr_tail TEXT, UNIQUE (run_id, seq));
CREATE TABLE samples (experiment_id INTEGER NOT NULL REFERENCES experiments(id), batch_index INTEGER NOT NULL, images INTEGER NOT NULL, ms REAL NOT NULL, PRIMARY KEY (experiment_id, batch_index));
CREATE TABLE annotations (experiment_id INTEGER NOT NULL REFERENCES experiments(id), ann_id INTEGER NOT NULL, image_id INTEGER, category_id INTEGER, iou REAL, score REAL, agreement REAL, height INTEGER, width INTEGER, rle TEXT, PRIMARY KEY (experiment_id, ann_id));
INSERT INTO runs VALUES (9, 'old', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', 'complete', 'k', '{}', NULL, NULL, 'waterfall run', 'h100', 1, 1, 'NVIDIA H100 80GB HBM3', '{}', 'd', 'x', 'fp32');
INSERT INTO experiments (id, run_id, seq, stage, model, batch_size, status, img_s, batches_timed, total_ms, peak_bytes, miou)
  VALUES (4, 9, 0, 'fp32', 'vit_b', 8, 'ok', 36.5, 1, 219.2, 1073741824, 0.53);
INSERT INTO samples VALUES (4, 0, 8, 219.2);
SQL
sqlite3 "$TMP/old.db" .dump >"$TMP/old.sql"
$WF import "$TMP/old.sql" --db "$DST" >"$TMP/out3"
expect "a schema-1 SQL dump imports" grep -q "^1 run, 1 experiments imported" "$TMP/out3"
expect "its figures arrive" eq "$(q "$DST" "select e.img_s || ' ' || r.device_name from experiments e join runs r on r.id = e.run_id where r.name = 'old'")" "36.5 NVIDIA H100 80GB HBM3"
$WF export --csv --db "$DST" >"$TMP/csv"
expect "the imported run is the latest and exports" grep -q "^fp32,vit_b,8,1024,36.5000," "$TMP/csv"
expect "integrity_check ok" eq "$(q "$DST" "pragma integrity_check")" ok
echo "not sql" >"$TMP/bad.txt"
$WF import "$TMP/bad.txt" --db "$DST" >/dev/null 2>"$TMP/err"
expect "a file that is neither refused" grep -q "neither a results database, an SQL dump of one, nor the seed's results.csv" "$TMP/err"

# waterfall export --sql (issue 13): a lean, importable dump of runs, experiments, samples and
# per-annotation IoU and agreement, without the masks' RLE.
$WF export --sql --db "$SRC" --out "$TMP/lean.sql"
expect "export --sql exits 0" [ $? -eq 0 ]
expect "the dump says how to load it" grep -q "^-- Load: waterfall import FILE" "$TMP/lean.sql"
# Annotation rows (one per line, several per INSERT) have no text but their masks: no quote
# on their lines means no RLE.
ann_rows() { awk '/^INSERT INTO / { t = $3 } /^\(/ && t == "annotations"' "$TMP/lean.sql"; }
expect "the dump holds every annotation and no RLE" eq "$(ann_rows | wc -l) $(ann_rows | grep -c "'")" \
    "$(q "$SRC" "select count(*) from annotations a join experiments e on e.id = a.experiment_id join runs r on r.id = e.run_id where r.status = 'complete'") 0"
$WF import "$TMP/lean.sql" --db "$TMP/lean.db" >"$TMP/out4"
expect "the dump imports: both complete runs" grep -q "^2 runs, 12 experiments imported" "$TMP/out4"
same() { q "$1" "select count(*), sum(s.ms), sum(s.pass) from samples s"; }
expect "samples arrive whole" eq "$(same "$TMP/lean.db")" "$(q "$SRC" "select count(*), sum(s.ms), sum(s.pass) from samples s join experiments e on e.id = s.experiment_id join runs r on r.id = e.run_id where r.status = 'complete'")"
expect "per-annotation IoU and agreements arrive, the RLE does not" eq \
    "$(q "$TMP/lean.db" "select count(*), printf('%.9f', sum(iou)), printf('%.9f', sum(agreement)), printf('%.9f', sum(same_index)), count(rle) from annotations")" \
    "$(q "$SRC" "select count(*), printf('%.9f', sum(a.iou)), printf('%.9f', sum(a.agreement)), printf('%.9f', sum(a.same_index)), 0 from annotations a join experiments e on e.id = a.experiment_id join runs r on r.id = e.run_id where r.status = 'complete'")"
expect "experiments arrive with their figures and gate" eq \
    "$(q "$TMP/lean.db" "select group_concat(stage || img_s || gate || agreement || same_index_agreement || stage_info, ';') from experiments")" \
    "$(q "$SRC" "select group_concat(stage || img_s || gate || agreement || same_index_agreement || stage_info, ';') from experiments e join runs r on r.id = e.run_id where r.status = 'complete'")"
$WF compare --db "$TMP/lean.db" --max-load 1 >/dev/null
expect "the imported dump compares" [ $? -eq 0 ]
sqlite3 "$TMP/plain.db" <"$TMP/lean.sql"
expect "sqlite3 loads the dump into a database the harness reads" grep -q "^run 2 (flags): complete" <<<"$($WF show --db "$TMP/plain.db")"
# The committed evidence is kept xz-compressed: import reads it through xz.
xz -c "$TMP/lean.sql" >"$TMP/lean.sql.xz"
$WF import "$TMP/lean.sql.xz" --db "$TMP/lean-xz.db" >"$TMP/out5"
expect "an xz-compressed dump imports: both complete runs" grep -q "^2 runs, 12 experiments imported" "$TMP/out5"
expect "its experiments and samples arrive as the plain dump's" eq \
    "$(q "$TMP/lean-xz.db" "select group_concat(stage || img_s || gate, ';'), (select sum(ms) from samples) from experiments")" \
    "$(q "$TMP/lean.db" "select group_concat(stage || img_s || gate, ';'), (select sum(ms) from samples) from experiments")"
head -c 2000 "$TMP/lean.sql.xz" >"$TMP/cut.sql.xz"
$WF import "$TMP/cut.sql.xz" --db "$TMP/cut.db" >/dev/null 2>"$TMP/err5"
expect "a damaged xz file is refused by name, in one line" eq "$(wc -l <"$TMP/err5") $(grep -c "cut.sql.xz is xz-compressed and xz could not decompress it" "$TMP/err5")" "1 1"
$WF export --sql --run 2 --db "$SRC" >"$TMP/one.sql"
expect "export --sql --run ID: only that run" eq "$(awk '/^INSERT INTO / { t = $3 } /^\(/ && t == "runs"' "$TMP/one.sql" | wc -l)" 1
expect "a lean dump is smaller than the full one" [ "$(stat -c %s "$TMP/lean.sql")" -lt "$(sqlite3 "$SRC" .dump | wc -c)" ]
