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
#include "tp_conn.h" /* white-box: the endpoint table */
#include "common/settings.h"

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

/* Settings from a config file (the `transport` group), below what the
 * code and FP_TRANSPORT say; bad files are refused with file:line. */
static const char *write_conf(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/fp-tpconf-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config_file(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    unsetenv("FP_TRANSPORT");
    unsetenv("FP_CONFIG");
    const char *path = write_conf(
        "# a cluster file may hold other groups too\n"
        "cluster = { name = \"x\"; };\n"
        "transport = {\n  list = \"tcp\";\n  busy_poll = true;\n"
        "  rndv_threshold = 131072;\n  heartbeat_interval = 0.5;\n"
        "  peer_deadline = 4;\n};\n");
    fp__tp_params_t p = {.config_file = path, .secret = s,
                         .log_level = FP_LOG_OFF};
    fp__tp_t *tp = NULL;
    assert_int_equal(fp__tp_create(&p, &tp), FP_OK);
    assert_string_equal(fp__tp_transports(tp), "tcp");
    assert_true(tp->busy_poll);
    assert_true(tp->rndv_threshold == 131072);
    assert_true(tp->heartbeat_interval == 0.5);
    assert_true(tp->peer_deadline == 4.0);
    fp__tp_destroy(tp);

    /* FP_CONFIG names the file when the code does not */
    setenv("FP_CONFIG", path, 1);
    fp__tp_params_t q = {.secret = s, .log_level = FP_LOG_OFF};
    assert_int_equal(fp__tp_create(&q, &tp), FP_OK);
    assert_string_equal(fp__tp_transports(tp), "tcp");
    fp__tp_destroy(tp);
    /* FP_TRANSPORT beats the file, the code beats both */
    setenv("FP_TRANSPORT", "shm", 1);
    assert_int_equal(fp__tp_create(&q, &tp), FP_OK);
    assert_string_equal(fp__tp_transports(tp), "shm,tcp");
    fp__tp_destroy(tp);
    unsetenv("FP_TRANSPORT");
    q.transports = "shm";
    q.peer_deadline = 7;
    assert_int_equal(fp__tp_create(&q, &tp), FP_OK);
    assert_string_equal(fp__tp_transports(tp), "shm,tcp");
    assert_true(tp->peer_deadline == 7.0);
    fp__tp_destroy(tp);
    unsetenv("FP_CONFIG");

    /* refused: each with FP_ERR_CONFIG and no transport */
    static const char *const bad[] = {
        "transport = { lst = \"tcp\"; };\n",          /* typo */
        "transport = { busy_poll = 1; };\n",          /* wrong type */
        "transport = { peer_deadline = -1.0; };\n",   /* out of range */
        "transport = { rndv_threshold = 0; };\n",     /* out of range */
        "transport = { list = \"carrier-pigeon\"; };\n", /* unknown */
        "transport = { list = ; };\n",                /* syntax */
        "transport = 5;\n",                           /* not a group */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fp__tp_params_t b = {.config_file = write_conf(bad[i]), .secret = s,
                             .log_level = FP_LOG_OFF};
        fp__tp_t *none = NULL;
        assert_int_equal(fp__tp_create(&b, &none), FP_ERR_CONFIG);
        assert_null(none);
    }
    fp__tp_params_t m = {.config_file = "/nonexistent/fp.cfg", .secret = s,
                         .log_level = FP_LOG_OFF};
    fp__tp_t *none = NULL;
    assert_int_equal(fp__tp_create(&m, &none), FP_ERR_CONFIG);
    unlink(path);

    /* the reason names the file, the line and the key */
    fp__config_t *c = NULL;
    char why[400];
    path = write_conf("\ntransport = {\n  busy_poll = \"yes\";\n};\n");
    assert_int_equal(fp__config_load(path, &c, why, sizeof(why)),
                     FP_ERR_CONFIG);
    assert_null(c);
    assert_non_null(strstr(why, ":3: transport.busy_poll: must be true or"));
    unlink(path);
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

/* Many connections that come and go: the server's endpoint table must not
 * fill up with deleted slots (a lookup would then never end). */
typedef struct churn {
    int ready, closed;
} churn_t;

static void churn_ready(void *arg, fp__tp_conn_t *c)
{
    (void)c;
    ((churn_t *)arg)->ready++;
}

static void churn_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                         const char *reason)
{
    (void)c;
    (void)st;
    (void)reason;
    ((churn_t *)arg)->closed++;
}

static void test_connection_churn(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    churn_t sv = {0}, cl = {0};
    fp__tp_params_t sp = {.transports = "tcp", .secret = s, .role = 2,
                          .executors = 1, .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &sv, .on_ready = churn_ready,
                                       .on_closed = churn_closed}};
    fp__tp_params_t cp = {.transports = "tcp", .secret = s,
                          .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &cl, .on_ready = churn_ready,
                                       .on_closed = churn_closed}};
    fp__tp_t *srv = NULL, *cli = NULL;
    assert_int_equal(fp__tp_create(&sp, &srv), FP_OK);
    assert_int_equal(fp__tp_create(&cp, &cli), FP_OK);
    uint16_t port = 0;
    assert_int_equal(fp__tp_listen(srv, "127.0.0.1", 0, &port), FP_OK);
    const int rounds = FP_TEST_SANITIZED ? 60 : 150; /* > 64 table slots */
    for (int i = 0; i < rounds; i++) {
        fp__tp_conn_t *c = NULL;
        assert_int_equal(fp__tp_connect(cli, "127.0.0.1", port, &c), FP_OK);
        time_t end = time(NULL) + 20; /* generous: a bound, not a timing */
        while ((cl.ready <= i || sv.ready <= i) && time(NULL) < end) {
            fp__tp_progress(cli, false);
            fp__tp_progress(srv, false);
        }
        assert_int_equal(cl.ready, i + 1);
        assert_int_equal(sv.ready, i + 1);
        fp__tp_close(c, FP_OK, "test closes");
        end = time(NULL) + 20;
        while (sv.closed <= i && time(NULL) < end) {
            fp__tp_progress(cli, false);
            fp__tp_progress(srv, false);
        }
        assert_int_equal(sv.closed, i + 1);
    }
    fp__tp_destroy(cli);
    fp__tp_destroy(srv);
    fp__auth_secret_free(s);
}

