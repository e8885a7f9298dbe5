#!/usr/bin/python3
"""Independent numpy implementation of ggml's reference quantizers (quantize_row_*_ref) for
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1, used to produce golden bytes for tests/test-quants.c.

Every step is done in float32 exactly as the C reference does it (numpy float32 arithmetic is
IEEE single precision, float32 -> float16 conversion rounds to nearest even), so the bytes
must match gl_quantize_row_*_ref bit for bit. Algorithms (facts from ggml, see
docs/reference-notes.md section 1.5):
  Q4_0: m = signed value of max |x|; d = m / -8; q = min(15, trunc(x/d + 8.5))
  Q4_1: d = (max - min) / 15; q = min(15, trunc((x - min)/d + 0.5)); stores d, min
  Q5_0: d = m / -16; q = min(31, trunc(x/d + 16.5)); bit 4 of q goes to qh
  Q5_1: d = (max - min) / 31; q = min(31, trunc((x - min)/d + 0.5))
  Q8_0: d = max|x| / 127; q = roundf(x/d) (half away from zero)
  Q8_1: as Q8_0, plus s = fp16(d * sum(q))
("x/d" is computed as x * (1/d) in float32, and 1/d is 0 when d is 0.)

Regenerate the header (from the repository root):
    /usr/bin/python3 scripts/quant_ref.py > tests/quant_golden.h
"""
import sys

import numpy as np

from golden_header import c_bytes, c_define, c_floats, c_u16, write_header

F = np.float32
QK = 32


def f16_bytes(v):
    return np.array([v], dtype=np.float32).astype(np.float16).tobytes()


def inv(d):
    return F(1.0) / d if d != F(0) else F(0)


def signed_absmax(x):
    amax, mx = F(0), F(0)
    for v in x:  # first element of the largest magnitude wins, like the C loop
        if amax < abs(v):
            amax, mx = abs(v), v
    return mx


def trunc_min(v, hi):
    v = np.float32(v)
    return min(hi, int(np.trunc(v)))


def round_away(v):
    v = np.float32(v)
    t = np.trunc(v)
    frac = np.float32(v - t)
    return int(t + (np.sign(v) if abs(frac) >= F(0.5) else 0))


def q4_0(x):
    out = b""
    for b in range(0, len(x), QK):
        blk = x[b:b + QK]
        d = F(signed_absmax(blk) / F(-8))
        idv = inv(d)
        qs = [trunc_min(F(v * idv) + F(8.5), 15) for v in blk]
        out += f16_bytes(d) + bytes(qs[j] | (qs[j + 16] << 4) for j in range(16))
    return out


def q4_1(x):
    out = b""
    for b in range(0, len(x), QK):
        blk = x[b:b + QK]
        mn, mx = F(np.min(blk)), F(np.max(blk))
        d = F((mx - mn) / F(15))
        idv = inv(d)
        qs = [trunc_min(F(F(v - mn) * idv) + F(0.5), 15) for v in blk]
        out += f16_bytes(d) + f16_bytes(mn) + bytes(qs[j] | (qs[j + 16] << 4) for j in range(16))
    return out


def pack5(qs):
    qh = 0
    for j in range(32):
        qh |= ((qs[j] >> 4) & 1) << j
    return qh.to_bytes(4, "little") + bytes((qs[j] & 15) | ((qs[j + 16] & 15) << 4) for j in range(16))


def q5_0(x):
    out = b""
    for b in range(0, len(x), QK):
        blk = x[b:b + QK]
        d = F(signed_absmax(blk) / F(-16))
        idv = inv(d)
        qs = [trunc_min(F(v * idv) + F(16.5), 31) for v in blk]
        out += f16_bytes(d) + pack5(qs)
    return out


def q5_1(x):
    out = b""
    for b in range(0, len(x), QK):
        blk = x[b:b + QK]
        mn, mx = F(np.min(blk)), F(np.max(blk))
        d = F((mx - mn) / F(31))
        idv = inv(d)
        qs = [trunc_min(F(F(v - mn) * idv) + F(0.5), 31) for v in blk]
        out += f16_bytes(d) + f16_bytes(mn) + pack5(qs)
    return out


def q8(x, with_sum):
    out = b""
    for b in range(0, len(x), QK):
        blk = x[b:b + QK]
        d = F(F(np.max(np.abs(blk))) / F(127))
        idv = inv(d)
        qs = [round_away(F(v * idv)) for v in blk]
        body = np.array(qs, dtype=np.int8).tobytes()
        if with_sum:
            out += f16_bytes(d) + f16_bytes(F(F(sum(qs)) * d)) + body
        else:
            out += f16_bytes(d) + body
    return out


def inputs():
    rng = np.random.default_rng(20240601)
    blocks = [
        np.zeros(QK),                                   # all zero
        np.full(QK, 0.75),                              # constant positive
        np.full(QK, -3.0),                              # constant negative
        rng.normal(0, 1, QK),                           # typical
        rng.uniform(-1, 1, QK) * 1e20,                  # huge: fp16 scale overflows to inf
        rng.uniform(-1, 1, QK) * 1e-30,                 # tiny: fp16 scale underflows
        rng.uniform(-60000, 60000, QK),                 # near the fp16 range
        np.concatenate([[-9.0], rng.uniform(-8, 8, QK - 1)]),  # negative max
        np.arange(QK) - 15.5,                           # ramp, ties in the rounding
        np.array([(j % 5) * 0.5 - 1.0 for j in range(QK)]),  # exact halves
        rng.normal(0, 1, QK) * np.where(rng.uniform(0, 1, QK) < 0.1, 20, 1),  # outliers
        np.concatenate([[127.0, -127.0], np.arange(QK - 2) * 1.0 - 15.0]),
    ]
    return np.concatenate(blocks).astype(np.float32)


def fp16_cases():
    """Floats whose fp16 conversion exercises rounding, subnormals, overflow, inf and NaN."""
    vals = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 6.1035156e-05,
            6.0975552e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 4.4703484e-08,
            1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -11 + 2.0 ** -20, 0.1, 3.14159265,
            float("inf"), float("-inf")]
    rng = np.random.default_rng(7)
    vals += list(rng.normal(0, 1, 24)) + list(rng.normal(0, 1e-5, 16)) + list(rng.normal(0, 3e4, 16))
    return np.array(vals, dtype=np.float32)


def main():
    x = inputs()
    parts = [c_define("QG_N", len(x)), c_floats("qg_input", x)]
    for name, fn in [("q4_0", q4_0), ("q4_1", q4_1), ("q5_0", q5_0), ("q5_1", q5_1),
                     ("q8_0", lambda v: q8(v, False)), ("q8_1", lambda v: q8(v, True))]:
        parts.append(c_bytes("qg_" + name, fn(x)))
    h = fp16_cases()
    parts += [c_define("QG_N_FP16", len(h)), c_floats("qg_fp16_in", h),
              c_u16("qg_fp16_out", h.astype(np.float16).view(np.uint16))]
    write_header(sys.stdout, "quant_ref.py", "reference quantizers", "tests/quant_golden.h", parts)


if __name__ == "__main__":
    with np.errstate(over="ignore"):
        main()
