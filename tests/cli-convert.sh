# edgelm convert: HF folders and tokenizer files to GGUF, from the command line.
. tests/tf-lib.sh
llama="$FIXTURES/hf-reference/llama"
if [ -f "$llama/config.json" ]; then
    check convert_llama_q8_0 sh -c \
        "$EMU '$EDGELM' convert '$llama' -o '$TMPD/l.gguf' --outtype q8_0 2> '$TMPD/e' && grep -q '^wrote .*llama, 21 tensors, 1000 tokens' '$TMPD/e' && ! grep -q \"\$(printf '\\r')\" '$TMPD/e' && test -s '$TMPD/l.gguf'"
    check convert_output_opens sh -c "$EMU '$EDGELM' info '$TMPD/l.gguf' > '$TMPD/i' && grep -q 'q8_0' '$TMPD/i'"
    check convert_unknown_outtype_refused sh -c "! $EMU '$EDGELM' convert '$llama' -o '$TMPD/x.gguf' --outtype q9_9 2> '$TMPD/e' && grep -q 'q9_9' '$TMPD/e'"
else
    skip_fixture convert_llama_q8_0 "fixture $llama is absent"
fi
gpt2tok="$FIXTURES/gpt2-tokenizer"
if [ -f "$gpt2tok/encoder.json" ]; then
    check convert_vocab_only_gpt2 sh -c \
        "$EMU '$EDGELM' convert '$gpt2tok' --vocab-only -o '$TMPD/v.gguf' 2> '$TMPD/e' && grep -q '50257 tokens' '$TMPD/e'"
else
    skip_fixture convert_vocab_only_gpt2 "fixture $gpt2tok is absent"
fi
mkdir -p "$TMPD/bert"
printf '{"architectures": ["FooForMaskedLM"], "model_type": "foo"}' > "$TMPD/bert/config.json"
check convert_refuses_unknown_arch sh -c \
    "! $EMU '$EDGELM' convert '$TMPD/bert' -o '$TMPD/b.gguf' 2> '$TMPD/e' && grep -q 'FooForMaskedLM' '$TMPD/e'"
check convert_missing_source sh -c "! $EMU '$EDGELM' convert '$TMPD/nope' -o '$TMPD/n.gguf' 2> '$TMPD/e' && grep -q 'nope' '$TMPD/e'"
finish
