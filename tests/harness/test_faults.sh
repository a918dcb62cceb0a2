#!/usr/bin/env bash
# Stages that crash, hang, print garbage, run out of memory, lie in their summary, write no
# masks or say no stage_info: each is recorded as a failed experiment with its reason, and the
# run goes on to the good stages after them and completes. Also the accuracy gate (mIoU under
# 99 % of the reference, agreement under the floor of the stage's precision), same-index
# agreement, and --help of every command.
. tests/harness/lib.sh
make_fakes cpu bf16 int8 lossy flip crash hang garbage oom badsum nomasks nostageinfo good sparse
make_fake_coco
DB=$TMP/r.db

start=$(date +%s)
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 --timeout 2 \
    --stages cpu,bf16,lossy,flip,crash,hang,garbage,oom,badsum,nomasks,nostageinfo,good >"$TMP/out" 2>"$TMP/err"
rc=$?
secs=$(( $(date +%s) - start ))
expect "run with failing stages exits 0" [ $rc -eq 0 ]
expect "the run is complete" eq "$(q "$DB" "select status from runs")" complete
reason() { q "$DB" "select status || ': ' || coalesce(reason, '') from experiments where stage = '$1'"; }
expect "crash recorded with its signal" grep -q "failed: killed by signal 11 (Segmentation fault)" <<<"$(reason crash)"
expect "hang recorded as a timeout" grep -q "failed: timeout: no result after 2 s" <<<"$(reason hang)"
expect "garbage recorded as a protocol violation" grep -q "failed: garbage output: protocol violation on stdout line 2: not JSON" <<<"$(reason garbage)"
expect "out of memory recorded as such" grep -q "failed: out of memory: exit status 1" <<<"$(reason oom)"
expect "inconsistent summary refused" grep -q "failed: inconsistent summary: summary img_s" <<<"$(reason badsum)"
expect "missing masks file refused" grep -q "failed: masks file .*No such file" <<<"$(reason nomasks)"
expect "hello without stage_info refused" grep -q "failed: garbage output: protocol violation on stdout line 1: hello without a stage_info object" <<<"$(reason nostageinfo)"
expect "good stages before the failures ok" eq "$(q "$DB" "select group_concat(status) from experiments where stage in ('cpu','bf16','lossy','flip') order by seq")" "ok,ok,ok,ok"
expect "the stage after all failures still ran" eq "$(reason good)" "ok: "
expect "failed crash kept its two batches" eq "$(q "$DB" "select count(*) from samples s join experiments e on e.id = s.experiment_id where e.stage = 'crash'")" 2
expect "failed stages stored no masks" eq "$(q "$DB" "select count(*) from annotations a join experiments e on e.id = a.experiment_id where e.status = 'failed'")" 0
expect "stderr of the crash kept" grep -q "about to crash" <<<"$(q "$DB" "select stderr_tail from experiments where stage = 'crash'")"
expect "hang killed within its limit plus the grace period" [ "$(q "$DB" "select wall_s < 2 + 3 + 1.5 from experiments where stage = 'hang'")" = 1 ]
expect "no stage process left behind" eq "$(fake_procs)" ""
expect "whole run took less than 30 s" [ $secs -lt 30 ]
expect "summary table printed" grep -q "12 experiments, 7 failed, 1 flagged by the accuracy gate" "$TMP/out"
expect "failures printed on stderr" grep -q "crash m1 bs=2: FAILED: killed by signal 11" "$TMP/err"
# The accuracy gate (design.md section 4): lossy (its masks one pixel to the right) agrees
# 156/180 with the cpu reference, under the bf16 floor 0.96; flip takes mask 1 instead of 2 on
# every 10th annotation (IoU 120/168 there): top-mask agreement (32 + 4 * 120/168) / 36 = 0.9683,
# over the floor, and same-index agreement exactly 1.
expect "reference judged ok against itself" eq "$(q "$DB" "select gate || ' ' || agreement || ' ' || same_index_agreement from experiments where stage = 'cpu'")" "ok 1.0 1.0"
expect "identical stage passes the gate" eq "$(q "$DB" "select gate || ' ' || agreement from experiments where stage = 'bf16'")" "ok 1.0"
expect "lossy stage flagged in the database, at 156/180" eq "$(q "$DB" "select gate || ' ' || printf('%.6f', agreement) || ' ' || agreement_floor from experiments where stage = 'lossy'")" "flagged 0.866667 0.96"
expect "lossy stage flagged in the summary table with its floor" grep -q "^lossy .*FLAGGED: agreement 0.8667 with cpu under the bf16 floor 0.96" "$TMP/out"
expect "the summary states the gate's floors" grep -q "under the floor of the stage's precision: fp32 0.999, bf16 0.96, int8 0.95" "$TMP/out"
expect "lossy same-index agreement: the mean of 72/88, 130/150 and 156/180 (0.843667)" eq \
    "$(q "$DB" "select printf('%.6f', same_index_agreement) from experiments where stage = 'lossy'")" \
    "$(awk 'BEGIN { printf "%.6f", (72/88 + 110/130 + 156/180) / 3 }')"
expect "flip: top-mask agreement 0.968254 passes the bf16 floor" eq \
    "$(q "$DB" "select gate || ' ' || printf('%.6f', agreement) from experiments where stage = 'flip'")" \
    "ok $(awk 'BEGIN { printf "%.6f", (32 + 4 * 120 / 168) / 36 }')"
expect "flip: same-index agreement exactly 1, per annotation too" eq \
    "$(q "$DB" "select e.same_index_agreement || ' ' || min(a.same_index) || ' ' || count(*) from annotations a join experiments e on e.id = a.experiment_id where e.stage = 'flip'")" "1.0 1.0 36"
