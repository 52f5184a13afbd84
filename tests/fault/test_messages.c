/*
 * Messages to and from executors (fp_pool_send, fp_pool_send_node,
 * fp_task_send, fp_pool_collect, on_message): on a local pool and on a pool
 * of nodes (this program again, started with FP_NODE_LISTEN; in network
 * namespaces when FP_TEST_NODE_NS places them).  Every check looks at the
 * contents and the order of what came back, not only at counts.
 *
 * The worker class's message hook answers each message with a reply that
 * names the message's sequence number and whether the hook ran while a
 * task was on that executor (it must not); "echo" messages come back whole
 * (1 MiB and more, with a pattern), so both directions carry large bytes.
 */
#include "fp_test.h"
#include "fp_test_node.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

enum { K_REPLY = 1, K_ECHO = 2, K_TASK = 3, K_INIT = 4 };

typedef struct mhdr {
    uint32_t kind, seq, bad, executor;
} mhdr_t;

typedef struct mstate {
    int in_task;
    uint32_t handled;
} mstate_t;

static fp_status_t m_init(fp_task_t *t, void *state, fp_cbuf_t init)
{
    (void)state;
    (void)init;
    mhdr_t h = {K_INIT, 0, 0, fp_task_executor(t)};
    return fp_task_send(t, (fp_cbuf_t){&h, sizeof(h)});
}

static fp_status_t m_message(fp_task_t *t, void *state, fp_cbuf_t msg)
{
    mstate_t *s = state;
    if (msg.size < sizeof(mhdr_t))
        return fp_task_error(t, FP_ERR_INVALID, "short message");
    mhdr_t h;
    memcpy(&h, msg.data, sizeof(h));
    s->handled++;
    mhdr_t r = {h.kind, h.seq, (uint32_t)s->in_task, fp_task_executor(t)};
    if (h.kind == K_ECHO) {
        /* the whole message back, header rewritten */
        unsigned char *copy = malloc(msg.size);
        if (copy == NULL)
            return FP_ERR_NOMEM;
        memcpy(copy, msg.data, msg.size);
        memcpy(copy, &r, sizeof(r));
        fp_status_t st = fp_task_send(t, (fp_cbuf_t){copy, msg.size});
        free(copy);
        return st;
    }
    return fp_task_send(t, (fp_cbuf_t){&r, sizeof(r)});
}

static fp_worker_class_t g_wc = {
    .name = "msg.wc",
    .state_size = sizeof(mstate_t),
    .init = m_init,
    .message = m_message,
};
FP_WORKER_CLASS_REGISTER(g_wc)

static fp_worker_class_t g_wc_nohook = {.name = "msg.nohook",
                                        .state_size = 8};
FP_WORKER_CLASS_REGISTER(g_wc_nohook)

/* A task that runs ~0.3 ms with in_task set and sends one message. */
static fp_status_t m_task(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                          fp_buf_t *out)
{
    (void)n;
    (void)out;
    mstate_t *s = fp_task_state(t);
    s->in_task = 1;
    uint32_t i;
    memcpy(&i, a[0].data, sizeof(i));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t1);
    while ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec) < 3e5);
    mhdr_t h = {K_TASK, i, 0, fp_task_executor(t)};
    fp_status_t st = fp_task_send(t, (fp_cbuf_t){&h, sizeof(h)});
    s->in_task = 0;
    return st;
}
FP_TASK_REGISTER_AS("msg.task", m_task)

/* ---- nodes ------------------------------------------------------------------ */

typedef fp_test_node_t node_t;

static char g_self[4096];

static void node_start(node_t *n, int i, unsigned executors)
{
    fp_test_node_start(n, g_self, i, executors, 0, NULL);
}

static void node_end(node_t *n, int sig) { fp_test_node_end(n, sig); }

/* ---- helpers ---------------------------------------------------------------- */

