/* Contexts and pools: creation, sizes, logging, destroy, idle behaviour. */
#include "fp_test.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <hwloc.h>

static uint64_t f(uint64_t x) { return x * x + 1; }

static fp_status_t po_sq(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                         fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8 || out->size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t x;
    memcpy(&x, args[0].data, 8);
    uint64_t y = f(x);
    memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("po.sq", po_sq)

static atomic_long g_slow_done;

/* f(x) after a short sleep: async work that outlives its submitter */
static fp_status_t po_slow(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    fp_test_sleep_us(50);
    fp_buf_t slot = *out;
    if (slot.size == 0) { /* apply: make the 8-byte result */
        slot.data = fp_task_output(task, 8);
        slot.size = 8;
        if (slot.data == NULL)
            return fp_task_error(task, FP_ERR_NOMEM, "no output");
    }
    fp_status_t s = po_sq(task, args, nargs, &slot);
    atomic_fetch_add(&g_slow_done, 1);
    return s;
}
FP_TASK_REGISTER_AS("po.slow", po_slow)

/* Cores in this process's CPU set, counted with hwloc independently of the
 * library (PUs when the machine shows no cores). */
static unsigned reference_cores(void)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0)
        fail_msg("hwloc topology");
    hwloc_bitmap_t mine = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, mine, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(mine, hwloc_topology_get_allowed_cpuset(topo));
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    if (hwloc_get_nbobjs_by_type(topo, type) <= 0)
        type = HWLOC_OBJ_PU;
    unsigned n = 0;
    for (int i = 0; i < hwloc_get_nbobjs_by_type(topo, type); i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, (unsigned)i);
        if (o->cpuset != NULL && hwloc_bitmap_intersects(o->cpuset, mine))
            n++;
    }
    hwloc_bitmap_free(mine);
    hwloc_topology_destroy(topo);
    return n;
}

/* ---- version and contexts --------------------------------------------------- */

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", FP_VERSION_MAJOR, FP_VERSION_MINOR,
             FP_VERSION_PATCH);
    assert_non_null(fp_version_string());
    assert_string_equal(fp_version_string(), want);
}

static void test_context(void **state)
{
    (void)state;
    fp_context_t *ctx = NULL;
    assert_ok(fp_context_create(NULL, &ctx));
    assert_non_null(ctx);
    fp_context_destroy(ctx);
    fp_context_params_t p = {0};
    ctx = NULL;
    assert_ok(fp_context_create(&p, &ctx));
    assert_non_null(ctx);
    fp_context_destroy(ctx);
    fp_context_destroy(NULL); /* no-op */
    assert_status(fp_context_create(NULL, NULL), FP_ERR_INVALID);
    p.log_level = (fp_log_level_t)(FP_LOG_OFF + 1);
    fp_context_t *const sentinel = (fp_context_t *)(uintptr_t)0x50;
    ctx = sentinel;
    assert_status(fp_context_create(&p, &ctx), FP_ERR_INVALID);
    assert_ptr_equal(ctx, sentinel);
    /* several contexts side by side */
    fp_context_t *c[8];
    for (int i = 0; i < 8; i++)
        assert_ok(fp_context_create(NULL, &c[i]));
    for (int i = 0; i < 8; i++)
        fp_context_destroy(c[i]);
}

/* ---- logging ---------------------------------------------------------------- */

typedef struct logrec {
    pthread_mutex_t lock;
    long calls;
    long above_level; /* messages more verbose than the context's level */
    long bad;         /* NULL or empty message, or a level out of range */
    fp_log_level_t max_level;
    char last[256];
} logrec_t;

static void log_sink(fp_log_level_t level, const char *msg, void *user_data)
{
    logrec_t *r = user_data;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    if (level > r->max_level)
        r->above_level++;
    if (msg == NULL || msg[0] == '\0' || level < FP_LOG_ERROR ||
        level > FP_LOG_TRACE)
        r->bad++;
    else
        snprintf(r->last, sizeof(r->last), "%s", msg);
    pthread_mutex_unlock(&r->lock);
}

