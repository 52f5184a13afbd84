/*
 * Progress reports of long calls (internal): fp_call_params_t.on_progress.
 *
 * A call with a progress callback owns one fp__progress_t.  The code that
 * runs the call adds elements as they complete (fp__progress_add: one
 * relaxed atomic add, made once per block of elements, never per element);
 * one thread per process, started on first use and gone when no call
 * reports, wakes at the earliest due time of the calls it watches and
 * calls each callback whose interval has passed and whose count moved.
 * At the end of a call, fp__progress_end asks it for the last report (the
 * count then) and, after it, for the call's own `on_end` (a future's
 * completion: marking it done, waking its waiters).  So every callback of
 * a call runs on that one thread, never on an executor, never two at once,
 * and the last one before the call is seen complete.  A call without a
 * callback never gets here: the cost when off is one predictable branch
 * per block of elements.
 */
#ifndef FP_COMMON_PROGRESS_H
#define FP_COMMON_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "fastpool/fastpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The interval when fp_call_params_t.progress_interval is 0. */
#define FP__PROGRESS_INTERVAL_DEFAULT 0.2

typedef struct fp__progress fp__progress_t;
typedef void (*fp__progress_end_fn_t)(fp__progress_t *p);

struct fp__progress {
    fp_progress_fn_t fn;   /* NULL: no reports for this call */
    void *arg;
    double interval;
    size_t total;
    _Atomic(size_t) done;
    /* the reporter's, under its lock */
    fp__progress_t *next;
    double due;
    size_t reported;
    int state; /* 0 idle, 1 watched, 2 ending, 3 ended */
    bool silent; /* ending without a last report */
    fp__progress_end_fn_t on_end;
};

/* Take the callback, its argument and interval from `params` (may be
 * NULL) for a call of `total` elements.  True if the call reports. */
bool fp__progress_init(fp__progress_t *p, const fp_call_params_t *params,
                       size_t total);

/* Watch it (the reporter thread is started if needed).  FP_ERR_NOMEM or
 * FP_ERR_SYSTEM if that thread cannot be made: nothing is watched. */
fp_status_t fp__progress_start(fp__progress_t *p);

/* `count` more elements completed (any thread). */
static inline void fp__progress_add(fp__progress_t *p, size_t count)
{
    atomic_fetch_add_explicit(&p->done, count, memory_order_relaxed);
}

/* The call is over: the reporter makes the last report (done as counted,
 * at most total), then calls `on_end(p)` (may be NULL), on its thread, and
 * no longer touches `p` once on_end has started.  Any thread; returns at
 * once.  Once per started watch. */
void fp__progress_end(fp__progress_t *p, fp__progress_end_fn_t on_end);

/* As fp__progress_end(p, NULL) if not ended yet, then wait until the last
 * report has been made; `p` may then be freed.  Not from the callback. */
void fp__progress_end_wait(fp__progress_t *p);

/* Stop watching without a last report (a call refused after it started
 * watching: it never reports); waits as fp__progress_end_wait. */
void fp__progress_drop(fp__progress_t *p);

#ifdef __cplusplus
}
#endif

#endif
