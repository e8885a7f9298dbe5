#!/usr/bin/python3
"""DistilBERT and RoBERTa: tiny random checkpoints, reference logits and tokenizer ids, for
tests/test-bert.c (see tests/data/bert/README.md).

Run with Debian's python3 (torch 1.13, numpy, regex):  /usr/bin/python3 scripts/bert_variants_reference.py

Hugging Face transformers cannot run here, so the forward passes are written out from the
transformers sources' structure, each with its own parameter names (no renaming into BERT's):
  - DistilBertModel: word + position embeddings (no token types), LayerNorm(eps 1e-12); per
    layer q_lin/k_lin/v_lin/out_lin attention, sa_layer_norm(attn + x), ffn.lin2(gelu(ffn.lin1)),
    output_layer_norm(ffn + x). DistilBertForSequenceClassification: classifier(relu(
    pre_classifier(h[0]))); DistilBertForQuestionAnswering: qa_outputs(h) -> start, end.
  - RobertaModel: BERT's layer, position ids padding_idx + 1 + t (no padding here), one token
    type. RobertaForSequenceClassification: out_proj(tanh(dense(h[0]))) (classifier.dense /
    classifier.out_proj); RobertaForTokenClassification: classifier(h).
Tokenizers (reference implementations of the slow tokenizers' algorithms):
  - DistilBertTokenizer = BertTokenizer: clean text, CJK spacing, NFC, whitespace split, lower +
    strip accents (NFD, drop Mn), punctuation split, greedy WordPiece;
  - RobertaTokenizer: GPT-2's byte-level BPE (pre-tokenizer regex, bytes_to_unicode, merges by
    rank), "<s> A </s>", "<mask>" with lstrip (the space before it belongs to it).
The tiny BPE vocabulary is trained here (the most frequent pair first) on a few sentences.
"""
import json, math, os, struct, unicodedata
import numpy as np
import regex
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
import importlib.util
_spec = importlib.util.spec_from_file_location("bert_heads_reference", os.path.join(HERE, "bert_heads_reference.py"))
HEADS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(HEADS)  # its safetensors writer
OUT = os.path.join(HERE, "..", "tests", "data", "bert")
E, F, L, H = 8, 16, 2, 2

def save_safetensors(sd, path):
    return HEADS.save_safetensors(sd, path)

def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

def lin(sd, x, p):
    return x @ sd[p + ".weight"].double().T + sd[p + ".bias"].double()

def ln(sd, x, p, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), sd[p + ".weight"].double(), sd[p + ".bias"].double(), eps)

def attention(sd, x, q, k, v, o):
    n, D = x.shape[0], E // H
    qh = lin(sd, x, q).view(n, H, D).transpose(0, 1)
    kh = lin(sd, x, k).view(n, H, D).transpose(0, 1)
    vh = lin(sd, x, v).view(n, H, D).transpose(0, 1)
    a = torch.softmax(qh @ kh.transpose(1, 2) / math.sqrt(D), -1) @ vh
    return lin(sd, a.transpose(0, 1).reshape(n, E), o)

# ---- DistilBERT ----

def distil_forward(sd, ids):
    p = "distilbert."
    n = len(ids)
    x = sd[p + "embeddings.word_embeddings.weight"].double()[ids] + sd[p + "embeddings.position_embeddings.weight"].double()[:n]
    x = ln(sd, x, p + "embeddings.LayerNorm", 1e-12)
    for l in range(L):
        b = p + "transformer.layer.%d." % l
        a = attention(sd, x, b + "attention.q_lin", b + "attention.k_lin", b + "attention.v_lin", b + "attention.out_lin")
        x = ln(sd, a + x, b + "sa_layer_norm", 1e-12)
        f = lin(sd, gelu(lin(sd, x, b + "ffn.lin1")), b + "ffn.lin2")
        x = ln(sd, f + x, b + "output_layer_norm", 1e-12)
    return x

def distil_make(d, arch, heads, seed, words):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.5
    V, P = len(words), 32
    p = "distilbert."
    sd = {p + "embeddings.word_embeddings.weight": r(V, E), p + "embeddings.position_embeddings.weight": r(P, E),
          p + "embeddings.LayerNorm.weight": 1 + r(E) / 5, p + "embeddings.LayerNorm.bias": r(E) / 5}
    for l in range(L):
        b = p + "transformer.layer.%d." % l
        for n, o, i in [("attention.q_lin", E, E), ("attention.k_lin", E, E), ("attention.v_lin", E, E),
                        ("attention.out_lin", E, E), ("ffn.lin1", F, E), ("ffn.lin2", E, F)]:
            sd[b + n + ".weight"], sd[b + n + ".bias"] = r(o, i), r(o) / 5
        for n in ("sa_layer_norm", "output_layer_norm"):
            sd[b + n + ".weight"], sd[b + n + ".bias"] = 1 + r(E) / 5, r(E) / 5
    for name, o in heads:
        sd[name + ".weight"], sd[name + ".bias"] = r(o, E), r(o) / 2
    cfg = {"architectures": [arch], "model_type": "distilbert", "dim": E, "n_layers": L, "n_heads": H, "hidden_dim": F,
           "max_position_embeddings": P, "vocab_size": V, "activation": "gelu", "sinusoidal_pos_embds": False,
           "dropout": 0.1, "attention_dropout": 0.1, "pad_token_id": 0}
    return sd, cfg

