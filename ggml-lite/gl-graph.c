/*
 * gl-graph.c — graph building, memory planning with buffer reuse, the compute loop and the
 * persistent thread pool.
 *
 * Planning: nodes run in order; each intermediate result gets a range of one buffer chosen
 * best-fit from the free list, and its range returns to the free list right after the last
 * node that reads it (through any view) has run. Outputs and the final node stay live. The
 * result is the peak of live bytes (plus fragmentation), not their sum.
 */
#include "gl-impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAPH_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define GRAPH_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define GRAPH_CPU_RELAX() ((void)0)
#endif

/* ------------------------------------------------------------------------------------------
 * Thread pool
 * ---------------------------------------------------------------------------------------- */

/* A waiting thread spins this long, then sleeps until woken. The usual wait (a barrier between
 * two evenly split nodes) is microseconds, so spinning keeps it cheap; a longer one means the
 * other thread is not running, and then a spinning waiter would only take the CPU it needs
 * (with more runnable threads than cores, spinning and yielding made a 2-thread decode of a
 * small model ~500x slower). */
#define POOL_SPIN_NS 100000

struct gl_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t cond;  /* every sleeping waiter, whatever it waits for */
    gl_pool_fn fn;
    void *arg;
    atomic_int generation;  /* bumped for each gl_pool_run */
    atomic_int n_done;      /* workers finished with the current generation */
    atomic_int sleepers;    /* waiters asleep on cond (or about to be) */
    atomic_bool stop;
    _Alignas(GL_CACHE_LINE) atomic_int bar_arrived;
    _Alignas(GL_CACHE_LINE) atomic_int bar_passed;
};

typedef struct pool_worker_arg {
    gl_pool *pool;
    int ith;
} pool_worker_arg;

static uint64_t pool_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True once *word equals value (equal) or differs from it (!equal), or the pool stops. */
static bool pool_waited(gl_pool *pool, atomic_int *word, int value, bool equal) {
    return (atomic_load(word) == value) == equal || atomic_load(&pool->stop);
}

/* Waits for pool_waited: spinning for POOL_SPIN_NS, then asleep. The counter of sleepers and
 * the word are sequentially consistent, so a waker that changed the word either is seen here
 * before sleeping or sees the sleeper and broadcasts under the mutex (pool_wake). */
static void pool_wait(gl_pool *pool, atomic_int *word, int value, bool equal) {
    uint64_t t0 = 0;
    for (unsigned i = 1; !pool_waited(pool, word, value, equal); i++) {
        GRAPH_CPU_RELAX();
        if (i % 64) continue;
        const uint64_t now = pool_now_ns();
        if (!t0) t0 = now;
        if (now - t0 < POOL_SPIN_NS) continue;
        pthread_mutex_lock(&pool->mutex);
        atomic_fetch_add(&pool->sleepers, 1);
        while (!pool_waited(pool, word, value, equal)) pthread_cond_wait(&pool->cond, &pool->mutex);
        atomic_fetch_sub(&pool->sleepers, 1);
        pthread_mutex_unlock(&pool->mutex);
        return;
    }
}

/* After changing a word others wait on: wakes the sleepers, if any (a syscall only then). */
static void pool_wake(gl_pool *pool) {
    if (atomic_load(&pool->sleepers) == 0) return;
    pthread_mutex_lock(&pool->mutex);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mutex);
}

static void *pool_worker_main(void *p) {
    pool_worker_arg *wa = p;
    gl_pool *pool = wa->pool;
    const int ith = wa->ith;
    GL_FREE(wa);
    int seen = 0;
    for (;;) {
        pool_wait(pool, &pool->generation, seen, false);
        if (atomic_load(&pool->stop)) break;
        seen = atomic_load(&pool->generation);
        pool->fn(ith, pool->n_threads, pool->arg);
        atomic_fetch_add(&pool->n_done, 1);
        pool_wake(pool);
    }
    return NULL;
}

