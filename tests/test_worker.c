/* Worker classes: per-executor state, init / update / fini hooks. */
#include "fp_test.h"

#include <pthread.h>

#define MAXEXEC 8
#define MAXUPD 64
#define MAGIC 0x5741524B45525321ULL
#define INIT_VALUE 0xC0FFEEULL

typedef struct wstate {
    uint64_t magic;
    uint64_t init_value;
    uint64_t current;   /* last update applied */
    uint64_t last_seen; /* what the last task on this executor saw */
    unsigned executor;
    int in_task;        /* set by "wk.nested_long" while it runs */
    char pad[100];      /* state_size is not a multiple of 64 */
} wstate_t;

static atomic_long g_init_calls[MAXEXEC], g_fini_calls[MAXEXEC];
static atomic_long g_upd_count[MAXEXEC];
static uint64_t g_upd_log[MAXEXEC][MAXUPD];
static void *g_state_ptr[MAXEXEC];
static pthread_t g_thread[MAXEXEC];
static atomic_long g_phase;  /* the last update value whose fp_pool_update returned */
static atomic_long g_probes; /* probe tasks started */
static fp_pool_t *g_pool;

/* expectations broken on executor threads */
static atomic_long g_bad;
static char g_bad_msg[256];
static pthread_mutex_t g_bad_lock = PTHREAD_MUTEX_INITIALIZER;

#define BAD(...)                                                               \
    do {                                                                       \
        pthread_mutex_lock(&g_bad_lock);                                       \
        if (atomic_fetch_add(&g_bad, 1) == 0)                                  \
            snprintf(g_bad_msg, sizeof(g_bad_msg), __VA_ARGS__);               \
        pthread_mutex_unlock(&g_bad_lock);                                     \
    } while (0)

static void assert_no_bad(void)
{
    pthread_mutex_lock(&g_bad_lock);
    long bad = atomic_load(&g_bad);
    char msg[256];
    memcpy(msg, g_bad_msg, sizeof(msg));
    pthread_mutex_unlock(&g_bad_lock);
    if (bad != 0)
        fail_msg("%ld broken expectations on executors; first: %s", bad, msg);
}

static void reset_globals(void)
{
    for (int e = 0; e < MAXEXEC; e++) {
        atomic_store(&g_init_calls[e], 0);
        atomic_store(&g_fini_calls[e], 0);
        atomic_store(&g_upd_count[e], 0);
        g_state_ptr[e] = NULL;
        memset(g_upd_log[e], 0, sizeof(g_upd_log[e]));
    }
    atomic_store(&g_phase, 0);
    atomic_store(&g_probes, 0);
    atomic_store(&g_bad, 0);
    g_bad_msg[0] = '\0';
    g_pool = NULL;
}

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- the worker class "wk.acc" -------------------------------------------- */

static fp_status_t acc_init(fp_task_t *task, void *state, fp_cbuf_t init_data)
{
    unsigned e = fp_task_executor(task);
    if (e >= MAXEXEC) {
        BAD("init: executor %u", e);
        return FP_OK;
    }
    if (state == NULL || ((uintptr_t)state % 64) != 0)
        BAD("init: state %p not 64-aligned", state);
    if (fp_task_state(task) != state)
        BAD("init: fp_task_state differs from the state given");
    const unsigned char *b = state;
    for (size_t i = 0; i < sizeof(wstate_t); i++)
        if (b[i] != 0) {
            BAD("init: state byte %zu not zero", i);
            break;
        }
    fp_cbuf_t id = fp_task_init_data(task);
    if (init_data.size != 8 || id.size != 8 || id.data == NULL ||
        memcmp(id.data, init_data.data, 8) != 0)
        BAD("init: init data size %zu / %zu", init_data.size, id.size);
    wstate_t *st = state;
    st->magic = MAGIC;
    st->init_value = init_data.size == 8 ? get_u64(init_data.data) : 0;
    st->executor = e;
    g_state_ptr[e] = state;
    g_thread[e] = pthread_self();
    atomic_fetch_add(&g_init_calls[e], 1);
    return FP_OK;
}