/* After the handshake a message names its connection by the route token
 * in its header (the receiver's, given in its HELLO), not by UCX's reply
 * endpoint.  Two clients on one server: each message reaches the server
 * as its sender's connection; a message whose token names no connection
 * (forged or stale) is dropped and counted, and nothing is closed. */
typedef struct routed {
    int ready, closed, messages;
    fp__tp_conn_t *conns[2];
    fp__tp_conn_t *last_from;
    uint32_t last_pool;
} routed_t;

static void routed_ready(void *arg, fp__tp_conn_t *c)
{
    routed_t *r = arg;
    if (r->ready < 2)
        r->conns[r->ready] = c;
    r->ready++;
}

static void routed_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                          const char *reason)
{
    (void)c;
    (void)st;
    (void)reason;
    ((routed_t *)arg)->closed++;
}

static void routed_message(void *arg, fp__tp_conn_t *c,
                           const fp__wire_msg_t *m)
{
    routed_t *r = arg;
    r->messages++;
    r->last_from = c;
    r->last_pool = m->hdr.pool;
}

static void pump(fp__tp_t *a, fp__tp_t *b, fp__tp_t *c, const int *what,
                 int want)
{
    time_t end = time(NULL) + 20; /* a bound, not a timing */
    while (*what < want && time(NULL) < end) {
        fp__tp_progress(a, false);
        fp__tp_progress(b, false);
        if (c != NULL)
            fp__tp_progress(c, false);
    }
    assert_int_equal(*what, want);
}

