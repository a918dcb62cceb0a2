#!/usr/bin/env bash
# waterfall compare: two runs of the same build say SAME or UNCLEAR, never FASTER or SLOWER
# (fake stages with 3 % noise, and the real cpu stage on the tiny fixture when it is built);
# a 30 % slowdown is SLOWER with exit status 1, a speed-up FASTER with 0; a newly flagged
# accuracy gate is a regression; different devices are refused unless --force; incomplete runs
# are never compared.
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
expect "newly flagged accuracy: shown with its agreement delta" grep -qE "^bf16 .* -0\.1818 +NEWLY FLAGGED: agreement" "$TMP/c5"
FAKE_DEVICE="Other GPU" run
$WF compare --db "$DB" >"$TMP/c6" 2>&1
rc=$?
expect "different devices refused" [ $rc -ne 0 ]
expect "different devices: says why" grep -q "timings across devices are not comparable" "$TMP/c6"
$WF compare 5 6 --force --db "$DB" >"$TMP/c7" 2>&1
expect "different devices with --force: compared" grep -q "warning: different devices" "$TMP/c7"
# An incomplete run (its harness killed) is refused.
FAKE_SLEEP_MS=50 $WF run "${args[@]}" >/dev/null 2>&1 &
pid=$!
sleep 0.7
kill -9 $pid
wait $pid 2>/dev/null
$WF compare 1 7 --db "$DB" >"$TMP/c8" 2>&1
expect "incomplete run refused" grep -q "run 7 is incomplete" "$TMP/c8"

# The real cpu stage on the tiny fixture: two runs of the same build.
CKPT=$B/fixtures/sam-golden/tiny/model.pth
if [ -x "$B/sam-cpu" ] && [ -f "$CKPT" ] && [ -x "$B/sam-data" ]; then
    "$B/sam-data" synth --out "$TMP/syn" --images 40 >/dev/null 2>&1 || fail "setup: sam-data synth failed"
    DB2=$TMP/cpu.db
    for k in 1 2; do
        $WF run --db "$DB2" --coco "$TMP/syn" --models "tiny=$CKPT" --batch-sizes 1,4 --limit 40 \
            >/dev/null 2>"$TMP/cpu_err" || { fail "cpu run $k: $(tail -1 "$TMP/cpu_err")"; }
    done
    $WF compare --db "$DB2" >"$TMP/c9"
    rc=$?
    cat "$TMP/c9" | sed 's/^/NOTE /' | grep -E "^NOTE (cpu|[0-9]+ compared)"
    expect "same build, cpu stage: never FASTER or SLOWER ($(verdicts "$TMP/c9"))" \
        eq "$(grep -cE ' (FASTER|SLOWER) ' "$TMP/c9")" 0
    expect "same build, cpu stage: exit 0" [ $rc -eq 0 ]
else
    fail "cpu stage compare: needs $B/sam-cpu, $CKPT and $B/sam-data (make $B/sam-cpu $B/sam-data fixtures)"
fi
