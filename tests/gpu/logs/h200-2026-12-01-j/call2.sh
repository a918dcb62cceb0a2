#!/usr/bin/env bash
# Device call 2 (nvidia-h200), session 11. The bundle: aec73f8 (main + sdpa's plans on threads +
# weights converted to bfloat16 on the device + the int8 epilogues' GELU from an erfc fit, with
# the GELU-warps variant). Steps: test_ops (the upload's bits among them); test_int8 (the fit
# against double precision, every variant's GELU rule) and its bench; short evals for the time to
# first mask of fused, sdpa, relpos and nested (vit_h and vit_b; the machine is fresh, so the
# first sdpa process compiles cuDNN's kernels).
set -u
. "$(dirname "$0")/env.sh"
TAILN=25 step gpu0.txt test_ops $(left 120) build/tests/gpu/test_ops
TAILN=40 step gpu0.txt test_int8 $(left 180) build/tests/gpu/test_int8
TAILN=45 step gpu0.txt int8_bench $(left 230) build/tests/gpu/test_int8 --bench-only
ev() {  # NAME STAGE FAMILY
    local log=$STEPS_LOGS/$1.log
    SAM_SDPA_REPORT=1 timeout 40 build/sam-$2 eval --checkpoint synthetic:$3 --coco build/data/synthetic-coco \
        --batch-size 8 --limit 16 --warmup 1 > "$log" 2>&1
    echo "=== $1 rc=$? (at $(steps_elapsed)s)" >> "$OUT/gpu0.txt"
    grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | tr '\n' ' ' >> "$OUT/gpu0.txt"
    echo >> "$OUT/gpu0.txt"
    grep -v '^{' "$log" | sed 's/, strides.*built in/ built in/' | cut -c1-160 | head -5 >> "$OUT/gpu0.txt"
}
for st in sdpa sdpa fused relpos nested int8; do ev ${st}_vit_h $st vit_h; done
for st in sdpa fused relpos; do ev ${st}_vit_b $st vit_b; done
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
