#!/usr/bin/env bash
# End to end: the real cpu stage (sam-cpu eval) on the tiny fixture checkpoint and a small
# synthetic subset through waterfall run; checks the stored rows against the dataset, the
# checkpoint and the protocol (stage_info, every multimask output, timed passes); a corrupt
# image is skipped and counted, the run goes on.
. tests/harness/lib.sh
CKPT=$B/fixtures/sam-golden/tiny/model.pth
for f in "$B/sam-cpu" "$B/sam-data" "$CKPT"; do
    [ -e "$f" ] || { fail "setup: $f is missing (make $B/sam-cpu $B/sam-data fixtures)"; exit 1; }
done
"$B/sam-data" synth --out "$TMP/syn" --images 12 >/dev/null || { fail "setup: sam-data synth"; exit 1; }
DB=$TMP/r.db

# ---- the stage alone speaks the protocol ----
"$B/sam-cpu" eval --checkpoint "$CKPT" --coco "$TMP/syn" --batch-size 2 --limit 4 --warmup 1 \
    --masks-out "$TMP/m.jsonl" >"$TMP/proto" 2>"$TMP/proto_err"
expect "sam-cpu eval exits 0" [ $? -eq 0 ]
python3 - "$TMP/proto" "$TMP/m.jsonl" <<'PY' >"$TMP/py" 2>&1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
masks = [json.loads(l) for l in open(sys.argv[2])]
# Each masks-file line: the three predicted IoUs, the index picked (the first of the highest,
# as torch.argmax) and its score.
print("choice", len(masks) > 0 and all(
    len(m["scores"]) == 3 and m["top"] == m["scores"].index(max(m["scores"])) and m["score"] == m["scores"][m["top"]]
    for m in masks))
# Every multimask output (index order) beside the top one, which is the one at "top".
print("masks", len(masks) > 0 and all(len(m["masks"]) == 3 and m["masks"][m["top"]] == m["counts"] for m in masks))
types = [l["type"] for l in lines]
si = lines[0]["stage_info"]
print("stage_info", si["name"] == "cpu" and si["after"] is None and isinstance(si["adds"], str) and
      si["choices"]["precision"] == "fp32" and all(isinstance(v, str) for v in si["choices"].values()))
print("types", " ".join(t for t in types if t != "skip"))
s = [l for l in lines if l["type"] == "summary"][0]
b = [l for l in lines if l["type"] == "batch"]
print("consistent", s["batches_timed"] == len(b) and s["images_timed"] == sum(x["images"] for x in b)
      and s["passes"] == 1 and all(x["pass"] == 0 for x in b)
      and abs(s["img_s"] - s["images_timed"] / s["total_ms"] * 1000) < 1e-6 * s["img_s"])
print("device", lines[0]["device"].get("kind"))
# Phase split of each batch and its medians in the summary: three non-negative phases whose
# device times (the cpu backend's marks) sum to the batch's timed region, less the few
# allocations outside the marks, and host times that agree with them (a synchronous backend).
def phases_ok(d, ms):
    p, h = d["phase_ms"], d["host_ms"]
    keys = {"encoder", "decoder", "post"}
    if set(p) != keys or set(h) != keys or min(p.values()) < 0 or min(h.values()) < 0:
        return False
    sp, sh = sum(p.values()), sum(h.values())
    return 0.9 * ms <= sp <= ms * 1.0001 and abs(sh - sp) <= 0.05 * sp + 0.5
print("phases", all(phases_ok(x, x["ms"]) for x in b) and
      set(s["phase_ms"]) == set(s["host_ms"]) == {"encoder", "decoder", "post"})
