#!/usr/bin/env python3
"""Oracle of the CPU int8 linear format (kernels/cpu/int8_linear.c): torchao's dynamic int8
recipe as design.md section 2 states it, emulated in NumPy (the test venv has no PyTorch):

    weights per output channel, activations per row: scale = max|v| / 127 (float32),
    q = clip(round_half_even(v / scale), -127, 127) as int8 (scale 0: q = 0);
    acc = q_x @ q_w^T summed exactly (int64, checked to fit int32);
    y = float32(acc) * x_scale * w_scale + bias, float32 in that order; GELU (exact erf) on lin1.

    int8_oracle.py DUMP_DIR CHECKPOINT

The weights and biases come from the checkpoint through ckpt_oracle.py's reader (standard
library only, shares no code with the C loader); the activations and the C side's results from
`test_int8_linear --dump`. Every int8 value, scale and int32 product must be equal, every output
within 1e-6 of the largest magnitude of its layer. One PASS/FAIL line per layer and check.
"""
import os
import sys

import numpy as np
from scipy.special import erf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_oracle  # noqa: E402

F32 = np.float32


def quantize_rows(v):
    """Per-row symmetric int8 and float32 scales (torchao's absmax recipe, max / 127)."""
    v = v.astype(F32)
    scale = (np.abs(v).max(axis=1) / F32(127)).astype(F32)
    safe = np.where(scale == 0, F32(1), scale).astype(F32)
    q = np.rint(v / safe[:, None])  # float32 division, round half to even
    q = np.clip(q, -127, 127)
    q[scale == 0] = 0
    return q.astype(np.int8), scale


def linear(x, w, b, gelu):
    xq, xs = quantize_rows(x)
    wq, ws = quantize_rows(w)
    acc64 = xq.astype(np.int64) @ wq.astype(np.int64).T
    assert np.abs(acc64).max() < 2**31, "int32 overflow"
    acc = acc64.astype(np.int32)
    y = acc.astype(F32) * xs[:, None]
    y = (y * ws[None, :]).astype(F32)
    y = (y + b.astype(F32)[None, :]).astype(F32)
    if gelu:
        y = (F32(0.5) * y * (F32(1) + erf(y.astype(np.float64) / np.sqrt(2.0)).astype(F32))).astype(F32)
    return xq, xs, wq, ws, acc, y


def main():
    dump, ckpt = sys.argv[1], sys.argv[2]
    params = {name: np.frombuffer(f32, dtype="<f4").reshape(shape) for name, shape, f32, _ in ckpt_oracle.load(ckpt)}
    layers = sorted(f[: -len(".x.npy")] for f in os.listdir(dump) if f.endswith(".x.npy"))
    fails = 0

    def check(ok, what):
        nonlocal fails
        print(("PASS " if ok else "FAIL ") + what)
        fails += not ok

    check(len(layers) > 0, "the dump holds encoder linears (%d)" % len(layers))
    for layer in layers:
        ld = lambda what: np.load(os.path.join(dump, "%s.%s.npy" % (layer, what)))
        x = ld("x")
        w = params["image_encoder.%s.weight" % layer]
        b = params["image_encoder.%s.bias" % layer]
        xq, xs, wq, ws, acc, y = linear(x, w, b, layer.endswith("lin1"))
        c_acc = np.fromfile(os.path.join(dump, layer + ".acc.i32"), dtype="<i4").reshape(acc.shape)
        check(np.array_equal(ld("wq").view(np.int8), wq) and np.array_equal(ld("ws")[:, 0], ws),
              "%s: int8 weights and per-channel scales equal" % layer)
        check(np.array_equal(ld("xq").view(np.int8), xq) and np.array_equal(ld("xs")[:, 0], xs),
              "%s: int8 activations and per-token scales equal" % layer)
        check(np.array_equal(c_acc, acc), "%s: int32 products equal exactly" % layer)
        cy = ld("y")
        err = float(np.abs(cy.astype(np.float64) - y).max() / max(np.abs(y).max(), 1e-30))
        check(err <= 1e-6 and np.isfinite(cy).all(), "%s: outputs within 1e-6 (%.2e)" % (layer, err))
        zero_rows = np.where(np.abs(x).max(axis=1) == 0)[0]
        # Exactly the bias; on lin1 GELU(bias), whose erf differs between C and SciPy by an ulp.
        lin1 = layer.endswith("lin1")
        same = lambda r: np.array_equal(cy[r], b) if not lin1 else np.allclose(cy[r], y[r], rtol=1e-6, atol=1e-7)
        check(len(zero_rows) > 0 and all(same(r) for r in zero_rows),
              "%s: the all-zero activation row's output is the bias (GELU'd on lin1)" % layer)
    print("int8_oracle: %d layers, %d failed checks" % (len(layers), fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
