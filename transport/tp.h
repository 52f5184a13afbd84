/*
 * The UCX transport (internal).  Knows nothing about pools.
 *
 * A transport instance (fp__tp_t) owns one UCX context and one worker.  All
 * UCX calls happen on the instance's progress context: either its own
 * progress thread (fp__tp_start) or a thread that calls fp__tp_progress() in
 * a loop.  Every callback below runs there, and the calls marked "progress
 * context" may be made only from there (from a callback, or from a closure
 * run with fp__tp_post(), which any thread may call).
 *
 * Messages are (header, payload) pairs: the header (at most
 * FP__TP_HEADER_MAX bytes) travels as the UCX active-message header, the
 * payload as its data.  Payloads of at least `rndv_threshold` bytes go by
 * rendezvous and are received straight into a buffer the receiver chooses
 * (on_bulk): nothing is copied by fastpool on either side.
 */
#ifndef FP_TRANSPORT_TP_H
#define FP_TRANSPORT_TP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "fastpool/log.h"
#include "fastpool/status.h"
#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP__TP_HEADER_MAX 64

typedef struct fp__tp fp__tp_t;
typedef struct fp__tp_conn fp__tp_conn_t;

typedef void (*fp__tp_send_cb_t)(void *user_data, fp_status_t status);

/* Where a rendezvous payload goes: the receiver fills it in on_bulk. */
typedef struct fp__tp_mem fp__tp_mem_t;

typedef struct fp__tp_bulk_dest {
    void *buf;           /* NULL: reject the message (the sender sees an error) */
    const fp__tp_mem_t *mem; /* optional registration covering buf */
    /* the payload arrived (status FP_OK) or not; `msg` is the header
     * decoded again, its payload pointer set to buf */
    void (*done)(fp__tp_conn_t *conn, void *user_data, fp_status_t status,
                 const fp__wire_msg_t *msg, void *buf, size_t len);
    void *user_data;
} fp__tp_bulk_dest_t;

typedef struct fp__tp_handlers {
    void *arg;
    /* a connection finished its handshake (either side) */
    void (*on_ready)(void *arg, fp__tp_conn_t *conn);
    /* a validated message after the handshake (not HELLO/AUTH/HEARTBEAT/
     * GOODBYE, which the transport handles); valid only during the call */
    void (*on_message)(void *arg, fp__tp_conn_t *conn,
                       const fp__wire_msg_t *msg);
    /* a rendezvous message is announced (header validated, payload not yet
     * here): choose where its `len` bytes go; leave dest->buf NULL to
     * refuse it (the sender's send fails) */
    void (*on_bulk)(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *msg,
                    size_t len, fp__tp_bulk_dest_t *dest);
    /* the connection is gone (peer died, hung, misbehaved, or closed);
     * called once; the conn is freed after this returns */
    void (*on_closed)(void *arg, fp__tp_conn_t *conn, fp_status_t status,
                      const char *reason);
} fp__tp_handlers_t;

typedef struct fp__tp_params {
    /* Settings left 0/NULL here come from FP_TRANSPORT (transports only),
     * then from the config file's `transport` group (common/settings.h), then from
     * the defaults below. */
    const char *config_file;  /* NULL: $FP_CONFIG if set; "": none */
    const char *transports;   /* NULL/"auto", or "shm", "tcp", "shm,tcp",
                                 "rc", "ud", "dc", ...; FP_TRANSPORT env */
    bool busy_poll;           /* progress thread spins instead of sleeping */
    size_t rndv_threshold;    /* 0: 64 KiB */
    double heartbeat_interval; /* 0: 1 s */
    double peer_deadline;     /* 0: 10 s without any message = hung */
    size_t reg_max_entries;   /* registration cache; 0: 256 */
    size_t reg_max_bytes;     /* 0: 1 GiB */
    const char *name;         /* for logs */
    const fp__auth_secret_t *secret; /* NULL: fp__auth_secret_load(NULL)
                                 (FP_SECRET_FILE / FP_SECRET); required */
    const char *id;           /* our id in HELLO; NULL: "<role>:<host>:<pid>" */
    uint8_t role;             /* FP__WIRE_ROLE_*; 0: client */
    uint32_t executors;       /* announced in HELLO */
    uint8_t version_min, version_max; /* protocol versions spoken; 0: the
                                 wire's (FP__WIRE_VERSION_MIN/MAX); tests
                                 set others to act as a peer of another
                                 release */
    fp__tp_handlers_t handlers;
    fp_log_fn_t log_fn;       /* NULL: stderr */
    void *log_user_data;
    fp_log_level_t log_level;
    bool encrypt;             /* seal every message after the handshake
                                 (transport/crypt.h); false: FP_ENCRYPT,
                                 else the config file's transport.encrypt,
                                 else off.  Both sides must agree: a
                                 connection whose peer differs is refused
                                 with a reason naming the side that
                                 requires it */
} fp__tp_params_t;

