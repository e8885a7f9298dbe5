#!/usr/bin/python3
"""A PyTorch ELMo biLM in the structure of AllenNLP's implementation, for a side-by-side speed
comparison with `edgelm elmo-bench` (a benchmark / reference tool, not part of the runtime).

AllenNLP itself is not installable on the build VM, so this file re-implements the parts of
allennlp/modules/elmo.py, elmo_lstm.py, lstm_cell_with_projection.py and highway.py that run at
inference, with the same torch operations and the same weight loading from bilm-tf's HDF5:

  character ids (ELMoCharacterMapper: UTF-8 bytes cut to 48, begin/end-of-word, padding, +1)
  -> <S>/</S> rows added -> embedding -> Conv1d per filter -> max over time -> activation
  -> Highway (AllenNLP form: g*x + (1-g)*relu(t), the carry weights negated at load)
  -> Linear projection -> ElmoLstm: per layer and direction a LstmCellWithProjection
     (input_linearity without bias, state_linearity with bias, gates i, f, g, o, cell clip,
     state_projection, projection clip; one step per position over a batch sorted by length
     that shrinks / grows as sequences end, as AllenNLP does) -> skip connections
  -> layers [token embedding twice, layer 1, layer 2] with <S>/</S> removed.

Two deliberate differences from AllenNLP, both about options AllenNLP ignores: the skip
connections follow options.json's `use_skip_connections` (AllenNLP's ElmoLstm always adds them;
every published AllenNLP ELMo has them on, the bilm-tf test fixture has them off), and the
activation follows `char_cnn.activation` as AllenNLP does. Dropout and the scalar mix's
training parts are not present (inference only). Stateless only.

    /usr/bin/python3 scripts/elmo_torch_bench.py check-edgelm DIR M.gguf [--edgelm build/edgelm]
        runs `edgelm elmo` on a few sentences (varying lengths in one batch, non-ASCII, a word
        over 48 bytes) and compares every layer with this implementation (max |diff| <= 1e-4)
    /usr/bin/python3 scripts/elmo_torch_bench.py check-fixture ../shared/fixtures/elmo-bilm-tf
        the first batch of bilm-tf's test (zero initial states = stateless) against
        lm_embeddings_{0,1,2}.hdf5 dataset "0" (max |diff| <= 1e-5)
    /usr/bin/python3 scripts/elmo_torch_bench.py bench DIR [-t 1,2] [--batch 32] [--tokens 20] [--reps 3]
        tokens/s for batches of random words (the same words as `edgelm elmo-bench`), float32,
        torch.inference_mode(), torch.set_num_threads(t); warm-up then best of --reps; prints
        a markdown row per thread count (or JSON lines with --json), naming the BLAS library
        torch loaded (Debian's python3-torch uses the system libblas.so.3: put OpenBLAS's
        folder on LD_LIBRARY_PATH for a realistic PyTorch; see bench_elmo_vs_torch.sh)

DIR holds options.json and the weights .hdf5 (as for `edgelm convert DIR`). Needs torch, h5py,
numpy.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

# ------------------------------------------------------------------------------------------
# character ids (AllenNLP ELMoCharacterMapper / bilm-tf UnicodeCharsVocabulary)
# ------------------------------------------------------------------------------------------
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260


def word_char_ids(word, max_chars):
    """Ids of one word, +1 so that 0 can mean 'no token'."""
    ids = [PAD_CHAR] * max_chars
    if word == "<S>":
        body = [BOS_CHAR]
    elif word == "</S>":
        body = [EOS_CHAR]
    else:
        body = list(word.encode("utf-8", "ignore")[: max_chars - 2])
    ids[0] = BOW_CHAR
    ids[1:1 + len(body)] = body
    ids[1 + len(body)] = EOW_CHAR
    return [c + 1 for c in ids]


def batch_to_ids(sentences, max_chars):
    """[batch, max_len, max_chars] int64, padding rows all zero (AllenNLP batch_to_ids)."""
    n = max(len(s) for s in sentences)
    out = np.zeros((len(sentences), n, max_chars), np.int64)
    for b, s in enumerate(sentences):
        for t, w in enumerate(s):
            out[b, t] = word_char_ids(w, max_chars)
    return torch.from_numpy(out)


# ------------------------------------------------------------------------------------------
# modules (structure of AllenNLP's)
# ------------------------------------------------------------------------------------------
class Highway(torch.nn.Module):
    """AllenNLP Highway: y = g * x + (1 - g) * relu(t), [t, h_g] = Linear(x)."""

    def __init__(self, dim, n_layers):
        super().__init__()
        self._layers = torch.nn.ModuleList([torch.nn.Linear(dim, 2 * dim) for _ in range(n_layers)])

    def forward(self, x):
        for layer in self._layers:
            projected = layer(x)
            nonlinear, gate = projected.chunk(2, dim=-1)
            nonlinear = torch.nn.functional.relu(nonlinear)
            gate = torch.sigmoid(gate)
            x = gate * x + (1 - gate) * nonlinear
        return x


class CharacterEncoder(torch.nn.Module):
    """AllenNLP _ElmoCharacterEncoder (inference path)."""

    def __init__(self, options, f):
        super().__init__()
        cnn = options["char_cnn"]
        self.max_chars = cnn["max_characters_per_token"]
        self.activation = {"relu": torch.nn.functional.relu, "tanh": torch.tanh}[cnn["activation"]]
        table = f["char_embed"][...]
        weights = np.zeros((table.shape[0] + 1, table.shape[1]), np.float32)
        weights[1:] = table  # row 0: the padding id
        self.char_embedding = torch.nn.Parameter(torch.from_numpy(weights), requires_grad=False)
        self.convolutions = torch.nn.ModuleList()
        for i, (width, num) in enumerate(cnn["filters"]):
            conv = torch.nn.Conv1d(weights.shape[1], num, kernel_size=width, bias=True)
            w = f["CNN"]["W_cnn_%d" % i][...]  # [1, width, E, num]
            conv.weight.data.copy_(torch.from_numpy(np.transpose(w.squeeze(axis=0), (2, 1, 0)).copy()))
            conv.bias.data.copy_(torch.from_numpy(f["CNN"]["b_cnn_%d" % i][...]))
            self.convolutions.append(conv)
        n_filters = sum(num for _, num in cnn["filters"])
        self.highways = Highway(n_filters, cnn["n_highway"])
        for k, layer in enumerate(self.highways._layers):
            g = f["CNN_high_%d" % k]
            # AllenNLP's gate is g*x + (1-g)*f(x), TF's carry gate multiplies f(x): negate it
            layer.weight.data.copy_(torch.from_numpy(np.concatenate(
                [g["W_transform"][...].T, -1.0 * g["W_carry"][...].T], axis=0)))
            layer.bias.data.copy_(torch.from_numpy(np.concatenate(
                [g["b_transform"][...], -1.0 * g["b_carry"][...]], axis=0)))
        proj = options["lstm"]["projection_dim"]
        self.projection = torch.nn.Linear(n_filters, proj, bias=True)
        self.projection.weight.data.copy_(torch.from_numpy(f["CNN_proj"]["W_proj"][...].T.copy()))
        self.projection.bias.data.copy_(torch.from_numpy(f["CNN_proj"]["b_proj"][...]))
        bos = torch.tensor(word_char_ids("<S>", self.max_chars))
        eos = torch.tensor(word_char_ids("</S>", self.max_chars))
        self.register_buffer("bos", bos)
        self.register_buffer("eos", eos)

    def add_boundaries(self, ids, mask):
        """AllenNLP add_sentence_boundary_token_ids."""
        lengths = mask.sum(dim=1)
        b, t, c = ids.shape
        out = ids.new_zeros((b, t + 2, c))
        out[:, 1:-1] = ids
        for i, n in enumerate(lengths.tolist()):
            out[i, 0] = self.bos
            out[i, n + 1] = self.eos
        new_mask = (out > 0).sum(dim=-1) > 0
        return out, new_mask

    def forward(self, ids):
        mask = (ids > 0).sum(dim=-1) > 0
        ids, mask = self.add_boundaries(ids, mask)
        emb = torch.nn.functional.embedding(ids.view(-1, self.max_chars), self.char_embedding)
        emb = torch.transpose(emb, 1, 2)  # [tokens, E, chars]
        convs = []
        for conv in self.convolutions:
            y, _ = torch.max(conv(emb), dim=-1)
            convs.append(self.activation(y))
        tok = torch.cat(convs, dim=-1)
        tok = self.highways(tok)
        tok = self.projection(tok)
        return tok.view(ids.shape[0], ids.shape[1], -1), mask


class LstmCellWithProjection(torch.nn.Module):
    """AllenNLP LstmCellWithProjection (inference path, no recurrent dropout)."""

    def __init__(self, input_size, hidden_size, cell_size, go_forward, cell_clip, proj_clip):
        super().__init__()
        self.hidden_size, self.cell_size, self.go_forward = hidden_size, cell_size, go_forward
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.input_linearity = torch.nn.Linear(input_size, 4 * cell_size, bias=False)
        self.state_linearity = torch.nn.Linear(hidden_size, 4 * cell_size, bias=True)
        self.state_projection = torch.nn.Linear(cell_size, hidden_size, bias=False)

    def load_tf(self, g):
        """W_0 / B / W_P_0 of one TF LSTMCell: gate order (i, j, f, o) -> (i, f, j, o), the
        forget bias 1.0 folded into the bias (as AllenNLP's ElmoLstm.load_weights does)."""
        c, n_in = self.cell_size, self.input_linearity.in_features
        tf_w = np.transpose(g["W_0"][...])
        w = tf_w.copy()
        w[1 * c:2 * c], w[2 * c:3 * c] = tf_w[2 * c:3 * c], tf_w[1 * c:2 * c]
        self.input_linearity.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(w[:, :n_in])))
        self.state_linearity.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(w[:, n_in:])))
        tf_b = g["B"][...].copy()
        tf_b[2 * c:3 * c] += 1.0
        b = tf_b.copy()
        b[1 * c:2 * c], b[2 * c:3 * c] = tf_b[2 * c:3 * c], tf_b[1 * c:2 * c]
        self.state_linearity.bias.data.copy_(torch.from_numpy(b))
        self.state_projection.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(g["W_P_0"][...].T)))

    def forward(self, inputs, batch_lengths):
        """inputs [batch, T, in] sorted by length (longest first); returns [batch, T, hidden]."""
        batch_size, total = inputs.shape[0], inputs.shape[1]
        out = inputs.new_zeros(batch_size, total, self.hidden_size)
        full_memory = inputs.new_zeros(batch_size, self.cell_size)
        full_state = inputs.new_zeros(batch_size, self.hidden_size)
        cur = batch_size - 1 if self.go_forward else 0
        c = self.cell_size
        for step in range(total):
            index = step if self.go_forward else total - step - 1
            # rows whose sequence covers this position: a prefix, because of the sort
            if self.go_forward:
                while batch_lengths[cur] <= index:
                    cur -= 1
            else:
                while cur < len(batch_lengths) - 1 and batch_lengths[cur + 1] > index:
                    cur += 1
            previous_memory = full_memory[0:cur + 1].clone()
            previous_state = full_state[0:cur + 1]
            x = inputs[0:cur + 1, index]
            projected_input = self.input_linearity(x)
            projected_state = self.state_linearity(previous_state)
            input_gate = torch.sigmoid(projected_input[:, 0 * c:1 * c] + projected_state[:, 0 * c:1 * c])
            forget_gate = torch.sigmoid(projected_input[:, 1 * c:2 * c] + projected_state[:, 1 * c:2 * c])
            memory_init = torch.tanh(projected_input[:, 2 * c:3 * c] + projected_state[:, 2 * c:3 * c])
            output_gate = torch.sigmoid(projected_input[:, 3 * c:4 * c] + projected_state[:, 3 * c:4 * c])
            memory = input_gate * memory_init + forget_gate * previous_memory
            if self.cell_clip:
                memory = torch.clamp(memory, -self.cell_clip, self.cell_clip)
            output = self.state_projection(output_gate * torch.tanh(memory))
            if self.proj_clip:
                output = torch.clamp(output, -self.proj_clip, self.proj_clip)
            full_memory = full_memory.clone()
            full_state = full_state.clone()
            full_memory[0:cur + 1] = memory
            full_state[0:cur + 1] = output
            out[0:cur + 1, index] = output
        return out