static fp_status_t acc_update(fp_task_t *task, void *state, fp_cbuf_t update)
{
    unsigned e = fp_task_executor(task);
    wstate_t *st = state;
    if (e >= MAXEXEC || state != g_state_ptr[e] || st->magic != MAGIC ||
        st->executor != e)
        BAD("update: wrong state on executor %u", e);
    if (!pthread_equal(pthread_self(), g_thread[e]))
        BAD("update: executor %u's hook ran on another thread", e);
    if (update.size != 8) {
        BAD("update: size %zu", update.size);
        return FP_OK;
    }
    if (st->in_task)
        BAD("update: hook ran on executor %u while a task was running there", e);
    uint64_t v = get_u64(update.data);
    if (v == 999 && e == 0)
        return fp_task_error(task, FP_ERR_IO, "update %llu refused on executor %u",
                             (unsigned long long)v, e);
    long k = atomic_load(&g_upd_count[e]);
    if (k < MAXUPD)
        g_upd_log[e][k] = v;
    st->current = v;
    atomic_store(&g_upd_count[e], k + 1);
    return FP_OK;
}

static void acc_fini(fp_task_t *task, void *state)
{
    unsigned e = fp_task_executor(task);
    wstate_t *st = state;
    if (e >= MAXEXEC || state != g_state_ptr[e] || st->magic != MAGIC ||
        st->executor != e)
        BAD("fini: wrong state on executor %u", e);
    if (e < MAXEXEC)
        atomic_fetch_add(&g_fini_calls[e], 1);
}

static fp_worker_class_t wk_acc = {
    .name = "wk.acc",
    .state_size = sizeof(wstate_t),
    .init = acc_init,
    .update = acc_update,
    .fini = acc_fini,
};
FP_WORKER_CLASS_REGISTER(wk_acc)

/* init fails on executor 1 */
static fp_status_t failinit_init(fp_task_t *task, void *state, fp_cbuf_t d)
{
    (void)state, (void)d;
    unsigned e = fp_task_executor(task);
    if (e == 1)
        return fp_task_error(task, FP_ERR_CONFIG, "init failed on executor %u", e);
    return FP_OK;
}

static fp_worker_class_t wk_failinit = {
    .name = "wk.failinit",
    .state_size = 16,
    .init = failinit_init,
};
FP_WORKER_CLASS_REGISTER(wk_failinit)

/* no update hook */
static fp_worker_class_t wk_nohook = {
    .name = "wk.nohook",
    .state_size = sizeof(wstate_t),
    .init = acc_init,
    .fini = acc_fini,
};
FP_WORKER_CLASS_REGISTER(wk_nohook)

/* ---- tasks ---------------------------------------------------------------- */

typedef struct probe_out {
    uint64_t executor;
    uint64_t init_value;
    uint64_t current;
    uint64_t phase_at_start;
} probe_out_t;

/* Reads this executor's state.  The element's value is how much busy work
 * to do (to make a map last a while). */
