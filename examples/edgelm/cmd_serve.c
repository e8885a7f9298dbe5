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

static void serve_usage(FILE *out) {
    fprintf(out,
            "usage: edgelm serve -m MODEL.gguf [options]\n"
            "  -m, --model FILE        decoder (llama, qwen2, gpt2) or BERT GGUF (embeddings)\n"
            "  --host ADDR             address to listen on (default 127.0.0.1)\n"
            "  --port N                TCP port (default 8080; 0: any free port)\n"
            "  -c, --ctx-size N        KV cache positions per slot (default: the model's, at most 4096)\n"
            "  -t, --threads N         threads per request (default 1)\n"
            "  -np, --parallel N       requests served at once, one context each (default 1)\n"
            "  -ctk, --cache-type-k T  KV cache type for K: f16 (default) or f32\n"
            "  -ctv, --cache-type-v T  KV cache type for V: f16 (default) or f32\n"
            "  --queue N               requests that may wait for a slot before 503 (default 8)\n"
            "  --max-conns N           open connections (default 128)\n"
            "  --api-key KEY           require \"Authorization: Bearer KEY\" (not for / and /health)\n"
            "  --api-key-file F        the key from the first line of F\n"
            "  --chat-template NAME    chatml, llama2, llama3, zephyr, phi3, gemma, mistral\n"
            "                          (default: recognised from the model, else chatml)\n"
            "  --embedding             decoder models: serve /v1/embeddings (mean pooling)\n"
            "  --timeout S             seconds to send a request, idle keep-alive, blocked write\n"
            "                          (default 30)\n"
            "  --max-body BYTES        largest request body (default 2097152)\n"
            "  --no-webui              no chat page at /\n"
            "Endpoints: POST /v1/chat/completions /v1/completions /v1/embeddings /tokenize\n"
            "/detokenize; GET /v1/models /health /. Ctrl-C stops the server.\n");
}

static bool serve_int(const char *v, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return false;
    *out = (int32_t)x;
    return true;
}

/* Reads the key from the first line of path into buf. */
static bool serve_key_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "edgelm serve: --api-key-file %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    size_t n = ok ? strcspn(buf, "\r\n") : 0;
    if (ok) buf[n] = '\0';
    if (!n) fprintf(stderr, "edgelm serve: --api-key-file %s: no key on its first line\n", path);
    return n > 0;
}

int cmd_serve(int argc, char **argv) {
    server_params p = server_default_params();
    const char *key_file = NULL;
    char key_buf[512]; /* lives as long as the server (server_run returns before cmd_serve) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--embedding") || !strcmp(a, "--embeddings")) {
            p.embedding = true;
            continue;
        }
        if (!strcmp(a, "--no-webui")) {
            p.webui = false;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL, known = true;
        int32_t port = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) p.model = v;
        else if (!strcmp(a, "--host")) p.host = v;
        else if (!strcmp(a, "--port")) ok = ok && serve_int(v, 0, 65535, &port), p.port = port;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) ok = ok && serve_int(v, 0, 1 << 20, &p.n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = ok && serve_int(v, 1, 512, &p.n_threads);
        else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) ok = ok && serve_int(v, 1, 256, &p.parallel);
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) ok = ok && elm_cache_type_parse(v, &p.type_k);
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) ok = ok && elm_cache_type_parse(v, &p.type_v);
        else if (!strcmp(a, "--queue")) ok = ok && serve_int(v, 0, 4096, &p.queue);
        else if (!strcmp(a, "--max-conns")) ok = ok && serve_int(v, 1, 4096, &p.max_conns);
        else if (!strcmp(a, "--api-key")) p.api_key = v, ok = ok && *v;
        else if (!strcmp(a, "--api-key-file")) key_file = v;
        else if (!strcmp(a, "--chat-template"))
            p.chat_template = v, ok = ok && elm_chat_template_from_name(v) != ELM_CHAT_UNKNOWN;
        else if (!strcmp(a, "--timeout")) ok = ok && serve_int(v, 1, 86400, &p.timeout_s);
        else if (!strcmp(a, "--max-body")) {
            int32_t mb = 0;
            ok = ok && serve_int(v, 1, 1 << 30, &mb);
            p.max_body = (uint64_t)mb;
        } else known = false;
        if (!known) {
            fprintf(stderr, "edgelm serve: unknown option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, v ? "edgelm serve: bad value '%s' for %s\n" : "edgelm serve: %s needs a value\n",
                    v ? v : a, a);
            return 2;
        }
        i++;
    }
    if (!p.model) {
        serve_usage(stderr);
        return 2;
    }
    if (key_file) {
        if (p.api_key) {
            fprintf(stderr, "edgelm serve: give --api-key or --api-key-file, not both\n");
            return 2;
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
