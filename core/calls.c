/*
 * Pool calls: map/starmap, apply, futures, imap, fp_pool_run.
 *
 * A map call is one root in the injection queue covering [0, n).  The
 * executor that takes it splits the range in halves with fp_spawn down to
 * the chunk size (idle executors steal the big halves first), runs each
 * chunk's elements in a tight loop, and completes the future when the root's
 * fork-join tree has synced.  A chunk that runs for over a millisecond (slow
 * tasks) splits what it has left again, so chunks are bounded in time too;
 * it reads the clock once per block of elements, blocks growing x2 up to
 * ~100 us (chunker.h), so tiny tasks pay a few clock reads per chunk.  Errors and cancel set one `stop` flag that the
 * element loop reads with a relaxed load.
 *
 * Completion order (what the header promises): callback, then the future is
 * marked done and waiters are released, then the pool's outstanding count
 * drops (fp_pool_destroy waits on it), then the pool's reference goes.
 */
#include "common/chunker.h"
#include "common/progress.h"
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum call_kind { CALL_MAP, CALL_APPLY, CALL_RUN } call_kind_t;

struct fp_future {
    fp__root_t root;
    fp_pool_t *pool;
    call_kind_t kind;
    atomic_int refs;
    atomic_uint done;    /* futex word: 0 running, 1 completed */
    atomic_int waiters;
    atomic_int stop;     /* an element failed, or cancel was asked */
    atomic_int canceled;
    atomic_int err_claimed;

    fp_task_fn_t fn;
    char name[FP_NAME_MAX];
    size_t nargs;
    fp_array_t arrays[FP_MAX_ARGS]; /* map */
    fp_cbuf_t args[FP_MAX_ARGS];    /* apply */
    char *out;
    size_t out_size, n, grain;
    size_t chunk; /* the caller's explicit chunksize, 0 if automatic */
    bool speculate;

    fp_job_fn_t run_fn; /* fp_pool_run */
    void *run_arg;

    fp_callback_fn_t callback;
    fp_error_callback_fn_t error_callback;
    void *user_data;

    fp_status_t status;
    fp_error_t err;
    fp_buf_t result; /* apply */

    atomic_uint task_waiters; /* wake bits of executors waiting in a task */

    fp__work_t work; /* a distributed pool's unit (remote.h) */

    bool reports;        /* on_progress set: `progress` is watched */
    fp__progress_t progress;
};

/* ---- task-side calls ---------------------------------------------------- */

fp_status_t fp_task_error(fp_task_t *t, fp_status_t status, const char *fmt,
                          ...)
{
    if (status >= 0)
        status = FP_ERR_TASK;
    if (t == NULL)
        return status;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
        va_end(ap);
    } else {
        t->msg[0] = '\0';
    }
    t->has_msg = true;
    return status;
}

void *fp_task_output(fp_task_t *t, size_t size)
{
    if (t == NULL || t->out == NULL)
        return NULL;
    if (t->apply_mode) {
        void *p = realloc(t->apply_buf, size > 0 ? size : 1);
        if (p == NULL) {
            t->flags |= FP__CALL_FAILED;
            t->flag_status = FP_ERR_NOMEM;
            snprintf(t->msg, sizeof(t->msg),
                     "cannot allocate a result of %zu bytes", size);
            t->has_msg = true;
            return NULL;
        }
        t->apply_buf = p;
        t->apply_size = size;
        t->out->data = p;
        t->out->size = size;
        return p;
    }
    if (size <= t->out->size)
        return t->out->data;
    t->flags |= FP__CALL_FAILED;
    t->flag_status = FP_ERR_OVERFLOW;
    snprintf(t->msg, sizeof(t->msg),
             "task asked for a %zu-byte result; the slot holds %zu", size,
             t->out->size);
    t->has_msg = true;
    return NULL;
}

/* ---- futures ------------------------------------------------------------ */

static void future_unref(fp_future_t *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        free(f->result.data);
        free(f);
    }
}

/* Record element `index`'s failure; the first one wins. */
/* Record element `index`'s failure with its message (`len` bytes; NULL:
 * a generic text); the first failure wins. */
