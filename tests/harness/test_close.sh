#!/usr/bin/env bash
# `waterfall run --resume RUN --close REASON`: a run whose harness was killed and whose machine is
# gone (a lent GPU machine, its call cut at its time limit) is closed without running anything:
# its experiments not run are failed with "not run: REASON", the ones that ran keep their
# figures, the accuracy gate judges them, and the run can be shown, exported and plotted.
. tests/harness/lib.sh
make_fakes cpu bf16 lossy
make_fake_coco
DB=$TMP/r.db
export FAKE_SLEEP_MS=60
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1 \
    --batch-sizes 1,2 --limit 6 --max-passes 1 >"$TMP/run.log" 2>&1 &
pid=$!
# Kill once the first experiments are stored and before the last one is.
for _ in $(seq 1 200); do
    n=$(q "$DB" "select count(*) from experiments where status = 'ok'" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
ok_before=$(q "$DB" "select count(*) from experiments where status = 'ok'")
left=$(q "$DB" "select count(*) from experiments where status in ('pending', 'running')")
expect "the killed run has run and unrun experiments ($ok_before ok, $left left)" [ "$ok_before" -ge 2 ] && [ "$left" -ge 1 ]
ips_before=$(q "$DB" "select group_concat(img_s) from experiments where status = 'ok' order by id")
expect "run --close without --resume is refused" sh -c "! $WF run --close x --db $DB >/dev/null 2>&1"
# The stages are gone (another machine): closing needs none of them.
mv "$FAKES" "$TMP/gone"
if $WF run --resume --close "the device call ended at its time limit" --db "$DB" >"$TMP/close.log" 2>&1; then
    pass "close exits 0 with no stage executables present"
else
    fail "close failed: $(tail -2 "$TMP/close.log")"
fi
expect "the run is complete" eq "$(q "$DB" "select status from runs")" complete
expect "every unrun experiment failed with the reason" eq \
    "$(q "$DB" "select count(*) from experiments where status = 'failed' and reason = 'not run: the device call ended at its time limit'")" "$left"
expect "the experiments that ran keep their figures" eq \
    "$(q "$DB" "select group_concat(img_s) from experiments where status = 'ok' order by id")" "$ips_before"
expect "they are judged by the accuracy gate" eq "$(q "$DB" "select count(*) from experiments where status = 'ok' and gate is null")" 0
$WF run --resume 1 --close again --db "$DB" >/dev/null 2>"$TMP/again"
expect "closing again is refused (the run is complete), and said" eq \
    "$? $(grep -c '^waterfall: run 1 is complete: only an incomplete run can be resumed' "$TMP/again")" "1 1"
expect "show lists the unrun experiments with the reason" grep -q "not run: the device call" <($WF show --db "$DB" 2>&1)
expect "export --sql includes the closed run" grep -q "INSERT INTO" <($WF export --sql --db "$DB" 2>/dev/null)

# compare and a closed run: what it never ran is missing data, not a regression, and no baseline.
mv "$TMP/gone" "$FAKES"
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1 \
    --batch-sizes 1,2 --limit 6 --max-passes 1 >"$TMP/run2.log" 2>&1
$WF compare 2 1 --db "$DB" >"$TMP/cmp21.log" 2>&1
rc=$?
expect "compare of a complete run (A) against the closed one (B) exits 0: not run is no regression" eq "$rc" 0
expect "each experiment the closed run never ran is said so, with its reason" eq \
    "$(grep -c 'not run in B (the device call ended at its time limit)' "$TMP/cmp21.log")" "$left"
expect "the summary counts them apart from the regressions" grep -q "; $left not run in B; 0 regressions" "$TMP/cmp21.log"
expect "none of them reads as REGRESSION" sh -c "! grep -q REGRESSION $TMP/cmp21.log"
# Run 3 (B) by default against the latest earlier run having each experiment: for those run 1
# never ran, run 2, for the others run 2 too (the later one); never run 1's "not run" rows.
$WF run --db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1 \
    --batch-sizes 1,2 --limit 6 --max-passes 1 >"$TMP/run3.log" 2>&1
q "$DB" "update runs set status = 'running' where id = 2"   # run 2 out of the way: run 1 is the baseline
$WF compare --db "$DB" >"$TMP/cmp3.log" 2>&1
q "$DB" "update runs set status = 'complete' where id = 2"
expect "by default, an experiment run 1 never ran has no baseline (new), and the others pair with run 1" eq \
    "$(grep -c 'new: no earlier complete run has it' "$TMP/cmp3.log") $(grep -cE '^[a-z0-9]+ +m1 +[0-9]+ +1 ' "$TMP/cmp3.log")" \
    "$left $ok_before"