PY
expect "protocol lines: hello, batches, summary, status" grep -q "^types hello batch batch summary status$" "$TMP/py"
expect "protocol summary consistent with its batch lines" grep -q "^consistent True" "$TMP/py"
expect "hello carries the stage's describe" grep -q "^device cpu" "$TMP/py"
expect "batch lines and summary carry phase_ms and host_ms that add up" grep -q "^phases True" "$TMP/py"
expect "masks file: scores of every mask, the top index and its score" grep -q "^choice True" "$TMP/py"
expect "masks file: every multimask output, the top one among them" grep -q "^masks True" "$TMP/py"
expect "hello: stage_info (cpu after nothing, precision fp32, string choices)" grep -q "^stage_info True" "$TMP/py"
expect "sam-cpu eval --help" grep -q "^usage: sam-cpu eval" <<<"$("$B/sam-cpu" eval --help)"
# The commit the executable was built from (common/build_info.h): the checkout's HEAD when the
# tree is clean (as CI builds it), a commit of this repository in any case.
build=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["stage_info"].get("build", ""))' "$TMP/proto")
head=$(git rev-parse --short=12 HEAD 2>/dev/null)
if [ -n "$head" ] && [ -z "$(git status --porcelain 2>/dev/null)" ]; then
    expect "hello: stage_info build is the clean checkout's HEAD ($head)" eq "$build" "$head"
elif [ -n "$head" ]; then
    expect "hello: stage_info build names a commit of this repository ($build)" git cat-file -e "${build%+dirty}^{commit}"
else
    expect "hello: stage_info build outside a checkout is unknown" eq "$build" "unknown"
fi

# ---- through the harness ----
$WF run --db "$DB" --coco "$TMP/syn" --models "tiny=$CKPT" --batch-sizes 1,3 --limit 10 --max-passes 3 >"$TMP/out" 2>"$TMP/err"
expect "waterfall run exits 0" [ $? -eq 0 ]
expect "both experiments ok" eq "$(q "$DB" "select group_concat(status || ' ' || coalesce(reason, ''), ';') from experiments")" "ok ;ok "
expect "summary table printed" grep -q "^cpu .*tiny .* 1 ok .*ok: reference" "$TMP/out"
expect "show: the commit the stages were built from" grep -qxF "  stages built from $build" <<<"$($WF show --db "$DB")"
python3 - "$DB" "$TMP/syn/annotations/instances_val2017.json" "$CKPT" <<'PY' >"$TMP/rows" 2>&1
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
coco = json.load(open(sys.argv[2]))
ckpt_sha = hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest()
def check(what, ok):
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else ": mismatch"))
run = db.execute("select git_commit, git_dirty, host, device_json, dataset_hash, reference_stage, "
                 "status, ended_at, argv, config_key from runs").fetchone()
check("run: git commit recorded", run[0] is None or len(run[0]) == 40)
check("run: host, device and dataset hash recorded", run[2] != "" and '"kind":"cpu"' in run[3] and len(run[4]) == 64)
check("run: reference stage cpu, complete, ended", run[5] == "cpu" and run[6] == "complete" and run[7])
check("run: argv and configuration key", run[8].startswith("waterfall run") and len(run[9]) == 64)
# The seed's selection: images with annotations, file order, the first 10.
by_img = {}
for a in coco["annotations"]:
    by_img.setdefault(a["image_id"], []).append(a)
sel = [im for im in coco["images"] if im["id"] in by_img][:10]
sizes = {im["id"]: (im["height"], im["width"]) for im in sel}
n_anns = sum(len(by_img[im["id"]]) for im in sel)
ann_ids = sorted(a["id"] for im in sel for a in by_img[im["id"]])

def rle_total(s):  # pycocotools rleFrString, returning the sum of counts
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, 1
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << 5 * k
            more = c & 0x20
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << 5 * k
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return sum(cnts), sum(cnts[1::2])

