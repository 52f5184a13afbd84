/*
 * The node role: serve pools for clients.
 *
 * Threads: the transport's progress thread owns every structure here (the
 * connections, their pools, the records); executors run records and post
 * their completion back to it; one control thread runs what blocks
 * (creating a pool, which starts executors and runs worker-class init
 * hooks; fp_pool_update; destroying a pool, which waits for its work) and
 * posts the outcome back.  Nothing else touches UCX.
 *
 * A client connection may open pools (POOL_OPEN, pool id >= 1); each is a
 * local core pool with the client's worker class, init data and executor
 * count, whose executors see their place in the whole pool (index base).
 * Records (TASK_BATCH) are copied out of the eager message once (the
 * batch's bytes are shared by its records), arguments sent as BULK arrive
 * by rendezvous into buffers of ours; a record is queued on the pool once
 * all its bytes are here.  Results go back in RESULT_BATCH messages,
 * coalesced per pool (one flush per round of completions); a result range
 * at or above the rendezvous threshold goes as BULK from the record's
 * result buffer (zero-copy) and its record says so.
 *
 * Leaving (fp_node_stop, then fp_node_destroy: SIGTERM in fp_node_serve).
 * On the progress thread the node takes back every record queued but not
 * started and answers it FP_ERR_CANCELED (the client reruns such a range
 * elsewhere, as after a steal); from then on every new record is answered
 * FP_ERR_CANCELED at once and no pool opens.  The records running go on to
 * their end; once none is left and every result send (inline batches and
 * BULK) has completed, the node says GOODBYE to each client, which closes
 * its side.  The stopping thread waits for that, at most
 * FP_NODE_LEAVE_TIMEOUT seconds (60) or until a second stop request
 * (a second SIGTERM), and then closes what is left at once: running
 * records' results are lost then (their executors stop after the element
 * they run, and the process waits for that before it exits).
 *
 * A client gone (its connection closed or broken): its queued records are
 * taken back unstarted, running ones finish and their results are dropped,
 * its pools are destroyed on the control thread (fini hooks run there).
 * With exit_with_client, the last client gone stops the node.
 */
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <time.h>

#include "common/futex.h"
#include "common/settings.h"
#include "dist.h"
#include "server.h"

/* the secret a node started over SSH received on stdin (fp_node_serve) */
static fp__auth_secret_t *g_boot_secret;
/* the node a stdin watcher may stop, while it exists */
static pthread_mutex_t g_boot_lock = PTHREAD_MUTEX_INITIALIZER;
static fp_node_t *g_boot_node;


#define NODE_MAX_POOLS 64
#define RESULT_BATCH_CAP (256u << 10)

typedef struct nconn nconn_t;
typedef struct npool npool_t;
typedef struct nrec nrec_t;

/* the bytes of one TASK_BATCH, shared by its records */
typedef struct nbatch {
    int refs;
    size_t len;
    unsigned char bytes[];
} nbatch_t;

struct nrec {
    fp__dexec_t x; /* first: cast back from the executor's done() */
    npool_t *np;
    nrec_t *next, *prev; /* np->recs */
    nrec_t *hnext;       /* np->hash bucket */
    uint64_t task_id;
    uint32_t attempt;
    uint8_t kind;
    uint64_t start;
    uint32_t count;
    bool have_record;  /* the TASK_BATCH record is in (else: a BULK came first) */
    bool queued;       /* on the pool */
    bool dead;         /* canceled before it ran, or its pool is gone */
    bool not_found;    /* its task name is unknown here */
    unsigned bulk_want; /* BULK arguments not yet complete */
    nbatch_t *batch;
    void *bulk[FP_MAX_ARGS];
    uint64_t bulk_total[FP_MAX_ARGS], bulk_got[FP_MAX_ARGS];
    uint8_t bulk_where[FP_MAX_ARGS];
    char *outbuf;  /* MAP results: headroom + count*out_size */
    int sends;     /* BULK result sends in flight */
    bool finished; /* result records built */
};

#define NREC_BUCKETS 1024

struct npool {
    nconn_t *nc;
    uint32_t id;
    int refs; /* the conn's, each record's, each control job's */
    enum { NP_AWAIT_INIT, NP_OPENING, NP_OPEN, NP_CLOSING, NP_GONE } state;
    fp_pool_t *pool;
    uint32_t executors, index_base;
    char wc[FP_NAME_MAX];
    void *init;
    uint64_t init_len, init_got;
    nrec_t *recs;
    nrec_t *hash[NREC_BUCKETS];
    size_t running;
    /* results waiting to go: one builder, flushed once per round */
    unsigned char *rbuf;
    fp__wire_builder_t rb;
    bool flush_posted;
    /* an UPDATE whose bytes come as BULK */
    uint64_t upd_seq, upd_total, upd_got;
    void *upd_buf;
    fp__mq_t msgq; /* EXEC_MSGs in arrival order (messages section) */
};

typedef struct nname {
    bool bound;
    fp_task_fn_t fn; /* NULL: not known here */
    char name[FP_NAME_MAX];
} nname_t;

struct nconn {
    fp_node_t *node;
    fp__tp_conn_t *conn;
    nconn_t *next, *prev;
    int refs; /* the connection's, one per pool */
    bool closed;
    npool_t *pools[NODE_MAX_POOLS + 1]; /* by pool id */
    nname_t *names;                     /* FP__WIRE_MAX_NAMES, lazily */
    char peer[FP__WIRE_ID_MAX + 1];     /* its id, for messages once the
                                           connection has gone */
    void *modship; /* modules offered on it (modship.c) */
};

typedef struct ctl_job {
    struct ctl_job *next;
    void (*fn)(struct ctl_job *);
    npool_t *np;
    uint64_t seq;
    void *data;
    size_t len;
    fp_status_t status;
    fp_error_t err;
    fp_pool_t *pool;
} ctl_job_t;

struct fp_node {
    fp_context_t *ctx;
    const fp__logger_t *log;
    fp__tp_t *tp;
    fp__auth_secret_t *secret;
    char address[160];
    char bind_host[128];
    unsigned executors, cores, gpus;
    fp_pin_t pin;
    char host[64];
    char id[FP__WIRE_ID_MAX + 1];
    atomic_uint stopped; /* futex word */
    nconn_t *conns;
    void **modules;
    size_t nmodules;
    /* control thread */
    pthread_t ctl;
    bool ctl_started;
    pthread_mutex_t ctl_lock;
    pthread_cond_t ctl_cond;
    ctl_job_t *ctl_head, *ctl_tail;
    bool ctl_stop;
    int ctl_pending; /* jobs queued or running */
    bool destroying;
    bool serving;    /* the progress thread runs */
    bool exit_with_client;
    /* leaving: `wake` is the stopping thread's futex word (a stop request,
     * or the leave's progress); leave_state is written by the progress
     * thread, read by the stopping one */
    atomic_uint wake;
    atomic_int leave_state; /* LEAVE_* */
    bool leave_started;     /* the stopping thread's */
    /* progress thread */
    bool had_client, leaving, bye_said;
    size_t sends;           /* result sends (batches, BULK) in flight */
    size_t refused;         /* records answered CANCELED while leaving */
    /* registration with a server (server.c): the records held, as the
     * progress thread last counted them; the server refused the secret */
    fp__srv_reg_t *reg;
    atomic_uint load_held;
    atomic_int reg_refused;
};

enum { LEAVE_NONE, LEAVE_DRAINING, LEAVE_BYE_SAID, LEAVE_ALL_GONE };

static void np_unref(npool_t *np);
static void rec_release(nrec_t *r);
static void close_job(ctl_job_t *j);
static void msg_on_exec(npool_t *np, const fp__wire_msg_t *m);
static void msg_on_exec_bulk(nconn_t *nc, const fp__wire_msg_t *m, size_t len,
                             fp__tp_bulk_dest_t *dest);
static void msg_attach(npool_t *np);
static void leave_poke(fp_node_t *node);

static void nc_unref(nconn_t *nc)
{
    if (--nc->refs > 0)
        return;
    free(nc->names);
    fp__modship_conn_free(nc->modship);
    free(nc);
}

/* ---- small helpers ------------------------------------------------------ */


static unsigned count_gpus(void)
{
    DIR *d = opendir("/dev");
    if (d == NULL)
        return 0;
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, "nvidia", 6) != 0 || s[6] == '\0')
            continue;
        bool digits = true;
        for (const char *q = s + 6; *q; q++)
            if (*q < '0' || *q > '9')
                digits = false;
        n += digits;
    }
    closedir(d);
    return n;
}

void fp__node_id_parse(const char *id, char *host, size_t host_cap,
                       unsigned *cores, unsigned *gpus)
{
    *cores = 0;
    *gpus = 0;
    if (host_cap > 0)
        host[0] = '\0';
    if (id == NULL || strncmp(id, "node:", 5) != 0)
        return;
    const char *h = id + 5, *colon = strchr(h, ':');
    if (colon != NULL && host_cap > 0) {
        size_t l = (size_t)(colon - h) < host_cap - 1 ? (size_t)(colon - h)
                                                      : host_cap - 1;
        memcpy(host, h, l);
        host[l] = '\0';
    }
    const char *c = strstr(id, " cores=");
    if (c != NULL)
        *cores = (unsigned)strtoul(c + 7, NULL, 10);
    const char *g = strstr(id, " gpus=");
    if (g != NULL)
        *gpus = (unsigned)strtoul(g + 6, NULL, 10);
}

/* ---- the control thread --------------------------------------------------- */

static void *ctl_main(void *arg)
{
    fp_node_t *node = arg;
    pthread_mutex_lock(&node->ctl_lock);
    for (;;) {
        while (node->ctl_head == NULL && !node->ctl_stop)
            pthread_cond_wait(&node->ctl_cond, &node->ctl_lock);
        if (node->ctl_head == NULL)
            break;
        ctl_job_t *j = node->ctl_head;
        node->ctl_head = j->next;
        if (node->ctl_head == NULL)
            node->ctl_tail = NULL;
        pthread_mutex_unlock(&node->ctl_lock);
        j->fn(j); /* posts its outcome to the progress thread */
        pthread_mutex_lock(&node->ctl_lock);
    }
    pthread_mutex_unlock(&node->ctl_lock);
    return NULL;
}

