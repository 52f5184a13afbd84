/*
 * The client side of a distributed pool: nodes, dispatch, results.
 * dist.h has the design note.  Everything below marked "progress" runs on
 * the process's client transport progress thread; user threads reach it
 * with fp__tp_post and wait on the pool's condition variable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chunker.h"
#include "dist.h"
#include "server.h"


#define CREDITS_PER_EXECUTOR 2
#define BATCH_CAP (256u << 10)   /* task batch buffer */
#define RECORD_MAX_ELEMS (1u << 20)
/* The shortest a record should take (send to result), like the local
 * chunk target but longer: a record costs a few thread hand-offs on each
 * side (tens of us of CPU on a small VM), which 1 ms keeps under a few %. */
#define REMOTE_TARGET_S 1e-3
#define MAX_NAMES FP__WIRE_MAX_NAMES

typedef struct dnode dnode_t;
typedef struct dwork dwork_t;
typedef struct drec drec_t;

enum { N_CONNECTING, N_OPENING, N_UP, N_CLOSING, N_LOST };

typedef struct range {
    struct range *next;
    size_t lo, count;
    unsigned attempt; /* nodes that died holding these elements */
} range_t;

/* A failure a node reported, held until its record is complete: a record
 * lost with its node reruns whole, so what it said before is void. */
typedef struct rfail {
    struct rfail *next;
    size_t lo, count;
    fp_status_t status;
    size_t len;
    char msg[];
} rfail_t;

struct drec {
    uint64_t id;
    dwork_t *dw;
    dnode_t *node;
    size_t lo, count;
    size_t reported, requeued;
    size_t skipped; /* on the local executors: not run (the call stopped) */
    uint64_t bulk_expect, bulk_got;
    double t_sent;
    drec_t *nnext, *nprev; /* node->recs */
    drec_t *wnext, *wprev; /* dw->recs */
    drec_t *hnext;         /* dp->hash */
    void *apply_buf;       /* APPLY: a BULK result's destination */
    uint64_t apply_total;
    fp__dexec_t *x;        /* on the local executors */
    bool cancel_sent;
    unsigned attempt;      /* of its range (sent as attempt + 1) */
    bool suspect;          /* isolated: its element was on dying nodes */
    rfail_t *fails, **fails_tail;
    /* stragglers: a copy of the same range on another node; the first to
     * deliver anything claims the range, the other becomes an orphan
     * whose results are dropped */
    drec_t *twin;
    bool is_copy;          /* made for a straggler (the twin is the first) */
    bool orphan;
    bool claimed;
    void *scratch;         /* an orphan's BULK results land here */
    uint64_t scratch_len;
};

struct dwork {
    fp__work_t *w;
    fp__dpool_t *dp;
    size_t next, left;
    range_t *ret; /* ranges given back, handed out first */
    dwork_t *qnext, *qprev;
    dwork_t *lnext, *lprev; /* dp->live: every unit not yet finished */
    bool queued, stopped, finished;
    drec_t *recs;
    uint16_t name_idx;
    size_t in_elem; /* argument bytes per element */
};

#define HASH_BUCKETS 4096

struct dnode {
    fp__dpool_t *dp;
    dnode_t *next;
    fp__tp_conn_t *conn;
    bool local;
    int state;
    atomic_llong idle_ns; /* since when nothing is out there (fp__now ns);
                             0: records are out (for elastic pools) */
    char address[128];
    char ip[64];
    uint16_t port;
    char host[64];
    char transports[64];
    char reason[FP_ERROR_MAX];
    fp_status_t status;
    bool hook_error;    /* reason is a worker-class hook's own message */
    bool not_needed;    /* the pool's executors were all placed before it */
    bool link_first;    /* added to a running pool: linked by the progress
                           thread */
    unsigned hook_index;
    unsigned executors, cores, gpus, index_base, want;
    unsigned credits;
    atomic_uint inflight; /* records held (read by fp_pool_active) */
    drec_t *recs;
    fp__chunker_t sizer;
    double rtt;
    _Atomic(uint64_t) elements;
    uint8_t *bound; /* name index bound on this connection */
    unsigned char *bbuf;
    fp__wire_builder_t bb;
    bool close_acked;
    uint64_t update_acked;
    bool suspect_held; /* it runs an isolated record: nothing else goes there */
    bool left;         /* it said goodbye (a clean stop), not died */
    bool leaving;      /* it gave back work nobody asked for: it is stopping,
                          send it nothing more */
    fp__mq_t msgq; /* CLIENT_MSGs in arrival order (messages section) */
    /* modules (modules section): the next of dp->mods to offer, whether
     * an offer is out, and whether POOL_OPEN waits for them (joining) */
    size_t mod_next;
    bool mod_busy, mod_joining;
};

typedef struct dattach {
    void (*fini)(void *arg);
    void *arg;
    struct dattach *next;
} dattach_t;

struct fp__dpool {
    fp_pool_t *shell;
    dattach_t *attached; /* fp__dpool_attach: run after the nodes closed */
    atomic_size_t backlog; /* calls queued with elements not handed out */
    const fp__logger_t *log;
    fp__tp_t *tp;
    fp__srv_sub_t *srv; /* nodes from a rendezvous server (server.c) */
    fp_pool_t *local;
    dnode_t *nodes, *nodes_tail;
    size_t nnodes;
    unsigned executors_budget; /* 0: all */
    unsigned next_index;
    atomic_uint total_executors;
    char wc[FP_NAME_MAX];
    void *init;
    size_t init_len;
    double connect_timeout;
    size_t thr;
    /* progress-thread state */
    dwork_t *qhead, *qtail;
    dwork_t *live;
    drec_t *hash[HASH_BUCKETS];
    uint64_t next_id;
    char *names[MAX_NAMES];
    size_t nnames;
    bool drained; /* dpool_close: the progress thread ran our last closure */
    /* shared with user threads, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool close_started; /* close_closure has marked the nodes CLOSING */
    uint64_t update_seq;
    unsigned update_pending;
    fp_error_t update_err;
    atomic_uint_fast64_t large_copied;
    /* failures */
    unsigned max_attempts;
    double node_deadline, node_wait;
    bool encrypt; /* fp_pool_params_t.encrypt */
    double nowait_deadline; /* under lock: when queued work fails for want
                               of executors (0: not armed) */
    bool nowait_posted;
    double copy_at; /* under lock: when to look for stragglers again */
    bool copy_posted;
    dnode_t *drain; /* takes no new work until idle (choose_drain) */
    dnode_t *graveyard; /* earlier incarnations of re-added nodes (freed
                           with the pool: closures may still name them) */
    /* progress-thread counters (fp_pool_stats reads them there) */
    uint64_t st_joined, st_left, st_died, st_rec_rerun, st_el_rerun,
        st_el_failed, st_copies, st_copies_won, st_copies_dropped;
    /* membership events: queued under lock, delivered by evt_thread */
    fp_node_event_fn_t on_node;
    void *on_node_arg;
    struct devent *ev_head, *ev_tail;
    pthread_t evt_thread;
    bool evt_started, evt_quit;
    pthread_cond_t evt_cond;
    /* modules shipped to every node (modules section): the list grows on
     * the progress thread (before any connection at create); requests of
     * fp_pool_ship_module waiting, under lock; counters */
    fp__modfile_t **mods;
    size_t nmods, mods_cap;
    struct ship_req *ship_reqs;
    uint64_t st_mods_shipped, st_mod_bytes;
};

typedef struct devent {
    struct devent *next;
    fp_node_event_kind_t kind;
    unsigned executors, index_base;
    char address[128], host[64], reason[FP_ERROR_MAX];
} devent_t;

/* ---- the process's client transport ------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static fp__tp_t *g_tp;
static int g_users;
/* fp__client_ephemeral_secret: with no secret configured, the client
 * transport makes a random one (nodes started over SSH receive it) */
static bool g_ephemeral;
static fp__auth_secret_t *g_eph_secret;

static void h_ready(void *arg, fp__tp_conn_t *conn);
static void h_message(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m);
static void msg_on_client(dnode_t *n, const fp__wire_msg_t *m);
static void msg_on_client_bulk(dnode_t *n, const fp__wire_msg_t *m, size_t len,
                               fp__tp_bulk_dest_t *dest);
static fp_status_t r_send(fp_pool_t *pool, unsigned executor, fp_cbuf_t msg,
                          fp_error_t *err);
static fp_status_t r_send_node(fp_pool_t *pool, const char *address,
                               fp_cbuf_t msg, fp_error_t *err);
static void msg_local_sink(void *arg, unsigned executor, const void *data,
                           size_t size);
static void h_bulk(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m,
                   size_t len, fp__tp_bulk_dest_t *dest);
static void mods_next(dnode_t *n);
static void mods_on_reply(dnode_t *n, const fp__wire_msg_t *m);
static void mods_node_gone(dnode_t *n);
static void h_closed(void *arg, fp__tp_conn_t *conn, fp_status_t st,
                     const char *reason);

/* At exit, before the libraries' destructors (UCX's among them) run: with
 * no pool left, the transport goes (UCX's own threads too: a leak checker
 * stopping the world at exit trips over them); with pools still open, the
 * progress thread at least stops, so it is not inside UCX while UCX tears
 * itself down. */
static void client_tp_at_exit(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_tp != NULL && g_users == 0) {
        fp__tp_destroy(g_tp);
        g_tp = NULL;
    } else if (g_tp != NULL) {
        fp__tp_stop(g_tp);
    }
    pthread_mutex_unlock(&g_lock);
}

static fp_status_t client_tp_get(const fp__logger_t *log, fp__tp_t **tp_p,
                                 fp_error_t *err)
{
    pthread_mutex_lock(&g_lock);
    if (g_tp == NULL) {
        fp__tp_params_t p;
        memset(&p, 0, sizeof(p));
        p.name = "client";
        p.role = FP__WIRE_ROLE_CLIENT;
        p.handlers.on_ready = h_ready;
        p.handlers.on_message = h_message;
        p.handlers.on_bulk = h_bulk;
        p.handlers.on_closed = h_closed;
        if (g_ephemeral && getenv("FP_SECRET_FILE") == NULL &&
            getenv("FP_SECRET") == NULL) {
            if (g_eph_secret == NULL &&
                fp__auth_secret_random("a random secret of this process "
                                       "(given to its nodes over SSH)",
                                       &g_eph_secret) != FP_OK) {
                pthread_mutex_unlock(&g_lock);
                if (err != NULL) {
                    err->status = FP_ERR_SYSTEM;
                    snprintf(err->message, sizeof(err->message),
                             "cannot make a random pool secret");
                }
                return FP_ERR_SYSTEM;
            }
            p.secret = g_eph_secret;
        }
        /* the process's transport outlives any one context: it logs
         * through the default logger (stderr, FP_LOG_LEVEL), never through
         * a context's sink, which may be gone when it next speaks */
        (void)log;
        fp__tp_t *tp = NULL;
        fp_status_t st = fp__tp_create(&p, &tp);
        if (st == FP_OK && (st = fp__tp_start(tp)) != FP_OK) {
            fp__tp_destroy(tp);
            tp = NULL;
        }
        if (st != FP_OK) {
            pthread_mutex_unlock(&g_lock);
            if (err != NULL) {
                err->status = st;
                err->index = 0;
                snprintf(err->message, sizeof(err->message),
                         "cannot start the client transport: %s%s",
                         fp_status_string(st),
                         st == FP_ERR_AUTH || st == FP_ERR_NOT_FOUND
                             ? " (no secret? set FP_SECRET_FILE or FP_SECRET "
                               "to the nodes' secret)"
                             : "");
            }
            return st;
        }
        g_tp = tp;
        static bool at_exit_set;
        if (!at_exit_set && atexit(client_tp_at_exit) == 0)
            at_exit_set = true;
    }
    g_users++;
    *tp_p = g_tp;
    pthread_mutex_unlock(&g_lock);
    return FP_OK;
}

/* The client transport stays up once made, until the process exits: the
 * next pool reuses it (no UCX start-up again), and UCX 1.13 trips an
 * assertion in ucp_worker_destroy when a worker goes shortly after one of
 * its endpoints was closed in the middle of a handshake (a node that just
 * refused our secret), which is exactly when a failed fp_pool_create would
 * have destroyed it.  Idle, it costs a sleeping thread. */
static void client_tp_put(void)
{
    pthread_mutex_lock(&g_lock);
    g_users--;
    pthread_mutex_unlock(&g_lock);
}

/* ---- helpers ------------------------------------------------------------------ */


static void headroom_sent(void *ud, fp_status_t st)
{
    (void)st;
    fp__free_headroom(ud);
}

fp_status_t fp__parse_hostport(const char *s, char *host, size_t host_cap,
                               uint16_t *port, bool port_required,
                               char *reason, size_t reason_size)
{
    if (s == NULL || *s == '\0') {
        snprintf(reason, reason_size, "empty address");
        return FP_ERR_INVALID;
    }
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (colon == NULL) {
        if (port_required) {
            snprintf(reason, reason_size, "'%s' has no port (want HOST:PORT)",
                     s);
            return FP_ERR_INVALID;
        }
        *port = 0;
    } else {
        char *end;
        errno = 0;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535) {
            snprintf(reason, reason_size, "'%s': port '%s' is not 0..65535", s,
                     colon + 1);
            return FP_ERR_INVALID;
        }
        *port = (uint16_t)p;
    }
    if (hl == 0 || hl >= host_cap) {
        snprintf(reason, reason_size, "'%s': bad host part", s);
        return FP_ERR_INVALID;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    return FP_OK;
}

/* A host name or address -> a numeric address UCX can connect to. */
static fp_status_t resolve(const char *host, char *ip, size_t cap,
                           char *reason, size_t reason_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(reason, reason_size, "cannot resolve '%s': %s", host,
                 gai_strerror(rc));
        return FP_ERR_NOT_FOUND;
    }
    const void *a = res->ai_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    if (inet_ntop(res->ai_family, a, ip, (socklen_t)cap) == NULL) {
        freeaddrinfo(res);
        snprintf(reason, reason_size, "cannot use the address of '%s'", host);
        return FP_ERR_INVALID;
    }
    freeaddrinfo(res);
    return FP_OK;
}

static size_t hbucket(uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 52) % HASH_BUCKETS;
}

static drec_t *rec_find(fp__dpool_t *dp, uint64_t id)
{
    for (drec_t *r = dp->hash[hbucket(id)]; r != NULL; r = r->hnext)
        if (r->id == id)
            return r;
    return NULL;
}

static void rec_unhash(fp__dpool_t *dp, drec_t *r)
{
    drec_t **pp = &dp->hash[hbucket(r->id)];
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp == r)
        *pp = r->hnext;
}

/* ---- units ------------------------------------------------------------------ */

static void q_push(fp__dpool_t *dp, dwork_t *dw)
{
    if (dw->queued)
        return;
    dw->queued = true;
    atomic_fetch_add(&dp->backlog, 1);
    dw->qnext = NULL;
    dw->qprev = dp->qtail;
    if (dp->qtail != NULL)
        dp->qtail->qnext = dw;
    else
        dp->qhead = dw;
    dp->qtail = dw;
}

static void q_remove(fp__dpool_t *dp, dwork_t *dw)
{
    if (!dw->queued)
        return;
    atomic_fetch_sub(&dp->backlog, 1);
    if (dw->qprev != NULL)
        dw->qprev->qnext = dw->qnext;
    else
        dp->qhead = dw->qnext;
    if (dw->qnext != NULL)
        dw->qnext->qprev = dw->qprev;
    else
        dp->qtail = dw->qprev;
    dw->queued = false;
}

static bool dw_has_unclaimed(const dwork_t *dw)
{
    return dw->ret != NULL || dw->next < dw->w->n;
}

