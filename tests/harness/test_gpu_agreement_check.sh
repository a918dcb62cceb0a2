#!/usr/bin/env bash
# tests/gpu/test_gpu_agreement.sh without a GPU: the same script, its harness run made with
# fake stages (fp32, bf16, fused, int8, sparse; eight synthetic model specs, seeds 0-3 of vit_b
# and vit_h), so its parsing and its bounds (mean over seeds 0-3 at least 0.98, no seed under
# 0.96, for every stage of bf16 precision with dense linears; int8 linears: a mean of 0.97;
# sparse linears reported only) are checked against known agreements:
#   all faithful                         -> every bound passes, exit 0
#   fused shifted on every 2nd annotation of seed 3 (agreement 1 - 0.5 * 24/180 = 0.9333)
#                                        -> fused's mean 0.9833 passes, its seed 3 fails
#   bf16 shifted everywhere (156/180)    -> bf16's mean and lowest seed 0.8667 fail
. tests/harness/lib.sh
make_fakes fp32 bf16 fused int8 sparse nostageinfo
make_fake_coco
SCRIPT=tests/gpu/test_gpu_agreement.sh
bash -n "$SCRIPT"
expect "the GPU script parses" [ $? -eq 0 ]
export AGREEMENT_RUN_ARGS="--stage-dir $FAKES --coco $COCO --limit 12"

AGREEMENT_WORK=$TMP/w1 bash "$SCRIPT" >"$TMP/o1" 2>&1
rc=$?
expect "faithful stages: exit 0" [ $rc -eq 0 ]
expect "one harness run of 5 stages x 8 model specs at batch 8" eq \
    "$(q "$TMP/w1/agreement.db" "select count(*), count(distinct checkpoint), min(batch_size), max(batch_size) from experiments where status = 'ok'")" "40|8|8|8"
expect "faithful stages: 10 bounds checked, all pass" eq "$(grep -c '^PASS' "$TMP/o1") $(grep -c '^FAIL' "$TMP/o1")" "10 0"
expect "int8 linears: the mean bound of 0.97 only" eq "$(grep -c '^PASS int8 vit_[bh] mean top-mask agreement with fp32 over seeds 0-3 1.0000 (at least 0.97)$' "$TMP/o1") $(grep -c '^PASS int8 vit_[bh] no seed' "$TMP/o1")" "2 0"
expect "sparse linears: reported, not bounded" eq "$(grep -c '^PASS sparse\|^FAIL sparse' "$TMP/o1") $(grep -c '^NOTE sparse vit_[bh] (bf16, sparse24 linears): .*(reported, not bounded)$' "$TMP/o1")" "0 2"
expect "faithful stages: the bf16 and fused bounds, per model" eq \
    "$(grep -cE '^PASS (bf16|fused) vit_[bh] mean top-mask agreement with fp32 over seeds 0-3 1\.0000 \(at least 0\.98\)$' "$TMP/o1")" 4
expect "fp32 reported, not bounded" eq "$(grep -c '^PASS fp32\|^FAIL fp32' "$TMP/o1") $(grep -c '^NOTE fp32 vit_[bh] (fp32)' "$TMP/o1")" "0 2"
expect "same-index agreement reported" grep -q "^NOTE fused vit_h (bf16): top-mask s0 1.0000 s1 1.0000 s2 1.0000 s3 1.0000; mean 1.0000; same-index mean 1.0000" "$TMP/o1"

FAKE_SHIFT_STAGE=fused FAKE_SHIFT_SEED=3 FAKE_SHIFT_EVERY=2 AGREEMENT_WORK=$TMP/w2 bash "$SCRIPT" >"$TMP/o2" 2>&1
rc=$?
expect "one seed under 0.96: exit 1" [ $rc -eq 1 ]
expect "one seed under 0.96: fused's mean passes (0.9833)" grep -qE "^PASS fused vit_b mean top-mask agreement with fp32 over seeds 0-3 0\.9833 " "$TMP/o2"
expect "one seed under 0.96: its seed 3 fails (0.9333)" grep -q "^FAIL fused vit_b no seed under 0.96 (lowest 0.9333, seed 3)" "$TMP/o2"
expect "one seed under 0.96: vit_h too, bf16 untouched" eq \
    "$(grep -c '^FAIL' "$TMP/o2") $(grep -c '^FAIL fused vit_h no seed under 0.96 (lowest 0.9333, seed 3)' "$TMP/o2") $(grep -c '^PASS bf16' "$TMP/o2")" "2 1 4"
