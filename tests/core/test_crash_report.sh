#!/usr/bin/env bash
# A stage that dies of a fatal signal says so on stderr before it goes (common/check.c
# install_crash_report): one line naming the signal, then the stack's addresses, and the exit
# status still the signal's (the harness reports "killed by signal N"). Checked by sending
# SIGSEGV and SIGBUS to a sam-cpu eval at work on the tiny fixture.
set -u
B=${BUILD:-build}
work=$B/test-work/crash_report
rm -rf "$work" && mkdir -p "$work"
coco=$B/data/synthetic-coco
[ -f $coco/annotations/instances_val2017.json ] || $B/sam-data synth --out $coco >/dev/null
rc=0
for sig in SEGV BUS; do
    $B/sam-cpu eval --checkpoint $B/fixtures/sam-golden/tiny/model.pth --coco $coco --batch-size 4 \
        --limit 64 --warmup 0 --masks-out /dev/null >/dev/null 2>"$work/$sig.err" &
    pid=$!
    # until the stage has worked half a second of CPU time (past loading: its handler is set)
    for _ in $(seq 100); do
        sleep 0.1
        [ -d /proc/$pid ] || break
        [ "$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || echo 0)" -gt 50 ] && break
    done
    kill -$sig $pid
    { wait $pid; } 2>/dev/null  # (bash's own "Segmentation fault" notice)
    st=$?
    want=$((128 + $(python3 -c "import signal; print(signal.SIG$sig)")))
    if [ $st -eq $want ]; then
        echo "PASS SIG$sig: exit status $st (the signal's, as before the handler)"
    else
        echo "FAIL SIG$sig: exit status $st, wanted $want"; rc=1
    fi
    if grep -qE "^sam: fatal signal $((want - 128)) \([A-Za-z ]+\); stack:$" "$work/$sig.err" &&
        [ "$(grep -c '\[0x[0-9a-f]*\]' "$work/$sig.err")" -ge 3 ]; then
        echo "PASS SIG$sig: '$(grep '^sam: fatal' "$work/$sig.err")' and $(grep -c '\[0x' "$work/$sig.err") stack addresses"
    else
        echo "FAIL SIG$sig: no crash report on stderr: $(head -c 300 "$work/$sig.err")"; rc=1
    fi
done
exit $rc
