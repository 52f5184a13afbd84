/*
 * The scheduler: executors, work stealing, sleeping, fork-join, updates.
 *
 * Design note.
 *
 * Every executor is a thread pinned to one core (hwloc) that owns a Chase-Lev
 * deque (deque.h).  Work reaches executors two ways:
 *   - from outside (a pool call made by a client thread): a "root" goes into
 *     the pool's injection queue (a mutex-protected list) and one sleeping
 *     executor is woken;
 *   - from inside (fp_spawn in a running task): the job's frame, which lives
 *     on the spawner's stack, is pushed on the spawner's deque.
 * An executor with nothing to do takes roots from the injection queue and
 * steals from random victims; fp_sync of a stolen frame does the same while
 * it waits (help-first), so no executor blocks while work exists.
 *
 * fp_sync's fast path is a deque pop that returns the frame just spawned: the
 * job runs inline on the spawner, nothing is allocated and no other cache
 * line is written.  That is what keeps spawn+sync at a few nanoseconds.
 *
 * Sleeping.  Pools may have far more executors than cores (up to 4096, for
 * tasks that block), so idle executors must cost nothing, whatever their
 * number.  An idle executor becomes a "searcher" only if fewer than
 * max_searchers (cores/2 + 1) are searching; a searcher spins a while,
 * checking the O(1) signals (injected roots, stop, updates) and a rotating
 * window of SCAN_WINDOW deques per round, then looks at every deque once and
 * goes to sleep.  The others go to sleep at once, without scanning (no
 * executor scans all n deques in a loop: that was O(n^2) for the pool).
 * Sleepers wait on the futex word sleep_seq (FUTEX_WAIT_BITSET, bit 31).
 * One of them, the lookout, sleeps with a timeout that doubles from
 * SLEEP_MIN_MS to SLEEP_MAX_MS while nothing arrives; all others sleep until
 * woken.  An executor that is woken counts as a searcher (if a slot is
 * free) until it finds work, and stops searching before it runs what it
 * found, so that its own spawns wake the next executor: wake-ups spread one
 * at a time through a big pool instead of all at once.  New executors go to
 * sleep first (nothing can be queued before fp_pool_create returns), and
 * start-up signals the creator once, when the last one has started.
 *
 * Submitters bump sleep_seq and wake one sleeper after queueing a root; both
 * sides use seq_cst operations (queue count / sleepers / sleep_seq), so a
 * root queued while an executor goes to sleep is always seen by one of them.
 * fp_spawn checks `sleepers > 0 && searching == 0` with relaxed loads only, to
 * keep a fence off the spawn path; that check can miss an executor that is
 * falling asleep at that very moment (the store-load window on x86).  Such an
 * executor is not needed for correctness (the spawner syncs its own frames),
 * and it is woken by the next spawn, or found by the lookout's next timed
 * look (SLEEP_MAX_MS at the latest while a lookout sleeps).
 *
 * Waiting inside a task.  fp_future_wait and fp_iter_next on an executor of
 * the same pool (fp__task_wait) run other work while there is some; after
 * WAIT_SPINS fruitless rounds they sleep on sleep_seq too, counted as
 * sleepers (so injections and spawns wake them, and they help), with the
 * executor's bit (1 << index % 31) in the future's or iterator's waiter
 * mask; the completion bumps sleep_seq and wakes that mask with
 * FUTEX_WAKE_BITSET, which never wakes idle executors (bit 31).  Their
 * timeout doubles up to SLEEP_MAX_MS, as a safety net only.
 *
 * Timeouts.  Every user timeout goes through fp__deadline (negative, NaN,
 * INFINITY or >= FP__FOREVER_S: no deadline) and every timespec through
 * fp__timespec, so that no conversion overflows time_t.
 *
 * Updates.  fp_pool_update publishes one record (update_cur, then update_seq)
 * and wakes every executor; each applies it between tasks (the main loop, the
 * per-element loop of map chunks, and sync's helping loop check update_seq
 * with a relaxed load) and acknowledges; the caller waits for all acks.
 * What those loops read is between_seq, bumped after an update is published
 * and after a message is queued for an executor (msg.c): one word for
 * everything handled between tasks, so messages cost the element loop
 * nothing.  A message to one executor sends every executor down the slow
 * path once (a look at its own mailbox count).
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/settings.h"
#include "registry.h"

_Static_assert(sizeof(fp__job_t) <= sizeof(fp_frame_t),
               "fp_frame_t too small for a job");

_Thread_local fp_task_t *fp__tls_task;

#define SPIN_ROUNDS 64     /* rounds a searcher spins before it sleeps */
#define SCAN_WINDOW 32     /* deques a searcher looks at per spin round */
#define MAX_LOOKOUTS 1     /* sleepers with a timeout; the rest need a wake */
#define WAIT_SPINS 64      /* fruitless help rounds, then a waiting task sleeps */
#define SLEEP_MIN_MS 1
#define SLEEP_MAX_MS 256
#define IDLE_BIT (1u << 31) /* futex bitset of idle executors (tasks: 0-30) */

