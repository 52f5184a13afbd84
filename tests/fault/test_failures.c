/*
 * Node failures (label `fault`): nodes killed (SIGKILL) in the middle of
 * map, starmap, imap, imap_unordered and apply; a node hung (SIGSTOP) past
 * its deadline and what happens when it wakes; a poison task that kills
 * every node it runs on; a node added in the middle of a map; stragglers
 * copied; queued work waiting for a node (node_wait); the membership
 * events and counts.
 *
 * The nodes are this program started with --node, in network namespaces
 * when FP_TEST_NODE_NS="ns1:ip1,ns2:ip2,..." says so (in_netns.sh), on
 * loopback otherwise.  Results are checked element by element: each
 * element's value is a hash of its index, so a lost, duplicated or
 * misplaced result shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fp_test.h"
#include "fp_test_node.h"

/* ---- tasks (they run on the nodes) ------------------------------------ */

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

typedef struct elem {
    uint64_t i;
    uint32_t us; /* how long the task takes */
    uint32_t poison; /* 1: abort() on a node */
} elem_t;

static unsigned slow_factor(void)
{
    static atomic_int f = -1; /* executors ask at once */
    int v = atomic_load_explicit(&f, memory_order_relaxed);
    if (v < 0) {
        const char *s = getenv("FP_TEST_SLOW");
        v = s != NULL && atoi(s) > 0 ? atoi(s) : 1;
        atomic_store_explicit(&f, v, memory_order_relaxed);
    }
    return (unsigned)v;
}

static void spin_us(double us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        if ((b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3 >= us)
            return;
    }
}

static fp_status_t f_val(fp_task_t *t, const fp_cbuf_t *a, size_t n, fp_buf_t *o)
{
    (void)t;
    (void)n;
    elem_t e;
    memcpy(&e, a[0].data, sizeof(e));
    if (e.poison && getenv("FP_TEST_ON_NODE") != NULL)
        abort();
    if (e.poison) /* in the client's own executors: do not kill the test */
        return fp_task_error(t, FP_ERR_TASK, "poison ran in the client");
    if (e.us > 0)
        spin_us((double)e.us * slow_factor());
    uint64_t v = mix(e.i);
    memcpy(o->data, &v, sizeof(v));
    return FP_OK;
}
FP_TASK_REGISTER(f_val);

/* starmap: two arrays, i and a salt */
static fp_status_t f_pair(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                          fp_buf_t *o)
{
    (void)t;
    (void)n;
    uint64_t i, salt;
    memcpy(&i, a[0].data, 8);
    memcpy(&salt, a[1].data, 8);
    spin_us(200);
    uint64_t v = mix(i ^ salt);
    memcpy(o->data, &v, 8);
    return FP_OK;
}
FP_TASK_REGISTER(f_pair);

/* apply: writes its pid to the file named by arg 0, runs arg 1 ms */
static fp_status_t f_apply(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                           fp_buf_t *o)
{
    (void)o;
    (void)n;
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)a[0].size, (const char *)a[0].data);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    uint32_t ms;
    memcpy(&ms, a[1].data, 4);
    spin_us(ms * 1e3);
    uint64_t *r = fp_task_output(t, 8);
    if (r == NULL)
        return FP_ERR_NOMEM;
    *r = mix(ms);
    return FP_OK;
}
FP_TASK_REGISTER(f_apply);

/* ---- nodes ------------------------------------------------------------------ */

typedef fp_test_node_t node_t;

static char g_self[4096];
static fp_context_t *g_ctx;

static void node_start(node_t *n, int i, unsigned executors, unsigned port,
                       const char *env)
{
    fp_test_node_start(n, g_self, i, executors, port, env);
}

static void node_reap(node_t *n, int sig) { fp_test_node_end(n, sig); }

static void nodes_stop(node_t *nodes, size_t k)
{
    for (size_t i = 0; i < k; i++)
        node_reap(&nodes[i], SIGTERM);
}

