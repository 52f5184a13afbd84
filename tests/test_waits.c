/*
 * Waiting: huge and infinite timeouts, and the CPU a blocked wait uses.
 *
 *  - Every waiting call (fp_future_wait, fp_future_get, fp_iter_next on
 *    imap and imap_unordered) with a timeout of INFINITY, DBL_MAX, 1e19,
 *    1e18 (all "forever"), NaN and -1 (documented as forever too) returns
 *    the result that is ready after ~0.1 s.
 *  - A thread blocked in a wait sleeps: its CPU time (and the process's)
 *    stays a small fraction of the time waited, for a wait from a client
 *    thread and for a wait made from inside a task on the same pool.
 *
 * A wait that never returns must fail the test, not hang it: every test arms
 * a watchdog (alarm) that ends the program with a message.  The CPU bounds
 * are generous (5% of the wall time waited; the target is < 1%) so that the
 * test holds under sanitizers; the measured figures are printed.
 */
#include "fp_test.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#define EXECUTORS 2
#define CPU_BOUND 0.05 /* fraction of the wall time waited */

static fp_test_env_t g_env;
static sem_t g_gate;              /* "wt.block" tasks block on it */
static atomic_long g_blocked;     /* "wt.block" tasks started */
static const char *g_watch_what = "";

/* ---- watchdog ----------------------------------------------------------- */

static void on_alarm(int sig)
{
    (void)sig;
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "\nwatchdog: a wait did not return in time (%s)\n",
                     g_watch_what);
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
    _exit(1);
}

static void watchdog(unsigned seconds, const char *what)
{
    g_watch_what = what;
    alarm(FP_TEST_SANITIZED ? seconds * 4 : seconds);
}

/* ---- tasks -------------------------------------------------------------- */

