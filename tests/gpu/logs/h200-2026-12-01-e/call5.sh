#!/usr/bin/env bash
# Device call 5 (nvidia-h200), the budget's last 150 s: the seed agreement of nested against
# fp32 for vit_h (seeds 0-3; call 3's whole vit_h half was cut at the call's limit). The check
# names vit_b missing (this run has only vit_h); its NOTE lines carry the vit_h numbers.
set -u
. "$(dirname "$0")/env.sh"
TAILN=30 step gpu0.txt agreement_nested_vit_h $(left 140) env AGREEMENT_FAMILIES=vit_h AGREEMENT_RUN_ARGS="--stages fp32,nested" \
    AGREEMENT_WORK=build/test-work/agreement_nested_vit_h bash tests/gpu/test_gpu_agreement.sh
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