/* membership events, recorded */
typedef struct events {
    pthread_mutex_t lock;
    int joined, left, died;
    double t_died;
    char last_reason[FP_ERROR_MAX];
    char last_died[128];
} events_t;

static void on_node(void *arg, const fp_node_event_t *ev)
{
    events_t *e = arg;
    pthread_mutex_lock(&e->lock);
    if (ev->kind == FP_EVENT_JOINED)
        e->joined++;
    else if (ev->kind == FP_EVENT_LEFT)
        e->left++;
    else if (ev->kind == FP_EVENT_DIED) {
        e->died++;
        e->t_died = fp_test_now();
        snprintf(e->last_died, sizeof(e->last_died), "%s", ev->address);
    }
    snprintf(e->last_reason, sizeof(e->last_reason), "%s", ev->reason);
    pthread_mutex_unlock(&e->lock);
}

static int ev_get(events_t *e, int *field)
{
    pthread_mutex_lock(&e->lock);
    int v = *field;
    pthread_mutex_unlock(&e->lock);
    return v;
}

static void sleep_s(double s);

/* events come on the pool's own thread: wait up to 3 s for `want` */
static int ev_wait(events_t *e, int *field, int want)
{
    for (int i = 0; i < 300 && ev_get(e, field) < want; i++)
        sleep_s(0.01);
    return ev_get(e, field);
}

static fp_pool_t *pool_on(node_t *nodes, size_t k, fp_pool_params_t p,
                          events_t *ev)
{
    const char *list[8];
    for (size_t i = 0; i < k; i++)
        list[i] = nodes[i].addr;
    p.nodes = list;
    p.nnodes = k;
    if (ev != NULL) {
        p.on_node = on_node;
        p.on_node_arg = ev;
    }
    fp_pool_t *pool = NULL;
    fp_error_t err;
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
    if (st != FP_OK)
        fail_msg("pool: %s", err.message);
    return pool;
}

static elem_t *elems(size_t n, uint32_t us)
{
    elem_t *e = calloc(n, sizeof(*e));
    assert_non_null(e);
    for (size_t i = 0; i < n; i++) {
        e[i].i = i;
        e[i].us = us;
    }
    return e;
}

static void check_values(const uint64_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] != mix(i))
            fail_msg("element %zu: %llx, expected %llx", i,
                     (unsigned long long)out[i], (unsigned long long)mix(i));
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static uint64_t node_elements(fp_pool_t *pool, const char *addr)
{
    fp_node_info_t info[16];
    size_t k = 0;
    fp_pool_nodes(pool, info, 16, &k);
    uint64_t e = 0;
    for (size_t i = 0; i < k && i < 16; i++)
        if (strcmp(info[i].address, addr) == 0 && info[i].state == FP_NODE_UP)
            e += info[i].elements;
    return e;
}

static int g_callbacks;
static void count_cb(fp_future_t *f, void *u)
{
    (void)f;
    (void)u;
    __atomic_add_fetch(&g_callbacks, 1, __ATOMIC_SEQ_CST);
}

/* ---- tests ----------------------------------------------------------------- */

/* kill -9 mid-map (async, with a callback) and mid-starmap: complete,
 * right, the callback once, the event and the counters say so */
