#!/bin/sh
# Quick start: build edgelm, get a model, run the main job on it.
#   sh scripts/quickstart.sh [MODEL.gguf] [PROMPT]
# Without a path it uses models/stories260K.gguf, downloading it (1.2 MB, llama.cpp's own CI
# model) when it is not there yet. The main job: a chat when the model has a chat template and
# this is an interactive terminal, otherwise a text continuation of PROMPT.
# BUILD and EMU (e.g. "qemu-aarch64") are honoured; EDGELM_NO_BUILD=1 skips the build step
# (the test suite sets it: it has just built $BUILD/edgelm, possibly for another CPU).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
URL=https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf

[ "${EDGELM_NO_BUILD:-0}" = 1 ] || make -s BUILD="$BUILD" "$BUILD/edgelm"

model=$1
if [ -z "$model" ]; then
    model=models/stories260K.gguf
    if [ ! -f "$model" ]; then
        echo "quickstart: downloading $URL -> $model"
        mkdir -p models
        if command -v curl >/dev/null 2>&1; then
            curl -fL --retry 2 -o "$model.part" "$URL" || rm -f "$model.part"
        elif command -v wget >/dev/null 2>&1; then
            wget -q -O "$model.part" "$URL" || rm -f "$model.part"
        fi
        if [ ! -s "$model.part" ]; then
            echo "quickstart: could not download the model (offline?)." >&2
            echo "  Copy any GGUF file onto this machine and pass its path:" >&2
            echo "    sh scripts/quickstart.sh /path/to/model.gguf" >&2
            echo "  (e.g. stories260K.gguf from $URL)" >&2
            exit 1
        fi
        mv "$model.part" "$model"
    fi
fi
if [ ! -f "$model" ]; then
    echo "quickstart: no such file: $model" >&2
    exit 1
fi

prompt=${2:-Once upon a time}
if [ -t 0 ] && $EMU "$BUILD/edgelm" info "$model" 2>/dev/null | grep -q 'tokenizer.chat_template'; then
    echo "quickstart: $BUILD/edgelm chat -m $model   (Ctrl-D quits, Ctrl-C stops a reply)"
    exec $EMU "$BUILD/edgelm" chat -m "$model"
fi
echo "quickstart: $BUILD/edgelm generate -m $model -p \"$prompt\" -n 128" >&2
printf '%s' "$prompt"
$EMU "$BUILD/edgelm" generate -m "$model" -p "$prompt" -n 128 --temp 0
echo