static void future_fail_msg(fp_future_t *f, fp_status_t st, size_t index,
                            const char *msg, size_t len)
{
    atomic_store_explicit(&f->stop, 1, memory_order_relaxed);
    if (atomic_exchange(&f->err_claimed, 1) != 0)
        return;
    f->err.status = st;
    f->err.index = index;
    if (msg != NULL) { /* the task's, even an empty one */
        if (len >= sizeof(f->err.message))
            len = sizeof(f->err.message) - 1;
        memcpy(f->err.message, msg, len);
        f->err.message[len] = '\0';
    } else {
        snprintf(f->err.message, sizeof(f->err.message),
                 "task '%s' failed at element %zu: %s", f->name, index,
                 fp_status_string(st));
    }
}

/* Record element `index`'s failure, with the task's message if it gave one. */
static void future_fail(fp_future_t *f, fp_task_t *t, fp_status_t st,
                        size_t index)
{
    bool has = t != NULL && t->has_msg;
    future_fail_msg(f, st, index, has ? t->msg : NULL,
                    has ? strnlen(t->msg, sizeof(t->msg)) : 0);
}

/* ---- a distributed pool's units report here (remote.h) ---------------- */

static void work_fail(fp__work_t *w, size_t i, size_t count, fp_status_t st,
                      const char *msg, size_t len)
{
    fp_future_t *f = (fp_future_t *)((char *)w - offsetof(fp_future_t, work));
    (void)count;
    if (st == FP_ERR_CANCELED)
        return; /* skipped: the call's status comes from what skipped it */
    future_fail_msg(f, st, i, msg, len);
}

static void work_result(fp__work_t *w, void *data, size_t size)
{
    fp_future_t *f = (fp_future_t *)((char *)w - offsetof(fp_future_t, work));
    free(f->result.data);
    f->result.data = data;
    f->result.size = size;
}

static void future_complete(fp_future_t *f);

static void work_finish(fp__work_t *w)
{
    future_complete((fp_future_t *)((char *)w - offsetof(fp_future_t, work)));
}

static const fp__work_ops_t future_work_ops = {work_fail, work_result,
                                               work_finish};

/* Hand a future's call to the pool's remote layer. */
static fp_status_t future_submit_remote(fp_future_t *f)
{
    fp__work_t *w = &f->work;
    w->ops = &future_work_ops;
    w->kind = f->kind == CALL_APPLY ? FP__WORK_APPLY : FP__WORK_MAP;
    w->name = f->name;
    w->nargs = f->nargs;
    if (f->kind == CALL_APPLY) {
        w->args = f->args;
        w->n = 1;
    } else {
        memcpy(w->arrays, f->arrays, f->nargs * sizeof(f->arrays[0]));
        w->out = f->out;
        w->out_size = f->out_size;
        w->n = f->n;
    }
    w->index_base = 0;
    w->chunk = f->chunk;
    w->speculate = f->speculate;
    w->stop_on_error = true;
    w->stop = &f->stop;
    w->progress = f->reports ? &f->progress : NULL;
    return f->pool->rops->submit(f->pool, w);
}

enum { CANCEL_NONE = 0, CANCEL_ASKED = 1, CANCEL_SEALED = 2 };

static void future_release_waiters(fp_future_t *f);

static void future_progress_ended(fp__progress_t *p)
{
    future_release_waiters(
        (fp_future_t *)((char *)p - offsetof(fp_future_t, progress)));
}

static void future_complete(fp_future_t *f)
{
    /* Seal against a late cancel: whoever moves `canceled` off NONE first
     * decides whether this call counts as canceled. */
    int expected = CANCEL_NONE;
    bool canceled = !atomic_compare_exchange_strong(&f->canceled, &expected,
                                                    CANCEL_SEALED);
    if (canceled && f->err.status == FP_OK) {
        f->err.status = FP_ERR_CANCELED;
        f->err.index = 0;
        snprintf(f->err.message, sizeof(f->err.message), "%s was canceled",
                 f->kind == CALL_APPLY ? "apply" : "map");
    }
    f->status = f->err.status;
    if (f->status == FP_OK) {
        if (f->callback != NULL)
            f->callback(f, f->user_data);
    } else if (f->error_callback != NULL) {
        f->error_callback(f, &f->err, f->user_data);
    }
    if (f->reports) {
        /* the last progress report first, on the progress thread, which
         * then releases the waiters (future_release_waiters) */
        fp__progress_end(&f->progress, future_progress_ended);
        return;
    }
    future_release_waiters(f);
}