static void test_kill_map(void **state)
{
    (void)state;
    node_t nodes[3];
    for (int i = 0; i < 3; i++)
        node_start(&nodes[i], i, 2, 0, NULL);
    events_t ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fp_pool_t *pool = pool_on(nodes, 3, (fp_pool_params_t){0}, &ev);
    assert_int_equal(ev_wait(&ev, &ev.joined, 3), 3);
    assert_int_equal(fp_pool_node_count(pool), 3);
    assert_int_equal(fp_pool_size(pool), 6);

    size_t n = 6000; /* 6000 x 300 us over 6 executors: ~0.3 s */
    elem_t *in = elems(n, 300);
    uint64_t *out = calloc(n, 8);
    g_callbacks = 0;
    fp_call_params_t cp = {.callback = count_cb};
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  &cp, &f),
                     FP_OK);
    while (node_elements(pool, nodes[0].addr) < 300)
        sleep_s(0.005);
    assert_true(fp_pool_active(pool) > 0);
    double t_kill = fp_test_now();
    node_reap(&nodes[0], SIGKILL);
    fp_error_t err;
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    double t_end = fp_test_now();
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    check_values(out, n);
    assert_int_equal(__atomic_load_n(&g_callbacks, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(ev_wait(&ev, &ev.died, 1), 1);
    fp_pool_stats_t s;
    assert_int_equal(fp_pool_stats(pool, &s), FP_OK);
    assert_int_equal(s.nodes_died, 1);
    assert_true(s.records_rerun >= 1);
    assert_true(s.elements_rerun >= 1);
    assert_int_equal(s.elements_failed, 0);
    printf("# kill -9 mid-map: detected %.3f s after the kill, map ended "
           "%.3f s after it; %llu records / %llu elements rerun\n",
           ev.t_died - t_kill, t_end - t_kill,
           (unsigned long long)s.records_rerun,
           (unsigned long long)s.elements_rerun);
    assert_int_equal(fp_pool_node_count(pool), 2);
    assert_int_equal(fp_pool_size(pool), 4);

    /* starmap with the next kill */
    uint64_t *ia = malloc(n * 8), *sa = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        ia[i] = i;
        sa[i] = 77;
    }
    fp_array_t arr[2] = {{ia, 8}, {sa, 8}};
    memset(out, 0, n * 8);
    assert_int_equal(fp_starmap_async(pool, "f_pair", arr, 2, n, out, 8, NULL,
                                      &f),
                     FP_OK);
    while (node_elements(pool, nodes[1].addr) < 200)
        sleep_s(0.005);
    node_reap(&nodes[1], SIGKILL);
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    for (size_t i = 0; i < n; i++)
        assert_true(out[i] == mix(i ^ 77));
    assert_int_equal(fp_pool_node_count(pool), 1);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 3);
    free(ia);
    free(sa);
    free(in);
    free(out);
}

/* kill -9 mid-imap and mid-imap_unordered: every index exactly once */
static void test_kill_imap(void **state)
{
    (void)state;
    node_t nodes[3];
    for (int i = 0; i < 3; i++)
        node_start(&nodes[i], i, 2, 0, NULL);
    fp_pool_t *pool = pool_on(nodes, 3, (fp_pool_params_t){0}, NULL);
    size_t n = 5000;
    elem_t *in = elems(n, 300);
    for (int unordered = 0; unordered < 2; unordered++) {
        fp_iter_t *it;
        assert_int_equal(
            unordered ? fp_imap_unordered(pool, "f_val", in, sizeof(elem_t),
                                          n, 8, NULL, &it)
                      : fp_imap(pool, "f_val", in, sizeof(elem_t), n, 8, NULL,
                                &it),
            FP_OK);
        unsigned char *seen = calloc(n, 1);
        size_t got = 0, idx;
        uint64_t v;
        fp_error_t err;
        fp_status_t st;
        node_t *victim = &nodes[unordered];
        while ((st = fp_iter_next(it, &v, &idx, -1, &err)) == FP_OK) {
            assert_true(idx < n);
            if (seen[idx]++)
                fail_msg("index %zu delivered twice", idx);
            assert_true(v == mix(idx));
            if (!unordered)
                assert_int_equal(idx, got);
            if (++got == n / 4)
                node_reap(victim, SIGKILL);
        }
        assert_int_equal(st, FP_END);
        assert_int_equal(got, n);
        fp_iter_destroy(it);
        free(seen);
    }
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    assert_int_equal(s.nodes_died, 2);
    assert_true(s.elements_rerun > 0);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 3);
    free(in);
}

