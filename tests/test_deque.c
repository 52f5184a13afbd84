/* The internal Chase-Lev deque (core/deque.h). */
#include "fp_test.h"

#include <pthread.h>

#include "deque.h"

/* ---- single thread ------------------------------------------------------ */

#define ST_N 5000
static char st_items[ST_N];

static void *item(size_t i) { return &st_items[i]; }

static void test_push_pop_lifo(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 2), 0);
    assert_null(fp__deque_pop(&dq));
    assert_null(fp__deque_steal(&dq));
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fp__deque_push(&dq, item(i)), 0);
    assert_int_equal(fp__deque_size(&dq), 4);
    for (size_t i = 4; i-- > 0;)
        assert_ptr_equal(fp__deque_pop(&dq), item(i));
    assert_null(fp__deque_pop(&dq));
    assert_null(fp__deque_pop(&dq));
    assert_null(fp__deque_steal(&dq));
    assert_int_equal(fp__deque_size(&dq), 0);
    fp__deque_destroy(&dq);
}

static void test_steal_fifo(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 2), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fp__deque_push(&dq, item(i)), 0);
    for (size_t i = 0; i < 4; i++)
        assert_ptr_equal(fp__deque_steal(&dq), item(i)); /* never ABORT alone */
    assert_null(fp__deque_steal(&dq));
    assert_null(fp__deque_pop(&dq));
    fp__deque_destroy(&dq);
}

/* Wrap-around: occupancy never above the capacity, so the array must not
 * grow however far top and bottom move. */
static void test_wraparound_no_growth(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 2), 0);
    for (size_t round = 0; round < 1000; round++) {
        for (size_t i = 0; i < 4; i++)
            assert_int_equal(fp__deque_push(&dq, item(i)), 0);
        assert_ptr_equal(fp__deque_steal(&dq), item(0));
        assert_ptr_equal(fp__deque_pop(&dq), item(3));
        assert_ptr_equal(fp__deque_steal(&dq), item(1));
        assert_ptr_equal(fp__deque_pop(&dq), item(2));
        assert_null(fp__deque_pop(&dq));
    }
    assert_int_equal(atomic_load(&dq.array)->mask, 3);
    fp__deque_destroy(&dq);
}

static void test_growth(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 2), 0);
    /* Take a few first so that top is not 0 when the array grows. */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fp__deque_push(&dq, item(i)), 0);
    assert_ptr_equal(fp__deque_steal(&dq), item(0));
    assert_ptr_equal(fp__deque_steal(&dq), item(1));
    for (size_t i = 3; i < ST_N; i++)
        assert_int_equal(fp__deque_push(&dq, item(i)), 0);
    assert_int_equal(fp__deque_size(&dq), ST_N - 2);
    size_t cap = atomic_load(&dq.array)->mask + 1;
    assert_true(cap >= ST_N - 2);
    assert_int_equal(cap & (cap - 1), 0); /* power of two */
    assert_true(cap <= 2 * (ST_N - 2));   /* doubled, not more */
    /* Oldest from the top, newest from the bottom, meeting in the middle. */
    size_t lo = 2, hi = ST_N;
    while (lo < hi) {
        if ((lo + hi) % 3 == 0) {
            assert_ptr_equal(fp__deque_steal(&dq), item(lo));
            lo++;
        } else {
            assert_ptr_equal(fp__deque_pop(&dq), item(hi - 1));
            hi--;
        }
    }
    assert_null(fp__deque_pop(&dq));
    assert_null(fp__deque_steal(&dq));
    fp__deque_destroy(&dq);
}

/* Random single-thread operations against a reference model. */
static void test_model(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 2), 0);
    static size_t model[200000];
    size_t top = 0, bottom = 0, next = 0;
    uint64_t rng = 42;
    for (size_t op = 0; op < 200000; op++) {
        uint64_t r = fp_test_rand(&rng) % 8;
        if (r < 4) { /* push, biased so that the deque grows */
            size_t v = next++ % ST_N;
            assert_int_equal(fp__deque_push(&dq, item(v)), 0);
            model[bottom++] = v;
        } else if (r < 6) {
            void *x = fp__deque_pop(&dq);
            if (top == bottom) {
                assert_null(x);
            } else {
                assert_ptr_equal(x, item(model[--bottom]));
            }
        } else {
            void *x = fp__deque_steal(&dq);
            if (top == bottom) {
                assert_null(x);
            } else {
                assert_ptr_equal(x, item(model[top++]));
            }
        }
        if (top == bottom) /* keep the model array from running out */
            top = bottom = 0;
        assert_int_equal(fp__deque_size(&dq), (int64_t)(bottom - top));
    }
    fp__deque_destroy(&dq);
}

static void test_init_large(void **state)
{
    (void)state;
    fp__deque_t dq;
    assert_int_equal(fp__deque_init(&dq, 10), 0);
    assert_int_equal(atomic_load(&dq.array)->mask, 1023);
    fp__deque_destroy(&dq);
    /* log_capacity 0: a one-slot deque still works and grows */
    assert_int_equal(fp__deque_init(&dq, 0), 0);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(fp__deque_push(&dq, item(i)), 0);
    for (size_t i = 100; i-- > 0;)
        assert_ptr_equal(fp__deque_pop(&dq), item(i));
    fp__deque_destroy(&dq);
}

