/*
 * The connection protocol on top of the UCX plumbing (endpoint.c, send.c,
 * recv.c, progress.c).
 *
 * Design note.
 *
 * Every message that arrives is decoded and fully validated
 * (fp__wire_decode) before anything acts on it; a message that fails
 * validation, or that is not allowed in the connection's state, closes that
 * connection with the decoder's reason logged, and nothing else in the
 * process is touched.
 *
 * Handshake (docs/PROTOCOL.md, "Handshake"):
 *
 *   client                                   server
 *   HELLO(nonce_c, id_c)          ---->
 *                                 <----      HELLO(nonce_s, id_s)
 *                                 <----      AUTH(echo nonce_c, proof_s)
 *   AUTH(echo nonce_s, proof_c)   ---->
 *                                 <----      AUTH_OK           (server ready)
 *   (client ready once proof_s checked and AUTH_OK received)
 *
 * Proofs are HMAC-SHA256 over both nonces and both ids keyed from the pool
 * secret (auth.c).  Until a side is ready it accepts only HELLO, AUTH,
 * AUTH_OK and ERROR, in that order, and refuses rendezvous payloads.  A wrong
 * secret gives both sides FP_ERR_AUTH with "wrong pool secret" in the
 * reason; the side that finds out first tells the other with a fatal ERROR.
 *
 * After the handshake: HEARTBEAT only refreshes the peer's deadline (progress.c
 * sends one after heartbeat_interval without any other traffic), GOODBYE and
 * fatal ERROR close, and every other message goes to the layer above.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tp_conn.h"
#include "wire.h"

/* ---- sending control messages ------------------------------------------ */

static void ctl_sent(void *user_data, fp_status_t status)
{
    (void)status;
    free(user_data);
}

/* Encode `msg` and send it; the payload lives in a buffer freed on
 * completion.  Returns the send status. */
static fp_status_t send_ctl(fp__tp_conn_t *c, fp__wire_msg_t *msg)
{
    char reason[160];
    size_t hl, pl, len;
    /* the number is taken now (an inline completion may send again) and
     * given back if nothing went: the receiver counts skipped ones */
    msg->hdr.seq = ++c->seq;
    msg->hdr.route = c->peer_route;
    fp_status_t st = fp__wire_size(msg, &hl, &pl, reason, sizeof(reason));
    if (st != FP_OK)
        goto err;
    unsigned char *b = malloc(hl + pl); /* header then payload */
    if (b == NULL) {
        c->seq--;
        return FP_ERR_NOMEM;
    }
    st = fp__wire_encode(b, hl + pl, msg, &len, reason, sizeof(reason));
    if (st != FP_OK) {
        free(b);
        goto err;
    }
    c->tp->stats.bytes_copied += pl; /* encoding copied the payload in */
    if (c->encrypt && c->state == FP__CONN_READY) {
        /* sealed into a staging buffer: b is not needed past the call */
        st = fp__tp_send_sealed(c, b, hl, pl ? b + hl : NULL, pl, NULL, NULL);
        free(b);
        if (st != FP_OK)
            c->seq--;
        return st;
    }
    st = fp__tp_send_raw(c, b, hl, pl ? b + hl : NULL, pl, ctl_sent, b);
    if (st != FP_OK) { /* no callback ran: nothing else was sent since */
        free(b);
        c->seq--;
    }
    return st;
err:
    c->seq--;
    fp__tp_log(c->tp, FP_LOG_ERROR, "cannot encode %s: %s",
               fp__wire_type_name(msg->hdr.type), reason);
    return st;
}

static void send_error(fp__tp_conn_t *c, fp_status_t status, uint32_t ref_seq,
                       uint8_t ref_type, const char *text)
{
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_ERROR;
    m.hdr.flags = FP__WIRE_F_FATAL;
    m.u.text.status = status < 0 ? status : FP_ERR_PROTOCOL;
    m.u.text.ref_seq = ref_seq;
    m.u.text.ref_type = ref_type;
    m.u.text.message = text;
    m.u.text.message_len = strlen(text);
    if (m.u.text.message_len > FP__WIRE_TEXT_MAX)
        m.u.text.message_len = FP__WIRE_TEXT_MAX;
    send_ctl(c, &m);
}

