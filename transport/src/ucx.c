/*
 * UCX transport.
 *
 * Design note.
 *
 * One UCX context and one worker per instance, used in UCS_THREAD_MODE_SINGLE
 * from one progress context only: the progress thread (fp__tp_start) or the
 * caller of fp__tp_progress.  Other threads reach it with fp__tp_post(),
 * which queues a closure and signals the worker (ucp_worker_signal makes the
 * worker's event fd readable).  Keeping UCX single-threaded avoids the lock
 * UCX takes on every call in MULTI mode.
 *
 * One active-message id carries every message.  The AM header is the
 * message header (<= 64 bytes, copied into the send request because UCX
 * 1.13 needs it valid until completion); the AM data is the payload.
 * Payloads at or above rndv_threshold are sent with UCP_AM_SEND_FLAG_RNDV;
 * the receiver picks their destination in on_bulk and UCX writes them there
 * (ucp_am_recv_data_nbx): zero copies in fastpool on either side.
 *
 * Endpoints use UCP_ERR_HANDLING_MODE_PEER so a dead peer is reported at once
 * (ep error callback).  That mode makes UCX 1.13 drop shared memory and
 * same-host zero-copy unless UCX_MM_ERROR_HANDLING=y and
 * UCX_CMA_MEMORY_INVALIDATE=y, so we set both (unless the user did).  A hung
 * peer is not detected by UCX: each connection sends a heartbeat after
 * `heartbeat_interval` without traffic and is force-closed after
 * `peer_deadline` without hearing anything.
 *
 * The receive handler gets the sender's endpoint as reply_ep (every send has
 * UCP_AM_SEND_FLAG_REPLY); a small open-addressing table maps endpoints to
 * connections.
 */
#include "tp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include "tp_conn.h"
#include "tpconf.h"

#define AM_ID 7

/* ---- logging ------------------------------------------------------------ */

void fp__tp_log(const fp__tp_t *tp, fp_log_level_t lvl, const char *fmt, ...)
{
    if (lvl > tp->log_level || tp->log_level == FP_LOG_OFF)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (tp->log_fn != NULL) {
        tp->log_fn(lvl, msg, tp->log_user_data);
        return;
    }
    static const char *const tags[] = {"", "ERROR", "WARN", "INFO", "DEBUG",
                                       "TRACE"};
    fprintf(stderr, "[fastpool %s %s] %s\n", tp->name,
            lvl >= 1 && lvl <= 5 ? tags[lvl] : "?", msg);
}

/* The progress loop reads the clock on every round, so it reads the cheap
 * coarse clock (a few ms resolution; heartbeats and deadlines are counted
 * in seconds).  The precise one showed up as 60% of a busy-poll profile on
 * our VMs, whose clock source makes clock_gettime slow. */
double fp__tp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static fp_status_t from_ucs(ucs_status_t s)
{
    switch (s) {
    case UCS_OK:
        return FP_OK;
    case UCS_INPROGRESS:
        return FP_INPROGRESS;
    case UCS_ERR_NO_MEMORY:
        return FP_ERR_NOMEM;
    case UCS_ERR_INVALID_PARAM:
        return FP_ERR_INVALID;
    case UCS_ERR_CANCELED:
        return FP_ERR_CANCELED;
    case UCS_ERR_TIMED_OUT:
        return FP_ERR_TIMEOUT;
    case UCS_ERR_UNSUPPORTED:
        return FP_ERR_UNSUPPORTED;
    case UCS_ERR_BUSY:
        return FP_ERR_BUSY;
    default:
        return FP_ERR_PEER;
    }
}

/* ---- key -> connection tables ------------------------------------------ */

/* Two of these: endpoint -> connection (messages that carry UCX's reply
 * endpoint: the handshake) and route token -> connection (every message
 * after it).  Keys are non-zero; 0 marks an empty slot. */
static size_t map_hash(uint64_t x, size_t mask)
{
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 20) & mask;
}

/* Rebuild the table with room for at least 4x the live entries, dropping
 * tombstones (deleted slots): without this, connections that come and go
 * would fill every slot with tombstones and a lookup of an absent key
 * would never meet an empty slot. */
static fp_status_t map_rehash(struct fp__tp_map *m)
{
    size_t cap = 64;
    while (cap < (m->count + 1) * 4)
        cap *= 2;
    struct fp__tp_map_slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return FP_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].conn == NULL)
            continue;
        size_t j = map_hash(m->slots[i].key, cap - 1);
        while (slots[j].key != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->tombs = 0;
    return FP_OK;
}

fp_status_t fp__tp_map_put(struct fp__tp_map *m, uint64_t key,
                           fp__tp_conn_t *c)
{
    if (key == 0 || c == NULL)
        return FP_ERR_INVALID;
    /* live entries and tombstones together stay under half the slots */
    if ((m->count + m->tombs + 1) * 2 > m->cap) {
        fp_status_t st = map_rehash(m);
        if (st != FP_OK)
            return st;
    }
    size_t j = map_hash(key, m->cap - 1);
    while (m->slots[j].key != 0 && m->slots[j].conn != NULL)
        j = (j + 1) & (m->cap - 1);
    if (m->slots[j].key != 0) /* reusing a tombstone */
        m->tombs--;
    m->slots[j].key = key;
    m->slots[j].conn = c;
    m->count++;
    return FP_OK;
}

fp__tp_conn_t *fp__tp_map_get(const struct fp__tp_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    for (size_t j = map_hash(key, m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->slots[j].key == 0)
            return NULL;
        if (m->slots[j].key == key && m->slots[j].conn != NULL)
            return m->slots[j].conn;
    }
}