gl_pool *gl_pool_new(int n_threads, gl_error *err) {
    if (n_threads < 1 || n_threads > 512) {
        gl_error_set(err, GL_ERR_INVALID, "thread count %d is out of range 1..512", n_threads);
        return NULL;
    }
    gl_pool *pool = GL_ALIGNED_ALLOC(GL_CACHE_LINE, GL_PAD(sizeof(gl_pool), GL_CACHE_LINE));
    if (!pool) {
        gl_error_set(err, GL_ERR_NOMEM, "out of memory for the thread pool");
        return NULL;
    }
    memset(pool, 0, sizeof *pool);
    pool->n_threads = n_threads;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->n_done, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->bar_arrived, 0);
    atomic_init(&pool->bar_passed, 0);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->threads = GL_CALLOC((size_t)n_threads, sizeof(pthread_t));
    if (!pool->threads) {
        gl_pool_free(pool);
        gl_error_set(err, GL_ERR_NOMEM, "out of memory for the thread pool");
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        pool_worker_arg *wa = GL_MALLOC(sizeof *wa);
        int rc = wa ? 0 : ENOMEM;
        if (wa) {
            wa->pool = pool;
            wa->ith = i;
            rc = pthread_create(&pool->threads[i], NULL, pool_worker_main, wa);
            if (rc) GL_FREE(wa);
        }
        if (rc) {
            pool->n_threads = i; /* join only the threads that started */
            gl_pool_free(pool);
            gl_error_set(err, GL_ERR_NOMEM, "cannot start worker thread %d: %s", i,
                         strerror(rc));
            return NULL;
        }
    }
    return pool;
}

void gl_pool_free(gl_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mutex);
    if (pool->threads)
        for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->mutex);
    GL_FREE(pool->threads);
    GL_FREE(pool);
}

int gl_pool_n_threads(const gl_pool *pool) { return pool ? pool->n_threads : 1; }

void gl_pool_run(gl_pool *pool, gl_pool_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(0, 1, arg);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store(&pool->n_done, 0);
    atomic_fetch_add(&pool->generation, 1);
    pool_wake(pool);
    fn(0, pool->n_threads, arg);
    pool_wait(pool, &pool->n_done, pool->n_threads - 1, true);
}

void gl_pool_barrier(gl_pool *pool) {
    if (!pool || pool->n_threads == 1) return;
    const int passed = atomic_load_explicit(&pool->bar_passed, memory_order_acquire);
    if (atomic_fetch_add_explicit(&pool->bar_arrived, 1, memory_order_acq_rel) ==
        pool->n_threads - 1) {
        atomic_store_explicit(&pool->bar_arrived, 0, memory_order_relaxed);
        atomic_fetch_add(&pool->bar_passed, 1);
        pool_wake(pool);
        return;
    }
    pool_wait(pool, &pool->bar_passed, passed, false);
}

void gl_compute_barrier(const gl_compute_params *p) {
    if (p->nth > 1) gl_pool_barrier(p->pool);
}

/* ------------------------------------------------------------------------------------------
 * Graphs
 * ---------------------------------------------------------------------------------------- */

struct gl_graph {
    gl_context *ctx;
    int max_nodes;
    int n_nodes;
    gl_tensor **nodes;    /* execution order; leaves (op NONE) are not listed */
    size_t hash_size;     /* visited set (open addressing over tensor pointers) */
    gl_tensor **hash;
    gl_graph_plan plan;
    bool planned, allocated;
    void *work;
    size_t work_size;
};

