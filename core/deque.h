/*
 * Chase-Lev work-stealing deque (internal).
 *
 * One owner thread pushes and pops at the bottom; any thread steals from the
 * top.  Items are non-NULL pointers.  Memory orderings follow Lê, Pop, Cohen
 * and Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
 * Models" (PPoPP'13), with the fix found by CDSChecker (Norris and Demsky,
 * OOPSLA'13): the owner publishes a grown array with a release store and
 * thieves read the array pointer with an acquire load (the paper's relaxed
 * load lets a thief see the new array before its contents).
 *
 * Where the paper pairs a relaxed access with a fence we use the equivalent
 * ordering on the access itself, which is at least as strong and which
 * ThreadSanitizer models (it does not model atomic_thread_fence, so fences
 * would make it report false races that we would then have to suppress):
 *  - push: relaxed store of the slot, release store of bottom (the paper's
 *    release fence + relaxed store);
 *  - pop: seq_cst exchange of bottom, seq_cst load of top (the paper's
 *    relaxed store + seq_cst fence + relaxed load).  On x86-64 this is one
 *    locked xchg instead of mov + mfence: 15 ns instead of 18 ns per
 *    spawn+sync on our AMD machines.  Departure from the paper: when a
 *    plain load of top already shows at most one item, pop skips the
 *    exchange and only races the thieves with the CAS on top (see
 *    fp__deque_pop);
 *  - steal: seq_cst loads of top and of bottom (the paper's acquire load +
 *    seq_cst fence + acquire load); on x86-64 both are plain loads.
 * The top CAS is seq_cst in both pop and steal, as in the paper.
 *
 * Arrays replaced by growth are kept until the deque is destroyed: a thief
 * may still be reading the old one, and keeping them costs at most as much
 * memory again as the current array (sizes double).
 */
#ifndef FP_CORE_DEQUE_H
#define FP_CORE_DEQUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fp__deque_array {
    size_t mask; /* capacity - 1; capacity is a power of two */
    struct fp__deque_array *retired_next;
    _Atomic(void *) slot[];
} fp__deque_array_t;

typedef struct fp__deque {
    /* top is written by thieves, bottom by the owner: separate cache lines */
    _Alignas(64) _Atomic(int64_t) top;
    _Alignas(64) _Atomic(int64_t) bottom;
    _Atomic(fp__deque_array_t *) array;
    fp__deque_array_t *retired; /* owner only */
} fp__deque_t;

/* Returned by fp__deque_steal when it lost a race with another thread; the
 * deque may still hold work, so the thief may try again. */
#define FP__DEQUE_ABORT ((void *)(uintptr_t)1)

/* 0 on success, -1 when out of memory.  Initial capacity 2^log_capacity. */
int fp__deque_init(fp__deque_t *dq, unsigned log_capacity);
void fp__deque_destroy(fp__deque_t *dq);

/* Slow path of push: double the array.  Owner only. */
int fp__deque_grow(fp__deque_t *dq, int64_t top, int64_t bottom);

/* Owner only.  0 on success, -1 when the deque had to grow and could not
 * (the item was not pushed; the caller keeps it). */
static inline int fp__deque_push(fp__deque_t *dq, void *item)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
    fp__deque_array_t *a =
        atomic_load_explicit(&dq->array, memory_order_relaxed);
    if ((uint64_t)(b - t) > a->mask) {
        if (fp__deque_grow(dq, t, b) != 0)
            return -1;
        a = atomic_load_explicit(&dq->array, memory_order_relaxed);
    }
    atomic_store_explicit(&a->slot[b & (int64_t)a->mask], item,
                          memory_order_relaxed);
    atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
    return 0;
}

/* Owner only.  The most recently pushed item, or NULL when empty. */
static inline void *fp__deque_pop(fp__deque_t *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
    fp__deque_array_t *a =
        atomic_load_explicit(&dq->array, memory_order_relaxed);
    /* One item (or none) left, as far as a plain look at top can tell: only
     * the owner moves bottom and thieves only move top up, so if top is
     * b now, item b is the only candidate, and the CAS that thieves also
     * race with decides who has it.  Bottom is left alone: after a won CAS
     * top == bottom, empty.  That is one locked instruction instead of the
     * exchange + CAS of the general path (spawn+sync of one job, the most
     * common pop: 20.5 -> 13.2 ns on an Intel Xeon VM).  A stale (smaller)
     * top only sends us to the general path, which looks again. */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    if (t >= b) {
        if (t > b)
            return NULL; /* empty */
        void *x = atomic_load_explicit(&a->slot[b & (int64_t)a->mask],
                                       memory_order_relaxed);
        return atomic_compare_exchange_strong_explicit(
                   &dq->top, &t, t + 1, memory_order_seq_cst,
                   memory_order_relaxed)
                   ? x
                   : NULL; /* a thief took it: top == bottom, empty */
    }
    atomic_exchange_explicit(&dq->bottom, b, memory_order_seq_cst);
    t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    void *x = NULL;
    if (t <= b) {
        x = atomic_load_explicit(&a->slot[b & (int64_t)a->mask],
                                 memory_order_relaxed);
        if (t == b) {
            /* last item: race the thieves for it */
            if (!atomic_compare_exchange_strong_explicit(
                    &dq->top, &t, t + 1, memory_order_seq_cst,
                    memory_order_relaxed))
                x = NULL;
            atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
        }
    } else {
        atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

/* Any thread.  The oldest item, NULL when empty, FP__DEQUE_ABORT when the
 * race for it was lost. */
static inline void *fp__deque_steal(fp__deque_t *dq)
{
    int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_seq_cst);
    if (t >= b)
        return NULL;
    /* acquire, not the paper's consume/relaxed: the CDSChecker fix */
    fp__deque_array_t *a =
        atomic_load_explicit(&dq->array, memory_order_acquire);
    void *x = atomic_load_explicit(&a->slot[t & (int64_t)a->mask],
                                   memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed))
        return FP__DEQUE_ABORT;
    return x;
}

/* Any thread; a snapshot that may be stale by the time it returns. */
static inline int64_t fp__deque_size(fp__deque_t *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

#endif
