/*
 * The distributed pool, end to end: this program is its own node (started
 * again as `test_dist --node` with FP_NODE_LISTEN, so every task below is
 * there), and the tests start, slow down and kill nodes as they need.
 *
 * Where the nodes live: on this host over the transports FP_TRANSPORT
 * allows (shm, tcp), or, with FP_TEST_NODE_NS="ns1:ip1,ns2:ip2", in network
 * namespaces (the test itself then runs in the client's namespace).
 */
#include "fp_test.h"
#include "fp_test_node.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (1u << 20)

/* ---- tasks (on the nodes) ------------------------------------------------ */

static uint64_t get64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t sq(uint64_t x) { return x * x + 1; }

static fp_status_t d_sq(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{
    (void)t;
    (void)n;
    uint64_t y = sq(get64(a[0].data));
    memcpy(o->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.sq", d_sq)

static fp_status_t d_add(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{
    (void)t;
    if (n != 2 || a[1].size != 4)
        return fp_task_error(t, FP_ERR_TASK, "want (u64, u32)");
    uint32_t b;
    memcpy(&b, a[1].data, 4);
    uint64_t y = get64(a[0].data) + b;
    memcpy(o->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.add", d_add)

static fp_status_t d_fail(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{
    (void)n;
    uint64_t x = get64(a[0].data);
    if (x % 1000 == 777)
        return fp_task_error(t, FP_ERR_INVALID, "bad %llu", (unsigned long long)x);
    uint64_t y = sq(x);
    memcpy(o->data, &y, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.fail", d_fail)

/* sleeps x microseconds (x FP_TEST_SLOW); returns this process's pid and
 * the executor's index */
static fp_status_t d_sleep(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                           fp_buf_t *o)
{
    (void)n;
    static atomic_int slow_cached = -1;
    int slow = atomic_load(&slow_cached);
    if (slow < 0) {
        const char *s = getenv("FP_TEST_SLOW");
        slow = s != NULL ? atoi(s) : 1;
        if (slow < 1)
            slow = 1;
        atomic_store(&slow_cached, slow);
    }
    uint64_t us = get64(a[0].data) * (uint64_t)slow;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    if (o->size >= 16) {
        uint64_t r[2] = {(uint64_t)getpid(), fp_task_executor(t)};
        memcpy(o->data, r, 16);
    }
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.sleep", d_sleep)

/* BIG bytes in -> BIG bytes out: each byte + 1 */
static fp_status_t d_big(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{
    (void)n;
    if (a[0].size != BIG || o->size != BIG)
        return fp_task_error(t, FP_ERR_TASK, "want %u bytes", BIG);
    const unsigned char *in = a[0].data;
    unsigned char *out = o->data;
    for (size_t i = 0; i < BIG; i++)
        out[i] = (unsigned char)(in[i] + 1);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.big", d_big)

/* apply: the sum of every argument's bytes, in a result of args[0] bytes'
 * size when args[0] is a size, else 8 */
static fp_status_t d_apply(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                           fp_buf_t *o)
{
    (void)o;
    uint64_t sum = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < a[k].size; i++)
            sum += ((const unsigned char *)a[k].data)[i];
    size_t size = n > 0 && a[0].size == 8 ? (size_t)get64(a[0].data) : 8;
    if (size < 8)
        size = 8;
    unsigned char *r = fp_task_output(t, size);
    if (r == NULL)
        return FP_ERR_NOMEM;
    memset(r, 0x5C, size);
    memcpy(r, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.apply", d_apply)

/* a nested map on the node this runs on: sum of sq(x..x+15) */
static fp_status_t d_nested(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)n;
    uint64_t x = get64(a[0].data), in[16], out[16], sum = 0;
    for (int k = 0; k < 16; k++)
        in[k] = x + (uint64_t)k;
    fp_error_t err;
    fp_status_t st = fp_map(fp_task_pool(t), "d.sq", in, 8, 16, out, 8, NULL, &err);
    if (st != FP_OK)
        return fp_task_error(t, st, "nested map: %s", err.message);
    for (int k = 0; k < 16; k++)
        sum += out[k];
    memcpy(o->data, &sum, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.nested", d_nested)

/* a worker class: the init data's byte sum, and the updates' sum */
typedef struct wstate {
    uint64_t init_sum, updates;
} wstate_t;

static fp_status_t wc_init(fp_task_t *t, void *state, fp_cbuf_t init)
{
    wstate_t *s = state;
    if (init.size == 4 && memcmp(init.data, "fail", 4) == 0)
        return fp_task_error(t, FP_ERR_INVALID, "init refused on executor %u",
                             fp_task_executor(t));
    for (size_t i = 0; i < init.size; i++)
        s->init_sum += ((const unsigned char *)init.data)[i];
    return FP_OK;
}

static fp_status_t wc_update(fp_task_t *t, void *state, fp_cbuf_t u)
{
    (void)t;
    wstate_t *s = state;
    for (size_t i = 0; i < u.size; i++)
        s->updates += ((const unsigned char *)u.data)[i];
    return FP_OK;
}

static fp_worker_class_t g_wc = {"d.wc", sizeof(wstate_t), wc_init, wc_update,
                                 NULL, NULL};
FP_WORKER_CLASS_REGISTER(g_wc)

static fp_status_t d_state(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                           fp_buf_t *o)
{
    (void)a;
    (void)n;
    wstate_t *s = fp_task_state(t);
    if (s == NULL)
        return fp_task_error(t, FP_ERR_STATE, "no worker state");
    uint64_t r[2] = {s->init_sum, s->updates};
    memcpy(o->data, r, 16);
    return FP_OK;
}
FP_TASK_REGISTER_AS("d.state", d_state)

/* ---- nodes --------------------------------------------------------------- */

typedef struct node {
    pid_t pid;
    char addr[96];
} node_t;

static char g_self[4096];
static const char *g_fake;

/* Where the i-th node goes (fp_test_node.h). */
static void node_place(int i, char *ns, size_t nscap, char *ip, size_t ipcap)
{
    fp_test_node_place(i, ns, nscap, ip, ipcap);
}

/* Start a node: this program (or fake_node MODE) as placement i says,
 * with `executors` and extra "K=V" environment (may be NULL). */
static void node_start_as(node_t *n, int i, unsigned executors,
                          const char *env, const char *fake_mode)
{
    char ns[64], ip[64];
    node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a node must not outlive the test (it holds ctest's stderr) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char listen[96], ex[32];
        snprintf(listen, sizeof(listen), "%s:0", ip);
        snprintf(ex, sizeof(ex), "%u", executors);
        setenv("FP_NODE_LISTEN", listen, 1);
        setenv("FP_EXECUTORS", ex, 1);
        setenv("FP_LOG_LEVEL", "error", 1);
        if (env != NULL) {
            char kv[256];
            snprintf(kv, sizeof(kv), "%s", env);
            char *eq = strchr(kv, '=');
            if (eq != NULL) {
                *eq = '\0';
                setenv(kv, eq + 1, 1);
            }
        }
        const char *prog = fake_mode != NULL ? g_fake : g_self;
        if (ns[0] != '\0') {
            if (fake_mode != NULL)
                execlp("ip", "ip", "netns", "exec", ns, prog, fake_mode, ip,
                       (char *)NULL);
            else
                execlp("ip", "ip", "netns", "exec", ns, prog, "--node",
                       (char *)NULL);
        } else if (fake_mode != NULL) {
            execl(prog, prog, fake_mode, ip, (char *)NULL);
        } else {
            execl(prog, prog, "--node", (char *)NULL);
        }
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "LISTENING %95s", n->addr) != 1)
        fail_msg("node did not start (got '%s')", line);
    fclose(f);
    n->pid = pid;
}

static void node_start(node_t *n, int i, unsigned executors, const char *env)
{
    node_start_as(n, i, executors, env, NULL);
}

static void node_stop(node_t *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGTERM);
    int st;
    waitpid(n->pid, &st, 0);
    n->pid = 0;
}

static void node_kill(node_t *n)
{
    kill(n->pid, SIGKILL);
    int st;
    waitpid(n->pid, &st, 0);
    n->pid = 0;
}

/* resident memory of a process, in KiB (VmRSS of /proc/PID/status) */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- fixtures ------------------------------------------------------------- */

static fp_context_t *g_ctx;
static node_t g_nodes[2];

static fp_pool_t *pool_on(node_t *nodes, size_t k, const fp_pool_params_t *extra,
                          fp_error_t *err)
{
    const char *list[8];
    for (size_t i = 0; i < k; i++)
        list[i] = nodes[i].addr;
    fp_pool_params_t p = extra != NULL ? *extra : (fp_pool_params_t){0};
    p.nodes = list;
    p.nnodes = k;
    if (p.connect_timeout == 0)
        p.connect_timeout = 10;
    fp_pool_t *pool = NULL;
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, err);
    if (st != FP_OK)
        return NULL;
    return pool;
}

static int setup(void **state)
{
    (void)state;
    if (fp_context_create(NULL, &g_ctx) != FP_OK)
        return -1;
    node_start(&g_nodes[0], 0, 2, NULL);
    node_start(&g_nodes[1], 1, 2, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    node_stop(&g_nodes[0]);
    node_stop(&g_nodes[1]);
    fp_context_destroy(g_ctx);
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_calls(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_t *pool = pool_on(g_nodes, 2, NULL, &err);
    if (pool == NULL)
        fail_msg("pool: %s", err.message);
    assert_int_equal(fp_pool_size(pool), 4);
    fp_node_info_t info[4];
    size_t k = 0;
    assert_ok(fp_pool_nodes(pool, info, 4, &k));
    assert_int_equal(k, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(info[i].state, FP_NODE_UP);
        assert_int_equal(info[i].executors, 2);
        assert_true(info[i].host[0] != '\0');
        assert_true(info[i].cores >= 1);
        assert_true(strstr(info[i].transports, "am=") != NULL);
    }

    /* map and starmap */
    const size_t n = 200000;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    uint32_t *b = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        in[i] = i;
        b[i] = (uint32_t)(i * 3);
    }
    memset(out, 0, n * 8);
    assert_ok(fp_map(pool, "d.sq", in, 8, n, out, 8, NULL, &err));
    for (size_t i = 0; i < n; i++)
        if (out[i] != sq(i))
            fail_msg("map: out[%zu] = %llu", i, (unsigned long long)out[i]);
    fp_array_t arrays[2] = {{in, 8}, {b, 4}};
    assert_ok(fp_starmap(pool, "d.add", arrays, 2, n, out, 8, NULL, &err));
    for (size_t i = 0; i < n; i++)
        if (out[i] != i + i * 3)
            fail_msg("starmap: out[%zu]", i);

    /* async with a callback */
    fp_future_t *f = NULL;
    assert_ok(fp_map_async(pool, "d.sq", in, 8, 1000, out, 8, NULL, &f));
    assert_ok(fp_future_get(f, 30, &err));
    fp_future_release(f);
    assert_int_equal(out[999], sq(999));

    /* apply, small and async */
    uint64_t want = 8;
    fp_cbuf_t args[2] = {{&want, 8}, {"abc", 3}};
    fp_buf_t res = {NULL, 0};
    assert_ok(fp_apply(pool, "d.apply", args, 2, &res, &err));
    assert_int_equal(res.size, 8);
    assert_int_equal(get64(res.data), 8 + 'a' + 'b' + 'c');
    free(res.data);
    assert_ok(fp_apply_async(pool, "d.apply", args, 2, NULL, &f));
    assert_ok(fp_future_get(f, 30, &err));
    fp_cbuf_t r2;
    assert_ok(fp_future_result(f, &r2));
    assert_int_equal(get64(r2.data), 8 + 'a' + 'b' + 'c');
    fp_future_release(f);

    /* imap and imap_unordered: every index once, right value */
    for (int ordered = 0; ordered < 2; ordered++) {
        fp_iter_t *it = NULL;
        const size_t m = 20000;
        if (ordered)
            assert_ok(fp_imap(pool, "d.sq", in, 8, m, 8, NULL, &it));
        else
            assert_ok(fp_imap_unordered(pool, "d.sq", in, 8, m, 8, NULL, &it));
        unsigned char *seen = calloc(m, 1);
        size_t got = 0, idx;
        uint64_t v;
        fp_status_t st;
        while ((st = fp_iter_next(it, &v, &idx, 30, &err)) == FP_OK) {
            assert_true(idx < m);
            assert_false(seen[idx]);
            seen[idx] = 1;
            assert_int_equal(v, sq(idx));
            if (ordered)
                assert_int_equal(idx, got);
            got++;
        }
        assert_status(st, FP_END);
        assert_int_equal(got, m);
        fp_iter_destroy(it);
        free(seen);
    }

    /* nested calls run on the node */
    assert_ok(fp_map(pool, "d.nested", in, 8, 100, out, 8, NULL, &err));
    for (size_t i = 0; i < 100; i++) {
        uint64_t s = 0;
        for (int k2 = 0; k2 < 16; k2++)
            s += sq(i + (uint64_t)k2);
        assert_int_equal(out[i], s);
    }

    /* executor indices: distinct places in the whole pool */
    uint64_t us[64], pe[64 * 2];
    for (int i = 0; i < 64; i++)
        us[i] = 2000;
    assert_ok(fp_map(pool, "d.sleep", us, 8, 64, pe, 16, NULL, &err));
    for (int i = 0; i < 64; i++)
        assert_true(pe[2 * i + 1] < 4);
    assert_ok(fp_pool_destroy(pool));
    free(in);
    free(out);
    free(b);
}

static void test_task_errors(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_t *pool = pool_on(g_nodes, 2, NULL, &err);
    assert_non_null(pool);
    const size_t n = 5000;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    memset(&err, 0, sizeof(err));
    fp_call_params_t cp = {.chunksize = 0};
    assert_status(fp_map(pool, "d.fail", in, 8, 1000, out, 8, &cp, &err),
                  FP_ERR_INVALID);
    assert_status(err.status, FP_ERR_INVALID);
    assert_int_equal(err.index, 777);
    assert_string_equal(err.message, "bad 777");

    /* imap: only the failing elements fail */
    fp_iter_t *it = NULL;
    assert_ok(fp_imap(pool, "d.fail", in, 8, n, 8, NULL, &it));
    size_t idx, fails = 0;
    uint64_t v;
    fp_status_t st;
    while ((st = fp_iter_next(it, &v, &idx, 30, &err)) != FP_END) {
        if (idx % 1000 == 777) {
            assert_status(st, FP_ERR_INVALID);
            char want[32];
            snprintf(want, sizeof(want), "bad %zu", idx);
            assert_string_equal(err.message, want);
            fails++;
        } else {
            assert_ok(st);
            assert_int_equal(v, sq(idx));
        }
    }
    assert_int_equal(fails, n / 1000);
    fp_iter_destroy(it);

    /* a task no node knows */
    memset(&err, 0, sizeof(err));
    assert_status(fp_map(pool, "d.nope", in, 8, 10, out, 8, NULL, &err),
                  FP_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "d.nope"));
    assert_true(strstr(err.message, g_nodes[0].addr) != NULL ||
                strstr(err.message, g_nodes[1].addr) != NULL);
    fp_buf_t res;
    assert_status(fp_apply(pool, "d.nope", NULL, 0, &res, &err),
                  FP_ERR_NOT_FOUND);
    assert_ok(fp_pool_destroy(pool));
    free(in);
    free(out);
}

static void test_zero_copy(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_t *pool = pool_on(g_nodes, 2, NULL, &err);
    assert_non_null(pool);
    fp_pool_stats_t s0, s1;
    assert_ok(fp_pool_stats(pool, &s0));
    const size_t n = 32;
    unsigned char *in = malloc(n * BIG), *out = malloc(n * BIG);
    for (size_t i = 0; i < n * BIG; i++)
        in[i] = (unsigned char)(i * 7 + (i >> 20));
    memset(out, 0, n * BIG);
    assert_ok(fp_map(pool, "d.big", in, BIG, n, out, BIG, NULL, &err));
    for (size_t i = 0; i < n * BIG; i++)
        if (out[i] != (unsigned char)(in[i] + 1))
            fail_msg("byte %zu wrong", i);
    /* apply: a 4 MiB argument and a 4 MiB result */
    uint64_t want = 4u << 20;
    fp_cbuf_t args[2] = {{&want, 8}, {in, 4u << 20}};
    fp_buf_t res;
    assert_ok(fp_apply(pool, "d.apply", args, 2, &res, &err));
    assert_int_equal(res.size, 4u << 20);
    assert_int_equal(((unsigned char *)res.data)[res.size - 1], 0x5C);
    free(res.data);
    assert_ok(fp_pool_stats(pool, &s1));
    printf("zero-copy: rndv sent %llu, received %llu, bytes copied %llu, "
           "of them in large messages %llu (threshold %llu)\n",
           (unsigned long long)(s1.rndv_sent - s0.rndv_sent),
           (unsigned long long)(s1.rndv_received - s0.rndv_received),
           (unsigned long long)(s1.bytes_copied - s0.bytes_copied),
           (unsigned long long)s1.large_bytes_copied,
           (unsigned long long)s1.rndv_threshold);
    /* arguments went out and results came back by rendezvous (a record
     * carries several elements' bytes in one message) */
    assert_true(s1.rndv_sent - s0.rndv_sent >= 2);
    assert_true(s1.rndv_received - s0.rndv_received >= 2);
    assert_true(s1.bytes_sent - s0.bytes_sent >= n * BIG);
    assert_true(s1.bytes_received - s0.bytes_received >= n * BIG);
    assert_int_equal(s1.large_bytes_copied, 0);
    /* what was copied is small stuff only: far below the bytes moved */
    assert_true(s1.bytes_copied - s0.bytes_copied < (uint64_t)BIG);
    assert_ok(fp_pool_destroy(pool));
    free(in);
    free(out);
}

static void test_cancel(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_t *pool = pool_on(g_nodes, 2, NULL, &err);
    assert_non_null(pool);
    const size_t n = 20000;
    uint64_t *us = malloc(n * 8), *out = malloc(n * 16);
    for (size_t i = 0; i < n; i++)
        us[i] = 1000; /* 1 ms each: 5 s over 4 executors */
    fp_future_t *f = NULL;
    assert_ok(fp_map_async(pool, "d.sleep", us, 8, n, out, 16, NULL, &f));
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    double t0 = fp_test_now();
    assert_ok(fp_future_cancel(f));
    assert_status(fp_future_get(f, 30, &err), FP_ERR_CANCELED);
    double dt = fp_test_now() - t0;
    printf("cancel: completed %.3f s after the cancel\n", dt);
    fp_future_release(f);
    fp_node_info_t info[2];
    size_t k;
    assert_ok(fp_pool_nodes(pool, info, 2, &k));
    uint64_t done = info[0].elements + info[1].elements;
    printf("cancel: %llu of %zu elements ran\n", (unsigned long long)done, n);
    assert_true(done < n / 2);
    /* the pool goes on */
    assert_ok(fp_map(pool, "d.sleep", us, 8, 8, out, 16, NULL, &err));
    assert_ok(fp_pool_destroy(pool));
    free(us);
    free(out);
}

static void test_worker_class(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_params_t p = {.worker_class = "d.wc", .init_data = {"abcd", 4}};
    fp_pool_t *pool = pool_on(g_nodes, 2, &p, &err);
    if (pool == NULL)
        fail_msg("pool: %s", err.message);
    uint64_t in[64], out[128];
    memset(in, 0, sizeof(in));
    assert_ok(fp_map(pool, "d.state", in, 8, 64, out, 16, NULL, &err));
    for (int i = 0; i < 64; i++) {
        assert_int_equal(out[2 * i], 'a' + 'b' + 'c' + 'd');
        assert_int_equal(out[2 * i + 1], 0);
    }
    /* a small and a large update reach every executor once */
    unsigned char u = 5;
    assert_ok(fp_pool_update(pool, (fp_cbuf_t){&u, 1}, &err));
    size_t bigsz = 256u << 10;
    unsigned char *big = malloc(bigsz);
    memset(big, 0, bigsz);
    big[0] = 2;
    big[bigsz - 1] = 1;
    assert_ok(fp_pool_update(pool, (fp_cbuf_t){big, bigsz}, &err));
    free(big);
    assert_ok(fp_map(pool, "d.state", in, 8, 64, out, 16, NULL, &err));
    for (int i = 0; i < 64; i++)
        assert_int_equal(out[2 * i + 1], 8);
    assert_ok(fp_pool_destroy(pool));

    /* two pools over the same nodes, each with its own init data */
    fp_pool_params_t p2 = {.worker_class = "d.wc", .init_data = {"zz", 2}};
    fp_pool_t *a = pool_on(g_nodes, 2, &p, &err);
    fp_pool_t *b = pool_on(g_nodes, 2, &p2, &err);
    assert_non_null(a);
    assert_non_null(b);
    uint64_t oa[32], ob[32];
    fp_future_t *fa, *fb;
    assert_ok(fp_map_async(a, "d.state", in, 8, 16, oa, 16, NULL, &fa));
    assert_ok(fp_map_async(b, "d.state", in, 8, 16, ob, 16, NULL, &fb));
    assert_ok(fp_future_get(fa, 30, &err));
    assert_ok(fp_future_get(fb, 30, &err));
    fp_future_release(fa);
    fp_future_release(fb);
    assert_int_equal(oa[0], 'a' + 'b' + 'c' + 'd');
    assert_int_equal(ob[0], 'z' + 'z');
    assert_ok(fp_pool_destroy(a));
    assert_ok(fp_pool_destroy(b));

    /* an init error fails the creation with the node's message */
    fp_pool_params_t bad = {.worker_class = "d.wc", .init_data = {"fail", 4}};
    memset(&err, 0, sizeof(err));
    assert_null(pool_on(g_nodes, 2, &bad, &err));
    printf("init error: %s\n", err.message);
    assert_non_null(strstr(err.message, "init refused"));
    /* an unknown worker class, likewise */
    fp_pool_params_t none = {.worker_class = "d.nowc"};
    memset(&err, 0, sizeof(err));
    assert_null(pool_on(g_nodes, 2, &none, &err));
    printf("unknown class: %s\n", err.message);
    assert_non_null(strstr(err.message, "d.nowc"));
}

static void test_uneven(void **state)
{
    (void)state;
    node_t n[2];
    node_start(&n[0], 0, 1, NULL);
    node_start(&n[1], 1, 1, "FP_TEST_SLOW=3");
    fp_error_t err;
    fp_pool_t *pool = pool_on(n, 2, NULL, &err);
    assert_non_null(pool);
    const size_t m = 1500;
    uint64_t *us = malloc(m * 8), *out = malloc(m * 16);
    for (size_t i = 0; i < m; i++)
        us[i] = 500;
    double t0 = fp_test_now();
    assert_ok(fp_map(pool, "d.sleep", us, 8, m, out, 16, NULL, &err));
    double dt = fp_test_now() - t0;
    fp_node_info_t info[2];
    size_t k;
    assert_ok(fp_pool_nodes(pool, info, 2, &k));
    printf("uneven: fast node %llu, slow node (x3) %llu elements, %.3f s "
           "(ideal %.3f s)\n",
           (unsigned long long)info[0].elements,
           (unsigned long long)info[1].elements, dt,
           m * 500e-6 / (1 + 1.0 / 3));
    assert_int_equal(info[0].elements + info[1].elements, m);
    assert_true(info[0].elements > info[1].elements);
    assert_ok(fp_pool_destroy(pool));
    node_stop(&n[0]);
    node_stop(&n[1]);
    free(us);
    free(out);
}

static void test_create_errors(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_params_t p = {.connect_timeout = 3};
    /* nothing listening there */
    node_t gone;
    node_start(&gone, 0, 1, NULL);
    node_kill(&gone);
    memset(&err, 0, sizeof(err));
    double t0 = fp_test_now();
    assert_null(pool_on(&gone, 1, &p, &err));
    printf("no node: %s (%.2f s)\n", err.message, fp_test_now() - t0);
    assert_non_null(strstr(err.message, gone.addr));
    assert_true(fp_test_now() - t0 < 10);

    /* a bad address */
    const char *bad[] = {"nohost.invalid:1", "127.0.0.1", "127.0.0.1:99999"};
    for (int i = 0; i < 3; i++) {
        fp_pool_params_t q = {.nodes = &bad[i], .nnodes = 1};
        fp_pool_t *pool;
        memset(&err, 0, sizeof(err));
        assert_true(fp_pool_create(g_ctx, &q, &pool, &err) != FP_OK);
        printf("bad address: %s\n", err.message);
        assert_non_null(strstr(err.message, bad[i]));
    }

    /* another secret */
    char dir[] = "/tmp/fpdistXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], env[200];
    snprintf(path, sizeof(path), "%s/other", dir);
    FILE *f = fopen(path, "w");
    fputs("a completely different secret, 32+ bytes long", f);
    fclose(f);
    chmod(path, 0600);
    snprintf(env, sizeof(env), "FP_SECRET_FILE=%s", path);
    node_t other;
    node_start(&other, 0, 1, env);
    memset(&err, 0, sizeof(err));
    t0 = fp_test_now();
    assert_null(pool_on(&other, 1, &p, &err));
    printf("other secret: %s (%.2f s)\n", err.message, fp_test_now() - t0);
    assert_non_null(strstr(err.message, other.addr));
    node_stop(&other);
    unlink(path);
    rmdir(dir);

    /* another protocol version */
    node_t ver;
    node_start_as(&ver, 0, 1, NULL, "version");
    memset(&err, 0, sizeof(err));
    assert_null(pool_on(&ver, 1, &p, &err));
    printf("version: %s\n", err.message);
    assert_non_null(strstr(err.message, ver.addr));
    /* the node's ERROR ("protocol version mismatch ...") races its close:
     * the cause reads either way, but always names the node */
    node_stop(&ver);

    /* a node that never opens the pool: the timeout */
    node_t sil;
    node_start_as(&sil, 0, 1, NULL, "silent");
    memset(&err, 0, sizeof(err));
    t0 = fp_test_now();
    assert_null(pool_on(&sil, 1, &p, &err));
    double dt = fp_test_now() - t0;
    printf("silent: %s (%.2f s)\n", err.message, dt);
    assert_non_null(strstr(err.message, sil.addr));
    assert_true(dt >= 2.5 && dt < 10);
    node_stop(&sil);

    /* fp_pool_add_node reports the same way and changes nothing */
    fp_pool_t *pool = pool_on(g_nodes, 1, NULL, &err);
    assert_non_null(pool);
    unsigned size = fp_pool_size(pool);
    memset(&err, 0, sizeof(err));
    assert_true(fp_pool_add_node(pool, gone.addr, &err) != FP_OK);
    assert_non_null(strstr(err.message, gone.addr));
    assert_int_equal(fp_pool_size(pool), size);
    assert_ok(fp_pool_add_node(pool, g_nodes[1].addr, &err));
    assert_int_equal(fp_pool_size(pool), size + 2);
    uint64_t us[40], out[80];
    for (int i = 0; i < 40; i++)
        us[i] = 3000;
    assert_ok(fp_map(pool, "d.sleep", us, 8, 40, out, 16, NULL, &err));
    fp_node_info_t info[4];
    size_t k;
    assert_ok(fp_pool_nodes(pool, info, 4, &k));
    size_t up = 0;
    for (size_t i = 0; i < k; i++)
        if (info[i].state == FP_NODE_UP) {
            up++;
            assert_true(info[i].elements > 0);
        }
    assert_int_equal(up, 2);
    assert_ok(fp_pool_destroy(pool));
}

static void test_bad_nodes(void **state)
{
    (void)state;
    const char *modes[] = {"bad-id", "bad-size"};
    for (int i = 0; i < 2; i++) {
        node_t bad;
        node_start_as(&bad, 0, 1, NULL, modes[i]);
        fp_error_t err;
        fp_pool_t *pool = pool_on(&bad, 1, NULL, &err);
        if (pool == NULL)
            fail_msg("%s: %s", modes[i], err.message);
        uint64_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
        memset(out, 0x11, sizeof(out));
        memset(&err, 0, sizeof(err));
        double t0 = fp_test_now();
        assert_status(fp_map(pool, "d.sq", in, 8, 8, out, 8, NULL, &err),
                      FP_ERR_PEER);
        printf("%s: %s (%.2f s)\n", modes[i], err.message, fp_test_now() - t0);
        for (int k = 0; k < 8; k++)
            assert_int_equal(out[k], 0x1111111111111111ull); /* nothing wrong delivered */
        fp_node_info_t info;
        size_t k;
        assert_ok(fp_pool_nodes(pool, &info, 1, &k));
        assert_int_equal(info.state, FP_NODE_LOST);
        assert_ok(fp_pool_destroy(pool));
        node_stop(&bad);
    }
}

static void test_node_lost(void **state)
{
    (void)state;
    node_t n;
    node_start(&n, 0, 2, NULL);
    fp_error_t err;
    fp_pool_t *pool = pool_on(&n, 1, NULL, &err);
    assert_non_null(pool);
    const size_t m = 2000;
    uint64_t *us = malloc(m * 8), *out = malloc(m * 16);
    for (size_t i = 0; i < m; i++)
        us[i] = 2000;
    fp_future_t *f;
    assert_ok(fp_map_async(pool, "d.sleep", us, 8, m, out, 16, NULL, &f));
    fp_iter_t *it;
    assert_ok(fp_imap_unordered(pool, "d.sleep", us, 8, m, 16, NULL, &it));
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    node_kill(&n);
    double t0 = fp_test_now();
    assert_status(fp_future_get(f, 30, &err), FP_ERR_PEER);
    printf("lost: %s (%.2f s after the kill)\n", err.message, fp_test_now() - t0);
    assert_non_null(strstr(err.message, n.addr));
    fp_future_release(f);
    size_t idx, peer = 0, ok = 0;
    fp_status_t st;
    while ((st = fp_iter_next(it, out, &idx, 30, &err)) != FP_END) {
        if (st == FP_OK)
            ok++;
        else if (st == FP_ERR_PEER)
            peer++;
        else
            fail_msg("imap after a lost node: %s", fp_status_string(st));
    }
    printf("lost: imap %zu ok, %zu failed with FP_ERR_PEER\n", ok, peer);
    assert_int_equal(ok + peer, m);
    assert_true(peer > 0);
    fp_iter_destroy(it);
    /* no executors left: calls fail at once, never hang */
    assert_status(fp_map(pool, "d.sq", us, 8, 4, out, 8, NULL, &err), FP_ERR_PEER);
    assert_ok(fp_pool_destroy(pool));
    free(us);
    free(out);
}

static void test_imap_memory(void **state)
{
    (void)state;
    node_t n[2];
    node_start(&n[0], 0, 1, NULL);
    node_start(&n[1], 1, 1, NULL);
    fp_error_t err;
    fp_pool_t *pool = pool_on(n, 2, NULL, &err);
    assert_non_null(pool);
    const size_t m = FP_TEST_SANITIZED ? 128 : 384; /* MiB of results */
    unsigned char *in = calloc(m, BIG);
    unsigned char *one = malloc(BIG);
    long c0 = rss_kib(getpid()), n0[2] = {rss_kib(n[0].pid), rss_kib(n[1].pid)};
    fp_iter_t *it;
    assert_ok(fp_imap_unordered(pool, "d.big", in, BIG, m, BIG, NULL, &it));
    size_t got = 0, idx;
    long cpeak = 0, npeak[2] = {0, 0};
    while (fp_iter_next(it, one, &idx, 60, &err) == FP_OK) {
        assert_int_equal(one[0], 1);
        if (++got % 16 == 0) {
            long c = rss_kib(getpid());
            cpeak = c > cpeak ? c : cpeak;
            for (int k = 0; k < 2; k++) {
                long r = rss_kib(n[k].pid);
                npeak[k] = r > npeak[k] ? r : npeak[k];
            }
        }
    }
    assert_int_equal(got, m);
    fp_iter_destroy(it);
    printf("imap memory: %zu MiB of results; client +%ld MiB, nodes +%ld and "
           "+%ld MiB (peak resident, sampled)\n",
           m, (cpeak - c0) / 1024, (npeak[0] - n0[0]) / 1024,
           (npeak[1] - n0[1]) / 1024);
    if (FP_TEST_SANITIZED) {
        /* ASan keeps freed blocks in quarantine (256 MiB by default) and
         * TSan shadows memory: resident size says nothing about the bound */
        printf("imap memory: not checked under a sanitizer\n");
    } else {
        assert_true(cpeak - c0 < 64 * 1024);
        assert_true(npeak[0] - n0[0] < 64 * 1024);
        assert_true(npeak[1] - n0[1] < 64 * 1024);
    }
    assert_ok(fp_pool_destroy(pool));
    node_stop(&n[0]);
    node_stop(&n[1]);
    free(in);
    free(one);
}

static void test_local_and_nodes(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_params_t p = {.local = FP_LOCAL_YES, .local_executors = 1};
    fp_pool_t *pool = pool_on(g_nodes, 1, &p, &err);
    if (pool == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(fp_pool_size(pool), 3);
    const size_t n = 100000;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    assert_ok(fp_map(pool, "d.sq", in, 8, n, out, 8, NULL, &err));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], sq(i));
    fp_node_info_t info[2];
    size_t k;
    assert_ok(fp_pool_nodes(pool, info, 2, &k));
    assert_int_equal(k, 2);
    assert_string_equal(info[0].address, "local");
    assert_int_equal(info[0].elements + info[1].elements, n);
    assert_ok(fp_pool_destroy(pool));
    free(in);
    free(out);
}

/* fastpool-worker serves tasks from a module it loaded, refuses a module
 * that does not load, and stops cleanly on SIGTERM */
static void test_worker_module(void **state)
{
    (void)state;
    const char *worker = getenv("FP_TEST_WORKER"), *module = getenv("FP_TEST_MODULE");
    if (worker == NULL || module == NULL) {
        printf("SKIP: FP_TEST_WORKER / FP_TEST_MODULE not set\n");
        skip();
    }
    char ns[64], ip[64];
    node_place(0, ns, sizeof(ns), ip, sizeof(ip));
    char listen[96];
    snprintf(listen, sizeof(listen), "%s:0", ip);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (ns[0] != '\0')
            execlp("ip", "ip", "netns", "exec", ns, worker, "--listen", listen,
                   "--executors", "2", "--module", module, (char *)NULL);
        else
            execl(worker, worker, "--listen", listen, "--executors", "2",
                  "--module", module, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    node_t n = {pid, ""};
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "LISTENING %95s", n.addr) != 1)
        fail_msg("worker did not start (first line '%s')", line);
    fp_error_t err;
    fp_pool_t *pool = pool_on(&n, 1, NULL, &err);
    if (pool == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(fp_pool_size(pool), 2);
    uint64_t in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = (uint64_t)i;
    assert_ok(fp_map(pool, "m.triple", in, 8, 100, out, 8, NULL, &err));
    for (int i = 0; i < 100; i++)
        assert_int_equal(out[i], 3 * (uint64_t)i);
    /* the worker is not this program: its tasks are the module's only */
    assert_status(fp_map(pool, "d.sq", in, 8, 4, out, 8, NULL, &err),
                  FP_ERR_NOT_FOUND);
    assert_ok(fp_pool_destroy(pool));
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    fclose(f);

    /* a module that does not load: a clear error, exit status 1 */
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(worker, worker, "--listen", "127.0.0.1:0", "--module",
              "/nonexistent/mod.so", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--node") == 0) {
        fp_context_t *ctx;
        if (fp_context_create(NULL, &ctx) != FP_OK)
            return 1;
        int rc = fp_node_serve(ctx, NULL);
        fp_context_destroy(ctx);
        return rc;
    }
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
    if (l <= 0)
        return 1;
    g_self[l] = '\0';
    g_fake = getenv("FP_TEST_FAKE_NODE");
    if (g_fake == NULL) {
        fprintf(stderr, "FP_TEST_FAKE_NODE must name the fake_node program\n");
        return 1;
    }
    fp_test_secret_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_task_errors),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_worker_class),
        cmocka_unit_test(test_uneven),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_bad_nodes),
        cmocka_unit_test(test_node_lost),
        cmocka_unit_test(test_imap_memory),
        cmocka_unit_test(test_local_and_nodes),
        cmocka_unit_test(test_worker_module),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