/* Tell the peer why (best effort), then close. */
static void fail(fp__tp_conn_t *c, fp_status_t status, uint32_t ref_seq,
                 uint8_t ref_type, const char *reason)
{
    send_error(c, status, ref_seq, ref_type, reason);
    fp__tp_close(c, status, reason);
}

static fp_status_t send_hello(fp__tp_conn_t *c)
{
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_HELLO;
    m.hdr.flags = c->want_encrypt ? FP__WIRE_F_ENCRYPT : 0;
    m.u.hello.version_min = c->tp->version_min;
    m.u.hello.version_max = c->tp->version_max;
    m.u.hello.role = c->tp->role;
    m.u.hello.executors = c->tp->executors;
    m.u.hello.instance = c->tp->instance;
    m.u.hello.route = c->route;
    m.u.hello.nonce = fp__auth_my_nonce(&c->auth);
    m.u.hello.id = c->tp->id;
    m.u.hello.id_len = strlen(c->tp->id);
    return send_ctl(c, &m);
}

static fp_status_t send_auth(fp__tp_conn_t *c)
{
    char reason[160];
    unsigned char mac[FP__AUTH_MAC_LEN];
    fp_status_t st = fp__auth_make_proof(&c->auth, mac, reason, sizeof(reason));
    if (st != FP_OK) {
        fail(c, st, 0, 0, reason);
        return st;
    }
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_AUTH;
    m.u.auth.nonce_echo = c->peer_nonce;
    m.u.auth.mac = mac;
    return send_ctl(c, &m);
}

static void become_ready(fp__tp_conn_t *c)
{
    c->state = FP__CONN_READY;
    fp__auth_clear(&c->auth);
    fp__tp_conn_describe(c);
    fp__tp_log(c->tp, FP_LOG_INFO,
               "connection %s authenticated (peer '%s'), transports %s",
               c->peer, c->peer_id, c->transports);
    if (c->tp->handlers.on_ready != NULL)
        c->tp->handlers.on_ready(c->tp->handlers.arg, c);
}

/* ---- the connection's life ---------------------------------------------- */

void fp__tp_conn_start(fp__tp_conn_t *c)
{
    char reason[200];
    fp__tp_t *tp = c->tp;
    fp_status_t st = fp__auth_init(
        &c->auth, c->client ? FP__AUTH_CLIENT : FP__AUTH_SERVER, tp->secret,
        tp->id, strlen(tp->id), reason, sizeof(reason));
    if (st != FP_OK) {
        fp__tp_close(c, st, reason);
        return;
    }
    c->state = FP__CONN_HANDSHAKE;
    if (c->client && send_hello(c) != FP_OK)
        fp__tp_close(c, FP_ERR_PEER, "cannot send HELLO");
}

void fp__tp_conn_fini(fp__tp_conn_t *c)
{
    fp__auth_clear(&c->auth);
    fp__crypt_fini(&c->crypt);
}

void fp__tp_conn_crypt_fail(fp__tp_conn_t *c, fp_status_t status,
                            const char *reason)
{
    char full[300];
    snprintf(full, sizeof(full), "%s (from %s)", reason, c->peer);
    fp__tp_log(c->tp, FP_LOG_ERROR, "%s", full);
    fail(c, status, 0, 0, full);
}

static const char *role_name(uint8_t role)
{
    switch (role) {
    case FP__WIRE_ROLE_CLIENT:
        return "client";
    case FP__WIRE_ROLE_NODE:
        return "node";
    case FP__WIRE_ROLE_SERVER:
        return "server";
    default:
        return "peer";
    }
}

/* Both sides must agree on encryption (PROTOCOL.md §14): true when they
 * do (and then the keys are set up), else the connection is refused with
 * a reason that names the side that requires it. */
