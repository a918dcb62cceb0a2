#!/usr/bin/env bash
# The agreement bound of design.md section 4 (issue 12), through the harness as `make run`
# measures it, in ONE run: every built GPU stage, synthetic weight seeds 0-3 of vit_b and vit_h
# (8 model specs), batch 8, the default synthetic subset (128 images), one timed pass (only
# accuracy is judged here). For every built stage whose precision choice is bf16 with dense
# linears (its stored stage_info: bf16, fused, sdpa, relpos, nested), per model:
#   - the mean over seeds 0-3 of its top-mask agreement with fp32 is at least 0.98;
#   - no seed is under 0.96.
# A stage whose linears are int8 (the int8 stage): the mean at least 0.97. Sparse linears
# (against dense fp32: pruning changes the model) and other precisions are reported, not
# bounded. Reported beside them (NOTE lines): each seed's agreement, the same-index agreement
# (each of the three masks against fp32's mask of the same index, averaged: precision without
# the argmax lottery), and how many annotations picked another mask than fp32 (IoU under 0.5)
# and how well the rest agree.
#   AGREEMENT_DB=FILE[:FILE] check the latest complete run of each FILE instead of running (no
#                            GPU needed); the runs' experiments are taken together (two GPUs can
#                            each run one model family: AGREEMENT_FAMILIES)
#   AGREEMENT_FAMILIES="..." the model families the run makes (default "vit_b vit_h"); the check
#                            still wants both, from this run or from the others in AGREEMENT_DB
#   AGREEMENT_RUN_ARGS="..." more options for the harness run (tests/harness/ runs this script
#                            with fake stages: --stage-dir DIR --coco DIR --limit N)
#   AGREEMENT_WORK=DIR       where the database and log go (default $BUILD/test-work/gpu_agreement)
set -u
B=${BUILD:-build}
PY=${PYTHON:-python3}
work=${AGREEMENT_WORK:-$B/test-work/gpu_agreement}
db=${AGREEMENT_DB:-}
if [ -z "$db" ]; then
    rm -rf "$work" && mkdir -p "$work"
    db=$work/agreement.db
    models=""
    for m in ${AGREEMENT_FAMILIES:-vit_b vit_h}; do
        for s in 0 1 2 3; do models="$models${models:+,}${m}_s$s=synthetic:$m:$s"; done
    done
    # shellcheck disable=SC2086  # AGREEMENT_RUN_ARGS is a list of options
    if ! $B/waterfall run gpu --stages gpu --models "$models" --batch-sizes 8 --warmup 1 --max-passes 1 \
            --db "$db" ${AGREEMENT_RUN_ARGS:-} >"$work/run.log" 2>&1; then
        echo "FAIL waterfall run (log $work/run.log): $(tail -3 "$work/run.log")"
        exit 1
    fi
fi
$PY - "$db" <<'PY'
import re, sqlite3, sys
MEAN_MIN, SEED_MIN, SEEDS = 0.98, 0.96, (0, 1, 2, 3)
rows, conns = {}, []
for path in sys.argv[1].split(":"):
    c = sqlite3.connect(path)
    conns.append(c)
    run = c.execute("SELECT max(id) FROM runs WHERE status = 'complete' AND published = 0").fetchone()[0]
    if run is None:
        print("FAIL no complete run in " + path)
        sys.exit(1)
    print(f"NOTE checking run {run} of {path}")
    for stage, spec, status, agree, same, prec, eid, reason, linear in c.execute(
            "SELECT stage, checkpoint, status, agreement, same_index_agreement,"
            " json_extract(stage_info, '$.choices.precision'), id, reason,"
            " coalesce(json_extract(stage_info, '$.choices.linear'), 'dense') FROM experiments"
            " WHERE run_id = ? AND batch_size = 8", (run,)):
        m = re.fullmatch(r"synthetic:(vit_[bh]):(\d+)", spec or "")
        if m:
            rows[(stage, m.group(1), int(m.group(2)))] = (status, agree, same, prec, eid, reason, linear, c)
