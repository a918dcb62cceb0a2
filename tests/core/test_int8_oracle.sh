#!/usr/bin/env bash
# The CPU int8 linear format against its NumPy oracle (tests/core/int8_oracle.py: torchao's
# dynamic int8 recipe as design.md section 2 states it) on every encoder linear of the golden
# fixtures' tiny checkpoint: int8 values, scales and int32 products equal, outputs within 1e-6.
set -u
B=${BUILD:-build}
work=$B/test-work/int8_oracle
rm -rf "$work" && mkdir -p "$work"
ckpt=$B/fixtures/sam-golden/tiny/model.pth
if ! $B/tests/core/test_int8_linear --dump "$work" "$ckpt" >"$work/dump.log" 2>&1; then
    echo "FAIL int8 dump of $ckpt: $(tail -3 "$work/dump.log")"
    exit 1
fi
$B/venv/bin/python tests/core/int8_oracle.py "$work" "$ckpt"
