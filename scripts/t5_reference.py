#!/usr/bin/python3
"""T5ForConditionalGeneration reference outputs in plain PyTorch (no transformers needed).

Implements the Hugging Face T5 forward pass (transformers 4.x modeling_t5: RMS layer norm,
unscaled attention with a bucketed relative position bias from block 0, ReLU or gated-gelu_new
feed-forward, d_model**-0.5 rescaling before a tied LM head) over a checkpoint folder
(pytorch_model.bin via torch.load, or model.safetensors read directly), and writes for each
case: input ids, decoder ids (teacher forcing, first = decoder_start_token_id), encoder and
decoder hidden states (HF convention: [0] embeddings, last after the final norm), logits, and
the greedy continuation.

  check:  scripts/t5_reference.py --check ../shared/fixtures/hf-reference/t5
          (reproduces that fixture's transformers outputs: validates this script)
  write:  scripts/t5_reference.py --out tests/data/t5 \
              ../shared/fixtures/hf-tiny-caikit/T5ForConditionalGeneration
  gated:  scripts/t5_reference.py --make-gated tests/data/t5/gated
          (a tiny random v1.1/flan-style model: gated-gelu, untied lm_head, 2 encoder and 3
          decoder layers, a 64-piece Unigram tokenizer.json; plus its reference outputs)
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def load_weights(d):
    st = os.path.join(d, "model.safetensors")
    if os.path.exists(st):
        raw = open(st, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        out = {}
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            assert v["dtype"] == "F32", v["dtype"]
            a, b = v["data_offsets"]
            out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(v["shape"]).copy())
        return out
    return torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu")


def bucket(rp, bidirectional, num_buckets, max_distance):
    rb = torch.zeros_like(rp)
    if bidirectional:
        num_buckets //= 2
        rb += (rp > 0).to(torch.long) * num_buckets
        rp = torch.abs(rp)
    else:
        rp = -torch.min(rp, torch.zeros_like(rp))
    max_exact = num_buckets // 2
    small = rp < max_exact
    large = max_exact + (torch.log(rp.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return rb + torch.where(small, rp, large)


class T5:
    def __init__(self, d):
        self.cfg = json.load(open(os.path.join(d, "config.json")))
        self.w = load_weights(d)
        c = self.cfg
        self.H, self.dkv, self.E = c["num_heads"], c["d_kv"], c["d_model"]
        self.eps = c.get("layer_norm_epsilon", 1e-6)
        self.nb = c.get("relative_attention_num_buckets", 32)
        self.md = c.get("relative_attention_max_distance", 128)
        ffp = c.get("feed_forward_proj", "relu")
        self.gated = ffp.startswith("gated-")
        act = ffp.split("-")[-1]
        self.act = {"relu": torch.relu, "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}[act]
        self.tied = c.get("tie_word_embeddings", True)
        self.n_enc = c["num_layers"]
        self.n_dec = c.get("num_decoder_layers") or self.n_enc

    def norm(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(var + self.eps))

    def bias(self, table, nq, nk, bidir):
        rp = torch.arange(nk)[None, :] - torch.arange(nq)[:, None]
        b = bucket(rp, bidir, self.nb, self.md)
        return table[b].permute(2, 0, 1)  # [H, nq, nk]

    def attn(self, p, x, kv, bias, mask=None):
        w = self.w
        nq, nk = x.shape[0], kv.shape[0]
        q = (x @ w[p + ".q.weight"].T).view(nq, self.H, self.dkv).transpose(0, 1)
        k = (kv @ w[p + ".k.weight"].T).view(nk, self.H, self.dkv).transpose(0, 1)
        v = (kv @ w[p + ".v.weight"].T).view(nk, self.H, self.dkv).transpose(0, 1)
        s = q @ k.transpose(1, 2)
        if bias is not None:
            s = s + bias
        if mask is not None:
            s = s + mask
        a = torch.softmax(s.float(), -1) @ v
        return a.transpose(0, 1).reshape(nq, -1) @ w[p + ".o.weight"].T

    def ffn(self, p, x):
        w = self.w
        if self.gated:
            h = self.act(x @ w[p + ".DenseReluDense.wi_0.weight"].T) * (x @ w[p + ".DenseReluDense.wi_1.weight"].T)
        else:
            h = self.act(x @ w[p + ".DenseReluDense.wi.weight"].T)
        return h @ w[p + ".DenseReluDense.wo.weight"].T

    def encode(self, ids):
        w = self.w
        x = w["shared.weight"][torch.tensor(ids)]
        n = len(ids)
        bias = self.bias(w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], n, n, True)
        hs = [x]
        for i in range(self.n_enc):
            p = "encoder.block.%d" % i
            x = x + self.attn(p + ".layer.0.SelfAttention", self.norm(x, w[p + ".layer.0.layer_norm.weight"]),
                              self.norm(x, w[p + ".layer.0.layer_norm.weight"]), bias)
            x = x + self.ffn(p + ".layer.1", self.norm(x, w[p + ".layer.1.layer_norm.weight"]))
            hs.append(x)
        hs[-1] = self.norm(x, w["encoder.final_layer_norm.weight"])
        return hs

    def decode(self, enc, ids):
        w = self.w
        x = w["shared.weight"][torch.tensor(ids)]
        n = len(ids)
        bias = self.bias(w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], n, n, False)
        mask = torch.triu(torch.full((n, n), float("-inf")), 1)
        hs = [x]
        for i in range(self.n_dec):
            p = "decoder.block.%d" % i
            h = self.norm(x, w[p + ".layer.0.layer_norm.weight"])
            x = x + self.attn(p + ".layer.0.SelfAttention", h, h, bias, mask)
            h = self.norm(x, w[p + ".layer.1.layer_norm.weight"])
            x = x + self.attn(p + ".layer.1.EncDecAttention", h, enc, None)
            x = x + self.ffn(p + ".layer.2", self.norm(x, w[p + ".layer.2.layer_norm.weight"]))
            hs.append(x)
        y = self.norm(x, w["decoder.final_layer_norm.weight"])
        hs[-1] = y
        if self.tied:
            y = y * self.E ** -0.5
            head = w["shared.weight"]
        else:
            head = w["lm_head.weight"]
        return hs, y @ head.T

    def beam(self, ids, K, lp, max_new):
        """transformers 4.33 beam search (BeamSearchScorer, early_stopping=False, no logits
        processors): returns the best hypothesis without the start token and without EOS."""
        eos = self.cfg.get("eos_token_id", 1)
        enc = self.encode(ids)[-1]
        seqs = [[self.cfg.get("decoder_start_token_id", 0)] for _ in range(K)]
        scores = torch.tensor([0.0] + [-1e9] * (K - 1))
        hyps = []  # (score, tokens)
        done = False
        for step in range(max_new):
            cur_len = len(seqs[0])
            lps = []
            for b in range(K):
                _, logits = self.decode(enc, seqs[b])
                lps.append(torch.log_softmax(logits[-1], -1))
            V = lps[0].shape[0]
            tot = (torch.stack(lps) + scores[:, None]).view(-1)
            top, idx = torch.topk(tot, 2 * K)
            nxt = []
            for rank in range(2 * K):
                b, t, sc = int(idx[rank]) // V, int(idx[rank]) % V, float(top[rank])
                if t == eos:
                    if rank >= K:
                        continue
                    score = sc / (cur_len ** lp)
                    if len(hyps) < K or score > min(h[0] for h in hyps):
                        hyps.append((score, seqs[b][1:]))
                        if len(hyps) > K:
                            hyps.remove(min(hyps, key=lambda h: h[0]))
                else:
                    nxt.append((sc, b, t))
                if len(nxt) == K:
                    break
            if len(hyps) >= K and min(h[0] for h in hyps) >= float(top.max()) / (cur_len ** lp):
                done = True
            seqs = [seqs[b] + [t] for (_, b, t) in nxt]
            scores = torch.tensor([sc for (sc, _, _) in nxt])
            if done:
                break
        if not done:
            for b in range(K):
                score = float(scores[b]) / (len(seqs[b]) ** lp)
                if len(hyps) < K or score > min(h[0] for h in hyps):
                    hyps.append((score, seqs[b][1:]))
                    if len(hyps) > K:
                        hyps.remove(min(hyps, key=lambda h: h[0]))
        return max(hyps, key=lambda h: h[0])[1]

    def greedy(self, ids, n):
        enc = self.encode(ids)[-1]
        out = [self.cfg.get("decoder_start_token_id", 0)]
        for _ in range(n):
            _, logits = self.decode(enc, out)
            t = int(torch.argmax(logits[-1]))
            if t == self.cfg.get("eos_token_id", 1):
                break
            out.append(t)
        return out[1:]


def check(d):
    m = T5(d)
    man = json.load(open(os.path.join(d, "refs", "manifest.json")))
    worst = 0.0
    with torch.no_grad():
        for k, case in enumerate(man["cases"]):
            r = lambda name: np.load(os.path.join(d, "refs", "case%d_%s.npy" % (k, name)))
            hs = m.encode(list(r("input_ids")))
            dh, logits = m.decode(hs[-1], list(r("decoder_input_ids")))
            for i, h in enumerate(hs):
                worst = max(worst, float(np.abs(h.numpy() - r("enc_hidden_%d" % i)).max()))
            for i, h in enumerate(dh):
                worst = max(worst, float(np.abs(h.numpy() - r("dec_hidden_%d" % i)).max()))
            worst = max(worst, float(np.abs(logits.numpy() - r("logits")).max()))
    print("max abs difference vs transformers: %.3g" % worst)
    return worst < 1e-4


def write(d, out):
    m = T5(d)
    os.makedirs(out, exist_ok=True)
    V = m.cfg["vocab_size"]
    g = torch.Generator().manual_seed(5)
    cases = [
        [int(t) for t in torch.randint(3, V, (11,), generator=g)] + [1],
        [int(t) for t in torch.randint(3, V, (5,), generator=g)] + [1],
    ]
    meta = {"source": d, "torch": torch.__version__, "cases": []}
    with torch.no_grad():
        for k, ids in enumerate(cases):
            hs = m.encode(ids)
            dec = [m.cfg.get("decoder_start_token_id", 0)] + [int(t) for t in torch.randint(3, V, (5,), generator=g)]
            dh, logits = m.decode(hs[-1], dec)
            gen = m.greedy(ids, 12)
            np.save(os.path.join(out, "caikit_case%d_input_ids.npy" % k), np.array(ids, dtype=np.int64))
            np.save(os.path.join(out, "caikit_case%d_decoder_input_ids.npy" % k), np.array(dec, dtype=np.int64))
            np.save(os.path.join(out, "caikit_case%d_enc_hidden.npy" % k), torch.stack(hs).numpy().astype(np.float32))
            np.save(os.path.join(out, "caikit_case%d_dec_hidden.npy" % k), torch.stack(dh).numpy().astype(np.float32))
            np.save(os.path.join(out, "caikit_case%d_logits.npy" % k), logits.numpy().astype(np.float32))
            np.save(os.path.join(out, "caikit_case%d_greedy.npy" % k), np.array(gen, dtype=np.int64))
            meta["cases"].append({"input_ids": ids, "decoder_input_ids": dec, "greedy_12": gen})
    json.dump(meta, open(os.path.join(out, "caikit_manifest.json"), "w"), indent=1)


def make_gated(out):
    """A tiny T5 v1.1-style checkpoint (safetensors + tokenizer.json) and its outputs."""
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    E, H, dkv, F, V, ne, nd, nb = 16, 2, 8, 24, 64, 2, 3, 16
    cfg = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": E, "d_kv": dkv,
           "d_ff": F, "num_layers": ne, "num_decoder_layers": nd, "num_heads": H, "vocab_size": V,
           "relative_attention_num_buckets": nb, "relative_attention_max_distance": 20,
           "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "layer_norm_epsilon": 1e-6,
           "decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}
    w = {}
    rn = lambda *shape, s=1.0: (torch.randn(*shape, generator=g) * s).float()
    w["shared.weight"] = rn(V, E, s=0.5)
    w["lm_head.weight"] = rn(V, E, s=0.3)
    w["lm_head.weight"][1] *= 2.5  # EOS likely enough that beam search finishes hypotheses
    for side, n in (("encoder", ne), ("decoder", nd)):
        for i in range(n):
            p = "%s.block.%d.layer." % (side, i)
            mods = [("0", "SelfAttention")] + ([("1", "EncDecAttention")] if side == "decoder" else [])
            for sub, mod in mods:
                for x in "qkv":
                    w[p + "%s.%s.%s.weight" % (sub, mod, x)] = rn(H * dkv, E, s=0.2)
                w[p + "%s.%s.o.weight" % (sub, mod)] = rn(E, H * dkv, s=0.2)
                w[p + sub + ".layer_norm.weight"] = 1 + rn(E, s=0.1)
                if i == 0 and mod == "SelfAttention":
                    w[p + "0.SelfAttention.relative_attention_bias.weight"] = rn(nb, H, s=0.5)
            f = "1" if side == "encoder" else "2"
            w[p + f + ".DenseReluDense.wi_0.weight"] = rn(F, E, s=0.2)
            w[p + f + ".DenseReluDense.wi_1.weight"] = rn(F, E, s=0.2)
            w[p + f + ".DenseReluDense.wo.weight"] = rn(E, F, s=0.2)
            w[p + f + ".layer_norm.weight"] = 1 + rn(E, s=0.1)
        w[side + ".final_layer_norm.weight"] = 1 + rn(E, s=0.1)
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, a in w.items():
        b = a.numpy().astype("<f4").tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
    pieces = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    for i, t in enumerate(["\u2581", "\u2581the", "\u2581a", "s", "e", "t", "\u2581to", "ing", "o", "n"]):
        pieces.append([json.loads('"%s"' % t), -2.0 - 0.1 * i])
    for i, c in enumerate("abcdefghijklmnopqrstuvwxyz.,!?"):
        pieces.append([c, -5.0 - 0.05 * i])
    while len(pieces) < V - 2:
        pieces.append(["\u2581w%d" % len(pieces), -9.0])
    pieces.append(["<extra_id_1>", 0.0])
    pieces.append(["<extra_id_0>", 0.0])
    tok = {"version": "1.0", "added_tokens": [{"id": i, "content": pieces[i][0], "special": True}
                                               for i in (0, 1, 2, V - 2, V - 1)],
           "normalizer": None,
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                             {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}]},
           "model": {"type": "Unigram", "unk_id": 2, "vocab": pieces}}
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
    m = T5(out)
    with torch.no_grad():
        ids = [int(t) for t in torch.randint(3, V - 2, (9,), generator=g)] + [1]
        dec = [0] + [int(t) for t in torch.randint(3, V - 2, (4,), generator=g)]
        hs = m.encode(ids)
        dh, logits = m.decode(hs[-1], dec)
        np.save(os.path.join(out, "input_ids.npy"), np.array(ids, dtype=np.int64))
        np.save(os.path.join(out, "decoder_input_ids.npy"), np.array(dec, dtype=np.int64))
        np.save(os.path.join(out, "enc_hidden.npy"), torch.stack(hs).numpy().astype(np.float32))
        np.save(os.path.join(out, "dec_hidden.npy"), torch.stack(dh).numpy().astype(np.float32))
        np.save(os.path.join(out, "logits.npy"), logits.numpy().astype(np.float32))
        np.save(os.path.join(out, "greedy.npy"), np.array(m.greedy(ids, 10), dtype=np.int64))
        beams = []
        for k in range(6):
            inp = [int(t) for t in torch.randint(3, V - 2, (4 + k,), generator=g)] + [1]
            for K, lp in ((2, 1.0), (3, 0.6), (4, 2.0), (3, 0.0), (2, -1.0)):
                beams.append({"input_ids": inp, "beams": K, "length_penalty": lp, "max_new_tokens": 8,
                              "output": m.beam(inp, K, lp, 8)})
        json.dump({"note": "transformers 4.33 beam search re-implemented in scripts/t5_reference.py",
                   "cases": beams}, open(os.path.join(out, "beam.json"), "w"), indent=None)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--make-gated")
    a = ap.parse_args()
    if a.make_gated:
        make_gated(a.make_gated)
        sys.exit(0)
    if a.check:
        sys.exit(0 if check(a.model) else 1)
    write(a.model, a.out)
