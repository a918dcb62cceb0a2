#!/usr/bin/env bash
# Device call 1 (nvidia-h200): the flash kernel's first wgmma configs (head dim 64, global and
# windowed). The suite (every config, incl. the new ones, against the float32 attention on the
# small, fixture and full shapes), the bench with the GPU to itself, then ncu of two wgmma
# global configs.
set -u
. "$(dirname "$0")/env.sh"
TAILN=120 step gpu0.txt flash_suite $(left 220) bash tests/run.sh gpu test_flash_relpos
TAILN=90 step gpu0.txt flash_bench $(left 260) build/tests/gpu/test_flash_relpos --bench
TAILN=260 step gpu0.txt ncu_flash_wg $(left 330) ncu --clock-control none \
    --kernel-name 'regex:hd64_s64_w(4m1n64b3|8m1n64b2)_g1' --launch-count 2 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    build/tests/gpu/test_flash_relpos --bench
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
