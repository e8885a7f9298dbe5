# edgelm chat with Jinja templates (our own, tests/data/chat) on stories260K, which has no chat
# template of its own: the rendered prompt (--verbose-prompt), thinking off, the cache reused
# across turns, and the refusals.
. tests/tf-lib.sh
M="$FIXTURES/stories260K/stories260K.gguf"
if [ -f "$M" ]; then
    # Qwen3's layout with thinking off: the prompt ends with the empty think block, the second
    # turn reuses the cached tokens of the first.
    check chat_jinja_file_qwen3_thinking_off sh -c \
        "printf 'Hello\nMore\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file tests/data/chat/qwen3.jinja \
           --reasoning off -sys 'Be kind' -n 8 --seed 1 -c 512 -v --verbose-prompt > '$TMPD/q' 2> '$TMPD/qe' && \
         grep -q 'Jinja qwen3 (your file) template, thinking off' '$TMPD/qe' && \
         test \$(grep -c '^<think>\$' '$TMPD/qe') -eq 2 && grep -q '^<|im_start|>user\$' '$TMPD/qe' && \
         grep -q '[1-9][0-9]* reused' '$TMPD/qe'"
    check chat_no_think_alias sh -c \
        "printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file tests/data/chat/qwen3.jinja --no-think \
           -n 4 --seed 1 -c 256 --verbose-prompt > /dev/null 2> '$TMPD/n' && grep -q '^</think>\$' '$TMPD/n'"
    check chat_thinking_default_has_no_empty_block sh -c \
        "printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file tests/data/chat/qwen3.jinja \
           -n 4 --seed 1 -c 256 --verbose-prompt > /dev/null 2> '$TMPD/d' && ! grep -q '</think>' '$TMPD/d'"
    check chat_jinja_llama3_date_header sh -c \
        "printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file tests/data/chat/llama3.jinja \
           -n 4 --seed 1 -c 256 --verbose-prompt > /dev/null 2> '$TMPD/l' && grep -q '^Today Date: ' '$TMPD/l' && \
         grep -q 'Jinja llama3 (your file)' '$TMPD/l'"
    check chat_stop_tokens_listed sh -c \
        "printf '' | $EMU '$EDGELM' chat -m '$M' --chat-template chatml -v -c 64 > /dev/null 2> '$TMPD/s' && \
         grep -q 'stops on: 2 </s>' '$TMPD/s'"
    printf '{%% for m in messages %%}{%% include "x" %%}{%% endfor %%}' > "$TMPD/bad.jinja"
    check chat_unsupported_construct_is_an_error sh -c \
        "! (printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file '$TMPD/bad.jinja' > /dev/null 2> '$TMPD/b') && \
         grep -q \"line 1, column 27: unsupported tag 'include'\" '$TMPD/b'"
    check chat_template_raise_is_an_error sh -c \
        "! (printf 'Hi\n' | $EMU '$EDGELM' chat -m '$M' --chat-template-file tests/data/chat/gemma2.jinja -sys S > /dev/null 2> '$TMPD/r') && \
         grep -q 'template error: no system role' '$TMPD/r'"
    check chat_template_options_exclusive sh -c \
        "! $EMU '$EDGELM' chat -m '$M' --chat-template chatml --chat-template-file tests/data/chat/qwen3.jinja < /dev/null 2> '$TMPD/x' && \
         grep -q 'exclude each other' '$TMPD/x'"
    check chat_bad_reasoning_values sh -c \
        "! $EMU '$EDGELM' chat -m '$M' --reasoning maybe 2> /dev/null && ! $EMU '$EDGELM' chat -m '$M' --reasoning-budget 100 2> /dev/null"
    check chat_missing_file sh -c \
        "! $EMU '$EDGELM' chat -m '$M' --chat-template-file '$TMPD/none.jinja' < /dev/null 2> '$TMPD/m' && grep -q 'cannot open' '$TMPD/m'"
else
    skip chat_jinja "fixture $M is absent"
fi
# The model's own template: a Hugging Face folder with chat_template.jinja, converted (the
# converter copies it into tokenizer.chat_template), then chat without --chat-template.
G="$FIXTURES/hf-tiny-lm-buddy/fake_gpt2"
if [ -f "$G/config.json" ]; then
    G=$(cd "$G" && pwd) # absolute, for the links
    mkdir -p "$TMPD/q3" "$TMPD/bad"
    for f in "$G"/*; do ln -s "$f" "$TMPD/q3/"; ln -s "$f" "$TMPD/bad/"; done
    cp tests/data/chat/qwen3.jinja "$TMPD/q3/chat_template.jinja"
    printf '{%% for m in messages %%}<|im_start|>{{ m.role }}{%% include "x" %%}{%% endfor %%}' > "$TMPD/bad/chat_template.jinja"
    if $EMU "$EDGELM" convert "$TMPD/q3" -o "$TMPD/q3.gguf" > /dev/null 2>&1 && \
       $EMU "$EDGELM" convert "$TMPD/bad" -o "$TMPD/bad.gguf" > /dev/null 2>&1; then
        check chat_model_jinja_template sh -c \
            "printf 'Hi\n' | $EMU '$EDGELM' chat -m '$TMPD/q3.gguf' --reasoning off -n 4 --seed 1 -c 256 --verbose-prompt \
               > /dev/null 2> '$TMPD/mq' && grep -q \"Jinja qwen3 (the model's) template, thinking off\" '$TMPD/mq' && \
             grep -q '^</think>\$' '$TMPD/mq'"
        check chat_refused_model_template_falls_back sh -c \
            "printf 'Hi\n' | $EMU '$EDGELM' chat -m '$TMPD/bad.gguf' -n 4 --seed 1 -c 256 --verbose-prompt \
               > /dev/null 2> '$TMPD/mb' && grep -q \"unsupported tag 'include'; using the built-in chatml layout\" '$TMPD/mb' && \
             grep -q '^<|im_start|>user\$' '$TMPD/mb'"
    else
        skip chat_model_jinja_template "edgelm convert of $G failed"
    fi
else
    skip chat_model_jinja_template "fixture $G is absent"
fi
check chat_help_names_the_options sh -c \
    "$EMU '$EDGELM' chat --help | grep -q -- '--chat-template-file' && $EMU '$EDGELM' chat --help | grep -q -- '--reasoning-budget'"
finish
