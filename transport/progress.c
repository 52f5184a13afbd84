/*
 * Progress: closures posted from other threads, heartbeats and deadlines,
 * one round of UCX progress (busy) or a sleep on the worker's event fd,
 * and the progress thread.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "tp_conn.h"
#include "ucx_api.h"


typedef struct post_item {
    struct post_item *next;
    void (*fn)(void *);
    void *arg;
} post_item_t;

fp_status_t fp__tp_post(fp__tp_t *tp, void (*fn)(void *), void *arg)
{
    post_item_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return FP_ERR_NOMEM;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&tp->post_lock);
    if (tp->post_tail != NULL)
        tp->post_tail->next = p;
    else
        tp->post_head = p;
    tp->post_tail = p;
    atomic_store_explicit(&tp->posted, 1, memory_order_release);
    pthread_mutex_unlock(&tp->post_lock);
    if (!tp->busy_poll)
        fp__ucx.worker_signal(tp->worker);
    return FP_OK;
}

int fp__tp_run_posted(fp__tp_t *tp)
{
    if (!atomic_load_explicit(&tp->posted, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&tp->post_lock);
    post_item_t *p = tp->post_head;
    tp->post_head = tp->post_tail = NULL;
    atomic_store_explicit(&tp->posted, 0, memory_order_relaxed);
    pthread_mutex_unlock(&tp->post_lock);
    int n = 0;
    while (p != NULL) {
        post_item_t *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
        n++;
    }
    return n;
}

/* Heartbeats and deadlines; returns seconds until the next is due. */
static double run_timers(fp__tp_t *tp)
{
    double next = tp->heartbeat_interval;
    if (tp->now < tp->next_timer)
        return tp->next_timer - tp->now;
    for (fp__tp_conn_t *c = tp->conns, *cn; c != NULL; c = cn) {
        cn = c->next;
        if (c->state == FP__CONN_CLOSED)
            continue;
        double quiet = tp->now - c->last_heard;
        double deadline = c->deadline > 0 ? c->deadline : tp->peer_deadline;
        double hb = c->hb_interval > 0 ? c->hb_interval : tp->heartbeat_interval;
        if (quiet >= deadline) {
            char reason[160];
            snprintf(reason, sizeof(reason),
                     "peer %s silent for %.2f s (deadline %.2f s): presumed "
                     "hung",
                     c->peer, quiet, deadline);
            fp__tp_close(c, FP_ERR_TIMEOUT, reason);
            continue;
        }
        double since = tp->now - c->last_sent;
        if (since >= hb) {
            fp__tp_conn_heartbeat(c);
            since = 0;
        }
        double due = deadline - quiet;
        if (due < next)
            next = due;
        if (hb - since < next)
            next = hb - since;
    }
    if (next < 0.001)
        next = 0.001;
    tp->next_timer = tp->now + (next < tp->timer_tick ? next : tp->timer_tick);
    return tp->next_timer - tp->now;
}

int fp__tp_progress(fp__tp_t *tp, bool block)
{
    int n = 0;
    if (!block) {
        /* one round, like any busy-polling loop: draining until UCX has
         * nothing left costs an empty round after every message, on the
         * critical path of a ping-pong */
        n = (int)fp__ucx.worker_progress(tp->worker);
    } else {
        /* the clock first: messages received now must not be stamped
         * with the time before a long sleep or a stall (their sender
         * would look silent for that long and be closed as hung) */
        tp->now = fp__tp_now();
        /* before sleeping everything must be drained (arm says BUSY
         * otherwise) */
        while (fp__ucx.worker_progress(tp->worker) != 0)
            n++;
    }
    n += fp__tp_run_posted(tp);
    /* A busy-polling caller comes back here millions of times a second:
     * read the clock and look at timers on one round in 64 only (the
     * timestamps it feeds are compared against whole seconds). */
    if (!block && (++tp->rounds & 63) != 0)
        return n;
    tp->now = fp__tp_now();
    double wait = run_timers(tp);
    if (n > 0 || !block)
        return n;
    /* nothing to do: arm the worker and sleep on its event fd */
    ucs_status_t s = fp__ucx.worker_arm(tp->worker);
    if (s == UCS_ERR_BUSY)
        return 1;
    if (s != UCS_OK)
        return 0;
    if (atomic_load_explicit(&tp->posted, memory_order_acquire))
        return 1;
    struct pollfd pfd = {.fd = tp->efd, .events = POLLIN};
    int ms = (int)(wait * 1000) + 1;
    poll(&pfd, 1, ms);
    return 0;
}

static void *progress_main(void *arg)
{
    fp__tp_t *tp = arg;
    while (!atomic_load_explicit(&tp->stop, memory_order_acquire))
        fp__tp_progress(tp, !tp->busy_poll);
    return NULL;
}

fp_status_t fp__tp_start(fp__tp_t *tp)
{
    if (tp->thread_started)
        return FP_ERR_STATE;
    if (pthread_create(&tp->thread, NULL, progress_main, tp) != 0)
        return FP_ERR_SYSTEM;
    tp->thread_started = true;
    return FP_OK;
}


void fp__tp_stop(fp__tp_t *tp)
{
    if (!tp->thread_started)
        return;
    atomic_store(&tp->stop, 1);
    fp__ucx.worker_signal(tp->worker);
    pthread_join(tp->thread, NULL);
    tp->thread_started = false;
}
