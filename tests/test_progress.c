/* Progress reports (fp_call_params_t.on_progress) of map, starmap, their
 * async forms, imap and imap_unordered; and the tools' progress display in
 * plain mode.  Also runs with its pool on nodes (tests/dist: label dist). */
#include "fp_test.h"

#include "common/progress_bar.h"

#include <pthread.h>

#define EXECUTORS 2
#define MAX_EXEC 64
#define MAX_CALLS 4096

/* each task sleeps this long: calls last long enough to report */
#define TASK_US 100

/* the threads that ran tasks here (local pools): callbacks are not on them */
static _Atomic(unsigned long) g_exec_threads[MAX_EXEC];

static bool on_executor_thread(void)
{
    unsigned long me = (unsigned long)pthread_self();
    for (size_t k = 0; k < MAX_EXEC; k++)
        if (atomic_load(&g_exec_threads[k]) == me)
            return true;
    return false;
}


static fp_status_t pg_sleep(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    uint64_t x = 0;
    for (size_t k = 0; k < nargs; k++) {
        uint64_t v;
        memcpy(&v, args[k].data, sizeof(v));
        x += v;
    }
    /* inputs with the top bit set fail (works on nodes too) */
    if (x >> 63)
        return fp_task_error(task, FP_ERR_INVALID, "element %llu fails",
                             (unsigned long long)(x & ~(1ULL << 63)));
    unsigned e = fp_task_executor(task);
    atomic_store(&g_exec_threads[e % MAX_EXEC], (unsigned long)pthread_self());
    fp_test_sleep_us(TASK_US);
    uint64_t y = x * 3;
    if (out->size >= 8)
        memcpy(out->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("pg.sleep", pg_sleep)

/* ---- what the callback saw ---------------------------------------------- */

typedef struct rec {
    atomic_int in_cb;      /* 1 while a call runs: must never be seen */
    atomic_int concurrent; /* a call found another running */
    atomic_int calls;
    atomic_int not_monotonic, above_total, wrong_total, wrong_thread;
    size_t expect_total;
    pthread_t caller;      /* the test's thread: callbacks are not on it */
    size_t done[MAX_CALLS];
    double at[MAX_CALLS];
    size_t last;
} rec_t;

static void rec_init(rec_t *r, size_t total)
{
    memset(r, 0, sizeof(*r));
    r->expect_total = total;
    r->caller = pthread_self();
}

static void on_progress(void *arg, size_t done, size_t total)
{
    rec_t *r = arg;
    if (atomic_exchange(&r->in_cb, 1) != 0)
        atomic_store(&r->concurrent, 1);
    if (pthread_equal(pthread_self(), r->caller) || on_executor_thread())
        atomic_store(&r->wrong_thread, 1);
    int k = atomic_load(&r->calls);
    if (k > 0 && done < r->last)
        atomic_store(&r->not_monotonic, 1);
    if (done > total)
        atomic_store(&r->above_total, 1);
    if (total != r->expect_total)
        atomic_store(&r->wrong_total, 1);
    if (k < MAX_CALLS) {
        r->done[k] = done;
        r->at[k] = fp_test_now();
    }
    r->last = done;
    fp_test_sleep_us(200); /* widen the window a second call would hit */
    atomic_store(&r->calls, k + 1);
    atomic_store(&r->in_cb, 0);
}

/* Every call checked; `complete`: the last one had done == total.  Then no
 * call may come any more (the call is over). */
static void rec_check(rec_t *r, bool complete, double interval)
{
    int calls = atomic_load(&r->calls);
    assert_true(calls >= 1);
    assert_int_equal(atomic_load(&r->concurrent), 0);
    assert_int_equal(atomic_load(&r->wrong_thread), 0);
    assert_int_equal(atomic_load(&r->not_monotonic), 0);
    assert_int_equal(atomic_load(&r->above_total), 0);
    assert_int_equal(atomic_load(&r->wrong_total), 0);
    if (complete)
        assert_int_equal(r->last, r->expect_total);
    else
        assert_true(r->last <= r->expect_total);
    /* the interval, roughly: periodic calls (all but the last) at least
     * 0.8 x interval apart */
    int n = calls < MAX_CALLS ? calls : MAX_CALLS;
    for (int k = 1; k + 1 < n; k++) {
        double gap = r->at[k] - r->at[k - 1];
        if (gap < 0.8 * interval)
            fail_msg("calls %d and %d only %.4f s apart (interval %.3f s)",
                     k - 1, k, gap, interval);
    }
    /* the last call came before the call was seen complete */
    fp_test_sleep_ms((unsigned)(interval * 3000) + 10);
    assert_int_equal(atomic_load(&r->calls), calls);
}

static fp_pool_t *pool_of(void **state)
{
    return ((fp_test_env_t *)*state)->pool;
}

static uint64_t *inputs(size_t n)
{
    uint64_t *in = malloc(n * sizeof(*in));
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    return in;
}

static size_t n_elems(void) { return fp_test_scaled(4000, 1000); }

/* ---- the calls ---------------------------------------------------------- */

static void test_map(void **state)
{
    size_t n = n_elems();
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_error_t err;
    assert_ok(fp_map(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp, &err));
    assert_true(atomic_load(&r.calls) >= 2); /* periodic + last */
    rec_check(&r, true, 0.02);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], i * 3);
    printf("map: %d progress calls over %zu elements\n", atomic_load(&r.calls),
           n);
    free(in);
    free(out);
}