static void future_release_waiters(fp_future_t *f)
{
    fp_pool_t *pool = f->pool;
    /* seq_cst, then the waiter counts: pairs with the waiters' seq_cst
     * registration before their last look at `done` */
    atomic_store(&f->done, 1);
    if (atomic_load(&f->waiters) > 0)
        fp__futex_wake(&f->done, 1 << 30);
    fp__task_wake(pool, atomic_load(&f->task_waiters));
    fp__pool_work_done(pool);
    future_unref(f);
}

static fp_future_t *future_new(fp_pool_t *pool, call_kind_t kind,
                               const fp_call_params_t *params)
{
    fp_future_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->pool = pool;
    f->kind = kind;
    atomic_init(&f->refs, 2); /* the caller's and the pool's */
    if (params != NULL) {
        f->callback = params->callback;
        f->error_callback = params->error_callback;
        f->user_data = params->user_data;
    }
    return f;
}

fp_status_t fp_future_wait(fp_future_t *f, double timeout)
{
    if (f == NULL)
        return FP_ERR_INVALID;
    if (atomic_load_explicit(&f->done, memory_order_acquire))
        return FP_OK;
    if (timeout == 0)
        return FP_ERR_TIMEOUT;
    double deadline = fp__deadline(timeout); /* INFINITY: forever */

    fp_task_t *t = fp__current_task(f->pool);
    if (t != NULL) {
        /* an executor of this pool: run other work while waiting, sleep
         * when there is none (the completion wakes us) */
        return fp__task_wait(t, &f->done, 0, &f->task_waiters, deadline)
                   ? FP_OK
                   : FP_ERR_TIMEOUT;
    }

    atomic_fetch_add(&f->waiters, 1);
    while (!atomic_load_explicit(&f->done, memory_order_acquire)) {
        double left = deadline - fp__now(); /* INFINITY stays INFINITY */
        if (left <= 0)
            break;
        fp__futex_wait(&f->done, 0, left);
    }
    atomic_fetch_sub(&f->waiters, 1);
    return atomic_load_explicit(&f->done, memory_order_acquire)
               ? FP_OK
               : FP_ERR_TIMEOUT;
}

fp_status_t fp_future_get(fp_future_t *f, double timeout, fp_error_t *err)
{
    fp_status_t st = fp_future_wait(f, timeout);
    if (st != FP_OK)
        return st;
    if (f->status != FP_OK && err != NULL)
        *err = f->err;
    return f->status;
}

int fp_future_done(const fp_future_t *f)
{
    return f != NULL &&
           atomic_load_explicit(&((fp_future_t *)f)->done, memory_order_acquire);
}

fp_status_t fp_future_result(const fp_future_t *f, fp_cbuf_t *result)
{
    if (f == NULL || result == NULL)
        return FP_ERR_INVALID;
    if (f->kind != CALL_APPLY || !fp_future_done(f) || f->status != FP_OK)
        return FP_ERR_STATE;
    result->data = f->result.data;
    result->size = f->result.size;
    return FP_OK;
}

fp_status_t fp_future_cancel(fp_future_t *f)
{
    if (f == NULL)
        return FP_ERR_INVALID;
    int expected = CANCEL_NONE;
    if (!atomic_compare_exchange_strong(&f->canceled, &expected,
                                        CANCEL_ASKED))
        return expected == CANCEL_ASKED && !fp_future_done(f) ? FP_OK
                                                              : FP_ERR_STATE;
    atomic_store(&f->stop, 1);
    if (f->pool->rops != NULL) {
        /* the remote layer skips what has not started and finishes it */
        if (f->kind != CALL_RUN)
            f->pool->rops->cancel(f->pool, &f->work);
        return FP_OK;
    }
    /* Not started yet: take it back and finish it here. */
    if (fp__pool_uninject(f->pool, &f->root))
        future_complete(f);
    return FP_OK;
}

