/* Internal structures shared by the core's files. */
#ifndef FP_CORE_CORE_H
#define FP_CORE_CORE_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "deque.h"
#include "fastpool/fastpool.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "common/futex.h"
#include "common/log.h"
#include "remote.h"
#include "topo.h"


struct fp_context {
    fp__logger_t log;
    fp__topo_t *topo;
    atomic_int pools;
};

/* ---- jobs -------------------------------------------------------------- */

/* What an fp_frame_t holds. */
typedef struct fp__job {
    fp_job_fn_t fn;
    void *arg;
    /* FP__JOB_DONE once the job has run (set by a thief with one RMW that
     * also reads the syncer's wake bit, if it went to sleep: the frame
     * lives on the syncer's stack, so the thief may touch it only once) */
    atomic_uint done;
    int internal;    /* the library's own splitting, not user code */
} fp__job_t;

#define FP__JOB_DONE (1u << 31) /* in fp__job_t.done; lower bits: wake bits */

/* A unit of work submitted from outside the executors (injection queue). */
typedef struct fp__root fp__root_t;
struct fp__root {
    void (*run)(fp_task_t *task, fp__root_t *root);
    fp__root_t *next, *prev;
    bool queued; /* under the pool's inject lock */
};

/* ---- executors ---------------------------------------------------------- */

enum {
    FP__CALL_FAILED = 1u,   /* fp_task_output could not satisfy the task */
};

struct fp_task {
    fp__deque_t dq; /* first: cache-line aligned */
    fp_pool_t *pool;
    unsigned index;
    uint64_t rng;
    uint64_t update_seen;
    void *state;

    /* user task frames on this executor's stack (tasks, apply, pool_run
     * roots, stolen user jobs): updates are applied only at depth 0 */
    unsigned depth;

    /* the call in progress on this executor (saved and restored around
     * nested calls by fp__call_state_save/restore) */
    fp_buf_t *out;        /* result slot (map) or {NULL,0} (apply) */
    void *apply_buf;      /* apply: buffer from fp_task_output */
    size_t apply_size;
    bool apply_mode;
    unsigned flags;       /* FP__CALL_* set during the call */
    fp_status_t flag_status;
    bool has_msg;
    char msg[FP_ERROR_MAX];

    pthread_t thread;
    fp_status_t init_status;
    bool searching; /* counted in pool->searching (executor loop only) */

    /* between-task signals seen (pool->between_seq) */
    uint64_t between_seen;
    /* messages to this executor (msg.c): FIFO under mail_lock; mail_count
     * is read without it to skip the lock when empty */
    _Alignas(64) pthread_mutex_t mail_lock;
    struct fp__mail *mail_head, *mail_tail;
    atomic_size_t mail_count;
};

/* ---- updates ------------------------------------------------------------ */

typedef struct fp__update {
    uint64_t seq;
    fp_cbuf_t data;
} fp__update_t;

/* ---- pools -------------------------------------------------------------- */

struct fp_pool {
    fp_context_t *ctx;
    const fp__logger_t *log;
    unsigned n;
    fp_task_t **exec;
    fp_pin_t pin;

    /* injection queue: work submitted from outside the executors */
    _Alignas(64) pthread_mutex_t inject_lock;
    fp__root_t *inject_head, *inject_tail;
    atomic_size_t inject_count;

    /* sleeping: futex word bumped on every wake; counts of idle executors */
    _Alignas(64) atomic_uint sleep_seq;
    atomic_int sleepers;
    atomic_int searching; /* idle executors seeking work (<= max_searchers) */
    atomic_int lookouts;  /* sleepers with a timeout, <= MAX_LOOKOUTS */
    int max_searchers;
    atomic_int stop;

    /* broadcast updates: one in flight at a time */
    _Alignas(64) _Atomic(uint64_t) update_seq;
    _Atomic(fp__update_t *) update_cur;
    atomic_uint update_acks;
    pthread_mutex_t update_call_lock; /* serialises fp_pool_update callers */
    pthread_mutex_t update_lock;      /* guards update_err and the cond */
    pthread_cond_t update_cond;
    fp_error_t update_err;

    /* work outstanding (calls in flight), for fp_pool_destroy */
    _Alignas(64) pthread_mutex_t idle_lock;
    pthread_cond_t idle_cond;
    size_t outstanding;
    atomic_int live_iters;

    /* executor start-up */
    unsigned started;
    unsigned start_target; /* threads the creator waits for */
    pthread_cond_t start_cond;

    bool has_class;
    fp_worker_class_t wc;
    void *init_data;
    size_t init_size;

    /* a distributed pool's layer (remote.h); NULL for a local pool */
    const fp__remote_ops_t *rops;
    void *remote;
    unsigned index_base; /* added to fp_task_executor() */

    /* Bumped after anything executors handle between tasks (an update, a
     * message): the one word the per-element loops read. */
    _Alignas(64) _Atomic(uint64_t) between_seq;

    /* messages executors send to the client (msg.c) */
    _Alignas(64) pthread_mutex_t out_lock;
    pthread_cond_t out_cond;
    struct fp__omsg *out_head, *out_tail;
    void (*on_message)(void *arg, const fp_message_t *msg);
    void *on_message_arg;
    pthread_t out_thread; /* runs on_message */
    bool out_thread_started, out_stop;
    /* a remote layer's sink for fp_task_send (a node sends to its client) */
    fp__msg_sink_fn_t msg_sink;
    void *msg_sink_arg;
};