static void test_map_async_callback(void **state)
{
    size_t n = n_elems();
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.05};
    fp_future_t *f;
    assert_ok(fp_map_async(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp,
                           &f));
    assert_ok(fp_future_wait(f, -1));
    /* complete: the last report has been made */
    assert_int_equal(r.last, n);
    assert_ok(fp_future_get(f, 0, NULL));
    fp_future_release(f);
    rec_check(&r, true, 0.05);
    free(in);
    free(out);
}

static void test_starmap(void **state)
{
    size_t n = n_elems();
    uint64_t *a = inputs(n), *b = calloc(n, 8), *out = calloc(n, 8);
    fp_array_t args[2] = {{a, 8}, {b, 8}};
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_error_t err;
    assert_ok(fp_starmap(pool_of(state), "pg.sleep", args, 2, n, out, 8, &cp,
                         &err));
    rec_check(&r, true, 0.02);
    fp_future_t *f;
    rec_init(&r, n);
    assert_ok(fp_starmap_async(pool_of(state), "pg.sleep", args, 2, n, out, 8,
                               &cp, &f));
    assert_ok(fp_future_get(f, -1, &err));
    fp_future_release(f);
    rec_check(&r, true, 0.02);
    free(a);
    free(b);
    free(out);
}

static void run_iter(void **state, bool ordered)
{
    size_t n = n_elems();
    uint64_t *in = inputs(n);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_iter_t *it;
    if (ordered)
        assert_ok(fp_imap(pool_of(state), "pg.sleep", in, 8, n, 8, &cp, &it));
    else
        assert_ok(fp_imap_unordered(pool_of(state), "pg.sleep", in, 8, n, 8,
                                    &cp, &it));
    uint64_t y;
    size_t idx, got = 0;
    fp_error_t err;
    fp_status_t st;
    while ((st = fp_iter_next(it, &y, &idx, -1, &err)) != FP_END) {
        assert_ok(st);
        assert_int_equal(y, idx * 3);
        got++;
    }
    assert_int_equal(got, n);
    fp_iter_destroy(it);
    rec_check(&r, true, 0.02);
    free(in);
}

static void test_imap(void **state) { run_iter(state, true); }
static void test_imap_unordered(void **state) { run_iter(state, false); }

/* An iterator destroyed early: its last report comes in fp_iter_destroy
 * with the count reached, and none after. */
static void test_imap_destroyed_early(void **state)
{
    size_t n = n_elems() * 4;
    uint64_t *in = inputs(n);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_iter_t *it;
    assert_ok(fp_imap(pool_of(state), "pg.sleep", in, 8, n, 8, &cp, &it));
    uint64_t y;
    for (int k = 0; k < 10; k++)
        assert_ok(fp_iter_next(it, &y, NULL, -1, NULL));
    fp_iter_destroy(it);
    int calls = atomic_load(&r.calls);
    assert_true(calls >= 1);
    assert_true(r.last >= 10 && r.last < n);
    rec_check(&r, false, 0.02);
    free(in);
}

