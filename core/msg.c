/*
 * Messages to and from executors (fp_pool_send, fp_task_send,
 * fp_pool_collect).
 *
 * Design note.
 *
 * To executors.  Each executor has a mailbox: a FIFO of entries under a
 * mutex of its own, and a count read without the lock.  A message's bytes
 * are copied once into a body shared by every entry that names it (a
 * message to all executors is one body and n entries in one allocation;
 * the last executor to handle it frees it).  Queueing bumps the pool's
 * between_seq and wakes the sleepers: the per-element loops, the helping
 * loops and the idle loop already read that word to apply updates, so a
 * message is handled at the same points as an update, between tasks
 * (depth 0), by the worker class's message hook.  The hook runs with the
 * depth raised, so nothing it does (a nested call, a wait) handles the next
 * message inside it: one message at a time, in mailbox order.  Messages
 * still queued when the pool is destroyed are handled before fini.
 *
 * To the client.  fp_task_send copies the bytes into a queue entry and
 * appends it to the pool's outgoing queue (mutex + condition variable), or
 * hands them to the remote layer's sink (a node sends them to its client).
 * fp_pool_collect takes the oldest; with on_message a thread of the pool's
 * own takes them one by one and calls it.  One queue, appended under one
 * lock, keeps every executor's messages in the order it sent them.
 */
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

typedef struct fp__mbody {
    atomic_uint refs;
    size_t size;
    unsigned char *data; /* points after the entries */
} fp__mbody_t;

typedef struct fp__mail {
    struct fp__mail *next;
    fp__mbody_t *body;
} fp__mail_t;

typedef struct fp__omsg {
    struct fp__omsg *next;
    unsigned local; /* the sender's index in this pool (without the base) */
    fp_message_t m;
} fp__omsg_t;

/* ---- mailboxes ---------------------------------------------------------- */

void fp__mail_init(fp_task_t *t)
{
    pthread_mutex_init(&t->mail_lock, NULL);
    t->mail_head = t->mail_tail = NULL;
    atomic_init(&t->mail_count, 0);
}

static void body_unref(fp__mbody_t *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b); /* entries and bytes are in the same block */
}

void fp__mail_fini(fp_task_t *t)
{
    for (fp__mail_t *e = t->mail_head, *n; e != NULL; e = n) {
        n = e->next;
        body_unref(e->body);
    }
    t->mail_head = t->mail_tail = NULL;
    pthread_mutex_destroy(&t->mail_lock);
}

void fp__mail_deliver(fp_task_t *t)
{
    fp_pool_t *pool = t->pool;
    while (atomic_load_explicit(&t->mail_count, memory_order_acquire) > 0) {
        pthread_mutex_lock(&t->mail_lock);
        fp__mail_t *e = t->mail_head;
        if (e != NULL) {
            t->mail_head = e->next;
            if (t->mail_head == NULL)
                t->mail_tail = NULL;
            atomic_fetch_sub(&t->mail_count, 1);
        }
        pthread_mutex_unlock(&t->mail_lock);
        if (e == NULL)
            break;
        fp__mbody_t *b = e->body;
        if (pool->has_class && pool->wc.message != NULL) {
            fp_cbuf_t msg = {b->data, b->size};
            t->has_msg = false;
            t->depth++; /* the next message waits until this one is done */
            fp_status_t st = pool->wc.message(t, t->state, msg);
            t->depth--;
            if (st != FP_OK)
                fp__warn(pool->log,
                         "message hook of worker class '%s' failed on "
                         "executor %u: %s%s%s",
                         pool->wc.name, t->index + pool->index_base,
                         fp_status_string(st), t->has_msg ? ": " : "",
                         t->has_msg ? t->msg : "");
        }
        body_unref(b);
    }
}

/* Queue one body on executors [lo, hi), entries from `ents`. */
static void mail_post(fp_pool_t *pool, fp__mbody_t *b, fp__mail_t *ents,
                      unsigned lo, unsigned hi)
{
    for (unsigned i = lo; i < hi; i++) {
        fp_task_t *t = pool->exec[i];
        fp__mail_t *e = &ents[i - lo];
        e->next = NULL;
        e->body = b;
        pthread_mutex_lock(&t->mail_lock);
        if (t->mail_tail != NULL)
            t->mail_tail->next = e;
        else
            t->mail_head = e;
        t->mail_tail = e;
        atomic_fetch_add(&t->mail_count, 1);
        pthread_mutex_unlock(&t->mail_lock);
    }
    /* seq_cst, before the sleepers' futex word: an executor falling asleep
     * either sees this or is woken (the protocol of updates, sched.c) */
    atomic_fetch_add(&pool->between_seq, 1);
    fp__pool_wake_all(pool);
}

static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
    FP_PRINTF(3, 4);
