#!/usr/bin/env python3
"""Writes torch.save-format checkpoints from another one (Python standard library only), for
the checkpoint tests:

    make_pth.py SRC DST [--dtype f32|f16|bf16] [--views] [--top NAME] [--zip64] [--compress]
                        [--drop NAME]... [--add NAME=D0,D1,...]... [--reshape NAME=D0,D1,...]...

The output is what torch.save writes: a zip of stored entries under one top folder, data.pkl a
pickle (protocol 2) of an OrderedDict of torch._utils._rebuild_tensor_v2 calls on persistent
storages ('storage', torch.<T>Storage, key, 'cpu', numel) held in <top>/data/<key>. The pickle
comes from the standard pickle module, with stand-in classes registered under torch's names.

  --dtype    storage type: FloatStorage (f32), HalfStorage (f16) or BFloat16Storage (bf16);
             bf16 rounds to nearest even, f16 as struct's 'e'
  --views    store some tensors as views, as torch.save keeps them: qkv weight of block 0
             transposed (strides (1, rows)), pos_embed channels-first (permuted strides),
             patch_embed.proj.bias at storage offset 5 inside padding, block 0's norm1 weight
             and bias sharing one storage
  --top      the top folder's name (default "archive")
  --zip64    ZIP64 records everywhere: extra fields, ZIP64 end records, 0xFFFF.. in the
             classic end record
  --compress deflate data.pkl (torch never does; the reader must refuse it)
  --drop / --add / --reshape   remove a tensor, add one (zeros), replace one by zeros of
             another shape: for the missing / unexpected / inconsistent-shape tests
  --prune24  2:4-prune the four linears of every encoder block (qkv, proj, lin1, lin2): in every
             group of 4 consecutive input columns of a row, the two first in the order
             (|w|, column) are zeroed. An implementation of variants/core/prune.h's rule that
             shares nothing with it (Python's sort on tuples), for tests/core/test_prune_cli.sh
"""
import argparse
import collections
import io
import os
import pickle
import re
import struct
import sys
import types
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_oracle  # noqa: E402

# ---- stand-ins pickled under torch's names -------------------------------------------------
torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
torch_mod._utils = utils_mod
sys.modules.setdefault("torch", torch_mod)
sys.modules.setdefault("torch._utils", utils_mod)
if sys.modules["torch"] is not torch_mod:
    sys.exit("make_pth.py: a real torch module is loaded; run with the standard library only")

STORAGE_CLASSES = {}
for _name in ("FloatStorage", "HalfStorage", "BFloat16Storage"):
    _cls = type(_name, (), {})
    _cls.__module__ = "torch"
    setattr(torch_mod, _name, _cls)
    STORAGE_CLASSES[_name] = _cls


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in, never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2

DTYPES = {"f32": ("FloatStorage", 4), "f16": ("HalfStorage", 2), "bf16": ("BFloat16Storage", 2)}


