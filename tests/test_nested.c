/* Nested parallelism: fp_pool_run, fp_spawn / fp_sync, maps inside tasks. */
#include "fp_test.h"

static fp_pool_t *g_pool;
static atomic_long g_bad;
static atomic_long g_count;

/* ---- fork-join jobs ---------------------------------------------------------- */

typedef struct fib_arg {
    int n;
    long result;
} fib_arg_t;

static void fib_job(fp_task_t *task, void *p)
{
    fib_arg_t *a = p;
    if (fp_task_executor(task) >= fp_pool_size(g_pool))
        atomic_fetch_add(&g_bad, 1);
    if (a->n < 2) {
        a->result = a->n;
        return;
    }
    fib_arg_t x = {a->n - 1, -1}, y = {a->n - 2, -1};
    fp_frame_t fx, fy;
    fp_spawn(task, &fx, fib_job, &x); /* both children spawned */
    fp_spawn(task, &fy, fib_job, &y);
    fp_sync(task, &fy); /* last spawned, first synced */
    fp_sync(task, &fx);
    a->result = x.result + y.result;
}

static long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

static void open_pool(fp_test_env_t *env, unsigned executors)
{
    fp_test_env_open(env, executors, FP_PIN_NONE, NULL);
    g_pool = env->pool;
    atomic_store(&g_bad, 0);
    atomic_store(&g_count, 0);
}

static void run_fib(unsigned executors)
{
    fp_test_env_t env;
    open_pool(&env, executors);
    fib_arg_t a = {20, -1};
    assert_ok(fp_pool_run(env.pool, fib_job, &a));
    assert_int_equal(a.result, 6765);
    /* again on the same pool, and a few small ones in a row */
    for (int n = 0; n <= 12; n++) {
        fib_arg_t b = {n, -1};
        assert_ok(fp_pool_run(env.pool, fib_job, &b));
        assert_int_equal(b.result, fib_serial(n));
    }
    if (!FP_TEST_SANITIZED) {
        fib_arg_t c = {25, -1};
        assert_ok(fp_pool_run(env.pool, fib_job, &c));
        assert_int_equal(c.result, 75025);
    }
    assert_int_equal(atomic_load(&g_bad), 0);
    fp_test_env_close(&env);
}

static void test_fib_1(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process");
    (void)s;
    run_fib(1);
}
static void test_fib_2(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process");
    (void)s;
    run_fib(2);
}
static void test_fib_4(void **s)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process");
    (void)s;
    run_fib(4);
}

static void test_many_runs(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process");
    (void)state;
    fp_test_env_t env;
    open_pool(&env, 2);
    for (int i = 0; i < 300; i++) {
        fib_arg_t a = {i % 9, -1};
        assert_ok(fp_pool_run(env.pool, fib_job, &a));
        assert_int_equal(a.result, fib_serial(i % 9));
    }
    fp_test_env_close(&env);
}

/* A chain 1000 spawns deep. */
typedef struct chain_arg {
    int depth;
} chain_arg_t;

static void chain_job(fp_task_t *task, void *p)
{
    chain_arg_t *a = p;
    atomic_fetch_add(&g_count, 1);
    if (a->depth == 0)
        return;
    chain_arg_t next = {a->depth - 1};
    fp_frame_t fr;
    fp_spawn(task, &fr, chain_job, &next);
    fp_sync(task, &fr);
}

static void test_deep_chain(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process; the jobs count in g_count");
    (void)state;
    for (unsigned e = 1; e <= 2; e++) {
        fp_test_env_t env;
        open_pool(&env, e);
        chain_arg_t a = {1000};
        assert_ok(fp_pool_run(env.pool, chain_job, &a));
        assert_int_equal(atomic_load(&g_count), 1001);
        fp_test_env_close(&env);
    }
}

/* Many siblings spawned from one job, synced in reverse order. */
#define WIDE 200
typedef struct wide_child {
    size_t index;
    size_t value;
} wide_child_t;

static void wide_child_job(fp_task_t *task, void *p)
{
    (void)task;
    wide_child_t *c = p;
    c->value = c->index * 3 + 1;
    atomic_fetch_add(&g_count, 1);
}