# ---- BertTokenizer (what DistilBertTokenizer is) ----

def is_punct(c):
    o = ord(c)
    return (33 <= o <= 47) or (58 <= o <= 64) or (91 <= o <= 96) or (123 <= o <= 126) or unicodedata.category(c).startswith("P")

def is_cjk(o):
    return (0x4E00 <= o <= 0x9FFF) or (0x3400 <= o <= 0x4DBF) or (0x20000 <= o <= 0x2A6DF) or (0x2A700 <= o <= 0x2B73F) or \
           (0x2B740 <= o <= 0x2B81F) or (0x2B820 <= o <= 0x2CEAF) or (0xF900 <= o <= 0xFAFF) or (0x2F800 <= o <= 0x2FA1F)

def wordpiece_tokenize(text, vocab, lower=True):
    out = []
    for c in text:
        o = ord(c)
        if o == 0 or o == 0xFFFD or (unicodedata.category(c).startswith("C") and c not in "\t\n\r"):
            continue
        if c in " \t\n\r" or unicodedata.category(c) == "Zs":
            out.append(" ")
        elif is_cjk(o):
            out.append(" " + c + " ")
        else:
            out.append(c)
    text = unicodedata.normalize("NFC", "".join(out))
    ids = []
    for w in text.split():
        if lower:
            w = w.lower()
            w = "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn")
        parts, cur = [], ""
        for c in w:
            if is_punct(c):
                if cur: parts.append(cur)
                parts.append(c)
                cur = ""
            else:
                cur += c
        if cur: parts.append(cur)
        for part in parts:
            if len(part) > 100:
                ids.append(vocab["[UNK]"])
                continue
            pieces, start, bad = [], 0, False
            while start < len(part):
                end, cur_id = len(part), None
                while end > start:
                    s = part[start:end] if start == 0 else "##" + part[start:end]
                    if s in vocab:
                        cur_id = vocab[s]
                        break
                    end -= 1
                if cur_id is None:
                    bad = True
                    break
                pieces.append(cur_id)
                start = end
            ids.extend([vocab["[UNK]"]] if bad else pieces)
    return ids

# ---- RoBERTa ----

def roberta_forward(sd, ids, pad=1):
    p = "roberta."
    n = len(ids)
    pos = torch.arange(n) + pad + 1
    x = sd[p + "embeddings.word_embeddings.weight"].double()[ids] + sd[p + "embeddings.position_embeddings.weight"].double()[pos] + \
        sd[p + "embeddings.token_type_embeddings.weight"].double()[[0] * n]
    x = ln(sd, x, p + "embeddings.LayerNorm", 1e-5)
    for l in range(L):
        b = p + "encoder.layer.%d." % l
        a = attention(sd, x, b + "attention.self.query", b + "attention.self.key", b + "attention.self.value",
                      b + "attention.output.dense")
        x = ln(sd, a + x, b + "attention.output.LayerNorm", 1e-5)
        f = lin(sd, gelu(lin(sd, x, b + "intermediate.dense")), b + "output.dense")
        x = ln(sd, f + x, b + "output.LayerNorm", 1e-5)
    return x

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
B2U = bytes_to_unicode()

