"""How much of the sdpa stage's attention error is its bfloat16 rel-pos bias (issue 14).

The sdpa stage gives cuDNN SAM's decomposed rel-pos terms as one materialised bias, in bfloat16
as the seed's attn_mask is. test_sdpa holds its error against the explicit float32 attention to
at most twice the explicit bfloat16 path's error; on the H200 it measured 1.2-2.5 times that
path's error. This emulates, in float64 with bfloat16 rounding where each path rounds, test_sdpa's
'tiny windowed' case (4 windows, 2 heads, 14 x 14 tokens, head dim 64, inputs in [-1, 1], rel-pos
tables in [-0.5, 0.5], bfloat16-exact) three ways:
  explicit bf16     rel-pos products bf16, S = scale q k^T rounded to bf16, P bf16 (the bf16 stage)
  bf16 bias         rel-pos products bf16, their sum rounded to bf16 once more (the bias), S kept
                    in float32 inside the fused kernel, P bf16 (the sdpa stage)
  float32 bias      the same without the bias's rounding
and prints each one's max|out - ref| / max|ref| against the unrounded result.
Run: build/venv/bin/python experiments/oracle/sdpa_bias_rounding.py   (numpy; a second)
"""
import numpy as np


def bf16(x):
    """Round to the nearest bfloat16 (ties to even), returned as float64."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32).astype(np.float64)


def main():
    rng = np.random.default_rng(0)
    g, hd, heads, batch = 14, 64, 2, 4
    L = g * g
    q, k, v = (bf16(rng.uniform(-1, 1, (batch, heads, L, hd))) for _ in range(3))
    rh, rw = (bf16(rng.uniform(-0.5, 0.5, (2 * g - 1, hd))) for _ in range(2))
    qy, qx = np.arange(L) // g, np.arange(L) % g
    idx_h = np.broadcast_to(qy[:, None] - qy[None, :] + g - 1, (batch, heads, L, L))
    idx_w = np.broadcast_to(qx[:, None] - qx[None, :] + g - 1, (batch, heads, L, L))
    scale = 1 / np.sqrt(hd)

    def attention(round_rel, round_s, round_bias, round_p):
        s = np.einsum("bhqd,bhkd->bhqk", q, k) * scale
        rel_h, rel_w = np.einsum("bhqd,rd->bhqr", q, rh), np.einsum("bhqd,rd->bhqr", q, rw)
        if round_rel:
            rel_h, rel_w = bf16(rel_h), bf16(rel_w)
        bias = np.take_along_axis(rel_h, idx_h, 3) + np.take_along_axis(rel_w, idx_w, 3)
        if round_bias:
            bias = bf16(bias)
        if round_s:
            s = bf16(s)
        s = s + bias
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        if round_p:
            p = bf16(p)
        return np.einsum("bhqk,bhkd->bhqd", p, v)

    ref = attention(False, False, False, False)
    err = lambda o: np.abs(o - ref).max() / np.abs(ref).max()
    e_explicit = err(attention(True, True, False, True))
    e_bf16_bias = err(attention(True, False, True, True))
    e_f32_bias = err(attention(True, False, False, True))
    print(f"explicit bf16 path   {e_explicit:.4f}")
    print(f"bf16 bias (sdpa)     {e_bf16_bias:.4f}  ({e_bf16_bias / e_explicit:.2f} x explicit)")
    print(f"float32 bias         {e_f32_bias:.4f}  ({e_f32_bias / e_explicit:.2f} x explicit)")


if __name__ == "__main__":
    main()
