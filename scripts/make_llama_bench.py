#!/usr/bin/python3
"""A stories110M-shaped random LlamaForCausalLM folder for the quantization and decoder
benchmarks (docs/benchmarks-log.md, "Quantization").

768 hidden, 12 layers, 12 heads (no GQA), 2048 feed-forward, 1024 positions, vocab 32000,
untied output; random weights (std 0.02, norms 1) in Hugging Face's safetensors layout, with
the Llama 2 SentencePiece tokenizer.model copied in. Usage:
    scripts/make_llama_bench.py OUT_DIR [TOKENIZER_MODEL]
(TOKENIZER_MODEL defaults to ../shared/fixtures/llama2-tokenizer/tokenizer.model), then:
    edgelm convert OUT_DIR -o llama-bench-f32.gguf --outtype f32
    edgelm quantize llama-bench-f32.gguf llama-bench-q4_k_m.gguf Q4_K_M
"""
import json, os, shutil, struct, sys
import numpy as np

E, L, F, V, H, P = 768, 12, 2048, 32000, 12, 1024
out = sys.argv[1]
tok = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "llama2-tokenizer", "tokenizer.model")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
t = {}
def w(name, *shape):
    t[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
w("model.embed_tokens.weight", V, E)
for l in range(L):
    p = "model.layers.%d." % l
    for n, o, i in [("self_attn.q_proj", E, E), ("self_attn.k_proj", E, E), ("self_attn.v_proj", E, E),
                    ("self_attn.o_proj", E, E), ("mlp.gate_proj", F, E), ("mlp.up_proj", F, E),
                    ("mlp.down_proj", E, F)]:
        w(p + n + ".weight", o, i)
    t[p + "input_layernorm.weight"] = np.ones(E, np.float32)
    t[p + "post_attention_layernorm.weight"] = np.ones(E, np.float32)
t["model.norm.weight"] = np.ones(E, np.float32)
w("lm_head.weight", V, E)
hdr, off = {}, 0
for k, a in t.items():
    hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    off += a.nbytes
hdr["__metadata__"] = {"format": "pt"}
hj = json.dumps(hdr).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    for a in t.values():
        f.write(a.tobytes())
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": E,
       "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
       "num_key_value_heads": H, "max_position_embeddings": P, "vocab_size": V,
       "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
       "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(cfg, f, indent=1)
shutil.copy(tok, os.path.join(out, "tokenizer.model"))
print("wrote", out)