static void dw_finish_if_done(dwork_t *dw)
{
    if (dw->left > 0 || dw->finished)
        return;
    dw->finished = true;
    fp__dpool_t *dp = dw->dp;
    q_remove(dp, dw);
    if (dw->lprev != NULL)
        dw->lprev->lnext = dw->lnext;
    else if (dp->live == dw)
        dp->live = dw->lnext;
    if (dw->lnext != NULL)
        dw->lnext->lprev = dw->lprev;
    /* orphans (straggler copies that lost) outlive their unit: their
     * node's answer is still to come, and is dropped */
    for (drec_t *r = dw->recs, *next; r != NULL; r = next) {
        next = r->wnext;
        r->dw = NULL;
        r->wnext = r->wprev = NULL;
    }
    fp__work_t *w = dw->w;
    w->priv = NULL;
    free(dw);
    w->ops->finish(w);
}

/* Account `count` elements of dw as final. */
static void dw_account(dwork_t *dw, size_t count)
{
    dw->left -= count < dw->left ? count : dw->left;
}

/* Drop what has not been handed out (stop was set). */
static void dw_drop_unclaimed(dwork_t *dw)
{
    fp__work_t *w = dw->w;
    for (range_t *r = dw->ret, *n; r != NULL; r = n) {
        n = r->next;
        w->ops->fail(w, r->lo, r->count, FP_ERR_CANCELED, NULL, 0);
        dw_account(dw, r->count);
        free(r);
    }
    dw->ret = NULL;
    if (dw->next < w->n) {
        w->ops->fail(w, dw->next, w->n - dw->next, FP_ERR_CANCELED, NULL, 0);
        dw_account(dw, w->n - dw->next);
        dw->next = w->n;
    }
    q_remove(dw->dp, dw);
}

static void send_cancel(dnode_t *n, drec_t **recs, size_t count);

/* The unit's stop flag is set: skip the rest, here and on its nodes.
 * The caller then calls dw_finish_if_done (which may free dw). */
static void dw_stop(dwork_t *dw)
{
    if (dw->stopped)
        return;
    dw->stopped = true;
    dw_drop_unclaimed(dw);
    for (drec_t *r = dw->recs; r != NULL; r = r->wnext) {
        if (r->cancel_sent)
            continue;
        r->cancel_sent = true;
        if (r->x != NULL) {
            atomic_store(&r->x->cancel, 1); /* the loop also reads w->stop */
        } else if (r->node->state == N_UP) {
            drec_t *one = r;
            send_cancel(r->node, &one, 1);
        }
    }
}

/* ---- records -------------------------------------------------------------- */

static drec_t *rec_new(fp__dpool_t *dp, dnode_t *n, dwork_t *dw, size_t lo,
                       size_t count)
{
    drec_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->id = ++dp->next_id;
    r->dw = dw;
    r->node = n;
    r->lo = lo;
    r->count = count;
    r->t_sent = fp__now();
    r->fails_tail = &r->fails;
    size_t b = hbucket(r->id);
    r->hnext = dp->hash[b];
    dp->hash[b] = r;
    r->nnext = n->recs;
    if (n->recs != NULL)
        n->recs->nprev = r;
    n->recs = r;
    r->wnext = dw->recs;
    if (dw->recs != NULL)
        dw->recs->wprev = r;
    dw->recs = r;
    n->inflight++;
    atomic_store(&n->idle_ns, 0);
    return r;
}

static void rec_drop_fails(drec_t *r)
{
    for (rfail_t *f = r->fails, *n; f != NULL; f = n) {
        n = f->next;
        free(f);
    }
    r->fails = NULL;
    r->fails_tail = &r->fails;
}

/* Unlink and free a record; its elements were accounted by the caller. */
static void rec_free(fp__dpool_t *dp, drec_t *r)
{
    rec_unhash(dp, r);
    dnode_t *n = r->node;
    if (r->nprev != NULL)
        r->nprev->nnext = r->nnext;
    else
        n->recs = r->nnext;
    if (r->nnext != NULL)
        r->nnext->nprev = r->nprev;
    dwork_t *dw = r->dw;
    if (r->wprev != NULL)
        r->wprev->wnext = r->wnext;
    else if (dw != NULL)
        dw->recs = r->wnext;
    if (r->wnext != NULL)
        r->wnext->wprev = r->wprev;
    if (--n->inflight == 0)
        atomic_store(&n->idle_ns, (long long)(fp__now() * 1e9));
    if (r->suspect)
        n->suspect_held = false;
    rec_drop_fails(r);
    if (r->twin != NULL)
        r->twin->twin = NULL;
    free(r->scratch);
    free(r->apply_buf);
    free(r);
}

/* Give [lo, lo+count) back to its unit, to be handed out again. */
static void requeue(dwork_t *dw, size_t lo, size_t count, unsigned attempt)
{
    range_t *g = malloc(sizeof(*g));
    if (g == NULL) {
        dw->w->ops->fail(dw->w, lo, count, FP_ERR_NOMEM,
                         "client: out of memory re-queueing elements", 43);
        dw_account(dw, count);
        return;
    }
    g->lo = lo;
    g->count = count;
    g->attempt = attempt;
    g->next = dw->ret;
    dw->ret = g;
    q_push(dw->dp, dw);
}

/* Elements that were on nodes that died are run one at a time, alone on
 * a node, once they have been on this many: the next death is then theirs
 * alone (a poison task), not their neighbours'. */
static unsigned isolate_at(const fp__dpool_t *dp)
{
    return dp->max_attempts > 2 ? dp->max_attempts - 1 : 1;
}

static void pump(fp__dpool_t *dp);
static void rec_check(fp__dpool_t *dp, drec_t *r);
static void event_locked(fp__dpool_t *dp, const dnode_t *n,
                         fp_node_event_kind_t kind, const char *reason);

/* o's twin delivered first: o's results are dropped from now on, and its
 * node is asked to skip what it has not started. */
static void rec_orphan(fp__dpool_t *dp, drec_t *o)
{
    o->orphan = true;
    o->twin = NULL;
    if (!o->cancel_sent && o->node->state == N_UP && o->x == NULL) {
        o->cancel_sent = true;
        send_cancel(o->node, &o, 1);
    }
    rec_check(dp, o);
}

/* r is about to deliver: false if it is an orphan (drop what it says);
 * else it claims its range, making its twin (if any) the orphan. */
static bool rec_claim(fp__dpool_t *dp, drec_t *r)
{
    if (r->orphan)
        return false;
    if (r->twin != NULL) {
        drec_t *t = r->twin;
        r->twin = NULL;
        r->claimed = true;
        fp__debug(dp->log, "record %" PRIu64 " claims; %" PRIu64 " is orphan",
                  r->id, t->id);
        if (r->is_copy)
            dp->st_copies_won++;
        rec_orphan(dp, t);
    }
    return true;
}

/* Every element of r is reported and its bytes are in: account, free. */
static void rec_complete(fp__dpool_t *dp, drec_t *r)
{
    dwork_t *dw = r->dw;
    dnode_t *n = r->node;
    double took = fp__now() - r->t_sent;
    size_t done = r->count - r->requeued;
    if (r->orphan || dw == NULL) { /* its twin delivered these elements */
        fp__debug(dp->log, "record %" PRIu64 " (orphan) complete: %zu dropped",
                  r->id, done);
        dp->st_copies_dropped += done;
        rec_free(dp, r);
        return;
    }
    if (r->twin != NULL) /* (it claims when its first result comes) */
        (void)rec_claim(dp, r);
    size_t skipped = r->skipped; /* not completed: left out of progress */
    for (rfail_t *f = r->fails; f != NULL; f = f->next) {
        if (f->status == FP_ERR_CANCELED)
            skipped += f->count;
        dw->w->ops->fail(dw->w, f->lo, f->count, f->status, f->msg, f->len);
    }
    if (dw->w->progress != NULL && done > skipped)
        fp__progress_add(dw->w->progress, done - skipped);
    if (r->dw->w->kind == FP__WORK_APPLY && r->apply_buf != NULL &&
        done > 0) {
        dw->w->ops->result(dw->w, r->apply_buf, (size_t)r->apply_total);
        r->apply_buf = NULL;
    }
    if (done > 0 && !r->cancel_sent && !n->local) {
        /* records aim at max(REMOTE_TARGET_S, 4 x the node's round trip):
         * the quickest record seen bounds the round trip from above */
        if (took < n->rtt || n->rtt == 0)
            n->rtt = took;
        double target = 4 * n->rtt;
        n->sizer.target = target < REMOTE_TARGET_S ? REMOTE_TARGET_S
                          : target > 20e-3         ? 20e-3
                                                   : target;
        fp__chunker_observe(&n->sizer, r->count, took);
    } else if (done > 0 && !r->cancel_sent) {
        fp__chunker_observe(&n->sizer, r->count, took);
    }
    atomic_fetch_add_explicit(&n->elements, done, memory_order_relaxed);
    rec_free(dp, r);
    dw_account(dw, done);
    if (atomic_load_explicit(dw->w->stop, memory_order_relaxed))
        dw_stop(dw);
    dw_finish_if_done(dw); /* may free dw */
}

static void rec_check(fp__dpool_t *dp, drec_t *r)
{
    if (r->reported == r->count && r->bulk_got == r->bulk_expect)
        rec_complete(dp, r);
}

/* ---- sending records ---------------------------------------------------------- */

static void node_flush(dnode_t *n)
{
    if (n->bbuf == NULL || n->bb.count == 0)
        return;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    fp__wire_builder_finish(&n->bb, &m);
    m.hdr.pool = 1;
    unsigned char *buf = n->bbuf;
    size_t len = n->bb.len;
    n->bbuf = NULL;
    if (fp__tp_send_framed(n->conn, &m, buf, len, NULL, headroom_sent, buf) !=
        FP_OK)
        fp__free_headroom(buf); /* the conn is closing: on_closed fails them */
}

static void send_cancel(dnode_t *n, drec_t **recs, size_t count)
{
    if (count == 0)
        return;
    void *buf = malloc(count * FP__WIRE_CANCEL_ENTRY);
    if (buf == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        fp__wire_cancel_entry_t e = {recs[i]->id, recs[i]->attempt + 1};
        fp__wire_cancel_put(buf, (uint32_t)i, e);
    }
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_CANCEL;
    m.hdr.pool = 1;
    m.u.batch.count = (uint32_t)count;
    m.u.batch.records = buf;
    m.u.batch.records_len = count * FP__WIRE_CANCEL_ENTRY;
    if (fp__tp_send(n->conn, &m, buf, count * FP__WIRE_CANCEL_ENTRY,
                    fp__free_on_send, buf) != FP_OK)
        free(buf);
}

static void bulk_arg_sent(void *ud, fp_status_t st)
{
    (void)ud;
    (void)st; /* a failed send shows as the node's loss */
}

static uint16_t name_index(fp__dpool_t *dp, const char *name)
{
    for (size_t i = 0; i < dp->nnames; i++)
        if (strcmp(dp->names[i], name) == 0)
            return (uint16_t)i;
    if (dp->nnames == MAX_NAMES)
        return 0xffff;
    dp->names[dp->nnames] = strdup(name);
    if (dp->names[dp->nnames] == NULL)
        return 0xffff;
    return (uint16_t)dp->nnames++;
}

static void local_ran(fp__dexec_t *x);

/* Run [lo, lo+count) of dw on the client's own executors. */
static drec_t *dispatch_local(fp__dpool_t *dp, dnode_t *n, dwork_t *dw, size_t lo,
                           size_t count)
{
    fp__work_t *w = dw->w;
    fp__dexec_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    fp_task_fn_t fn = NULL;
    (void)fp_task_lookup(w->name, &fn);
    drec_t *r = rec_new(dp, n, dw, lo, count);
    if (r == NULL) {
        free(x);
        return NULL;
    }
    r->x = x;
    x->user = r;
    x->fn = fn;
    x->name = w->name;
    x->kind = (uint8_t)w->kind;
    x->nargs = w->nargs;
    x->count = w->kind == FP__WORK_APPLY ? 1 : count;
    x->stop = w->stop;
    x->done = local_ran;
    if (w->kind == FP__WORK_APPLY) {
        for (size_t k = 0; k < w->nargs; k++) {
            x->arg_base[k] = w->args[k].data;
            x->arg_size[k] = w->args[k].size;
        }
    } else {
        for (size_t k = 0; k < w->nargs; k++) {
            x->arg_base[k] = (const char *)w->arrays[k].base +
                             lo * w->arrays[k].elem_size;
            x->arg_size[k] = w->arrays[k].elem_size;
        }
        x->out = w->out != NULL ? w->out + lo * w->out_size : NULL;
        x->out_size = w->out_size;
    }
    if (fn == NULL) {
        /* reported like a node's answer, from the progress thread */
        fp__dfail_t *f = calloc(1, sizeof(*f));
        if (f != NULL) {
            f->index = 0;
            f->status = FP_ERR_NOT_FOUND;
            snprintf(f->msg, sizeof(f->msg),
                     "no task named '%s' in this process (local executors)",
                     w->name);
            f->len = strlen(f->msg);
        }
        x->fails = f;
        x->ran = SIZE_MAX; /* marker: not found */
        local_ran(x);
        return r;
    }
    fp__dexec_submit(dp->local, x);
    return r;
}

/* Add [lo, lo+count) of dw to node n's batch (and send its big arguments). */
static drec_t *dispatch_remote(fp__dpool_t *dp, dnode_t *n, dwork_t *dw,
                               size_t lo, size_t count, unsigned attempt,
                               bool *failed)
{
    fp__work_t *w = dw->w;
    char why[200];
    fp__wire_task_rec_t t;
    memset(&t, 0, sizeof(t));
    t.attempt = attempt + 1;
    t.kind = w->kind == FP__WORK_APPLY ? FP__WIRE_KIND_APPLY : FP__WIRE_KIND_MAP;
    t.nargs = (uint8_t)w->nargs;
    t.name_idx = dw->name_idx;
    if (!n->bound[dw->name_idx]) {
        t.name = dp->names[dw->name_idx];
        t.name_len = strlen(t.name);
    }
    const void *bulk_src[FP_MAX_ARGS];
    uint64_t bulk_len[FP_MAX_ARGS];
    if (w->kind == FP__WORK_APPLY) {
        t.count = 1;
        size_t inl = 0;
        for (size_t k = 0; k < w->nargs; k++) {
            t.args[k].len = w->args[k].size;
            bool big = w->args[k].size >= dp->thr ||
                       inl + w->args[k].size >= dp->thr;
            t.args[k].where = big ? FP__WIRE_WHERE_BULK : FP__WIRE_WHERE_INLINE;
            t.args[k].data = w->args[k].data;
            bulk_src[k] = w->args[k].data;
            bulk_len[k] = w->args[k].size;
            if (!big)
                inl += w->args[k].size;
        }
    } else {
        t.start = w->index_base + lo;
        t.count = (uint32_t)count;
        t.out_elem_size = (uint32_t)w->out_size;
        size_t inl = 0;
        for (size_t k = 0; k < w->nargs; k++) {
            size_t es = w->arrays[k].elem_size;
            t.args[k].len = (uint64_t)es * count;
            t.args[k].elem_size = (uint32_t)es;
            const char *src = (const char *)w->arrays[k].base + lo * es;
            bool big = es * count >= dp->thr || inl + es * count >= dp->thr;
            t.args[k].where = big ? FP__WIRE_WHERE_BULK : FP__WIRE_WHERE_INLINE;
            t.args[k].data = src;
            bulk_src[k] = src;
            bulk_len[k] = (uint64_t)es * count;
            if (!big)
                inl += es * count;
        }
    }
    drec_t *r = rec_new(dp, n, dw, lo, count);
    if (r == NULL)
        return NULL;
    t.task_id = r->id;
    for (int tries = 0; tries < 2; tries++) {
        if (n->bbuf == NULL) {
            size_t need = 0;
            (void)fp__wire_task_rec_size(&t, &need);
            size_t cap = need > BATCH_CAP ? need : BATCH_CAP;
            n->bbuf = fp__alloc_headroom(cap);
            if (n->bbuf == NULL)
                break;
            fp__wire_builder_init(&n->bb, FP__WIRE_TASK_BATCH, n->bbuf, cap);
        }
        fp_status_t st = fp__wire_builder_add_task(&n->bb, &t, why, sizeof(why));
        if (st == FP_OK) {
            if (t.name_len > 0)
                n->bound[dw->name_idx] = 1;
            /* big arguments go zero-copy from the caller's buffer */
            for (size_t k = 0; k < w->nargs; k++) {
                if (t.args[k].where != FP__WIRE_WHERE_BULK)
                    continue;
                fp__wire_msg_t m = fp__wire_bulk_whole(
                    1, FP__WIRE_BULK_ARG, r->id, attempt + 1, (uint8_t)k, bulk_len[k]);
                if (bulk_len[k] == 0)
                    continue;
                (void)fp__tp_send(n->conn, &m, bulk_src[k],
                                  (size_t)bulk_len[k], bulk_arg_sent, NULL);
            }
            return r;
        }
        if (st != FP_ERR_OVERFLOW) {
            /* a record that cannot be encoded never will be: its elements
             * fail (a copy's just is not made) */
            fp__error(dp->log, "task record: %s", why);
            if (failed != NULL) {
                *failed = true;
                w->ops->fail(w, lo, count, FP_ERR_INVALID, why, strlen(why));
                dw_account(dw, count);
            }
            break;
        }
        node_flush(n);
    }
    if (--n->inflight == 0)
        atomic_store(&n->idle_ns, (long long)(fp__now() * 1e9));
    rec_unhash(dp, r);
    /* unlink (it was pushed at the heads) */
    n->recs = r->nnext;
    if (n->recs != NULL)
        n->recs->nprev = NULL;
    dw->recs = r->wnext;
    if (dw->recs != NULL)
        dw->recs->wprev = NULL;
    free(r);
    return NULL;
}

