#!/bin/sh
# Writes the seed corpora and the vocabularies of the fuzz harnesses (tests/fuzz/, docs/fuzzing.md):
#   $OUT/vocab/{bpe,spm,wpm,ugm}.gguf    vocab-only conversions of the fixtures' tokenizers
#   $OUT/corpus/<harness>/                seeds: fixture files (under 1 MB) and small hand-made ones
# usage: scripts/fuzz_corpus.sh [EDGELM] [OUT]     (defaults: build/edgelm, build/fuzz)
# Nothing here is committed: the corpora are regenerated from ../shared/fixtures (EDGELM_FIXTURES).
set -eu
EDGELM=${1:-build/edgelm}
OUT=${2:-build/fuzz}
FX=${EDGELM_FIXTURES:-../shared/fixtures}
C="$OUT/corpus"
mkdir -p "$OUT/vocab" "$C"
for h in gguf json safetensors torchzip hdf5 spm_model tokenizer_json http tok_bpe tok_spm tok_wpm tok_ugm; do
    mkdir -p "$C/$h"
done
seed() { # harness file...: copies the files that exist and are under 1 MB
    h=$1; shift
    for f in "$@"; do
        [ -f "$f" ] || continue
        [ "$(wc -c < "$f")" -le 1048576 ] || continue
        cp "$f" "$C/$h/$(echo "$f" | sed 's|\.\./||g; s|^/||' | tr '/' '_')"
    done
}
conv() { # source output
    "$EDGELM" convert "$1" -o "$2" --vocab-only > /dev/null 2>&1 || echo "fuzz_corpus: could not convert $1" >&2
}
conv "$FX/gpt2-tokenizer" "$OUT/vocab/bpe.gguf"
conv "$FX/llama2-tokenizer/tokenizer.model" "$OUT/vocab/spm.gguf"
conv "$FX/hf-reference/bert" "$OUT/vocab/wpm.gguf"
conv "$FX/hf-reference/t5" "$OUT/vocab/ugm.gguf"
# a small SentencePiece vocabulary for the GGUF seeds (llama2's 32000 tokens take 0.1 s a load)
conv "$FX/hf-reference/llama/tokenizer.model" "$OUT/vocab/spm-small.gguf"

# GGUF: the vocabularies, a small model converted from the hf-reference llama (f32 and q8_0)
seed gguf "$OUT/vocab/spm-small.gguf" "$OUT/vocab/ugm.gguf" "$OUT/vocab/wpm.gguf"
if [ -f "$FX/hf-reference/llama/config.json" ]; then
    "$EDGELM" convert "$FX/hf-reference/llama" -o "$OUT/llama-q8.gguf" --outtype q8_0 > /dev/null 2>&1 &&
        seed gguf "$OUT/llama-q8.gguf"
fi
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000' > "$C/gguf/empty-kv1"
# JSON: configs and tokenizer configs of the fixtures, hand-made edge cases
seed json "$FX"/hf-reference/*/config.json "$FX"/hf-reference/*/tokenizer_config.json \
    "$FX"/hf-reference/*/special_tokens_map.json "$FX"/hf-tiny-caikit/*/config.json "$FX"/elmo-bilm-tf/model/options.json
printf '{"a":[1,2.5e3,-0,true,false,null,"\\u00e9\\ud83d\\ude00"],"b":{"c":{}}}' > "$C/json/hand-1"
printf '[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]' > "$C/json/hand-2"
# safetensors / torch zip / HDF5 / SentencePiece
seed safetensors "$FX/hf-reference/llama/model.safetensors" "$FX/hf-reference/bert/model.safetensors" \
    "$FX/hf-reference/t5/model.safetensors" "$FX/hf-reference/gpt2/model.safetensors"
# a small safetensors of every dtype family (the fixtures' files are 0.6-0.9 MB: slow to mutate)
python3 - "$C/safetensors/hand-dtypes" <<'PY' || echo "fuzz_corpus: no python3 for the safetensors seed" >&2
import json, struct, sys
ts = [("f32", "F32", [2, 3], 4), ("f16", "F16", [3], 2), ("bf16", "BF16", [1, 2], 2), ("i64", "I64", [2], 8),
      ("scalar", "F32", [], 4), ("empty", "F16", [0, 4], 2), ("u8", "U8", [5], 1)]
