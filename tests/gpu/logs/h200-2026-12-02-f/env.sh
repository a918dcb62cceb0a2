# Sourced by this folder's call scripts on the device: the bundle, fixtures and library paths
# (tests/gpu/device_env.sh), the step helpers, the synthetic subset.
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
. tests/gpu/device_env.sh || exit 1
export PYTHONUNBUFFERED=1 TEST_TIMEOUT=${TEST_TIMEOUT:-600}
. tests/gpu/steps_lib.sh
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,memory.total --format=csv,noheader > "$OUT/gpus.txt"
build/sam-data synth --out build/data/synthetic-coco >/dev/null