/* The next range for node n: given-back ranges first, then the FIFO's
 * head unit, sized for n. */
static bool take_range(fp__dpool_t *dp, dnode_t *n, dwork_t **dw_p,
                       size_t *lo_p, size_t *count_p, unsigned *attempt_p)
{
    if (n->suspect_held || n->leaving || (n == dp->drain && n->inflight > 0))
        return false;
    unsigned iso = isolate_at(dp);
    for (dwork_t *dw = dp->qhead, *next; dw != NULL; dw = next) {
        next = dw->qnext;
        if (atomic_load_explicit(dw->w->stop, memory_order_relaxed)) {
            dw_stop(dw);
            dw_finish_if_done(dw); /* may free dw */
            continue;
        }
        if (!dw_has_unclaimed(dw)) {
            q_remove(dp, dw);
            continue;
        }
        size_t want = dw->w->chunk > 0 ? dw->w->chunk : fp__chunker_next(&n->sizer);
        unsigned total = atomic_load(&dp->total_executors);
        /* given-back ranges first; an isolated one only to an idle node
         * (and, being isolated, one element at a time) */
        range_t **gp = &dw->ret;
        if (n == dp->drain) { /* idle now: an isolated range, nothing else */
            while (*gp != NULL && (*gp)->attempt < iso)
                gp = &(*gp)->next;
            if (*gp == NULL)
                continue;
        }
        while (*gp != NULL && (*gp)->attempt >= iso &&
               (n->inflight > 0 || n->local))
            gp = &(*gp)->next;
        if (*gp == NULL && dw->ret != NULL && dw->next >= dw->w->n)
            continue; /* only isolated ranges, and n is not idle */
        if (*gp != NULL) {
            range_t *g = *gp;
            bool iso_g = g->attempt >= iso;
            size_t c = iso_g ? 1 : g->count < want ? g->count : want;
            *lo_p = g->lo;
            *count_p = c;
            *attempt_p = g->attempt;
            g->lo += c;
            g->count -= c;
            if (g->count == 0) {
                *gp = g->next;
                free(g);
            }
        } else {
            *attempt_p = 0;
            size_t left = dw->w->n - dw->next;
            /* guided: leave the rest spread over every executor */
            size_t cap = left / (2 * (size_t)(total > 0 ? total : 1));
            if (cap < 1 || dw->w->chunk > 0)
                cap = dw->w->chunk > 0 ? dw->w->chunk : 1;
            size_t c = want < cap ? want : cap;
            if (c > left)
                c = left;
            /* a record's bytes stay bounded (memory on the node) */
            size_t per = dw->in_elem + dw->w->out_size;
            if (per > 0 && c > 1 && c * per > ((size_t)16 << 20))
                c = ((size_t)16 << 20) / per > 0 ? ((size_t)16 << 20) / per : 1;
            *lo_p = dw->next;
            *count_p = c;
            dw->next += c;
        }
        if (!dw_has_unclaimed(dw))
            q_remove(dp, dw);
        *dw_p = dw;
        return true;
    }
    return false;
}

/* An idle node takes work a busy node has not started (stealing). */
static void try_steal(fp__dpool_t *dp, dnode_t *idle)
{
    dnode_t *victim = NULL;
    unsigned most = 0;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n == idle || n->state != N_UP)
            continue;
        unsigned queued = n->inflight > n->executors ? n->inflight - n->executors : 0;
        if (queued > most) {
            most = queued;
            victim = n;
        }
    }
    if (victim == NULL)
        return;
    /* its newest record not yet asked for: most likely not started */
    for (drec_t *r = victim->recs; r != NULL; r = r->nnext) {
        if (r->cancel_sent || r->orphan || r->reported > 0 || r->dw->stopped)
            continue;
        if (r->x != NULL) {
            if (fp__dexec_unsubmit(r->x)) {
                dwork_t *dw = r->dw;
                requeue(dw, r->lo, r->count, r->attempt);
                free(r->x);
                r->x = NULL;
                r->requeued = r->count;
                r->reported = r->count;
                rec_free(dp, r);
            }
            return;
        }
        r->cancel_sent = true;
        send_cancel(victim, &r, 1);
        return;
    }
}

/* Records of calls that opted in grow late while nothing else happens:
 * with a node idle, look again in 1 ms (the event thread posts pump). */
static void copy_closure(void *arg);
/* A record try_copy may copy (once it is late). */
static bool copy_eligible(const drec_t *r)
{
    return !r->orphan && r->twin == NULL && !r->is_copy && !r->cancel_sent &&
           !r->suspect && r->reported == 0 && r->bulk_got == 0 &&
           r->dw->w->speculate && !r->dw->stopped;
}

static void arm_copy_timer(fp__dpool_t *dp)
{
    /* a node with a free executor, and a candidate on another node */
    dnode_t *idle = NULL;
    unsigned nidle = 0;
    bool spec = false;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (n->state == N_UP && !n->local && !n->leaving &&
            !n->suspect_held && n->inflight < n->executors) {
            idle = n;
            nidle++;
        }
    for (dnode_t *n = dp->nodes; n != NULL && idle != NULL && !spec;
         n = n->next) {
        if ((n == idle && nidle == 1) || n->state != N_UP || n->local)
            continue;
        for (drec_t *r = n->recs; r != NULL && !spec; r = r->nnext)
            spec = copy_eligible(r);
    }
    if (idle == NULL || !spec)
        return;
    pthread_mutex_lock(&dp->lock);
    if (dp->copy_at == 0) {
        dp->copy_at = fp__now() + 1e-3;
        pthread_cond_broadcast(&dp->evt_cond);
    }
    pthread_mutex_unlock(&dp->lock);
}

static void copy_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    pthread_mutex_lock(&dp->lock);
    dp->copy_at = 0;
    dp->copy_posted = false;
    pthread_mutex_unlock(&dp->lock);
    pump(dp);
}

/* Stragglers: an idle node takes a copy of the record that has been out
 * longest, elsewhere, of a call that opted in (fp_call_params_t.speculate).
 * Late means out more than twice its node's record target (what records
 * are sized to take), and at least 2 ms.  The two are twins: the first to
 * deliver claims the range (rec_claim). */
static bool try_copy(fp__dpool_t *dp, dnode_t *idle)
{
    double now = fp__now();
    drec_t *best = NULL;
    double oldest = 0;
    for (dnode_t *v = dp->nodes; v != NULL; v = v->next) {
        if (v == idle || v->local || v->state != N_UP)
            continue;
        double late = 2 * v->sizer.target;
        if (late < 2e-3)
            late = 2e-3;
        for (drec_t *r = v->recs; r != NULL; r = r->nnext) {
            if (!copy_eligible(r))
                continue;
            double age = now - r->t_sent;
            if (age >= late && age > oldest) {
                oldest = age;
                best = r;
            }
        }
    }
    if (best == NULL)
        return false;
    size_t count = best->dw->w->kind == FP__WORK_APPLY ? 1 : best->count;
    drec_t *c = dispatch_remote(dp, idle, best->dw, best->lo, count,
                                best->attempt, NULL);
    if (c == NULL)
        return false;
    c->attempt = best->attempt;
    c->is_copy = true;
    c->twin = best;
    best->twin = c;
    dp->st_copies++;
    fp__debug(dp->log, "straggler: record %" PRIu64 " of %s (%zu elements, "
                       "out %.1f ms) copied to %s",
              best->id, best->node->address, count, oldest * 1e3,
              idle->address);
    return true;
}

/* An isolated range waits for a node with nothing in flight: while one
 * waits, the least busy node takes no new work, so one drains even when
 * other calls keep every node busy. */
static void choose_drain(fp__dpool_t *dp)
{
    unsigned iso = isolate_at(dp);
    bool waiting = false;
    for (dwork_t *dw = dp->qhead; dw != NULL && !waiting; dw = dw->qnext)
        for (range_t *g = dw->ret; g != NULL && !waiting; g = g->next)
            waiting = g->attempt >= iso;
    dp->drain = NULL;
    if (!waiting)
        return;
    bool remote = false;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (!n->local && (n->state == N_CONNECTING || n->state == N_OPENING ||
                          (n->state == N_UP && !n->leaving)))
            remote = true;
        if (n->state != N_UP || n->local || n->suspect_held || n->leaving)
            continue;
        if (dp->drain == NULL || n->inflight < dp->drain->inflight)
            dp->drain = n;
    }
    pthread_mutex_lock(&dp->lock);
    bool waiting_for_one = dp->nowait_deadline > 0; /* node_wait runs */
    pthread_mutex_unlock(&dp->lock);
    if (remote || waiting_for_one)
        return;
    /* no node is left to run them alone (the client's own executors do
     * not take them: a task that kills its process would kill the
     * client): they fail now rather than wait for ever */
    for (dwork_t *dw = dp->qhead, *next; dw != NULL; dw = next) {
        next = dw->qnext;
        fp__work_t *w = dw->w;
        for (range_t **gp = &dw->ret; *gp != NULL;) {
            range_t *g = *gp;
            if (g->attempt < iso) {
                gp = &g->next;
                continue;
            }
            *gp = g->next;
            char msg[FP_ERROR_MAX];
            size_t first = w->kind == FP__WORK_APPLY ? 0 : w->index_base + g->lo;
            if (g->count == 1)
                snprintf(msg, sizeof(msg),
                         "element %zu was running on %u node%s that died, "
                         "and no node is left to run it alone",
                         first, g->attempt, g->attempt == 1 ? "" : "s");
            else
                snprintf(msg, sizeof(msg),
                         "elements %zu..%zu were running on %u node%s that "
                         "died, and no node is left to run them alone",
                         first, first + g->count - 1, g->attempt,
                         g->attempt == 1 ? "" : "s");
            w->ops->fail(w, g->lo, g->count, FP_ERR_PEER, msg, strlen(msg));
            dw_account(dw, g->count);
            dp->st_el_failed += g->count;
            free(g);
        }
        if (!dw_has_unclaimed(dw))
            q_remove(dp, dw);
        dw_finish_if_done(dw); /* may free dw */
    }
}

static void pump(fp__dpool_t *dp)
{
    choose_drain(dp);
    bool any = true;
    while (any) {
        any = false;
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
            if (n->state != N_UP || n->leaving || n->inflight >= n->credits)
                continue;
            dwork_t *dw;
            size_t lo, count;
            unsigned attempt = 0;
            if (!take_range(dp, n, &dw, &lo, &count, &attempt))
                continue;
            bool failed = false;
            drec_t *r = n->local ? dispatch_local(dp, n, dw, lo, count)
                                 : dispatch_remote(dp, n, dw, lo, count,
                                                   attempt, &failed);
            if (r == NULL) {
                if (failed)
                    dw_finish_if_done(dw); /* may free dw */
                else
                    requeue(dw, lo, count, attempt);
                continue;
            }
            r->attempt = attempt;
            if (attempt >= isolate_at(dp)) {
                r->suspect = true;
                n->suspect_held = true;
            }
            any = true;
        }
    }
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (!n->local && n->state == N_UP)
            node_flush(n);
    if (dp->qhead == NULL) {
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
            if (n->state == N_UP && !n->leaving && n->inflight == 0)
                try_steal(dp, n);
        bool copied = false;
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
            if (n->state != N_UP || n->local || n->suspect_held || n->leaving)
                continue;
            while (n->inflight < n->executors && try_copy(dp, n))
                copied = true;
            if (copied)
                node_flush(n);
        }
        arm_copy_timer(dp);
    }
}

/* ---- the local executors' results ---------------------------------------- */

static void local_done_closure(void *arg)
{
    fp__dexec_t *x = arg;
    drec_t *r = x->user;
    fp__dpool_t *dp = r->dw->dp;
    dwork_t *dw = r->dw;
    fp__work_t *w = dw->w;
    if (x->ran == SIZE_MAX) { /* unknown task */
        fp__dfail_t *f = x->fails;
        w->ops->fail(w, r->lo, r->count, FP_ERR_NOT_FOUND,
                     f != NULL ? f->msg : NULL, f != NULL ? f->len : 0);
    } else {
        for (fp__dfail_t *f = x->fails; f != NULL; f = f->next)
            w->ops->fail(w, r->lo + f->index, 1, f->status, f->msg, f->len);
        size_t ran = x->ran;
        size_t n = w->kind == FP__WORK_APPLY ? 1 : r->count;
        if (ran < n) {
            if (dw->stopped ||
                atomic_load_explicit(w->stop, memory_order_relaxed)) {
                w->ops->fail(w, r->lo + ran, n - ran, FP_ERR_CANCELED, NULL, 0);
                r->skipped = n - ran;
            } else {
                requeue(dw, r->lo + ran, n - ran, r->attempt);
                r->requeued = n - ran;
            }
        }
        if (w->kind == FP__WORK_APPLY && x->fails == NULL && ran == 1) {
            r->apply_buf = x->apply_buf;
            r->apply_total = x->apply_size;
            x->apply_buf = NULL;
            if (r->apply_buf == NULL) /* no output: an empty result */
                w->ops->result(w, NULL, 0);
        }
    }
    fp__dexec_free_fails(x);
    free(x->apply_buf);
    free(x);
    r->x = NULL;
    r->reported = r->count;
    rec_complete(dp, r);
    pump(dp);
}

static void local_ran(fp__dexec_t *x)
{
    drec_t *r = x->user;
    if (fp__tp_post(r->dw->dp->tp, local_done_closure, x) != FP_OK)
        local_done_closure(x); /* only at teardown */
}

/* ---- results from nodes --------------------------------------------------- */

static void node_lost(dnode_t *n, fp_status_t st, const char *reason);