stages = sorted({k[0] for k in rows})
# The bound of each stage (design.md section 4): (mean at least, every seed at least) or None.
def bound(stage):
    kinds = {(rows[k][3], rows[k][6]) for k in rows if k[0] == stage}
    if ("bf16", "dense") in kinds:
        return (MEAN_MIN, SEED_MIN)
    if any(lin == "int8" for _, lin in kinds):
        return (0.97, None)
    return None
ok = True
for family in ("vit_b", "vit_h"):
    for seed in SEEDS:
        r = rows.get(("fp32", family, seed))
        if not r or r[0] != "ok":
            print(f"FAIL fp32 {family} seed {seed}: the reference experiment is {r[0] + ': ' + (r[5] or '') if r else 'missing'}")
            ok = False
bf16 = [s for s in stages if bound(s) == (MEAN_MIN, SEED_MIN)]
if not bf16:
    print("FAIL no built stage of bf16 precision in the run (stages: " + " ".join(stages) + ")")
    ok = False
for stage in stages:
    # A stage whose every experiment failed before saying what it is (no stage_info, so no
    # precision) would escape every bound: that is a failure, not a stage without one.
    if all(rows[k][3] is None for k in rows if k[0] == stage):
        print(f"FAIL {stage}: no experiment said what the stage is (each failed before its hello): "
              + "; ".join(f"{k[1]} seed {k[2]}: {rows[k][0]}" + (": " + rows[k][5] if rows[k][5] else "")
                          for k in sorted(rows) if k[0] == stage)[:600])
        ok = False
        continue
    b = bound(stage)
    bounded = b is not None
    for family in ("vit_b", "vit_h"):
        vals, same, missing = [], [], []
        for seed in SEEDS:
            r = rows.get((stage, family, seed))
            if not r or r[0] != "ok" or r[1] is None:
                missing.append(f"seed {seed} " + (r[0] + (": " + r[5] if r[5] else "") if r else "missing"))
                continue
            vals.append((r[1], seed))
            if r[2] is not None:
                same.append(r[2])
        if missing:
            if bounded:
                print(f"FAIL {stage} {family}: no agreement for " + "; ".join(missing))
                ok = False
            continue
        mean = sum(v for v, _ in vals) / len(vals)
        low, low_seed = min(vals)
        per_seed = " ".join(f"s{s} {v:.4f}" for v, s in sorted(vals, key=lambda x: x[1]))
        same_txt = f"{sum(same) / len(same):.4f}" if len(same) == len(vals) else "not reported"
        if bounded:
            good = mean >= b[0]
            print(("PASS " if good else "FAIL ") + f"{stage} {family} mean top-mask agreement with fp32 over seeds "
                  f"0-3 {mean:.4f} (at least {b[0]})")
            ok &= good
            if b[1] is not None:
                good = low >= b[1]
                print(("PASS " if good else "FAIL ") + f"{stage} {family} no seed under {b[1]} (lowest {low:.4f}, "
                      f"seed {low_seed})")
                ok &= good
        r0 = rows[(stage, family, SEEDS[0])]
        kind = r0[3] + ("" if r0[6] == "dense" else ", " + r0[6] + " linears")
        print(f"NOTE {stage} {family} ({kind}): top-mask {per_seed}; mean {mean:.4f}; "
              f"same-index mean {same_txt}{'' if bounded else ' (reported, not bounded)'}")
        if bounded:
            c = rows[(stage, family, SEEDS[0])][7]  # the database of the family's run
            flips = c.execute(
                "SELECT SUM(a.agreement < 0.5), SUM(a.agreement >= 0.5), AVG(CASE WHEN a.agreement >= 0.5 "
                "THEN a.agreement END) FROM annotations a WHERE a.experiment_id IN (%s)" %
                ",".join(str(rows[(stage, family, s)][4]) for s in SEEDS)).fetchone()
            print(f"NOTE {stage} {family}: {flips[0]} annotations over the 4 seeds picked another mask than fp32 "
                  f"(IoU < 0.5); the other {flips[1]} agree {flips[2]:.4f}")
sys.exit(0 if ok else 1)
PY
