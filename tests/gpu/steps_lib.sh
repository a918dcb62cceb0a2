# Sourced by the scripts of a device call (tests/gpu/logs/*/call*.sh): steps with their own time
# limits whose logs reach $OUT as each ends, so a call cut at its limit still brings back what
# ran, and results databases brought back whole. Needs OUT (the device call's output folder).
#   step FILE NAME LIMIT CMD...  CMD under `timeout LIMIT` (skipped, and said, when LIMIT <= 5);
#                                appends "=== NAME rc=.. pass=.. fail=.. Ns (at Ns)" and the log's
#                                last $TAILN (default 60) lines that are not PASS lines to
#                                $OUT/FILE; the whole log stays in $STEPS_LOGS/NAME.log
#   left DEADLINE                seconds from now to DEADLINE: seconds after STEPS_T0, the call's
#                                start (epoch seconds; export STEPS_T0=${STEPS_T0:-$(date +%s)} as the call's
#                                first command, before the bundle is unpacked: on a cold machine
#                                that takes 30 s of the call's limit), else when this file was sourced
#   db_back DB NAME              DB through SQLite's backup API (it is in WAL mode: a copy of its
#                                main file alone can miss committed pages, or come back malformed
#                                after a harness was cut at its limit), the masks' RLE dropped,
#                                xz-compressed to $OUT/NAME
#   steps_pack NAME              every whole step log, as one tar.xz in $OUT/NAME
STEPS_T0=${STEPS_T0:-$(date +%s)}
STEPS_LOGS=${STEPS_LOGS:-build/step-logs}
mkdir -p "$STEPS_LOGS"

steps_elapsed() { echo $(( $(date +%s) - STEPS_T0 )); }

left() { echo $(( $1 - $(steps_elapsed) )); }

step() {
    local f=$1 n=$2 lim=$3
    shift 3
    if [ "$lim" -le 5 ]; then
        echo "=== $n skipped: no time left (at $(steps_elapsed)s)" >>"$OUT/$f"
        return 0
    fi
    local s log=$STEPS_LOGS/$n.log
    s=$(date +%s)
    timeout --kill-after=5 "$lim" "$@" >"$log" 2>&1
    local rc=$?
    {
        echo "=== $n rc=$rc pass=$(grep -c '^PASS' "$log") fail=$(grep -c '^FAIL' "$log") $(( $(date +%s) - s ))s (at $(steps_elapsed)s)"
        grep -v '^PASS' "$log" | tail -"${TAILN:-60}"
    } >>"$OUT/$f"
    return $rc
}

db_back() {
    local db=$1 name=$2 tmp
    tmp=$(mktemp "${TMPDIR:-/tmp}/db_back.XXXXXX")
    if python3 - "$db" "$tmp" <<'PY'
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
src.close()
cols = {r[1] for r in dst.execute("PRAGMA table_info(annotations)")}
drop = [c for c in ("rle", "masks") if c in cols]
if drop:
    dst.execute("UPDATE annotations SET " + ", ".join(c + " = NULL" for c in drop))
    dst.commit()
dst.execute("VACUUM")
ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
dst.close()
sys.exit(0 if ok == "ok" else 1)
PY
    then
        xz -T4 -c "$tmp" >"$OUT/$name"
    else
        echo "db_back: $db could not be brought back whole" >&2
        rm -f "$tmp"
        return 1
    fi
    rm -f "$tmp"
}

steps_pack() {
    tar -C "$STEPS_LOGS" -cf - . | xz -T4 >"$OUT/$1"
}
