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
} bulk_recv_t;

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
    b->msg.u.bulk.data = b->dest.buf; /* meaningful for BULK messages */
    b->dest.done(c, b->dest.user_data, fp__from_ucs(status), &b->msg, b->dest.buf,
                 b->len);
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
            fp__ucx.am_recv_data_nbx(tp->worker, data, dest.buf, length, &rp);
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