static void wide_job(fp_task_t *task, void *p)
{
    size_t *ok = p;
    wide_child_t kids[WIDE];
    fp_frame_t frames[WIDE];
    for (size_t i = 0; i < WIDE; i++) {
        kids[i] = (wide_child_t){i, 0};
        fp_spawn(task, &frames[i], wide_child_job, &kids[i]);
    }
    for (size_t i = WIDE; i-- > 0;)
        fp_sync(task, &frames[i]);
    size_t good = 0;
    for (size_t i = 0; i < WIDE; i++)
        good += kids[i].value == i * 3 + 1;
    *ok = good;
}

static void test_wide_spawn(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process; the jobs count in g_count");
    (void)state;
    fp_test_env_t env;
    open_pool(&env, 2);
    for (int round = 0; round < 20; round++) {
        size_t good = 0;
        atomic_store(&g_count, 0);
        assert_ok(fp_pool_run(env.pool, wide_job, &good));
        assert_int_equal(good, WIDE);
        assert_int_equal(atomic_load(&g_count), WIDE);
    }
    fp_test_env_close(&env);
}

/* ---- spawn inside a map task ------------------------------------------------- */

typedef struct range_arg {
    uint64_t lo, hi, sum;
} range_arg_t;

static void range_sum_job(fp_task_t *task, void *p)
{
    range_arg_t *r = p;
    if (r->hi - r->lo <= 4) {
        r->sum = 0;
        for (uint64_t i = r->lo; i < r->hi; i++)
            r->sum += i;
        return;
    }
    uint64_t mid = r->lo + (r->hi - r->lo) / 2;
    range_arg_t left = {r->lo, mid, 0}, right = {mid, r->hi, 0};
    fp_frame_t fl;
    fp_spawn(task, &fl, range_sum_job, &left);
    range_sum_job(task, &right); /* the other half here */
    fp_sync(task, &fl);
    r->sum = left.sum + right.sum;
}

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static fp_status_t ne_psum(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    range_arg_t r = {0, get_u64(args[0].data), 0};
    range_sum_job(task, &r);
    memcpy(out->data, &r.sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.psum", ne_psum)

static void test_spawn_in_map(void **state)
{
    (void)state;
    for (unsigned e = 1; e <= 4; e *= 2) {
        fp_test_env_t env;
        open_pool(&env, e);
        const size_t n = 200;
        uint64_t in[200], out[200];
        for (size_t i = 0; i < n; i++) {
            in[i] = i * 10;
            out[i] = 0;
        }
        fp_call_params_t cp = {.chunksize = 3};
        fp_error_t err;
        fp_status_t s = fp_map(env.pool, "ne.psum", in, 8, n, out, 8, &cp, &err);
        if (s != FP_OK)
            fail_msg("%s: %s", fp_status_name(s), err.message);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], in[i] * (in[i] ? in[i] - 1 : 0) / 2);
        fp_test_env_close(&env);
    }
}

/* ---- a map inside a map task on the same pool ------------------------------- */