static bool negotiate_encryption(fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    char reason[300];
    bool peer_enc = (m->hdr.flags & FP__WIRE_F_ENCRYPT) != 0;
    const char *peer = role_name(m->u.hello.role);
    const char *me = role_name(c->tp->role);
    if (peer_enc == c->want_encrypt) {
        if (!peer_enc)
            return true;
        unsigned char ks[FP__AUTH_KEY_LEN], kr[FP__AUTH_KEY_LEN];
        fp_status_t st = fp__auth_session_keys(&c->auth, ks, kr, reason,
                                               sizeof(reason));
        if (st == FP_OK)
            st = fp__crypt_init(&c->crypt, ks, kr, reason, sizeof(reason));
        OPENSSL_cleanse(ks, sizeof(ks));
        OPENSSL_cleanse(kr, sizeof(kr));
        if (st != FP_OK) {
            fail(c, st, m->hdr.seq, m->hdr.type, reason);
            return false;
        }
        c->encrypt = true;
        return true;
    }
    if (c->want_encrypt)
        snprintf(reason, sizeof(reason),
                 "%s %s does not offer encryption, which this %s requires "
                 "(FP_ENCRYPT=1 here): turn it on there too",
                 peer, c->peer, me);
    else
        snprintf(reason, sizeof(reason),
                 "%s %s requires encryption (FP_ENCRYPT=1); this %s does not "
                 "encrypt: set FP_ENCRYPT=1 (or the encrypt parameter) here "
                 "too",
                 peer, c->peer, me);
    fp__tp_log(c->tp, FP_LOG_ERROR, "%s", reason);
    /* The acceptor answers with its HELLO (and nothing more: no AUTH, so
     * the handshake cannot complete), so that the initiator sees what this
     * side asks for and closes with its own reason; this side then closes
     * on the initiator's ERROR, its leaving, or the handshake deadline.
     * Closing here at once would lose both messages (a FORCE close drops
     * what is not yet sent) and leave the initiator with "connection
     * reset". */
    if (!c->client && send_hello(c) == FP_OK)
        return false;
    fail(c, FP_ERR_AUTH, m->hdr.seq, m->hdr.type, reason);
    return false;
}

void fp__tp_conn_heartbeat(fp__tp_conn_t *c)
{
    if (c->state != FP__CONN_READY)
        return;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_HEARTBEAT;
    m.u.heartbeat.hb_seq = ++c->hb_seq;
    m.u.heartbeat.send_time_ns = (uint64_t)(c->tp->now * 1e9);
    send_ctl(c, &m);
}

static void on_hello(fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    char reason[200];
    const fp__wire_hello_t *h = &m->u.hello;
    uint8_t version;
    if (c->hello_received) {
        fail(c, FP_ERR_PROTOCOL, m->hdr.seq, m->hdr.type, "second HELLO");
        return;
    }
    if (fp__wire_negotiate(c->tp->version_min, c->tp->version_max,
                           h->version_min, h->version_max,
                           &version) != FP_OK) {
        snprintf(reason, sizeof(reason),
                 "protocol version mismatch: peer speaks %u..%u, we speak "
                 "%u..%u",
                 h->version_min, h->version_max, c->tp->version_min,
                 c->tp->version_max);
        fail(c, FP_ERR_UNSUPPORTED, m->hdr.seq, m->hdr.type, reason);
        return;
    }
    c->version = version;
    c->peer_role = h->role;
    c->peer_route = h->route;
    c->peer_executors = h->executors;
    size_t idl = h->id_len < sizeof(c->peer_id) - 1 ? h->id_len
                                                     : sizeof(c->peer_id) - 1;
    memcpy(c->peer_id, h->id, idl);
    c->peer_id[idl] = '\0';
    memcpy(c->peer_nonce, h->nonce, FP__WIRE_NONCE_LEN);
    fp_status_t st = fp__auth_set_peer(&c->auth, h->nonce, h->id, h->id_len,
                                       reason, sizeof(reason));
    if (st != FP_OK) {
        fail(c, st, m->hdr.seq, m->hdr.type, reason);
        return;
    }
    if (!negotiate_encryption(c, m))
        return;
    c->hello_received = true;
    if (!c->client && send_hello(c) != FP_OK) {
        fp__tp_close(c, FP_ERR_PEER, "cannot send HELLO");
        return;
    }
    send_auth(c);
}