static void bad_node(dnode_t *n, const char *fmt, ...) FP_PRINTF(2, 3);
static void bad_node(dnode_t *n, const char *fmt, ...)
{
    char why[FP_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fp__error(n->dp->log, "node %s: %s; closing its connection", n->address,
              why);
    fp__tp_close(n->conn, FP_ERR_PROTOCOL, why);
}

static void on_results(dnode_t *n, const fp__wire_msg_t *m)
{
    fp__dpool_t *dp = n->dp;
    char why[200];
    fp__wire_iter_t it;
    fp__wire_iter_init(&it, m);
    fp__wire_result_rec_t rr;
    fp_status_t st;
    while ((st = fp__wire_iter_result(&it, &rr, why, sizeof(why))) == FP_OK) {
        drec_t *r = rec_find(dp, rr.task_id);
        if (r == NULL || r->node != n || rr.attempt != r->attempt + 1) {
            bad_node(n, "a result for task %" PRIu64 " (attempt %u) it does "
                        "not hold",
                     rr.task_id, (unsigned)rr.attempt);
            return;
        }
        if (r->orphan && r->dw == NULL) { /* its unit is finished */
            if (r->reported + rr.count > r->count) {
                bad_node(n, "a result for more elements than task %" PRIu64
                            " holds",
                         rr.task_id);
                return;
            }
            if (rr.status == FP_OK && rr.where == FP__WIRE_WHERE_BULK)
                r->bulk_expect += rr.len;
            r->reported += rr.count;
            rec_check(dp, r);
            continue;
        }
        dwork_t *dw = r->dw;
        fp__work_t *w = dw->w;
        size_t first = w->kind == FP__WORK_APPLY ? 0 : w->index_base + r->lo;
        if (rr.start < first || rr.start + rr.count > first + r->count ||
            r->reported + rr.count > r->count) {
            bad_node(n, "a result for elements %" PRIu64 "..%" PRIu64
                        " outside task %" PRIu64 "'s range",
                     rr.start, rr.start + rr.count, rr.task_id);
            return;
        }
        size_t lo = r->lo + (size_t)(rr.start - first); /* in the unit */
        if (r->twin != NULL && !r->claimed && rr.status == FP_ERR_CANCELED) {
            /* given back while its twin still runs: the twin has it */
            r->twin->twin = NULL;
            r->twin = NULL;
            r->orphan = true;
        }
        if (!rec_claim(dp, r)) {
            /* an orphan: its twin delivered first; BULK bytes announced
             * here still come (into scratch) */
            if (rr.status == FP_OK && rr.where == FP__WIRE_WHERE_BULK)
                r->bulk_expect += rr.len;
            r->reported += rr.count;
            rec_check(dp, r);
            continue;
        }
        if (rr.status == FP_OK) {
            uint64_t want = w->kind == FP__WORK_APPLY
                                ? rr.len
                                : (uint64_t)rr.count * w->out_size;
            if (rr.len != want) {
                bad_node(n, "a result of %" PRIu64 " bytes for %" PRIu64
                            " expected",
                         rr.len, want);
                return;
            }
            if (rr.where == FP__WIRE_WHERE_INLINE) {
                if (w->kind == FP__WORK_APPLY) {
                    void *copy = malloc(rr.len > 0 ? (size_t)rr.len : 1);
                    if (copy != NULL)
                        memcpy(copy, rr.data, (size_t)rr.len);
                    r->apply_buf = copy;
                    r->apply_total = rr.len;
                } else if (rr.len > 0) {
                    memcpy(w->out + lo * w->out_size, rr.data, (size_t)rr.len);
                }
                fp__tp_note_copy(dp->tp, (size_t)rr.len);
                if (rr.len >= dp->thr)
                    atomic_fetch_add(&dp->large_copied, rr.len);
            } else if (rr.where == FP__WIRE_WHERE_BULK) {
                r->bulk_expect += rr.len;
            } else if (w->kind == FP__WORK_APPLY) {
                w->ops->result(w, NULL, 0);
            }
        } else if (rr.status == FP_ERR_CANCELED && !dw->stopped &&
                   !atomic_load_explicit(w->stop, memory_order_relaxed)) {
            /* given back (a steal, a node leaving): someone else runs them */
            if (!r->cancel_sent && !n->leaving) {
                n->leaving = true;
                fp__info(dp->log, "node %s is leaving: no more work goes there",
                         n->address);
            }
            requeue(dw, lo, rr.count, r->attempt);
            r->requeued += rr.count;
        } else {
            /* held until the record is complete (see rfail_t) */
            size_t ml = rr.message != NULL ? rr.message_len : 0;
            rfail_t *f = malloc(sizeof(*f) + ml + 1);
            if (f != NULL) {
                f->next = NULL;
                f->lo = lo;
                f->count = rr.count;
                f->status = rr.status;
                f->len = ml;
                if (ml > 0)
                    memcpy(f->msg, rr.message, ml);
                f->msg[ml] = '\0';
                *r->fails_tail = f;
                r->fails_tail = &f->next;
            } else {
                w->ops->fail(w, lo, rr.count, rr.status, rr.message,
                             rr.message_len);
            }
        }
        r->reported += rr.count;
        rec_check(dp, r);
    }
    if (st != FP_END)
        bad_node(n, "%s", why);
}

typedef struct cbulk {
    dnode_t *n;
    uint64_t id;
} cbulk_t;

/* Where a BULK RESULT goes: the caller's slots, or an apply's buffer. */
static void *result_dest(dnode_t *n, const fp__wire_msg_t *m, drec_t **r_p)
{
    const fp__wire_bulk_t *b = &m->u.bulk;
    if (b->kind != FP__WIRE_BULK_RESULT) {
        bad_node(n, "a BULK of kind %u a client does not take", b->kind);
        return NULL;
    }
    drec_t *r = rec_find(n->dp, b->task_id);
    if (r == NULL || r->node != n) {
        bad_node(n, "BULK bytes for task %" PRIu64 " it does not hold",
                 b->task_id);
        return NULL;
    }
    if (r->dw == NULL) { /* an orphan whose unit is finished: scratch */
        if (r->scratch == NULL && b->total <= ((uint64_t)1 << 34)) {
            r->scratch = malloc(b->total > 0 ? (size_t)b->total : 1);
            r->scratch_len = r->scratch != NULL ? b->total : 0;
        }
        if (r->scratch == NULL || b->offset + b->len > r->scratch_len) {
            bad_node(n, "a BULK result that does not fit its record");
            return NULL;
        }
        *r_p = r;
        return (char *)r->scratch + b->offset;
    }
    fp__work_t *w = r->dw->w;
    bool mine = rec_claim(n->dp, r); /* false: an orphan's, into scratch */
    if (w->kind == FP__WORK_APPLY) {
        if (r->apply_buf == NULL) {
            r->apply_buf = malloc((size_t)b->total);
            r->apply_total = b->total;
            if (r->apply_buf == NULL) {
                bad_node(n, "no memory for a %" PRIu64 "-byte result", b->total);
                return NULL;
            }
        }
        if (b->total != r->apply_total || b->offset + b->len > b->total) {
            bad_node(n, "a BULK result that does not fit its apply");
            return NULL;
        }
        *r_p = r;
        return (char *)r->apply_buf + b->offset;
    }
    uint64_t room = (uint64_t)r->count * w->out_size;
    if (b->total != room || b->offset + b->len > room) {
        bad_node(n, "a BULK result of %" PRIu64 " bytes at %" PRIu64
                    " for a record of %" PRIu64,
                 (uint64_t)b->len, b->offset, room);
        return NULL;
    }
    *r_p = r;
    if (!mine) {
        if (r->scratch == NULL) {
            r->scratch = malloc((size_t)room > 0 ? (size_t)room : 1);
            r->scratch_len = r->scratch != NULL ? room : 0;
        }
        if (r->scratch == NULL) {
            bad_node(n, "no memory for a %" PRIu64 "-byte result", room);
            return NULL;
        }
        return (char *)r->scratch + b->offset;
    }
    return w->out + r->lo * w->out_size + b->offset;
}

static void bulk_done(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                      const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)conn;
    (void)buf;
    (void)m;
    cbulk_t *cb = ud;
    dnode_t *n = cb->n;
    drec_t *r = rec_find(n->dp, cb->id);
    free(cb);
    if (st != FP_OK || r == NULL)
        return; /* the connection's loss fails the record */
    r->bulk_got += len;
    rec_check(n->dp, r);
    pump(n->dp);
}

/* A batch whose payload came by rendezvous. */
typedef struct cbatch {
    dnode_t *n;
    void *buf;
} cbatch_t;

static void batch_done(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                       const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)conn;
    (void)buf;
    cbatch_t *cb = ud;
    if (st == FP_OK && cb->n->state >= N_UP && cb->n->state != N_LOST) {
        fp__wire_msg_t local = *m;
        local.u.batch.records = cb->buf;
        local.u.batch.records_len = len;
        on_results(cb->n, &local);
        pump(cb->n->dp);
    }
    free(cb->buf);
    free(cb);
}

/* ---- transport handlers ----------------------------------------------------- */

static void send_pool_open(dnode_t *n)
{
    fp__dpool_t *dp = n->dp;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_POOL_OPEN;
    m.hdr.pool = 1;
    m.u.pool_open.executors = n->want;
    m.u.pool_open.index_base = n->index_base;
    m.u.pool_open.worker_class = dp->wc;
    m.u.pool_open.worker_class_len = strlen(dp->wc);
    m.u.pool_open.init_len = dp->init_len;
    bool bulk = dp->init_len >= dp->thr;
    if (bulk)
        m.hdr.flags = FP__WIRE_F_BULK;
    else
        m.u.pool_open.init_data = dp->init;
    size_t hl, pl;
    char why[200];
    if (fp__wire_size(&m, &hl, &pl, why, sizeof(why)) != FP_OK) {
        fp__tp_close(n->conn, FP_ERR_INVALID, why);
        return;
    }
    unsigned char *buf = malloc(hl + pl);
    size_t len;
    if (buf == NULL ||
        fp__wire_encode(buf, hl + pl, &m, &len, why, sizeof(why)) != FP_OK) {
        free(buf);
        fp__tp_close(n->conn, FP_ERR_INVALID, "cannot encode POOL_OPEN");
        return;
    }
    /* the payload (name, init data) must live until the send is done */
    void *payload = malloc(pl > 0 ? pl : 1);
    if (payload == NULL) {
        free(buf);
        return;
    }
    memcpy(payload, buf + hl, pl);
    free(buf);
    if (fp__tp_send(n->conn, &m, payload, pl, fp__free_on_send,
                    payload) != FP_OK)
        free(payload);
    if (bulk) {
        fp__wire_msg_t b = fp__wire_bulk_whole(1, FP__WIRE_BULK_INIT, 0, 0, 0,
                                               dp->init_len);
        (void)fp__tp_send(n->conn, &b, dp->init, dp->init_len, NULL, NULL);
    }
}

static void h_ready(void *arg, fp__tp_conn_t *conn)
{
    (void)arg;
    dnode_t *n = fp__tp_conn_user(conn);
    if (n == NULL)
        return;
    fp__dpool_t *dp = n->dp;
    if (fp__tp_conn_peer_role(conn) != FP__WIRE_ROLE_NODE) {
        fp__tp_close(conn, FP_ERR_PROTOCOL, "the peer is not a node");
        return;
    }
    unsigned has = fp__tp_conn_peer_executors(conn);
    pthread_mutex_lock(&dp->lock); /* fp_pool_nodes reads these */
    fp__node_id_parse(fp__tp_conn_peer_id(conn), n->host, sizeof(n->host),
                      &n->cores, &n->gpus);
    snprintf(n->transports, sizeof(n->transports), "%s",
             fp__tp_conn_transports(conn));
    unsigned want = has;
    if (dp->executors_budget > 0) {
        unsigned used = dp->next_index;
        unsigned left = dp->executors_budget > used ? dp->executors_budget - used : 0;
        want = left < has ? left : has;
    }
    if (want == 0) {
        n->not_needed = true;
        n->status = FP_OK;
        snprintf(n->reason, sizeof(n->reason),
                 "not needed: the pool's %u executors are already placed",
                 dp->executors_budget);
        pthread_mutex_unlock(&dp->lock);
        fp__tp_goodbye(conn);
        fp__tp_close(conn, FP_OK, n->reason);
        return;
    }
    n->want = want;
    n->index_base = dp->next_index;
    dp->next_index += want;
    n->state = N_OPENING;
    pthread_mutex_unlock(&dp->lock);
    /* the pool's modules first (nothing is sent before), then POOL_OPEN */
    n->mod_joining = true;
    mods_next(n);
}

static void on_ack(dnode_t *n, const fp__wire_msg_t *m)
{
    fp__dpool_t *dp = n->dp;
    const fp__wire_text_msg_t *t = &m->u.text;
    char text[FP__WIRE_TEXT_MAX + 1];
    size_t l = t->message_len < FP__WIRE_TEXT_MAX ? t->message_len : FP__WIRE_TEXT_MAX;
    memcpy(text, t->message != NULL ? t->message : "", l);
    text[l] = '\0';
    pthread_mutex_lock(&dp->lock);
    switch (t->ref_type) {
    case FP__WIRE_POOL_OPEN:
        if (n->state != N_OPENING)
            break;
        if (t->status == FP_OK) {
            n->state = N_UP;
            atomic_store(&n->idle_ns, (long long)(fp__now() * 1e9));
            n->executors = n->want;
            n->credits = n->executors * CREDITS_PER_EXECUTOR;
            atomic_fetch_add(&dp->total_executors, n->executors);
            dp->nowait_deadline = 0;
            dp->st_joined++;
            event_locked(dp, n, FP_EVENT_JOINED, "");
            fp__info(dp->log, "node %s (%s) up: %u executors, %s", n->address,
                     n->host, n->executors, n->transports);
        } else {
            n->state = N_LOST;
            n->status = t->status;
            /* a hook's message stays as the hook wrote it (as in a local
             * pool); the node's own refusals get named after it */
            n->hook_error = t->status != FP_ERR_NOT_FOUND;
            n->hook_index = t->index;
            snprintf(n->reason, sizeof(n->reason), "%s", text);
        }
        pthread_cond_broadcast(&dp->cond);
        break;
    case FP__WIRE_UPDATE:
        if (t->ref != dp->update_seq || n->update_acked == t->ref)
            break;
        n->update_acked = t->ref;
        if (t->status != FP_OK && dp->update_err.status == FP_OK) {
            dp->update_err.status = t->status;
            dp->update_err.index = t->index;
            snprintf(dp->update_err.message, sizeof(dp->update_err.message),
                     "%s", text);
        }
        if (dp->update_pending > 0)
            dp->update_pending--;
        pthread_cond_broadcast(&dp->cond);
        break;
    case FP__WIRE_POOL_CLOSE:
        n->close_acked = true;
        pthread_cond_broadcast(&dp->cond);
        break;
    }
    pthread_mutex_unlock(&dp->lock);
    if (t->ref_type == FP__WIRE_POOL_OPEN && n->state == N_UP)
        pump(dp);
    else if (t->ref_type == FP__WIRE_POOL_OPEN && n->state == N_LOST)
        fp__tp_close(n->conn, t->status, text);
}

static void h_message(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m)
{
    (void)arg;
    dnode_t *n = fp__tp_conn_user(conn);
    if (n == NULL)
        return;
    if (m->hdr.type == FP__WIRE_MODULE_REPLY) {
        mods_on_reply(n, m);
        return;
    }
    if (m->hdr.pool != 1) {
        bad_node(n, "a message for pool %u; this connection has pool 1",
                 m->hdr.pool);
        return;
    }
    switch (m->hdr.type) {
    case FP__WIRE_ACK:
        on_ack(n, m);
        break;
    case FP__WIRE_CLIENT_MSG:
        msg_on_client(n, m);
        break;
    case FP__WIRE_RESULT_BATCH:
        if (n->state != N_UP && n->state != N_CLOSING) {
            bad_node(n, "results before its pool was open");
            return;
        }
        on_results(n, m);
        pump(n->dp);
        break;
    case FP__WIRE_BULK: {
        drec_t *r = NULL;
        void *dst = result_dest(n, m, &r);
        if (dst == NULL)
            return;
        memcpy(dst, m->u.bulk.data, m->u.bulk.len);
        fp__tp_note_copy(n->dp->tp, m->u.bulk.len);
        if (m->u.bulk.len >= n->dp->thr)
            atomic_fetch_add(&n->dp->large_copied, m->u.bulk.len);
        r->bulk_got += m->u.bulk.len;
        rec_check(n->dp, r);
        pump(n->dp);
        break;
    }
    default:
        bad_node(n, "a %s message a client does not take",
                 fp__wire_type_name(m->hdr.type));
    }
}

