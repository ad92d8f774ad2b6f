#!/usr/bin/python3
"""Writes the NumPy and gzip'd CSV fixtures of tests/test_npy.cpp and tests/test_csv.cpp.

Under tests/data/tables/:
  DTYPE_c.npy, DTYPE_f.npy  for every dtype ctnn reads (f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1): the
                            3 x 4 array v[i, j] = value(4 i + j) in C and in Fortran order
                            (value: k - 5 for signed types, k for unsigned, 0.5 k - 2.5 for
                            floats, k % 3 == 0 for bool), written by numpy.save
  f4_3d_f.npy               the 2 x 3 x 2 float32 array 0.5 k - 2.5 (k in C order), Fortran order
  v2.npy, v3.npy            the float64 3 x 4 array in format versions 2.0 and 3.0
  xy.npz, xy_deflated.npz   x (6 x 2 x 2 float32, 0.25 k) and y (6 int64 labels k % 3), by
                            numpy.savez and numpy.savez_compressed
  reg.csv.gz                a gzip'd CSV with a header: a, b, target; rows (k, 2 k, 3 k + 1)
Run with Debian's python3-numpy from the repository root: python3 tools/make_table_fixtures.py
"""
import gzip
import numpy as np
from numpy.lib import format as npformat

OUT = "tests/data/tables/"


def values(dtype, n):
    k = np.arange(n)
    kind = np.dtype(dtype).kind
    if kind == "b":
        return (k % 3 == 0).astype(dtype)
    if kind == "f":
        return (0.5 * k - 2.5).astype(dtype)
    if kind == "i":
        return (k - 5).astype(dtype)
    return k.astype(dtype)


def main():
    for dt in ["<f4", "<f8", "<i1", "<i2", "<i4", "<i8", "<u1", "<u2", "<u4", "<u8", "|b1"]:
        a = values(dt, 12).reshape(3, 4)
        name = dt[1:]
        np.save(OUT + f"{name}_c.npy", np.ascontiguousarray(a))
        np.save(OUT + f"{name}_f.npy", np.asfortranarray(a))
    np.save(OUT + "f4_3d_f.npy", np.asfortranarray(values("<f4", 12).reshape(2, 3, 2)))
    a = values("<f8", 12).reshape(3, 4)
    for v in [(2, 0), (3, 0)]:
        with open(OUT + f"v{v[0]}.npy", "wb") as f:
            npformat.write_array(f, a, version=v)
    x = (0.25 * np.arange(24)).astype(np.float32).reshape(6, 2, 2)
    y = (np.arange(6) % 3).astype(np.int64)
    np.savez(OUT + "xy.npz", x=x, y=y)
    np.savez_compressed(OUT + "xy_deflated.npz", x=x, y=y)
    with gzip.open(OUT + "reg.csv.gz", "wt") as f:
        f.write("a,b,target\n")
        for k in range(5):
            f.write(f"{k},{2 * k},{3 * k + 1}\n")


if __name__ == "__main__":
    main()
