#!/usr/bin/env bash
# Device call 2 (nvidia-h200, a machine started for the call), session 15: what `make run` does
# on a fresh GPU machine for issue 14's first mask. build/sdpa-aot builds the plans of
# variants/aot/sdpa-plans-h200.keys into build/sdpa-plans (timed; a second pass deserialises
# each entry), then the harness runs fused and sdpa (vit_b and vit_h, batch 8 and 32, two
# passes at most), every sdpa process loading its plans from build/sdpa-plans.
set -u
. "$(dirname "$0")/env.sh"
caches() { for d in "$HOME/.nv" build/sdpa-plans; do echo "  $d: $(du -sh "$d" 2>/dev/null | cut -f1)"; done; }
{ echo "caches before:"; caches; } >> "$OUT/gpu0.txt"
rm -rf build/sdpa-plans build/results.db
TAILN=20 step gpu0.txt aot $(left 120) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
TAILN=3 step gpu0.txt aot_again $(left 150) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
{ echo "caches after sdpa-aot:"; caches; } >> "$OUT/gpu0.txt"
TAILN=30 SAM_SDPA_REPORT=1 step gpu0.txt waterfall $(left 500) build/waterfall run gpu --stages fused,sdpa --max-passes 2 --db build/results.db
db_back build/results.db results-call2.db.xz
build/waterfall show --db build/results.db 2>&1 | tail -45 >> "$OUT/gpu0.txt"
{ echo "caches at the end:"; caches; } >> "$OUT/gpu0.txt"
steps_pack logs-call2.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