static void on_auth(fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    char reason[200];
    if (!c->hello_received || c->proof_ok) {
        fail(c, FP_ERR_PROTOCOL, m->hdr.seq, m->hdr.type,
             "AUTH out of order");
        return;
    }
    if (memcmp(m->u.auth.nonce_echo, fp__auth_my_nonce(&c->auth),
               FP__WIRE_NONCE_LEN) != 0) {
        fail(c, FP_ERR_AUTH, m->hdr.seq, m->hdr.type,
             "AUTH answers another connection's HELLO (nonce echo differs)");
        return;
    }
    fp_status_t st = fp__auth_check_proof(&c->auth, m->u.auth.mac, reason,
                                          sizeof(reason));
    if (st != FP_OK) {
        char full[300];
        snprintf(full, sizeof(full), "%s %s failed authentication: %s",
                 c->client ? "server" : "client", c->peer, reason);
        fp__tp_log(c->tp, FP_LOG_ERROR, "%s", full);
        fail(c, FP_ERR_AUTH, m->hdr.seq, m->hdr.type, full);
        return;
    }
    c->proof_ok = true;
    if (!c->client) {
        fp__wire_msg_t ok;
        memset(&ok, 0, sizeof(ok));
        ok.hdr.type = FP__WIRE_AUTH_OK;
        if (send_ctl(c, &ok) != FP_OK) {
            fp__tp_close(c, FP_ERR_PEER, "cannot send AUTH_OK");
            return;
        }
        become_ready(c);
    } else if (c->auth_ok_received) {
        become_ready(c);
    }
}

static void on_error_msg(fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    char reason[400];
    const fp__wire_text_msg_t *t = &m->u.text;
    snprintf(reason, sizeof(reason), "peer %s reported %s: %.*s", c->peer,
             fp_status_string((fp_status_t)t->status), (int)t->message_len,
             t->message);
    if ((m->hdr.flags & FP__WIRE_F_FATAL) || c->state != FP__CONN_READY) {
        fp__tp_log(c->tp, FP_LOG_ERROR, "%s", reason);
        fp_status_t st = t->status == FP_ERR_AUTH ? FP_ERR_AUTH : FP_ERR_PEER;
        fp__tp_close(c, st, reason);
        return;
    }
    fp__tp_log(c->tp, FP_LOG_WARN, "%s", reason);
    if (c->tp->handlers.on_message != NULL)
        c->tp->handlers.on_message(c->tp->handlers.arg, c, m);
}

/* Every message a peer sends carries the next number of its counter
 * (`seq`, PROTOCOL.md §3).  A jump means a message was lost or reordered
 * below us: nothing in the protocol recovers it here (the pool layer's
 * failure handling does), but it must not go unnoticed. */
static void note_seq(fp__tp_conn_t *c, uint32_t seq)
{
    uint32_t want = c->peer_seq + 1;
    c->peer_seq = seq;
    if (seq == want)
        return;
    uint64_t n = ++c->tp->stats.seq_gaps;
    if ((n & (n - 1)) == 0)
        fp__tp_log(c->tp, FP_LOG_WARN,
                   "message sequence from %s went from %" PRIu32 " to %" PRIu32
                   ": a message was lost or reordered below the transport "
                   "(%" PRIu64 " such jumps so far)",
                   c->peer, want - 1, seq, n);
}

