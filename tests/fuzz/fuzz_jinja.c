/*
 * fuzz_jinja — libFuzzer harness for the chat-template interpreter (models/chat/jinja.c).
 *
 * The input's first byte picks the options (add_generation_prompt, enable_thinking, whether
 * the conversation has a system message); the rest is the template. Every input must end in
 * text or a clean error: no crash, no sanitizer report, no hang (the step, memory and output
 * limits are set small so that each run is quick).
 *
 * Built by `make fuzz` (build/fuzz/fuzz_jinja; docs/fuzzing.md) and replayed from
 * tests/fuzz/regress/jinja/ by `make test`; tests/fuzz/jinja.dict holds Jinja's words:
 *   build/fuzz/fuzz_jinja -max_len=8192 -dict=tests/fuzz/jinja.dict CORPUS_DIR
 */
#include "fuzz.h"
#include "jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > FUZZ_MAX_INPUT) return 0;
    static const jinja_msg msgs[] = {
        {"system", "Be brief.  \n"},
        {"user", "Hi <think>x</think> \xC3\xA9"},
        {"assistant", "<think>\nplan\n</think>\n\nHello!"},
        {"user", NULL},
    };
    const uint8_t flags = data[0];
    char err[256];
    jinja_tmpl *t = jinja_parse((const char *)data + 1, size - 1, err, sizeof err);
    if (!t) {
        if (!memchr(err, '\0', sizeof err) || err[0] == '\0') abort(); /* a message is given */
        return 0;
    }
    jinja_opts o = {
        .add_generation_prompt = flags & 1,
        .bos_token = flags & 2 ? "<s>" : NULL,
        .eos_token = "</s>",
        .enable_thinking = (flags >> 2) % 3 - 1,
        .now = 1753531200,
        .max_output = 1 << 16,
        .max_memory = 8 << 20,
        .max_steps = 200000,
    };
    const size_t skip = flags & 32 ? 1 : 0;
    size_t len = 0;
    char *out = jinja_render(t, msgs + skip, sizeof msgs / sizeof msgs[0] - skip, &o, &len, err, sizeof err);
    if (out) {
        if (len > o.max_output || out[len] != '\0') abort();
        free(out);
    } else if (err[0] == '\0') {
        abort();
    }
    jinja_free(t);
    return 0;
}
