#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repository root, after `make gpu-bundle` here and a
# device call that carries .carry. Unpacks the bundle into build/, then runs what is asked:
#   tests/gpu/device.sh test        make test-gpu's suite (tests/run.sh gpu)
#   tests/gpu/device.sh bench ARGS  waterfall run ARGS (results/results.db)
# Logs and the results database are copied to $OUT when it is set.
set -u
cd "$(dirname "$0")/../.."
if [ ! -x build/sam-fp32 ]; then
    tar -xJf .carry/bundle.tar.xz || { echo "sam: cannot unpack .carry/bundle.tar.xz"; exit 1; }
    mkdir -p build/fixtures && tar -C build/fixtures -xJf build/sam-golden.tar.xz
fi
export BUILD=build
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv,noheader
what=${1:-test}
shift || true
rc=0
case $what in
test)
    bash tests/run.sh gpu 2>&1 | tee build/test-gpu.log
    rc=${PIPESTATUS[0]}
    [ -n "${OUT:-}" ] && cp build/test-gpu.log "$OUT/" && cp -r build/test-logs/gpu "$OUT/test-logs" 2>/dev/null
    ;;
bench)
    build/waterfall run "$@" 2>&1 | tee build/bench.log
    rc=${PIPESTATUS[0]}
    # The database comes back compressed (files from the device are limited to 16 MiB each);
    # here: unxz it and `build/waterfall import results.db`.
    if [ -n "${OUT:-}" ]; then
        cp build/bench.log "$OUT/"
        xz -T0 -c results/results.db >"$OUT/results.db.xz"
    fi
    ;;
*)
    echo "usage: tests/gpu/device.sh test | bench ARGS" >&2
    rc=2
    ;;
esac
exit $rc