static uint64_t get_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Sleeps 0.1 s, then produces 3x (map/imap slot or apply output). */
static fp_status_t wt_slow(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    fp_test_sleep_ms(100);
    uint64_t y = get_u64(args[0].data) * 3;
    void *p = out->size == 8 ? out->data : fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("wt.slow", wt_slow)

/* Blocks (without using CPU) until the test posts g_gate; produces 7. */
static fp_status_t wt_block(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    (void)args, (void)nargs;
    atomic_fetch_add(&g_blocked, 1);
    while (sem_wait(&g_gate) != 0) {
    }
    uint64_t y = 7;
    void *p = out->size == 8 ? out->data : fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("wt.block", wt_block)

/* What a waiting task reports: {status of the wait, value, cpu, wall}. */
typedef struct wait_report {
    int64_t status;
    uint64_t value;
    double cpu_s, wall_s;
} wait_report_t;

typedef struct wait_order {
    fp_future_t *f; /* wait on this future ... */
    fp_iter_t *it;  /* ... or take the next result of this iterator */
    double timeout;
} wait_order_t;

/* From inside a task: wait as told, measure this executor thread's CPU. */
static fp_status_t wt_waiter(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    (void)out;
    if (nargs != 1 || args[0].size != sizeof(wait_order_t))
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    wait_order_t o;
    memcpy(&o, args[0].data, sizeof(o));
    wait_report_t r;
    memset(&r, 0, sizeof(r));
    double c0 = fp_test_thread_cpu(), w0 = fp_test_now();
    if (o.f != NULL) {
        r.status = fp_future_wait(o.f, o.timeout);
        fp_cbuf_t res = {NULL, 0};
        if (r.status == FP_OK && fp_future_result(o.f, &res) == FP_OK &&
            res.size == 8)
            r.value = get_u64(res.data);
    } else {
        r.status = fp_iter_next(o.it, &r.value, NULL, o.timeout, NULL);
    }
    r.cpu_s = fp_test_thread_cpu() - c0;
    r.wall_s = fp_test_now() - w0;
    void *p = fp_task_output(task, sizeof(r));
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    memcpy(p, &r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("wt.waiter", wt_waiter)

/* ---- fixtures ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    atomic_store(&g_blocked, 0);
    sem_init(&g_gate, 0, 0);
    fp_test_env_open(&g_env, EXECUTORS, FP_PIN_DEFAULT, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_test_env_close(&g_env);
    sem_destroy(&g_gate);
    alarm(0);
    return 0;
}

static const struct {
    double v;
    const char *name;
} k_timeouts[] = {
    {INFINITY, "INFINITY"}, {DBL_MAX, "DBL_MAX"}, {1e19, "1e19"},
    {1e18, "1e18"},         {1e10, "1e10"},       {NAN, "NaN"},
    {-1.0, "-1"},
};
#define NTIMEOUTS (sizeof(k_timeouts) / sizeof(k_timeouts[0]))

/* Assert that a wait of `wall` seconds used at most CPU_BOUND of it. */
static void check_cpu(const char *what, double cpu, double wall)
{
    printf("  %-44s wall %.3f s, cpu %.5f s (%.2f%%)\n", what, wall, cpu,
           wall > 0 ? 100.0 * cpu / wall : 0.0);
    if (cpu > CPU_BOUND * wall + 0.002)
        fail_msg("%s: a blocked wait used %.1f%% of a core (%.4f s of %.3f s)",
                 what, 100.0 * cpu / wall, cpu, wall);
}

/* ---- huge timeouts ------------------------------------------------------ */

static void test_future_wait_huge_timeouts(void **state)
{
    (void)state;
    for (size_t k = 0; k < NTIMEOUTS; k++) {
        char what[64];
        snprintf(what, sizeof(what), "fp_future_wait(%s)", k_timeouts[k].name);
        watchdog(20, what);
        uint64_t x = 5 + k;
        fp_cbuf_t arg = {&x, 8};
        fp_future_t *f = NULL;
        assert_ok(fp_apply_async(g_env.pool, "wt.slow", &arg, 1, NULL, &f));
        double c0 = fp_test_thread_cpu(), w0 = fp_test_now();
        assert_ok(fp_future_wait(f, k_timeouts[k].v));
        double cpu = fp_test_thread_cpu() - c0, wall = fp_test_now() - w0;
        assert_true(fp_future_done(f));
        fp_cbuf_t res;
        assert_ok(fp_future_result(f, &res));
        assert_int_equal(res.size, 8);
        assert_int_equal(get_u64(res.data), x * 3);
        check_cpu(what, cpu, wall);
        fp_future_release(f);
    }
}

static void test_future_get_huge_timeouts(void **state)
{
    (void)state;
    for (size_t k = 0; k < NTIMEOUTS; k++) {
        char what[64];
        snprintf(what, sizeof(what), "fp_future_get(%s)", k_timeouts[k].name);
        watchdog(20, what);
        uint64_t in = 11 + k, out = 0;
        fp_future_t *f = NULL;
        assert_ok(fp_map_async(g_env.pool, "wt.slow", &in, 8, 1, &out, 8, NULL,
                               &f));
        fp_error_t err;
        double c0 = fp_test_thread_cpu(), w0 = fp_test_now();
        assert_ok(fp_future_get(f, k_timeouts[k].v, &err));
        double cpu = fp_test_thread_cpu() - c0, wall = fp_test_now() - w0;
        assert_int_equal(out, in * 3);
        check_cpu(what, cpu, wall);
        fp_future_release(f);
    }
}

static void iter_huge_timeouts(bool ordered)
{
    for (size_t k = 0; k < NTIMEOUTS; k++) {
        char what[64];
        snprintf(what, sizeof(what), "fp_iter_next(%s, %s)",
                 ordered ? "imap" : "imap_unordered", k_timeouts[k].name);
        watchdog(20, what);
        uint64_t in[2] = {20 + k, 40 + k};
        fp_iter_t *it = NULL;
        if (ordered)
            assert_ok(fp_imap(g_env.pool, "wt.slow", in, 8, 2, 8, NULL, &it));
        else
            assert_ok(fp_imap_unordered(g_env.pool, "wt.slow", in, 8, 2, 8,
                                        NULL, &it));
        bool seen[2] = {false, false};
        double c0 = fp_test_thread_cpu(), w0 = fp_test_now();
        for (int j = 0; j < 2; j++) {
            uint64_t v = 0;
            size_t idx = 99;
            assert_ok(fp_iter_next(it, &v, &idx, k_timeouts[k].v, NULL));
            assert_true(idx < 2);
            assert_false(seen[idx]);
            seen[idx] = true;
            assert_int_equal(v, in[idx] * 3);
        }
        double cpu = fp_test_thread_cpu() - c0, wall = fp_test_now() - w0;
        uint64_t v;
        assert_status(fp_iter_next(it, &v, NULL, k_timeouts[k].v, NULL),
                      FP_END);
        check_cpu(what, cpu, wall);
        fp_iter_destroy(it);
    }
}

static void test_imap_huge_timeouts(void **state)
{
    (void)state;
    iter_huge_timeouts(true);
}

static void test_imap_unordered_huge_timeouts(void **state)
{
    (void)state;
    iter_huge_timeouts(false);
}

/* Finite timeouts keep working: a short one expires, a zero one looks. */
static void test_finite_timeouts_still_expire(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wt.block waits on g_gate, a semaphore the test posts in this process");
    (void)state;
    watchdog(20, "finite timeouts");
    fp_future_t *f = NULL;
    assert_ok(fp_apply_async(g_env.pool, "wt.block", NULL, 0, NULL, &f));
    assert_status(fp_future_wait(f, 0), FP_ERR_TIMEOUT);
    double w0 = fp_test_now();
    assert_status(fp_future_wait(f, 0.05), FP_ERR_TIMEOUT);
    assert_true(fp_test_now() - w0 >= 0.045);
    assert_status(fp_future_get(f, 1e-6, NULL), FP_ERR_TIMEOUT);

    fp_iter_t *it = NULL;
    assert_ok(fp_imap(g_env.pool, "wt.block", NULL, 0, 1, 8, NULL, &it));
    uint64_t v;
    assert_status(fp_iter_next(it, &v, NULL, 0, NULL), FP_ERR_TIMEOUT);
    w0 = fp_test_now();
    assert_status(fp_iter_next(it, &v, NULL, 0.05, NULL), FP_ERR_TIMEOUT);
    assert_true(fp_test_now() - w0 >= 0.045);

    sem_post(&g_gate);
    sem_post(&g_gate);
    assert_ok(fp_future_wait(f, INFINITY));
    assert_ok(fp_iter_next(it, &v, NULL, INFINITY, NULL));
    assert_int_equal(v, 7);
    fp_iter_destroy(it);
    fp_future_release(f);
}

/* ---- a blocked wait sleeps ---------------------------------------------- */

#define BLOCK_MS 800

static void wait_blocked_count(long n)
{
    while (atomic_load(&g_blocked) < n)
        fp_test_sleep_ms(1);
}

/* Opens the gate after BLOCK_MS, from its own thread. */
static void *opener(void *arg)
{
    (void)arg;
    fp_test_sleep_ms(BLOCK_MS);
    sem_post(&g_gate);
    return NULL;
}

static void client_wait_cpu(double timeout, const char *what)
{
    watchdog(30, what);
    long b0 = atomic_load(&g_blocked);
    fp_future_t *f = NULL;
    assert_ok(fp_apply_async(g_env.pool, "wt.block", NULL, 0, NULL, &f));
    wait_blocked_count(b0 + 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, opener, NULL), 0);
    double c0 = fp_test_thread_cpu(), p0 = fp_test_process_cpu(), w0 = fp_test_now();
    assert_ok(fp_future_wait(f, timeout));
    double cpu = fp_test_thread_cpu() - c0, pcpu = fp_test_process_cpu() - p0,
           wall = fp_test_now() - w0;
    pthread_join(th, NULL);
    fp_cbuf_t res;
    assert_ok(fp_future_result(f, &res));
    assert_int_equal(get_u64(res.data), 7);
    char w[96];
    snprintf(w, sizeof(w), "%s: waiting thread", what);
    check_cpu(w, cpu, wall);
    snprintf(w, sizeof(w), "%s: whole process", what);
    check_cpu(w, pcpu, wall);
    fp_future_release(f);
}

static void test_client_wait_sleeps(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wt.block waits on g_gate, a semaphore the test posts, and counts "
        "starts in g_blocked, in this process");
    (void)state;
    client_wait_cpu(INFINITY, "client fp_future_wait(INFINITY)");
    client_wait_cpu(30.0, "client fp_future_wait(30 s)");
}

/* A task on executor A waits for a call blocked on executor B. */
static void task_wait_cpu(bool iter, double timeout, const char *what)
{
    watchdog(30, what);
    long b0 = atomic_load(&g_blocked);
    fp_future_t *blocker = NULL;
    fp_iter_t *it = NULL;
    if (iter)
        assert_ok(fp_imap(g_env.pool, "wt.block", NULL, 0, 1, 8, NULL, &it));
    else
        assert_ok(fp_apply_async(g_env.pool, "wt.block", NULL, 0, NULL,
                                 &blocker));
    wait_blocked_count(b0 + 1); /* running: the waiter cannot take it */

    wait_order_t o = {blocker, it, timeout};
    fp_cbuf_t arg = {&o, sizeof(o)};
    fp_future_t *waiter = NULL;
    assert_ok(fp_apply_async(g_env.pool, "wt.waiter", &arg, 1, NULL, &waiter));
    fp_test_sleep_ms(20); /* let it start waiting */
    double p0 = fp_test_process_cpu(), w0 = fp_test_now();
    fp_test_sleep_ms(BLOCK_MS);
    double pcpu = fp_test_process_cpu() - p0, pwall = fp_test_now() - w0;
    sem_post(&g_gate);

    fp_error_t err;
    assert_ok(fp_future_get(waiter, INFINITY, &err));
    fp_cbuf_t res;
    assert_ok(fp_future_result(waiter, &res));
    assert_int_equal(res.size, sizeof(wait_report_t));
    wait_report_t r;
    memcpy(&r, res.data, sizeof(r));
    assert_status((fp_status_t)r.status, FP_OK);
    assert_int_equal(r.value, 7);
    assert_true(r.wall_s >= BLOCK_MS * 1e-3 * 0.9);
    char w[96];
    snprintf(w, sizeof(w), "%s: waiting executor", what);
    check_cpu(w, r.cpu_s, r.wall_s);
    snprintf(w, sizeof(w), "%s: whole process", what);
    check_cpu(w, pcpu, pwall);
    fp_future_release(waiter);
    if (blocker != NULL) {
        assert_ok(fp_future_wait(blocker, INFINITY));
        fp_future_release(blocker);
    }
    if (it != NULL)
        fp_iter_destroy(it);
}

static void test_task_future_wait_sleeps(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wt.waiter is given a pointer to a future of this process, and "
        "wt.block waits on g_gate, a semaphore the test posts");
    (void)state;
    task_wait_cpu(false, INFINITY, "in-task fp_future_wait(INFINITY)");
    task_wait_cpu(false, 30.0, "in-task fp_future_wait(30 s)");
}

static void test_task_iter_next_sleeps(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wt.waiter is given a pointer to an iterator of this process, and "
        "wt.block waits on g_gate, a semaphore the test posts");
    (void)state;
    task_wait_cpu(true, INFINITY, "in-task fp_iter_next(INFINITY)");
    task_wait_cpu(true, 30.0, "in-task fp_iter_next(30 s)");
}

