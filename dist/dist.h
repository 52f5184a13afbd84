/*
 * The distributed layer (internal): a pool whose executors are on nodes.
 *
 *   exec.c    running one task record on a core pool's executors (shared by
 *             the node and by a client's own executors)
 *   client.c  the client side: nodes, dispatch, results (pool->remote)
 *   node.c    the node role: serving pools for clients
 *   pool.c    the public entry points: fp_pool_create, nodes, stats, serve
 *
 * Design note (client dispatch).
 *
 * Every call of a distributed pool reaches the client as a unit of work
 * (core/remote.h): a map's elements 0..n-1, an imap chunk's, or one apply.
 * Units wait in one FIFO per pool.  All dispatch state lives on the
 * transport's progress thread (one per process, shared by the process's
 * pools): user threads only post closures to it.  Each node (and the
 * client's own executors, when it has some: a node reached by a function
 * call instead of the network) holds at most `credits` task records in
 * flight, two per executor, so a node that finishes sooner is refilled
 * sooner and a node half as fast takes half the records.  A record is a
 * contiguous element range of one unit, sized per node by the adaptive
 * chunk sizer (common/chunker.h, the rule local chunks follow) against a
 * target of max(100 us, the node's measured round trip), and capped so
 * that the rest of the unit still spreads over every executor (guided
 * self-scheduling).  When a unit's elements are all handed out and a node
 * goes idle while another still holds records it has not started, the
 * idle node steals: the client asks the busy node to give back its newest
 * unstarted record (CANCEL), and hands the range returned to the idle one.
 *
 * Bytes: a record's arguments travel inline in the batch when they are
 * small; at or above the rendezvous threshold they go as BULK messages
 * sent straight from the caller's array (zero-copy, rendezvous).  Results
 * come back inline and are copied into the caller's slots, or, at or
 * above the threshold, as BULK messages UCX writes straight into the
 * caller's slots (or an apply's result buffer).
 *
 * Records carry (task id, attempt): the id names a record in the pool's
 * in-flight table; a result for an id not there, or one that does not fit
 * its record (range, size, attempt), closes that node's connection with
 * the reason logged and delivers nothing.
 *
 * Failures.  An element range belongs to exactly one record at a time
 * (straggler twins aside, below), so a result is delivered once.  A node is dead when its
 * connection breaks or it is silent past its deadline (node_deadline, a
 * per-connection transport deadline; heartbeats are echoed, so a deadline
 * shorter than the node's heartbeat period holds); anything it sends later
 * names no open connection and the transport drops and counts it.  Its
 * records that are not complete go back to their units, whole (what it
 * reported of them is void: failures a node reports are held in the record
 * until it completes), with one more attempt, and are handed out again
 * like ranges given back by a steal.  Ranges that have been on
 * isolate_at() dead nodes (max_attempts - 1, at least 1) are handed out
 * one element at a time, only to a node with nothing else in flight, and
 * that node takes nothing else meanwhile: a poison element then kills
 * nodes alone, and its neighbours are not blamed for it.  At max_attempts
 * the range fails with FP_ERR_PEER ("element 17 was running on 3 nodes
 * that died").  A node that said goodbye (a clean stop) has handed its
 * queue back as CANCELED results first; anything it still held reruns
 * without counting an attempt.  With no executor left, queued work waits
 * node_wait seconds for a node to join, then fails.
 *
 * Stragglers.  For calls that opted in (speculate), an idle node takes a
 * copy of the record that has been out longest elsewhere (late: more than
 * twice its node's record target, at least 2 ms).  The two records are
 * twins; the first to deliver anything (a result record or a BULK) claims
 * the range and writes the caller's slots; the other becomes an orphan:
 * its node is asked to skip the rest (CANCEL), and whatever it still sends
 * lands in scratch and is dropped.  An orphan outlives its unit if need
 * be (its record forgets the unit).  If the original's node dies while the
 * copy runs, the copy simply carries on.
 *
 * Membership events go to the pool's event thread, which also runs the
 * node_wait and straggler timers (it posts closures to the progress
 * thread when they are due).
 */
#ifndef FP_DIST_DIST_H
#define FP_DIST_DIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "transport/tp.h"

/* ---- buffers -------------------------------------------------------------- */

/* A payload buffer with the transport's headroom in front (for framed
 * sends, tp.h), and its release. */
static inline void *fp__alloc_headroom(size_t len)
{
    unsigned char *p = malloc(FP__TP_HEADROOM + (len > 0 ? len : 1));
    return p != NULL ? p + FP__TP_HEADROOM : NULL;
}

static inline void fp__free_headroom(void *payload)
{
    if (payload != NULL)
        free((unsigned char *)payload - FP__TP_HEADROOM);
}

/* A send callback that frees its buffer (malloc'd). */
static inline void fp__free_on_send(void *ud, fp_status_t st)
{
    (void)st;
    free(ud);
}

/* ---- running a record on a core pool (exec.c) --------------------------- */

typedef struct fp__dfail {
    struct fp__dfail *next;
    size_t index; /* in the record */
    fp_status_t status;
    size_t len;
    char msg[FP_ERROR_MAX];
} fp__dfail_t;

