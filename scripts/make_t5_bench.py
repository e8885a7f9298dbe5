#!/usr/bin/python3
"""Writes a random-weight T5 of t5-small's shape (d_model 512, d_kv 64, 8 heads, d_ff 2048,
6 encoder + 6 decoder layers, vocab 32128, 32 relative buckets, ReLU, tied embeddings) as a
Hugging Face folder (config.json, model.safetensors, the tokenizer of
../shared/fixtures/hf-reference/t5) for the T5 benchmark. Not committed: ~240 MB.

    /usr/bin/python3 scripts/make_t5_bench.py /tmp/t5-bench     # needs numpy only
    build/edgelm convert /tmp/t5-bench -o t5s-f32.gguf
    build/edgelm convert /tmp/t5-bench -o t5s-q8_0.gguf --outtype q8_0
    build/edgelm t5-bench -m t5s-f32.gguf -t 1,2 --tokens 64 --steps 32

Weights are N(0, 1/fan_in) (embeddings N(0, 1), norms 1, bias tables N(0, 0.5)) so that the
activations stay in a realistic range; speed does not depend on the values.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

CFG = {
    "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 512, "d_kv": 64,
    "d_ff": 2048, "num_layers": 6, "num_decoder_layers": 6, "num_heads": 8, "vocab_size": 32128,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "feed_forward_proj": "relu", "layer_norm_epsilon": 1e-6, "decoder_start_token_id": 0,
    "eos_token_id": 1, "pad_token_id": 0, "tie_word_embeddings": True, "n_positions": 512,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "t5-bench-model"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    E, D, F, H, V = 512, 512, 2048, 8, 32128
    t = {}

    def lin(name, rows, cols):
        t[name] = (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float32)

    t["shared.weight"] = rng.standard_normal((V, E), dtype=np.float32)
    for side, n in (("encoder", 6), ("decoder", 6)):
        for i in range(n):
            p = "%s.block.%d.layer." % (side, i)
            subs = [("0", "SelfAttention")] + ([("1", "EncDecAttention")] if side == "decoder" else [])
            for sub, mod in subs:
                for w in "qkv":
                    lin(p + "%s.%s.%s.weight" % (sub, mod, w), D, E)
                # T5 does not divide attention scores by sqrt(d_kv); its initialisation
                # (transformers' T5PreTrainedModel) gives q a std of (d_model * d_kv)^-0.5
                # instead. Without that, scores have a std of ~8, the softmax is one-hot and
                # the model is chaotic: any rounding (even F16) flips which key a head reads.
                t[p + "%s.%s.q.weight" % (sub, mod)] /= np.float32(np.sqrt(D // H))
                lin(p + "%s.%s.o.weight" % (sub, mod), E, D)
                t[p + sub + ".layer_norm.weight"] = np.ones(E, np.float32)
                if i == 0 and mod == "SelfAttention":
                    t[p + "0.SelfAttention.relative_attention_bias.weight"] = \
                        (0.5 * rng.standard_normal((32, H))).astype(np.float32)
            f = "1" if side == "encoder" else "2"
            lin(p + f + ".DenseReluDense.wi.weight", F, E)
            lin(p + f + ".DenseReluDense.wo.weight", E, F)
            t[p + f + ".layer_norm.weight"] = np.ones(E, np.float32)
        t[side + ".final_layer_norm.weight"] = np.ones(E, np.float32)
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
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
    json.dump(CFG, open(os.path.join(out, "config.json"), "w"), indent=1)
    src = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures", "hf-reference", "t5")
    for name in ("spiece.model", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(out, name))
    print("wrote %s (%.1f M parameters)" % (out, sum(a.size for a in t.values()) / 1e6))


if __name__ == "__main__":
    main()
