/* Lazy iteration: fp_imap, fp_imap_unordered, fp_iter_next, fp_iter_destroy. */
#include "fp_test.h"

#include <pthread.h>
#include <unistd.h>

#define EXECUTORS 2

static atomic_int g_gate;
static atomic_long g_started;
static uint64_t g_fail = UINT64_MAX;
static uint64_t g_gate_value = UINT64_MAX; /* "im.gate_one" blocks on this */

static uint64_t f(uint64_t x) { return x * x + 1; }

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static fp_status_t finish(fp_task_t *task, const fp_cbuf_t *args,
                          size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad args");
    uint64_t x = get_u64(args[0].data);
    if (x == g_fail)
        return fp_task_error(task, FP_ERR_INVALID, "imap bad %llu",
                             (unsigned long long)x);
    if (out->size == 8) {
        uint64_t y = f(x);
        memcpy(out->data, &y, 8);
    } else if (out->size != 0) {
        return fp_task_error(task, FP_ERR_TASK, "bad out size %zu", out->size);
    }
    return FP_OK;
}

static fp_status_t im_sq(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                         fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    return finish(task, args, nargs, out);
}
FP_TASK_REGISTER_AS("im.sq", im_sq)

static fp_status_t im_gate(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add(&g_started, 1);
    fp_gate_wait(&g_gate);
    return finish(task, args, nargs, out);
}
FP_TASK_REGISTER_AS("im.gate", im_gate)

/* blocks only on the element whose value is g_gate_value */
static fp_status_t im_gate_one(fp_task_t *task, const fp_cbuf_t *args,
                               size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    if (nargs == 1 && args[0].size == 8 && get_u64(args[0].data) == g_gate_value)
        fp_gate_wait(&g_gate);
    return finish(task, args, nargs, out);
}
FP_TASK_REGISTER_AS("im.gate_one", im_gate_one)

/* sleeps 1 ms: a task whose duration dwarfs any scheduling cost */
static fp_status_t im_sleep1ms(fp_task_t *task, const fp_cbuf_t *args,
                               size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_started, 1, memory_order_relaxed);
    fp_test_sleep_us(1000);
    return finish(task, args, nargs, out);
}
FP_TASK_REGISTER_AS("im.sleep1ms", im_sleep1ms)

/* big results: fills its whole result slot with the low byte of its input;
 * counts the tasks running at once (max in g_max_running) */
static atomic_long g_running, g_max_running;
static fp_status_t im_big(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                          fp_buf_t *out)
{
    long r = atomic_fetch_add(&g_running, 1) + 1;
    long m = atomic_load(&g_max_running);
    while (r > m && !atomic_compare_exchange_weak(&g_max_running, &m, r)) {
    }
    atomic_fetch_add(&g_started, 1);
    if (nargs != 1 || args[0].size != 8) {
        atomic_fetch_sub(&g_running, 1);
        return fp_task_error(task, FP_ERR_TASK, "bad args");
    }
    memset(out->data, (int)(get_u64(args[0].data) & 0xff), out->size);
    atomic_fetch_sub(&g_running, 1);
    return FP_OK;
}
FP_TASK_REGISTER_AS("im.big", im_big)

/* ---- fixtures ------------------------------------------------------------ */

static fp_test_env_t g_env;

static int setup(void **state)
{
    (void)state;
    atomic_store(&g_gate, 1);
    atomic_store(&g_started, 0);
    atomic_store(&g_running, 0);
    atomic_store(&g_max_running, 0);
    g_fail = UINT64_MAX;
    g_gate_value = UINT64_MAX;
    fp_test_env_open(&g_env, EXECUTORS, FP_PIN_NONE, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&g_gate, 1);
    fp_test_env_close(&g_env);
    return 0;
}

static uint64_t *make_input(size_t n)
{
    uint64_t *in = malloc((n ? n : 1) * 8);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    return in;
}

typedef fp_status_t (*imap_fn)(fp_pool_t *, const char *, const void *, size_t,
                               size_t, size_t, const fp_call_params_t *,
                               fp_iter_t **);

