/*
 * tp_peer: one side of a transport test, run as its own process so tests
 * cross process (and network namespace) boundaries for real.
 *
 *   tp_peer server [opts]        node role: echo every BULK ARG back as a
 *                                BULK RESULT; print "PORT <n>" when listening;
 *                                print "CLOSED <status> <reason>" per lost
 *                                connection; exit after --serve N clients
 *   tp_peer client [opts]        send BULK ARG messages of --sizes, check the
 *                                echoes byte for byte; exit 0 if all match
 *   tp_peer rogue KIND [opts]    connect and misbehave (see rogue_send):
 *                                exit 0 if the server closed us
 * A BULK ARG with index 1 is acknowledged with a 1-byte BULK RESULT instead
 * of being echoed (for one-way bandwidth measurements).
 * opts: --addr A --port P --transport T --secret-file F --deadline S
 *       --hb S --busy --expect-fail (client: the connection must fail)
 *       --hang (client: connect, then stop reading and sleep forever)
 *       --fail-sends (client: after READY, wait for SIGUSR1, send 64 MiB,
 *       and report the send's completion status and the close; the test
 *       kills the server meanwhile)
 *
 * Secrets come from --secret-file or FP_SECRET / FP_SECRET_FILE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tp.h"
#include "tp_conn.h"

typedef struct opts {
    const char *mode, *rogue_kind;
    const char *addr, *transport, *secret_file;
    unsigned port;
    double deadline, hb;
    bool busy, expect_fail, hang, fail_sends, framed;
    int serve;
    const char *sizes, *lat, *bw;
    long iters;
} opts_t;

static opts_t o = {.addr = "127.0.0.1", .deadline = 10, .hb = 1, .serve = 1,
                   .sizes = "1,8,4096,65535,65536,1048576,16777216",
                   .iters = 10000};

/* ---- shared state ------------------------------------------------------- */

typedef struct state {
    fp__tp_t *tp;
    fp__tp_conn_t *conn;
    bool ready, closed;
    fp_status_t close_status;
    char close_reason[300];
    int served, live;
    /* client side */
    uint64_t next_id, echoes, bad;
    size_t expect_len;
    unsigned char *rbuf;
    size_t rbuf_cap;
    bool got;
    fp__auth_secret_t *sec; /* the client's, freed when it is done */
} state_t;

static state_t S;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned char pattern(uint64_t id, size_t i)
{
    return (unsigned char)(i * 131u + id * 7u + (i >> 12));
}

static void fill(unsigned char *p, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(id, i);
}

static bool check(const unsigned char *p, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(id, i))
            return false;
    return true;
}

/* ---- server: echo -------------------------------------------------------- */

/* Payload buffers keep FP__TP_HEADROOM bytes in front (for --framed). */
static unsigned char *alloc_payload(size_t len)
{
    unsigned char *base = malloc(FP__TP_HEADROOM + (len ? len : 1));
    return base == NULL ? NULL : base + FP__TP_HEADROOM;
}
static void free_payload(void *payload)
{
    if (payload != NULL)
        free((unsigned char *)payload - FP__TP_HEADROOM);
}

/* --framed: eager messages in the framed form (PROTOCOL.md §3.2) */
static fp_status_t send_payload(fp__tp_conn_t *c, fp__wire_msg_t *m,
                                void *payload, size_t len,
                                fp__tp_send_cb_t cb, void *ud)
{
    if (o.framed)
        return fp__tp_send_framed(c, m, payload, len, NULL, cb, ud);
    return fp__tp_send(c, m, payload, len, cb, ud);
}

typedef struct echo {
    fp__tp_conn_t *conn;
    void *buf;
    size_t len;
    uint64_t id;
    uint32_t attempt;
} echo_t;

static void echo_sent(void *ud, fp_status_t st)
{
    echo_t *e = ud;
    (void)st;
    free_payload(e->buf);
    fp__tp_conn_unref(e->conn);
    free(e);
}

static void echo_back(fp__tp_conn_t *c, const fp__wire_bulk_t *b, void *buf)
{
    echo_t *e = malloc(sizeof(*e));
    e->conn = c;
    e->buf = buf;
    e->len = b->index == 1 ? 1 : b->len; /* index 1: acknowledge only */
    fp__tp_conn_ref(c);
    fp__wire_msg_t m = fp__wire_bulk_whole(1, FP__WIRE_BULK_RESULT, b->task_id,
                                           b->attempt, 0, e->len);
    fp_status_t st = send_payload(c, &m, buf, e->len, echo_sent, e);
    if (st != FP_OK) {
        fprintf(stderr, "server: echo send failed: %s\n", fp_status_string(st));
        echo_sent(e, st);
    }
}