void fp_future_release(fp_future_t *f)
{
    if (f != NULL)
        future_unref(f);
}

/* ---- map ---------------------------------------------------------------- */

typedef struct map_range_arg {
    fp_future_t *f;
    size_t lo, hi;
} map_range_arg_t;

static void map_range_job(fp_task_t *t, void *arg);

/* A leaf that has run this long (since it started or last split) splits
 * what it has left, so that a leaf of slow tasks does not keep idle
 * executors waiting: leaves are bounded in time as well as in elements. */
#define MAP_SPLIT_S 1e-3
/* Splits of one leaf (each halves what is left). */
#define MAP_SPLITS_MAX 16

/* Run elements [lo, hi) in blocks sized by a sizer of the leaf's own (one
 * clock read per block, so a leaf of tiny tasks reads the clock a few times
 * at most); after MAP_SPLIT_S, the right half of what is left goes to this
 * executor's deque for idle executors to steal, and the leaf goes on with
 * the left half. */
static void map_chunk(fp_task_t *t, fp_future_t *f, size_t lo, size_t hi)
{
    fp_cbuf_t args[FP_MAX_ARGS];
    const size_t nargs = f->nargs, out_size = f->out_size;
    const fp_task_fn_t fn = f->fn;
    for (size_t k = 0; k < nargs; k++)
        args[k].size = f->arrays[k].elem_size;
    const char *const base0 = f->arrays[0].base;
    const size_t size0 = f->arrays[0].elem_size;
    char *const outbase = f->out;
    const _Atomic(uint64_t) *between_seq = &t->pool->between_seq;
    fp__progress_t *const prog = f->reports ? &f->progress : NULL;
    fp_buf_t out = {NULL, out_size};
    fp__call_state_t saved;
    fp__call_state_save(t, &saved);
    t->out = &out;
    t->apply_mode = false;
    fp__chunker_t sizer;
    fp__chunker_init(&sizer, FP__CHUNK_TARGET_S, 1, 1, hi - lo);
    fp_frame_t frames[MAP_SPLITS_MAX];
    map_range_arg_t rights[MAP_SPLITS_MAX];
    unsigned splits = 0;
    double last = fp__now(), mark = last;
    size_t i = lo;
    while (i < hi) {
        const size_t block = fp__chunker_next(&sizer), first = i;
        const size_t end = block < hi - i ? i + block : hi;
        /* The element loop is the hot path of map (an empty task costs a
         * few ns): per-call values live in locals, the task frame depth
         * is raised once per block rather than around every element, and
         * a pending update (rare) lowers it again to be applied between
         * elements, as before. */
        t->depth++;
        for (; i < end; i++) {
            if (FP__UNLIKELY(
                    atomic_load_explicit(&f->stop, memory_order_relaxed))) {
                t->depth--;
                if (prog != NULL)
                    fp__progress_add(prog, i - first);
                goto out;
            }
            if (FP__UNLIKELY(atomic_load_explicit(between_seq,
                                                  memory_order_relaxed) !=
                             t->between_seen)) {
                t->depth--;
                fp__check_updates(t);
                t->depth++;
            }
            if (FP__LIKELY(nargs == 1)) {
                args[0].data = base0 + i * size0;
            } else {
                for (size_t k = 0; k < nargs; k++)
                    args[k].data = (const char *)f->arrays[k].base +
                                   i * f->arrays[k].elem_size;
            }
            out.data = outbase != NULL ? outbase + i * out_size : NULL;
            out.size = out_size;
            t->flags = 0;
            t->has_msg = false;
            fp_status_t st = fn(t, args, nargs, &out);
            if (FP__UNLIKELY(st != FP_OK || t->flags != 0)) {
                t->depth--;
                if (st == FP_OK || st > 0)
                    st = t->flags != 0 ? t->flag_status : FP_ERR_TASK;
                future_fail(f, t, st, i);
                if (prog != NULL) /* the failed element ran too */
                    fp__progress_add(prog, i + 1 - first);
                goto out;
            }
        }
        t->depth--;
        if (prog != NULL) /* once per block, off the element loop */
            fp__progress_add(prog, end - first);
        if (i == hi)
            break;
        double now = fp__now();
        fp__chunker_observe(&sizer, end - first, now - last);
        last = now;
        if (now - mark >= MAP_SPLIT_S && hi - i >= 2 &&
            splits < MAP_SPLITS_MAX) {
            map_range_arg_t *r = &rights[splits];
            r->f = f;
            r->lo = i + (hi - i) / 2;
            r->hi = hi;
            fp__spawn_internal(t, &frames[splits++], map_range_job, r);
            hi = r->lo;
            mark = now;
        }
    }
out:
    fp__call_state_restore(t, &saved);
    while (splits > 0)
        fp_sync(t, &frames[--splits]);
}