class FakeStorage:
    def __init__(self, key, cls, numel):
        self.key, self.cls, self.numel = key, cls, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):  # ref: torch/serialization.py _save persistent_id
        if isinstance(obj, FakeStorage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


# ---- values --------------------------------------------------------------------------------
def encode(values, dtype):
    """float list -> storage bytes of dtype."""
    n = len(values)
    if dtype == "f32":
        return struct.pack("<%df" % n, *values)
    if dtype == "f16":
        return struct.pack("<%de" % n, *values)
    bits = struct.unpack("<%dI" % n, struct.pack("<%df" % n, *values))
    return struct.pack("<%dH" % n, *(((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF for b in bits))


def contiguous_strides(shape):
    strides, s = [], 1
    for d in reversed(shape):
        strides.append(s)
        s *= d
    return tuple(reversed(strides))


def parse_shape(text):
    return tuple(int(x) for x in text.split(",")) if text else ()


ENCODER_LINEAR = re.compile(r"image_encoder\.blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.lin1|mlp\.lin2)\.weight$")


def prune24(vals, shape):
    """In place: the two smallest (|w|, column) of every group of 4 of each row set to 0."""
    rows, cols = shape
    assert cols % 4 == 0, "in not a multiple of 4"
    for r in range(rows):
        for c in range(0, cols, 4):
            base = r * cols + c
            for j in sorted(range(4), key=lambda j: (abs(vals[base + j]), j))[:2]:
                vals[base + j] = 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dtype", choices=DTYPES, default="f32")
    ap.add_argument("--views", action="store_true")
    ap.add_argument("--top", default="archive")
    ap.add_argument("--zip64", action="store_true")
    ap.add_argument("--compress", action="store_true")
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--add", action="append", default=[])
    ap.add_argument("--reshape", action="append", default=[])
    ap.add_argument("--prune24", action="store_true")
    a = ap.parse_args()

    tensors = collections.OrderedDict()  # name -> (shape, float list)
    for name, shape, f32, _ in ckpt_oracle.load(a.src):
        tensors[name] = (shape, list(struct.unpack("<%df" % (len(f32) // 4), f32)))
    if a.prune24:
        for name, (shape, vals) in tensors.items():
            if ENCODER_LINEAR.match(name):
                prune24(vals, shape)
    for name in a.drop:
        del tensors[name]
    for spec in a.reshape + a.add:
        name, shape = spec.split("=")
        shape = parse_shape(shape)
        n = 1
        for d in shape:
            n *= d
        tensors[name] = (shape, [0.0] * n)

    cls_name, _ = DTYPES[a.dtype]
    cls = STORAGE_CLASSES[cls_name]
    storages = []  # (key, float list)
    state = collections.OrderedDict()

    def new_storage(values):
        key = str(len(storages))
        storages.append((key, values))
        return FakeStorage(key, cls, len(values))

    shared = "image_encoder.blocks.0.norm1."
    for name, (shape, vals) in tensors.items():
        if a.views and name == "image_encoder.blocks.0.attn.qkv.weight" and len(shape) == 2:
            rows, cols = shape
            transposed = [vals[r * cols + c] for c in range(cols) for r in range(rows)]
            state[name] = FakeTensor(new_storage(transposed), 0, shape, (1, rows))
        elif a.views and name == "image_encoder.pos_embed" and len(shape) == 4:
            _, g1, g2, ch = shape
            cf = [vals[(y * g2 + x) * ch + c] for c in range(ch) for y in range(g1) for x in range(g2)]
            state[name] = FakeTensor(new_storage(cf), 0, shape, (ch * g1 * g2, g2, 1, g1 * g2))
        elif a.views and name == "image_encoder.patch_embed.proj.bias":
            padded = [1234.5] * 5 + vals + [-1234.5] * 3
            state[name] = FakeTensor(new_storage(padded), 5, shape, contiguous_strides(shape))
        elif a.views and name == shared + "weight" and shared + "bias" in tensors:
            both = vals + tensors[shared + "bias"][1]
            st = new_storage(both)
            state[name] = FakeTensor(st, 0, shape, contiguous_strides(shape))
            bshape = tensors[shared + "bias"][0]
            state[shared + "bias"] = FakeTensor(st, len(vals), bshape, contiguous_strides(bshape))
        elif a.views and name == shared + "bias" and shared + "weight" in tensors:
            pass  # written right after the weight, which precedes it in state_dict order
        else:
            state[name] = FakeTensor(new_storage(vals), 0, shape, contiguous_strides(shape))
    state._metadata = collections.OrderedDict([("", {"version": 1})])  # as nn.Module.state_dict

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(state)

    if a.zip64:
        zipfile.ZIP64_LIMIT = 0  # every size and offset then goes to ZIP64 fields
    with zipfile.ZipFile(a.dst, "w", zipfile.ZIP_STORED) as zf:
        method = zipfile.ZIP_DEFLATED if a.compress else zipfile.ZIP_STORED
        zf.writestr(zipfile.ZipInfo(a.top + "/data.pkl"), buf.getvalue(), compress_type=method)
        zf.writestr(zipfile.ZipInfo(a.top + "/byteorder"), b"little")
        for key, vals in storages:
            zf.writestr(zipfile.ZipInfo("%s/data/%s" % (a.top, key)), encode(vals, a.dtype))
        zf.writestr(zipfile.ZipInfo(a.top + "/version"), b"3\n")
    if a.zip64:
        # Python still writes the real values in the classic end record where they fit; other
        # writers put 0xFFFF.. there. Do so, so the reader must follow the ZIP64 locator.
        with open(a.dst, "r+b") as f:
            f.seek(-22, os.SEEK_END)
            eocd = bytearray(f.read(22))
            assert eocd[:4] == b"PK\x05\x06"
            eocd[8:12] = b"\xff\xff\xff\xff"
            eocd[12:20] = b"\xff" * 8
            f.seek(-22, os.SEEK_END)
            f.write(eocd)


if __name__ == "__main__":
    main()