static inline uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- waking ------------------------------------------------------------- */

static void wake_one(fp_pool_t *pool)
{
    atomic_fetch_add(&pool->sleep_seq, 1);
    fp__futex_wake(&pool->sleep_seq, 1);
}

static void wake_all(fp_pool_t *pool)
{
    atomic_fetch_add(&pool->sleep_seq, 1);
    fp__futex_wake(&pool->sleep_seq, INT_MAX);
}

void fp__pool_wake_all(fp_pool_t *pool) { wake_all(pool); }

void fp__task_wake(fp_pool_t *pool, unsigned bits)
{
    if (bits == 0)
        return;
    /* the bump makes a waiter that is about to sleep return at once */
    atomic_fetch_add(&pool->sleep_seq, 1);
    fp__futex_wake_bits(&pool->sleep_seq, bits);
}

/* After pushing local work: wake a sleeper if nobody is looking for work. */
static inline void maybe_wake_for_spawn(fp_pool_t *pool)
{
    if (FP__UNLIKELY(
            atomic_load_explicit(&pool->sleepers, memory_order_relaxed) > 0 &&
            atomic_load_explicit(&pool->searching, memory_order_relaxed) == 0))
        wake_one(pool);
}

/* ---- outstanding work --------------------------------------------------- */

void fp__pool_work_begin(fp_pool_t *pool)
{
    pthread_mutex_lock(&pool->idle_lock);
    pool->outstanding++;
    pthread_mutex_unlock(&pool->idle_lock);
}

void fp__pool_work_done(fp_pool_t *pool)
{
    pthread_mutex_lock(&pool->idle_lock);
    if (--pool->outstanding == 0)
        pthread_cond_broadcast(&pool->idle_cond);
    pthread_mutex_unlock(&pool->idle_lock);
}

/* ---- injection queue ---------------------------------------------------- */

void fp__pool_inject(fp_pool_t *pool, fp__root_t *root)
{
    pthread_mutex_lock(&pool->inject_lock);
    root->next = NULL;
    root->prev = pool->inject_tail;
    if (pool->inject_tail != NULL)
        pool->inject_tail->next = root;
    else
        pool->inject_head = root;
    pool->inject_tail = root;
    root->queued = true;
    atomic_fetch_add(&pool->inject_count, 1); /* seq_cst: see design note */
    pthread_mutex_unlock(&pool->inject_lock);
    if (atomic_load(&pool->sleepers) > 0)
        wake_one(pool);
}

static void inject_unlink(fp_pool_t *pool, fp__root_t *root)
{
    if (root->prev != NULL)
        root->prev->next = root->next;
    else
        pool->inject_head = root->next;
    if (root->next != NULL)
        root->next->prev = root->prev;
    else
        pool->inject_tail = root->prev;
    root->queued = false;
    atomic_fetch_sub(&pool->inject_count, 1);
}

bool fp__pool_uninject(fp_pool_t *pool, fp__root_t *root)
{
    bool removed = false;
    pthread_mutex_lock(&pool->inject_lock);
    if (root->queued) {
        inject_unlink(pool, root);
        removed = true;
    }
    pthread_mutex_unlock(&pool->inject_lock);
    return removed;
}