static size_t graph_hash_slot(const gl_graph *g, const gl_tensor *t) {
    size_t h = ((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ULL;
    return h & (g->hash_size - 1);
}

/* True if t was already visited; otherwise marks it. */
static bool graph_visit(gl_graph *g, gl_tensor *t, bool *full) {
    size_t i = graph_hash_slot(g, t);
    for (size_t n = 0; n < g->hash_size; n++, i = (i + 1) & (g->hash_size - 1)) {
        if (g->hash[i] == t) return true;
        if (!g->hash[i]) {
            g->hash[i] = t;
            return false;
        }
    }
    *full = true;
    return true;
}

gl_graph *gl_graph_new(gl_context *ctx, int max_nodes) {
    if (!ctx || !gl_ctx_ok(ctx)) return NULL;
    if (max_nodes < 1 || max_nodes > (1 << 24)) {
        gl_ctx_fail(ctx, "gl_graph_new: max_nodes %d out of range", max_nodes);
        return NULL;
    }
    size_t hash_size = 16;
    while (hash_size < (size_t)max_nodes * 4) hash_size <<= 1;
    /* The graph lives in the context's arena (even a no_alloc one). */
    size_t bytes = sizeof(gl_graph) + (size_t)max_nodes * sizeof(gl_tensor *) +
                   hash_size * sizeof(gl_tensor *) + 2 * GL_ALIGN;
    void *store = gl_ctx_alloc(ctx, bytes, "a graph");
    if (!store) return NULL;
    memset(store, 0, bytes);
    gl_graph *g = store;
    g->ctx = ctx;
    g->max_nodes = max_nodes;
    g->nodes = (gl_tensor **)GL_PAD((uintptr_t)(g + 1), sizeof(void *));
    g->hash_size = hash_size;
    g->hash = g->nodes + max_nodes;
    return g;
}

/* Depth-first, sources before users, without recursion (graphs of LSTM steps get deep). */
gl_status gl_graph_expand(gl_graph *g, gl_tensor *out) {
    if (!g || !out) return GL_ERR_INVALID;
    typedef struct {
        gl_tensor *t;
        int next_src;
    } frame;
    enum { STACK_CHUNK = 256 };
    frame local[STACK_CHUNK];
    frame *stack = local;
    size_t cap = STACK_CHUNK, depth = 0;
    bool full = false;
    gl_status st = GL_OK;

    if (graph_visit(g, out, &full)) return full ? GL_ERR_NOMEM : GL_OK;
    stack[depth++] = (frame){out, 0};
    while (depth > 0) {
        frame *f = &stack[depth - 1];
        if (f->next_src < GL_MAX_SRC) {
            gl_tensor *s = f->t->src[f->next_src++];
            if (s == NULL || graph_visit(g, s, &full)) {
                if (full) { st = GL_ERR_NOMEM; break; }
                continue;
            }
            if (depth == cap) {
                size_t ncap = cap * 2;
                frame *ns = GL_MALLOC(ncap * sizeof *ns);
                if (!ns) { st = GL_ERR_NOMEM; break; }
                memcpy(ns, stack, depth * sizeof *ns);
                if (stack != local) GL_FREE(stack);
                stack = ns;
                cap = ncap;
            }
            stack[depth++] = (frame){s, 0};
            continue;
        }
        gl_tensor *t = f->t;
        depth--;
        if (t->op == GL_OP_NONE) continue; /* leaves are not executed */
        if (g->n_nodes >= g->max_nodes) {
            gl_ctx_fail(g->ctx, "graph has more than %d nodes", g->max_nodes);
            st = GL_ERR_NOMEM;
            break;
        }
        g->nodes[g->n_nodes++] = t;
    }
    if (stack != local) GL_FREE(stack);
    if (full) gl_ctx_fail(g->ctx, "graph visited-set is full (%zu)", g->hash_size);
    g->planned = g->allocated = false;
    return st;
}

int gl_graph_n_nodes(const gl_graph *g) { return g ? g->n_nodes : 0; }
gl_tensor *gl_graph_node(const gl_graph *g, int i) {
    return g && i >= 0 && i < g->n_nodes ? g->nodes[i] : NULL;
}

/* The tensor whose memory t uses: its view base, or for a copy, its destination's base. */
static gl_tensor *graph_storage_of(gl_tensor *t) {
    if (t->view_src) return t->view_src;
    if (t->op == GL_OP_CPY && t->src[1]) {
        gl_tensor *d = t->src[1];
        return d->view_src ? d->view_src : d;
    }
    return t;
}

static size_t graph_storage_offset(const gl_tensor *t) {
    if (t->view_src) return t->view_offs;
    if (t->op == GL_OP_CPY && t->src[1]) return t->src[1]->view_src ? t->src[1]->view_offs : 0;
    return 0;
}

/* A node needs a buffer of its own when it owns its storage (not a view or an in-place copy). */
static bool graph_needs_buffer(const gl_tensor *t) {
    return t->op != GL_OP_NONE && t->op != GL_OP_VIEW && t->view_src == NULL &&
           !(t->op == GL_OP_CPY && t->src[1]);
}

/* ---- free-list allocator over offsets (planning only; no memory is touched) ---- */

#define GRAPH_MAX_FREE 512

typedef struct graph_free_block {
    size_t offs, size;
} graph_free_block;

typedef struct graph_allocator {
    graph_free_block blocks[GRAPH_MAX_FREE];
    int n;
    size_t top;  /* end of the highest range in use */
    size_t peak; /* the largest top ever: the buffer size the plan needs */
    bool overflow; /* the buffer would not fit size_t (32-bit builds, huge contexts) */
} graph_allocator;

static size_t graph_grow_top(graph_allocator *a, size_t offs, size_t size) {
    if (size > SIZE_MAX - GL_ALIGN - offs) {
        a->overflow = true;
        return 0;
    }
    a->top = offs + size;
    if (a->top > a->peak) a->peak = a->top;
    return offs;
}

static size_t graph_alloc_range(graph_allocator *a, size_t size) {
    int best = -1;
    for (int i = 0; i < a->n; i++)
        if (a->blocks[i].size >= size && (best < 0 || a->blocks[i].size < a->blocks[best].size))
            best = i;
    if (best >= 0) {
        size_t offs = a->blocks[best].offs;
        a->blocks[best].offs += size;
        a->blocks[best].size -= size;
        if (a->blocks[best].size == 0) a->blocks[best] = a->blocks[--a->n];
        return offs;
    }
    /* Grow at the top, merging with a free block that ends there. */
    for (int i = 0; i < a->n; i++) {
        if (a->blocks[i].offs + a->blocks[i].size == a->top) {
            size_t offs = a->blocks[i].offs;
            a->blocks[i] = a->blocks[--a->n];
            return graph_grow_top(a, offs, size);
        }
    }
    return graph_grow_top(a, a->top, size);
}

static void graph_free_range(graph_allocator *a, size_t offs, size_t size) {
    /* Merge with neighbours so the list stays short. */
    for (int i = 0; i < a->n; i++) {
        if (a->blocks[i].offs + a->blocks[i].size == offs) {
            a->blocks[i].size += size;
            offs = a->blocks[i].offs;
            size = a->blocks[i].size;
            a->blocks[i] = a->blocks[--a->n];
            i = -1;
            continue;
        }
        if (offs + size == a->blocks[i].offs) {
            size += a->blocks[i].size;
            a->blocks[i] = a->blocks[--a->n];
            i = -1;
        }
    }
    if (offs + size == a->top) {
        a->top = offs;
        return;
    }
    if (a->n < GRAPH_MAX_FREE) a->blocks[a->n++] = (graph_free_block){offs, size};
    /* else: the range is leaked for this plan (only wastes memory, stays correct) */
}

/* One reader of owner's storage is done; frees the range after the last one. */
static void graph_release(gl_graph *g, graph_allocator *alloc, gl_tensor *owner) {
    if (owner->op == GL_OP_NONE) return;
    if (--owner->n_children == 0 && owner->plan_slot == 1 && !owner->is_output &&
        owner != g->nodes[g->n_nodes - 1])
        graph_free_range(alloc, owner->plan_offs, GL_PAD(gl_nbytes(owner), GL_ALIGN));
}

gl_status gl_graph_plan_memory(gl_graph *g, int n_threads, gl_graph_plan *plan, gl_error *err) {
    if (!g || !plan) return gl_error_set(err, GL_ERR_INVALID, "gl_graph_plan_memory: NULL");
    if (!gl_ctx_ok(g->ctx))
        return gl_error_set(err, GL_ERR_INVALID, "graph building failed: %s",
                            gl_ctx_error(g->ctx));
    if (n_threads < 1) n_threads = 1;
    memset(plan, 0, sizeof *plan);
    plan->n_threads = n_threads;

    /* Count the pending readers of each node's storage (n_children). Leaves (weights, inputs)
     * are never written: they may be shared with graphs planned on other threads. */
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        t->n_children = 0;
        t->plan_slot = -1;
        /* Results get fresh places: pointers of an earlier plan may point into a freed buffer.
         * Views and copies take theirs from their storage owner at allocation. */
        t->data = NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        for (int s = 0; s < GL_MAX_SRC; s++) {
            if (!t->src[s]) continue;
            gl_tensor *owner = graph_storage_of(t->src[s]);
            if (owner->op != GL_OP_NONE) owner->n_children++;
        }
        /* A view or copy node keeps its storage alive while the node itself is read. */
        gl_tensor *own = graph_storage_of(t);
        if (own != t && own->op != GL_OP_NONE) own->n_children++;
    }

    graph_allocator alloc = {.n = 0, .top = 0, .peak = 0};
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        size_t ws = gl_op_work_size(t, n_threads);
        if (ws > plan->work_size) plan->work_size = ws;
        if (graph_needs_buffer(t)) {
            size_t size = GL_PAD(gl_nbytes(t), GL_ALIGN);
            t->plan_offs = graph_alloc_range(&alloc, size);
            t->plan_slot = 1;
            plan->naive_size += size;
        }
        /* Release the storage of sources whose last reader is this node. */
        for (int s = 0; s < GL_MAX_SRC; s++)
            if (t->src[s]) graph_release(g, &alloc, graph_storage_of(t->src[s]));
        gl_tensor *own = graph_storage_of(t);
        if (own != t) graph_release(g, &alloc, own);
    }
    if (alloc.overflow || plan->work_size > SIZE_MAX / 2 - GL_ALIGN || alloc.peak > SIZE_MAX / 2 - GL_ALIGN)
        return gl_error_set(err, GL_ERR_NOMEM,
                            "graph buffers do not fit this process's address space (%u-bit build): "
                            "use a smaller context or batch", (unsigned)(sizeof(void *) * 8));
    plan->buffer_size = GL_PAD(alloc.peak, GL_ALIGN);
    plan->work_size = GL_PAD(plan->work_size, GL_ALIGN);
    g->plan = *plan;
    g->planned = true;
    g->allocated = false;
    return GL_OK;
}

