#!/usr/bin/env python3
"""Where does our bf16 stage's small score bias against the official bf16 code come from?

Our bf16 scores the third mask 0.00007-0.00009 lower on average than the official bf16 code
(README.md here). Both run the same weights, images and prompts, so the difference must come
from where each rounds to bfloat16. This script runs the official model in bf16 on the first N
images and, from the same encoder output, the neck and the mask decoder several times, each
time moving one group of roundings to where our CUDA code does them:

  official     the official code, every op rounding its output (as official_agreement.py bf16)
  scale        decoder attention: q k^T scaled in float32 and rounded once (official rounds the
               product, then the quotient by sqrt(head_dim); our GEMM folds the scale into alpha)
  residual     decoder: out_proj / lin2 in float32 plus the residual, rounded once (our GEMM
               epilogue adds the residual before the one rounding)
  ln2d         LayerNorm2d in float32, rounded once, the GELU after it fused (official's
               LayerNorm2d is six element-wise bf16 ops), neck and output upscaling; and the
               second upscaling ConvT's GELU applied before its rounding (our GEMM epilogue)
  ours         all three

For each variant it prints, per predicted-IoU channel, the mean difference from the official
run and from our stage's scores (a masks file of `sam-bf16 eval --masks-out`), each with its
standard error over annotations. A variant that explains the bias brings "ours - variant" to
zero on the third channel.

    decoder_rounding.py --model vit_b --weights DIR --coco DIR --points FILE.json
                        --ours MASKS [--images N]
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import transformer as sam_transformer
from segment_anything.modeling.common import LayerNorm2d
from segment_anything.utils.transforms import ResizeLongestSide

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_masks import load as load_masks  # noqa: E402
from official_agreement import build_model, image_and_prompts, load_subset  # noqa: E402

BF = torch.bfloat16
ORIG_ATTN = sam_transformer.Attention.forward
ORIG_BLOCK = sam_transformer.TwoWayAttentionBlock.forward
ORIG_TWO_WAY = sam_transformer.TwoWayTransformer.forward
ORIG_LN2D = LayerNorm2d.forward


def linear_f32(layer, x):
    # bf16 inputs and weights, float32 accumulation, no rounding of the result.
    return F.linear(x.float(), layer.weight.float(), layer.bias.float())


def attn_core(self, q, k, v, fold_scale):
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(self.v_proj(v), self.num_heads)
    c = q.shape[-1]
    if fold_scale:
        attn = (q.float() @ k.float().permute(0, 1, 3, 2) / math.sqrt(c)).to(BF)
    else:
        attn = q @ k.permute(0, 1, 3, 2)
        attn = attn / math.sqrt(c)
    attn = torch.softmax(attn, dim=-1)
    return self._recombine_heads(attn @ v)


def make_attn(fold_scale, fuse_residual):
    def forward(self, q, k, v, residual=None):
        out = attn_core(self, q, k, v, fold_scale)
        if residual is None:
            return self.out_proj(out)
        if fuse_residual:
            return (linear_f32(self.out_proj, out) + residual.float()).to(BF)
        return residual + self.out_proj(out)
    return forward


# ref: transformer.py TwoWayAttentionBlock.forward, with the residual handed to the attention
# and the MLP so that they can add it before rounding.
def block_forward(self, queries, keys, query_pe, key_pe):
    fuse = FUSE_RESIDUAL[0]
    if self.skip_first_layer_pe:
        queries = self.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = self.self_attn(q=q, k=q, v=queries, residual=queries)
    queries = self.norm1(queries)
    q = queries + query_pe
    k = keys + key_pe
    queries = self.cross_attn_token_to_image(q=q, k=k, v=keys, residual=queries)
    queries = self.norm2(queries)
    hidden = self.mlp.act(self.mlp.lin1(queries))
    if fuse:
        queries = (linear_f32(self.mlp.lin2, hidden) + queries.float()).to(BF)
    else:
        queries = queries + self.mlp.lin2(hidden)
    queries = self.norm3(queries)
    q = queries + query_pe
    k = keys + key_pe
    keys = self.cross_attn_image_to_token(q=k, k=q, v=queries, residual=keys)
    keys = self.norm4(keys)
    return queries, keys


# ref: transformer.py TwoWayTransformer.forward, the final attention with its residual.
def two_way_forward(self, image_embedding, image_pe, point_embedding):
    image_embedding = image_embedding.flatten(2).permute(0, 2, 1)
    image_pe = image_pe.flatten(2).permute(0, 2, 1)
    queries, keys = point_embedding, image_embedding
    for layer in self.layers:
        queries, keys = layer(queries=queries, keys=keys, query_pe=point_embedding, key_pe=image_pe)
    q = queries + point_embedding
    k = keys + image_pe
    queries = self.final_attn_token_to_image(q=q, k=k, v=keys, residual=queries)
    queries = self.norm_final_attn(queries)
    return queries, keys


def ln2d_f32(self, x):
    xf = x.float()
    u = xf.mean(1, keepdim=True)
    s = (xf - u).pow(2).mean(1, keepdim=True)
    y = (xf - u) / torch.sqrt(s + self.eps)
    y = self.weight.float()[:, None, None] * y + self.bias.float()[:, None, None]
    if getattr(self, "fused_gelu", False):
        y = F.gelu(y)
    return y.to(BF)


def convt_gelu_f32(layer, x):
    y = F.conv_transpose2d(x.float(), layer.weight.float(), layer.bias.float(), stride=layer.stride)
    return F.gelu(y).to(BF)


FUSE_RESIDUAL = [False]
VARIANTS = {
    "official": dict(scale=False, residual=False, ln2d=False),
    "scale": dict(scale=True, residual=False, ln2d=False),
    "residual": dict(scale=False, residual=True, ln2d=False),
    "ln2d": dict(scale=False, residual=False, ln2d=True),
    "ours": dict(scale=True, residual=True, ln2d=True),
}


def set_variant(sam, v):
    sam_transformer.Attention.forward = make_attn(v["scale"], v["residual"])
    sam_transformer.TwoWayAttentionBlock.forward = block_forward
    sam_transformer.TwoWayTransformer.forward = two_way_forward
    FUSE_RESIDUAL[0] = v["residual"]
    LayerNorm2d.forward = ln2d_f32 if v["ln2d"] else ORIG_LN2D
    # output_upscaling = ConvT, LayerNorm2d, GELU, ConvT, GELU: our LayerNorm kernel applies
    # the first GELU before its one rounding, our GEMM epilogue the second.
    up = sam.mask_decoder.output_upscaling
    up[1].fused_gelu = v["ln2d"]
    up[2].forward = (lambda x: x) if v["ln2d"] else torch.nn.GELU.forward.__get__(up[2])
    up[3].forward = (lambda x: convt_gelu_f32(up[3], x)) if v["ln2d"] else \
        torch.nn.ConvTranspose2d.forward.__get__(up[3])
    up[4].forward = (lambda x: x) if v["ln2d"] else torch.nn.GELU.forward.__get__(up[4])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--coco", required=True)
    ap.add_argument("--slice", default="val2017")
    ap.add_argument("--points", required=True)
    ap.add_argument("--ours", required=True, help="our bf16 stage's masks file")
    ap.add_argument("--images", type=int, default=0)
    args = ap.parse_args()

    sam = build_model(args.model, args.weights, BF)
    ours = {k: a["scores"] for k, a in load_masks(args.ours).items()}
    points, anns_by_image, images = load_subset(args.coco, args.slice, args.points, set(ours), args.images)
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    enc = sam.image_encoder
    scores = {name: [] for name in VARIANTS}
    ref = []
    t0 = time.time()
    with torch.inference_mode():
        for n_img, im in enumerate(images):
            anns = anns_by_image[im["id"]]
            x, _, _, coords, labels = image_and_prompts(
                sam, transform, os.path.join(args.coco, args.slice, im["file_name"]), anns, points)
            # The encoder up to the neck once; the neck and the decoder per variant.
            x = enc.patch_embed(x.to(BF)) + enc.pos_embed
            for blk in enc.blocks:
                x = blk(x)
            trunk = x.permute(0, 3, 1, 2)
            for name, v in VARIANTS.items():
                set_variant(sam, v)
                emb = enc.neck(trunk)
                sparse, dense = sam.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
                _, iou = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                          sparse_prompt_embeddings=sparse.to(BF),
                                          dense_prompt_embeddings=dense, multimask_output=True)
                scores[name].extend(iou.float().tolist())
            ref.extend(ours[a["id"]] for a in anns)
            if n_img == 0:
                print("first annotation, official variant:", scores["official"][0], "ours:", ref[0])
            print(f"[{n_img + 1}/{len(images)}] {time.time() - t0:.0f} s, {len(ref)} annotations", flush=True)

    ref = np.array(ref)
    base = np.array(scores["official"])
    n = len(ref)
    fmt = lambda d: " ".join(f"{m * 1e5:+7.2f}({s * 1e5:4.2f})" for m, s in zip(d.mean(0), d.std(0) / math.sqrt(n)))
    print(f"\n{args.model}, {n} annotations; mean difference per channel in 1e-5 (standard error)")
    print(f"{'variant':10s} {'variant - official':40s} {'ours - variant':40s}")
    for name in VARIANTS:
        s = np.array(scores[name])
        print(f"{name:10s} {fmt(s - base):40s} {fmt(ref - s):40s}")


if __name__ == "__main__":
    main()