void fp__tp_conn_deliver(fp__tp_conn_t *c, const void *header,
                         size_t header_len, const void *payload, size_t len)
{
    char reason[200];
    fp__wire_msg_t m;
    fp_status_t st;
    if (header_len == 0) {
        /* am_recv found no AM header and no plausible framed one */
        snprintf(reason, sizeof(reason),
                 "no header: %zu data bytes without an AM header, and not a "
                 "framed message (too short, or its header length field out "
                 "of bounds)",
                 len);
        st = FP_ERR_PROTOCOL;
    } else {
        st = fp__wire_decode(header, header_len, payload, len, &m, reason,
                             sizeof(reason));
    }
    if (st != FP_OK) {
        char full[300];
        snprintf(full, sizeof(full), "bad message from %s: %s", c->peer,
                 reason);
        fp__tp_log(c->tp, FP_LOG_ERROR, "%s", full);
        fail(c, FP_ERR_PROTOCOL, 0, 0, full);
        return;
    }
    note_seq(c, m.hdr.seq);
    uint8_t type = m.hdr.type;
    if (type == FP__WIRE_ERROR) {
        on_error_msg(c, &m);
        return;
    }
    if (c->state == FP__CONN_HANDSHAKE) {
        switch (type) {
        case FP__WIRE_HELLO:
            on_hello(c, &m);
            return;
        case FP__WIRE_AUTH:
            on_auth(c, &m);
            return;
        case FP__WIRE_AUTH_OK:
            if (!c->client || c->auth_ok_received) {
                fail(c, FP_ERR_PROTOCOL, m.hdr.seq, type,
                     "unexpected AUTH_OK");
                return;
            }
            c->auth_ok_received = true;
            if (c->proof_ok)
                become_ready(c);
            return;
        default:
            snprintf(reason, sizeof(reason),
                     "%s from %s before authentication",
                     fp__wire_type_name(type), c->peer);
            fp__tp_log(c->tp, FP_LOG_ERROR, "%s", reason);
            fail(c, FP_ERR_AUTH, m.hdr.seq, type, reason);
            return;
        }
    }
    switch (type) {
    case FP__WIRE_HELLO:
    case FP__WIRE_AUTH:
    case FP__WIRE_AUTH_OK:
        snprintf(reason, sizeof(reason), "%s after the handshake",
                 fp__wire_type_name(type));
        fail(c, FP_ERR_PROTOCOL, m.hdr.seq, type, reason);
        return;
    case FP__WIRE_HEARTBEAT:
        /* last_heard is already refreshed.  Echo (REPLY, same fields)
         * when we have been quiet, for a peer whose deadline is shorter
         * than our heartbeat period; an echo is never echoed. */
        if (!(m.hdr.flags & FP__WIRE_F_REPLY) &&
            c->state == FP__CONN_READY && c->tp->now - c->last_sent >= 0.05) {
            fp__wire_msg_t e;
            memset(&e, 0, sizeof(e));
            e.hdr.type = FP__WIRE_HEARTBEAT;
            e.hdr.flags = FP__WIRE_F_REPLY;
            e.u.heartbeat = m.u.heartbeat;
            send_ctl(c, &e);
        }
        return;
    case FP__WIRE_GOODBYE:
        fp__tp_close(c, FP_ERR_CLOSED, "peer said goodbye");
        return;
    default:
        break;
    }
    if (!fp__wire_sender_ok(c->peer_role, &m)) {
        snprintf(reason, sizeof(reason), "%s may not be sent by a peer of "
                                         "role %u",
                 fp__wire_type_name(type), c->peer_role);
        fail(c, FP_ERR_PROTOCOL, m.hdr.seq, type, reason);
        return;
    }
    if (c->tp->handlers.on_message != NULL)
        c->tp->handlers.on_message(c->tp->handlers.arg, c, &m);
}

bool fp__tp_conn_accepts_bulk(fp__tp_conn_t *c, const void *header,
                              size_t header_len, size_t len, fp__wire_msg_t *m)
{
    char reason[200];
    if (c->state != FP__CONN_READY) {
        snprintf(reason, sizeof(reason),
                 "%zu-byte rendezvous payload from %s before authentication",
                 len, c->peer);
        fp__tp_log(c->tp, FP_LOG_ERROR, "%s", reason);
        fail(c, FP_ERR_AUTH, 0, 0, reason);
        return false;
    }
    if (fp__wire_decode_header(header, header_len, len, m, reason,
                               sizeof(reason)) != FP_OK) {
        char full[300];
        snprintf(full, sizeof(full), "bad message from %s: %s", c->peer,
                 reason);
        fp__tp_log(c->tp, FP_LOG_ERROR, "%s", full);
        fail(c, FP_ERR_PROTOCOL, 0, 0, full);
        return false;
    }
    note_seq(c, m->hdr.seq);
    if (!fp__wire_sender_ok(c->peer_role, m)) {
        fail(c, FP_ERR_PROTOCOL, m->hdr.seq, m->hdr.type,
             "rendezvous message not allowed from this peer's role");
        return false;
    }
    return true;
}