gl_status gl_graph_alloc(gl_graph *g, const gl_graph_plan *plan, void *buf, size_t size,
                         gl_error *err) {
    if (!g || !plan) return gl_error_set(err, GL_ERR_INVALID, "gl_graph_alloc: NULL");
    if (!g->planned)
        return gl_error_set(err, GL_ERR_INVALID, "gl_graph_alloc: plan the graph first");
    size_t need = plan->buffer_size + plan->work_size;
    if ((need > 0 && !buf) || size < need)
        return gl_error_set(err, GL_ERR_NOMEM, "gl_graph_alloc: buffer of %zu bytes, need %zu",
                            size, need);
    if (((uintptr_t)buf & (GL_ALIGN - 1)) != 0)
        return gl_error_set(err, GL_ERR_INVALID, "gl_graph_alloc: buffer not %d-byte aligned",
                            GL_ALIGN);
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        if (t->plan_slot == 1) t->data = (char *)buf + t->plan_offs;
    }
    /* Views and copies take their data from their storage owner, in order. */
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        gl_tensor *own = graph_storage_of(t);
        if (own != t && own->data) t->data = (char *)own->data + graph_storage_offset(t);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        gl_tensor *t = g->nodes[i];
        if (!t->data)
            return gl_error_set(err, GL_ERR_INVALID, "gl_graph_alloc: node %d (%s '%s') has no data",
                                i, gl_op_name(t->op), t->name);
        for (int s = 0; s < GL_MAX_SRC; s++)
            if (t->src[s] && !t->src[s]->data)
                return gl_error_set(err, GL_ERR_INVALID,
                                    "gl_graph_alloc: source %d '%s' of node %d (%s) has no data "
                                    "(a leaf in a no_alloc context that was never given memory?)",
                                    s, t->src[s]->name, i, gl_op_name(t->op));
    }
    g->work = plan->work_size ? (char *)buf + plan->buffer_size : NULL;
    g->work_size = plan->work_size;
    g->allocated = true;
    return GL_OK;
}