class ElmoLstm(torch.nn.Module):
    """AllenNLP ElmoLstm: a forward and a backward LstmCellWithProjection per layer."""

    def __init__(self, options, f):
        super().__init__()
        lo = options["lstm"]
        p, cell = lo["projection_dim"], lo["dim"]
        self.skip = bool(lo.get("use_skip_connections", False))
        clip = lo.get("cell_clip") or None
        pclip = lo.get("proj_clip") or None
        self.forward_layers = torch.nn.ModuleList()
        self.backward_layers = torch.nn.ModuleList()
        for layer in range(lo["n_layers"]):
            for d, (lst, go) in enumerate(((self.forward_layers, True), (self.backward_layers, False))):
                m = LstmCellWithProjection(p, p, cell, go, clip, pclip)
                m.load_tf(f["RNN_%d" % d]["RNN"]["MultiRNNCell"]["Cell%d" % layer]["LSTMCell"])
                lst.append(m)

    def forward(self, inputs, mask):
        """Sorted by length like AllenNLP's sort_and_run_forward; returns [layers, batch, T, 2P]."""
        lengths = mask.long().sum(-1)
        sorted_lengths, order = lengths.sort(descending=True)
        restore = order.argsort()
        x = inputs.index_select(0, order)
        bl = sorted_lengths.tolist()
        fwd, bwd, outs = x, x, []
        for i, (fl, bk) in enumerate(zip(self.forward_layers, self.backward_layers)):
            fcache, bcache = fwd, bwd
            fwd, bwd = fl(fwd, bl), bk(bwd, bl)
            if i != 0 and self.skip:
                fwd = fwd + fcache
                bwd = bwd + bcache
            outs.append(torch.cat([fwd, bwd], -1))
        return torch.stack(outs).index_select(1, restore)