static void ctl_queue(fp_node_t *node, ctl_job_t *j)
{
    pthread_mutex_lock(&node->ctl_lock);
    j->next = NULL;
    if (node->ctl_tail != NULL)
        node->ctl_tail->next = j;
    else
        node->ctl_head = j;
    node->ctl_tail = j;
    node->ctl_pending++;
    pthread_cond_signal(&node->ctl_cond);
    pthread_mutex_unlock(&node->ctl_lock);
}

static void ctl_done(fp_node_t *node)
{
    pthread_mutex_lock(&node->ctl_lock);
    node->ctl_pending--;
    pthread_cond_broadcast(&node->ctl_cond);
    pthread_mutex_unlock(&node->ctl_lock);
}

/* ---- sending ---------------------------------------------------------------- */

static bool np_can_send(const npool_t *np)
{
    return np->nc != NULL && !np->nc->closed && np->state != NP_GONE;
}

static void send_ack_at(npool_t *np, uint8_t ref_type, uint64_t ref,
                        fp_status_t st, const char *msg, uint32_t index)
{
    if (!np_can_send(np))
        return;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_ACK;
    m.hdr.pool = np->id;
    m.u.text.status = st > 0 ? 0 : st < FP__WIRE_STATUS_MIN ? FP_ERR_TASK : st;
    m.u.text.ref_type = ref_type;
    m.u.text.ref = ref;
    m.u.text.index = st != FP_OK && index <= FP__WIRE_MAX_INDEX_BASE ? index : 0;
    char text[FP__WIRE_TEXT_MAX + 1] = "";
    if (st != FP_OK && msg != NULL)
        snprintf(text, sizeof(text), "%s", msg);
    m.u.text.message = text;
    m.u.text.message_len = strlen(text);
    unsigned char buf[FP__WIRE_HDR_MAX + FP__WIRE_TEXT_MAX + 8];
    size_t len;
    char why[160];
    if (fp__wire_encode(buf, sizeof(buf), &m, &len, why, sizeof(why)) != FP_OK)
        return;
    size_t hl = fp__wire_header_len(FP__WIRE_ACK);
    /* fp__tp_send copies the header; the text must live until done */
    void *copy = malloc(len - hl + 1);
    if (copy == NULL)
        return;
    memcpy(copy, buf + hl, len - hl);
    if (fp__tp_send(np->nc->conn, &m, copy, len - hl, fp__free_on_send,
                    copy) != FP_OK)
        free(copy);
}

static void send_ack(npool_t *np, uint8_t ref_type, uint64_t ref,
                     fp_status_t st, const char *msg)
{
    send_ack_at(np, ref_type, ref, st, msg, 0);
}

/* A result batch in flight: a leaving node waits for it. */
typedef struct rsend {
    fp_node_t *node;
    unsigned char *buf;
} rsend_t;

static void batch_sent(void *ud, fp_status_t st)
{
    (void)st;
    rsend_t *s = ud;
    fp__free_headroom(s->buf);
    s->node->sends--;
    leave_poke(s->node);
    free(s);
}

static void np_flush(npool_t *np)
{
    if (np->rbuf == NULL || np->rb.count == 0)
        return;
    unsigned char *buf = np->rbuf;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    fp__wire_builder_finish(&np->rb, &m);
    m.hdr.pool = np->id;
    size_t len = np->rb.len;
    np->rbuf = NULL;
    rsend_t *s = np_can_send(np) ? malloc(sizeof(*s)) : NULL;
    if (s == NULL) {
        fp__free_headroom(buf);
        return;
    }
    s->node = np->nc->node;
    s->buf = buf;
    s->node->sends++;
    if (fp__tp_send_framed(np->nc->conn, &m, buf, len, NULL, batch_sent, s) !=
        FP_OK) {
        s->node->sends--;
        fp__free_headroom(buf);
        free(s);
    }
}

static void flush_closure(void *arg)
{
    npool_t *np = arg;
    fp_node_t *node = np->nc->node;
    np->flush_posted = false;
    np_flush(np);
    np_unref(np);
    leave_poke(node);
}

/* Append a result record (its inline bytes copied in). */
static void np_add_result(npool_t *np, const fp__wire_result_rec_t *rec)
{
    char why[200];
    for (int tries = 0; tries < 2; tries++) {
        if (np->rbuf == NULL) {
            size_t need = 0;
            (void)fp__wire_result_rec_size(rec, &need);
            size_t cap = need > RESULT_BATCH_CAP ? need : RESULT_BATCH_CAP;
            np->rbuf = fp__alloc_headroom(cap);
            if (np->rbuf == NULL)
                return;
            fp__wire_builder_init(&np->rb, FP__WIRE_RESULT_BATCH, np->rbuf,
                                  cap);
        }
        fp_status_t st =
            fp__wire_builder_add_result(&np->rb, rec, why, sizeof(why));
        if (st == FP_OK)
            break;
        if (st != FP_ERR_OVERFLOW) {
            fp__error(np->nc->node->log, "result record: %s", why);
            break;
        }
        np_flush(np);
    }
    if (!np->flush_posted) {
        np->flush_posted = true;
        np->refs++;
        if (fp__tp_post(np->nc->node->tp, flush_closure, np) != FP_OK) {
            np->flush_posted = false;
            np->refs--;
            np_flush(np);
        }
    }
}

static void bulk_result_sent(void *ud, fp_status_t st)
{
    nrec_t *r = ud;
    fp_node_t *node = r->np->nc->node;
    (void)st;
    r->sends--;
    node->sends--;
    rec_release(r);
    leave_poke(node);
}

/* ---- records ------------------------------------------------------------------ */

static size_t bucket(uint64_t id) { return (size_t)(id * 0x9E3779B97F4A7C15ULL >> 54) % NREC_BUCKETS; }

static nrec_t *rec_find(npool_t *np, uint64_t id)
{
    for (nrec_t *r = np->hash[bucket(id)]; r != NULL; r = r->hnext)
        if (r->task_id == id)
            return r;
    return NULL;
}

static nrec_t *rec_new(npool_t *np, uint64_t id, uint32_t attempt)
{
    nrec_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->np = np;
    r->task_id = id;
    r->attempt = attempt;
    size_t b = bucket(id);
    r->hnext = np->hash[b];
    np->hash[b] = r;
    r->next = np->recs;
    if (np->recs != NULL)
        np->recs->prev = r;
    np->recs = r;
    np->refs++;
    return r;
}

/* Free a record once its results are built and its sends are done. */
static void rec_release(nrec_t *r)
{
    if (!r->finished || r->sends > 0)
        return;
    npool_t *np = r->np;
    nrec_t **pp = &np->hash[bucket(r->task_id)];
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp == r)
        *pp = r->hnext;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        np->recs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    if (r->batch != NULL && --r->batch->refs == 0)
        free(r->batch);
    for (int k = 0; k < FP_MAX_ARGS; k++)
        free(r->bulk[k]);
    fp__free_headroom(r->outbuf);
    fp__dexec_free_fails(&r->x);
    free(r->x.apply_buf);
    free(r);
    np_unref(np);
}

static size_t node_threshold(const npool_t *np)
{
    return fp__tp_rndv_threshold(np->nc->node->tp);
}

/* Results of a MAP record: runs of successes (inline or BULK), one record
 * per failure, the skipped tail. */
static void rec_results_map(nrec_t *r)
{
    npool_t *np = r->np;
    const size_t osz = r->x.out_size, count = r->count, ran = r->x.ran;
    const size_t thr = node_threshold(np);
    fp__wire_result_rec_t rr;
    fp__dfail_t *f = r->x.fails;
    size_t k = 0;
    while (k < ran) {
        size_t end = f != NULL && f->index < ran ? f->index : ran;
        if (end > k) {
            memset(&rr, 0, sizeof(rr));
            rr.task_id = r->task_id;
            rr.attempt = r->attempt;
            rr.start = r->start + k;
            rr.count = (uint32_t)(end - k);
            rr.len = (uint64_t)(end - k) * osz;
            if (rr.len == 0) {
                rr.where = FP__WIRE_WHERE_NONE;
            } else if (rr.len >= thr && np_can_send(np)) {
                rr.where = FP__WIRE_WHERE_BULK;
                /* BULK first: the client's record waits for its bytes */
                fp__wire_msg_t m = fp__wire_bulk_whole(
                    np->id, FP__WIRE_BULK_RESULT, r->task_id, r->attempt, 0,
                    rr.len);
                m.u.bulk.offset = (uint64_t)k * osz;
                m.u.bulk.total = (uint64_t)count * osz;
                r->sends++;
                np->nc->node->sends++;
                if (fp__tp_send(np->nc->conn, &m, r->outbuf + k * osz,
                                (size_t)rr.len, bulk_result_sent,
                                r) != FP_OK) {
                    r->sends--;
                    np->nc->node->sends--;
                }
            } else {
                rr.where = FP__WIRE_WHERE_INLINE;
                rr.data = r->outbuf + k * osz;
            }
            np_add_result(np, &rr);
        }
        k = end;
        if (f != NULL && f->index == k && k < ran) {
            memset(&rr, 0, sizeof(rr));
            rr.task_id = r->task_id;
            rr.attempt = r->attempt;
            rr.status = f->status < FP__WIRE_STATUS_MIN ? FP_ERR_TASK : f->status;
            rr.start = r->start + k;
            rr.count = 1;
            rr.where = FP__WIRE_WHERE_NONE;
            rr.message = f->msg;
            rr.message_len = f->len > FP__WIRE_TEXT_MAX ? FP__WIRE_TEXT_MAX : f->len;
            np_add_result(np, &rr);
            f = f->next;
            k++;
        }
    }
    if (ran < count) {
        memset(&rr, 0, sizeof(rr));
        rr.task_id = r->task_id;
        rr.attempt = r->attempt;
        rr.status = FP_ERR_CANCELED;
        rr.start = r->start + ran;
        rr.count = (uint32_t)(count - ran);
        rr.where = FP__WIRE_WHERE_NONE;
        np_add_result(np, &rr);
    }
}