/* Create a context with a log sink at `level`, and a pool, run a map,
 * destroy both. */
static void log_cycle(logrec_t *r, fp_log_level_t level, fp_log_level_t max)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->max_level = max;
    fp_context_params_t cp = {.log_level = level, .log_fn = log_sink,
                              .log_user_data = r};
    fp_context_t *ctx = NULL;
    assert_ok(fp_context_create(&cp, &ctx));
    fp_pool_params_t pp = {.executors = 2, .pin = FP_PIN_NONE};
    fp_pool_t *pool = NULL;
    assert_ok(fp_pool_create(ctx, &pp, &pool, NULL));
    uint64_t in[4] = {1, 2, 3, 4}, out[4];
    assert_ok(fp_map(pool, "po.sq", in, 8, 4, out, 8, NULL, NULL));
    /* a failed call may log too (at debug) */
    assert_status(fp_map(pool, "po.nope", in, 8, 4, out, 8, NULL, NULL),
                  FP_ERR_NOT_FOUND);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    pthread_mutex_destroy(&r->lock);
}

static void test_log_callback(void **state)
{
    (void)state;
    logrec_t r;
    /* The library has nothing to warn about in a healthy run; it announces
     * pool creation at info (current behaviour), so a sink at trace must
     * receive at least that one line. */
    log_cycle(&r, FP_LOG_TRACE, FP_LOG_TRACE);
    assert_true(r.calls >= 1);
    assert_int_equal(r.bad, 0);

    /* the level filters: nothing above error / warn reaches the sink */
    log_cycle(&r, FP_LOG_ERROR, FP_LOG_ERROR);
    assert_int_equal(r.above_level, 0);
    assert_int_equal(r.bad, 0);
    log_cycle(&r, FP_LOG_WARN, FP_LOG_WARN);
    assert_int_equal(r.above_level, 0);
    /* FP_LOG_DEFAULT follows FP_LOG_LEVEL, set to "error" by main() */
    log_cycle(&r, FP_LOG_DEFAULT, FP_LOG_ERROR);
    assert_int_equal(r.above_level, 0);
    /* off: silence */
    log_cycle(&r, FP_LOG_OFF, FP_LOG_OFF);
    if (r.calls != 0)
        fail_msg("FP_LOG_OFF: the sink was called %ld times; last: \"%s\"",
                 r.calls, r.last);
}

/* ---- pool size ---------------------------------------------------------------- */

static void test_pool_size(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "expects fp_pool_size to follow the cores of this process's CPU set "
        "and this process's FP_EXECUTORS");
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    const unsigned sizes[] = {1, 2, 3, 4, 7, 16};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int pin = FP_PIN_CORE; pin <= FP_PIN_NONE; pin++) {
            fp_pool_params_t p = {.executors = sizes[i], .pin = (fp_pin_t)pin};
            fp_pool_t *pool = NULL;
            assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
            assert_int_equal(fp_pool_size(pool), sizes[i]);
            /* every executor index shows up eventually is not guaranteed;
             * a map must still work */
            uint64_t in[32], out[32];
            for (int k = 0; k < 32; k++)
                in[k] = (uint64_t)k;
            assert_ok(fp_map(pool, "po.sq", in, 8, 32, out, 8, NULL, NULL));
            for (int k = 0; k < 32; k++)
                assert_int_equal(out[k], f((uint64_t)k));
            assert_ok(fp_pool_destroy(pool));
        }
    }
    /* default: one per core of this process's CPU set */
    unsigned cores = reference_cores();
    assert_true(cores >= 1);
    assert_true(cores <= (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    fp_pool_t *pool = NULL;
    assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), cores);
    assert_ok(fp_pool_destroy(pool));
    fp_pool_params_t p = {0};
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), cores);
    assert_ok(fp_pool_destroy(pool));
    /* FP_EXECUTORS overrides the default, not an explicit count */
    setenv("FP_EXECUTORS", "3", 1);
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), 3);
    assert_ok(fp_pool_destroy(pool));
    p.executors = 5;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), 5);
    assert_ok(fp_pool_destroy(pool));
    unsetenv("FP_EXECUTORS");
    /* FP_PIN=none / core are accepted */
    setenv("FP_PIN", "none", 1);
    p.executors = 2;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_ok(fp_pool_destroy(pool));
    setenv("FP_PIN", "core", 1);
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_ok(fp_pool_destroy(pool));
    unsetenv("FP_PIN");
    fp_context_destroy(ctx);
}

