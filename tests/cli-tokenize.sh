# edgelm tokenize: stories260K's SentencePiece vocabulary directly, and the Hugging Face
# reference tokenizers (hf-reference/{llama,gpt2}, gpt2-tokenizer) after `edgelm convert
# --vocab-only` (skipped while this build has no convert command).
. tests/tf-lib.sh
stories="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$stories" ]; then
    # PROVENANCE.md: "Once upon a time" encodes to [1, 403, 407, 261, 378] (BOS added).
    check tokenize_stories260K_bos sh -c \
        "test \"\$($EMU '$EDGELM' tokenize -m '$stories' -p 'Once upon a time')\" = '1 403 407 261 378'"
    check tokenize_stories260K_no_special sh -c \
        "test \"\$($EMU '$EDGELM' tokenize -m '$stories' -p 'Once upon a time' --no-special --ids-only)\" = '403 407 261 378'"
    # Special-token text in the input is recognised with --no-special too.
    check tokenize_stories260K_special_text sh -c \
        "test \"\$($EMU '$EDGELM' tokenize -m '$stories' -p '<s>Once</s>' --no-special)\" = '1 441 416 331 2'"
    printf 'Once upon a time' > "$TMPD/prompt.txt"
    check tokenize_stories260K_file_and_pieces sh -c \
        "$EMU '$EDGELM' tokenize -m '$stories' -f '$TMPD/prompt.txt' --pieces > '$TMPD/p' && grep -q \"^403	'▁Once'\$\" '$TMPD/p' && test \$(wc -l < '$TMPD/p') -eq 5"
else
    skip_fixture tokenize_stories260K "fixture $stories is absent"
fi
check tokenize_reports_errors sh -c \
    "! $EMU '$EDGELM' tokenize -m '$TMPD/missing.gguf' -p x 2> '$TMPD/e' && grep -q missing.gguf '$TMPD/e'"
check tokenize_usage_error sh -c "$EMU '$EDGELM' tokenize -p x 2> /dev/null; test \$? -eq 2"

if ! $EMU "$EDGELM" convert --help > /dev/null 2>&1; then
    skip tokenize_hf_reference "this edgelm has no convert command yet"
else
    for m in llama gpt2; do
        dir="$FIXTURES/hf-reference/$m"
        if [ -f "$dir/tokenizer_ref.json" ]; then
            # Every tokenizer_ref.json string gives exactly the listed ids (BOS for llama).
            check "tokenize_hf_reference_$m" sh -c \
                "$EMU '$EDGELM' convert '$dir' -o '$TMPD/$m.gguf' --vocab-only > /dev/null 2>&1 && $EMU '$EDGELM' tokenize -m '$TMPD/$m.gguf' --compare '$dir/tokenizer_ref.json'"
        else
            skip_fixture "tokenize_hf_reference_$m" "fixture $dir is absent"
        fi
    done
    g="$FIXTURES/gpt2-tokenizer"
    if [ -f "$g/encoder.json" ]; then
        check tokenize_gpt2_converted sh -c \
            "$EMU '$EDGELM' convert '$g' -o '$TMPD/gpt2.gguf' --vocab-only > /dev/null 2>&1 &&
             test \"\$($EMU '$EDGELM' tokenize -m '$TMPD/gpt2.gguf' -p ' Hello, world!')\" = '18435 11 995 0' &&
             test \"\$($EMU '$EDGELM' tokenize -m '$TMPD/gpt2.gguf' -p 'Hi<|endoftext|>')\" = '17250 50256'"
    else
        skip_fixture tokenize_gpt2_converted "fixture $g is absent"
    fi
fi
finish
