# The option parser of every subcommand (examples/edgelm/opts.c), table-driven: --help (and
# `edgelm help CMD`), every spelling of every option recognised, unknown options, missing values,
# non-numbers, out-of-range numbers and unknown enum values: exit status and the one-line message.
# Then the behaviours behind the common options: -f - (stdin), --stop, --echo, the timing
# summary, embed rows for blank lines and JSON output, and docs/cli.md being current.
. tests/tf-lib.sh
CMDS="info bench convert quantize perplexity kld tokenize generate chat eval elmo t5-bench fill-mask embed similarity nsp classify bert-bench elmo-bench tag qa prompt-classify finetune serve"

# fails NAME EXPECTED-LINE ARGS...: exit status 2 and exactly one line on stderr, equal to EXPECTED-LINE.
fails() {
    name=$1; want=$2; shift 2
    check "$name" sh -c '
        want=$1; shift
        "$@" > /dev/null 2> "$TMPD/err.$$"; rc=$?
        got=$(cat "$TMPD/err.$$")
        [ "$rc" -eq 2 ] || { echo "exit status $rc, want 2"; cat "$TMPD/err.$$"; exit 1; }
        [ "$(wc -l < "$TMPD/err.$$")" -eq 1 ] || { echo "not one line:"; cat "$TMPD/err.$$"; exit 1; }
        [ "$got" = "$want" ] || { echo "got:  $got"; echo "want: $want"; exit 1; }' sh "$want" $EMU "$EDGELM" "$@"
}

for c in $CMDS; do
    check "help_$c" sh -c "$EMU '$EDGELM' $c --help > '$TMPD/h1' && head -n 1 '$TMPD/h1' | grep -q '^usage: edgelm $c ' && \
        $EMU '$EDGELM' $c -h | cmp - '$TMPD/h1' && $EMU '$EDGELM' help $c | cmp - '$TMPD/h1'"
    fails "unknown_option_$c" "edgelm $c: unknown option '--bogus': see 'edgelm $c --help'" $c --bogus
    # Every spelling the help lists is recognised (with a trailing unknown option, so nothing runs).
    check "spellings_$c" sh -c "
        $EMU '$EDGELM' $c --help | grep -oE '^  -[-a-z0-9]+(, -[-a-z0-9]+)*' | tr ',' '\n' | tr -d ' ' | grep -v '^-h$\|^--help$' > '$TMPD/sp'
        while read -r opt; do
            timeout 60 $EMU '$EDGELM' $c \"\$opt\" --bogus-end 2> '$TMPD/e' > /dev/null
            if grep -q \"unknown option '\$opt'\" '$TMPD/e'; then echo \"\$opt not recognised\"; exit 1; fi
        done < '$TMPD/sp'"
done

# Missing values, non-numbers, out-of-range numbers, unknown enum values: cmd | args | message.
while IFS='|' read -r name want args; do
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086
    fails "$name" "$want" $args
