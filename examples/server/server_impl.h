/*
 * server_impl.h — what server.c (sockets, connections, slots, routing) and api.c (the
 * endpoints) share. Not part of any public interface.
 */
#ifndef EDGELM_SERVER_IMPL_H
#define EDGELM_SERVER_IMPL_H

#include "edgelm.h"
#include "http.h"
#include "json.h"
#include "jsonw.h"
#include "server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct slot {
    int id;
    elm_ctx *ctx;
    int32_t *cache;     /* the tokens in the KV cache, n_cache of them (capacity n_ctx) */
    int32_t n_cache;
    bool busy;
    uint64_t last_used;
    bool bat_pending, bat_ok; /* batch.c: a step queued / its result (under bat_mu) */
    elm_error bat_err;
} slot;

typedef struct server {
    server_params p;
    volatile sig_atomic_t *stop;
    atomic_int quit;        /* set by the server itself (failed load) */
    atomic_int loaded;      /* 0 while loading, 1 ready */
    elm_model *model;       /* decoder, or */
    char *model_buf;        /* the file's bytes when it came through a pipe (else NULL) */
    size_t model_len;
    elm_bert *bert;         /* encoder (embeddings only), used under bert_mu */
    pthread_mutex_t bert_mu;
    char name[256];         /* the model's id in /v1/models */
    elm_chat_template tmpl;
    bool add_bos;
    int32_t n_ctx;          /* positions per slot (BERT: longest sequence) */
    slot *slots;
    int n_slots;
    pthread_mutex_t mu;     /* guards slots' busy/last_used, n_waiting, n_conns, counters */
    pthread_cond_t cv;
    int n_waiting, n_conns;
    struct conn **ready;    /* accepted connections waiting for a thread: a ring of max_conns */
    int ready_head, n_ready;
    int n_workers, n_idle;  /* connection threads, and those waiting for work */
    pthread_cond_t work_cv;
    uint64_t counter;
    int listen_fd;
    long long created;
    http_limits lim;
    /* batch.c: the generation steps of the slots, decoded together */
    pthread_mutex_t bat_mu;
    pthread_cond_t bat_cv;
    int bat_n_gen;          /* slots in their generation loop */
    slot **bat_q;           /* steps waiting for the next batch (n_slots at most) */
    int32_t *bat_ids;
    int bat_n;
    bool bat_running;       /* a leader has taken the queue (the run arrays are its own) */
    slot **bat_run_q;       /* the batch being decoded, the leader's slot first */
    int32_t *bat_run_ids;
    elm_ctx **bat_run_ctx;
    uint64_t bat_steps, bat_rows; /* batches run, and the steps they held */
} server;

typedef struct conn {
    server *s;
    int fd;
    char peer[64];
    char *buf;
    size_t len, cap;
    http_request req;
    const char *body;
    size_t body_len;
    bool keep_alive;
    bool chunked;   /* the response being streamed uses chunked transfer coding */
    bool broken;    /* a write failed: the client is gone */
    int status;     /* for the log line */
    int32_t log_prompt, log_cache, log_eval, log_gen;
    bool log_cancelled;
} conn;

bool server_stopping(const server *s);
double server_now(void);

/* Responses. */
bool conn_write(conn *c, const char *data, size_t n);
void conn_respond(conn *c, int status, const char *ctype, const char *body, size_t n,
                  const char *extra_headers);
void conn_json(conn *c, int status, const jw *w);
void conn_error(conn *c, int status, const char *msg);
/* The OpenAI error object {"error": {"message", "type", "code"}} as one value of w. */
void jw_error(jw *w, int status, const char *msg);
bool conn_alive(conn *c);
bool conn_stream_begin(conn *c);
bool conn_stream_event(conn *c, const jw *w); /* "data: <json>\n\n" */
void conn_stream_end(conn *c);                /* "data: [DONE]" and the last chunk */

/* Slots: acquire waits in the bounded queue; NULL when it is full (503) or the client left. */
slot *slot_acquire(server *s, conn *c, const int32_t *prompt, int32_t n);
void slot_release(server *s, slot *sl);

/* Generation steps (batch.c): between batch_gen_begin and batch_gen_end a slot decodes each
 * sampled token with batch_step, which joins the steps of the other generating slots into
 * one elm_decode_batch; false (and err) when the step failed. */
bool batch_init(server *s);
void batch_free(server *s);
void batch_gen_begin(server *s);
void batch_gen_end(server *s);
bool batch_step(server *s, slot *sl, int32_t id, elm_error *err);

/* Endpoints (api.c): root is the parsed JSON body of a POST (an object), NULL for a GET. */
void api_chat(conn *c, const elm_json *root);
void api_completions(conn *c, const elm_json *root);
void api_embeddings(conn *c, const elm_json *root);
void api_tokenize(conn *c, const elm_json *root);
void api_detokenize(conn *c, const elm_json *root);
void api_models(conn *c, const elm_json *root);
void api_health(conn *c, const elm_json *root);

#endif