static void expect_end(fp_iter_t *it)
{
    uint64_t v = SIZE_MAX;
    size_t idx = 12345;
    assert_status(fp_iter_next(it, &v, &idx, -1, NULL), FP_END);
    assert_status(fp_iter_next(it, &v, &idx, 0, NULL), FP_END);
    assert_status(fp_iter_next(it, &v, &idx, 1, NULL), FP_END);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_ordered(void **state)
{
    (void)state;
    const size_t n = 10007;
    uint64_t *in = make_input(n);
    const size_t chunks[] = {0, 1, 7, 100000};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        fp_call_params_t cp = {.chunksize = chunks[c]};
        fp_iter_t *it = NULL;
        assert_ok(fp_imap(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
        assert_non_null(it);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            size_t idx = SIZE_MAX;
            fp_error_t err;
            fp_status_t s = fp_iter_next(it, &v, &idx, -1, &err);
            if (s != FP_OK)
                fail_msg("chunksize %zu: result %zu: %s", chunks[c], i,
                         fp_status_name(s));
            if (idx != i || v != f(i))
                fail_msg("chunksize %zu: result %zu: index %zu value %llu",
                         chunks[c], i, idx, (unsigned long long)v);
        }
        expect_end(it);
        fp_iter_destroy(it);
    }
    free(in);
}

static void test_unordered(void **state)
{
    (void)state;
    const size_t n = 10007;
    uint64_t *in = make_input(n);
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    const size_t chunks[] = {0, 1, 7};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        memset(seen, 0, n);
        fp_call_params_t cp = {.chunksize = chunks[c]};
        fp_iter_t *it = NULL;
        assert_ok(fp_imap_unordered(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            size_t idx = SIZE_MAX;
            assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
            if (idx >= n)
                fail_msg("index %zu out of range", idx);
            if (seen[idx]++)
                fail_msg("index %zu seen twice", idx);
            if (v != f(idx))
                fail_msg("index %zu: value %llu", idx, (unsigned long long)v);
        }
        expect_end(it);
        fp_iter_destroy(it);
    }
    free(seen);
    free(in);
}

static void test_empty(void **state)
{
    (void)state;
    uint64_t v;
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "im.sq", NULL, 8, 0, 8, NULL, &it));
    assert_status(fp_iter_next(it, &v, NULL, 0, NULL), FP_END);
    expect_end(it);
    fp_iter_destroy(it);
    it = NULL;
    assert_ok(fp_imap_unordered(g_env.pool, "im.sq", NULL, 8, 0, 8, NULL, &it));
    assert_status(fp_iter_next(it, &v, NULL, 0, NULL), FP_END);
    expect_end(it);
    fp_iter_destroy(it);
    assert_int_equal(atomic_load(&g_started), 0);
}

static void run_element_error(imap_fn fn)
{
    const size_t n = 1000;
    uint64_t *in = make_input(n);
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    g_fail = 537;
    fp_call_params_t cp = {.chunksize = 10};
    fp_iter_t *it = NULL;
    assert_ok(fn(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
    size_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        size_t idx = SIZE_MAX;
        fp_error_t err;
        memset(&err, 0, sizeof(err));
        fp_status_t s = fp_iter_next(it, &v, &idx, -1, &err);
        if (idx >= n)
            fail_msg("index %zu out of range (status %s)", idx, fp_status_name(s));
        if (fn == fp_imap && idx != i)
            fail_msg("result %zu has index %zu", i, idx);
        if (seen[idx]++)
            fail_msg("index %zu seen twice", idx);
        if (idx == 537) {
            assert_status(s, FP_ERR_INVALID);
            assert_status(err.status, FP_ERR_INVALID);
            assert_int_equal(err.index, 537);
            assert_string_equal(err.message, "imap bad 537");
            errors++;
        } else {
            if (s != FP_OK)
                fail_msg("index %zu: %s", idx, fp_status_name(s));
            assert_int_equal(v, f(idx));
        }
    }
    assert_int_equal(errors, 1);
    expect_end(it);
    fp_iter_destroy(it);
    free(seen);
    free(in);
}

static void test_element_error_ordered(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.sq fails on g_fail, a global the test sets in this process");
    (void)state;
    run_element_error(fp_imap);
}

static void test_element_error_unordered(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.sq fails on g_fail, a global the test sets in this process");
    (void)state;
    run_element_error(fp_imap_unordered);
}

static void test_out_size_zero(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.sq counts its calls in g_started, a global of this process, and "
        "the test checks that count");
    (void)state;
    const size_t n = 300;
    uint64_t *in = make_input(n);
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "im.sq", in, 8, n, 0, NULL, &it));
    for (size_t i = 0; i < n; i++) {
        size_t idx = SIZE_MAX;
        assert_ok(fp_iter_next(it, NULL, &idx, -1, NULL));
        assert_int_equal(idx, i);
    }
    expect_end(it);
    fp_iter_destroy(it);
    assert_int_equal(atomic_load(&g_started), n);
    free(in);
}