static void rec_results_apply(nrec_t *r)
{
    npool_t *np = r->np;
    fp__wire_result_rec_t rr;
    memset(&rr, 0, sizeof(rr));
    rr.task_id = r->task_id;
    rr.attempt = r->attempt;
    rr.count = 1;
    if (r->x.ran == 0) {
        rr.status = FP_ERR_CANCELED;
    } else if (r->x.fails != NULL) {
        fp__dfail_t *f = r->x.fails;
        rr.status = f->status < FP__WIRE_STATUS_MIN ? FP_ERR_TASK : f->status;
        rr.message = f->msg;
        rr.message_len = f->len > FP__WIRE_TEXT_MAX ? FP__WIRE_TEXT_MAX : f->len;
    } else {
        rr.len = r->x.apply_size;
        if (rr.len == 0) {
            rr.where = FP__WIRE_WHERE_NONE;
        } else if (rr.len >= node_threshold(np) && np_can_send(np)) {
            rr.where = FP__WIRE_WHERE_BULK;
            fp__wire_msg_t m = fp__wire_bulk_whole(np->id, FP__WIRE_BULK_RESULT,
                                                   r->task_id, r->attempt, 0,
                                                   rr.len);
            r->sends++;
            np->nc->node->sends++;
            if (fp__tp_send(np->nc->conn, &m, r->x.apply_buf, (size_t)rr.len,
                            bulk_result_sent, r) != FP_OK) {
                r->sends--;
                np->nc->node->sends--;
            }
        } else {
            rr.where = FP__WIRE_WHERE_INLINE;
            rr.data = r->x.apply_buf;
        }
    }
    np_add_result(np, &rr);
}

/* Progress thread: a record is over (ran, or dropped). */
static void rec_finish(nrec_t *r)
{
    npool_t *np = r->np;
    if (r->queued)
        np->running--;
    r->queued = false;
    if (!r->dead && np_can_send(np)) {
        if (r->kind == FP__WIRE_KIND_APPLY)
            rec_results_apply(r);
        else
            rec_results_map(r);
    }
    r->finished = true;
    fp_node_t *node = np->nc->node;
    rec_release(r);
    leave_poke(node);
}

static void rec_done_closure(void *arg) { rec_finish(arg); }

/* Executor: the record ran; back to the progress thread. */
static void rec_ran(fp__dexec_t *x)
{
    nrec_t *r = (nrec_t *)x;
    if (fp__tp_post(r->np->nc->node->tp, rec_done_closure, r) != FP_OK)
        fp__error(r->np->nc->node->log,
                  "cannot post a finished record; its results are lost");
}

/* Report a record that cannot run (unknown task) or was given back. */
static void rec_report_all(nrec_t *r, fp_status_t st, const char *msg)
{
    npool_t *np = r->np;
    if (np_can_send(np)) {
        fp__wire_result_rec_t rr;
        memset(&rr, 0, sizeof(rr));
        rr.task_id = r->task_id;
        rr.attempt = r->attempt;
        rr.status = st;
        rr.start = r->start;
        rr.count = r->count;
        rr.where = FP__WIRE_WHERE_NONE;
        rr.message = msg;
        rr.message_len = msg != NULL ? strlen(msg) : 0;
        if (rr.message_len > FP__WIRE_TEXT_MAX)
            rr.message_len = FP__WIRE_TEXT_MAX;
        np_add_result(np, &rr);
    }
    r->dead = true;
}

/* All bytes here: queue the record (or answer it). */
static void rec_try_start(nrec_t *r)
{
    if (!r->have_record || r->queued || r->finished)
        return;
    npool_t *np = r->np;
    if (np->nc->node->leaving && !r->dead) {
        /* leaving: the client reruns it elsewhere (its BULK arguments still
         * arrive and are dropped) */
        rec_report_all(r, FP_ERR_CANCELED, "the node is leaving");
        np->nc->node->refused++;
    }
    if (r->bulk_want > 0)
        return;
    if (r->dead) {
        r->finished = true;
        rec_release(r);
        return;
    }
    if (r->not_found) {
        char msg[FP__WIRE_TEXT_MAX + 1];
        snprintf(msg, sizeof(msg), "node %s has no task named '%s'",
                 np->nc->node->address, r->x.name != NULL ? r->x.name : "?");
        rec_report_all(r, FP_ERR_NOT_FOUND, msg);
        r->finished = true;
        rec_release(r);
        return;
    }
    for (size_t k = 0; k < r->x.nargs; k++)
        if (r->bulk_where[k] == FP__WIRE_WHERE_BULK)
            r->x.arg_base[k] = r->bulk[k];
    if (r->kind == FP__WIRE_KIND_MAP && r->x.out_size > 0) {
        r->outbuf = fp__alloc_headroom((size_t)r->count * r->x.out_size);
        if (r->outbuf == NULL) {
            rec_report_all(r, FP_ERR_NOMEM, "node: out of memory for results");
            r->finished = true;
            rec_release(r);
            return;
        }
        memset(r->outbuf, 0, (size_t)r->count * r->x.out_size);
    }
    r->x.out = r->outbuf;
    r->x.done = rec_ran;
    r->queued = true;
    np->running++;
    fp__dexec_submit(np->pool, &r->x);
}

/* ---- pools ----------------------------------------------------------------------- */

static void np_unref(npool_t *np)
{
    if (--np->refs > 0)
        return;
    nconn_t *nc = np->nc;
    fp__free_headroom(np->rbuf);
    free(np->init);
    free(np->upd_buf);
    fp__mq_clear(&np->msgq);
    free(np);
    nc_unref(nc);
}

static void pool_opened(void *arg)
{
    ctl_job_t *j = arg;
    npool_t *np = j->np;
    fp_node_t *node = np->nc->node;
    if (j->status == FP_OK) {
        fp__pool_set_index_base(j->pool, np->index_base);
        if (np->state == NP_OPENING) {
            np->pool = j->pool;
            np->state = NP_OPEN;
            msg_attach(np);
            fp__info(node->log, "pool %u of %s open: %u executors%s%s", np->id,
                     np->nc->peer, fp_pool_size(j->pool),
                     np->wc[0] ? ", worker class " : "", np->wc);
            send_ack(np, FP__WIRE_POOL_OPEN, 0, FP_OK, NULL);
        } else {
            /* its client left while it opened: close it again */
            np->pool = j->pool;
        }
    } else {
        fp__warn(node->log, "pool %u of %s not opened: %s", np->id,
                 np->nc->peer, j->err.message);
        send_ack_at(np, FP__WIRE_POOL_OPEN, 0, j->status, j->err.message,
                    (uint32_t)j->err.index + np->index_base);
        np->state = NP_GONE;
    }
    if (np->state != NP_OPEN && np->pool != NULL) {
        /* its client left while it opened: destroy it again */
        ctl_job_t *c = calloc(1, sizeof(*c));
        if (c != NULL) {
            c->fn = close_job;
            c->np = np;
            c->pool = np->pool;
            np->pool = NULL;
            np->refs++;
            ctl_queue(node, c);
        }
    }
    np_unref(np);
    ctl_done(node);
    free(j);
}

static void open_job(ctl_job_t *j)
{
    npool_t *np = j->np;
    fp_node_t *node = np->nc->node;
    fp_pool_params_t p;
    memset(&p, 0, sizeof(p));
    p.executors = np->executors != 0 ? np->executors : node->executors;
    p.pin = node->pin;
    p.worker_class = np->wc[0] ? np->wc : NULL;
    p.init_data.data = np->init;
    p.init_data.size = (size_t)np->init_len;
    memset(&j->err, 0, sizeof(j->err));
    j->pool = NULL;
    j->status = fp__pool_create_local(node->ctx, &p, false, &j->pool, &j->err);
    if (j->status != FP_OK && j->err.message[0] == '\0')
        snprintf(j->err.message, sizeof(j->err.message),
                 "cannot open the pool: %s", fp_status_string(j->status));
    if (fp__tp_post(node->tp, pool_opened, j) != FP_OK) {
        if (j->pool != NULL)
            fp_pool_destroy(j->pool);
    }
}

static void pool_closed(void *arg)
{
    ctl_job_t *j = arg;
    npool_t *np = j->np;
    fp_node_t *node = np->nc->node;
    if (j->seq == 1) /* asked by POOL_CLOSE */
        send_ack(np, FP__WIRE_POOL_CLOSE, 0, FP_OK, NULL);
    else
        fp__info(node->log, "pool %u of %s torn down (its client is gone)",
                 np->id, np->nc->peer);
    np->state = NP_GONE;
    np_unref(np);
    ctl_done(node);
    free(j);
}

static void close_job(ctl_job_t *j)
{
    if (j->pool != NULL)
        fp_pool_destroy(j->pool); /* waits for its records; fini hooks */
    fp_node_t *node = j->np->nc->node;
    if (fp__tp_post(node->tp, pool_closed, j) != FP_OK)
        ctl_done(node);
}

/* Close a pool (progress thread): skip what has not started, destroy it
 * on the control thread.  `ack`: answer POOL_CLOSE. */