static fp_status_t send_hdr(fp_pool_t *pool, unsigned ex, uint32_t kind,
                            uint32_t seq)
{
    mhdr_t h = {kind, seq, 0, 0};
    fp_error_t err;
    fp_status_t st = fp_pool_send(pool, ex, (fp_cbuf_t){&h, sizeof(h)}, &err);
    if (st != FP_OK)
        print_message("send: %s: %s\n", fp_status_name(st), err.message);
    return st;
}

static mhdr_t collect_hdr(fp_pool_t *pool, fp_message_t *m)
{
    fp_status_t st = fp_pool_collect(pool, m, 30.0);
    if (st != FP_OK)
        fail_msg("collect: %s", fp_status_name(st));
    assert_true(m->size >= sizeof(mhdr_t));
    mhdr_t h;
    memcpy(&h, m->data, sizeof(h));
    /* the sender is named (an init hook on a node runs before the node
     * knows its index base: fp_task_executor is local there) */
    if (h.kind != K_INIT)
        assert_int_equal(h.executor, m->executor);
    return h;
}

/* Take the init hooks' messages: one from every executor. */
static void drain_inits(fp_pool_t *pool, unsigned n)
{
    unsigned char *seen = calloc(n, 1);
    for (unsigned k = 0; k < n; k++) {
        fp_message_t m;
        mhdr_t h = collect_hdr(pool, &m);
        assert_int_equal(h.kind, K_INIT);
        assert_true(m.executor < n);
        assert_int_equal(seen[m.executor], 0);
        seen[m.executor] = 1;
        fp_message_release(&m);
    }
    free(seen);
}

static fp_pool_t *make_pool(fp_context_t *ctx, node_t *nodes, size_t nn,
                            unsigned local_ex, const char *wc)
{
    fp_pool_params_t p = {0};
    const char *addrs[4];
    for (size_t i = 0; i < nn; i++)
        addrs[i] = nodes[i].addr;
    p.worker_class = wc;
    if (nn > 0) {
        p.nodes = addrs;
        p.nnodes = nn;
    } else {
        p.executors = local_ex;
    }
    fp_pool_t *pool;
    fp_error_t err;
    fp_status_t st = fp_pool_create(ctx, &p, &pool, &err);
    if (st != FP_OK)
        fail_msg("pool: %s: %s", fp_status_name(st), err.message);
    return pool;
}

/* ---- the checks, for any pool -------------------------------------------- */

/* Per executor, N messages: replies in the order sent, none during a task;
 * to all: one reply from each. */
static void check_order(fp_pool_t *pool)
{
    unsigned n = fp_pool_size(pool);
    enum { N = 40 };
    for (uint32_t i = 0; i < N; i++)
        for (unsigned ex = 0; ex < n; ex++)
            assert_int_equal(send_hdr(pool, ex, K_REPLY, i), FP_OK);
    uint32_t *next = calloc(n, sizeof(*next));
    for (unsigned k = 0; k < N * n; k++) {
        fp_message_t m;
        mhdr_t h = collect_hdr(pool, &m);
        assert_int_equal(h.kind, K_REPLY);
        assert_true(m.executor < n);
        if (h.seq != next[m.executor])
            fail_msg("executor %u: reply %u where %u was due", m.executor,
                     h.seq, next[m.executor]);
        next[m.executor]++;
        fp_message_release(&m);
    }
    free(next);
    /* FP_TO_ALL: exactly one from each executor */
    assert_int_equal(send_hdr(pool, FP_TO_ALL, K_REPLY, 777), FP_OK);
    unsigned char *seen = calloc(n, 1);
    for (unsigned k = 0; k < n; k++) {
        fp_message_t m;
        mhdr_t h = collect_hdr(pool, &m);
        assert_int_equal(h.seq, 777);
        assert_int_equal(seen[m.executor], 0);
        seen[m.executor] = 1;
        fp_message_release(&m);
    }
    free(seen);
    fp_message_t m;
    assert_int_equal(fp_pool_collect(pool, &m, 0), FP_ERR_TIMEOUT);
    assert_int_equal(fp_pool_collect(pool, &m, 0.05), FP_ERR_TIMEOUT);
}