/* The pool must not run far ahead of a slow consumer.  The bound (a quarter
 * of n) is far above "a few chunks per executor", so it only fails when the
 * window is not bounded at all. */
static void run_bounded(imap_fn fn)
{
    const size_t n = fp_test_scaled(1000000, 100000);
    const long bound = (long)(n / 4);
    uint64_t *in = make_input(n);
    fp_call_params_t cp = {.chunksize = 100};
    fp_iter_t *it = NULL;
    atomic_store(&g_started, 0);
    assert_ok(fn(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
    fp_test_sleep_ms(200); /* give it every chance to run ahead */
    long ahead = atomic_load(&g_started);
    if (ahead > bound)
        fail_msg("before any take: %ld of %zu elements ran", ahead, n);
    uint64_t sum = 0, want = 0;
    for (size_t taken = 0; taken < n; taken++) {
        if (taken == 1000 || taken == n / 2 || taken == n - 5000)
            fp_test_sleep_ms(100); /* a slow consumer */
        uint64_t v = 0;
        size_t idx = 0;
        assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
        if (fn == fp_imap && idx != taken)
            fail_msg("result %zu has index %zu", taken, idx);
        sum += v;
        want += f(taken);
        ahead = atomic_load_explicit(&g_started, memory_order_relaxed) -
                (long)taken;
        if (ahead > bound)
            fail_msg("after %zu taken: %ld elements ran ahead", taken, ahead);
    }
    assert_int_equal(sum, want);
    expect_end(it);
    fp_iter_destroy(it);
    assert_int_equal(atomic_load(&g_started), n);
    free(in);
}

static void test_bounded_ordered(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "how far the pool runs ahead is read from g_started, which im.sq "
        "increments in this process");
    (void)state;
    run_bounded(fp_imap);
}

static void test_bounded_unordered(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "how far the pool runs ahead is read from g_started, which im.sq "
        "increments in this process");
    (void)state;
    run_bounded(fp_imap_unordered);
}

/* Ordered, with element 0 stuck: later results pile up but the window still
 * bounds how many run. */
static void test_bounded_head_of_line(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.gate_one blocks on g_gate for the element g_gate_value, a gate "
        "and a value the test sets in this process, and counts starts in "
        "g_started");
    (void)state;
    const size_t n = fp_test_scaled(200000, 50000);
    uint64_t *in = make_input(n);
    atomic_store(&g_gate, 0);
    g_gate_value = 0;
    fp_call_params_t cp = {.chunksize = 10};
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "im.gate_one", in, 8, n, 8, &cp, &it));
    uint64_t v;
    size_t idx;
    assert_status(fp_iter_next(it, &v, &idx, 0.1, NULL), FP_ERR_TIMEOUT);
    fp_test_sleep_ms(100);
    long ran = atomic_load(&g_started);
    if (ran > (long)(n / 4))
        fail_msg("element 0 blocked: %ld of %zu elements ran", ran, n);
    atomic_store(&g_gate, 1);
    for (size_t i = 0; i < n; i++) {
        assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
        assert_int_equal(idx, i);
        assert_int_equal(v, f(i));
    }
    expect_end(it);
    fp_iter_destroy(it);
    free(in);
}

static void test_next_timeout(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.gate blocks on g_gate, a gate the test opens in this process");
    (void)state;
    uint64_t in[4] = {3, 4, 5, 6};
    atomic_store(&g_gate, 0);
    fp_call_params_t cp = {.chunksize = 1};
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "im.gate", in, 8, 4, 8, &cp, &it));
    uint64_t v = 77;
    size_t idx = 77;
    assert_status(fp_iter_next(it, &v, &idx, 0, NULL), FP_ERR_TIMEOUT);
    assert_status(fp_iter_next(it, &v, &idx, 0.05, NULL), FP_ERR_TIMEOUT);
    assert_int_equal(v, 77); /* nothing taken */
    atomic_store(&g_gate, 1);
    for (size_t i = 0; i < 4; i++) {
        assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
        assert_int_equal(idx, i);
        assert_int_equal(v, f(in[i]));
    }
    expect_end(it);
    fp_iter_destroy(it);

    /* unordered too */
    atomic_store(&g_gate, 0);
    assert_ok(fp_imap_unordered(g_env.pool, "im.gate", in, 8, 4, 8, &cp, &it));
    assert_status(fp_iter_next(it, &v, &idx, 0.05, NULL), FP_ERR_TIMEOUT);
    atomic_store(&g_gate, 1);
    unsigned mask = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
        assert_true(idx < 4);
        mask |= 1u << idx;
        assert_int_equal(v, f(in[idx]));
    }
    assert_int_equal(mask, 0xF);
    expect_end(it);
    fp_iter_destroy(it);
}