class ElmoBiLm(torch.nn.Module):
    """AllenNLP _ElmoBiLm: every layer's activations, <S>/</S> removed."""

    def __init__(self, options_path, weights_path):
        super().__init__()
        with open(options_path) as fo:
            options = json.load(fo)
        with h5py.File(weights_path, "r") as f:
            self.encoder = CharacterEncoder(options, f)
            self.lstm = ElmoLstm(options, f)
        self.max_chars = self.encoder.max_chars

    def forward(self, ids):
        tok, mask = self.encoder(ids)
        lstm_out = self.lstm(tok, mask)
        layers = [torch.cat([tok, tok], dim=-1) * mask.unsqueeze(-1)] + list(lstm_out)
        # remove_sentence_boundaries: drop position 0 and the </S> of each row
        lengths = mask.long().sum(-1).tolist()
        out = torch.stack(layers)[:, :, 1:-1].clone()
        for b, n in enumerate(lengths):
            out[:, b, n - 2:] = 0
        return out, [n - 2 for n in lengths]

    def embed(self, sentences):
        """sentences: lists of words -> list of [n_layers + 1, n_tokens, 2P] numpy arrays."""
        out, lengths = self(batch_to_ids(sentences, self.max_chars))
        return [out[:, b, :n].numpy() for b, n in enumerate(lengths)]


