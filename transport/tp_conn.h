/*
 * Private structures of the UCX transport, shared by its files:
 *
 *   ucx_api.c    UCX loaded on first use; the program's signals kept
 *   tp.c         an instance: settings, UCX context and worker, teardown
 *   endpoint.c   connections, endpoints, listener, connect, close
 *   send.c       sends (split and framed forms), recycled requests
 *   recv.c       the active-message handler, rendezvous receives
 *   progress.c   posted closures, timers, progress rounds, the thread
 *   route_map.c  endpoint -> connection and route token -> connection
 *   conn.c       the connection protocol: handshake, heartbeats, gating
 *   regcache.c   the registration cache
 *   auth.c, wire.c  authentication and the wire format (no UCX)
 *   crypt.c      the sealed record of optional encryption (no UCX)
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
 * One active-message id carries every message.  Eager messages go in the
 * framed form when the sender left headroom (the header in front of the
 * payload, one contiguous block, PROTOCOL.md §3.2), otherwise split: the
 * header as the AM header (<= 64 bytes, copied into the send request
 * because UCX 1.13 needs it valid until completion), the payload as the AM
 * data.  Payloads at or above rndv_threshold are sent with
 * UCP_AM_SEND_FLAG_RNDV; the receiver picks their destination in on_bulk and
 * UCX writes them there (ucp_am_recv_data_nbx): zero copies in fastpool on
 * either side.
 *
 * Which connection a message belongs to: during the handshake the sender
 * sets UCP_AM_SEND_FLAG_REPLY and the receiver looks UCX's reply endpoint
 * up (by_ep); once the peer's HELLO is in, every message carries the
 * receiver's random route token (told in HELLO) and the reply flag is off,
 * which skips UCX's per-message endpoint-id lookup (by_route).
 *
 * Endpoints use UCP_ERR_HANDLING_MODE_PEER so a dead peer is reported at once
 * (ep error callback).  That mode makes UCX 1.13 drop shared memory and
 * same-host zero-copy unless UCX_MM_ERROR_HANDLING=y and
 * UCX_CMA_MEMORY_INVALIDATE=y, so we set both (unless the user did).  A hung
 * peer is not detected by UCX: each connection sends a heartbeat after
 * `heartbeat_interval` without traffic and is force-closed after
 * `peer_deadline` without hearing anything.
 */
#ifndef FP_TRANSPORT_TP_CONN_H
#define FP_TRANSPORT_TP_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <ucp/api/ucp.h>

#include "auth.h"
#include "common/clock.h"
#include "crypt.h"
#include "common/log.h"
#include "tp.h"

/* The one active-message id every message travels on. */
#define FP__TP_AM_ID 7
/* The largest AM header we send: a sealed record's (crypt.h) */
#define FP__TP_AM_HEADER_MAX FP__CRYPT_AM_HEADER_MAX

typedef enum fp__conn_state {
    FP__CONN_HANDSHAKE = 0, /* HELLO/PROOF exchange in progress */
    FP__CONN_READY,         /* authenticated: any message accepted */
    FP__CONN_CLOSED
} fp__conn_state_t;

struct send_req;

struct fp__tp_conn {
    fp__tp_t *tp;
    ucp_ep_h ep;
    fp__tp_conn_t *next, *prev; /* tp->conns */
    int refs;
    bool client;
    bool said_goodbye; /* errors after our GOODBYE are expected */
    fp__conn_state_t state;
    char peer[64];
    char transports[200]; /* what UCX chose, once ready */
    void *user;
    double last_heard, last_sent;
    double deadline, hb_interval; /* 0: the instance's */
    struct send_req *pending; /* sends UCX has not completed */
    /* handshake */
    fp__auth_t auth;
    bool hello_received, proof_ok, auth_ok_received;
    uint8_t version, peer_role;
    unsigned char peer_nonce[FP__AUTH_NONCE_LEN];
    char peer_id[FP__AUTH_ID_MAX + 1];
    uint32_t peer_executors; /* announced in the peer's HELLO */
    uint32_t seq;      /* the last seq we sent */
    uint32_t peer_seq; /* the last seq the peer sent (note_seq in conn.c) */
    uint64_t hb_seq;
    /* route tokens: `route` is ours (random, non-zero, told to the peer in
     * HELLO; a message carrying it is this connection's), `peer_route` the
     * peer's, put in every message we send once the peer's HELLO is in */
    uint64_t route, peer_route;
    /* encryption (crypt.h): asked for on this side; on once both HELLOs
     * asked for it and the keys are derived; the state */
    bool want_encrypt, encrypt;
    fp__crypt_t crypt;
};

struct fp__tp_map_slot {
    uint64_t key;        /* 0: empty */
    fp__tp_conn_t *conn; /* NULL with key set: deleted (tombstone) */
};

/* key -> connection, open addressing, tombstones reclaimed (route_map.c) */
struct fp__tp_map {
    struct fp__tp_map_slot *slots;
    size_t cap, count, tombs;
};

struct post_item;

