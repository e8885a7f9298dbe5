/*
 * jinja.h — a Jinja2 subset interpreter for chat templates (internal to libedgelm; the public
 * entry point is elm_chat_render_jinja in edgelm.h).
 *
 * A template is lexed, parsed into a syntax tree (jinja_parse) and evaluated against a
 * conversation (jinja_render) the way Hugging Face's apply_chat_template renders it: Jinja2
 * with trim_blocks and lstrip_blocks on, the loopcontrols extension (break/continue), no
 * autoescape, tojson as json.dumps(ensure_ascii=False), and the globals raise_exception,
 * strftime_now, namespace and range.
 *
 * The subset: text, {{ }}, {# #}, whitespace control (- and +), {% raw %}, if/elif/else,
 * for (with else, a filter condition and tuple targets), set (names, namespace attributes,
 * tuples, set blocks), macros (called as functions), break/continue; expressions with
 * Python's semantics (literals, lists, dicts, tuples, and/or/not, comparisons, in, is-tests,
 * + - * / // % ** ~, ternaries, subscripts, slices, attributes, calls, string and dict
 * methods, filters). What is outside it — another tag, filter, test, method or global, or an
 * operation Python would reject — is an error naming the construct and its line and column,
 * never a silently different text. Everything is bounded: template size, nesting depth,
 * evaluation steps, memory and output size, so an untrusted template cannot hang or exhaust
 * the process.
 */
#ifndef EDGELM_JINJA_H
#define EDGELM_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jinja_tmpl jinja_tmpl;

typedef struct jinja_msg {
    const char *role;
    const char *content; /* NULL: none */
} jinja_msg;

typedef struct jinja_opts {
    bool add_generation_prompt;
    const char *bos_token;    /* NULL: undefined */
    const char *eos_token;    /* NULL: undefined */
    int enable_thinking;      /* -1: undefined, 0: false, 1: true */
    int64_t now;              /* the time strftime_now formats (seconds since 1970, UTC) */
    size_t max_output;        /* bytes of rendered text (0: 4 MiB) */
    size_t max_memory;        /* bytes of values made while rendering (0: 64 MiB) */
    uint64_t max_steps;       /* evaluation steps (0: 20 million) */
} jinja_opts;

#define JINJA_MAX_SOURCE (1u << 20) /* longest template accepted, bytes */
#define JINJA_MAX_DEPTH 64          /* nesting of tags and expressions (macro calls: 16) */

/* Parses a template; NULL with a message in err (e.g. "line 3, column 8: unsupported tag
 * 'include'") when it is malformed, too large or outside the subset. */
jinja_tmpl *jinja_parse(const char *src, size_t len, char *err, size_t err_size);
void jinja_free(jinja_tmpl *t);

/* Renders the template for msgs; returns the text (malloc'ed, NUL-terminated, length in
 * *len) or NULL with a message in err. A template's raise_exception(msg) is an error whose
 * message is "template error: msg". */
char *jinja_render(const jinja_tmpl *t, const jinja_msg *msgs, size_t n_msgs,
                   const jinja_opts *o, size_t *len, char *err, size_t err_size);

#endif /* EDGELM_JINJA_H */