static void map_range(fp_task_t *t, fp_future_t *f, size_t lo, size_t hi)
{
    if (hi - lo > f->grain) {
        map_range_arg_t right = {f, lo + (hi - lo) / 2, hi};
        fp_frame_t frame;
        fp__spawn_internal(t, &frame, map_range_job, &right);
        map_range(t, f, lo, right.lo);
        fp_sync(t, &frame);
        return;
    }
    map_chunk(t, f, lo, hi);
}

static void map_range_job(fp_task_t *t, void *arg)
{
    map_range_arg_t *r = arg;
    if (!atomic_load_explicit(&r->f->stop, memory_order_relaxed))
        map_range(t, r->f, r->lo, r->hi);
}

static void map_root_run(fp_task_t *t, fp__root_t *root)
{
    fp_future_t *f = (fp_future_t *)root;
    if (!atomic_load_explicit(&f->stop, memory_order_relaxed))
        map_range(t, f, 0, f->n);
    future_complete(f);
}

static size_t auto_grain(size_t n, unsigned executors)
{
    /* ~8 chunks per executor: stealing balances, splitting stays cheap */
    size_t parts = (size_t)(executors > 0 ? executors : 1) * 8;
    size_t g = (n + parts - 1) / parts;
    return g > 0 ? g : 1;
}

static fp_status_t map_submit(fp_pool_t *pool, const char *task,
                              const fp_array_t *arrays, size_t nargs, size_t n,
                              void *out, size_t out_size,
                              const fp_call_params_t *params,
                              fp_future_t **future_p, bool blocking)
{
    if (pool == NULL || task == NULL || future_p == NULL)
        return FP_ERR_INVALID;
    if (nargs == 0 || nargs > FP_MAX_ARGS || (arrays == NULL))
        return FP_ERR_INVALID;
    if (n > 0) {
        for (size_t k = 0; k < nargs; k++) {
            if (arrays[k].base == NULL && arrays[k].elem_size != 0)
                return FP_ERR_INVALID;
            if (arrays[k].elem_size != 0 && n > SIZE_MAX / arrays[k].elem_size)
                return FP_ERR_INVALID;
        }
        if (out == NULL && out_size != 0)
            return FP_ERR_INVALID;
        if (out_size != 0 && n > SIZE_MAX / out_size)
            return FP_ERR_INVALID;
    }
    fp_task_fn_t fn = NULL;
    /* a distributed pool's tasks live on its nodes: the name is checked
     * there (an unknown one fails the call naming the node) */
    fp_status_t st = pool->rops != NULL ? fp__task_name_check(task)
                                        : fp_task_lookup(task, &fn);
    if (st != FP_OK) {
        fp__debug(pool->log, "map: no task named '%s'", task);
        return st;
    }

    fp_future_t *f = future_new(pool, CALL_MAP, params);
    if (f == NULL)
        return FP_ERR_NOMEM;
    f->fn = fn;
    snprintf(f->name, sizeof(f->name), "%s", task);
    f->nargs = nargs;
    memcpy(f->arrays, arrays, nargs * sizeof(*arrays));
    f->out = out;
    f->out_size = out_size;
    f->n = n;
    f->grain = params != NULL && params->chunksize > 0
                   ? params->chunksize
                   : auto_grain(n, pool->n);
    f->chunk = params != NULL ? params->chunksize : 0;
    f->speculate = params != NULL && params->speculate;
    f->root.run = map_root_run;
    if (fp__progress_init(&f->progress, params, n)) {
        st = fp__progress_start(&f->progress);
        if (st != FP_OK) {
            free(f);
            return st;
        }
        f->reports = true;
    }
    fp__pool_work_begin(pool);

    fp_task_t *t = fp__current_task(pool);
    if (n == 0) {
        /* nothing to run: complete here, on the calling thread */
        future_complete(f);
    } else if (pool->rops != NULL) {
        st = future_submit_remote(f);
        if (st != FP_OK) {
            fp__pool_work_done(pool);
            if (f->reports) /* refused: it never reports */
                fp__progress_drop(&f->progress);
            free(f);
            return st;
        }
    } else if (blocking && t != NULL) {
        /* fp_map from inside a task: nested parallel work on this executor */
        map_root_run(t, &f->root);
    } else {
        fp__pool_inject(pool, &f->root);
    }
    *future_p = f;
    return FP_OK;
}