expect "the flips: 18 annotations shifted by a pixel still count as the same pick" \
    grep -q "^NOTE fused vit_b: 0 annotations over the 4 seeds picked another mask than fp32 (IoU < 0.5); the other 144 agree 0.9833" "$TMP/o2"

FAKE_SHIFT_STAGE=bf16 AGREEMENT_WORK=$TMP/w3 bash "$SCRIPT" >"$TMP/o3" 2>&1
rc=$?
expect "a defective bf16 stage: exit 1" [ $rc -eq 1 ]
expect "a defective bf16 stage: its mean fails on both models" eq \
    "$(grep -cE '^FAIL bf16 vit_[bh] mean top-mask agreement with fp32 over seeds 0-3 0\.8667 ' "$TMP/o3")" 2
expect "a defective bf16 stage: its lowest seed fails on both models" eq \
    "$(grep -cE '^FAIL bf16 vit_[bh] no seed under 0\.96 \(lowest 0\.8667' "$TMP/o3")" 2

# The checker alone on a stored database (AGREEMENT_DB), and on one without a bf16 stage.
AGREEMENT_DB=$TMP/w1/agreement.db bash "$SCRIPT" >"$TMP/o4" 2>&1
expect "AGREEMENT_DB: the stored run checked again, same verdicts" eq "$(grep '^PASS\|^FAIL' "$TMP/o4")" "$(grep '^PASS\|^FAIL' "$TMP/o1")"
sqlite3 "$TMP/w1/agreement.db" "update experiments set stage_info = json_set(stage_info, '$.choices.precision', 'fp32')"
AGREEMENT_DB=$TMP/w1/agreement.db bash "$SCRIPT" >"$TMP/o5" 2>&1
expect "no stage of bf16 precision: a failure, not a silent pass" grep -q "^FAIL no built stage of bf16 precision" "$TMP/o5"

# Split over two GPUs: one run per model family, checked together (AGREEMENT_DB=A:B), the
# same verdicts as the one run; one family alone is missing the other's reference.
AGREEMENT_FAMILIES=vit_b AGREEMENT_WORK=$TMP/wb bash "$SCRIPT" >"$TMP/o6" 2>&1
expect "one family alone: exit 1, the other family's fp32 named missing" grep -q "^FAIL fp32 vit_h seed 0: the reference experiment is missing" "$TMP/o6"
AGREEMENT_FAMILIES=vit_h AGREEMENT_WORK=$TMP/wh bash "$SCRIPT" >/dev/null 2>&1
AGREEMENT_DB=$TMP/wb/agreement.db:$TMP/wh/agreement.db bash "$SCRIPT" >"$TMP/o7" 2>&1
rc=$?
expect "two family runs checked together: exit 0, the verdicts of the one run" eq \
    "$rc $(grep '^PASS\|^FAIL' "$TMP/o7" | sort | md5sum)" "0 $(grep '^PASS\|^FAIL' "$TMP/o1" | sort | md5sum)"

# A stage that fails before saying what it is (its hello has no stage_info): no precision, so
# no bound would apply; the check fails it by name instead of passing over it.
AGREEMENT_RUN_ARGS="$AGREEMENT_RUN_ARGS --stages fp32,bf16,nostageinfo" AGREEMENT_WORK=$TMP/w8 bash "$SCRIPT" >"$TMP/o8" 2>&1
rc=$?
expect "a stage failing before its hello: exit 1, named" eq \
    "$rc $(grep -c '^FAIL nostageinfo: no experiment said what the stage is' "$TMP/o8")" "1 1"
expect "... and bf16 still judged" eq "$(grep -c '^PASS bf16 vit_[bh] mean' "$TMP/o8")" 2