done <<'EOF'
generate_missing_value|edgelm generate: -n needs a value: give -n N|generate -m x.gguf -n
generate_n_not_integer|edgelm generate: -n 'abc' is not an integer: give a number in [-1, 16777216]|generate -m x.gguf -n abc
generate_predict_not_integer|edgelm generate: --predict '1.5' is not an integer: give a number in [-1, 16777216]|generate -m x.gguf --predict 1.5
generate_top_p_range|edgelm generate: --top-p 2 is out of range: give a number in (0, 1]|generate -m x.gguf --top-p 2
generate_top_p_zero|edgelm generate: --top-p 0 is out of range: give a number in (0, 1]|generate -m x.gguf --top-p 0
generate_temp_negative|edgelm generate: --temp -1 is out of range: give a number in [0, 1000000]|generate -m x.gguf --temp -1
generate_threads_zero|edgelm generate: -t 0 is out of range: give a number in [1, 1024]|generate -m x.gguf -t 0
generate_threads_too_many|edgelm generate: --threads 1025 is out of range: give a number in [1, 1024]|generate -m x.gguf --threads 1025
generate_ctx_zero|edgelm generate: -c 0 is out of range: give a number in [1, 16777216]|generate -m x.gguf -c 0
generate_ctx_not_number|edgelm generate: --ctx-size 'x' is not an integer: give a number in [1, 16777216]|generate -m x.gguf --ctx-size x
generate_seed_negative|edgelm generate: --seed '-3' is not an unsigned integer: give an unsigned integer|generate -m x.gguf --seed -3
generate_beams_range|edgelm generate: --beams 17 is out of range: give a number in [1, 16]|generate -m x.gguf --beams 17
generate_needs_model|edgelm generate: -m/--model is required: give -m FILE|generate -p hello
chat_template_unknown|edgelm chat: --chat-template 'foo' is not known: use one of chatml, llama2, llama3, zephyr, phi3, gemma, mistral, granite|chat -m x.gguf --chat-template foo
chat_reasoning_budget|edgelm chat: --reasoning-budget '5' is not valid: give -1 (unrestricted) or 0 (thinking off); a token budget is not supported|chat -m x.gguf --reasoning-budget 5
chat_reasoning_unknown|edgelm chat: -rea 'maybe' is not known: use one of on, off, auto|chat -m x.gguf -rea maybe
chat_reasoning_contradiction|edgelm chat: --reasoning on contradicts --no-think / --reasoning-budget 0: give only one of them|chat -m x.gguf --reasoning on --no-think
chat_template_and_file|edgelm chat: --chat-template and --chat-template-file exclude each other: give only one of them|chat -m x.gguf --chat-template chatml --chat-template-file t.jinja
chat_min_p_range|edgelm chat: --min-p 1.5 is out of range: give a number in [0, 1]|chat -m x.gguf --min-p 1.5
eval_needs_output|edgelm eval: -o/--output is required: give -o FILE.npy|eval -m x.gguf --ids 1
embed_pooling_unknown|edgelm embed: --pooling 'foo' is not known: use one of cls, mean, max, last, none|embed -m x.gguf -p a --pooling foo
embed_batch_zero|edgelm embed: --batch 0 is out of range: give a number in [1, 1024]|embed -m x.gguf -p a --batch 0
fill_mask_top_k|edgelm fill-mask: --top-k 'many' is not an integer: give a number in [1, 1000000]|fill-mask -m x.gguf -p a --top-k many
nsp_needs_b|edgelm nsp: -b is required: give -b TEXT|nsp -m x.gguf -a one
similarity_pooling_none|edgelm similarity: --pooling none gives no sentence vector: use cls, mean, max or last|similarity -m x.gguf -f a --pooling none
bert_bench_format|edgelm bert-bench: -o 'xml' is not known: use one of md, csv, json|bert-bench -m x.gguf -o xml
bert_bench_threads|edgelm bert-bench: -t '0' is not valid: give up to 16 comma-separated positive integers, e.g. 1,2|bert-bench -m x.gguf -t 0
t5_bench_reps|edgelm t5-bench: -r 0 is out of range: give a number in [1, 1000]|t5-bench -m x.gguf -r 0
t5_bench_format|edgelm t5-bench: --output 'txt' is not known: use one of md, csv, json|t5-bench -m x.gguf --output txt
elmo_bench_format|edgelm elmo-bench: -o 'txt' is not known: use one of md, csv, json|elmo-bench -m x.gguf -o txt
elmo_gamma_not_number|edgelm elmo: --gamma 'abc' is not a number: give a number in [-1000000, 1000000]|elmo -m x.gguf -f a -o d --gamma abc
elmo_batch_zero|edgelm elmo: --batch 0 is out of range: give a number in [1, 4096]|elmo -m x.gguf -f a -o d --batch 0
elmo_mix_bad|edgelm elmo: --mix '1,x' is not valid: give "equal" or one comma-separated number per layer, e.g. 0,0,0|elmo -m x.gguf -f a -o d --mix 1,x
elmo_top_and_average|edgelm elmo: --all, --top, --average and --mix are alternatives: give only one of them|elmo -m x.gguf -f a -o d --top --average
perplexity_ctx_one|edgelm perplexity: -c 1 is out of range: give a number in [2, 65536]|perplexity -m x.gguf -f t -c 1
kld_needs_m2|edgelm kld: -m2/--model2 is required: give -m2 FILE|kld -m x.gguf -f t
bench_format|edgelm bench: -o 'xml' is not known: use one of md, csv, json, table|bench --kernels -o xml
bench_reps|edgelm bench: --reps 0 is out of range: give a number in [1, 64]|bench --kernels --reps 0
bench_neither|edgelm bench: neither --kernels nor -m given: give one of them (see 'edgelm bench --help')|bench
quantize_threads|edgelm quantize: -t 0 is out of range: give a number in [1, 1024]|quantize a b Q8_0 -t 0
convert_outtype|edgelm convert: --outtype 'q9' is not valid: use one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M (= Q3_K), Q3_K_L, Q4_K_S, Q4_K_M (= Q4_K), Q5_K_S, Q5_K_M (= Q5_K), Q6_K, IQ4_NL, IQ4_XS|convert src -o x.gguf --outtype q9
convert_no_source|edgelm convert: no source: give the checkpoint folder or file first: edgelm convert SRC -o OUT.gguf|convert -o x.gguf
tokenize_two_inputs|edgelm tokenize: no single input: give exactly one of -p TEXT, -f FILE or --compare REF.json|tokenize -m x.gguf -p a -f b
info_two_files|edgelm info: unexpected argument 'b.gguf': see 'edgelm info --help'|info a.gguf b.gguf
tag_needs_prompt|edgelm tag: no text: give -p TEXT or -f FILE|tag -m x.gguf
tag_prompt_and_file|edgelm tag: -p and -f are alternatives: give -p TEXT or -f FILE|tag -m x.gguf -p a -f b
fill_mask_needs_text|edgelm fill-mask: no text: give -p TEXT or -f FILE|fill-mask -m x.gguf
classify_needs_text|edgelm classify: no text: give -p TEXT or -f FILE|classify -m x.gguf
fill_mask_unreadable_file|edgelm fill-mask: cannot read '/nonexistent.txt': No such file or directory: check the path and its permissions|fill-mask -m x.gguf -f /nonexistent.txt
qa_max_seq_len|edgelm qa: --max-seq-len 2 is out of range: give a number in [4, 1048576]|qa -m x.gguf -q a -c b --max-seq-len 2
qa_needs_context|edgelm qa: -c/--context is required: give -c TEXT|qa -m x.gguf -q a
prompt_classify_needs_text|edgelm prompt-classify: no text: give -p TEXT or -f FILE|prompt-classify -m x.gguf --verbalizer a=b;c=d
finetune_task_unknown|edgelm finetune: --task 'mlm' is not known: use one of classify, tag, qa|finetune -m x.gguf --task mlm -f t --save o.gguf
finetune_lr_zero|edgelm finetune: --lr 0 is out of range: give a number in (0, 1]|finetune -m x.gguf --task tag -f t --save o.gguf --lr 0
finetune_epochs_not_integer|edgelm finetune: --epochs 'x' is not an integer: give a number in [1, 100000]|finetune -m x.gguf --task tag -f t --save o.gguf --epochs x
serve_template_unknown|edgelm serve: --chat-template 'foo' is not known: use one of chatml, llama2, llama3, zephyr, phi3, gemma, mistral, granite|serve -m x.gguf --chat-template foo
serve_port_range|edgelm serve: --port 70000 is out of range: give a number in [0, 65535]|serve -m x.gguf --port 70000
serve_needs_model|edgelm serve: -m/--model is required: give -m FILE|serve --port 0
serve_key_twice|edgelm serve: --api-key and --api-key-file exclude each other: give only one of them|serve -m x.gguf --api-key k --api-key-file f
help_unknown_command|edgelm help: unknown command 'nope': see 'edgelm help'|help nope
EOF