/* kill -9 the node running an apply: it reruns on the other */
static void test_kill_apply(void **state)
{
    (void)state;
    node_t nodes[2];
    for (int i = 0; i < 2; i++)
        node_start(&nodes[i], i, 1, 0, NULL);
    fp_pool_t *pool = pool_on(nodes, 2, (fp_pool_params_t){0}, NULL);
    char path[128];
    snprintf(path, sizeof(path), "/tmp/fp-fault-apply-%ld", (long)getpid());
    unlink(path);
    uint32_t ms = 400;
    fp_cbuf_t args[2] = {{path, strlen(path)}, {&ms, 4}};
    fp_future_t *f;
    assert_int_equal(fp_apply_async(pool, "f_apply", args, 2, NULL, &f), FP_OK);
    long pid = 0;
    for (int i = 0; i < 400 && pid == 0; i++) {
        FILE *fp = fopen(path, "r");
        if (fp != NULL) {
            if (fscanf(fp, "%ld", &pid) != 1)
                pid = 0;
            fclose(fp);
        }
        if (pid == 0)
            sleep_s(0.01);
    }
    assert_true(pid > 0);
    /* the node is `ip netns exec`'s child or the child itself */
    node_t *victim = NULL;
    for (int i = 0; i < 2; i++)
        if (nodes[i].pid == pid)
            victim = &nodes[i];
    if (victim != NULL)
        node_reap(victim, SIGKILL);
    else
        kill((pid_t)pid, SIGKILL);
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    fp_error_t err;
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_cbuf_t r;
    assert_int_equal(fp_future_result(f, &r), FP_OK);
    assert_int_equal(r.size, 8);
    uint64_t v;
    memcpy(&v, r.data, 8);
    assert_true(v == mix(ms));
    fp_future_release(f);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    assert_int_equal(s.nodes_died, 1);
    assert_int_equal(s.records_rerun, 1);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    unlink(path);
}

/* SIGSTOP: dead at its deadline, its work reruns; awake, it is a stranger
 * until added again */
static void test_hung(void **state)
{
    (void)state;
    node_t nodes[2];
    for (int i = 0; i < 2; i++)
        node_start(&nodes[i], i, 2, 0, NULL);
    events_t ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fp_pool_params_t p = {.node_deadline = 1.0};
    fp_pool_t *pool = pool_on(nodes, 2, p, &ev);
    size_t n = 4000; /* ~0.6 s on two nodes, longer on one */
    elem_t *in = elems(n, 600);
    uint64_t *out = calloc(n, 8);
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  NULL, &f),
                     FP_OK);
    while (node_elements(pool, nodes[0].addr) < 100)
        sleep_s(0.005);
    double t_stop = fp_test_now();
    kill(nodes[0].pid, SIGSTOP);
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    fp_error_t err;
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    check_values(out, n);
    assert_int_equal(ev_wait(&ev, &ev.died, 1), 1);
    pthread_mutex_lock(&ev.lock);
    assert_non_null(strstr(ev.last_reason, "silent"));
    double took = ev.t_died - t_stop;
    pthread_mutex_unlock(&ev.lock);
    printf("# SIGSTOP: declared dead %.3f s after (deadline 1.0 s)\n", took);
    assert_int_equal(fp_pool_node_count(pool), 1);

    /* awake: not taken back by itself */
    kill(nodes[0].pid, SIGCONT);
    sleep_s(1.5);
    assert_int_equal(fp_pool_node_count(pool), 1);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    printf("# woken node: %llu late messages dropped\n",
           (unsigned long long)s.late_dropped);
    /* added again, it takes work */
    assert_int_equal(fp_pool_add_node(pool, nodes[0].addr, &err), FP_OK);
    assert_int_equal(fp_pool_node_count(pool), 2);
    size_t listed = 0; /* the new entry replaced the dead one */
    assert_int_equal(fp_pool_nodes(pool, NULL, 0, &listed), FP_OK);
    assert_int_equal(listed, 2);
    assert_int_equal(ev_wait(&ev, &ev.joined, 3), 3);
    memset(out, 0, n * 8);
    for (size_t i = 0; i < n; i++)
        in[i].us = 50;
    assert_int_equal(fp_map(pool, "f_val", in, sizeof(elem_t), n, out, 8, NULL,
                            &err),
                     FP_OK);
    check_values(out, n);
    assert_true(node_elements(pool, nodes[0].addr) > 0);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    free(in);
    free(out);
}