static void h_bulk(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m,
                   size_t len, fp__tp_bulk_dest_t *dest)
{
    (void)arg;
    dnode_t *n = fp__tp_conn_user(conn);
    if (n == NULL || n->state != N_UP)
        return;
    if (m->hdr.type == FP__WIRE_RESULT_BATCH) {
        cbatch_t *cb = malloc(sizeof(*cb));
        void *buf = malloc(len > 0 ? len : 1);
        if (cb == NULL || buf == NULL) {
            free(cb);
            free(buf);
            return;
        }
        cb->n = n;
        cb->buf = buf;
        dest->buf = buf;
        dest->done = batch_done;
        dest->user_data = cb;
        return;
    }
    if (m->hdr.type == FP__WIRE_CLIENT_MSG) {
        msg_on_client_bulk(n, m, len, dest);
        return;
    }
    if (m->hdr.type != FP__WIRE_BULK) {
        bad_node(n, "a %s by rendezvous", fp__wire_type_name(m->hdr.type));
        return;
    }
    drec_t *r = NULL;
    void *dst = result_dest(n, m, &r);
    if (dst == NULL)
        return;
    cbulk_t *cb = malloc(sizeof(*cb));
    if (cb == NULL)
        return;
    cb->n = n;
    cb->id = r->id;
    dest->buf = dst;
    dest->done = bulk_done;
    dest->user_data = cb;
}

/* Queued work with no executor left to run it fails (node_wait over). */
static void fail_unplaced(fp__dpool_t *dp, const char *msg)
{
    for (dwork_t *dw = dp->live, *next; dw != NULL; dw = next) {
        next = dw->lnext;
        fp__work_t *w = dw->w;
        for (range_t *g = dw->ret, *gn; g != NULL; g = gn) {
            gn = g->next;
            w->ops->fail(w, g->lo, g->count, FP_ERR_PEER, msg, strlen(msg));
            dw_account(dw, g->count);
            free(g);
        }
        dw->ret = NULL;
        if (dw->next < w->n) {
            w->ops->fail(w, dw->next, w->n - dw->next, FP_ERR_PEER, msg,
                         strlen(msg));
            dw_account(dw, w->n - dw->next);
            dw->next = w->n;
        }
        q_remove(dp, dw);
        dw_finish_if_done(dw);
    }
}

static bool nodes_pending(const fp__dpool_t *dp)
{
    for (const dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (n->state == N_CONNECTING || n->state == N_OPENING)
            return true;
    return false;
}

/* No executor is left: fail what waits now, or arm node_wait (the event
 * thread posts no_executors_closure when it is over).  Lock held. */
static bool no_executors_locked(fp__dpool_t *dp)
{
    if (dp->node_wait > 0) {
        if (dp->nowait_deadline == 0) {
            dp->nowait_deadline = fp__now() + dp->node_wait;
            pthread_cond_broadcast(&dp->evt_cond);
        }
        return false;
    }
    return !nodes_pending(dp);
}

static void no_executors_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    pthread_mutex_lock(&dp->lock);
    dp->nowait_posted = false;
    bool fail = atomic_load(&dp->total_executors) == 0 &&
                dp->nowait_deadline != 0 && fp__now() >= dp->nowait_deadline;
    if (atomic_load(&dp->total_executors) > 0 || fail)
        dp->nowait_deadline = 0;
    pthread_mutex_unlock(&dp->lock);
    if (fail) {
        char msg[FP_ERROR_MAX];
        snprintf(msg, sizeof(msg),
                 "no executors left: every node was lost and none joined "
                 "within %.3g s (node_wait)",
                 dp->node_wait);
        fail_unplaced(dp, msg);
    }
}

/* A membership event for the pool's callback (lock held). */
static void event_locked(fp__dpool_t *dp, const dnode_t *n,
                         fp_node_event_kind_t kind, const char *reason)
{
    if (dp->on_node == NULL || dp->close_started)
        return;
    devent_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->kind = kind;
    e->executors = n->executors;
    e->index_base = n->index_base;
    snprintf(e->address, sizeof(e->address), "%s", n->address);
    snprintf(e->host, sizeof(e->host), "%s", n->host);
    snprintf(e->reason, sizeof(e->reason), "%s", reason != NULL ? reason : "");
    if (dp->ev_tail != NULL)
        dp->ev_tail->next = e;
    else
        dp->ev_head = e;
    dp->ev_tail = e;
    pthread_cond_broadcast(&dp->evt_cond);
}

/* The node is gone.  What it held reruns elsewhere: every record not
 * complete goes back to its unit with one more attempt, unless its twin
 * (a straggler copy) still runs it, its call was stopped (skipped), or its
 * elements have now been on max_attempts nodes that died (they fail).  A
 * node that said goodbye first (a clean stop) has handed its queue back
 * already and has finished what it ran; anything left is rerun the same
 * way, without counting an attempt. */
static void node_lost(dnode_t *n, fp_status_t st, const char *reason)
{
    fp__dpool_t *dp = n->dp;
    bool was_up = n->state == N_UP;
    bool clean = st == FP_ERR_CLOSED || n->state == N_CLOSING;
    pthread_mutex_lock(&dp->lock);
    if (n->state == N_UP)
        atomic_fetch_sub(&dp->total_executors, n->executors);
    if (n->state != N_LOST) {
        n->status = n->state == N_CLOSING ? FP_OK : st;
        if (n->reason[0] == '\0')
            snprintf(n->reason, sizeof(n->reason), "%s%s",
                     reason != NULL ? reason : fp_status_string(st),
                     n->state == N_CONNECTING && reason != NULL &&
                             (strstr(reason, "not connected") != NULL ||
                              strstr(reason, "refused") != NULL ||
                              strstr(reason, "nreachable") != NULL)
                         ? " (is a node listening there?)"
                         : "");
    }
    n->left = clean || n->not_needed;
    n->state = N_LOST;
    n->conn = NULL;
    mods_node_gone(n); /* under dp->lock */
    if (was_up) {
        if (n->left)
            dp->st_left++;
        else
            dp->st_died++;
        event_locked(dp, n, n->left ? FP_EVENT_LEFT : FP_EVENT_DIED, n->reason);
    }
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    if (n->not_needed)
        fp__info(dp->log, "node %s: %s", n->address, n->reason);
    else if (was_up && n->left)
        fp__info(dp->log, "node %s left: %s", n->address, n->reason);
    else if (was_up)
        fp__error(dp->log, "node %s died: %s; rerunning its work elsewhere",
                  n->address, n->reason);
    unsigned max = dp->max_attempts;
    size_t rerun = 0, failed = 0;
    while (n->recs != NULL) {
        drec_t *r = n->recs;
        if (r->orphan || r->dw == NULL || (r->twin != NULL && !r->claimed)) {
            /* its twin runs (or delivered) the same range */
            rec_free(dp, r);
            continue;
        }
        dwork_t *dw = r->dw;
        fp__work_t *w = dw->w;
        size_t live = (w->kind == FP__WORK_APPLY ? 1 : r->count) - r->requeued;
        bool stopped = dw->stopped ||
                       atomic_load_explicit(w->stop, memory_order_relaxed);
        if (live == 0) {
            rec_free(dp, r);
            dw_finish_if_done(dw);
            continue;
        }
        unsigned attempt = r->attempt + (n->left ? 0 : 1);
        if (stopped) {
            w->ops->fail(w, r->lo, live, FP_ERR_CANCELED, NULL, 0);
            dw_account(dw, live);
        } else if (attempt >= max) {
            char msg[FP_ERROR_MAX];
            size_t first = w->kind == FP__WORK_APPLY ? 0 : w->index_base + r->lo;
            if (live == 1)
                snprintf(msg, sizeof(msg),
                         "element %zu was running on %u node%s that died "
                         "(the last: %.60s: %.90s)",
                         first, attempt, attempt == 1 ? "" : "s", n->address,
                         n->reason);
            else
                snprintf(msg, sizeof(msg),
                         "elements %zu..%zu were running on %u node%s that "
                         "died (the last: %.60s: %.90s)",
                         first, first + live - 1, attempt,
                         attempt == 1 ? "" : "s", n->address, n->reason);
            w->ops->fail(w, r->lo, live, FP_ERR_PEER, msg, strlen(msg));
            dw_account(dw, live);
            failed += live;
        } else {
            requeue(dw, r->lo, live, attempt);
            rerun += live;
            dp->st_rec_rerun++;
        }
        rec_free(dp, r);
        dw_finish_if_done(dw);
    }
    dp->st_el_rerun += rerun;
    dp->st_el_failed += failed;
    if (rerun > 0 || failed > 0)
        fp__info(dp->log, "node %s: %zu elements to rerun, %zu failed "
                          "(max_attempts %u)",
                 n->address, rerun, failed, max);
    fp__free_headroom(n->bbuf);
    n->bbuf = NULL;
    if (atomic_load(&dp->total_executors) == 0) {
        pthread_mutex_lock(&dp->lock);
        bool now = no_executors_locked(dp);
        pthread_mutex_unlock(&dp->lock);
        if (now) {
            char msg[FP_ERROR_MAX];
            snprintf(msg, sizeof(msg),
                     "no executors left: node %.90s was lost: %.120s",
                     n->address, n->reason);
            fail_unplaced(dp, msg);
        }
    }
    pump(dp);
}

static void h_closed(void *arg, fp__tp_conn_t *conn, fp_status_t st,
                     const char *reason)
{
    (void)arg;
    dnode_t *n = fp__tp_conn_user(conn);
    if (n == NULL)
        return;
    fp__tp_conn_set_user(conn, NULL);
    node_lost(n, st, reason);
}

/* ---- the remote ops (core/remote.h) -------------------------------------- */

static fp_status_t mods_add_file(fp__dpool_t *dp, const char *path,
                                 bool here, fp_error_t *err);

static fp__dpool_t *dpool_of(const fp_pool_t *pool)
{
    return fp__pool_remote(pool);
}

static void submit_closure(void *arg)
{
    fp__work_t *w = arg;
    dwork_t *dw = w->priv;
    fp__dpool_t *dp = dw->dp;
    dw->name_idx = name_index(dp, w->name);
    if (dw->name_idx == 0xffff) {
        w->ops->fail(w, 0, w->n, FP_ERR_NOMEM,
                     "too many task names in one pool", 31);
        dw->left = 0;
        dw_finish_if_done(dw);
        return;
    }
    pthread_mutex_lock(&dp->lock);
    bool none = atomic_load(&dp->total_executors) == 0 &&
                no_executors_locked(dp);
    pthread_mutex_unlock(&dp->lock);
    if (none) {
        char msg[FP_ERROR_MAX];
        snprintf(msg, sizeof(msg),
                 "the pool has no executors left (every node was lost)");
        w->ops->fail(w, 0, w->n, FP_ERR_PEER, msg, strlen(msg));
        dw->next = w->n;
        dw->left = 0;
        dw_finish_if_done(dw);
        return;
    }
    dw->lnext = dp->live;
    if (dp->live != NULL)
        dp->live->lprev = dw;
    dp->live = dw;
    for (size_t k = 0; k < w->nargs; k++)
        dw->in_elem += w->kind == FP__WORK_MAP ? w->arrays[k].elem_size : 0;
    q_push(dp, dw);
    pump(dp);
}

static fp_status_t r_submit(fp_pool_t *pool, fp__work_t *w)
{
    fp__dpool_t *dp = dpool_of(pool);
    dwork_t *dw = calloc(1, sizeof(*dw));
    if (dw == NULL)
        return FP_ERR_NOMEM;
    dw->w = w;
    dw->dp = dp;
    dw->left = w->n;
    w->priv = dw;
    fp_status_t st = fp__tp_post(dp->tp, submit_closure, w);
    if (st != FP_OK)
        free(dw);
    return st;
}

/* A unit's stop flag was set (cancel, an iterator closed): every live
 * unit with its flag set skips what has not started.  Only `dp` travels:
 * the unit itself may have finished (and been freed) before this runs. */
static void cancel_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    for (dwork_t *dw = dp->live, *next; dw != NULL; dw = next) {
        next = dw->lnext;
        if (atomic_load_explicit(dw->w->stop, memory_order_relaxed)) {
            dw_stop(dw);
            dw_finish_if_done(dw);
        }
    }
}

static void r_cancel(fp_pool_t *pool, fp__work_t *w)
{
    (void)w;
    fp__dpool_t *dp = dpool_of(pool);
    (void)fp__tp_post(dp->tp, cancel_closure, dp);
}

typedef struct upd_arg {
    fp__dpool_t *dp;
    fp_cbuf_t data;
    uint64_t seq;
} upd_arg_t;

static void update_closure(void *arg)
{
    upd_arg_t *a = arg;
    fp__dpool_t *dp = a->dp;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->local || n->state != N_UP)
            continue;
        fp__wire_msg_t m;
        memset(&m, 0, sizeof(m));
        m.hdr.type = FP__WIRE_UPDATE;
        m.hdr.pool = 1;
        m.u.update.update_seq = a->seq;
        m.u.update.total = a->data.size;
        bool bulk = a->data.size >= dp->thr;
        if (bulk) {
            m.hdr.flags = FP__WIRE_F_BULK;
            (void)fp__tp_send(n->conn, &m, NULL, 0, NULL, NULL);
            fp__wire_msg_t b = fp__wire_bulk_whole(1, FP__WIRE_BULK_UPDATE,
                                                   a->seq, 0, 0, a->data.size);
            (void)fp__tp_send(n->conn, &b, a->data.data, a->data.size, NULL,
                              NULL);
        } else {
            m.u.update.data = a->data.data;
            (void)fp__tp_send(n->conn, &m, a->data.data, a->data.size, NULL,
                              NULL);
        }
    }
    free(a);
}

static fp_status_t r_update(fp_pool_t *pool, fp_cbuf_t update, fp_error_t *err)
{
    fp__dpool_t *dp = dpool_of(pool);
    if (fp__tls_task != NULL && dp->local != NULL &&
        fp__tls_task->pool == dp->local)
        return FP_ERR_STATE;
    fp_status_t lst = FP_OK;
    fp_error_t lerr;
    memset(&lerr, 0, sizeof(lerr));
    if (dp->local != NULL)
        lst = fp_pool_update(dp->local, update, &lerr);
    pthread_mutex_lock(&dp->lock);
    dp->update_seq++;
    memset(&dp->update_err, 0, sizeof(dp->update_err));
    unsigned pending = 0;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (!n->local && n->state == N_UP)
            pending++;
    dp->update_pending = pending;
    upd_arg_t *a = malloc(sizeof(*a));
    if (a == NULL) {
        pthread_mutex_unlock(&dp->lock);
        return FP_ERR_NOMEM;
    }
    a->dp = dp;
    a->data = update;
    a->seq = dp->update_seq;
    if (pending > 0 && fp__tp_post(dp->tp, update_closure, a) != FP_OK) {
        free(a);
        pending = dp->update_pending = 0;
    } else if (pending == 0) {
        free(a);
    }
    /* a node lost meanwhile stops counting (node_lost broadcasts) */
    while (dp->update_pending > 0) {
        unsigned up = 0;
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
            if (!n->local && n->state == N_UP && n->update_acked != dp->update_seq)
                up++;
        if (up == 0)
            break;
        pthread_cond_wait(&dp->cond, &dp->lock);
    }
    fp_error_t rerr = dp->update_err;
    pthread_mutex_unlock(&dp->lock);
    if (lst != FP_OK) {
        if (err != NULL)
            *err = lerr;
        return lst;
    }
    if (rerr.status != FP_OK) {
        if (err != NULL)
            *err = rerr;
        return rerr.status;
    }
    return FP_OK;
}