typedef struct fp__tp_stats {
    uint64_t msgs_sent, msgs_received;
    uint64_t bytes_sent, bytes_received;
    uint64_t rndv_sent, rndv_received;
    uint64_t bytes_copied; /* payload bytes fastpool copied (not UCX): the
                              transport's own control messages, plus what
                              layers above report with fp__tp_note_copy */
    uint64_t reg_hits, reg_misses, reg_evictions; /* registration cache */
    uint64_t seq_gaps; /* a peer's message counter skipped or went back:
                          a message lost or reordered below us (logged) */
    uint64_t dropped;  /* messages that named no open connection (a peer
                          closed as dead or hung that is still sending) */
    uint64_t sealed, opened; /* encrypted messages sent / received */
    uint64_t replays;  /* encrypted messages dropped as duplicates */
} fp__tp_stats_t;

fp_status_t fp__tp_create(const fp__tp_params_t *params, fp__tp_t **tp_p);
/* Stops the progress thread, force-closes every connection (on_closed runs),
 * frees everything. */
void fp__tp_destroy(fp__tp_t *tp);

/* Start the progress thread.  Without it, call fp__tp_progress yourself. */
fp_status_t fp__tp_start(fp__tp_t *tp);
/* Stop and join the progress thread (any thread but it); nothing runs on
 * the instance afterwards unless the caller progresses it. */
void fp__tp_stop(fp__tp_t *tp);
/* One round of progress (progress context): returns non-zero if anything
 * happened.  With `block`, sleeps on UCX's event fd until something does (or
 * a timer is due). */
int fp__tp_progress(fp__tp_t *tp, bool block);

/* Run fn(arg) on the progress context soon.  Any thread. */
fp_status_t fp__tp_post(fp__tp_t *tp, void (*fn)(void *), void *arg);

/* The transports UCX was allowed to use ("shm,tcp", "all"...). */
const char *fp__tp_transports(const fp__tp_t *tp);

/* Listen on addr:port (port 0: any); the port bound goes to *port_p.
 * Progress context or before fp__tp_start. */
fp_status_t fp__tp_listen(fp__tp_t *tp, const char *addr, uint16_t port,
                          uint16_t *port_p);
/* Connect; on_ready or on_closed tells how it went.  Progress context or
 * before fp__tp_start. */
fp_status_t fp__tp_connect(fp__tp_t *tp, const char *addr, uint16_t port,
                           fp__tp_conn_t **conn_p);

/* fp__tp_connect, encrypting this connection when `encrypt` is true even
 * if the instance does not (the instance's setting holds otherwise). */
fp_status_t fp__tp_connect_ex(fp__tp_t *tp, const char *addr, uint16_t port,
                              bool encrypt, fp__tp_conn_t **conn_p);
/* Whether this connection's messages are sealed (once ready). */
bool fp__tp_conn_encrypted(const fp__tp_conn_t *conn);

/* Send `msg` (progress context; the conn must be ready).  The header is
 * encoded from msg (its payload length must be `len`; its seq is set here);
 * `payload` is sent from where it is and must stay valid until cb runs.  cb
 * (may be NULL) runs exactly once, unless this returns an error.  Payloads
 * >= rndv_threshold go by rendezvous. */
fp_status_t fp__tp_send(fp__tp_conn_t *conn, fp__wire_msg_t *msg,
                        const void *payload, size_t len, fp__tp_send_cb_t cb,
                        void *user_data);

/* ---- registration cache (see regcache.c for the ownership rule) ---- */

/* A registration covering [addr, addr+len): a cached one that contains it,
 * or a new one.  Put it back with fp__tp_mem_put when done sending from it.
 * Progress context. */