static void test_route_tokens(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    routed_t sv = {0}, c1 = {0}, c2 = {0};
    fp__tp_params_t sp = {.transports = "tcp", .secret = s, .role = 2,
                          .executors = 1, .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &sv, .on_ready = routed_ready,
                                       .on_closed = routed_closed,
                                       .on_message = routed_message}};
    fp__tp_params_t cp = {.transports = "tcp", .secret = s,
                          .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &c1, .on_ready = routed_ready,
                                       .on_closed = routed_closed}};
    fp__tp_t *srv = NULL, *cli1 = NULL, *cli2 = NULL;
    assert_int_equal(fp__tp_create(&sp, &srv), FP_OK);
    assert_int_equal(fp__tp_create(&cp, &cli1), FP_OK);
    cp.handlers.arg = &c2;
    assert_int_equal(fp__tp_create(&cp, &cli2), FP_OK);
    uint16_t port = 0;
    assert_int_equal(fp__tp_listen(srv, "127.0.0.1", 0, &port), FP_OK);
    fp__tp_conn_t *a = NULL, *b = NULL;
    assert_int_equal(fp__tp_connect(cli1, "127.0.0.1", port, &a), FP_OK);
    pump(srv, cli1, NULL, &c1.ready, 1);
    assert_int_equal(fp__tp_connect(cli2, "127.0.0.1", port, &b), FP_OK);
    pump(srv, cli2, NULL, &c2.ready, 1);
    pump(srv, cli1, cli2, &sv.ready, 2);
    /* the tokens: random, distinct, and each side knows the other's */
    assert_true(a->route != 0 && a->peer_route != 0);
    assert_true(sv.conns[0]->route == a->peer_route);
    assert_true(sv.conns[1]->route == b->peer_route);
    assert_true(a->peer_route != b->peer_route);

    /* a pool message from each client arrives as that client's */
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_POOL_CLOSE;
    m.hdr.pool = 11;
    assert_int_equal(fp__tp_send(a, &m, NULL, 0, NULL, NULL), FP_OK);
    pump(srv, cli1, cli2, &sv.messages, 1);
    assert_ptr_equal(sv.last_from, sv.conns[0]);
    assert_int_equal(sv.last_pool, 11);
    m.hdr.pool = 22;
    assert_int_equal(fp__tp_send(b, &m, NULL, 0, NULL, NULL), FP_OK);
    pump(srv, cli1, cli2, &sv.messages, 2);
    assert_ptr_equal(sv.last_from, sv.conns[1]);
    assert_int_equal(sv.last_pool, 22);

    /* handshakes and messages so far kept every sequence unbroken */
    fp__tp_stats_t st;
    fp__tp_get_stats(srv, &st);
    assert_int_equal(st.seq_gaps, 0);
    fp__tp_get_stats(cli1, &st);
    assert_int_equal(st.seq_gaps, 0);

    /* a forged token: dropped, counted, nobody closed */
    uint64_t dropped = srv->dropped;
    uint64_t real = a->peer_route;
    a->peer_route = real ^ 0x5a5a5a5a5a5a5a5aull;
    m.hdr.pool = 33;
    assert_int_equal(fp__tp_send(a, &m, NULL, 0, NULL, NULL), FP_OK);
    a->peer_route = real;
    m.hdr.pool = 44; /* then a good one, which must come after it */
    assert_int_equal(fp__tp_send(a, &m, NULL, 0, NULL, NULL), FP_OK);
    pump(srv, cli1, cli2, &sv.messages, 3);
    assert_int_equal(sv.last_pool, 44);
    assert_true(srv->dropped == dropped + 1);
    assert_int_equal(sv.closed, 0);
    assert_int_equal(c1.closed, 0);
    /* to the server the dropped message is one that never came: client
     * 1's sequence jumped once (and is counted, logged, not fatal) */
    fp__tp_get_stats(srv, &st);
    assert_int_equal(st.seq_gaps, 1);

    fp__tp_destroy(cli1);
    fp__tp_destroy(cli2);
    fp__tp_destroy(srv);
    fp__auth_secret_free(s);
}

/* The framed form on a connection in use (PROTOCOL.md §3.2): a framed BULK
 * sent from a registered buffer arrives intact, its header written into
 * the headroom; a framed message with a forged route token and a short
 * message with no header at all name no connection: dropped, counted,
 * nothing closed, and the sender's sequence shows no jump. */
typedef struct framed_rx {
    int ready, closed, messages;
    unsigned char data[4096];
    size_t len;
} framed_rx_t;

static void framed_ready(void *arg, fp__tp_conn_t *c)
{
    (void)c;
    ((framed_rx_t *)arg)->ready++;
}

static void framed_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                          const char *reason)
{
    (void)c;
    (void)st;
    (void)reason;
    ((framed_rx_t *)arg)->closed++;
}

static void framed_message(void *arg, fp__tp_conn_t *c,
                           const fp__wire_msg_t *m)
{
    framed_rx_t *r = arg;
    (void)c;
    if (m->hdr.type == FP__WIRE_BULK && m->u.bulk.len <= sizeof(r->data)) {
        memcpy(r->data, m->u.bulk.data, m->u.bulk.len);
        r->len = m->u.bulk.len;
    }
    r->messages++;
}

