/* server.c — sockets, connections, slots and routing of `edgelm serve` (see server.h). */
#include "oai.h"
#include "server_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

server_params server_default_params(void) {
    server_params p = {.host = "127.0.0.1", .port = 8080, .n_threads = 1, .parallel = 1,
                       .queue = 8, .max_conns = 128, .timeout_s = 30, .max_body = 2u << 20,
                       .webui = true};
    return p;
}

double server_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool server_stopping(const server *s) { return *s->stop || atomic_load(&s->quit); }

/* ---- writing ---- */

bool conn_write(conn *c, const char *d, size_t n) {
    while (n > 0 && !c->broken) {
        ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            c->broken = true; /* includes EAGAIN after SO_SNDTIMEO: a stalled reader */
            break;
        }
        d += w;
        n -= (size_t)w;
    }
    return !c->broken;
}

void conn_respond(conn *c, int status, const char *ctype, const char *body, size_t n,
                  const char *extra) {
    char head[768];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s\r\n",
                     status, http_reason(status), ctype, n, c->keep_alive ? "keep-alive" : "close",
                     extra ? extra : "");
    c->status = status;
    if (h < 0 || (size_t)h >= sizeof head) return;
    if (conn_write(c, head, (size_t)h) && strcmp(c->req.method, "HEAD")) conn_write(c, body, n);
}

void conn_json(conn *c, int status, const jw *w) {
    if (!jw_ok(w)) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":500}}";
        conn_respond(c, 500, "application/json; charset=utf-8", oom, sizeof oom - 1, NULL);
        return;
    }
    conn_respond(c, status, "application/json; charset=utf-8", w->buf, w->len, NULL);
}

static const char *conn_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void jw_error(jw *w, int status, const char *msg) {
    jw_obj(w);
    jw_key(w, "error");
    jw_obj(w);
    jw_key_str(w, "message", msg);
    jw_key_str(w, "type", conn_error_type(status));
    jw_key_int(w, "code", status);
    jw_obj_end(w);
    jw_obj_end(w);
}

static void conn_error_ext(conn *c, int status, const char *msg, const char *extra_headers) {
    jw w;
    jw_init(&w);
    jw_error(&w, status, msg);
    if (jw_ok(&w)) conn_respond(c, status, "application/json; charset=utf-8", w.buf, w.len, extra_headers);
    else conn_json(c, status, &w);
    jw_free(&w);
}

void conn_error(conn *c, int status, const char *msg) { conn_error_ext(c, status, msg, NULL); }

/* False once the peer has closed or reset the connection (checked without blocking). */
bool conn_alive(conn *c) {
    if (c->broken) return false;
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return true;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return false;
    if (p.revents & POLLIN) {
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return false;
    }
    return true;
}

bool conn_stream_begin(conn *c) {
    c->chunked = c->req.minor >= 1;
    if (!c->chunked) c->keep_alive = false;
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     "%s\r\n",
                     c->chunked ? "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                                : "Connection: close\r\n");
    c->status = 200;
    return conn_write(c, head, (size_t)h);
}

/* One event (a + b + z) in one write: the chunk-size line, the data and the chunk's CRLF. */
static bool conn_stream_raw(conn *c, const char *a, size_t an, const char *b, size_t bn,
                            const char *z, size_t zn) {
    jw out;
    jw_init(&out);
    char size[32];
    if (c->chunked) {
        int k = snprintf(size, sizeof size, "%zx\r\n", an + bn + zn);
        jw_raw(&out, size, (size_t)k);
    }
    jw_raw(&out, a, an);
    jw_raw(&out, b, bn);
    jw_raw(&out, z, zn);
    if (c->chunked) jw_raw(&out, "\r\n", 2);
    bool ok = jw_ok(&out) && conn_write(c, out.buf, out.len);
    if (!jw_ok(&out)) c->broken = true;
    jw_free(&out);
    return ok;
}

bool conn_stream_event(conn *c, const jw *w) {
    if (!jw_ok(w)) {
        c->broken = true;
        return false;
    }
    return conn_stream_raw(c, "data: ", 6, w->buf, w->len, "\n\n", 2);
}

void conn_stream_end(conn *c) {
    static const char done[] = "data: [DONE]\n\n";
    if (!c->broken) conn_stream_raw(c, done, sizeof done - 1, "", 0, "", 0);
    if (c->chunked) conn_write(c, "0\r\n\r\n", 5);
}

