#!/usr/bin/env python3
"""Independent reader of torch.save checkpoints (Python standard library only, no torch): the
oracle that tests/core/test_checkpoint.c compares variants/core/checkpoint.c against.

    ckpt_oracle.py FILE.pth

prints one line per tensor, in state_dict order:

    T <name> <shape d0,d1,... or - for 0-d> <element count> <crc32 of the float32 values, hex>

The float32 values are the tensor's elements in C order (storage offset and strides applied),
float16 and bfloat16 storages converted exactly. zipfile, pickle and struct do the work; this
file shares no code with the C reader. make_pth.py imports load() to rewrite checkpoints.
"""
import collections
import io
import pickle
import struct
import sys
import zipfile
import zlib

# torch.<T>Storage -> (struct code of one element, bytes per element)
STORAGE_TYPES = {"FloatStorage": ("f", 4), "HalfStorage": ("e", 2), "BFloat16Storage": ("bf16", 2)}


class StorageType:
    def __init__(self, name):
        self.name = name


class Storage:
    def __init__(self, type_name, raw, numel):
        code, size = STORAGE_TYPES[type_name]
        if len(raw) < numel * size:
            raise ValueError("storage entry shorter than its numel")
        self.type_name = type_name
        raw = raw[: numel * size]
        # Decode the whole storage to float32 little-endian bytes.
        if code == "f":
            self.f32 = bytes(raw)
        elif code == "e":
            self.f32 = struct.pack("<%df" % numel, *struct.unpack("<%de" % numel, raw))
        else:  # bfloat16: the high half of a float32
            out = bytearray(4 * numel)
            out[2::4] = raw[0::2]
            out[3::4] = raw[1::2]
            self.f32 = bytes(out)
        self.numel = numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def count(self):
        n = 1
        for s in self.size:
            n *= s
        return n

    def float32_bytes(self):
        """The elements in C order as float32 little-endian bytes."""
        n = self.count()
        if n == 0:
            return b""
        contiguous, expect = True, 1
        for s, st in reversed(list(zip(self.size, self.stride))):
            if s != 1 and st != expect:
                contiguous = False
            expect *= s
        src = self.storage.f32
        if contiguous:
            return src[4 * self.offset : 4 * (self.offset + n)]
        idx = [self.offset]
        for s, st in zip(self.size, self.stride):
            idx = [i + k * st for i in idx for k in range(s)]
        mv = memoryview(src)
        return b"".join(mv[4 * i : 4 * i + 4] for i in idx)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    return Tensor(storage, offset, size, stride)


class Unpickler(pickle.Unpickler):
    def __init__(self, data, zf, top):
        super().__init__(io.BytesIO(data))
        self.zf, self.top = zf, top

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_TYPES:
            return StorageType(name)
        raise pickle.UnpicklingError("unsupported global %s.%s" % (module, name))

    def persistent_load(self, pid):
        kind, stype, key, location, numel = pid
        assert kind == "storage"
        return Storage(stype.name, self.zf.read("%s/data/%s" % (self.top, key)), numel)


def load(path):
    """[(name, shape, float32 bytes, storage type name)] in state_dict order."""
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError("expected one <top>/data.pkl, found %r" % pkl)
        top = pkl[0].split("/")[0]
        sd = Unpickler(zf.read(pkl[0]), zf, top).load()
    return [(name, t.size, t.float32_bytes(), t.storage.type_name) for name, t in sd.items()]


def main():
    for name, shape, f32, _ in load(sys.argv[1]):
        dims = ",".join(str(s) for s in shape) if shape else "-"
        print("T %s %s %d %08x" % (name, dims, len(f32) // 4, zlib.crc32(f32)))


if __name__ == "__main__":
    main()