void fp__tp_map_del(struct fp__tp_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return;
    for (size_t j = map_hash(key, m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->slots[j].key == 0)
            return;
        if (m->slots[j].key == key && m->slots[j].conn != NULL) {
            m->slots[j].conn = NULL; /* tombstone: key stays as a marker */
            m->count--;
            m->tombs++;
            return;
        }
    }
}

fp_status_t fp__tp_ep_put(fp__tp_t *tp, ucp_ep_h ep, fp__tp_conn_t *c)
{
    return fp__tp_map_put(&tp->by_ep, (uint64_t)(uintptr_t)ep, c);
}

fp__tp_conn_t *fp__tp_ep_get(fp__tp_t *tp, ucp_ep_h ep)
{
    return fp__tp_map_get(&tp->by_ep, (uint64_t)(uintptr_t)ep);
}

void fp__tp_ep_del(fp__tp_t *tp, ucp_ep_h ep)
{
    fp__tp_map_del(&tp->by_ep, (uint64_t)(uintptr_t)ep);
}

/* ---- sends -------------------------------------------------------------- */

typedef struct send_req {
    fp__tp_conn_t *conn;
    fp__tp_send_cb_t cb;
    void *user_data;
    struct send_req *next, *prev; /* conn's pending list */
    void *ucx_req;
    size_t header_len;
    unsigned char header[FP__TP_HEADER_MAX];
} send_req_t;

