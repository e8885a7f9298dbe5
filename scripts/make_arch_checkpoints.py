#!/usr/bin/env python3
"""Tiny random-weight Hugging Face checkpoints, one per decoder architecture of issue #11.

    python3 scripts/make_arch_checkpoints.py [--wide | --real] OUTDIR [NAME ...]

writes OUTDIR/NAME/{config.json, model.safetensors, tokenizer files} for each NAME (default:
all). Only numpy is needed. Generation is deterministic (one numpy seed per architecture), so
the reference logits recorded from llama.cpp (scripts/record_arch_refs.sh → tests/data/arch)
stay valid for the checkpoints every test run regenerates.

--wide makes the widths multiples of 256 (n_embd 256, n_ff 768, 4 heads of 64, 2 key/value
heads), the shapes whose quantization follows llama-quantize's K-quant rules rather than its
fallbacks (tests/cli-arch-quant.sh compares the per-tensor types).

--real makes the shapes of the released models the benchmarks of issue #11 use (REAL below:
qwen3 = Qwen3-0.6B, llama = Llama-3.2-1B, gemma3 = Gemma-3-270M, lfm2 = LFM2-350M; widths,
heads, key/value heads, layers, vocabulary and feed-forward width from their config.json), with
random F16 weights (normal, std 0.02) generated and written one tensor at a time, and the
vocabulary padded to the real size by the converter ([PAD<id>] tokens). See
scripts/bench_arch_vs_llamacpp.sh.

Shapes: a few layers, grouped-query attention (6 query heads, 2 key/value heads), widths that
are not powers of two (n_embd 96, n_ff 200, head_dim 16 or 24). Tokenizers: byte-level BPE
cut from GPT-2's first 1000 tokens (read from ../shared/fixtures/gpt2-tokenizer, never copied
into the repo) with the llama3 / qwen2 / smollm pre-tokenizer written as tokenizer.json, or the
Llama 2 SentencePiece tokenizer.model (byte fallback) for the Gemma models.
"""
import json
import os
import shutil
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_decoder_bench import write_safetensors  # noqa: E402 (one F32 safetensors writer)

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.environ.get("FIXTURES", os.path.join(HERE, "..", "..", "shared", "fixtures"))

LLAMA3_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
             "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
QWEN2_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
            "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

CHAT_TEMPLATE = ("{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|start|>assistant\n{% endif %}")