static void np_close(npool_t *np, bool ack)
{
    if (np->state == NP_CLOSING || np->state == NP_GONE) {
        if (ack)
            send_ack(np, FP__WIRE_POOL_CLOSE, 0, FP_OK, NULL);
        return;
    }
    size_t dropped = 0, running = 0;
    for (nrec_t *r = np->recs, *n; r != NULL; r = n) {
        n = r->next;
        atomic_store(&r->x.cancel, 1);
        if (r->queued && fp__dexec_unsubmit(&r->x)) {
            /* not started: never run it (an answer only on POOL_CLOSE) */
            np->running--;
            r->queued = false;
            rec_report_all(r, FP_ERR_CANCELED, NULL);
            r->finished = true;
            rec_release(r);
            dropped++;
            continue;
        }
        if (r->queued)
            running++;
        else
            r->dead = true;
    }
    if (dropped > 0 || running > 0)
        fp__info(np->nc->node->log,
                 "pool %u of %s closing: %zu records dropped unstarted, %zu "
                 "running to their end",
                 np->id, np->nc->peer, dropped, running);
    bool was_open = np->state == NP_OPEN;
    np->state = NP_CLOSING;
    /* records not queued are freed as their bytes arrive or the conn goes */
    for (nrec_t *r = np->recs, *n; r != NULL; r = n) {
        n = r->next;
        if (!r->queued && !r->finished && r->have_record) {
            r->finished = true;
            rec_release(r);
        }
    }
    if (!was_open) {
        /* opening: pool_opened sees CLOSING and destroys it */
        if (np->pool == NULL)
            return;
    }
    ctl_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->fn = close_job;
    j->np = np;
    j->pool = np->pool;
    j->seq = ack ? 1 : 0;
    np->pool = NULL;
    np->refs++;
    ctl_queue(np->nc->node, j);
}

static void start_open(npool_t *np)
{
    ctl_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        send_ack(np, FP__WIRE_POOL_OPEN, 0, FP_ERR_NOMEM, "node: out of memory");
        np->state = NP_GONE;
        return;
    }
    np->state = NP_OPENING;
    j->fn = open_job;
    j->np = np;
    np->refs++;
    ctl_queue(np->nc->node, j);
}

static void on_pool_open(nconn_t *nc, const fp__wire_msg_t *m)
{
    uint32_t id = m->hdr.pool;
    if (id == 0 || id > NODE_MAX_POOLS || nc->pools[id] != NULL) {
        fp__tp_close(nc->conn, FP_ERR_PROTOCOL,
                     id == 0 || id > NODE_MAX_POOLS
                         ? "POOL_OPEN with a pool id this node does not serve"
                         : "POOL_OPEN for a pool already open");
        return;
    }
    npool_t *np = calloc(1, sizeof(*np));
    if (np == NULL)
        return;
    np->nc = nc;
    nc->refs++;
    np->id = id;
    np->refs = 1;
    np->executors = m->u.pool_open.executors;
    np->index_base = m->u.pool_open.index_base;
    size_t wl = m->u.pool_open.worker_class_len;
    memcpy(np->wc, m->u.pool_open.worker_class != NULL ? m->u.pool_open.worker_class : "", wl);
    np->wc[wl] = '\0';
    np->init_len = m->u.pool_open.init_len;
    nc->pools[id] = np;
    if (nc->node->leaving) {
        char msg[FP__WIRE_TEXT_MAX + 1];
        snprintf(msg, sizeof(msg), "node %.160s is leaving", nc->node->address);
        send_ack(np, FP__WIRE_POOL_OPEN, 0, FP_ERR_CLOSED, msg);
        np->state = NP_GONE;
        return;
    }
    if (np->init_len > 0) {
        np->init = malloc((size_t)np->init_len);
        if (np->init == NULL) {
            send_ack(np, FP__WIRE_POOL_OPEN, 0, FP_ERR_NOMEM,
                     "node: out of memory for init data");
            np->state = NP_GONE;
            return;
        }
        if (!(m->hdr.flags & FP__WIRE_F_BULK)) {
            memcpy(np->init, m->u.pool_open.init_data, (size_t)np->init_len);
            fp__tp_note_copy(nc->node->tp, (size_t)np->init_len);
        } else {
            np->state = NP_AWAIT_INIT;
            return;
        }
    }
    start_open(np);
}

/* Bind or use a name index; NULL fn if the task is unknown here. */
static nname_t *name_bind(nconn_t *nc, const fp__wire_task_rec_t *t)
{
    if (nc->names == NULL) {
        nc->names = calloc(FP__WIRE_MAX_NAMES, sizeof(nname_t));
        if (nc->names == NULL)
            return NULL;
    }
    nname_t *e = &nc->names[t->name_idx];
    if (t->name_len > 0) {
        memcpy(e->name, t->name, t->name_len);
        e->name[t->name_len] = '\0';
        e->bound = true;
        e->fn = NULL;
        (void)fp_task_lookup(e->name, &e->fn);
    }
    return e->bound ? e : NULL;
}

/* The records of a TASK_BATCH whose bytes are in `b` (ours). */
static void on_task_batch_bytes(nconn_t *nc, npool_t *np,
                                const fp__wire_msg_t *m, nbatch_t *b)
{
    char why[200];
    fp__wire_msg_t local = *m;
    local.u.batch.records = b->bytes;
    fp__wire_iter_t it;
    fp__wire_iter_init(&it, &local);
    fp__wire_task_rec_t t;
    fp_status_t st;
    while ((st = fp__wire_iter_task(&it, &t, why, sizeof(why))) == FP_OK) {
        nname_t *nm = name_bind(nc, &t);
        if (nm == NULL) {
            fp__tp_close(nc->conn, FP_ERR_PROTOCOL,
                         "task record names an unbound name index");
            break;
        }
        if (nm->fn == NULL) /* a module shipped since may have it now */
            (void)fp_task_lookup(nm->name, &nm->fn);
        nrec_t *r = rec_find(np, t.task_id);
        if (r != NULL && r->have_record) {
            fp__tp_close(nc->conn, FP_ERR_PROTOCOL,
                         "task id already in flight");
            break;
        }
        if (r == NULL && (r = rec_new(np, t.task_id, t.attempt)) == NULL)
            break;
        r->have_record = true;
        r->kind = t.kind;
        r->start = t.start;
        r->count = t.count;
        r->batch = b;
        b->refs++;
        r->x.fn = nm->fn;
        r->x.name = nm->name;
        r->not_found = nm->fn == NULL;
        r->x.kind = t.kind == FP__WIRE_KIND_APPLY ? FP__WORK_APPLY : FP__WORK_MAP;
        r->x.nargs = t.nargs;
        r->x.out_size = t.out_elem_size;
        r->x.count = t.kind == FP__WIRE_KIND_APPLY ? 1 : t.count;
        for (size_t k = 0; k < t.nargs; k++) {
            r->bulk_where[k] = t.args[k].where;
            if (t.args[k].where == FP__WIRE_WHERE_BULK) {
                if (r->bulk_total[k] == 0 || r->bulk_got[k] < r->bulk_total[k])
                    r->bulk_want++;
                r->x.arg_size[k] = t.kind == FP__WIRE_KIND_APPLY
                                       ? (size_t)t.args[k].len
                                       : t.args[k].elem_size;
            } else {
                r->x.arg_base[k] = t.args[k].data;
                r->x.arg_size[k] = t.kind == FP__WIRE_KIND_APPLY
                                       ? (size_t)t.args[k].len
                                       : t.args[k].elem_size;
            }
        }
        rec_try_start(r);
    }
    if (st != FP_OK && st != FP_END)
        fp__tp_close(nc->conn, FP_ERR_PROTOCOL, why);
    if (--b->refs == 0)
        free(b);
}

static void on_task_batch(nconn_t *nc, npool_t *np, const fp__wire_msg_t *m)
{
    if (np->state != NP_OPEN) {
        fp__tp_close(nc->conn, FP_ERR_PROTOCOL,
                     "TASK_BATCH for a pool that is not open");
        return;
    }
    /* an eager batch lives only during this call: one copy, shared by its
     * records (below the rendezvous threshold by construction) */
    nbatch_t *b = malloc(sizeof(*b) + m->u.batch.records_len);
    if (b == NULL) {
        fp__tp_close(nc->conn, FP_ERR_NOMEM, "node: out of memory for a batch");
        return;
    }
    b->refs = 1;
    b->len = m->u.batch.records_len;
    memcpy(b->bytes, m->u.batch.records, b->len);
    fp__tp_note_copy(nc->node->tp, b->len);
    on_task_batch_bytes(nc, np, m, b);
}

/* A TASK_BATCH by rendezvous: UCX wrote it into our buffer, no copy. */
typedef struct rbatch {
    nconn_t *nc;
    nbatch_t *b;
} rbatch_t;

static void batch_bulk_done(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                            const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)conn;
    (void)buf;
    (void)len;
    rbatch_t *rb = ud;
    nconn_t *nc = rb->nc;
    npool_t *np = m->hdr.pool >= 1 && m->hdr.pool <= NODE_MAX_POOLS
                      ? nc->pools[m->hdr.pool]
                      : NULL;
    if (st == FP_OK && !nc->closed && np != NULL && np->state == NP_OPEN)
        on_task_batch_bytes(nc, np, m, rb->b);
    else
        free(rb->b);
    nc_unref(nc);
    free(rb);
}

static void on_cancel(npool_t *np, const fp__wire_msg_t *m)
{
    for (uint32_t i = 0; i < m->u.batch.count; i++) {
        fp__wire_cancel_entry_t e = fp__wire_cancel_get(m, i);
        nrec_t *r = rec_find(np, e.task_id);
        if (r == NULL || r->attempt != e.attempt || r->finished)
            continue;
        if (r->queued) {
            if (fp__dexec_unsubmit(&r->x)) {
                /* not started: give the whole range back */
                np->running--;
                r->queued = false;
                rec_report_all(r, FP_ERR_CANCELED, NULL);
                r->finished = true;
                rec_release(r);
            } else {
                atomic_store(&r->x.cancel, 1); /* stops after this element */
            }
        } else if (r->have_record) {
            rec_report_all(r, FP_ERR_CANCELED, NULL);
            if (r->bulk_want == 0) {
                r->finished = true;
                rec_release(r);
            }
        } else {
            r->dead = true;
        }
    }
}