/* After fp_iter_destroy returns, no task of that iteration runs any more. */
static void check_quiescent(void)
{
    long after = atomic_load(&g_started);
    fp_test_sleep_ms(50);
    assert_int_equal(atomic_load(&g_started), after);
}

static void test_destroy_early(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "that no task runs after fp_iter_destroy is read from g_started, "
        "which im.sq increments in this process");
    (void)state;
    const size_t n = 100000;
    uint64_t *in = make_input(n);
    fp_call_params_t cp = {.chunksize = 10};
    fp_iter_t *it = NULL;

    /* destroy without taking anything */
    assert_ok(fp_imap(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
    fp_iter_destroy(it);
    check_quiescent();
    assert_true(atomic_load(&g_started) < (long)n);

    /* take a few, then destroy */
    for (int kind = 0; kind < 2; kind++) {
        atomic_store(&g_started, 0);
        assert_ok((kind ? fp_imap_unordered : fp_imap)(g_env.pool, "im.sq", in,
                                                      8, n, 8, &cp, &it));
        for (size_t i = 0; i < 10; i++) {
            uint64_t v = 0;
            assert_ok(fp_iter_next(it, &v, NULL, -1, NULL));
        }
        fp_iter_destroy(it);
        check_quiescent();
        assert_true(atomic_load(&g_started) < (long)n);
    }

    /* with a failing element among those taken */
    g_fail = 3;
    assert_ok(fp_imap(g_env.pool, "im.sq", in, 8, n, 8, &cp, &it));
    uint64_t v;
    for (size_t i = 0; i < 5; i++)
        (void)fp_iter_next(it, &v, NULL, -1, NULL);
    fp_iter_destroy(it);
    check_quiescent();
    free(in);
}

typedef struct opener {
    atomic_int *destroyed;
    int destroyed_at_open;
} opener_t;

static void *open_gate_later(void *p)
{
    opener_t *o = p;
    fp_test_sleep_ms(100);
    o->destroyed_at_open = atomic_load(o->destroyed);
    atomic_store(&g_gate, 1);
    return NULL;
}

/* Destroy while chunks are running: it waits for them. */
static void test_destroy_waits_in_flight(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "im.gate blocks on g_gate, a gate the test opens in this process, and"
        " the test waits on g_started");
    (void)state;
    const size_t n = 1000;
    uint64_t *in = make_input(n);
    atomic_store(&g_gate, 0);
    atomic_store(&g_started, 0);
    fp_call_params_t cp = {.chunksize = 1};
    fp_iter_t *it = NULL;
    assert_ok(fp_imap_unordered(g_env.pool, "im.gate", in, 8, n, 8, &cp, &it));
    fp_test_wait_at_least(&g_started, EXECUTORS);
    atomic_int destroyed = 0;
    opener_t o = {&destroyed, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, open_gate_later, &o), 0);
    fp_iter_destroy(it);
    atomic_store(&destroyed, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(o.destroyed_at_open, 0);
    check_quiescent();
    assert_true(atomic_load(&g_started) < (long)n);
    free(in);
}