def load_dir(d):
    weights = [p for p in glob.glob(os.path.join(d, "*.hdf5")) if "lm_embeddings" not in p]
    if len(weights) != 1:
        sys.exit("%s: expected one weights .hdf5, found %s" % (d, weights))
    return ElmoBiLm(os.path.join(d, "options.json"), weights[0])


# ------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------
CHECK_SENTENCES = [
    "The quick brown fox jumps over the lazy dog .",
    "ELMo gives contextual word vectors",
    "Zürich naïve café — 東京 , emoji 🙂 ok",
    "short",
    "a " + "x" * 60 + " word longer than forty-eight bytes is cut",
    "Punctuation , numbers 3.14 and 2018 ; mixed CASE words !",
]


def cmd_check_edgelm(a):
    torch.set_num_threads(2)
    model = load_dir(a.dir)
    sents = [s.split() for s in CHECK_SENTENCES]
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.txt")
        with open(inp, "w", encoding="utf-8") as fo:
            fo.write("\n".join(CHECK_SENTENCES) + "\n")
        subprocess.run([a.edgelm, "elmo", "-m", a.gguf, "-i", inp, "-o", tmp, "--batch", str(a.batch)],
                       check=True, stdout=subprocess.DEVNULL)
        ours = [np.load(os.path.join(tmp, "sentence_%d.npy" % k)) for k in range(len(sents))]
    worst = 0.0
    with torch.inference_mode():
        for i in range(0, len(sents), a.batch):  # the same batches as edgelm (lengths vary inside)
            ref = model.embed(sents[i:i + a.batch])
            for k, r in enumerate(ref):
                e = ours[i + k]
                if e.shape != r.shape:
                    sys.exit("sentence %d: shape %s vs torch %s" % (i + k, e.shape, r.shape))
                d = float(np.max(np.abs(e - r)))
                worst = max(worst, d)
                print("sentence %d: %d tokens, max |edgelm - torch| per layer %s" % (
                    i + k, r.shape[1], " ".join("%.2e" % np.max(np.abs(e[l] - r[l])) for l in range(r.shape[0]))))
    ok = worst <= a.tol
    print("%s: max |diff| %.3e (tolerance %.0e)" % ("OK" if ok else "FAIL", worst, a.tol))
    return 0 if ok else 1