static void srv_ready(void *arg, fp__tp_conn_t *c)
{
    (void)arg;
    (void)c;
    S.live++;
}

static void srv_message(void *arg, fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    (void)arg;
    if (m->hdr.type != FP__WIRE_BULK || m->u.bulk.kind != FP__WIRE_BULK_ARG)
        return;
    /* eager payloads live only during this call: the echo needs a copy */
    void *copy = alloc_payload(m->u.bulk.len);
    memcpy(copy, m->u.bulk.data, m->u.bulk.len);
    fp__tp_note_copy(S.tp, m->u.bulk.len);
    echo_back(c, &m->u.bulk, copy);
}

static void srv_bulk_done(fp__tp_conn_t *c, void *ud, fp_status_t st,
                          const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)ud;
    (void)len;
    if (st != FP_OK) {
        free_payload(buf);
        return;
    }
    echo_back(c, &m->u.bulk, buf);
}

static void srv_bulk(void *arg, fp__tp_conn_t *c, const fp__wire_msg_t *m,
                     size_t len, fp__tp_bulk_dest_t *dest)
{
    (void)arg;
    (void)c;
    if (m->hdr.type != FP__WIRE_BULK)
        return;
    dest->buf = alloc_payload(len);
    dest->done = srv_bulk_done;
}

static void srv_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                       const char *reason)
{
    (void)arg;
    (void)c;
    printf("CLOSED %s %s\n", fp_status_name(st), reason);
    fflush(stdout);
    if (S.live > 0)
        S.live--;
    S.served++;
}

/* ---- client -------------------------------------------------------------- */

static void cli_ready(void *arg, fp__tp_conn_t *c)
{
    (void)arg;
    (void)c;
    S.ready = true;
}

static void cli_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                       const char *reason)
{
    (void)arg;
    (void)c;
    S.closed = true;
    S.conn = NULL; /* freed once this returns */
    S.close_status = st;
    snprintf(S.close_reason, sizeof(S.close_reason), "%s", reason);
}

static void cli_message(void *arg, fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    (void)arg;
    (void)c;
    if (m->hdr.type != FP__WIRE_BULK)
        return;
    if (m->u.bulk.len != S.expect_len ||
        !check(m->u.bulk.data, m->u.bulk.len, m->u.bulk.task_id))
        S.bad++;
    S.echoes++;
    S.got = true;
}

static void cli_bulk_done(fp__tp_conn_t *c, void *ud, fp_status_t st,
                          const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)c;
    (void)ud;
    if (st != FP_OK || len != S.expect_len || !check(buf, len, m->u.bulk.task_id))
        S.bad++;
    S.echoes++;
    S.got = true;
}

static void cli_bulk(void *arg, fp__tp_conn_t *c, const fp__wire_msg_t *m,
                     size_t len, fp__tp_bulk_dest_t *dest)
{
    (void)arg;
    (void)c;
    (void)m;
    if (len > S.rbuf_cap)
        return;
    dest->buf = S.rbuf; /* zero-copy: straight into the client's buffer */
    dest->done = cli_bulk_done;
}

static void sent_ignore(void *ud, fp_status_t st)
{
    if (st != FP_OK && ud != NULL)
        ++*(int *)ud;
}

static fp_status_t send_arg(const void *buf, size_t len, uint64_t id,
                            int *errs)
{
    fp__wire_msg_t m = fp__wire_bulk_whole(1, FP__WIRE_BULK_ARG, id, 1, 0, len);
    return send_payload(S.conn, &m, (void *)buf, len, sent_ignore, errs);
}

static bool wait_for(bool *flag, double secs)
{
    double end = now() + secs;
    while (!*flag && !S.closed && now() < end)
        fp__tp_progress(S.tp, !o.busy);
    return *flag;
}

