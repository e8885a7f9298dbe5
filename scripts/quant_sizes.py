#!/usr/bin/python3
"""Tensor-data sizes that llama.cpp's llama-quantize would write for the benchmark shapes,
computed from ggml's block sizes and llama-quantize's type rules (independently of edgelm's
code; used for docs/benchmarks-log.md, "Quantization"). Metadata (the vocabulary) is not counted.

    /usr/bin/python3 scripts/quant_sizes.py
"""
BLOCK = {"f32": (1, 4), "f16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20),
         "q5_0": (32, 22), "q5_1": (32, 24), "q2_K": (256, 84), "q3_K": (256, 110),
         "q4_K": (256, 144), "q5_K": (256, 176), "q6_K": (256, 210)}
BASE = {"F16": "f16", "Q8_0": "q8_0", "Q6_K": "q6_K", "Q5_K_M": "q5_K", "Q5_K_S": "q5_K",
        "Q5_1": "q5_1", "Q5_0": "q5_0", "Q4_K_M": "q4_K", "Q4_K_S": "q4_K", "Q4_1": "q4_1",
        "Q4_0": "q4_0", "Q3_K_M": "q3_K", "Q2_K": "q2_K"}
FALLBACK = {"q2_K": "q4_0", "q3_K": "q4_0", "q4_K": "q5_0", "q5_K": "q5_1", "q6_K": "q8_0"}


def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def pick(ftype, name, ne0, i, n):
    t = BASE[ftype]
    if t in ("f16",):
        return t
    if name == "output":
        return "q8_0" if ne0 % 256 else ("q8_0" if t == "q8_0" else "q6_K")
    if name == "attn_v":
        if ftype == "Q2_K": t = "q3_K"
        elif ftype == "Q3_K_M": t = "q5_K" if i < 2 else "q4_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and more_bits(i, n): t = "q6_K"
        elif ftype == "Q4_K_S" and i < 4: t = "q5_K"
    elif name == "ffn_down":
        if ftype == "Q2_K": t = "q3_K"
        elif ftype == "Q3_K_M": t = "q5_K" if i < n // 16 else "q4_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and more_bits(i, n): t = "q6_K"
        elif ftype == "Q4_K_S" and i < n // 8: t = "q5_K"
    elif name == "attn_output":
        if ftype == "Q2_K": t = "q3_K"
        elif ftype == "Q3_K_M": t = "q4_K"
    blk = BLOCK[t][0]
    if ne0 % blk:
        t = FALLBACK.get(t, "f16")
        if ne0 % BLOCK[t][0]:
            t = "f16"
    return t


def nbytes(t, ne0, ne1):
    b, s = BLOCK[t]
    return ne0 // b * s * ne1


def llama(E=768, L=12, F=2048, V=32000):
    ts = [("token_embd", E, V, 0)]
    for l in range(L):
        ts += [("attn_norm", E, 1, l), ("attn_q", E, E, l), ("attn_k", E, E, l), ("attn_v", E, E, l),
               ("attn_output", E, E, l), ("ffn_norm", E, 1, l), ("ffn_gate", E, F, l), ("ffn_up", E, F, l),
               ("ffn_down", F, E, l)]
    return ts + [("output_norm", E, 1, 0), ("output", E, V, 0)], L


def bert(E=768, L=12, F=3072, V=30522, P=512, mlm=True):
    """bert-base as `edgelm convert` writes it (with the masked-LM head unless mlm=False).
    No output.weight: llama-quantize then treats token_embd as the (tied) output matrix."""
    ts = [("token_embd", E, V, 0), ("token_types", E, 2, 0), ("position_embd", E, P, 0),
          ("token_embd_norm", E, 1, 0), ("token_embd_norm_b", E, 1, 0)]
    for l in range(L):
        for n, a, b in [("attn_q", E, E), ("attn_k", E, E), ("attn_v", E, E), ("attn_output", E, E),
                        ("ffn_up", E, F), ("ffn_down", F, E)]:
            ts += [(n, a, b, l), (n + "_b", b, 1, l)]
        ts += [("attn_output_norm", E, 1, l)] * 2 + [("layer_output_norm", E, 1, l)] * 2
    if mlm:
        ts += [("cls.mlm.dense", E, E, 0), ("cls.mlm.dense_b", E, 1, 0), ("cls.mlm.norm", E, 1, 0),
               ("cls.mlm.norm_b", E, 1, 0), ("cls.mlm.bias", V, 1, 0)]
    return ts, L