/* A failing map: the last report has the count reached (<= total). */
static void test_map_fails(void **state)
{
    size_t n = n_elems();
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    in[n / 2] |= 1ULL << 63;
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_error_t err;
    assert_status(fp_map(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp,
                         &err),
                  FP_ERR_INVALID);
    rec_check(&r, false, 0.02);
    free(in);
    free(out);
}

/* Canceled: the last report has the count reached, below total. */
static void test_map_canceled(void **state)
{
    size_t n = n_elems() * 8;
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r,
                           .progress_interval = 0.02};
    fp_future_t *f;
    assert_ok(fp_map_async(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp,
                           &f));
    while (atomic_load(&r.calls) == 0) /* some progress first */
        fp_test_sleep_ms(1);
    assert_ok(fp_future_cancel(f));
    assert_status(fp_future_get(f, -1, NULL), FP_ERR_CANCELED);
    fp_future_release(f);
    assert_true(r.last < n);
    rec_check(&r, false, 0.02);
    free(in);
    free(out);
}

/* No elements: one report, (0, 0), before the call returns. */
static void test_empty(void **state)
{
    static rec_t r;
    rec_init(&r, 0);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r};
    fp_error_t err;
    uint64_t x = 0;
    assert_ok(fp_map(pool_of(state), "pg.sleep", &x, 8, 0, NULL, 0, &cp,
                     &err));
    assert_int_equal(atomic_load(&r.calls), 1);
    assert_int_equal(r.last, 0);
    fp_iter_t *it;
    rec_init(&r, 0);
    assert_ok(fp_imap(pool_of(state), "pg.sleep", &x, 8, 0, 8, &cp, &it));
    assert_status(fp_iter_next(it, &x, NULL, -1, NULL), FP_END);
    fp_iter_destroy(it);
    assert_int_equal(atomic_load(&r.calls), 1);
}

/* The default interval is 0.2 s: a call of ~1 s reports a few times, not
 * more than about 1/0.2 + 1. */
static void test_default_interval(void **state)
{
    size_t n = fp_test_scaled(16000, 4000);
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    static rec_t r;
    rec_init(&r, n);
    fp_call_params_t cp = {.on_progress = on_progress, .progress_arg = &r};
    fp_error_t err;
    double t0 = fp_test_now();
    assert_ok(fp_map(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp, &err));
    double took = fp_test_now() - t0;
    int calls = atomic_load(&r.calls);
    printf("default interval: %d calls in %.3f s\n", calls, took);
    assert_true(calls <= (int)(took / 0.2 / 0.8) + 2);
    rec_check(&r, true, 0.2);
    free(in);
    free(out);
}

/* Without a callback nothing reports (and nothing breaks). */
static void test_no_callback(void **state)
{
    size_t n = 1000;
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    fp_call_params_t cp = {.progress_interval = 0.01, .progress_arg = in};
    fp_error_t err;
    assert_ok(fp_map(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp, &err));
    free(in);
    free(out);
}

/* ---- the display, plain mode (its stream is a file: not a terminal) ---- */

static char *read_all(FILE *f)
{
    fflush(f);
    long len = ftell(f);
    char *s = calloc(1, (size_t)len + 1);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
    return s;
}