static void update_done(void *arg)
{
    ctl_job_t *j = arg;
    npool_t *np = j->np;
    fp_node_t *node = np->nc->node;
    send_ack_at(np, FP__WIRE_UPDATE, j->seq, j->status, j->err.message,
                (uint32_t)j->err.index);
    free(j->data);
    np_unref(np);
    ctl_done(node);
    free(j);
}

static void update_job(ctl_job_t *j)
{
    npool_t *np = j->np;
    fp_cbuf_t u = {j->data, j->len};
    memset(&j->err, 0, sizeof(j->err));
    j->status = j->pool != NULL ? fp_pool_update(j->pool, u, &j->err)
                                : FP_ERR_STATE;
    if (fp__tp_post(np->nc->node->tp, update_done, j) != FP_OK)
        ctl_done(np->nc->node);
}

static void start_update(npool_t *np, uint64_t seq, void *data, size_t len)
{
    ctl_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        free(data);
        send_ack(np, FP__WIRE_UPDATE, seq, FP_ERR_NOMEM, "node: out of memory");
        return;
    }
    j->fn = update_job;
    j->np = np;
    j->seq = seq;
    j->data = data;
    j->len = len;
    j->pool = np->pool;
    np->refs++;
    ctl_queue(np->nc->node, j);
}

static void on_update(npool_t *np, const fp__wire_msg_t *m)
{
    if (np->state != NP_OPEN) {
        send_ack(np, FP__WIRE_UPDATE, m->u.update.update_seq, FP_ERR_STATE,
                 "the pool is not open on this node");
        return;
    }
    if (m->hdr.flags & FP__WIRE_F_BULK) {
        free(np->upd_buf);
        np->upd_seq = m->u.update.update_seq;
        np->upd_total = m->u.update.total;
        np->upd_got = 0;
        np->upd_buf = malloc((size_t)np->upd_total);
        if (np->upd_buf == NULL)
            send_ack(np, FP__WIRE_UPDATE, np->upd_seq, FP_ERR_NOMEM,
                     "node: out of memory for an update");
        return;
    }
    void *copy = NULL;
    size_t len = (size_t)m->u.update.total;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            send_ack(np, FP__WIRE_UPDATE, m->u.update.update_seq, FP_ERR_NOMEM,
                     "node: out of memory for an update");
            return;
        }
        memcpy(copy, m->u.update.data, len);
        fp__tp_note_copy(np->nc->node->tp, len);
    }
    start_update(np, m->u.update.update_seq, copy, len);
}

/* ---- BULK ----------------------------------------------------------------- */

/* Where a BULK's bytes go: a record's argument, init data, an update. */
static void *bulk_dest(nconn_t *nc, const fp__wire_msg_t *m, nrec_t **rec_p,
                       const char **why)
{
    const fp__wire_bulk_t *b = &m->u.bulk;
    npool_t *np = m->hdr.pool <= NODE_MAX_POOLS ? nc->pools[m->hdr.pool] : NULL;
    *rec_p = NULL;
    if (np == NULL) {
        *why = "BULK for a pool that is not open";
        return NULL;
    }
    switch (b->kind) {
    case FP__WIRE_BULK_INIT:
        if (np->state != NP_AWAIT_INIT || b->total != np->init_len ||
            b->offset + b->len > np->init_len) {
            *why = "BULK INIT that does not fit the pool's init data";
            return NULL;
        }
        return (char *)np->init + b->offset;
    case FP__WIRE_BULK_UPDATE:
        if (np->upd_buf == NULL || b->task_id != np->upd_seq ||
            b->total != np->upd_total || b->offset + b->len > b->total) {
            *why = "BULK UPDATE that does not fit the update announced";
            return NULL;
        }
        return (char *)np->upd_buf + b->offset;
    case FP__WIRE_BULK_ARG: {
        if (np->state != NP_OPEN) {
            *why = "BULK ARG for a pool that is not open";
            return NULL;
        }
        nrec_t *r = rec_find(np, b->task_id);
        if (r == NULL && (r = rec_new(np, b->task_id, b->attempt)) == NULL) {
            *why = "node: out of memory";
            return NULL;
        }
        unsigned k = b->index;
        if (r->bulk[k] == NULL) {
            r->bulk[k] = malloc((size_t)b->total);
            r->bulk_total[k] = b->total;
            if (r->bulk[k] == NULL) {
                *why = "node: out of memory for an argument";
                return NULL;
            }
        } else if (r->bulk_total[k] != b->total) {
            *why = "BULK ARG chunks disagree on the total";
            return NULL;
        }
        if (b->offset + b->len > b->total) {
            *why = "BULK ARG chunk past the argument's end";
            return NULL;
        }
        *rec_p = r;
        return (char *)r->bulk[k] + b->offset;
    }
    default:
        *why = "BULK of a kind a node does not take";
        return NULL;
    }
}

static void bulk_arrived(nconn_t *nc, const fp__wire_msg_t *m, nrec_t *r)
{
    const fp__wire_bulk_t *b = &m->u.bulk;
    npool_t *np = nc->pools[m->hdr.pool];
    switch (b->kind) {
    case FP__WIRE_BULK_INIT:
        np->init_got += b->len;
        if (np->init_got == np->init_len)
            start_open(np);
        break;
    case FP__WIRE_BULK_UPDATE:
        np->upd_got += b->len;
        if (np->upd_got == np->upd_total) {
            void *data = np->upd_buf;
            np->upd_buf = NULL;
            start_update(np, np->upd_seq, data, (size_t)np->upd_total);
        }
        break;
    case FP__WIRE_BULK_ARG: {
        unsigned k = b->index;
        r->bulk_got[k] += b->len;
        if (r->bulk_got[k] == r->bulk_total[k] && r->have_record &&
            r->bulk_want > 0)
            r->bulk_want--;
        if (r->dead && r->bulk_want == 0 && r->have_record) {
            r->finished = true;
            rec_release(r);
            return;
        }
        rec_try_start(r);
        break;
    }
    }
}

typedef struct bulk_ctx {
    nconn_t *nc;
    nrec_t *rec;
} bulk_ctx_t;

static void on_bulk_done(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                         const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)buf;
    (void)len;
    (void)conn;
    bulk_ctx_t *bc = ud;
    if (st == FP_OK && !bc->nc->closed)
        bulk_arrived(bc->nc, m, bc->rec);
    nc_unref(bc->nc);
    free(bc);
}

/* ---- transport handlers -------------------------------------------------- */

static void h_ready(void *arg, fp__tp_conn_t *conn)
{
    fp_node_t *node = arg;
    if (fp__tp_conn_peer_role(conn) != FP__WIRE_ROLE_CLIENT) {
        fp__tp_close(conn, FP_ERR_PROTOCOL, "a node serves clients only");
        return;
    }
    nconn_t *nc = calloc(1, sizeof(*nc));
    if (nc == NULL) {
        fp__tp_close(conn, FP_ERR_NOMEM, "node: out of memory");
        return;
    }
    nc->node = node;
    nc->conn = conn;
    nc->refs = 1;
    snprintf(nc->peer, sizeof(nc->peer), "%s", fp__tp_conn_peer_id(conn));
    nc->next = node->conns;
    if (node->conns != NULL)
        node->conns->prev = nc;
    node->conns = nc;
    fp__tp_conn_set_user(conn, nc);
    node->had_client = true;
    fp__info(node->log, "client %s connected (%s)", fp__tp_conn_peer_id(conn),
             fp__tp_conn_transports(conn));
    if (node->bye_said)
        fp__tp_goodbye(conn); /* too late: the node is leaving */
}

static void h_message(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m)
{
    (void)arg;
    nconn_t *nc = fp__tp_conn_user(conn);
    if (nc == NULL)
        return;
    /* modules: only here, on a connection that is authenticated (nc is
     * made in h_ready, after the handshake) */
    if (m->hdr.type == FP__WIRE_MODULE_OFFER ||
        m->hdr.type == FP__WIRE_MODULE_DATA) {
        fp__modship_node_message(nc->node->log, conn, &nc->modship, m);
        return;
    }
    if (m->hdr.type == FP__WIRE_POOL_OPEN) {
        on_pool_open(nc, m);
        return;
    }
    npool_t *np = m->hdr.pool >= 1 && m->hdr.pool <= NODE_MAX_POOLS
                      ? nc->pools[m->hdr.pool]
                      : NULL;
    if (np == NULL || np->state == NP_GONE) {
        if (m->hdr.type == FP__WIRE_POOL_CLOSE && np != NULL) {
            send_ack(np, FP__WIRE_POOL_CLOSE, 0, FP_OK, NULL);
            return;
        }
        fp__tp_close(conn, FP_ERR_PROTOCOL, "message for a pool that is not open");
        return;
    }
    switch (m->hdr.type) {
    case FP__WIRE_TASK_BATCH:
        on_task_batch(nc, np, m);
        break;
    case FP__WIRE_CANCEL:
        on_cancel(np, m);
        break;
    case FP__WIRE_UPDATE:
        on_update(np, m);
        break;
    case FP__WIRE_POOL_CLOSE:
        np_close(np, true);
        break;
    case FP__WIRE_EXEC_MSG:
        msg_on_exec(np, m);
        break;
    case FP__WIRE_BULK: {
        /* an eager BULK: its bytes are here now */
        nrec_t *r;
        const char *why = "";
        void *dst = bulk_dest(nc, m, &r, &why);
        if (dst == NULL) {
            fp__tp_close(conn, FP_ERR_PROTOCOL, why);
            return;
        }
        memcpy(dst, m->u.bulk.data, m->u.bulk.len);
        fp__tp_note_copy(nc->node->tp, m->u.bulk.len);
        bulk_arrived(nc, m, r);
        break;
    }
    default:
        fp__tp_close(conn, FP_ERR_PROTOCOL, "a message a node does not take");
    }
}