static void send_req_unlink(send_req_t *r)
{
    fp__tp_conn_t *c = r->conn;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->pending = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

/* Send requests are recycled through a free list (progress context only,
 * so no locking): a malloc/free per message showed in latency profiles. */
static send_req_t *send_req_alloc(fp__tp_t *tp)
{
    send_req_t *r = tp->free_reqs;
    if (r != NULL) {
        tp->free_reqs = r->next;
        tp->nfree_reqs--;
        return r;
    }
    return malloc(sizeof(*r));
}

static void send_req_free(fp__tp_t *tp, send_req_t *r)
{
    if (tp->nfree_reqs >= 1024) {
        free(r);
        return;
    }
    r->next = tp->free_reqs;
    tp->free_reqs = r;
    tp->nfree_reqs++;
}

static void send_done(void *request, ucs_status_t status, void *user_data)
{
    send_req_t *r = user_data;
    fp__tp_conn_t *c = r->conn;
    fp__tp_send_cb_t cb = r->cb;
    void *ud = r->user_data;
    send_req_unlink(r);
    if (request != NULL)
        ucp_request_free(request);
    send_req_free(c->tp, r);
    if (cb != NULL)
        cb(ud, from_ucs(status));
    fp__tp_conn_unref(c);
}

fp_status_t fp__tp_send_raw(fp__tp_conn_t *c, const void *header,
                            size_t header_len, const void *payload, size_t len,
                            fp__tp_send_cb_t cb, void *user_data)
{
    return fp__tp_send_raw_mem(c, header, header_len, payload, len, NULL, cb,
                               user_data);
}

fp_status_t fp__tp_send_raw_mem(fp__tp_conn_t *c, const void *header,
                                size_t header_len, const void *payload,
                                size_t len, const fp__tp_mem_t *mem,
                                fp__tp_send_cb_t cb, void *user_data)
{
    if (header_len > FP__TP_HEADER_MAX || (header == NULL && header_len != 0) ||
        (payload == NULL && len != 0))
        return FP_ERR_INVALID;
    if (c->state == FP__CONN_CLOSED || c->ep == NULL)
        return FP_ERR_CLOSED;
    fp__tp_t *tp = c->tp;
    send_req_t *r = send_req_alloc(tp);
    if (r == NULL)
        return FP_ERR_NOMEM;
    r->conn = c;
    r->cb = cb;
    r->user_data = user_data;
    r->header_len = header_len;
    if (header_len != 0) /* 0: the framed form, header inside the data */
        memcpy(r->header, header, header_len);

    ucp_request_param_t param;
    memset(&param, 0, sizeof(param));
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                         UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS |
                         UCP_OP_ATTR_FIELD_MEMORY_TYPE;
    param.cb.send = send_done;
    param.user_data = r;
    param.memory_type = UCS_MEMORY_TYPE_HOST;
    /* Until the handshake is done the receiver knows this connection only
     * by its UCX endpoint: UCX's reply flag names it.  After that the
     * header's route token does, and the reply protocol (an endpoint-id
     * lookup per message in UCX) is skipped. */
    param.flags = c->state == FP__CONN_READY ? 0 : UCP_AM_SEND_FLAG_REPLY;
    if (header_len == 0) {
        /* the framed form (PROTOCOL.md §3.2): the header is inside the
         * data, which the receiver must have before it can tell whose and
         * what the message is.  UCX would switch to rendezvous above its
         * own threshold (about 8 KiB on shared memory): forbid that. */
        param.flags |= UCP_AM_SEND_FLAG_EAGER;
    } else if (len >= tp->rndv_threshold) {
        /* forced: the first AM on a new endpoint may otherwise go eager */
        param.flags |= UCP_AM_SEND_FLAG_RNDV;
        tp->stats.rndv_sent++;
    }
    ucp_mem_h memh = fp__tp_mem_handle(mem, payload, len);
    if (memh != NULL) {
        param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
        param.memh = memh;
    }

    /* link before sending: the callback may not run inline, but keep the
     * list consistent whatever happens */
    r->prev = NULL;
    r->next = c->pending;
    if (c->pending != NULL)
        c->pending->prev = r;
    c->pending = r;
    fp__tp_conn_ref(c);

    ucs_status_ptr_t sp = ucp_am_send_nbx(c->ep, AM_ID,
                                          header_len != 0 ? r->header : NULL,
                                          header_len,
                                          payload, len, &param);
    tp->stats.msgs_sent++;
    /* payload bytes, as bytes_received counts them: not a framed header */
    tp->stats.bytes_sent +=
        header_len != 0 ? len : len - fp__wire_framed_hdr_len(payload, len);
    c->last_sent = tp->now;
    if (sp == NULL) { /* completed inline: the callback is NOT called */
        send_req_unlink(r);
        send_req_free(tp, r);
        if (cb != NULL)
            cb(user_data, FP_OK);
        fp__tp_conn_unref(c);
        return FP_OK;
    }
    if (UCS_PTR_IS_ERR(sp)) {
        send_req_unlink(r);
        send_req_free(tp, r);
        fp__tp_conn_unref(c);
        return from_ucs(UCS_PTR_STATUS(sp));
    }
    r->ucx_req = sp;
    return FP_OK;
}

/* ---- receives ----------------------------------------------------------- */

typedef struct bulk_recv {
    fp__tp_conn_t *conn;
    fp__tp_bulk_dest_t dest;
    size_t len;
    fp__wire_msg_t msg; /* decoded header: holds no pointer into it */
} bulk_recv_t;

static void bulk_recv_done(void *request, ucs_status_t status, size_t length,
                           void *user_data)
{
    bulk_recv_t *b = user_data;
    fp__tp_conn_t *c = b->conn;
    (void)length;
    if (request != NULL)
        ucp_request_free(request);
    if (status == UCS_OK) {
        c->tp->stats.rndv_received++;
        c->tp->stats.bytes_received += b->len;
    }
    b->msg.u.bulk.data = b->dest.buf; /* meaningful for BULK messages */
    b->dest.done(c, b->dest.user_data, from_ucs(status), &b->msg, b->dest.buf,
                 b->len);
    free(b);
    fp__tp_conn_unref(c);
}

static ucs_status_t am_recv(void *arg, const void *header, size_t header_len,
                            void *data, size_t length,
                            const ucp_am_recv_param_t *param)
{
    fp__tp_t *tp = arg;
    fp__tp_conn_t *c = NULL;
    if (header_len == 0 && !(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV)) {
        /* the framed form (PROTOCOL.md §3.2): the header leads the data.
         * Implausible framing leaves header_len 0: the message then names
         * no connection (dropped), or fails the decoder on a handshake
         * connection. */
        size_t hl = fp__wire_framed_hdr_len(data, length);
        if (hl != 0) {
            header = data;
            header_len = hl;
            data = (unsigned char *)data + hl;
            length -= hl;
        }
    }
    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP)
        c = fp__tp_ep_get(tp, param->reply_ep);
    else if (header_len >= FP__WIRE_COMMON_SIZE)
        c = fp__tp_map_get(&tp->by_route, fp__wire_peek_route(header));
    if (c == NULL || c->state == FP__CONN_CLOSED) {
        /* nobody to blame: count, and say so now and then (a flood of
         * forged messages must not flood the log too) */
        uint64_t n = ++tp->dropped;
        if ((n & (n - 1)) == 0)
            fp__tp_log(tp, FP_LOG_WARN,
                       "dropped a %zu-byte message that names no open "
                       "connection (%" PRIu64 " so far)",
                       length, n);
        if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV)
            return UCS_ERR_REJECTED;
        return UCS_OK;
    }
    c->last_heard = tp->now;
    tp->stats.msgs_received++;

    if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        fp__tp_bulk_dest_t dest = {0};
        fp__wire_msg_t msg;
        if (!fp__tp_conn_accepts_bulk(c, header, header_len, length, &msg))
            return UCS_ERR_REJECTED;
        if (tp->handlers.on_bulk != NULL)
            tp->handlers.on_bulk(tp->handlers.arg, c, &msg, length, &dest);
        if (dest.buf == NULL || dest.done == NULL) {
            /* rejecting completes the sender's request with an error */
            return UCS_ERR_REJECTED;
        }
        bulk_recv_t *b = malloc(sizeof(*b));
        if (b == NULL)
            return UCS_ERR_NO_MEMORY;
        b->conn = c;
        b->dest = dest;
        b->len = length;
        b->msg = msg;
        fp__tp_conn_ref(c);

        ucp_request_param_t rp;
        memset(&rp, 0, sizeof(rp));
        rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                          UCP_OP_ATTR_FIELD_USER_DATA |
                          UCP_OP_ATTR_FIELD_MEMORY_TYPE;
        rp.cb.recv_am = bulk_recv_done;
        rp.user_data = b;
        rp.memory_type = UCS_MEMORY_TYPE_HOST;
        ucp_mem_h memh = fp__tp_mem_handle(dest.mem, dest.buf, length);
        if (memh != NULL) {
            rp.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
            rp.memh = memh;
        }
        ucs_status_ptr_t sp =
            ucp_am_recv_data_nbx(tp->worker, data, dest.buf, length, &rp);
        if (sp == NULL) {
            bulk_recv_done(NULL, UCS_OK, length, b);
        } else if (UCS_PTR_IS_ERR(sp)) {
            bulk_recv_done(NULL, UCS_PTR_STATUS(sp), 0, b);
        }
        return UCS_INPROGRESS;
    }

    tp->stats.bytes_received += length;
    fp__tp_conn_deliver(c, header, header_len, data, length);
    return UCS_OK;
}

/* ---- connections -------------------------------------------------------- */

static void ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    fp__tp_conn_t *c = arg;
    (void)ep;
    char reason[160];
    snprintf(reason, sizeof(reason), "peer %s failed: %s", c->peer,
             ucs_status_string(status));
    fp__tp_close(c, FP_ERR_PEER, reason);
}

