#!/usr/bin/python3
"""Writes the small HDF5 files under tests/data/hdf5/ that tests/test-hdf5.c reads.

Run with a Python that has h5py and numpy (Debian: apt-get install python3-h5py):

    /usr/bin/python3 scripts/make_hdf5_fixtures.py [OUTDIR]   # default tests/data/hdf5

Every dataset holds values given by a formula of its flat (row-major) index i, so the C test
can check each element exactly without a copy of the data:

    f32 / f32be / f16      i * 0.25 - 3          (exact in binary16/32)
    f64 / f64be            i * 0.1 - 1           (the same double multiply in C and numpy)
    i8 / i16be / i32 / i32be / i64be   (i * 7919) % 251 - 125   (small signed)
    u8 / u16 / u32be / u64             (i * 7919) % 251

Files (h5py 3.x with libhdf5 1.10+):
    earliest.h5   libver='earliest': superblock v0, object header v1, old-style groups
                  (symbol table + B-tree v1 + local heap), layout message v3 (contiguous,
                  chunked with a B-tree v1 chunk index, compact), nested groups.
    latest.h5     libver='latest': superblock v3, object header v2, new-style groups (link
                  messages), layout message v4 (contiguous; chunked with single-chunk and
                  fixed-array indexes), at most 8 members per group (compact links).
    userblock.h5  earliest + a 512-byte user block before the superblock.
    gzip.h5       a gzip-filtered chunked dataset (the reader must refuse it clearly).
    dense.h5      libver='latest' group with 12 members (dense link storage: refused clearly).
    resizable.h5  libver='latest' chunked dataset with maxshape=None (extensible array
                  index: refused clearly).
    cyclic.h5     a group holding a hard link back to the root group (reported as cyclic
                  by the visitor, not skipped).
"""
import os
import sys

import h5py
import numpy as np


def values(kind, shape, dtype):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    if kind == "f32":
        v = (i.astype(np.float64) * 0.25 - 3)
    elif kind == "f64":
        v = i.astype(np.float64) * 0.1 - 1
    elif kind == "sint":
        v = (i * 7919) % 251 - 125
    else:
        v = (i * 7919) % 251
    return v.astype(dtype).reshape(shape)


# name, formula, numpy dtype (byte order explicit), shape, create_dataset extras
DATASETS = [
    ("f32", "f32", "<f4", (3, 4), {}),
    ("f32be", "f32", ">f4", (5,), {}),
    ("f16", "f32", "<f2", (6,), {}),
    ("f64", "f64", "<f8", (2, 3, 4), {}),
    ("f64be", "f64", ">f8", (7,), {}),
    ("i8", "sint", "<i1", (9,), {}),
    ("i16be", "sint", ">i2", (4, 2), {}),
    ("i32", "sint", "<i4", (10,), {}),
    ("i32be", "sint", ">i4", (10,), {}),
    ("i64be", "sint", ">i8", (3,), {}),
    ("u8", "uint", "<u1", (5,), {}),
    ("u16", "uint", "<u2", (5,), {}),
    ("u32be", "uint", ">u4", (5,), {}),
    ("u64", "uint", "<u8", (5,), {}),
    ("scalar", "f64", "<f8", (), {}),
    ("compact", "f32", "<f4", (4,), {"compact": True}),
    # chunked: edge chunks that stick out of the dataset, several B-tree entries
    ("chunked/a", "f32", "<f4", (7, 5), {"chunks": (3, 2)}),
    ("chunked/b", "f64", ">f8", (4, 3, 5), {"chunks": (2, 2, 2)}),
    ("chunked/one", "f32", "<f4", (4, 4), {"chunks": (4, 4)}),
    ("chunked/big", "f32", "<f4", (100, 40), {"chunks": (8, 8)}),
    ("deep/er/still/x", "sint", "<i4", (2, 2), {}),
]


def make_dataset(f, name, kind, dtype, shape, extra):
    data = values(kind, shape, np.dtype(dtype))
    if extra.get("compact"):
        space = h5py.h5s.create_simple(shape)
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        tid = h5py.h5t.py_create(np.dtype(dtype))
        dsid = h5py.h5d.create(f.id, name.encode(), tid, space, dcpl=plist)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data))
        return
    f.create_dataset(name, data=data, dtype=dtype, chunks=extra.get("chunks"))


def write_file(path, libver, datasets, userblock=0):
    kw = {"libver": libver}
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(path, "w", **kw) as f:
        for name, kind, dtype, shape, extra in datasets:
            make_dataset(f, name, kind, dtype, shape, extra)


def write_cyclic(path):
    with h5py.File(path, "w", libver="earliest") as f:
        g = f.create_group("g")
        g.create_dataset("x", data=values("f32", (2,), np.float32))
        g["up"] = f["/"]  # a hard link to the root: g/up/g/up/... loops


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "hdf5")
    os.makedirs(out, exist_ok=True)
    write_file(os.path.join(out, "earliest.h5"), "earliest", DATASETS)
    # 'latest' groups switch to dense storage above 8 links: spread the datasets over groups
    latest = [(("g%d/" % (k // 6)) + n.replace("/", "_"), *rest) for k, (n, *rest) in enumerate(DATASETS)]
    write_file(os.path.join(out, "latest.h5"), "latest", latest)
    write_file(os.path.join(out, "userblock.h5"), "earliest", DATASETS[:3], userblock=512)
    with h5py.File(os.path.join(out, "gzip.h5"), "w", libver="earliest") as f:
        f.create_dataset("z", data=values("f32", (64,), np.float32), chunks=(16,), compression="gzip")
    with h5py.File(os.path.join(out, "dense.h5"), "w", libver="latest") as f:
        for k in range(12):
            f.create_dataset("d%02d" % k, data=values("f32", (2,), np.float32))
    with h5py.File(os.path.join(out, "resizable.h5"), "w", libver="latest") as f:
        f.create_dataset("r", data=values("f32", (6, 4), np.float32), chunks=(2, 2), maxshape=(None, 4))
    write_cyclic(os.path.join(out, "cyclic.h5"))
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        print("%-14s %6d bytes" % (name, os.path.getsize(p)))


if __name__ == "__main__":
    main()