/* ---- the public send ---------------------------------------------------- */

fp_status_t fp__tp_send(fp__tp_conn_t *c, fp__wire_msg_t *msg,
                        const void *payload, size_t len, fp__tp_send_cb_t cb,
                        void *user_data)
{
    return fp__tp_send_mem(c, msg, payload, len, NULL, cb, user_data);
}

/* Number, address and encode `msg`, then send it: split (the header as the
 * AM header) or, with `frame_end` (== payload, FP__TP_HEADROOM writable
 * bytes before it), framed. */
static fp_status_t send_msg(fp__tp_conn_t *c, fp__wire_msg_t *msg,
                            const void *payload, size_t len,
                            unsigned char *frame_end, const fp__tp_mem_t *mem,
                            fp__tp_send_cb_t cb, void *user_data)
{
    char reason[160];
    unsigned char hdr[FP__WIRE_HDR_MAX];
    size_t hl;
    if (c->state != FP__CONN_READY)
        return c->state == FP__CONN_CLOSED ? FP_ERR_CLOSED : FP_ERR_STATE;
    msg->hdr.seq = ++c->seq;
    msg->hdr.route = c->peer_route;
    if (c->encrypt)
        frame_end = NULL; /* a sealed record has its own layout */
    /* framed: the header is encoded straight into the headroom in front of
     * the payload (its length is fixed by the type) */
    size_t fl = frame_end != NULL ? fp__wire_header_len(msg->hdr.type) : 0;
    unsigned char *at = fl != 0 ? frame_end - fl : hdr;
    fp_status_t st = fp__wire_encode_header(
        at, fl != 0 ? fl : sizeof(hdr), msg, &hl, reason, sizeof(reason));
    if (st != FP_OK) {
        c->seq--;
        fp__tp_log(c->tp, FP_LOG_ERROR, "cannot send %s: %s",
                   fp__wire_type_name(msg->hdr.type), reason);
        return st;
    }
    if (c->encrypt)
        st = fp__tp_send_sealed(c, hdr, hl, payload, len, cb, user_data);
    else if (fl != 0)
        st = fp__tp_send_raw_mem(c, NULL, 0, at, hl + len, mem, cb,
                                 user_data);
    else
        st = fp__tp_send_raw_mem(c, hdr, hl, payload, len, mem, cb,
                                 user_data);
    /* c may be gone once the send returned FP_OK (an inline completion
     * callback may close it): touch it only on error, when none ran */
    if (st != FP_OK)
        c->seq--;
    return st;
}

/* ---- large BULKs on an encrypted connection: in pieces -------------------
 *
 * Sealed whole, a 4 MiB BULK is encrypted (about 1 ms here) before its
 * first byte leaves, and decrypted only once its last byte is in: the two
 * AEAD passes and the transfer follow one another.  Sent as BULKs of
 * SEAL_PIECE bytes (disjoint ranges of the same object, PROTOCOL.md §8),
 * sealed SEAL_AHEAD pieces ahead of their completions, the receiver opens
 * piece k while piece k+1 travels and the sender seals the next as the
 * earlier ones complete.  The caller's callback runs once, when every
 * piece has completed (with the first error, if any). */

#define SEAL_PIECE ((size_t)256 << 10)
#define SEAL_AHEAD 4

typedef struct pieces {
    fp__tp_conn_t *c;
    fp__wire_msg_t msg; /* the whole BULK */
    const unsigned char *payload;
    size_t len, next, piece;
    int inflight;
    bool pumping;
    fp_status_t status;
    fp__tp_send_cb_t cb;
    void *user_data;
} pieces_t;

static void pieces_pump(pieces_t *p);

static void piece_sent(void *ud, fp_status_t st)
{
    pieces_t *p = ud;
    p->inflight--;
    if (st != FP_OK && p->status == FP_OK)
        p->status = st;
    pieces_pump(p);
}

/* Send more pieces while there is room; finish when all are done.  An
 * inline completion re-enters through piece_sent: `pumping` keeps that to
 * the outer loop. */
