#!/usr/bin/python3
"""Generates models/tokenizer/unicode_data.c: compact Unicode tables for the tokenizers.

Run with the system Python (its unicodedata module is the data source):
    /usr/bin/python3 scripts/gen_unicode.py > models/tokenizer/unicode_data.c

The Unicode version is unicodedata.unidata_version of the Python that ran this script; it is
written into the generated file (ELM_UNICODE_VERSION). Tables:

  - general category: sorted range starts, each packed as (first_code_point << 5) | category,
    covering 0..0x10FFFF (unassigned code points are Cn). Looked up by binary search.
  - White_Space: the Unicode property White_Space is exactly Zs + Zl + Zp + U+0009..U+000D +
    U+0085; derived from the categories with that rule (checked against str.isspace()).
  - canonical combining class: ranges of equal non-zero class.
  - NFD: the full canonical decomposition (recursive) of every code point that has one, except
    Hangul syllables, which are decomposed arithmetically in C.
  - canonical composition (NFC): the primary composites, {first, second, composite} sorted by
    (first, second): every code point whose canonical decomposition has two code points and
    that NFC leaves as it is (composition exclusions and non-starter decompositions are not
    primary). Hangul syllables compose arithmetically in C.
  - lowercase: str.lower() of single code points. One-to-one mappings are stored as ranges
    (first, last, stride, delta); the few that map to several code points (U+0130) are listed.
"""
import sys
import unicodedata

CATS = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
        "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
        "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
MAXCP = 0x10FFFF


def category_ranges():
    out = []
    prev = None
    for cp in range(MAXCP + 1):
        c = CATS.index(unicodedata.category(chr(cp)))
        if c != prev:
            out.append((cp, c))
            prev = c
    return out


def white_space():
    ws = [cp for cp in range(MAXCP + 1)
          if unicodedata.category(chr(cp)) in ("Zs", "Zl", "Zp")
          or 0x09 <= cp <= 0x0D or cp == 0x85]
    # Python's isspace() adds U+001C..U+001F (bidi class B/S) which are not White_Space.
    py = [cp for cp in range(MAXCP + 1) if chr(cp).isspace() and not 0x1C <= cp <= 0x1F]
    assert ws == py, (ws, py)
    return ws


def ccc_ranges():
    out = []
    for cp in range(MAXCP + 1):
        c = unicodedata.combining(chr(cp))
        if c == 0:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] == c:
            out[-1][1] = cp
        else:
            out.append([cp, cp, c])
    return out


def nfd_table():
    out = []
    for cp in range(MAXCP + 1):
        if 0xAC00 <= cp <= 0xD7A3:
            continue  # Hangul: arithmetic
        d = unicodedata.normalize("NFD", chr(cp))
        if d != chr(cp):
            out.append((cp, [ord(x) for x in d]))
    return out


def composition_table():
    out = []
    for cp in range(MAXCP + 1):
        if 0xAC00 <= cp <= 0xD7A3:
            continue
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
            out.append((parts[0], parts[1], cp))
    out.sort()
    return out


def lower_tables():
    single, multi = [], []
    for cp in range(MAXCP + 1):
        lo = chr(cp).lower()
        if lo == chr(cp):
            continue
        if len(lo) == 1:
            single.append((cp, ord(lo) - cp))
        else:
            multi.append((cp, [ord(x) for x in lo]))
    # Compress into runs (first, last, stride, delta) with stride 1 or 2.
    runs = []
    i = 0
    while i < len(single):
        cp, delta = single[i]
        best = (cp, cp, 1, delta)
        for stride in (1, 2):
            j = i
            while (j + 1 < len(single) and single[j + 1][0] == single[j][0] + stride
                   and single[j + 1][1] == delta):
                j += 1
            if single[j][0] > best[1]:
                best = (cp, single[j][0], stride, delta)
        runs.append(best)
        # advance past the entries the run covers
        while i < len(single) and single[i][0] <= best[1]:
            i += 1
    # check the runs reproduce the mapping
    m = {}
    for first, last, stride, delta in runs:
        for cp in range(first, last + 1, stride):
            m[cp] = cp + delta
    assert m == {cp: cp + d for cp, d in single}
    return runs, multi


