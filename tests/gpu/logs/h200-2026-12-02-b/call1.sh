#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 15: issue 14's plan cache. The cache's test script (a
# machine's first sam-sdpa process builds, later ones load); test_golden_gpu and test_sdpa twice
# each (the first run builds and caches the fixtures' plans, the second loads them: the golden
# and error checks on deserialised plans); a harness run of fused and sdpa (both families,
# batch 8 and 32) starting from an empty build/sdpa-plans, then sdpa again with it full; the
# keys the runs asked for (variants/aot/sdpa-plans-h200.keys); a short vit_h eval with the
# driver's JIT cache disabled (does loading an entry compile anything?).
set -u
. "$(dirname "$0")/env.sh"
caches() { for d in "$HOME/.nv" build/sdpa-plans build/tests/gpu/sdpa-plans; do echo "  $d: $(du -sh "$d" 2>/dev/null | cut -f1)"; done; }
{ echo "caches before:"; caches; } >> "$OUT/gpu0.txt"
TAILN=30 step gpu0.txt cache_test $(left 150) bash tests/run.sh gpu test_gpu_sdpa_cache.sh
for i in 1 2; do
    TAILN=40 step gpu0.txt golden$i $(left 200) build/tests/gpu/test_golden_gpu
    grep -h 'built in\|from the plan cache' "$STEPS_LOGS/golden$i.log" | sed 's/^/    /' | head -20 >> "$OUT/gpu0.txt"
    TAILN=8 step gpu0.txt sdpa$i $(left 240) build/tests/gpu/test_sdpa
done
{ echo "caches after the tests:"; caches; } >> "$OUT/gpu0.txt"
rm -rf build/sdpa-plans build/results.db
TAILN=30 step gpu0.txt waterfall_cold $(left 470) build/waterfall run gpu --stages fused,sdpa --max-passes 2 --db build/results.db
sed -n 's/^key //p' build/sdpa-plans/*.plan | sort > "$OUT/sdpa-plans.keys"
{ echo "entries: $(ls build/sdpa-plans/*.plan | wc -l), $(du -sh build/sdpa-plans | cut -f1)"; ls -la build/sdpa-plans; } >> "$OUT/gpu0.txt"
TAILN=30 step gpu0.txt waterfall_warm $(left 560) build/waterfall run gpu --stages sdpa --max-passes 2 --db build/results.db
db_back build/results.db results-call1.db.xz
{ build/waterfall show 1 --db build/results.db; build/waterfall show 2 --db build/results.db; } 2>&1 | tail -80 >> "$OUT/gpu0.txt"
CUDA_CACHE_DISABLE=1 SAM_SDPA_REPORT=1 timeout 40 build/sam-sdpa eval --checkpoint synthetic:vit_h \
    --coco build/data/synthetic-coco --batch-size 8 --limit 64 --warmup 1 > "$STEPS_LOGS/nojit.log" 2>&1
echo "vit_h b8, CUDA_CACHE_DISABLE=1, plans from build/sdpa-plans: rc=$? $(grep -o '"first_mask_ms":[0-9.]*\|"load_s":[0-9.]*' "$STEPS_LOGS/nojit.log" | tr '\n' ' ') built=$(grep -c 'built in' "$STEPS_LOGS/nojit.log") loaded=$(grep -c 'from the plan cache' "$STEPS_LOGS/nojit.log")" >> "$OUT/gpu0.txt"
grep 'plan cache\|loaded in' "$STEPS_LOGS/nojit.log" | head -12 >> "$OUT/gpu0.txt"
{ echo "caches at the end:"; caches; } >> "$OUT/gpu0.txt"
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
