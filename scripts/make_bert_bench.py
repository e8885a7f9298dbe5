#!/usr/bin/python3
"""A bert-base-shaped random BertForMaskedLM folder for `edgelm bert-bench` (docs/benchmarks-log.md, "BERT").

768 hidden, 12 layers, 12 heads, 3072 feed-forward, 512 positions, vocab 30522 (random weights,
std 0.02; a bert-base-uncased-style vocab.txt of placeholder words). Usage:
    scripts/make_bert_bench.py OUT_DIR
then: edgelm convert OUT_DIR -o bert-base-f32.gguf [--outtype f16|q8_0|q4_0]
"""
import json, os, struct, sys
import numpy as np

E, L, F, V, P = 768, 12, 3072, 30522, 512
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
t = {}
def w(name, *shape):
    t[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
def ln(name):
    t[name + ".weight"] = np.ones(E, np.float32)
    t[name + ".bias"] = np.zeros(E, np.float32)
w("bert.embeddings.word_embeddings.weight", V, E)
w("bert.embeddings.position_embeddings.weight", P, E)
w("bert.embeddings.token_type_embeddings.weight", 2, E)
ln("bert.embeddings.LayerNorm")
for l in range(L):
    p = "bert.encoder.layer.%d." % l
    for n, o, i in [("attention.self.query", E, E), ("attention.self.key", E, E), ("attention.self.value", E, E),
                    ("attention.output.dense", E, E), ("intermediate.dense", F, E), ("output.dense", E, F)]:
        w(p + n + ".weight", o, i)
        w(p + n + ".bias", o)
    ln(p + "attention.output.LayerNorm")
    ln(p + "output.LayerNorm")
w("cls.predictions.transform.dense.weight", E, E)
w("cls.predictions.transform.dense.bias", E)
ln("cls.predictions.transform.LayerNorm")
w("cls.predictions.bias", V)
hdr, off = {}, 0
for k, a in t.items():
    hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    off += a.nbytes
h = json.dumps(hdr).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for a in t.values():
        f.write(a.tobytes())
json.dump({"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": E, "num_hidden_layers": L,
           "num_attention_heads": 12, "intermediate_size": F, "max_position_embeddings": P, "vocab_size": V,
           "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}, open(os.path.join(out, "config.json"), "w"))
special = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
words = special + ["w%d" % i for i in range(V - len(special))]
open(os.path.join(out, "vocab.txt"), "w").write("\n".join(words) + "\n")
json.dump({"do_lower_case": True}, open(os.path.join(out, "tokenizer_config.json"), "w"))