typedef struct fp__dexec fp__dexec_t;
struct fp__dexec {
    fp__root_t root; /* first: the root is cast back */
    fp_pool_t *pool;
    fp_task_fn_t fn;
    const char *name; /* for messages */
    uint8_t kind; /* FP__WORK_MAP / FP__WORK_APPLY */
    size_t nargs;
    const char *arg_base[FP_MAX_ARGS]; /* MAP: element 0's bytes */
    size_t arg_size[FP_MAX_ARGS];      /* MAP: per element; APPLY: whole */
    char *out;                         /* MAP: slot 0 */
    size_t out_size, count;
    const atomic_int *stop;  /* non-zero: skip what has not started */
    atomic_int cancel;       /* the same, for this record alone */
    /* results: elements [0, ran) ran (the rest were skipped), failures in
     * index order; an apply's result buffer (malloc'd) */
    size_t ran;
    fp__dfail_t *fails;
    void *apply_buf;
    size_t apply_size;
    double elapsed;
    atomic_int started;
    void (*done)(fp__dexec_t *x); /* on the executor, after the last element */
    void *user;
};

/* Queue the record on `pool` (a local pool).  done() runs once. */
void fp__dexec_submit(fp_pool_t *pool, fp__dexec_t *x);
/* Take it back if no executor has started it: true if removed (done()
 * will not run). */
bool fp__dexec_unsubmit(fp__dexec_t *x);
void fp__dexec_free_fails(fp__dexec_t *x);

/* ---- the client (client.c) ---------------------------------------------- */

typedef struct fp__dpool fp__dpool_t;

typedef struct fp__dpool_params {
    const char *const *nodes;
    size_t nnodes;
    unsigned executors; /* in all over the given nodes; 0: all */
    bool local;
    unsigned local_executors;
    fp_pin_t pin;
    const char *worker_class;
    fp_cbuf_t init_data;
    double connect_timeout;
    unsigned max_attempts;
    double node_deadline, node_wait;
    fp_node_event_fn_t on_node;
    void *on_node_arg;
    const char *const *ship_modules; /* read here, shipped to every node */
    size_t nship_modules;
    const char *server; /* a rendezvous server to take nodes from (server.c) */
    bool encrypt; /* connections to the nodes are sealed (the transport's
                     FP_ENCRYPT default holds otherwise) */
    bool nodes_to_come; /* hosts are being started: none yet is fine */
} fp__dpool_params_t;

/* Make `shell` (a local pool without executors) a distributed pool. */
fp_status_t fp__dpool_create(fp_pool_t *shell, const fp__dpool_params_t *p,
                             fp_error_t *err);
fp_status_t fp__dpool_add_node(fp_pool_t *pool, const char *address,
                               fp_error_t *err);
/* fp_pool_ship_module of a pool with nodes. */
fp_status_t fp__dpool_ship_module(fp_pool_t *pool, const char *path,
                                  fp_error_t *err);
fp_status_t fp__dpool_nodes(fp_pool_t *pool, fp_node_info_t *info, size_t cap,
                            size_t *count_p);
fp_status_t fp__dpool_stats(fp_pool_t *pool, fp_pool_stats_t *stats);
/* Nodes up (the local executors count as one) and executors holding work. */
void fp__dpool_counts(fp_pool_t *pool, size_t *nodes_p, unsigned *active_p);

/* For the layers above (boot/: SSH bootstrap).  With no secret configured
 * (FP_SECRET_FILE, FP_SECRET), the client transport, when it is first made,
 * makes a random secret instead of failing: nodes started over SSH receive
 * it there.  The pool secret's derived key (FP__AUTH_KEY_LEN bytes).  A
 * cleanup run by fp_pool_destroy after the nodes were closed (last attached
 * first). */
void fp__client_ephemeral_secret(void);
/* Set by boot/ when it is linked in (always, in libfastpool): starts the
 * hosts of a pool being created (fp_pool_params_t.hosts, FP_HOSTS). */
extern fp_status_t (*fp__boot_hosts_hook)(fp_pool_t *pool,
                                          const char *const *hosts,
                                          size_t nhosts,
                                          const struct fp_host_params *hp,
                                          fp_error_t *err);
fp_status_t fp__dpool_secret_key(fp_pool_t *pool, unsigned char *key);
fp_status_t fp__dpool_attach(fp_pool_t *pool, void (*fini)(void *arg),
                             void *arg);
/* Set by boot/cluster.c: a pool from a cluster file.  load reads and checks
 * it (before the pool is made: what it says about nodes, a server, hosts to
 * come); start, once the pool exists, starts what the file says (it owns
 * the plan from then on, success or not); free, for a pool not made. */
typedef struct fp__boot_plan fp__boot_plan_t;
typedef struct fp__boot_plan_info {
    const char *const *nodes; /* bootstrap none: ADDR:PORT each */
    size_t nnodes;
    const char *server;       /* bootstrap server */
    size_t hosts;             /* bootstrap ssh: hosts to come */
    double node_wait;         /* > 0: calls wait this long for a node */
} fp__boot_plan_info_t;
extern fp_status_t (*fp__boot_cluster_hook_load)(const char *path,
                                                 fp__boot_plan_t **plan_p,
                                                 fp__boot_plan_info_t *info,
                                                 fp_error_t *err);
