/* Futures: map_async, apply_async, callbacks, timeouts, cancel, release. */
#include "fp_test.h"

#include <pthread.h>

#define EXECUTORS 2
#define SENTINEL 0xA5A5A5A5A5A5A5A5ULL

static atomic_int g_gate;        /* tasks "as.gate" wait until it opens */
static atomic_long g_started;    /* "as.gate" tasks started */
static atomic_long g_count;      /* "as.count" calls */
static uint64_t g_fail = UINT64_MAX;

static uint64_t f(uint64_t x) { return x * x + 1; }

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static fp_status_t as_sq(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                         fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t x = get_u64(args[0].data);
    if (x == g_fail)
        return fp_task_error(task, FP_ERR_INVALID, "async bad %llu",
                             (unsigned long long)x);
    uint64_t y = f(x);
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.sq", as_sq)

/* Blocks until the test opens g_gate.  map: writes f(x) to its slot;
 * apply: produces f(x) with fp_task_output. */
static fp_status_t as_gate(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    atomic_fetch_add(&g_started, 1);
    fp_gate_wait(&g_gate);
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t y = f(get_u64(args[0].data));
    void *p = out->size == 8 ? out->data : fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.gate", as_gate)

static fp_status_t as_count(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    (void)task, (void)args, (void)nargs, (void)out;
    atomic_fetch_add(&g_count, 1);
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.count", as_count)

/* apply: args (uint64 size, uint8 seed) -> `size` bytes (seed + 7*i) */
static fp_status_t as_bytes(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    if (nargs != 2 || args[0].size != 8 || args[1].size != 1)
        return fp_task_error(task, FP_ERR_TASK, "bad args");
    if (out->data != NULL || out->size != 0)
        return fp_task_error(task, FP_ERR_TASK, "apply out is not {NULL, 0}");
    uint64_t size = get_u64(args[0].data);
    unsigned char seed = *(const unsigned char *)args[1].data;
    if (size == 0)
        return FP_OK; /* no result at all */
    unsigned char *p = fp_task_output(task, (size_t)size);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    for (uint64_t i = 0; i < size; i++)
        p[i] = (unsigned char)(seed + 7 * i);
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.bytes", as_bytes)

/* apply: -> uint64 nargs, then every argument's bytes in order */
static fp_status_t as_concat(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    (void)out;
    size_t total = 8;
    for (size_t j = 0; j < nargs; j++)
        total += args[j].size;
    unsigned char *p = fp_task_output(task, total);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    uint64_t n64 = nargs;
    memcpy(p, &n64, 8);
    size_t off = 8;
    for (size_t j = 0; j < nargs; j++) {
        if (args[j].size)
            memcpy(p + off, args[j].data, args[j].size);
        off += args[j].size;
    }
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.concat", as_concat)

static fp_status_t as_apply_sq(fp_task_t *task, const fp_cbuf_t *args,
                               size_t nargs, fp_buf_t *out)
{
    (void)out;
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad args");
    uint64_t *p = fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    uint64_t y = f(get_u64(args[0].data));
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("as.apply_sq", as_apply_sq)

static fp_status_t as_apply_fail(fp_task_t *task, const fp_cbuf_t *args,
                                 size_t nargs, fp_buf_t *out)
{
    (void)args, (void)out;
    /* a result produced before failing is dropped */
    void *p = fp_task_output(task, 100);
    if (p != NULL)
        memset(p, 1, 100);
    return fp_task_error(task, FP_ERR_UNSUPPORTED, "apply failed: %zu args",
                         nargs);
}
FP_TASK_REGISTER_AS("as.apply_fail", as_apply_fail)

/* ---- callback recorders -------------------------------------------------- */

/* One recorder may be shared by many futures, whose callbacks then run
 * concurrently on different executors. */
typedef struct cbrec {
    atomic_long ok;
    atomic_long errs;
    _Atomic(fp_future_t *) future_ok; /* what the callbacks were given */
    _Atomic(fp_future_t *) future_err;
    pthread_mutex_t lock;
    fp_error_t err; /* copy of the last error given, under lock */
} cbrec_t;

static void on_ok(fp_future_t *future, void *user_data)
{
    cbrec_t *r = user_data;
    atomic_store(&r->future_ok, future);
    atomic_fetch_add(&r->ok, 1);
}

static void on_err(fp_future_t *future, const fp_error_t *err, void *user_data)
{
    cbrec_t *r = user_data;
    atomic_store(&r->future_err, future);
    pthread_mutex_lock(&r->lock);
    r->err = *err;
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&r->errs, 1);
}

static fp_call_params_t with_callbacks(cbrec_t *r, size_t chunksize)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    fp_call_params_t cp = {.chunksize = chunksize, .callback = on_ok,
                           .error_callback = on_err, .user_data = r};
    return cp;
}

/* ---- fixtures ------------------------------------------------------------ */

static fp_test_env_t g_env;

static int setup(void **state)
{
    (void)state;
    atomic_store(&g_gate, 1);
    atomic_store(&g_started, 0);
    atomic_store(&g_count, 0);
    g_fail = UINT64_MAX;
    fp_test_env_open(&g_env, EXECUTORS, FP_PIN_NONE, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&g_gate, 1); /* never leave executors blocked */
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

static uint64_t *make_output(size_t n)
{
    uint64_t *out = malloc((n ? n : 1) * 8);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        out[i] = SENTINEL;
    return out;
}

/* Block every executor in an "as.gate" task; returns the blocker's future. */
static fp_future_t *block_executors(uint64_t *in, uint64_t *out)
{
    atomic_store(&g_gate, 0);
    atomic_store(&g_started, 0);
    fp_call_params_t cp = {.chunksize = 1};
    fp_future_t *blocker = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.gate", in, 8, EXECUTORS, out, 8,
                           &cp, &blocker));
    fp_test_wait_at_least(&g_started, EXECUTORS);
    return blocker;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_map_async_ok(void **state)
{
    (void)state;
    const size_t n = 10000;
    uint64_t *in = make_input(n), *out = make_output(n);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.sq", in, 8, n, out, 8, &cp, &fut));
    assert_non_null(fut);
    assert_ok(fp_future_wait(fut, -1));
    /* callbacks run before any waiter is released */
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_int_equal(atomic_load(&rec.errs), 0);
    assert_ptr_equal(atomic_load(&rec.future_ok), fut);
    assert_true(fp_future_done(fut));
    fp_error_t err;
    assert_ok(fp_future_get(fut, 0, &err));
    assert_ok(fp_future_get(fut, -1, NULL));
    assert_ok(fp_future_wait(fut, 0));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], f(i));
    fp_future_release(fut);
    assert_int_equal(atomic_load(&rec.ok), 1);
    free(in);
    free(out);
}

/* "Ignored by the blocking calls": fp_map / fp_starmap never call them. */
static void test_blocking_calls_ignore_callbacks(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.sq fails on g_fail, a global the test sets in this process");
    (void)state;
    uint64_t in[10], out[10];
    for (size_t i = 0; i < 10; i++)
        in[i] = i;
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 3);
    assert_ok(fp_map(g_env.pool, "as.sq", in, 8, 10, out, 8, &cp, NULL));
    fp_array_t a = {in, 8};
    assert_ok(fp_starmap(g_env.pool, "as.sq", &a, 1, 10, out, 8, &cp, NULL));
    g_fail = 4;
    assert_status(fp_map(g_env.pool, "as.sq", in, 8, 10, out, 8, &cp, NULL),
                  FP_ERR_INVALID);
    assert_ok(fp_map(g_env.pool, "as.sq", in, 8, 0, out, 8, &cp, NULL));
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_int_equal(atomic_load(&rec.errs), 0);
}

static void test_map_async_error(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.sq fails on g_fail, a global the test sets in this process");
    (void)state;
    const size_t n = 10000;
    uint64_t *in = make_input(n), *out = make_output(n);
    g_fail = 4321;
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 10);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.sq", in, 8, n, out, 8, &cp, &fut));
    assert_ok(fp_future_wait(fut, -1));
    assert_int_equal(atomic_load(&rec.errs), 1);
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_ptr_equal(atomic_load(&rec.future_err), fut);
    assert_status(rec.err.status, FP_ERR_INVALID);
    assert_int_equal(rec.err.index, 4321);
    assert_string_equal(rec.err.message, "async bad 4321");
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_status(fp_future_get(fut, -1, &err), FP_ERR_INVALID);
    assert_status(err.status, FP_ERR_INVALID);
    assert_int_equal(err.index, 4321);
    assert_string_equal(err.message, "async bad 4321");
    fp_cbuf_t res = {(void *)1, 1};
    assert_status(fp_future_result(fut, &res), FP_ERR_STATE);
    fp_future_release(fut);
    assert_int_equal(atomic_load(&rec.errs), 1);
    free(in);
    free(out);
}

