#!/usr/bin/env bash
# Device call 5 (nvidia-h200), session 17: the time to first mask inside a harness run on the
# final build (the loader opened while the model builds): fused, sdpa, relpos and int8, vit_h,
# batch 8 and 32, one pass, sdpa's plans from build/sdpa-aot (as make run does). No fp32
# reference in this run (device time): its accuracy gate does not judge.
set -u
. "$(dirname "$0")/env.sh"
rm -rf build/sdpa-plans build/results.db
TAILN=2 step gpu0.txt aot $(left 40) build/sdpa-aot --keys variants/aot/sdpa-plans-h200.keys --out build/sdpa-plans
TAILN=12 step gpu0.txt waterfall $(left 230) build/waterfall run gpu --stages fused,sdpa,relpos,int8 --models vit_h \
    --batch-sizes 8,32 --max-passes 1 --db build/results.db
db_back build/results.db results-call5.db.xz
python3 - >> "$OUT/gpu0.txt" <<'PY'
import json, sqlite3
db = sqlite3.connect("build/results.db")
for st, m, bs, fm, s in db.execute("select stage, model, batch_size, first_mask_ms, summary_json from experiments order by seq"):
    split = json.loads(s).get("first_mask_split_s", {}) if s else {}
    print(st, m, bs, "first mask %.3f s:" % (fm / 1000), " ".join("%s %.3f" % kv for kv in split.items()))
PY
steps_pack logs-call5.tar.xz
echo "done at $(steps_elapsed)s" >> "$OUT/gpu0.txt"