static fp__root_t *inject_take(fp_pool_t *pool)
{
    if (atomic_load_explicit(&pool->inject_count, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&pool->inject_lock);
    fp__root_t *root = pool->inject_head;
    if (root != NULL)
        inject_unlink(pool, root);
    pthread_mutex_unlock(&pool->inject_lock);
    return root;
}

/* ---- running work ------------------------------------------------------- */

static inline void run_stolen(fp_task_t *t, fp__job_t *job)
{
    unsigned user = job->internal == 0;
    t->depth += user;
    fp_pool_t *pool = t->pool;
    job->fn(t, job->arg);
    t->depth -= user;
    /* after this RMW the frame may be gone (its syncer returns) */
    unsigned sleepers = atomic_fetch_or_explicit(&job->done, FP__JOB_DONE,
                                                 memory_order_acq_rel);
    if (FP__UNLIKELY(sleepers != 0))
        fp__task_wake(pool, sleepers);
}

/* One pass over the other executors, starting at a random one. */
static fp__job_t *steal_round(fp_task_t *t)
{
    fp_pool_t *pool = t->pool;
    unsigned n = pool->n;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(rng_next(&t->rng) % n);
    for (unsigned k = 0; k < n; k++) {
        unsigned v = start + k;
        if (v >= n)
            v -= n;
        if (v == t->index)
            continue;
        void *x;
        do {
            x = fp__deque_steal(&pool->exec[v]->dq);
        } while (x == FP__DEQUE_ABORT);
        if (x != NULL)
            return x;
    }
    return NULL;
}

bool fp__help_once(fp_task_t *t)
{
    fp__check_updates(t);
    fp__job_t *job = steal_round(t);
    if (job != NULL) {
        run_stolen(t, job);
        return true;
    }
    fp__root_t *root = inject_take(t->pool);
    if (root != NULL) {
        root->run(t, root);
        return true;
    }
    return false;
}

bool fp__task_wait(fp_task_t *t, atomic_uint *word, unsigned value,
                   atomic_uint *waiters, double deadline)
{
    fp_pool_t *pool = t->pool;
    const unsigned bit = fp__task_bit(t);
    unsigned idle = 0, sleep_ms = SLEEP_MIN_MS;
    for (;;) {
        if (atomic_load_explicit(word, memory_order_acquire) != value)
            return true;
        if (deadline < INFINITY && fp__now() >= deadline)
            return false;
        if (fp__help_once(t)) {
            idle = 0;
            sleep_ms = SLEEP_MIN_MS;
            continue;
        }
        if (++idle < WAIT_SPINS) {
            if (idle < WAIT_SPINS / 2)
                cpu_relax();
            else
                sched_yield();
            continue;
        }
        /* Nothing to help with: sleep as a sleeper of the pool (injections
         * and spawns wake sleepers) with our bit in *waiters (the
         * completion wakes it).  Both registrations are seq_cst RMWs before
         * the re-checks; the wakers bump sleep_seq after their change, so
         * either we see the change or the futex sees the new seq. */
        unsigned seq = atomic_load(&pool->sleep_seq);
        atomic_fetch_or(waiters, bit);
        atomic_fetch_add(&pool->sleepers, 1);
        if (atomic_load(word) == value &&
            atomic_load(&pool->inject_count) == 0) {
            double until = fp__now() + sleep_ms * 1e-3;
            fp__futex_wait_until(&pool->sleep_seq, seq, bit,
                                 until < deadline ? until : deadline);
            if (sleep_ms < SLEEP_MAX_MS)
                sleep_ms *= 2;
        }
        atomic_fetch_sub(&pool->sleepers, 1);
        idle = WAIT_SPINS - 2; /* woken: look for work twice, then sleep */
    }
}

/* ---- fork-join ---------------------------------------------------------- */

static inline void spawn(fp_task_t *t, fp_frame_t *frame, fp_job_fn_t fn,
                         void *arg, int internal)
{
    fp__job_t *job = (fp__job_t *)frame;
    job->fn = fn;
    job->arg = arg;
    job->internal = internal;
    atomic_store_explicit(&job->done, 0, memory_order_relaxed);
    if (FP__UNLIKELY(fp__deque_push(&t->dq, job) != 0)) {
        /* the deque could not grow: run the job now, which is always legal */
        fn(t, arg);
        atomic_store_explicit(&job->done, FP__JOB_DONE, memory_order_relaxed);
        return;
    }
    maybe_wake_for_spawn(t->pool);
}

void fp_spawn(fp_task_t *t, fp_frame_t *frame, fp_job_fn_t fn, void *arg)
{
    spawn(t, frame, fn, arg, 0);
}

void fp__spawn_internal(fp_task_t *t, fp_frame_t *frame, fp_job_fn_t fn,
                        void *arg)
{
    spawn(t, frame, fn, arg, 1);
}

/* Wait for a thief to finish our job: help with other work; when there is
 * none, spin briefly (a thief usually finishes soon), then sleep as a
 * sleeper of the pool (new work wakes it) with our bit in the frame's
 * `done` word, which the thief's RMW hands to fp__task_wake. */
static void sync_wait_stolen(fp_task_t *t, fp__job_t *job)
{
    enum { SPINS = 256, YIELDS = 64 };
    fp_pool_t *pool = t->pool;
    unsigned idle = 0, sleep_ms = SLEEP_MIN_MS;
    while (!(atomic_load_explicit(&job->done, memory_order_acquire) &
             FP__JOB_DONE)) {
        fp__check_updates(t);
        fp__job_t *other = steal_round(t);
        if (other != NULL) {
            run_stolen(t, other);
            idle = 0;
            sleep_ms = SLEEP_MIN_MS;
            continue;
        }
        if (++idle < SPINS) {
            cpu_relax();
            continue;
        }
        if (idle < SPINS + YIELDS) {
            sched_yield();
            continue;
        }
        /* seq before the registration, as in fp__task_wait: a thief that
         * finishes after it bumps sleep_seq, so the futex returns at once */
        unsigned seq = atomic_load(&pool->sleep_seq);
        if (atomic_fetch_or(&job->done, fp__task_bit(t)) & FP__JOB_DONE)
            break; /* seq_cst RMW: it acquires the thief's writes too */
        atomic_fetch_add(&pool->sleepers, 1);
        fp__futex_wait_until(&pool->sleep_seq, seq, fp__task_bit(t),
                             fp__now() + sleep_ms * 1e-3);
        atomic_fetch_sub(&pool->sleepers, 1);
        if (sleep_ms < SLEEP_MAX_MS)
            sleep_ms *= 2;
        idle = SPINS + YIELDS - 2; /* woken: look for work twice, then sleep */
    }
}

void fp_sync(fp_task_t *t, fp_frame_t *frame)
{
    fp__job_t *job = (fp__job_t *)frame;
    fp__job_t *x = fp__deque_pop(&t->dq);
    if (FP__LIKELY(x == job)) {
        job->fn(t, job->arg);
        return;
    }
    /* Frames synced out of LIFO order: run the younger ones now (legal, as
     * nobody else can take them any more once popped) and keep looking. */
    while (x != NULL && x != job) {
        x->fn(t, x->arg); /* our own frame: same depth as its spawner */
        atomic_store_explicit(&x->done, FP__JOB_DONE, memory_order_relaxed);
        x = fp__deque_pop(&t->dq);
    }
    if (x == job) {
        job->fn(t, job->arg);
        return;
    }
    /* Stolen (or already run by the fallback above). */
    sync_wait_stolen(t, job);
}

/* ---- updates ------------------------------------------------------------ */

void fp__apply_updates(fp_task_t *t)
{
    fp_pool_t *pool = t->pool;
    /* what was signalled before this load is seen below (acquire); a
     * later signal leaves between_seq ahead of between_seen again */
    t->between_seen =
        atomic_load_explicit(&pool->between_seq, memory_order_acquire);
    if (atomic_load_explicit(&t->mail_count, memory_order_relaxed) > 0)
        fp__mail_deliver(t);
    uint64_t seq = atomic_load_explicit(&pool->update_seq, memory_order_acquire);
    if (seq == t->update_seen)
        return;
    fp__update_t *u =
        atomic_load_explicit(&pool->update_cur, memory_order_acquire);
    t->update_seen = seq;
    fp_status_t st = FP_OK;
    if (u != NULL && u->seq == seq && pool->wc.update != NULL) {
        t->has_msg = false;
        st = pool->wc.update(t, t->state, u->data);
    }
    pthread_mutex_lock(&pool->update_lock);
    if (st != FP_OK && pool->update_err.status == FP_OK) {
        pool->update_err.status = st < 0 ? st : FP_ERR_TASK;
        pool->update_err.index = t->index + pool->index_base;
        if (t->has_msg)
            memcpy(pool->update_err.message, t->msg, sizeof(t->msg));
        else
            snprintf(pool->update_err.message, sizeof(pool->update_err.message),
                     "update hook of worker class '%s' failed on executor %u: %s",
                     pool->wc.name, t->index + pool->index_base, fp_status_string(st));
    }
    if (atomic_fetch_add(&pool->update_acks, 1) + 1 == pool->n)
        pthread_cond_broadcast(&pool->update_cond);
    pthread_mutex_unlock(&pool->update_lock);
}

fp_status_t fp_pool_update(fp_pool_t *pool, fp_cbuf_t update, fp_error_t *err)
{
    if (pool == NULL || (update.data == NULL && update.size != 0))
        return FP_ERR_INVALID;
    if (fp__tls_task != NULL && fp__tls_task->pool == pool)
        return FP_ERR_STATE;
    if (pool->rops != NULL)
        return pool->rops->update(pool, update, err);
    if (!pool->has_class || pool->wc.update == NULL) {
        if (err != NULL) {
            err->status = FP_ERR_STATE;
            err->index = 0;
            snprintf(err->message, sizeof(err->message),
                     "the pool has no worker class with an update hook");
        }
        return FP_ERR_STATE;
    }

    fp__update_t u;
    void *copy = NULL;
    if (update.size > 0) {
        copy = malloc(update.size);
        if (copy == NULL)
            return FP_ERR_NOMEM;
        memcpy(copy, update.data, update.size);
    }
    u.data.data = copy;
    u.data.size = update.size;

    pthread_mutex_lock(&pool->update_call_lock);
    pthread_mutex_lock(&pool->update_lock);
    memset(&pool->update_err, 0, sizeof(pool->update_err));
    atomic_store(&pool->update_acks, 0);
    u.seq = atomic_load(&pool->update_seq) + 1;
    atomic_store_explicit(&pool->update_cur, &u, memory_order_release);
    atomic_store_explicit(&pool->update_seq, u.seq, memory_order_release);
    atomic_fetch_add(&pool->between_seq, 1); /* seq_cst: see wake_all */
    pthread_mutex_unlock(&pool->update_lock);
    wake_all(pool);

    pthread_mutex_lock(&pool->update_lock);
    while (atomic_load(&pool->update_acks) < pool->n)
        pthread_cond_wait(&pool->update_cond, &pool->update_lock);
    fp_status_t status = pool->update_err.status;
    if (status != FP_OK && err != NULL)
        *err = pool->update_err;
    atomic_store_explicit(&pool->update_cur, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&pool->update_lock);
    pthread_mutex_unlock(&pool->update_call_lock);
    free(copy);
    return status;
}

/* ---- the executor loop -------------------------------------------------- */

/* O(1): what an idle executor must act on (an injected root, the stop
 * flag, an update to apply).  seq_cst loads: see the design note. */
static bool pool_has_urgent_work(fp_task_t *t)
{
    fp_pool_t *pool = t->pool;
    return atomic_load(&pool->inject_count) > 0 || atomic_load(&pool->stop) ||
           atomic_load(&pool->between_seq) != t->between_seen;
}

/* Whether one of `count` deques from `from` on (wrapping) has work. */
static bool deques_have_work(fp_pool_t *pool, unsigned from, unsigned count)
{
    unsigned n = pool->n;
    if (count > n)
        count = n;
    for (unsigned k = 0, v = from % n; k < count; k++) {
        if (fp__deque_size(&pool->exec[v]->dq) > 0)
            return true;
        if (++v == n)
            v = 0;
    }
    return false;
}

static bool counter_acquire(atomic_int *c, int max)
{
    int v = atomic_load_explicit(c, memory_order_relaxed);
    while (v < max)
        if (atomic_compare_exchange_weak(c, &v, v + 1))
            return true;
    return false;
}

static inline void stop_searching(fp_task_t *t)
{
    if (t->searching) {
        t->searching = false;
        atomic_fetch_sub(&t->pool->searching, 1);
    }
}

static void executor_idle(fp_task_t *t, unsigned *sleep_ms)
{
    fp_pool_t *pool = t->pool;
    /* Search a little before sleeping (work often arrives in bursts), but
     * only max_searchers executors at once: the others go to sleep. */
    bool scanned = false;
    if (!t->searching)
        t->searching = counter_acquire(&pool->searching, pool->max_searchers);
    if (t->searching) {
        unsigned from = (unsigned)(rng_next(&t->rng) % pool->n);
        for (int r = 0; r < SPIN_ROUNDS; r++) {
            if (pool_has_urgent_work(t) ||
                deques_have_work(pool, from, SCAN_WINDOW))
                return; /* still searching: the loop takes it */
            from += SCAN_WINDOW;
            for (int i = 0; i < 32; i++)
                cpu_relax();
        }
        stop_searching(t);
        scanned = true;
    }

    unsigned seq = atomic_load(&pool->sleep_seq);
    atomic_fetch_add(&pool->sleepers, 1);
    /* One sleeper (the lookout) wakes on a doubling timeout, to catch work
     * spawned while the spawner's wake check raced with executors falling
     * asleep; the others sleep until woken. */
    bool lookout = counter_acquire(&pool->lookouts, MAX_LOOKOUTS);
    if (!pool_has_urgent_work(t) &&
        !(scanned && deques_have_work(pool, 0, pool->n))) {
        double until = lookout ? fp__now() + *sleep_ms * 1e-3 : INFINITY;
        fp__futex_wait_until(&pool->sleep_seq, seq, IDLE_BIT, until);
        if (lookout && *sleep_ms < SLEEP_MAX_MS)
            *sleep_ms *= 2;
    }
    if (lookout)
        atomic_fetch_sub(&pool->lookouts, 1);
    atomic_fetch_sub(&pool->sleepers, 1);
    /* Woken: search (if a slot is free) until work is found, so that the
     * spawns of a busy executor do not wake a crowd meanwhile. */
    t->searching = counter_acquire(&pool->searching, pool->max_searchers);
}

static void executor_loop(fp_task_t *t)
{
    fp_pool_t *pool = t->pool;
    unsigned sleep_ms = SLEEP_MIN_MS;
    /* Nothing can be queued before fp_pool_create returns: sleep first (a
     * steal round over every deque from every new executor is O(n^2)). */
    executor_idle(t, &sleep_ms);
    while (!atomic_load_explicit(&pool->stop, memory_order_acquire)) {
        fp__check_updates(t);
        /* Stop searching before running what was found, so that its spawns
         * wake other executors. */
        fp__job_t *job = steal_round(t);
        if (job != NULL) {
            stop_searching(t);
            run_stolen(t, job);
            sleep_ms = SLEEP_MIN_MS;
            continue;
        }
        fp__root_t *root = inject_take(pool);
        if (root != NULL) {
            stop_searching(t);
            root->run(t, root);
            sleep_ms = SLEEP_MIN_MS;
            continue;
        }
        executor_idle(t, &sleep_ms);
    }
    stop_searching(t);
}

static void *executor_main(void *arg)
{
    fp_task_t *t = arg;
    fp_pool_t *pool = t->pool;
    fp__tls_task = t;

    if (pool->pin == FP_PIN_CORE)
        fp__topo_pin_self(pool->ctx->topo, t->index);

    fp_status_t st = FP_OK;
    if (pool->has_class && pool->wc.state_size > 0) {
        size_t sz = (pool->wc.state_size + 63) & ~(size_t)63;
        t->state = aligned_alloc(64, sz);
        if (t->state == NULL)
            st = FP_ERR_NOMEM;
        else
            memset(t->state, 0, sz);
    }
    if (st == FP_OK && pool->has_class && pool->wc.init != NULL) {
        t->has_msg = false;
        fp_cbuf_t init = {pool->init_data, pool->init_size};
        st = pool->wc.init(t, t->state, init);
        if (st > 0)
            st = FP_ERR_TASK;
    }
    t->init_status = st;

    /* the creator needs one wake-up, when the last one has started */
    pthread_mutex_lock(&pool->idle_lock);
    if (++pool->started >= pool->start_target)
        pthread_cond_signal(&pool->start_cond);
    pthread_mutex_unlock(&pool->idle_lock);

    if (st == FP_OK) {
        executor_loop(t);
        fp__mail_deliver(t); /* what was sent before destroy is handled */
        if (pool->has_class && pool->wc.fini != NULL)
            pool->wc.fini(t, t->state);
    }
    free(t->state);
    t->state = NULL;
    fp__tls_task = NULL;
    return NULL;
}

/* ---- pool lifecycle ----------------------------------------------------- */

static void pool_free(fp_pool_t *pool)
{
    if (pool->exec != NULL) {
        for (unsigned i = 0; i < pool->n; i++) {
            if (pool->exec[i] == NULL)
                continue;
            fp__mail_fini(pool->exec[i]);
            fp__deque_destroy(&pool->exec[i]->dq);
            free(pool->exec[i]);
        }
        free(pool->exec);
    }
    pthread_mutex_destroy(&pool->inject_lock);
    pthread_mutex_destroy(&pool->update_call_lock);
    pthread_mutex_destroy(&pool->update_lock);
    pthread_cond_destroy(&pool->update_cond);
    pthread_mutex_destroy(&pool->idle_lock);
    pthread_cond_destroy(&pool->idle_cond);
    pthread_cond_destroy(&pool->start_cond);
    fp__pool_msg_fini(pool);
    free(pool->init_data);
    free(pool);
}

static void pool_stop_and_join(fp_pool_t *pool, unsigned nthreads)
{
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    wake_all(pool);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(pool->exec[i]->thread, NULL);
}

static void set_error(fp_error_t *err, fp_status_t status, size_t index,
                      const char *msg)
{
    if (err == NULL)
        return;
    err->status = status;
    err->index = index;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

fp_status_t fp__pool_create_local(fp_context_t *ctx,
                                  const fp_pool_params_t *params, bool shell,
                                  fp_pool_t **pool_p, fp_error_t *err)
{
    static const fp_pool_params_t defaults = {0};
    char msg[FP_ERROR_MAX];
    if (ctx == NULL || pool_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;
    if (params->init_data.data == NULL && params->init_data.size != 0)
        return FP_ERR_INVALID;
    if (params->pin < FP_PIN_DEFAULT || params->pin > FP_PIN_NONE)
        return FP_ERR_INVALID;
    if (params->executors > 4096) {
        set_error(err, FP_ERR_INVALID, 0, "at most 4096 executors per pool");
        return FP_ERR_INVALID;
    }

    fp_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return FP_ERR_NOMEM;
    pool->ctx = ctx;
    pool->log = &ctx->log;
    pthread_mutex_init(&pool->inject_lock, NULL);
    pthread_mutex_init(&pool->update_call_lock, NULL);
    pthread_mutex_init(&pool->update_lock, NULL);
    pthread_cond_init(&pool->update_cond, NULL);
    pthread_mutex_init(&pool->idle_lock, NULL);
    pthread_cond_init(&pool->idle_cond, NULL);
    pthread_cond_init(&pool->start_cond, NULL);

    fp_status_t status = fp__pool_msg_init(pool, params);
    if (status != FP_OK)
        goto err_free;
    if (params->worker_class != NULL) {
        status = fp__worker_class_lookup(params->worker_class, &pool->wc);
        if (status != FP_OK) {
            snprintf(msg, sizeof(msg), "no worker class named '%s'",
                     params->worker_class);
            set_error(err, status, 0, msg);
            goto err_free;
        }
        pool->has_class = true;
    }
    if (params->init_data.size > 0) {
        pool->init_data = malloc(params->init_data.size);
        if (pool->init_data == NULL) {
            status = FP_ERR_NOMEM;
            goto err_free;
        }
        memcpy(pool->init_data, params->init_data.data, params->init_data.size);
        pool->init_size = params->init_data.size;
    }

    /* what the code says, else FP_EXECUTORS / FP_PIN, else the config
     * file ($FP_CONFIG, group `pool`), else one pinned executor per core */
    const fp__config_t *conf = NULL;
    status = fp__config_default(&conf, msg, sizeof(msg));
    if (status != FP_OK) {
        fp__error(pool->log, "config: %s", msg);
        set_error(err, status, 0, msg);
        goto err_free;
    }
    pool->n = shell ? 0
              : params->executors != 0
                  ? params->executors
                  : (unsigned)fp__setting_int_or(pool->log, FP__SET_EXECUTORS,
                                                 conf,
                                                 fp__topo_ncores(ctx->topo));
    pool->start_target = pool->n;
    /* Idle executors searching for work at once: enough to pick up bursts,
     * few enough that an oversubscribed pool does not spin its cores. */
    unsigned ncores = fp__topo_ncores(ctx->topo);
    unsigned searchers = ncores / 2 + 1;
    pool->max_searchers = (int)(searchers < pool->n ? searchers : pool->n);
    pool->pin = params->pin != FP_PIN_DEFAULT
                    ? params->pin
                    : (fp_pin_t)fp__setting_enum(pool->log, FP__SET_PIN, conf);

    pool->exec = calloc(pool->n > 0 ? pool->n : 1, sizeof(*pool->exec));
    if (pool->exec == NULL) {
        status = FP_ERR_NOMEM;
        goto err_free;
    }
    for (unsigned i = 0; i < pool->n; i++) {
        fp_task_t *t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
        if (t == NULL) {
            status = FP_ERR_NOMEM;
            goto err_free;
        }
        memset(t, 0, sizeof(*t));
        if (fp__deque_init(&t->dq, 8) != 0) {
            free(t);
            status = FP_ERR_NOMEM;
            goto err_free;
        }
        fp__mail_init(t);
        t->pool = pool;
        t->index = i;
        t->rng = 0x9E3779B97F4A7C15ULL * (i + 1) ^ (uintptr_t)pool;
        if (t->rng == 0)
            t->rng = 1;
        pool->exec[i] = t;
    }

    unsigned nthreads = 0;
    for (; nthreads < pool->n; nthreads++) {
        if (pthread_create(&pool->exec[nthreads]->thread, NULL, executor_main,
                           pool->exec[nthreads]) != 0) {
            status = FP_ERR_SYSTEM;
            set_error(err, status, nthreads, "cannot start an executor thread");
            break;
        }
    }
    pthread_mutex_lock(&pool->idle_lock);
    pool->start_target = nthreads;
    while (pool->started < nthreads)
        pthread_cond_wait(&pool->start_cond, &pool->idle_lock);
    pthread_mutex_unlock(&pool->idle_lock);

    if (status == FP_OK) {
        for (unsigned i = 0; i < pool->n; i++) {
            fp_task_t *t = pool->exec[i];
            if (t->init_status == FP_OK)
                continue;
            status = t->init_status;
            if (err != NULL) {
                if (t->has_msg)
                    set_error(err, status, i, t->msg);
                else {
                    snprintf(msg, sizeof(msg),
                             "init of worker class '%s' failed on executor "
                             "%u: %s",
                             pool->wc.name, i, fp_status_string(status));
                    set_error(err, status, i, msg);
                }
            }
            break;
        }
    }
    if (status != FP_OK) {
        pool_stop_and_join(pool, nthreads);
        goto err_free;
    }

    atomic_fetch_add(&ctx->pools, 1);
    if (!shell)
        fp__info(pool->log, "pool created: %u executors, pinning %s", pool->n,
                 pool->pin == FP_PIN_CORE ? "one core each" : "off");
    *pool_p = pool;
    return FP_OK;

err_free:
    pool_free(pool);
    return status;
}

fp_status_t fp_pool_destroy(fp_pool_t *pool)
{
    if (pool == NULL)
        return FP_ERR_INVALID;
    if (fp__tls_task != NULL && fp__tls_task->pool == pool)
        return FP_ERR_STATE;
    if (atomic_load(&pool->live_iters) > 0) {
        fp__error(pool->log, "fp_pool_destroy: %d iterator(s) still open; "
                             "destroy them first",
                  atomic_load(&pool->live_iters));
        return FP_ERR_BUSY;
    }
    pthread_mutex_lock(&pool->idle_lock);
    while (pool->outstanding > 0)
        pthread_cond_wait(&pool->idle_cond, &pool->idle_lock);
    pthread_mutex_unlock(&pool->idle_lock);

    if (pool->rops != NULL)
        pool->rops->destroy(pool);
    pool_stop_and_join(pool, pool->n);
    fp__pool_msg_stop(pool); /* on_message has seen every message */
    atomic_fetch_sub(&pool->ctx->pools, 1);
    pool_free(pool);
    return FP_OK;
}

unsigned fp_pool_size(const fp_pool_t *pool)
{
    if (pool != NULL && pool->rops != NULL)
        return pool->rops->size(pool);
    return pool != NULL ? pool->n : 0;
}

void fp__pool_set_remote(fp_pool_t *pool, const fp__remote_ops_t *ops,
                         void *remote)
{
    pool->rops = ops;
    pool->remote = remote;
}

void *fp__pool_remote(const fp_pool_t *pool) { return pool->remote; }
fp_context_t *fp__pool_context(const fp_pool_t *pool) { return pool->ctx; }
const fp__logger_t *fp__pool_logger(const fp_pool_t *pool) { return pool->log; }
void fp__pool_set_index_base(fp_pool_t *pool, unsigned base)
{
    pool->index_base = base;
}

/* ---- task context accessors --------------------------------------------- */

unsigned fp_task_executor(const fp_task_t *t)
{
    return t->index + t->pool->index_base;
}

void *fp_task_state(fp_task_t *t) { return t->state; }

fp_pool_t *fp_task_pool(const fp_task_t *t) { return t->pool; }

fp_cbuf_t fp_task_init_data(const fp_task_t *t)
{
    fp_cbuf_t b = {t->pool->init_data, t->pool->init_size};
    return b;
}

unsigned fp__pool_busy_executors(const fp_pool_t *pool)
{
    /* neither asleep nor looking for work: running something */
    int idle = atomic_load_explicit(&pool->sleepers, memory_order_relaxed) +
               atomic_load_explicit(&pool->searching, memory_order_relaxed);
    return idle >= (int)pool->n ? 0 : pool->n - (unsigned)(idle < 0 ? 0 : idle);
}