static void test_invalid(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_t *const sentinel = (fp_pool_t *)(uintptr_t)0x60;
    fp_pool_t *pool = sentinel;
    fp_pool_params_t p = {.executors = 2};
    assert_status(fp_pool_create(NULL, &p, &pool, NULL), FP_ERR_INVALID);
    assert_status(fp_pool_create(ctx, &p, NULL, NULL), FP_ERR_INVALID);
    p.pin = (fp_pin_t)9;
    assert_status(fp_pool_create(ctx, &p, &pool, NULL), FP_ERR_INVALID);
    assert_ptr_equal(pool, sentinel);
    assert_status(fp_pool_destroy(NULL), FP_ERR_INVALID);
    fp_context_destroy(ctx);
}

/* ---- create / destroy churn ------------------------------------------------------ */

static void test_create_destroy_loop(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    const size_t rounds = fp_test_scaled(200, 40);
    uint64_t in[16], out[16];
    for (int k = 0; k < 16; k++)
        in[k] = (uint64_t)k;
    for (size_t r = 0; r < rounds; r++) {
        fp_pool_params_t p = {.executors = (unsigned)(r % 4) + 1,
                              .pin = (r % 2) ? FP_PIN_CORE : FP_PIN_NONE};
        fp_pool_t *pool = NULL;
        assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
        if (r % 3 != 0) { /* some pools never get any work */
            memset(out, 0, sizeof(out));
            assert_ok(fp_map(pool, "po.sq", in, 8, 16, out, 8, NULL, NULL));
            for (int k = 0; k < 16; k++)
                assert_int_equal(out[k], f((uint64_t)k));
        }
        assert_ok(fp_pool_destroy(pool));
    }
    /* two pools alive at once on one context */
    fp_pool_t *a = NULL, *b = NULL;
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    assert_ok(fp_pool_create(ctx, &p, &a, NULL));
    assert_ok(fp_pool_create(ctx, &p, &b, NULL));
    assert_ok(fp_map(a, "po.sq", in, 8, 16, out, 8, NULL, NULL));
    assert_ok(fp_map(b, "po.sq", in, 8, 16, out, 8, NULL, NULL));
    assert_ok(fp_pool_destroy(a));
    assert_ok(fp_map(b, "po.sq", in, 8, 16, out, 8, NULL, NULL));
    assert_ok(fp_pool_destroy(b));
    fp_context_destroy(ctx);
}

/* ---- destroy waits for outstanding async work ------------------------------------ */

static atomic_long g_cb_ok;

static void count_cb(fp_future_t *future, void *user_data)
{
    (void)future, (void)user_data;
    atomic_fetch_add(&g_cb_ok, 1);
}

static void test_destroy_waits(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "po.slow counts finished tasks in g_slow_done, a global of this "
        "process");
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    fp_pool_t *pool = NULL;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    const size_t n = 2000;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        in[i] = i;
        out[i] = 0;
    }
    atomic_store(&g_slow_done, 0);
    atomic_store(&g_cb_ok, 0);
    fp_call_params_t cp = {.chunksize = 1, .callback = count_cb};
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(pool, "po.slow", in, 8, n, out, 8, &cp, &fut));
    fp_future_release(fut);
    /* plus some applies, also released unwaited */
    static uint64_t vals[100];
    for (size_t i = 0; i < 100; i++) {
        vals[i] = i;
        fp_cbuf_t arg = {&vals[i], 8};
        assert_ok(fp_apply_async(pool, "po.slow", &arg, 1, &cp, &fut));
        fp_future_release(fut);
    }
    assert_ok(fp_pool_destroy(pool));
    assert_int_equal(atomic_load(&g_slow_done), n + 100);
    assert_int_equal(atomic_load(&g_cb_ok), 101); /* callbacks included */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], f(i));
    fp_context_destroy(ctx);
    free(in);
    free(out);
}