static fp__tp_t *make_tp(const fp__tp_handlers_t *h, uint8_t role,
                         fp__auth_secret_t **sec)
{
    char reason[300];
    *sec = NULL;
    if (o.secret_file != NULL &&
        fp__auth_secret_load(o.secret_file, sec, reason, sizeof(reason)) !=
            FP_OK) {
        fprintf(stderr, "%s\n", reason);
        exit(2);
    }
    fp__tp_params_t p = {.transports = o.transport,
                         .busy_poll = o.busy,
                         .heartbeat_interval = o.hb,
                         .peer_deadline = o.deadline,
                         .name = o.mode,
                         .secret = *sec,
                         .role = role,
                         .executors = 1,
                         .handlers = *h};
    fp__tp_t *tp;
    fp_status_t st = fp__tp_create(&p, &tp);
    if (st != FP_OK) {
        fprintf(stderr, "fp__tp_create: %s\n", fp_status_string(st));
        exit(2);
    }
    return tp;
}

static int connect_client(const fp__tp_handlers_t *h, fp__auth_secret_t **sec)
{
    S.tp = make_tp(h, FP__WIRE_ROLE_CLIENT, sec);
    S.sec = *sec; /* main frees it */
    fp_status_t st = fp__tp_connect(S.tp, o.addr, (uint16_t)o.port, &S.conn);
    if (st != FP_OK) {
        fprintf(stderr, "connect: %s\n", fp_status_string(st));
        return 2;
    }
    return 0;
}

static volatile sig_atomic_t usr1;
static void on_usr1(int sig)
{
    (void)sig;
    usr1 = 1;
}

typedef struct send_result {
    bool done;
    fp_status_t status;
} send_result_t;

static void record_send(void *ud, fp_status_t st)
{
    send_result_t *r = ud;
    r->done = true;
    r->status = st;
}

/* Send while the peer dies: the send must fail with an error status, and
 * the connection must be reported closed. */
static int run_fail_sends(void)
{
    signal(SIGUSR1, on_usr1);
    printf("READY\n");
    fflush(stdout);
    while (!usr1 && !S.closed)
        fp__tp_progress(S.tp, false);
    size_t len = 64u << 20;
    unsigned char *buf = calloc(1, len);
    send_result_t r = {0};
    fp__wire_msg_t m = fp__wire_bulk_whole(1, FP__WIRE_BULK_ARG, 1, 1, 1, len);
    fp_status_t st = S.conn != NULL
                         ? fp__tp_send(S.conn, &m, buf, len, record_send, &r)
                         : FP_ERR_CLOSED;
    printf("SENT %s\n", fp_status_name(st));
    fflush(stdout);
    double end = now() + 30;
    while ((!r.done || !S.closed) && now() < end)
        fp__tp_progress(S.tp, true);
    printf("SEND_STATUS %s\nCLOSED %s %s\n",
           r.done ? fp_status_name(r.status) : "none",
           S.closed ? fp_status_name(S.close_status) : "no", S.close_reason);
    free(buf);
    return r.done && r.status < 0 && S.closed ? 0 : 1;
}