/* ---- slots ---- */

/* Waits on cv for at most 200 ms (callers re-check their condition and the stop flag). */
static void server_wait(pthread_cond_t *cv, pthread_mutex_t *mu) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}


static int32_t slot_lcp(const slot *sl, const int32_t *p, int32_t n) {
    int32_t k = 0;
    while (k < sl->n_cache && k < n && sl->cache[k] == p[k]) k++;
    return k;
}

slot *slot_acquire(server *s, conn *c, const int32_t *prompt, int32_t n) {
    pthread_mutex_lock(&s->mu);
    bool queued = false;
    slot *got = NULL;
    for (;;) {
        int32_t best_lcp = -1;
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->busy) continue;
            int32_t l = prompt ? slot_lcp(sl, prompt, n) : 0;
            if (l > best_lcp || (l == best_lcp && sl->last_used < got->last_used)) {
                best_lcp = l;
                got = sl;
            }
        }
        if (got) {
            got->busy = true;
            break;
        }
        if (!queued) {
            if (s->n_waiting >= s->p.queue) break;
            s->n_waiting++;
            queued = true;
        }
        server_wait(&s->cv, &s->mu);
        if (server_stopping(s) || !conn_alive(c)) break;
    }
    if (queued) s->n_waiting--;
    pthread_mutex_unlock(&s->mu);
    return got;
}

void slot_release(server *s, slot *sl) {
    pthread_mutex_lock(&s->mu);
    sl->busy = false;
    sl->last_used = ++s->counter;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- reading requests ---- */

/* Reads what is available before deadline into the buffer: > 0 bytes read, 0 end of stream,
 * -1 timeout, -2 error or server stopping. */
static int conn_read_more(conn *c, double deadline) {
    if (c->len == c->cap) return -2;
    for (;;) {
        if (server_stopping(c->s)) return -2;
        double left = deadline - server_now();
        if (left <= 0) return -1;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int r = poll(&p, 1, left > 0.2 ? 200 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) return -2;
        if (r <= 0) continue;
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return -2;
        }
        if (n == 0) return 0;
        c->len += (size_t)n;
        return 1;
    }
}

static bool conn_reserve(conn *c, size_t need) {
    if (need <= c->cap) return true;
    char *b = realloc(c->buf, need);
    if (!b) return false;
    c->buf = b;
    c->cap = need;
    return true;
}

static void conn_log(conn *c, double t0) {
    char line[384];
    int n = snprintf(line, sizeof line, "%s %s %s %d %.1f ms", c->peer,
                     c->req.method[0] ? c->req.method : "-", c->req.path[0] ? c->req.path : "-",
                     c->status, 1e3 * (server_now() - t0));
    if ((c->log_prompt || c->log_gen) && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, " prompt %d (cached %d, evaluated %d) generated %d%s",
                 c->log_prompt, c->log_cache, c->log_eval, c->log_gen,
                 c->log_cancelled ? " cancelled" : "");
    fprintf(stderr, "%s\n", line); /* one write per line: threads do not interleave */
}

/* Reads the next request (head and body). 1: a request is ready; 0: close quietly (end of
 * stream, idle timeout, stop); -1: an error response was sent, close. */