def noise(v):
    if len(v) < 2:
        return 0.0
    m = sum(v) / len(v)
    return (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 / m
for eid, bs, it, bt, tot, imgs, miou, anns, ck, agree, gate, peak, fm, passes, si, same, summ in db.execute(
        "select id, batch_size, images_timed, batches_timed, total_ms, img_s, miou, annotations, "
        "checkpoint_hash, agreement, gate, peak_bytes, first_mask_ms, passes, stage_info, "
        "same_index_agreement, summary_json from experiments order by batch_size"):
    w = f"bs {bs}: "
    per = 10 // bs
    check(w + f"only full batches timed, {passes} passes over the subset", it == passes * per * bs and bt == passes * per)
    samples = db.execute("select count(*), sum(ms), sum(images) from samples where experiment_id = ?", (eid,)).fetchone()
    check(w + "samples stored per batch", samples[0] == bt and abs(samples[1] - tot) < 1e-6 * tot and samples[2] == it)
    # The pass rule (min 10 batches, noise 0.02, at most 3 passes here): each pass but the last
    # was needed, and the last stopped for a reason.
    ms = [r[0] for r in db.execute("select ms from samples where experiment_id = ? order by batch_index", (eid,))]
    enough = lambda n: n >= 10 and (noise(ms[:n]) <= 0.02 or n >= 40)
    check(w + "passes follow the rule", [r[0] for r in db.execute("select pass from samples where experiment_id = ? "
          "order by batch_index", (eid,))] == [k // per for k in range(bt)] and
          all(not enough(k * per) for k in range(1, passes)) and (passes == 3 or enough(passes * per)))
    check(w + "stage_info stored, same-index agreement of the reference 1", '"name":"cpu"' in si and same == 1.0)
    check(w + "img/s = images / total ms * 1000", abs(imgs - it / tot * 1000) < 1e-6 * imgs)
    check(w + "checkpoint identity is its SHA-256", ck == ckpt_sha)
    rows = db.execute("select ann_id, image_id, iou, height, width, rle, agreement from annotations "
                      "where experiment_id = ? order by ann_id", (eid,)).fetchall()
    check(w + f"one row per annotation of the selected images ({len(rows)} of {n_anns})",
          len(rows) == n_anns == anns and [r[0] for r in rows] == ann_ids)
    check(w + "mask sizes are the images' sizes", all((r[3], r[4]) == sizes[r[1]] for r in rows))
    check(w + "RLEs cover their images", all(rle_total(r[5])[0] == r[3] * r[4] for r in rows))
    check(w + "IoUs in [0, 1] and mIoU is their mean",
          all(0 <= r[2] <= 1 for r in rows) and abs(sum(r[2] for r in rows) / len(rows) - miou) < 1e-9)
    check(w + "reference agreement 1 and gate ok", agree == 1.0 and gate == "ok")
    check(w + "peak memory and time to first mask recorded", peak > 0 and fm > 0)
    # The wait's parts (harness/PROTOCOL.md first_mask_split_s) end one after another with the
    # device idle: all there, none negative, together within the wait and nearly all of it.
    split = json.loads(summ).get("first_mask_split_s", {})
    parts = ["before_main", "backend", "weights", "build", "dataset", "first_io", "first_plan",
             "first_capture", "first_run"]
    total = sum(split.get(k, -1) for k in parts)
    check(w + f"time to first mask split into its parts ({total * 1000:.0f} of {fm:.0f} ms)",
          sorted(split) == sorted(parts) and all(split[k] >= 0 for k in parts) and
          0.9 * fm <= total * 1000 <= fm)
PY
rc=$?
cat "$TMP/rows"
ran=0
[ $rc -eq 0 ] && [ "$(grep -c '^PASS\|^FAIL' "$TMP/rows")" -eq 30 ] && ran=1
expect "stored-row checks ran to the end" [ $ran -eq 1 ]

# ---- a corrupt image is skipped, counted, and the run goes on ----
cp -r "$TMP/syn" "$TMP/bad"
first=$(ls "$TMP/bad/val2017" | head -1)
head -c 300 "$TMP/syn/val2017/$first" >"$TMP/bad/val2017/$first"
$WF run --db "$DB" --coco "$TMP/bad" --models "tiny=$CKPT" --batch-sizes 2 --limit 6 --max-passes 1 >/dev/null 2>&1
# 6 selected, 1 skipped: 5 images, two full batches timed and one partial.
expect "corrupt image: experiment ok with one image skipped" eq \
    "$(q "$DB" "select status || ' ' || images_skipped || ' ' || images_timed from experiments where run_id = 2")" "ok 1 4"