static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* A local pool: executors [lo, hi) get the message. */
static fp_status_t local_send(fp_pool_t *pool, unsigned lo, unsigned hi,
                              fp_cbuf_t msg)
{
    size_t count = hi - lo;
    size_t head = sizeof(fp__mbody_t) + count * sizeof(fp__mail_t);
    fp__mbody_t *b = malloc(head + (msg.size > 0 ? msg.size : 1));
    if (b == NULL)
        return FP_ERR_NOMEM;
    atomic_init(&b->refs, (unsigned)count);
    b->size = msg.size;
    b->data = (unsigned char *)b + head;
    if (msg.size > 0)
        memcpy(b->data, msg.data, msg.size);
    mail_post(pool, b, (fp__mail_t *)(b + 1), lo, hi);
    return FP_OK;
}

static fp_status_t check_hook(const fp_pool_t *pool, fp_error_t *err)
{
    if (pool->has_class && pool->wc.message != NULL)
        return FP_OK;
    set_err(err, FP_ERR_STATE, "the pool has no worker class with a message "
                               "hook");
    return FP_ERR_STATE;
}

fp_status_t fp_pool_send(fp_pool_t *pool, unsigned executor, fp_cbuf_t msg,
                         fp_error_t *err)
{
    if (pool == NULL || (msg.data == NULL && msg.size != 0))
        return FP_ERR_INVALID;
    if (pool->rops != NULL)
        return pool->rops->send(pool, executor, msg, err);
    fp_status_t st = check_hook(pool, err);
    if (st != FP_OK)
        return st;
    if (executor == FP_TO_ALL)
        return local_send(pool, 0, pool->n, msg);
    if (executor >= pool->n) {
        set_err(err, FP_ERR_INVALID,
                "executor %u is outside 0..%u (or FP_TO_ALL)", executor,
                pool->n - 1);
        return FP_ERR_INVALID;
    }
    return local_send(pool, executor, executor + 1, msg);
}

fp_status_t fp_pool_send_node(fp_pool_t *pool, const char *address,
                              fp_cbuf_t msg, fp_error_t *err)
{
    if (pool == NULL || address == NULL ||
        (msg.data == NULL && msg.size != 0))
        return FP_ERR_INVALID;
    if (pool->rops != NULL)
        return pool->rops->send_node(pool, address, msg, err);
    if (strcmp(address, "local") != 0) {
        set_err(err, FP_ERR_NOT_FOUND,
                "the pool has no node '%s' (a local pool has only \"local\")",
                address);
        return FP_ERR_NOT_FOUND;
    }
    fp_status_t st = check_hook(pool, err);
    return st != FP_OK ? st : local_send(pool, 0, pool->n, msg);
}

int fp__worker_class_has_message(const char *name)
{
    fp_worker_class_t wc;
    if (name == NULL || name[0] == '\0' ||
        fp__worker_class_lookup(name, &wc) != FP_OK)
        return -1;
    return wc.message != NULL;
}

/* ---- to the client ------------------------------------------------------ */

static void *out_main(void *arg)
{
    fp_pool_t *pool = arg;
    pthread_mutex_lock(&pool->out_lock);
    for (;;) {
        fp__omsg_t *o = pool->out_head;
        if (o == NULL) {
            if (pool->out_stop)
                break;
            pthread_cond_wait(&pool->out_cond, &pool->out_lock);
            continue;
        }
        pool->out_head = o->next;
        if (pool->out_head == NULL)
            pool->out_tail = NULL;
        pthread_mutex_unlock(&pool->out_lock);
        pool->on_message(pool->on_message_arg, &o->m);
        free(o->m.data);
        free(o);
        pthread_mutex_lock(&pool->out_lock);
    }
    pthread_mutex_unlock(&pool->out_lock);
    return NULL;
}

fp_status_t fp__pool_msg_init(fp_pool_t *pool, const fp_pool_params_t *params)
{
    pthread_mutex_init(&pool->out_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->out_cond, &ca);
    pthread_condattr_destroy(&ca);
    pool->on_message = params->on_message;
    pool->on_message_arg = params->on_message_arg;
    if (pool->on_message == NULL)
        return FP_OK;
    if (pthread_create(&pool->out_thread, NULL, out_main, pool) != 0)
        return FP_ERR_SYSTEM;
    pool->out_thread_started = true;
    return FP_OK;
}

void fp__pool_msg_stop(fp_pool_t *pool)
{
    if (!pool->out_thread_started)
        return;
    pthread_mutex_lock(&pool->out_lock);
    pool->out_stop = true;
    pthread_cond_broadcast(&pool->out_cond);
    pthread_mutex_unlock(&pool->out_lock);
    pthread_join(pool->out_thread, NULL);
    pool->out_thread_started = false;
}

void fp__pool_msg_fini(fp_pool_t *pool)
{
    fp__pool_msg_stop(pool);
    for (fp__omsg_t *o = pool->out_head, *n; o != NULL; o = n) {
        n = o->next;
        free(o->m.data);
        free(o);
    }
    pool->out_head = pool->out_tail = NULL;
    pthread_mutex_destroy(&pool->out_lock);
    pthread_cond_destroy(&pool->out_cond);
}

