/*
 * chat.c — chat templates: detection from a Jinja template's markers, and rendering.
 *
 * Each renderer writes the conversation the way the model family's published template does
 * (the text the Jinja template would produce), including the BOS text where the template
 * starts with it: the caller tokenizes the result without adding special tokens, with
 * special-token text parsed, as Hugging Face's apply_chat_template + tokenize does.
 *
 *   chatml   <|im_start|>{role}\n{content}<|im_end|>\n ...           + <|im_start|>assistant\n
 *   llama2   <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]
 *   llama3   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> ...
 *                                                  + <|start_header_id|>assistant<|end_header_id|>\n\n
 *   zephyr   <|{role}|>\n{content}</s>\n ...                              + <|assistant|>\n
 *   phi3     <|{role}|>\n{content}<|end|>\n ...                           + <|assistant|>\n
 *   gemma    <bos><start_of_turn>{user|model}\n{content}<end_of_turn>\n   + <start_of_turn>model\n
 *            (no system role: the system text starts the first user turn, then "\n\n")
 *   mistral  <s>[INST] {user} [/INST]{answer}</s>[INST] {user} [/INST]
 *            (system text likewise starts the first user turn, then "\n\n")
 *   granite  <|start_of_role|>{role}<|end_of_role|>{content}<|end_of_text|>\n ...
 *                                                  + <|start_of_role|>assistant<|end_of_role|>
 *
 * Jinja templates themselves are rendered by the interpreter in jinja.c
 * (elm_chat_render_jinja); these layouts are the fallback for templates it refuses.
 */
#include "alloc.h"
#include "chat.h"
#include "jinja.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const chat_names[] = {
    [ELM_CHAT_UNKNOWN] = "unknown", [ELM_CHAT_CHATML] = "chatml", [ELM_CHAT_LLAMA2] = "llama2",
    [ELM_CHAT_LLAMA3] = "llama3",   [ELM_CHAT_ZEPHYR] = "zephyr", [ELM_CHAT_PHI3] = "phi3",
    [ELM_CHAT_GEMMA] = "gemma",     [ELM_CHAT_MISTRAL] = "mistral", [ELM_CHAT_GRANITE] = "granite",
};

elm_chat_template elm_chat_template_from_name(const char *name) {
    if (!name) return ELM_CHAT_UNKNOWN;
    for (int t = ELM_CHAT_CHATML; t <= ELM_CHAT_GRANITE; t++)
        if (!strcmp(name, chat_names[t])) return (elm_chat_template)t;
    return ELM_CHAT_UNKNOWN;
}

const char *elm_chat_template_name(elm_chat_template t) {
    return t >= ELM_CHAT_UNKNOWN && t <= ELM_CHAT_GRANITE ? chat_names[t] : "unknown";
}

/* Families by the marker strings of their published templates, most specific first (several
 * share "<|im_start|>", "<|assistant|>" or "[INST]"), with the built-in layout that stands in
 * when the interpreter refuses a template. */
static const struct {
    const char *family, *marker, *also; /* also: a second marker that must be present (or NULL) */
    elm_chat_template layout;
} chat_families[] = {
    {"llama3", "<|start_header_id|>", NULL, ELM_CHAT_LLAMA3},
    {"smollm3", "<|im_start|>", "/no_think", ELM_CHAT_CHATML},
    {"lfm2", "<|im_start|>", "keep_past_thinking", ELM_CHAT_CHATML},
    {"lfm2", "<|im_start|>", "<|tool_list_start|>", ELM_CHAT_CHATML},
    {"qwen3", "<|im_start|>", "enable_thinking", ELM_CHAT_CHATML},
    {"qwen3", "<|im_start|>", "reasoning_content", ELM_CHAT_CHATML},
    {"smollm2", "<|im_start|>", "SmolLM", ELM_CHAT_CHATML},
    {"qwen2.5", "<|im_start|>", "Qwen", ELM_CHAT_CHATML},
    {"chatml", "<|im_start|>", NULL, ELM_CHAT_CHATML},
    {"gemma3", "<start_of_turn>", "first_user_prefix", ELM_CHAT_GEMMA},
    {"gemma3", "<start_of_turn>", "<start_of_image>", ELM_CHAT_GEMMA},
    {"gemma2", "<start_of_turn>", NULL, ELM_CHAT_GEMMA},
    {"granite", "<|start_of_role|>", NULL, ELM_CHAT_GRANITE},
    {"phi4-mini", "<|assistant|>", "<|tool|>", ELM_CHAT_PHI3},
    {"phi3", "<|assistant|>", "<|end|>", ELM_CHAT_PHI3},
    {"olmo2", "<|assistant|>", "loop.last and add_generation_prompt", ELM_CHAT_ZEPHYR},
    {"zephyr", "<|assistant|>", NULL, ELM_CHAT_ZEPHYR},
    {"zephyr", "<|user|>", NULL, ELM_CHAT_ZEPHYR},
    {"llama2", "[INST]", "<<SYS>>", ELM_CHAT_LLAMA2},
    {"mistral", "[INST]", NULL, ELM_CHAT_MISTRAL},
};

