#!/usr/bin/env bash
# SIGKILL of the harness at random points, at least 20 times: after every kill the database
# passes PRAGMA integrity_check, the killed run is incomplete (never plotted or compared), and
# `waterfall run --resume` finishes it with every experiment stored exactly once.
. tests/harness/lib.sh
make_fakes cpu bf16 lossy
make_fake_coco
DB=$TMP/r.db
KILLS=${KILLS:-24}
export FAKE_SLEEP_MS=15   # 6 batches of 15 ms: each stage process lives about 0.1 s
args=(--db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1,m2
      --batch-sizes 1,2 --limit 6 --timeout 20 --max-passes 1)
RANDOM=4242   # reproducible kill points

integrity_ok=0 incomplete_seen=0 refused_ok=0 orphans=0 killed=0 tries=0
# Until KILLS kills have landed on a live harness (a run may finish before its kill time).
while [ "$killed" -lt "$KILLS" ] && [ "$tries" -lt $((KILLS * 4)) ]; do
    tries=$((tries + 1))
    # Resume the incomplete run if there is one, else start a new run.
    inc=$($WF list --db "$DB" --all 2>/dev/null | awk '$2 == "incomplete" {print $1; exit}')
    if [ -n "$inc" ]; then
        $WF run --resume "$inc" --db "$DB" >/dev/null 2>&1 &
    else
        $WF run "${args[@]}" >/dev/null 2>&1 &
    fi
    pid=$!
    # 0 .. 1.2 s: from before the database is opened to the end of the run.
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", r / 32767 * 1.2 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # 137: it died of the SIGKILL, not of having finished first.
    [ $? -eq 137 ] && killed=$((killed + 1))
    sleep 0.05
    [ -z "$(fake_procs)" ] || orphans=$((orphans + 1))
    [ "$(q "$DB" "pragma integrity_check" 2>/dev/null)" = ok ] && integrity_ok=$((integrity_ok + 1))
    inc=$($WF list --db "$DB" --all 2>/dev/null | awk '$2 == "incomplete" {print $1; exit}')
    if [ -n "$inc" ]; then
        incomplete_seen=$((incomplete_seen + 1))
        # An incomplete run is never plotted or compared.
        if ! $WF plot --db "$DB" --run "$inc" --out "$TMP/x.svg" >/dev/null 2>"$TMP/perr" &&
           grep -q "is incomplete" "$TMP/perr" && [ ! -e "$TMP/x.svg" ] &&
           ! $WF compare "$inc" "$inc" --db "$DB" >/dev/null 2>&1; then
            refused_ok=$((refused_ok + 1))
        fi
    fi
done
echo "NOTE $killed of $tries harness processes killed mid-run, $incomplete_seen kills left an incomplete run"
expect "at least 20 kills landed mid-run" [ "$killed" -ge 20 ]
expect "integrity_check ok after every kill ($tries)" eq "$integrity_ok" "$tries"
expect "incomplete runs refused by plot and compare ($incomplete_seen)" eq "$refused_ok" "$incomplete_seen"
expect "kills left incomplete runs to resume" [ "$incomplete_seen" -ge 10 ]
expect "no stage process outlived its killed harness" eq "$orphans" 0
# Finish everything.
for i in $(seq 1 10); do
    inc=$($WF list --db "$DB" --all | awk '$2 == "incomplete" {print $1; exit}')
    [ -z "$inc" ] && break
    $WF run --resume "$inc" --db "$DB" >/dev/null 2>"$TMP/rerr" || { cat "$TMP/rerr"; break; }
done
expect "every run resumed to complete" eq "$(q "$DB" "select count(*) from runs where status != 'complete'")" 0
runs=$(q "$DB" "select count(*) from runs")
expect "every run has its 12 experiments ok" eq "$(q "$DB" "select count(*) from experiments where status = 'ok'")" "$((runs * 12))"
expect "no experiment left pending or running" eq "$(q "$DB" "select count(*) from experiments where status != 'ok'")" 0
expect "samples stored exactly once (6 + 3 per bs 1 / bs 2 pair)" eq \
    "$(q "$DB" "select count(*) from experiments e where (select count(*) from samples s where s.experiment_id = e.id) != 6 / e.batch_size")" 0
expect "annotations stored exactly once (18 per experiment)" eq \
    "$(q "$DB" "select count(*) from experiments e where (select count(*) from annotations a where a.experiment_id = e.id) != 18")" 0
expect "every experiment judged by the gate" eq "$(q "$DB" "select count(*) from experiments where gate is null")" 0
expect "integrity_check ok at the end" eq "$(q "$DB" "pragma integrity_check")" ok
last=$(q "$DB" "select max(id) from runs")
$WF plot --db "$DB" --run "$last" --out "$TMP/ok.svg" >/dev/null 2>&1
expect "a resumed run plots" [ -s "$TMP/ok.svg" ]
$WF run --resume --db "$DB" >/dev/null 2>"$TMP/err"
expect "resume with nothing incomplete is refused" grep -q "no incomplete run" "$TMP/err"
