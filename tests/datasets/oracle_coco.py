"""Oracle for datasets/: pycocotools (masks, RLE codec, area, box, IoU), SciPy
(ndimage.center_of_mass) and the seed's own _get_center_point (segment-anything-fast
experiments/data.py, restated below) against `sam-data rles`.

    oracle_coco.py gen OUT.json [SEED]      write a random instances file (>= 2000 annotations)
    oracle_coco.py check ANN.json OURS.json print PASS/FAIL lines comparing `sam-data rles` output

Test oracle only: Python never runs in the product.
"""
import json
import math
import sys

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy import ndimage


def seed_center_point(mask):
    """segment-anything-fast experiments/data.py _get_center_point, without the cache."""
    com_y, com_x = ndimage.center_of_mass(mask)
    com_y, com_x = int(round(com_y, 0)), int(round(com_x, 0))
    if mask[com_y][com_x]:
        return (com_x, com_y)
    best, coords = float('-inf'), None
    for row_idx in range(mask.shape[0]):
        for col_idx in range(mask.shape[1]):
            if not mask[row_idx, col_idx]:
                continue
            r = row_idx
            while r >= 0 and mask[r, col_idx]:
                r -= 1
            up = row_idx - (r + 1)
            c = col_idx
            while c <= mask.shape[1] - 1 and mask[row_idx, c]:
                c += 1
            right = (c - 1) - col_idx
            r = row_idx
            while r <= mask.shape[0] - 1 and mask[r, col_idx]:
                r += 1
            down = (r - 1) - row_idx
            c = col_idx
            while c >= 0 and mask[row_idx, c]:
                c -= 1
            left = col_idx - (c + 1)
            m = min(up, right, down, left)
            if m > best:
                best, coords = m, (col_idx, row_idx)
            if best >= 20:
                break
    return coords


# ---- generator ----------------------------------------------------------------------------

def rnd_poly(rng, w, h, kind):
    if kind == "inside":
        k = int(rng.integers(3, 30))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.5, max(2, max(w, h) / 2))
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        rr = r * rng.uniform(0.3, 1.0, k)
        xs, ys = np.clip(cx + rr * np.cos(a), 0, w), np.clip(cy + rr * np.sin(a), 0, h)
    elif kind == "border":  # touching or crossing the image border
        k = int(rng.integers(3, 16))
        xs = rng.uniform(-0.3 * w, 1.3 * w, k)
        ys = rng.uniform(-0.3 * h, 1.3 * h, k)
        if rng.random() < 0.5:  # exactly on the border lines
            side = rng.integers(0, 4)
            if side == 0: xs[0] = 0
            elif side == 1: ys[0] = 0
            elif side == 2: xs[0] = w
            else: ys[0] = h
    elif kind == "tiny":
        k = int(rng.integers(3, 7))
        x0, y0 = rng.uniform(-1, w), rng.uniform(-1, h)
        xs, ys = x0 + rng.uniform(0, 2.5, k), y0 + rng.uniform(0, 2.5, k)
    elif kind == "degenerate":
        k = int(rng.integers(3, 8))
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        mode = rng.integers(0, 4)
        if mode == 0:  # all the same point
            xs, ys = np.full(k, x0), np.full(k, y0)
        elif mode == 1:  # collinear
            t = rng.uniform(0, 1, k)
            dx, dy = rng.uniform(-w, w), rng.uniform(-h, h)
            xs, ys = x0 + t * dx, y0 + t * dy
        elif mode == 2:  # self-intersecting bow tie
            s = rng.uniform(1, 60)
            xs = np.array([x0, x0 + s, x0, x0 + s])
            ys = np.array([y0, y0 + s, y0 + s, y0])
        else:  # integer and half-integer coordinates (rounding ties)
            xs = np.round(rng.uniform(0, w, k) * 2) / 2
            ys = np.round(rng.uniform(0, h, k) * 2) / 2
    else:  # thin sliver
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        dx, dy = rng.uniform(-w / 2, w / 2), rng.uniform(-h / 2, h / 2)
        e = rng.uniform(0.05, 1.5)
        xs = np.array([x0, x0 + dx, x0 + dx + e, x0 + e])
        ys = np.array([y0, y0 + dy, y0 + dy + e, y0])
    digits = int(rng.choice([0, 1, 2, 6, 17]))
    pts = []
    for x, y in zip(xs, ys):
        pts += [round(float(x), digits) if digits < 17 else float(x),
                round(float(y), digits) if digits < 17 else float(y)]
    return pts


