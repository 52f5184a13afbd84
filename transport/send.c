/*
 * Sends: one UCX active message per fastpool message (header as the AM
 * header, or inside the data in the framed form), requests recycled.
 */
#include <string.h>
#include <stdlib.h>

#include "common/compiler.h"
#include "tp_conn.h"
#include "ucx_api.h"


typedef struct send_req {
    fp__tp_conn_t *conn;
    fp__tp_send_cb_t cb;
    void *user_data;
    struct send_req *next, *prev; /* conn's pending list */
    void *ucx_req;
    size_t header_len;
    unsigned char header[FP__TP_AM_HEADER_MAX];
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
        fp__ucx.request_free(request);
    send_req_free(c->tp, r);
    if (cb != NULL)
        cb(ud, fp__from_ucs(status));
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
    if (header_len > FP__TP_AM_HEADER_MAX ||
        (header == NULL && header_len != 0) ||
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

    ucs_status_ptr_t sp = fp__ucx.am_send_nbx(c->ep, FP__TP_AM_ID,
                                          header_len != 0 ? r->header : NULL,
                                          header_len,
                                          payload, len, &param);
    tp->stats.msgs_sent++;
    /* payload bytes, as bytes_received counts them: not a framed header */
    tp->stats.bytes_sent +=
        header_len != 0 ? len : len - fp__wire_framed_hdr_len(payload, len);
    c->last_sent = tp->now;
    if (FP__LIKELY(sp == NULL)) {
        /* completed inline (most eager sends): UCX does NOT call the
         * callback, and the request never needed linking.  `c` is not
         * touched after cb, which may close it. */
        send_req_free(tp, r);
        if (cb != NULL)
            cb(user_data, FP_OK);
        return FP_OK;
    }
    if (UCS_PTR_IS_ERR(sp)) {
        send_req_free(tp, r);
        return fp__from_ucs(UCS_PTR_STATUS(sp));
    }
    /* in flight: UCX calls send_done from a later progress round, never
     * from inside ucp_am_send_nbx, so linking it now keeps the pending list
     * and the connection's reference right */
    r->prev = NULL;
    r->next = c->pending;
    if (c->pending != NULL)
        c->pending->prev = r;
    c->pending = r;
    fp__tp_conn_ref(c);
    r->ucx_req = sp;
    return FP_OK;
}

/* ---- sealed sends ---------------------------------------------------------
 *
 * The caller's payload is encrypted into a staging buffer (it may not be
 * written, and must not be: it is the caller's array), which is then sent;
 * zero copy is lost on the sending side.  Staging buffers are recycled by
 * size class (powers of two) and those used for rendezvous keep their
 * registration in the registration cache, so a steady stream of 4 MiB
 * payloads registers a few buffers once. */

typedef struct stage_buf {
    struct stage_buf *next;
    fp__tp_t *tp;
    size_t cap;
    fp__tp_mem_t *mem; /* while a rendezvous send uses it */
    fp__tp_send_cb_t cb;
    void *user_data;
    unsigned char *buf;
} stage_buf_t;

#define STAGE_KEEP 8                    /* buffers kept for reuse */
#define STAGE_KEEP_BYTES ((size_t)64 << 20)

static size_t stage_class(size_t len)
{
    size_t cap = 4096;
    while (cap < len)
        cap <<= 1;
    return cap;
}

static void stage_destroy(fp__tp_t *tp, stage_buf_t *s)
{
    fp__tp_mem_invalidate(tp, s->buf, s->cap);
    free(s->buf);
    free(s);
}

static stage_buf_t *stage_get(fp__tp_t *tp, size_t len)
{
    size_t cap = stage_class(len);
    for (stage_buf_t **pp = &tp->stages; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->cap == cap) {
            stage_buf_t *s = *pp;
            *pp = s->next;
            tp->nstages--;
            return s;
        }
    }
    stage_buf_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->buf = aligned_alloc(64, cap);
    if (s->buf == NULL) {
        free(s);
        return NULL;
    }
    s->tp = tp;
    s->cap = cap;
    return s;
}