static int chat_family_index(const char *j) {
    if (!j) return -1;
    for (size_t i = 0; i < sizeof chat_families / sizeof chat_families[0]; i++)
        if (strstr(j, chat_families[i].marker) && (!chat_families[i].also || strstr(j, chat_families[i].also)))
            return (int)i;
    return -1;
}

const char *elm_chat_template_family(const char *jinja) {
    int i = chat_family_index(jinja);
    return i < 0 ? NULL : chat_families[i].family;
}

elm_chat_template elm_chat_template_detect(const char *j) {
    int i = chat_family_index(j);
    return i < 0 ? ELM_CHAT_UNKNOWN : chat_families[i].layout;
}

int64_t elm_chat_render_jinja(const char *tmpl, size_t tmpl_len, const elm_chat_msg *msgs,
                              size_t n_msgs, const elm_chat_jinja_opts *o, char *buf,
                              size_t size, elm_error *err) {
    if (!tmpl || !o || (n_msgs && !msgs)) {
        if (err) {
            err->code = ELM_ERR_INVALID;
            snprintf(err->msg, sizeof err->msg, "elm_chat_render_jinja: bad arguments");
        }
        return ELM_ERR_INVALID;
    }
    char msg[256];
    jinja_tmpl *t = jinja_parse(tmpl, tmpl_len, msg, sizeof msg);
    char *text = NULL;
    size_t len = 0;
    if (t) {
        jinja_msg *jm = ELM_MALLOC((n_msgs ? n_msgs : 1) * sizeof *jm);
        if (jm) {
            for (size_t i = 0; i < n_msgs; i++) jm[i] = (jinja_msg){msgs[i].role, msgs[i].content};
            jinja_opts jo = {.add_generation_prompt = o->add_assistant, .bos_token = o->bos_token,
                             .eos_token = o->eos_token, .enable_thinking = o->enable_thinking,
                             .now = o->now};
            text = jinja_render(t, jm, n_msgs, &jo, &len, msg, sizeof msg);
            ELM_FREE(jm);
        } else {
            snprintf(msg, sizeof msg, "out of memory");
        }
        jinja_free(t);
    }
    if (!text) {
        if (err) {
            err->code = ELM_ERR_UNSUPPORTED;
            snprintf(err->msg, sizeof err->msg, "chat template: %.240s", msg);
        }
        return ELM_ERR_UNSUPPORTED;
    }
    if (buf && size) {
        size_t k = len < size ? len : size - 1;
        memcpy(buf, text, k);
        buf[k] = '\0';
    }
    ELM_FREE(text);
    return (int64_t)len;
}

/* Appends to a buffer and counts what would be written even past its end. */
typedef struct chat_out {
    char *buf;
    size_t size, len;
} chat_out;

