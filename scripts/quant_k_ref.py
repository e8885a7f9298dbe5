#!/usr/bin/python3
"""Independent numpy implementation of ggml's K-quant reference quantizers (Q2_K, Q3_K, Q4_K,
Q5_K, Q6_K and the Q8_K activations), used to produce golden bytes for tests/test-quants-k.c.

Every float step is a numpy float32 scalar operation in the order the C algorithm uses (no
fused multiply-add), round-to-nearest-even as ggml's nearest_int does, fp16 conversion
rounding to nearest even, so the bytes must match gl_quantize_row_*_ref exactly. The
algorithms (facts from ggml's ggml-quants.c, written down independently here):
  Q4_K/Q5_K  per 32 values: weights rms(x) + |x|; scale/min search over a grid of
             nstep+1 stretches (Q4_K: rmin -1, 20 steps; Q5_K: -0.5, 15 steps; rdelta 0.1)
             with a weighted least-squares fit per grid; 6-bit scales and mins relative to
             the largest ones (d = max_scale/63, dmin = max_min/63); codes recomputed from
             the stored scales.
  Q6_K       per 16 values: symmetric search, weights x^2, nmax 32, 18 stretched grids;
             int8 scales with d = -max_scale/128; codes -32..31 stored +32.
  Q3_K       per 16 values: symmetric codes -4..3 refined by single-code moves (5 passes);
             6-bit scales with d = -max_scale/32.
  Q2_K       per 16 values: scale/min search, weights |x|, absolute error, codes 0..3;
             4-bit scales and mins, d = max_scale/15, dmin = max_min/15.
  Q8_K       iscale = -127/(signed max |x|), q = min(127, round_even(iscale x)), d = 1/iscale,
             bsums per 16 values.

Regenerate the header (from the repository root):
    /usr/bin/python3 scripts/quant_k_ref.py > tests/quant_k_golden.h
"""
import struct
import sys

import numpy as np

from golden_header import c_bytes, c_define, c_floats, write_header

F = np.float32
QK = 256


def ni(v):
    """ggml's nearest_int: round half to even in float32."""
    return int(np.rint(F(v)))


def clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def f16(v):
    return np.array([v], dtype=np.float32).astype(np.float16)[0]


def f16_bytes(v):
    return f16(v).tobytes()


def f16_val(v):
    return F(f16(v))


def qkx2(x, w, nmax, rmin, rdelta, nstep, use_mad):
    n = len(x)
    mn, mx = x[0], x[0]
    sum_w = w[0]
    sum_x = F(sum_w * x[0])
    for i in range(1, n):
        if x[i] < mn:
            mn = x[i]
        if x[i] > mx:
            mx = x[i]
        sum_w = F(sum_w + w[i])
        sum_x = F(sum_x + F(w[i] * x[i]))
    if mn > 0:
        mn = F(0)
    if mx == mn:
        return F(0), F(-mn), [0] * n
    iscale = F(F(nmax) / F(mx - mn))
    scale = F(F(1) / iscale)

    def err(L, sc, m):
        e = F(0)
        for i in range(n):
            d = F(F(F(sc * F(L[i])) + m) - x[i])
            d = F(abs(d)) if use_mad else F(d * d)
            e = F(e + F(w[i] * d))
        return e

    L = [clamp(ni(F(iscale * F(x[i] - mn))), 0, nmax) for i in range(n)]
    best = err(L, scale, mn)
    for step in range(nstep + 1):
        # (max - min) with the min of the best fit so far, as in ggml
        iscale = F(F(F(rmin + F(rdelta * F(step))) + F(nmax)) / F(mx - mn))
        La = [clamp(ni(F(iscale * F(x[i] - mn))), 0, nmax) for i in range(n)]
        sl = sl2 = sxl = F(0)
        for i in range(n):
            lf = F(La[i])
            sl = F(sl + F(w[i] * lf))
            sl2 = F(sl2 + F(F(w[i] * lf) * lf))
            sxl = F(sxl + F(F(w[i] * lf) * x[i]))
        D = F(F(sum_w * sl2) - F(sl * sl))
        if D > 0:
            ts = F(F(F(sum_w * sxl) - F(sum_x * sl)) / D)
            tm = F(F(F(sl2 * sum_x) - F(sl * sxl)) / D)
            if tm > 0:
                tm = F(0)
                ts = F(sxl / sl2)
            e = err(La, ts, tm)
            if e < best:
                L, best, scale, mn = La, e, ts, tm
    return scale, F(-mn), L


