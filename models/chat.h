/*
 * chat.h — chat templates (internal header; the API, elm_chat_*, is public in edgelm.h).
 *
 * Templates are not interpreted (no Jinja engine): a GGUF's tokenizer.chat_template is
 * recognised by marker strings, and each known format is rendered by C code that follows its
 * published layout. See chat.c for the exact strings.
 */
#ifndef EDGELM_CHAT_H
#define EDGELM_CHAT_H

#include "edgelm.h"

#endif /* EDGELM_CHAT_H */
