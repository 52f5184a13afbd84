/* The progress reporter (progress.h has the design). */
#include "common/progress.h"

#include "common/clock.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

enum { P_IDLE = 0, P_WATCHED = 1, P_ENDING = 2, P_ENDED = 3 };

static pthread_mutex_t rp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rp_wake;     /* the reporter: a change in the list */
static pthread_cond_t rp_ended;    /* end_wait: a watch reached P_ENDED */
static pthread_once_t rp_once = PTHREAD_ONCE_INIT;
static fp__progress_t *rp_head;    /* watched calls */
static bool rp_running;            /* a reporter thread exists */

static void rp_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rp_wake, &ca);
    pthread_cond_init(&rp_ended, &ca);
    pthread_condattr_destroy(&ca);
}

bool fp__progress_init(fp__progress_t *p, const fp_call_params_t *params,
                       size_t total)
{
    p->fn = params != NULL ? params->on_progress : NULL;
    p->arg = params != NULL ? params->progress_arg : NULL;
    double iv = params != NULL ? params->progress_interval : 0;
    p->interval = iv > 0 && isfinite(iv) ? iv : FP__PROGRESS_INTERVAL_DEFAULT;
    p->total = total;
    atomic_init(&p->done, 0);
    p->next = NULL;
    p->due = 0;
    p->reported = 0;
    p->state = P_IDLE;
    p->on_end = NULL;
    p->silent = false;
    return p->fn != NULL;
}

static size_t rp_count(const fp__progress_t *p)
{
    size_t d = atomic_load_explicit(&p->done, memory_order_relaxed);
    return d < p->total ? d : p->total;
}

static void rp_unlink(fp__progress_t *p)
{
    for (fp__progress_t **pp = &rp_head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* The reporter: one report per due or ending watch, callbacks outside the
 * lock (only this thread unlinks, so the list stays walkable); it exits
 * when nothing is watched. */
static void *rp_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rp_lock);
    for (;;) {
        if (rp_head == NULL) {
            rp_running = false;
            break;
        }
        double now = fp__now(), next_due = INFINITY;
        fp__progress_t *pick = NULL;
        for (fp__progress_t *p = rp_head; p != NULL; p = p->next) {
            if (p->state == P_ENDING) {
                pick = p;
                break;
            }
            if (p->due <= now && rp_count(p) != p->reported) {
                pick = p;
                break;
            }
            if (p->due <= now)
                p->due = now + p->interval; /* nothing new: look later */
            if (p->due < next_due)
                next_due = p->due;
        }
        if (pick == NULL) {
            struct timespec ts;
            if (fp__timespec(next_due, &ts))
                pthread_cond_timedwait(&rp_wake, &rp_lock, &ts);
            else
                pthread_cond_wait(&rp_wake, &rp_lock);
            continue;
        }
        bool last = pick->state == P_ENDING;
        size_t done = rp_count(pick);
        pick->reported = done;
        pick->due = now + pick->interval;
        fp_progress_fn_t fn = pick->fn;
        void *fn_arg = pick->arg;
        size_t total = pick->total;
        bool silent = last && pick->silent;
        pthread_mutex_unlock(&rp_lock);
        if (!silent)
            fn(fn_arg, done, total);
        pthread_mutex_lock(&rp_lock);
        if (!last)
            continue;
        rp_unlink(pick);
        fp__progress_end_fn_t on_end = pick->on_end;
        pick->state = P_ENDED; /* end_wait may free it from here on */
        pthread_cond_broadcast(&rp_ended);
        if (on_end != NULL) {
            pthread_mutex_unlock(&rp_lock);
            on_end(pick);
            pthread_mutex_lock(&rp_lock);
        }
    }
    pthread_mutex_unlock(&rp_lock);
    return NULL;
}

fp_status_t fp__progress_start(fp__progress_t *p)
{
    pthread_once(&rp_once, rp_init);
    pthread_mutex_lock(&rp_lock);
    if (!rp_running) {
        pthread_attr_t attr;
        pthread_t th;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &attr, rp_main, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            pthread_mutex_unlock(&rp_lock);
            return rc == EAGAIN ? FP_ERR_NOMEM : FP_ERR_SYSTEM;
        }
        rp_running = true;
    }
    p->state = P_WATCHED;
    p->due = fp__now() + p->interval;
    p->next = rp_head;
    rp_head = p;
    pthread_cond_signal(&rp_wake);
    pthread_mutex_unlock(&rp_lock);
    return FP_OK;
}

void fp__progress_end(fp__progress_t *p, fp__progress_end_fn_t on_end)
{
    pthread_mutex_lock(&rp_lock);
    if (p->state == P_WATCHED) {
        p->on_end = on_end;
        p->state = P_ENDING;
        pthread_cond_signal(&rp_wake);
    }
    pthread_mutex_unlock(&rp_lock);
}

static void rp_end_wait(fp__progress_t *p, bool silent)
{
    pthread_mutex_lock(&rp_lock);
    if (p->state == P_WATCHED) {
        p->silent = silent;
        p->on_end = NULL;
        p->state = P_ENDING;
        pthread_cond_signal(&rp_wake);
    }
    while (p->state == P_ENDING)
        pthread_cond_wait(&rp_ended, &rp_lock);
    pthread_mutex_unlock(&rp_lock);
}

void fp__progress_end_wait(fp__progress_t *p) { rp_end_wait(p, false); }

void fp__progress_drop(fp__progress_t *p) { rp_end_wait(p, true); }
