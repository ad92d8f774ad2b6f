#!/usr/bin/env python3
"""Writes a model file without metadata, as ctnn 0.3.0 saved them (format 3), from a format-3
model file of the same network: every value zero but the last tensor's (the output layer's bias),
which becomes 0, STEP, 2 STEP, ..., so that the network's outputs are known for any input.

    make_models.py IN OUT STEP        (OUT is written gzip-compressed)

fashion_cnn_0.3.0.ctnn.gz: fashion_mnist_cnn --epochs 0 --save IN, STEP 0.1.
folder_cnn_32_1_format3.ctnn.gz: image_folder_train --size 32 --channels 1 --save IN, STEP 0.01.
"""
import gzip, struct, sys, zlib

src, dst, step = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = bytearray(open(src, "rb").read())
assert b[:8] == b"CTNNMODL" and struct.unpack_from("<I", b, 8)[0] == 3, "not a format-3 model file"
L = struct.unpack_from("<I", b, 12)[0]
at = 44 + L  # the tensor table, after the signature, its hash and the counts
sizes = []
for _ in range(struct.unpack_from("<I", b, 40 + L)[0]):
    n = struct.unpack_from("<I", b, at)[0]
    rank = struct.unpack_from("<I", b, at + 4 + n + 4)[0]
    dims = struct.unpack_from("<%dQ" % rank, b, at + 4 + n + 8)
    count = 1
    for d in dims:
        count *= d
    sizes.append(count)
    at += 4 + n + 8 + 8 * rank
values = [0.0] * (sum(sizes) - sizes[-1]) + [i * step for i in range(sizes[-1])]
assert at + 4 * len(values) + 4 == len(b), "the file holds state values or is not as expected"
struct.pack_into("<%df" % len(values), b, at, *values)
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
with gzip.GzipFile(dst, "wb", mtime=0) as f:
    f.write(bytes(b))