/* A task sleeping in fp_future_wait still takes work that arrives for it:
 * executor B is blocked, executor A waits (in a task) for B's call, and a
 * new call submitted meanwhile can only run on A.  It must complete
 * promptly, and A's wait must still end when B's call completes. */
static void test_task_wait_takes_new_work(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "wt.waiter is given a pointer to a future of this process, and "
        "wt.block waits on g_gate, a semaphore the test posts");
    (void)state;
    watchdog(30, "in-task waiter taking new work");
    long b0 = atomic_load(&g_blocked);
    fp_future_t *blocker = NULL;
    assert_ok(fp_apply_async(g_env.pool, "wt.block", NULL, 0, NULL, &blocker));
    wait_blocked_count(b0 + 1);
    wait_order_t o = {blocker, NULL, INFINITY};
    fp_cbuf_t arg = {&o, sizeof(o)};
    fp_future_t *waiter = NULL;
    assert_ok(fp_apply_async(g_env.pool, "wt.waiter", &arg, 1, NULL, &waiter));
    fp_test_sleep_ms(300); /* the waiter is asleep by now */

    for (int round = 0; round < 3; round++) {
        uint64_t x = 100 + (uint64_t)round;
        fp_cbuf_t a = {&x, 8};
        fp_future_t *z = NULL;
        double w0 = fp_test_now();
        assert_ok(fp_apply_async(g_env.pool, "wt.slow", &a, 1, NULL, &z));
        assert_ok(fp_future_wait(z, 10.0));
        double took = fp_test_now() - w0;
        printf("  new work run by a sleeping in-task waiter: %.3f s "
               "(task itself 0.100 s)\n", took);
        fp_cbuf_t res;
        assert_ok(fp_future_result(z, &res));
        assert_int_equal(get_u64(res.data), x * 3);
        fp_future_release(z);
        fp_test_sleep_ms(100);
    }
    assert_false(fp_future_done(waiter));
    sem_post(&g_gate);
    assert_ok(fp_future_get(waiter, 10.0, NULL));
    fp_cbuf_t res;
    assert_ok(fp_future_result(waiter, &res));
    wait_report_t r;
    memcpy(&r, res.data, sizeof(r));
    assert_status((fp_status_t)r.status, FP_OK);
    assert_int_equal(r.value, 7);
    fp_future_release(waiter);
    assert_ok(fp_future_wait(blocker, INFINITY));
    fp_future_release(blocker);
}