fp_status_t fp__tp_mem_get(fp__tp_t *tp, void *addr, size_t len,
                           fp__tp_mem_t **mem_p);
void fp__tp_mem_put(fp__tp_mem_t *mem);
/* Forget registrations overlapping [addr, addr+len): call before freeing or
 * unmapping a buffer that was registered. */
void fp__tp_mem_invalidate(fp__tp_t *tp, void *addr, size_t len);

/* fp__tp_send, with the payload's registration (may be NULL). */
fp_status_t fp__tp_send_mem(fp__tp_conn_t *conn, fp__wire_msg_t *msg,
                            const void *payload, size_t len,
                            const fp__tp_mem_t *mem, fp__tp_send_cb_t cb,
                            void *user_data);

/* Bytes a buffer must have free in front of a payload sent with
 * fp__tp_send_framed. */
#define FP__TP_HEADROOM FP__WIRE_HDR_MAX

/* fp__tp_send_mem for a payload with FP__TP_HEADROOM writable bytes in
 * front of it (part of the caller's buffer, and of `mem` if given, until
 * the send completes): an eager message goes in the framed form
 * (PROTOCOL.md §3.2), its header written just before the payload and sent
 * with it as one contiguous block, so the receiver finds the header in the
 * cache line UCX has just read instead of after the payload (UCX 1.13 puts
 * a user header there).  Payloads >= rndv_threshold go as fp__tp_send_mem
 * sends them.  The headroom holds this message's header until the send
 * completes: a buffer may not be sent framed again (to this or any other
 * connection) before that, or the later header overwrites the earlier. */
fp_status_t fp__tp_send_framed(fp__tp_conn_t *conn, fp__wire_msg_t *msg,
                               void *payload, size_t len,
                               const fp__tp_mem_t *mem, fp__tp_send_cb_t cb,
                               void *user_data);

/* Say GOODBYE (the peer closes its side); then fp__tp_close. */
void fp__tp_goodbye(fp__tp_conn_t *conn);

/* Close (progress context): pending sends fail, on_closed runs. */
void fp__tp_close(fp__tp_conn_t *conn, fp_status_t status, const char *reason);

/* This connection's deadline (seconds of silence that close it as hung;
 * 0: the instance's peer_deadline).  Heartbeats on it then go at least
 * every deadline/4, and the peer echoes a heartbeat it gets while it has
 * been quiet itself, so a deadline shorter than the peer's own heartbeat
 * interval still holds.  Progress context. */
void fp__tp_conn_set_deadline(fp__tp_conn_t *conn, double deadline);

void fp__tp_conn_set_user(fp__tp_conn_t *conn, void *user);
void *fp__tp_conn_user(const fp__tp_conn_t *conn);
const char *fp__tp_conn_peer(const fp__tp_conn_t *conn);
/* What the peer's HELLO said: its id, executors and role (once ready). */
const char *fp__tp_conn_peer_id(const fp__tp_conn_t *conn);
/* The secret this transport proves (for handing it to nodes over SSH). */
const fp__auth_secret_t *fp__tp_secret(const fp__tp_t *tp);
uint32_t fp__tp_conn_peer_executors(const fp__tp_conn_t *conn);
uint8_t fp__tp_conn_peer_role(const fp__tp_conn_t *conn);
/* Keep a connection alive past on_closed (for a send callback or a closure
 * that still names it); progress context. */
void fp__tp_conn_ref(fp__tp_conn_t *conn);
void fp__tp_conn_unref(fp__tp_conn_t *conn);
size_t fp__tp_rndv_threshold(const fp__tp_t *tp);
/* The port fp__tp_listen bound (0 before). */
uint16_t fp__tp_port(const fp__tp_t *tp);
/* The transports UCX actually uses for this connection, once ready:
 * "am=<eager lanes> rndv=<bulk lanes>", e.g. "am=sysv/memory
 * rndv=cma/memory" or "am=tcp/lo rndv=tcp/lo". */
const char *fp__tp_conn_transports(const fp__tp_conn_t *conn);

void fp__tp_get_stats(const fp__tp_t *tp, fp__tp_stats_t *stats);

/* A layer above copied `bytes` of payload (e.g. kept an eager message past
 * its callback): counted in stats.bytes_copied. */
void fp__tp_note_copy(fp__tp_t *tp, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