static int conn_next_request(conn *c) {
    server *s = c->s;
    const double idle_deadline = server_now() + s->p.timeout_s;
    double deadline = 0, t0 = server_now();
    int st = 0;
    const char *msg = NULL;
    size_t scanned = 0; /* bytes already searched for the end of the head */
    for (;;) {
        if (c->len > 0) {
            if (deadline == 0) deadline = server_now() + s->p.timeout_s;
            /* Parse only once the head may be complete (or too long): a client sending a byte
             * at a time must not make the server re-parse the head for every byte. */
            bool end = c->len >= s->lim.max_head || memchr(c->buf + scanned, '\0', c->len - scanned);
            for (size_t i = scanned >= 3 ? scanned - 3 : 0; !end && i + 3 < c->len; i++)
                end = !memcmp(c->buf + i, "\r\n\r\n", 4);
            scanned = c->len;
            http_parse_result r = end ? http_parse_head(c->buf, c->len, &s->lim, &c->req, &st, &msg)
                                      : HTTP_INCOMPLETE;
            if (r == HTTP_DONE) break;
            if (r == HTTP_ERROR) goto fail;
        }
        int n = conn_read_more(c, c->len ? deadline : idle_deadline);
        if (n == 0 || n == -2) return 0;
        if (n == -1) {
            if (!c->len) return 0;
            st = 408;
            msg = "the request was not received in time";
            goto fail;
        }
    }
    if (c->req.content_length < 0 && !strcmp(c->req.method, "POST")) {
        st = 411;
        msg = "a POST request needs a Content-Length";
        goto fail;
    }
    const size_t body = c->req.content_length > 0 ? (size_t)c->req.content_length : 0;
    const size_t need = c->req.head_len + body; /* both bounded by the limits */
    if (!conn_reserve(c, need + 1)) {
        st = 503;
        msg = "out of memory";
        goto fail;
    }
    const http_header *expect = http_find_header(&c->req, "expect");
    if (expect && c->len < need) { /* curl asks before sending bodies over 1 KiB */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (expect->value_len == 12 && http_iequal(expect->value, "100-continue", 12))
            conn_write(c, cont, sizeof cont - 1);
    }
    while (c->len < need) {
        int n = conn_read_more(c, deadline);
        if (n == 0 || n == -2) return 0;
        if (n == -1) {
            st = 408;
            msg = "the request body was not received in time";
            goto fail;
        }
    }
    c->body = c->buf + c->req.head_len;
    c->body_len = body;
    return 1;
fail:
    c->keep_alive = false;
    conn_error(c, st, msg);
    conn_log(c, t0);
    return -1;
}

/* ---- routing ---- */

typedef struct route {
    const char *path, *method;
    void (*fn)(conn *c, const elm_json *root);
    bool open;    /* served without the API key */
    bool decoder; /* needs a decoder model (not a BERT file) */
} route;

static void api_index(conn *c, const elm_json *root) {
    (void)root;
    if (!c->s->p.webui) {
        conn_error(c, 404, "the chat page is turned off (--no-webui)");
        return;
    }
    conn_respond(c, 200, "text/html; charset=utf-8", (const char *)server_webui_html,
                 (size_t)server_webui_html_len,
                 "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
                 "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:\r\n"
                 "X-Content-Type-Options: nosniff\r\n");
}

static const route routes[] = {
    {"/", "GET", api_index, true, false},
    {"/index.html", "GET", api_index, true, false},
    {"/health", "GET", api_health, true, false},
    {"/v1/health", "GET", api_health, true, false},
    {"/v1/models", "GET", api_models, false, false},
    {"/models", "GET", api_models, false, false},
    {"/v1/chat/completions", "POST", api_chat, false, true},
    {"/chat/completions", "POST", api_chat, false, true},
    {"/v1/completions", "POST", api_completions, false, true},
    {"/completions", "POST", api_completions, false, true},
    {"/v1/embeddings", "POST", api_embeddings, false, false},
    {"/embeddings", "POST", api_embeddings, false, false},
    {"/tokenize", "POST", api_tokenize, false, false},
    {"/detokenize", "POST", api_detokenize, false, false},
};

static void conn_route(conn *c) {
    const route *r = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(routes[i].path, c->req.path)) {
            r = &routes[i];
            break;
        }
    if (!r) {
        conn_error(c, 404, "no such endpoint");
        return;
    }
    bool head = !strcmp(c->req.method, "HEAD") && !strcmp(r->method, "GET");
    if (strcmp(c->req.method, r->method) && !head) {
        char allow[64];
        snprintf(allow, sizeof allow, "Allow: %s\r\n", r->method);
        conn_error_ext(c, 405, "method not allowed for this endpoint", allow);
        return;
    }
    if (!r->open && c->s->p.api_key) {
        const char *key;
        size_t len;
        const char *want = c->s->p.api_key;
        if (!http_bearer(&c->req, &key, &len) || !http_secure_equal(key, len, want, strlen(want))) {
            conn_error(c, 401, "invalid or missing API key (Authorization: Bearer KEY)");
            return;
        }
    }
    if (!r->open && !atomic_load(&c->s->loaded)) {
        conn_error(c, 503, "the model is loading");
        return;
    }
    if (r->decoder && !c->s->model) {
        conn_error(c, 501, "this endpoint needs a decoder model; the server runs an encoder (embeddings only)");
        return;
    }
    if (strcmp(r->method, "POST")) {
        r->fn(c, NULL);
        return;
    }
    char msg[320];
    elm_json_doc *doc = oai_parse_body(c->body, c->body_len, msg, sizeof msg);
    if (!doc) {
        conn_error(c, 400, msg);
        return;
    }
    r->fn(c, elm_json_root(doc));
    elm_json_free(doc);
}