static void test_display_plain(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fp__pbar_t b;
    fp__pbar_init(&b, f, "map", FP__PBAR_AUTO);
    assert_int_equal(b.mode, FP__PBAR_PLAIN);
    double t = b.t0;
    fp__pbar_update_at(&b, 50, 1000, t + 0.5);   /* 5%: nothing */
    fp__pbar_update_at(&b, 100, 1000, t + 1.0);  /* 10% */
    fp__pbar_update_at(&b, 150, 1000, t + 1.5);  /* nothing */
    fp__pbar_update_at(&b, 160, 1000, t + 7.0);  /* 5 s since: a line */
    fp__pbar_update_at(&b, 500, 1000, t + 10.0); /* 50% */
    fp__pbar_update_at(&b, 1000, 1000, t + 20.0); /* final */
    fp__pbar_end_at(&b, NULL, t + 21.0);         /* already ended */
    char *s = read_all(f);
    const char *want = "map: 100/1000 (10%), 100/s, ETA 0:09\n"
                       "map: 160/1000 (16%), 23/s, ETA 0:37\n"
                       "map: 500/1000 (50%), 50/s, ETA 0:10\n"
                       "map: 1000/1000 (100%) done in 20.00 s, 50/s\n";
    if (strcmp(s, want) != 0)
        fail_msg("plain output:\n%s\nexpected:\n%s", s, want);
    free(s);
    fclose(f);

    /* a failed call: its final line says so, with the count reached */
    f = tmpfile();
    fp__pbar_init(&b, f, "run 1", FP__PBAR_PLAIN);
    t = b.t0;
    fp__pbar_update_at(&b, 2500, 10000, t + 2.0);
    fp__pbar_end_at(&b, "failed", t + 3.0);
    fp__pbar_end_at(&b, "failed", t + 4.0);
    s = read_all(f);
    want = "run 1: 2500/10000 (25%), 1.2 k/s, ETA 0:06\n"
           "run 1: failed at 2500/10000 (25%) after 3.00 s\n";
    if (strcmp(s, want) != 0)
        fail_msg("plain output:\n%s\nexpected:\n%s", s, want);
    free(s);
    fclose(f);

    /* off: nothing */
    f = tmpfile();
    fp__pbar_init(&b, f, "x", FP__PBAR_OFF);
    fp__pbar_update(&b, 10, 10);
    fp__pbar_end(&b, NULL);
    s = read_all(f);
    assert_string_equal(s, "");
    free(s);
    fclose(f);

    char buf[32];
    fp__pbar_fmt_rate(buf, sizeof(buf), 6.49e6);
    assert_string_equal(buf, "6.5 M/s");
    fp__pbar_fmt_eta(buf, sizeof(buf), 3723);
    assert_string_equal(buf, "1:02:03");
    fp__pbar_fmt_eta(buf, sizeof(buf), -1);
    assert_string_equal(buf, "?");
}

/* The display driven by real reports, through a file. */
static void test_display_with_map(void **state)
{
    size_t n = n_elems();
    uint64_t *in = inputs(n), *out = calloc(n, 8);
    FILE *f = tmpfile();
    fp__pbar_t b;
    fp__pbar_init(&b, f, "map", FP__PBAR_AUTO);
    fp_call_params_t cp = {.on_progress = fp__pbar_progress,
                           .progress_arg = &b, .progress_interval = 0.02};
    fp_error_t err;
    assert_ok(fp_map(pool_of(state), "pg.sleep", in, 8, n, out, 8, &cp, &err));
    fp__pbar_end(&b, NULL);
    char *s = read_all(f);
    char want[64];
    snprintf(want, sizeof(want), "map: %zu/%zu (100%%) done in ", n, n);
    const char *last = strstr(s, want);
    if (last == NULL || strchr(last, '\n')[1] != '\0')
        fail_msg("no final line '%s...' at the end of:\n%s", want, s);
    free(s);
    fclose(f);
    free(in);
    free(out);
}

static int setup_pool(void **state)
{
    static fp_test_env_t env;
    fp_test_env_open(&env, EXECUTORS, FP_PIN_NONE, NULL);
    *state = &env;
    return 0;
}

static int teardown_pool(void **state)
{
    fp_test_env_close(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_map_async_callback),
        cmocka_unit_test(test_starmap),
        cmocka_unit_test(test_imap),
        cmocka_unit_test(test_imap_unordered),
        cmocka_unit_test(test_imap_destroyed_early),
        cmocka_unit_test(test_map_fails),
        cmocka_unit_test(test_map_canceled),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_default_interval),
        cmocka_unit_test(test_no_callback),
        cmocka_unit_test(test_display_plain),
        cmocka_unit_test(test_display_with_map),
    };
    return cmocka_run_group_tests(tests, setup_pool, teardown_pool);
}