def rnd_mask(rng, h, w, kind):
    m = np.zeros((h, w), np.uint8)
    if kind == "blobs":
        for _ in range(int(rng.integers(1, 6))):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(0.5, max(1, h / 3)), rng.uniform(0.5, max(1, w / 3))
            yy, xx = np.ogrid[:h, :w]
            m[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    elif kind == "noise":
        m = (rng.random((h, w)) < rng.uniform(0.01, 0.9)).astype(np.uint8)
    elif kind == "full":
        m[:] = 1
    elif kind == "first":  # first pixel set: counts start with a 0 run
        m[0, 0] = 1
        m[h // 2:, w // 2:] = 1
    elif kind == "last":
        m[-1, -1] = 1
    else:  # "stripes": long runs across columns
        c0 = int(rng.integers(0, w))
        m[:, c0:c0 + int(rng.integers(1, w - c0 + 1))] = 1
    return m


def gen(path, seed):
    rng = np.random.default_rng(seed)
    sizes = [(480, 640), (640, 480), (427, 640), (375, 500), (1, 1), (1, 7), (9, 1), (33, 47),
             (2, 2), (1000, 300)]
    images = [{"id": i + 1, "height": h, "width": w, "file_name": f"{i + 1:012d}.jpg"}
              for i, (h, w) in enumerate(sizes)]
    # A big image so that RLE counts need 5 and 6 characters in the compressed strings.
    images.append({"id": 99, "height": 4200, "width": 4100, "file_name": "big.jpg"})
    anns = []
    aid = 1
    poly_kinds = ["inside", "border", "tiny", "degenerate", "sliver"]
    for n in range(2400):
        im = images[int(rng.integers(0, len(sizes)))]
        h, w = im["height"], im["width"]
        r = rng.random()
        if r < 0.6:
            parts = int(rng.choice([1, 1, 1, 2, 3, 5]))
            seg = [rnd_poly(rng, w, h, str(rng.choice(poly_kinds))) for _ in range(parts)]
            crowd = 0
        else:
            m = rnd_mask(rng, h, w, str(rng.choice(["blobs", "noise", "full", "first", "last",
                                                    "stripes"])))
            rle = mask_utils.encode(np.asfortranarray(m))
            if r < 0.8:  # uncompressed counts, as COCO's crowd regions
                flat = m.flatten(order="F")
                edges = np.flatnonzero(np.diff(flat)) + 1
                bounds = np.concatenate(([0], edges, [flat.size]))
                counts = np.diff(bounds).tolist()
                if flat[0]:
                    counts = [0] + counts
                seg = {"counts": counts, "size": [h, w]}
                crowd = 1
            else:
                seg = {"counts": rle["counts"].decode(), "size": [h, w]}
                crowd = int(rng.integers(0, 2))
        anns.append({"id": aid, "image_id": im["id"], "category_id": int(rng.integers(1, 4)),
                     "iscrowd": crowd, "segmentation": seg, "area": 0.0})
        aid += 1
    big = images[-1]
    for kind in ["full", "first", "last", "stripes", "blobs"]:
        m = rnd_mask(rng, big["height"], big["width"], kind)
        rle = mask_utils.encode(np.asfortranarray(m))
        anns.append({"id": aid, "image_id": 99, "category_id": 1, "iscrowd": 0,
                     "segmentation": {"counts": rle["counts"].decode(), "size": [4200, 4100]},
                     "area": 0.0})
        aid += 1
    anns.append({"id": aid, "image_id": 99, "category_id": 2, "iscrowd": 0,
                 "segmentation": [[0, 0, 4100, 0, 4100, 4200, 0, 4200],
                                  [10.5, 10.5, 20.5, 10.5, 15, 4000]], "area": 0.0})
    cats = [{"id": 1, "name": "a", "supercategory": "x"}, {"id": 2, "name": "b", "supercategory": "x"},
            {"id": 3, "name": "c", "supercategory": "y"}]
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)


# ---- checker ------------------------------------------------------------------------------

def check(ann_path, ours_path):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_path)
    ours = {o["id"]: o for o in json.load(open(ours_path))}
    fails = {}
    counts = {"polygon": 0, "multi-part": 0, "rle": 0, "rle-string": 0}
    n_iou = n_com = n_seed = n_fallback = 0
    length_classes = set()

    def fail(what, msg):
        fails.setdefault(what, []).append(msg)

    for ann in coco.dataset["annotations"]:
        o = ours.get(ann["id"])
        if o is None:
            fail("coverage", f"annotation {ann['id']} missing from sam-data rles")
            continue
        seg = ann["segmentation"]
        if isinstance(seg, list):
            counts["multi-part" if len(seg) > 1 else "polygon"] += 1
        elif isinstance(seg["counts"], list):
            counts["rle"] += 1
        else:
            counts["rle-string"] += 1
        rle = coco.annToRLE(ann)
        ref = rle["counts"].decode() if isinstance(rle["counts"], bytes) else rle["counts"]
        if o["rle"] != ref:
            fail("annToRLE", f"annotation {ann['id']}: RLE differs")
        mask = coco.annToMask(ann)
        mine = mask_utils.decode({"size": list(mask.shape), "counts": o["mask_rle"].encode()})
        if not np.array_equal(mine, mask):
            fail("annToMask", f"annotation {ann['id']}: {int((mine != mask).sum())} pixels differ")
        enc = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
        if enc != o["mask_rle"]:
            fail("encode", f"annotation {ann['id']}: re-encoded string differs")
        # count length classes of the compressed string (characters per number)
        s = enc
        k = 0
        for ch in s:
            k += 1
            if not ((ord(ch) - 48) & 0x20):
                length_classes.add(k)
                k = 0
        rle_b = dict(rle)
        if isinstance(rle_b["counts"], str):
            rle_b["counts"] = rle_b["counts"].encode()
        if int(mask_utils.area(rle_b)) != o["area"]:
            fail("area", f"annotation {ann['id']}: area {o['area']} vs {mask_utils.area(rle_b)}")
        bb = mask_utils.toBbox(rle_b).tolist()
        if bb != o["bbox"]:
            fail("toBbox", f"annotation {ann['id']}: {o['bbox']} vs {bb}")
        if "prev" in o:
            prev = coco.annToRLE(coco.anns[o["prev"]])
            if isinstance(prev["counts"], str):
                prev = dict(prev, counts=prev["counts"].encode())
            for crowd, key in ((0, "iou"), (1, "iou_crowd")):
                ref_iou = float(mask_utils.iou([rle_b], [prev], [crowd])[0][0])
                if ref_iou != o[key]:
                    fail("iou", f"annotation {ann['id']} vs {o['prev']} crowd={crowd}: "
                         f"{o[key]!r} vs {ref_iou!r}")
            n_iou += 2
        if mask.any():
            cy, cx = ndimage.center_of_mass(mask)
            n_com += 1
            if "com" not in o or o["com"] != [cy, cx]:
                fail("center_of_mass", f"annotation {ann['id']}: {o.get('com')} vs {[cy, cx]}")
            ry, rx = int(round(cy, 0)), int(round(cx, 0))
            inside = bool(mask[ry][rx])
            # The seed's Python scan is slow; run it on every mask where the centre of mass
            # lies inside, and on fallback masks up to 60k pixels.
            if inside or mask.size <= 60000 or mask.sum() < 3000:
                ref_pt = list(seed_center_point(mask))
                n_seed += 1
                n_fallback += not inside
                if o.get("point") != ref_pt:
                    fail("centre point", f"annotation {ann['id']}: {o.get('point')} vs {ref_pt}")
        elif "com" in o:
            fail("center_of_mass", f"annotation {ann['id']}: empty mask but a centre given")

    n = sum(counts.values())
    def report(what, detail):
        if what in fails:
            print(f"FAIL {what}: {len(fails[what])} of {n} differ; first: {fails[what][0]}")
        else:
            print(f"PASS {what} {detail}")
    report("coverage", f"({n} annotations)")
    report("annToRLE", f"identical for {n} annotations ({counts['polygon']} single polygons, "
           f"{counts['multi-part']} multi-part, {counts['rle']} uncompressed RLE, "
           f"{counts['rle-string']} compressed RLE strings)")
    report("annToMask", f"identical for {n} annotations")
    report("encode", f"compressed strings identical (number lengths {sorted(length_classes)} "
           "characters)")
    report("area", f"identical for {n} annotations")
    report("toBbox", f"identical for {n} annotations")
    report("iou", f"identical for {n_iou} pairs (crowd and non-crowd)")
    report("center_of_mass", f"identical to scipy.ndimage for {n_com} masks")
    report("centre point", f"identical to the seed's _get_center_point for {n_seed} masks "
           f"({n_fallback} through the four-direction fallback)")
    if n < 2000:
        print(f"FAIL oracle size: only {n} annotations (want >= 2000)")
    if not {1, 2, 3, 4, 5, 6} <= length_classes:
        print(f"FAIL RLE length classes: only {sorted(length_classes)} (want 1..6)")
    else:
        print("PASS RLE length classes 1..6 characters all exercised")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        check(sys.argv[2], sys.argv[3])