/* A future held past the pool's destroy stays valid until released. */
static void test_future_outlives_pool(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    fp_pool_t *pool = NULL;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    uint64_t x = 12;
    fp_cbuf_t arg = {&x, 8};
    fp_future_t *fut = NULL;
    assert_ok(fp_apply_async(pool, "po.slow", &arg, 1, NULL, &fut));
    assert_ok(fp_pool_destroy(pool));
    assert_true(fp_future_done(fut));
    assert_ok(fp_future_get(fut, 0, NULL));
    fp_cbuf_t res;
    assert_ok(fp_future_result(fut, &res));
    assert_int_equal(res.size, 8);
    uint64_t y;
    memcpy(&y, res.data, 8);
    assert_int_equal(y, f(12));
    fp_future_release(fut);
    fp_context_destroy(ctx);
}

/* "Futures and iterators the caller still holds stay valid until
 * released": an iterator left open does not stop the pool's destroy, and
 * can still be destroyed afterwards. */
static void test_destroy_with_open_iterator(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    fp_pool_t *pool = NULL;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    const size_t n = 1000;
    uint64_t *in = malloc(n * 8);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    fp_call_params_t cp = {.chunksize = 10};
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(pool, "po.sq", in, 8, n, 8, &cp, &it));
    for (size_t i = 0; i < 3; i++) {
        uint64_t v = 0;
        assert_ok(fp_iter_next(it, &v, NULL, -1, NULL));
        assert_int_equal(v, f(i));
    }
    /* documented: refused while an iterator is open, and nothing is done */
    fp_status_t s = fp_pool_destroy(pool);
    assert_status(s, FP_ERR_BUSY);
    /* the pool still works, and so does the iterator */
    uint64_t v = 0;
    size_t idx = 0;
    assert_ok(fp_iter_next(it, &v, &idx, -1, NULL));
    assert_int_equal(idx, 3);
    assert_int_equal(v, f(3));
    fp_iter_destroy(it);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    free(in);
}

/* ---- idle executors sleep ------------------------------------------------------------ */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void test_idle_pool_sleeps(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_t *pool = NULL;
    fp_pool_params_t p = {.executors = 0}; /* one per core */
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    uint64_t in[64], out[64];
    for (int k = 0; k < 64; k++)
        in[k] = (uint64_t)k;
    assert_ok(fp_map(pool, "po.sq", in, 8, 64, out, 8, NULL, NULL));
    fp_test_sleep_ms(200); /* let any spin-before-sleep phase end */
    double before = cpu_seconds();
    fp_test_sleep_ms(1000);
    double used = cpu_seconds() - before;
    /* The bound is deliberately generous (20% of one core over 1 s, while
     * spinning executors would burn ~1 s per core): it must not flake on a
     * loaded CI machine or under a sanitizer's background threads, and it
     * still fails for executors that poll instead of sleeping. */
    if (used > 0.2)
        fail_msg("an idle pool of %u executors used %.3f s of CPU in 1 s",
                 fp_pool_size(pool), used);
    /* and it wakes up again */
    assert_ok(fp_map(pool, "po.sq", in, 8, 64, out, 8, NULL, NULL));
    for (int k = 0; k < 64; k++)
        assert_int_equal(out[k], f((uint64_t)k));
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
}

int main(void)
{
    /* what ctest sets too; fixed here so the test does not depend on it */
    setenv("FP_LOG_LEVEL", "error", 1);
    unsetenv("FP_EXECUTORS");
    unsetenv("FP_PIN");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_log_callback),
        cmocka_unit_test(test_pool_size),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_create_destroy_loop),
        cmocka_unit_test(test_destroy_waits),
        cmocka_unit_test(test_future_outlives_pool),
        cmocka_unit_test(test_destroy_with_open_iterator),
        cmocka_unit_test(test_idle_pool_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
