# edgelm info: prints a llama.cpp-made GGUF file; reports malformed and missing files on stderr
# with a non-zero exit.
. tests/tf-lib.sh
model="$FIXTURES/stories260K/stories260K.gguf"

if [ -f "$model" ]; then
    edgelm info "$model" > "$TMPD/info" 2> "$TMPD/info.err"
    rc=$?
    check info_stories260K_exits_0 test "$rc" -eq 0
    check info_prints_version_3 grep -q '^version: *3$' "$TMPD/info"
    check info_prints_arch grep -q '^ *general.architecture  *string  *"llama"$' "$TMPD/info"
    check info_prints_tensor_count grep -q '^tensors: *48$' "$TMPD/info"
    check info_prints_19_keys grep -q '^metadata: *19 keys$' "$TMPD/info"
    check info_prints_token_embd_line grep -Eq '^ +0 +token_embd\.weight +f32 +\[64, 512\] +0 +131072$' "$TMPD/info"
    check info_prints_ffn_down_line grep -Eq '^ +45 +blk\.4\.ffn_down\.weight +f32 +\[172, 64\] +1082880 +44032$' "$TMPD/info"
    check info_prints_tokens_summary grep -q 'tokenizer.ggml.tokens *array<string> *512 items: "<unk>", "<s>"' "$TMPD/info"
    check info_prints_totals grep -q '^total: *48 tensors, 1171200 bytes, 292800 params, 32.000 bits per weight$' "$TMPD/info"
    check info_prints_epsilon grep -q 'layer_norm_rms_epsilon *float32 *1e-05$' "$TMPD/info"
    check info_nothing_on_stderr test ! -s "$TMPD/info.err"

    # the same file cut inside the tokenizer array
    head -c 3000 "$model" > "$TMPD/cut.gguf"
    check info_truncated_fails sh -c \
        "! $EMU '$EDGELM' info '$TMPD/cut.gguf' > '$TMPD/o' 2> '$TMPD/e' && grep -q 'past the end' '$TMPD/e' && test ! -s '$TMPD/o'"
    # --memory: weights, KV cache (f16: 2 x 5 layers x 64 positions x 32 (4 KV heads of 8) x 2 bytes = 40 KiB + headers)
    check info_memory sh -c "$EMU '$EDGELM' info '$model' --memory -c 64 > '$TMPD/m' &&
        grep -q '^memory of .* at 64 positions (f16 KV cache' '$TMPD/m' && grep -Eq '^  KV cache: +0\.04 MiB' '$TMPD/m' &&
        grep -Eq '^  total: +[0-9]+\.[0-9]+ MiB' '$TMPD/m'"
    check info_memory_bad_ctx sh -c "! $EMU '$EDGELM' info '$model' --memory -c x 2> '$TMPD/e' && grep -q -e \"-c 'x' is not an integer\" '$TMPD/e'"
else
    skip_fixture info_stories260K "fixture $model is absent"
fi

printf 'GGUF\004\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' > "$TMPD/v4.gguf"
check info_future_version_fails sh -c \
    "! $EMU '$EDGELM' info '$TMPD/v4.gguf' > '$TMPD/o' 2> '$TMPD/e' && grep -q 'version 4' '$TMPD/e' && test ! -s '$TMPD/o'"
printf 'not a gguf file at all' > "$TMPD/magic.gguf"
check info_bad_magic_fails sh -c \
    "! $EMU '$EDGELM' info '$TMPD/magic.gguf' > '$TMPD/o' 2> '$TMPD/e' && grep -q 'magic' '$TMPD/e'"
check info_missing_file_fails sh -c \
    "! $EMU '$EDGELM' info '$TMPD/none.gguf' > '$TMPD/o' 2> '$TMPD/e' && grep -q 'cannot open' '$TMPD/e' && test ! -s '$TMPD/o'"
check info_no_argument_fails sh -c "! $EMU '$EDGELM' info > '$TMPD/o' 2>&1 && grep -q '^edgelm info: no file: give the file: edgelm info FILE.gguf$' '$TMPD/o'"
finish
