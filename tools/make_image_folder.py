#!/usr/bin/env python3
"""Writes Fashion-MNIST images as grayscale PNG files in the ImageFolder layout.

    OUT/<class name>/<index>.png

<index> is the image's position in the IDX file (0-based); class names are Fashion-MNIST's,
with '/' replaced by '_' ("T-shirt/top" -> "T-shirt_top"). For each class the first N images of
that class in file order are written, so the output is the same on every run. Only the Python 3
standard library is used: the PNG files (8-bit grayscale, no interlacing, filter 0 on every row)
are assembled by hand with zlib and struct, following the PNG specification (ISO/IEC 15948).

    python3 tools/make_image_folder.py OUT [--per-class N] [--data-dir DIR] [--split test|train]
                                           [--invert] [--copies K]

With --copies K every image is written K times, as <index>.png, <index>-1.png, ...,
<index>-(K-1).png: a folder larger than the data set (for measuring memory and speed of
readers on many files).
"""

import argparse
import gzip
import os
import struct
import sys
import zlib

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def open_maybe_gzip(path):
    """Opens path, or path without .gz when only the uncompressed file exists."""
    if not os.path.exists(path) and path.endswith(".gz") and os.path.exists(path[:-3]):
        path = path[:-3]
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return (gzip.open if gz else open)(path, "rb"), path


def read_idx(path, ndims):
    """Returns (dims, bytes) of an IDX file of unsigned bytes with ndims dimensions."""
    f, path = open_maybe_gzip(path)
    with f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] != ndims:
        sys.exit(f"{path}: not an IDX file of unsigned bytes with {ndims} dimensions")
    dims = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    body = data[4 + 4 * ndims:]
    size = 1
    for d in dims:
        size *= d
    if len(body) != size:
        sys.exit(f"{path}: header says {size} bytes of data, file has {len(body)}")
    return dims, body


def png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload +
            struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png_grey(width, height, pixels):
    """An 8-bit grayscale PNG of width x height bytes, rows from the top."""
    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # depth 8, grey, no interlace
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="output directory (created; existing files are overwritten)")
    p.add_argument("--per-class", type=int, default=50, metavar="N",
                   help="images per class (default 50)")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist",
                   help="directory of the IDX files (default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--split", choices=["test", "train"], default="test",
                   help="t10k-* (test, default) or train-* files")
    p.add_argument("--invert", action="store_true",
                   help="write 255 - value: dark objects on a light background, like photos")
    p.add_argument("--copies", type=int, default=1, metavar="K",
                   help="write every image K times (default 1)")
    a = p.parse_args()
    if a.per_class < 1:
        p.error("--per-class must be at least 1")
    if a.copies < 1:
        p.error("--copies must be at least 1")

    prefix = "t10k" if a.split == "test" else "train"
    (count, rows, cols), images = read_idx(
        os.path.join(a.data_dir, f"{prefix}-images-idx3-ubyte.gz"), 3)
    (nlabels,), labels = read_idx(os.path.join(a.data_dir, f"{prefix}-labels-idx1-ubyte.gz"), 1)
    if nlabels != count:
        sys.exit(f"{nlabels} labels for {count} images")

    written = [0] * len(CLASSES)
    flip = bytes(range(255, -1, -1))
    for i in range(count):
        k = labels[i]
        if k >= len(CLASSES):
            sys.exit(f"label {k} of image {i} is not a Fashion-MNIST class")
        if written[k] >= a.per_class:
            continue
        pixels = images[i * rows * cols:(i + 1) * rows * cols]
        if a.invert:
            pixels = pixels.translate(flip)
        folder = os.path.join(a.out, CLASSES[k].replace("/", "_"))
        os.makedirs(folder, exist_ok=True)
        png = png_grey(cols, rows, pixels)
        for c in range(a.copies):
            with open(os.path.join(folder, f"{i}-{c}.png" if c else f"{i}.png"), "wb") as f:
                f.write(png)
        written[k] += 1
        if min(written) >= a.per_class:
            break
    for k, n in enumerate(written):
        if n < a.per_class:
            print(f"warning: only {n} images of class {CLASSES[k]!r}", file=sys.stderr)
    copies = f" ({a.copies} copies each)" if a.copies > 1 else ""
    print(f"wrote {sum(written) * a.copies} images{copies} of {len(CLASSES)} classes to {a.out}")


if __name__ == "__main__":
    main()
