#!/usr/bin/env bash
# The sdpa stage's cuDNN graphs for every model shape, accepted by cuDNN's heuristics for an
# H200 described in JSON: no GPU needed (build/tests/core/sdpa_deviceless; see its header).
# cuDNN's engine support checks open libcuda.so.1; where no driver is installed the CUDA
# toolkit's stub stands in (nothing is run on a device).
set -u
B=${BUILD:-build}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
work=$B/test-work/sdpa_deviceless
rm -rf "$work" && mkdir -p "$work/lib"
if [ ! -x "$B/tests/core/sdpa_deviceless" ]; then echo "FAIL $B/tests/core/sdpa_deviceless: not built"; exit 1; fi
extra=
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
    stub=$CUDA_HOME/lib64/stubs/libcuda.so
    if [ ! -f "$stub" ]; then echo "FAIL no libcuda.so.1 and no CUDA toolkit stub at $stub"; exit 1; fi
    ln -s "$(readlink -f "$stub")" "$work/lib/libcuda.so.1"
    extra=$work/lib
fi
LD_LIBRARY_PATH="${extra:+$extra:}$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$B/tests/core/sdpa_deviceless"
