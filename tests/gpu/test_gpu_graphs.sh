#!/usr/bin/env bash
# The graphs choice (issue 12): sam-fused's eval replays the encoder and the decoder from
# captured graphs; `sam-fused eval --eager` launches the same kernels one by one. So the two
# masks files must be identical: every annotation's masks (RLE), predicted IoUs and top index.
# (Before the fusion choice split the element-wise work, issue 12's last pass, sam-bf16 ran
# fused's arithmetic and was the eager side; it now runs the official code's eager order and
# differs in rounding, so it only gives the launch count before fusion and graphs.) Run on the
# tiny fixture (windows padded at the grid's edge) and on synthetic vit_b, with a short last
# batch (another image count, another arena layout) and prompt counts that recur across
# batches (graph replay).
set -u
B=${BUILD:-build}
work=$B/test-work/gpu_graphs
rm -rf "$work" && mkdir -p "$work"
coco=$B/data/synthetic-coco
[ -f $coco/annotations/instances_val2017.json ] || $B/sam-data synth --out $coco >/dev/null
fail=0
run() {  # stage model label batch limit [--eager]; files named label-stage[-eager]
    local tag=$1${6:+-eager}
    $B/sam-$1 eval --checkpoint "$2" --coco $coco --batch-size $4 --limit $5 --warmup 1 ${6:-} \
        --masks-out "$work/$3-$tag.jsonl" >"$work/$3-$tag.out" 2>"$work/$3-$tag.err"
}
for spec in "tiny:$B/fixtures/sam-golden/tiny/model.pth:4:14" "vit_b:synthetic:vit_b:8:20"; do
    label=${spec%%:*}; rest=${spec#*:}
    limit=${rest##*:}; rest=${rest%:*}; batch=${rest##*:}; ckpt=${rest%:*}
    for st in bf16 fused fused-eager; do
        stage=${st%-eager}; opt=; [ "$st" = fused-eager ] && opt=--eager
        if ! run $stage "$ckpt" $label $batch $limit $opt; then
            echo "FAIL graphs $label: sam-$stage eval $opt failed: $(tail -1 $work/$label-$st.err)"; fail=1; continue 2
        fi
    done
    n=$(wc -l <"$work/$label-fused-eager.jsonl")
    if [ "$n" -gt 0 ] && cmp -s "$work/$label-fused-eager.jsonl" "$work/$label-fused.jsonl"; then
        echo "PASS graphs $label: $n annotations' masks, scores and picks identical between sam-fused (graphs) and sam-fused --eager"
    else
        d=$(diff "$work/$label-fused-eager.jsonl" "$work/$label-fused.jsonl" | grep -c '^<')
        echo "FAIL graphs $label: $d of $n masks-file lines differ between sam-fused (graphs) and sam-fused --eager"
        fail=1
    fi
    eager_captured=$(grep '"summary"' "$work/$label-fused-eager.out" | sed -n 's/.*"graphs_captured":\([0-9]*\).*/\1/p')
    if [ "$eager_captured" = 0 ]; then
        echo "PASS graphs $label: sam-fused --eager captured no graph"
    else
        echo "FAIL graphs $label: sam-fused --eager reports graphs_captured '$eager_captured'"; fail=1
    fi
    summary=$(grep '"summary"' "$work/$label-fused.out")
    captured=$(echo "$summary" | sed -n 's/.*"graphs_captured":\([0-9]*\).*/\1/p')
    if [ -n "$captured" ] && [ "$captured" -gt 1 ]; then
        echo "PASS graphs $label: sam-fused captured $captured graphs"
    else
        echo "FAIL graphs $label: sam-fused reports graphs_captured '$captured'"; fail=1
    fi
    for st in bf16 fused; do
        l=$(grep '"summary"' "$work/$label-$st.out" | sed -n 's/.*"launches_per_batch":\([0-9]*\).*"kernels_per_batch":\([0-9]*\).*/\1 launches, \2 kernels/p')
        echo "NOTE $label $st per timed batch: $l"
    done
done
exit $fail
