#!/usr/bin/env bash
# Stages that crash, hang, print garbage, run out of memory, lie in their summary or write no
# masks: each is recorded as a failed experiment with its reason, and the run goes on to the
# good stages after them and completes. Also the accuracy gate and --help of every command.
. tests/harness/lib.sh
make_fakes cpu bf16 lossy crash hang garbage oom badsum nomasks good
make_fake_coco
DB=$TMP/r.db

start=$(date +%s)
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 2 --timeout 2 \
    --stages cpu,bf16,lossy,crash,hang,garbage,oom,badsum,nomasks,good >"$TMP/out" 2>"$TMP/err"
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
expect "good stages before the failures ok" eq "$(q "$DB" "select group_concat(status) from experiments where stage in ('cpu','bf16','lossy') order by seq")" "ok,ok,ok"
expect "the stage after all failures still ran" eq "$(reason good)" "ok: "
expect "failed crash kept its two batches" eq "$(q "$DB" "select count(*) from samples s join experiments e on e.id = s.experiment_id where e.stage = 'crash'")" 2
expect "failed stages stored no masks" eq "$(q "$DB" "select count(*) from annotations a join experiments e on e.id = a.experiment_id where e.status = 'failed'")" 0
expect "stderr of the crash kept" grep -q "about to crash" <<<"$(q "$DB" "select stderr_tail from experiments where stage = 'crash'")"
expect "hang killed within its limit plus the grace period" [ "$(q "$DB" "select wall_s < 2 + 3 + 1.5 from experiments where stage = 'hang'")" = 1 ]
expect "no stage process left behind" eq "$(fake_procs)" ""
expect "whole run took less than 30 s" [ $secs -lt 30 ]
expect "summary table printed" grep -q "10 experiments, 6 failed, 1 flagged by the accuracy gate" "$TMP/out"
expect "failures printed on stderr" grep -q "crash m1 bs=2: FAILED: killed by signal 11" "$TMP/err"
# The accuracy gate (design.md section 4): lossy agrees ~0.82 with the cpu reference.
expect "reference judged ok against itself" eq "$(q "$DB" "select gate || ' ' || agreement from experiments where stage = 'cpu'")" "ok 1.0"
expect "identical stage passes the gate" eq "$(q "$DB" "select gate || ' ' || agreement from experiments where stage = 'bf16'")" "ok 1.0"
expect "lossy stage flagged in the database" eq "$(q "$DB" "select gate || ' ' || (agreement < 0.99) from experiments where stage = 'lossy'")" "flagged 1"
expect "lossy stage flagged in the summary table" grep -q "lossy .*FLAGGED: agreement with cpu under 99% of the reference" "$TMP/out"
expect "per-annotation agreement stored" eq "$(q "$DB" "select count(*), min(a.agreement) < 0.99 from annotations a join experiments e on e.id = a.experiment_id where e.stage = 'lossy'")" "36|1"
$WF show --db "$DB" >"$TMP/show"
expect "show gives each failure's reason and stderr" grep -q "fake: about to crash" "$TMP/show"
expect "list shows the run complete" grep -q "complete .*4 ok, 6 failed, 1 flagged of 10" <<<"$($WF list --db "$DB")"
for c in run list show compare plot export import; do
    out=$($WF $c --help 2>&1)
    expect "waterfall $c --help" grep -q "^usage: waterfall $c" <<<"$out"
done
expect "waterfall --help" grep -q "^usage: waterfall <command>" <<<"$($WF --help)"
$WF frobnicate >/dev/null 2>&1
expect "an unknown command exits 2" [ $? -eq 2 ]
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages nosuch >/dev/null 2>"$TMP/err2"
expect "an unbuilt stage is refused by name" grep -q 'stage "nosuch": .*sam-nosuch is not an executable' "$TMP/err2"
