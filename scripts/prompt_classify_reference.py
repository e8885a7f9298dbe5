#!/usr/bin/python3
"""Expected `edgelm prompt-classify` output on hf-reference/bert (a BertForMaskedLM whose
forward pass scripts/bert_reference.py checks against transformers), for tests/cli-bert.sh.

The scoring rule (examples/edgelm/cmd_prompt.c): a verbalizer word of k WordPiece pieces
fills k consecutive copies of the template's [MASK] and scores the mean over its pieces of
log-softmax(masked-LM logits at its mask)[piece]; a label scores the mean over its words; the
printed probabilities are the softmax over the label scores. Writes
tests/data/bert/prompt_case0.txt (label, probability, score per line, as the command prints).
"""
import importlib.util, os
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
ref, var = load("bert_reference"), load("bert_variants_reference")

def main():
    d = os.path.join(ref.FIX, "hf-reference", "bert")
    sd, cfg = ref.load_state(d), __import__("json").load(open(os.path.join(d, "config.json")))
    words = open(os.path.join(d, "vocab.txt")).read().split("\n")
    vocab = {w: i for i, w in enumerate(words) if w}
    text, template = "the model reads tokens", "{} It was [MASK]."
    verbalizer = [("neg", ["the", "terrible"]), ("pos", ["model", "wonderful"])]
    before, after = template.replace("{}", text).split("[MASK]")
    pre, post = var.wordpiece_tokenize(before, vocab), var.wordpiece_tokenize(after, vocab)
    scores = []
    for label, ws in verbalizer:
        s = []
        for w in ws:
            pieces = var.wordpiece_tokenize(w, vocab)
            k = len(pieces)
            ids = [vocab["[CLS]"]] + pre + [vocab["[MASK]"]] * k + post + [vocab["[SEP]"]]
            mlm = ref.forward(sd, cfg, ids, [0] * len(ids))["mlm"]
            first = 1 + len(pre)
            lp = [torch.log_softmax(mlm[first + j], -1)[p].item() for j, p in enumerate(pieces)]
            print(label, w, pieces, lp)
            s.append(sum(lp) / k)
        scores.append(sum(s) / len(s))
    sc = np.array(scores)
    p = np.exp(sc - sc.max())
    p /= p.sum()
    out = "".join("%s\t%.4f\t%.4f\n" % (l, pi, si) for (l, _), pi, si in zip(verbalizer, p, sc))
    open(os.path.join(HERE, "..", "tests", "data", "bert", "prompt_case0.txt"), "w").write(out)
    print(out)

if __name__ == "__main__":
    main()