static fp_status_t wk_probe(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    probe_out_t r;
    r.phase_at_start = (uint64_t)atomic_load(&g_phase);
    atomic_fetch_add(&g_probes, 1);
    if (nargs != 1 || args[0].size != 8 || out->size != sizeof(r))
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    unsigned e = fp_task_executor(task);
    wstate_t *st = fp_task_state(task);
    if (e >= MAXEXEC || st == NULL)
        return fp_task_error(task, FP_ERR_TASK, "executor %u state %p", e,
                             (void *)st);
    if ((void *)st != g_state_ptr[e] || st->magic != MAGIC || st->executor != e)
        return fp_task_error(task, FP_ERR_TASK, "executor %u: wrong state", e);
    if (!pthread_equal(pthread_self(), g_thread[e]))
        return fp_task_error(task, FP_ERR_TASK,
                             "executor %u: init ran on another thread", e);
    fp_cbuf_t id = fp_task_init_data(task);
    if (id.size != 8 || get_u64(id.data) != INIT_VALUE)
        return fp_task_error(task, FP_ERR_TASK, "init data wrong in task");
    r.executor = e;
    r.init_value = st->init_value;
    r.current = st->current;
    if (r.current < st->last_seen)
        return fp_task_error(task, FP_ERR_TASK,
                             "executor %u saw update %llu after %llu", e,
                             (unsigned long long)r.current,
                             (unsigned long long)st->last_seen);
    st->last_seen = r.current;
    volatile uint64_t spin = 0;
    for (uint64_t i = 0; i < get_u64(args[0].data); i++)
        spin += i;
    (void)spin; /* clang 14: set but not used */
    memcpy(out->data, &r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("wk.probe", wk_probe)

/* fp_pool_update from inside a task must be refused */
static fp_status_t wk_update_inside(fp_task_t *task, const fp_cbuf_t *args,
                                    size_t nargs, fp_buf_t *out)
{
    (void)args, (void)nargs, (void)out;
    uint64_t v = 5;
    fp_status_t s = fp_pool_update(g_pool, (fp_cbuf_t){&v, 8}, NULL);
    if (s != FP_ERR_STATE)
        return fp_task_error(task, FP_ERR_TASK,
                             "fp_pool_update inside a task: %s",
                             fp_status_name(s));
    return FP_OK;
}
FP_TASK_REGISTER_AS("wk.update_inside", wk_update_inside)

static fp_status_t wk_leaf(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    (void)task, (void)args, (void)nargs, (void)out;
    return FP_OK;
}
FP_TASK_REGISTER_AS("wk.leaf", wk_leaf)

static atomic_int g_update_requested;
static atomic_long g_outer_started;

/* A task that does nested parallel work (fp_map on its own pool) until an
 * update has been asked for and a while after.  The update must wait for
 * the task to end, not run in the middle of it. */
static fp_status_t wk_nested_long(fp_task_t *task, const fp_cbuf_t *args,
                                  size_t nargs, fp_buf_t *out)
{
    (void)args, (void)nargs, (void)out;
    wstate_t *st = fp_task_state(task);
    if (st == NULL)
        return fp_task_error(task, FP_ERR_TASK, "no state");
    st->in_task = 1;
    atomic_fetch_add(&g_outer_started, 1);
    uint64_t in[4] = {0};
    long after = 0;
    for (long i = 0; i < 1000000; i++) {
        fp_status_t s = fp_map(g_pool, "wk.leaf", in, 8, 4, NULL, 0, NULL, NULL);
        if (s != FP_OK) {
            st->in_task = 0;
            return fp_task_error(task, s, "nested map: %s", fp_status_name(s));
        }
        if (atomic_load(&g_phase) >= 1) /* the update went through already */
            break;
        if (atomic_load(&g_update_requested) && ++after >= 2000)
            break;
    }
    st->in_task = 0;
    return FP_OK;
}
FP_TASK_REGISTER_AS("wk.nested_long", wk_nested_long)

/* no worker class: state NULL; init data as given */
static fp_status_t wk_plain(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    (void)args, (void)nargs;
    uint64_t r[3];
    fp_cbuf_t id = fp_task_init_data(task);
    r[0] = fp_task_state(task) == NULL;
    r[1] = id.size;
    r[2] = id.size >= 8 ? get_u64(id.data) : (id.data == NULL ? 0xDEAD : 0xBEEF);
    memcpy(out->data, r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("wk.plain", wk_plain)

/* ---- helpers -------------------------------------------------------------- */

static fp_pool_t *make_pool(fp_context_t **ctx, unsigned executors,
                            const char *wc)
{
    assert_ok(fp_context_create(NULL, ctx));
    uint64_t init = INIT_VALUE; /* on the stack: the pool copies it */
    fp_pool_params_t p = {.executors = executors, .pin = FP_PIN_NONE,
                          .worker_class = wc, .init_data = {&init, 8}};
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t s = fp_pool_create(*ctx, &p, &pool, &err);
    if (s != FP_OK)
        fail_msg("fp_pool_create: %s: %s", fp_status_name(s), err.message);
    init = 0; /* must not matter */
    g_pool = pool;
    return pool;
}

static void probe_all(fp_pool_t *pool, size_t n, uint64_t work,
                      probe_out_t *out)
{
    uint64_t *in = malloc(n * 8);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = work;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_call_params_t cp = {.chunksize = 1};
    fp_status_t s = fp_map(pool, "wk.probe", in, 8, n, out, sizeof(*out), &cp,
                           &err);
    if (s != FP_OK)
        fail_msg("probe map: %s at %zu: %s", fp_status_name(s), err.index,
                 err.message);
    free(in);
}

static void do_update(fp_pool_t *pool, uint64_t v)
{
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t s = fp_pool_update(pool, (fp_cbuf_t){&v, 8}, &err);
    if (s != FP_OK)
        fail_msg("fp_pool_update(%llu): %s: %s", (unsigned long long)v,
                 fp_status_name(s), err.message);
    atomic_store(&g_phase, (long)v);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_state_and_init(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "the worker class's init / fini hooks count their calls in "
        "g_init_calls / g_fini_calls, globals of this process");
    (void)state;
    reset_globals();
    const unsigned E = 3;
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, E, "wk.acc");
    /* init has run once on every executor by the time create returns */
    for (unsigned e = 0; e < E; e++)
        assert_int_equal(atomic_load(&g_init_calls[e]), 1);
    for (unsigned e = E; e < MAXEXEC; e++)
        assert_int_equal(atomic_load(&g_init_calls[e]), 0);
    const size_t n = 1000;
    probe_out_t *out = calloc(n, sizeof(*out));
    assert_non_null(out);
    probe_all(pool, n, 0, out);
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].executor < E);
        assert_int_equal(out[i].init_value, INIT_VALUE);
        assert_int_equal(out[i].current, 0);
    }
    for (unsigned e = 0; e < E; e++) {
        assert_int_equal(atomic_load(&g_init_calls[e]), 1);
        assert_int_equal(atomic_load(&g_fini_calls[e]), 0);
    }
    assert_ok(fp_pool_destroy(pool));
    for (unsigned e = 0; e < E; e++) {
        assert_int_equal(atomic_load(&g_fini_calls[e]), 1);
        assert_int_equal(atomic_load(&g_init_calls[e]), 1);
    }
    for (unsigned e = E; e < MAXEXEC; e++)
        assert_int_equal(atomic_load(&g_fini_calls[e]), 0);
    fp_context_destroy(ctx);
    assert_no_bad();
    free(out);
}