static fp__tp_conn_t *conn_new(fp__tp_t *tp, bool client)
{
    fp__tp_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    /* the route token: unguessable (the kernel's CSPRNG), so a message
     * can claim this connection only if it comes from the peer we told */
    do {
        if (getrandom(&c->route, sizeof(c->route), 0) !=
            (ssize_t)sizeof(c->route)) {
            free(c);
            return NULL;
        }
    } while (c->route == 0 || fp__tp_map_get(&tp->by_route, c->route) != NULL);
    if (fp__tp_map_put(&tp->by_route, c->route, c) != FP_OK) {
        free(c);
        return NULL;
    }
    c->tp = tp;
    c->refs = 1;
    c->client = client;
    c->last_heard = c->last_sent = tp->now;
    c->next = tp->conns;
    if (tp->conns != NULL)
        tp->conns->prev = c;
    tp->conns = c;
    return c;
}

void fp__tp_conn_ref(fp__tp_conn_t *c) { c->refs++; }

void fp__tp_conn_unref(fp__tp_conn_t *c)
{
    if (--c->refs > 0)
        return;
    fp__tp_t *tp = c->tp;
    /* a connection that never got as far as fp__tp_close (a failed
     * connect) must not stay in the route table either */
    if (fp__tp_map_get(&tp->by_route, c->route) == c)
        fp__tp_map_del(&tp->by_route, c->route);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        tp->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fp__tp_conn_fini(c);
    free(c);
}

static void ep_close_done(void *request, ucs_status_t status, void *user_data)
{
    (void)status;
    (void)user_data;
    ucp_request_free(request);
}

void fp__tp_close(fp__tp_conn_t *c, fp_status_t status, const char *reason)
{
    if (c->state == FP__CONN_CLOSED)
        return;
    fp__tp_t *tp = c->tp;
    bool was_ready = c->state == FP__CONN_READY;
    c->state = FP__CONN_CLOSED;
    fp__tp_log(tp,
               status == FP_OK || status == FP_ERR_CLOSED || c->said_goodbye
                   ? FP_LOG_INFO
                   : FP_LOG_WARN,
               "connection %s closed: %s", c->peer,
               reason != NULL ? reason : fp_status_string(status));
    fp__tp_conn_ref(c);
    /* no message can name it any more, whether or not it had an endpoint */
    if (fp__tp_map_get(&tp->by_route, c->route) == c)
        fp__tp_map_del(&tp->by_route, c->route);
    if (c->ep != NULL) {
        ucp_ep_h ep = c->ep;
        fp__tp_ep_del(tp, ep);
        c->ep = NULL;
        /* FORCE: completes even when the peer hangs; pending sends fail */
        ucp_request_param_t p;
        memset(&p, 0, sizeof(p));
        p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK;
        p.flags = UCP_EP_CLOSE_FLAG_FORCE;
        p.cb.send = ep_close_done;
        ucs_status_ptr_t sp = ucp_ep_close_nbx(ep, &p);
        if (UCS_PTR_IS_PTR(sp)) {
            /* completes during progress; nothing waits for it */
        }
    }
    /* Sends UCX has not completed fail through their callbacks: a FORCE
     * close completes every outstanding request with an error. */
    if (tp->handlers.on_closed != NULL && (was_ready || c->client || c->user))
        tp->handlers.on_closed(tp->handlers.arg, c,
                               status == FP_OK ? FP_ERR_CLOSED : status,
                               reason != NULL ? reason
                                              : fp_status_string(status));
    c->refs--;            /* the connection's own (ours still holds it) */
    fp__tp_conn_unref(c); /* ours: frees it unless sends or receives hold it */
}