expect "per-annotation agreement stored" eq "$(q "$DB" "select count(*), min(a.agreement) < 0.99 from annotations a join experiments e on e.id = a.experiment_id where e.stage = 'lossy'")" "36|1"
expect "the masks kept for same-index agreement are dropped when the run completes" eq \
    "$(q "$DB" "select count(masks), count(rle) from annotations")" "0|180"
# An mIoU regression: the gate compares with 99 % of the reference's mIoU.
FAKE_SHIFT_STAGE=int8 $WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 \
    --stages cpu,int8 >"$TMP/out2" 2>/dev/null
expect "the int8 floor (0.95) applies to a bf16 stage whose linears are int8" grep -q "^int8 .*FLAGGED: agreement 0.8667 with cpu under the int8 floor 0.95" "$TMP/out2"
FAKE_PRECISION=int8 $WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 \
    --stages cpu,lossy >"$TMP/out2b" 2>/dev/null
expect "... and to a stage whose precision is int8" grep -q "^lossy .*FLAGGED: agreement 0.8667 with cpu under the int8 floor 0.95" "$TMP/out2b"
# A stage that prunes to 2:4 (its stage_info says prune 2:4) against the unpruned reference is
# reported, not judged (pruning changes the model); on +prune24 weights, where the reference
# ran pruned too, the bf16 floor judges it.
FAKE_SHIFT_STAGE=sparse $WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 \
    --stages cpu,sparse >"$TMP/out2c" 2>/dev/null
expect "pruned against unpruned: agreement reported, not judged" grep -q "^sparse .*not judged: 2:4-pruned weights against the unpruned cpu (pruning changes the model; its reference is cpu on the same weights +prune24)" "$TMP/out2c"
FAKE_SHIFT_STAGE=sparse $WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models "m1p=synthetic:vit_b+prune24" \
    --batch-sizes 2 --stages cpu,sparse >"$TMP/out2d" 2>/dev/null
expect "pruned against pruned: judged, flagged under the bf16 floor" grep -q "^sparse .*FLAGGED: agreement 0.8667 with cpu under the bf16 floor 0.96" "$TMP/out2d"
DEF=$TMP/floors.json
echo '{"stages": ["cpu", "lossy", "flip"], "models": ["m1"], "batch_sizes": [2], "agreement_floor": {"fp32": 0.999, "bf16": 0.8}}' >"$DEF"
$WF run "$DEF" --db "$DB" --stage-dir "$FAKES" --coco "$COCO" >"$TMP/out3" 2>/dev/null
expect "an experiment file's own floor: lossy over a bf16 floor of 0.8 passes" grep -q "^lossy .*ok: agreement >= bf16 floor 0.8" "$TMP/out3"
expect "an experiment file's floors are stated in the summary" grep -q "precision: fp32 0.999, bf16 0.8\$" "$TMP/out3"
FAKE_PRECISION=fp8 $WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 \
    --stages cpu,flip >"$TMP/out4" 2>/dev/null
expect "a precision without a floor is shown not judged, never passed silently" grep -q "^flip .*not judged: no agreement floor for precision 'fp8'" "$TMP/out4"
$WF show 1 --db "$DB" >"$TMP/show"
expect "show gives each failure's reason and stderr" grep -q "fake: about to crash" "$TMP/show"
expect "list shows the run complete" grep -q "complete .*5 ok, 7 failed, 1 flagged of 12" <<<"$($WF list --db "$DB" | tail -1)"
for c in run list show compare plot export import; do
    out=$($WF $c --help 2>&1)
    expect "waterfall $c --help" grep -q "^usage: waterfall $c" <<<"$out"
done
expect "waterfall --help" grep -q "^usage: waterfall <command>" <<<"$($WF --help)"
$WF frobnicate >/dev/null 2>&1
expect "an unknown command exits 2" [ $? -eq 2 ]
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages nosuch >/dev/null 2>"$TMP/err2"
expect "an unbuilt stage is refused by name" grep -q 'stage "nosuch": .*sam-nosuch is not an executable' "$TMP/err2"

# A stage built from another commit than the waterfall (stage_info.build): said once per stage
# on stderr, and show lists every build of the run; a stage that reports none is not noted.
DB5=$TMP/builds.db
FAKE_BUILD=deadbeef0000 $WF run --db "$DB5" --stage-dir "$FAKES" --coco "$COCO" --models m1 \
    --batch-sizes 2,4 --stages cpu,good >/dev/null 2>"$TMP/err5"
expect "the run of stages built elsewhere is complete and ok" eq \
    "$(q "$DB5" "select r.status || ' ' || group_concat(e.status) from runs r join experiments e on e.run_id = r.id where r.id = 1")" "complete ok,ok,ok,ok"
expect "another build noted once per stage" eq "$(grep -c '^waterfall: note: sam-.* was built from deadbeef0000, this waterfall from ' "$TMP/err5")" 2
expect "show lists the stages' build" grep -qxF "  stages built from deadbeef0000" <<<"$($WF show --db "$DB5")"
$WF plot --db "$DB5" --out "$TMP/builds.svg" 2>/dev/null
expect "the chart's title names the stages' build" grep -q "stages built from deadbeef0000" "$TMP/builds.svg"
$WF run --db "$DB5" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 --stages cpu >/dev/null 2>"$TMP/err6"
expect "the run of a stage that reports no build is complete and ok" eq \
    "$(q "$DB5" "select r.status || ' ' || group_concat(e.status) from runs r join experiments e on e.run_id = r.id where r.id = 2")" "complete ok"
expect "a stage that reports no build is not noted" eq "$(grep -c 'was built from' "$TMP/err6")" 0
expect "show of a run whose stages report no build prints no build line" eq "$($WF show --db "$DB5" | grep -c 'stages built from')" 0
