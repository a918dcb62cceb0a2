#!/usr/bin/env bash
# Device call 6 (nvidia-h200, a fresh machine), session 14: issue 14's time to first mask on a
# cold machine apart from a warm one. sam-sdpa short evals (64 images, batch 8) with the cuDNN
# plans' build times reported (SAM_SDPA_REPORT=1): vit_b twice, then vit_h twice, each a fresh
# process; the CUDA and cuDNN cache folders' sizes before and after.
set -u
. "$(dirname "$0")/env.sh"
caches() { for d in "$HOME/.nv" "$HOME/.cache" /tmp; do echo "  $d: $(du -sh "$d" 2>/dev/null | cut -f1)"; done; }
{ echo "caches before:"; caches; } >> "$OUT/gpu0.txt"
for f in vit_b vit_b vit_h vit_h; do
    n=$(ls "$OUT"/ev_$f-*.log 2>/dev/null | wc -l)
    log="$OUT/ev_$f-$n.log"
    SAM_SDPA_REPORT=1 timeout 60 build/sam-sdpa eval --checkpoint synthetic:$f --coco build/data/synthetic-coco \
        --batch-size 8 --limit 64 --warmup 1 > "$log" 2>&1
    echo "$f process $((n + 1)) rc=$? $(grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*\|"img_s":[0-9.]*' "$log" | sort -u | tr '\n' ' ') plans=$(grep -c 'built in' "$log") plan_ms_sum=$(grep -o 'built in [0-9.]*' "$log" | awk '{s+=$3} END {print s}') plan_ms_max=$(grep -o 'built in [0-9.]*' "$log" | awk '$3>m{m=$3} END {print m}')" >> "$OUT/gpu0.txt"
done
{ echo "caches after:"; caches; ls -la "$HOME/.nv" 2>/dev/null; } >> "$OUT/gpu0.txt"
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
