#!/usr/bin/env bash
# compute-sanitizer over the flash rel-pos attention's small shapes (issue 15): memcheck (out of
# bounds and misaligned accesses, including shared memory and cp.async) and racecheck (shared-
# memory hazards between the threads of a block: the K/V double buffer, the rel-pos tables
# written over Q's buffer, the output staged over them), then synccheck and initcheck.
# Not named test_*: tests/run.sh does not run it; run it on the GPU machine by hand:
#   bash tests/gpu/sanitize_flash_relpos.sh        (BUILD=build by default; a few minutes)
# Each tool runs `test_flash_relpos --small` (racecheck and initcheck: `--race`, the same without
# references, initcheck with every kernel instrumented):
# graph capture, every compiled tile config on the small windowed and global grids of both head
# dims, the fixtures' grids. Passes when every
# tool reports 0 errors and the test itself passes under it.
set -u
B=${BUILD:-build}
bin=$B/tests/gpu/test_flash_relpos
cs=${COMPUTE_SANITIZER:-compute-sanitizer}
command -v "$cs" >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
[ -x "$bin" ] || { echo "FAIL sanitize: $bin not built"; exit 1; }
# Only the flash kernels are instrumented where the tool can filter (cuBLAS's kernels of the
# explicit references run unchecked and fast).
filter=()
"$cs" --help 2>/dev/null | grep -q -- '--kernel-name' && filter=(--kernel-name kns=flash_relpos)
logs=$B/test-logs/sanitize
mkdir -p "$logs"
rc=0
for tool in memcheck racecheck synccheck initcheck; do
    extra=()
    [ $tool = memcheck ] && extra=(--leak-check full)
    [ $tool = racecheck ] && extra=(--racecheck-report all)
    log=$logs/flash_relpos_$tool.log
    start=$(date +%s)
    # racecheck: the small shapes without reference products (--race): under racecheck, cuBLAS's
    # Hopper kernels of the references died with "failed to handle a hardware exception".
    mode=--small
    [ $tool = racecheck ] && mode=--race
    # initcheck: every kernel instrumented, on --race's calls (no cuBLAS references to slow it;
    # the build's tile choices only, where memcheck and synccheck cover every compiled config):
    # with the flash filter it never sees the writes of the upload's float32-to-bfloat16 kernel
    # (inputs of 2^18 values and more since session 11) and reported the flash kernels' reads
    # of those inputs as uninitialised (session 13, calls 1-2; cut at the limit by the printing).
    use_filter=("${filter[@]}")
    if [ $tool = initcheck ]; then
        mode=--race
        use_filter=()
    fi
    "$cs" --tool $tool "${extra[@]}" "${use_filter[@]}" --error-exitcode 99 "$bin" $mode >"$log" 2>&1
    code=$?
    secs=$(( $(date +%s) - start ))
    summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)
    tests=$(grep -E '^test_flash_relpos: [0-9]+ passed' "$log" | tail -1)
    if [ $code -eq 0 ] && grep -qE '(ERROR|RACECHECK) SUMMARY: 0 ' "$log"; then
        echo "PASS sanitize $tool: ${summary:-no summary}; ${tests:-?} (${secs}s)"
    else
        echo "FAIL sanitize $tool: exit $code, ${summary:-no summary}; ${tests:-?} (${secs}s, log $log)"
        grep -E '^=========' "$log" | head -20
        rc=1
    fi
done
exit $rc
