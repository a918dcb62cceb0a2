#!/usr/bin/env bash
# No surprises (issue 13): the reading commands never create a database; run refuses an
# unbuilt stage (or an unreadable checkpoint) before it makes any data; a run prints its
# expected duration after the first experiment and a progress line per experiment; one error
# prefix ("waterfall: "); the timing-pass options reach the stage and its rule holds (more
# passes until enough batches, or a quiet enough noise, within the cap; img/s over every timed
# batch, mIoU and masks from the first pass only).
. tests/harness/lib.sh
make_fakes cpu bf16 crash
make_fake_coco

# ---- reading commands on a database that is not there ----
MISSING=$TMP/nowhere/results.db
for c in list show compare plot export; do
    extra=""
    [ "$c" = export ] && extra=--csv
    $WF $c $extra --db "$MISSING" >/dev/null 2>"$TMP/err_$c"
    rc=$?
    expect "$c on a missing database: exit non-zero" [ $rc -ne 0 ]
    expect "$c on a missing database: names the file it looked for" grep -q "^waterfall: no results database $MISSING" "$TMP/err_$c"
done
expect "no database (nor its folder) was created" [ ! -e "$TMP/nowhere" ]
echo "not a database" >"$TMP/text.db"
$WF list --db "$TMP/text.db" >/dev/null 2>"$TMP/err_text"
expect "a file that is not a results database is refused, untouched" \
    eq "$(grep -c "^waterfall: $TMP/text.db is not a waterfall results database" "$TMP/err_text") $(cat "$TMP/text.db")" "1 not a database"
sqlite3 "$TMP/other.db" "create table t (x)"
$WF show --db "$TMP/other.db" >/dev/null 2>"$TMP/err_other"
expect "another program's SQLite file is refused, its tables left alone" \
    eq "$(grep -c "is not a waterfall results database" "$TMP/err_other") $(q "$TMP/other.db" "select group_concat(name) from sqlite_master")" "1 t"

# ---- run checks every stage and checkpoint before it makes anything ----
DB=$TMP/new/r.db
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,nosuch >/dev/null 2>"$TMP/err_run"
rc=$?
expect "an unbuilt stage: exit non-zero" [ $rc -ne 0 ]
expect "an unbuilt stage: refused by name" grep -q '^waterfall: run: stage "nosuch": .*sam-nosuch is not an executable' "$TMP/err_run"
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --models "x=$TMP/none.pth" >/dev/null 2>"$TMP/err_ck"
expect "an unreadable checkpoint: refused by name" grep -q "^waterfall: run: model \"x\": cannot read checkpoint $TMP/none.pth" "$TMP/err_ck"
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 8,1,8 >/dev/null 2>"$TMP/err_bs"
expect "a batch size listed twice: refused by name" eq "$? $(cat "$TMP/err_bs")" "1 waterfall: run: batch size 8 is listed twice"
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --models a=synthetic:vit_b,a=synthetic:vit_h \
    >/dev/null 2>"$TMP/err_lab"
expect "a model label listed twice: refused by name" eq "$? $(cat "$TMP/err_lab")" '1 waterfall: run: model "a" is listed twice'
expect "none of them made a database, a folder or a log" [ ! -e "$TMP/new" ]
# A checkpoint file with weights options ("+prune24"): the file is what must be readable, and
# the options are part of the checkpoint's identity (other weights from the same file).
echo weights >"$TMP/ck+v1.pth"
$WF run --db "$TMP/ck.db" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 2 --limit 2 \
    --models "d=$TMP/ck+v1.pth,p=$TMP/ck+v1.pth+prune24" >/dev/null 2>"$TMP/err_ck2"
expect "FILE+prune24: accepted, both experiments ok" eq "$(sqlite3 "$TMP/ck.db" "select count(*) from experiments where status = 'ok'")" 2
expect "... with a '+' inside the file name kept, and the option in the checkpoint's hash" eq \
    "$(sqlite3 "$TMP/ck.db" "select count(distinct checkpoint_hash), count(checkpoint_hash) from experiments")" "2|2"
$WF run --db "$TMP/ck.db" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --models "x=$TMP/none.pth+prune24" >/dev/null 2>"$TMP/err_ck3"
expect "an unreadable FILE+prune24: refused naming the spec" grep -q "^waterfall: run: model \"x\": cannot read checkpoint $TMP/none.pth+prune24: No such file" "$TMP/err_ck3"

# ---- expected duration and progress ----
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,crash --models m1,m2 --batch-sizes 2 \
    --limit 4 >/dev/null 2>"$TMP/progress"
expect "a progress line per experiment (6)" eq "$(grep -cE '^\[[1-6]/6\] (cpu|bf16|crash) m[12] bs=2: (ok|FAILED)' "$TMP/progress")" 6
expect "each progress line says how many are left and about how long" \
    eq "$(grep -cE '^\[[1-5]/6\] .*; [1-5] left, about [0-9]+ s\)$' "$TMP/progress")" 5
