#!/usr/bin/python3
"""PyTorch side of the fine-tuning benchmark (BENCHMARKS.md, "Fine-tuning"): the same shape as
scripts/bench_finetune_make.py (tiny or base), forward + backward + clipping + AdamW on a batch of
B x 128 tokens (default 16), sequences/s over STEPS steps (default 4) after one warm-up step, and
the peak resident memory of the process; arguments: the thread count, shape, batch, steps.

    /usr/bin/python3 scripts/bench_finetune_torch.py 1 [tiny|base] [B] [STEPS]
"""
import math, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
SHAPES = {"tiny": (128, 2, 2, 512), "base": (768, 12, 12, 3072)}
E, L, H, F = SHAPES[sys.argv[2] if len(sys.argv) > 2 else "tiny"]
V, P, T = 30522, 512, 128
B = int(sys.argv[3]) if len(sys.argv) > 3 else 16
torch.manual_seed(0)
class Layer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.q, s.k, s.v, s.o = (torch.nn.Linear(E, E) for _ in range(4))
        s.ln1, s.ln2 = torch.nn.LayerNorm(E, eps=1e-12), torch.nn.LayerNorm(E, eps=1e-12)
        s.up, s.down = torch.nn.Linear(E, F), torch.nn.Linear(F, E)
        s.drop = torch.nn.Dropout(0.1)
    def forward(s, x):
        b, t, _ = x.shape
        sh = lambda y: y.view(b, t, H, E // H).transpose(1, 2)
        a = s.drop(torch.softmax(sh(s.q(x)) @ sh(s.k(x)).transpose(-1, -2) / math.sqrt(E // H), -1)) @ sh(s.v(x))
        x = s.ln1(s.drop(s.o(a.transpose(1, 2).reshape(b, t, E))) + x)
        return s.ln2(s.drop(s.down(torch.nn.functional.gelu(s.up(x)))) + x)
class Model(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.tok, s.pos, s.typ = torch.nn.Embedding(V, E), torch.nn.Embedding(P, E), torch.nn.Embedding(2, E)
        s.ln = torch.nn.LayerNorm(E, eps=1e-12)
        s.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        s.pool, s.cls, s.drop = torch.nn.Linear(E, E), torch.nn.Linear(E, 2), torch.nn.Dropout(0.1)
    def forward(s, ids):
        x = s.drop(s.ln(s.tok(ids) + s.pos(torch.arange(ids.shape[1])) + s.typ(torch.zeros_like(ids))))
        for l in s.layers: x = l(x)
        return s.cls(s.drop(torch.tanh(s.pool(x[:, 0]))))
m = Model()
opt = torch.optim.AdamW(m.parameters(), lr=2e-5, weight_decay=0.01)
ids = torch.randint(0, V, (B, T)); y = torch.randint(0, 2, (B,))
def step():
    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(m(ids), y); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
step()
n = int(sys.argv[4]) if len(sys.argv) > 4 else 4; t0 = time.time()
for _ in range(n): step()
dt = time.time() - t0
import importlib.util, os
spec = importlib.util.spec_from_file_location("elmo_torch_bench", os.path.join(os.path.dirname(os.path.abspath(__file__)), "elmo_torch_bench.py"))
etb = importlib.util.module_from_spec(spec); spec.loader.exec_module(etb)
print("torch %s (BLAS %s), %d threads: %.2f sequences/s (%.3f s per step of %d x %d tokens), peak RSS %d MB" % (torch.__version__, etb.blas_library(), torch.get_num_threads(), n * B / dt, dt / n, B, T,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024))
