# Replays tests/fuzz/regress/<harness>/* through each fuzz harness linked with the plain driver
# ($BUILD/fuzz-regress/fuzz_<harness>, built by `make tests`): every input that once crashed a
# harness (or a finding of issue 14) must now run clean, in the normal and the ASan build.
. tests/tf-lib.sh
BUILD=${BUILD:-build}
vocab="$TMPD/vocab"
mkdir -p "$vocab"
export EDGELM_FUZZ_VOCAB_DIR="$vocab" TMPDIR="$TMPD"
have_vocab=1
for pair in "bpe:$FIXTURES/gpt2-tokenizer" "spm:$FIXTURES/llama2-tokenizer/tokenizer.model" \
    "wpm:$FIXTURES/hf-reference/bert" "ugm:$FIXTURES/hf-reference/t5"; do
    k=${pair%%:*}; src=${pair#*:}
    [ -e "$src" ] && edgelm convert "$src" -o "$vocab/$k.gguf" --vocab-only > /dev/null 2>&1 || have_vocab=0
done
for bin in "$BUILD"/fuzz-regress/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); h=${name#fuzz_}
    case "$h" in tok_*) if [ "$have_vocab" = 0 ]; then skip_fixture "$name" "fixture tokenizers are absent"; continue; fi ;; esac
    files=$(find "tests/fuzz/regress/$h" -type f ! -name '*.md' 2>/dev/null | sort)
    # a harness without regression files still runs once (an empty input and a short text)
    if [ -z "$files" ]; then
        : > "$TMPD/empty"; printf 'Hello world' > "$TMPD/hello"
        files="$TMPD/empty $TMPD/hello"
    fi
    check "$name" sh -c "timeout 300 $EMU '$bin' $(echo $files) > '$TMPD/log' 2>&1 || { cat '$TMPD/log'; exit 1; }"
done
finish