/* a task that kills its node: after max_attempts nodes it fails alone */
static void test_poison(void **state)
{
    (void)state;
    node_t nodes[4];
    for (int i = 0; i < 4; i++)
        node_start(&nodes[i], i, 2, 0, NULL);
    events_t ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fp_pool_t *pool = pool_on(nodes, 4, (fp_pool_params_t){0}, &ev);
    size_t n = 400;
    elem_t *in = elems(n, 1000);
    in[17].poison = 1;
    fp_iter_t *it;
    assert_int_equal(fp_imap(pool, "f_val", in, sizeof(elem_t), n, 8, NULL, &it),
                     FP_OK);
    size_t got = 0, idx;
    uint64_t v;
    fp_error_t err;
    fp_status_t st;
    int failures = 0;
    while ((st = fp_iter_next(it, &v, &idx, -1, &err)) != FP_END) {
        assert_int_equal(idx, got);
        got++;
        if (st != FP_OK) {
            failures++;
            assert_int_equal(idx, 17);
            assert_int_equal(st, FP_ERR_PEER);
            printf("# element 17: %s\n", err.message);
            assert_non_null(
                strstr(err.message, "element 17 was running on 3 nodes that died"));
            continue;
        }
        assert_true(v == mix(idx));
    }
    fp_iter_destroy(it);
    assert_int_equal(got, n);
    assert_int_equal(failures, 1);
    assert_int_equal(ev_wait(&ev, &ev.died, 3), 3);
    assert_int_equal(fp_pool_node_count(pool), 1);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    assert_int_equal(s.elements_failed, 1);
    /* the survivor still serves */
    in[17].poison = 0;
    uint64_t *out = calloc(n, 8);
    assert_int_equal(fp_map(pool, "f_val", in, sizeof(elem_t), n, out, 8, NULL,
                            &err),
                     FP_OK);
    check_values(out, n);
    fp_pool_destroy(pool);
    for (int i = 0; i < 4; i++)
        if (nodes[i].pid > 0)
            node_reap(&nodes[i], SIGTERM);
    free(in);
    free(out);
}

/* max_attempts 1: the first death fails what the node held */
static void test_max_attempts_one(void **state)
{
    (void)state;
    node_t nodes[2];
    for (int i = 0; i < 2; i++)
        node_start(&nodes[i], i, 1, 0, NULL);
    fp_pool_params_t p = {.max_attempts = 1};
    fp_pool_t *pool = pool_on(nodes, 2, p, NULL);
    size_t n = 2000;
    elem_t *in = elems(n, 500);
    fp_iter_t *it;
    assert_int_equal(fp_imap_unordered(pool, "f_val", in, sizeof(elem_t), n, 8,
                                       NULL, &it),
                     FP_OK);
    size_t got = 0, failed = 0, idx;
    uint64_t v;
    fp_error_t err;
    fp_status_t st;
    while ((st = fp_iter_next(it, &v, &idx, -1, &err)) != FP_END) {
        if (++got == 200)
            node_reap(&nodes[0], SIGKILL);
        if (st != FP_OK) {
            assert_int_equal(st, FP_ERR_PEER);
            assert_non_null(strstr(err.message, "on 1 node that died"));
            failed++;
        } else {
            assert_true(v == mix(idx));
        }
    }
    fp_iter_destroy(it);
    assert_int_equal(got, n);
    assert_true(failed > 0);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    assert_int_equal(s.elements_failed, failed);
    assert_int_equal(s.elements_rerun, 0);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    free(in);
}

