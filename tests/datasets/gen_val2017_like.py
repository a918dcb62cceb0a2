"""Writes a COCO instances file the size of val2017's (5,000 images, 36,781 annotations,
about 25 MB, 80 categories, crowd regions as uncompressed RLE) for the parse benchmark:

    python3 tests/datasets/gen_val2017_like.py OUT_DIR      (then: sam-data info --coco OUT_DIR)

Only the JSON is written (info reports the missing images as skipped). Plain Python, no
NumPy. Deterministic.
"""
import json
import math
import os
import random
import sys

rng = random.Random(2017)
out = sys.argv[1]
os.makedirs(f"{out}/annotations", exist_ok=True)
cat_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
           25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
           50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74,
           75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
sizes = [(480, 640), (640, 480), (427, 640), (375, 500), (640, 427), (612, 612)]
images = []
for i in range(5000):
    h, w = rng.choice(sizes)
    images.append({"license": rng.randint(1, 8), "file_name": f"{i * 97 + 139:012d}.jpg",
                   "coco_url": f"http://images.cocodataset.org/val2017/{i * 97 + 139:012d}.jpg",
                   "height": h, "width": w, "date_captured": "2013-11-14 17:02:52",
                   "flickr_url": "http://farm7.staticflickr.com/6116/6255196340_da26cf2c9e_z.jpg",
                   "id": i * 97 + 139})
anns = []
n_crowd = 446
with_anns = images[:4952]  # val2017: 48 images have no annotation
for k in range(36781):
    im = with_anns[k % len(with_anns)] if k < 4952 else rng.choice(with_anns)
    h, w = im["height"], im["width"]
    if k < n_crowd:
        n = rng.randint(20, 120)
        runs = [rng.randint(1, 400) for _ in range(n)]
        total = sum(runs)
        runs.append(h * w - total if total < h * w else 0)
        seg = {"counts": runs, "size": [h, w]}
        crowd = 1
    else:
        parts = 1 if rng.random() < 0.85 else rng.randint(2, 4)
        seg = []
        for _ in range(parts):
            m = rng.randint(6, 55)
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 150)
            pts = []
            for j in range(m):
                a = 2 * math.pi * j / m
                pts += [round(min(max(cx + r * math.cos(a), 0), w), 2),
                        round(min(max(cy + r * math.sin(a), 0), h), 2)]
            seg.append(pts)
        crowd = 0
    anns.append({"segmentation": seg, "area": round(rng.uniform(10, 90000), 5), "iscrowd": crowd,
                 "image_id": im["id"], "bbox": [round(rng.uniform(0, 600), 2) for _ in range(4)],
                 "category_id": rng.choice(cat_ids),
                 "id": 900100000000 + k if crowd else 1000 + k})
cats = [{"supercategory": f"super{i // 7}", "id": c, "name": f"category{c}"}
        for i, c in enumerate(cat_ids)]
doc = {"info": {"description": "val2017-sized benchmark file"}, "licenses": [],
       "images": images, "annotations": anns, "categories": cats}
with open(f"{out}/annotations/instances_val2017.json", "w") as f:
    json.dump(doc, f, separators=(",", ":"))
