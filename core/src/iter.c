/*
 * imap and imap_unordered: lazy, bounded iteration.
 *
 * The input is cut into chunks; at most `window` chunks are submitted and not
 * yet consumed at any time, each with its own slice of one result buffer and
 * one status array allocated up front (so running a chunk never allocates,
 * except for the text of an error message).  When the consumer has taken the
 * last result of a chunk, that slot is refilled with the next chunk of the
 * input.  Ordered iteration consumes slots in chunk order; unordered takes
 * chunks from a completion list.  Chunks are roots in the pool's injection
 * queue, run by whichever executor takes them.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ielem_msg {
    struct ielem_msg *next;
    size_t index;
    char text[FP_ERROR_MAX];
} ielem_msg_t;

typedef struct ichunk {
    fp__root_t root; /* first: roots are cast back to chunks */
    fp_iter_t *it;
    size_t lo, hi;
    char *out;            /* (hi-lo) results */
    fp_status_t *status;  /* (hi-lo) statuses */
    ielem_msg_t *msgs;    /* error texts, in index order */
    ielem_msg_t **msgs_tail;
    struct ichunk *next_done;
    bool done; /* under it->lock */
} ichunk_t;

struct fp_iter {
    fp_pool_t *pool;
    fp_task_fn_t fn;
    char name[FP_NAME_MAX];
    const char *in;
    size_t in_size, n, out_size;
    bool ordered;
    size_t chunk, nchunks, window;
    ichunk_t *slots;
    char *outbuf;
    fp_status_t *statusbuf;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int stop;
    size_t inflight;     /* submitted, not yet completed */
    size_t next_submit;  /* next chunk number to submit */
    size_t taken;        /* results handed out */
    size_t consume_chunk; /* ordered: chunk number being consumed */
    size_t consume_pos;   /* position inside the chunk being consumed */
    ichunk_t *cur;        /* chunk being consumed */
    ichunk_t *done_head, *done_tail; /* unordered: completed, not consumed */

    /* a consumer that is an executor of the pool sleeps on the pool's futex:
     * chunk completions bump `progress` and wake the bits in `task_waiters`
     * (both under `lock`) */
    atomic_uint progress;
    atomic_uint task_waiters;
};

static void chunk_run(fp_task_t *t, fp__root_t *root)
{
    ichunk_t *c = (ichunk_t *)root;
    fp_iter_t *it = c->it;
    fp_pool_t *pool = it->pool;
    const size_t in_size = it->in_size, out_size = it->out_size;
    fp_cbuf_t arg = {NULL, in_size};
    fp_buf_t out = {NULL, out_size};
    fp__call_state_t saved;
    fp__call_state_save(t, &saved);
    t->out = &out;
    t->apply_mode = false;
    for (size_t i = c->lo; i < c->hi; i++) {
        size_t k = i - c->lo;
        if (FP__UNLIKELY(atomic_load_explicit(&it->stop, memory_order_relaxed))) {
            for (; k < c->hi - c->lo; k++)
                c->status[k] = FP_ERR_CANCELED;
            break;
        }
        fp__check_updates(t);
        arg.data = it->in != NULL ? it->in + i * in_size : NULL;
        out.data = c->out != NULL ? c->out + k * out_size : NULL;
        out.size = out_size;
        t->flags = 0;
        t->has_msg = false;
        t->depth++;
        fp_status_t st = it->fn(t, &arg, 1, &out);
        t->depth--;
        if (FP__UNLIKELY(st != FP_OK || t->flags != 0)) {
            if (st == FP_OK || st > 0)
                st = t->flags != 0 ? t->flag_status : FP_ERR_TASK;
            ielem_msg_t *m = malloc(sizeof(*m));
            if (m != NULL) { /* without it, next() writes a generic text */
                m->next = NULL;
                m->index = i;
                if (t->has_msg)
                    memcpy(m->text, t->msg, sizeof(m->text));
                else
                    snprintf(m->text, sizeof(m->text),
                             "task '%s' failed at element %zu: %s", it->name,
                             i, fp_status_string(st));
                *c->msgs_tail = m;
                c->msgs_tail = &m->next;
            }
        }
        c->status[k] = st;
    }
    fp__call_state_restore(t, &saved);

    pthread_mutex_lock(&it->lock);
    c->done = true;
    if (!it->ordered) {
        c->next_done = NULL;
        if (it->done_tail != NULL)
            it->done_tail->next_done = c;
        else
            it->done_head = c;
        it->done_tail = c;
    }
    it->inflight--;
    atomic_fetch_add_explicit(&it->progress, 1, memory_order_relaxed);
    unsigned wake =
        atomic_load_explicit(&it->task_waiters, memory_order_relaxed);
    pthread_cond_broadcast(&it->cond);
    pthread_mutex_unlock(&it->lock);
    fp__task_wake(pool, wake); /* `it` may be gone: only the pool now */
    fp__pool_work_done(pool);
}

