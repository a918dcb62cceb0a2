#!/usr/bin/env python3
"""The official segment_anything code, run by PyTorch on the CPU, over the same synthetic weights,
images and centre-point prompts as a harness run: how far does a faithful bfloat16 run of the
official model land from float32?  An oracle for issue 5's agreement bound, not part of the
product or of `make test` (vit_h takes tens of seconds per image on two cores).

    official_agreement.py --model vit_h --weights DIR --coco DIR --points FILE.json
                          [--ref LABEL=MASKS ...] --dtype bf16|autocast|fp32 [--images N]
                          --out FILE.masks

DIR holds one .npy per tensor (experiments/oracle/dump_weights writes it from the same weights
source the stages read), FILE.json is `sam-data points` output.  MASKS is the masks file of a
stage's `eval --masks-out` (harness/PROTOCOL.md: one JSON line per annotation with its top mask
as compressed COCO RLE); the first --ref is the one the summary line leads with.

What "bf16" means here: what sam-fast's bf16 stage does (tools.apply_eval_dtype_predictor:
image_encoder, prompt_encoder and mask_decoder `.to(torch.bfloat16)`), with the choices our
bf16 stage makes where the official code would need a cast anyway: the Fourier position
encodings (dense grid and points) computed in float32 and rounded once, the normalised image
rounded to bf16 at the encoder input, low-res logits upscaled in float32.  argmax over the
bf16 predicted IoUs, first index on ties, as torch.argmax and our top_mask_stats.

"autocast": the float32 model under torch.autocast(bfloat16); "fp32": the float32 model.

Writes a masks file in the stages' format (ann_id, image_id, score, top, scores, size, counts;
plus iou_LABEL, the IoU with each reference) and prints the running agreement with each
reference after every image.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from segment_anything import sam_model_registry
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
from segment_anything.utils.transforms import ResizeLongestSide

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_masks import decode as decode_mask, load as load_masks  # noqa: E402


def load_weights(model, wdir):
    state = model.state_dict()
    loaded = {}
    for name, ref in state.items():
        path = os.path.join(wdir, name + ".npy")
        if not os.path.exists(path):
            sys.exit(f"{path}: missing (the model has tensor {name})")
        a = np.load(path)
        if tuple(a.shape) != tuple(ref.shape):
            sys.exit(f"{path}: shape {a.shape}, the model expects {tuple(ref.shape)}")
        loaded[name] = torch.from_numpy(a)
    extra = {f[:-4] for f in os.listdir(wdir) if f.endswith(".npy")} - set(state)
    if extra:
        sys.exit(f"{wdir}: tensors the model does not have: {sorted(extra)[:5]}")
    model.load_state_dict(loaded, strict=True)


def pe_in_float32(pe_layer, dtype):
    # The Fourier features in float32 (gaussian matrix kept float32), rounded once to dtype.
    fwd, fwd_coords = PositionEmbeddingRandom.forward, PositionEmbeddingRandom.forward_with_coords

    def forward(size):
        return fwd(pe_layer, size).to(dtype)

    def forward_with_coords(coords, image_size):
        return fwd_coords(pe_layer, coords.float(), image_size).to(dtype)

    pe_layer.forward = forward
    pe_layer.forward_with_coords = forward_with_coords


def build_model(model, wdir, dtype):
    """The official Sam on our weights, image encoder, prompt encoder and mask decoder in dtype
    (sam-fast's tools.apply_eval_dtype_predictor), position encodings as pe_in_float32."""
    sam = sam_model_registry[model]()
    load_weights(sam, wdir)
    sam.eval()
    for part in (sam.image_encoder, sam.prompt_encoder, sam.mask_decoder):
        part.to(dtype)
    sam.prompt_encoder.pe_layer.float()
    pe_in_float32(sam.prompt_encoder.pe_layer, dtype)
    return sam


def load_subset(coco_dir, slice_name, points_path, keep=None, max_images=0):
    """The annotations with a centre point (and, when keep is a set, whose id is in it), by
    image: (points, anns_by_image, images), images sorted by id, those without one left out,
    the first max_images of them when it is not 0."""
    with open(os.path.join(coco_dir, "annotations", f"instances_{slice_name}.json")) as f:
        coco = json.load(f)
    with open(points_path) as f:
        points = {int(k): v for k, v in json.load(f)["points"].items()}
    anns_by_image = {}
    for a in coco["annotations"]:
        if points.get(a["id"]) is not None and (keep is None or a["id"] in keep):
            anns_by_image.setdefault(a["image_id"], []).append(a)
    images = [im for im in sorted(coco["images"], key=lambda im: im["id"]) if anns_by_image.get(im["id"])]
    return points, anns_by_image, images[:max_images] if max_images else images


def image_and_prompts(sam, transform, path, anns, points):
    """One image as our stages feed it (resized, float32 normalised and padded) and its
    annotations' centre points as prompts: (x, resized, (h, w), coords, labels)."""
    rgb = np.array(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    resized = transform.apply_image(rgb)
    x = sam.preprocess(torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].float())
    coords = np.array([points[a["id"]] for a in anns], dtype=np.float32)[:, None, :]
    coords = torch.as_tensor(transform.apply_coords(coords, (h, w)))
    labels = torch.ones(coords.shape[:2], dtype=torch.int)
    return x, resized, (h, w), coords, labels


def reference_masks(specs):
    refs = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            sys.exit(f"--ref {spec}: expected LABEL=MASKS_FILE")
        refs[label] = load_masks(path)
    return refs


def iou(a, b):
    inter = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(inter) / float(union)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--coco", required=True)
    ap.add_argument("--slice", default="val2017")
    ap.add_argument("--points", required=True)
    ap.add_argument("--ref", action="append", default=[], help="LABEL=MASKS_FILE")
    ap.add_argument("--dtype", choices=["bf16", "fp32", "autocast"], default="bf16")
    ap.add_argument("--images", type=int, default=0, help="first N images only (0: all)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    # autocast: float32 weights and residual stream, bf16 matmuls under torch.autocast (the mode
    # of design.md section 5's "bf16 autocast agrees 0.991 / 0.994").
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "autocast")
    sam = build_model(args.model, args.weights, dtype)
    refs = reference_masks(args.ref)
    ref_ids = list(refs)
    # Only the annotations every reference has (a reference from `eval --limit` covers a few
    # images); images without one are not encoded.
    covered = set.intersection(*(set(m) for m in refs.values())) if refs else None
    points, anns_by_image, images = load_subset(args.coco, args.slice, args.points, covered, args.images)
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    sums = {eid: [0.0, 0] for eid in ref_ids}
    flips = {eid: 0 for eid in ref_ids}
    t0 = time.time()
    with open(args.out, "w") as out, torch.inference_mode(), autocast:
        for n_img, im in enumerate(images):
            anns = anns_by_image[im["id"]]
            x, resized, (h, w), coords, labels = image_and_prompts(
                sam, transform, os.path.join(args.coco, args.slice, im["file_name"]), anns, points)
            emb = sam.image_encoder(x.to(dtype))
            sparse, dense = sam.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            # _embed_points' result is dtype, but PromptEncoder.forward concatenates it onto a
            # float32 empty tensor; back to dtype (exact: the values are bf16 already).
            sparse = sparse.to(dtype)
            low_res, pred_iou = sam.mask_decoder(
                image_embeddings=emb,
                image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
            )
            with torch.autocast("cpu", enabled=False):
                masks = sam.postprocess_masks(low_res.float(), resized.shape[:2], (h, w)) > sam.mask_threshold
            top = torch.argmax(pred_iou.float(), dim=1)
            for i, a in enumerate(anns):
                mine = masks[i, top[i]].numpy()
                line = {"ann_id": a["id"], "image_id": im["id"], "score": float(pred_iou[i, top[i]]),
                        "size": [h, w], "top": int(top[i]), "scores": [float(s) for s in pred_iou[i].float()]}
                for eid in ref_ids:
                    v = iou(mine, decode_mask(refs[eid][a["id"]]))
                    line[f"iou_{eid}"] = v
                    sums[eid][0] += v
                    sums[eid][1] += 1
                    flips[eid] += v < 0.5
                rle = mask_utils.encode(np.asfortranarray(mine.astype(np.uint8)))
                line["counts"] = rle["counts"].decode()
                out.write(json.dumps(line) + "\n")
            out.flush()
            msg = "".join(f", vs {e} {sums[e][0] / max(sums[e][1], 1):.4f} ({flips[e]} under 0.5)"
                          for e in ref_ids)
            print(f"[{n_img + 1}/{len(images)}] {time.time() - t0:.0f} s, {args.model} {args.dtype}{msg}", flush=True)


if __name__ == "__main__":
    main()
