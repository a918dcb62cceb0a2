#!/usr/bin/env python3
"""Top-mask agreement between two masks files (harness/PROTOCOL.md's masks-file lines, or
official_agreement.py's output): mean IoU over the annotations both hold, as the harness's
agreement, and how much of the shortfall comes from a different mask chosen (IoU under 0.5).
When both files carry every mask's predicted IoU ("scores", "top"), also how B moved the
margin between A's best and second-best mask, how often B picked another index, and the
number of flips (and agreement) B's margin errors predict.

    compare_masks.py A.masks B.masks [--label TEXT]
"""
import argparse
import json
import sys

import numpy as np
from pycocotools import mask as mask_utils


def load(path):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                a = json.loads(line)
                out[int(a["ann_id"])] = a
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"{path}:{n}: not a masks-file line ({e})")
    if not out:
        sys.exit(f"{path}: no annotations")
    return out


def decode(a):
    return mask_utils.decode({"size": a["size"], "counts": a["counts"].encode()}).astype(bool)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    A, B = load(args.a), load(args.b)
    common = sorted(set(A) & set(B))
    ious = []
    for k in common:
        ma, mb = decode(A[k]), decode(B[k])
        if ma.shape != mb.shape:
            sys.exit(f"annotation {k}: sizes {ma.shape} and {mb.shape} differ")
        union = np.logical_or(ma, mb).sum()
        ious.append(1.0 if union == 0 else float(np.logical_and(ma, mb).sum()) / float(union))
    ious = np.array(ious)
    low = ious < 0.5
    rest = ious[~low].mean() if (~low).any() else float("nan")
    out = {"label": args.label, "a": args.a, "b": args.b, "annotations": len(common),
           "only_a": len(A) - len(common), "only_b": len(B) - len(common),
           "agreement": round(float(ious.mean()), 6), "under_0.5": int(low.sum()),
           "mean_of_the_rest": round(float(rest), 6)}
    if all("scores" in A[k] and "scores" in B[k] for k in common):
        # The choice: A's best mask i and runner-up j; how B moved the margin s_i - s_j (its
        # error decides whether the choice flips), and how often B picked another index.
        d, margins, ties = [], [], 0
        for k in common:
            sa, sb = A[k]["scores"], B[k]["scores"]
            order = sorted(range(len(sa)), key=lambda i: (-sa[i], i))
            i, j = order[0], order[1]
            margins.append(sa[i] - sa[j])
            d.append((sb[i] - sb[j]) - (sa[i] - sa[j]))
            ties += sorted(sb)[-1] == sorted(sb)[-2]
        d, margins = np.array(d), np.array(margins)
        # What B's precision predicts, if each annotation's margin error were an independent
        # draw from the errors B shows over all annotations: an annotation flips when its error
        # reaches below minus its margin (half of an exact tie). Expected flips with their
        # spread, and the agreement that follows (flipped masks at the IoU the flips show).
        p = np.array([(d < -m).mean() + 0.5 * (d == -m).mean() for m in margins])
        e_flips, sd_flips = p.sum(), np.sqrt((p * (1 - p)).sum())
        flip_iou = ious[low].mean() if low.any() else 0.0
        per_flip = (rest - flip_iou) / len(common)
        out.update({"expected_flips": round(float(e_flips), 2), "expected_flips_sd": round(float(sd_flips), 2),
                    "expected_agreement": round(float(rest - e_flips * per_flip), 4),
                    "expected_agreement_sd": round(float(sd_flips * per_flip), 4)})
        out.update({"other_index_picked": int(sum(A[k]["top"] != B[k]["top"] for k in common)),
                    "margin_error_rms": round(float(np.sqrt((d ** 2).mean())), 6),
                    "margin_error_median_abs": round(float(np.median(np.abs(d))), 6),
                    "a_margin_median": round(float(np.median(margins)), 6),
                    "a_margins_under_0.002": int((margins < 0.002).sum()),
                    "b_top_two_tied": ties})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
