/*
 * imap and imap_unordered: lazy, bounded iteration.
 *
 * The input is cut into chunks, each with its own result buffer and status
 * array, allocated when the chunk is submitted (so running a chunk never
 * allocates, except for the text of an error message).  The window -- chunks
 * submitted and not yet fully consumed, in submission order -- is bounded in
 * chunks (4 per executor) and in result bytes (params->window_bytes), but
 * always admits one chunk.  Whenever the consumer has taken the last result
 * of a chunk, the window is refilled with the next chunks of the input; the
 * buffers of the chunk just consumed are reused when they fit.
 *
 * Automatic chunk sizes come from an adaptive sizer (chunker.h) fed, under
 * the lock, with each finished chunk's elements and duration: chunks
 * submitted later get the size learned from chunks finished so far, and the
 * first ones hold one element, so the first result comes fast.  An explicit
 * params->chunksize is a fixed sizer.
 *
 * Ordered iteration consumes the window from its head; unordered takes
 * chunks from a completion list.  Chunks are roots in the pool's injection
 * queue, run by whichever executor takes them.
 */
#include "common/chunker.h"
#include "common/progress.h"
#include "core.h"

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest automatic chunk (elements). */
#define IMAP_MAX_CHUNK 4096

typedef struct ielem_msg {
    struct ielem_msg *next;
    size_t index;
    char text[FP_ERROR_MAX];
} ielem_msg_t;

typedef struct ichunk {
    fp__root_t root; /* first: roots are cast back to chunks */
    fp_iter_t *it;
    struct ichunk *prev, *next; /* the window, in submission order */
    size_t lo, hi;
    size_t cap;           /* elements the buffers hold (>= hi-lo) */
    char *out;            /* cap results (NULL when out_size is 0) */
    fp_status_t *status;  /* cap statuses */
    ielem_msg_t *msgs;    /* error texts, in index order */
    ielem_msg_t **msgs_tail;
    struct ichunk *next_done;
    bool done; /* under it->lock */
    fp__work_t work; /* a distributed pool's unit (remote.h) */
    double t_submit;
} ichunk_t;

struct fp_iter {
    fp_pool_t *pool;
    fp_task_fn_t fn;
    char name[FP_NAME_MAX];
    const char *in;
    size_t in_size, n, out_size;
    bool ordered;
    bool fixed;          /* explicit chunksize: chunks stay whole */
    bool speculate;      /* fp_call_params_t.speculate */
    size_t max_chunks;   /* chunks in the window */
    size_t window_bytes; /* result bytes in the window */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int stop;
    fp__chunker_t sizer;  /* under lock */
    size_t inflight;      /* submitted, not yet completed */
    size_t next_lo;       /* first element not yet submitted */
    size_t nwin;          /* chunks in the window */
    size_t bytes;         /* result bytes the window's buffers hold */
    ichunk_t *win_head, *win_tail; /* the window, oldest first */
    size_t taken;         /* results handed out */
    size_t consume_pos;   /* position inside the chunk being consumed */
    ichunk_t *cur;        /* chunk being consumed */
    ichunk_t *done_head, *done_tail; /* unordered: completed, not consumed */

    /* a consumer that is an executor of the pool sleeps on the pool's futex:
     * chunk completions bump `progress` and wake the bits in `task_waiters`
     * (both under `lock`) */
    atomic_uint progress;
    atomic_uint task_waiters;

    /* on_progress: elements of completed chunks (not skipped ones); the
     * last report when the last chunk completes, or in fp_iter_destroy */
    bool reports;
    fp__progress_t report;
};

static void chunk_finished(ichunk_t *c, bool canceled, double elapsed);

/* Under it->lock: `c` is complete; unordered iteration takes it from the
 * completion list. */
static void chunk_mark_done(fp_iter_t *it, ichunk_t *c)
{
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
}

