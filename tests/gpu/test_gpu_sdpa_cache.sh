#!/usr/bin/env bash
# The sdpa stage's plan cache (kernels/cuda/sdpa_plan_cache.cu) and build/sdpa-aot, on synthetic
# vit_b (16 images, batch 8: the encoder's windowed and global plans and the decoder's):
#   1. an empty cache: every plan is built and written as an entry;
#   2. the same eval again: every plan is loaded from its entry, none built, and the masks file
#      (every annotation's masks, scores and pick) is byte-identical to 1's;
#   3. one entry cut short after its header: the eval says so naming the file, builds that plan
#      alone, and the masks are again identical;
#   4. SAM_SDPA_PLAN_CACHE=off: every plan built, nothing read or written;
#   5. sdpa-aot over the keys of 1's entries into a new folder builds each, a second pass finds
#      each there (deserialises it), and an eval on that folder loads every plan: same masks.
set -u
B=${BUILD:-build}
work=$B/test-work/gpu_sdpa_cache
rm -rf "$work" && mkdir -p "$work"
coco=$B/data/synthetic-coco
[ -f $coco/annotations/instances_val2017.json ] || $B/sam-data synth --out $coco >/dev/null
fail=0
ev() {  # label cache
    SAM_SDPA_REPORT=1 SAM_SDPA_PLAN_CACHE=$2 $B/sam-sdpa eval --checkpoint synthetic:vit_b --coco $coco \
        --batch-size 8 --limit 16 --warmup 1 --masks-out "$work/$1.jsonl" >"$work/$1.out" 2>"$work/$1.err"
    local rc=$?
    built=$(grep -c 'built in' "$work/$1.err"); loaded=$(grep -c 'from the plan cache' "$work/$1.err")
    first=$(grep '"summary"' "$work/$1.out" | sed -n 's/.*"first_mask_ms":\([0-9.]*\).*/\1/p')
    echo "NOTE $1: $built plans built, $loaded loaded, first mask ${first:-?} ms"
    if [ $rc != 0 ]; then echo "FAIL sdpa cache $1: sam-sdpa eval exit $rc: $(tail -1 "$work/$1.err")"; fail=1; fi
    return $rc
}
same_masks() {  # label
    local n=$(wc -l <"$work/cold.jsonl")
    if [ "$n" -gt 0 ] && cmp -s "$work/cold.jsonl" "$work/$1.jsonl"; then
        echo "PASS sdpa cache $1: the $n annotations' masks, scores and picks identical to the built plans' run"
    else
        echo "FAIL sdpa cache $1: masks file differs from the built plans' run"; fail=1
    fi
}
ev cold "$work/c1" || exit 1
n=$built
entries=$(ls "$work/c1"/*.plan 2>/dev/null | wc -l)
if [ "$n" -gt 0 ] && [ "$loaded" = 0 ] && [ "$entries" = "$n" ]; then
    echo "PASS sdpa cache cold: $n plans built, $entries entries written"
else
    echo "FAIL sdpa cache cold: $n built, $loaded loaded, $entries entries"; fail=1
fi
if ev warm "$work/c1"; then
    if [ "$built" = 0 ] && [ "$loaded" = "$n" ]; then echo "PASS sdpa cache warm: all $n plans loaded from their entries"
    else echo "FAIL sdpa cache warm: $built built, $loaded loaded of $n"; fail=1; fi
    same_masks warm
fi
victim=$(ls "$work/c1"/*.plan | head -1)
head -n 5 "$victim" >"$work/victim" && head -c 100 <(tail -n +6 "$victim") >>"$work/victim" && mv "$work/victim" "$victim"
if ev cut "$work/c1"; then
    if [ "$built" = 1 ] && [ "$loaded" = $((n - 1)) ] && grep -q "plan cache $victim: cuDNN refuses the entry" "$work/cut.err"; then
        echo "PASS sdpa cache cut: the cut entry named and refused ($(grep -o 'refuses the entry ([^:]*' "$work/cut.err" | head -1)), that plan built, $((n - 1)) loaded"
    else
        echo "FAIL sdpa cache cut: $built built, $loaded loaded; stderr: $(grep 'plan cache' "$work/cut.err" | head -2)"; fail=1
    fi
    same_masks cut
fi
if ev off off; then
    if [ "$built" = "$n" ] && [ "$loaded" = 0 ]; then echo "PASS sdpa cache off: all $n plans built"
    else echo "FAIL sdpa cache off: $built built, $loaded loaded of $n"; fail=1; fi
    same_masks off
fi
sed -n 's/^key //p' "$work/c1"/*.plan >"$work/keys"
if $B/sdpa-aot --keys "$work/keys" --out "$work/c2" >"$work/aot1.out" 2>&1 &&
   grep -q "^sdpa-aot: $n plans: $n built, 0 already" "$work/aot1.out"; then
    echo "PASS sdpa-aot: $n plans built into an empty folder ($(tail -1 "$work/aot1.out"))"
else
    echo "FAIL sdpa-aot first pass: $(tail -3 "$work/aot1.out")"; fail=1
fi
if $B/sdpa-aot --keys "$work/keys" --out "$work/c2" >"$work/aot2.out" 2>&1 &&
   grep -q "^sdpa-aot: $n plans: 0 built, $n already" "$work/aot2.out"; then
    echo "PASS sdpa-aot: a second pass deserialises all $n entries"
else
    echo "FAIL sdpa-aot second pass: $(tail -3 "$work/aot2.out")"; fail=1
fi
if ev aot "$work/c2"; then
    if [ "$built" = 0 ] && [ "$loaded" = "$n" ]; then echo "PASS sdpa cache aot: all $n plans loaded from sdpa-aot's entries"
    else echo "FAIL sdpa cache aot: $built built, $loaded loaded of $n"; fail=1; fi
    same_masks aot
fi
exit $fail