/* Messages while tasks run: hooks only between tasks; tasks' own messages
 * all arrive, each once. */
static void check_between_tasks(fp_pool_t *pool)
{
    unsigned n = fp_pool_size(pool);
    enum { ELEMS = 120, ROUNDS = 20 };
    uint32_t in[ELEMS];
    for (uint32_t i = 0; i < ELEMS; i++)
        in[i] = i;
    fp_future_t *f;
    assert_int_equal(fp_map_async(pool, "msg.task", in, sizeof(in[0]), ELEMS,
                                  NULL, 0, NULL, &f),
                     FP_OK);
    for (uint32_t r = 0; r < ROUNDS; r++)
        assert_int_equal(send_hdr(pool, FP_TO_ALL, K_REPLY, r), FP_OK);
    assert_int_equal(fp_future_get(f, 60, NULL), FP_OK);
    fp_future_release(f);
    uint32_t *next = calloc(n, sizeof(*next));
    unsigned char task_seen[ELEMS] = {0};
    for (unsigned k = 0; k < ROUNDS * n + ELEMS; k++) {
        fp_message_t m;
        mhdr_t h = collect_hdr(pool, &m);
        if (h.kind == K_TASK) {
            assert_true(h.seq < ELEMS);
            assert_int_equal(task_seen[h.seq], 0);
            task_seen[h.seq] = 1;
        } else {
            assert_int_equal(h.kind, K_REPLY);
            if (h.bad)
                fail_msg("the hook ran inside a task on executor %u",
                         m.executor);
            assert_int_equal(h.seq, next[m.executor]);
            next[m.executor]++;
        }
        fp_message_release(&m);
    }
    for (unsigned ex = 0; ex < n; ex++)
        assert_int_equal(next[ex], ROUNDS);
    free(next);
}

/* Large and small messages mixed to one executor come back in order and
 * intact (1 MiB and 3 MiB ones go by rendezvous over nodes). */
static void check_large(fp_pool_t *pool, unsigned ex)
{
    static const size_t sizes[] = {1u << 20, 16, 3u << 20, 100, 70000, 20};
    const size_t count = sizeof(sizes) / sizeof(sizes[0]);
    for (size_t i = 0; i < count; i++) {
        size_t len = sizes[i] < sizeof(mhdr_t) ? sizeof(mhdr_t) : sizes[i];
        unsigned char *b = malloc(len);
        mhdr_t h = {K_ECHO, (uint32_t)i, 0, 0};
        memcpy(b, &h, sizeof(h));
        for (size_t k = sizeof(h); k < len; k++)
            b[k] = (unsigned char)(k * 131 + i);
        fp_error_t err;
        assert_int_equal(fp_pool_send(pool, ex, (fp_cbuf_t){b, len}, &err),
                         FP_OK);
        free(b);
    }
    for (size_t i = 0; i < count; i++) {
        size_t len = sizes[i] < sizeof(mhdr_t) ? sizeof(mhdr_t) : sizes[i];
        fp_message_t m;
        mhdr_t h = collect_hdr(pool, &m);
        assert_int_equal(h.kind, K_ECHO);
        assert_int_equal(h.seq, i); /* in order */
        assert_int_equal(m.executor, ex);
        assert_int_equal(m.size, len);
        const unsigned char *d = m.data;
        for (size_t k = sizeof(h); k < len; k++)
            if (d[k] != (unsigned char)(k * 131 + i))
                fail_msg("echo %zu: byte %zu is %u", i, k, d[k]);
        fp_message_release(&m);
    }
}