def signed_max(x):
    mx, amax = F(0), F(0)
    for v in x:
        if abs(v) > amax:
            amax, mx = F(abs(v)), v
    return mx, amax


def qx(x, nmax):
    n = len(x)
    mx, amax = signed_max(x)
    if amax < F(1e-15):
        return F(0), [0] * n
    def grid(iscale):
        ls = [clamp(ni(F(iscale * x[i])), -nmax, nmax - 1) for i in range(n)]
        slx = sl2 = F(0)
        for i in range(n):
            w = F(x[i] * x[i])
            slx = F(slx + F(F(w * x[i]) * F(ls[i])))
            sl2 = F(sl2 + F(F(w * F(ls[i])) * F(ls[i])))
        return ls, slx, sl2
    iscale = F(F(-nmax) / mx)
    ls, slx, sl2 = grid(iscale)
    L = [l + nmax for l in ls]
    scale = F(slx / sl2) if sl2 != 0 else F(0)
    best = F(scale * slx)
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = F(F(-F(F(nmax) + F(F(0.1) * F(step)))) / mx)
        ls, slx, sl2 = grid(iscale)
        if sl2 > 0 and F(slx * slx) > F(best * sl2):
            L = [l + nmax for l in ls]
            scale = F(slx / sl2)
            best = F(scale * slx)
    return scale, L


def q3s(x, nmax):
    n = len(x)
    mx, amax = signed_max(x)
    if amax < F(1e-15):
        return F(0), [0] * n
    iscale = F(F(-nmax) / mx)
    L = [clamp(ni(F(iscale * x[i])), -nmax, nmax - 1) for i in range(n)]
    slx = sl2 = F(0)
    for i in range(n):
        w = F(x[i] * x[i])
        slx = F(slx + F(F(w * x[i]) * F(L[i])))
        sl2 = F(sl2 + F(F(w * F(L[i])) * F(L[i])))
    for _ in range(5):
        changed = 0
        for i in range(n):
            w = F(x[i] * x[i])
            a = F(slx - F(F(w * x[i]) * F(L[i])))
            if a > 0:
                b = F(sl2 - F(F(w * F(L[i])) * F(L[i])))
                nl = clamp(ni(F(F(x[i] * b) / a)), -nmax, nmax - 1)
                if nl != L[i]:
                    a = F(a + F(F(w * x[i]) * F(nl)))
                    b = F(b + F(F(w * F(nl)) * F(nl)))
                    if b > 0 and F(F(a * a) * sl2) > F(F(slx * slx) * b):
                        L[i], slx, sl2 = nl, a, b
                        changed += 1
        if not changed:
            break
    return (F(slx / sl2) if sl2 > 0 else F(0)), [l + nmax for l in L]


def scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def k_block(x, nmax, rmin, nstep):
    scales, mins, L = [], [], []
    for j in range(8):
        xb = x[32 * j:32 * j + 32]
        s2 = F(0)
        for v in xb:
            s2 = F(s2 + F(v * v))
        av = F(np.sqrt(F(s2 / F(32))))
        w = [F(av + F(abs(v))) for v in xb]
        sc, mn, Lj = qkx2(xb, w, nmax, F(rmin), F(0.1), nstep, False)
        L += Lj
        scales.append(sc)
        mins.append(mn)
    max_scale, max_min = F(0), F(0)
    for j in range(8):
        if scales[j] > max_scale:
            max_scale = scales[j]
        if mins[j] > max_min:
            max_min = mins[j]
    inv_s = F(F(63) / max_scale) if max_scale > 0 else F(0)
    inv_m = F(F(63) / max_min) if max_min > 0 else F(0)
    q = [0] * 12
    for j in range(8):
        ls = min(63, ni(F(inv_s * scales[j])) & 0xFF)
        lm = min(63, ni(F(inv_m * mins[j])) & 0xFF)
        if j < 4:
            q[j], q[j + 4] = ls, lm
        else:
            q[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
            q[j - 4] |= (ls >> 4) << 6
            q[j] |= (lm >> 4) << 6
    d, dmin = f16_val(F(max_scale / F(63))), f16_val(F(max_min / F(63)))
    for j in range(8):
        sc, m = scale_min_k4(j, q)
        dl = F(d * F(sc))
        if dl == 0:
            continue  # the codes of the search stay (as in ggml)
        dm = F(dmin * F(m))
        for i in range(32):
            L[32 * j + i] = clamp(ni(F(F(x[32 * j + i] + dm) / dl)), 0, nmax)
    return d, dmin, q, L


def q4_k(x):
    out = b""
    for b in range(0, len(x), QK):
        d, dmin, q, L = k_block(x[b:b + QK], 15, -1.0, 20)
        qs = []
        for j in range(0, QK, 64):
            qs += [L[j + l] | (L[j + l + 32] << 4) for l in range(32)]
        out += d.astype(np.float16).tobytes() + dmin.astype(np.float16).tobytes() + bytes(q) + bytes(qs)
    return out


def q5_k(x):
    out = b""
    for b in range(0, len(x), QK):
        d, dmin, q, L = k_block(x[b:b + QK], 31, -0.5, 15)
        qh = [0] * 32
        ql = []
        for c in range(4):
            for l in range(32):
                l1, l2 = L[64 * c + l], L[64 * c + l + 32]
                qh[l] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1))
            ql += [(L[64 * c + l] & 0xF) | ((L[64 * c + l + 32] & 0xF) << 4) for l in range(32)]
        out += d.astype(np.float16).tobytes() + dmin.astype(np.float16).tobytes() + bytes(q) + bytes(qh) + bytes(ql)
    return out


def q6_k(x):
    out = b""
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        res = [qx(xb[16 * j:16 * j + 16], 32) for j in range(16)]
        scales = [r[0] for r in res]
        L = sum((r[1] for r in res), [])
        max_scale, max_abs = F(0), F(0)
        for s in scales:
            if abs(s) > max_abs:
                max_abs, max_scale = F(abs(s)), s
        if max_abs < F(1e-15):
            out += bytes(210)
            continue
        iscale = F(F(-128) / max_scale)
        d = f16_val(F(F(1) / iscale))
        sc = [min(127, ni(F(iscale * s))) for s in scales]
        for j in range(16):
            dl = F(d * F(sc[j]))
            if dl == 0:
                continue
            for i in range(16):
                L[16 * j + i] = clamp(ni(F(xb[16 * j + i] / dl)), -32, 31) + 32
        ql, qh = [0] * 128, [0] * 64
        for h in range(2):
            e = L[128 * h:128 * h + 128]
            for l in range(32):
                ql[64 * h + l] = (e[l] & 0xF) | ((e[l + 64] & 0xF) << 4)
                ql[64 * h + l + 32] = (e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4)
                qh[32 * h + l] = (e[l] >> 4) | ((e[l + 32] >> 4) << 2) | ((e[l + 64] >> 4) << 4) | ((e[l + 96] >> 4) << 6)
        out += bytes(ql) + bytes(qh) + struct.pack("16b", *sc) + d.astype(np.float16).tobytes()
    return out


