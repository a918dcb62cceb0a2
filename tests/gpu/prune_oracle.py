#!/usr/bin/env python3
"""The 2:4 pruning rule of variants/core/prune.h against the seed's own pruning: PyTorch's
WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2), as
segment-anything-fast's sparse.py applies it, on CPU and on CUDA (where the seed pruned), in
float32 and in bfloat16 (the seed cast the model to bfloat16 first).

    prune_oracle.py            (PyTorch with CUDA; tests/gpu/test_prune_oracle.sh runs it)

The rule: in every group of 4 consecutive input columns of a row, zero the two first in the
order (|w|, column): ties go to the lower column. Here it is numpy's stable argsort of |w|;
tests/core/test_prune.c and test_prune_cli.sh tie the C implementation to the same rule (and
make_pth.py's Python one). The sparsifier ranks w * w (its default L2 norm) with torch.topk:
the cases below are chosen so that w * w ties exactly where |w| does (no subnormal squares),
so any difference is topk's tie order. Prints one PASS / FAIL line per case on CUDA (the bound:
the seed pruned there) and a NOTE for the CPU's topk, and for a case that differs, how many
groups and the first one.
"""
import sys

import numpy as np
import torch
from torch.ao.pruning import WeightNormSparsifier


def ours(w):
    """Mask (1 keep, 0 zero) by the rule, w float32 (out, in)."""
    out, n = w.shape
    g = np.abs(w.reshape(out, n // 4, 4))
    order = np.argsort(g, axis=-1, kind="stable")
    mask = np.ones_like(g, dtype=bool)
    np.put_along_axis(mask, order[..., :2], False, axis=-1)
    return mask.reshape(out, n)


def seeds(w, device, dtype):
    """The sparsifier's mask, as segment-anything-fast's apply_fake_sparsity makes it."""
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    model = torch.nn.Sequential(lin).to(device=device, dtype=dtype)
    sp = WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2)
    sp.prepare(model, [{"tensor_fqn": "0.weight"}])
    sp.step()
    mask = model[0].parametrizations.weight[0].mask.detach().to("cpu", torch.float32).numpy()
    return mask != 0


def bf16(w):
    return torch.from_numpy(w).to(torch.bfloat16).to(torch.float32).numpy()


def cases():
    rng = np.random.default_rng(7)
    hand = np.array([
        [1, 1, 1, 1], [2, -1, 1, 3], [0.1, 0.5, 0.9, 0.5], [0.2, 0.2, 0.2, 0.7],
        [0.7, 0.7, 0.2, 0.2], [-3, -3, -3, 5], [0, 7, 0, -7], [0, 0, 5, 0],
        [1, -0.0, 0.0, 2], [0, 0, 0, 0], [5, 5, 1, 5], [1, 5, 5, 5],
        [-0.9, 0.01, -0.8, -0.02], [0.5, -0.1, 0.3, 0.2], [4, 3, 3, 4], [3, 4, 4, 3],
    ], dtype=np.float32)
    yield "hand-made groups with ties, zeros, negative values", np.tile(hand.reshape(1, -1), (8, 1))
    yield "float32 normal (768 x 3072)", rng.standard_normal((768, 3072)).astype(np.float32) * 0.02
    # Values that tie often: small integers, and bfloat16-rounded normals (8 bits of mantissa).
    yield "small integers (256 x 1024)", rng.integers(-3, 4, (256, 1024)).astype(np.float32)
    yield "bfloat16 values (2304 x 768)", bf16(rng.standard_normal((2304, 768)).astype(np.float32) * 0.02)


def main():
    if not torch.cuda.is_available():
        print("FAIL prune oracle: PyTorch sees no CUDA device")
        return 1
    fails = 0
    for what, w in cases():
        mine = ours(w)
        for device, dtype in (("cpu", torch.float32), ("cuda", torch.float32), ("cuda", torch.bfloat16)):
            # In bfloat16 the seed ranks the bfloat16 values; the rule on the same values.
            wd = bf16(w) if dtype == torch.bfloat16 else w
            ref = seeds(wd, device, dtype)
            m = ours(wd) if dtype == torch.bfloat16 else mine
            diff = (m != ref).reshape(w.shape[0], -1, 4).any(-1)
            name = f"{what}, {device} {str(dtype).replace('torch.', '')}"
            # The seed pruned on CUDA: that is the bound; the CPU's topk (another algorithm,
            # another tie order) is reported.
            bound = device == "cuda"
            if not diff.any():
                print(f"{'PASS' if bound else 'NOTE'} prune rule = WeightNormSparsifier's mask: {name} ({diff.size} groups)")
            else:
                fails += bound
                r, g = map(int, np.argwhere(diff)[0])
                print(f"{'FAIL' if bound else 'NOTE'} prune rule differs from WeightNormSparsifier: {name}: {int(diff.sum())} of {diff.size} "
                      f"groups, the first row {r} columns {4 * g}-{4 * g + 3}: values {wd[r, 4 * g:4 * g + 4].tolist()}, "
                      f"ours keeps {m[r, 4 * g:4 * g + 4].astype(int).tolist()}, "
                      f"torch keeps {ref[r, 4 * g:4 * g + 4].astype(int).tolist()}")
    print(f"torch {torch.__version__}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