static void pieces_pump(pieces_t *p)
{
    if (p->pumping)
        return;
    p->pumping = true;
    while (p->status == FP_OK && p->next < p->len &&
           p->inflight < SEAL_AHEAD) {
        if (p->c->state != FP__CONN_READY) {
            p->status = FP_ERR_CLOSED;
            break;
        }
        size_t off = p->next;
        size_t n = p->len - off < p->piece ? p->len - off : p->piece;
        fp__wire_msg_t m = p->msg;
        m.u.bulk.offset += off;
        m.u.bulk.data = p->payload + off;
        m.u.bulk.len = n;
        p->next += n;
        p->inflight++;
        fp_status_t st = send_msg(p->c, &m, p->payload + off, n, NULL, NULL,
                                  piece_sent, p);
        if (st != FP_OK) {
            p->inflight--;
            p->status = st;
        }
    }
    p->pumping = false;
    if (p->inflight == 0 && (p->next == p->len || p->status != FP_OK)) {
        fp__tp_send_cb_t cb = p->cb;
        void *ud = p->user_data;
        fp_status_t st = p->status;
        fp__tp_conn_t *c = p->c;
        free(p);
        if (cb != NULL)
            cb(ud, st);
        fp__tp_conn_unref(c);
    }
}

static fp_status_t send_pieces(fp__tp_conn_t *c, fp__wire_msg_t *msg,
                               const void *payload, size_t len,
                               fp__tp_send_cb_t cb, void *user_data)
{
    pieces_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return FP_ERR_NOMEM;
    p->c = c;
    p->msg = *msg;
    p->payload = payload;
    p->len = len;
    /* every piece a rendezvous one, as the whole would have been */
    p->piece = SEAL_PIECE > c->tp->rndv_threshold ? SEAL_PIECE
                                                  : c->tp->rndv_threshold;
    p->cb = cb;
    p->user_data = user_data;
    /* the first piece decides: an error there is the caller's, with no
     * callback, as for any send */
    fp__wire_msg_t m = p->msg;
    m.u.bulk.data = payload;
    m.u.bulk.len = p->piece;
    p->next = p->piece;
    p->inflight = 1;
    p->pumping = true;
    fp_status_t st = send_msg(c, &m, payload, p->piece, NULL, NULL,
                              piece_sent, p);
    if (st != FP_OK) {
        free(p);
        return st;
    }
    fp__tp_conn_ref(c);
    p->pumping = false;
    pieces_pump(p);
    return FP_OK;
}

fp_status_t fp__tp_send_mem(fp__tp_conn_t *c, fp__wire_msg_t *msg,
                            const void *payload, size_t len,
                            const fp__tp_mem_t *mem, fp__tp_send_cb_t cb,
                            void *user_data)
{
    if (c->encrypt && c->state == FP__CONN_READY &&
        msg->hdr.type == FP__WIRE_BULK && len >= 2 * SEAL_PIECE &&
        len >= 2 * c->tp->rndv_threshold)
        return send_pieces(c, msg, payload, len, cb, user_data);
    return send_msg(c, msg, payload, len, NULL, mem, cb, user_data);
}

fp_status_t fp__tp_send_framed(fp__tp_conn_t *c, fp__wire_msg_t *msg,
                               void *payload, size_t len,
                               const fp__tp_mem_t *mem, fp__tp_send_cb_t cb,
                               void *user_data)
{
    if (payload == NULL)
        return FP_ERR_INVALID;
    /* a rendezvous payload goes straight into the receiver's buffer: its
     * header travels in UCX's request-to-send, not in front of it */
    bool framed = len < c->tp->rndv_threshold;
    return send_msg(c, msg, payload, len, framed ? payload : NULL, mem, cb,
                    user_data);
}

void fp__tp_goodbye(fp__tp_conn_t *c)
{
    if (c->state == FP__CONN_READY) {
        fp__wire_msg_t m;
        memset(&m, 0, sizeof(m));
        m.hdr.type = FP__WIRE_GOODBYE;
        m.u.text.reason = FP__WIRE_BYE_NORMAL;
        send_ctl(c, &m);
        c->said_goodbye = true;
    }
}