static unsigned r_size(const fp_pool_t *pool)
{
    fp__dpool_t *dp = dpool_of(pool);
    return atomic_load(&dp->total_executors);
}

static fp_pool_t *r_local_pool(fp_pool_t *pool)
{
    return dpool_of(pool)->local;
}

static void close_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    pthread_mutex_lock(&dp->lock);
    dp->close_started = true;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (!n->local && n->conn != NULL && n->state == N_UP)
            n->state = N_CLOSING;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->local || n->conn == NULL)
            continue;
        if (n->state == N_CLOSING) {
            fp__wire_msg_t m;
            memset(&m, 0, sizeof(m));
            m.hdr.type = FP__WIRE_POOL_CLOSE;
            m.hdr.pool = 1;
            if (fp__tp_send(n->conn, &m, NULL, 0, NULL, NULL) != FP_OK)
                fp__tp_close(n->conn, FP_OK, "closing");
        } else {
            fp__tp_close(n->conn, FP_OK, "the pool is closing");
        }
    }
}

/* GOODBYE to every node (it closes its side, which closes ours); `force`:
 * close what is still open. */
static void bye_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->local || n->conn == NULL)
            continue;
        fp__tp_goodbye(n->conn);
    }
    pthread_mutex_lock(&dp->lock);
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

static void force_close_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->local || n->conn == NULL)
            continue;
        fp__tp_close(n->conn, FP_OK, "the pool is closed");
    }
    pthread_mutex_lock(&dp->lock);
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

static bool all_conns_gone(fp__dpool_t *dp)
{
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (!n->local && n->state != N_LOST)
            return false;
    return true;
}

static void timed_wait(fp__dpool_t *dp, double deadline)
{
    struct timespec ts;
    if (!fp__timespec(deadline, &ts))
        pthread_cond_wait(&dp->cond, &dp->lock);
    else
        pthread_cond_timedwait(&dp->cond, &dp->lock, &ts);
}

static void dnodes_free(dnode_t *n)
{
    for (dnode_t *next; n != NULL; n = next) {
        next = n->next;
        free(n->bound);
        fp__free_headroom(n->bbuf);
        fp__mq_clear(&n->msgq);
        free(n);
    }
}

static void dpool_free(fp__dpool_t *dp)
{
    dnodes_free(dp->nodes);
    dnodes_free(dp->graveyard);
    for (size_t i = 0; i < dp->nnames; i++)
        free(dp->names[i]);
    free(dp->init);
    for (size_t i = 0; i < dp->nmods; i++)
        fp__modfile_unref(dp->mods[i]);
    free(dp->mods);
    for (devent_t *e = dp->ev_head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&dp->lock);
    pthread_cond_destroy(&dp->cond);
    pthread_cond_destroy(&dp->evt_cond);
    free(dp);
}

static void noop_closure(void *arg)
{
    fp__dpool_t *dp = arg;
    pthread_mutex_lock(&dp->lock);
    dp->drained = true;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

static void evt_stop(fp__dpool_t *dp);

/* Close every node (POOL_CLOSE, wait for its ACK: its fini hooks ran),
 * then say goodbye. */
static void dpool_close(fp__dpool_t *dp)
{
    fp__srv_sub_stop(dp->srv); /* no node added from here on */
    dp->srv = NULL;
    double deadline = fp__now() + 10.0;
    bool posted = fp__tp_post(dp->tp, close_closure, dp) == FP_OK;
    pthread_mutex_lock(&dp->lock);
    while (posted && !dp->close_started)
        pthread_cond_wait(&dp->cond, &dp->lock);
    for (;;) {
        bool waiting = false;
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
            if (!n->local && n->state == N_CLOSING && !n->close_acked)
                waiting = true;
        if (!waiting || fp__now() >= deadline)
            break;
        timed_wait(dp, deadline);
    }
    pthread_mutex_unlock(&dp->lock);
    (void)fp__tp_post(dp->tp, bye_closure, dp);
    pthread_mutex_lock(&dp->lock);
    deadline = fp__now() + 2.0;
    while (!all_conns_gone(dp) && fp__now() < deadline)
        timed_wait(dp, deadline);
    pthread_mutex_unlock(&dp->lock);
    (void)fp__tp_post(dp->tp, force_close_closure, dp);
    pthread_mutex_lock(&dp->lock);
    deadline = fp__now() + 2.0;
    while (!all_conns_gone(dp) && fp__now() < deadline)
        timed_wait(dp, deadline);
    pthread_mutex_unlock(&dp->lock);
    evt_stop(dp); /* it posts closures too */
    pthread_mutex_lock(&dp->lock);
    /* closures already posted for this pool must run before it is freed */
    dp->drained = false;
    pthread_mutex_unlock(&dp->lock);
    if (fp__tp_post(dp->tp, noop_closure, dp) == FP_OK) {
        pthread_mutex_lock(&dp->lock);
        while (!dp->drained)
            pthread_cond_wait(&dp->cond, &dp->lock);
        pthread_mutex_unlock(&dp->lock);
    }
}

/* ---- membership events, node_wait ------------------------------------------ */

static void *evt_main(void *arg)
{
    fp__dpool_t *dp = arg;
    pthread_mutex_lock(&dp->lock);
    for (;;) {
        if (dp->ev_head != NULL) {
            devent_t *e = dp->ev_head;
            dp->ev_head = e->next;
            if (dp->ev_head == NULL)
                dp->ev_tail = NULL;
            pthread_mutex_unlock(&dp->lock);
            fp_node_event_t ev = {
                .kind = e->kind,
                .address = e->address,
                .host = e->host,
                .executors = e->executors,
                .index_base = e->index_base,
                .reason = e->reason,
            };
            dp->on_node(dp->on_node_arg, &ev);
            free(e);
            pthread_mutex_lock(&dp->lock);
            continue;
        }
        if (dp->evt_quit)
            break;
        double deadline = -1;
        if (dp->copy_at > 0 && !dp->copy_posted) {
            if (fp__now() >= dp->copy_at) {
                dp->copy_posted = true;
                pthread_mutex_unlock(&dp->lock);
                (void)fp__tp_post(dp->tp, copy_closure, dp);
                pthread_mutex_lock(&dp->lock);
                continue;
            }
            deadline = dp->copy_at;
        }
        if (dp->nowait_deadline > 0 && !dp->nowait_posted) {
            if (fp__now() >= dp->nowait_deadline) {
                dp->nowait_posted = true;
                pthread_mutex_unlock(&dp->lock);
                (void)fp__tp_post(dp->tp, no_executors_closure, dp);
                pthread_mutex_lock(&dp->lock);
                continue;
            }
            if (deadline < 0 || dp->nowait_deadline < deadline)
                deadline = dp->nowait_deadline;
        }
        struct timespec ts;
        if (deadline > 0 && fp__timespec(deadline, &ts))
            pthread_cond_timedwait(&dp->evt_cond, &dp->lock, &ts);
        else
            pthread_cond_wait(&dp->evt_cond, &dp->lock);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

static void evt_stop(fp__dpool_t *dp)
{
    if (!dp->evt_started)
        return;
    pthread_mutex_lock(&dp->lock);
    dp->evt_quit = true;
    pthread_cond_broadcast(&dp->evt_cond);
    pthread_mutex_unlock(&dp->lock);
    pthread_join(dp->evt_thread, NULL);
    dp->evt_started = false;
}

static void r_destroy(fp_pool_t *pool)
{
    fp__dpool_t *dp = dpool_of(pool);
    dpool_close(dp);
    for (dattach_t *a = dp->attached, *next; a != NULL; a = next) {
        next = a->next;
        a->fini(a->arg);
        free(a);
    }
    dp->attached = NULL;
    if (dp->local != NULL)
        fp_pool_destroy(dp->local);
    client_tp_put();
    dpool_free(dp);
    fp__pool_set_remote(pool, NULL, NULL);
}

static const fp__remote_ops_t remote_ops = {
    .submit = r_submit,
    .cancel = r_cancel,
    .update = r_update,
    .size = r_size,
    .local_pool = r_local_pool,
    .destroy = r_destroy,
    .send = r_send,
    .send_node = r_send_node,
};

/* ---- creating, adding nodes ------------------------------------------------ */

static void link_node(fp__dpool_t *dp, dnode_t *n);

/* A node added again replaces its dead or departed earlier entries in
 * the list fp_pool_nodes shows (progress thread, lock held): the list
 * stays one entry per node however often nodes come back. */
static void bury_namesakes(fp__dpool_t *dp, const dnode_t *n)
{
    dnode_t **pp = &dp->nodes, *prev = NULL;
    while (*pp != NULL) {
        dnode_t *o = *pp;
        if (o != n && !o->local && o->state == N_LOST && o->port == n->port &&
            strcmp(o->ip, n->ip) == 0) {
            *pp = o->next;
            if (dp->nodes_tail == o)
                dp->nodes_tail = prev;
            dp->nnodes--;
            if (dp->drain == o)
                dp->drain = NULL;
            o->next = dp->graveyard;
            dp->graveyard = o;
            continue;
        }
        prev = o;
        pp = &o->next;
    }
}

static void connect_closure(void *arg)
{
    dnode_t *n = arg;
    if (n->link_first) {
        pthread_mutex_lock(&n->dp->lock);
        bury_namesakes(n->dp, n);
        link_node(n->dp, n);
        pthread_mutex_unlock(&n->dp->lock);
    }
    fp__tp_conn_t *conn = NULL;
    fp_status_t st =
        fp__tp_connect_ex(n->dp->tp, n->ip, n->port, n->dp->encrypt, &conn);
    if (st != FP_OK) {
        pthread_mutex_lock(&n->dp->lock);
        n->state = N_LOST;
        n->status = st;
        snprintf(n->reason, sizeof(n->reason), "cannot connect: %s",
                 fp_status_string(st));
        pthread_cond_broadcast(&n->dp->cond);
        bool none = atomic_load(&n->dp->total_executors) == 0 &&
                    no_executors_locked(n->dp);
        pthread_mutex_unlock(&n->dp->lock);
        if (none) /* it was what queued work waited for */
            fail_unplaced(n->dp, "no executors left: the node being added "
                                 "could not be reached");
        return;
    }
    n->conn = conn;
    fp__tp_conn_set_user(conn, n);
    if (n->dp->node_deadline > 0)
        fp__tp_conn_set_deadline(conn, n->dp->node_deadline);
}

static void abort_closure(void *arg)
{
    dnode_t *n = arg;
    if (n->conn != NULL)
        fp__tp_close(n->conn, FP_ERR_TIMEOUT, n->reason);
}

static dnode_t *node_new(fp__dpool_t *dp, const char *address, fp_error_t *err)
{
    char host[128], why[200];
    uint16_t port;
    fp_status_t st = fp__parse_hostport(address, host, sizeof(host), &port,
                                        true, why, sizeof(why));
    dnode_t *n = NULL;
    if (st == FP_OK && port == 0) {
        snprintf(why, sizeof(why), "'%s': port 0 is not a node's port", address);
        st = FP_ERR_INVALID;
    }
    if (st == FP_OK) {
        n = calloc(1, sizeof(*n));
        if (n == NULL)
            return NULL;
        n->bound = calloc(MAX_NAMES, 1);
        st = n->bound == NULL ? FP_ERR_NOMEM
                              : resolve(host, n->ip, sizeof(n->ip), why,
                                        sizeof(why));
    }
    if (st != FP_OK) {
        if (err != NULL) {
            err->status = st;
            err->index = 0;
            snprintf(err->message, sizeof(err->message), "node %.90s: %.150s",
                     address, why);
        }
        fp__error(dp->log, "node %.90s: %.150s", address, why);
        if (n != NULL)
            free(n->bound);
        free(n);
        return NULL;
    }
    n->dp = dp;
    n->port = port;
    snprintf(n->address, sizeof(n->address), "%s", address);
    n->state = N_CONNECTING;
    /* records aim at max(100 us, the round trip): start at one element */
    fp__chunker_init(&n->sizer, REMOTE_TARGET_S, 1, 1, RECORD_MAX_ELEMS);
    return n;
}

static void link_node(fp__dpool_t *dp, dnode_t *n)
{
    if (dp->nodes_tail != NULL)
        dp->nodes_tail->next = n;
    else
        dp->nodes = n;
    dp->nodes_tail = n;
    dp->nnodes++;
}

/* Connect the given nodes (already linked) and wait until each is up or
 * failed; FP_OK only if all are up. */
static fp_status_t connect_and_wait(fp__dpool_t *dp, dnode_t **list, size_t k,
                                    fp_error_t *err)
{
    for (size_t i = 0; i < k; i++)
        if (fp__tp_post(dp->tp, connect_closure, list[i]) != FP_OK)
            return FP_ERR_NOMEM;
    double deadline = fp__now() + dp->connect_timeout;
    pthread_mutex_lock(&dp->lock);
    for (;;) {
        bool pending = false;
        for (size_t i = 0; i < k; i++)
            if (list[i]->state == N_CONNECTING || list[i]->state == N_OPENING)
                pending = true;
        if (!pending || fp__now() >= deadline)
            break;
        timed_wait(dp, deadline);
    }
    fp_status_t st = FP_OK;
    for (size_t i = 0; i < k; i++) {
        dnode_t *n = list[i];
        if (n->state == N_UP)
            continue;
        if (n->state == N_CONNECTING || n->state == N_OPENING) {
            snprintf(n->reason, sizeof(n->reason),
                     "no answer within %.3g s (%s)", dp->connect_timeout,
                     n->state == N_CONNECTING
                         ? "is a node listening there?"
                         : "it connected but did not open the pool");
            n->status = FP_ERR_TIMEOUT;
            pthread_mutex_unlock(&dp->lock);
            (void)fp__tp_post(dp->tp, abort_closure, n);
            pthread_mutex_lock(&dp->lock);
        } else if (n->not_needed) {
            continue; /* the budget was placed elsewhere */
        }
        if (st == FP_OK) {
            st = n->status != FP_OK ? n->status : FP_ERR_PEER;
            if (err != NULL && n->hook_error) {
                err->status = st;
                err->index = n->hook_index;
                snprintf(err->message, sizeof(err->message), "%s", n->reason);
            } else if (err != NULL) {
                err->status = st;
                err->index = 0;
                snprintf(err->message, sizeof(err->message), "node %.90s: %.150s",
                         n->address, n->reason[0] ? n->reason : "connection closed");
            }
            fp__error(dp->log, "node %.90s: %.150s", n->address,
                      n->reason[0] ? n->reason : "connection closed");
        }
    }
    pthread_mutex_unlock(&dp->lock);
    return st;
}

fp_status_t fp__dpool_create(fp_pool_t *shell, const fp__dpool_params_t *p,
                             fp_error_t *err)
{
    fp__dpool_t *dp = calloc(1, sizeof(*dp));
    if (dp == NULL)
        return FP_ERR_NOMEM;
    dp->shell = shell;
    dp->log = fp__pool_logger(shell);
    pthread_mutex_init(&dp->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&dp->cond, &ca);
    pthread_cond_init(&dp->evt_cond, &ca);
    pthread_condattr_destroy(&ca);
    dp->max_attempts = p->max_attempts > 0 ? p->max_attempts : 3;
    dp->node_deadline = p->node_deadline;
    dp->encrypt = p->encrypt;
    dp->node_wait = p->node_wait > 0 ? p->node_wait : 0;
    dp->on_node = p->on_node;
    dp->on_node_arg = p->on_node_arg;
    dp->executors_budget = p->executors;
    dp->connect_timeout = p->connect_timeout > 0 ? p->connect_timeout : 10.0;
    if (p->worker_class != NULL)
        snprintf(dp->wc, sizeof(dp->wc), "%s", p->worker_class);
    if (p->init_data.size > 0) {
        dp->init = malloc(p->init_data.size);
        if (dp->init == NULL) {
            dpool_free(dp);
            return FP_ERR_NOMEM;
        }
        memcpy(dp->init, p->init_data.data, p->init_data.size);
        dp->init_len = p->init_data.size;
    }
    fp_status_t st = client_tp_get(dp->log, &dp->tp, err);
    if (st != FP_OK) {
        dpool_free(dp);
        return st;
    }
    dp->thr = fp__tp_rndv_threshold(dp->tp);
    fp__pool_set_remote(shell, &remote_ops, dp);
    for (size_t i = 0; i < p->nship_modules; i++) {
        st = mods_add_file(dp, p->ship_modules[i], p->local, err);
        if (st != FP_OK)
            goto fail;
    }
    /* events, node_wait and straggler timers (dpool_close stops it) */
    if (pthread_create(&dp->evt_thread, NULL, evt_main, dp) != 0) {
        st = FP_ERR_SYSTEM;
        goto fail;
    }
    dp->evt_started = true;

    if (p->local) {
        fp_pool_params_t lp;
        memset(&lp, 0, sizeof(lp));
        lp.executors = p->local_executors;
        lp.pin = p->pin;
        lp.worker_class = p->worker_class;
        lp.init_data = p->init_data;
        st = fp__pool_create_local(fp__pool_context(shell), &lp, false,
                                   &dp->local, err);
        if (st != FP_OK)
            goto fail;
        fp__pool_set_msg_sink(dp->local, msg_local_sink, dp);
        dnode_t *n = calloc(1, sizeof(*n));
        if (n == NULL) {
            st = FP_ERR_NOMEM;
            goto fail;
        }
        n->dp = dp;
        n->local = true;
        n->state = N_UP;
        snprintf(n->address, sizeof(n->address), "local");
        gethostname(n->host, sizeof(n->host) - 1);
        snprintf(n->transports, sizeof(n->transports), "in-process");
        n->executors = fp_pool_size(dp->local);
        n->cores = n->executors;
        n->credits = n->executors * CREDITS_PER_EXECUTOR;
        n->index_base = 0;
        dp->next_index = n->executors;
        if (dp->executors_budget > 0)
            dp->executors_budget += n->executors; /* the budget is the nodes' */
        fp__pool_set_index_base(dp->local, 0);
        fp__chunker_init(&n->sizer, FP__CHUNK_TARGET_S * 10, 1, 1,
                         RECORD_MAX_ELEMS);
        link_node(dp, n);
        atomic_fetch_add(&dp->total_executors, n->executors);
    }
    dnode_t **list = calloc(p->nnodes > 0 ? p->nnodes : 1, sizeof(*list));
    if (list == NULL) {
        st = FP_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < p->nnodes; i++) {
        list[i] = node_new(dp, p->nodes[i], err);
        if (list[i] == NULL) {
            for (size_t j = 0; j < i; j++) {
                free(list[j]->bound);
                free(list[j]);
            }
            free(list);
            st = err != NULL && err->status != FP_OK ? err->status : FP_ERR_INVALID;
            goto fail;
        }
    }
    for (size_t i = 0; i < p->nnodes && st == FP_OK; i++)
        for (size_t j = 0; j < i; j++)
            if (list[j]->port == list[i]->port &&
                strcmp(list[j]->ip, list[i]->ip) == 0) {
                st = FP_ERR_EXISTS;
                if (err != NULL) {
                    err->status = st;
                    err->index = 0;
                    snprintf(err->message, sizeof(err->message),
                             "node %.90s is given twice (as %.90s too)",
                             list[i]->address, list[j]->address);
                }
                break;
            }
    if (st != FP_OK) {
        for (size_t i = 0; i < p->nnodes; i++) {
            free(list[i]->bound);
            free(list[i]);
        }
        free(list);
        goto fail;
    }
    for (size_t i = 0; i < p->nnodes; i++)
        link_node(dp, list[i]);
    st = connect_and_wait(dp, list, p->nnodes, err);
    free(list);
    if (st != FP_OK)
        goto fail;
    if (p->server != NULL) { /* its nodes, now and later (server.c) */
        if (dp->node_wait == 0)
            dp->node_wait = dp->connect_timeout;
        st = fp__srv_sub_start(shell, p->server, dp->connect_timeout, dp->log,
                               &dp->srv, err);
        if (st != FP_OK)
            goto fail;
    }
    if (atomic_load(&dp->total_executors) == 0 && dp->srv == NULL &&
        !p->nodes_to_come) {
        st = FP_ERR_INVALID;
        if (err != NULL) {
            err->status = st;
            snprintf(err->message, sizeof(err->message),
                     "the pool has no executors (no nodes, no local ones)");
        }
        goto fail;
    }
    return FP_OK;

fail:
    dpool_close(dp);
    if (dp->local != NULL)
        fp_pool_destroy(dp->local);
    client_tp_put();
    dpool_free(dp);
    fp__pool_set_remote(shell, NULL, NULL);
    return st;
}

fp_status_t fp__dpool_add_node(fp_pool_t *pool, const char *address,
                               fp_error_t *err)
{
    fp__dpool_t *dp = dpool_of(pool);
    dnode_t *n = node_new(dp, address, err);
    if (n == NULL)
        return err != NULL && err->status != FP_OK ? err->status : FP_ERR_INVALID;
    /* one connection per node: a node already up (or being added) is not
     * added twice */
    pthread_mutex_lock(&dp->lock);
    for (dnode_t *o = dp->nodes; o != NULL; o = o->next) {
        if (o == n || o->local || o->port != n->port ||
            strcmp(o->ip, n->ip) != 0 ||
            (o->state != N_UP && o->state != N_CONNECTING &&
             o->state != N_OPENING))
            continue;
        pthread_mutex_unlock(&dp->lock);
        free(n->bound);
        free(n);
        if (err != NULL) {
            err->status = FP_ERR_EXISTS;
            err->index = 0;
            snprintf(err->message, sizeof(err->message),
                     "node %.90s is already in the pool (as %.90s, %s)",
                     address, o->address,
                     o->state == N_UP ? "up" : "being added");
        }
        return FP_ERR_EXISTS;
    }
    pthread_mutex_unlock(&dp->lock);
    /* an added node gives all its executors */
    pthread_mutex_lock(&dp->lock);
    unsigned budget = dp->executors_budget;
    dp->executors_budget = 0;
    pthread_mutex_unlock(&dp->lock);
    /* the progress thread walks the node list without a lock: the new
     * node is linked there (connect_closure), before it connects */
    n->link_first = true;
    fp_status_t st = connect_and_wait(dp, &n, 1, err);
    pthread_mutex_lock(&dp->lock);
    dp->executors_budget = budget;
    pthread_mutex_unlock(&dp->lock);
    return st;
}

fp_status_t fp__dpool_nodes(fp_pool_t *pool, fp_node_info_t *info, size_t cap,
                            size_t *count_p)
{
    fp__dpool_t *dp = dpool_of(pool);
    size_t k = 0;
    pthread_mutex_lock(&dp->lock);
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next, k++) {
        if (k >= cap || info == NULL)
            continue;
        fp_node_info_t *o = &info[k];
        memset(o, 0, sizeof(*o));
        snprintf(o->address, sizeof(o->address), "%s", n->address);
        snprintf(o->host, sizeof(o->host), "%s", n->host);
        o->executors = n->state == N_UP || n->local ? n->executors : n->want;
        o->cores = n->cores;
        o->gpus = n->gpus;
        o->state = n->state == N_UP                        ? FP_NODE_UP
                   : n->state == N_LOST && n->left         ? FP_NODE_LEFT
                   : n->state == N_LOST || n->state == N_CLOSING ? FP_NODE_LOST
                                                           : FP_NODE_CONNECTING;
        snprintf(o->transports, sizeof(o->transports), "%s", n->transports);
        o->elements = atomic_load_explicit(&n->elements, memory_order_relaxed);
        snprintf(o->reason, sizeof(o->reason), "%s", n->reason);
    }
    pthread_mutex_unlock(&dp->lock);
    if (count_p != NULL)
        *count_p = k;
    return FP_OK;
}

/* The transport's counters belong to its progress thread: read there. */
typedef struct stats_req {
    fp__dpool_t *dp;
    fp__tp_stats_t s;
    uint64_t joined, left, died, rec_rerun, el_rerun, el_failed, copies,
        copies_won, copies_dropped, mods_shipped, mod_bytes;
    bool done;
} stats_req_t;

static void stats_closure(void *arg)
{
    stats_req_t *q = arg;
    fp__dpool_t *dp = q->dp;
    fp__tp_get_stats(dp->tp, &q->s);
    pthread_mutex_lock(&dp->lock); /* st_joined/left/died move under it */
    q->joined = dp->st_joined;
    q->left = dp->st_left;
    q->died = dp->st_died;
    q->rec_rerun = dp->st_rec_rerun;
    q->el_rerun = dp->st_el_rerun;
    q->el_failed = dp->st_el_failed;
    q->copies = dp->st_copies;
    q->copies_won = dp->st_copies_won;
    q->copies_dropped = dp->st_copies_dropped;
    q->mods_shipped = dp->st_mods_shipped;
    q->mod_bytes = dp->st_mod_bytes;
    q->done = true;
    pthread_cond_broadcast(&q->dp->cond);
    pthread_mutex_unlock(&q->dp->lock);
}

fp_status_t fp__dpool_stats(fp_pool_t *pool, fp_pool_stats_t *stats)
{
    fp__dpool_t *dp = dpool_of(pool);
    stats_req_t q = {.dp = dp, .done = false};
    fp_status_t st = fp__tp_post(dp->tp, stats_closure, &q);
    if (st != FP_OK)
        return st;
    pthread_mutex_lock(&dp->lock);
    while (!q.done)
        pthread_cond_wait(&dp->cond, &dp->lock);
    pthread_mutex_unlock(&dp->lock);
    fp__tp_stats_t s = q.s;
    memset(stats, 0, sizeof(*stats));
    stats->msgs_sent = s.msgs_sent;
    stats->msgs_received = s.msgs_received;
    stats->bytes_sent = s.bytes_sent;
    stats->bytes_received = s.bytes_received;
    stats->rndv_sent = s.rndv_sent;
    stats->rndv_received = s.rndv_received;
    stats->bytes_copied = s.bytes_copied;
    stats->large_bytes_copied = atomic_load(&dp->large_copied);
    stats->rndv_threshold = dp->thr;
    stats->nodes_joined = q.joined;
    stats->nodes_left = q.left;
    stats->nodes_died = q.died;
    stats->records_rerun = q.rec_rerun;
    stats->elements_rerun = q.el_rerun;
    stats->elements_failed = q.el_failed;
    stats->late_dropped = s.dropped;
    stats->copies_started = q.copies;
    stats->copies_won = q.copies_won;
    stats->copies_dropped = q.copies_dropped;
    stats->modules_shipped = q.mods_shipped;
    stats->module_bytes_sent = q.mod_bytes;
    return FP_OK;
}

void fp__dpool_counts(fp_pool_t *pool, size_t *nodes_p, unsigned *active_p)
{
    fp__dpool_t *dp = dpool_of(pool);
    size_t nodes = 0;
    unsigned active = 0;
    pthread_mutex_lock(&dp->lock);
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->state != N_UP)
            continue;
        nodes++;
        if (n->local && dp->local != NULL)
            active += fp__pool_busy_executors(dp->local);
        else {
            unsigned held =
                atomic_load_explicit(&n->inflight, memory_order_relaxed);
            active += held < n->executors ? held : n->executors;
        }
    }
    pthread_mutex_unlock(&dp->lock);
    if (nodes_p != NULL)
        *nodes_p = nodes;
    if (active_p != NULL)
        *active_p = active;
}

