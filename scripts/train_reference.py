#!/usr/bin/python3
"""PyTorch autograd reference for tests/test-train.c: a tiny random BERT-like classifier
(token + position embeddings, LayerNorm, one post-LN encoder layer with 2-head attention and an
exact-GELU feed-forward, tanh pooler on the first token, linear classifier, mean cross-entropy)
on a fixed batch of 3 sequences of 6 tokens.

Writes tests/data/train/: every parameter (float32, PyTorch's [out, in] layout, which is
ggml-lite's [in, out]), the batch (ids, labels), the loss, every parameter's gradient after one
backward pass (float64 autograd, saved as float32), and the loss before each of 20 AdamW steps
(lr 1e-2, betas 0.9/0.999, eps 1e-8, weight decay 0.01 on matrices only, linear warm-up over 4
steps then linear decay to 0 at step 20 as transformers' get_linear_schedule_with_warmup,
gradient norm clipped to 1.0 by torch.nn.utils.clip_grad_norm_).

    /usr/bin/python3 scripts/train_reference.py
"""
import math, os
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "train")
E, H, F, V, T, B, C = 8, 2, 16, 20, 6, 3, 3
D = E // H
NAMES = ["tok", "pos", "ln0.w", "ln0.b", "q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "o.w", "o.b", "ln1.w", "ln1.b",
         "up.w", "up.b", "down.w", "down.b", "ln2.w", "ln2.b", "pool.w", "pool.b", "cls.w", "cls.b"]
SHAPES = {"tok": (V, E), "pos": (T, E), "q.w": (E, E), "k.w": (E, E), "v.w": (E, E), "o.w": (E, E), "up.w": (F, E),
          "down.w": (E, F), "pool.w": (E, E), "cls.w": (C, E), "up.b": (F,), "cls.b": (C,)}

def init():
    g = torch.Generator().manual_seed(1234)
    p = {}
    for n in NAMES:
        shape = SHAPES.get(n, (E,))
        if n.endswith(".w") and n.startswith("ln"):
            p[n] = 1 + torch.randn(shape, generator=g, dtype=torch.float64) * 0.1
        else:
            p[n] = torch.randn(shape, generator=g, dtype=torch.float64) * 0.4
        p[n] = p[n].float().double()  # what the float32 file holds
    return p

def forward(p, ids, labels):
    ln = lambda x, w, b: torch.nn.functional.layer_norm(x, (E,), p[w], p[b], 1e-12)
    lin = lambda x, w: x @ p[w + ".w"].T + p[w + ".b"]
    x = p["tok"][ids] + p["pos"][torch.arange(T)].unsqueeze(0)          # [B, T, E]
    x = ln(x, "ln0.w", "ln0.b")
    q, k, v = (lin(x, n).view(B, T, H, D).transpose(1, 2) for n in ("q", "k", "v"))  # [B, H, T, D]
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D), -1) @ v
    a = a.transpose(1, 2).reshape(B, T, E)
    x = ln(lin(a, "o") + x, "ln1.w", "ln1.b")
    f = lin(0.5 * lin(x, "up") * (1 + torch.erf(lin(x, "up") / math.sqrt(2))), "down")
    x = ln(f + x, "ln2.w", "ln2.b")
    pooled = torch.tanh(lin(x[:, 0], "pool"))
    logits = lin(pooled, "cls")
    return torch.nn.functional.cross_entropy(logits, labels)

def main():
    os.makedirs(OUT, exist_ok=True)
    p = init()
    g = torch.Generator().manual_seed(99)
    ids = torch.randint(0, V, (B, T), generator=g)
    labels = torch.tensor([0, 2, 1])
    np.save(os.path.join(OUT, "ids.npy"), ids.numpy().astype(np.int32))
    np.save(os.path.join(OUT, "labels.npy"), labels.numpy().astype(np.int32))
    for n in NAMES:
        np.save(os.path.join(OUT, "param_%s.npy" % n), p[n].float().numpy())
    params = {n: p[n].clone().requires_grad_(True) for n in NAMES}
    loss = forward(params, ids, labels)
    loss.backward()
    np.save(os.path.join(OUT, "loss.npy"), np.array([loss.item()], dtype=np.float32))
    for n in NAMES:
        np.save(os.path.join(OUT, "grad_%s.npy" % n), params[n].grad.float().numpy())
    print("loss", loss.item(), "max |grad|", max(params[n].grad.abs().max().item() for n in NAMES))
    # 20 AdamW steps (float64 throughout)
    params = {n: p[n].clone().requires_grad_(True) for n in NAMES}
    decay = [params[n] for n in NAMES if params[n].dim() >= 2]
    no_decay = [params[n] for n in NAMES if params[n].dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    warm, total = 4, 20
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    curve = []
    for step in range(total):
        opt.zero_grad()
        loss = forward(params, ids, labels)
        curve.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in NAMES], 1.0)
        opt.step()
        sched.step()
    curve.append(forward(params, ids, labels).item())
    np.save(os.path.join(OUT, "adamw_losses.npy"), np.array(curve, dtype=np.float64))
    print("adamw losses", ["%.5f" % x for x in curve])

if __name__ == "__main__":
    main()