static fp_status_t ne_inner(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad inner call");
    uint64_t x = get_u64(args[0].data);
    if (x == 777777)
        return fp_task_error(task, FP_ERR_INVALID, "inner refused %llu",
                             (unsigned long long)x);
    uint64_t y = 3 * x;
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.inner", ne_inner)

/* element k -> sum of inner(0..k) = 3 k (k+1) / 2, via a nested fp_map;
 * k == 1000 makes the inner map fail at its element 3 */
static fp_status_t ne_outer(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad outer call");
    uint64_t k = get_u64(args[0].data);
    size_t m = k == 1000 ? 10 : (size_t)k + 1;
    uint64_t *in = calloc(m, 8), *res = calloc(m, 8);
    if (in == NULL || res == NULL) {
        free(in);
        free(res);
        return fp_task_error(task, FP_ERR_NOMEM, "oom");
    }
    for (size_t i = 0; i < m; i++)
        in[i] = (k == 1000 && i == 3) ? 777777 : i;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_call_params_t cp = {.chunksize = 2};
    fp_status_t s = fp_map(g_pool, "ne.inner", in, 8, m, res, 8, &cp, &err);
    uint64_t sum = 0;
    for (size_t i = 0; s == FP_OK && i < m; i++)
        sum += res[i];
    free(in);
    free(res);
    if (s != FP_OK)
        return fp_task_error(task, s, "nested map: %s at %zu: %s",
                             fp_status_name(s), err.index, err.message);
    memcpy(out->data, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.outer", ne_outer)

static void test_nested_map(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "ne.outer runs its nested fp_map on g_pool, the pool pointer of this "
        "process");
    (void)state;
    for (unsigned e = 1; e <= 4; e *= 2) {
        fp_test_env_t env;
        open_pool(&env, e);
        const size_t n = 64;
        uint64_t in[64], out[64];
        for (size_t i = 0; i < n; i++) {
            in[i] = i;
            out[i] = 0;
        }
        fp_call_params_t cp = {.chunksize = 1};
        fp_error_t err;
        memset(&err, 0, sizeof(err));
        fp_status_t s = fp_map(env.pool, "ne.outer", in, 8, n, out, 8, &cp, &err);
        if (s != FP_OK)
            fail_msg("executors %u: %s at %zu: %s", e, fp_status_name(s),
                     err.index, err.message);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], 3 * i * (i + 1) / 2);
        /* an error inside the nested map reaches the outer call */
        in[17] = 1000;
        memset(&err, 0, sizeof(err));
        assert_status(fp_map(env.pool, "ne.outer", in, 8, n, out, 8, &cp, &err),
                      FP_ERR_INVALID);
        assert_int_equal(err.index, 17);
        assert_string_equal(err.message,
                            "nested map: FP_ERR_INVALID at 3: inner refused 777777");
        fp_test_env_close(&env);
    }
}

/* A task waits on a future of its own pool: it runs other work meanwhile,
 * so this completes even with a single executor. */
