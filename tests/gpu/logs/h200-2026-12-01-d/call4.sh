#!/usr/bin/env bash
# Device call 4 (nvidia-h200): ncu readings of the decoder's two flash kernels at 52 prompts
# (the bench's first launch of each), call 3's bundle: the split-keys kernel on tensor cores
# (token-to-image, 72 us a call) and the short-keys kernel (image-to-token, 117 us).
set -u
. "$(dirname "$0")/env.sh"
NCU="ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section LaunchStats --section SchedulerStats -c 1"
TAILN=200 step gpu0.txt ncu_split $(left 60) $NCU -k regex:da_split_mma build/tests/gpu/test_decoder_attention --bench
TAILN=200 step gpu0.txt ncu_short $(left 120) $NCU -k regex:da_short_bf16_hd16 build/tests/gpu/test_decoder_attention --bench
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
