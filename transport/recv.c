/*
 * Receives: the one active-message handler.  It finds the connection a
 * message belongs to (reply endpoint during the handshake, route token
 * after it), hands eager messages to the connection protocol (conn.c) and
 * receives rendezvous payloads straight into the buffer the layer above
 * chose.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tp_conn.h"
#include "ucx_api.h"


typedef struct bulk_recv {
    fp__tp_conn_t *conn;
    fp__tp_bulk_dest_t dest;
    size_t len;
    fp__wire_msg_t msg; /* decoded header: holds no pointer into it */
    /* a sealed record's payload: decrypted in place once it is here */
    bool sealed;
    uint64_t ctr;
    unsigned char env[FP__CRYPT_ENV_LEN];
    unsigned char ptag[FP__CRYPT_TAG_LEN];
} bulk_recv_t;

/* A sealed message that cannot be opened: duplicates are dropped and
 * counted, anything else closes the connection.  Returns what the AM
 * handler returns. */
static ucs_status_t open_failed(fp__tp_conn_t *c, fp_status_t st,
                                const char *reason, bool rndv)
{
    fp__tp_t *tp = c->tp;
    if (st == FP_ERR_EXISTS) {
        uint64_t n = ++tp->stats.replays;
        if ((n & (n - 1)) == 0)
            fp__tp_log(tp, FP_LOG_WARN,
                       "dropped a message from %s: %s (%llu so far)", c->peer,
                       reason, (unsigned long long)n);
    } else {
        fp__tp_conn_crypt_fail(c, st, reason);
    }
    return rndv ? UCS_ERR_REJECTED : UCS_OK;
}

static void bulk_recv_done(void *request, ucs_status_t status, size_t length,
                           void *user_data)
{
    bulk_recv_t *b = user_data;
    fp__tp_conn_t *c = b->conn;
    (void)length;
    if (request != NULL)
        fp__ucx.request_free(request);
    if (status == UCS_OK) {
        c->tp->stats.rndv_received++;
        c->tp->stats.bytes_received += b->len;
    }
    fp_status_t st = fp__from_ucs(status);
    char reason[200] = "";
    if (st == FP_OK && b->sealed) {
        /* in place: the clear payload ends where the layer above asked */
        st = fp__crypt_open_payload(&c->crypt, b->env, b->ctr, b->ptag,
                                    b->dest.buf, b->len, b->dest.buf, reason,
                                    sizeof(reason));
        if (st == FP_OK)
            c->tp->stats.opened++;
    }
    b->msg.u.bulk.data = b->dest.buf; /* meaningful for BULK messages */
    b->dest.done(c, b->dest.user_data, st, &b->msg, b->dest.buf, b->len);
    if (reason[0] != '\0' && c->state != FP__CONN_CLOSED)
        fp__tp_conn_crypt_fail(c, st, reason);
    free(b);
    fp__tp_conn_unref(c);
}

ucs_status_t fp__tp_am_recv(void *arg, const void *header, size_t header_len,
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
    bool sealed = fp__crypt_is_sealed(header, header_len);
    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP)
        c = fp__tp_ep_get(tp, param->reply_ep);
    else if (sealed)
        c = fp__tp_map_get(&tp->by_route, fp__crypt_peek_route(header));
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
    bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
    /* An encrypted connection takes only sealed messages once ready; its
     * header is opened here (authenticated before anything acts on it). */
    unsigned char clear_hdr[FP__CRYPT_HDR_MAX];
    bool open_sealed = c->encrypt && c->state == FP__CONN_READY;
    uint64_t ctr = 0;
    unsigned char ptag[FP__CRYPT_TAG_LEN];
    const void *sealed_env = header;
    if (open_sealed) {
        char reason[200];
        if (!sealed)
            return open_failed(c, FP_ERR_AUTH,
                               "unencrypted message on an encrypted "
                               "connection",
                               rndv);
        size_t hl = 0;
        fp_status_t st = fp__crypt_open_header(&c->crypt, header, header_len,
                                               length, clear_hdr, &hl, &ctr,
                                               ptag, reason, sizeof(reason));
        if (st != FP_OK)
            return open_failed(c, st, reason, rndv);
        header = clear_hdr;
        header_len = hl;
    }
    c->last_heard = tp->now;
    tp->stats.msgs_received++;

    if (rndv) {
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
        b->sealed = open_sealed;
        if (open_sealed) {
            b->ctr = ctr;
            memcpy(b->env, sealed_env, FP__CRYPT_ENV_LEN);
            memcpy(b->ptag, ptag, FP__CRYPT_TAG_LEN);
        }
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
            fp__ucx.am_recv_data_nbx(tp->worker, data, dest.buf, length, &rp);
        if (sp == NULL) {
            bulk_recv_done(NULL, UCS_OK, length, b);
        } else if (UCS_PTR_IS_ERR(sp)) {
            bulk_recv_done(NULL, UCS_PTR_STATUS(sp), 0, b);
        }
        return UCS_INPROGRESS;
    }

    tp->stats.bytes_received += length;
    if (open_sealed && length > 0) {
        /* UCX's receive buffer is not ours to write: open into scratch */
        if (tp->scratch_cap < length) {
            size_t cap = tp->scratch_cap ? tp->scratch_cap : 4096;
            while (cap < length)
                cap <<= 1;
            unsigned char *p = aligned_alloc(64, cap);
            if (p == NULL) {
                fp__tp_conn_crypt_fail(c, FP_ERR_NOMEM,
                                       "out of memory decrypting a message");
                return UCS_OK;
            }
            free(tp->scratch);
            tp->scratch = p;
            tp->scratch_cap = cap;
        }
        char reason[200];
        fp_status_t st = fp__crypt_open_payload(&c->crypt, sealed_env, ctr,
                                                ptag, data, length,
                                                tp->scratch, reason,
                                                sizeof(reason));
        if (st != FP_OK)
            return open_failed(c, st, reason, false);
        tp->stats.bytes_copied += length;
        data = tp->scratch;
    }
    if (open_sealed)
        tp->stats.opened++;
    fp__tp_conn_deliver(c, header, header_len, data, length);
    return UCS_OK;
}