static void test_framed(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    framed_rx_t sv = {0}, cl = {0};
    fp__tp_params_t sp = {.transports = "tcp", .secret = s, .role = 2,
                          .executors = 1, .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &sv, .on_ready = framed_ready,
                                       .on_closed = framed_closed,
                                       .on_message = framed_message}};
    fp__tp_params_t cp = {.transports = "tcp", .secret = s,
                          .log_level = FP_LOG_OFF,
                          .handlers = {.arg = &cl, .on_ready = framed_ready,
                                       .on_closed = framed_closed}};
    fp__tp_t *srv = NULL, *cli = NULL;
    assert_int_equal(fp__tp_create(&sp, &srv), FP_OK);
    assert_int_equal(fp__tp_create(&cp, &cli), FP_OK);
    uint16_t port = 0;
    assert_int_equal(fp__tp_listen(srv, "127.0.0.1", 0, &port), FP_OK);
    fp__tp_conn_t *a = NULL;
    assert_int_equal(fp__tp_connect(cli, "127.0.0.1", port, &a), FP_OK);
    pump(srv, cli, NULL, &cl.ready, 1);
    pump(srv, cli, NULL, &sv.ready, 1);

    enum { LEN = 3000 };
    static unsigned char buf[FP__TP_HEADROOM + LEN];
    unsigned char *payload = buf + FP__TP_HEADROOM;
    for (size_t i = 0; i < LEN; i++)
        payload[i] = (unsigned char)(i * 7 + 1);
    fp__tp_mem_t *mem = NULL;
    assert_int_equal(fp__tp_mem_get(cli, buf, sizeof(buf), &mem), FP_OK);
    fp__wire_msg_t m = fp__wire_bulk_whole(1, FP__WIRE_BULK_ARG, 5, 1, 0, LEN);
    assert_int_equal(fp__tp_send_framed(a, &m, payload, LEN, mem, NULL, NULL),
                     FP_OK);
    pump(srv, cli, NULL, &sv.messages, 1);
    assert_int_equal(sv.len, LEN);
    assert_memory_equal(sv.data, payload, LEN);
    /* it went framed: the 64-byte BULK header sits in the headroom */
    const unsigned char *h = payload - 64;
    assert_int_equal(fp__wire_framed_hdr_len(h, 64 + LEN), 64);
    assert_memory_equal(h, "FPWR", 4);

    /* a framed message with a forged route token, then a short message
     * with no header: nobody to blame, dropped and counted */
    uint64_t dropped = srv->dropped;
    static unsigned char forged[64 + 8];
    memcpy(forged, h, 64);
    forged[24] ^= 0x5a; /* route, PROTOCOL.md §3 */
    assert_int_equal(fp__tp_send_raw(a, NULL, 0, forged, sizeof(forged),
                                     NULL, NULL),
                     FP_OK);
    static const unsigned char shortmsg[10] = {1, 2, 3};
    assert_int_equal(fp__tp_send_raw(a, NULL, 0, shortmsg, sizeof(shortmsg),
                                     NULL, NULL),
                     FP_OK);
    /* then a good one again, which must come after them */
    m.u.bulk.task_id = 6;
    payload[0] ^= 0xff;
    assert_int_equal(fp__tp_send_framed(a, &m, payload, LEN, mem, NULL, NULL),
                     FP_OK);
    pump(srv, cli, NULL, &sv.messages, 2);
    assert_memory_equal(sv.data, payload, LEN);
    assert_true(srv->dropped == dropped + 2);
    assert_int_equal(sv.closed, 0);
    assert_int_equal(cl.closed, 0);
    fp__tp_stats_t st;
    fp__tp_get_stats(srv, &st);
    assert_int_equal(st.seq_gaps, 0);

    fp__tp_mem_put(mem);
    fp__tp_destroy(cli);
    fp__tp_destroy(srv);
    fp__auth_secret_free(s);
}

/* The endpoint table under churn with ever new endpoints: deleted slots
 * must be reclaimed, or the table fills with them and a lookup of an
 * endpoint that is not there never ends (this test would then time out). */
static void test_ep_table_churn(void **state)
{
    (void)state;
    fp__auth_secret_t *s = secret();
    fp__tp_t *tp = make("tcp", s);
    static char fake[4096]; /* distinct addresses standing in for endpoints */
    fp__tp_conn_t *marker = (fp__tp_conn_t *)&fake[0];
    for (size_t i = 1; i < sizeof(fake); i++) {
        ucp_ep_h ep = (ucp_ep_h)&fake[i];
        assert_int_equal(fp__tp_ep_put(tp, ep, marker), FP_OK);
        assert_ptr_equal(fp__tp_ep_get(tp, ep), marker);
        fp__tp_ep_del(tp, ep);
        assert_null(fp__tp_ep_get(tp, ep));
        assert_null(fp__tp_ep_get(tp, (ucp_ep_h)&fake[0])); /* never put */
    }
    assert_true(tp->by_ep.count == 0);
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
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_progress_thread_post),
        cmocka_unit_test(test_idle_progress_thread_sleeps),
        cmocka_unit_test(test_regcache),
        cmocka_unit_test(test_connection_churn),
        cmocka_unit_test(test_ep_table_churn),
        cmocka_unit_test(test_route_tokens),
        cmocka_unit_test(test_framed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