static fp_status_t wait_and_release(fp_future_t *f, fp_error_t *err)
{
    fp_status_t st = fp_future_get(f, -1, err);
    fp_future_release(f);
    return st;
}

fp_status_t fp_map_async(fp_pool_t *pool, const char *task, const void *in,
                         size_t in_size, size_t n, void *out, size_t out_size,
                         const fp_call_params_t *params, fp_future_t **future_p)
{
    fp_array_t a = {in, in_size};
    return map_submit(pool, task, &a, 1, n, out, out_size, params, future_p,
                      false);
}

fp_status_t fp_map(fp_pool_t *pool, const char *task, const void *in,
                   size_t in_size, size_t n, void *out, size_t out_size,
                   const fp_call_params_t *params, fp_error_t *err)
{
    fp_array_t a = {in, in_size};
    fp_call_params_t p = {
        .chunksize = params != NULL ? params->chunksize : 0,
        .speculate = params != NULL && params->speculate,
        .on_progress = params != NULL ? params->on_progress : NULL,
        .progress_arg = params != NULL ? params->progress_arg : NULL,
        .progress_interval = params != NULL ? params->progress_interval : 0};
    fp_future_t *f;
    fp_status_t st =
        map_submit(pool, task, &a, 1, n, out, out_size, &p, &f, true);
    return st != FP_OK ? st : wait_and_release(f, err);
}

fp_status_t fp_starmap_async(fp_pool_t *pool, const char *task,
                             const fp_array_t *args, size_t nargs, size_t n,
                             void *out, size_t out_size,
                             const fp_call_params_t *params,
                             fp_future_t **future_p)
{
    return map_submit(pool, task, args, nargs, n, out, out_size, params,
                      future_p, false);
}

fp_status_t fp_starmap(fp_pool_t *pool, const char *task,
                       const fp_array_t *args, size_t nargs, size_t n,
                       void *out, size_t out_size,
                       const fp_call_params_t *params, fp_error_t *err)
{
    fp_call_params_t p = {
        .chunksize = params != NULL ? params->chunksize : 0,
        .speculate = params != NULL && params->speculate,
        .on_progress = params != NULL ? params->on_progress : NULL,
        .progress_arg = params != NULL ? params->progress_arg : NULL,
        .progress_interval = params != NULL ? params->progress_interval : 0};
    fp_future_t *f;
    fp_status_t st =
        map_submit(pool, task, args, nargs, n, out, out_size, &p, &f, true);
    return st != FP_OK ? st : wait_and_release(f, err);
}

/* ---- apply -------------------------------------------------------------- */

static void apply_root_run(fp_task_t *t, fp__root_t *root)
{
    fp_future_t *f = (fp_future_t *)root;
    if (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        fp__check_updates(t);
        fp_buf_t out = {NULL, 0};
        fp__call_state_t saved;
        fp__call_state_save(t, &saved);
        t->out = &out;
        t->apply_mode = true;
        t->apply_buf = NULL;
        t->apply_size = 0;
        t->flags = 0;
        t->has_msg = false;
        t->depth++;
        fp_status_t st = f->fn(t, f->args, f->nargs, &out);
        t->depth--;
        if (st == FP_OK && t->flags == 0) {
            f->result.data = t->apply_buf;
            f->result.size = t->apply_size;
        } else {
            free(t->apply_buf);
            if (st == FP_OK || st > 0)
                st = t->flags != 0 ? t->flag_status : FP_ERR_TASK;
            future_fail(f, t, st, 0);
        }
        fp__call_state_restore(t, &saved);
    }
    future_complete(f);
}