/* ---- compute ---- */

typedef struct graph_run {
    gl_graph *g;
    gl_pool *pool;
    _Alignas(GL_CACHE_LINE) atomic_int chunk[2];
    gl_compute_error error;
} graph_run;

void gl_compute_fail(const gl_compute_params *p, const gl_tensor *t, const char *fmt, ...) {
    if (!p || !p->error) return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&p->error->set, &expected, 1)) return; /* the first wins */
    p->error->node = t;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error->msg, sizeof p->error->msg, fmt, ap);
    va_end(ap);
}

/* Index of the first node after i that computes something (views do not), or n_nodes. */
static int graph_next_exec(const gl_graph *g, int i) {
    for (i++; i < g->n_nodes && g->nodes[i]->op == GL_OP_VIEW; i++) {
    }
    return i;
}

/* Every thread runs every node (those a node does not split across threads skip its work)
 * and meets the others at a barrier after it, so the next node sees complete inputs. Between
 * two nodes that only thread 0 runs (single-task: small element-wise ops on one token's row,
 * say) no barrier is needed: thread 0 runs them in order, and the other threads wait at the
 * barrier after the last of the run. Every thread takes the same decisions, so all of them
 * call the barrier equally often. */
static void graph_compute_thread(int ith, int nth, void *arg) {
    graph_run *run = arg;
    gl_graph *g = run->g;
    int k = 0; /* executed nodes so far: selects this node's work counter */
    const int first = graph_next_exec(g, -1);
    int n_tasks = nth > 1 && first < g->n_nodes ? gl_op_n_tasks(g->nodes[first], nth) : 1;
    for (int i = first, next; i < g->n_nodes; i = next) {
        gl_tensor *t = g->nodes[i];
        next = graph_next_exec(g, i);
        const int next_tasks = nth > 1 && next < g->n_nodes ? gl_op_n_tasks(g->nodes[next], nth) : 1;
        gl_compute_params p = {
            .ith = ith,
            .nth = n_tasks > 1 ? nth : 1,
            .wdata = g->work,
            .wsize = g->work_size,
            .pool = run->pool,
            .chunk = &run->chunk[k & 1],
            .error = &run->error,
        };
        /* after an error the remaining nodes are skipped, but every barrier is still met */
        const bool failed = atomic_load_explicit(&run->error.set, memory_order_acquire) != 0;
        if ((p.nth > 1 || ith == 0) && !failed) gl_compute_forward(&p, t);
        /* The next executed node's counter is idle now (its last user finished before the
         * previous barrier): reset it before everyone moves on. */
        if (ith == 0) atomic_store_explicit(&run->chunk[(k + 1) & 1], 0, memory_order_relaxed);
        k++;
        const bool thread0_only = n_tasks <= 1 && next_tasks <= 1 && next < g->n_nodes;
        if (nth > 1 && !thread0_only) gl_pool_barrier(run->pool);
        n_tasks = next_tasks;
    }
}