# Runtime errors in the same style as option errors: exactly one line on stderr, "edgelm CMD:
# what went wrong: what to do" (the last ": " part starts with what to do), exit status 1.
# fails_to_run NAME CMD ARGS... (CMD: the subcommand, the first edgelm argument)
fails_to_run() {
    _check=$1; shift
    check "$_check" sh -c '
        cmd=$1
        shift
        "$@" > /dev/null 2> "$TMPD/rerr.$$" < /dev/null; rc=$?
        [ "$rc" -eq 1 ] || { echo "exit status $rc, want 1"; cat "$TMPD/rerr.$$"; exit 1; }
        [ "$(wc -l < "$TMPD/rerr.$$")" -eq 1 ] || { echo "not one line:"; cat "$TMPD/rerr.$$"; exit 1; }
        grep -q "^edgelm $cmd: .*: " "$TMPD/rerr.$$" || { echo "not edgelm $cmd: what: todo:"; cat "$TMPD/rerr.$$"; exit 1; }
        todo=$(sed "s/.*: //" "$TMPD/rerr.$$")
        case "$todo" in
        check\ *|give\ *|use\ *|run\ *|convert\ *|see\ *|free\ *) ;;
        *) echo "no what-to-do at the end: $todo"; exit 1 ;;
        esac' sh "$1" $EMU "$EDGELM" "$@"
}
printf 'not a model\n' > "$TMPD/junk.gguf"
printf 'hello\n' > "$TMPD/text.txt"
while IFS='|' read -r name args; do
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086
    for f in /nonexistent.gguf "$TMPD/junk.gguf"; do
        a=$(echo "$args" | sed "s|MODEL|$f|g; s|TEXT|$TMPD/text.txt|g; s|OUT|$TMPD/out|g")
        fails_to_run "runtime_error_${name}_$(basename "$f" .gguf)" $a
    done
