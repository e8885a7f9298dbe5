/*
 * chat.h — chat templates (internal header; the API, elm_chat_*, is public in edgelm.h).
 *
 * A GGUF's tokenizer.chat_template (or a user's Jinja file) is rendered by edgelm's own Jinja
 * subset interpreter (jinja.h) through elm_chat_render_jinja. The family a template is written
 * for is recognised by marker strings, and each known layout also has a built-in renderer in C
 * (elm_chat_render) — the fallback for templates the interpreter refuses and the layouts that
 * --chat-template NAME picks. See chat.c for the exact strings.
 */
#ifndef EDGELM_CHAT_H
#define EDGELM_CHAT_H

#include "edgelm.h"

#endif /* EDGELM_CHAT_H */