static void test_two_iterators(void **state)
{
    (void)state;
    const size_t n = 5000;
    uint64_t *in = make_input(n);
    fp_call_params_t cp = {.chunksize = 3};
    fp_iter_t *a = NULL, *b = NULL;
    assert_ok(fp_imap(g_env.pool, "im.sq", in, 8, n, 8, &cp, &a));
    assert_ok(fp_imap(g_env.pool, "im.sq", in + 1000, 8, n - 1000, 8, NULL, &b));
    for (size_t i = 0; i < n - 1000; i++) {
        uint64_t v;
        size_t idx;
        assert_ok(fp_iter_next(a, &v, &idx, -1, NULL));
        assert_int_equal(idx, i);
        assert_int_equal(v, f(i));
        assert_ok(fp_iter_next(b, &v, &idx, -1, NULL));
        assert_int_equal(idx, i);
        assert_int_equal(v, f(i + 1000));
    }
    expect_end(b);
    fp_iter_destroy(b);
    for (size_t i = n - 1000; i < n; i++) {
        uint64_t v;
        assert_ok(fp_iter_next(a, &v, NULL, -1, NULL));
        assert_int_equal(v, f(i));
    }
    expect_end(a);
    fp_iter_destroy(a);
    free(in);
}

/* A chunk size far above n is fine, as for fp_map (one chunk of n). */
static void test_huge_chunksize(void **state)
{
    (void)state;
    enum { n = 100 };
    static uint64_t in[n]; /* static: nothing leaks when an assert fails */
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    const size_t chunks[] = {1000000, (size_t)1 << 40, SIZE_MAX};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        for (int kind = 0; kind < 2; kind++) {
            for (size_t out_size = 0; out_size <= 8; out_size += 8) {
                fp_call_params_t cp = {.chunksize = chunks[c]};
                fp_iter_t *it = NULL;
                fp_status_t s = (kind ? fp_imap_unordered : fp_imap)(
                    g_env.pool, "im.sq", in, 8, n, out_size, &cp, &it);
                if (s != FP_OK)
                    fail_msg("chunksize %zu, %s, out_size %zu: %s", chunks[c],
                             kind ? "unordered" : "ordered", out_size,
                             fp_status_name(s));
                uint64_t sum = 0, want = 0;
                for (size_t i = 0; i < n; i++) {
                    uint64_t v = 0;
                    assert_ok(fp_iter_next(it, out_size ? &v : NULL, NULL, -1,
                                           NULL));
                    sum += v;
                    want += out_size ? f(i) : 0;
                }
                assert_int_equal(sum, want);
                expect_end(it);
                fp_iter_destroy(it);
            }
        }
    }
}

