"""Oracle for datasets/image.c: Pillow's decoding (Image.open(f).convert("RGB"), what the seed
reads images with, through skimage / imageio) against `sam-data decode`.

    oracle_images.py gen DIR        write test images of every kind into DIR
    oracle_images.py check DIR      compare DIR/<name> with DIR/<name>.npy (ours), PASS/FAIL lines
"""
import os
import sys

import numpy as np
from PIL import Image


def scene(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                    ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    img[h // 4: h // 2, w // 4: w // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    noise = rng.integers(0, 40, (h, w, 1), dtype=np.uint8)
    return (img // 2 + noise).astype(np.uint8)


def write_ycck(path, cmyk):
    """A YCCK JPEG (TurboJPEG converts CMYK input to YCCK), through ctypes: Pillow cannot."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0"
    tj = ctypes.CDLL(name)
    tj.tjInitCompress.restype = ctypes.c_void_p
    h = tj.tjInitCompress()
    buf = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    px = np.ascontiguousarray(cmyk)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    rc = tj.tjCompress2(ctypes.c_void_p(h), px.ctypes.data_as(ctypes.c_void_p), px.shape[1], 0,
                        px.shape[0], TJPF_CMYK, ctypes.byref(buf), ctypes.byref(size), TJSAMP_420,
                        90, 0)
    assert rc == 0, "tjCompress2 failed"
    with open(path, "wb") as f:
        f.write(ctypes.string_at(buf, size.value))
    tj.tjFree(buf)
    tj.tjDestroy(ctypes.c_void_p(h))


def gen(d):
    os.makedirs(d, exist_ok=True)
    rgb = Image.fromarray(scene(97, 131, 1))
    rgb.save(f"{d}/rgb_q75.jpg", quality=75)
    rgb.save(f"{d}/rgb_q95_444.jpg", quality=95, subsampling=0)
    rgb.save(f"{d}/rgb_422.jpg", quality=90, subsampling=1)
    rgb.save(f"{d}/rgb_progressive.jpg", quality=85, progressive=True)
    Image.fromarray(scene(480, 640, 2)).save(f"{d}/rgb_640x480.jpg", quality=92)
    rgb.convert("L").save(f"{d}/gray.jpg", quality=90)
    cmyk_px = np.array(rgb.convert("CMYK"))
    cmyk_px[..., 3] = np.arange(cmyk_px.shape[1], dtype=np.uint8)[None, :]  # some black too
    Image.fromarray(cmyk_px, "CMYK").save(f"{d}/cmyk.jpg", quality=90)  # Pillow: plain CMYK
    write_ycck(f"{d}/ycck.jpg", cmyk_px)
    rgb.save(f"{d}/rgb.png")
    rgba = rgb.convert("RGBA")
    a = np.array(rgba)
    a[..., 3] = np.arange(a.shape[1], dtype=np.uint8)[None, :] * 2
    Image.fromarray(a).save(f"{d}/rgba.png")
    rgb.convert("L").save(f"{d}/gray.png")
    rgb.convert("LA").save(f"{d}/gray_alpha.png")
    rgb.convert("P", palette=Image.ADAPTIVE, colors=50).save(f"{d}/palette.png")
    p = rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
    p.save(f"{d}/palette_transparent.png", transparency=3)
    rgb.convert("1").save(f"{d}/bilevel.png")
    g16 = (np.arange(97 * 131, dtype=np.uint32).reshape(97, 131) * 7 % 700).astype(np.uint16)
    Image.fromarray(g16).save(f"{d}/gray16.png")


def check(d):
    fails = 0
    names = sorted(f for f in os.listdir(d) if not f.endswith(".npy"))
    for name in names:
        ours_path = f"{d}/{name}.npy"
        ref = np.asarray(Image.open(f"{d}/{name}").convert("RGB"))
        if not os.path.exists(ours_path):
            print(f"FAIL {name}: sam-data decode wrote nothing")
            fails += 1
            continue
        ours = np.load(ours_path)
        mode = Image.open(f"{d}/{name}").mode
        if ours.shape != ref.shape:
            print(f"FAIL {name} ({mode}): shape {ours.shape} vs Pillow {ref.shape}")
            fails += 1
        elif not np.array_equal(ours, ref):
            diff = np.abs(ours.astype(int) - ref.astype(int))
            print(f"FAIL {name} ({mode}): {int((diff > 0).sum())} values differ from Pillow, "
                  f"max {int(diff.max())}")
            fails += 1
        else:
            print(f"PASS {name} ({mode}) decodes identical to Pillow's convert('RGB')")
    return fails


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    else:
        sys.exit(1 if check(sys.argv[2]) else 0)
