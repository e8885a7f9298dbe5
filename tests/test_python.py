"""The Python binding (python/edgelm) against the CLI on the same models: the same generated
text, token ids, embeddings, ELMo layers and mixes, T5 outputs; errors raise edgelm.Error with
the library's message. Run by tests/cli-python.sh: python3 tests/test_python.py EDGELM TMPDIR
(models converted into TMPDIR by the script). Prints "# tf:" lines like the C tests."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import edgelm  # noqa: E402

EDGELM, TMP = sys.argv[1], sys.argv[2]
FIX = os.environ.get("FIXTURES", "../shared/fixtures")
passed = failed = skipped = 0


def cli(*args):
    return subprocess.run([EDGELM, *args], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()


def test(name, needs=None):
    def deco(fn):
        global passed, failed, skipped
        if needs and not os.path.exists(needs):
            print("skip %s: %s is absent" % (name, needs))
            skipped += 1
            return fn
        try:
            fn()
            print("ok   " + name)
            passed += 1
        except Exception as e:  # a failed check or an unexpected error
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
        return fn
    return deco


STORIES = os.path.join(FIX, "stories260K", "stories260K.gguf")
BERT = os.path.join(TMP, "bert.gguf")
ELMO = os.path.join(TMP, "elmo.gguf")
T5 = os.path.join(TMP, "t5.gguf")


@test("version_and_simd")
def _():
    assert edgelm.version() == cli("version").split()[1] or edgelm.version() in cli("version"), edgelm.version()
    assert isinstance(edgelm.simd(), str) and edgelm.simd()


@test("model_tokenize_equals_cli", STORIES)
def _():
    m = edgelm.Model(STORIES)
    got = m.tokenize("Once upon a time, there was a cat.")
    want = [int(x) for x in cli("tokenize", "-m", STORIES, "-p", "Once upon a time, there was a cat.").split()]
    assert got == want, (got, want)


@test("model_generate_greedy_equals_cli", STORIES)
def _():
    m = edgelm.Model(STORIES)
    got = m.generate("Once upon a time", n_predict=40, temp=0)
    want = cli("generate", "-m", STORIES, "-p", "Once upon a time", "-n", "40", "--temp", "0")
    assert got and got == want, (got, want)


@test("model_generate_sampled_equals_cli", STORIES)
def _():
    m = edgelm.Model(STORIES)
    got = m.generate("Once upon a time", n_predict=30, temp=0.9, seed=42)
    want = cli("generate", "-m", STORIES, "-p", "Once upon a time", "-n", "30", "--temp", "0.9", "--seed", "42")
    assert got == want, (got, want)


@test("model_generate_streams_pieces", STORIES)
def _():
    m = edgelm.Model(STORIES)
    pieces = list(m.generate("Once upon a time", n_predict=12, temp=0, stream=True))
    assert len(pieces) >= 6 and "".join(pieces) == m.generate("Once upon a time", n_predict=12, temp=0)


@test("model_chat_renders_and_replies", STORIES)
def _():
    m = edgelm.Model(STORIES)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    text = m.render_chat(msgs, template="chatml")
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text
    reply = m.chat(msgs, template="chatml", n_predict=8, temp=0)
    assert isinstance(reply, str) and reply, reply
    try:
        m.chat(msgs, n_predict=4)  # stories260K carries no chat template
        raise AssertionError("no error without a template")
    except edgelm.Error as e:
        assert "template" in str(e)


@test("errors_raise_with_library_message")
def _():
    for cls in (edgelm.Model, edgelm.Bert, edgelm.Elmo, edgelm.T5):
        try:
            cls("/nonexistent/model.gguf")
            raise AssertionError("%s loaded a missing file" % cls.__name__)
        except edgelm.Error as e:
            assert "/nonexistent/model.gguf" in str(e) and e.code < 0, (cls.__name__, str(e))
    bad = os.path.join(TMP, "bad.gguf")
    with open(bad, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00")
    try:
        edgelm.Model(bad)
        raise AssertionError("loaded a truncated file")
    except edgelm.Error as e:
        assert str(e), e


@test("bert_encode_equals_cli", BERT)
def _():
    b = edgelm.Bert(BERT)
    texts = ["the cat sat on the mat", "a dog sat on a rug", "hello world"]
    for pooling, normalize in ((None, None), ("mean", True), ("cls", False)):
        got = b.encode(texts, pooling=pooling, normalize=normalize)
        args = ["embed", "-m", BERT] + sum([["-p", t] for t in texts], [])
        if pooling:
            args += ["--pooling", pooling]
        if normalize:
            args += ["--normalize"]
        want = np.array([[float(x) for x in line.split()] for line in cli(*args).splitlines()], dtype=np.float32)
        assert got.shape == want.shape == (3, b.n_embd), (got.shape, want.shape)
        err = np.abs(got - want).max()
        assert err <= 1e-5 * max(1.0, np.abs(want).max()), (pooling, normalize, err)  # CLI prints %.6g
    one = b.encode("hello world")
    assert one.shape == (b.n_embd,) and np.allclose(one, b.encode(["hello world"])[0])
    n = np.linalg.norm(b.encode(texts, normalize=True), axis=1)
    assert np.allclose(n, 1.0, atol=1e-5), n
    # a context made for 2 sentences a run splits the 3 into two runs: the same vectors
    small = edgelm.Bert(BERT, max_batch=2).encode(texts)
    assert np.abs(small - b.encode(texts)).max() <= 1e-6


@test("bert_fill_mask_equals_cli", BERT)
def _():
    b = edgelm.Bert(BERT)
    text = "the cat sat on the [MASK] ."
    got = b.fill_mask(text, top_k=3)
    lines = [l.split() for l in cli("fill-mask", "-m", BERT, "-p", text, "--top-k", "3").splitlines() if l.startswith("  ")]
    assert len(got) == 1 and len(got[0]) == 3 == len(lines), (got, lines)
    for (tok, p, i), want in zip(got[0], lines):
        assert tok == want[0] and abs(p - float(want[1])) < 6e-5 and "(id %d)" % i == " ".join(want[2:]), (tok, p, i, want)


@test("elmo_embed_equals_cli", ELMO)
def _():
    e = edgelm.Elmo(ELMO)
    sents = ["The cat sat on the mat .", "It was happy ."]
    path = os.path.join(TMP, "sents.txt")
    with open(path, "w") as f:
        f.write("\n".join(sents) + "\n")
    layers, mixed = e.embed(sents, mix=[0.5, -1.0, 2.0], gamma=0.7)
    cli("elmo", "-m", ELMO, "-i", path, "-o", os.path.join(TMP, "all"))
    cli("elmo", "-m", ELMO, "-i", path, "-o", os.path.join(TMP, "mix"), "--mix", "0.5,-1,2", "--gamma", "0.7")
    for k, s in enumerate(sents):
        want = np.load(os.path.join(TMP, "all", "sentence_%d.npy" % k))
        assert layers[k].shape == want.shape == (e.n_layers, len(s.split()), e.dim), (layers[k].shape, want.shape)
        assert np.array_equal(layers[k], want), np.abs(layers[k] - want).max()
        wmix = np.load(os.path.join(TMP, "mix", "sentence_%d.npy" % k))
        assert np.allclose(mixed[k], wmix, rtol=0, atol=1e-6), np.abs(mixed[k] - wmix).max()
    # equal weights: the mean of the layers times gamma
    _, eq = e.embed([sents[0].split()])
    assert np.allclose(eq[0], layers[0].mean(axis=0), atol=1e-5)


@test("t5_generate_equals_cli", T5)
def _():
    t = edgelm.T5(T5)
    p = "translate English to German: the quick brown fox"
    got = t.generate(p, n_predict=16)
    want = cli("generate", "-m", T5, "-p", p, "-n", "16")
    assert got and got + "\n" == want, (got, want)
    got_b = t.generate(p, n_predict=8, beams=3, length_penalty=0.6)
    want_b = cli("generate", "-m", T5, "-p", p, "-n", "8", "--beams", "3", "--length-penalty", "0.6")
    assert got_b + "\n" == want_b, (got_b, want_b)


print("# tf: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