static void chat_put(chat_out *o, const char *s) {
    size_t n = strlen(s);
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static bool chat_is(const elm_chat_msg *m, const char *role) { return !strcmp(m->role, role); }

/* <prefix>{role}<mid>{content}<suffix> for each message (chatml, llama3, zephyr, phi3). */
static void chat_render_tagged(chat_out *o, const elm_chat_msg *msgs, size_t n, bool add_ass,
                               const char *pre, const char *mid, const char *suf) {
    for (size_t i = 0; i < n; i++) {
        chat_put(o, pre);
        chat_put(o, msgs[i].role);
        chat_put(o, mid);
        chat_put(o, msgs[i].content);
        chat_put(o, suf);
    }
    if (add_ass) {
        chat_put(o, pre);
        chat_put(o, "assistant");
        chat_put(o, mid);
    }
}

static void chat_render_llama2(chat_out *o, const elm_chat_msg *msgs, size_t n) {
    bool open_inst = false; /* "<s>[INST] " written, waiting for the user text */
    for (size_t i = 0; i < n; i++) {
        const elm_chat_msg *m = &msgs[i];
        if (chat_is(m, "system")) {
            chat_put(o, "<s>[INST] <<SYS>>\n");
            chat_put(o, m->content);
            chat_put(o, "\n<</SYS>>\n\n");
            open_inst = true;
        } else if (chat_is(m, "user")) {
            if (!open_inst) chat_put(o, "<s>[INST] ");
            chat_put(o, m->content);
            chat_put(o, " [/INST]");
            open_inst = false;
        } else {
            chat_put(o, " ");
            chat_put(o, m->content);
            chat_put(o, " </s>");
        }
    }
}

/* gemma and mistral have no system role: its text opens the next user turn. */
static void chat_render_no_system(chat_out *o, elm_chat_template t, const elm_chat_msg *msgs,
                                  size_t n, bool add_ass) {
    const bool gemma = t == ELM_CHAT_GEMMA;
    chat_put(o, gemma ? "<bos>" : "<s>");
    const char *pending_sys = NULL;
    for (size_t i = 0; i < n; i++) {
        const elm_chat_msg *m = &msgs[i];
        if (chat_is(m, "system")) {
            pending_sys = m->content;
            continue;
        }
        const bool user = chat_is(m, "user");
        if (gemma) chat_put(o, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
        else if (user) chat_put(o, "[INST] ");
        if (user && pending_sys) {
            chat_put(o, pending_sys);
            chat_put(o, "\n\n");
            pending_sys = NULL;
        }
        chat_put(o, m->content);
        if (gemma) chat_put(o, "<end_of_turn>\n");
        else chat_put(o, user ? " [/INST]" : "</s>");
    }
    if (add_ass && gemma) chat_put(o, "<start_of_turn>model\n");
}

int64_t elm_chat_render(elm_chat_template t, const elm_chat_msg *msgs, size_t n_msgs,
                        bool add_assistant, char *buf, size_t size) {
    if (n_msgs > 0 && !msgs) return ELM_ERR_INVALID;
    for (size_t i = 0; i < n_msgs; i++) {
        if (!msgs[i].role || !msgs[i].content) return ELM_ERR_INVALID;
        if (!chat_is(&msgs[i], "system") && !chat_is(&msgs[i], "user") &&
            !chat_is(&msgs[i], "assistant"))
            return ELM_ERR_INVALID;
    }
    chat_out o = {.buf = buf, .size = buf ? size : 0, .len = 0};
    switch (t) {
    case ELM_CHAT_CHATML:
        chat_render_tagged(&o, msgs, n_msgs, add_assistant, "<|im_start|>", "\n", "<|im_end|>\n");
        break;
    case ELM_CHAT_LLAMA3:
        chat_put(&o, "<|begin_of_text|>");
        chat_render_tagged(&o, msgs, n_msgs, add_assistant, "<|start_header_id|>",
                           "<|end_header_id|>\n\n", "<|eot_id|>");
        break;
    case ELM_CHAT_ZEPHYR:
        chat_render_tagged(&o, msgs, n_msgs, add_assistant, "<|", "|>\n", "</s>\n");
        break;
    case ELM_CHAT_PHI3:
        chat_render_tagged(&o, msgs, n_msgs, add_assistant, "<|", "|>\n", "<|end|>\n");
        break;
    case ELM_CHAT_GRANITE:
        chat_render_tagged(&o, msgs, n_msgs, add_assistant, "<|start_of_role|>", "<|end_of_role|>",
                           "<|end_of_text|>\n");
        break;
    case ELM_CHAT_LLAMA2: chat_render_llama2(&o, msgs, n_msgs); break;
    case ELM_CHAT_GEMMA:
    case ELM_CHAT_MISTRAL: chat_render_no_system(&o, t, msgs, n_msgs, add_assistant); break;
    default: return ELM_ERR_INVALID;
    }
    if (o.size > 0) o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
    return (int64_t)o.len;
}
