# Reliability checks from the command line (issue 14): NaN/inf weights reported by convert and
# quantize (--strict refuses), and the findings of the first fuzzing run that show at the CLI.
. tests/tf-lib.sh
BUILD=${BUILD:-build}
llama="$FIXTURES/hf-reference/llama"
if [ -f "$llama/config.json" ]; then
    mkdir -p "$TMPD/nan"
    for f in config.json generation_config.json special_tokens_map.json tokenizer.model tokenizer_config.json; do
        cp "$llama/$f" "$TMPD/nan/"
    done
    python3 scripts/poison_safetensors.py "$llama/model.safetensors" "$TMPD/nan/model.safetensors" \
        model.layers.0.self_attn.q_proj.weight
    check convert_warns_nan_weights sh -c "$EMU '$EDGELM' convert '$TMPD/nan' -o '$TMPD/nan.gguf' --outtype f32 2> '$TMPD/e' &&
        grep -q 'warning: tensor model.layers.0.self_attn.q_proj.weight holds 3 NaN/inf values' '$TMPD/e'"
    check convert_strict_refuses_nan sh -c "! $EMU '$EDGELM' convert '$TMPD/nan' -o '$TMPD/nan2.gguf' --strict 2> '$TMPD/e' &&
        grep -q 'q_proj.weight holds 3 NaN/inf values .*--strict' '$TMPD/e' && test ! -e '$TMPD/nan2.gguf'"
    check quantize_warns_nan_weights sh -c "$EMU '$EDGELM' quantize '$TMPD/nan.gguf' '$TMPD/q.gguf' Q4_0 -q > /dev/null 2> '$TMPD/e' &&
        grep -q 'warning: tensor blk.0.attn_q.weight holds 3 NaN/inf values' '$TMPD/e'"
    check quantize_strict_refuses_nan sh -c "! $EMU '$EDGELM' quantize '$TMPD/nan.gguf' '$TMPD/q2.gguf' Q4_0 --strict 2> '$TMPD/e' &&
        grep -q 'blk.0.attn_q.weight holds 3 NaN/inf values' '$TMPD/e' && test ! -e '$TMPD/q2.gguf'"
    # the disk space needed is stated before writing with -v (on a terminal without it), not with -q
    check quantize_states_space sh -c "$EMU '$EDGELM' quantize '$TMPD/nan.gguf' '$TMPD/q3.gguf' Q8_0 -v > /dev/null 2> '$TMPD/e' &&
        grep -Eq '^writing $TMPD/q3.gguf: [0-9.]+ MB, [0-9.]+ MB free' '$TMPD/e' &&
        $EMU '$EDGELM' convert '$TMPD/nan' -o '$TMPD/c3.gguf' -v 2> '$TMPD/e' && grep -Eq '^writing $TMPD/c3.gguf: [0-9.]+ MB' '$TMPD/e' &&
        $EMU '$EDGELM' quantize '$TMPD/nan.gguf' '$TMPD/q3.gguf' Q8_0 -v -q > /dev/null 2> '$TMPD/e' && ! grep -q '^writing' '$TMPD/e'"
    # the NaN model runs through the kernels (UBSan aborts on undefined behaviour in test-asan)
    check nan_model_generates_without_ub sh -c "$EMU '$EDGELM' generate -m '$TMPD/q.gguf' -p 'Once upon' -n 2 --temp 0 > /dev/null 2>&1 &&
        $EMU '$EDGELM' generate -m '$TMPD/q.gguf' -p 'Once upon' -n 2 --temp 0.8 --top-k 5 --seed 1 > /dev/null 2>&1"
else
    skip_fixture convert_warns_nan_weights "fixture $llama is absent"
fi
gpt2tok="$FIXTURES/gpt2-tokenizer"
if [ -f "$gpt2tok/encoder.json" ]; then
    edgelm convert "$gpt2tok" -o "$TMPD/gpt2v.gguf" --vocab-only 2>/dev/null
    # a long single line tokenizes in linear time (20 MB natively, 2 MB under an emulator); the
    # budget is generous (about 10x the time measured here: docs/FORMAT.md "Limits")
    mb=20; [ -n "$EMU" ] && mb=2
    python3 -c "
import random, sys
random.seed(1)
w = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'caf\u00e9', '\u65e5\u672c', '!!', '1234']
out = []
n = 0
while n < $mb * 1000000:
    t = random.choice(w)
    out.append(t)
    n += len(t.encode()) + 1
sys.stdout.write(' '.join(out))" > "$TMPD/long.txt"
    check tokenize_long_line sh -c "timeout 300 $EMU '$EDGELM' tokenize -m '$TMPD/gpt2v.gguf' -f '$TMPD/long.txt' > '$TMPD/ids' &&
        test \$(wc -w < '$TMPD/ids') -gt $((mb * 150000))"
    rm -f "$TMPD/long.txt" "$TMPD/ids"
    head -c 70000000 /dev/zero | tr '\000' 'a' > "$TMPD/huge.txt"
    check tokenize_over_limit_refused sh -c "! $EMU '$EDGELM' tokenize -m '$TMPD/gpt2v.gguf' -f '$TMPD/huge.txt' > /dev/null 2> '$TMPD/e' &&
        grep -q 'over the limit of 64 MiB' '$TMPD/e'"
    rm -f "$TMPD/huge.txt"
else
    skip_fixture tokenize_long_line "fixture $gpt2tok is absent"
fi
t5="$FIXTURES/hf-reference/t5"
if [ -f "$t5/config.json" ]; then
    edgelm convert "$t5" -o "$TMPD/t5.gguf" 2>/dev/null
    # regression: -c 1 generated nothing and exited 0
    check t5_ctx_1_is_an_error sh -c "! $EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p 'translate English to German: hi' -c 1 > '$TMPD/o' 2> '$TMPD/e' &&
        grep -q 'c 1 leaves no decoder position' '$TMPD/e'"
    check t5_ctx_2_generates sh -c "$EMU '$EDGELM' generate -m '$TMPD/t5.gguf' -p 'translate English to German: hi' -c 2 > '$TMPD/o' 2> '$TMPD/e'"
else
    skip_fixture t5_ctx_1_is_an_error "fixture $t5 is absent"
fi
# EDGELM_REQUIRE_FIXTURES=1 (set by .ci/run) turns a skip for a missing fixture into a failure
check require_fixtures_fails_c_test sh -c "! EDGELM_FIXTURES=/nonexistent EDGELM_REQUIRE_FIXTURES=1 $EMU '$BUILD/tests/test-gguf' stories260k > '$TMPD/o' &&
    grep -q 'FAIL gguf_stories260k' '$TMPD/o' && EDGELM_FIXTURES=/nonexistent EDGELM_REQUIRE_FIXTURES=0 $EMU '$BUILD/tests/test-gguf' stories260k | grep -q '^skip'"
check require_fixtures_fails_cli_test sh -c "! EDGELM_FIXTURES=/nonexistent EDGELM_REQUIRE_FIXTURES=1 sh tests/cli-info.sh > '$TMPD/o' &&
    grep -q 'FAIL info_stories260K: fixture' '$TMPD/o'"
finish