extern _Thread_local fp_task_t *fp__tls_task;

/* What fp_task_lookup answers for a name no task can have (empty, too
 * long): FP_ERR_NOT_FOUND; FP_ERR_INVALID for NULL; else FP_OK. */
static inline fp_status_t fp__task_name_check(const char *name)
{
    if (name == NULL)
        return FP_ERR_INVALID;
    size_t len = strnlen(name, FP_NAME_MAX);
    return len == 0 || len >= FP_NAME_MAX ? FP_ERR_NOT_FOUND : FP_OK;
}

/* The executor the calling thread is, if it is one of `pool`'s. */
static inline fp_task_t *fp__current_task(const fp_pool_t *pool)
{
    fp_task_t *t = fp__tls_task;
    return t != NULL && t->pool == pool ? t : NULL;
}

/* Queue a root for the executors and wake one.  Counts as outstanding work
 * until fp__pool_work_done(). */
void fp__pool_inject(fp_pool_t *pool, fp__root_t *root);
/* Take `root` back if no executor has taken it yet: true if it was removed
 * (the caller then owns it and must still call fp__pool_work_done). */
bool fp__pool_uninject(fp_pool_t *pool, fp__root_t *root);
void fp__pool_work_begin(fp_pool_t *pool);
void fp__pool_work_done(fp_pool_t *pool);

/* Run one piece of other work (steal or injected root) if there is any:
 * for waiting without blocking an executor.  True if something ran. */
bool fp__help_once(fp_task_t *task);

/* Apply pending broadcast updates (between tasks). */
void fp__apply_updates(fp_task_t *task);
static inline void fp__check_updates(fp_task_t *task)
{
    if (FP__UNLIKELY(atomic_load_explicit(&task->pool->between_seq,
                                          memory_order_relaxed) !=
                     task->between_seen) &&
        task->depth == 0)
        fp__apply_updates(task);
}

/* ---- messages (msg.c) ---------------------------------------------------- */

/* Per-executor mailbox and the pool's outgoing queue: set up with the
 * executor / pool, torn down with them. */
void fp__mail_init(fp_task_t *task);
void fp__mail_fini(fp_task_t *task);
/* Handle every message queued for this executor (between tasks). */
void fp__mail_deliver(fp_task_t *task);
fp_status_t fp__pool_msg_init(fp_pool_t *pool, const fp_pool_params_t *params);
/* Stop the on_message thread after delivering what is queued. */
void fp__pool_msg_stop(fp_pool_t *pool);
void fp__pool_msg_fini(fp_pool_t *pool);
/* Wake executors to look at between_seq (sched.c). */
void fp__pool_wake_all(fp_pool_t *pool);

/* The per-call fields of an executor, kept across a nested call (a task
 * that runs other work while it waits or maps). */
typedef struct fp__call_state {
    bool saved;
    fp_buf_t *out;
    void *apply_buf;
    size_t apply_size;
    bool apply_mode;
    unsigned flags;
    fp_status_t flag_status;
    bool has_msg;
    char msg[FP_ERROR_MAX];
} fp__call_state_t;

static inline void fp__call_state_save(fp_task_t *t, fp__call_state_t *s)
{
    s->saved = t->out != NULL; /* NULL: no call in progress, nothing to keep */
    if (FP__LIKELY(!s->saved))
        return;
    s->out = t->out;
    s->apply_buf = t->apply_buf;
    s->apply_size = t->apply_size;
    s->apply_mode = t->apply_mode;
    s->flags = t->flags;
    s->flag_status = t->flag_status;
    s->has_msg = t->has_msg;
    if (t->has_msg)
        memcpy(s->msg, t->msg, sizeof(s->msg));
}

static inline void fp__call_state_restore(fp_task_t *t,
                                          const fp__call_state_t *s)
{
    if (FP__LIKELY(!s->saved)) {
        t->out = NULL;
        t->apply_buf = NULL;
        t->apply_mode = false;
        return;
    }
    t->out = s->out;
    t->apply_buf = s->apply_buf;
    t->apply_size = s->apply_size;
    t->apply_mode = s->apply_mode;
    t->flags = s->flags;
    t->flag_status = s->flag_status;
    t->has_msg = s->has_msg;
    if (s->has_msg)
        memcpy(t->msg, s->msg, sizeof(t->msg));
}

/* fp_spawn for the library's own range splitting (not user code). */
void fp__spawn_internal(fp_task_t *task, fp_frame_t *frame, fp_job_fn_t fn,
                        void *arg);

/* ---- waiting from inside a task ----------------------------------------- */

/* An executor of the pool (in a task) waits until *word != value or the
 * monotonic `deadline` passes (INFINITY: none): it runs other work while
 * there is some, then, after a short spin, sleeps on the pool's sleep futex
 * (counted as a sleeper, so new work wakes it) with a doubling, bounded
 * timeout.  `*waiters` collects the waiting executors' wake bits; whoever
 * changes *word must then call fp__task_wake (with a seq_cst store, or both
 * sides under one lock).  True when *word changed, false on timeout. */
bool fp__task_wait(fp_task_t *task, atomic_uint *word, unsigned value,
                   atomic_uint *waiters, double deadline);
/* This executor's wake bit (for *waiters). */
static inline unsigned fp__task_bit(const fp_task_t *task)
{
    return 1u << (task->index % 31);
}
/* Wake the executors whose bits are in `bits` (0: nobody, no syscall). */
void fp__task_wake(fp_pool_t *pool, unsigned bits);

#endif
