#!/usr/bin/env bash
# Device call 3 (nvidia-h200), session 19: the whole waterfall on the final device code
# (session 18 call 1's device code, the float32 upload straight into the weight),
# with the GPU to itself: build/sdpa-aot, then one harness run of experiments/gpu.json's every GPU
# stage (vit_b and vit_h, batch 8 and 32, two passes at most), as make run does. Then each
# experiment's time to first mask and its parts.
set -u
. "$(dirname "$0")/env.sh"
rm -rf build/sdpa-plans build/results.db
TAILN=5 step gpu0.txt aot $(left 60) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
TAILN=45 step gpu0.txt waterfall $(left 585) build/waterfall run gpu --max-passes 2 --db build/results.db
db_back build/results.db results-call3.db.xz
python3 - >> "$OUT/gpu0.txt" <<'PY'
import json, sqlite3
db = sqlite3.connect("build/results.db")
for st, m, bs, fm, img, s in db.execute("select stage, model, batch_size, first_mask_ms, img_s, summary_json from experiments order by seq"):
    split = json.loads(s).get("first_mask_split_s", {}) if s else {}
    print(st, m, bs, "img/s %.2f first mask %.3f s:" % (img or 0, (fm or 0) / 1000), " ".join("%s %.3f" % kv for kv in split.items()))
PY
steps_pack logs-call3.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