/* a node added while a map runs takes part of it */
static void test_join_midmap(void **state)
{
    (void)state;
    node_t nodes[2];
    node_start(&nodes[0], 0, 2, 0, NULL);
    events_t ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fp_pool_t *pool = pool_on(nodes, 1, (fp_pool_params_t){0}, &ev);
    node_start(&nodes[1], 1, 2, 0, NULL);
    size_t n = 4000; /* 2 s on one node */
    elem_t *in = elems(n, 1000);
    uint64_t *out = calloc(n, 8);
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  NULL, &f),
                     FP_OK);
    sleep_s(0.2);
    double t_add = fp_test_now();
    fp_error_t err;
    assert_int_equal(fp_pool_add_node(pool, nodes[1].addr, &err), FP_OK);
    double t_first = 0;
    while (fp_future_wait(f, 0) == FP_ERR_TIMEOUT) {
        if (t_first == 0 && node_elements(pool, nodes[1].addr) > 0)
            t_first = fp_test_now();
        sleep_s(0.001);
    }
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    check_values(out, n);
    assert_true(t_first > 0);
    printf("# node added mid-map: its first record done %.3f s after the add\n",
           t_first - t_add);
    assert_true(node_elements(pool, nodes[1].addr) > n / 8);
    assert_int_equal(ev_wait(&ev, &ev.joined, 2), 2);
    /* one connection per node: adding it again is refused, and so is a
     * pool given the same node twice */
    assert_int_equal(fp_pool_add_node(pool, nodes[1].addr, &err),
                     FP_ERR_EXISTS);
    assert_non_null(strstr(err.message, "already in the pool"));
    assert_int_equal(fp_pool_node_count(pool), 2);
    {
        const char *twice[2] = {nodes[0].addr, nodes[0].addr};
        fp_pool_params_t tp = {.nodes = twice, .nnodes = 2};
        fp_pool_t *bad = NULL;
        assert_int_equal(fp_pool_create(g_ctx, &tp, &bad, &err), FP_ERR_EXISTS);
        assert_null(bad);
        assert_non_null(strstr(err.message, "given twice"));
    }
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    free(in);
    free(out);
}

/* every node gone: queued work waits node_wait for one, then fails */
static void test_node_wait(void **state)
{
    (void)state;
    node_t nodes[2];
    node_start(&nodes[0], 0, 2, 0, NULL);
    fp_pool_params_t p = {.node_wait = 20};
    fp_pool_t *pool = pool_on(nodes, 1, p, NULL);
    size_t n = 3000;
    elem_t *in = elems(n, 300);
    uint64_t *out = calloc(n, 8);
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  NULL, &f),
                     FP_OK);
    while (node_elements(pool, nodes[0].addr) < 100)
        sleep_s(0.005);
    node_reap(&nodes[0], SIGKILL);
    sleep_s(0.3);
    assert_int_equal(fp_future_wait(f, 0), FP_ERR_TIMEOUT); /* waiting */
    assert_int_equal(fp_pool_node_count(pool), 0);
    node_start(&nodes[1], 1, 2, 0, NULL);
    fp_error_t err;
    assert_int_equal(fp_pool_add_node(pool, nodes[1].addr, &err), FP_OK);
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    check_values(out, n);
    fp_pool_destroy(pool);

    /* and without one joining, the wait ends with a clear failure */
    p.node_wait = 0.5;
    pool = pool_on(&nodes[1], 1, p, NULL);
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  NULL, &f),
                     FP_OK);
    while (node_elements(pool, nodes[1].addr) < 100)
        sleep_s(0.005);
    double t0 = fp_test_now();
    node_reap(&nodes[1], SIGKILL);
    assert_int_equal(fp_future_wait(f, -1), FP_OK);
    assert_int_equal(fp_future_get(f, -1, &err), FP_ERR_PEER);
    printf("# node_wait 0.5 s: failed %.2f s after the last node died: %s\n",
           fp_test_now() - t0, err.message);
    assert_non_null(strstr(err.message, "node_wait"));
    fp_future_release(f);
    fp_pool_destroy(pool);
    free(in);
    free(out);
}