static fp_status_t ne_waiter(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t in[4], res[4];
    uint64_t x = get_u64(args[0].data);
    for (int i = 0; i < 4; i++)
        in[i] = x + (uint64_t)i;
    fp_future_t *fut = NULL;
    fp_status_t s = fp_map_async(g_pool, "ne.inner", in, 8, 4, res, 8, NULL, &fut);
    if (s != FP_OK)
        return fp_task_error(task, s, "map_async: %s", fp_status_name(s));
    s = fp_future_get(fut, -1, NULL);
    fp_future_release(fut);
    if (s != FP_OK)
        return fp_task_error(task, s, "get: %s", fp_status_name(s));
    uint64_t sum = res[0] + res[1] + res[2] + res[3];
    memcpy(out->data, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.waiter", ne_waiter)

static void test_future_wait_in_task(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "ne.waiter submits to g_pool, the pool pointer of this process");
    (void)state;
    for (unsigned e = 1; e <= 2; e++) {
        fp_test_env_t env;
        open_pool(&env, e);
        uint64_t in[16], out[16];
        for (size_t i = 0; i < 16; i++)
            in[i] = i * 100;
        fp_error_t err;
        fp_status_t s = fp_map(env.pool, "ne.waiter", in, 8, 16, out, 8, NULL, &err);
        if (s != FP_OK)
            fail_msg("%s: %s", fp_status_name(s), err.message);
        for (size_t i = 0; i < 16; i++)
            assert_int_equal(out[i], 3 * (4 * in[i] + 6));
        fp_test_env_close(&env);
    }
}

/* ---- a task's own output around nested work --------------------------------- */

/* map task: a nested fp_map first, then its own result via fp_task_output */
static fp_status_t ne_output_after_nested(fp_task_t *task, const fp_cbuf_t *args,
                                          size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    void *slot = out->data;
    uint64_t k = get_u64(args[0].data), in[4], res[4];
    for (int i = 0; i < 4; i++)
        in[i] = k + (uint64_t)i;
    fp_status_t s = fp_map(g_pool, "ne.inner", in, 8, 4, res, 8, NULL, NULL);
    if (s != FP_OK)
        return fp_task_error(task, s, "nested map: %s", fp_status_name(s));
    void *p = fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_TASK,
                             "fp_task_output(8) is NULL after a nested fp_map");
    if (p != slot)
        return fp_task_error(task, FP_ERR_TASK,
                             "fp_task_output(8) is not the slot after a nested fp_map");
    uint64_t sum = res[0] + res[1] + res[2] + res[3];
    memcpy(p, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.output_after_nested", ne_output_after_nested)

static void test_map_output_after_nested(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "ne.output_after_nested maps on g_pool, the pool pointer of this "
        "process");
    (void)state;
    for (unsigned e = 1; e <= 2; e++) {
        fp_test_env_t env;
        open_pool(&env, e);
        uint64_t in[8], out[8];
        for (size_t i = 0; i < 8; i++)
            in[i] = 10 * i;
        fp_error_t err;
        memset(&err, 0, sizeof(err));
        fp_call_params_t cp = {.chunksize = 1};
        fp_status_t s = fp_map(env.pool, "ne.output_after_nested", in, 8, 8, out,
                               8, &cp, &err);
        if (s != FP_OK)
            fail_msg("executors %u: %s at %zu: %s", e, fp_status_name(s),
                     err.index, err.message);
        for (size_t i = 0; i < 8; i++)
            assert_int_equal(out[i], 3 * (4 * in[i] + 6));
        fp_test_env_close(&env);
    }
}

/* apply task: arg0 = mode.  Mode 0: fp_task_output before a nested fp_map,
 * mode 1: after it, mode 2: before waiting on another apply of the pool.
 * Result: 16 bytes {value, 0xABCD}. */
static fp_status_t ne_apply_leaf(fp_task_t *task, const fp_cbuf_t *args,
                                 size_t nargs, fp_buf_t *out)
{
    (void)out;
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad leaf call");
    uint64_t *p = fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no leaf output");
    uint64_t v = get_u64(args[0].data) * 5;
    memcpy(p, &v, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.apply_leaf", ne_apply_leaf)

static fp_status_t ne_apply_nested(fp_task_t *task, const fp_cbuf_t *args,
                                   size_t nargs, fp_buf_t *out)
{
    (void)out;
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t mode = get_u64(args[0].data);
    uint64_t *p = NULL;
    if (mode != 1 && (p = fp_task_output(task, 16)) == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    uint64_t value = 0;
    if (mode == 2) {
        uint64_t x = 7;
        fp_cbuf_t a = {&x, 8};
        fp_future_t *fut = NULL;
        fp_status_t s = fp_apply_async(g_pool, "ne.apply_leaf", &a, 1, NULL, &fut);
        if (s != FP_OK)
            return fp_task_error(task, s, "apply_async: %s", fp_status_name(s));
        s = fp_future_get(fut, -1, NULL);
        fp_cbuf_t r = {NULL, 0};
        if (s == FP_OK)
            s = fp_future_result(fut, &r);
        if (s == FP_OK && r.size == 8)
            value = get_u64(r.data);
        fp_future_release(fut);
        if (s != FP_OK)
            return fp_task_error(task, s, "leaf: %s", fp_status_name(s));
    } else {
        uint64_t in[3] = {1, 2, 3}, res[3];
        fp_status_t s = fp_map(g_pool, "ne.inner", in, 8, 3, res, 8, NULL, NULL);
        if (s != FP_OK)
            return fp_task_error(task, s, "nested map: %s", fp_status_name(s));
        value = res[0] + res[1] + res[2];
    }
    if (mode == 1 && (p = fp_task_output(task, 16)) == NULL)
        return fp_task_error(task, FP_ERR_TASK,
                             "fp_task_output is NULL after a nested fp_map");
    uint64_t r[2] = {value, 0xABCD};
    memcpy(p, r, 16);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.apply_nested", ne_apply_nested)

static void test_apply_output_around_nested(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "ne.apply_nested submits to g_pool, the pool pointer of this process");
    (void)state;
    static const uint64_t want[3] = {18, 18, 35};
    char report[4096] = "";
    size_t failures = 0;
    for (unsigned e = 1; e <= 2; e++) {
        fp_test_env_t env;
        open_pool(&env, e);
        for (uint64_t mode = 0; mode < 3; mode++) {
            fp_cbuf_t a = {&mode, 8};
            fp_buf_t res = {NULL, 0};
            fp_error_t err;
            memset(&err, 0, sizeof(err));
            char what[FP_ERROR_MAX + 64] = "";
            fp_status_t s = fp_apply(env.pool, "ne.apply_nested", &a, 1, &res, &err);
            if (s != FP_OK) {
                snprintf(what, sizeof(what), "%s: %s", fp_status_name(s),
                         err.message);
            } else if (res.size != 16 || res.data == NULL) {
                snprintf(what, sizeof(what), "result of %zu bytes", res.size);
            } else {
                uint64_t r[2];
                memcpy(r, res.data, 16);
                if (r[0] != want[mode] || r[1] != 0xABCD)
                    snprintf(what, sizeof(what), "result {%llu, %#llx}",
                             (unsigned long long)r[0], (unsigned long long)r[1]);
            }
            free(res.data);
            if (what[0] != '\0') {
                failures++;
                size_t len = strlen(report);
                snprintf(report + len, sizeof(report) - len,
                         "\n  executors %u mode %llu: %s", e,
                         (unsigned long long)mode, what);
            }
        }
        fp_test_env_close(&env);
    }
    if (failures != 0)
        fail_msg("%zu of 6 applies wrong:%s", failures, report);
}

/* ---- fp_pool_run from the wrong place ------------------------------------------ */

static void noop_job(fp_task_t *task, void *p)
{
    (void)task;
    (void)p;
    atomic_fetch_add(&g_count, 1);
}

static void run_inside_job(fp_task_t *task, void *p)
{
    (void)task;
    fp_status_t *s = p;
    *s = fp_pool_run(g_pool, noop_job, NULL);
}

static fp_status_t ne_run_inside(fp_task_t *task, const fp_cbuf_t *args,
                                 size_t nargs, fp_buf_t *out)
{
    (void)args, (void)nargs, (void)out;
    fp_status_t s = fp_pool_run(g_pool, noop_job, NULL);
    if (s != FP_ERR_STATE)
        return fp_task_error(task, FP_ERR_TASK, "fp_pool_run in a task: %s",
                             fp_status_name(s));
    return FP_OK;
}
FP_TASK_REGISTER_AS("ne.run_inside", ne_run_inside)

static void test_pool_run_inside_task(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process; ne.run_inside uses g_pool, the pool pointer of this process");
    (void)state;
    fp_test_env_t env;
    open_pool(&env, 2);
    fp_status_t s = FP_OK;
    assert_ok(fp_pool_run(env.pool, run_inside_job, &s));
    assert_status(s, FP_ERR_STATE);
    uint64_t in[4] = {0};
    fp_error_t err;
    fp_status_t ms = fp_map(env.pool, "ne.run_inside", in, 8, 4, NULL, 0, NULL, &err);
    if (ms != FP_OK)
        fail_msg("%s: %s", fp_status_name(ms), err.message);
    assert_int_equal(atomic_load(&g_count), 0); /* noop_job never ran */
    assert_ok(fp_pool_run(env.pool, noop_job, NULL));
    assert_int_equal(atomic_load(&g_count), 1);
    assert_status(fp_pool_run(NULL, noop_job, NULL), FP_ERR_INVALID);
    assert_status(fp_pool_run(env.pool, NULL, NULL), FP_ERR_INVALID);
    fp_test_env_close(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fib_1),
        cmocka_unit_test(test_fib_2),
        cmocka_unit_test(test_fib_4),
        cmocka_unit_test(test_many_runs),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_wide_spawn),
        cmocka_unit_test(test_spawn_in_map),
        cmocka_unit_test(test_nested_map),
        cmocka_unit_test(test_future_wait_in_task),
        cmocka_unit_test(test_map_output_after_nested),
        cmocka_unit_test(test_apply_output_around_nested),
        cmocka_unit_test(test_pool_run_inside_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