def t5(E=512, L=6, F=2048, V=32128, H=8, B=32):
    """t5-small's shape (scripts/make_t5_bench.py): tied embeddings (no output matrix, so
    token_embd takes the output rule), ReLU feed-forward. llama-quantize counts attn_v (which
    matches cross_attn_v too) and ffn_down over the whole file, encoder and decoder together;
    all of them have one shape, so only the count of raised ones matters, not which."""
    ts = [("token_embd", E, V, 0)]
    kinds = [("attn_norm", E, 1), ("attn_q", E, E), ("attn_k", E, E), ("attn_v", E, E), ("attn_o", E, E),
             ("ffn_norm", E, 1), ("ffn_up", E, F), ("ffn_down", F, E)]
    cross = [("cross_attn_norm", E, 1), ("cross_attn_q", E, E), ("cross_attn_k", E, E),
             ("cross_attn_v", E, E), ("cross_attn_o", E, E)]
    for part in ("enc", "dec"):
        ts += [("attn_rel_b", B, H, 0), (part + "_output_norm", E, 1, 0)]
        for l in range(L):
            ts += [(n, a, b, l) for n, a, b in kinds + (cross if part == "dec" else [])]
    return renumber(ts)


def renumber(ts):
    """Index attn_v (incl. cross_attn_v) and ffn_down tensors by their running count in the
    file, as llama-quantize does for models without experts; returns (list, counts)."""
    out, seen = [], {"attn_v": 0, "ffn_down": 0}
    for name, ne0, ne1, l in ts:
        kind = "attn_v" if name.endswith("attn_v") else name
        if kind in seen:
            out.append((kind, ne0, ne1, seen[kind]))
            seen[kind] += 1
        else:
            out.append((name, ne0, ne1, l))
    return out, seen


def elmo():
    """The original ELMo (2 x 4096-cell LSTM layers with 512 projections, char CNN of 2048
    filters, 2 highway layers) as edgelm convert writes it. llama.cpp has no ELMo: plain block
    arithmetic, no mix rules (none of its tensors is an attention-value/ffn_down/output matrix)."""
    filt = [(1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)]
    ts = [("char_embd", 16, 262, 0)]
    ts += [("cnn", 16 * w, n, 0) for w, n in filt] + [("cnn_b", n, 1, 0) for _, n in filt]
    ts += [("highway", 2048, 4096, 0), ("highway_b", 4096, 1, 0)] * 2
    ts += [("proj", 2048, 512, 0), ("proj_b", 512, 1, 0)]
    for _ in range(4):
        ts += [("lstm_in", 512, 16384, 0), ("lstm_rec", 512, 16384, 0), ("lstm_b", 16384, 1, 0),
               ("lstm_proj", 4096, 512, 0)]
    return ts, {}


KEEP = ("token_types", "position_embd", "attn_rel_b", "char_embd")


def size(ts, L, ftype):
    """L: the layer count for use_more_bits, or a dict of per-kind counts (t5)."""
    total, n = 0, 0
    for name, ne0, ne1, l in ts:
        n += ne0 * ne1
        if ne1 == 1 or name in KEEP:
            total += 4 * ne0 * ne1
            continue
        if name == "token_embd" and not any(t[0] == "output" for t in ts):
            name = "output"  # tied embeddings: the output rule applies
        n_kind = L.get(name, 1) if isinstance(L, dict) else L
        total += nbytes(pick(ftype, name, ne0, l, n_kind), ne0, ne1)
    return total, n


if __name__ == "__main__":
    for title, (ts, L) in (("llama 768x12, vocab 32000 (stories110M shape)", llama()),
                           ("bert-base with the masked-LM head (edgelm convert)", bert()),
                           ("bert-base encoder only (llama.cpp's convert_hf_to_gguf)", bert(mlm=False)),
                           ("t5-small shape, tied embeddings", t5()),
                           ("original ELMo (no llama.cpp support: block arithmetic only)", elmo())):
        print(title)
        for f in BASE:
            b, n = size(ts, L, f)
            print(f"{f:8s} {b / 1e6:9.2f} MB  {8 * b / n:6.3f} bits/weight")