/* Make a queue entry (copying the bytes unless `owned`). */
static fp__omsg_t *omsg_new(unsigned executor, void *data, size_t size,
                            bool owned)
{
    fp__omsg_t *o = malloc(sizeof(*o));
    void *bytes = owned ? data : malloc(size > 0 ? size : 1);
    if (o == NULL || bytes == NULL) {
        free(o);
        free(bytes); /* owned: the caller's, freed as promised */
        return NULL;
    }
    if (!owned && size > 0)
        memcpy(bytes, data, size);
    o->next = NULL;
    o->local = executor;
    o->m.executor = executor;
    o->m.data = bytes;
    o->m.size = size;
    return o;
}

/* Under out_lock. */
static void out_append(fp_pool_t *pool, fp__omsg_t *o)
{
    if (pool->out_tail != NULL)
        pool->out_tail->next = o;
    else
        pool->out_head = o;
    pool->out_tail = o;
    pthread_cond_signal(&pool->out_cond);
}

fp_status_t fp__pool_post_message(fp_pool_t *pool, unsigned executor,
                                  void *data, size_t size, bool owned)
{
    fp__omsg_t *o = omsg_new(executor, data, size, owned);
    if (o == NULL)
        return FP_ERR_NOMEM;
    pthread_mutex_lock(&pool->out_lock);
    out_append(pool, o);
    pthread_mutex_unlock(&pool->out_lock);
    return FP_OK;
}

void fp__pool_set_msg_sink(fp_pool_t *pool, fp__msg_sink_fn_t fn, void *arg)
{
    pthread_mutex_lock(&pool->out_lock);
    pool->msg_sink = fn;
    pool->msg_sink_arg = arg;
    /* what executors queued before (init hooks) goes to the sink first */
    fp__omsg_t *o = fn != NULL ? pool->out_head : NULL;
    if (fn != NULL)
        pool->out_head = pool->out_tail = NULL;
    for (fp__omsg_t *n; o != NULL; o = n) {
        n = o->next;
        /* sent before the pool knew its index base (a node's init hooks):
         * named with the base it has now */
        fn(arg, o->local + pool->index_base, o->m.data, o->m.size);
        free(o->m.data);
        free(o);
    }
    pthread_mutex_unlock(&pool->out_lock);
}

fp_status_t fp_task_send(fp_task_t *task, fp_cbuf_t msg)
{
    if (task == NULL || (msg.data == NULL && msg.size != 0))
        return FP_ERR_INVALID;
    fp_pool_t *pool = task->pool;
    unsigned executor = task->index + pool->index_base;
    /* The copy is made before the lock; the choice (sink or queue) under
     * it, so nothing lands in the queue after fp__pool_set_msg_sink has
     * flushed it.  (A node's sink copies again: not a hot path.) */
    fp__omsg_t *o = omsg_new(executor, (void *)msg.data, msg.size, false);
    if (o == NULL)
        return FP_ERR_NOMEM;
    o->local = task->index;
    pthread_mutex_lock(&pool->out_lock);
    if (pool->msg_sink != NULL) {
        /* under the lock: in order with what set_msg_sink flushed */
        pool->msg_sink(pool->msg_sink_arg, executor, msg.data, msg.size);
        pthread_mutex_unlock(&pool->out_lock);
        free(o->m.data);
        free(o);
        return FP_OK;
    }
    out_append(pool, o);
    pthread_mutex_unlock(&pool->out_lock);
    return FP_OK;
}

fp_status_t fp_pool_collect(fp_pool_t *pool, fp_message_t *msg,
                            double timeout)
{
    if (pool == NULL || msg == NULL)
        return FP_ERR_INVALID;
    if (pool->on_message != NULL)
        return FP_ERR_STATE;
    double deadline = fp__deadline(timeout);
    struct timespec ts;
    bool timed = timeout >= 0 && fp__timespec(deadline, &ts);
    pthread_mutex_lock(&pool->out_lock);
    while (pool->out_head == NULL) {
        if (timeout == 0 || (timed && fp__now() >= deadline)) {
            pthread_mutex_unlock(&pool->out_lock);
            return FP_ERR_TIMEOUT;
        }
        if (timed)
            pthread_cond_timedwait(&pool->out_cond, &pool->out_lock, &ts);
        else
            pthread_cond_wait(&pool->out_cond, &pool->out_lock);
    }
    fp__omsg_t *o = pool->out_head;
    pool->out_head = o->next;
    if (pool->out_head == NULL)
        pool->out_tail = NULL;
    pthread_mutex_unlock(&pool->out_lock);
    *msg = o->m;
    free(o);
    return FP_OK;
}

void fp_message_release(fp_message_t *msg)
{
    if (msg == NULL)
        return;
    free(msg->data);
    memset(msg, 0, sizeof(*msg));
}