static int run_client(void)
{
    fp__tp_handlers_t h = {.on_ready = cli_ready,
                           .on_message = cli_message,
                           .on_bulk = cli_bulk,
                           .on_closed = cli_closed};
    fp__auth_secret_t *sec;
    if (connect_client(&h, &sec) != 0)
        return 2;
    wait_for(&S.ready, 15);
    if (o.expect_fail) {
        if (!S.closed)
            wait_for(&S.closed, 15);
        printf("client: connection %s: %s %s\n",
               S.ready ? "READY (unexpected)" : "refused",
               fp_status_name(S.close_status), S.close_reason);
        return !S.ready && S.closed ? 0 : 1;
    }
    if (!S.ready) {
        fprintf(stderr, "client: not ready: %s %s\n",
                fp_status_name(S.close_status), S.close_reason);
        return 1;
    }
    if (o.hang) {
        printf("READY\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (o.fail_sends)
        return run_fail_sends();
    int errs = 0;
    char *list = strdup(o.sizes);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        size_t len = strtoull(tok, NULL, 10);
        unsigned char *buf = alloc_payload(len);
        free(S.rbuf);
        S.rbuf = malloc(len ? len : 1);
        S.rbuf_cap = len;
        uint64_t id = ++S.next_id;
        fill(buf, len, id);
        S.expect_len = len;
        S.got = false;
        double t0 = now();
        fp_status_t st = S.conn != NULL ? send_arg(buf, len, id, &errs)
                                         : FP_ERR_CLOSED;
        if (st != FP_OK || !wait_for(&S.got, 120)) {
            fprintf(stderr, "client: %zu bytes: %s\n", len,
                    st != FP_OK ? fp_status_string(st) : "no echo");
            free_payload(buf);
            return 1;
        }
        printf("client: %zu bytes echoed %s in %.3f ms\n", len,
               S.bad ? "CORRUPT" : "intact", (now() - t0) * 1e3);
        free_payload(buf);
        if (S.bad)
            return 1;
    }
    free(list);
    fp__tp_stats_t stats;
    fp__tp_get_stats(S.tp, &stats);
    printf("client: %" PRIu64 " echoes, %d send errors, transports allowed "
           "%s, used %s, bytes copied by fastpool %" PRIu64 "\n",
           S.echoes, errs, fp__tp_transports(S.tp),
           S.conn != NULL ? fp__tp_conn_transports(S.conn) : "(closed)",
           stats.bytes_copied);
    if (S.conn != NULL)
        fp__tp_goodbye(S.conn);
    for (int i = 0; i < 100; i++)
        fp__tp_progress(S.tp, false);
    free(S.rbuf);
    return errs == 0 && S.bad == 0 ? 0 : 1;
}

/* ---- rogue ---------------------------------------------------------------- */

/* Raw header bytes: a valid common header then tweaks. */
static size_t good_hello(unsigned char *hdr, unsigned char *payload,
                         size_t *plen)
{
    static const unsigned char nonce[32] = {1, 2, 3};
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_HELLO;
    m.u.hello.version_min = m.u.hello.version_max = FP__WIRE_VERSION;
    m.u.hello.role = FP__WIRE_ROLE_CLIENT;
    m.u.hello.instance = 1;
    m.u.hello.route = 1;
    m.u.hello.nonce = nonce;
    m.u.hello.id = "rogue";
    m.u.hello.id_len = 5;
    unsigned char buf[1024];
    size_t hl, pl, len;
    fp__wire_size(&m, &hl, &pl, NULL, 0);
    fp__wire_encode(buf, sizeof(buf), &m, &len, NULL, 0);
    memcpy(hdr, buf, hl);
    memcpy(payload, buf + hl, pl);
    *plen = pl;
    return hl;
}

static int rogue_send(const char *kind)
{
    /* static: UCX may still read them after this returns (a send it could
     * not complete at once keeps pointing at the caller's data) */
    static unsigned char hdr[64], payload[4096];
    size_t plen = 0, hl = good_hello(hdr, payload, &plen);
    if (strcmp(kind, "random") == 0) {
        for (size_t i = 0; i < sizeof(hdr); i++)
            hdr[i] = (unsigned char)rand();
        hl = 40;
        plen = 100;
    } else if (strcmp(kind, "truncated") == 0) {
        plen = plen - 1;
    } else if (strcmp(kind, "oversized") == 0) {
        plen = plen + 17;
    } else if (strcmp(kind, "short-header") == 0) {
        hl = 10;
    } else if (strcmp(kind, "old-version") == 0) {
        hdr[4] = 0; /* header version byte (see PROTOCOL.md) */
    } else if (strcmp(kind, "unknown-type") == 0) {
        hdr[5] = 99;
    } else if (strcmp(kind, "before-auth") == 0) {
        /* a valid BULK ARG, before the handshake has finished */
        fp__wire_msg_t m = fp__wire_bulk_whole(1, FP__WIRE_BULK_ARG, 1, 1, 0, 8);
        char why[200];
        if (fp__wire_encode_header(hdr, sizeof(hdr), &m, &hl, why,
                                   sizeof(why)) != FP_OK) {
            fprintf(stderr, "cannot encode: %s\n", why);
            return 2;
        }
        plen = 8;
    } else if (strcmp(kind, "hello-twice") == 0) {
        /* sent twice below */
    } else if (strncmp(kind, "framed-", 7) == 0) {
        /* the framed form (no AM header, the header leads the data), with
         * the header cut short or its length field wrong */
        static unsigned char frame[sizeof(hdr) + sizeof(payload)];
        memcpy(frame, hdr, hl);
        memcpy(frame + hl, payload, plen);
        size_t flen = hl + plen;
        if (strcmp(kind, "framed-truncated") == 0)
            flen = FP__WIRE_COMMON_SIZE + 8; /* a HELLO header is longer */
        else if (strcmp(kind, "framed-bad-length") == 0)
            frame[8] = (unsigned char)(hl + 4); /* hdr_len, PROTOCOL.md §3 */
        else {
            fprintf(stderr, "unknown rogue kind %s\n", kind);
            return 2;
        }
        fp_status_t st = fp__tp_send_raw(S.conn, NULL, 0, frame, flen, NULL,
                                         NULL);
        return st == FP_OK ? 0 : 1;
    } else {
        fprintf(stderr, "unknown rogue kind %s\n", kind);
        return 2;
    }
    fp_status_t st = fp__tp_send_raw(S.conn, hdr, hl, payload, plen, NULL, NULL);
    if (st == FP_OK && strcmp(kind, "hello-twice") == 0)
        st = fp__tp_send_raw(S.conn, hdr, hl, payload, plen, NULL, NULL);
    return st == FP_OK ? 0 : 1;
}

static int run_rogue(void)
{
    fp__tp_handlers_t h = {.on_ready = cli_ready, .on_closed = cli_closed};
    fp__auth_secret_t *sec;
    if (connect_client(&h, &sec) != 0)
        return 2;
    /* the real HELLO went first; for a clean slate, rogue kinds act as if
     * they were the first message only where that matters (before-auth is
     * still before auth: the handshake has not finished) */
    if (rogue_send(o.rogue_kind) != 0)
        return 2;
    bool t = false;
    wait_for(&t, 10);
    printf("rogue %s: %s (%s %s)\n", o.rogue_kind,
           S.closed ? "closed by server" : "NOT closed",
           fp_status_name(S.close_status), S.close_reason);
    return S.closed && !S.ready ? 0 : 1;
}

/* ---- server ---------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;
static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int run_server(void)
{
    fp__tp_handlers_t h = {.on_ready = srv_ready,
                           .on_message = srv_message,
                           .on_bulk = srv_bulk,
                           .on_closed = srv_closed};
    fp__auth_secret_t *sec;
    S.tp = make_tp(&h, FP__WIRE_ROLE_NODE, &sec);
    uint16_t port;
    fp_status_t st = fp__tp_listen(S.tp, o.addr, (uint16_t)o.port, &port);
    if (st != FP_OK)
        return 2;
    printf("PORT %u\n", port);
    fflush(stdout);
    signal(SIGTERM, on_term);
    while (!stop_flag && (o.serve <= 0 || S.served < o.serve))
        fp__tp_progress(S.tp, !o.busy);
    fp__tp_destroy(S.tp);
    fp__auth_secret_free(sec);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tp_peer server|client|rogue KIND|bench ...\n");
        return 2;
    }
    o.mode = argv[1];
    int i = 2;
    if (strcmp(o.mode, "rogue") == 0 && argc > 2)
        o.rogue_kind = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--busy") == 0)
            o.busy = true;
        else if (strcmp(a, "--expect-fail") == 0)
            o.expect_fail = true;
        else if (strcmp(a, "--framed") == 0)
            o.framed = true;
        else if (strcmp(a, "--hang") == 0)
            o.hang = true;
        else if (strcmp(a, "--fail-sends") == 0)
            o.fail_sends = true;
        else if (v == NULL)
            goto bad;
        else if (strcmp(a, "--addr") == 0)
            o.addr = v, i++;
        else if (strcmp(a, "--port") == 0)
            o.port = (unsigned)atoi(v), i++;
        else if (strcmp(a, "--transport") == 0)
            o.transport = v, i++;
        else if (strcmp(a, "--secret-file") == 0)
            o.secret_file = v, i++;
        else if (strcmp(a, "--deadline") == 0)
            o.deadline = atof(v), i++;
        else if (strcmp(a, "--hb") == 0)
            o.hb = atof(v), i++;
        else if (strcmp(a, "--serve") == 0)
            o.serve = atoi(v), i++;
        else if (strcmp(a, "--sizes") == 0)
            o.sizes = v, i++;
        else if (strcmp(a, "--lat") == 0)
            o.lat = v, i++;
        else if (strcmp(a, "--bw") == 0)
            o.bw = v, i++;
        else if (strcmp(a, "--iters") == 0)
            o.iters = atol(v), i++;
        else
            goto bad;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc;
    if (strcmp(o.mode, "server") == 0)
        rc = run_server();
    else if (strcmp(o.mode, "client") == 0)
        rc = run_client();
    else if (strcmp(o.mode, "rogue") == 0 && o.rogue_kind != NULL)
        rc = run_rogue();
    else
        goto bad;
    if (S.tp != NULL && strcmp(o.mode, "server") != 0)
        fp__tp_destroy(S.tp);
    fp__auth_secret_free(S.sec);
    return rc;
bad:
    fprintf(stderr, "tp_peer: bad arguments\n");
    return 2;
}
