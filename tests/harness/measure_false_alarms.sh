#!/usr/bin/env bash
# Measures the compare rule's false-alarm rate on this machine: N runs of one build (the cpu
# stage on the tiny fixture, 40 synthetic images, batch sizes 1 and 4), then `waterfall compare`
# on every pair of runs; a FASTER or SLOWER verdict between runs of one build is a false alarm.
# Not part of make test (it takes a minute or two); the figure goes in harness/README.md.
#   WF_BUILD=build N=10 bash tests/harness/measure_false_alarms.sh
. tests/harness/lib.sh
N=${N:-10}
CKPT=$B/fixtures/sam-golden/tiny/model.pth
"$B/sam-data" synth --out "$TMP/syn" --images 40 >/dev/null
DB=$TMP/fa.db
for k in $(seq 1 "$N"); do
    $WF run --db "$DB" --coco "$TMP/syn" --models "tiny=$CKPT" --batch-sizes 1,4 --limit 40 >/dev/null 2>&1 ||
        { echo "run $k failed"; exit 1; }
done
# Verdicts with the busy-machine rule (default 0.10) and without it (1).
for limit in 1 0.10; do
    : >"$TMP/all"
    for a in $(seq 1 "$N"); do
        for b in $(seq $((a + 1)) "$N"); do
            $WF compare "$a" "$b" --db "$DB" --max-load "$limit" | grep -E "^cpu " >>"$TMP/all"
        done
    done
    total=$(wc -l <"$TMP/all")
    echo "max-load $limit: $(for v in SAME UNCLEAR FASTER SLOWER; do printf '%s %s, ' $v "$(grep -c " $v " "$TMP/all")"; done)of $total"
done
echo "time ratios (B/A) min/median/max: $(awk '{print $7}' "$TMP/all" | sort -g | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}')"
echo "busy (other processes' CPU share) per experiment: $(sqlite3 "$DB" "select group_concat(printf('%.0f%%', other_load * 100), ' ') from experiments")"
