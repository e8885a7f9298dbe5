# edgelm generate / eval / chat on the fixtures (stories260K, hf-tiny-lm-buddy/fake_gpt2).
# The primary acceptance check: greedy generation from BOS prints llama2.c's stories260K texts
# byte for byte (-n counts generated tokens, which from BOS equals run.c's `steps`).
. tests/tf-lib.sh
S="$FIXTURES/stories260K"
M="$S/stories260K.gguf"
if [ -f "$M" ]; then
    check generate_stories260k_greedy_200 sh -c \
        "$EMU '$EDGELM' generate -m '$M' -n 200 --temp 0 > '$TMPD/g200' && cmp '$TMPD/g200' '$S/expected_greedy_200steps.txt'"
    check generate_stories260k_greedy_256 sh -c \
        "$EMU '$EDGELM' generate -m '$M' -n 256 --temp 0 > '$TMPD/g256' && cmp '$TMPD/g256' '$S/expected_greedy_256steps.txt'"
    check generate_two_threads_same_text sh -c \
        "$EMU '$EDGELM' generate -m '$M' -n 256 --temp 0 -t 2 > '$TMPD/t2' && cmp '$TMPD/t2' '$S/expected_greedy_256steps.txt'"
    # With a prompt: the greedy continuation llama2.c prints for "Once upon a time" (see
    # stories260K/PROVENANCE.md), minus the prompt itself.
    check generate_prompt_continuation sh -c \
        "$EMU '$EDGELM' generate -m '$M' -p 'Once upon a time' -n 30 --temp 0 > '$TMPD/p' && \
         printf ', there was a little girl named Lily. She loved to play outside in the park. One day,' | cmp - '$TMPD/p'"
    check generate_seed_reproducible sh -c \
        "$EMU '$EDGELM' generate -m '$M' -n 60 --seed 7 --temp 1 --top-k 0 --top-p 0.9 > '$TMPD/s1' && \
         $EMU '$EDGELM' generate -m '$M' -n 60 --seed 7 --temp 1 --top-k 0 --top-p 0.9 > '$TMPD/s2' && \
         cmp '$TMPD/s1' '$TMPD/s2' && test -s '$TMPD/s1'"
    # .npy: 128-byte header (dict padded to 64-byte alignment) + float32 data.
    check eval_logits_npy sh -c \
        "$EMU '$EDGELM' eval -m '$M' --ids 1,403,407,261,378 -o '$TMPD/l.npy' && \
         test \$(wc -c < '$TMPD/l.npy') -eq \$((128 + 5 * 512 * 4)) && \
         head -c 128 '$TMPD/l.npy' | grep -q \"'shape': (5, 512)\""
    check eval_hidden_npy sh -c \
        "$EMU '$EDGELM' eval -m '$M' --ids 1,403,407 --what hidden -o '$TMPD/h.npy' && \
         test \$(wc -c < '$TMPD/h.npy') -eq \$((128 + 6 * 3 * 64 * 4)) && \
         head -c 128 '$TMPD/h.npy' | grep -q \"'shape': (6, 3, 64)\""
    check eval_rejects_bad_ids sh -c \
        "! $EMU '$EDGELM' eval -m '$M' --ids 1,99999 -o '$TMPD/x.npy' 2> '$TMPD/e' && grep -q 'outside the vocabulary' '$TMPD/e'"
    # chat: two turns through a pipe, then end of input; stories260K has no chat template of
    # its own, so one is named (and without it the command says so).
    check chat_two_turns_piped sh -c \
        "printf 'Hello\nTell me more\n' | $EMU '$EDGELM' chat -m '$M' --chat-template zephyr -n 20 --seed 1 -c 256 > '$TMPD/c' 2> '$TMPD/ce' && \
         test \$(grep -c '^> ' '$TMPD/c') -ge 2"
    check chat_context_shift sh -c \
        "printf 'one\ntwo\nthree\nfour\nfive\n' | $EMU '$EDGELM' chat -m '$M' --chat-template chatml -sys 'Be kind' -n 30 --seed 1 -c 160 > '$TMPD/c2' 2> '$TMPD/ce2'; \
         grep -q 'context full: dropped' '$TMPD/c2' '$TMPD/ce2'"
    check chat_needs_a_template sh -c \
        "! (printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' > /dev/null 2> '$TMPD/ce3') && grep -q 'chat-template' '$TMPD/ce3'"
    check generate_bad_option sh -c "! $EMU '$EDGELM' generate -m '$M' --bogus 2> /dev/null"
    # KV cache types (f16 is the default) and --mlock (or a message naming the limit)
    check generate_cache_types sh -c "$EMU '$EDGELM' generate -m '$M' -p 'Once' -n 8 --temp 0 -ctk f32 -ctv f32 > '$TMPD/c32' &&
        $EMU '$EDGELM' generate -m '$M' -p 'Once' -n 8 --temp 0 --cache-type-k f16 -ctv F16 > '$TMPD/c16' && test -s '$TMPD/c32' && test -s '$TMPD/c16'"
    check generate_cache_q8_0_refused sh -c "! $EMU '$EDGELM' generate -m '$M' -p 'Once' -n 2 -ctv q8_0 2> '$TMPD/e' && grep -q 'q8_0.*not supported' '$TMPD/e'"
    check generate_cache_bad_type sh -c "! $EMU '$EDGELM' generate -m '$M' -p 'Once' -n 2 -ctk f8 2> '$TMPD/e' && grep -q -e \"-ctk 'f8' is not valid\" '$TMPD/e'"
    check generate_mlock sh -c "$EMU '$EDGELM' generate -m '$M' -p 'Once' -n 4 --temp 0 --mlock > '$TMPD/o' 2> '$TMPD/e' || grep -q 'ulimit -l' '$TMPD/e'"
else
    skip_fixture generate_stories260k "fixture $M is absent"
fi

# A Hugging Face GPT-2 (random weights, the real tokenizer) converts and generates.
G="$FIXTURES/hf-tiny-lm-buddy/fake_gpt2"
if [ -f "$G/config.json" ] && $EMU "$EDGELM" convert "$G" -o "$TMPD/fake_gpt2.gguf" > /dev/null 2>&1; then
    check generate_fake_gpt2 sh -c \
        "$EMU '$EDGELM' generate -m '$TMPD/fake_gpt2.gguf' -p 'Hello world' -n 8 --temp 0 > '$TMPD/f' && test -s '$TMPD/f'"
else
    skip_fixture generate_fake_gpt2 "fixture $G is absent or \`edgelm convert\` is not available"
fi
finish