def cmd_check_fixture(a):
    torch.set_num_threads(2)
    mdir = os.path.join(a.fixture, "model")
    model = ElmoBiLm(os.path.join(mdir, "options.json"), os.path.join(mdir, "lm_weights.hdf5"))
    with open(os.path.join(mdir, "lm_embeddings_sentences.json")) as fo:
        lists = json.load(fo)
    # bilm-tf's test: batch 0 = [lists[0][0], lists[1][0], lists[2][0]], states start at zero
    batch = [lists[k][0].strip().split() for k in range(len(lists))]
    worst = 0.0
    with torch.inference_mode():
        out = model.embed(batch)
    for k, r in enumerate(out):
        with h5py.File(os.path.join(mdir, "lm_embeddings_%d.hdf5" % k), "r") as f:
            exp = f["0"][...]
        exp = np.concatenate([exp[0], exp[1]], axis=-1)
        d = float(np.max(np.abs(r[2] - exp)))
        worst = max(worst, d)
        print("row %d (%d tokens): max |torch - bilm-tf| of the top layer %.3e" % (k, r.shape[1], d))
    ok = worst <= a.tol
    print("%s: max |diff| %.3e (tolerance %.0e)" % ("OK" if ok else "FAIL", worst, a.tol))
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------
# benchmark
# ------------------------------------------------------------------------------------------
def bench_words(batch, tokens):
    """The words of `edgelm elmo-bench`: xorshift64 (13, 7, 17) from 0x9e3779b97f4a7c15,
    length 2 + r % 9, letters 'a' + r % 26."""
    mask = (1 << 64) - 1
    rng = 0x9E3779B97F4A7C15

    def step(r):
        r ^= (r << 13) & mask
        r ^= r >> 7
        r ^= (r << 17) & mask
        return r

    out = []
    for _ in range(batch):
        s = []
        for _ in range(tokens):
            rng = step(rng)
            n = 2 + rng % 9
            w = ""
            for _ in range(n):
                rng = step(rng)
                w += chr(ord("a") + rng % 26)
            s.append(w)
        out.append(s)
    return out


def blas_library():
    """The BLAS shared object torch loaded (Debian's torch calls whatever libblas.so.3 the
    dynamic linker finds: the netlib reference BLAS by default, OpenBLAS when its folder is on
    LD_LIBRARY_PATH), so that results say what they measured."""
    torch.ones(2, 2) @ torch.ones(2, 2)
    with open("/proc/self/maps") as fm:
        libs = {os.path.basename(l.split()[-1]) for l in fm if "blas" in os.path.basename(l.split()[-1])}
    return ",".join(sorted(libs)) or "mkl/builtin"


def cmd_bench(a):
    model = load_dir(a.dir)
    blas = blas_library()
    sents = bench_words(a.batch, a.tokens)
    threads = [int(t) for t in a.threads.split(",")]
    torch.set_num_interop_threads(1)
    if not a.json:
        print("| implementation | threads | batch x tokens | time/batch (s) | tokens/s |")
        print("|---|---|---|---|---|")
    for t in threads:
        torch.set_num_threads(t)
        best = float("inf")
        with torch.inference_mode():
            for r in range(a.reps + 1):  # the first run warms up
                t0 = time.perf_counter()
                out, _ = model(batch_to_ids(sents, model.max_chars))
                dt = time.perf_counter() - t0
                if r > 0:
                    best = min(best, dt)
        tps = a.batch * a.tokens / best
        if a.json:
            print(json.dumps({"impl": "torch", "threads": t, "batch": a.batch, "tokens": a.tokens,
                              "time": best, "tokens_per_s": tps, "torch": torch.__version__, "blas": blas}))
        else:
            print("| PyTorch %s (AllenNLP structure, %s) | %d | %d x %d | %.3f | %.1f |" % (
                torch.__version__, blas, t, a.batch, a.tokens, best, tps))
        sys.stdout.flush()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-edgelm")
    c.add_argument("dir")
    c.add_argument("gguf")
    c.add_argument("--edgelm", default="build/edgelm")
    c.add_argument("--batch", type=int, default=4)
    c.add_argument("--tol", type=float, default=1e-4)
    c = sub.add_parser("check-fixture")
    c.add_argument("fixture")
    c.add_argument("--tol", type=float, default=1e-5)
    c = sub.add_parser("bench")
    c.add_argument("dir")
    c.add_argument("-t", "--threads", default="1,2")
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--tokens", type=int, default=20)
    c.add_argument("--reps", type=int, default=3)
    c.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    return {"check-edgelm": cmd_check_edgelm, "check-fixture": cmd_check_fixture, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
