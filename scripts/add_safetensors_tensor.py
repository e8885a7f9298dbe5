#!/usr/bin/env python3
"""Copies a safetensors file with one more F32 tensor of shape [2, 3] (values 0..5) named NAME.

usage: add_safetensors_tensor.py IN.safetensors OUT.safetensors NAME
(used by tests/cli-convert.sh: a tensor no converter maps must be named, and --strict refuses)
"""
import json
import struct
import sys


def main():
    src, dst, name = sys.argv[1:4]
    data = open(src, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    extra = struct.pack("<6f", *range(6))
    header[name] = {"dtype": "F32", "shape": [2, 3], "data_offsets": [len(body), len(body) + len(extra)]}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(h)) + h + body + extra)


if __name__ == "__main__":
    main()