expect "the expected duration, once, right after the first experiment" \
    eq "$(grep -n 'expected duration' "$TMP/progress" | cut -d: -f1) $(grep -c 'expected duration' "$TMP/progress")" \
    "$(( $(grep -n '^\[1/6\]' "$TMP/progress" | cut -d: -f1) + 1 )) 1"
expect "an ok line carries the agreement with the reference (1 for the reference itself)" \
    grep -qE '^\[1/6\] cpu m1 bs=2: ok, .*, mIoU [0-9.]+, agreement 1\.0000 \(same-index 1\.0000\) \(' "$TMP/progress"
expect "the expected duration reads as one" grep -qE "^waterfall: expected duration of the run: about [0-9]+ s \(6 experiments at the first one's [0-9]+ s\)" "$TMP/progress"

# ---- one error prefix ----
: >"$TMP/errors"
$WF run --bogus >/dev/null 2>>"$TMP/errors"
$WF run --db "$DB" --limit x >/dev/null 2>>"$TMP/errors"
$WF run --db "$DB" --max-passes 0 >/dev/null 2>>"$TMP/errors"
$WF run nosuchexperiment --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF show 999 --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF show x --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF compare --bogus >/dev/null 2>>"$TMP/errors"
$WF compare 1 999 --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF export --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF plot --run 999 --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF import "$TMP/none.sql" --db "$DB" >/dev/null 2>>"$TMP/errors"
$WF run --resume --db "$DB" >/dev/null 2>>"$TMP/errors"
expect "12 errors, every line with the one prefix 'waterfall: '" \
    eq "$(wc -l <"$TMP/errors") $(grep -vc '^waterfall: ' "$TMP/errors")" "12 0"
expect "the prefix is the only one (no 'sam: ' from the harness)" eq "$(grep -c 'sam: ' "$TMP/errors")" 0
$WF frobnicate >/dev/null 2>"$TMP/err_cmd"
expect "an unknown command: 'waterfall: unknown command', then the usage" \
    eq "$(head -1 "$TMP/err_cmd") | $(sed -n 2p "$TMP/err_cmd" | cut -c1-26)" "waterfall: unknown command 'frobnicate' | usage: waterfall <command>"

# ---- the timing passes: options reach the stage, the rule holds ----
P=$TMP/passes.db
pr() { q "$P" "select passes || ' ' || batches_timed || ' ' || annotations from experiments where run_id = (select max(id) from runs)"; }
# 4 images at batch 1: 4 batches a pass. N = 10 wants 3 passes (12 batches), the cap is 2.
FAKE_NOISE=0 $WF run --db "$P" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 1 --limit 4 \
    --min-batches 10 --max-passes 2 >/dev/null 2>&1
expect "fewer batches than N: passes until the cap (2 passes, 8 batches, 12 annotations of pass 0)" eq "$(pr)" "2 8 12"
FAKE_NOISE=0 $WF run --db "$P" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 1 --limit 4 \
    --min-batches 10 --max-passes 8 >/dev/null 2>&1
expect "N batches reached on a quiet stage: 3 passes, 12 batches" eq "$(pr)" "3 12 12"
FAKE_NOISE=0.3 $WF run --db "$P" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 1 --limit 4 \
    --min-batches 2 --max-passes 8 --target-noise 0.01 >/dev/null 2>&1
expect "noisy: passes until 4 N batches (2 passes, 8 batches)" eq "$(pr)" "2 8 12"
FAKE_NOISE=0.3 $WF run --db "$P" --stage-dir "$FAKES" --coco "$COCO" --stages cpu --batch-sizes 1 --limit 4 \
    --min-batches 2 --target-noise 0.99 >/dev/null 2>&1
expect "noise under the target after N batches: one pass" eq "$(pr)" "1 4 12"
echo '{"stages": ["cpu"], "batch_sizes": [1], "limit": 4, "min_batches": 6, "max_passes": 5, "target_noise": 0.99}' >"$TMP/p.json"
FAKE_NOISE=0.3 $WF run "$TMP/p.json" --db "$P" --stage-dir "$FAKES" --coco "$COCO" >/dev/null 2>&1
expect "the experiment file's min_batches, max_passes, target_noise (2 passes for 6 batches)" eq "$(pr)" "2 8 12"
expect "the plan stores them" eq "$(q "$P" "select json_extract(plan_json, '$.min_batches') || ' ' || json_extract(plan_json, '$.max_passes') || ' ' || json_extract(plan_json, '$.target_noise') from runs where id = (select max(id) from runs)")" "6 5 0.99"
FAKE_NOISE=0.3 $WF run "$TMP/p.json" --max-passes 1 --db "$P" --stage-dir "$FAKES" --coco "$COCO" >/dev/null 2>&1
expect "a flag overrides the file's key" eq "$(pr)" "1 4 12"
expect "img/s is images timed over all timed batches' ms" eq \
    "$(q "$P" "select count(*) from experiments e where abs(e.img_s - (select sum(images) * 1000.0 / sum(ms) from samples s where s.experiment_id = e.id)) > 1e-9 * e.img_s")" 0
expect "stored samples carry their pass" eq \
    "$(q "$P" "select group_concat(pass, '') from samples where experiment_id = 1")" "00001111"