static void stage_put(fp__tp_t *tp, stage_buf_t *s)
{
    if (s->mem != NULL) {
        fp__tp_mem_put(s->mem);
        s->mem = NULL;
    }
    size_t bytes = s->cap;
    for (stage_buf_t *o = tp->stages; o != NULL; o = o->next)
        bytes += o->cap;
    if (tp->nstages >= STAGE_KEEP || bytes > STAGE_KEEP_BYTES) {
        stage_destroy(tp, s);
        return;
    }
    s->next = tp->stages;
    tp->stages = s;
    tp->nstages++;
}

void fp__tp_stages_free(fp__tp_t *tp)
{
    while (tp->stages != NULL) {
        stage_buf_t *s = tp->stages;
        tp->stages = s->next;
        stage_destroy(tp, s);
    }
    tp->nstages = 0;
}

static void stage_sent(void *user_data, fp_status_t status)
{
    stage_buf_t *s = user_data;
    fp__tp_send_cb_t cb = s->cb;
    void *ud = s->user_data;
    stage_put(s->tp, s);
    if (cb != NULL)
        cb(ud, status);
}

fp_status_t fp__tp_send_sealed(fp__tp_conn_t *c, const void *header,
                               size_t header_len, const void *payload,
                               size_t len, fp__tp_send_cb_t cb,
                               void *user_data)
{
    fp__tp_t *tp = c->tp;
    char reason[200];
    unsigned char amh[FP__TP_AM_HEADER_MAX];
    size_t amhl = 0;
    stage_buf_t *s = NULL;
    if (len > 0) {
        s = stage_get(tp, len);
        if (s == NULL)
            return FP_ERR_NOMEM;
    }
    fp_status_t st = fp__crypt_seal(&c->crypt, c->peer_route, header,
                                    header_len, payload, len,
                                    s != NULL ? s->buf : NULL, amh, &amhl,
                                    reason, sizeof(reason));
    if (st != FP_OK) {
        fp__tp_log(tp, FP_LOG_ERROR, "cannot encrypt a message to %s: %s",
                   c->peer, reason);
        if (s != NULL)
            stage_put(tp, s);
        return st;
    }
    tp->stats.sealed++;
    tp->stats.bytes_copied += len; /* encrypted into the staging buffer */
    if (FP__UNLIKELY(tp->tamper_at != 0 && tp->stats.sealed == tp->tamper_at)) {
        /* FP_TEST_TAMPER (tests only): what an attacker on the path would
         * do; the receiver must refuse it */
        if (len > 0)
            s->buf[len / 2] ^= 0x10;
        else
            amh[FP__CRYPT_ENV_LEN] ^= 0x10;
        fp__tp_log(tp, FP_LOG_ERROR,
                   "FP_TEST_TAMPER: flipped a bit in sealed message %llu "
                   "(%zu-byte payload) to %s",
                   (unsigned long long)tp->stats.sealed, len, c->peer);
    }
    if (s == NULL)
        return fp__tp_send_raw(c, amh, amhl, NULL, 0, cb, user_data);
    s->cb = cb;
    s->user_data = user_data;
    if (len >= tp->rndv_threshold &&
        fp__tp_mem_get(tp, s->buf, s->cap, &s->mem) != FP_OK)
        s->mem = NULL; /* UCX registers it itself */
    st = fp__tp_send_raw_mem(c, amh, amhl, s->buf, len, s->mem, stage_sent, s);
    if (st != FP_OK)
        stage_put(tp, s);
    return st;
}

void fp__tp_send_reqs_free(fp__tp_t *tp)
{
    while (tp->free_reqs != NULL) {
        send_req_t *r = tp->free_reqs;
        tp->free_reqs = r->next;
        free(r);
    }
    tp->nfree_reqs = 0;
}