/* ---- messages ------------------------------------------------------------------ */

/* fp_pool_send / fp_pool_send_node: the caller's thread checks what it can
 * alone (a hook in the class, if the class is registered here), copies the
 * bytes and waits while the progress thread, which owns the nodes, finds
 * the target and sends EXEC_MSG (or queues into the local executors'
 * mailboxes).  One thread's sends reach the progress thread in order and
 * leave on each connection in order.  CLIENT_MSGs from a node go through
 * the node's in-order queue into the shell pool's queue / on_message. */

typedef struct msg_req {
    fp__dpool_t *dp;
    unsigned executor;   /* FP_TO_ALL: all (of `address`, if set) */
    const char *address; /* NULL: by executor */
    void *data;          /* a copy, freed by the sends */
    size_t len;
    fp_status_t status;
    fp_error_t err;
    bool done;
} msg_req_t;

typedef struct msg_buf {
    int refs; /* sends in flight + the closure's */
    size_t len;
    unsigned char data[];
} msg_buf_t;

static void msg_buf_unref(void *ud, fp_status_t st)
{
    (void)st;
    msg_buf_t *b = ud;
    if (--b->refs == 0)
        free(b);
}

static void msg_req_fail(msg_req_t *q, fp_status_t st, const char *fmt, ...)
    FP_PRINTF(3, 4);
static void msg_req_fail(msg_req_t *q, fp_status_t st, const char *fmt, ...)
{
    q->status = st;
    q->err.status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err.message, sizeof(q->err.message), fmt, ap);
    va_end(ap);
}

/* One node: executor `target` (global) or FP_TO_ALL of it. */
static fp_status_t msg_to_node(fp__dpool_t *dp, dnode_t *n, unsigned target,
                               msg_buf_t *b)
{
    fp_cbuf_t msg = {b->data, b->len};
    if (n->local)
        return fp_pool_send(dp->local,
                            target == FP_TO_ALL ? FP_TO_ALL
                                                : target - n->index_base,
                            msg, NULL);
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_EXEC_MSG;
    m.hdr.pool = 1;
    m.u.emsg.executor = target == FP_TO_ALL ? FP__WIRE_MSG_ALL : target;
    m.u.emsg.data = b->data;
    m.u.emsg.len = b->len;
    b->refs++;
    fp_status_t st =
        fp__tp_send(n->conn, &m, b->data, b->len, msg_buf_unref, b);
    if (st != FP_OK)
        b->refs--;
    return st;
}

static void msg_send_closure(void *arg)
{
    msg_req_t *q = arg;
    fp__dpool_t *dp = q->dp;
    msg_buf_t *b = q->data;
    q->status = FP_OK;
    unsigned up = 0;
    bool found = false;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        bool mine;
        if (q->address != NULL)
            mine = strcmp(n->address, q->address) == 0;
        else
            mine = q->executor == FP_TO_ALL ||
                   (q->executor >= n->index_base &&
                    q->executor - n->index_base < n->executors &&
                    n->executors > 0);
        if (!mine)
            continue;
        found = true;
        if (n->state != N_UP) {
            if (q->executor != FP_TO_ALL || q->address != NULL)
                msg_req_fail(q, FP_ERR_PEER, "node %s is %s%s%s", n->address,
                             n->state == N_LOST ? "lost" : "not up",
                             n->reason[0] ? ": " : "", n->reason);
            continue;
        }
        fp_status_t st =
            msg_to_node(dp, n, q->address != NULL ? FP_TO_ALL : q->executor, b);
        if (st != FP_OK)
            msg_req_fail(q, st, "cannot send to node %s: %s", n->address,
                         fp_status_string(st));
        else
            up++;
        if (q->address == NULL && q->executor != FP_TO_ALL)
            break; /* one executor: one node */
    }
    if (q->status == FP_OK && !found) {
        unsigned total = atomic_load(&dp->total_executors);
        if (q->address != NULL)
            msg_req_fail(q, FP_ERR_NOT_FOUND, "the pool has no node '%s'",
                         q->address);
        else
            msg_req_fail(q, FP_ERR_INVALID,
                         "executor %u is outside 0..%u (or FP_TO_ALL)",
                         q->executor, total > 0 ? total - 1 : 0);
    }
    if (q->status == FP_OK && up == 0)
        msg_req_fail(q, FP_ERR_PEER, "no node of the pool is up");
    msg_buf_unref(b, FP_OK);
    pthread_mutex_lock(&dp->lock);
    q->done = true;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
}