static void conn_serve(conn *c) {
    server *s = c->s;
    for (;;) {
        c->keep_alive = true;
        c->chunked = false;
        c->status = 0;
        c->log_prompt = c->log_cache = c->log_eval = c->log_gen = 0;
        c->log_cancelled = false;
        memset(c->req.method, 0, sizeof c->req.method);
        c->req.path[0] = '\0';
        int r = conn_next_request(c);
        if (r <= 0) break;
        double t0 = server_now();
        c->keep_alive = c->req.keep_alive;
        conn_route(c);
        conn_log(c, t0);
        if (!c->keep_alive || c->broken || server_stopping(s)) break;
        /* Pipelined bytes of the next request move to the front. */
        size_t used = c->req.head_len + c->body_len;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Connection threads stay and wait for the next accepted connection: waking a waiting thread
 * is quicker than creating one (a new thread may wait behind a busy machine's run queue for
 * milliseconds). There are at most max_conns of them (one per open connection at the peak). */
static void *server_worker(void *arg) {
    server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->n_ready == 0 && !server_stopping(s)) {
            s->n_idle++;
            server_wait(&s->work_cv, &s->mu);
            s->n_idle--;
        }
        if (s->n_ready == 0) break; /* stopping, nothing left to close */
        conn *c = s->ready[s->ready_head];
        s->ready_head = (s->ready_head + 1) % s->p.max_conns;
        s->n_ready--;
        pthread_mutex_unlock(&s->mu);
        conn_serve(c);
        pthread_mutex_lock(&s->mu);
        s->n_conns--;
        pthread_cond_broadcast(&s->cv);
    }
    s->n_workers--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void server_accept_one(server *s) {
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    int fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_CLOEXEC); /* blocking I/O */
    if (fd < 0) return;
    pthread_mutex_lock(&s->mu);
    bool full = s->n_conns >= s->p.max_conns;
    if (!full) s->n_conns++;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: 82\r\nConnection: close\r\n\r\n"
            "{\"error\":{\"message\":\"too many connections\",\"type\":\"unavailable_error\",\"code\":503}}";
        (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        return;
    }
    struct timeval tv = {.tv_sec = s->p.timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    const size_t cap = s->lim.max_head + 1; /* a whole head fits; bodies grow it */
    if (c) c->buf = malloc(cap);
    if (!c || !c->buf) {
        if (c) free(c->buf);
        free(c);
        close(fd);
        pthread_mutex_lock(&s->mu);
        s->n_conns--;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    c->s = s;
    c->fd = fd;
    c->cap = cap;
    char host[INET6_ADDRSTRLEN] = "?", port[16] = "?";
    getnameinfo((struct sockaddr *)&addr, alen, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->peer, sizeof c->peer, "%s:%s", host, port);
    pthread_mutex_lock(&s->mu);
    /* n_ready < n_conns <= max_conns: the ring has room. */
    s->ready[(s->ready_head + s->n_ready) % s->p.max_conns] = c;
    s->n_ready++;
    if (s->n_idle < s->n_ready) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 1u << 20);
        if (pthread_create(&th, &at, server_worker, s) == 0) s->n_workers++;
        pthread_attr_destroy(&at);
        if (s->n_workers == 0) { /* no thread at all to serve it */
            s->n_ready--;
            s->n_conns--;
            close(fd);
            free(c->buf);
            free(c);
        }
    }
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *server_acceptor(void *arg) {
    server *s = arg;
    while (!server_stopping(s)) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0) server_accept_one(s);
    }
    return NULL;
}

