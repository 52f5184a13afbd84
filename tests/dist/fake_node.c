/*
 * fake_node: a node that misbehaves, for the client's error paths.
 *
 *   fake_node MODE ADDR     listen on ADDR (IP, port 0), print
 *                           "LISTENING IP:PORT", then:
 *     version    speak protocol version 9 only (the handshake fails)
 *     bad-id     open pools, answer every task record with a result for a
 *                task id the client never sent
 *     bad-size   open pools, answer with a result of the wrong length
 *     silent     open no pool: never answer POOL_OPEN
 *
 * Secrets come from FP_SECRET_FILE / FP_SECRET, as for a real node.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tp.h"

static const char *g_mode;
static fp__tp_t *g_tp;

static void sent_free(void *ud, fp_status_t st)
{
    (void)st;
    free(ud);
}

static void send_encoded(fp__tp_conn_t *c, fp__wire_msg_t *m)
{
    size_t hl, pl;
    char why[200];
    if (fp__wire_size(m, &hl, &pl, why, sizeof(why)) != FP_OK) {
        fprintf(stderr, "fake_node: %s\n", why);
        return;
    }
    unsigned char *buf = malloc(hl + pl + 1);
    size_t len;
    if (fp__wire_encode(buf, hl + pl, m, &len, why, sizeof(why)) != FP_OK) {
        fprintf(stderr, "fake_node: %s\n", why);
        free(buf);
        return;
    }
    unsigned char *payload = malloc(pl + 1);
    memcpy(payload, buf + hl, pl);
    free(buf);
    if (fp__tp_send(c, m, payload, pl, sent_free, payload) != FP_OK)
        free(payload);
}

static void on_message(void *arg, fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    (void)arg;
    if (m->hdr.type == FP__WIRE_POOL_OPEN) {
        if (strcmp(g_mode, "silent") == 0)
            return;
        fp__wire_msg_t a;
        memset(&a, 0, sizeof(a));
        a.hdr.type = FP__WIRE_ACK;
        a.hdr.pool = m->hdr.pool;
        a.u.text.ref_type = FP__WIRE_POOL_OPEN;
        send_encoded(c, &a);
        return;
    }
    if (m->hdr.type != FP__WIRE_TASK_BATCH)
        return;
    fp__wire_iter_t it;
    fp__wire_iter_init(&it, m);
    fp__wire_task_rec_t t;
    char why[200];
    unsigned char rbuf[4096];
    fp__wire_builder_t b;
    fp__wire_builder_init(&b, FP__WIRE_RESULT_BATCH, rbuf, sizeof(rbuf));
    static unsigned char junk[1024];
    memset(junk, 0xAB, sizeof(junk));
    while (fp__wire_iter_task(&it, &t, why, sizeof(why)) == FP_OK) {
        fp__wire_result_rec_t r;
        memset(&r, 0, sizeof(r));
        r.task_id = strcmp(g_mode, "bad-id") == 0 ? t.task_id + 1000000
                                                    : t.task_id;
        r.attempt = t.attempt;
        r.start = t.start;
        r.count = t.count;
        r.where = FP__WIRE_WHERE_INLINE;
        r.len = (uint64_t)t.count * t.out_elem_size + 1; /* bad-size */
        if (strcmp(g_mode, "bad-id") == 0)
            r.len -= 1;
        if (r.len > sizeof(junk))
            r.len = sizeof(junk) - 1;
        r.data = junk;
        if (fp__wire_builder_add_result(&b, &r, why, sizeof(why)) != FP_OK) {
            fprintf(stderr, "fake_node: %s\n", why);
            break;
        }
    }
    fp__wire_msg_t out;
    memset(&out, 0, sizeof(out));
    fp__wire_builder_finish(&b, &out);
    out.hdr.pool = m->hdr.pool;
    unsigned char *copy = malloc(b.len + 1);
    memcpy(copy, rbuf, b.len);
    if (fp__tp_send(c, &out, copy, b.len, sent_free, copy) != FP_OK)
        free(copy);
}

static void on_closed(void *arg, fp__tp_conn_t *c, fp_status_t st,
                      const char *reason)
{
    (void)arg;
    (void)c;
    fprintf(stderr, "fake_node: closed: %s (%s)\n", fp_status_string(st),
            reason != NULL ? reason : "");
}

static volatile sig_atomic_t g_stop;
static void on_term(int s)
{
    (void)s;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fake_node version|bad-id|bad-size|silent IP\n");
        return 2;
    }
    g_mode = argv[1];
    fp__tp_params_t p;
    memset(&p, 0, sizeof(p));
    p.name = "fake-node";
    p.role = FP__WIRE_ROLE_NODE;
    p.executors = 1;
    p.id = "node:fake:0 cores=1 gpus=0 caps=none";
    p.handlers.on_message = on_message;
    p.handlers.on_closed = on_closed;
    if (strcmp(g_mode, "version") == 0) {
        p.version_min = 9;
        p.version_max = 9;
    }
    if (fp__tp_create(&p, &g_tp) != FP_OK) {
        fprintf(stderr, "fake_node: no transport (secret?)\n");
        return 1;
    }
    uint16_t port = 0;
    if (fp__tp_listen(g_tp, argv[2], 0, &port) != FP_OK)
        return 1;
    printf("LISTENING %s:%u\n", argv[2], (unsigned)port);
    fflush(stdout);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!g_stop) {
        if (!fp__tp_progress(g_tp, false)) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    /* no fp__tp_destroy: a worker destroyed right after a refused
     * handshake trips UCX 1.13's teardown assertion; and no exit handlers
     * either (a leak checker or UCX's destructors would meet UCX's own
     * threads still running): the process just ends */
    fflush(NULL);
    _exit(0);
}