static void h_bulk(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m,
                   size_t len, fp__tp_bulk_dest_t *dest)
{
    (void)arg;
    (void)len;
    nconn_t *nc = fp__tp_conn_user(conn);
    if (nc == NULL)
        return; /* refused: the sender's send fails */
    if (m->hdr.type == FP__WIRE_MODULE_DATA) {
        fp__modship_node_bulk(nc->node->log, conn, &nc->modship, m, len, dest);
        return;
    }
    if (m->hdr.type == FP__WIRE_TASK_BATCH) {
        rbatch_t *rb = malloc(sizeof(*rb));
        nbatch_t *b = malloc(sizeof(*b) + (len > 0 ? len : 1));
        if (rb == NULL || b == NULL) {
            free(rb);
            free(b);
            return;
        }
        b->refs = 1;
        b->len = len;
        rb->nc = nc;
        rb->b = b;
        nc->refs++;
        dest->buf = b->bytes;
        dest->done = batch_bulk_done;
        dest->user_data = rb;
        return;
    }
    if (m->hdr.type == FP__WIRE_EXEC_MSG) {
        msg_on_exec_bulk(nc, m, len, dest);
        return;
    }
    if (m->hdr.type != FP__WIRE_BULK)
        return;
    nrec_t *r;
    const char *why = "";
    void *dst = bulk_dest(nc, m, &r, &why);
    if (dst == NULL) {
        fp__warn(nc->node->log, "refusing a BULK from %s: %s",
                 fp__tp_conn_peer_id(conn), why);
        return;
    }
    bulk_ctx_t *bc = malloc(sizeof(*bc));
    if (bc == NULL)
        return;
    bc->nc = nc;
    bc->rec = r;
    nc->refs++;
    dest->buf = dst;
    dest->done = on_bulk_done;
    dest->user_data = bc;
}

static void h_closed(void *arg, fp__tp_conn_t *conn, fp_status_t st,
                     const char *reason)
{
    fp_node_t *node = arg;
    nconn_t *nc = fp__tp_conn_user(conn);
    if (nc == NULL) {
        fp__debug(node->log, "connection %s closed before it was ready: %s",
                  fp__tp_conn_peer(conn), reason != NULL ? reason : "");
        return;
    }
    if (st == FP_OK || st == FP_END || st == FP_ERR_CLOSED || node->bye_said)
        fp__info(node->log, "client %s left", fp__tp_conn_peer_id(conn));
    else
        fp__warn(node->log, "client %s lost: %s", fp__tp_conn_peer_id(conn),
                 reason != NULL ? reason : fp_status_string(st));
    nc->closed = true;
    for (unsigned id = 1; id <= NODE_MAX_POOLS; id++) {
        npool_t *np = nc->pools[id];
        if (np == NULL)
            continue;
        np_close(np, false);
        /* records still waiting for bytes will never get them */
        for (nrec_t *r = np->recs, *n; r != NULL; r = n) {
            n = r->next;
            if (!r->queued && !r->finished) {
                r->finished = true;
                rec_release(r);
            }
        }
        nc->pools[id] = NULL;
        np_unref(np);
    }
    if (nc->prev != NULL)
        nc->prev->next = nc->next;
    else
        node->conns = nc->next;
    if (nc->next != NULL)
        nc->next->prev = nc->prev;
    fp__tp_conn_set_user(conn, NULL);
    nc->next = nc->prev = NULL;
    nc_unref(nc); /* the pools' teardown may still hold it */
    pthread_mutex_lock(&node->ctl_lock);
    pthread_cond_broadcast(&node->ctl_cond);
    pthread_mutex_unlock(&node->ctl_lock);
    if (node->bye_said && node->conns == NULL) {
        atomic_store(&node->leave_state, LEAVE_ALL_GONE);
        atomic_fetch_add(&node->wake, 1);
        fp__futex_wake(&node->wake, 1 << 30);
    } else if (node->leaving) {
        leave_poke(node);
    } else if (node->exit_with_client && node->had_client &&
               node->conns == NULL && atomic_load(&node->stopped) == 0) {
        fp__info(node->log,
                 "node %s: its last client has gone (exit with client): "
                 "stopping",
                 node->address);
        fp_node_stop(node);
    }
}

/* ---- leaving ------------------------------------------------------------------ */

static void leave_wake(fp_node_t *node, int state)
{
    atomic_store(&node->leave_state, state);
    atomic_fetch_add(&node->wake, 1);
    fp__futex_wake(&node->wake, 1 << 30);
}

/* Progress thread: once nothing runs and every result has gone out, say
 * GOODBYE to every client. */
static void leave_poke(fp_node_t *node)
{
    if (!node->leaving || node->bye_said || node->sends > 0)
        return;
    size_t n = 0;
    for (nconn_t *nc = node->conns; nc != NULL; nc = nc->next) {
        for (unsigned id = 1; id <= NODE_MAX_POOLS; id++) {
            const npool_t *np = nc->pools[id];
            if (np != NULL && (np->running > 0 || np->flush_posted ||
                               (np->rbuf != NULL && np->rb.count > 0)))
                return;
        }
        n++;
    }
    node->bye_said = true;
    fp__info(node->log,
             "node %s: running tasks done and their results sent (%zu "
             "records refused meanwhile); goodbye to %zu clients",
             node->address, node->refused, n);
    for (nconn_t *nc = node->conns, *next; nc != NULL; nc = next) {
        next = nc->next; /* a send that fails at once closes nc */
        fp__tp_goodbye(nc->conn);
    }
    leave_wake(node, node->conns == NULL ? LEAVE_ALL_GONE : LEAVE_BYE_SAID);
}

/* Progress thread: start leaving. */
static void leave_closure(void *arg)
{
    fp_node_t *node = arg;
    node->leaving = true;
    size_t running = 0, back = 0;
    for (nconn_t *nc = node->conns; nc != NULL; nc = nc->next) {
        for (unsigned id = 1; id <= NODE_MAX_POOLS; id++) {
            npool_t *np = nc->pools[id];
            if (np == NULL)
                continue;
            for (nrec_t *r = np->recs, *n; r != NULL; r = n) {
                n = r->next;
                if (r->finished || r->dead)
                    continue;
                if (r->queued) {
                    if (!fp__dexec_unsubmit(&r->x)) {
                        running++;
                        continue;
                    }
                    np->running--;
                    r->queued = false;
                    rec_report_all(r, FP_ERR_CANCELED, "the node is leaving");
                    r->finished = true;
                    rec_release(r);
                    back++;
                } else if (r->have_record) {
                    /* waiting for its BULK arguments */
                    rec_report_all(r, FP_ERR_CANCELED, "the node is leaving");
                    back++;
                    if (r->bulk_want == 0) {
                        r->finished = true;
                        rec_release(r);
                    }
                }
                /* a record whose BULK came first is answered when it
                 * arrives (rec_try_start) */
            }
        }
    }
    fp__info(node->log, "node %s leaving: %zu running, %zu handed back",
             node->address, running, back);
    leave_wake(node, LEAVE_DRAINING);
    leave_poke(node);
}

/* The stopping thread: leave (above), wait for it, at most
 * FP_NODE_LEAVE_TIMEOUT seconds or until another stop request.  Returns
 * whether every client closed after the goodbye. */
static bool node_leave(fp_node_t *node)
{
    if (node->leave_started || !node->serving)
        return false;
    node->leave_started = true;
    if (atomic_load(&node->stopped) == 0)
        fp_node_stop(node); /* fp_node_destroy without a stop: this is it */
    unsigned stops = atomic_load(&node->stopped);
    const fp__config_t *conf = NULL;
    char why[200];
    if (fp__config_default(&conf, why, sizeof(why)) != FP_OK)
        conf = NULL;
    double limit = fp__setting_seconds(node->log, FP__SET_NODE_LEAVE_TIMEOUT,
                                       conf);
    if (limit <= 0)
        return false;
    if (fp__tp_post(node->tp, leave_closure, node) != FP_OK)
        return false;
    const double deadline = fp__now() + limit;
    double bye_deadline = 0;
    for (;;) {
        unsigned w = atomic_load(&node->wake);
        int state = atomic_load(&node->leave_state);
        double now = fp__now();
        if (state == LEAVE_ALL_GONE)
            return true;
        if (state == LEAVE_BYE_SAID && bye_deadline == 0)
            bye_deadline = now + 2.0; /* for the clients to close their side */
        if (bye_deadline != 0 && now >= bye_deadline)
            return false;
        if (atomic_load(&node->stopped) != stops) {
            fp__warn(node->log,
                     "node %s: stop asked again while leaving: stopping at "
                     "once (results of tasks still running are lost)",
                     node->address);
            return false;
        }
        if (now >= deadline) {
            fp__warn(node->log,
                     "node %s: still running tasks after %g s "
                     "(FP_NODE_LEAVE_TIMEOUT): stopping at once (their "
                     "results are lost)",
                     node->address, limit);
            return false;
        }
        double until = bye_deadline != 0 && bye_deadline < deadline
                           ? bye_deadline
                           : deadline;
        fp__futex_wait(&node->wake, w, until - now);
    }
}

/* ---- public API ------------------------------------------------------------ */

static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
    FP_PRINTF(3, 4);
static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* ---- registering with a server (server.c does the work) ------------------- */

static void load_closure(void *arg)
{
    fp_node_t *node = arg;
    unsigned held = 0;
    for (nconn_t *nc = node->conns; nc != NULL; nc = nc->next)
        for (unsigned id = 1; id <= NODE_MAX_POOLS; id++)
            if (nc->pools[id] != NULL)
                held += (unsigned)nc->pools[id]->running;
    atomic_store(&node->load_held, held);
}

static void node_load(void *arg, unsigned *busy, unsigned *queued)
{
    fp_node_t *node = arg;
    unsigned held = atomic_load(&node->load_held);
    *busy = held < node->executors ? held : node->executors;
    *queued = held - *busy;
    (void)fp__tp_post(node->tp, load_closure, node); /* for the next time */
}

