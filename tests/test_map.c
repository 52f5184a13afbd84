/* fp_map and fp_starmap. */
#include "fp_test.h"

static atomic_long g_calls;
static uint64_t g_fail_a = UINT64_MAX, g_fail_b = UINT64_MAX;

#define SENTINEL 0xA5A5A5A5A5A5A5A5ULL

static uint64_t f(uint64_t x) { return x * x + 1; }

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static fp_status_t check_shape(fp_task_t *task, const fp_cbuf_t *args,
                               size_t nargs, size_t in_size, fp_buf_t *out,
                               size_t out_size)
{
    if (nargs != 1 || args == NULL || args[0].data == NULL ||
        args[0].size != in_size)
        return fp_task_error(task, FP_ERR_TASK, "bad args: nargs %zu size %zu",
                             nargs, nargs ? args[0].size : 0);
    if (out == NULL || out->size != out_size ||
        (out_size != 0 && out->data == NULL))
        return fp_task_error(task, FP_ERR_TASK, "bad out slot");
    return FP_OK;
}

/* uint64 x -> x*x + 1 */
static fp_status_t map_sq(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                          fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    fp_status_t s = check_shape(task, args, nargs, 8, out, 8);
    if (s != FP_OK)
        return s;
    uint64_t y = f(get_u64(args[0].data));
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.sq", map_sq)

/* 3-byte elements in, 5-byte results out: checks the offsets. */
static fp_status_t map_odd(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    fp_status_t s = check_shape(task, args, nargs, 3, out, 5);
    if (s != FP_OK)
        return s;
    const unsigned char *in = args[0].data;
    unsigned char *o = out->data;
    o[0] = (unsigned char)(in[0] ^ 0x5A);
    o[1] = in[1];
    o[2] = in[2];
    o[3] = (unsigned char)(in[0] + in[1] + in[2]);
    o[4] = 0xEE;
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.odd", map_odd)

/* fails on the values g_fail_a and g_fail_b */
static fp_status_t map_fail(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    fp_status_t s = check_shape(task, args, nargs, 8, out, 8);
    if (s != FP_OK)
        return s;
    uint64_t x = get_u64(args[0].data);
    if (x == g_fail_a || x == g_fail_b)
        return fp_task_error(task, FP_ERR_INVALID, "bad element %llu",
                             (unsigned long long)x);
    uint64_t y = f(x);
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.fail", map_fail)

/* uses fp_task_output; asks for one byte too many on g_fail_a */
static fp_status_t map_output(fp_task_t *task, const fp_cbuf_t *args,
                              size_t nargs, fp_buf_t *out)
{
    fp_status_t s = check_shape(task, args, nargs, 8, out, 8);
    if (s != FP_OK)
        return s;
    uint64_t x = get_u64(args[0].data);
    if (x == g_fail_a) {
        if (fp_task_output(task, out->size + 1) != NULL)
            return fp_task_error(task, FP_ERR_TASK,
                                 "fp_task_output gave an oversized result");
        return FP_OK; /* the element fails with FP_ERR_OVERFLOW anyway */
    }
    void *p = fp_task_output(task, 8);
    if (p != out->data)
        return fp_task_error(task, FP_ERR_TASK,
                             "fp_task_output(8) is not the slot");
    uint64_t y = f(x);
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.output", map_output)

/* status that is not an error, and overlong messages */
static fp_status_t map_odd_status(fp_task_t *task, const fp_cbuf_t *args,
                                  size_t nargs, fp_buf_t *out)
{
    (void)nargs, (void)out;
    uint64_t x = get_u64(args[0].data);
    if (x == 5)
        return fp_task_error(task, FP_OK, "status %d is no error", 0);
    if (x == 6)
        return fp_task_error(task, FP_END, "status %d is no error", 2);
    if (x == 7) {
        char big[1000];
        memset(big, 'q', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        return fp_task_error(task, FP_ERR_IO, "%s", big);
    }
    if (x == 8)
        return FP_ERR_PEER; /* no message */
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.odd_status", map_odd_status)

/* out_size 0 */
static fp_status_t map_count(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    if (nargs != 1 || args[0].size != 8 || out->size != 0)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.count", map_count)

/* starmap: sum over j of (j+1) * arg j, read by its size */
static uint64_t read_uint(const void *p, size_t size)
{
    switch (size) {
    case 1: { uint8_t v; memcpy(&v, p, 1); return v; }
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
    default: return UINT64_MAX;
    }
}

static fp_status_t map_star(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
    if (nargs < 1 || nargs > FP_MAX_ARGS || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call: nargs %zu", nargs);
    uint64_t sum = 0;
    for (size_t j = 0; j < nargs; j++) {
        uint64_t v = read_uint(args[j].data, args[j].size);
        if (v == UINT64_MAX)
            return fp_task_error(task, FP_ERR_TASK, "arg %zu has size %zu", j,
                                 args[j].size);
        sum += (j + 1) * v;
    }
    memcpy(out->data, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.star", map_star)

/* ---- helpers ------------------------------------------------------------- */

static uint64_t *make_input(size_t n)
{
    uint64_t *in = malloc((n ? n : 1) * sizeof(uint64_t));
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    return in;
}

static uint64_t *make_output(size_t n)
{
    uint64_t *out = malloc((n ? n : 1) * sizeof(uint64_t));
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        out[i] = SENTINEL;
    return out;
}

static void check_sq(const uint64_t *out, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] != f(i))
            fail_msg("%s: out[%zu] = %#llx, expected %#llx", what, i,
                     (unsigned long long)out[i], (unsigned long long)f(i));
}

/* One map of "map.sq" over n elements, checked exactly. */
static void map_sq_checked(fp_pool_t *pool, size_t n, size_t chunksize,
                           const char *what)
{
    uint64_t *in = make_input(n), *out = make_output(n);
    fp_call_params_t cp = {.chunksize = chunksize};
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    atomic_store(&g_calls, 0);
    fp_status_t s = fp_map(pool, "map.sq", in, 8, n, out, 8, &cp, &err);
    if (s != FP_OK)
        fail_msg("%s: n=%zu chunksize=%zu: %s (%s, index %zu)", what, n,
                 chunksize, fp_status_name(s), err.message, err.index);
    check_sq(out, n, what);
    if ((size_t)atomic_load(&g_calls) != n)
        fail_msg("%s: n=%zu chunksize=%zu: %ld task calls", what, n,
                 chunksize, atomic_load(&g_calls));
    free(in);
    free(out);
}

static int setup_pool2(void **state)
{
    static fp_test_env_t env;
    fp_test_env_open(&env, 2, FP_PIN_NONE, NULL);
    *state = &env;
    return 0;
}

static int teardown_pool(void **state)
{
    fp_test_env_close(*state);
    return 0;
}

static fp_pool_t *pool_of(void **state)
{
    return ((fp_test_env_t *)*state)->pool;
}

/* ---- correctness over pool shapes, sizes and chunk sizes ---------------- */

static void run_matrix(unsigned executors, fp_pin_t pin)
{
    fp_test_env_t env;
    fp_test_env_open(&env, executors, pin, NULL);
    char what[64];
    snprintf(what, sizeof(what), "executors=%u pin=%d", executors, (int)pin);
    const size_t sizes[] = {0, 1, 2, 7, executors + 1, 1000};
    const size_t chunks[] = {0, 1, 3, 1000000, SIZE_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
            map_sq_checked(env.pool, sizes[i], chunks[c], what);
    size_t big = fp_test_scaled(1000003, 100003);
    map_sq_checked(env.pool, big, 0, what);
    map_sq_checked(env.pool, big, 1000, what);
    fp_test_env_close(&env);
}

static void test_matrix_1_none(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(1, FP_PIN_NONE);
}
static void test_matrix_2_none(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(2, FP_PIN_NONE);
}
static void test_matrix_4_none(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(4, FP_PIN_NONE);
}
static void test_matrix_1_core(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(1, FP_PIN_CORE);
}
static void test_matrix_2_core(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(2, FP_PIN_CORE);
}
static void test_matrix_4_core(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    (void)s;
    run_matrix(4, FP_PIN_CORE);
}

/* chunksize 1 over a large n: many tiny chunks */
static void test_chunksize_1_large(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.sq counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    map_sq_checked(pool_of(state), fp_test_scaled(200003, 20003), 1,
                   "chunksize 1");
}

static void test_odd_sizes(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.odd counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    const size_t n = 10007;
    unsigned char *in = malloc(n * 3), *out = malloc(n * 5);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        in[3 * i] = (unsigned char)i;
        in[3 * i + 1] = (unsigned char)(i >> 8);
        in[3 * i + 2] = (unsigned char)(i >> 16);
    }
    memset(out, 0, n * 5);
    fp_call_params_t cp = {.chunksize = 13};
    atomic_store(&g_calls, 0);
    assert_ok(fp_map(pool_of(state), "map.odd", in, 3, n, out, 5, &cp, NULL));
    assert_int_equal(atomic_load(&g_calls), n);
    for (size_t i = 0; i < n; i++) {
        unsigned char b0 = (unsigned char)i, b1 = (unsigned char)(i >> 8),
                      b2 = (unsigned char)(i >> 16);
        const unsigned char *o = out + 5 * i;
        if (o[0] != (b0 ^ 0x5A) || o[1] != b1 || o[2] != b2 ||
            o[3] != (unsigned char)(b0 + b1 + b2) || o[4] != 0xEE)
            fail_msg("element %zu wrong", i);
    }
    free(in);
    free(out);
}

static void test_out_size_zero(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.count counts its calls in g_calls, a global of this process, and"
        " the test checks that count");
    const size_t n = 5000;
    uint64_t *in = make_input(n);
    atomic_store(&g_calls, 0);
    assert_ok(fp_map(pool_of(state), "map.count", in, 8, n, NULL, 0, NULL, NULL));
    assert_int_equal(atomic_load(&g_calls), n);
    free(in);
}

static void test_n_zero(void **state)
{
    atomic_store(&g_calls, 0);
    assert_ok(fp_map(pool_of(state), "map.sq", NULL, 8, 0, NULL, 8, NULL, NULL));
    assert_ok(fp_map(pool_of(state), "map.sq", NULL, 0, 0, NULL, 0, NULL, NULL));
    fp_array_t a = {NULL, 8};
    assert_ok(fp_starmap(pool_of(state), "map.star", &a, 1, 0, NULL, 8, NULL,
                         NULL));
    assert_int_equal(atomic_load(&g_calls), 0);
}

/* ---- errors -------------------------------------------------------------- */

static void test_unknown_task(void **state)
{
    uint64_t *in = make_input(100), *out = make_output(100);
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    atomic_store(&g_calls, 0);
    assert_status(fp_map(pool_of(state), "map.nope", in, 8, 100, out, 8, NULL,
                         &err),
                  FP_ERR_NOT_FOUND);
    fp_array_t a = {in, 8};
    assert_status(fp_starmap(pool_of(state), "map.nope", &a, 1, 100, out, 8,
                             NULL, NULL),
                  FP_ERR_NOT_FOUND);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(out[i], SENTINEL); /* nothing ran */
    free(in);
    free(out);
}

static void test_invalid_args(void **state)
{
    fp_pool_t *pool = pool_of(state);
    uint64_t in[4] = {0, 1, 2, 3}, out[4];
    assert_status(fp_map(NULL, "map.sq", in, 8, 4, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_map(pool, NULL, in, 8, 4, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_map(pool, "map.sq", NULL, 8, 4, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_map(pool, "map.sq", in, 8, 4, NULL, 8, NULL, NULL),
                  FP_ERR_INVALID);
    /* n * size overflows size_t */
    assert_status(fp_map(pool, "map.sq", in, 8, SIZE_MAX / 4, out, 8, NULL,
                         NULL),
                  FP_ERR_INVALID);
    assert_status(fp_map(pool, "map.sq", in, 1, SIZE_MAX / 4, out, 8, NULL,
                         NULL),
                  FP_ERR_INVALID);
    fp_future_t *fut = (fp_future_t *)(uintptr_t)0x1;
    assert_status(fp_map_async(NULL, "map.sq", in, 8, 4, out, 8, NULL, &fut),
                  FP_ERR_INVALID);
    assert_status(fp_map_async(pool, "map.sq", in, 8, 4, NULL, 8, NULL, &fut),
                  FP_ERR_INVALID);
    assert_ptr_equal(fut, (fp_future_t *)(uintptr_t)0x1);
    assert_status(fp_map_async(pool, "map.sq", in, 8, 4, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
}

static void test_task_error(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.fail fails on g_fail_a / g_fail_b, globals the test sets in this"
        " process");
    const size_t n = 1000;
    uint64_t *in = make_input(n), *out = make_output(n);
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    g_fail_a = 537;
    fp_call_params_t cp = {.chunksize = 7};
    assert_status(fp_map(pool_of(state), "map.fail", in, 8, n, out, 8, &cp, &err),
                  FP_ERR_INVALID);
    assert_status(err.status, FP_ERR_INVALID);
    assert_int_equal(err.index, 537);
    assert_string_equal(err.message, "bad element 537");
    /* elements that ran keep their results; skipped ones are untouched */
    for (size_t i = 0; i < n; i++)
        if (i != 537 && out[i] != SENTINEL && out[i] != f(i))
            fail_msg("out[%zu] = %#llx", i, (unsigned long long)out[i]);
    assert_int_equal(out[537], SENTINEL);

    /* err may be NULL */
    assert_status(fp_map(pool_of(state), "map.fail", in, 8, n, out, 8, &cp, NULL),
                  FP_ERR_INVALID);

    /* two failing elements: the error is one of them, consistently */
    g_fail_a = 100;
    g_fail_b = 900;
    memset(&err, 0, sizeof(err));
    assert_status(fp_map(pool_of(state), "map.fail", in, 8, n, out, 8, NULL, &err),
                  FP_ERR_INVALID);
    assert_true(err.index == 100 || err.index == 900);
    char want[64];
    snprintf(want, sizeof(want), "bad element %zu", err.index);
    assert_string_equal(err.message, want);

    /* the failure on the very first and the very last element */
    g_fail_a = 0;
    g_fail_b = UINT64_MAX;
    assert_status(fp_map(pool_of(state), "map.fail", in, 8, n, out, 8, NULL, &err),
                  FP_ERR_INVALID);
    assert_int_equal(err.index, 0);
    assert_string_equal(err.message, "bad element 0");
    g_fail_a = n - 1;
    assert_status(fp_map(pool_of(state), "map.fail", in, 8, n, out, 8, NULL, &err),
                  FP_ERR_INVALID);
    assert_int_equal(err.index, n - 1);
    assert_string_equal(err.message, "bad element 999");

    /* after all that the pool still works */
    g_fail_a = UINT64_MAX;
    map_sq_checked(pool_of(state), n, 0, "after errors");
    free(in);
    free(out);
}

static void test_error_status_and_message_edges(void **state)
{
    uint64_t in[10];
    for (size_t i = 0; i < 10; i++)
        in[i] = 100;
    fp_error_t err;

    /* fp_task_error with a non-negative status: FP_ERR_TASK */
    in[3] = 5;
    memset(&err, 0, sizeof(err));
    assert_status(fp_map(pool_of(state), "map.odd_status", in, 8, 10, NULL, 0,
                         NULL, &err),
                  FP_ERR_TASK);
    assert_int_equal(err.index, 3);
    assert_string_equal(err.message, "status 0 is no error");
    in[3] = 6;
    assert_status(fp_map(pool_of(state), "map.odd_status", in, 8, 10, NULL, 0,
                         NULL, &err),
                  FP_ERR_TASK);
    assert_string_equal(err.message, "status 2 is no error");

    /* a message longer than FP_ERROR_MAX is truncated, NUL-terminated */
    in[3] = 100;
    in[9] = 7;
    memset(&err, 0x7f, sizeof(err));
    assert_status(fp_map(pool_of(state), "map.odd_status", in, 8, 10, NULL, 0,
                         NULL, &err),
                  FP_ERR_IO);
    assert_int_equal(err.index, 9);
    assert_int_equal(strnlen(err.message, FP_ERROR_MAX), FP_ERROR_MAX - 1);
    for (size_t i = 0; i < FP_ERROR_MAX - 1; i++)
        assert_int_equal(err.message[i], 'q');

    /* an error returned without fp_task_error: the status, some message */
    in[9] = 8;
    memset(&err, 0x7f, sizeof(err));
    assert_status(fp_map(pool_of(state), "map.odd_status", in, 8, 10, NULL, 0,
                         NULL, &err),
                  FP_ERR_PEER);
    assert_status(err.status, FP_ERR_PEER);
    assert_int_equal(err.index, 9);
    assert_true(strnlen(err.message, FP_ERROR_MAX) < FP_ERROR_MAX);
}

static void test_task_output(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.output fails on g_fail_a, a global the test sets in this process");
    const size_t n = 500;
    uint64_t *in = make_input(n), *out = make_output(n);
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    g_fail_a = UINT64_MAX;
    assert_ok(fp_map(pool_of(state), "map.output", in, 8, n, out, 8, NULL, &err));
    check_sq(out, n, "fp_task_output");

    g_fail_a = 321;
    assert_status(fp_map(pool_of(state), "map.output", in, 8, n, out, 8, NULL,
                         &err),
                  FP_ERR_OVERFLOW);
    assert_status(err.status, FP_ERR_OVERFLOW);
    assert_int_equal(err.index, 321);
    g_fail_a = UINT64_MAX;
    free(in);
    free(out);
}

/* ---- starmap --------------------------------------------------------------- */

static void test_starmap(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.star counts its calls in g_calls, a global of this process, and "
        "the test checks that count");
    const size_t n = 3001;
    uint8_t *a8 = malloc(n);
    uint32_t *a32 = malloc(n * 4);
    uint16_t *a16 = malloc(n * 2);
    uint64_t *out = make_output(n);
    assert_non_null(a8);
    assert_non_null(a32);
    assert_non_null(a16);
    for (size_t i = 0; i < n; i++) {
        a8[i] = (uint8_t)(i * 7);
        a32[i] = (uint32_t)(i * 100003u);
        a16[i] = (uint16_t)(i ^ 0xBEEF);
    }
    fp_array_t arrays[3] = {{a8, 1}, {a32, 4}, {a16, 2}};
    for (size_t nargs = 1; nargs <= 3; nargs++) {
        for (size_t i = 0; i < n; i++)
            out[i] = SENTINEL;
        fp_call_params_t cp = {.chunksize = nargs == 2 ? 17 : 0};
        atomic_store(&g_calls, 0);
        fp_error_t err;
        memset(&err, 0, sizeof(err));
        fp_status_t s = fp_starmap(pool_of(state), "map.star", arrays, nargs,
                                   n, out, 8, &cp, &err);
        if (s != FP_OK)
            fail_msg("nargs %zu: %s: %s", nargs, fp_status_name(s), err.message);
        assert_int_equal(atomic_load(&g_calls), n);
        for (size_t i = 0; i < n; i++) {
            uint64_t want = a8[i];
            if (nargs >= 2)
                want += 2ull * a32[i];
            if (nargs >= 3)
                want += 3ull * a16[i];
            if (out[i] != want)
                fail_msg("nargs %zu: out[%zu] = %llu, expected %llu", nargs, i,
                         (unsigned long long)out[i], (unsigned long long)want);
        }
    }
    free(a8);
    free(a32);
    free(a16);
    free(out);
}

static void test_starmap_max_args(void **state)
{
    const size_t n = 257;
    uint64_t *base = make_input(n);
    uint64_t *out = make_output(n);
    fp_array_t arrays[FP_MAX_ARGS + 1];
    for (size_t j = 0; j <= FP_MAX_ARGS; j++)
        arrays[j] = (fp_array_t){base, 8};
    /* all FP_MAX_ARGS arguments: sum of (j+1)*i = i * 16*17/2 */
    assert_ok(fp_starmap(pool_of(state), "map.star", arrays, FP_MAX_ARGS, n,
                         out, 8, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], i * (FP_MAX_ARGS * (FP_MAX_ARGS + 1) / 2));
    for (size_t i = 0; i < n; i++)
        out[i] = SENTINEL;
    atomic_store(&g_calls, 0);
    assert_status(fp_starmap(pool_of(state), "map.star", arrays, 0, n, out, 8,
                             NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_starmap(pool_of(state), "map.star", arrays,
                             FP_MAX_ARGS + 1, n, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_starmap(pool_of(state), "map.star", NULL, 2, n, out, 8,
                             NULL, NULL),
                  FP_ERR_INVALID);
    fp_array_t with_null[2] = {{base, 8}, {NULL, 8}};
    assert_status(fp_starmap(pool_of(state), "map.star", with_null, 2, n, out,
                             8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_starmap(NULL, "map.star", arrays, 2, n, out, 8, NULL, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_starmap(pool_of(state), "map.star", arrays, 2, n, NULL, 8,
                             NULL, NULL),
                  FP_ERR_INVALID);
    fp_future_t *fut = NULL;
    assert_status(fp_starmap_async(pool_of(state), "map.star", arrays, 0, n,
                                   out, 8, NULL, &fut),
                  FP_ERR_INVALID);
    assert_null(fut);
    assert_int_equal(atomic_load(&g_calls), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], SENTINEL);
    free(base);
    free(out);
}

static void test_starmap_async(void **state)
{
    const size_t n = 1000;
    uint64_t *base = make_input(n), *out = make_output(n);
    fp_array_t arrays[2] = {{base, 8}, {base, 8}};
    fp_future_t *fut = NULL;
    assert_ok(fp_starmap_async(pool_of(state), "map.star", arrays, 2, n, out,
                               8, NULL, &fut));
    assert_non_null(fut);
    assert_ok(fp_future_get(fut, -1, NULL));
    fp_future_release(fut);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], 3 * i);
    free(base);
    free(out);
}

/* sleeps 1 ms on elements below g_slow_below, counting how many of those
 * run at once (max in g_slow_max) */
static uint64_t g_slow_below;
static atomic_long g_slow_running, g_slow_max;
static fp_status_t map_slow_head(fp_task_t *task, const fp_cbuf_t *args,
                                 size_t nargs, fp_buf_t *out)
{
    fp_status_t s = check_shape(task, args, nargs, 8, out, 8);
    if (s != FP_OK)
        return s;
    uint64_t x = get_u64(args[0].data);
    if (x < g_slow_below) {
        long r = atomic_fetch_add(&g_slow_running, 1) + 1;
        long m = atomic_load(&g_slow_max);
        while (r > m && !atomic_compare_exchange_weak(&g_slow_max, &m, r)) {
        }
        fp_test_sleep_us(1000);
        atomic_fetch_sub(&g_slow_running, 1);
    }
    uint64_t y = f(x);
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("map.slow_head", map_slow_head)

/* Automatic chunks are bounded in time: with 2 executors and n = 1600 the
 * range splits into 16 chunks of 100, and only the first chunk's elements
 * are slow (1 ms each).  The other executor finishes the fast chunks at once;
 * it must then get part of the slow chunk (which splits what it has left
 * after ~1 ms) instead of idling while one executor runs all 100 slow ones. */
static void test_slow_chunk_splits(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "map.slow_head reads g_slow_below and records how many run at once in"
        " g_slow_max, globals of this process");
    const size_t n = 1600;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    g_slow_below = 100;
    atomic_store(&g_slow_running, 0);
    atomic_store(&g_slow_max, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_ok(fp_map(pool_of(state), "map.slow_head", in, 8, n, out, 8, NULL,
                     NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    print_message("map, 100 slow (1 ms) elements in the first chunk: %.1f ms, "
                  "%ld slow at once\n",
                  dt * 1e3, atomic_load(&g_slow_max));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], f(i));
    if (atomic_load(&g_slow_max) < 2)
        fail_msg("the slow chunk ran on one executor only");
    free(in);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_1_none),
        cmocka_unit_test(test_matrix_2_none),
        cmocka_unit_test(test_matrix_4_none),
        cmocka_unit_test(test_matrix_1_core),
        cmocka_unit_test(test_matrix_2_core),
        cmocka_unit_test(test_matrix_4_core),
        cmocka_unit_test(test_chunksize_1_large),
        cmocka_unit_test(test_odd_sizes),
        cmocka_unit_test(test_out_size_zero),
        cmocka_unit_test(test_n_zero),
        cmocka_unit_test(test_unknown_task),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_task_error),
        cmocka_unit_test(test_error_status_and_message_edges),
        cmocka_unit_test(test_task_output),
        cmocka_unit_test(test_starmap),
        cmocka_unit_test(test_starmap_max_args),
        cmocka_unit_test(test_starmap_async),
        cmocka_unit_test(test_slow_chunk_splits),
    };
    return cmocka_run_group_tests(tests, setup_pool2, teardown_pool);
}
