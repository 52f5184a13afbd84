/*
 * The interface a pool's remote executors sit behind (internal).
 *
 * core knows nothing of nodes or transports: a pool made by the distributed
 * layer (dist/) carries an ops table (`pool->rops`) and the layer's state
 * (`pool->remote`); core's calls hand their work to it as fp__work_t units
 * instead of queueing roots for local executors.  The layer runs the
 * elements wherever it likes (nodes, executors in this process) and reports
 * back through the unit's own ops: failures and skipped ranges, an apply's
 * result, and `finish` once every element is accounted for.  Dependencies
 * point one way: dist includes this header, core never includes dist.
 */
#ifndef FP_CORE_REMOTE_H
#define FP_CORE_REMOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"
#include "common/progress.h"
#include "fastpool/fastpool.h"

typedef enum fp__work_kind {
    FP__WORK_MAP = 1,   /* elements 0..n-1 of a map / starmap / imap chunk */
    FP__WORK_APPLY = 2  /* one call (n == 1) */
} fp__work_kind_t;

typedef struct fp__work fp__work_t;

typedef struct fp__work_ops {
    /* elements [i, i+count) did not succeed: `st` FP_ERR_CANCELED means
     * skipped (cancel, an earlier failure, an iterator closed); `msg` (may
     * be NULL, `len` bytes, not NUL-terminated) is the task's message.  Any
     * thread; several at once. */
    void (*fail)(fp__work_t *w, size_t i, size_t count, fp_status_t st,
                 const char *msg, size_t len);
    /* apply: the result (malloc'd, ownership moves; NULL/0 for none) */
    void (*result)(fp__work_t *w, void *data, size_t size);
    /* every element ran, failed or was skipped; called once, last */
    void (*finish)(fp__work_t *w);
} fp__work_ops_t;

struct fp__work {
    const fp__work_ops_t *ops;
    fp__work_kind_t kind;
    const char *name;  /* registered task name (lives as long as the unit) */
    size_t nargs;
    fp_array_t arrays[FP_MAX_ARGS]; /* MAP: element i of argument k at
                                       arrays[k].base + i*elem_size */
    const fp_cbuf_t *args;          /* APPLY: nargs buffers */
    char *out;                      /* MAP: element i's slot at out +
                                       i*out_size (NULL if out_size is 0) */
    size_t out_size;
    size_t n;
    size_t index_base; /* element i's index as the caller sees it */
    size_t chunk;       /* > 0: the caller's chunk size (records of it) */
    bool stop_on_error; /* map: elements after a failure may be skipped */
    bool speculate;     /* stragglers may be copied (fp_call_params_t) */
    atomic_int *stop;   /* non-zero: skip elements not started */
    void *priv;         /* the remote layer's */
    /* non-NULL: the layer adds the elements that completed (ran, with a
     * result or a task error; not skipped or rerun ones) as it learns of
     * them (fp__progress_add) */
    fp__progress_t *progress;
};

typedef struct fp__remote_ops {
    /* run the unit; FP_OK, or an error with nothing started */
    fp_status_t (*submit)(fp_pool_t *pool, fp__work_t *w);
    /* w->stop was set: skip what has not started, here and on nodes */
    void (*cancel)(fp_pool_t *pool, fp__work_t *w);
    fp_status_t (*update)(fp_pool_t *pool, fp_cbuf_t update, fp_error_t *err);
    unsigned (*size)(const fp_pool_t *pool);
    /* the executors in this process, NULL if none (fp_pool_run) */
    fp_pool_t *(*local_pool)(fp_pool_t *pool);
    /* after every call completed: close the nodes, free the layer's state */
    void (*destroy)(fp_pool_t *pool);
    /* fp_pool_send / fp_pool_send_node (arguments checked for NULL; the
     * layer checks index, address and node state); the bytes are the
     * caller's until it returns */
    fp_status_t (*send)(fp_pool_t *pool, unsigned executor, fp_cbuf_t msg,
                        fp_error_t *err);
    fp_status_t (*send_node)(fp_pool_t *pool, const char *address,
                             fp_cbuf_t msg, fp_error_t *err);
} fp__remote_ops_t;

/* A local pool (the only kind core makes by itself).  With `shell`, no
 * executors at all: the pool a remote layer fills in (rops, remote). */
fp_status_t fp__pool_create_local(fp_context_t *ctx,
                                  const fp_pool_params_t *params, bool shell,
                                  fp_pool_t **pool_p, fp_error_t *err);
/* The pool's remote layer (NULL for a local pool). */
void fp__pool_set_remote(fp_pool_t *pool, const fp__remote_ops_t *ops,
                         void *remote);
void *fp__pool_remote(const fp_pool_t *pool);
fp_context_t *fp__pool_context(const fp_pool_t *pool);
const fp__logger_t *fp__pool_logger(const fp_pool_t *pool);
/* The executor index (0..size-1) a task sees is its local index plus this
 * base: a node gives each pool's executors their place in the whole pool. */
void fp__pool_set_index_base(fp_pool_t *pool, unsigned base);
/* Executors neither asleep nor looking for work (a snapshot). */
unsigned fp__pool_busy_executors(const fp_pool_t *pool);

/* ---- messages ---- */

/* Where fp_task_send goes instead of the pool's own queue: `executor` is
 * the sender's index in the whole pool; the bytes are valid during the
 * call only (copy them).  Runs on the sending executor. */
typedef void (*fp__msg_sink_fn_t)(void *arg, unsigned executor,
                                  const void *data, size_t size);
/* Install it (before or after executors started sending: what is already
 * queued is handed to the sink first, in order).  NULL: the queue again. */
void fp__pool_set_msg_sink(fp_pool_t *pool, fp__msg_sink_fn_t fn, void *arg);
/* Queue a message from `executor` for fp_pool_collect / on_message.
 * `owned`: `data` is malloc'd and moves to the queue (freed on failure);
 * otherwise it is copied.  Any thread. */
fp_status_t fp__pool_post_message(fp_pool_t *pool, unsigned executor,
                                  void *data, size_t size, bool owned);
/* Whether the pool's worker class (as registered here) has a message hook:
 * 1 yes, 0 no, -1 the class is not registered in this process. */
int fp__worker_class_has_message(const char *name);

#endif