static void test_map_async_empty(void **state)
{
    (void)state;
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.sq", NULL, 8, 0, NULL, 8, &cp, &fut));
    assert_non_null(fut);
    assert_ok(fp_future_get(fut, -1, NULL));
    assert_true(fp_future_done(fut));
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_int_equal(atomic_load(&rec.errs), 0);
    fp_future_release(fut);
}

static void test_submission_failure(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "asserts that an unknown task name fails synchronously at submission "
        "(future left unset); over nodes the node checks the name and the "
        "call's future fails");
    (void)state;
    uint64_t in[4] = {1, 2, 3, 4}, out[4];
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *const sentinel = (fp_future_t *)(uintptr_t)0x10;
    fp_future_t *fut = sentinel;
    assert_status(fp_map_async(g_env.pool, "as.nope", in, 8, 4, out, 8, &cp,
                               &fut),
                  FP_ERR_NOT_FOUND);
    assert_ptr_equal(fut, sentinel);
    assert_status(fp_map_async(NULL, "as.sq", in, 8, 4, out, 8, &cp, &fut),
                  FP_ERR_INVALID);
    assert_ptr_equal(fut, sentinel);
    fp_cbuf_t arg = {in, 8};
    assert_status(fp_apply_async(g_env.pool, "as.nope", &arg, 1, &cp, &fut),
                  FP_ERR_NOT_FOUND);
    assert_ptr_equal(fut, sentinel);
    fp_cbuf_t many[FP_MAX_ARGS + 1];
    for (size_t j = 0; j <= FP_MAX_ARGS; j++)
        many[j] = arg;
    assert_status(fp_apply_async(g_env.pool, "as.apply_sq", many,
                                 FP_MAX_ARGS + 1, &cp, &fut),
                  FP_ERR_INVALID);
    assert_ptr_equal(fut, sentinel);
    fp_array_t a = {in, 8};
    assert_status(fp_starmap_async(g_env.pool, "as.nope", &a, 1, 4, out, 8,
                                   &cp, &fut),
                  FP_ERR_NOT_FOUND);
    assert_ptr_equal(fut, sentinel);
    /* a later successful call on the pool completes; still no callback from
     * the failed submissions */
    assert_ok(fp_map(g_env.pool, "as.sq", in, 8, 4, out, 8, NULL, NULL));
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_int_equal(atomic_load(&rec.errs), 0);
}

