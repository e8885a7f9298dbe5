#!/usr/bin/env python3
"""Writes a Hugging Face llama folder with random F32 weights of about SIZE_MB megabytes
(config.json, model.safetensors, and the tokenizer files copied from a fixture folder), for the
tests that interrupt `edgelm convert` / `quantize` mid-write (tests/cli-atomic.sh).

usage: make_big_checkpoint.py OUT_DIR TOKENIZER_DIR [SIZE_MB]   (TOKENIZER_DIR: hf-reference/llama)
"""
import json
import os
import shutil
import struct
import sys

import numpy as np


def main():
    out, tok = sys.argv[1], sys.argv[2]
    size_mb = float(sys.argv[3]) if len(sys.argv) > 3 else 50
    cfg = json.load(open(os.path.join(tok, "config.json")))
    n_vocab, n_embd, n_ff, n_head = cfg["vocab_size"], 512, 1536, 8
    per_layer = 4 * n_embd * n_embd + 3 * n_embd * n_ff + 2 * n_embd
    n_layer = max(1, int((size_mb * 1e6 / 4 - 2 * n_vocab * n_embd) / per_layer))
    cfg.update(hidden_size=n_embd, intermediate_size=n_ff, num_attention_heads=n_head,
               num_key_value_heads=n_head, num_hidden_layers=n_layer, head_dim=n_embd // n_head)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(tok):
        if f.startswith("tokenizer") or f in ("special_tokens_map.json", "generation_config.json"):
            shutil.copy(os.path.join(tok, f), out)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
    rng = np.random.default_rng(7)
    shapes = [("model.embed_tokens.weight", (n_vocab, n_embd)), ("lm_head.weight", (n_vocab, n_embd)),
              ("model.norm.weight", (n_embd,))]
    for i in range(n_layer):
        p = "model.layers.%d." % i
        shapes += [(p + "self_attn.%s_proj.weight" % k, (n_embd, n_embd)) for k in "qkvo"]
        shapes += [(p + "mlp.gate_proj.weight", (n_ff, n_embd)), (p + "mlp.up_proj.weight", (n_ff, n_embd)),
                   (p + "mlp.down_proj.weight", (n_embd, n_ff)),
                   (p + "input_layernorm.weight", (n_embd,)), (p + "post_attention_layernorm.weight", (n_embd,))]
    header, off = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape in shapes:
            f.write((rng.standard_normal(shape, dtype=np.float32) * 0.02).tobytes())


if __name__ == "__main__":
    main()
