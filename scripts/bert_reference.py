#!/usr/bin/python3
"""Reference outputs of BERT checkpoints for tests/test-bert.c (see tests/data/bert/README.md).

A plain PyTorch (float64) re-implementation of Hugging Face's BertModel forward pass plus its
pooler / MLM / NSP / classifier heads, run on the state dict of a checkpoint folder
(model.safetensors read with a few lines of numpy, or pytorch_model.bin with torch.load).
It is first checked against hf-reference/bert's transformers outputs (max error printed), then
writes for each model and case: ids, token types, last hidden state, and the heads it has.
"""
import json, math, os, struct, sys
import numpy as np
import torch

FIX = os.environ.get("EDGELM_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures"))
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "bert")

def load_state(d):
    p = os.path.join(d, "model.safetensors")
    if os.path.exists(p):
        raw = open(p, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        base = 8 + n
        sd = {}
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
            sd[k] = torch.from_numpy(np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(v["shape"]).copy())
        return sd
    return torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu")

def forward(sd, cfg, ids, types):
    g = lambda k: sd[k].double() if k in sd else sd["bert." + k].double()
    E, H = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (E,), g(p + ".weight"), g(p + ".bias"), eps)
    lin = lambda x, p: x @ g(p + ".weight").T + g(p + ".bias")
    gelu = lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    n = len(ids)
    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[:n] + \
        g("embeddings.token_type_embeddings.weight")[types]
    x = ln(x, "embeddings.LayerNorm")
    hidden = [x]
    D = E // H
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        q = lin(x, p + "attention.self.query").view(n, H, D).transpose(0, 1)
        k = lin(x, p + "attention.self.key").view(n, H, D).transpose(0, 1)
        v = lin(x, p + "attention.self.value").view(n, H, D).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D), -1) @ v
        a = a.transpose(0, 1).reshape(n, E)
        x = ln(lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        f = lin(gelu(lin(x, p + "intermediate.dense")), p + "output.dense")
        x = ln(f + x, p + "output.LayerNorm")
        hidden.append(x)
    out = {"hidden": torch.stack(hidden), "last": x}
    has = lambda k: k in sd or ("bert." + k) in sd
    if has("pooler.dense.weight"):
        out["pooled"] = torch.tanh(lin(x[0], "pooler.dense"))
        if "cls.seq_relationship.weight" in sd:
            out["nsp"] = lin(out["pooled"], "cls.seq_relationship")
        if "classifier.weight" in sd:
            out["classes"] = lin(out["pooled"], "classifier")
    if "cls.predictions.transform.dense.weight" in sd:
        h = ln(gelu(lin(x, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
        out["mlm"] = h @ g("embeddings.word_embeddings.weight").T + sd["cls.predictions.bias"].double()
    return out

def check_against_hf():
    d = os.path.join(FIX, "hf-reference", "bert")
    sd, cfg = load_state(d), json.load(open(os.path.join(d, "config.json")))
    worst = 0.0
    for c in range(4):
        r = lambda name: np.load(os.path.join(d, "refs", "case%d_%s.npy" % (c, name)))
        ids = r("input_ids").tolist()
        o = forward(sd, cfg, ids, [0] * len(ids))
        for name, mine in [("hidden_2", o["hidden"][2]), ("logits", o["mlm"]), ("pooler_output", o["pooled"]),
                           ("seq_relationship_logits", o["nsp"])]:
            worst = max(worst, float(np.abs(mine.numpy() - r(name)).max()))
    print("reference vs transformers (hf-reference/bert): max abs error %.3g" % worst)
    assert worst < 1e-4

def write(model, d, cases):
    sd, cfg = load_state(d), json.load(open(os.path.join(d, "config.json")))
    for c, (ids, types) in enumerate(cases):
        o = forward(sd, cfg, ids, types)
        pre = os.path.join(OUT, "%s_case%d_" % (model, c))
        np.save(pre + "ids.npy", np.array(ids, dtype=np.int32))
        np.save(pre + "types.npy", np.array(types, dtype=np.int32))
        np.save(pre + "last.npy", o["last"].float().numpy())
        for k in ("pooled", "nsp", "classes"):
            if k in o:
                np.save(pre + k + ".npy", o[k].float().numpy())
        if "mlm" in o:  # row 2 only: the vocabulary is large
            np.save(pre + "mlm.npy", o["mlm"][2].float().numpy())

def make_tiny_bertmodel(d):
    """A BertModel as transformers saves it (no "bert." prefix, pooler kept, LayerNorm gamma/beta
    spelled the old way in layer 0) in pytorch_model.bin, with a 24-token vocab."""
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    E, F, V, P = 8, 16, 24, 16
    sd = {}
    r = lambda *s: torch.randn(*s, generator=g) * 0.5
    sd["embeddings.word_embeddings.weight"] = r(V, E)
    sd["embeddings.position_embeddings.weight"] = r(P, E)
    sd["embeddings.token_type_embeddings.weight"] = r(2, E)
    sd["embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
    sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"] = 1 + r(E) / 5, r(E) / 5
    for l in range(2):
        p = "encoder.layer.%d." % l
        for n, o, i in [("attention.self.query", E, E), ("attention.self.key", E, E), ("attention.self.value", E, E),
                        ("attention.output.dense", E, E), ("intermediate.dense", F, E), ("output.dense", E, F)]:
            sd[p + n + ".weight"], sd[p + n + ".bias"] = r(o, i), r(o) / 5
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w, b = (".gamma", ".beta") if l == 0 else (".weight", ".bias")
            sd[p + n + w], sd[p + n + b] = 1 + r(E) / 5, r(E) / 5
    sd["pooler.dense.weight"], sd["pooler.dense.bias"] = r(E, E), r(E) / 5
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": E, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": F, "max_position_embeddings": P, "vocab_size": V,
               "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}, open(os.path.join(d, "config.json"), "w"))
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", ".", "a", "dog",
             "ran", "##ning", "big", "small", "red", "blue", "is", "was", "it", "!"]
    open(os.path.join(d, "vocab.txt"), "w").write("\n".join(words) + "\n")
    json.dump({"do_lower_case": True}, open(os.path.join(d, "tokenizer_config.json"), "w"))
    # the reference reads .gamma/.beta as weight/bias
    for k in list(sd):
        if k.endswith(".gamma"): sd[k[:-6] + ".weight"] = sd.pop(k)
        elif k.endswith(".beta"): sd[k[:-5] + ".bias"] = sd.pop(k)
    return sd

if __name__ == "__main__":
    check_against_hf()
    tiny = os.path.join(OUT, "tiny-bertmodel")
    sd = make_tiny_bertmodel(tiny)
    cfg = json.load(open(os.path.join(tiny, "config.json")))
    for c, (ids, types) in enumerate([([2, 5, 6, 7, 8, 5, 9, 11, 3], [0] * 9), ([2, 12, 13, 14, 3, 22, 21, 16, 3], [0] * 5 + [1] * 4)]):
        o = forward(sd, cfg, ids, types)
        pre = os.path.join(OUT, "tinymodel_case%d_" % c)
        np.save(pre + "ids.npy", np.array(ids, dtype=np.int32))
        np.save(pre + "types.npy", np.array(types, dtype=np.int32))
        np.save(pre + "last.npy", o["last"].float().numpy())
        np.save(pre + "pooled.npy", o["pooled"].float().numpy())
    # caikit classifier (pytorch_model.bin, vocab 1124): a sentence and a pair with token types
    write("caikit", os.path.join(FIX, "hf-tiny-caikit", "BertForSequenceClassification"),
          [([2, 45, 300, 17, 999, 3], [0] * 6), ([2, 100, 200, 3, 400, 500, 600, 3], [0, 0, 0, 0, 1, 1, 1, 1])])
    # bert_tiniest (safetensors, bert-base-uncased vocab): [CLS] the cat sat [SEP] / pair
    write("tiniest", os.path.join(FIX, "hf-tiny-lm-buddy", "bert_tiniest"),
          [([101, 1996, 4937, 2938, 102], [0] * 5), ([101, 7592, 103, 102, 2088, 102], [0, 0, 0, 0, 1, 1])])