done <<'EOF2'
generate|generate -m MODEL -p hi
chat|chat -m MODEL -p hi
eval|eval -m MODEL --ids 1 -o OUT.npy
tokenize|tokenize -m MODEL -p hi
perplexity|perplexity -m MODEL -f TEXT
kld|kld -m MODEL -m2 MODEL -f TEXT
embed|embed -m MODEL -p hi
fill-mask|fill-mask -m MODEL -p hi
nsp|nsp -m MODEL -a hi -b ho
classify|classify -m MODEL -p hi
similarity|similarity -m MODEL -f TEXT
tag|tag -m MODEL -p hi
qa|qa -m MODEL -q hi -c ho
prompt-classify|prompt-classify -m MODEL --verbalizer a=b;c=d -p hi
finetune|finetune -m MODEL --task classify -f TEXT --save OUT.gguf
elmo|elmo -m MODEL -f TEXT -o OUT.hdf5
t5-bench|t5-bench -m MODEL
elmo-bench|elmo-bench -m MODEL
bert-bench|bert-bench -m MODEL
bench|bench -m MODEL
info|info MODEL
quantize|quantize MODEL OUT.gguf Q8_0
EOF2
fails_to_run runtime_error_convert_no_source convert /nonexistent -o "$TMPD/out.gguf"
fails_to_run runtime_error_convert_not_a_checkpoint convert "$TMPD/text.txt" -o "$TMPD/out.gguf"
# An unknown architecture: the supported ones listed from the architecture table, every family.
mkdir -p "$TMPD/foo" && printf '{"architectures": ["FooForCausalLM"], "model_type": "foo"}' > "$TMPD/foo/config.json"
fails_to_run runtime_error_convert_unknown_arch convert "$TMPD/foo" -o "$TMPD/out.gguf"
check convert_unknown_arch_lists_every_family sh -c "! $EMU '$EDGELM' convert '$TMPD/foo' -o '$TMPD/out.gguf' 2> '$TMPD/ua' &&
    grep -q 'FooForCausalLM.*: convert a supported checkpoint (LlamaForCausalLM, .*Qwen3ForCausalLM.*GPT2LMHeadModel (decoders); Bert\\*, .* (BERT); T5ForConditionalGeneration (T5 and flan-t5); .* (ELMo))\$' '$TMPD/ua'"

# -v on every command: --help lists it; where the command has no -v of its own, the common one
# ends the run with its exit status, time and peak RSS on stderr.
for c in $CMDS; do
    check "verbose_listed_$c" sh -c "$EMU '$EDGELM' $c --help | grep -Eq '^  -v, --verbose '"
done
check verbose_common_summary sh -c "$EMU '$EDGELM' info '$FIXTURES/stories260K/stories260K.gguf' -v 2>&1 > /dev/null |
        grep -Eq '^edgelm info: exit status 0 after [0-9]+\.[0-9]{2} s, peak RSS [0-9]+\.[0-9] MiB\$' &&
    ! $EMU '$EDGELM' info /nonexistent.gguf --verbose 2> '$TMPD/ve' &&
    test \$(wc -l < '$TMPD/ve') -eq 2 && tail -n 1 '$TMPD/ve' | grep -q '^edgelm info: exit status 1 after ' &&
    $EMU '$EDGELM' info '$FIXTURES/stories260K/stories260K.gguf' 2> '$TMPD/vn' > /dev/null && ! grep -q 'exit status' '$TMPD/vn'"

check docs_cli_md_current sh -c "$EMU '$EDGELM' help --markdown | cmp - docs/cli.md"

