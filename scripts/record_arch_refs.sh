#!/bin/sh
# Records llama.cpp b10573's outputs on OUR converted GGUF files as the reference arrays of
# tests/test-arch.c (tests/data/arch/NAME.ref): logits of 32 vocabulary ids at every position
# of two token sequences (one longer than the Gemma test models' sliding window of 8), and the
# ids llama.cpp's tokenizer gives for a set of tricky strings. Also the per-tensor types
# llama-quantize chooses for the wide variants of the checkpoints (--wide: widths multiples of
# 256) at Q4_K_M, Q5_K_M, Q6_K, Q8_0 and Q4_0 (tests/data/arch/NAME.qtypes: one line per type,
# the tensor types in the order of the sorted tensor names; tests/cli-arch-quant.sh).
#
#   sh scripts/record_arch_refs.sh [LLAMA_CPP_DIR [NAME ...]]
#
# Needs a built llama.cpp (LLAMA_CPP_DIR, default /work/peer/llama.cpp, with build/bin/libllama.so),
# /usr/bin/python3 with numpy, and build/edgelm. Nothing of llama.cpp ends up in the repo: only
# the recorded numbers.
set -eu
LCPP=${1:-/work/peer/llama.cpp}
[ $# -gt 0 ] && shift
NAMES=${*:-llama qwen3 gemma2 gemma3 granite olmo2 smollm3 phi3 lfm2}
OUT=build/arch
mkdir -p "$OUT" tests/data/arch
cc -O1 -o "$OUT/llamacpp_logits" scripts/llamacpp_logits.c -I"$LCPP/include" -I"$LCPP/ggml/include" \
    -L"$LCPP/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LCPP/build/bin"
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
spec="$OUT/spec.txt"
{
    printf 'pick'; i=0; while [ $i -lt 32 ]; do printf ' %d' $((i * 31 + 3)); i=$((i + 1)); done; echo
    echo "seq 1 15 287 42 9 500"
    echo "seq 2 100 200 300 400 500 600 700 800 900 11 22 33 44 55 66 77 88 99 111"
    for s in "Hello world" "  two leading spaces" "numbers 1234567 and 3.14" \
        "$(printf 'caf\303\251 na\303\257ve \360\237\246\231 \344\270\255\346\226\207')" \
        "$(printf '<|start|>user\nhi there<|end|>\n')" "$(printf 'tabs\tand\nnew\n\nlines  ')" \
        "don't I'LL we've" "aaaaaaaaaaaaaaaaaaaaaaaa"; do
        echo "tok $(hex "$s")"
    done
} > "$spec"
/usr/bin/python3 scripts/make_arch_checkpoints.py "$OUT" $NAMES
for n in $NAMES; do
    build/edgelm convert "$OUT/$n" -o "$OUT/$n.gguf" 2> "$OUT/$n.convert.log"
    "$OUT/llamacpp_logits" "$OUT/$n.gguf" "$spec" > "tests/data/arch/$n.ref"
    echo "recorded tests/data/arch/$n.ref"
done
WIDE=build/arch-wide
/usr/bin/python3 scripts/make_arch_checkpoints.py --wide "$WIDE" $NAMES
for n in $NAMES; do
    build/edgelm convert "$WIDE/$n" -o "$WIDE/$n.gguf" 2> /dev/null
    for q in Q4_K_M Q5_K_M Q6_K Q8_0 Q4_0; do
        "$LCPP/build/bin/llama-quantize" "$WIDE/$n.gguf" "$WIDE/$n.$q.gguf" $q > /dev/null 2>&1
        printf '%s %s\n' $q "$(sh scripts/gguf_types.sh "$WIDE/$n.$q.gguf")"
        rm -f "$WIDE/$n.$q.gguf"
    done > "tests/data/arch/$n.qtypes"
    echo "recorded tests/data/arch/$n.qtypes"
done
# Logits on llama-quantize's Q8_0 and Q4_K_M files of the wide checkpoints (the long sequence
# only): tests/data/arch/NAME.Q8_0.ref, NAME.Q4_K_M.ref.
grep -v '^seq 1 ' "$spec" | grep -v '^tok ' > "$OUT/spec-q.txt"
for n in $(echo "$NAMES" | tr ' ' '\n' | grep -E '^(llama|qwen3|gemma3|phi3|lfm2)$'); do
    for q in Q8_0 Q4_K_M; do
        "$LCPP/build/bin/llama-quantize" "$WIDE/$n.gguf" "$WIDE/$n.$q.gguf" $q > /dev/null 2>&1
        "$OUT/llamacpp_logits" "$WIDE/$n.$q.gguf" "$OUT/spec-q.txt" > "tests/data/arch/$n.$q.ref"
        rm -f "$WIDE/$n.$q.gguf"
        echo "recorded tests/data/arch/$n.$q.ref"
    done
done