def pack2(L):
    qs = [0] * 64
    for j in range(0, QK, 128):
        for l in range(32):
            qs[j // 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
    return bytes(qs)


def q2_k(x):
    out = b""
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        scales, mins, L = [], [], []
        for j in range(16):
            blk = xb[16 * j:16 * j + 16]
            sc, mn, Lj = qkx2(blk, [F(abs(v)) for v in blk], 3, F(-0.5), F(0.1), 15, True)
            scales.append(sc)
            mins.append(mn)
            L += Lj
        max_scale, max_min = F(0), F(0)
        for j in range(16):
            if scales[j] > max_scale:
                max_scale = scales[j]
            if mins[j] > max_min:
                max_min = mins[j]
        s = [0] * 16
        d = dmin = f16_val(F(0))
        if max_scale > 0:
            isc = F(F(15) / max_scale)
            s = [ni(F(isc * v)) & 0xFF for v in scales]
            d = f16_val(F(max_scale / F(15)))
        if max_min > 0:
            isc = F(F(15) / max_min)
            s = [(s[j] | (ni(F(isc * mins[j])) << 4)) & 0xFF for j in range(16)]
            dmin = f16_val(F(max_min / F(15)))
        for j in range(16):
            dl = F(d * F(s[j] & 0xF))
            if dl == 0:
                continue
            dm = F(dmin * F(s[j] >> 4))
            for i in range(16):
                L[16 * j + i] = clamp(ni(F(F(xb[16 * j + i] + dm) / dl)), 0, 3)
        out += bytes(s) + pack2(L) + d.astype(np.float16).tobytes() + dmin.astype(np.float16).tobytes()
    return out


def q3_scale(s, j):
    lo = s[j] & 0xF if j < 8 else s[j - 8] >> 4
    hi = (s[8 + j % 4] >> (2 * (j // 4))) & 3
    return (lo | (hi << 4)) - 32


def q3_k(x):
    out = b""
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        res = [q3s(xb[16 * j:16 * j + 16], 4) for j in range(16)]
        scales = [r[0] for r in res]
        L = sum((r[1] for r in res), [])
        max_scale, amax = F(0), F(0)
        for v in scales:
            if abs(v) > amax:
                amax, max_scale = F(abs(v)), v
        s = [0] * 12
        if max_scale != 0:
            iscale = F(F(-32) / max_scale)
            for j in range(16):
                l = ni(F(iscale * scales[j]))
                l = ((l + 128) & 0xFF) - 128  # int8 narrowing
                l = clamp(l, -32, 31) + 32
                if j < 8:
                    s[j] = l & 0xF
                else:
                    s[j - 8] |= (l & 0xF) << 4
                s[j % 4 + 8] |= (l >> 4) << (2 * (j // 4))
            d = f16_val(F(F(1) / iscale))
        else:
            d = f16_val(F(0))
        for j in range(16):
            dl = F(d * F(q3_scale(s, j)))
            if dl == 0:
                continue
            for i in range(16):
                L[16 * j + i] = clamp(ni(F(xb[16 * j + i] / dl)), -4, 3) + 4
        hm = [0] * 32
        for j in range(QK):
            if L[j] > 3:
                hm[j % 32] |= 1 << (j // 32)
                L[j] -= 4
        out += bytes(hm) + pack2(L) + bytes(s) + d.astype(np.float16).tobytes()
    return out


def q8_k(x):
    out = b""
    for b in range(0, len(x), QK):
        xb = x[b:b + QK]
        mx, amax = signed_max(xb)
        if amax == 0:
            out += bytes(292)
            continue
        iscale = F(F(-127) / mx)
        qs = [min(127, ni(F(iscale * v))) for v in xb]
        bs = [sum(qs[16 * j:16 * j + 16]) for j in range(16)]
        out += struct.pack("<f", F(F(1) / iscale)) + struct.pack("256b", *qs) + struct.pack("<16h", *bs)
    return out


def make_input():
    rng = np.random.default_rng(20261129)
    blocks = [
        rng.standard_normal(QK).astype(F),                        # typical weights
        np.zeros(QK, F),                                          # all zero
        (rng.standard_normal(QK) * F(0.02) + F(0.05)).astype(F),  # all positive-ish, offset
        np.full(QK, F(-0.75)),                                    # constant
        (rng.standard_normal(QK) * F(0.01)).astype(F),            # one outlier per 64
        (rng.uniform(-1, 1, QK) ** 3).astype(F),                  # heavy centre
    ]
    blocks[4][::64] = F(3.0)
    # a block whose second half is zero (zero sub-blocks beside non-zero ones)
    half = rng.standard_normal(QK).astype(F)
    half[128:] = 0
    blocks.append(half)
    return np.concatenate(blocks).astype(F)


def main():
    x = make_input()
    parts = [c_define("QKG_N", len(x)), c_floats("qkg_input", x)]
    for name, fn in (("q2_K", q2_k), ("q3_K", q3_k), ("q4_K", q4_k), ("q5_K", q5_k),
                     ("q6_K", q6_k), ("q8_K", q8_k)):
        parts.append(c_bytes(f"qkg_{name}", fn(list(x))))
    write_header(sys.stdout, "quant_k_ref.py", "K-quant reference quantizers", "tests/quant_k_golden.h",
                 parts)


if __name__ == "__main__":
    main()