M="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$M" ]; then
    # -f - reads the prompt from stdin; the same text as -p.
    check generate_prompt_from_stdin sh -c "
        $EMU '$EDGELM' generate -m '$M' -p 'Once upon a time' -n 20 --temp 0 --no-perf > '$TMPD/p' &&
        printf 'Once upon a time\n' | $EMU '$EDGELM' generate -m '$M' -f - -n 20 --temp 0 --no-perf > '$TMPD/s' &&
        printf 'Once upon a time' > '$TMPD/prompt.txt' &&
        $EMU '$EDGELM' generate -m '$M' --file '$TMPD/prompt.txt' -n 20 --temp 0 --no-perf > '$TMPD/f' &&
        test -s '$TMPD/p' && cmp '$TMPD/p' '$TMPD/s' && cmp '$TMPD/p' '$TMPD/f'"
    # --stop cuts right before the stop string (the greedy text is known: cli-generate.sh).
    check generate_stop_cuts sh -c "
        $EMU '$EDGELM' generate -m '$M' -p 'Once upon a time' -n 60 --temp 0 --no-perf --stop 'park' --stop 'zzz' > '$TMPD/st' &&
        printf ', there was a little girl named Lily. She loved to play outside in the ' | cmp - '$TMPD/st'"
    check tokenize_file_and_stdin sh -c "$EMU '$EDGELM' tokenize -m '$M' -p 'Once upon a time' > '$TMPD/tk' && test -s '$TMPD/tk' &&
        printf 'Once upon a time' | $EMU '$EDGELM' tokenize -m '$M' -f - | cmp - '$TMPD/tk'"
    check generate_echo sh -c "
        $EMU '$EDGELM' generate -m '$M' -p 'Once upon a time' -n 5 --temp 0 --no-perf --echo > '$TMPD/e' &&
        grep -q '^Once upon a time, there' '$TMPD/e'"
    # The timing summary: four lines on stderr, numbers that add up; --no-perf silences it.
    check generate_timings sh -c "
        $EMU '$EDGELM' generate -m '$M' -p 'Once upon a time' -n 12 --temp 0 --ignore-eos > /dev/null 2> '$TMPD/t' &&
        grep -Eq '^edgelm perf: load time = [0-9]+\.[0-9]+ ms$' '$TMPD/t' &&
        grep -Eq '^edgelm perf: prompt eval = [0-9]+\.[0-9]+ ms / 5 tokens \([0-9]+\.[0-9]+ tokens/s\)$' '$TMPD/t' &&
        grep -Eq '^edgelm perf: generation = [0-9]+\.[0-9]+ ms / 12 tokens \([0-9]+\.[0-9]+ tokens/s\)$' '$TMPD/t' &&
        grep -Eq '^edgelm perf: total time = [0-9]+\.[0-9]+ ms, peak RSS = [0-9]+\.[0-9] MiB$' '$TMPD/t' &&
        $EMU '$EDGELM' generate -m '$M' -p 'Once' -n 3 --temp 0 --no-perf 2> '$TMPD/t2' > /dev/null && ! test -s '$TMPD/t2'"
    check embed_wrong_family sh -c "! $EMU '$EDGELM' embed -m '$M' -p hi 2> '$TMPD/wf' &&
        test \"\$(cat '$TMPD/wf')\" = \"edgelm embed: $M is a decoder (architecture llama): run it with edgelm generate, chat, eval, perplexity, kld or bench -m\""
    check elmo_wrong_family sh -c "! $EMU '$EDGELM' elmo -m '$M' -f - -o '$TMPD/x.hdf5' < /dev/null 2> '$TMPD/wf' && grep -q '^edgelm elmo: .* is a decoder (architecture llama): run it with edgelm generate' '$TMPD/wf'"
    # perplexity: llama-perplexity's per-chunk line and final estimate with its standard error;
    # the last chunk's running value and the final line agree.
    check perplexity_chunks_and_stderr sh -c "
        $EMU '$EDGELM' perplexity -m '$M' -f '$FIXTURES/stories260K/expected_greedy_200steps.txt' -c 64 > '$TMPD/ppl' &&
        grep -Eq '^\[1\][0-9]+\.[0-9]{4},\[2\][0-9.]+,\[3\][0-9.]+,\[4\]([0-9.]+),\$' '$TMPD/ppl' &&
        last=\$(sed -nE 's/.*\[4\]([0-9.]+),\$/\1/p' '$TMPD/ppl') &&
        grep -Eq \"^Final estimate: PPL = \$last \\+/- 0\\.[0-9]{5}\$\" '$TMPD/ppl' &&
        grep -q \"^perplexity: \$last over 197 tokens (4 chunks of 64)\$\" '$TMPD/ppl'"
    # Progress with an ETA only on a terminal (script(1) gives the command one).
    if command -v script > /dev/null; then
        check progress_on_a_terminal_only sh -c "
            script -qec \"$EMU '$EDGELM' perplexity -m '$M' -f '$FIXTURES/stories260K/expected_greedy_200steps.txt' -c 32\" /dev/null > '$TMPD/tty' &&
            grep -q 'ETA' '$TMPD/tty' &&
            $EMU '$EDGELM' perplexity -m '$M' -f '$FIXTURES/stories260K/expected_greedy_200steps.txt' -c 32 > /dev/null 2> '$TMPD/notty' &&
            ! grep -q 'ETA' '$TMPD/notty'"
    else
        skip progress_on_a_terminal_only "no script(1)"
    fi
    # -t default: the physical cores (distinct package/core ids in sysfs, else the online CPUs),
    # at most 4, or at most EDGELM_MAX_THREADS; a bad EDGELM_MAX_THREADS is named on stderr.
    cores=$(for t in /sys/devices/system/cpu/cpu[0-9]*/topology; do [ -r "$t/core_id" ] && echo "$(cat "$t/physical_package_id") $(cat "$t/core_id")"; done | sort -u | wc -l)
    [ "$cores" -gt 0 ] || cores=$(getconf _NPROCESSORS_ONLN)
    want=$cores; [ "$want" -le 4 ] || want=4
    check threads_default_physical_cores_capped sh -c "
        $EMU '$EDGELM' generate -m '$M' -p a -n 1 -v 2>&1 > /dev/null | grep -q ', $want threads,' &&
        EDGELM_MAX_THREADS=1 $EMU '$EDGELM' generate -m '$M' -p a -n 1 -v 2>&1 > /dev/null | grep -q ', 1 threads,' &&
        EDGELM_MAX_THREADS=x $EMU '$EDGELM' generate -m '$M' -p a -n 1 --no-perf 2>&1 > /dev/null |
            grep -q \"^edgelm: EDGELM_MAX_THREADS 'x' is not an integer in \\[1, 1024\\]: \""
    check generate_ctx_warning sh -c "
        $EMU '$EDGELM' generate -m '$M' -p 'Once' -n 2 --temp 0 --no-perf -c 4096 2> '$TMPD/w' > /dev/null &&
        grep -q '^edgelm generate: warning: -c 4096 is above the 2048 positions the model was trained on' '$TMPD/w'"
    # chat -p: the first message comes from -p, then stdin (empty here) ends the chat.
    check chat_prompt_first_message sh -c "
        $EMU '$EDGELM' chat -m '$M' --chat-template zephyr -p 'Hello' -n 8 --seed 1 -c 256 < /dev/null > '$TMPD/c' 2> '$TMPD/ce' &&
        grep -q '^> Hello$' '$TMPD/c' && grep -q '^edgelm perf: generation' '$TMPD/ce'"
