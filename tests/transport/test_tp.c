/*
 * Transport unit tests that need no second process: creation errors, the
 * progress thread and fp__tp_post, the registration cache, an idle
 * transport's CPU use.
 */
#include "fp_test.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tp.h"

static const char secret_bytes[] = "unit-test secret with enough bytes";

static fp__auth_secret_t *secret(void)
{
    fp__auth_secret_t *s = NULL;
    assert_int_equal(fp__auth_secret_from_bytes(secret_bytes,
                                                sizeof(secret_bytes) - 1,
                                                "test", &s, NULL, 0),
                     FP_OK);
    return s;
}

static fp__tp_t *make(const char *transports, fp__auth_secret_t *s)
{
    fp__tp_params_t p = {.transports = transports, .secret = s,
                         .log_level = FP_LOG_ERROR};
    fp__tp_t *tp = NULL;
    assert_int_equal(fp__tp_create(&p, &tp), FP_OK);
    return tp;
}

static void test_bad_transport(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_params_t p = {.transports = "tcp,carrier-pigeon", .secret = s,
                         .log_level = FP_LOG_OFF};
    fp__tp_t *tp = NULL;
    assert_int_equal(fp__tp_create(&p, &tp), FP_ERR_CONFIG);
    assert_null(tp);
    fp__auth_secret_free(s);
}

static void test_no_secret(void **state)
{
    (void)state;
    unsetenv("FP_SECRET");
    unsetenv("FP_SECRET_FILE");
    fp__tp_params_t p = {.log_level = FP_LOG_OFF};
    fp__tp_t *tp = NULL;
    assert_int_equal(fp__tp_create(&p, &tp), FP_ERR_CONFIG);
    assert_null(tp);
}

static void test_transport_names(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_t *tp = make("shm", s);
    /* listeners need the tcp connection manager: always allowed */
    assert_string_equal(fp__tp_transports(tp), "shm,tcp");
    fp__tp_destroy(tp);
    tp = make("tcp", s);
    assert_string_equal(fp__tp_transports(tp), "tcp");
    fp__tp_destroy(tp);
    tp = make(NULL, s);
    assert_non_null(strstr(fp__tp_transports(tp), "auto"));
    fp__tp_destroy(tp);
    /* FP_TRANSPORT applies when the code leaves the choice open */
    setenv("FP_TRANSPORT", "tcp", 1);
    tp = make(NULL, s);
    assert_string_equal(fp__tp_transports(tp), "tcp");
    fp__tp_destroy(tp);
    tp = make("shm", s); /* an explicit choice in code wins */
    assert_string_equal(fp__tp_transports(tp), "shm,tcp");
    fp__tp_destroy(tp);
    setenv("FP_TRANSPORT", "bogus", 1);
    fp__tp_params_t p = {.secret = s, .log_level = FP_LOG_OFF};
    fp__tp_t *bad = NULL;
    assert_int_equal(fp__tp_create(&p, &bad), FP_ERR_CONFIG);
    unsetenv("FP_TRANSPORT");
    fp__auth_secret_free(s);
}

typedef struct posted {
    atomic_int runs;
    pthread_t thread;
} posted_t;

static void on_progress(void *arg)
{
    posted_t *p = arg;
    p->thread = pthread_self();
    atomic_fetch_add(&p->runs, 1);
}

static void test_progress_thread_post(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_t *tp = make("tcp", s);
    uint16_t port = 0;
    assert_int_equal(fp__tp_listen(tp, "127.0.0.1", 0, &port), FP_OK);
    assert_true(port != 0);
    assert_int_equal(fp__tp_start(tp), FP_OK);
    assert_int_equal(fp__tp_start(tp), FP_ERR_STATE);
    posted_t p = {0};
    for (int i = 0; i < 100; i++)
        assert_int_equal(fp__tp_post(tp, on_progress, &p), FP_OK);
    for (int i = 0; i < 2000 && atomic_load(&p.runs) < 100; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&p.runs), 100);
    assert_false(pthread_equal(p.thread, pthread_self()));
    fp__tp_destroy(tp);
    fp__auth_secret_free(s);
}

static double cpu_seconds(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec * 1e-6;
}

static void test_idle_progress_thread_sleeps(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_t *tp = make("tcp", s);
    assert_int_equal(fp__tp_listen(tp, "127.0.0.1", 0, NULL), FP_OK);
    assert_int_equal(fp__tp_start(tp), FP_OK);
    usleep(200000);
    double c0 = cpu_seconds();
    usleep(1000000);
    double used = cpu_seconds() - c0;
    /* generous (sanitizers, a loaded 2-core CI machine); a spinning
     * progress thread would use ~100% */
    assert_true(used < 0.2);
    fp__tp_destroy(tp);
    fp__auth_secret_free(s);
}

static void test_regcache(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_params_t p = {.transports = "tcp", .secret = s,
                         .log_level = FP_LOG_ERROR, .reg_max_entries = 2};
    fp__tp_t *tp = NULL;
    assert_int_equal(fp__tp_create(&p, &tp), FP_OK);
    size_t n = 1 << 20;
    char *a = malloc(n), *b = malloc(n), *c = malloc(n);
    fp__tp_mem_t *ma, *ma2, *mb, *mc;
    fp__tp_stats_t st;

    assert_int_equal(fp__tp_mem_get(tp, a, n, &ma), FP_OK);
    /* a sub-range of a registered buffer hits the same entry */
    assert_int_equal(fp__tp_mem_get(tp, a + 100, 1000, &ma2), FP_OK);
    assert_ptr_equal(ma, ma2);
    fp__tp_get_stats(tp, &st);
    assert_int_equal(st.reg_misses, 1);
    assert_int_equal(st.reg_hits, 1);
    fp__tp_mem_put(ma2);
    fp__tp_mem_put(ma);

    assert_int_equal(fp__tp_mem_get(tp, b, n, &mb), FP_OK);
    fp__tp_mem_put(mb);
    /* a third entry over a limit of 2: the least recently used (a) goes */
    assert_int_equal(fp__tp_mem_get(tp, c, n, &mc), FP_OK);
    fp__tp_get_stats(tp, &st);
    assert_int_equal(st.reg_evictions, 1);
    assert_int_equal(fp__tp_mem_get(tp, b, n, &mb), FP_OK); /* still there */
    fp__tp_get_stats(tp, &st);
    assert_int_equal(st.reg_hits, 2);
    /* entries in use are never evicted, even over the limit */
    assert_int_equal(fp__tp_mem_get(tp, a, n, &ma), FP_OK);
    fp__tp_get_stats(tp, &st);
    assert_int_equal(st.reg_misses, 4);

    /* invalidation: the next get registers anew */
    fp__tp_mem_put(ma);
    fp__tp_mem_invalidate(tp, a, n);
    assert_int_equal(fp__tp_mem_get(tp, a, 10, &ma), FP_OK);
    fp__tp_get_stats(tp, &st);
    assert_int_equal(st.reg_misses, 5);
    fp__tp_mem_put(ma);
    fp__tp_mem_put(mb);
    fp__tp_mem_put(mc);
    assert_int_equal(fp__tp_mem_get(tp, NULL, 10, &ma), FP_ERR_INVALID);

    fp__tp_destroy(tp); /* unmaps what is left */
    free(a);
    free(b);
    free(c);
    fp__auth_secret_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_transport),
        cmocka_unit_test(test_no_secret),
        cmocka_unit_test(test_transport_names),
        cmocka_unit_test(test_progress_thread_post),
        cmocka_unit_test(test_idle_progress_thread_sleeps),
        cmocka_unit_test(test_regcache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