static void check_update_logs(unsigned E, uint64_t first, uint64_t last)
{
    for (unsigned e = 0; e < E; e++) {
        long k = atomic_load(&g_upd_count[e]);
        if (k != (long)(last - first + 1))
            fail_msg("executor %u ran %ld updates, expected %llu", e, k,
                     (unsigned long long)(last - first + 1));
        for (long j = 0; j < k && j < MAXUPD; j++)
            if (g_upd_log[e][j] != first + (uint64_t)j)
                fail_msg("executor %u: update #%ld was %llu, expected %llu", e,
                         j, (unsigned long long)g_upd_log[e][j],
                         (unsigned long long)(first + (uint64_t)j));
    }
}

/* Updates reach sleeping executors, every one exactly once, in order. */
static void test_updates_idle(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "the update hook logs updates in g_upd_count / g_upd_log, globals of "
        "this process");
    (void)state;
    reset_globals();
    const unsigned E = 4; /* more executors than cores */
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, E, "wk.acc");
    fp_test_sleep_ms(100); /* let the executors go to sleep */
    for (uint64_t v = 1; v <= 20; v++) {
        do_update(pool, v);
        /* fp_pool_update waits until every executor has run the hook */
        for (unsigned e = 0; e < E; e++)
            assert_int_equal(atomic_load(&g_upd_count[e]), (long)v);
        if (v % 5 == 0)
            fp_test_sleep_ms(20);
    }
    check_update_logs(E, 1, 20);
    probe_out_t out[64];
    probe_all(pool, 64, 0, out);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(out[i].current, 20);
    assert_ok(fp_pool_destroy(pool));
    for (unsigned e = 0; e < E; e++)
        assert_int_equal(atomic_load(&g_fini_calls[e]), 1);
    check_update_logs(E, 1, 20);
    fp_context_destroy(ctx);
    assert_no_bad();
}

