#!/bin/sh
# Reference logits of llama.cpp for an IQ4_NL file that llama.cpp's llama-quantize made from the
# hf-reference llama fixture (converted to F32 by edgelm), for tests/cli-quantize.sh, and a
# per-tensor comparison of that file with `edgelm quantize ... IQ4_NL` (they must be equal).
# Usage (from the repository root, after `make`):
#   sh scripts/iq4_llamacpp_ref.sh /work/peer/llama.cpp > tests/data/iq4/llamacpp-iq4_nl.txt
# llama-eval-callback prints the first and last 3 logits of the last prompt token and their
# sum over the vocabulary; its log is written asynchronously and is sometimes cut short at
# exit, so the run is repeated until the line is there. Run with -ctk/-ctv f32 (edgelm eval's
# KV cache is F32) and --no-repack (its repacked IQ4_NL path crashed in eval-callback).
set -eu
LC=${1:?path of a llama.cpp checkout with build/bin}
PROMPT="Once upon a time there was a girl"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export LD_LIBRARY_PATH="$LC/build/bin"
build/edgelm convert ../shared/fixtures/hf-reference/llama -o "$T/f32.gguf" --outtype f32 2>/dev/null
"$LC/build/bin/llama-quantize" "$T/f32.gguf" "$T/lc.gguf" IQ4_NL >/dev/null 2>&1
build/edgelm quantize "$T/f32.gguf" "$T/ours.gguf" IQ4_NL -q >/dev/null 2>&1
PYTHONPATH="$LC/gguf-py" /usr/bin/python3 - "$T/ours.gguf" "$T/lc.gguf" >&2 <<'PY'
import sys
from gguf import GGUFReader
a = {t.name: t for t in GGUFReader(sys.argv[1]).tensors}
b = {t.name: t for t in GGUFReader(sys.argv[2]).tensors}
bad = [n for n, t in b.items() if t.tensor_type != a[n].tensor_type or t.data.tobytes() != a[n].data.tobytes()]
print(f"tensors: {len(b)}, differing from llama-quantize: {len(bad)} {bad[:5]}")
sys.exit(1 if bad or len(a) != len(b) else 0)
PY
for i in $(seq 1 50); do
    "$LC/build/bin/llama-eval-callback" -m "$T/lc.gguf" -p "$PROMPT" -n 1 -t 1 --temp 0 --no-repack \
        -ctk f32 -ctv f32 > "$T/log" 2>&1 || true
    sum=$(grep -A6 'result_output = ' "$T/log" | sed -n 's/^ *sum = //p' | head -1)
    if [ -n "$sum" ]; then
        echo "# llama.cpp IQ4_NL logits of the last token of \"$PROMPT\": first 3, last 3, sum"
        grep -A6 'result_output = ' "$T/log" | grep -E '^ *\[ ' | head -1 | sed 's/[][,]/ /g; s/\.\.\.//' | tr -s ' ' | sed 's/^ //'
        echo "$sum"
        exit 0
    fi
done
echo "llama-eval-callback never printed result_output" >&2
exit 1