extern fp_status_t (*fp__boot_cluster_hook_start)(fp_pool_t *pool,
                                                  fp__boot_plan_t *plan,
                                                  fp_error_t *err);
extern void (*fp__boot_cluster_hook_free)(fp__boot_plan_t *plan);

/* For elastic pools: calls waiting with elements not handed out yet, and
 * seconds node `address` has had nothing to run (0: busy; -1: no such node
 * up). */
size_t fp__dpool_backlog(fp_pool_t *pool);
double fp__dpool_node_idle(fp_pool_t *pool, const char *address);

/* "host:port" -> parts; FP_ERR_INVALID with a reason otherwise. */
fp_status_t fp__parse_hostport(const char *s, char *host, size_t host_cap,
                               uint16_t *port, bool port_required,
                               char *reason, size_t reason_size);

/* The id a node announces in HELLO: "node:<host>:<pid> cores=C gpus=G
 * caps=..." and its parser (fields missing stay 0 / ""). */
void fp__node_id_parse(const char *id, char *host, size_t host_cap,
                       unsigned *cores, unsigned *gpus);

/* ---- messages (msg.c) ---------------------------------------------------- */

/* Messages off one connection, delivered in the order they arrived: an
 * eager message that comes while a larger one before it is still being
 * received by rendezvous waits behind it.  Progress thread only. */
typedef struct fp__mq_ent {
    struct fp__mq_ent *next;
    bool ready, ok;
    uint32_t executor;
    void *data; /* malloc'd */
    size_t len;
} fp__mq_ent_t;

typedef struct fp__mq {
    fp__mq_ent_t *head, *tail;
} fp__mq_t;

/* Append an entry for `len` bytes (allocated here); ready: they are in
 * (copy them into e->data), else they come by rendezvous into e->data and
 * fp__mq_done marks it.  NULL when out of memory. */
fp__mq_ent_t *fp__mq_add(fp__mq_t *q, uint32_t executor, size_t len,
                         bool ready);
void fp__mq_done(fp__mq_ent_t *e, bool ok);
/* Hand every ready entry at the head to deliver (which takes `data`);
 * entries whose bytes did not arrive are dropped. */
void fp__mq_drain(fp__mq_t *q,
                  void (*deliver)(void *arg, uint32_t executor, void *data,
                                  size_t len),
                  void *arg);
/* Free every entry (the connection is gone; no receive is pending). */
void fp__mq_clear(fp__mq_t *q);

/* ---- task modules shipped to nodes (modship.c) ------------------------- */

/* A module file as the client read it (fp_pool_ship_module,
 * fp_pool_params_t.ship_modules): its bytes, their SHA-256, its file name.
 * Reference-counted: sends in flight hold it. */
typedef struct fp__modfile {
    atomic_int refs;
    char *path;
    char name[FP__WIRE_MODULE_NAME_MAX + 1]; /* the path's last component */
    uint8_t sha[FP__WIRE_SHA256_LEN];
    char hex[2 * FP__WIRE_SHA256_LEN + 1];
    unsigned char *bytes;
    size_t size;
} fp__modfile_t;

/* Read and hash `path` (FP_TEST_CORRUPT_MODULE=1, for tests only, flips a
 * byte after hashing).  err names the path and the cause. */
fp_status_t fp__modfile_read(const char *path, fp__modfile_t **mf_p,
                             fp_error_t *err);
fp__modfile_t *fp__modfile_ref(fp__modfile_t *mf);
void fp__modfile_unref(fp__modfile_t *mf);
/* A send callback that drops the reference it was given. */
void fp__modfile_sent(void *ud, fp_status_t st);

/* dlopen `path` in this process (a pool without nodes, or the client's own
 * executors); err carries dlerror()'s text. */
fp_status_t fp__module_load_here(const char *path, fp_error_t *err);

/* Client: send MODULE_OFFER / MODULE_DATA for `mf` as module `id` on
 * `conn` (progress thread). */
fp_status_t fp__modship_offer(fp__tp_conn_t *conn, uint64_t id,
                              fp__modfile_t *mf);
fp_status_t fp__modship_data(fp__tp_conn_t *conn, uint64_t id,
                             fp__modfile_t *mf);

/* Node: MODULE_OFFER and an eager MODULE_DATA (on_message of a ready,
 * authenticated connection); a MODULE_DATA by rendezvous (on_bulk).
 * `*state` is the connection's (NULL at first); fp__modship_conn_free
 * frees it when the connection closes.  Progress thread. */
void fp__modship_node_message(const fp__logger_t *log, fp__tp_conn_t *conn,
                              void **state, const fp__wire_msg_t *m);
void fp__modship_node_bulk(const fp__logger_t *log, fp__tp_conn_t *conn,
                           void **state, const fp__wire_msg_t *m, size_t len,
                           fp__tp_bulk_dest_t *dest);
void fp__modship_conn_free(void *state);

#endif
