#!/usr/bin/env bash
# sam-fp32, sam-bf16, sam-fused, sam-sdpa and sam-relpos predict on every single-prompt fixture case (the harness's view of a
# stage): fp32 as exact as the CPU reference, bf16 within 3e-2 and top-mask IoU >= 0.98.
set -u
B=${BUILD:-build}
PY=${PYTHON:-python3}
work=$B/test-work/gpu_predict_cli
rm -rf "$work" && mkdir -p "$work"
rc=0
$PY tests/core/predict_cli_check.py $B/sam-fp32 $B/fixtures/sam-golden "$work/fp32" || rc=1
$PY tests/core/predict_cli_check.py $B/sam-bf16 $B/fixtures/sam-golden "$work/bf16" 3e-2 0.98 || rc=1
$PY tests/core/predict_cli_check.py $B/sam-fused $B/fixtures/sam-golden "$work/fused" 3e-2 0.98 || rc=1
$PY tests/core/predict_cli_check.py $B/sam-sdpa $B/fixtures/sam-golden "$work/sdpa" 3e-2 0.98 || rc=1
$PY tests/core/predict_cli_check.py $B/sam-relpos $B/fixtures/sam-golden "$work/relpos" 3e-2 0.98 || rc=1
exit $rc