def bpe_word(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
        r, i = min(pairs)
        if r == 1 << 30:
            break
        a, b = parts[i], parts[i + 1]
        out, k = [], 0
        while k < len(parts):  # merge every occurrence of the pair, left to right
            if k < len(parts) - 1 and parts[k] == a and parts[k + 1] == b:
                out.append(a + b)
                k += 2
            else:
                out.append(parts[k])
                k += 1
        parts = out
    return parts

def train_bpe(corpus, n_merges):
    words = {}
    for t in corpus:
        for w in PAT.findall(t):
            u = tuple(B2U[b] for b in w.encode("utf-8"))
            words[u] = words.get(u, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, c in words.items():
            for i in range(len(w) - 1):
                counts[(w[i], w[i + 1])] = counts.get((w[i], w[i + 1]), 0) + c
        if not counts:
            break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, k = [], 0
            while k < len(w):
                if k < len(w) - 1 and (w[k], w[k + 1]) == best:
                    out.append(w[k] + w[k + 1])
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    return merges

def roberta_tokenize(text, vocab, ranks):
    ids = []
    # <mask> is an added token with lstrip: it takes the whitespace before it
    chunks = regex.split(r"(\s*<mask>)", text)
    for ch in chunks:
        if regex.fullmatch(r"\s*<mask>", ch):
            ids.append(vocab["<mask>"])
            continue
        for w in PAT.findall(ch):
            u = "".join(B2U[b] for b in w.encode("utf-8"))
            ids.extend(vocab.get(p, vocab["<unk>"]) for p in bpe_word(u, ranks))
    return ids

def roberta_make(d, arch, heads, seed, vocab_size):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.5
    P = 34  # 32 usable positions after padding_idx + 1 = 2
    p = "roberta."
    sd = {p + "embeddings.word_embeddings.weight": r(vocab_size, E), p + "embeddings.position_embeddings.weight": r(P, E),
          p + "embeddings.token_type_embeddings.weight": r(1, E),
          p + "embeddings.LayerNorm.weight": 1 + r(E) / 5, p + "embeddings.LayerNorm.bias": r(E) / 5}
    for l in range(L):
        b = p + "encoder.layer.%d." % l
        for n, o, i in [("attention.self.query", E, E), ("attention.self.key", E, E), ("attention.self.value", E, E),
                        ("attention.output.dense", E, E), ("intermediate.dense", F, E), ("output.dense", E, F)]:
            sd[b + n + ".weight"], sd[b + n + ".bias"] = r(o, i), r(o) / 5
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[b + n + ".weight"], sd[b + n + ".bias"] = 1 + r(E) / 5, r(E) / 5
    for name, o, i in heads:
        sd[name + ".weight"], sd[name + ".bias"] = r(o, i), r(o) / 2
    cfg = {"architectures": [arch], "model_type": "roberta", "hidden_size": E, "num_hidden_layers": L,
           "num_attention_heads": H, "intermediate_size": F, "max_position_embeddings": P, "vocab_size": vocab_size,
           "type_vocab_size": 1, "layer_norm_eps": 1e-5, "hidden_act": "gelu", "pad_token_id": 1, "bos_token_id": 0,
           "eos_token_id": 2, "position_embedding_type": "absolute"}
    return sd, cfg

def save_ids(name, ids):
    np.save(os.path.join(OUT, name + "_ids.npy"), np.array(ids, dtype=np.int32))
    np.save(os.path.join(OUT, name + "_types.npy"), np.zeros(len(ids), dtype=np.int32))

TRICKY = ["Hello world!", "  leading and  double  spaces ", "don't stop: it's 3.14 or 12345?", "na\u00efve caf\u00e9",
          "nai\u0308ve cafe\u0301", "tabs\tand\nnewlines", "emoji \U0001F600 ok", "\u6771\u4eac and Z\u00fcrich",
          "HELLO \u00c9COLE", "a <mask> b", "x<mask>", "\u2126hm \u212b"]

def main():
    dwords = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "!", "the", "cat", "##s", "naive", "cafe",
              "ecole", "don", "'", "t", "stop", ":", "it", "s", "3", ".", "14", "or", "123", "##45", "?", "a", "b", "x",
              "\u6771", "\u4eac", "and", "zurich", "tab", "##ing", "new", "##line", "emo", "##ji", "ok", "\u03c9", "##hm",
              "\u00e5", "<", ">", "mask", "leading", "double", "spaces"]
    ddir = os.path.join(OUT, "tiny-distil-cls")
    dsd, dcfg = distil_make(ddir, "DistilBertForSequenceClassification", [("pre_classifier", E), ("classifier", 3)], 21, dwords)
    dcfg["id2label"] = {"0": "neg", "1": "neu", "2": "pos"}
    qdir = os.path.join(OUT, "tiny-distil-qa")
    qsd, qcfg = distil_make(qdir, "DistilBertForQuestionAnswering", [("qa_outputs", 2)], 22, dwords)
    vocab = {w: i for i, w in enumerate(dwords)}
    for d, sd, cfg, st in ((ddir, dsd, dcfg, True), (qdir, qsd, qcfg, False)):
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
        open(os.path.join(d, "vocab.txt"), "w").write("\n".join(dwords) + "\n")
        json.dump({"do_lower_case": True, "model_max_length": 32}, open(os.path.join(d, "tokenizer_config.json"), "w"))
        if st: save_safetensors(dsd, os.path.join(d, "model.safetensors"))
        else: torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    tok = {"distil": [], "roberta": []}
    for t in TRICKY:
        tok["distil"].append({"text": t, "ids": wordpiece_tokenize(t, vocab)})
    for c, t in enumerate(["hello world!", "the cats stop"]):
        ids = [2] + wordpiece_tokenize(t, vocab) + [3]
        h = distil_forward(dsd, ids)
        pooled = torch.relu(lin(dsd, h[0], "pre_classifier"))
        cls = lin(dsd, pooled, "classifier")
        np.save(os.path.join(OUT, "distilcls_case%d_pooled.npy" % c), pooled.float().numpy())
        save_ids("distilcls_case%d" % c, ids)
        np.save(os.path.join(OUT, "distilcls_case%d_last.npy" % c), h.float().numpy())
        np.save(os.path.join(OUT, "distilcls_case%d_classes.npy" % c), cls.float().numpy())
        h = distil_forward(qsd, ids)
        save_ids("distilqa_case%d" % c, ids)
        np.save(os.path.join(OUT, "distilqa_case%d_last.npy" % c), h.float().numpy())
        np.save(os.path.join(OUT, "distilqa_case%d_qa.npy" % c), lin(qsd, h, "qa_outputs").float().numpy())

    corpus = ["Hello world! The cat sat on the mat.", "don't stop: it's 3.14 or 12345?", "the cats and the dogs",
              "naïve café in Zürich", "hello hello world world the the"]
    merges = train_bpe(corpus, 40)
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + [B2U[b] for b in range(256)] + [a + b for a, b in merges]
    rvocab = {}
    for s in symbols:
        rvocab.setdefault(s, len(rvocab))
    rvocab["<mask>"] = len(rvocab)
    ranks = {m: i for i, m in enumerate(merges)}
    rdir = os.path.join(OUT, "tiny-roberta-cls")
    rsd, rcfg = roberta_make(rdir, "RobertaForSequenceClassification", [("classifier.dense", E, E), ("classifier.out_proj", 2, E)],
                             31, len(rvocab))
    rcfg["id2label"] = {"0": "NEGATIVE", "1": "POSITIVE"}
    tdir = os.path.join(OUT, "tiny-roberta-tok")
    tsd, tcfg = roberta_make(tdir, "RobertaForTokenClassification", [("classifier", 3, E)], 32, len(rvocab))
    tcfg["id2label"] = {"0": "O", "1": "B-X", "2": "I-X"}
    for d, sd, cfg, st in ((rdir, rsd, rcfg, True), (tdir, tsd, tcfg, False)):
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
        json.dump(rvocab, open(os.path.join(d, "vocab.json"), "w"), ensure_ascii=False)
        open(os.path.join(d, "merges.txt"), "w").write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
        json.dump({"model_max_length": 32, "mask_token": {"content": "<mask>", "lstrip": True}},
                  open(os.path.join(d, "tokenizer_config.json"), "w"))
        if st: save_safetensors(sd, os.path.join(d, "model.safetensors"))
        else: torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    for t in TRICKY:
        tok["roberta"].append({"text": t, "ids": roberta_tokenize(t, rvocab, ranks)})
    for c, t in enumerate(["Hello world!", "the cats and dogs"]):
        ids = [0] + roberta_tokenize(t, rvocab, ranks) + [2]
        h = roberta_forward(rsd, ids)
        pooled = torch.tanh(lin(rsd, h[0], "classifier.dense"))
        cls = lin(rsd, pooled, "classifier.out_proj")
        np.save(os.path.join(OUT, "robertacls_case%d_pooled.npy" % c), pooled.float().numpy())
        save_ids("robertacls_case%d" % c, ids)
        np.save(os.path.join(OUT, "robertacls_case%d_last.npy" % c), h.float().numpy())
        np.save(os.path.join(OUT, "robertacls_case%d_classes.npy" % c), cls.float().numpy())
        h = roberta_forward(tsd, ids)
        save_ids("robertatok_case%d" % c, ids)
        np.save(os.path.join(OUT, "robertatok_case%d_last.npy" % c), h.float().numpy())
        np.save(os.path.join(OUT, "robertatok_case%d_tokens.npy" % c), lin(tsd, h, "classifier").float().numpy())
    # tokenizer cases as a C header (tests/test-bert.c)
    esc = lambda s: "".join("\\x%02x" % b for b in s.encode("utf-8"))
    lines = ["/* tests/data/bert/variant_tokens.h — GENERATED by scripts/bert_variants_reference.py. */",
             "typedef struct variant_tok_case { const char *text; int n; int ids[48]; } variant_tok_case;"]
    for k in ("distil", "roberta"):
        lines.append("static const variant_tok_case %s_tok_cases[] = {" % k)
        for c in tok[k]:
            assert len(c["ids"]) <= 48
            lines.append('    {"%s", %d, {%s}},' % (esc(c["text"]), len(c["ids"]), ", ".join(map(str, c["ids"])) or "0"))
        lines.append("};")
    open(os.path.join(OUT, "variant_tokens.h"), "w").write("\n".join(lines) + "\n")
    print(json.dumps(tok, ensure_ascii=False)[:3000])

if __name__ == "__main__":
    main()
