#!/usr/bin/env bash
# Pillow oracle for image decoding: JPEGs (4:2:0, 4:2:2, 4:4:4, progressive, grayscale, CMYK,
# YCCK)
# and PNGs (RGB, RGBA, gray, gray+alpha, 16-bit gray, palette, palette with transparency,
# bilevel) decode through `sam-data decode` identical to Image.open(f).convert("RGB").
set -u
BUILD=${BUILD:-build}
py=$BUILD/venv/bin/python
tool=$BUILD/sam-data
for f in "$py" "$tool"; do
    [ -x "$f" ] || { echo "FAIL image oracle setup: $f missing"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" tests/datasets/oracle_images.py gen "$tmp" || { echo "FAIL image generator"; exit 1; }
for f in "$tmp"/*; do
    "$tool" decode --image "$f" --out "$f.npy" >/dev/null 2>"$tmp.err" ||
        echo "FAIL sam-data decode $(basename "$f"): $(cat "$tmp.err")"
done
rm -f "$tmp.err"
"$py" tests/datasets/oracle_images.py check "$tmp"