def bpe_tokenizer(out, pre, n_base=1000):
    """GPT-2's first n_base byte-level tokens and the merges among them, three special tokens
    after them, as tokenizer.json with the given pre-tokenizer ("llama3", "qwen2", "smollm")."""
    with open(os.path.join(FIX, "gpt2-tokenizer", "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    with open(os.path.join(FIX, "gpt2-tokenizer", "vocab.bpe"), encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l and not l.startswith("#version")]
    vocab = {t: i for t, i in enc.items() if i < n_base}
    merges = [l for l in lines if len(l.split(" ")) == 2 and all(p in vocab for p in l.split(" "))
              and "".join(l.split(" ")) in vocab]
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|end|>", "<|start|>"]
    added = [{"id": n_base + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for k, s in enumerate(specials)]
    if pre == "smollm":
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    else:
        pre_tok = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_RE if pre == "llama3" else QWEN2_RE},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    tok = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre_tok,
           "post_processor": None, "decoder": {"type": "ByteLevel"},
           "model": {"type": "BPE", "vocab": vocab, "merges": merges, "dropout": None,
                     "unk_token": None, "fuse_unk": False, "byte_fallback": False}}
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    cfg = {"bos_token": specials[0], "eos_token": specials[1], "add_bos_token": pre == "llama3",
           "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    return n_base + len(specials)


PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>", "<|placeholder1|>"]


def spm_tokenizer(out, added=()):
    """The Llama 2 SentencePiece model (32000 pieces, byte fallback) as the Gemma / Phi-3
    tokenizer.model, with Phi-3's added special tokens after it when asked."""
    shutil.copy(os.path.join(FIX, "llama2-tokenizer", "tokenizer.model"), os.path.join(out, "tokenizer.model"))
    cfg = {"bos_token": "<s>", "eos_token": added[0] if added else "</s>", "add_bos_token": True,
           "chat_template": CHAT_TEMPLATE,
           "added_tokens_decoder": {str(32000 + k): {"content": t, "special": True} for k, t in enumerate(added)}}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    return 32000 + len(added)


class Rand:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def w(self, *shape, std=0.08):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def norm(self, n, shift=1.0):
        return (shift + self.rng.standard_normal(n) * 0.1).astype(np.float32)


class Lazy:
    """Stands in for Rand in --real mode: records (shape, std, shift) instead of drawing, so
    make() lays out the same tensors without holding a billion F32 numbers in memory."""
    def w(self, *shape, std=0.08):
        return ("w", shape, 0.02)

    def norm(self, n, shift=1.0):
        return ("norm", (n,), shift)


def write_lazy_safetensors(path, tensors, seed):
    """The F16 safetensors file of Lazy placeholders, each tensor drawn as it is written."""
    hdr, off = {}, 0
    for k, (_, shape, _) in tensors.items():
        n = 2 * int(np.prod(shape))
        hdr[k] = {"dtype": "F16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hdr["__metadata__"] = {"format": "pt"}
    hj = json.dumps(hdr).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(len(hj).to_bytes(8, "little"))
        f.write(hj)
        for kind, shape, v in tensors.values():
            if kind == "norm":
                a = np.full(shape, v, np.float16)
            else:
                a = (rng.standard_normal(shape, dtype=np.float32) * v).astype(np.float16)
            f.write(a.tobytes())
            del a


E, F, L, NH, NKV = 96, 200, 3, 6, 2

# --real: name: (n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_vocab, config changes)
REAL = {
    "qwen3": (1024, 3072, 28, 16, 8, 128, 151936, {"max_position_embeddings": 40960}),     # Qwen3-0.6B
    "llama": (2048, 8192, 16, 32, 8, 64, 128256,                                            # Llama-3.2-1B
              {"max_position_embeddings": 131072, "rope_theta": 500000.0, "tie_word_embeddings": True,
               "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}),
    "gemma3": (640, 2048, 18, 4, 1, 256, 262144,                                            # Gemma-3-270M
               {"max_position_embeddings": 32768, "sliding_window": 512, "query_pre_attn_scalar": 256}),
    "lfm2": (1024, 6656, 16, 16, 8, 64, 65536,                                              # LFM2-350M
             {"max_position_embeddings": 128000, "block_ff_dim": 6656, "block_multiple_of": 256,
              "layer_types": ["full_attention" if i in (2, 5, 8, 10, 12, 14) else "conv"
                              for i in range(16)]}),
}

# name: (HF class, model_type, tokenizer, head_dim, extra config, layout switches)
ARCHS = {
    "llama": ("LlamaForCausalLM", "llama", "llama3", 16,
              {"rope_theta": 10000.0, "tie_word_embeddings": False,
               "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 32}},
              {"untied": True}),
    "qwen3": ("Qwen3ForCausalLM", "qwen3", "qwen2", 24, {"rope_theta": 1000000.0, "tie_word_embeddings": True},
              {"qk_norm": "head"}),
    "gemma2": ("Gemma2ForCausalLM", "gemma2", "spm", 24,
               {"rope_theta": 10000.0, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                "sliding_window": 8, "query_pre_attn_scalar": 24, "hidden_activation": "gelu_pytorch_tanh"},
               {"gemma": True}),
    "gemma3": ("Gemma3ForCausalLM", "gemma3_text", "spm", 24,
               {"rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "sliding_window": 8,
                "sliding_window_pattern": 6, "query_pre_attn_scalar": 24,
                "hidden_activation": "gelu_pytorch_tanh"},
               {"gemma": True, "qk_norm": "head"}),
    "granite": ("GraniteForCausalLM", "granite", "llama3", 16,
                {"rope_theta": 10000.0, "attention_multiplier": 0.1, "embedding_multiplier": 6.0,
                 "residual_multiplier": 0.3, "logits_scaling": 4.0, "tie_word_embeddings": True}, {}),
    "olmo2": ("Olmo2ForCausalLM", "olmo2", "llama3", 16, {"rope_theta": 500000.0, "tie_word_embeddings": False},
              {"untied": True, "qk_norm": "full", "post_only": True}),
    "phi3": ("Phi3ForCausalLM", "phi3", "spm", 16,
             {"rope_theta": 10000.0, "tie_word_embeddings": False, "partial_rotary_factor": 0.75,
              "original_max_position_embeddings": 32, "sliding_window": 8,
              "rope_scaling": {"type": "longrope", "long_factor": [1.0, 1.5, 2.5, 4.0, 7.0, 11.0],
                               "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.4]}},
             {"untied": True, "fused": True}),
    "lfm2": ("Lfm2ForCausalLM", "lfm2", "llama3", 16,
             {"rope_theta": 1000000.0, "tie_word_embeddings": True, "norm_eps": 1e-5, "conv_L_cache": 3,
              "layer_types": ["conv", "conv", "full_attention", "conv", "full_attention"],
              "block_ff_dim": 300, "block_auto_adjust_ff_dim": True, "block_ffn_dim_multiplier": 1.0,
              "block_multiple_of": 8, "intermediate_size": 300},
             {"lfm2": True}),
    "smollm3": ("SmolLM3ForCausalLM", "smollm3", "smollm", 16,
                {"rope_theta": 5000000.0, "tie_word_embeddings": True, "no_rope_layer_interval": 4}, {}),
}
LAYERS = {"smollm3": 5, "gemma3": 7, "lfm2": 5}  # smollm3: layer 3 has no rope; gemma3: layer 5 global


def make(out, name, wide=False, real=False):
    global E, F, NH, NKV
    hf, mtype, tok, hd, extra, sw = ARCHS[name]
    extra = json.loads(json.dumps(extra))
    sw = dict(sw)
    n_layer, V_real = LAYERS.get(name, L), None
    if real:
        E, F, n_layer, NH, NKV, hd, V_real, changes = REAL[name]
        extra.update(json.loads(json.dumps(changes)))
        if name == "lfm2":
            extra["intermediate_size"] = F
        if extra.get("tie_word_embeddings"):
            sw.pop("untied", None)
    shutil.rmtree(out, ignore_errors=True)  # no tokenizer file of an earlier run left behind
    if wide:
        E, F, NH, NKV, hd = 256, 768, 4, 2, 64
        if name.startswith("gemma"):
            tok = "llama3"  # a small vocabulary: the types do not depend on it
        if "rope_scaling" in extra and "long_factor" in extra["rope_scaling"]:
            half = int(extra["partial_rotary_factor"] * E) // NH // 2
            extra["rope_scaling"]["long_factor"] = [1.0 + 0.5 * i for i in range(half)]
            extra["rope_scaling"]["short_factor"] = [1.0 + 0.05 * i for i in range(half)]
        if "block_ff_dim" in extra:
            extra["block_ff_dim"] = extra["intermediate_size"] = F
    os.makedirs(out, exist_ok=True)
    if tok == "spm":
        V = spm_tokenizer(out, PHI3_ADDED if name == "phi3" else ())
    else:
        V = bpe_tokenizer(out, tok, 50000 if real else 1000)
    V = V_real or V
    cfg = {"architectures": [hf], "model_type": mtype, "hidden_size": E, "intermediate_size": F,
           "num_hidden_layers": n_layer, "num_attention_heads": NH, "num_key_value_heads": NKV,
           "head_dim": hd, "vocab_size": V, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
           "hidden_act": "silu", "torch_dtype": "float32"}
    cfg.update(extra)
    if name == "smollm3":
        cfg["no_rope_layers"] = [int((i + 1) % 4 != 0) for i in range(n_layer)]
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    r = Lazy() if real else Rand(zlib.crc32(name.encode()))  # a seed of its own per architecture
    gemma, shift = sw.get("gemma", False), (0.0 if sw.get("gemma") else 1.0)
    t = {"model.embed_tokens.weight": r.w(V, E, std=0.5 if gemma else 0.3)}
    for i in range(n_layer):
        p = "model.layers.%d." % i
        if not sw.get("post_only"):
            t[p + "input_layernorm.weight"] = r.norm(E, shift)
        if sw.get("fused"):
            t[p + "self_attn.qkv_proj.weight"] = r.w((NH + 2 * NKV) * hd, E)
        else:
            t[p + "self_attn.q_proj.weight"] = r.w(NH * hd, E)
            t[p + "self_attn.k_proj.weight"] = r.w(NKV * hd, E)
            t[p + "self_attn.v_proj.weight"] = r.w(NKV * hd, E)
        t[p + "self_attn.o_proj.weight"] = r.w(E, NH * hd)
        if sw.get("qk_norm") == "head":
            t[p + "self_attn.q_norm.weight"] = r.norm(hd, shift)
            t[p + "self_attn.k_norm.weight"] = r.norm(hd, shift)
        elif sw.get("qk_norm") == "full":
            t[p + "self_attn.q_norm.weight"] = r.norm(NH * hd, shift)
            t[p + "self_attn.k_norm.weight"] = r.norm(NKV * hd, shift)
        t[p + "post_attention_layernorm.weight"] = r.norm(E, shift)
        if gemma:
            t[p + "pre_feedforward_layernorm.weight"] = r.norm(E, shift)
        if gemma or sw.get("post_only"):
            t[p + "post_feedforward_layernorm.weight"] = r.norm(E, shift)
        if sw.get("fused"):
            t[p + "mlp.gate_up_proj.weight"] = r.w(2 * F, E)
        else:
            t[p + "mlp.gate_proj.weight"] = r.w(F, E)
            t[p + "mlp.up_proj.weight"] = r.w(F, E)
        t[p + "mlp.down_proj.weight"] = r.w(E, F)
    t["model.norm.weight"] = r.norm(E, shift)
    if sw.get("untied"):
        t["lm_head.weight"] = r.w(V, E, std=0.3)
    if sw.get("lfm2"):
        t = lfm2_tensors(r, cfg, V)
    if real:
        write_lazy_safetensors(os.path.join(out, "model.safetensors"), t, zlib.crc32(name.encode()))
    else:
        write_safetensors(os.path.join(out, "model.safetensors"), t)


def lfm2_tensors(r, cfg, V):
    """LFM2: short-convolution layers (conv.in_proj / conv.conv [E, 1, L] / conv.out_proj) and
    attention layers (q/k_layernorm, out_proj), operator_norm + ffn_norm, feed_forward.w1/w3/w2
    of the width llama.cpp's converter derives, embedding_norm last."""
    Fx = int(2 * cfg["block_ff_dim"] / 3)  # llama.cpp's auto-adjusted width, rounded up to
    m = cfg["block_multiple_of"]            # block_multiple_of (already a multiple of 8 in the tests)
    Fx = m * ((Fx + m - 1) // m)
    hd = cfg["head_dim"]
    t = {"model.embed_tokens.weight": r.w(V, E, std=0.3)}
    for i, kind in enumerate(cfg["layer_types"]):
        p = "model.layers.%d." % i
        t[p + "operator_norm.weight"] = r.norm(E)
        if kind == "conv":
            t[p + "conv.in_proj.weight"] = r.w(3 * E, E)
            t[p + "conv.conv.weight"] = r.w(E, 1, cfg["conv_L_cache"], std=0.4)
            t[p + "conv.out_proj.weight"] = r.w(E, E)
        else:
            t[p + "self_attn.q_proj.weight"] = r.w(NH * hd, E)
            t[p + "self_attn.k_proj.weight"] = r.w(NKV * hd, E)
            t[p + "self_attn.v_proj.weight"] = r.w(NKV * hd, E)
            t[p + "self_attn.out_proj.weight"] = r.w(E, NH * hd)
            t[p + "self_attn.q_layernorm.weight"] = r.norm(hd)
            t[p + "self_attn.k_layernorm.weight"] = r.norm(hd)
        t[p + "ffn_norm.weight"] = r.norm(E)
        t[p + "feed_forward.w1.weight"] = r.w(Fx, E)
        t[p + "feed_forward.w3.weight"] = r.w(Fx, E)
        t[p + "feed_forward.w2.weight"] = r.w(E, Fx)
    t["model.embedding_norm.weight"] = r.norm(E)
    return t


def main():
    args = sys.argv[1:]
    mode = args[0] if args and args[0] in ("--wide", "--real") else ""
    args = args[1:] if mode else args
    if not args:
        sys.exit(__doc__)
    known = REAL if mode == "--real" else ARCHS
    names = args[1:] or sorted(known)
    for n in names:
        if n not in known:
            sys.exit("unknown architecture %s (known: %s)" % (n, ", ".join(sorted(known))))
        make(os.path.join(args[0], n), n, mode == "--wide", mode == "--real")


if __name__ == "__main__":
    main()
