/* Private structures of the UCX transport, shared by ucx.c (UCX plumbing)
 * and conn.c (the connection protocol: handshake, heartbeats, gating). */
#ifndef FP_TRANSPORT_TP_CONN_H
#define FP_TRANSPORT_TP_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <ucp/api/ucp.h>

#include "auth.h"
#include "tp.h"

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
    struct send_req *pending; /* sends UCX has not completed */
    /* handshake */
    fp__auth_t auth;
    bool hello_received, proof_ok, auth_ok_received;
    uint8_t version, peer_role;
    unsigned char peer_nonce[FP__AUTH_NONCE_LEN];
    char peer_id[FP__AUTH_ID_MAX + 1];
    uint32_t seq;      /* the last seq we sent */
    uint32_t peer_seq; /* the last seq the peer sent (note_seq in conn.c) */
    uint64_t hb_seq;
    /* route tokens: `route` is ours (random, non-zero, told to the peer in
     * HELLO; a message carrying it is this connection's), `peer_route` the
     * peer's, put in every message we send once the peer's HELLO is in */
    uint64_t route, peer_route;
};

struct fp__tp_map_slot {
    uint64_t key;        /* 0: empty */
    fp__tp_conn_t *conn; /* NULL with key set: deleted (tombstone) */
};

/* key -> connection, open addressing, tombstones reclaimed (ucx.c) */
struct fp__tp_map {
    struct fp__tp_map_slot *slots;
    size_t cap, count, tombs;
};

struct post_item;

struct fp__tp {
    char name[32];
    fp_log_fn_t log_fn;
    void *log_user_data;
    fp_log_level_t log_level;
    fp__tp_handlers_t handlers;
    bool busy_poll;
    size_t rndv_threshold;
    double heartbeat_interval, peer_deadline;
    char transports[256];
    const fp__auth_secret_t *secret;
    fp__auth_secret_t *own_secret; /* loaded by us, freed by us */
    char id[FP__AUTH_ID_MAX + 1];
    uint8_t role;
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

    struct send_req *free_reqs; /* recycled send requests (ucx.c) */
    size_t nfree_reqs;

    /* registration cache (regcache.c) */
    fp__tp_mem_t *reg_head, *reg_tail;
    size_t reg_entries, reg_bytes, reg_max_entries, reg_max_bytes;
};

void fp__tp_log(const fp__tp_t *tp, fp_log_level_t lvl, const char *fmt, ...)
    FP_PRINTF(3, 4);
double fp__tp_now(void);

/* ucx.c */
fp_status_t fp__tp_send_raw(fp__tp_conn_t *c, const void *header,
                            size_t header_len, const void *payload, size_t len,
                            fp__tp_send_cb_t cb, void *user_data);
fp_status_t fp__tp_send_raw_mem(fp__tp_conn_t *c, const void *header,
                                size_t header_len, const void *payload,
                                size_t len, const fp__tp_mem_t *mem,
                                fp__tp_send_cb_t cb, void *user_data);

/* regcache.c */
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

#endif