/* stragglers: one node 8x slower (4x let a loaded machine's fast node lose
 * every race: a copy started late still came second), a map that opted
 * in; results right, copies made and some won */
static void test_stragglers(void **state)
{
    (void)state;
    node_t nodes[2];
    node_start(&nodes[0], 0, 2, 0, NULL);
    node_start(&nodes[1], 1, 2, 0, "FP_TEST_SLOW=8");
    fp_pool_t *pool = pool_on(nodes, 2, (fp_pool_params_t){0}, NULL);
    size_t n = 600;
    elem_t *in = elems(n, 2000); /* 2 ms (16 ms on the slow node) */
    uint64_t *out = calloc(n, 8);
    fp_call_params_t cp = {.speculate = true, .chunksize = 20};
    fp_error_t err;
    assert_int_equal(fp_map(pool, "f_val", in, sizeof(elem_t), n, out, 8, &cp,
                            &err),
                     FP_OK);
    check_values(out, n);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    printf("# stragglers: %llu copies, %llu won, %llu elements dropped\n",
           (unsigned long long)s.copies_started,
           (unsigned long long)s.copies_won,
           (unsigned long long)s.copies_dropped);
    assert_true(s.copies_started > 0);
    assert_true(s.copies_won > 0);
    /* imap_unordered with copies: every index once */
    fp_iter_t *it;
    assert_int_equal(fp_imap_unordered(pool, "f_val", in, sizeof(elem_t), n, 8,
                                       &cp, &it),
                     FP_OK);
    unsigned char *seen = calloc(n, 1);
    size_t idx, got = 0;
    uint64_t v;
    while (fp_iter_next(it, &v, &idx, -1, &err) == FP_OK) {
        assert_true(idx < n && !seen[idx]);
        seen[idx] = 1;
        assert_true(v == mix(idx));
        got++;
    }
    assert_int_equal(got, n);
    fp_iter_destroy(it);
    /* without opting in: no copies */
    uint64_t before = s.copies_started;
    cp.speculate = false;
    assert_int_equal(fp_map(pool, "f_val", in, sizeof(elem_t), n, out, 8, &cp,
                            &err),
                     FP_OK);
    fp_pool_stats(pool, &s);
    uint64_t after_imap = s.copies_started;
    (void)before;
    assert_int_equal(s.copies_started, after_imap);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    free(seen);
    free(in);
    free(out);
}

