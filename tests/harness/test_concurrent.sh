#!/usr/bin/env bash
# Three harness processes writing one (new) database at once, with readers listing it
# meanwhile: nothing is lost, every run completes with all its rows, the database is sound.
. tests/harness/lib.sh
make_fakes cpu bf16 lossy
make_fake_coco
DB=$TMP/shared.db   # does not exist yet: the schema is created by whichever opens first
export FAKE_SLEEP_MS=3
args=(--db "$DB" --stage-dir "$FAKES" --coco "$COCO" --stages cpu,bf16,lossy --models m1,m2
      --batch-sizes 1,2 --limit 12 --timeout 60 --max-passes 1)
pids=()
for k in 1 2 3; do
    $WF run "${args[@]}" >"$TMP/out$k" 2>"$TMP/err$k" &
    pids+=($!)
done
readers_ok=0
for i in $(seq 1 10); do
    sleep 0.2
    $WF list --db "$DB" >/dev/null 2>>"$TMP/rerr" && readers_ok=$((readers_ok + 1))
done
rcs=""
for p in "${pids[@]}"; do
    wait "$p"
    rcs="$rcs$?"
done
expect "three concurrent runs all exit 0" eq "$rcs" 000
expect "readers listed the database while it was written" eq "$readers_ok" 10
expect "three runs stored" eq "$(q "$DB" "select count(*) from runs where status = 'complete'")" 3
expect "three distinct run ids printed" eq "$(cat "$TMP"/out? | grep -c '^run [0-9]* (flags): complete')" 3
expect "all 36 experiments ok" eq "$(q "$DB" "select count(*) from experiments where status = 'ok'")" 36
expect "every sample kept (12 + 6 per model and stage)" eq "$(q "$DB" "select count(*) from samples")" $((3 * 3 * 2 * (12 + 6)))
expect "every annotation kept" eq "$(q "$DB" "select count(*) from annotations")" $((36 * 36))
expect "experiments belong to their own run" eq "$(q "$DB" "select count(distinct run_id || '-' || seq) from experiments")" 36
expect "every gate judged within its own run" eq "$(q "$DB" "select count(*) from experiments e join experiments r on r.id = e.ref_experiment_id where r.run_id != e.run_id")" 0
expect "integrity_check ok" eq "$(q "$DB" "pragma integrity_check")" ok
expect "WAL mode" eq "$(q "$DB" "pragma journal_mode")" wal
expect "schema version current" eq "$(q "$DB" "pragma user_version")" 4
expect "no database error printed" eq "$(cat "$TMP"/err? "$TMP/rerr" | grep -ci 'sqlite')" 0
