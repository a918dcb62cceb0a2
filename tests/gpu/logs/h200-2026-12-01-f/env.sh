# Sourced by this folder's call scripts on the device: unpack the bundle, the library paths
# (as tests/gpu/device.sh sets them), the step helpers, the synthetic subset.
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
[ -x build/sam-fp32 ] || tar -xJf .carry/bundle.tar.xz || exit 1
# The fixtures only when the call carried them (.carry whole; make gpu-bundle keeps them beside the bundle).
if [ ! -d build/fixtures/sam-golden ] && [ -f .carry/sam-golden.tar.xz ]; then
    mkdir -p build/fixtures && tar -C build/fixtures -xJf .carry/sam-golden.tar.xz || exit 1
fi
export BUILD=build PYTHONUNBUFFERED=1 TEST_TIMEOUT=${TEST_TIMEOUT:-600}
py=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
export LD_LIBRARY_PATH="$py/cudnn/lib:$py/cusparselt/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
. tests/gpu/steps_lib.sh
nvidia-smi --query-gpu=index,name,driver_version,clocks.sm,memory.total --format=csv,noheader > "$OUT/gpus.txt"
build/sam-data synth --out build/data/synthetic-coco >/dev/null