/* SIGTERM: the node leaves (LEFT, not DIED; state LEFT), the map is whole */
static void test_leave_event(void **state)
{
    (void)state;
    node_t nodes[2];
    for (int i = 0; i < 2; i++)
        node_start(&nodes[i], i, 2, 0, NULL);
    events_t ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
    fp_pool_t *pool = pool_on(nodes, 2, (fp_pool_params_t){0}, &ev);
    size_t n = 3000;
    elem_t *in = elems(n, 1000);
    uint64_t *out = calloc(n, 8);
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "f_val", in, sizeof(elem_t), n, out, 8,
                                  NULL, &f),
                     FP_OK);
    while (node_elements(pool, nodes[0].addr) < 200)
        sleep_s(0.005);
    char addr[96];
    snprintf(addr, sizeof(addr), "%s", nodes[0].addr);
    node_reap(&nodes[0], SIGTERM);
    fp_error_t err;
    assert_int_equal(fp_future_get(f, -1, &err), FP_OK);
    fp_future_release(f);
    check_values(out, n);
    assert_int_equal(ev_wait(&ev, &ev.left, 1), 1);
    assert_int_equal(ev_get(&ev, &ev.died), 0);
    fp_node_info_t info[4];
    size_t k = 0;
    fp_pool_nodes(pool, info, 4, &k);
    int found = 0;
    for (size_t i = 0; i < k && i < 4; i++)
        if (strcmp(info[i].address, addr) == 0) {
            found = 1;
            assert_int_equal(info[i].state, FP_NODE_LEFT);
        }
    assert_true(found);
    fp_pool_stats_t s;
    fp_pool_stats(pool, &s);
    assert_int_equal(s.nodes_left, 1);
    assert_int_equal(s.nodes_died, 0);
    assert_int_equal(s.elements_failed, 0);
    fp_pool_destroy(pool);
    nodes_stop(nodes, 2);
    free(in);
    free(out);
}

/* isolated elements and no node left to isolate them on (only the
 * client's own executors): they fail, the call ends, the rest is right */
static void test_isolated_no_node(void **state)
{
    (void)state;
    node_t nodes[1];
    node_start(&nodes[0], 0, 2, 0, NULL);
    fp_pool_params_t p = {.max_attempts = 2, .local = FP_LOCAL_YES,
                          .local_executors = 1};
    fp_pool_t *pool = pool_on(nodes, 1, p, NULL);
    size_t n = 200;
    elem_t *in = elems(n, 2000);
    for (size_t i = 10; i < 40; i++) /* some land on the node for sure */
        in[i].poison = 1;
    fp_iter_t *it;
    assert_int_equal(fp_imap(pool, "f_val", in, sizeof(elem_t), n, 8, NULL, &it),
                     FP_OK);
    size_t got = 0, idx, alone = 0, in_client = 0, died = 0;
    uint64_t v;
    fp_error_t err;
    fp_status_t st;
    while ((st = fp_iter_next(it, &v, &idx, -1, &err)) != FP_END) {
        assert_int_equal(idx, got);
        got++;
        if (st == FP_OK) {
            assert_false(in[idx].poison);
            assert_true(v == mix(idx));
            continue;
        }
        if (st == FP_ERR_TASK) {
            assert_true(in[idx].poison);
            in_client++;
            continue;
        }
        assert_int_equal(st, FP_ERR_PEER);
        if (strstr(err.message, "no node is left") != NULL)
            alone++;
        else
            died++;
        if (alone == 1 && strstr(err.message, "no node is left") != NULL)
            printf("# element %zu: %s\n", idx, err.message);
    }
    fp_iter_destroy(it);
    assert_int_equal(got, n);
    printf("# %zu failed for want of a node to run them alone, %zu poison "
           "elements ran in the client, %zu others failed\n",
           alone, in_client, died);
    assert_true(alone > 0);
    assert_int_equal(fp_pool_node_count(pool), 1); /* the local executors */
    fp_pool_destroy(pool);
    node_reap(&nodes[0], SIGKILL);
    free(in);
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
    setvbuf(stdout, NULL, _IOLBF, 0);
    fp_test_secret_env();
    if (fp_context_create(NULL, &g_ctx) != FP_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_map),
        cmocka_unit_test(test_kill_imap),
        cmocka_unit_test(test_kill_apply),
        cmocka_unit_test(test_hung),
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_max_attempts_one),
        cmocka_unit_test(test_join_midmap),
        cmocka_unit_test(test_node_wait),
        cmocka_unit_test(test_stragglers),
        cmocka_unit_test(test_leave_event),
        cmocka_unit_test(test_isolated_no_node),
    };
    /* FP_TEST_FILTER=test_hung runs one case */
    if (getenv("FP_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("FP_TEST_FILTER"));
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp_context_destroy(g_ctx);
    return rc;
}