static int server_listen(server *s) {
    char port[16];
    snprintf(port, sizeof port, "%d", s->p.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int e = getaddrinfo(s->p.host, port, &hints, &res);
    if (e) {
        fprintf(stderr, "edgelm serve: --host %s: %s\n", s->p.host, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol); /* accept never blocks the stop check */
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 128)) {
            fprintf(stderr, "edgelm serve: %s:%s: %s\n", s->p.host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?", pbuf[16] = "?";
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, pbuf, sizeof pbuf,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    fprintf(stderr, "edgelm serve: listening on http://%s%s%s:%s\n", strchr(host, ':') ? "[" : "",
            host, strchr(host, ':') ? "]" : "", pbuf);
    return fd;
}

/* Loads the model and creates the slots; false with a message printed. */
/* Reads all of fd (non-blocking) into s->model_buf, polling so that a stop request is seen
 * while no writer has come yet. */
static bool server_read_fd(server *s, int fd, elm_error *err) {
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    bool got = false; /* bytes came: a read of 0 is the end (before: no writer yet) */
    for (;;) {
        if (!buf) {
            snprintf(err->msg, sizeof err->msg, "%s: out of memory", s->p.model);
            return false;
        }
        if (server_stopping(s)) {
            free(buf);
            snprintf(err->msg, sizeof err->msg, "stopped while reading the model");
            return false;
        }
        if (n == cap) {
            char *b = cap < SIZE_MAX / 4 ? realloc(buf, 2 * cap) : NULL;
            if (!b) free(buf);
            buf = b;
            cap *= 2;
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) continue;
        const ssize_t r = read(fd, buf + n, cap - n);
        if (r > 0) {
            n += (size_t)r;
            got = true;
        } else if (r == 0 && got) {
            break;
        } else if (r == 0) {
            struct timespec ts = {0, 50000000L}; /* no writer yet: poll does not wait for one */
            nanosleep(&ts, NULL);
        } else if (errno != EAGAIN && errno != EINTR) {
            snprintf(err->msg, sizeof err->msg, "%s: cannot read: %s", s->p.model, strerror(errno));
            free(buf);
            return false;
        }
    }
    s->model_buf = buf;
    s->model_len = n;
    return true;
}

/* A model that is not a regular file (a pipe: `-m <(...)`, a FIFO) is read whole into memory
 * first, since it cannot be mapped (s->model_buf); a regular file is left to the loaders. */
static bool server_read_pipe(server *s, elm_error *err) {
    struct stat st;
    if (stat(s->p.model, &st) != 0 || S_ISREG(st.st_mode)) return true;
    const int fd = open(s->p.model, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot open: %s", s->p.model, strerror(errno));
        return false;
    }
    const bool ok = server_read_fd(s, fd, err);
    close(fd);
    return ok;
}

static bool server_load(server *s) {
    elm_error err = {0};
    if (!server_read_pipe(s, &err)) {
        fprintf(stderr, "edgelm serve: %s\n", err.msg);
        return false;
    }
    elm_file *f = s->model_buf ? elm_file_open_memory(s->model_buf, s->model_len, &err)
                               : elm_file_open(s->p.model, &err);
    if (!f) {
        fprintf(stderr, "edgelm serve: %s\n", err.msg);
        return false;
    }
    char arch[32];
    snprintf(arch, sizeof arch, "%s", elm_file_arch(f));
    elm_file_close(f);
    const char *base = strrchr(s->p.model, '/');
    snprintf(s->name, sizeof s->name, "%s", base ? base + 1 : s->p.model);
    if (!strcmp(arch, "bert") && s->model_buf) {
        snprintf(err.msg, sizeof err.msg, "a BERT model is served from a regular file, not a pipe");
        goto fail;
    }
    if (!strcmp(arch, "bert")) {
        elm_bert_params bp = elm_bert_default_params();
        bp.n_threads = s->p.n_threads;
        bp.n_seq_max = 8; /* api_embed_bert's batches */
        s->bert = elm_bert_load(s->p.model, &bp, &err);
        if (!s->bert) goto fail;
        s->n_ctx = elm_bert_n_ctx(s->bert);
        fprintf(stderr, "edgelm serve: %s (bert, %d positions): embeddings\n", s->name, s->n_ctx);
        return true;
    }
    if (!strcmp(arch, "t5") || !strcmp(arch, "elmo")) {
        snprintf(err.msg, sizeof err.msg, "%s models are not served (decoders and BERT are)", arch);
        goto fail;
    }
    s->model = s->model_buf ? elm_model_load_memory(s->model_buf, s->model_len, NULL, &err)
                            : elm_model_load(s->p.model, NULL, &err);
    if (!s->model) goto fail;
    if (s->p.chat_template) {
        s->tmpl = elm_chat_template_from_name(s->p.chat_template);
    } else {
        char *jinja = malloc(1 << 16);
        if (jinja && elm_model_chat_template(s->model, jinja, 1 << 16))
            s->tmpl = elm_chat_template_detect(jinja);
        free(jinja);
        if (s->tmpl == ELM_CHAT_UNKNOWN) {
            fprintf(stderr, "edgelm serve: the model's chat template is missing or not recognised: "
                    "using chatml (--chat-template names another)\n");
            s->tmpl = ELM_CHAT_CHATML;
        }
    }
    int32_t probe[4];
    int64_t np = elm_tokenize_text(s->model, "", 0, probe, 4, true, false, &err);
    s->add_bos = np > 0 && probe[0] == elm_token_bos(s->model);
    s->slots = calloc((size_t)s->p.parallel, sizeof *s->slots);
    if (!s->slots) goto fail;
    for (int i = 0; i < s->p.parallel; i++) {
        elm_ctx_params cp = elm_ctx_default_params();
        cp.n_ctx = s->p.n_ctx;
        cp.n_threads = s->p.n_threads;
        cp.type_k = s->p.type_k;
        cp.type_v = s->p.type_v;
        slot *sl = &s->slots[i];
        sl->id = i;
        sl->ctx = elm_ctx_new_ext(s->model, &cp, &err);
        if (!sl->ctx) goto fail;
        s->n_slots = i + 1;
        s->n_ctx = elm_ctx_n_ctx(sl->ctx);
        sl->cache = malloc((size_t)s->n_ctx * sizeof *sl->cache);
        if (!sl->cache) {
            snprintf(err.msg, sizeof err.msg, "out of memory");
            goto fail;
        }
    }
    if (!batch_init(s)) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        goto fail;
    }
    fprintf(stderr, "edgelm serve: %s (%s, %d slots of %d positions, %s chat template)\n", s->name,
            elm_model_arch(s->model), s->n_slots, s->n_ctx, elm_chat_template_name(s->tmpl));
    return true;
fail:
    fprintf(stderr, "edgelm serve: %s\n", err.msg[0] ? err.msg : "failed to load the model");
    return false;
}

static void server_free(server *s) {
    for (int i = 0; i < s->n_slots; i++) {
        elm_ctx_free(s->slots[i].ctx);
        free(s->slots[i].cache);
    }
    free(s->slots);
    batch_free(s);
    elm_model_free(s->model);
    free(s->model_buf);
    elm_bert_free(s->bert);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->bert_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->work_cv);
    pthread_mutex_destroy(&s->bat_mu);
    pthread_cond_destroy(&s->bat_cv);
    free(s->ready);
    free(s);
}