/* ---- fp_sync of a job a thief is running ---------------------------------- */

typedef struct sync_child {
    unsigned executor;
    double seconds;
} sync_child_t;

typedef struct sync_root {
    sync_child_t child;
    unsigned root_executor;
    double cpu_s, wall_s;
} sync_root_t;

/* A job that blocks (sleeps, as one waiting on I/O would). */
static void sync_child_job(fp_task_t *t, void *arg)
{
    sync_child_t *c = arg;
    c->executor = fp_task_executor(t);
    fp_test_sleep_us((unsigned)(c->seconds * 1e6));
}

/* Spawn the blocking child, stay busy long enough for the other executor
 * to steal it, then sync: the syncer has nothing else to do and must sleep
 * until the thief finishes. */
static void sync_root_job(fp_task_t *t, void *arg)
{
    sync_root_t *r = arg;
    r->root_executor = fp_task_executor(t);
    fp_frame_t f;
    fp_spawn(t, &f, sync_child_job, &r->child);
    double end = fp_test_now() + 0.05;
    while (fp_test_now() < end) {
    }
    double c0 = fp_test_thread_cpu(), w0 = fp_test_now();
    fp_sync(t, &f);
    r->cpu_s = fp_test_thread_cpu() - c0;
    r->wall_s = fp_test_now() - w0;
}