static void test_wait_timeout(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens in this process");
    (void)state;
    uint64_t in[1] = {9}, out[1] = {SENTINEL};
    atomic_store(&g_gate, 0);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.gate", in, 8, 1, out, 8, &cp, &fut));
    assert_status(fp_future_wait(fut, 0), FP_ERR_TIMEOUT);
    assert_status(fp_future_wait(fut, 0.05), FP_ERR_TIMEOUT);
    fp_error_t err;
    assert_status(fp_future_get(fut, 0, &err), FP_ERR_TIMEOUT);
    assert_status(fp_future_get(fut, 0.02, &err), FP_ERR_TIMEOUT);
    assert_false(fp_future_done(fut));
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_int_equal(out[0], SENTINEL);
    atomic_store(&g_gate, 1);
    assert_ok(fp_future_wait(fut, -1));
    assert_true(fp_future_done(fut));
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_ok(fp_future_get(fut, 0, &err));
    assert_int_equal(out[0], f(9));
    fp_future_release(fut);
}

typedef struct waiter_arg {
    fp_future_t *fut;
    fp_status_t status;
    long ok_seen;
    cbrec_t *rec;
} waiter_arg_t;

static void *waiter(void *p)
{
    waiter_arg_t *w = p;
    w->status = fp_future_get(w->fut, -1, NULL);
    w->ok_seen = atomic_load(&w->rec->ok);
    return NULL;
}

