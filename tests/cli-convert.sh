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
# every converter maps every source tensor or names it (a warning; --strict refuses): the
# fixtures convert under --strict, and a copy with one extra tensor (scripts/add_safetensors_tensor.py)
# is named by the decoder (llama) and T5 converters and refused under --strict
for arch in llama t5; do
    src="$FIXTURES/hf-reference/$arch"
    if [ -f "$src/model.safetensors" ]; then
        mkdir -p "$TMPD/x-$arch"
        for f in "$src"/*; do case "$f" in *.safetensors|*.bin) ;; *) [ -f "$f" ] && cp "$f" "$TMPD/x-$arch/" ;; esac; done
        python3 scripts/add_safetensors_tensor.py "$src/model.safetensors" "$TMPD/x-$arch/model.safetensors" extra.adapter.weight
        check convert_${arch}_strict_clean sh -c "$EMU '$EDGELM' convert '$src' -o '$TMPD/s-$arch.gguf' --strict 2> '$TMPD/e' && ! grep -q warning '$TMPD/e'"
        check convert_${arch}_names_unmapped sh -c "$EMU '$EDGELM' convert '$TMPD/x-$arch' -o '$TMPD/x-$arch.gguf' 2> '$TMPD/e' && grep -q 'warning: extra.adapter.weight \[2, 3\] is not converted' '$TMPD/e'"
        check convert_${arch}_strict_refuses_unmapped sh -c "! $EMU '$EDGELM' convert '$TMPD/x-$arch' -o '$TMPD/y-$arch.gguf' --strict 2> '$TMPD/e' && grep -q 'strict: 1 source tensor is not converted (first: extra.adapter.weight)' '$TMPD/e' && test ! -e '$TMPD/y-$arch.gguf'"
    else
        skip_fixture convert_${arch}_names_unmapped "fixture $src is absent"
    fi
done
# ELMo (bilm-tf fixture): every dataset of the weights file is converted (--strict passes without
# a warning); an options.json with one LSTM layer leaves the file's Cell1 datasets unread: each
# is named, and --strict refuses without writing
elmo_fx="$FIXTURES/elmo-bilm-tf/model"
if [ -f "$elmo_fx/lm_weights.hdf5" ]; then
    sed 's/"n_layers": 2/"n_layers": 1/' "$elmo_fx/options.json" > "$TMPD/elmo-1layer.json"
    check convert_elmo_strict_clean sh -c "$EMU '$EDGELM' convert '$elmo_fx' -o '$TMPD/elmo.gguf' --strict 2> '$TMPD/e' && ! grep -q warning '$TMPD/e'"
    check convert_elmo_names_unmapped sh -c "$EMU '$EDGELM' convert --options '$TMPD/elmo-1layer.json' --weights '$elmo_fx/lm_weights.hdf5' -o '$TMPD/elmo1.gguf' 2> '$TMPD/e' && test \$(grep -c '^warning: RNN_[01]/RNN/MultiRNNCell/Cell1/LSTMCell/[A-Z_0]* \[[0-9, ]*\] is not converted' '$TMPD/e') -eq 6 && grep -q '^warning: 6 source tensors dropped' '$TMPD/e'"
    check convert_elmo_strict_refuses_unmapped sh -c "! $EMU '$EDGELM' convert --options '$TMPD/elmo-1layer.json' --weights '$elmo_fx/lm_weights.hdf5' -o '$TMPD/elmo2.gguf' --strict 2> '$TMPD/e' && grep -q 'strict: 6 source tensors are not converted (first: RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/B)' '$TMPD/e' && test ! -e '$TMPD/elmo2.gguf'"
else
    skip_fixture convert_elmo_names_unmapped "fixture $elmo_fx is absent"
fi
finish