fp_status_t fp_apply_async(fp_pool_t *pool, const char *task,
                           const fp_cbuf_t *args, size_t nargs,
                           const fp_call_params_t *params,
                           fp_future_t **future_p)
{
    if (pool == NULL || task == NULL || future_p == NULL)
        return FP_ERR_INVALID;
    if (nargs > FP_MAX_ARGS || (nargs > 0 && args == NULL))
        return FP_ERR_INVALID;
    for (size_t k = 0; k < nargs; k++)
        if (args[k].data == NULL && args[k].size != 0)
            return FP_ERR_INVALID;
    fp_task_fn_t fn = NULL;
    /* a distributed pool's tasks live on its nodes: the name is checked
     * there (an unknown one fails the call naming the node) */
    fp_status_t st = pool->rops != NULL ? fp__task_name_check(task)
                                        : fp_task_lookup(task, &fn);
    if (st != FP_OK)
        return st;
    fp_future_t *f = future_new(pool, CALL_APPLY, params);
    if (f == NULL)
        return FP_ERR_NOMEM;
    f->fn = fn;
    snprintf(f->name, sizeof(f->name), "%s", task);
    f->nargs = nargs;
    f->speculate = params != NULL && params->speculate;
    if (nargs > 0)
        memcpy(f->args, args, nargs * sizeof(*args));
    f->root.run = apply_root_run;
    fp__pool_work_begin(pool);
    if (pool->rops != NULL) {
        st = future_submit_remote(f);
        if (st != FP_OK) {
            fp__pool_work_done(pool);
            free(f);
            return st;
        }
    } else {
        fp__pool_inject(pool, &f->root);
    }
    *future_p = f;
    return FP_OK;
}

fp_status_t fp_apply(fp_pool_t *pool, const char *task, const fp_cbuf_t *args,
                     size_t nargs, fp_buf_t *result, fp_error_t *err)
{
    fp_future_t *f;
    fp_status_t st = fp_apply_async(pool, task, args, nargs, NULL, &f);
    if (st != FP_OK)
        return st;
    st = fp_future_get(f, -1, err);
    if (st == FP_OK && result != NULL) {
        result->data = f->result.data; /* ownership moves to the caller */
        result->size = f->result.size;
        f->result.data = NULL;
        f->result.size = 0;
    }
    fp_future_release(f);
    return st;
}

/* ---- fp_pool_run -------------------------------------------------------- */

static void run_root_run(fp_task_t *t, fp__root_t *root)
{
    fp_future_t *f = (fp_future_t *)root;
    t->depth++;
    f->run_fn(t, f->run_arg);
    t->depth--;
    future_complete(f);
}

fp_status_t fp_pool_run(fp_pool_t *pool, fp_job_fn_t fn, void *arg)
{
    if (pool == NULL || fn == NULL)
        return FP_ERR_INVALID;
    if (fp__tls_task != NULL)
        return FP_ERR_STATE;
    if (pool->rops != NULL) {
        /* `fn` is a pointer: it runs on this process's executors only */
        fp_pool_t *local = pool->rops->local_pool(pool);
        if (local == NULL) {
            fp__error(pool->log, "fp_pool_run: the pool has no executors in "
                                 "this process (a function pointer cannot "
                                 "travel to a node); create it with "
                                 "local = FP_LOCAL_YES");
            return FP_ERR_UNSUPPORTED;
        }
        return fp_pool_run(local, fn, arg);
    }
    fp_future_t *f = future_new(pool, CALL_RUN, NULL);
    if (f == NULL)
        return FP_ERR_NOMEM;
    f->run_fn = fn;
    f->run_arg = arg;
    f->root.run = run_root_run;
    fp__pool_work_begin(pool);
    fp__pool_inject(pool, &f->root);
    return wait_and_release(f, NULL);
}