hdr, off, data = {"__metadata__": {"format": "pt"}}, 0, b""
for name, dt, shape, size in ts:
    n = 1
    for d in shape:
        n *= d
    hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n * size]}
    data += bytes((7 * i + 1) & 0x3F for i in range(n * size))
    off += n * size
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
seed torchzip tests/data/torch/*.pt "$FX"/hf-tiny-caikit/*/pytorch_model.bin
seed hdf5 tests/data/hdf5/*.h5 "$FX/elmo-bilm-tf/model/lm_weights.hdf5" "$FX/elmo-bilm-tf/model/lm_embeddings_1.hdf5"
seed spm_model "$FX/llama2-tokenizer/tokenizer.model" "$FX/hf-reference/t5/spiece.model" "$FX/hf-reference/llama/tokenizer.model"
# tokenizer.json: the fixtures' small ones and hand-made byte-level and SentencePiece-style BPE
seed tokenizer_json "$FX"/hf-tiny-caikit/*/tokenizer.json "$FX"/hf-tiny-lm-buddy/*/tokenizer.json
# the large ones (0.4-0.7 MB: slow, and cut at 64 KB by fuzz_run.sh) also as a copy with 300 tokens
for f in "$FX"/hf-tiny-caikit/*/tokenizer.json "$FX"/hf-tiny-lm-buddy/*/tokenizer.json; do
    [ -f "$f" ] && [ "$(wc -c < "$f")" -gt 65536 ] || continue
    python3 - "$f" "$C/tokenizer_json/small-$(echo "$f" | sed 's|\.\./||g; s|^/||' | tr '/' '_')" <<'PY' || echo "fuzz_corpus: could not cut $f" >&2
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
m, n = t["model"], 300
if isinstance(m.get("vocab"), dict):
    m["vocab"] = {k: i for k, i in m["vocab"].items() if i < n}
    keep = set(m["vocab"])
    if "merges" in m:
        pair = lambda x: x.split(" ", 1) if isinstance(x, str) else x
        m["merges"] = [x for x in m["merges"] if all(p in keep for p in pair(x)) and "".join(pair(x)) in keep]
elif isinstance(m.get("vocab"), list):
    m["vocab"] = m["vocab"][:n]
t["added_tokens"] = [a for a in t.get("added_tokens") or [] if a.get("id", n) < n]
if "precompiled_charsmap" in json.dumps(t.get("normalizer")):
    t["normalizer"] = None  # (a 0.3 MB table)
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
done
printf '%s' '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"c":3,"abc":4},"merges":["a b","ab c"]},"pre_tokenizer":{"type":"ByteLevel"},"added_tokens":[{"id":5,"content":"<|endoftext|>","special":true}]}' > "$C/tokenizer_json/hand-bytelevel"
printf '%s' '{"model":{"type":"BPE","vocab":{"<unk>":0,"<s>":1,"</s>":2,"\u2581a":3,"b":4,"\u2581ab":5},"merges":["\u2581a b"],"unk_token":"<unk>","byte_fallback":true},"normalizer":{"type":"Prepend","prepend":"\u2581"}}' > "$C/tokenizer_json/hand-spm"
# HTTP request heads (a first byte of options: 0 = the server's default limits)
printf '\000GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' > "$C/http/get"
printf '\000POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\nAuthorization: Bearer  k3y\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n{"messages": []}' > "$C/http/post"
printf '\001GET / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n' > "$C/http/chunked"
# text for the tokenizers: the reference cases' texts and hand-made odd bytes
for k in bpe spm wpm ugm; do
    printf 'Hello world! caf\303\251 \346\227\245\346\234\254 123 <s> [CLS] <|endoftext|>' > "$C/tok_$k/hand-1"
    printf '\377\376\000\300\200 \t\n\r   \342\200\213 a\314\201' > "$C/tok_$k/hand-2"
    for f in "$FX"/hf-reference/*/tokenizer_ref.json "$FX"/llama-cpp-tokenizer-tests/*; do
        [ -f "$f" ] && [ "$(wc -c < "$f")" -le 65536 ] && cp "$f" "$C/tok_$k/$(echo "$f" | sed 's|\.\./||g; s|^/||' | tr '/' '_')"
    done
done
echo "fuzz_corpus: seeds in $C ($(find "$C" -type f | wc -l) files), vocabularies in $OUT/vocab"
