#!/usr/bin/env bash
# tests/gpu/steps_lib.sh, the device calls' step runner, without a GPU: a step's summary line and
# non-PASS lines reach $OUT, a step past its limit is cut (124), one with no time left is
# skipped and said; db_back brings back a WAL database whose writer was killed (SIGKILL) with
# every committed row (a copy of its main file alone has none of them), masks dropped, whole.
. tests/harness/lib.sh
export OUT=$TMP/out STEPS_LOGS=$TMP/logs
mkdir -p "$OUT"
. tests/gpu/steps_lib.sh
step a.txt mixed 20 bash -c 'echo PASS one; echo FAIL two; echo a note'
expect "a step's rc, PASS and FAIL counts" grep -qE "^=== mixed rc=0 pass=1 fail=1 [0-9]+s \(at [0-9]+s\)$" "$OUT/a.txt"
expect "its non-PASS lines follow, not its PASS lines" eq "$(sed -n '2,3p' "$OUT/a.txt" | tr '\n' '|') $(grep -c '^PASS' "$OUT/a.txt")" "FAIL two|a note| 0"
expect "the whole log stays for steps_pack" grep -q "^PASS one$" "$TMP/logs/mixed.log"
step a.txt slow 6 sleep 30
expect "a step past its limit: rc 124, said" grep -qE "^=== slow rc=124 pass=0 fail=0 [67]s" "$OUT/a.txt"
step a.txt late "$(left -100)" true
expect "no time left: skipped, said" grep -q "^=== late skipped: no time left" "$OUT/a.txt"
steps_pack logs.tar.xz
# Deadlines from the call's start (STEPS_T0, set before a cold machine's 30 s unpack), not from
# when the library was sourced.
t=$(STEPS_T0=$(( $(date +%s) - 40 )) bash -c '. tests/gpu/steps_lib.sh; left 100')
expect "left counts from STEPS_T0 when the call set it (40 s ago: 60 of 100 left)" [ "$t" -ge 59 ] && [ "$t" -le 60 ]
t=$(unset STEPS_T0; bash -c '. tests/gpu/steps_lib.sh; left 100')
expect "else from when it was sourced" [ "$t" -ge 99 ] && [ "$t" -le 100 ]
expect "steps_pack: every whole log in one archive" eq "$(tar -tJf "$OUT/logs.tar.xz" | grep -c '\.log$')" 2

# A harness-like WAL database whose writer dies after committing (as at a call's limit).
python3 - "$TMP/r.db" <<'PY' &
import os, signal, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode = WAL")
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("CREATE TABLE annotations (id INTEGER, rle TEXT, masks TEXT)")
c.commit()
c.executemany("INSERT INTO annotations VALUES (?, ?, ?)", [(i, "x" * 100, "[]") for i in range(500)])
c.commit()
os.kill(os.getpid(), signal.SIGKILL)
PY
{ wait $!; } 2>/dev/null  # (the shell's "Killed" notice)
expect "the killed writer left its committed rows in the WAL" [ -s "$TMP/r.db-wal" ]
cp "$TMP/r.db" "$TMP/copy.db"
expect "a copy of the main file alone has none of them (here not even the table)" eq \
    "$(sqlite3 "$TMP/copy.db" 'select count(*) from annotations' 2>/dev/null || echo none)" none
db_back "$TMP/r.db" r.db.xz
xz -dc "$OUT/r.db.xz" >"$TMP/back.db"
expect "db_back: every committed row, the masks' RLE dropped, integrity ok" eq \
    "$(sqlite3 "$TMP/back.db" 'select count(*), count(rle), count(masks) from annotations; pragma integrity_check')" "500|0|0
ok"
expect "db_back of a file that is no database: exit 1, said" sh -c \
    "echo junk >'$TMP/junk.db'; OUT='$OUT' STEPS_LOGS='$TMP/logs'; . tests/gpu/steps_lib.sh; ! db_back '$TMP/junk.db' j.xz 2>'$TMP/err' && grep -q 'could not be brought back whole' '$TMP/err'"