else
    skip generate_common_options "fixture $M is absent"
fi

B="$FIXTURES/hf-reference/bert"
if [ -f "$B/config.json" ] && $EMU "$EDGELM" convert "$B" -o "$TMPD/b.gguf" > /dev/null 2>&1; then
    printf 'one\n\nthree\n' > "$TMPD/lines.txt"
    check generate_wrong_family sh -c "! $EMU '$EDGELM' generate -m '$TMPD/b.gguf' -p hi 2> '$TMPD/wf' && test \$(wc -l < '$TMPD/wf') -eq 1 &&
        grep -q 'is a BERT encoder (architecture bert): run it with edgelm embed, fill-mask, nsp, classify, tag, qa, prompt-classify, finetune, eval, kld or bert-bench\$' '$TMPD/wf'"
    # A missing head: the same sentence for fill-mask, nsp and classify.
    check bert_missing_head_messages sh -c "$EMU '$EDGELM' convert '$B' -o '$TMPD/nh.gguf' --no-heads -q 2> /dev/null &&
        ! $EMU '$EDGELM' fill-mask -m '$TMPD/nh.gguf' -p 'a [MASK]' 2> '$TMPD/h1' && ! $EMU '$EDGELM' nsp -m '$TMPD/nh.gguf' -a a -b b 2> '$TMPD/h2' &&
        ! $EMU '$EDGELM' classify -m '$TMPD/nh.gguf' -p a 2> '$TMPD/h3' && cat '$TMPD/h1' '$TMPD/h2' '$TMPD/h3' > '$TMPD/h' &&
        test \$(wc -l < '$TMPD/h') -eq 3 &&
        test \$(grep -Ec '^edgelm (fill-mask|nsp|classify): the model has no (masked-LM|next-sentence|sequence-classifier) head: convert a .* checkpoint \(without --no-heads\)\$' '$TMPD/h') -eq 3"
    check embed_row_per_line_blank_included sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/lines.txt' > '$TMPD/rows' && test \$(wc -l < '$TMPD/rows') -eq 3"
    # fill-mask: -f FILE and -f - (stdin) give what -p gives.
    check fill_mask_file_and_stdin sh -c "$EMU '$EDGELM' fill-mask -m '$TMPD/b.gguf' -p 'the [MASK] sat' > '$TMPD/fp' && test -s '$TMPD/fp' &&
        printf 'the [MASK] sat\n' > '$TMPD/fm.txt' && $EMU '$EDGELM' fill-mask -m '$TMPD/b.gguf' --file '$TMPD/fm.txt' | cmp - '$TMPD/fp' &&
        $EMU '$EDGELM' fill-mask -m '$TMPD/b.gguf' -f - < '$TMPD/fm.txt' | cmp - '$TMPD/fp'"
    check embed_stdin_rows sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f - < '$TMPD/lines.txt' | cmp - '$TMPD/rows'"
    check embed_npy_rows sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/lines.txt' -o '$TMPD/e.npy' 2> /dev/null && head -c 128 '$TMPD/e.npy' | grep -q \"'shape': (3, 64)\""
    check embed_none_npy_per_sentence sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -p 'a b' -p 'hello world again' --pooling none -o '$TMPD/n.npy' 2> /dev/null && head -c 128 '$TMPD/n.npy' | grep -q \"'shape': (2, [0-9]*, 64)\""
    if command -v python3 > /dev/null; then
        check embed_json_parses sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/lines.txt' --json --pooling max > '$TMPD/j' &&
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"object\"]==\"list\"; assert [e[\"index\"] for e in d[\"data\"]]==[0,1,2]; assert all(len(e[\"embedding\"])==64 for e in d[\"data\"])' '$TMPD/j'"
        check embed_json_none_nested sh -c "$EMU '$EDGELM' embed -m '$TMPD/b.gguf' -p 'a' -p 'a b c' --json --pooling none > '$TMPD/jn' &&
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=[len(e[\"embedding\"]) for e in d[\"data\"]]; assert n[0] < n[1], n; assert len(d[\"data\"][1][\"embedding\"][0])==64' '$TMPD/jn'"
        # similarity: the matrix equals the dot products of the normalized embeddings; -p gives
        # the nearest lines, the query's own line first.
        check similarity_matrix_and_top_k sh -c "
            printf 'the cat sat on the mat\na dog ran in the park\n\nthe cat sat on a mat\n' > '$TMPD/sim.txt' &&
            $EMU '$EDGELM' similarity -m '$TMPD/b.gguf' -f '$TMPD/sim.txt' > '$TMPD/mat' &&
            $EMU '$EDGELM' embed -m '$TMPD/b.gguf' -f '$TMPD/sim.txt' --normalize > '$TMPD/vec' &&
            python3 -c 'import sys; m=[[float(x) for x in l.split()] for l in open(sys.argv[1])]; v=[[float(x) for x in l.split()] for l in open(sys.argv[2])]; assert len(m)==4 and all(len(r)==4 for r in m); assert all(abs(m[i][j]-sum(a*b for a,b in zip(v[i],v[j])))<2e-4 for i in range(4) for j in range(4))' '$TMPD/mat' '$TMPD/vec' &&
            $EMU '$EDGELM' similarity -m '$TMPD/b.gguf' -f - -p 'the cat sat on a mat' --top-k 2 < '$TMPD/sim.txt' > '$TMPD/top' &&
            test \$(wc -l < '$TMPD/top') -eq 2 && head -n 1 '$TMPD/top' | grep -q '^1.0000	4	the cat sat on a mat\$'"
    else
        skip embed_json "no python3"
    fi
else
    skip embed_rows "fixture $B is absent or convert failed"
fi
finish
