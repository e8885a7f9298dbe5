"""edgelm for Python: a ctypes binding of libedgelm.so (no compiled extension).

Needs only python3 and numpy. The library is found, in this order, at $EDGELM_LIB, next to
this package in a source tree (build/libedgelm.so), or by the system (ldconfig paths,
LD_LIBRARY_PATH): install it with `make install`.

    import edgelm
    m = edgelm.Model("stories260K.gguf")
    print(m.generate("Once upon a time", n_predict=32, temp=0))
    for piece in m.generate("Once upon a time", stream=True):
        print(piece, end="", flush=True)

    bert = edgelm.Bert("all-MiniLM-L6-v2.gguf")
    emb = bert.encode(["A man is eating.", "A man eats."], normalize=True)   # numpy [2, n_embd]

    elmo = edgelm.Elmo("elmo.gguf")
    layers, mixed = elmo.embed(["The cat sat .".split()])   # [n_layers, n, dim], [n, dim]

    t5 = edgelm.T5("flan-t5-small.gguf")
    print(t5.generate("translate English to German: How old are you?"))

Every failure raises edgelm.Error with the library's message. An object is used by one thread
at a time (as in C); load one per thread, they are cheap next to the weights, which the
operating system shares between them through the page cache.
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Error", "Model", "Bert", "Elmo", "T5", "version", "simd"]


class Error(Exception):
    """A failure reported by libedgelm; .code is its elm_status (negative)."""

    def __init__(self, message, code=-1):
        super().__init__(message)
        self.code = code


# ---- the library and the C structs ------------------------------------------------------

def _find_library():
    env = os.environ.get("EDGELM_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "build", "libedgelm.so"))
    if os.path.exists(tree):
        return tree
    return ctypes.util.find_library("edgelm") or "libedgelm.so.0"


_lib = ctypes.CDLL(_find_library())

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_float_p = ctypes.POINTER(ctypes.c_float)


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 256)]


class _SamplerParams(ctypes.Structure):
    _fields_ = [("temp", ctypes.c_float), ("top_k", ctypes.c_int32), ("top_p", ctypes.c_float),
                ("min_p", ctypes.c_float), ("repeat_penalty", ctypes.c_float),
                ("repeat_last_n", ctypes.c_int32), ("seed", ctypes.c_uint64)]


class _T5GenParams(ctypes.Structure):
    _fields_ = [("n_predict", ctypes.c_int32), ("n_beams", ctypes.c_int32),
                ("length_penalty", ctypes.c_float), ("ignore_eos", ctypes.c_bool),
                ("sampling", _SamplerParams)]


class _BertRequest(ctypes.Structure):
    # elm_bert_request: the outputs a run computes besides the last hidden state. The padding
    # keeps fields added at its end zero (off).
    _fields_ = [("all_hidden", ctypes.c_bool), ("pooled", ctypes.c_bool), ("nsp", ctypes.c_bool),
                ("classify", ctypes.c_bool), ("token_classify", ctypes.c_bool),
                ("qa", ctypes.c_bool), ("mlm", ctypes.c_bool),
                ("mlm_pos", ctypes.POINTER(c_int32_p)), ("n_mlm_pos", c_int32_p),
                ("_reserved", ctypes.c_char * 256)]


class _BertParams(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int32), ("no_repack", ctypes.c_bool),
                ("n_seq_max", ctypes.c_int32), ("n_ctx", ctypes.c_int32)]


class _T5Params(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int32), ("n_ctx", ctypes.c_int32), ("n_beams", ctypes.c_int32),
                ("no_vocab", ctypes.c_bool), ("no_repack", ctypes.c_bool)]


class _ChatMsg(ctypes.Structure):
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P, _E = ctypes.c_void_p, ctypes.POINTER(_Error)
_i32, _i64, _b, _f, _sz = ctypes.c_int32, ctypes.c_int64, ctypes.c_bool, ctypes.c_float, ctypes.c_size_t
_s = ctypes.c_char_p

_version = _fn("elm_version", _s)
_simd = _fn("elm_simd", _s)
# decoders
_model_load = _fn("elm_model_load", _P, _s, _P, _E)
_model_free = _fn("elm_model_free", None, _P)
_model_n_vocab = _fn("elm_model_n_vocab", _i32, _P)
_model_chat_template = _fn("elm_model_chat_template", _b, _P, ctypes.c_char_p, _sz)
_token_bos = _fn("elm_token_bos", _i32, _P)
_token_is_eog = _fn("elm_token_is_eog", _b, _P, _i32)
_tokenize_text = _fn("elm_tokenize_text", _i64, _P, _s, _sz, c_int32_p, _i64, _b, _b, _E)
_token_piece = _fn("elm_token_piece", _i32, _P, _i32, ctypes.c_char_p, _i32, _b)
_detok_new = _fn("elm_detokenizer_new", _P, _P, _b, _E)
_detok_free = _fn("elm_detokenizer_free", None, _P)
_detok_push = _fn("elm_detokenizer_push", _i32, _P, _i32, ctypes.c_char_p, _i32)
_detok_flush = _fn("elm_detokenizer_flush", _i32, _P, ctypes.c_char_p, _i32)
_ctx_new = _fn("elm_ctx_new", _P, _P, _i32, _i32, _E)
_ctx_free = _fn("elm_ctx_free", None, _P)
_ctx_n_ctx = _fn("elm_ctx_n_ctx", _i32, _P)
_ctx_n_past = _fn("elm_ctx_n_past", _i32, _P)
_ctx_rewind = _fn("elm_ctx_rewind", None, _P, _i32)
_decode = _fn("elm_decode", ctypes.c_int, _P, c_int32_p, _i32, ctypes.c_int, _E)
_get_logits = _fn("elm_get_logits", c_float_p, _P, c_int32_p)
_sampler_defaults = _fn("elm_sampler_default_params", _SamplerParams)
_sampler_new = _fn("elm_sampler_new", _P, ctypes.POINTER(_SamplerParams), _i32, _E)
_sampler_free = _fn("elm_sampler_free", None, _P)
_sampler_sample = _fn("elm_sampler_sample", _i32, _P, c_float_p)
_sampler_accept = _fn("elm_sampler_accept", None, _P, _i32)
_chat_from_name = _fn("elm_chat_template_from_name", ctypes.c_int, _s)
_chat_detect = _fn("elm_chat_template_detect", ctypes.c_int, _s)
_chat_render = _fn("elm_chat_render", _i64, ctypes.c_int, ctypes.POINTER(_ChatMsg), _sz, _b,
                   ctypes.c_char_p, _sz)
# BERT
_bert_default_params = _fn("elm_bert_default_params", _BertParams)
_bert_load = _fn("elm_bert_load", _P, _s, ctypes.POINTER(_BertParams), _E)
_bert_free = _fn("elm_bert_free", None, _P)
_bert_n_embd = _fn("elm_bert_n_embd", _i32, _P)
_bert_n_vocab = _fn("elm_bert_n_vocab", _i32, _P)
_bert_has_mlm = _fn("elm_bert_has_mlm", _b, _P)
_bert_pooling_type = _fn("elm_bert_pooling_type", ctypes.c_int, _P)
_bert_normalize = _fn("elm_bert_normalize", _b, _P)
_bert_tokenize = _fn("elm_bert_tokenize", _i64, _P, _s, _s, _b, c_int32_p, c_int32_p, _i64, _E)
_bert_mask_id = _fn("elm_bert_mask_id", _i32, _P)
_bert_token_text = _fn("elm_bert_token_text", _i32, _P, _i32, ctypes.c_char_p, _i32)
_bert_run = _fn("elm_bert_run", ctypes.c_int, _P, _i32, ctypes.POINTER(c_int32_p),
                ctypes.POINTER(c_int32_p), c_int32_p, ctypes.POINTER(_BertRequest), _E)
_bert_get = _fn("elm_bert_get", _i64, _P, _i32, ctypes.c_int, c_float_p, _i64, _E)
_bert_embedding = _fn("elm_bert_embedding", ctypes.c_int, _P, _i32, ctypes.c_int, _b, c_float_p, _E)
# ELMo
_elmo_load = _fn("elm_elmo_load", _P, _s, _P, _E)
_elmo_free = _fn("elm_elmo_free", None, _P)
_elmo_n_layers = _fn("elm_elmo_n_layers", _i32, _P)
_elmo_dim = _fn("elm_elmo_dim", _i32, _P)
_elmo_run = _fn("elm_elmo_run", ctypes.c_int, _P, _i32, ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p)),
                c_int32_p, ctypes.POINTER(c_float_p), _E)
_elmo_mix = _fn("elm_elmo_mix", ctypes.c_int, _P, c_float_p, _i32, c_float_p, _f, c_float_p, _E)
# T5
_t5_defaults = _fn("elm_t5_default_params", _T5Params)
_t5_load = _fn("elm_t5_load", _P, _s, ctypes.POINTER(_T5Params), _E)
_t5_free = _fn("elm_t5_free", None, _P)
_t5_n_ctx = _fn("elm_t5_n_ctx", _i32, _P)
_t5_tokenize = _fn("elm_t5_tokenize", _i64, _P, _s, _sz, c_int32_p, _i64, _b, _E)
_t5_detokenize = _fn("elm_t5_detokenize", _i32, _P, c_int32_p, _i32, ctypes.c_char_p, _i32, _b)
_t5_gen_defaults = _fn("elm_t5_default_gen_params", _T5GenParams)
_t5_generate = _fn("elm_t5_generate", _i64, _P, c_int32_p, _i32, ctypes.POINTER(_T5GenParams),
                   c_int32_p, _i32, _P, _P, _E)

_POOLING = {"none": 0, "mean": 1, "cls": 2}
_BERT_OUT_MLM = 7  # elm_bert_output


def version():
    """Library version, e.g. "0.1.0"."""
    return _version().decode()


def simd():
    """The SIMD paths compiled into the library, e.g. "AVX2 FMA F16C"."""
    return _simd().decode()


def _raise(err, what=None):
    msg = err.msg.decode("utf-8", "replace") or what or "failed"
    raise Error(msg, err.code)


def _check(status, err):
    if status < 0:
        _raise(err)
    return status


def _path(path):
    return os.fsencode(path)


def _ids_array(ids):
    arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
    return arr


def _sampler_params(temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed):
    p = _sampler_defaults()
    for name, v in (("temp", temp), ("top_k", top_k), ("top_p", top_p), ("min_p", min_p),
                    ("repeat_penalty", repeat_penalty), ("repeat_last_n", repeat_last_n), ("seed", seed)):
        if v is not None:
            setattr(p, name, v)
    return p


class _Owned:
    """Frees its handle with _free once (close() or garbage collection)."""
    _free = None

    def close(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            type(self)._free(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- decoders ---------------------------------------------------------------------------

class Model(_Owned):
    """A GPT-family decoder (llama, qwen2, gpt2 GGUF) with one context (its KV cache)."""
    _free = staticmethod(_model_free)

    def __init__(self, path, n_ctx=0, n_threads=1):
        err = _Error()
        self._h = _model_load(_path(path), None, ctypes.byref(err))
        if not self._h:
            _raise(err)
        self._ctx = _ctx_new(self._h, n_ctx, n_threads, ctypes.byref(err))
        if not self._ctx:
            self.close()
            _raise(err)

    def close(self):
        ctx, self._ctx = getattr(self, "_ctx", None), None
        if ctx:
            _ctx_free(ctx)
        super().close()

    @property
    def n_ctx(self):
        return _ctx_n_ctx(self._ctx)

    @property
    def n_vocab(self):
        return _model_n_vocab(self._h)

    def tokenize(self, text, add_special=True, parse_special=True):
        """Token ids of text (as `edgelm tokenize`)."""
        b = text.encode()
        err = _Error()
        n = _check(_tokenize_text(self._h, b, len(b), None, 0, add_special, parse_special, ctypes.byref(err)), err)
        ids = (ctypes.c_int32 * max(n, 1))()
        _check(_tokenize_text(self._h, b, len(b), ids, n, add_special, parse_special, ctypes.byref(err)), err)
        return list(ids[:n])

    def detokenize(self, ids):
        """Text of ids (control tokens left out), as the streaming output spells it."""
        return "".join(self._pieces(ids, render_prefix=None))

    def _pieces(self, ids, render_prefix):
        err = _Error()
        d = _detok_new(self._h, False, ctypes.byref(err))
        if not d:
            _raise(err)
        buf = ctypes.create_string_buffer(1024)
        try:
            for i in render_prefix or []:
                _detok_push(d, i, buf, len(buf))
            out = []
            for i in ids:
                n = _detok_push(d, i, buf, len(buf))
                out.append(buf.raw[:n])
            out.append(buf.raw[:_detok_flush(d, buf, len(buf))])
            return [b.decode("utf-8", "replace") for b in out]
        finally:
            _detok_free(d)

    def generate(self, prompt, n_predict=-1, temp=None, top_k=None, top_p=None, min_p=None,
                 repeat_penalty=None, repeat_last_n=None, seed=0, ignore_eos=False, stream=False):
        """Continues prompt (a string, or token ids) from an empty cache and returns the new
        text; with stream=True, a generator of text pieces as they are decoded. Sampling
        defaults are the library's (temp 0.8, top-k 40, top-p 0.95, min-p 0.05); temp=0 is
        greedy. n_predict -1: until end of text or a full context. The same ids and text as
        `edgelm generate` with the same options."""
        ids = self.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        gen = self._generate(ids, n_predict, _sampler_params(temp, top_k, top_p, min_p, repeat_penalty,
                                                              repeat_last_n, seed), ignore_eos)
        return gen if stream else "".join(gen)

    def _generate(self, ids, n_predict, sp, ignore_eos):
        if not ids:
            raise Error("the prompt gives no tokens")
        err = _Error()
        smp = _sampler_new(ctypes.byref(sp), self.n_vocab, ctypes.byref(err))
        if not smp:
            _raise(err)
        d = _detok_new(self._h, False, ctypes.byref(err))
        buf = ctypes.create_string_buffer(1024)
        try:
            if not d:
                _raise(err)
            room = self.n_ctx - len(ids) + 1
            if n_predict < 0 or n_predict > room:
                n_predict = room
            for i in ids:  # the prompt's text is not output, but it shapes the first piece
                _detok_push(d, i, buf, len(buf))
            _ctx_rewind(self._ctx, 0)
            arr = _ids_array(ids)
            _check(_decode(self._ctx, arr, len(ids), 0, ctypes.byref(err)), err)
            for i in ids:
                _sampler_accept(smp, i)
            bos = _token_bos(self._h)
            one = (ctypes.c_int32 * 1)()
            n_gen = 0
            while n_gen < n_predict:  # elm_generate's loop, one token at a time
                tok = _sampler_sample(smp, _get_logits(self._ctx, None))
                _sampler_accept(smp, tok)
                if not ignore_eos and _token_is_eog(self._h, tok):
                    break
                if tok == bos and not ignore_eos:  # a new document begins (as the CLI stops)
                    break
                n_gen += 1
                n = _detok_push(d, tok, buf, len(buf))
                if n:
                    yield buf.raw[:n].decode("utf-8", "replace")
                if n_gen == n_predict or _ctx_n_past(self._ctx) >= self.n_ctx:
                    break
                one[0] = tok
                _check(_decode(self._ctx, one, 1, 0, ctypes.byref(err)), err)
            n = _detok_flush(d, buf, len(buf))
            if n:
                yield buf.raw[:n].decode("utf-8", "replace")
        finally:
            if d:
                _detok_free(d)
            _sampler_free(smp)

    def chat_template(self):
        """The file's Jinja chat template (tokenizer.chat_template), or None."""
        buf = ctypes.create_string_buffer(1 << 16)
        return buf.value.decode() if _model_chat_template(self._h, buf, len(buf)) else None

    def render_chat(self, messages, template=None, add_assistant=True):
        """The prompt text of a conversation: messages as [{"role": ..., "content": ...}]."""
        if template is not None:
            t = _chat_from_name(template.encode())
        else:
            jinja = self.chat_template()
            t = _chat_detect(jinja.encode()) if jinja else 0
        if t == 0:
            raise Error("the chat template is missing or not recognised: pass template= "
                        "(chatml, llama2, llama3, zephyr, phi3, gemma, mistral)")
        msgs = (_ChatMsg * len(messages))(*[_ChatMsg(m["role"].encode(), m["content"].encode()) for m in messages])
        n = _chat_render(t, msgs, len(messages), add_assistant, None, 0)
        if n < 0:
            raise Error("cannot render the conversation (unknown role?)", n)
        buf = ctypes.create_string_buffer(n + 1)
        _chat_render(t, msgs, len(messages), add_assistant, buf, n + 1)
        return buf.raw[:n].decode()

    def chat(self, messages, template=None, n_predict=-1, stream=False, **sampling):
        """The assistant's reply to a conversation (messages as [{"role", "content"}]), with
        the model's chat template (or template= by name). Each call starts from an empty cache."""
        text = self.render_chat(messages, template)
        ids = self.tokenize(text, add_special=False, parse_special=True)
        bos = _token_bos(self._h)
        probe = self.tokenize("", add_special=True)
        if probe and probe[0] == bos and (not ids or ids[0] != bos):
            ids = [bos] + ids
        return self.generate(ids, n_predict=n_predict, stream=stream, **sampling)


