/*
 * batch.c — the slots' generation steps, decoded together.
 *
 * Every slot runs its request on its own connection thread. Between two tokens a slot calls
 * batch_step; the steps of the slots that are generating at the same time go into one
 * elm_decode_batch, so the weights are read once per step for all of them instead of once
 * per slot. The first thread to arrive while no batch runs leads: it waits (at most
 * BATCH_WAIT_MS) until every generating slot has arrived, takes them all, decodes them on its
 * own context's threads and wakes them with their results. A slot that is slow to come back
 * (a stalled client's write) delays the others by at most that wait.
 */
#include "server_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_WAIT_MS 2

bool batch_init(server *s) {
    const size_t n = (size_t)s->n_slots;
    s->bat_q = calloc(n, sizeof *s->bat_q);
    s->bat_ids = calloc(n, sizeof *s->bat_ids);
    s->bat_run_q = calloc(n, sizeof *s->bat_run_q);
    s->bat_run_ids = calloc(n, sizeof *s->bat_run_ids);
    s->bat_run_ctx = calloc(n, sizeof *s->bat_run_ctx);
    return s->bat_q && s->bat_ids && s->bat_run_q && s->bat_run_ids && s->bat_run_ctx;
}

void batch_free(server *s) {
    free(s->bat_q);
    free(s->bat_ids);
    free(s->bat_run_q);
    free(s->bat_run_ids);
    free(s->bat_run_ctx);
}

void batch_gen_begin(server *s) {
    pthread_mutex_lock(&s->bat_mu);
    s->bat_n_gen++;
    pthread_mutex_unlock(&s->bat_mu);
}

void batch_gen_end(server *s) {
    pthread_mutex_lock(&s->bat_mu);
    s->bat_n_gen--;
    pthread_cond_broadcast(&s->bat_cv); /* a leader waiting for this slot need not */
    pthread_mutex_unlock(&s->bat_mu);
}

/* Decodes the n steps taken (the leader's first); on a failed batch each on its own. */
static void batch_run(server *s, int n) {
    slot **q = s->bat_run_q;
    const int32_t *ids = s->bat_run_ids;
    elm_ctx **ctxs = s->bat_run_ctx;
    for (int i = 0; i < n; i++) ctxs[i] = q[i]->ctx;
    elm_error err = {0};
    if (elm_decode_batch(ctxs, ids, n, &err) == ELM_OK) {
        for (int i = 0; i < n; i++) q[i]->bat_ok = true;
        return;
    }
    for (int i = 0; i < n; i++) {
        q[i]->bat_ok = elm_decode(q[i]->ctx, &ids[i], 1, ELM_OUT_LOGITS_LAST, &q[i]->bat_err) == ELM_OK;
    }
}

/* Lead one batch: wait for the other generating slots, take the queue, decode it. */
static void batch_lead(server *s, slot *sl) {
    s->bat_running = true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += BATCH_WAIT_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (s->bat_n < s->bat_n_gen && pthread_cond_timedwait(&s->bat_cv, &s->bat_mu, &until) == 0) {}
    const int n = s->bat_n;
    slot **q = s->bat_run_q; /* the leader's alone while bat_running */
    int32_t *ids = s->bat_run_ids;
    int at = 1;
    for (int i = 0; i < n; i++) { /* the leader first: its context's threads run the step */
        const int k = s->bat_q[i] == sl ? 0 : at++;
        q[k] = s->bat_q[i];
        ids[k] = s->bat_ids[i];
    }
    s->bat_n = 0;
    pthread_mutex_unlock(&s->bat_mu);
    batch_run(s, n);
    pthread_mutex_lock(&s->bat_mu);
    for (int i = 0; i < n; i++) q[i]->bat_pending = false;
    s->bat_running = false;
    s->bat_steps++;
    s->bat_rows += (uint64_t)n;
    pthread_cond_broadcast(&s->bat_cv);
}

bool batch_step(server *s, slot *sl, int32_t id, elm_error *err) {
    pthread_mutex_lock(&s->bat_mu);
    s->bat_q[s->bat_n] = sl;
    s->bat_ids[s->bat_n] = id;
    s->bat_n++;
    sl->bat_pending = true;
    sl->bat_ok = false;
    pthread_cond_broadcast(&s->bat_cv);
    while (sl->bat_pending) {
        if (!s->bat_running) batch_lead(s, sl);
        else pthread_cond_wait(&s->bat_cv, &s->bat_mu);
    }
    pthread_mutex_unlock(&s->bat_mu);
    if (!sl->bat_ok && err) *err = sl->bat_err;
    return sl->bat_ok;
}
