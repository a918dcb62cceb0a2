#!/usr/bin/env bash
# Device call 1 (nvidia-h200), session 18: the weights uploaded through a pinned ring
# (kernels/cuda/upload.cu: a crew of host threads stages 4 MiB chunks, the copy engine moves
# them, a kernel converts in place; no per-weight allocation or synchronisation). With the GPU
# to itself: the time to first mask and its parts (SAM_LOAD_REPORT=1: the ring's host times,
# the cuBLASLt plans' time), vit_h batch 32 with 1, 4 and 8 copy threads, then the harness run
# of session 17's call 5 (fused, sdpa, relpos, int8 at vit_h, batch 8 and 32). Then the tests
# that upload weights in every way (bf16, float32, int8's rows, 2:4's dense copy).
set -u
. "$(dirname "$0")/env.sh"
coco=build/data/synthetic-coco
nvidia-smi --query-gpu=persistence_mode,pcie.link.gen.current,pcie.link.width.current --format=csv >> "$OUT/gpu0.txt" 2>&1
rm -rf build/sdpa-plans build/results.db
TAILN=2 step gpu0.txt aot $(left 40) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
split() { grep -o '"first_mask_ms":[0-9.]*\|"first_mask_split_s":{[^}]*}' "$1" | tr '\n' ' '; grep -h '^sam: upload ring\|^sam: cuBLASLt' "$1" | tr '\n' ' '; echo; }
fm() {  # name threads stage model batch
    TAILN=0 step gpu0.txt $1 $(left 200) env SAM_LOAD_REPORT=1 SAM_UPLOAD_THREADS=$2 build/sam-$3 eval --checkpoint synthetic:$4 \
        --coco $coco --batch-size $5 --limit $5 --warmup 3
    echo "$1 ($3 $4 bs $5, $2 threads): $(split build/step-logs/$1.log)" >> "$OUT/gpu0.txt"
}
fm t1_sdpa 1 sdpa vit_h 32
fm t4_sdpa 4 sdpa vit_h 32
fm t8_sdpa 8 sdpa vit_h 32
fm t4_relpos 4 relpos vit_h 32
fm t8_relpos 8 relpos vit_h 32
fm t4_fused 4 fused vit_h 32
fm t4_int8 4 int8 vit_h 32
fm t4_sdpa8 4 sdpa vit_h 8
fm t4_relpos8 4 relpos vit_h 8
fm t4_relpos_b8 4 relpos vit_b 8
TAILN=12 step gpu0.txt waterfall $(left 400) build/waterfall run gpu --stages fused,sdpa,relpos,int8 --models vit_h \
    --batch-sizes 8,32 --max-passes 1 --db build/results.db
db_back build/results.db results-call1.db.xz
python3 - >> "$OUT/gpu0.txt" <<'PY'
import json, sqlite3
db = sqlite3.connect("build/results.db")
for st, m, bs, fm, img, s in db.execute("select stage, model, batch_size, first_mask_ms, img_s, summary_json from experiments order by seq"):
    split = json.loads(s).get("first_mask_split_s", {}) if s else {}
    print(st, m, bs, "img/s %.2f first mask %.3f s:" % (img or 0, (fm or 0) / 1000), " ".join("%s %.3f" % kv for kv in split.items()))
PY
TAILN=30 step gpu0.txt tests $(left 590) bash tests/run.sh gpu test_golden_gpu test_int8 test_ops test_sparse24 test_sdpa
cp -r build/test-logs "$STEPS_LOGS/test-logs" 2>/dev/null
steps_pack logs-call1.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