static void node_refused(void *arg, const char *why)
{
    fp_node_t *node = arg;
    fp__error(node->log, "node %s: the server refused it (%s): stopping",
              node->address, why);
    atomic_store(&node->reg_refused, 1);
    fp_node_stop(node);
}

fp_status_t fp_node_start(fp_context_t *ctx, const fp_node_params_t *params,
                          fp_node_t **node_p, fp_error_t *err)
{
    static const fp_node_params_t defaults = {0};
    if (ctx == NULL || node_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;
    char why[256];
    fp_node_t *node = calloc(1, sizeof(*node));
    if (node == NULL)
        return FP_ERR_NOMEM;
    node->ctx = ctx;
    node->log = &ctx->log;
    pthread_mutex_init(&node->ctl_lock, NULL);
    pthread_cond_init(&node->ctl_cond, NULL);
    fp_status_t st = FP_OK;

    const char *listen = params->listen;
    if (listen == NULL)
        listen = getenv("FP_NODE_LISTEN");
    if (listen == NULL || listen[0] == '\0')
        listen = "0.0.0.0:0";
    uint16_t port = 0;
    st = fp__parse_hostport(listen, node->bind_host, sizeof(node->bind_host),
                            &port, true, why, sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "listen address '%s': %s", listen, why);
        goto fail;
    }

    for (size_t i = 0; i < params->nmodules; i++) {
        void *h = dlopen(params->modules[i], RTLD_NOW | RTLD_GLOBAL);
        if (h == NULL) {
            st = FP_ERR_NOT_FOUND;
            set_err(err, st, "module %s: %s", params->modules[i], dlerror());
            goto fail;
        }
        void **mods = realloc(node->modules, (node->nmodules + 1) * sizeof(void *));
        if (mods == NULL) {
            dlclose(h);
            st = FP_ERR_NOMEM;
            goto fail;
        }
        node->modules = mods;
        node->modules[node->nmodules++] = h;
        fp__info(node->log, "loaded module %s", params->modules[i]);
    }

    const fp__config_t *conf = NULL;
    st = fp__config_default(&conf, why, sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "config: %s", why);
        goto fail;
    }
    node->cores = fp__topo_ncores(ctx->topo);
    node->executors =
        params->executors != 0
            ? params->executors
            : (unsigned)fp__setting_int_or(node->log, FP__SET_EXECUTORS, conf,
                                           node->cores);
    if (node->executors > 4096) {
        st = FP_ERR_INVALID;
        set_err(err, st, "at most 4096 executors per node");
        goto fail;
    }
    node->pin = params->pin;
    node->exit_with_client = params->exit_with_client;
    node->gpus = count_gpus();
    if (gethostname(node->host, sizeof(node->host)) != 0)
        snprintf(node->host, sizeof(node->host), "unknown");
    node->host[sizeof(node->host) - 1] = '\0';
    snprintf(node->id, sizeof(node->id),
             "node:%s:%ld cores=%u gpus=%u caps=map,apply,bulk,update,cancel",
             node->host, (long)getpid(), node->cores, node->gpus);

    if (g_boot_secret != NULL && params->secret_file == NULL) {
        unsigned char key[FP__AUTH_KEY_LEN];
        fp__auth_secret_key(g_boot_secret, key);
        st = fp__auth_secret_from_key(key, "the SSH channel", &node->secret);
        OPENSSL_cleanse(key, sizeof(key));
        snprintf(why, sizeof(why), "%s", fp_status_string(st));
    } else {
        st = fp__auth_secret_load(params->secret_file, &node->secret, why,
                                  sizeof(why));
    }
    if (st != FP_OK) {
        set_err(err, st, "secret: %s", why);
        goto fail;
    }
    fp__tp_params_t tp;
    memset(&tp, 0, sizeof(tp));
    tp.name = "node";
    tp.secret = node->secret;
    tp.id = node->id;
    tp.role = FP__WIRE_ROLE_NODE;
    tp.executors = node->executors;
    tp.encrypt = params->encrypt;
    tp.handlers.arg = node;
    tp.handlers.on_ready = h_ready;
    tp.handlers.on_message = h_message;
    tp.handlers.on_bulk = h_bulk;
    tp.handlers.on_closed = h_closed;
    tp.log_fn = ctx->log.fn;
    tp.log_user_data = ctx->log.user_data;
    tp.log_level = ctx->log.level;
    st = fp__tp_create(&tp, &node->tp);
    if (st != FP_OK) {
        set_err(err, st, "transport: %s", fp_status_string(st));
        goto fail;
    }
    uint16_t bound = 0;
    st = fp__tp_listen(node->tp, node->bind_host, port, &bound);
    if (st != FP_OK) {
        if (st == FP_ERR_BUSY)
            set_err(err, st, "%s is in use: is another fastpool-worker "
                             "running there?", listen);
        else
            set_err(err, st, "cannot listen on %s: %s", listen,
                    fp_status_string(st));
        goto fail;
    }
    snprintf(node->address, sizeof(node->address), "%s:%u", node->bind_host,
             (unsigned)bound);
    if (pthread_create(&node->ctl, NULL, ctl_main, node) != 0) {
        st = FP_ERR_SYSTEM;
        set_err(err, st, "cannot start the node's control thread");
        goto fail;
    }
    node->ctl_started = true;
    st = fp__tp_start(node->tp);
    if (st != FP_OK) {
        set_err(err, st, "cannot start the progress thread");
        goto fail;
    }
    node->serving = true;
    if (params->server != NULL && params->server[0] != '\0') {
        fp__srv_reg_params_t rp = {
            .server = params->server, .secret_file = params->secret_file,
            .address = node->address, .host = node->host,
            .executors = node->executors, .gpus = node->gpus,
            .load = node_load, .refused = node_refused, .arg = node,
            .log = node->log};
        st = fp__srv_reg_start(&rp, &node->reg, why, sizeof(why));
        if (st != FP_OK) {
            set_err(err, st, "%s", why);
            goto fail;
        }
    }
    fp__info(node->log, "node %s serving: %u executors, %u cores, %u GPUs",
             node->address, node->executors, node->cores, node->gpus);
    *node_p = node;
    return FP_OK;

fail:
    fp_node_destroy(node);
    return st;
}

const char *fp_node_address(const fp_node_t *node)
{
    return node != NULL ? node->address : "";
}

void fp_node_stop(fp_node_t *node)
{
    if (node == NULL)
        return;
    /* counted: a second request while leaving stops at once */
    atomic_fetch_add(&node->stopped, 1);
    fp__futex_wake(&node->stopped, 1 << 30);
    atomic_fetch_add(&node->wake, 1);
    fp__futex_wake(&node->wake, 1 << 30);
}

fp_status_t fp_node_wait(fp_node_t *node, double timeout)
{
    if (node == NULL)
        return FP_ERR_INVALID;
    double deadline = fp__deadline(timeout);
    while (!atomic_load(&node->stopped)) {
        if (timeout == 0)
            return FP_ERR_TIMEOUT;
        double left = deadline - fp__now();
        if (left <= 0)
            return FP_ERR_TIMEOUT;
        fp__futex_wait(&node->stopped, 0, left);
    }
    return FP_OK;
}

/* Progress thread: GOODBYE to every client (phase 0), then close them
 * (phase 1): their pools are torn down on the control thread. */
typedef struct shut {
    fp_node_t *node;
    int phase;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} shut_t;

static void shut_closure(void *arg)
{
    shut_t *s = arg;
    fp_node_t *node = s->node;
    if (s->phase == 0) {
        node->bye_said = true; /* at once: no leaving from here on */
        for (nconn_t *nc = node->conns; nc != NULL; nc = nc->next)
            fp__tp_goodbye(nc->conn);
    } else {
        for (nconn_t *nc = node->conns, *next; nc != NULL; nc = next) {
            next = nc->next;
            fp__tp_close(nc->conn, FP_OK, "the node is stopping");
        }
    }
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void run_on_progress(fp_node_t *node, int phase)
{
    shut_t s = {.node = node, .phase = phase, .done = false};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    if (fp__tp_post(node->tp, shut_closure, &s) == FP_OK) {
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
    }
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.cond);
}

void fp_node_destroy(fp_node_t *node)
{
    if (node == NULL)
        return;
    fp__srv_reg_stop(node->reg); /* off the server's list first */
    node->reg = NULL;
    bool left = node_leave(node);
    node->destroying = true;
    if (node->tp != NULL && node->ctl_started) {
        if (!left) {
            run_on_progress(node, 0);
            struct timespec ts = {0, 50 * 1000 * 1000}; /* let GOODBYE go out */
            nanosleep(&ts, NULL);
        }
        run_on_progress(node, 1);
        /* the pools' teardown runs on the control thread and reports to
         * the progress thread: wait until it has */
        pthread_mutex_lock(&node->ctl_lock);
        while (node->ctl_pending > 0)
            pthread_cond_wait(&node->ctl_cond, &node->ctl_lock);
        pthread_mutex_unlock(&node->ctl_lock);
    }
    if (node->ctl_started) {
        pthread_mutex_lock(&node->ctl_lock);
        node->ctl_stop = true;
        pthread_cond_broadcast(&node->ctl_cond);
        pthread_mutex_unlock(&node->ctl_lock);
        pthread_join(node->ctl, NULL);
    }
    if (node->tp != NULL)
        fp__tp_destroy(node->tp);
    fp__auth_secret_free(node->secret);
    free(node->modules); /* modules stay loaded: their code may still run */
    pthread_mutex_destroy(&node->ctl_lock);
    pthread_cond_destroy(&node->ctl_cond);
    free(node);
}

static fp_node_t *volatile g_serving;

static void on_signal(int sig)
{
    (void)sig;
    fp_node_t *n = g_serving;
    if (n != NULL)
        fp_node_stop(n);
}