static void test_wait_many_threads(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens in this process");
    (void)state;
    uint64_t in[3] = {1, 2, 3}, out[3];
    atomic_store(&g_gate, 0);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 1);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.gate", in, 8, 3, out, 8, &cp, &fut));
    pthread_t th[3];
    waiter_arg_t w[3];
    for (int t = 0; t < 3; t++) {
        w[t] = (waiter_arg_t){fut, FP_ERR_SYSTEM, -1, &rec};
        assert_int_equal(pthread_create(&th[t], NULL, waiter, &w[t]), 0);
    }
    atomic_store(&g_gate, 1);
    for (int t = 0; t < 3; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_status(w[t].status, FP_OK);
        assert_int_equal(w[t].ok_seen, 1);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i], f(in[i]));
    fp_future_release(fut);
}

static void test_cancel(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens, and as.count counts"
        " calls in g_count, globals of this process");
    (void)state;
    uint64_t bin[EXECUTORS], bout[EXECUTORS];
    for (size_t i = 0; i < EXECUTORS; i++)
        bin[i] = i;
    fp_future_t *blocker = block_executors(bin, bout);

    /* every executor is blocked: nothing of this map can start */
    const size_t n = 100000;
    uint64_t *in = make_input(n);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *big = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.count", in, 8, n, NULL, 0, &cp, &big));
    assert_ok(fp_future_cancel(big));
    atomic_store(&g_gate, 1);

    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_status(fp_future_get(big, -1, &err), FP_ERR_CANCELED);
    assert_status(err.status, FP_ERR_CANCELED);
    assert_int_equal(atomic_load(&rec.errs), 1);
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_status(rec.err.status, FP_ERR_CANCELED);
    assert_ptr_equal(atomic_load(&rec.future_err), big);
    assert_true(fp_future_done(big));
    /* canceled before any element could start: none ran */
    assert_ok(fp_future_get(blocker, -1, NULL));
    assert_int_equal(atomic_load(&g_count), 0);
    /* completed: a second cancel is refused, the status stays */
    fp_status_t cancel_blocker = fp_future_cancel(blocker);
    fp_status_t get_blocker = fp_future_get(blocker, 0, NULL);
    fp_status_t cancel_big = fp_future_cancel(big);
    fp_status_t get_big = fp_future_get(big, 0, NULL);
    fp_future_release(big); /* before asserting: no leak reports on failure */
    fp_future_release(blocker);
    free(in);
    assert_status(cancel_blocker, FP_ERR_STATE);
    assert_status(get_blocker, FP_OK);
    assert_status(cancel_big, FP_ERR_STATE);
    assert_status(get_big, FP_ERR_CANCELED);
    assert_int_equal(atomic_load(&rec.errs), 1);
}

/* Cancel while every element is already running: they finish, and the call
 * still completes as canceled. */
static void test_cancel_running(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens, and counts starts "
        "in g_started, globals of this process");
    (void)state;
    uint64_t in[EXECUTORS], out[EXECUTORS];
    for (size_t i = 0; i < EXECUTORS; i++) {
        in[i] = 10 + i;
        out[i] = SENTINEL;
    }
    atomic_store(&g_gate, 0);
    atomic_store(&g_started, 0);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 1);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.gate", in, 8, EXECUTORS, out, 8,
                           &cp, &fut));
    fp_test_wait_at_least(&g_started, EXECUTORS);
    assert_ok(fp_future_cancel(fut));
    assert_status(fp_future_wait(fut, 0), FP_ERR_TIMEOUT); /* still running */
    atomic_store(&g_gate, 1);
    assert_status(fp_future_get(fut, -1, NULL), FP_ERR_CANCELED);
    assert_int_equal(atomic_load(&rec.errs), 1);
    assert_int_equal(atomic_load(&rec.ok), 0);
    assert_status(rec.err.status, FP_ERR_CANCELED);
    for (size_t i = 0; i < EXECUTORS; i++) /* running ones finished */
        assert_int_equal(out[i], f(in[i]));
    fp_future_release(fut);
}

static void test_cancel_after_completion(void **state)
{
    (void)state;
    uint64_t in[5] = {0, 1, 2, 3, 4}, out[5];
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.sq", in, 8, 5, out, 8, &cp, &fut));
    assert_ok(fp_future_wait(fut, -1));
    assert_status(fp_future_cancel(fut), FP_ERR_STATE);
    assert_ok(fp_future_get(fut, 0, NULL));
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_int_equal(atomic_load(&rec.errs), 0);
    fp_future_release(fut);
}