static void chunk_run(fp_task_t *t, fp__root_t *root)
{
    ichunk_t *c = (ichunk_t *)root;
    fp_iter_t *it = c->it;
    const size_t in_size = it->in_size, out_size = it->out_size;
    fp_cbuf_t arg = {NULL, in_size};
    fp_buf_t out = {NULL, out_size};
    fp__call_state_t saved;
    fp__call_state_save(t, &saved);
    t->out = &out;
    t->apply_mode = false;
    bool canceled = false;
    const double t0 = fp__now();
    for (size_t i = c->lo; i < c->hi; i++) {
        size_t k = i - c->lo;
        if (FP__UNLIKELY(atomic_load_explicit(&it->stop, memory_order_relaxed))) {
            for (; k < c->hi - c->lo; k++)
                c->status[k] = FP_ERR_CANCELED;
            canceled = true;
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
    const double elapsed = fp__now() - t0;
    fp__call_state_restore(t, &saved);
    chunk_finished(c, canceled, elapsed);
}

/* A chunk's elements are all done (run, failed or skipped): into the
 * completion list, wake the consumer. */
static void chunk_finished(ichunk_t *c, bool canceled, double elapsed)
{
    fp_iter_t *it = c->it;
    fp_pool_t *pool = it->pool;
    pthread_mutex_lock(&it->lock);
    if (!canceled)
        fp__chunker_observe(&it->sizer, c->hi - c->lo, elapsed);
    chunk_mark_done(it, c);
    if (it->reports) {
        size_t ran = 0;
        for (size_t k = 0; k < c->hi - c->lo; k++)
            ran += c->status[k] != FP_ERR_CANCELED;
        fp__progress_add(&it->report, ran);
        if (it->next_lo == it->n && it->inflight == 0)
            fp__progress_end(&it->report, NULL); /* every chunk is in */
    }
    atomic_fetch_add_explicit(&it->progress, 1, memory_order_relaxed);
    unsigned wake =
        atomic_load_explicit(&it->task_waiters, memory_order_relaxed);
    pthread_cond_broadcast(&it->cond);
    pthread_mutex_unlock(&it->lock);
    fp__task_wake(pool, wake); /* `it` may be gone: only the pool now */
    fp__pool_work_done(pool);
}

/* A chunk with buffers for `cap` elements, in one allocation: the header,
 * the statuses, then the results (aligned for any type).  NULL if it cannot
 * be allocated. */
static ichunk_t *chunk_alloc(fp_iter_t *it, size_t cap)
{
    const size_t align = alignof(max_align_t);
    size_t st_off = (sizeof(ichunk_t) + align - 1) / align * align;
    if (cap > (SIZE_MAX - st_off - align) / sizeof(fp_status_t))
        return NULL;
    size_t out_off =
        (st_off + cap * sizeof(fp_status_t) + align - 1) / align * align;
    if (it->out_size != 0 && cap > (SIZE_MAX - out_off) / it->out_size)
        return NULL;
    char *p = malloc(out_off + cap * it->out_size);
    if (p == NULL)
        return NULL;
    ichunk_t *c = (ichunk_t *)p;
    memset(c, 0, sizeof(*c));
    c->root.run = chunk_run;
    c->it = it;
    c->cap = cap;
    c->status = (fp_status_t *)(p + st_off);
    c->out = it->out_size != 0 ? p + out_off : NULL;
    return c;
}

static void chunk_free_msgs(ichunk_t *c)
{
    for (ielem_msg_t *m = c->msgs, *next; m != NULL; m = next) {
        next = m->next;
        free(m);
    }
    c->msgs = NULL;
}

/* ---- a distributed pool's chunks report here (remote.h) ---------------- */

static void chunk_work_fail(fp__work_t *w, size_t i, size_t count,
                            fp_status_t st, const char *msg, size_t len)
{
    ichunk_t *c = (ichunk_t *)((char *)w - offsetof(ichunk_t, work));
    fp_iter_t *it = c->it;
    for (size_t k = i; k < i + count && k < c->hi - c->lo; k++) {
        c->status[k] = st;
        if (st == FP_ERR_CANCELED)
            continue;
        ielem_msg_t *m = malloc(sizeof(*m));
        if (m == NULL)
            continue; /* next() writes a generic text */
        m->index = c->lo + k;
        if (msg != NULL && len > 0) {
            size_t l = len < sizeof(m->text) - 1 ? len : sizeof(m->text) - 1;
            memcpy(m->text, msg, l);
            m->text[l] = '\0';
        } else {
            snprintf(m->text, sizeof(m->text),
                     "task '%s' failed at element %zu: %s", it->name,
                     m->index, fp_status_string(st));
        }
        /* failures may come in any order: keep the list in index order */
        pthread_mutex_lock(&it->lock);
        ielem_msg_t **pp = &c->msgs;
        while (*pp != NULL && (*pp)->index < m->index)
            pp = &(*pp)->next;
        m->next = *pp;
        *pp = m;
        if (m->next == NULL)
            c->msgs_tail = &m->next;
        pthread_mutex_unlock(&it->lock);
    }
}

static void chunk_work_result(fp__work_t *w, void *data, size_t size)
{
    (void)w;
    (void)size;
    free(data); /* not an apply: nothing to keep */
}

static void chunk_work_finish(fp__work_t *w)
{
    ichunk_t *c = (ichunk_t *)((char *)w - offsetof(ichunk_t, work));
    bool canceled = atomic_load_explicit(&c->it->stop, memory_order_relaxed);
    chunk_finished(c, canceled, fp__now() - c->t_submit);
}

static const fp__work_ops_t chunk_work_ops = {
    chunk_work_fail, chunk_work_result, chunk_work_finish};

/* Hand a chunk to the pool's remote layer; false if it refused. */
static bool chunk_submit_remote(fp_iter_t *it, ichunk_t *c)
{
    fp__work_t *w = &c->work;
    memset(w, 0, sizeof(*w));
    w->ops = &chunk_work_ops;
    w->kind = FP__WORK_MAP;
    w->name = it->name;
    w->nargs = 1;
    w->arrays[0].base = it->in != NULL ? it->in + c->lo * it->in_size : NULL;
    w->arrays[0].elem_size = it->in_size;
    w->out = c->out;
    w->out_size = it->out_size;
    w->n = c->hi - c->lo;
    w->index_base = c->lo;
    w->chunk = it->fixed ? w->n : 0; /* an explicit chunk travels whole */
    w->stop_on_error = false;
    w->speculate = it->speculate;
    w->stop = &it->stop;
    for (size_t k = 0; k < w->n; k++)
        c->status[k] = FP_OK; /* failures are reported */
    c->t_submit = fp__now();
    return it->pool->rops->submit(it->pool, w) == FP_OK;
}

/* Under it->lock: fill `c` with elements [lo, lo+count) and queue it at the
 * window's tail. */
static void chunk_submit(fp_iter_t *it, ichunk_t *c, size_t count)
{
    c->lo = it->next_lo;
    c->hi = c->lo + count;
    it->next_lo = c->hi;
    c->done = false;
    c->msgs = NULL;
    c->msgs_tail = &c->msgs;
    c->next_done = NULL;
    c->next = NULL;
    c->prev = it->win_tail;
    if (it->win_tail != NULL)
        it->win_tail->next = c;
    else
        it->win_head = c;
    it->win_tail = c;
    it->nwin++;
    it->bytes += c->cap * it->out_size;
    it->inflight++;
    fp__pool_work_begin(it->pool);
    if (it->pool->rops == NULL) {
        fp__pool_inject(it->pool, &c->root);
    } else if (!chunk_submit_remote(it, c)) {
        /* refused (out of memory): every element fails, visibly */
        for (size_t k = 0; k < c->hi - c->lo; k++)
            c->status[k] = FP_ERR_NOMEM;
        chunk_mark_done(it, c);
        fp__pool_work_done(it->pool);
    }
}

/* Under it->lock: take a fully consumed chunk out of the window. */
static void chunk_unlink(fp_iter_t *it, ichunk_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        it->win_head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        it->win_tail = c->prev;
    c->prev = c->next = NULL;
    it->nwin--;
    it->bytes -= c->cap * it->out_size;
}

/* Under it->lock: submit chunks while the window has room.  `spare` (may be
 * NULL) is a consumed chunk whose buffers may be reused; it is returned if
 * it was not, for the caller to free after unlocking. */
static ichunk_t *iter_fill(fp_iter_t *it, ichunk_t *spare)
{
    const size_t out_size = it->out_size;
    while (it->next_lo < it->n && it->nwin < it->max_chunks &&
           !atomic_load_explicit(&it->stop, memory_order_relaxed)) {
        size_t count = fp__chunker_next(&it->sizer);
        if (count > it->n - it->next_lo)
            count = it->n - it->next_lo;
        /* room in result bytes; an empty window always takes one chunk */
        size_t room = SIZE_MAX;
        if (out_size != 0) {
            room = it->bytes < it->window_bytes
                       ? (it->window_bytes - it->bytes) / out_size
                       : 0;
            if (it->nwin == 0 && room < count)
                room = it->fixed ? count : room > 0 ? room : 1;
            if (it->fixed ? count > room : room == 0)
                break;
            if (count > room)
                count = room; /* automatic chunks are cut to fit */
        }
        ichunk_t *c = NULL;
        if (spare != NULL && spare->cap >= count && spare->cap <= room) {
            c = spare;
            spare = NULL;
        } else {
            c = chunk_alloc(it, count);
            if (c == NULL) {
                /* out of memory: go on in the spare's buffers, if any */
                if (spare == NULL || (it->fixed && spare->cap < count))
                    break;
                if (count > spare->cap)
                    count = spare->cap;
                c = spare;
                spare = NULL;
            }
        }
        chunk_submit(it, c, count);
    }
    return spare;
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
    fp_task_fn_t fn = NULL;
    /* a distributed pool's tasks live on its nodes: the name is checked
     * there (an unknown one fails the call naming the node) */
    fp_status_t st = pool->rops != NULL ? fp__task_name_check(task)
                                        : fp_task_lookup(task, &fn);
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
    const size_t size = fp_pool_size(pool);
    it->max_chunks = size * 4 > 2 ? size * 4 : 2;
    it->window_bytes = params != NULL && params->window_bytes > 0
                           ? params->window_bytes
                           : FP_WINDOW_BYTES_DEFAULT;
    it->speculate = params != NULL && params->speculate;
    if (params != NULL && params->chunksize > 0) {
        /* a chunk never needs more than n slots */
        size_t c = params->chunksize < n ? params->chunksize : n;
        fp__chunker_init_fixed(&it->sizer, c);
        it->fixed = true;
    } else {
        /* start at one element; grow while chunks are fast, up to a size
         * that still leaves ~4 chunks per window slot for balance */
        size_t cap = fp__chunker_balance_cap(n, it->max_chunks * 4);
        fp__chunker_init(&it->sizer, FP__CHUNK_TARGET_S, 1, 1,
                         cap < IMAP_MAX_CHUNK ? cap : IMAP_MAX_CHUNK);
    }
    if (fp__progress_init(&it->report, params, n)) {
        st = fp__progress_start(&it->report);
        if (st != FP_OK) {
            free(it);
            return st;
        }
        it->reports = true;
        if (n == 0)
            fp__progress_end(&it->report, NULL);
    }
    pthread_mutex_init(&it->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&it->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_fetch_add(&pool->live_iters, 1);

    pthread_mutex_lock(&it->lock);
    (void)iter_fill(it, NULL);
    bool stuck = it->nwin == 0 && n > 0; /* not even one chunk allocated */
    pthread_mutex_unlock(&it->lock);
    if (stuck) {
        if (it->reports)
            fp__progress_drop(&it->report);
        pthread_mutex_destroy(&it->lock);
        pthread_cond_destroy(&it->cond);
        free(it);
        atomic_fetch_sub(&pool->live_iters, 1);
        return FP_ERR_NOMEM;
    }
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
        ichunk_t *c = it->win_head;
        return c != NULL && c->done ? c : NULL;
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
    ichunk_t *spare = NULL;
    if (it->consume_pos == c->hi - c->lo)
        chunk_free_msgs(c); /* none left normally; outside the lock */
    pthread_mutex_lock(&it->lock);
    it->taken++;
    if (it->consume_pos == c->hi - c->lo) {
        /* chunk used up: out of the window, which takes the next chunks
         * of the input (in its buffers if they fit) */
        chunk_unlink(it, c);
        it->cur = NULL;
        it->consume_pos = 0;
        spare = iter_fill(it, c);
    }
    pthread_mutex_unlock(&it->lock);
    free(spare);
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
    for (ichunk_t *c = it->win_head; c != NULL; c = c->next) {
        if (pool->rops != NULL) {
            if (!c->done)
                pool->rops->cancel(pool, &c->work);
            continue;
        }
        if (fp__pool_uninject(pool, &c->root)) {
            it->inflight--;
            fp__pool_work_done(pool);
        }
    }
    while (it->inflight > 0)
        iter_wait(it, INFINITY);
    pthread_mutex_unlock(&it->lock);
    if (it->reports) /* the last report (if not made yet), then it is ours */
        fp__progress_end_wait(&it->report);

    for (ichunk_t *c = it->win_head, *next; c != NULL; c = next) {
        next = c->next;
        chunk_free_msgs(c);
        free(c);
    }
    pthread_mutex_destroy(&it->lock);
    pthread_cond_destroy(&it->cond);
    free(it);
    atomic_fetch_sub(&pool->live_iters, 1);
}