struct fp__tp {
    char name[32];
    fp__logger_t log; /* tagged with `name` */
    bool keep_signals; /* FP_UCX_SIGNALS: UCX's signal handlers stay */
    fp__tp_handlers_t handlers;
    bool busy_poll;
    size_t rndv_threshold;
    double heartbeat_interval, peer_deadline;
    double timer_tick; /* timers run at least this often: heartbeat/4, less
                          for a connection with a shorter deadline */
    char transports[256];
    const fp__auth_secret_t *secret;
    fp__auth_secret_t *own_secret; /* loaded by us, freed by us */
    char id[FP__AUTH_ID_MAX + 1];
    uint8_t role;
    uint8_t version_min, version_max; /* protocol versions we speak */
    uint32_t executors;
    uint64_t instance;

    ucp_context_h context;
    ucp_worker_h worker;
    ucp_listener_h listener;
    int efd;
    uint16_t port;

    fp__tp_conn_t *conns;
    struct fp__tp_map by_ep;    /* handshake messages: UCX's reply ep */
    struct fp__tp_map by_route; /* later messages: our route token */
    uint64_t dropped;           /* messages no connection could claim */

    pthread_mutex_t post_lock;
    struct post_item *post_head, *post_tail;
    atomic_int posted;

    pthread_t thread;
    bool thread_started;
    atomic_int stop;
    double now, next_timer;
    uint64_t rounds; /* progress rounds, for the clock-reading cadence */
    fp__tp_stats_t stats;

    struct send_req *free_reqs; /* recycled send requests (send.c) */
    size_t nfree_reqs;

    /* encryption (send.c, recv.c) */
    bool encrypt;            /* the instance's default for its connections */
    uint64_t tamper_at;      /* FP_TEST_TAMPER: flip a bit in this sealed
                                message (tests only); 0: never */
    struct stage_buf *stages; /* staging buffers for sealed payloads */
    size_t nstages;
    unsigned char *scratch;  /* opened eager payloads */
    size_t scratch_cap;

    /* registration cache (regcache.c) */
    fp__tp_mem_t *reg_head, *reg_tail;
    size_t reg_entries, reg_bytes, reg_max_entries, reg_max_bytes;
};

#define fp__tp_log(tp, lvl, ...) fp__log(&(tp)->log, (lvl), __VA_ARGS__)

/* The progress loop reads the clock on every round, so it reads the cheap
 * coarse clock (heartbeats and deadlines are counted in seconds).  The
 * precise one showed up as 60% of a busy-poll profile on our VMs. */
static inline double fp__tp_now(void) { return fp__now_coarse(); }

/* recv.c: the active-message handler */
ucs_status_t fp__tp_am_recv(void *arg, const void *header, size_t header_len,
                            void *data, size_t length,
                            const ucp_am_recv_param_t *param);

/* progress.c: run closures posted from other threads */
int fp__tp_run_posted(fp__tp_t *tp);

/* send.c */
void fp__tp_send_reqs_free(fp__tp_t *tp);
fp_status_t fp__tp_send_raw(fp__tp_conn_t *c, const void *header,
                            size_t header_len, const void *payload, size_t len,
                            fp__tp_send_cb_t cb, void *user_data);
fp_status_t fp__tp_send_raw_mem(fp__tp_conn_t *c, const void *header,
                                size_t header_len, const void *payload,
                                size_t len, const fp__tp_mem_t *mem,
                                fp__tp_send_cb_t cb, void *user_data);

/* send.c: seal and send (an encrypted, ready connection); payload copied
 * into a staging buffer as it is encrypted */
fp_status_t fp__tp_send_sealed(fp__tp_conn_t *c, const void *header,
                               size_t header_len, const void *payload,
                               size_t len, fp__tp_send_cb_t cb,
                               void *user_data);
void fp__tp_stages_free(fp__tp_t *tp);

/* regcache.c, route_map.c, endpoint.c */
ucp_mem_h fp__tp_mem_handle(const fp__tp_mem_t *m, const void *addr,
                            size_t len);
void fp__tp_regcache_clear(fp__tp_t *tp);
void fp__tp_conn_ref(fp__tp_conn_t *c);
fp_status_t fp__tp_map_put(struct fp__tp_map *m, uint64_t key,
                           fp__tp_conn_t *c);
fp__tp_conn_t *fp__tp_map_get(const struct fp__tp_map *m, uint64_t key);
void fp__tp_map_del(struct fp__tp_map *m, uint64_t key);
/* endpoint -> connection */
fp_status_t fp__tp_ep_put(fp__tp_t *tp, ucp_ep_h ep, fp__tp_conn_t *c);
fp__tp_conn_t *fp__tp_ep_get(fp__tp_t *tp, ucp_ep_h ep);
void fp__tp_ep_del(fp__tp_t *tp, ucp_ep_h ep);
void fp__tp_conn_describe(fp__tp_conn_t *c);
void fp__tp_conn_unref(fp__tp_conn_t *c);

/* conn.c */
void fp__tp_conn_start(fp__tp_conn_t *c);
void fp__tp_conn_deliver(fp__tp_conn_t *c, const void *header,
                         size_t header_len, const void *payload, size_t len);
bool fp__tp_conn_accepts_bulk(fp__tp_conn_t *c, const void *header,
                              size_t header_len, size_t len,
                              fp__wire_msg_t *msg);
void fp__tp_conn_heartbeat(fp__tp_conn_t *c);
void fp__tp_conn_fini(fp__tp_conn_t *c);
/* a sealed message failed to open: tell the peer, close */
void fp__tp_conn_crypt_fail(fp__tp_conn_t *c, fp_status_t status,
                            const char *reason);

#endif
