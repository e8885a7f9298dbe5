#!/usr/bin/python3
"""Random-weight decoder checkpoints of realistic shapes for `edgelm bench -m` and the
side-by-side runs against llama-bench (docs/benchmarks-log.md, "GPT decoders").

    scripts/make_decoder_bench.py SHAPE OUT_DIR
SHAPE:
    llama-110m    stories110M-like LlamaForCausalLM (delegates to scripts/make_llama_bench.py:
                  768 dim, 12 layers, 12 heads, ffn 2048, vocab 32000, untied; Llama 2 tokenizer)
    smollm-135m   SmolLM2-135M-like LlamaForCausalLM: 576 dim, 30 layers, 9 heads / 3 KV heads,
                  ffn 1536, vocab 49152, tied embeddings, rope_theta 100000; byte-level BPE
                  tokenizer = GPT-2's first 49152 tokens and the merges among them
    gpt2-124m     GPT2LMHeadModel 124M: 768 dim, 12 layers, 12 heads, vocab 50257, 1024 positions
                  (Conv1D weights [in, out]); GPT-2's vocab.json + merges.txt
Weights: normal(0, 0.02), norm weights 1, biases 0; seeded, F32 safetensors. The GPT-2
tokenizer files come from ../shared/fixtures/gpt2-tokenizer (encoder.json, vocab.bpe).
Then e.g.  edgelm convert OUT_DIR -o /tmp/smollm-135m-q8_0.gguf --outtype q8_0
"""
import json, os, struct, subprocess, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.environ.get("FIXTURES", os.path.join(HERE, "..", "..", "shared", "fixtures"))


def write_safetensors(path, tensors):
    hdr, off = {}, 0
    for k, a in tensors.items():
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hdr["__metadata__"] = {"format": "pt"}
    hj = json.dumps(hdr).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a).tobytes())


class Rand:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape):
        return (self.rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


def gpt2_tokenizer(out, n_vocab):
    """GPT-2's byte-level BPE cut to its first n_vocab ids (merges whose parts and result
    survive), written as vocab.json + merges.txt."""
    with open(os.path.join(FIX, "gpt2-tokenizer", "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    with open(os.path.join(FIX, "gpt2-tokenizer", "vocab.bpe"), encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l and not l.startswith("#version")]
    keep = {t: i for t, i in enc.items() if i < n_vocab}
    merges = [l for l in lines if len(l.split(" ")) == 2 and all(p in keep for p in l.split(" "))
              and "".join(l.split(" ")) in keep]
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(keep, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def smollm(out):
    E, L, F, V, H, KV, P = 576, 30, 1536, 49152, 9, 3, 2048
    D = E // H
    r, t = Rand(1), {}
    t["model.embed_tokens.weight"] = r.normal(V, E)
    for l in range(L):
        p = "model.layers.%d." % l
        for n, o, i in [("self_attn.q_proj", H * D, E), ("self_attn.k_proj", KV * D, E),
                        ("self_attn.v_proj", KV * D, E), ("self_attn.o_proj", E, H * D),
                        ("mlp.gate_proj", F, E), ("mlp.up_proj", F, E), ("mlp.down_proj", E, F)]:
            t[p + n + ".weight"] = r.normal(o, i)
        t[p + "input_layernorm.weight"] = np.ones(E, np.float32)
        t[p + "post_attention_layernorm.weight"] = np.ones(E, np.float32)
    t["model.norm.weight"] = np.ones(E, np.float32)
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": E,
           "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "max_position_embeddings": P, "vocab_size": V,
           "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": True,
           "hidden_act": "silu", "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    gpt2_tokenizer(out, V)


def gpt2(out):
    E, L, V, P = 768, 12, 50257, 1024
    F = 4 * E
    r, t = Rand(2), {}
    t["wte.weight"] = r.normal(V, E)
    t["wpe.weight"] = r.normal(P, E)
    for l in range(L):
        p = "h.%d." % l
        for n, shape in [("attn.c_attn", (E, 3 * E)), ("attn.c_proj", (E, E)),
                         ("mlp.c_fc", (E, F)), ("mlp.c_proj", (F, E))]:  # Conv1D: [in, out]
            t[p + n + ".weight"] = r.normal(*shape)
            t[p + n + ".bias"] = np.zeros(shape[1], np.float32)
        for n in ("ln_1", "ln_2"):
            t[p + n + ".weight"] = np.ones(E, np.float32)
            t[p + n + ".bias"] = np.zeros(E, np.float32)
    t["ln_f.weight"] = np.ones(E, np.float32)
    t["ln_f.bias"] = np.zeros(E, np.float32)
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": E, "n_layer": L,
           "n_head": 12, "n_positions": P, "n_ctx": P, "vocab_size": V,
           "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
           "bos_token_id": 50256, "eos_token_id": 50256}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    gpt2_tokenizer(out, V)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("llama-110m", "smollm-135m", "gpt2-124m"):
        sys.exit(__doc__)
    shape, out = sys.argv[1], sys.argv[2]
    if shape == "llama-110m":
        subprocess.check_call([sys.executable, os.path.join(HERE, "make_llama_bench.py"), out])
        return
    os.makedirs(out, exist_ok=True)
    smollm(out) if shape == "smollm-135m" else gpt2(out)
    print("wrote", out)


if __name__ == "__main__":
    main()
