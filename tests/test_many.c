/*
 * Oversubscribed pools: many more executors than cores (the header accepts
 * up to 4096; users do this on purpose for tasks that wait on I/O).
 *
 * For 1000 and 4096 executors: the pool is created quickly, an idle pool
 * uses (almost) no CPU, a map of 10^5 elements and an apply submitted to the
 * idle pool complete correctly and promptly, and destroy is quick.  The
 * figures are printed; the bounds asserted are generous (create and destroy
 * < 5 s, idle < 5% of a core; the targets are < 1 s and <= 1%).
 *
 * Under ThreadSanitizer the counts are scaled down (4096 -> 1024,
 * 1000 -> 256): thousands of TSan threads are slow to start (1024 take
 * ~1.6 s on 2 cores) and each keeps its own shadow state.  The plain and
 * ASan builds run the full counts; sanitizer builds map fewer elements.
 * A watchdog (alarm) turns a pool creation that never finishes into a
 * failure instead of a hang.
 */
#include "fp_test.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#define IDLE_S 2.0
#define BOUND_CREATE_S 5.0
#define BOUND_DESTROY_S 5.0
#define BOUND_IDLE 0.05

static const char *g_watch_what = "";

static void on_alarm(int sig)
{
    (void)sig;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "\nwatchdog: %s did not finish in time\n",
                     g_watch_what);
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
    _exit(1);
}

static fp_status_t mn_sq(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                         fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8)
        return fp_task_error(task, FP_ERR_TASK, "bad call");
    uint64_t x;
    memcpy(&x, args[0].data, 8);
    uint64_t y = x * x + 1;
    void *p = out->size == 8 ? out->data : fp_task_output(task, 8);
    if (p == NULL)
        return fp_task_error(task, FP_ERR_NOMEM, "no output");
    memcpy(p, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("mn.sq", mn_sq)

static void many_executors(unsigned full, unsigned sanitized)
{
    const unsigned n = FP_TEST_TSAN ? sanitized : full;
    char what[64];
    snprintf(what, sizeof(what), "a pool of %u executors", n);
    g_watch_what = what;
    alarm(FP_TEST_SANITIZED ? 600 : 120);

    fp_context_t *ctx = NULL;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t p;
    memset(&p, 0, sizeof(p));
    p.executors = n;
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));

    double w0 = fp_test_now();
    fp_status_t s = fp_pool_create(ctx, &p, &pool, &err);
    double create_s = fp_test_now() - w0;
    if (s != FP_OK)
        fail_msg("fp_pool_create(%u): %s: %s", n, fp_status_name(s),
                 err.message);
    assert_int_equal(fp_pool_size(pool), n);

    /* let start-up settle, then measure a stretch of idleness */
    fp_test_sleep_ms(300);
    double c0 = fp_test_process_cpu(), i0 = fp_test_now();
    fp_test_sleep_ms((unsigned)(IDLE_S * 1000));
    double idle_cpu = fp_test_process_cpu() - c0, idle_wall = fp_test_now() - i0;
    double idle = idle_cpu / idle_wall;

    /* work submitted to the idle pool completes (no lost wake-up) */
    const size_t m = fp_test_scaled(100000, 10000);
    uint64_t *in = malloc(m * 8), *out = malloc(m * 8);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < m; i++) {
        in[i] = i;
        out[i] = 0;
    }
    double m0 = fp_test_now();
    assert_ok(fp_map(pool, "mn.sq", in, 8, m, out, 8, NULL, &err));
    double map_s = fp_test_now() - m0;
    for (size_t i = 0; i < m; i++)
        if (out[i] != in[i] * in[i] + 1)
            fail_msg("map on %u executors: element %zu is %llu", n, i,
                     (unsigned long long)out[i]);

    fp_test_sleep_ms(300); /* idle again: the apply wakes a sleeper */
    uint64_t x = 12345;
    fp_cbuf_t arg = {&x, 8};
    fp_buf_t res = {NULL, 0};
    double a0 = fp_test_now();
    assert_ok(fp_apply(pool, "mn.sq", &arg, 1, &res, &err));
    double apply_s = fp_test_now() - a0;
    assert_int_equal(res.size, 8);
    uint64_t y;
    memcpy(&y, res.data, 8);
    assert_int_equal(y, x * x + 1);
    free(res.data);

    double d0 = fp_test_now();
    assert_ok(fp_pool_destroy(pool));
    double destroy_s = fp_test_now() - d0;
    fp_context_destroy(ctx);
    alarm(0);

    printf("  %4u executors: create %.3f s, idle %.2f%% of a core over "
           "%.1f s, map(%zu) %.3f s, apply %.4f s, destroy %.3f s\n",
           n, create_s, 100.0 * idle, idle_wall, m, map_s, apply_s, destroy_s);
    if (create_s > BOUND_CREATE_S)
        fail_msg("creating %u executors took %.2f s", n, create_s);
    if (idle > BOUND_IDLE)
        fail_msg("an idle pool of %u executors used %.1f%% of a core", n,
                 100.0 * idle);
    if (destroy_s > BOUND_DESTROY_S)
        fail_msg("destroying %u executors took %.2f s", n, destroy_s);
    free(in);
    free(out);
}

static void test_1000_executors(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "asks for 1000 executors, more than the nodes offer "
        "(FP_TEST_NODE_EXECUTORS, 8 by default)");
    (void)state;
    many_executors(1000, 256);
}

static void test_4096_executors(void **state)
{
    FP_TEST_LOCAL_ONLY(
        "asks for 4096 executors, more than the nodes offer "
        "(FP_TEST_NODE_EXECUTORS, 8 by default)");
    (void)state;
    many_executors(4096, 1024);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    /* FP_TEST_FILTER=<glob>: run only the matching tests */
    if (getenv("FP_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("FP_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1000_executors),
        cmocka_unit_test(test_4096_executors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