/* Updates while a long map runs: applied between tasks, and a task that
 * starts after fp_pool_update(v) returned sees v (or later). */
static void test_updates_during_map(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "the test waits on g_probes and checks g_upd_log, which tasks and "
        "hooks write in this process; wk.probe reads g_phase, set by the test");
    (void)state;
    reset_globals();
    const unsigned E = 2;
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, E, "wk.acc");
    const size_t n = fp_test_scaled(100000, 20000);
    uint64_t *in = malloc(n * 8);
    probe_out_t *out = calloc(n, sizeof(*out));
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        in[i] = 2000; /* a little busy work per element */
    fp_call_params_t cp = {.chunksize = 1};
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(pool, "wk.probe", in, 8, n, out, sizeof(*out), &cp,
                           &fut));
    fp_test_wait_at_least(&g_probes, 100);
    for (uint64_t v = 101; v <= 110; v++)
        do_update(pool, v);
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t s = fp_future_get(fut, -1, &err);
    if (s != FP_OK)
        fail_msg("map: %s at %zu: %s", fp_status_name(s), err.index, err.message);
    fp_future_release(fut);
    check_update_logs(E, 101, 110);
    for (size_t i = 0; i < n; i++) {
        if (out[i].current < out[i].phase_at_start)
            fail_msg("element %zu started after update %llu but saw %llu", i,
                     (unsigned long long)out[i].phase_at_start,
                     (unsigned long long)out[i].current);
        if (out[i].current != 0 && (out[i].current < 101 || out[i].current > 110))
            fail_msg("element %zu saw %llu", i, (unsigned long long)out[i].current);
    }
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    assert_no_bad();
    free(in);
    free(out);
}

/* "between tasks (never while that executor runs a task)": not even while
 * the task waits in nested parallel work. */
static void test_update_not_inside_nested_work(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wk.nested_long maps on g_pool, the pool pointer of this process, and"
        " reads g_update_requested / g_phase set by the test; the test waits "
        "on g_outer_started");
    (void)state;
    reset_globals();
    atomic_store(&g_update_requested, 0);
    atomic_store(&g_outer_started, 0);
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, 2, "wk.acc");
    uint64_t in[2] = {0, 0};
    fp_call_params_t cp = {.chunksize = 1};
    fp_future_t *fut = NULL;
    assert_ok(fp_map_async(pool, "wk.nested_long", in, 8, 2, NULL, 0, &cp, &fut));
    fp_test_wait_at_least(&g_outer_started, 1);
    atomic_store(&g_update_requested, 1);
    do_update(pool, 1);
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t s = fp_future_get(fut, -1, &err);
    fp_future_release(fut);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    if (s != FP_OK)
        fail_msg("%s: %s", fp_status_name(s), err.message);
    check_update_logs(2, 1, 1);
    assert_no_bad();
}

static void test_update_error(void **state)
{
    (void)state;
    reset_globals();
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, 2, "wk.acc");
    uint64_t v = 999;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_status(fp_pool_update(pool, (fp_cbuf_t){&v, 8}, &err), FP_ERR_IO);
    assert_status(err.status, FP_ERR_IO);
    assert_string_equal(err.message, "update 999 refused on executor 0");
    assert_status(fp_pool_update(pool, (fp_cbuf_t){&v, 8}, NULL), FP_ERR_IO);
    /* the pool goes on working, and later updates go through */
    do_update(pool, 7);
    probe_out_t out[16];
    probe_all(pool, 16, 0, out);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(out[i].current, 7);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    assert_no_bad();
}

static void test_update_from_task(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wk.update_inside calls fp_pool_update on g_pool, the pool pointer of"
        " this process");
    (void)state;
    reset_globals();
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, 2, "wk.acc");
    uint64_t in[4] = {0};
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t s = fp_map(pool, "wk.update_inside", in, 8, 4, NULL, 0, NULL, &err);
    if (s != FP_OK)
        fail_msg("%s: %s", fp_status_name(s), err.message);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
}