static void conn_request(ucp_conn_request_h req, void *arg)
{
    fp__tp_t *tp = arg;
    fp__tp_conn_t *c = conn_new(tp, false);
    if (c == NULL) {
        ucp_listener_reject(tp->listener, req);
        return;
    }
    ucp_conn_request_attr_t attr;
    attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
    if (ucp_conn_request_query(req, &attr) == UCS_OK) {
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (attr.client_address.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&attr.client_address;
            inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
            port = ntohs(sin->sin_port);
        } else if (attr.client_address.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&attr.client_address;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
            port = ntohs(s6->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
    }
    ucp_ep_params_t ep_params;
    memset(&ep_params, 0, sizeof(ep_params));
    ep_params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST |
                           UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                           UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep_params.conn_request = req;
    ep_params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep_params.err_handler.cb = ep_error;
    ep_params.err_handler.arg = c;
    ucs_status_t s = ucp_ep_create(tp->worker, &ep_params, &c->ep);
    if (s != UCS_OK) {
        c->ep = NULL;
        fp__tp_log(tp, FP_LOG_WARN, "cannot accept %s: %s", c->peer,
                   ucs_status_string(s));
        fp__tp_close(c, FP_ERR_PEER, "endpoint creation failed");
        return;
    }
    if (fp__tp_ep_put(tp, c->ep, c) != FP_OK) {
        fp__tp_close(c, FP_ERR_NOMEM, "out of memory");
        return;
    }
    fp__tp_log(tp, FP_LOG_DEBUG, "accepted a connection from %s", c->peer);
    fp__tp_conn_start(c);
}

static int parse_sockaddr(const char *addr, uint16_t port,
                          struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (addr == NULL || *addr == '\0')
        addr = "0.0.0.0";
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

fp_status_t fp__tp_listen(fp__tp_t *tp, const char *addr, uint16_t port,
                          uint16_t *port_p)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (tp->listener != NULL)
        return FP_ERR_STATE;
    if (parse_sockaddr(addr, port, &ss, &sl) != 0) {
        fp__tp_log(tp, FP_LOG_ERROR, "listen: '%s' is not an IP address",
                   addr);
        return FP_ERR_INVALID;
    }
    ucp_listener_params_t lp;
    memset(&lp, 0, sizeof(lp));
    lp.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR |
                    UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    lp.sockaddr.addr = (const struct sockaddr *)&ss;
    lp.sockaddr.addrlen = sl;
    lp.conn_handler.cb = conn_request;
    lp.conn_handler.arg = tp;
    ucs_status_t s = ucp_listener_create(tp->worker, &lp, &tp->listener);
    if (s != UCS_OK) {
        tp->listener = NULL;
        fp__tp_log(tp, FP_LOG_ERROR, "cannot listen on %s:%u: %s", addr, port,
                   ucs_status_string(s));
        return from_ucs(s) == FP_ERR_BUSY ? FP_ERR_BUSY : FP_ERR_IO;
    }
    ucp_listener_attr_t la;
    la.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    if (ucp_listener_query(tp->listener, &la) == UCS_OK) {
        if (la.sockaddr.ss_family == AF_INET)
            tp->port = ntohs(((struct sockaddr_in *)&la.sockaddr)->sin_port);
        else
            tp->port = ntohs(((struct sockaddr_in6 *)&la.sockaddr)->sin6_port);
    }
    fp__tp_log(tp, FP_LOG_INFO, "listening on %s:%u (transports: %s)",
               addr != NULL ? addr : "0.0.0.0", tp->port, tp->transports);
    if (port_p != NULL)
        *port_p = tp->port;
    return FP_OK;
}

fp_status_t fp__tp_connect(fp__tp_t *tp, const char *addr, uint16_t port,
                           fp__tp_conn_t **conn_p)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_sockaddr(addr, port, &ss, &sl) != 0) {
        fp__tp_log(tp, FP_LOG_ERROR, "connect: '%s' is not an IP address",
                   addr);
        return FP_ERR_INVALID;
    }
    fp__tp_conn_t *c = conn_new(tp, true);
    if (c == NULL)
        return FP_ERR_NOMEM;
    snprintf(c->peer, sizeof(c->peer), "%s:%u", addr, port);
    ucp_ep_params_t ep_params;
    memset(&ep_params, 0, sizeof(ep_params));
    ep_params.field_mask = UCP_EP_PARAM_FIELD_FLAGS |
                           UCP_EP_PARAM_FIELD_SOCK_ADDR |
                           UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                           UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep_params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    ep_params.sockaddr.addr = (const struct sockaddr *)&ss;
    ep_params.sockaddr.addrlen = sl;
    ep_params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep_params.err_handler.cb = ep_error;
    ep_params.err_handler.arg = c;
    ucs_status_t s = ucp_ep_create(tp->worker, &ep_params, &c->ep);
    if (s != UCS_OK) {
        c->ep = NULL;
        c->state = FP__CONN_CLOSED;
        fp__tp_log(tp, FP_LOG_ERROR, "cannot connect to %s: %s", c->peer,
                   ucs_status_string(s));
        fp__tp_conn_unref(c);
        return FP_ERR_IO;
    }
    fp_status_t st = fp__tp_ep_put(tp, c->ep, c);
    if (st != FP_OK) {
        fp__tp_close(c, st, "out of memory");
        return st;
    }
    fp__tp_conn_start(c);
    *conn_p = c;
    return FP_OK;
}

/* What UCX chose for this endpoint, from ucp_ep_print_info's lane table
 * (UCX 1.13 has no query for it): "am=sysv/memory rma=cma/memory". */
void fp__tp_conn_describe(fp__tp_conn_t *c)
{
    char *text = NULL;
    size_t len = 0;
    char am[96] = "", rma[96] = "";
    FILE *f = c->ep != NULL ? open_memstream(&text, &len) : NULL;
    if (f == NULL)
        return;
    ucp_ep_print_info(c->ep, f);
    fclose(f);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *lane = strstr(line, "lane[");
        char *colon = lane != NULL ? strchr(lane, ':') : NULL;
        if (colon == NULL || strstr(colon, " cm ") == colon)
            continue;
        /* "lane[1]:  2:sysv/memory.0 md[1] -> ... am am_bw#0" */
        char *name = strchr(colon + 1, ':');
        if (name == NULL)
            continue;
        name++;
        size_t n = strcspn(name, " ");
        char tl[48];
        snprintf(tl, sizeof(tl), "%.*s", (int)(n < 47 ? n : 47), name);
        char *dot = strrchr(tl, '.');
        if (dot != NULL && dot > strchr(tl, '/'))
            *dot = '\0';
        char *dst = strstr(line, " am ") || strstr(line, " am\0") ? am
                    : strstr(line, "rma_bw") ? rma : NULL;
        if (dst == NULL || strstr(dst, tl) != NULL ||
            strlen(dst) + strlen(tl) + 2 > sizeof(am))
            continue;
        if (dst[0] != '\0')
            strcat(dst, ",");
        strcat(dst, tl);
    }
    free(text);
    snprintf(c->transports, sizeof(c->transports), "am=%s rndv=%s",
             am[0] ? am : "?", rma[0] ? rma : am[0] ? am : "?");
}

const char *fp__tp_conn_transports(const fp__tp_conn_t *c)
{
    return c->transports;
}

void fp__tp_conn_set_user(fp__tp_conn_t *c, void *user) { c->user = user; }
void *fp__tp_conn_user(const fp__tp_conn_t *c) { return c->user; }
const char *fp__tp_conn_peer(const fp__tp_conn_t *c) { return c->peer; }

/* ---- progress ----------------------------------------------------------- */

typedef struct post_item {
    struct post_item *next;
    void (*fn)(void *);
    void *arg;
} post_item_t;

