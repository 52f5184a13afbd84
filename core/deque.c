/* Chase-Lev deque: the cold paths.  See deque.h for the design note. */
#include "deque.h"

#include <stdlib.h>

static fp__deque_array_t *deque_array_new(size_t capacity)
{
    fp__deque_array_t *a =
        malloc(sizeof(*a) + capacity * sizeof(_Atomic(void *)));
    if (a == NULL)
        return NULL;
    a->mask = capacity - 1;
    a->retired_next = NULL;
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&a->slot[i], NULL);
    return a;
}

int fp__deque_init(fp__deque_t *dq, unsigned log_capacity)
{
    fp__deque_array_t *a = deque_array_new((size_t)1 << log_capacity);
    if (a == NULL)
        return -1;
    atomic_init(&dq->top, 0);
    atomic_init(&dq->bottom, 0);
    atomic_init(&dq->array, a);
    dq->retired = NULL;
    return 0;
}

void fp__deque_destroy(fp__deque_t *dq)
{
    free(atomic_load_explicit(&dq->array, memory_order_relaxed));
    for (fp__deque_array_t *r = dq->retired, *next; r != NULL; r = next) {
        next = r->retired_next;
        free(r);
    }
    dq->retired = NULL;
}

int fp__deque_grow(fp__deque_t *dq, int64_t top, int64_t bottom)
{
    fp__deque_array_t *old =
        atomic_load_explicit(&dq->array, memory_order_relaxed);
    fp__deque_array_t *a = deque_array_new((old->mask + 1) * 2);
    if (a == NULL)
        return -1;
    for (int64_t i = top; i < bottom; i++)
        atomic_store_explicit(
            &a->slot[i & (int64_t)a->mask],
            atomic_load_explicit(&old->slot[i & (int64_t)old->mask],
                                 memory_order_relaxed),
            memory_order_relaxed);
    /* release: a thief that sees the new array sees its contents */
    atomic_store_explicit(&dq->array, a, memory_order_release);
    old->retired_next = dq->retired;
    dq->retired = old;
    return 0;
}