/* Fire and forget: the callback still runs once. */
static void test_release_before_completion(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens, and as.sq fails on "
        "g_fail, a global the test sets in this process");
    (void)state;
    static uint64_t in[8], out[8];
    for (size_t i = 0; i < 8; i++) {
        in[i] = 100 + i;
        out[i] = SENTINEL;
    }
    atomic_store(&g_gate, 0);
    static cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 1);
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(g_env.pool, "as.gate", in, 8, 8, out, 8, &cp, &fut));
    fp_future_release(fut);
    atomic_store(&g_gate, 1);
    fp_test_wait_at_least(&rec.ok, 1);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(out[i], f(in[i]));

    /* the same with an error: the error callback runs once */
    static uint64_t in2[100], out2[100];
    for (size_t i = 0; i < 100; i++)
        in2[i] = i;
    g_fail = 42;
    static cbrec_t rec2;
    cp = with_callbacks(&rec2, 0);
    assert_ok(fp_map_async(g_env.pool, "as.sq", in2, 8, 100, out2, 8, &cp, &fut));
    fp_future_release(fut);
    fp_test_wait_at_least(&rec2.errs, 1);
    assert_status(rec2.err.status, FP_ERR_INVALID);
    assert_int_equal(rec2.err.index, 42);
    assert_string_equal(rec2.err.message, "async bad 42");

    /* and with no callback at all; the pool's destroy (teardown) waits */
    static uint64_t out3[100];
    g_fail = UINT64_MAX;
    assert_ok(fp_map_async(g_env.pool, "as.sq", in2, 8, 100, out3, 8, NULL, &fut));
    fp_future_release(fut);
    fp_test_env_close(&g_env);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(out3[i], f(i));
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_int_equal(atomic_load(&rec.errs), 0);
    assert_int_equal(atomic_load(&rec2.errs), 1);
    assert_int_equal(atomic_load(&rec2.ok), 0);
}

static void test_apply_async_result(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "as.gate blocks on g_gate, a gate the test opens in this process");
    (void)state;
    uint64_t x = 7;
    fp_cbuf_t arg = {&x, 8};
    atomic_store(&g_gate, 0);
    cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    fp_future_t *fut = NULL;
    assert_ok(fp_apply_async(g_env.pool, "as.gate", &arg, 1, &cp, &fut));
    fp_cbuf_t res = {(void *)1, 12345};
    assert_status(fp_future_result(fut, &res), FP_ERR_STATE); /* not done */
    assert_ptr_equal(res.data, (void *)1);
    assert_int_equal(res.size, 12345);
    atomic_store(&g_gate, 1);
    assert_ok(fp_future_get(fut, -1, NULL));
    assert_int_equal(atomic_load(&rec.ok), 1);
    assert_ok(fp_future_result(fut, &res));
    assert_int_equal(res.size, 8);
    assert_non_null(res.data);
    assert_int_equal(get_u64(res.data), f(7));
    fp_cbuf_t res2;
    assert_ok(fp_future_result(fut, &res2)); /* a view: the same each time */
    assert_ptr_equal(res2.data, res.data);
    fp_future_release(fut);

    /* a failed apply has no result */
    fp_cbuf_t args3[3] = {{&x, 8}, {&x, 8}, {&x, 8}};
    cp = with_callbacks(&rec, 0);
    assert_ok(fp_apply_async(g_env.pool, "as.apply_fail", args3, 3, &cp, &fut));
    fp_error_t err;
    assert_status(fp_future_get(fut, -1, &err), FP_ERR_UNSUPPORTED);
    assert_int_equal(err.index, 0);
    assert_string_equal(err.message, "apply failed: 3 args");
    assert_int_equal(atomic_load(&rec.errs), 1);
    assert_string_equal(rec.err.message, "apply failed: 3 args");
    assert_status(fp_future_result(fut, &res), FP_ERR_STATE);
    fp_future_release(fut);

    /* a map's future is not an apply */
    uint64_t in[2] = {1, 2}, out[2];
    assert_ok(fp_map_async(g_env.pool, "as.sq", in, 8, 2, out, 8, NULL, &fut));
    assert_ok(fp_future_get(fut, -1, NULL));
    assert_status(fp_future_result(fut, &res), FP_ERR_STATE);
    fp_future_release(fut);
}