static fp_status_t msg_send(fp_pool_t *pool, unsigned executor,
                            const char *address, fp_cbuf_t msg,
                            fp_error_t *err)
{
    fp__dpool_t *dp = dpool_of(pool);
    int hook = dp->wc[0] != '\0' ? fp__worker_class_has_message(dp->wc) : 0;
    if (hook == 0) {
        if (err != NULL) {
            err->status = FP_ERR_STATE;
            err->index = 0;
            snprintf(err->message, sizeof(err->message),
                     "the pool has no worker class with a message hook");
        }
        return FP_ERR_STATE;
    }
    msg_buf_t *b = malloc(sizeof(*b) + (msg.size > 0 ? msg.size : 1));
    if (b == NULL)
        return FP_ERR_NOMEM;
    b->refs = 1;
    b->len = msg.size;
    if (msg.size > 0)
        memcpy(b->data, msg.data, msg.size);
    msg_req_t q;
    memset(&q, 0, sizeof(q));
    q.dp = dp;
    q.executor = executor;
    q.address = address;
    q.data = b;
    q.len = msg.size;
    fp_status_t st = fp__tp_post(dp->tp, msg_send_closure, &q);
    if (st != FP_OK) {
        free(b);
        return st;
    }
    pthread_mutex_lock(&dp->lock);
    while (!q.done)
        pthread_cond_wait(&dp->cond, &dp->lock);
    pthread_mutex_unlock(&dp->lock);
    if (q.status != FP_OK && err != NULL)
        *err = q.err;
    return q.status;
}

static fp_status_t r_send(fp_pool_t *pool, unsigned executor, fp_cbuf_t msg,
                          fp_error_t *err)
{
    return msg_send(pool, executor, NULL, msg, err);
}

static fp_status_t r_send_node(fp_pool_t *pool, const char *address,
                               fp_cbuf_t msg, fp_error_t *err)
{
    return msg_send(pool, FP_TO_ALL, address, msg, err);
}

/* The client's own executors: fp_task_send lands in the shell's queue. */
static void msg_local_sink(void *arg, unsigned executor, const void *data,
                           size_t size)
{
    fp__dpool_t *dp = arg;
    (void)fp__pool_post_message(dp->shell, executor, (void *)data, size,
                                false);
}

static void msg_deliver(void *arg, uint32_t executor, void *data, size_t len)
{
    dnode_t *n = arg;
    (void)fp__pool_post_message(n->dp->shell, executor, data, len, true);
}

static bool msg_from_ok(dnode_t *n, uint32_t executor)
{
    if (n->state == N_UP && executor >= n->index_base &&
        executor - n->index_base < n->executors)
        return true;
    bad_node(n, "a message from executor %u, not one of its %u..%u",
             executor, n->index_base, n->index_base + n->executors - 1);
    return false;
}

static void msg_on_client(dnode_t *n, const fp__wire_msg_t *m)
{
    const fp__wire_exec_msg_t *e = &m->u.emsg;
    if (!msg_from_ok(n, e->executor))
        return;
    fp__mq_ent_t *q = fp__mq_add(&n->msgq, e->executor, e->len, true);
    if (q == NULL) {
        fp__warn(n->dp->log, "a message from %s dropped: out of memory",
                 n->address);
        return;
    }
    if (e->len > 0)
        memcpy(q->data, e->data, e->len);
    fp__tp_note_copy(n->dp->tp, e->len);
    fp__mq_drain(&n->msgq, msg_deliver, n);
}

typedef struct msg_rx {
    dnode_t *n;
    fp__mq_ent_t *e;
} msg_rx_t;

static void msg_rx_done(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                        const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)conn;
    (void)m;
    (void)buf;
    (void)len;
    msg_rx_t *rx = ud;
    fp__mq_done(rx->e, st == FP_OK);
    fp__mq_drain(&rx->n->msgq, msg_deliver, rx->n);
    free(rx);
}

static void msg_on_client_bulk(dnode_t *n, const fp__wire_msg_t *m, size_t len,
                               fp__tp_bulk_dest_t *dest)
{
    if (!msg_from_ok(n, m->u.emsg.executor))
        return;
    msg_rx_t *rx = malloc(sizeof(*rx));
    fp__mq_ent_t *e =
        rx != NULL ? fp__mq_add(&n->msgq, m->u.emsg.executor, len, false)
                   : NULL;
    if (e == NULL) {
        free(rx);
        return;
    }
    rx->n = n;
    rx->e = e;
    dest->buf = e->data;
    dest->done = msg_rx_done;
    dest->user_data = rx;
}

/* ---- modules ---------------------------------------------------------------- */

/* Task modules shipped to the nodes (modship.c has the protocol).  The
 * pool keeps every module it was given (ship_modules, fp_pool_ship_module)
 * in dp->mods, in order; each node connection offers them one at a time
 * (n->mod_next), so a node that joins later gets them all.  A joining node
 * gets its POOL_OPEN only after the last answer: no record reaches a node
 * before its modules are loaded.  A module that fails there fails the join
 * ("node ADDR: module NAME: ..."), as a worker-class hook would.  For nodes
 * already up, fp_pool_ship_module waits for each of them to answer. */

typedef struct ship_req {
    struct ship_req *next;
    fp__dpool_t *dp;
    size_t idx;       /* in dp->mods */
    dnode_t **wait;   /* nodes it waits for; NULL once answered */
    size_t nwait, left;
    bool posted;      /* the progress thread has handled it */
    fp__modfile_t *mf;
    fp_error_t err;
} ship_req_t;

/* Node n answered module idx (st, text), or is gone; under dp->lock. */
static void mods_answered_locked(fp__dpool_t *dp, dnode_t *n, size_t idx,
                                 bool any_idx, fp_status_t st,
                                 const char *text)
{
    for (ship_req_t *q = dp->ship_reqs; q != NULL; q = q->next) {
        if (!any_idx && q->idx != idx)
            continue;
        for (size_t i = 0; i < q->nwait; i++) {
            if (q->wait[i] != n)
                continue;
            q->wait[i] = NULL;
            q->left--;
            if (st != FP_OK && q->err.status == FP_OK) {
                q->err.status = st;
                snprintf(q->err.message, sizeof(q->err.message),
                         "node %.90s: %.150s", n->address, text);
            }
        }
    }
    pthread_cond_broadcast(&dp->cond);
}

static void mods_node_gone(dnode_t *n)
{
    fp__dpool_t *dp = n->dp;
    char text[FP_ERROR_MAX];
    snprintf(text, sizeof(text), "lost before it loaded the module: %.150s",
             n->reason[0] ? n->reason : "connection closed");
    mods_answered_locked(dp, n, 0, true,
                         n->left ? FP_ERR_CLOSED : FP_ERR_PEER, text);
}

/* Offer the next module, or, when a joining node has them all, open the
 * pool there.  Progress thread. */
static void mods_next(dnode_t *n)
{
    fp__dpool_t *dp = n->dp;
    if (n->conn == NULL)
        return;
    if (n->mod_next < dp->nmods) {
        n->mod_busy = true;
        fp_status_t st = fp__modship_offer(n->conn, n->mod_next + 1,
                                           dp->mods[n->mod_next]);
        if (st != FP_OK)
            fp__tp_close(n->conn, st, "cannot send MODULE_OFFER");
        return;
    }
    n->mod_busy = false;
    if (n->mod_joining) {
        n->mod_joining = false;
        send_pool_open(n);
    }
}

static void mods_on_reply(dnode_t *n, const fp__wire_msg_t *m)
{
    fp__dpool_t *dp = n->dp;
    const fp__wire_module_t *r = &m->u.module;
    if (!n->mod_busy || r->id != n->mod_next + 1) {
        bad_node(n, "MODULE_REPLY for module %" PRIu64 ", which was not "
                    "offered",
                 r->id);
        return;
    }
    fp__modfile_t *mf = dp->mods[n->mod_next];
    if (r->answer == FP__WIRE_MOD_NEED) {
        fp_status_t st = fp__modship_data(n->conn, r->id, mf);
        if (st != FP_OK) {
            fp__tp_close(n->conn, st, "cannot send MODULE_DATA");
            return;
        }
        dp->st_mods_shipped++;
        dp->st_mod_bytes += mf->size;
        fp__debug(dp->log, "node %s needs module %s: sending %zu bytes",
                  n->address, mf->name, mf->size);
        return;
    }
    char text[FP_ERROR_MAX];
    fp_status_t st = FP_OK;
    if (r->answer == FP__WIRE_MOD_FAILED) {
        st = r->status;
        snprintf(text, sizeof(text), "%.*s", (int)r->message_len,
                 r->message != NULL ? r->message : "");
        if (text[0] == '\0')
            snprintf(text, sizeof(text), "module %.100s: %s", mf->name,
                     fp_status_string(st));
    } else {
        fp__debug(dp->log, "node %s: module %s %s", n->address, mf->name,
                  r->answer == FP__WIRE_MOD_HAVE ? "was cached" : "loaded");
    }
    size_t idx = n->mod_next++;
    n->mod_busy = false;
    if (n->mod_joining && st != FP_OK) {
        /* the join fails with the node's reason (connect_and_wait) */
        pthread_mutex_lock(&dp->lock);
        n->status = st;
        snprintf(n->reason, sizeof(n->reason), "%s", text);
        pthread_mutex_unlock(&dp->lock);
        fp__tp_close(n->conn, st, text);
        return;
    }
    if (!n->mod_joining) {
        pthread_mutex_lock(&dp->lock);
        mods_answered_locked(dp, n, idx, false, st, text);
        pthread_mutex_unlock(&dp->lock);
    }
    mods_next(n);
}

static fp_status_t mods_append(fp__dpool_t *dp, fp__modfile_t *mf)
{
    if (dp->nmods == dp->mods_cap) {
        size_t cap = dp->mods_cap ? 2 * dp->mods_cap : 4;
        fp__modfile_t **m = realloc(dp->mods, cap * sizeof(*m));
        if (m == NULL)
            return FP_ERR_NOMEM;
        dp->mods = m;
        dp->mods_cap = cap;
    }
    dp->mods[dp->nmods++] = mf;
    return FP_OK;
}

/* At create, before any connection: read it (and load it here too when
 * the pool has executors of its own). */
static fp_status_t mods_add_file(fp__dpool_t *dp, const char *path, bool here,
                                 fp_error_t *err)
{
    fp__modfile_t *mf;
    fp_status_t st = fp__modfile_read(path, &mf, err);
    if (st != FP_OK)
        return st;
    if (here && (st = fp__module_load_here(path, err)) != FP_OK) {
        fp__modfile_unref(mf);
        return st;
    }
    if ((st = mods_append(dp, mf)) != FP_OK)
        fp__modfile_unref(mf);
    return st;
}

/* A node fp_pool_ship_module waits for: past its own modules' join
 * (up, or its POOL_OPEN sent), reachable. */
static bool ship_target(const dnode_t *n)
{
    return !n->local && n->conn != NULL && !n->mod_joining && !n->leaving &&
           (n->state == N_UP || n->state == N_OPENING);
}

static void ship_closure(void *arg)
{
    ship_req_t *q = arg;
    fp__dpool_t *dp = q->dp;
    size_t k = 0;
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        k += ship_target(n);
    fp_status_t st = FP_ERR_NOMEM;
    q->wait = calloc(k > 0 ? k : 1, sizeof(*q->wait));
    if (q->wait != NULL)
        st = mods_append(dp, fp__modfile_ref(q->mf));
    pthread_mutex_lock(&dp->lock);
    if (st != FP_OK) {
        if (q->wait != NULL)
            fp__modfile_unref(q->mf);
        q->err.status = st;
        snprintf(q->err.message, sizeof(q->err.message),
                 "module %.200s: out of memory", q->mf->path);
    } else {
        q->idx = dp->nmods - 1;
        for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
            if (ship_target(n))
                q->wait[q->nwait++] = n;
        q->left = q->nwait;
    }
    q->posted = true;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    if (st != FP_OK)
        return;
    /* idle nodes start on it now; busy or joining ones get to it */
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next)
        if (ship_target(n) && !n->mod_busy)
            mods_next(n);
}

fp_status_t fp__dpool_ship_module(fp_pool_t *pool, const char *path,
                                  fp_error_t *err)
{
    fp__dpool_t *dp = dpool_of(pool);
    fp__modfile_t *mf;
    fp_status_t st = fp__modfile_read(path, &mf, err);
    if (st != FP_OK)
        return st;
    if (dp->local != NULL && (st = fp__module_load_here(path, err)) != FP_OK) {
        fp__modfile_unref(mf);
        return st;
    }
    ship_req_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        fp__modfile_unref(mf);
        return FP_ERR_NOMEM;
    }
    q->dp = dp;
    q->mf = mf;
    pthread_mutex_lock(&dp->lock);
    q->next = dp->ship_reqs;
    dp->ship_reqs = q;
    pthread_mutex_unlock(&dp->lock);
    st = fp__tp_post(dp->tp, ship_closure, q);
    pthread_mutex_lock(&dp->lock);
    if (st == FP_OK)
        while (!q->posted || q->left > 0)
            pthread_cond_wait(&dp->cond, &dp->lock);
    for (ship_req_t **pp = &dp->ship_reqs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    pthread_mutex_unlock(&dp->lock);
    if (st == FP_OK)
        st = q->err.status;
    if (st != FP_OK && err != NULL && q->err.status != FP_OK)
        *err = q->err;
    fp__modfile_unref(mf);
    free(q->wait);
    free(q);
    return st;
}

/* ---- for the layers above (boot/) ------------------------------------------ */

void fp__client_ephemeral_secret(void)
{
    pthread_mutex_lock(&g_lock);
    g_ephemeral = true;
    pthread_mutex_unlock(&g_lock);
}

fp_status_t fp__dpool_secret_key(fp_pool_t *pool, unsigned char *key)
{
    fp__dpool_t *dp = dpool_of(pool);
    if (dp == NULL || dp->tp == NULL)
        return FP_ERR_STATE;
    const fp__auth_secret_t *s = fp__tp_secret(dp->tp);
    if (s == NULL)
        return FP_ERR_STATE;
    fp__auth_secret_key(s, key);
    return FP_OK;
}

fp_status_t fp__dpool_attach(fp_pool_t *pool, void (*fini)(void *arg),
                             void *arg)
{
    fp__dpool_t *dp = dpool_of(pool);
    if (dp == NULL || fini == NULL)
        return FP_ERR_INVALID;
    dattach_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return FP_ERR_NOMEM;
    a->fini = fini;
    a->arg = arg;
    pthread_mutex_lock(&dp->lock);
    a->next = dp->attached;
    dp->attached = a;
    pthread_mutex_unlock(&dp->lock);
    return FP_OK;
}

size_t fp__dpool_backlog(fp_pool_t *pool)
{
    fp__dpool_t *dp = dpool_of(pool);
    return dp != NULL ? atomic_load(&dp->backlog) : 0;
}

double fp__dpool_node_idle(fp_pool_t *pool, const char *address)
{
    fp__dpool_t *dp = dpool_of(pool);
    if (dp == NULL || address == NULL)
        return -1;
    double idle = -1;
    pthread_mutex_lock(&dp->lock);
    for (dnode_t *n = dp->nodes; n != NULL; n = n->next) {
        if (n->local || n->state != N_UP || strcmp(n->address, address) != 0)
            continue;
        long long t = atomic_load(&n->idle_ns);
        idle = t == 0 ? 0 : fp__now() - (double)t * 1e-9;
        break;
    }
    pthread_mutex_unlock(&dp->lock);
    return idle;
}