gl_status gl_graph_compute(gl_graph *g, gl_pool *pool, gl_error *err) {
    if (!g) return gl_error_set(err, GL_ERR_INVALID, "gl_graph_compute: NULL graph");
    if (!g->allocated)
        return gl_error_set(err, GL_ERR_INVALID, "gl_graph_compute: graph is not allocated");
    int nth = gl_pool_n_threads(pool);
    if (g->plan.n_threads < nth)
        return gl_error_set(err, GL_ERR_INVALID,
                            "gl_graph_compute: planned for %d threads, pool has %d",
                            g->plan.n_threads, nth);
    graph_run run = {.g = g, .pool = pool};
    atomic_init(&run.chunk[0], 0);
    atomic_init(&run.chunk[1], 0);
    atomic_init(&run.error.set, 0);
    gl_pool_run(pool, graph_compute_thread, &run);
    if (atomic_load(&run.error.set)) {
        const gl_tensor *t = run.error.node;
        int idx = -1;
        for (int i = 0; i < g->n_nodes && idx < 0; i++)
            if (g->nodes[i] == t) idx = i;
        return gl_error_set(err, GL_ERR_INVALID, "gl_graph_compute: node %d (%s '%s'): %s", idx,
                            t ? gl_op_name(t->op) : "?", t ? t->name : "", run.error.msg);
    }
    return GL_OK;
}
