/*
 * edgelm serve -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [options]
 *
 * A local OpenAI-compatible HTTP server (examples/server/): chat completions, completions,
 * embeddings, tokenize/detokenize, health, models and a chat page at /. SIGINT or SIGTERM
 * stops it: requests in flight are cancelled, connections closed, memory freed.
 */
#include "cli.h"
#include "../server/server.h"
#include "edgelm.h"
#include "opts.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The process-wide stop flag of the CLI layer (the server library takes a pointer to it). */
static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig) {
    (void)sig;
    serve_stop = 1;
}

/* Reads the key from the first line of path into buf. */
static bool serve_key_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        opts_fail("serve", "give a readable file", "--api-key-file %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    size_t n = ok ? strcspn(buf, "\r\n") : 0;
    if (ok) buf[n] = '\0';
    if (!n) opts_fail("serve", "put the key on the file's first line", "--api-key-file %s: no key on its first line", path);
    return n > 0;
}

int cmd_serve(int argc, char **argv) {
    server_params p = server_default_params();
    const char *key_file = NULL;
    char key_buf[512]; /* lives as long as the server (server_run returns before cmd_serve) */
    int32_t port = p.port, max_body = (int32_t)p.max_body;
    p.n_threads = opts_default_threads();
    const char *templates[16]; /* the library's built-in layouts, by name */
    int n_templates = 0, template = -1;
    for (int t = 1; n_templates < 15; t++) {
        const char *name = elm_chat_template_name((elm_chat_template)t);
        if (!name || !strcmp(name, "unknown")) break;
        templates[n_templates++] = name;
    }
    templates[n_templates] = NULL;
    const opt_def defs[] = {
        OPT_SECTION("Options"),
        OPT_REQ_STR("-m,--model", &p.model, "FILE", "decoder (llama, qwen2, gpt2 ..) or BERT GGUF (embeddings)"),
        OPT_STR("--host", &p.host, "ADDR", "address to listen on (default 127.0.0.1)"),
        OPT_INT("--port", &port, 0, 65535, "N", "TCP port (default 8080; 0: any free port)"),
        OPT_INT("-c,--ctx-size", &p.n_ctx, 0, 1 << 20, "N", "KV cache positions per slot (default 0: the model's, at most 4096)"),
        OPT_THREADS(&p.n_threads),
        OPT_INT("-np,--parallel", &p.parallel, 1, 256, "N", "requests served at once, one context each (default 1)"),
        OPT_FUNC("-ctk,--cache-type-k", &p.type_k, opt_parse_cache_type, "T",
                 "KV cache type of the keys: f16 (default) or f32 (q8_0 is refused)"),
        OPT_FUNC("-ctv,--cache-type-v", &p.type_v, opt_parse_cache_type, "T",
                 "KV cache type of the values: f16 (default) or f32 (q8_0 is refused)"),
        OPT_INT("--queue", &p.queue, 0, 4096, "N", "requests that may wait for a slot before 503 (default 8)"),
        OPT_INT("--max-conns", &p.max_conns, 1, 4096, "N", "open connections (default 128)"),
        OPT_STR("--api-key", &p.api_key, "KEY", "require \"Authorization: Bearer KEY\" (not for / and /health)"),
        OPT_STR("--api-key-file", &key_file, "FILE", "the key from the first line of FILE"),
        OPT_ENUM("--chat-template", &template, templates, "chat layout (default: recognised from the model, else chatml)"),
        OPT_FLAG("--embedding,--embeddings", &p.embedding, "decoder models: serve /v1/embeddings (mean pooling)"),
        OPT_INT("--timeout", &p.timeout_s, 1, 86400, "S",
                "seconds to send a request, idle keep-alive, blocked write (default 30)"),
        OPT_INT("--max-body", &max_body, 1, 1 << 30, "BYTES", "largest request body (default 2097152)"),
        OPT_UNFLAG("--no-webui", &p.webui, "no chat page at /"),
        OPT_END,
    };
    const opt_cmd cmd = OPT_CMD("serve", "-m MODEL.gguf [options]",
                                "A local OpenAI-compatible HTTP server. Endpoints: POST /v1/chat/completions "
                                "/v1/completions /v1/embeddings /tokenize /detokenize; GET /v1/models /health /. "
                                "Ctrl-C stops the server.",
                                defs);
    const int r = opts_parse(&cmd, argc, argv);
    if (r != OPTS_OK) return opts_exit(r);
    p.port = port;
    if (template >= 0) p.chat_template = templates[template];
    p.max_body = (uint64_t)max_body;
    if (p.api_key && !p.api_key[0])
        return opts_fail("serve", "give a non-empty KEY or leave --api-key out", "--api-key is empty");
    if (key_file) {
        if (p.api_key) {
            return opts_fail("serve", "give only one of them", "--api-key and --api-key-file exclude each other");
        }
        if (!serve_key_file(key_file, key_buf, sizeof key_buf)) return 2;
        p.api_key = key_buf;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = serve_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return server_run(&p, &serve_stop);
}
