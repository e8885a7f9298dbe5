#!/usr/bin/python3
"""What Hugging Face's token-classification pipeline (aggregation_strategy="simple") answers on
the tiny RobertaForTokenClassification checkpoint of scripts/bert_variants_reference.py
(tests/data/bert/tiny-roberta-tok), for tests/cli-tag-qa.sh: tests/data/bert/tag_roberta_case*.txt.

The forward pass is bert_variants_reference.py's (float64 PyTorch, checked there against the
saved logits of transformers' layout); the tokenizer its byte-level BPE. What the pipeline does
with the pieces, as transformers' fast RoBERTa tokenizer and pipeline do it:
  - offsets: each piece spans the characters its bytes decode to, then trimmed as the ByteLevel
    post-processor's trim_offsets (leading spaces move the start forward, trailing spaces the
    end back, never past the start: a lone "Ġ" gets an empty span after its space);
  - every piece but <s> and </s> takes its argmax label and the softmax probability as score;
    consecutive pieces join a group while the tag (label without B-/I-) stays and the piece's
    label is not a B-; a group's score is the mean, its start/end the first/last piece's, its
    word convert_tokens_to_string of its pieces (the bytes decoded: a leading space is kept);
    groups tagged "O" are dropped.
Lines: entity_group, score (4 decimals), start, end, word, tab-separated (as `edgelm tag`).
The texts are ASCII, so byte and character offsets agree.

    /usr/bin/python3 scripts/roberta_tag_reference.py
"""
import importlib.util, json, os
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "bert")
spec = importlib.util.spec_from_file_location("bert_variants_reference", os.path.join(HERE, "bert_variants_reference.py"))
V = importlib.util.module_from_spec(spec)
spec.loader.exec_module(V)
TEXTS = ["the cats and dogs", "Hello world! The cat sat on the mat."]

def pieces_with_offsets(text, vocab, ranks):
    inv = {i: s for s, i in vocab.items()}
    u2b = {u: b for b, u in V.B2U.items()}
    out, pos = [], 0
    for i in V.roberta_tokenize(text, vocab, ranks):
        raw = bytes(u2b[c] for c in inv[i]).decode("latin-1")
        assert text[pos:pos + len(raw)] == raw, (text, pos, raw)
        a, b = pos, pos + len(raw)
        ld = len(raw) - len(raw.lstrip(" "))
        tr = len(raw) - len(raw.rstrip(" "))
        a = min(a + ld, b)
        if tr and b >= tr:
            b = max(b - tr, a)
        out.append((i, raw, a, b))
        pos += len(raw)
    return out

def tag_pipeline(logits, pieces, labels):
    x = logits.astype(np.float64)
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ents = [(labels[int(r.argmax())], float(r.max()), raw, a, b) for r, (_, raw, a, b) in zip(p, pieces)]
    def split(name):
        return (name[0], name[2:]) if name[:2] in ("B-", "I-") else ("I", name)
    groups, cur = [], []
    for e in ents:
        if cur and split(e[0])[1] == split(cur[-1][0])[1] and split(e[0])[0] != "B":
            cur.append(e)
            continue
        if cur:
            groups.append(cur)
        cur = [e]
    if cur:
        groups.append(cur)
    return ["%s\t%.4f\t%d\t%d\t%s" % (split(g[0][0])[1], np.mean([e[1] for e in g]), g[0][3], g[-1][4], "".join(e[2] for e in g))
            for g in groups if split(g[0][0])[1] != "O"]

def main():
    d = os.path.join(OUT, "tiny-roberta-tok")
    vocab = json.load(open(os.path.join(d, "vocab.json")))
    merges = [tuple(l.split()) for l in open(os.path.join(d, "merges.txt")).read().splitlines()[1:] if l]
    ranks = {m: i for i, m in enumerate(merges)}
    cfg = json.load(open(os.path.join(d, "config.json")))
    labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
    sd = torch.load(os.path.join(d, "pytorch_model.bin"))
    for c, text in enumerate(TEXTS):
        pieces = pieces_with_offsets(text, vocab, ranks)
        ids = [0] + [p[0] for p in pieces] + [2]
        logits = V.lin(sd, V.roberta_forward(sd, ids), "classifier").detach().numpy()[1:-1]
        lines = tag_pipeline(logits, pieces, labels)
        open(os.path.join(OUT, "tag_roberta_case%d.txt" % c), "w").write("".join(l + "\n" for l in lines))
        print("\n".join(lines))

if __name__ == "__main__":
    main()