int server_run(const server_params *p, volatile sig_atomic_t *stop) {
    server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->p = *p;
    s->stop = stop;
    s->lim = http_default_limits();
    s->lim.max_body = p->max_body;
    s->created = (long long)time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->bert_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_mutex_init(&s->bat_mu, NULL);
    pthread_cond_init(&s->bat_cv, NULL);
    s->ready = calloc((size_t)p->max_conns, sizeof *s->ready);
    if (!s->ready) {
        server_free(s);
        return 1;
    }
    s->listen_fd = server_listen(s);
    if (s->listen_fd < 0) {
        server_free(s);
        return 1;
    }
    pthread_t acc;
    if (pthread_create(&acc, NULL, server_acceptor, s)) {
        close(s->listen_fd);
        server_free(s);
        return 1;
    }
    int rc = 0;
    if (server_load(s)) atomic_store(&s->loaded, 1);
    else {
        atomic_store(&s->quit, 1);
        rc = 1;
    }
    while (!server_stopping(s)) {
        struct timespec ts = {.tv_nsec = 100000000L};
        nanosleep(&ts, NULL);
    }
    if (!rc) fprintf(stderr, "edgelm serve: stopping\n");
    pthread_join(acc, NULL);
    close(s->listen_fd);
    /* Connection threads see the stop within one poll step or one decoded token. */
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->work_cv);
    while (s->n_conns > 0 || s->n_workers > 0) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    server_free(s);
    return rc;
}