# ---- BERT -------------------------------------------------------------------------------

class Bert(_Owned):
    """A BERT encoder (sentence-transformers or Hugging Face BERT converted by edgelm)."""
    _free = staticmethod(_bert_free)

    def __init__(self, path, n_threads=1, max_batch=32):
        """max_batch: the most sentences one run takes (encode splits longer lists into runs
        of at most that many); the context's buffers are sized for it."""
        err = _Error()
        params = _bert_default_params()
        params.n_threads = n_threads
        params.n_seq_max = max_batch
        self._h = _bert_load(_path(path), ctypes.byref(params), ctypes.byref(err))
        if not self._h:
            _raise(err)
        self.max_batch = max_batch

    @property
    def n_embd(self):
        return _bert_n_embd(self._h)

    def _get(self, s, what):
        """Result `what` (_BERT_OUT_*) of sequence s of the last run, as a float32 array."""
        err = _Error()
        n = _check(_bert_get(self._h, s, what, None, 0, ctypes.byref(err)), err)
        out = np.zeros(n, dtype=np.float32)
        _check(_bert_get(self._h, s, what, out.ctypes.data_as(c_float_p), n, ctypes.byref(err)), err)
        return out

    def tokenize(self, text, pair=None, add_special=True):
        err = _Error()
        a, b = text.encode(), pair.encode() if pair is not None else None
        n = _check(_bert_tokenize(self._h, a, b, add_special, None, None, 0, ctypes.byref(err)), err)
        ids = (ctypes.c_int32 * max(n, 1))()
        _check(_bert_tokenize(self._h, a, b, add_special, ids, None, n, ctypes.byref(err)), err)
        return list(ids[:n])

    def _run(self, id_lists, req):
        err = _Error()
        arrays = [_ids_array(ids) for ids in id_lists]
        ptrs = (c_int32_p * len(arrays))(*[ctypes.cast(a, c_int32_p) for a in arrays])
        lens = (ctypes.c_int32 * len(arrays))(*[len(ids) for ids in id_lists])
        _check(_bert_run(self._h, len(arrays), ptrs, None, lens, ctypes.byref(req), ctypes.byref(err)), err)

    def encode(self, sentences, pooling=None, normalize=None, batch_size=None):
        """Sentence embeddings as a float32 numpy array [n, n_embd] (one sentence: [n_embd]),
        like sentence-transformers' encode. pooling "cls" | "mean" | "none" and normalize
        default to what the converter recorded for the model (as `edgelm embed` does)."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if pooling is None:
            pool = _bert_pooling_type(self._h)
        elif pooling in _POOLING:
            pool = _POOLING[pooling]
        else:
            raise Error("pooling must be 'cls', 'mean' or 'none', not %r" % (pooling,))
        norm = _bert_normalize(self._h) if normalize is None else bool(normalize)
        out = np.zeros((len(texts), self.n_embd), dtype=np.float32)
        err = _Error()
        batch_size = min(batch_size or self.max_batch, self.max_batch)
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            self._run([self.tokenize(t) for t in batch], _BertRequest())
            for s in range(len(batch)):
                row = out[start + s]
                _check(_bert_embedding(self._h, s, pool, norm, row.ctypes.data_as(c_float_p), ctypes.byref(err)), err)
        return out[0] if single else out

    def fill_mask(self, text, top_k=5):
        """For each [MASK] of text: the top_k candidates as (token text, probability, id),
        most likely first (the softmax over the vocabulary, as `edgelm fill-mask`)."""
        if not _bert_has_mlm(self._h):
            raise Error("the model has no masked-LM head")
        ids = self.tokenize(text)
        mask = _bert_mask_id(self._h)
        pos = [i for i, t in enumerate(ids) if t == mask]
        if not pos:
            raise Error("the text has no [MASK] token")
        pos_arr = _ids_array(pos)
        pos_ptr = (c_int32_p * 1)(ctypes.cast(pos_arr, c_int32_p))
        n_pos = (ctypes.c_int32 * 1)(len(pos))
        req = _BertRequest()
        req.mlm = True
        req.mlm_pos = pos_ptr
        req.n_mlm_pos = n_pos
        self._run([ids], req)
        V = _bert_n_vocab(self._h)
        logits = self._get(0, _BERT_OUT_MLM).reshape(len(pos), V).astype(np.float64)
        buf = ctypes.create_string_buffer(256)
        result = []
        for j in range(len(pos)):
            p = np.exp(logits[j] - logits[j].max())
            p /= p.sum()
            best = np.argsort(-p, kind="stable")[:top_k]
            cands = []
            for i in best:
                _bert_token_text(self._h, int(i), buf, len(buf))
                cands.append((buf.value.decode("utf-8", "replace"), float(p[i]), int(i)))
            result.append(cands)
        return result


# ---- ELMo -------------------------------------------------------------------------------

class Elmo(_Owned):
    """ELMo contextual word vectors (AllenNLP / bilm-tf model converted by edgelm)."""
    _free = staticmethod(_elmo_free)

    def __init__(self, path):
        err = _Error()
        self._h = _elmo_load(_path(path), None, ctypes.byref(err))
        if not self._h:
            _raise(err)

    @property
    def n_layers(self):
        return _elmo_n_layers(self._h)

    @property
    def dim(self):
        return _elmo_dim(self._h)

    def embed(self, sentences, mix=None, gamma=1.0):
        """sentences: lists of words (or strings, split at whitespace). Returns (layers, mixed):
        per sentence a float32 array [n_layers, n_words, dim] (layer 0 the token embedding) and
        its scalar mix [n_words, dim] = gamma * sum_j softmax(mix)_j * layer_j (mix None: equal
        weights), as `edgelm elmo` writes them."""
        sents = [s.split() if isinstance(s, str) else list(s) for s in sentences]
        if any(len(s) == 0 for s in sents):
            raise Error("a sentence has no words")
        L, D = self.n_layers, self.dim
        err = _Error()
        keep = []
        tok_ptrs = (ctypes.POINTER(ctypes.c_char_p) * len(sents))()
        for b, s in enumerate(sents):
            words = (ctypes.c_char_p * len(s))(*[w.encode() for w in s])
            keep.append(words)
            tok_ptrs[b] = ctypes.cast(words, ctypes.POINTER(ctypes.c_char_p))
        n_tok = (ctypes.c_int32 * len(sents))(*[len(s) for s in sents])
        layers = [np.zeros((L, len(s), D), dtype=np.float32) for s in sents]
        outs = (c_float_p * len(sents))(*[a.ctypes.data_as(c_float_p) for a in layers])
        _check(_elmo_run(self._h, len(sents), tok_ptrs, n_tok, outs, ctypes.byref(err)), err)
        s_arr = None
        if mix is not None:
            if len(mix) != L:
                raise Error("the mix needs %d weights, got %d" % (L, len(mix)))
            s_arr = (ctypes.c_float * L)(*mix)
        mixed = []
        for a in layers:
            m = np.zeros((a.shape[1], D), dtype=np.float32)
            _check(_elmo_mix(self._h, a.ctypes.data_as(c_float_p), a.shape[1], s_arr, gamma,
                             m.ctypes.data_as(c_float_p), ctypes.byref(err)), err)
            mixed.append(m)
        return layers, mixed


# ---- T5 ---------------------------------------------------------------------------------

class T5(_Owned):
    """A T5 encoder-decoder (translation, summarisation); max_beams: the most beams generate
    may use (one decoder KV cache each, allocated at load)."""
    _free = staticmethod(_t5_free)

    def __init__(self, path, n_threads=1, max_beams=4):
        err = _Error()
        p = _t5_defaults()
        p.n_threads = n_threads
        p.n_beams = max_beams
        self._h = _t5_load(_path(path), ctypes.byref(p), ctypes.byref(err))
        if not self._h:
            _raise(err)

    def tokenize(self, text, add_eos=True):
        b = text.encode()
        err = _Error()
        n = _check(_t5_tokenize(self._h, b, len(b), None, 0, add_eos, ctypes.byref(err)), err)
        ids = (ctypes.c_int32 * max(n, 1))()
        _check(_t5_tokenize(self._h, b, len(b), ids, n, add_eos, ctypes.byref(err)), err)
        return list(ids[:n])

    def detokenize(self, ids, render_special=False):
        arr = _ids_array(ids)
        n = _t5_detokenize(self._h, arr, len(ids), None, 0, render_special)
        buf = ctypes.create_string_buffer(n + 1)
        _t5_detokenize(self._h, arr, len(ids), buf, n + 1, render_special)
        return buf.raw[:n].decode("utf-8", "replace")

    def generate(self, text, n_predict=64, beams=1, length_penalty=1.0, temp=0.0, seed=0):
        """The output text for text (greedy by default; beams > 1: beam search), as
        `edgelm generate -m T5.gguf -p TEXT -n N_PREDICT`."""
        ids = self.tokenize(text)
        if not ids:
            raise Error("the prompt gives no tokens")
        gp = _t5_gen_defaults()
        gp.n_predict = min(n_predict, _t5_n_ctx(self._h) - 1)
        gp.n_beams = beams
        gp.length_penalty = length_penalty
        gp.sampling.temp = temp
        gp.sampling.seed = seed
        out = (ctypes.c_int32 * max(gp.n_predict, 1))()
        err = _Error()
        k = _check(_t5_generate(self._h, _ids_array(ids), len(ids), ctypes.byref(gp), out, gp.n_predict,
                                None, None, ctypes.byref(err)), err)
        return self.detokenize(list(out[:k]))
