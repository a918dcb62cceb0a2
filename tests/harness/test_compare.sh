#!/usr/bin/env bash
# waterfall compare: two runs of the same build say SAME or UNCLEAR, never FASTER or SLOWER
# (fake stages with 3 % noise, and the real cpu stage on the tiny fixture when it is built);
# a 30 % slowdown is SLOWER with exit status 1, a speed-up FASTER with 0; a newly flagged
# accuracy gate is a regression; runs on different devices get a ratio table, never a verdict;
# incomplete runs are never compared. Experiments pair across runs that hold other stages (a
# stage added between two runs); timed passes give batch 32 enough batches for a verdict.
. tests/harness/lib.sh
make_fakes cpu bf16 int8
make_fake_coco
DB=$TMP/r.db
args=(--db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,int8 --models m1,m2
      --batch-sizes 1,4 --limit 48)
run() { $WF run "${args[@]}" >/dev/null 2>&1 || fail "setup: run failed"; }
verdicts() { grep -oE ' (SAME|FASTER|SLOWER|UNCLEAR) ' "$1" | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

run
run
$WF compare --db "$DB" --max-load 1 >"$TMP/c1"
rc=$?
expect "same build, fake stages: exit 0" [ $rc -eq 0 ]
expect "same build, fake stages: never FASTER or SLOWER ($(verdicts "$TMP/c1"))" \
    eq "$(grep -cE ' (FASTER|SLOWER) ' "$TMP/c1")" 0
expect "same build, fake stages: all 12 compared, paired" eq "$(grep -c 'w SAME\|w UNCLEAR' "$TMP/c1")" 12
FAKE_SCALE=1.3 run
$WF compare --db "$DB" --max-load 1 >"$TMP/c2"
rc=$?
expect "30 % slower: exit 1" [ $rc -eq 1 ]
expect "30 % slower: all 12 SLOWER" eq "$(grep -c ' SLOWER ' "$TMP/c2")" 12
expect "30 % slower: regressions counted" grep -q "12 regressions" "$TMP/c2"
FAKE_SCALE=0.7 run
$WF compare --db "$DB" --max-load 1 >"$TMP/c3"
rc=$?
expect "30 % faster: exit 0" [ $rc -eq 0 ]
expect "30 % faster: all 12 FASTER" eq "$(grep -c ' FASTER ' "$TMP/c3")" 12
$WF compare 1 2 --db "$DB" --max-load 1 >"$TMP/c4"
expect "explicit run ids" grep -q "compare run 1 (A) -> run 2 (B)" "$TMP/c4"
FAKE_SHIFT_STAGE=bf16 run
$WF compare --db "$DB" --max-load 1 >"$TMP/c5"
rc=$?
expect "newly flagged accuracy: exit 1" [ $rc -eq 1 ]
expect "newly flagged accuracy: shown with its agreement deltas (top mask, same index)" \
    grep -qE "^bf16 .* -0\.1333 +-0\.1563  NEWLY FLAGGED: agreement 0\.8667 with cpu under the bf16 floor 0\.96" "$TMP/c5"
expect "a report that shows a flag states the floors" grep -q "floor of the stage's precision: fp32 0.999, bf16 0.96, int8 0.95" "$TMP/c5"
FAKE_DEVICE="Other GPU" run
$WF compare --db "$DB" >"$TMP/c6" 2>&1
rc=$?
expect "another device and no earlier run on it: exit non-zero" [ $rc -ne 0 ]
expect "another device and no earlier run on it: says why" grep -q "no earlier complete run holds any experiment of run 6" "$TMP/c6"
$WF compare 5 6 --db "$DB" >"$TMP/c7" 2>&1
rc=$?
expect "different devices: a ratio table, exit 0" [ $rc -eq 0 ]
expect "different devices: says ratios only" grep -q "different devices, so ratios only, no verdict" "$TMP/c7"
expect "different devices: never a verdict" eq "$(grep -cE ' (SAME|FASTER|SLOWER|UNCLEAR) ' "$TMP/c7")" 0
expect "different devices: all 12 experiments with their img/s ratio" eq "$(grep -cE '^(cpu|bf16|int8) +m[12] +[14] +[0-9.]+ +[0-9.]+ +[01]\.[0-9]{3} ' "$TMP/c7")" 12
# An incomplete run (its harness killed) is refused.
FAKE_SLEEP_MS=50 $WF run "${args[@]}" >/dev/null 2>&1 &
pid=$!
sleep 0.7
kill -9 $pid
wait $pid 2>/dev/null
$WF compare 1 7 --db "$DB" >"$TMP/c8" 2>&1
expect "incomplete run refused" grep -q "run 7 is incomplete" "$TMP/c8"

# A stage added between two runs (issue 13): the old stages still get verdicts, the new one is
# new; the baseline of each experiment is the latest earlier complete run that has it.
DB3=$TMP/grow.db
g=(--db "$DB3" --stage-dir "$FAKES" --coco "$COCO" --models m1 --batch-sizes 1,4,32 --limit 48)
# Fixed noise seeds (two different draws): the "at least ... SAME" check below asserts a verdict
# of noisy timings, which a free draw missed once in session 14's make test runs (3 SAME, 1 UNCLEAR).
FAKE_SEED=1 $WF run "${g[@]}" --stages cpu,bf16 >/dev/null 2>&1
FAKE_SEED=2 $WF run "${g[@]}" --stages cpu,bf16,int8 >/dev/null 2>&1
$WF compare --db "$DB3" --max-load 1 >"$TMP/g1"
rc=$?
expect "stage added: exit 0" [ $rc -eq 0 ]
expect "stage added: the old stages' 6 experiments get SAME or UNCLEAR against run 1" \
    eq "$(grep -cE '^(cpu|bf16) +m1 +(1|4|32) +1 .* (SAME|UNCLEAR) ' "$TMP/g1")" 6
expect "stage added: at least the batch 1 and 4 experiments are SAME" \
    eq "$(grep -cE '^(cpu|bf16) +m1 +(1|4) +1 .* SAME ' "$TMP/g1")" 4
expect "stage added: the new stage's 3 experiments are new" eq "$(grep -cE '^int8 +m1 +[0-9]+ +- +new: ' "$TMP/g1")" 3
FAKE_SCALE=1.3 $WF run "${g[@]}" --stages bf16,int8 >/dev/null 2>&1
$WF compare --db "$DB3" --max-load 1 >"$TMP/g2"
rc=$?
expect "stage dropped, 30 % slower: exit 1" [ $rc -eq 1 ]
expect "stage dropped: bf16 against run 2 (its latest), SLOWER at every batch size" \
    eq "$(grep -cE '^bf16 +m1 +(1|4|32) +2 .* SLOWER ' "$TMP/g2")" 3
expect "stage dropped: int8 against run 2 too, SLOWER" eq "$(grep -cE '^int8 +m1 +(1|4|32) +2 .* SLOWER ' "$TMP/g2")" 3
# Run 3 has no cpu stage, so its agreements are against bf16, run 2's against cpu: not
# subtracted, and said.
expect "other reference stage: no agreement deltas" eq "$(grep -cE '^(bf16|int8) +m1 .* other-ref +other-ref ' "$TMP/g2")" 6
expect "other reference stage: said which" grep -q "^other-ref: .*run 2's agreements are against cpu, run 3's against bf16" "$TMP/g2"
expect "same reference stage: deltas as before" eq "$(grep -c 'other-ref' "$TMP/g1")" 0
$WF compare 1 3 --db "$DB3" --max-load 1 >"$TMP/g3"
expect "explicit runs with different stages: the stages both have" \
    eq "$(grep -cE '^bf16 .* SLOWER ' "$TMP/g3") $(grep -cE '^int8 .* new: not in run A' "$TMP/g3")" "3 3"
# Another subset (--limit) is another experiment: no verdict between them.
$WF run "${g[@]}" --stages bf16 --limit 24 >/dev/null 2>&1
$WF compare --db "$DB3" --max-load 1 >"$TMP/g4" 2>&1
expect "another --limit: not paired with the runs of 48 images, and said" grep -q "no earlier complete run holds any experiment of run 4 (.* subset and device)" "$TMP/g4"
# Enough timed batches (issue 13): 48 images at batch 32 are one batch a pass; the stage keeps
# making passes (8 by default) so compare has more than its minimum of 5 batches.
expect "batch 32: 8 timed batches over 8 passes" eq "$(q "$DB3" "select group_concat(batches_timed || '/' || passes) from experiments where batch_size = 32 and run_id = 1")" "8/8,8/8"
expect "batch 32: a verdict, not UNCLEAR for want of batches" eq "$(grep -cE '^bf16 +m1 +32 .* SLOWER ' "$TMP/g2")" 1
expect "the passes stored with each sample" eq "$(q "$DB3" "select count(distinct pass) || ' ' || max(pass) from samples s join experiments e on e.id = s.experiment_id where e.batch_size = 32 and e.run_id = 1 and e.stage = 'cpu'")" "8 7"

# The real cpu stage on the tiny fixture: two runs of the same build.
CKPT=$B/fixtures/sam-golden/tiny/model.pth
if [ -x "$B/sam-cpu" ] && [ -f "$CKPT" ] && [ -x "$B/sam-data" ]; then
    "$B/sam-data" synth --out "$TMP/syn" --images 40 >/dev/null 2>&1 || fail "setup: sam-data synth failed"
    DB2=$TMP/cpu.db
    # A first run into another database, not compared: in make test the first sam-cpu run after
    # the suite's earlier tests ran slower than the next (10.5-10.9 against 15.1-16.2 img/s at
    # batch 1, twice in four suite runs on a 2-core VM; never when this script ran alone), and
    # a same-build pair must start from the same state.
    $WF run --db "$TMP/cpu-warm.db" --coco "$TMP/syn" --models "tiny=$CKPT" --batch-sizes 1,4 --limit 40 \
        --max-passes 2 >/dev/null 2>"$TMP/cpu_err" || fail "cpu warm run: $(tail -1 "$TMP/cpu_err")"
    for k in 1 2; do
        $WF run --db "$DB2" --coco "$TMP/syn" --models "tiny=$CKPT" --batch-sizes 1,4 --limit 40 --max-passes 2 \
            >/dev/null 2>"$TMP/cpu_err" || { fail "cpu run $k: $(tail -1 "$TMP/cpu_err")"; }
    done
    $WF compare --db "$DB2" >"$TMP/c9"
    rc=$?
    cat "$TMP/c9" | sed 's/^/NOTE /' | grep -E "^NOTE (cpu|[0-9]+ compared)"
    expect "same build, cpu stage: never FASTER or SLOWER ($(verdicts "$TMP/c9"))" \
        eq "$(grep -cE ' (FASTER|SLOWER) ' "$TMP/c9")" 0
    expect "same build, cpu stage: exit 0" [ $rc -eq 0 ]
    expect "same build, cpu stage: both experiments compared" grep -q "^2 compared" "$TMP/c9"
else
    fail "cpu stage compare: needs $B/sam-cpu, $CKPT and $B/sam-data (make $B/sam-cpu $B/sam-data fixtures)"
fi