static void test_invalid(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "asserts that an unknown task name fails synchronously at submission "
        "(iterator left unset); over nodes the node checks the name");
    (void)state;
    uint64_t in[4] = {0, 1, 2, 3};
    fp_iter_t *const sentinel = (fp_iter_t *)(uintptr_t)0x20;
    fp_iter_t *it = sentinel;
    assert_status(fp_imap(NULL, "im.sq", in, 8, 4, 8, NULL, &it), FP_ERR_INVALID);
    assert_status(fp_imap(g_env.pool, NULL, in, 8, 4, 8, NULL, &it),
                  FP_ERR_INVALID);
    assert_status(fp_imap(g_env.pool, "im.sq", NULL, 8, 4, 8, NULL, &it),
                  FP_ERR_INVALID);
    assert_status(fp_imap(g_env.pool, "im.sq", in, 8, 4, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_imap(g_env.pool, "im.nope", in, 8, 4, 8, NULL, &it),
                  FP_ERR_NOT_FOUND);
    assert_status(fp_imap_unordered(g_env.pool, "im.nope", in, 8, 4, 8, NULL,
                                    &it),
                  FP_ERR_NOT_FOUND);
    assert_status(fp_imap_unordered(NULL, "im.sq", in, 8, 4, 8, NULL, &it),
                  FP_ERR_INVALID);
    assert_ptr_equal(it, sentinel);
    assert_int_equal(atomic_load(&g_started), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* With a 1 ms task over 10^6 elements the first result comes after a few
 * task durations (the first chunks are small), not after a whole chunk of
 * thousands; destroying the iterator right after is quick.  The bound is
 * generous (200 task durations); the old fixed chunks (4096) took 4 s. */
static void run_first_result_latency(imap_fn fn, const char *label)
{
    const size_t n = 1000000;
    uint64_t *in = make_input(n);
    const double t0 = now_s();
    fp_iter_t *it = NULL;
    assert_ok(fn(g_env.pool, "im.sleep1ms", in, 8, n, 8, NULL, &it));
    uint64_t v = 0;
    size_t idx = SIZE_MAX;
    assert_ok(fp_iter_next(it, &v, &idx, 30, NULL));
    const double first = now_s() - t0;
    assert_true(idx < n);
    assert_int_equal(v, f(idx));
    if (fn == fp_imap)
        assert_int_equal(idx, 0);
    /* a few more: the sizer keeps chunks of a 1 ms task at 1 element */
    for (int i = 0; i < 20; i++)
        assert_ok(fp_iter_next(it, &v, &idx, 30, NULL));
    const double twenty = now_s() - t0;
    const double t1 = now_s();
    fp_iter_destroy(it);
    const double destroy = now_s() - t1;
    print_message("%s, 1 ms task, n=%zu: first result %.2f ms, 21 results "
                  "%.2f ms, destroy %.2f ms, %ld tasks started\n",
                  label, n, first * 1e3, twenty * 1e3, destroy * 1e3,
                  atomic_load(&g_started));
    if (first > 0.2)
        fail_msg("%s: first result after %.3f s", label, first);
    if (destroy > 1.0)
        fail_msg("%s: destroy took %.3f s", label, destroy);
    check_quiescent();
    free(in);
}

static void test_first_result_latency_unordered(void **state)
{
    (void)state;
    run_first_result_latency(fp_imap_unordered, "imap_unordered");
}

static void test_first_result_latency_ordered(void **state)
{
    (void)state;
    run_first_result_latency(fp_imap, "imap");
}

static long rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (fp != NULL) {
        if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(fp);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

/* 10^4 results of 1 MiB through imap: the window is bounded in bytes (32 MiB
 * by default), so resident memory grows by far less than 256 MiB (the old
 * element-bounded window added 2.5 GB). */
static void test_rss_big_results(void **state)
{
    (void)state;
    const size_t out_size = (size_t)1 << 20;
    const size_t n = fp_test_scaled(10000, 1000);
    const long bound = 256L << 20;
    uint64_t *in = make_input(n);
    unsigned char *buf = malloc(out_size);
    assert_non_null(buf);
    memset(buf, 0, out_size); /* resident before the baseline */
    const long base = rss_bytes();
    long peak = base;
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "im.big", in, 8, n, out_size, NULL, &it));
    for (size_t i = 0; i < n; i++) {
        size_t idx = SIZE_MAX;
        assert_ok(fp_iter_next(it, buf, &idx, -1, NULL));
        assert_int_equal(idx, i);
        if (buf[0] != (unsigned char)(i & 0xff) ||
            buf[out_size - 1] != (unsigned char)(i & 0xff))
            fail_msg("result %zu: wrong bytes", i);
        if (i % 16 == 0) {
            long r = rss_bytes();
            peak = r > peak ? r : peak;
        }
    }
    expect_end(it);
    fp_iter_destroy(it);
    print_message("imap of %zu x 1 MiB results: RSS before %.1f MiB, peak "
                  "growth %.1f MiB (bound %ld MiB)\n",
                  n, (double)base / 1048576.0, (double)(peak - base) / 1048576.0,
                  bound >> 20);
    if (peak - base >= bound)
        fail_msg("RSS grew by %.1f MiB", (double)(peak - base) / 1048576.0);
    free(buf);
    free(in);
}

/* Consume slowly and check how many elements ran ahead of the consumer
 * (started, not yet taken): what the window holds in results. */
static long run_ahead(imap_fn fn, size_t n, size_t out_size,
                      const fp_call_params_t *cp)
{
    uint64_t *in = make_input(n);
    unsigned char *buf = malloc(out_size);
    assert_non_null(buf);
    atomic_store(&g_started, 0);
    fp_iter_t *it = NULL;
    assert_ok(fn(g_env.pool, "im.big", in, 8, n, out_size, cp, &it));
    long ahead_max = 0;
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    for (size_t taken = 0; taken < n; taken++) {
        if (taken % 50 == 0)
            fp_test_sleep_ms(5); /* let the executors run ahead if they may */
        long ahead = atomic_load(&g_started) - (long)taken;
        ahead_max = ahead > ahead_max ? ahead : ahead_max;
        size_t idx = SIZE_MAX;
        assert_ok(fp_iter_next(it, buf, &idx, -1, NULL));
        assert_true(idx < n);
        if (fn == fp_imap)
            assert_int_equal(idx, taken);
        if (seen[idx]++)
            fail_msg("index %zu seen twice", idx);
        if (buf[0] != (unsigned char)(idx & 0xff) ||
            buf[out_size - 1] != (unsigned char)(idx & 0xff))
            fail_msg("result %zu: wrong bytes", idx);
    }
    expect_end(it);
    fp_iter_destroy(it);
    free(seen);
    free(buf);
    free(in);
    return ahead_max;
}

/* params->window_bytes bounds the results in flight or buffered; the
 * window always admits one element, even one larger than the bound. */
static void test_window_bytes(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "how far the pool runs ahead is read from g_started and "
        "g_max_running, which im.big updates in this process");
    (void)state;
    const size_t kib64 = (size_t)64 << 10;
    for (int kind = 0; kind < 2; kind++) {
        imap_fn fn = kind ? fp_imap_unordered : fp_imap;
        const char *label = kind ? "imap_unordered" : "imap";

        /* 4 results of 64 KiB */
        fp_call_params_t cp = {.window_bytes = 4 * kib64};
        long ahead = run_ahead(fn, 400, kib64, &cp);
        print_message("%s, window_bytes 256 KiB, 64 KiB results: %ld ran "
                      "ahead, %ld at once\n",
                      label, ahead, atomic_load(&g_max_running));
        if (ahead > 4 || atomic_load(&g_max_running) > 4)
            fail_msg("%s: %ld elements ran ahead, %ld at once", label, ahead,
                     atomic_load(&g_max_running));

        /* a bound below one result: one at a time, still every result */
        atomic_store(&g_max_running, 0);
        cp.window_bytes = 1000;
        ahead = run_ahead(fn, 100, 4096, &cp);
        if (ahead > 1 || atomic_load(&g_max_running) > 1)
            fail_msg("%s: window below one result: %ld ran ahead, %ld at once",
                     label, ahead, atomic_load(&g_max_running));

        /* explicit chunks are whole: 2 chunks of 10 fit in 25 results */
        atomic_store(&g_max_running, 0);
        cp.chunksize = 10;
        cp.window_bytes = 25 * kib64;
        ahead = run_ahead(fn, 400, kib64, &cp);
        if (ahead > 20)
            fail_msg("%s: chunks of 10 in 25 results: %ld ran ahead", label,
                     ahead);
        /* one chunk larger than the bound still runs, alone */
        cp.chunksize = 10;
        cp.window_bytes = 5 * kib64;
        ahead = run_ahead(fn, 100, kib64, &cp);
        if (ahead > 10)
            fail_msg("%s: chunk above the bound: %ld ran ahead", label, ahead);

        /* default: 32 MiB of 1 MiB results */
        atomic_store(&g_max_running, 0);
        ahead = run_ahead(fn, fp_test_scaled(1000, 300), (size_t)1 << 20, NULL);
        print_message("%s, default window, 1 MiB results: %ld ran ahead\n",
                      label, ahead);
        if (ahead > 32)
            fail_msg("%s: default window: %ld ran ahead", label, ahead);
    }
}