static void check_errors(fp_pool_t *pool)
{
    unsigned n = fp_pool_size(pool);
    mhdr_t h = {K_REPLY, 0, 0, 0};
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(fp_pool_send(pool, n, (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_ERR_INVALID);
    char want[64];
    snprintf(want, sizeof(want), "outside 0..%u", n - 1);
    assert_non_null(strstr(err.message, want));
    assert_int_equal(fp_pool_send_node(pool, "nowhere:1",
                                       (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "nowhere:1"));
    assert_int_equal(fp_pool_send(NULL, 0, (fp_cbuf_t){&h, 1}, NULL),
                     FP_ERR_INVALID);
    assert_int_equal(fp_pool_send(pool, 0, (fp_cbuf_t){NULL, 3}, NULL),
                     FP_ERR_INVALID);
    fp_message_t m;
    assert_int_equal(fp_pool_collect(pool, &m, 0), FP_ERR_TIMEOUT);
}

/* ---- local pool ------------------------------------------------------------- */

typedef struct cb_rec {
    pthread_mutex_t lock;
    pthread_t main;
    int wrong_thread;
    unsigned count;
    uint32_t next[8];
    int out_of_order;
} cb_rec_t;

static void on_msg(void *arg, const fp_message_t *m)
{
    cb_rec_t *r = arg;
    mhdr_t h;
    memcpy(&h, m->data, sizeof(h));
    pthread_mutex_lock(&r->lock);
    if (pthread_equal(pthread_self(), r->main))
        r->wrong_thread = 1;
    if (h.kind == K_REPLY && m->executor < 8) {
        if (h.seq != r->next[m->executor])
            r->out_of_order = 1;
        r->next[m->executor]++;
    }
    r->count++;
    pthread_mutex_unlock(&r->lock);
}

static void test_local(void **state)
{
    (void)state;
    unsetenv("FP_NODES");
    fp_context_t *ctx;
    assert_int_equal(fp_context_create(NULL, &ctx), FP_OK);
    fp_pool_t *pool = make_pool(ctx, NULL, 0, 3, "msg.wc");
    drain_inits(pool, 3);
    check_order(pool);
    check_between_tasks(pool);
    check_large(pool, 2);
    check_errors(pool);
    /* "local" is the only node of a local pool */
    mhdr_t h = {K_REPLY, 5, 0, 0};
    assert_int_equal(
        fp_pool_send_node(pool, "local", (fp_cbuf_t){&h, sizeof(h)}, NULL),
        FP_OK);
    for (int k = 0; k < 3; k++) {
        fp_message_t m;
        assert_int_equal(collect_hdr(pool, &m).seq, 5);
        fp_message_release(&m);
    }
    /* messages queued just before destroy are still handled (fini after) */
    assert_int_equal(send_hdr(pool, FP_TO_ALL, K_REPLY, 9), FP_OK);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* no message hook */
    pool = make_pool(ctx, NULL, 0, 2, "msg.nohook");
    fp_error_t err;
    assert_int_equal(fp_pool_send(pool, 0, (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_ERR_STATE);
    assert_non_null(strstr(err.message, "message hook"));
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    pool = make_pool(ctx, NULL, 0, 2, NULL);
    assert_int_equal(fp_pool_send(pool, FP_TO_ALL, (fp_cbuf_t){&h, sizeof(h)},
                                  NULL),
                     FP_ERR_STATE);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* the callback: its own thread, in order per executor */
    cb_rec_t r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.lock, NULL);
    r.main = pthread_self();
    fp_pool_params_t p = {0};
    p.executors = 2;
    p.worker_class = "msg.wc";
    p.on_message = on_msg;
    p.on_message_arg = &r;
    assert_int_equal(fp_pool_create(ctx, &p, &pool, NULL), FP_OK);
    for (uint32_t i = 0; i < 50; i++)
        for (unsigned ex = 0; ex < 2; ex++)
            assert_int_equal(send_hdr(pool, ex, K_REPLY, i), FP_OK);
    fp_message_t m;
    assert_int_equal(fp_pool_collect(pool, &m, 0), FP_ERR_STATE);
    assert_int_equal(fp_pool_destroy(pool), FP_OK); /* delivers all first */
    assert_int_equal(r.count, 2 + 100); /* inits, replies */
    assert_int_equal(r.next[0], 50);
    assert_int_equal(r.next[1], 50);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.wrong_thread, 0);
    pthread_mutex_destroy(&r.lock);
    fp_context_destroy(ctx);
}

/* ---- over nodes ------------------------------------------------------------- */

static void test_nodes(void **state)
{
    (void)state;
    unsetenv("FP_NODES");
    node_t nodes[2];
    node_start(&nodes[0], 0, 2);
    node_start(&nodes[1], 1, 2);
    fp_context_t *ctx;
    assert_int_equal(fp_context_create(NULL, &ctx), FP_OK);
    fp_pool_t *pool = make_pool(ctx, nodes, 2, 0, "msg.wc");
    unsigned n = fp_pool_size(pool);
    assert_int_equal(n, 4);
    drain_inits(pool, n);
    check_order(pool);
    check_between_tasks(pool);
    check_large(pool, 3);
    check_errors(pool);

    /* to one node: replies from exactly its two executors, {0,1} or {2,3}
     * (index bases follow the order the nodes opened) */
    mhdr_t h = {K_REPLY, 42, 0, 0};
    fp_error_t err;
    assert_int_equal(fp_pool_send_node(pool, nodes[1].addr,
                                       (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_OK);
    unsigned got[2];
    for (int k = 0; k < 2; k++) {
        fp_message_t m;
        mhdr_t r = collect_hdr(pool, &m);
        assert_int_equal(r.seq, 42);
        got[k] = m.executor;
        fp_message_release(&m);
    }
    unsigned base1 = got[0] < got[1] ? got[0] : got[1];
    assert_true(base1 == 0 || base1 == 2);
    assert_int_equal(got[0] + got[1], 2 * base1 + 1);
    fp_message_t m;
    assert_int_equal(fp_pool_collect(pool, &m, 0.2), FP_ERR_TIMEOUT);

    /* a node lost: FP_ERR_PEER for its executors, the others still work */
    node_end(&nodes[1], SIGKILL);
    for (int i = 0; i < 200 && fp_pool_node_count(pool) > 1; i++)
        usleep(50000);
    assert_int_equal(fp_pool_node_count(pool), 1);
    assert_int_equal(fp_pool_send(pool, base1, (fp_cbuf_t){&h, sizeof(h)},
                                  &err),
                     FP_ERR_PEER);
    assert_non_null(strstr(err.message, nodes[1].addr));
    assert_int_equal(fp_pool_send_node(pool, nodes[1].addr,
                                       (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_ERR_PEER);
    unsigned other = base1 == 0 ? 2 : 0;
    assert_int_equal(send_hdr(pool, other, K_REPLY, 43), FP_OK);
    assert_int_equal(collect_hdr(pool, &m).seq, 43);
    assert_int_equal(m.executor, other);
    fp_message_release(&m);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* no hook in the class: refused in the client (it has the class) */
    pool = make_pool(ctx, nodes, 1, 0, "msg.nohook");
    assert_int_equal(fp_pool_send(pool, 0, (fp_cbuf_t){&h, sizeof(h)}, &err),
                     FP_ERR_STATE);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    fp_context_destroy(ctx);
    node_end(&nodes[0], SIGTERM);
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
    fp_test_secret_env();
    const char *only = getenv("FP_TEST_MSG_ONLY"); /* "local" / "nodes" */
    const struct CMUnitTest local[] = {cmocka_unit_test(test_local)};
    const struct CMUnitTest nodes[] = {cmocka_unit_test(test_nodes)};
    if (only != NULL && strcmp(only, "local") == 0)
        return cmocka_run_group_tests(local, NULL, NULL);
    return cmocka_run_group_tests(nodes, NULL, NULL);
}
