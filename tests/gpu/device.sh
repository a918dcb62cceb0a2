#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repository root, after `make gpu-bundle` here and a
# device call that carries .carry. Unpacks the bundle into build/, then runs what is asked:
#   tests/gpu/device.sh test [NAME...]  make test-gpu's suite (tests/run.sh gpu), or the tests named
#   tests/gpu/device.sh bench ARGS  waterfall run ARGS (results/results.db)
#   tests/gpu/device.sh profile STAGE MODEL RANGE...
#                                   ncu's per-kernel summary (device time of every kernel, kernels
#                                   serialised) of the kernels inside the NVTX ranges named
#                                   (e.g. mask_decoder/) over a short eval (batch 8: one warm-up batch
#                                   and one timed batch of 8 images, 16 decoder calls),
#                                   then the eval of 16 images unprofiled for its phase_ms
# Logs and the results database are copied to $OUT when it is set.
set -u
cd "$(dirname "$0")/../.."
. tests/gpu/device_env.sh || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv,noheader
what=${1:-test}
shift || true
rc=0
case $what in
test)
    bash tests/run.sh gpu "$@" 2>&1 | tee build/test-gpu.log
    rc=${PIPESTATUS[0]}
    [ -n "${OUT:-}" ] && cp build/test-gpu.log "$OUT/" && cp -r build/test-logs/gpu "$OUT/test-logs" 2>/dev/null
    ;;
bench)
    # As make run on a GPU machine: the sdpa stage's cuDNN plans built into build/sdpa-plans
    # first (variants/aot/sdpa_aot.c), so its processes load them instead of compiling them.
    build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans > build/sdpa-aot.log 2>&1 ||
        { tail -3 build/sdpa-aot.log; exit 1; }
    tail -1 build/sdpa-aot.log
    build/waterfall run "$@" 2>&1 | tee build/bench.log
    rc=${PIPESTATUS[0]}
    # The database comes back as a transport copy (files from the device are limited to
    # 16 MiB each): every run, experiment, batch sample, per-annotation IoU and agreement, but
    # not the top masks' RLE (agreement is already computed; the RLEs of 8 experiments are over
    # 100 MB compressed). Here: unxz it and `build/waterfall import results.db`.
    if [ -n "${OUT:-}" ]; then
        cp build/bench.log "$OUT/"
        # Through SQLite's backup API, not cp (tests/gpu/steps_lib.sh db_back): the database is
        # in WAL mode, and a copy of results.db alone can miss committed pages (two such copies
        # came back "malformed" on 2026-12-01).
        . tests/gpu/steps_lib.sh
        db_back results/results.db results.db.xz
    fi
    ;;
profile)
    stage=${1:-bf16} model=${2:-vit_b}
    shift 2 || true
    coco=build/data/synthetic-coco
    [ -f $coco/annotations/instances_val2017.json ] || build/sam-data synth --out $coco >/dev/null
    args=(eval --checkpoint synthetic:$model --coco $coco --batch-size 8 --limit 16 --warmup 1)
    filters=()
    for r in "$@"; do filters+=(--nvtx-include "$r"); done
    log=build/profile-$stage-$model.log
    { echo "## ncu ${filters[*]} build/sam-$stage ${args[*]}"
      ncu --clock-control none --nvtx "${filters[@]}" --metrics gpu__time_duration.sum \
          --print-summary per-kernel build/sam-$stage "${args[@]}" --limit 8 2>&1 | grep -v '^{'
      echo "## unprofiled"
      build/sam-$stage "${args[@]}" 2>&1 | grep '"summary"'; } >$log 2>&1
    rc=$?
    cat $log
    [ -n "${OUT:-}" ] && cp $log "$OUT/"
    ;;
*)
    echo "usage: tests/gpu/device.sh test | bench ARGS | profile STAGE MODEL RANGE..." >&2
    rc=2
    ;;
esac
exit $rc