/* An explicit chunksize wins over the measured task time: with chunks of
 * 50 elements of >= 1 ms each, no result can come before 50 ms (the sizer
 * alone would hand out single elements). */
static void test_explicit_chunksize_wins(void **state)
{
    (void)state;
    const size_t n = 400;
    uint64_t *in = make_input(n);
    fp_call_params_t cp = {.chunksize = 50};
    const double t0 = now_s();
    fp_iter_t *it = NULL;
    assert_ok(fp_imap_unordered(g_env.pool, "im.sleep1ms", in, 8, n, 8, &cp,
                                &it));
    uint64_t v;
    size_t idx;
    assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
    const double first = now_s() - t0;
    print_message("chunksize 50, 1 ms task: first result %.1f ms\n",
                  first * 1e3);
    fp_iter_destroy(it);
    if (first < 0.045)
        fail_msg("first result after %.1f ms: chunks smaller than asked",
                 first * 1e3);
    free(in);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ordered),
        T(test_unordered),
        T(test_empty),
        T(test_element_error_ordered),
        T(test_element_error_unordered),
        T(test_out_size_zero),
        T(test_bounded_ordered),
        T(test_bounded_unordered),
        T(test_bounded_head_of_line),
        T(test_next_timeout),
        T(test_destroy_early),
        T(test_destroy_waits_in_flight),
        T(test_two_iterators),
        T(test_huge_chunksize),
        T(test_invalid),
        T(test_first_result_latency_unordered),
        T(test_first_result_latency_ordered),
        T(test_rss_big_results),
        T(test_window_bytes),
        T(test_explicit_chunksize_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
