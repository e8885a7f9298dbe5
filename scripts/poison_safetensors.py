#!/usr/bin/env python3
"""Copies a safetensors file, writing NaN/inf into the first elements of one F32 tensor.

usage: poison_safetensors.py IN.safetensors OUT.safetensors TENSOR_NAME
(used by tests/cli-reliability.sh to check that convert/quantize report NaN/inf weights)
"""
import json
import struct
import sys


def main():
    src, dst, name = sys.argv[1:4]
    data = bytearray(open(src, "rb").read())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    t = header[name]
    assert t["dtype"] == "F32", "the tensor must be F32"
    off = 8 + n + t["data_offsets"][0]
    struct.pack_into("<3f", data, off, float("nan"), float("inf"), float("-inf"))
    open(dst, "wb").write(data)


if __name__ == "__main__":
    main()
