/* The adaptive chunk sizer (common/chunker.h), on its own. */
#include "fp_test.h"

#include "common/chunker.h"

#define TARGET 100e-6

static void test_starts_at_start(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init(&c, TARGET, 1, 1, 4096);
    assert_int_equal(fp__chunker_next(&c), 1);
    fp__chunker_init(&c, TARGET, 8, 1, 4096);
    assert_int_equal(fp__chunker_next(&c), 8);
    /* start clamped into [min, max] */
    fp__chunker_init(&c, TARGET, 0, 4, 64);
    assert_int_equal(fp__chunker_next(&c), 4);
    fp__chunker_init(&c, TARGET, 1000, 4, 64);
    assert_int_equal(fp__chunker_next(&c), 64);
    /* min 0 is 1; max below min is min */
    fp__chunker_init(&c, TARGET, 0, 0, 0);
    assert_int_equal(fp__chunker_next(&c), 1);
}

/* Fast chunks: x2 per observation, up to max. */
static void test_grows_when_fast(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init(&c, TARGET, 1, 1, 4096);
    size_t want = 1;
    for (int i = 0; i < 20; i++) {
        size_t s = fp__chunker_next(&c);
        assert_int_equal(s, want);
        fp__chunker_observe(&c, s, (double)s * 10e-9); /* 10 ns each */
        want = want * 2 > 4096 ? 4096 : want * 2;
    }
    assert_int_equal(fp__chunker_next(&c), 4096);
    /* too fast to measure counts as fast */
    fp__chunker_init(&c, TARGET, 3, 1, 4096);
    fp__chunker_observe(&c, 3, 0);
    assert_int_equal(fp__chunker_next(&c), 6);
}

/* Fast but not by much: grows to what takes the target, not beyond. */
static void test_grows_to_target(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init(&c, TARGET, 100, 1, 100000);
    fp__chunker_observe(&c, 100, 80e-6); /* 0.8 us each: 125 take 100 us */
    assert_int_equal(fp__chunker_next(&c), 125);
    /* a stale small fast chunk does not shrink it */
    fp__chunker_observe(&c, 2, 1e-6);
    assert_int_equal(fp__chunker_next(&c), 125);
}

/* Slow chunks: down at once to what takes the target, never below min. */
static void test_shrinks_when_slow(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init(&c, TARGET, 1000, 1, 4096);
    fp__chunker_observe(&c, 1000, 10e-3); /* 10 us each: 10 per target */
    assert_int_equal(fp__chunker_next(&c), 10);
    /* a slow observation never grows it */
    fp__chunker_observe(&c, 1000, 200e-6); /* would say 500 */
    assert_int_equal(fp__chunker_next(&c), 10);
    /* 1 ms per element: the floor is min */
    fp__chunker_observe(&c, 10, 10e-3);
    assert_int_equal(fp__chunker_next(&c), 1);
    fp__chunker_init(&c, TARGET, 64, 4, 4096);
    fp__chunker_observe(&c, 64, 1.0);
    assert_int_equal(fp__chunker_next(&c), 4);
    /* and it grows back once fast again */
    fp__chunker_observe(&c, 4, 1e-6);
    assert_int_equal(fp__chunker_next(&c), 8);
}

static void test_respects_max(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init(&c, TARGET, 1, 1, 10);
    for (int i = 0; i < 10; i++)
        fp__chunker_observe(&c, fp__chunker_next(&c), 0);
    assert_int_equal(fp__chunker_next(&c), 10);
    /* huge observations saturate instead of overflowing */
    fp__chunker_init(&c, TARGET, 1, 1, SIZE_MAX);
    fp__chunker_observe(&c, SIZE_MAX / 2 + 7, 1e-12);
    assert_int_equal(fp__chunker_next(&c), SIZE_MAX);
    /* empty observations are ignored */
    fp__chunker_init(&c, TARGET, 5, 1, 100);
    fp__chunker_observe(&c, 0, 1.0);
    fp__chunker_observe(&c, 0, 0);
    assert_int_equal(fp__chunker_next(&c), 5);
}

/* An explicit chunk size wins: a fixed sizer ignores what it is told. */
static void test_fixed_wins(void **state)
{
    (void)state;
    fp__chunker_t c;
    fp__chunker_init_fixed(&c, 37);
    assert_int_equal(fp__chunker_next(&c), 37);
    fp__chunker_observe(&c, 37, 0);
    fp__chunker_observe(&c, 37, 1e-9);
    assert_int_equal(fp__chunker_next(&c), 37);
    fp__chunker_observe(&c, 37, 10.0);
    assert_int_equal(fp__chunker_next(&c), 37);
    fp__chunker_init_fixed(&c, 0);
    assert_int_equal(fp__chunker_next(&c), 1);
}

/* A larger target (the remote layer: k x round trip) gives larger chunks. */
static void test_target_scales(void **state)
{
    (void)state;
    fp__chunker_t local, remote;
    fp__chunker_init(&local, TARGET, 1000, 1, SIZE_MAX);
    fp__chunker_init(&remote, 100 * TARGET, 1000, 1, SIZE_MAX);
    fp__chunker_observe(&local, 1000, 1e-3);  /* 1 us each */
    fp__chunker_observe(&remote, 1000, 1e-3);
    assert_int_equal(fp__chunker_next(&local), 100);
    assert_int_equal(fp__chunker_next(&remote), 2000); /* x2 cap */
}

static void test_balance_cap(void **state)
{
    (void)state;
    assert_int_equal(fp__chunker_balance_cap(0, 8), 1);
    assert_int_equal(fp__chunker_balance_cap(7, 8), 1);
    assert_int_equal(fp__chunker_balance_cap(16, 8), 2);
    assert_int_equal(fp__chunker_balance_cap(17, 8), 3);
    assert_int_equal(fp__chunker_balance_cap(17, 0), 17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_start),
        cmocka_unit_test(test_grows_when_fast),
        cmocka_unit_test(test_grows_to_target),
        cmocka_unit_test(test_shrinks_when_slow),
        cmocka_unit_test(test_respects_max),
        cmocka_unit_test(test_fixed_wins),
        cmocka_unit_test(test_target_scales),
        cmocka_unit_test(test_balance_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