static void test_sync_stolen_sleeps(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "fp_pool_run with a job function and an argument pointer of this "
        "process");
    (void)state;
    watchdog(60, "fp_sync of a stolen job");
    sync_root_t r;
    for (int attempt = 0; attempt < 10; attempt++) {
        memset(&r, 0, sizeof(r));
        r.child.seconds = BLOCK_MS * 1e-3;
        r.child.executor = ~0u;
        assert_ok(fp_pool_run(g_env.pool, sync_root_job, &r));
        if (r.child.executor != r.root_executor)
            break; /* stolen: what we came for */
    }
    if (r.child.executor == r.root_executor)
        skip(); /* never stolen in 10 tries: nothing to measure */
    assert_true(r.wall_s >= BLOCK_MS * 1e-3 * 0.5);
    check_cpu("fp_sync of a stolen, blocking job", r.cpu_s, r.wall_s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    signal(SIGALRM, on_alarm);
    /* FP_TEST_FILTER=<glob>: run only the matching tests */
    if (getenv("FP_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("FP_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        T(test_future_wait_huge_timeouts),
        T(test_future_get_huge_timeouts),
        T(test_imap_huge_timeouts),
        T(test_imap_unordered_huge_timeouts),
        T(test_finite_timeouts_still_expire),
        T(test_client_wait_sleeps),
        T(test_task_future_wait_sleeps),
        T(test_task_iter_next_sleeps),
        T(test_task_wait_takes_new_work),
        T(test_sync_stolen_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