def emit_u32_list(name, values, per_line=8, fmt="0x%06X"):
    lines = ["static const uint32_t %s[%d] = {" % (name, len(values))]
    for i in range(0, len(values), per_line):
        lines.append("    " + ", ".join(fmt % v for v in values[i:i + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def main():
    cats = category_ranges()
    ws = white_space()
    ccc = ccc_ranges()
    nfd = nfd_table()
    comp = composition_table()
    lruns, lmulti = lower_tables()
    o = []
    o.append("/* models/tokenizer/unicode_data.c — GENERATED by scripts/gen_unicode.py from Python %s's unicodedata"
             % sys.version.split()[0])
    o.append(" * (Unicode %s). Do not edit; rerun the script. */" % unicodedata.unidata_version)
    o.append('#include "unicode.h"\n')
    o.append('const char ELM_UNICODE_VERSION[] = "%s";\n' % unicodedata.unidata_version)
    o.append("/* General category: (first code point << 5) | elm_uc_cat, sorted. */")
    o.append(emit_u32_list("uc_cat_ranges", [(cp << 5) | c for cp, c in cats], 8, "0x%08X"))
    o.append("const uint32_t *const elm_uc_cat_ranges = uc_cat_ranges;")
    o.append("const uint32_t elm_uc_n_cat_ranges = %d;\n" % len(cats))
    o.append("/* White_Space code points, sorted. */")
    o.append(emit_u32_list("uc_white_space", ws))
    o.append("const uint32_t *const elm_uc_white_space = uc_white_space;")
    o.append("const uint32_t elm_uc_n_white_space = %d;\n" % len(ws))
    o.append("/* Canonical combining class: {first, last, class}, sorted. */")
    o.append("const uint32_t elm_uc_ccc_tab[][3] = {")
    for a, b, c in ccc:
        o.append("    {0x%06X, 0x%06X, %d}," % (a, b, c))
    o.append("};")
    o.append("const uint32_t elm_uc_n_ccc = %d;\n" % len(ccc))
    pool = []
    entries = []
    for cp, d in nfd:
        entries.append((cp, len(pool), len(d)))
        pool.extend(d)
    o.append("/* NFD: {code point, offset into elm_uc_nfd_pool, length}, sorted. */")
    o.append("const uint32_t elm_uc_nfd_tab[][3] = {")
    for cp, off, n in entries:
        o.append("    {0x%06X, %d, %d}," % (cp, off, n))
    o.append("};")
    o.append("const uint32_t elm_uc_n_nfd = %d;" % len(entries))
    o.append(emit_u32_list("uc_nfd_pool", pool))
    o.append("const uint32_t *const elm_uc_nfd_pool = uc_nfd_pool;\n")
    o.append("/* Canonical composition: {first, second, primary composite}, sorted. */")
    o.append("const uint32_t elm_uc_comp_tab[][3] = {")
    for a, b, c in comp:
        o.append("    {0x%06X, 0x%06X, 0x%06X}," % (a, b, c))
    o.append("};")
    o.append("const uint32_t elm_uc_n_comp = %d;\n" % len(comp))
    o.append("/* Lowercase runs: {first, last, stride, delta}: cp -> cp + delta for cp = first,")
    o.append(" * first + stride, ... last. Sorted by first. */")
    o.append("const int32_t elm_uc_lower[][4] = {")
    for a, b, s, d in lruns:
        o.append("    {0x%06X, 0x%06X, %d, %d}," % (a, b, s, d))
    o.append("};")
    o.append("const uint32_t elm_uc_n_lower = %d;" % len(lruns))
    o.append("/* Lowercase mappings to several code points: {cp, n, out0, out1, out2}. */")
    o.append("const uint32_t elm_uc_lower_multi[][5] = {")
    for cp, l in lmulti:
        assert len(l) <= 3
        n = len(l)
        l = l + [0] * (3 - n)
        o.append("    {0x%06X, %d, 0x%06X, 0x%06X, 0x%06X}," % (cp, n, *l))
    o.append("};")
    o.append("const uint32_t elm_uc_n_lower_multi = %d;" % len(lmulti))
    print("\n".join(o))


if __name__ == "__main__":
    main()
