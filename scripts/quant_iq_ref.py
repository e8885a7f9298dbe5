#!/usr/bin/python3
"""Independent numpy implementation of ggml's IQ4_NL and IQ4_XS quantizers as llama-quantize
runs them (quantize_iq4_nl / quantize_iq4_xs with no importance matrix), used to produce golden
bytes for tests/test-quants-iq.c.

Every float step is a numpy float32 scalar operation in the order the C algorithm uses (no
fused multiply-add); fp16 conversion rounds to nearest even. The algorithm (facts from ggml's
ggml-quants.c, written down independently here):
  per 32 values x: weights w = x^2; amax = largest |x| (first one wins), max = its signed
  value; amax < 1e-15: scale 0. Otherwise codes l = nearest table entry to x / d for
  d = max / 127 (the table is ggml's kvalues_iq4nl), least-squares d = sum(w q x) / sum(w q q),
  best = d * sum(w q x); then for t in -7..7 the inverse scale (t - 127) / max gives a trial
  whose d replaces the current one when sumqx^2 > best * sumq2.
  IQ4_NL (one group per block): fp16(d) stored, codes re-picked with 1/d (float d).
  IQ4_XS (8 groups per 256): D = -(signed largest |d|) / 32, fp16(D) stored; per group
  ls = round_even(d / D) clamped to -32..31, codes re-picked with 1 / (D * ls); ls + 32 stored
  as 4 low bits (two per byte, even groups low) and 2 high bits (2 per group in a u16).
  Codes: byte j of a group = code[j] | code[j + 16] << 4.

Regenerate the header (from the repository root):
    /usr/bin/python3 scripts/quant_iq_ref.py > tests/quant_iq_golden.h
"""
import struct
import sys

import numpy as np

from golden_header import c_bytes, c_define, c_floats, write_header

F = np.float32
VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
VALUES_F = [F(v) for v in VALUES]


def f16_bytes(v):
    return np.array([v], dtype=np.float32).astype(np.float16).tobytes()


def round_even(v):
    return int(np.rint(F(v)))


def nearest(x):
    """Index of the table entry nearest the float32 x (binary search, as ggml resolves ties)."""
    if x <= VALUES_F[0]:
        return 0
    if x >= VALUES_F[15]:
        return 15
    lo, hi = 0, 15
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if x < VALUES_F[mid]:
            hi = mid
        else:
            lo = mid
    return hi - 1 if F(x - VALUES_F[hi - 1]) < F(VALUES_F[hi] - x) else hi


def fit(x, w, inv):
    sqx, sq2 = F(0), F(0)
    for xj, wj in zip(x, w):
        q = VALUES_F[nearest(F(inv * xj))]
        sqx = F(sqx + F(F(wj * q) * xj))
        sq2 = F(sq2 + F(F(wj * q) * q))
    return sqx, sq2


def group_scale(x):
    w = [F(v * v) for v in x]
    amax, mx = F(0), F(0)
    for v in x:
        if abs(v) > amax:
            amax, mx = F(abs(v)), v
    if amax < F(1e-15):
        return F(0)
    d0 = F(F(-mx) / F(-127))
    sqx, sq2 = fit(x, w, F(F(1) / d0))
    d = F(sqx / sq2) if sq2 > 0 else F(0)
    best = F(d * sqx)
    for t in range(-7, 8):
        sqx, sq2 = fit(x, w, F(F(t - 127) / mx))
        if sq2 > 0 and F(sqx * sqx) > F(best * sq2):
            d = F(sqx / sq2)
            best = F(d * sqx)
    return d


def codes(x, inv):
    L = [nearest(F(inv * v)) for v in x]
    return bytes(L[j] | (L[j + 16] << 4) for j in range(16))


def iq4_nl(x):
    out = bytearray()
    for i in range(0, len(x), 32):
        g = x[i:i + 32]
        d = group_scale(g)
        out += f16_bytes(d)
        out += codes(g, F(F(1) / d) if d != 0 else F(0))
    return bytes(out)


def iq4_xs(x):
    out = bytearray()
    for i in range(0, len(x), 256):
        sb = x[i:i + 256]
        scales = [group_scale(sb[32 * ib:32 * ib + 32]) for ib in range(8)]
        amax, mx = F(0), F(0)
        for s in scales:
            if abs(s) > amax:
                amax, mx = F(abs(s)), s
        D = F(F(-mx) / F(32))
        inv = F(F(1) / D) if D != 0 else F(0)
        scales_h, scales_l, qs = 0, [0, 0, 0, 0], bytearray()
        for ib in range(8):
            ls = min(31, max(-32, round_even(F(inv * scales[ib]))))
            dl = F(D * F(ls))
            qs += codes(sb[32 * ib:32 * ib + 32], F(F(1) / dl) if dl != 0 else F(0))
            ls += 32
            scales_l[ib // 2] |= (ls & 15) << (4 * (ib % 2))
            scales_h |= (ls >> 4) << (2 * ib)
        out += f16_bytes(D) + struct.pack("<H", scales_h) + bytes(scales_l) + bytes(qs)
    return bytes(out)


def make_input():
    rng = np.random.default_rng(20261207)
    n = 256
    blocks = [
        rng.standard_normal(n).astype(F),                        # typical weights
        np.zeros(n, F),                                          # all zero
        (rng.standard_normal(n) * F(0.02) + F(0.05)).astype(F),  # offset, mostly positive
        np.full(n, F(-0.75)),                                    # constant
        (rng.standard_normal(n) * F(0.01)).astype(F),            # outliers
        (rng.uniform(-1, 1, n) ** 3).astype(F),                  # heavy centre
        (rng.standard_normal(n) * F(1e-3)).astype(F),            # small scale
    ]
    blocks[4][::40] = F(3.0)
    blocks[6][32:64] = 0                                         # a zero group in a super-block
    return [F(v) for v in np.concatenate(blocks).astype(F)]


def main():
    x = make_input()
    write_header(sys.stdout, "quant_iq_ref.py", "IQ4_NL / IQ4_XS quantizers", "tests/quant_iq_golden.h",
                 [c_define("QIG_N", len(x)), c_floats("qig_input", x),
                  c_bytes("qig_iq4_nl", iq4_nl(x)), c_bytes("qig_iq4_xs", iq4_xs(x))])


if __name__ == "__main__":
    main()