fp_status_t fp__tp_post(fp__tp_t *tp, void (*fn)(void *), void *arg)
{
    post_item_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return FP_ERR_NOMEM;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&tp->post_lock);
    if (tp->post_tail != NULL)
        tp->post_tail->next = p;
    else
        tp->post_head = p;
    tp->post_tail = p;
    atomic_store_explicit(&tp->posted, 1, memory_order_release);
    pthread_mutex_unlock(&tp->post_lock);
    if (!tp->busy_poll)
        ucp_worker_signal(tp->worker);
    return FP_OK;
}

static int run_posted(fp__tp_t *tp)
{
    if (!atomic_load_explicit(&tp->posted, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&tp->post_lock);
    post_item_t *p = tp->post_head;
    tp->post_head = tp->post_tail = NULL;
    atomic_store_explicit(&tp->posted, 0, memory_order_relaxed);
    pthread_mutex_unlock(&tp->post_lock);
    int n = 0;
    while (p != NULL) {
        post_item_t *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
        n++;
    }
    return n;
}

/* Heartbeats and deadlines; returns seconds until the next is due. */
static double run_timers(fp__tp_t *tp)
{
    double next = tp->heartbeat_interval;
    if (tp->now < tp->next_timer)
        return tp->next_timer - tp->now;
    for (fp__tp_conn_t *c = tp->conns, *cn; c != NULL; c = cn) {
        cn = c->next;
        if (c->state == FP__CONN_CLOSED)
            continue;
        double quiet = tp->now - c->last_heard;
        if (quiet >= tp->peer_deadline) {
            char reason[160];
            snprintf(reason, sizeof(reason),
                     "peer %s silent for %.1f s (deadline %.1f s): presumed "
                     "hung",
                     c->peer, quiet, tp->peer_deadline);
            fp__tp_close(c, FP_ERR_TIMEOUT, reason);
            continue;
        }
        if (tp->now - c->last_sent >= tp->heartbeat_interval)
            fp__tp_conn_heartbeat(c);
        double due = tp->peer_deadline - quiet;
        if (due < next)
            next = due;
    }
    if (next < 0.001)
        next = 0.001;
    tp->next_timer = tp->now + (next < tp->heartbeat_interval / 4
                                    ? next
                                    : tp->heartbeat_interval / 4);
    return tp->next_timer - tp->now;
}

int fp__tp_progress(fp__tp_t *tp, bool block)
{
    int n = 0;
    if (!block) {
        /* one round, like any busy-polling loop: draining until UCX has
         * nothing left costs an empty round after every message, on the
         * critical path of a ping-pong */
        n = (int)ucp_worker_progress(tp->worker);
    } else {
        /* before sleeping everything must be drained (arm says BUSY
         * otherwise) */
        while (ucp_worker_progress(tp->worker) != 0)
            n++;
    }
    n += run_posted(tp);
    /* A busy-polling caller comes back here millions of times a second:
     * read the clock and look at timers on one round in 64 only (the
     * timestamps it feeds are compared against whole seconds). */
    if (!block && (++tp->rounds & 63) != 0)
        return n;
    tp->now = fp__tp_now();
    double wait = run_timers(tp);
    if (n > 0 || !block)
        return n;
    /* nothing to do: arm the worker and sleep on its event fd */
    ucs_status_t s = ucp_worker_arm(tp->worker);
    if (s == UCS_ERR_BUSY)
        return 1;
    if (s != UCS_OK)
        return 0;
    if (atomic_load_explicit(&tp->posted, memory_order_acquire))
        return 1;
    struct pollfd pfd = {.fd = tp->efd, .events = POLLIN};
    int ms = (int)(wait * 1000) + 1;
    poll(&pfd, 1, ms);
    return 0;
}

static void *progress_main(void *arg)
{
    fp__tp_t *tp = arg;
    while (!atomic_load_explicit(&tp->stop, memory_order_acquire))
        fp__tp_progress(tp, !tp->busy_poll);
    return NULL;
}

fp_status_t fp__tp_start(fp__tp_t *tp)
{
    if (tp->thread_started)
        return FP_ERR_STATE;
    if (pthread_create(&tp->thread, NULL, progress_main, tp) != 0)
        return FP_ERR_SYSTEM;
    tp->thread_started = true;
    return FP_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

/* Undo what fp__tp_create set in the environment, and unlock it. */
static void restore_env(const bool *set_here, const char *const *names,
                        int n, const char *tls, char *saved_tls)
{
    for (int i = 0; i < n; i++)
        if (set_here[i])
            unsetenv(names[i]);
    if (tls[0] != '\0') {
        if (saved_tls != NULL)
            setenv("UCX_TLS", saved_tls, 1);
        else
            unsetenv("UCX_TLS");
    }
    pthread_mutex_unlock(&env_lock);
    free(saved_tls);
}

/* UCX_TLS for a fastpool transport list.  Connection establishment through
 * a listener needs the tcp sockaddr connection manager, so tcp is always
 * allowed; for "shm" UCX still picks shared memory for the data lanes. */
static fp_status_t tls_for(const char *want, char *out, size_t outlen)
{
    if (want == NULL || *want == '\0' || strcmp(want, "auto") == 0) {
        out[0] = '\0'; /* UCX default: verbs when present, sm, tcp */
        return FP_OK;
    }
    static const char *const known[] = {"shm", "sm", "tcp", "rc", "ud", "dc",
                                        "rc_x", "dc_x", "ud_x", "rc_v",
                                        "ud_v", "cma", "posix", "sysv",
                                        "self", "ib", "mm"};
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", want);
    bool has_tcp = false;
    out[0] = '\0';
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(tok, known[i]) == 0;
        if (!ok)
            return FP_ERR_INVALID;
        has_tcp |= strcmp(tok, "tcp") == 0;
        if (strlen(out) + strlen(tok) + 2 >= outlen)
            return FP_ERR_INVALID;
        if (out[0] != '\0')
            strcat(out, ",");
        strcat(out, tok);
    }
    if (out[0] == '\0')
        return FP_ERR_INVALID;
    if (!has_tcp && strlen(out) + 5 < outlen)
        strcat(out, ",tcp");
    return FP_OK;
}

fp_status_t fp__tp_create(const fp__tp_params_t *params, fp__tp_t **tp_p)
{
    static const fp__tp_params_t defaults = {0};
    if (params == NULL)
        params = &defaults;
    fp__tp_t *tp = calloc(1, sizeof(*tp));
    if (tp == NULL)
        return FP_ERR_NOMEM;
    snprintf(tp->name, sizeof(tp->name), "%s",
             params->name != NULL ? params->name : "tp");
    tp->log_fn = params->log_fn;
    tp->log_user_data = params->log_user_data;
    tp->log_level = params->log_level != FP_LOG_DEFAULT ? params->log_level
                                                         : FP_LOG_WARN;
    const char *ll = getenv("FP_LOG_LEVEL");
    if (params->log_level == FP_LOG_DEFAULT && ll != NULL) {
        static const char *const names[] = {"error", "warn", "info", "debug",
                                            "trace", "off"};
        for (int i = 0; i < 6; i++)
            if (strcmp(ll, names[i]) == 0)
                tp->log_level = (fp_log_level_t)(i + 1);
    }
    tp->handlers = params->handlers;

    /* settings: what the code says, else the environment (FP_TRANSPORT),
     * else the config file (params->config_file, else FP_CONFIG), else the
     * defaults */
    fp__tp_config_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.busy_poll = -1;
    const char *conf_path = params->config_file;
    if (conf_path == NULL)
        conf_path = getenv("FP_CONFIG");
    if (conf_path != NULL && *conf_path != '\0') {
        char reason[400];
        if (fp__tp_config_load(conf_path, &conf, reason, sizeof(reason)) !=
            FP_OK) {
            fp__tp_log(tp, FP_LOG_ERROR, "config: %s", reason);
            free(tp);
            return FP_ERR_CONFIG;
        }
    }
    tp->busy_poll = params->busy_poll || conf.busy_poll == 1;
    tp->rndv_threshold = params->rndv_threshold ? params->rndv_threshold
                         : conf.rndv_threshold  ? conf.rndv_threshold
                                                : 64 * 1024;
    tp->reg_max_entries =
        params->reg_max_entries ? params->reg_max_entries : 256;
    tp->reg_max_bytes = params->reg_max_bytes ? params->reg_max_bytes
                                              : (size_t)1 << 30;
    tp->heartbeat_interval = params->heartbeat_interval > 0
                                 ? params->heartbeat_interval
                             : conf.heartbeat_interval > 0
                                 ? conf.heartbeat_interval
                                 : 1.0;
    tp->peer_deadline = params->peer_deadline > 0 ? params->peer_deadline
                        : conf.peer_deadline > 0  ? conf.peer_deadline
                                                  : 10;
    tp->role = params->role ? params->role : FP__WIRE_ROLE_CLIENT;
    tp->executors = params->executors;
    if (tp->role > FP__WIRE_ROLE_SERVER ||
        (tp->role == FP__WIRE_ROLE_NODE && tp->executors == 0)) {
        fp__tp_log(tp, FP_LOG_ERROR,
                   "transport: role %u with %u executors is not valid (a node "
                   "needs at least one)",
                   tp->role, tp->executors);
        free(tp);
        return FP_ERR_INVALID;
    }
    if (getrandom(&tp->instance, sizeof(tp->instance), 0) !=
            (ssize_t)sizeof(tp->instance) ||
        tp->instance == 0)
        tp->instance = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
    if (params->id != NULL) {
        snprintf(tp->id, sizeof(tp->id), "%s", params->id);
    } else {
        char host[64] = "?";
        gethostname(host, sizeof(host) - 1);
        static const char *const roles[] = {"", "client", "node", "server"};
        snprintf(tp->id, sizeof(tp->id), "%s:%s:%d",
                 tp->role <= 3 ? roles[tp->role] : "peer", host, (int)getpid());
    }
    if (tp->id[0] == '\0') {
        free(tp);
        return FP_ERR_INVALID;
    }
    tp->secret = params->secret;
    if (tp->secret == NULL) {
        char reason[300];
        fp_status_t st =
            fp__auth_secret_load(NULL, &tp->own_secret, reason, sizeof(reason));
        if (st != FP_OK) {
            fp__tp_log(tp, FP_LOG_ERROR, "%s", reason);
            free(tp);
            return st;
        }
        tp->secret = tp->own_secret;
    }
    pthread_mutex_init(&tp->post_lock, NULL);

    const char *want = params->transports;
    if (want == NULL || *want == '\0')
        want = getenv("FP_TRANSPORT");
    if ((want == NULL || *want == '\0') && conf.transports[0] != '\0')
        want = conf.transports;
    char tls[256];
    if (tls_for(want, tls, sizeof(tls)) != FP_OK) {
        fp__tp_log(tp, FP_LOG_ERROR,
                   "unknown transport list '%s' (use auto, or a comma list "
                   "of shm, tcp, rc, ud, dc)",
                   want);
        pthread_mutex_destroy(&tp->post_lock);
        fp__auth_secret_free(tp->own_secret);
        free(tp);
        return FP_ERR_CONFIG;
    }
    snprintf(tp->transports, sizeof(tp->transports), "%s",
             tls[0] != '\0' ? tls : "auto (all)");

    /* UCX reads its options from the environment in ucp_config_read:
     * setenv there is the reliable way (see UCX-NOTES).  Options the user
     * set themselves win; UCX_TLS is restored after reading. */
    pthread_mutex_lock(&env_lock);
    /* only where shared memory may be used: UCX warns about options that
     * belong to transports it did not load */
    bool shm = tls[0] == '\0' || strstr(tls, "shm") || strstr(tls, "sm") ||
               strstr(tls, "mm") || strstr(tls, "posix") ||
               strstr(tls, "sysv") || strstr(tls, "cma");
    /* UCX_RNDV_SCHEME: on endpoints made through the connection manager
     * (ours are) UCX 1.13's "auto" pushes rendezvous data over TCP with
     * put_zcopy; the receiver pulling it (get_zcopy) is what UCX does on
     * endpoints made from a worker address, and measured here: 64 KiB
     * one-way 56 -> 42 us, 4 MiB 3.6 -> 5.2 GB/s; shared memory (cma)
     * unchanged.  Transports without get fall back as UCX decides. */
    static const char *const ours[] = {"UCX_MM_ERROR_HANDLING",
                                       "UCX_CMA_MEMORY_INVALIDATE",
                                       "UCX_TCP_CM_REUSEADDR",
                                       "UCX_RNDV_SCHEME"};
    static const char *const values[] = {"y", "y", "y", "get_zcopy"};
    enum { NOURS = sizeof(ours) / sizeof(ours[0]) };
    bool set_here[NOURS] = {false};
    for (int i = 0; i < NOURS; i++) {
        if ((i < 2 && !shm) || getenv(ours[i]) != NULL)
            continue;
        setenv(ours[i], values[i], 1);
        set_here[i] = true;
    }
    const char *old_tls = getenv("UCX_TLS");
    char *saved = old_tls != NULL ? strdup(old_tls) : NULL;
    if (tls[0] != '\0')
        setenv("UCX_TLS", tls, 1);
    ucp_config_t *config = NULL;
    ucs_status_t s = ucp_config_read(NULL, NULL, &config);
    if (s != UCS_OK) {
        restore_env(set_here, ours, NOURS, tls, saved);
        goto err;
    }

    ucp_params_t up;
    memset(&up, 0, sizeof(up));
    up.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
    up.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
    up.name = tp->name;
    s = ucp_init(&up, config, &tp->context);
    ucp_config_release(config);
    if (s != UCS_OK) {
        restore_env(set_here, ours, NOURS, tls, saved);
        goto err;
    }

    ucp_worker_params_t wp;
    memset(&wp, 0, sizeof(wp));
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    s = ucp_worker_create(tp->context, &wp, &tp->worker);
    /* transports read their options while the worker opens them: only now
     * may the environment go back to what the user had */
    restore_env(set_here, ours, NOURS, tls, saved);
    if (s != UCS_OK)
        goto err_ctx;
    s = ucp_worker_get_efd(tp->worker, &tp->efd);
    if (s != UCS_OK)
        goto err_worker;

    /* every handler before any listener or endpoint (see UCX-NOTES) */
    ucp_am_handler_param_t hp;
    memset(&hp, 0, sizeof(hp));
    hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
                    UCP_AM_HANDLER_PARAM_FIELD_CB |
                    UCP_AM_HANDLER_PARAM_FIELD_ARG;
    hp.id = AM_ID;
    hp.cb = am_recv;
    hp.arg = tp;
    s = ucp_worker_set_am_recv_handler(tp->worker, &hp);
    if (s != UCS_OK)
        goto err_worker;

    tp->now = fp__tp_now();
    fp__tp_log(tp, FP_LOG_INFO, "UCX %s: transports %s, %s progress",
               ucp_get_version_string(), tp->transports,
               tp->busy_poll ? "busy-poll" : "sleeping");
    *tp_p = tp;
    return FP_OK;

err_worker:
    ucp_worker_destroy(tp->worker);
err_ctx:
    ucp_cleanup(tp->context);
err:
    fp__tp_log(tp, FP_LOG_ERROR, "UCX initialisation failed: %s",
               ucs_status_string(s));
    pthread_mutex_destroy(&tp->post_lock);
    fp__auth_secret_free(tp->own_secret);
    free(tp);
    return FP_ERR_IO;
}

void fp__tp_destroy(fp__tp_t *tp)
{
    if (tp == NULL)
        return;
    if (tp->thread_started) {
        atomic_store(&tp->stop, 1);
        ucp_worker_signal(tp->worker);
        pthread_join(tp->thread, NULL);
    }
    /* close everything and let UCX finish the closes */
    for (fp__tp_conn_t *c = tp->conns, *cn; c != NULL; c = cn) {
        cn = c->next;
        fp__tp_close(c, FP_ERR_CLOSED, "transport shut down");
    }
    for (int i = 0; i < 1000 && tp->conns != NULL; i++)
        ucp_worker_progress(tp->worker);
    run_posted(tp);
    fp__tp_regcache_clear(tp);
    while (tp->free_reqs != NULL) {
        send_req_t *r = tp->free_reqs;
        tp->free_reqs = r->next;
        free(r);
    }
    if (tp->listener != NULL)
        ucp_listener_destroy(tp->listener);
    ucp_worker_destroy(tp->worker);
    ucp_cleanup(tp->context);
    free(tp->by_ep.slots);
    free(tp->by_route.slots);
    pthread_mutex_destroy(&tp->post_lock);
    fp__auth_secret_free(tp->own_secret);
    free(tp);
}

const char *fp__tp_transports(const fp__tp_t *tp) { return tp->transports; }

void fp__tp_get_stats(const fp__tp_t *tp, fp__tp_stats_t *stats)
{
    *stats = tp->stats;
}

void fp__tp_note_copy(fp__tp_t *tp, size_t bytes)
{
    tp->stats.bytes_copied += bytes;
}