/* Under it->lock: fill `c` with the next chunk of input and queue it. */
static void chunk_submit(fp_iter_t *it, ichunk_t *c)
{
    size_t no = it->next_submit++;
    c->lo = no * it->chunk;
    c->hi = c->lo + it->chunk < it->n ? c->lo + it->chunk : it->n;
    c->done = false;
    c->msgs = NULL;
    c->msgs_tail = &c->msgs;
    c->next_done = NULL;
    it->inflight++;
    fp__pool_work_begin(it->pool);
    fp__pool_inject(it->pool, &c->root);
}

static fp_status_t iter_create(fp_pool_t *pool, const char *task,
                               const void *in, size_t in_size, size_t n,
                               size_t out_size, const fp_call_params_t *params,
                               bool ordered, fp_iter_t **iter_p)
{
    if (pool == NULL || task == NULL || iter_p == NULL)
        return FP_ERR_INVALID;
    if (n > 0 && in == NULL && in_size != 0)
        return FP_ERR_INVALID;
    if (in_size != 0 && n > SIZE_MAX / in_size)
        return FP_ERR_INVALID;
    fp_task_fn_t fn;
    fp_status_t st = fp_task_lookup(task, &fn);
    if (st != FP_OK)
        return st;

    fp_iter_t *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return FP_ERR_NOMEM;
    it->pool = pool;
    it->fn = fn;
    snprintf(it->name, sizeof(it->name), "%s", task);
    it->in = in;
    it->in_size = in_size;
    it->n = n;
    it->out_size = out_size;
    it->ordered = ordered;
    it->window = pool->n * 4 > 2 ? (size_t)pool->n * 4 : 2;
    if (params != NULL && params->chunksize > 0) {
        it->chunk = params->chunksize;
    } else {
        /* small enough that the window keeps memory low and the consumer
         * sees results early, large enough to amortise the hand-over */
        size_t c = n / (it->window * 4);
        it->chunk = c < 1 ? 1 : c > 4096 ? 4096 : c;
    }
    if (it->chunk > n)
        it->chunk = n > 0 ? n : 1; /* a chunk never needs more than n slots */
    it->nchunks = n / it->chunk + (n % it->chunk != 0);
    if (it->window > it->nchunks)
        it->window = it->nchunks > 0 ? it->nchunks : 1;

    size_t per = it->chunk;
    size_t elem = out_size > sizeof(fp_status_t) ? out_size : sizeof(fp_status_t);
    if (per > SIZE_MAX / elem / it->window) {
        free(it);
        return FP_ERR_INVALID;
    }
    it->slots = calloc(it->window, sizeof(*it->slots));
    it->statusbuf = calloc(it->window * per, sizeof(*it->statusbuf));
    if (out_size != 0)
        it->outbuf = malloc(it->window * per * out_size);
    if (it->slots == NULL || it->statusbuf == NULL ||
        (out_size != 0 && it->outbuf == NULL)) {
        free(it->slots);
        free(it->statusbuf);
        free(it->outbuf);
        free(it);
        return FP_ERR_NOMEM;
    }
    for (size_t s = 0; s < it->window; s++) {
        ichunk_t *c = &it->slots[s];
        c->root.run = chunk_run;
        c->it = it;
        c->out = it->outbuf != NULL ? it->outbuf + s * per * out_size : NULL;
        c->status = it->statusbuf + s * per;
    }
    pthread_mutex_init(&it->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&it->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_fetch_add(&pool->live_iters, 1);

    pthread_mutex_lock(&it->lock);
    for (size_t s = 0; s < it->window && it->next_submit < it->nchunks; s++)
        chunk_submit(it, &it->slots[s]);
    pthread_mutex_unlock(&it->lock);
    *iter_p = it;
    return FP_OK;
}

fp_status_t fp_imap(fp_pool_t *pool, const char *task, const void *in,
                    size_t in_size, size_t n, size_t out_size,
                    const fp_call_params_t *params, fp_iter_t **iter_p)
{
    return iter_create(pool, task, in, in_size, n, out_size, params, true,
                       iter_p);
}

fp_status_t fp_imap_unordered(fp_pool_t *pool, const char *task,
                              const void *in, size_t in_size, size_t n,
                              size_t out_size, const fp_call_params_t *params,
                              fp_iter_t **iter_p)
{
    return iter_create(pool, task, in, in_size, n, out_size, params, false,
                       iter_p);
}

/* Under it->lock: the chunk to consume next if it is complete, else NULL. */
static ichunk_t *iter_ready(fp_iter_t *it)
{
    if (it->cur != NULL)
        return it->cur;
    if (it->ordered) {
        ichunk_t *c = &it->slots[it->consume_chunk % it->window];
        return c->done ? c : NULL;
    }
    ichunk_t *c = it->done_head;
    if (c != NULL) {
        it->done_head = c->next_done;
        if (it->done_head == NULL)
            it->done_tail = NULL;
    }
    return c;
}

/* Under it->lock: wait for a change, at most until the monotonic `deadline`
 * (INFINITY: none).  False on timeout. */
static bool iter_wait(fp_iter_t *it, double deadline)
{
    fp_task_t *t = fp__current_task(it->pool);
    if (t != NULL) {
        /* an executor of this pool: work instead of blocking, sleep when
         * there is none; registered under the lock, so the next chunk
         * completion sees our bit */
        atomic_fetch_or(&it->task_waiters, fp__task_bit(t));
        unsigned seen = atomic_load(&it->progress);
        pthread_mutex_unlock(&it->lock);
        bool changed = fp__task_wait(t, &it->progress, seen, &it->task_waiters,
                                     deadline);
        pthread_mutex_lock(&it->lock);
        return changed;
    }
    struct timespec ts;
    if (!fp__timespec(deadline, &ts)) { /* forever */
        pthread_cond_wait(&it->cond, &it->lock);
        return true;
    }
    return pthread_cond_timedwait(&it->cond, &it->lock, &ts) != ETIMEDOUT ||
           fp__now() < deadline;
}

fp_status_t fp_iter_next(fp_iter_t *it, void *out, size_t *index,
                         double timeout, fp_error_t *err)
{
    if (it == NULL || (out == NULL && it->out_size != 0))
        return FP_ERR_INVALID;
    double deadline = fp__deadline(timeout); /* INFINITY: forever */

    pthread_mutex_lock(&it->lock);
    if (it->taken == it->n) {
        pthread_mutex_unlock(&it->lock);
        return FP_END;
    }
    ichunk_t *c;
    while ((c = iter_ready(it)) == NULL) {
        if (timeout == 0 || !iter_wait(it, deadline)) {
            pthread_mutex_unlock(&it->lock);
            return FP_ERR_TIMEOUT;
        }
    }
    it->cur = c;
    pthread_mutex_unlock(&it->lock);

    /* the chunk is complete: only this consumer touches it now */
    size_t k = it->consume_pos;
    size_t i = c->lo + k;
    fp_status_t st = c->status[k];
    if (it->out_size != 0)
        memcpy(out, c->out + k * it->out_size, it->out_size);
    if (index != NULL)
        *index = i;
    if (st != FP_OK && err != NULL) {
        err->status = st;
        err->index = i;
        ielem_msg_t *m = c->msgs;
        if (m != NULL && m->index == i) {
            memcpy(err->message, m->text, sizeof(err->message));
        } else {
            snprintf(err->message, sizeof(err->message),
                     "task '%s' failed at element %zu: %s", it->name, i,
                     fp_status_string(st));
        }
    }
    if (st != FP_OK && c->msgs != NULL && c->msgs->index == i) {
        ielem_msg_t *m = c->msgs;
        c->msgs = m->next;
        free(m);
    }

    it->consume_pos++;
    pthread_mutex_lock(&it->lock);
    it->taken++;
    if (it->consume_pos == c->hi - c->lo) {
        /* chunk used up: refill its slot with the next input chunk */
        for (ielem_msg_t *m = c->msgs, *next; m != NULL; m = next) {
            next = m->next;
            free(m);
        }
        c->msgs = NULL;
        it->cur = NULL;
        it->consume_pos = 0;
        it->consume_chunk++;
        if (it->next_submit < it->nchunks &&
            !atomic_load_explicit(&it->stop, memory_order_relaxed))
            chunk_submit(it, c);
    }
    pthread_mutex_unlock(&it->lock);
    return st;
}

void fp_iter_destroy(fp_iter_t *it)
{
    if (it == NULL)
        return;
    fp_pool_t *pool = it->pool;
    atomic_store(&it->stop, 1);
    pthread_mutex_lock(&it->lock);
    /* take back chunks no executor has started */
    for (size_t s = 0; s < it->window; s++) {
        ichunk_t *c = &it->slots[s];
        if (fp__pool_uninject(pool, &c->root)) {
            it->inflight--;
            fp__pool_work_done(pool);
        }
    }
    while (it->inflight > 0)
        iter_wait(it, INFINITY);
    pthread_mutex_unlock(&it->lock);

    for (size_t s = 0; s < it->window; s++)
        for (ielem_msg_t *m = it->slots[s].msgs, *next; m != NULL; m = next) {
            next = m->next;
            free(m);
        }
    pthread_mutex_destroy(&it->lock);
    pthread_cond_destroy(&it->cond);
    free(it->slots);
    free(it->statusbuf);
    free(it->outbuf);
    free(it);
    atomic_fetch_sub(&pool->live_iters, 1);
}
