#!/usr/bin/python3
"""Fine-tuning benchmark inputs (BENCHMARKS.md, "Fine-tuning"): a random BertModel folder of the
bert-tiny shape (hidden 128, 2 layers, 2 heads, ffn 512) or the bert-base shape (hidden 768, 12
layers, 12 heads, ffn 3072), 30522-word vocabulary, and a TSV of N examples (default 32) of 126
words (128 tokens with [CLS]/[SEP]), written to DIR/bert-SHAPE and DIR/train.tsv.

    /usr/bin/python3 scripts/bench_finetune_make.py DIR [tiny|base] [N]
"""
import json, os, random, torch
import sys
SHAPES = {"tiny": (128, 2, 2, 512), "base": (768, 12, 12, 3072)}
shape = sys.argv[2] if len(sys.argv) > 2 else "tiny"
E, L, H, F = SHAPES[shape]
V, P = 30522, 512
n_examples = int(sys.argv[3]) if len(sys.argv) > 3 else 32
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ft-bench"
d = out + "/bert-" + shape; os.makedirs(d, exist_ok=True)
g = torch.Generator().manual_seed(0)
r = lambda *s: torch.randn(*s, generator=g) * 0.02
sd = {"bert.embeddings.word_embeddings.weight": r(V, E), "bert.embeddings.position_embeddings.weight": r(P, E),
      "bert.embeddings.token_type_embeddings.weight": r(2, E), "bert.embeddings.LayerNorm.weight": torch.ones(E), "bert.embeddings.LayerNorm.bias": torch.zeros(E)}
for l in range(L):
    p = "bert.encoder.layer.%d." % l
    for n, o, i in [("attention.self.query", E, E), ("attention.self.key", E, E), ("attention.self.value", E, E), ("attention.output.dense", E, E), ("intermediate.dense", F, E), ("output.dense", E, F)]:
        sd[p + n + ".weight"], sd[p + n + ".bias"] = r(o, i), torch.zeros(o)
    for n in ("attention.output.LayerNorm", "output.LayerNorm"):
        sd[p + n + ".weight"], sd[p + n + ".bias"] = torch.ones(E), torch.zeros(E)
sd["bert.pooler.dense.weight"], sd["bert.pooler.dense.bias"] = r(E, E), torch.zeros(E)
torch.save(sd, d + "/pytorch_model.bin")
json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": E, "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": F,
           "max_position_embeddings": P, "vocab_size": V, "type_vocab_size": 2}, open(d + "/config.json", "w"))
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["a%d" % i for i in range(V - 5)]
open(d + "/vocab.txt", "w").write("\n".join(words) + "\n")
random.seed(1)
with open(out + "/train.tsv", "w") as f:
    for i in range(n_examples):
        f.write(" ".join("a%d" % random.randrange(V - 5) for _ in range(126)) + "\t" + ("x" if i % 2 else "y") + "\n")
