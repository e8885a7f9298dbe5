#!/usr/bin/python3
"""Tiny random BERT head checkpoints and their reference outputs, for tests/test-bert.c and
tests/cli-tag-qa.sh (see tests/data/bert/README.md).

Writes two Hugging Face folders in tests/data/bert (config.json, weights, vocab.txt,
tokenizer_config.json), with random weights from a seeded generator:
  - tiny-tokcls/: BertForTokenClassification, cased, BIO labels in id2label, model.safetensors;
  - tiny-qa/: BertForQuestionAnswering, uncased, pytorch_model.bin with the "bert." prefix.
Then runs scripts/bert_reference.py's float64 PyTorch forward pass (checked there against
transformers) plus the two heads (a linear layer on every token, as transformers' classes do)
and saves the logits, and the answers Hugging Face's pipelines give on these logits:
  - token-classification with aggregation_strategy="simple" (softmax per token, argmax label,
    special tokens left out, BIO grouping, "O" groups dropped; word = tokens joined with "##"
    removed; start/end = character offsets as a fast tokenizer gives them);
  - question-answering (p_mask on question and special tokens, softmax of start/end logits,
    best start <= end span within max_answer_len, windows of max_seq_len tokens overlapping by
    doc_stride, the best score over all windows; answer = the context between the offsets).
The tokenizer here is a small BasicTokenizer + WordPiece with offsets, enough for the ASCII
texts used (offsets of pieces count the piece's characters).
"""
import json, os, struct, sys, importlib.util
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "bert")
spec = importlib.util.spec_from_file_location("bert_reference", os.path.join(HERE, "bert_reference.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "John", "Smith", "lives", "in", "New", "York", "and",
         "works", "at", "Acme", "Paris", "the", "Where", "where", "does", "who", "is", ".", ",", "?", "city",
         "##s", "##ly", "Jo", "##hn", "Zürich", "near", "river", "a", "old", "he", "she", "was", "born"]

def save_safetensors(sd, path):
    hdr, off, blobs = {}, 0, []
    for k, v in sd.items():
        a = v.detach().numpy()
        dt = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        b = a.tobytes()
        hdr[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def make(d, arch, head, n_out, prefix, lower, labels, seed, safetensors):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    E, F, V, P, L = 8, 16, len(WORDS), 24, 2
    r = lambda *s: torch.randn(*s, generator=g) * 0.5
    sd = {}
    sd[prefix + "embeddings.word_embeddings.weight"] = r(V, E)
    sd[prefix + "embeddings.position_embeddings.weight"] = r(P, E)
    sd[prefix + "embeddings.token_type_embeddings.weight"] = r(2, E)
    sd[prefix + "embeddings.LayerNorm.weight"], sd[prefix + "embeddings.LayerNorm.bias"] = 1 + r(E) / 5, r(E) / 5
    for l in range(L):
        p = prefix + "encoder.layer.%d." % l
        for n, o, i in [("attention.self.query", E, E), ("attention.self.key", E, E), ("attention.self.value", E, E),
                        ("attention.output.dense", E, E), ("intermediate.dense", F, E), ("output.dense", E, F)]:
            sd[p + n + ".weight"], sd[p + n + ".bias"] = r(o, i), r(o) / 5
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            sd[p + n + ".weight"], sd[p + n + ".bias"] = 1 + r(E) / 5, r(E) / 5
    sd[head + ".weight"], sd[head + ".bias"] = r(n_out, E) * 2, r(n_out)
    cfg = {"architectures": [arch], "model_type": "bert", "hidden_size": E, "num_hidden_layers": L,
           "num_attention_heads": 2, "intermediate_size": F, "max_position_embeddings": P, "vocab_size": V,
           "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute"}
    if labels:
        cfg["id2label"] = {str(i): x for i, x in enumerate(labels)}
        cfg["label2id"] = {x: i for i, x in enumerate(labels)}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    open(os.path.join(d, "vocab.txt"), "w").write("\n".join(WORDS) + "\n")
    json.dump({"do_lower_case": lower, "tokenize_chinese_chars": True}, open(os.path.join(d, "tokenizer_config.json"), "w"))
    if safetensors:
        save_safetensors(sd, os.path.join(d, "model.safetensors"))
    else:
        torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    flat = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in sd.items()}
    return flat, cfg

# ---- tokenizer with offsets (BasicTokenizer + WordPiece on ASCII text) ----

def is_punct(c):
    o = ord(c)
    import unicodedata
    return (33 <= o <= 47) or (58 <= o <= 64) or (91 <= o <= 96) or (123 <= o <= 126) or unicodedata.category(c).startswith("P")

def words_with_offsets(text):
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if is_punct(text[i]):
            out.append((text[i], i, i + 1))
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and not is_punct(text[j]):
            j += 1
        out.append((text[i:j], i, j))
        i = j
    return out

def wordpiece(word, lower, vocab):
    w = word.lower() if lower else word
    pieces, start = [], 0
    while start < len(w):
        end, cur = len(w), None
        while end > start:
            s = w[start:end] if start == 0 else "##" + w[start:end]
            if s in vocab:
                cur = s
                break
            end -= 1
        if cur is None:
            return [(vocab["[UNK]"], 0, len(word))]
        pieces.append((vocab[cur], start, end))
        start = end
    return pieces

def tokenize(text, lower):
    vocab = {w: i for i, w in enumerate(WORDS)}
    ids, offs = [], []
    for w, a, b in words_with_offsets(text):
        for pid, s, e in wordpiece(w, lower, vocab):
            ids.append(pid)
            offs.append((a + s, a + e))
    return ids, offs

# ---- pipelines ----

def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def tag_pipeline(logits, ids, offs, labels):
    probs = softmax(logits[1:-1].astype(np.float64))  # [CLS] and [SEP] are special
    ents = []
    for k, pr in enumerate(probs):
        li = int(pr.argmax())
        ents.append({"entity": labels[li], "score": float(pr[li]), "word": WORDS[ids[k]], "start": offs[k][0], "end": offs[k][1]})
    def tag(name):
        if name.startswith("B-"): return "B", name[2:]
        if name.startswith("I-"): return "I", name[2:]
        return "I", name
    def group(es):
        toks = " ".join(e["word"] for e in es).replace(" ##", "").strip()
        return {"entity_group": tag(es[0]["entity"])[1], "score": float(np.mean([e["score"] for e in es])),
                "word": toks, "start": es[0]["start"], "end": es[-1]["end"]}
    groups, cur = [], []
    for e in ents:
        if cur:
            bi, t = tag(e["entity"])
            _, lt = tag(cur[-1]["entity"])
            if t == lt and bi != "B":
                cur.append(e)
                continue
            groups.append(group(cur))
        cur = [e]
    if cur:
        groups.append(group(cur))
    return [g for g in groups if g["entity_group"] != "O"]

def qa_windows(q_ids, c_ids, max_len, stride):
    """HF's overflowing windows for truncation="only_second": each window holds
    max_len - len(q) - 3 context tokens, consecutive windows overlap by `stride` tokens."""
    room = max_len - len(q_ids) - 3
    out, start = [], 0
    while True:
        out.append((start, min(start + room, len(c_ids))))
        if start + room >= len(c_ids):
            break
        start += room - stride
    return out

def qa_pipeline(sd, cfg, question, context, lower, max_len, stride, max_answer_len):
    q_ids, _ = tokenize(question, lower)
    c_ids, c_offs = tokenize(context, lower)
    best = None
    all_logits = []
    for a, b in qa_windows(q_ids, c_ids, max_len, stride):
        ids = [2] + q_ids + [3] + c_ids[a:b] + [3]
        types = [0] * (len(q_ids) + 2) + [1] * (b - a + 1)
        h = ref.forward(sd, cfg, ids, types)["last"]
        lg = (h @ sd["qa_outputs.weight"].double().T + sd["qa_outputs.bias"].double()).numpy()
        all_logits.append((ids, types, lg))
        first = len(q_ids) + 2
        mask = np.ones(len(ids), bool)
        mask[first:first + (b - a)] = False  # context tokens are the candidates
        mask[0] = False  # [CLS] stays in the softmax (the "no answer" slot), then gets 0
        st = np.where(mask, -10000.0, lg[:, 0])
        en = np.where(mask, -10000.0, lg[:, 1])
        st, en = softmax(st), softmax(en)
        st[0] = en[0] = 0.0
        outer = np.tril(np.triu(np.outer(st, en)), max_answer_len - 1)
        i, j = np.unravel_index(int(outer.argmax()), outer.shape)
        score = float(outer[i, j])
        if best is None or score > best["score"]:
            s_char, e_char = c_offs[a + i - first][0], c_offs[a + j - first][1]
            best = {"score": score, "start": s_char, "end": e_char, "answer": context[s_char:e_char]}
    return best, all_logits

def token_logits(sd, cfg, text):
    ids, offs = tokenize(text, False)
    full = [2] + ids + [3]
    h = ref.forward(sd, cfg, full, [0] * len(full))["last"]
    return (h @ sd["classifier.weight"].double().T + sd["classifier.bias"].double()).numpy(), ids, offs

def main():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    tdir = os.path.join(OUT, "tiny-tokcls")
    texts = ["John Smith lives in New York and works at Acme.", "Jo Smith, Paris Zürich? Johns works."]
    # the first seed whose random head makes a multi-token group and two entity types (so the
    # test sees BIO merging, not only single tokens)
    for seed in range(11, 200):
        tsd, tcfg = make(tdir, "BertForTokenClassification", "classifier", len(labels), "bert.", False, labels, seed, True)
        groups = [tag_pipeline(token_logits(tsd, tcfg, t)[0], *token_logits(tsd, tcfg, t)[1:], labels) for t in texts]
        flat = [g for gs in groups for g in gs]
        if any(" " in g["word"] or g["end"] - g["start"] > len(g["word"]) for g in flat) and \
                len({g["entity_group"] for g in flat}) >= 3 and any(g["word"].startswith("Jo") and len(g["word"]) > 2 for g in flat):
            break
    print("token classifier seed", seed)
    # tiny-extra/: the token classifier plus a tensor nothing maps (the converter must name it
    # and refuse it with --strict) and a position_ids buffer (not a parameter: not reported)
    edir = os.path.join(OUT, "tiny-extra")
    os.makedirs(edir, exist_ok=True)
    esd = {("bert." + k if not k.startswith("classifier") else k): v for k, v in tsd.items()}
    esd["bert.encoder.layer.1.adapter.weight"] = torch.ones(4, 8)
    esd["bert.embeddings.position_ids"] = torch.arange(24).unsqueeze(0)
    save_safetensors(esd, os.path.join(edir, "model.safetensors"))
    for f in ("config.json", "vocab.txt", "tokenizer_config.json"):
        open(os.path.join(edir, f), "w").write(open(os.path.join(tdir, f)).read())
    qdir = os.path.join(OUT, "tiny-qa")
    qsd, qcfg = make(qdir, "BertForQuestionAnswering", "qa_outputs", 2, "bert.", True, None, 12, False)
    answers = {"tag": [], "qa": []}
    for c, text in enumerate(texts):
        lg, ids, offs = token_logits(tsd, tcfg, text)
        ids = [2] + ids + [3]
        pre = os.path.join(OUT, "tokcls_case%d_" % c)
        np.save(pre + "ids.npy", np.array(ids, dtype=np.int32))
        np.save(pre + "types.npy", np.zeros(len(ids), dtype=np.int32))
        np.save(pre + "tokens.npy", lg.astype(np.float32))
        answers["tag"].append({"text": text, "entities": tag_pipeline(lg, ids[1:-1], offs, labels)})
    qcases = [("Where does John live?", "John Smith lives in New York and works at Acme.", 24, 4, 15),
              ("who is he?", "he was born near a river . the old city is Paris , where she works and he lives . "
               "John Smith was born in New York .", 16, 3, 4)]
    for c, (q, ctx, max_len, stride, mal) in enumerate(qcases):
        best, logits = qa_pipeline(qsd, qcfg, q, ctx, True, max_len, stride, mal)
        ids, types, lg = logits[0]
        pre = os.path.join(OUT, "qa_case%d_" % c)
        np.save(pre + "ids.npy", np.array(ids, dtype=np.int32))
        np.save(pre + "types.npy", np.array(types, dtype=np.int32))
        np.save(pre + "qa.npy", lg.astype(np.float32))
        answers["qa"].append({"question": q, "context": ctx, "max_seq_len": max_len, "doc_stride": stride,
                              "max_answer_len": mal, "n_windows": len(logits), **best})
    json.dump(answers, open(os.path.join(OUT, "heads_pipeline.json"), "w"), indent=1, ensure_ascii=False)
    # the same answers as `edgelm tag` / `edgelm qa` print them (tests/cli-tag-qa.sh)
    for c, t in enumerate(answers["tag"]):
        with open(os.path.join(OUT, "tag_case%d.txt" % c), "w") as f:
            for g in t["entities"]:
                f.write("%s\t%.4f\t%d\t%d\t%s\n" % (g["entity_group"], g["score"], g["start"], g["end"], g["word"]))
    for c, a in enumerate(answers["qa"]):
        with open(os.path.join(OUT, "qa_case%d.txt" % c), "w") as f:
            f.write("answer: %s\nscore: %.4f\nstart: %d\nend: %d\n" % (a["answer"], a["score"], a["start"], a["end"]))
    print(json.dumps(answers, indent=1, ensure_ascii=False))

if __name__ == "__main__":
    main()
