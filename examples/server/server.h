/*
 * server.h — `edgelm serve`: a local OpenAI-compatible HTTP/1.1 server over the public
 * library API (include/edgelm.h) and the converter's JSON reader.
 *
 * One loaded model, --parallel contexts ("slots") over it, one request per slot at a time and
 * a bounded queue beyond them (503 when full). A slot keeps its KV cache and the tokens in it;
 * the next request on that slot evaluates only the part of its prompt past the longest common
 * prefix. A thread per connection (at most max_conns) reads requests with bounded head, body,
 * header count and time, so a stalled client cannot hold a thread or a slot.
 *
 * Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /tokenize,
 * /detokenize; GET /v1/models, /health and the chat page at / (webui.html).
 */
#ifndef EDGELM_SERVER_H
#define EDGELM_SERVER_H

#include "edgelm.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct server_params {
    const char *model;
    const char *host;          /* default 127.0.0.1 */
    int32_t port;              /* 0: any free port (the log line names it) */
    int32_t n_ctx;             /* per slot; 0: the model's (at most 4096) */
    int32_t n_threads;
    int32_t parallel;          /* slots */
    int32_t queue;             /* requests waiting for a slot before 503 */
    int32_t max_conns;         /* open connections */
    const char *api_key;       /* NULL: none */
    const char *chat_template; /* NULL: from the model, else chatml */
    bool embedding;            /* decoder models: /v1/embeddings by mean pooling */
    int32_t timeout_s;         /* to send a request, idle keep-alive, a blocked write */
    uint64_t max_body;
    bool webui;
    elm_cache_type type_k, type_v; /* KV cache of each slot (DEFAULT: f16) */
} server_params;

server_params server_default_params(void);

/* Runs until *stop becomes non-zero (the caller's signal handler sets it). Returns 0 after a
 * clean stop, 1 when the model or the socket could not be set up (message on stderr). */
int server_run(const server_params *p, volatile sig_atomic_t *stop);

/* The chat page (generated from webui.html at build time). */
extern const unsigned char server_webui_html[];
extern const unsigned long server_webui_html_len;

#endif