static void test_init_failure(void **state)
{
    (void)state;
    reset_globals();
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p = {.executors = 3, .pin = FP_PIN_NONE,
                          .worker_class = "wk.failinit"};
    fp_pool_t *const sentinel = (fp_pool_t *)(uintptr_t)0x30;
    fp_pool_t *pool = sentinel;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_status(fp_pool_create(ctx, &p, &pool, &err), FP_ERR_CONFIG);
    assert_ptr_equal(pool, sentinel);
    assert_status(err.status, FP_ERR_CONFIG);
    assert_string_equal(err.message, "init failed on executor 1");
    /* err may be NULL; the context is still usable afterwards */
    assert_status(fp_pool_create(ctx, &p, &pool, NULL), FP_ERR_CONFIG);
    assert_ptr_equal(pool, sentinel);
    p.worker_class = NULL;
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
}

static void test_no_update_hook(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "the fini hook counts its calls in g_fini_calls, a global of this "
        "process");
    (void)state;
    reset_globals();
    fp_context_t *ctx;
    fp_pool_t *pool = make_pool(&ctx, 2, "wk.nohook");
    uint64_t v = 1;
    assert_status(fp_pool_update(pool, (fp_cbuf_t){&v, 8}, NULL), FP_ERR_STATE);
    assert_ok(fp_pool_destroy(pool));
    for (unsigned e = 0; e < 2; e++)
        assert_int_equal(atomic_load(&g_fini_calls[e]), 1);
    /* no worker class at all */
    pool = NULL;
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_status(fp_pool_update(pool, (fp_cbuf_t){&v, 8}, NULL), FP_ERR_STATE);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    assert_no_bad();
}

static void test_unknown_class(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p = {.executors = 2, .worker_class = "wk.nope"};
    fp_pool_t *const sentinel = (fp_pool_t *)(uintptr_t)0x40;
    fp_pool_t *pool = sentinel;
    fp_error_t err;
    assert_status(fp_pool_create(ctx, &p, &pool, &err), FP_ERR_NOT_FOUND);
    assert_ptr_equal(pool, sentinel);
    fp_context_destroy(ctx);
}

static void test_no_class(void **state)
{
    (void)state;
    fp_context_t *ctx;
    assert_ok(fp_context_create(NULL, &ctx));
    uint64_t in[8] = {0}, out[8][3];
    fp_pool_t *pool = NULL;
    fp_pool_params_t p = {.executors = 2, .pin = FP_PIN_NONE};
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    assert_ok(fp_map(pool, "wk.plain", in, 8, 8, out, sizeof(out[0]), NULL, NULL));
    for (int i = 0; i < 8; i++) {
        assert_int_equal(out[i][0], 1);      /* no state */
        assert_int_equal(out[i][1], 0);      /* no init data */
        assert_int_equal(out[i][2], 0xDEAD); /* {NULL, 0} */
    }
    assert_ok(fp_pool_destroy(pool));
    /* init data without a worker class: tasks still see the copy */
    unsigned char data[12];
    uint64_t v = 0x1122334455667788ULL;
    memcpy(data, &v, 8);
    memset(data + 8, 9, 4);
    p.init_data = (fp_cbuf_t){data, sizeof(data)};
    assert_ok(fp_pool_create(ctx, &p, &pool, NULL));
    memset(data, 0, sizeof(data));
    assert_ok(fp_map(pool, "wk.plain", in, 8, 8, out, sizeof(out[0]), NULL, NULL));
    for (int i = 0; i < 8; i++) {
        assert_int_equal(out[i][0], 1);
        assert_int_equal(out[i][1], 12);
        assert_int_equal(out[i][2], 0x1122334455667788ULL);
    }
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_and_init),
        cmocka_unit_test(test_updates_idle),
        cmocka_unit_test(test_updates_during_map),
        cmocka_unit_test(test_update_not_inside_nested_work),
        cmocka_unit_test(test_update_error),
        cmocka_unit_test(test_update_from_task),
        cmocka_unit_test(test_init_failure),
        cmocka_unit_test(test_no_update_hook),
        cmocka_unit_test(test_unknown_class),
        cmocka_unit_test(test_no_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