static void test_apply_variable_output(void **state)
{
    (void)state;
    const uint64_t sizes[] = {0, 1, 2, 7, 64, 4096, 65537, 1u << 20};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint64_t size = sizes[k];
        unsigned char seed = (unsigned char)(k * 31 + 5);
        fp_cbuf_t args[2] = {{&size, 8}, {&seed, 1}};
        fp_buf_t result = {(void *)1, 999};
        fp_error_t err;
        fp_status_t s = fp_apply(g_env.pool, "as.bytes", args, 2, &result, &err);
        if (s != FP_OK)
            fail_msg("size %llu: %s: %s", (unsigned long long)size,
                     fp_status_name(s), err.message);
        assert_int_equal(result.size, size);
        if (size == 0) {
            assert_null(result.data);
        } else {
            assert_non_null(result.data);
            const unsigned char *p = result.data;
            for (uint64_t i = 0; i < size; i++)
                if (p[i] != (unsigned char)(seed + 7 * i))
                    fail_msg("size %llu: byte %llu wrong",
                             (unsigned long long)size, (unsigned long long)i);
        }
        free(result.data);
        /* the result may be dropped */
        assert_ok(fp_apply(g_env.pool, "as.bytes", args, 2, NULL, NULL));
    }
}

static void test_apply_args(void **state)
{
    (void)state;
    static const size_t asz[FP_MAX_ARGS] = {0, 1, 2, 3, 5, 8, 13, 100,
                                            1000, 4096, 65536, 7, 0, 1,
                                            300000, 9};
    unsigned char *bufs[FP_MAX_ARGS];
    fp_cbuf_t args[FP_MAX_ARGS];
    size_t total = 8;
    for (size_t j = 0; j < FP_MAX_ARGS; j++) {
        bufs[j] = malloc(asz[j] + 1);
        assert_non_null(bufs[j]);
        for (size_t i = 0; i < asz[j]; i++)
            bufs[j][i] = (unsigned char)(j * 17 + i);
        args[j] = (fp_cbuf_t){bufs[j], asz[j]};
        total += asz[j];
    }
    for (size_t nargs = 0; nargs <= FP_MAX_ARGS; nargs += (nargs < 3 ? 1 : 13)) {
        fp_buf_t result = {NULL, 0};
        assert_ok(fp_apply(g_env.pool, "as.concat", args, nargs, &result, NULL));
        size_t want = 8;
        for (size_t j = 0; j < nargs; j++)
            want += asz[j];
        assert_int_equal(result.size, want);
        const unsigned char *p = result.data;
        assert_int_equal(get_u64(p), nargs);
        size_t off = 8;
        for (size_t j = 0; j < nargs; j++) {
            if (asz[j] && memcmp(p + off, bufs[j], asz[j]) != 0)
                fail_msg("nargs %zu: argument %zu differs", nargs, j);
            off += asz[j];
        }
        free(result.data);
    }
    (void)total;
    /* nargs 0 with args NULL is fine; more than FP_MAX_ARGS is not */
    fp_buf_t result = {NULL, 0};
    assert_ok(fp_apply(g_env.pool, "as.concat", NULL, 0, &result, NULL));
    assert_int_equal(result.size, 8);
    assert_int_equal(get_u64(result.data), 0);
    free(result.data);
    fp_buf_t untouched = {(void *)1, 77};
    fp_cbuf_t many[FP_MAX_ARGS + 1];
    for (size_t j = 0; j <= FP_MAX_ARGS; j++)
        many[j] = args[1];
    assert_status(fp_apply(g_env.pool, "as.concat", many, FP_MAX_ARGS + 1,
                           &untouched, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_apply(g_env.pool, "as.concat", NULL, 2, &untouched, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_apply(NULL, "as.concat", args, 2, &untouched, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_apply(g_env.pool, NULL, args, 2, &untouched, NULL),
                  FP_ERR_INVALID);
    assert_status(fp_apply(g_env.pool, "as.nope", args, 2, &untouched, NULL),
                  FP_ERR_NOT_FOUND);
    assert_ptr_equal(untouched.data, (void *)1);
    assert_int_equal(untouched.size, 77);
    for (size_t j = 0; j < FP_MAX_ARGS; j++)
        free(bufs[j]);
}

/* apply_async copies the argument descriptors: the caller's array may be
 * reused at once (the bytes stay borrowed). */
static void test_apply_async_descriptors_copied(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "blocks the executors with as.gate on g_gate, a gate the test opens, "
        "and waits on g_started, globals of this process");
    (void)state;
    uint64_t bin[EXECUTORS], bout[EXECUTORS];
    for (size_t i = 0; i < EXECUTORS; i++)
        bin[i] = i;
    fp_future_t *blocker = block_executors(bin, bout);
    static const char a[] = "alpha", b[] = "be";
    fp_cbuf_t *args = malloc(2 * sizeof(*args));
    assert_non_null(args);
    args[0] = (fp_cbuf_t){a, 5};
    args[1] = (fp_cbuf_t){b, 2};
    fp_future_t *fut = NULL;
    assert_ok(fp_apply_async(g_env.pool, "as.concat", args, 2, NULL, &fut));
    memset(args, 0xEE, 2 * sizeof(*args));
    free(args);
    atomic_store(&g_gate, 1);
    assert_ok(fp_future_get(fut, -1, NULL));
    fp_cbuf_t res;
    assert_ok(fp_future_result(fut, &res));
    assert_int_equal(res.size, 8 + 7);
    assert_int_equal(get_u64(res.data), 2);
    assert_memory_equal((const char *)res.data + 8, "alphabe", 7);
    fp_future_release(fut);
    assert_ok(fp_future_get(blocker, -1, NULL));
    fp_future_release(blocker);
}

static void test_apply_error(void **state)
{
    (void)state;
    uint64_t x = 1;
    fp_cbuf_t args[3] = {{&x, 8}, {&x, 8}, {&x, 8}};
    fp_buf_t result = {(void *)1, 5};
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_status(fp_apply(g_env.pool, "as.apply_fail", args, 3, &result, &err),
                  FP_ERR_UNSUPPORTED);
    assert_status(err.status, FP_ERR_UNSUPPORTED);
    assert_int_equal(err.index, 0);
    assert_string_equal(err.message, "apply failed: 3 args");
    assert_ptr_equal(result.data, (void *)1); /* written only on success */
    assert_int_equal(result.size, 5);
}

static void test_many_apply_async(void **state)
{
    (void)state;
    const size_t n = fp_test_scaled(5000, 1000);
    uint64_t *vals = make_input(n);
    fp_future_t **futs = calloc(n, sizeof(*futs));
    assert_non_null(futs);
    static cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    for (size_t i = 0; i < n; i++) {
        fp_cbuf_t arg = {&vals[i], 8};
        assert_ok(fp_apply_async(g_env.pool, "as.apply_sq", &arg, 1, &cp,
                                 &futs[i]));
    }
    for (size_t i = 0; i < n; i++) {
        assert_ok(fp_future_get(futs[i], -1, NULL));
        fp_cbuf_t res;
        assert_ok(fp_future_result(futs[i], &res));
        assert_int_equal(res.size, 8);
        assert_int_equal(get_u64(res.data), f(i));
        fp_future_release(futs[i]);
    }
    assert_int_equal(atomic_load(&rec.ok), n);
    assert_int_equal(atomic_load(&rec.errs), 0);
    free(futs);
    free(vals);
}

/* Many futures released unwaited, then the pool is destroyed. */
static void test_many_released(void **state)
{
    (void)state;
    const size_t n = fp_test_scaled(2000, 500);
    static uint64_t vals[2000];
    static cbrec_t rec;
    fp_call_params_t cp = with_callbacks(&rec, 0);
    for (size_t i = 0; i < n; i++) {
        vals[i] = i;
        fp_cbuf_t arg = {&vals[i], 8};
        fp_future_t *fut = NULL;
        assert_ok(fp_apply_async(g_env.pool, "as.apply_sq", &arg, 1, &cp, &fut));
        fp_future_release(fut);
    }
    fp_test_env_close(&g_env); /* waits for all, callbacks included */
    assert_int_equal(atomic_load(&rec.ok), n);
    assert_int_equal(atomic_load(&rec.errs), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_map_async_ok),
        T(test_blocking_calls_ignore_callbacks),
        T(test_map_async_error),
        T(test_map_async_empty),
        T(test_submission_failure),
        T(test_wait_timeout),
        T(test_wait_many_threads),
        T(test_cancel),
        T(test_cancel_running),
        T(test_cancel_after_completion),
        T(test_release_before_completion),
        T(test_apply_async_result),
        T(test_apply_variable_output),
        T(test_apply_args),
        T(test_apply_async_descriptors_copied),
        T(test_apply_error),
        T(test_many_apply_async),
        T(test_many_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