/* ---- started over SSH (boot/ssh.c) -------------------------------------------
 *
 * FP_BOOT_STDIN=1: the client started this node over SSH.  Its stdin is
 * the SSH channel: first "FP-SECRET <hex of the secret's key>" and "FP-GO"
 * lines (the secret never appears on a command line or in the
 * environment), then nothing until the client goes.  EOF on stdin means the
 * client closed its end, exited, was killed or lost the link: the node
 * stops at once (a watchdog ends the process 2 s later whatever it is
 * doing), and with exit_with_client it also stops when its client's
 * connection is gone (a link cut without EOF). */


static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One line from fd 0, byte by byte (nothing read past it). */
static bool boot_line(char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = c;
    }
    line[n] = '\0';
    return true;
}

static fp_status_t boot_read(char *why, size_t cap)
{
    char line[256];
    unsigned char key[FP__AUTH_KEY_LEN];
    bool have = false;
    for (;;) {
        if (!boot_line(line, sizeof(line))) {
            snprintf(why, cap, "stdin closed before FP-GO");
            return FP_ERR_CLOSED;
        }
        if (strcmp(line, "FP-GO") == 0)
            break;
        if (strncmp(line, "FP-SECRET ", 10) == 0) {
            const char *h = line + 10;
            if (strlen(h) != 2 * FP__AUTH_KEY_LEN) {
                snprintf(why, cap, "FP-SECRET: want %d hex digits",
                         2 * FP__AUTH_KEY_LEN);
                return FP_ERR_PROTOCOL;
            }
            for (size_t i = 0; i < FP__AUTH_KEY_LEN; i++) {
                int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
                if (a < 0 || b < 0) {
                    snprintf(why, cap, "FP-SECRET: not hex");
                    return FP_ERR_PROTOCOL;
                }
                key[i] = (unsigned char)(a << 4 | b);
            }
            have = true;
            OPENSSL_cleanse(line, sizeof(line));
        } else {
            snprintf(why, cap, "unexpected line on stdin: '%.40s'", line);
            return FP_ERR_PROTOCOL;
        }
    }
    if (!have) {
        snprintf(why, cap, "no FP-SECRET before FP-GO");
        return FP_ERR_PROTOCOL;
    }
    fp_status_t st =
        fp__auth_secret_from_key(key, "the SSH channel", &g_boot_secret);
    OPENSSL_cleanse(key, sizeof(key));
    if (st != FP_OK)
        snprintf(why, cap, "%s", fp_status_string(st));
    return st;
}

static void *boot_watch(void *arg)
{
    fp_node_t *node = arg;
    char buf[256];
    ssize_t r;
    for (;;) {
        r = read(0, buf, sizeof(buf));
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        if (r < 0 && errno == EAGAIN) { /* someone made it non-blocking */
            struct pollfd p = {0, POLLIN, 0};
            (void)poll(&p, 1, -1);
            continue;
        }
        break;
    }
    int e = errno;
    pthread_mutex_lock(&g_boot_lock);
    if (g_boot_node == node && atomic_load(&node->stopped) == 0) {
        /* (already stopping: its client closed the pool first) */
        fp__info(node->log, "the SSH channel to the client closed (%s): stopping",
                 r == 0 ? "EOF" : strerror(e));
        fp_node_stop(node);
    }
    pthread_mutex_unlock(&g_boot_lock);
    struct timespec ts = {2, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    _exit(0);
    return NULL;
}

int fp_node_serve(fp_context_t *ctx, const fp_node_params_t *params)
{
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_node_t *node = NULL;
    fp_node_params_t p;
    memset(&p, 0, sizeof(p));
    if (params != NULL)
        p = *params;
    const char *boot = getenv("FP_BOOT_STDIN");
    bool booted = boot != NULL && strcmp(boot, "1") == 0;
    if (booted) {
        char why[160];
        fp_status_t bst = boot_read(why, sizeof(why));
        if (bst != FP_OK) {
            fprintf(stderr, "fastpool node: started over SSH: %s\n", why);
            return 1;
        }
        unsetenv("FP_BOOT_STDIN"); /* not for the tasks' children */
        p.exit_with_client = true;
    }
    fp_status_t st = fp_node_start(ctx, &p, &node, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fastpool node: %s\n",
                err.message[0] ? err.message : fp_status_string(st));
        return 1;
    }
    if (booted) {
        pthread_mutex_lock(&g_boot_lock);
        g_boot_node = node;
        pthread_mutex_unlock(&g_boot_lock);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, boot_watch, node) != 0) {
            fprintf(stderr, "fastpool node: cannot watch stdin\n");
            pthread_attr_destroy(&a);
            fp_node_destroy(node);
            return 1;
        }
        pthread_attr_destroy(&a);
    }
    g_serving = node;
    struct sigaction sa, old_term, old_int;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    printf("LISTENING %s\n", fp_node_address(node));
    fflush(stdout);
    (void)fp_node_wait(node, -1);
    fp__info(&ctx->log, "node %s stopping", fp_node_address(node));
    fp__srv_reg_stop(node->reg); /* off the server's list before leaving */
    node->reg = NULL;
    int rc = atomic_load(&node->reg_refused) ? 1 : 0;
    (void)node_leave(node); /* a second SIGTERM meanwhile: at once */
    g_serving = NULL;
    pthread_mutex_lock(&g_boot_lock);
    g_boot_node = NULL;
    pthread_mutex_unlock(&g_boot_lock);
    fp_node_destroy(node);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    return rc;
}

/* ---- messages --------------------------------------------------------------- */

/* EXEC_MSG: into the pool's executor mailboxes (fp_pool_send on the core
 * pool: index = the global one minus this node's index base), in arrival
 * order.  A task's fp_task_send goes to msg_sink, which hands the bytes to
 * the progress thread (msg_send_closure) for a CLIENT_MSG.  Posted
 * closures run in order, before the pool_closed that frees the pool's
 * state (close_job posts that after fp_pool_destroy has joined every
 * executor), so `np` outlives them. */

static void msg_deliver(void *arg, uint32_t executor, void *data, size_t len)
{
    npool_t *np = arg;
    fp_node_t *node = np->nc->node;
    fp_cbuf_t msg = {data, len};
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t st = FP_ERR_STATE;
    if (np->state == NP_OPEN && np->pool != NULL) {
        unsigned n = fp_pool_size(np->pool);
        if (executor == FP__WIRE_MSG_ALL)
            st = fp_pool_send(np->pool, FP_TO_ALL, msg, &err);
        else if (executor >= np->index_base && executor - np->index_base < n)
            st = fp_pool_send(np->pool, executor - np->index_base, msg, &err);
        else
            snprintf(err.message, sizeof(err.message),
                     "executor %u is not on this node (%u..%u)", executor,
                     np->index_base, np->index_base + n - 1);
    } else {
        snprintf(err.message, sizeof(err.message), "the pool is not open");
    }
    if (st != FP_OK)
        fp__warn(node->log, "message from %s dropped: %s",
                 fp__tp_conn_peer_id(np->nc->conn),
                 err.message[0] ? err.message : fp_status_string(st));
    free(data);
}

static void msg_on_exec(npool_t *np, const fp__wire_msg_t *m)
{
    const fp__wire_exec_msg_t *e = &m->u.emsg;
    fp__mq_ent_t *q = fp__mq_add(&np->msgq, e->executor, e->len, true);
    if (q == NULL) {
        fp__warn(np->nc->node->log, "message dropped: out of memory");
        return;
    }
    if (e->len > 0)
        memcpy(q->data, e->data, e->len);
    fp__tp_note_copy(np->nc->node->tp, e->len);
    fp__mq_drain(&np->msgq, msg_deliver, np);
}

typedef struct msg_rx {
    npool_t *np;
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
    npool_t *np = rx->np;
    fp__mq_done(rx->e, st == FP_OK);
    free(rx);
    if (!np->nc->closed)
        fp__mq_drain(&np->msgq, msg_deliver, np);
    np_unref(np);
}

static void msg_on_exec_bulk(nconn_t *nc, const fp__wire_msg_t *m, size_t len,
                             fp__tp_bulk_dest_t *dest)
{
    npool_t *np = m->hdr.pool >= 1 && m->hdr.pool <= NODE_MAX_POOLS
                      ? nc->pools[m->hdr.pool]
                      : NULL;
    if (np == NULL || np->state != NP_OPEN) {
        fp__warn(nc->node->log, "refusing a message for a pool not open");
        return;
    }
    msg_rx_t *rx = malloc(sizeof(*rx));
    fp__mq_ent_t *e =
        rx != NULL ? fp__mq_add(&np->msgq, m->u.emsg.executor, len, false)
                   : NULL;
    if (e == NULL) {
        free(rx);
        return;
    }
    rx->np = np;
    rx->e = e;
    np->refs++;
    dest->buf = e->data;
    dest->done = msg_rx_done;
    dest->user_data = rx;
}

typedef struct msg_out {
    npool_t *np;
    uint32_t executor;
    size_t len;
    unsigned char data[];
} msg_out_t;

static void msg_send_closure(void *arg)
{
    msg_out_t *o = arg;
    npool_t *np = o->np;
    if (!np_can_send(np)) {
        free(o);
        return;
    }
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_CLIENT_MSG;
    m.hdr.pool = np->id;
    m.u.emsg.executor = o->executor;
    m.u.emsg.data = o->data;
    m.u.emsg.len = o->len;
    if (fp__tp_send(np->nc->conn, &m, o->data, o->len, fp__free_on_send, o) !=
        FP_OK)
        free(o);
}

/* On an executor: fp_task_send of a node's pool. */
static void msg_sink(void *arg, unsigned executor, const void *data,
                     size_t size)
{
    npool_t *np = arg;
    msg_out_t *o = malloc(sizeof(*o) + (size > 0 ? size : 1));
    if (o == NULL)
        return;
    o->np = np;
    o->executor = executor;
    o->len = size;
    if (size > 0)
        memcpy(o->data, data, size);
    if (fp__tp_post(np->nc->node->tp, msg_send_closure, o) != FP_OK)
        free(o);
}

static void msg_attach(npool_t *np)
{
    fp__pool_set_msg_sink(np->pool, msg_sink, np);
}