/* ---- concurrent: one owner, 1-3 thieves --------------------------------- */

typedef struct stress {
    fp__deque_t dq;
    atomic_int *counts; /* item i is &counts[i]; taking it increments it */
    size_t n;
    atomic_int done;
    atomic_long stolen;
    atomic_long aborts;
} stress_t;

static void take(void *x) { atomic_fetch_add((atomic_int *)x, 1); }

static void *thief_main(void *arg)
{
    stress_t *s = arg;
    long stolen = 0, aborts = 0;
    for (;;) {
        void *x = fp__deque_steal(&s->dq);
        if (x == FP__DEQUE_ABORT) {
            aborts++; /* lost a race: the deque may still hold work */
            continue;
        }
        if (x == NULL) {
            if (atomic_load(&s->done))
                break;
            sched_yield();
            continue;
        }
        take(x);
        stolen++;
    }
    atomic_fetch_add(&s->stolen, stolen);
    atomic_fetch_add(&s->aborts, aborts);
    return NULL;
}

/* Pop what the owner can; returns how many it took. */
static size_t owner_pop(stress_t *s, size_t max)
{
    size_t got = 0;
    while (got < max) {
        void *x = fp__deque_pop(&s->dq);
        if (x == NULL)
            break;
        if (x == FP__DEQUE_ABORT) {
            /* cmocka's fail_msg is not marked noreturn: without the break,
             * GCC 12 -O3 sees a path that writes through (void *)1 */
            fail_msg("fp__deque_pop returned FP__DEQUE_ABORT");
            break;
        }
        take(x);
        got++;
    }
    return got;
}

static void run_stress(unsigned nthieves, size_t n, int last_item_race)
{
    stress_t s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(fp__deque_init(&s.dq, 2), 0);
    s.n = n;
    s.counts = calloc(n, sizeof(atomic_int));
    assert_non_null(s.counts);
    for (size_t i = 0; i < n; i++)
        atomic_init(&s.counts[i], 0);

    pthread_t th[3];
    for (unsigned t = 0; t < nthieves; t++)
        assert_int_equal(pthread_create(&th[t], NULL, thief_main, &s), 0);

    size_t i = 0, popped = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ n ^ nthieves;

    /* Phase A: the owner only pushes and waits for the thieves to empty the
     * deque, so steals (and growth while thieves read) surely happen. */
    size_t phase_a = 0;
    for (int round = 0; round < 8 && i + 64 <= n; round++) {
        for (int k = 0; k < 64; k++)
            assert_int_equal(fp__deque_push(&s.dq, &s.counts[i++]), 0);
        phase_a += 64;
        while (fp__deque_size(&s.dq) != 0)
            sched_yield();
    }

    if (last_item_race) {
        /* Phase B': push one, pop one: the owner races the thieves for the
         * last item on every step (the CAS path of pop). */
        while (i < n) {
            assert_int_equal(fp__deque_push(&s.dq, &s.counts[i++]), 0);
            popped += owner_pop(&s, 1);
        }
    } else {
        /* Phase B: bursts of pushes and pops of random sizes. */
        while (i < n) {
            size_t burst = (size_t)(fp_test_rand(&rng) % 64) + 1;
            for (size_t k = 0; k < burst && i < n; k++)
                assert_int_equal(fp__deque_push(&s.dq, &s.counts[i++]), 0);
            popped += owner_pop(&s, (size_t)(fp_test_rand(&rng) % (burst + 8)));
        }
    }
    popped += owner_pop(&s, SIZE_MAX); /* drain; NULL means all claimed */
    atomic_store(&s.done, 1);
    for (unsigned t = 0; t < nthieves; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);

    size_t bad = 0, first_bad = 0;
    for (size_t k = 0; k < n; k++) {
        if (atomic_load(&s.counts[k]) != 1) {
            if (bad++ == 0)
                first_bad = k;
        }
    }
    if (bad != 0)
        fail_msg("%zu of %zu items not taken exactly once (first: item %zu, "
                 "taken %d times)",
                 bad, n, first_bad, atomic_load(&s.counts[first_bad]));
    assert_int_equal(popped + (size_t)atomic_load(&s.stolen), n);
    assert_true((size_t)atomic_load(&s.stolen) >= phase_a);
    assert_int_equal(fp__deque_size(&s.dq), 0);
    assert_null(fp__deque_pop(&s.dq));
    assert_null(fp__deque_steal(&s.dq));
    fp__deque_destroy(&s.dq);
    free(s.counts);
}

static size_t stress_n(void) { return fp_test_scaled(2000000, 20000); }

static void test_stress_1_thief(void **state)
{
    (void)state;
    run_stress(1, stress_n(), 0);
}

static void test_stress_2_thieves(void **state)
{
    (void)state;
    run_stress(2, stress_n(), 0);
}

static void test_stress_3_thieves(void **state)
{
    (void)state;
    run_stress(3, stress_n(), 0);
}

static void test_stress_last_item_race(void **state)
{
    (void)state;
    run_stress(2, stress_n() / 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pop_lifo),
        cmocka_unit_test(test_steal_fifo),
        cmocka_unit_test(test_wraparound_no_growth),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_init_large),
        cmocka_unit_test(test_stress_1_thief),
        cmocka_unit_test(test_stress_2_thieves),
        cmocka_unit_test(test_stress_3_thieves),
        cmocka_unit_test(test_stress_last_item_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
