#!/usr/bin/env bash
# The nested stage (issue 16): build/sam-nested is relpos with ragged decoding, so its masks must
# agree with build/sam-relpos's (per-image decoding, same encoder) within the bf16 bounds: mean
# top-mask IoU over every annotation at least 0.98 (design.md section 4's bound for a stage of
# bf16 precision; the two differ only where cuBLAS rounds GEMMs of other row counts otherwise).
# Run on the tiny fixture (batches of 4, a short last one) and on synthetic vit_b over the default
# subset at batch 8 and 32. NOTE lines give both stages' per-batch phase times (decoder = prompt
# encoding and decoding of the whole batch, post = post-processing and statistics), img/s, peak
# memory and launches: the issue's target is decoder + post <= 2.0 ms per batch for vit_b at
# batch 8, growing no faster than the prompt count at batch 32.
set -u
B=${BUILD:-build}
work=$B/test-work/gpu_nested
rm -rf "$work" && mkdir -p "$work"
coco=$B/data/synthetic-coco
[ -f $coco/annotations/instances_val2017.json ] || $B/sam-data synth --out $coco >/dev/null
fail=0
for spec in "tiny:$B/fixtures/sam-golden/tiny/model.pth:4:14" "vit_b:synthetic:vit_b:8:0" "vit_b:synthetic:vit_b:32:0"; do
    label=${spec%%:*}; rest=${spec#*:}
    limit=${rest##*:}; rest=${rest%:*}; batch=${rest##*:}; ckpt=${rest%:*}
    tag=$label-b$batch
    for st in relpos nested; do
        if ! $B/sam-$st eval --checkpoint "$ckpt" --coco $coco --batch-size $batch --limit $limit \
                --warmup 2 --masks-out "$work/$tag-$st.jsonl" >"$work/$tag-$st.out" 2>"$work/$tag-$st.err"; then
            echo "FAIL nested $tag: sam-$st eval failed: $(tail -1 "$work/$tag-$st.err")"; fail=1; continue 2
        fi
    done
    # The accuracy gate's agreement of the two masks files (waterfall agree; in C: the Python
    # decoder this test had took minutes on the full subset).
    if out=$($B/waterfall agree "$work/$tag-relpos.jsonl" "$work/$tag-nested.jsonl" --min 0.98 2>&1); then
        echo "PASS nested $tag: against sam-relpos's masks: $out"
    else
        echo "FAIL nested $tag: against sam-relpos's masks: $out"; fail=1
    fi
    for st in relpos nested; do
        s=$(grep '"summary"' "$work/$tag-$st.out")
        f() { echo "$s" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }
        ph=$(echo "$s" | sed -n 's/.*"phase_ms":{\([^}]*\)}.*/\1/p')
        echo "NOTE $tag $st: img/s $(f img_s), batch median $(f batch_ms_median) ms, phase_ms {$ph}, peak $(( $(f peak_bytes) / 1048576 )) MiB, launches $(f launches_per_batch), graphs $(f graphs_captured)"
    done
done
exit $fail
