/*
 * The soak test (issue 10 point 8): map, starmap, imap and imap_unordered
 * run back to back over three nodes while a driver kills, stops, resumes
 * and restarts them at random.  At the end every index of every call must
 * be present exactly once with the right value, no element lost, none
 * duplicated, every asynchronous call's callback run exactly once; the
 * program prints how many faults it injected and what each cost.
 *
 *   fp_soak            the client (run it through soak.sh for namespaces)
 *   fp_soak --node     a node (FP_NODE_LISTEN): serves this program's tasks
 *
 * Nodes: this program started again with --node, one per host of
 * FP_SOAK_HOSTS ("ns1:ip1,ns2:ip2,ns3:ip3", set by soak.sh: network
 * namespaces), else three on 127.0.0.1; node k listens on IP:7k00 (a fixed
 * port) so a restarted node is where it was.  Threads: main is the driver
 * (it starts the nodes, so their PR_SET_PDEATHSIG follows it, and it
 * injects the faults and takes nodes back with fp_pool_add_node); one work
 * thread runs the calls and checks them; the pool's own thread runs the
 * on_node callback, which counts JOINED / LEFT / DIED.
 *
 * Faults, one every U(0.3, 2 x FP_SOAK_GAP) seconds on a node taking work:
 *   kill -9   SIGKILL, restarted after U(0.2, 2.5) s
 *   bounce    SIGKILL and restarted at once (counted as a kill)
 *   stop      SIGSTOP, SIGCONT after a short pause (under node_deadline / 2:
 *             the node must survive) or a long one (past the deadline plus a
 *             heartbeat: it must be declared dead, and is then added again)
 *   term      SIGTERM: a clean stop (LEFT), restarted after U(0.2, 2) s
 * A node restarted or resumed that the pool does not hold (fp_pool_nodes:
 * no entry UP or CONNECTING at its address) is added again, the add retried
 * every 0.2 s while it fails.
 *
 * Knobs: FP_SOAK_SECONDS (default 60; 20 under a sanitizer), FP_SOAK_KILLS
 * (stop after that many kills; default: no limit), FP_SOAK_SEED (default:
 * time), FP_SOAK_GAP (mean seconds between faults, default 1.5),
 * FP_SOAK_MAX_N (largest call, default 100000, sanitizers / 4; the smallest
 * is a fifth of it), FP_SOAK_EXECUTORS (per node, default 2),
 * FP_SOAK_DEADLINE (node_deadline, default 1.5 s), FP_SOAK_CALL_TIMEOUT
 * (seconds a call may take before the test calls it hung, default 120),
 * FP_SOAK_LOG_DIR (node logs; default a temporary directory, removed when
 * the test passes), FP_SOAK_FAULTS (the kinds to inject, a comma list of
 * kill, bounce, stop, longstop, term; default all).
 *
 * Exit: 0 when every check holds, 1 otherwise (and on a hung call), 77 when
 * the nodes cannot be started at all.  Last line: "SOAK_RESULT k=v ...".
 */
#include "fp_test.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>

#include "nodeproc.h"

/* ---- the tasks (on the nodes) -------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* the value element `index` of the call salted `salt` must have */
static uint64_t expected(uint64_t index, uint64_t salt)
{
    return mix64(index * 0x9e3779b97f4a7c15ULL ^ salt);
}

/* 50..500 us, a function of the element (a rerun takes as long) */
static void task_sleep(uint64_t index, uint64_t salt)
{
    uint64_t us = 50 + mix64(index ^ salt ^ 0x5a5a5a5aULL) % 451;
    struct timespec ts = {0, (long)(us * 1000)};
    nanosleep(&ts, NULL);
}

static fp_status_t put_result(fp_task_t *t, fp_buf_t *o, uint64_t index,
                              uint64_t salt)
{
    if (o->size != 16)
        return fp_task_error(t, FP_ERR_INVALID, "result slot of %zu bytes",
                             o->size);
    task_sleep(index, salt);
    uint64_t r[2] = {index, expected(index, salt)};
    memcpy(o->data, r, 16);
    return FP_OK;
}

/* map / imap: one argument {index, salt} -> {index, expected} */
static fp_status_t soak_hash(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                             fp_buf_t *o)
{
    if (n != 1 || a[0].size != 16)
        return fp_task_error(t, FP_ERR_INVALID, "want one 16-byte argument");
    uint64_t in[2];
    memcpy(in, a[0].data, 16);
    return put_result(t, o, in[0], in[1]);
}
FP_TASK_REGISTER_AS("soak.hash", soak_hash)

/* starmap: (index, salt) -> {index, expected} */
static fp_status_t soak_hash2(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                              fp_buf_t *o)
{
    if (n != 2 || a[0].size != 8 || a[1].size != 8)
        return fp_task_error(t, FP_ERR_INVALID, "want two 8-byte arguments");
    uint64_t index, salt;
    memcpy(&index, a[0].data, 8);
    memcpy(&salt, a[1].data, 8);
    return put_result(t, o, index, salt);
}
FP_TASK_REGISTER_AS("soak.hash2", soak_hash2)

/* ---- knobs ------------------------------------------------------------------ */

static double env_double(const char *name, double dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v >= 0)) {
        fprintf(stderr, "soak: bad %s='%s', using %g\n", name, s, dflt);
        return dflt;
    }
    return v;
}

static uint64_t g_rng_state;
static pthread_mutex_t g_rng_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(void)
{
    pthread_mutex_lock(&g_rng_lock);
    g_rng_state += 0x9e3779b97f4a7c15ULL;
    uint64_t v = mix64(g_rng_state);
    pthread_mutex_unlock(&g_rng_lock);
    return v;
}

static double urand(double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rnd() >> 11) / 9007199254740992.0);
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---- state ------------------------------------------------------------------ */

#define NNODES 3

typedef enum { N_RUNNING, N_STOPPED, N_TERMINATING, N_DOWN } nstate_t;

typedef struct snode {
    fp_nodeproc_t proc;
    nstate_t state;
    double due;        /* DOWN: restart at; STOPPED: SIGCONT at */
    double add_after;  /* next add_node try */
    double term_at;    /* when SIGTERM was sent */
    char host[8];      /* "h1".. */
} snode_t;

typedef enum {
    F_KILL,
    F_BOUNCE,
    F_STOP_SHORT,
    F_STOP_LONG,
    F_TERM,
    F_KINDS
} fkind_t;

/* how often each kind is chosen; FP_SOAK_FAULTS="kill,stop,..." keeps
 * only the kinds it names (kill, bounce, stop, longstop, term) */
static int g_fweight[F_KINDS] = {35, 10, 15, 15, 25};
static const char *const fkind_key[F_KINDS] = {"kill", "bounce", "stop",
                                               "longstop", "term"};

static void faults_from_env(void)
{
    const char *s = getenv("FP_SOAK_FAULTS");
    if (s == NULL || *s == '\0')
        return;
    int keep[F_KINDS] = {0}, any = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < F_KINDS && strcmp(t, fkind_key[k]) != 0)
            k++;
        if (k == F_KINDS) {
            fprintf(stderr, "soak: FP_SOAK_FAULTS: unknown kind '%s' (kill, "
                    "bounce, stop, longstop, term)\n", t);
            exit(2);
        }
        keep[k] = 1;
        any = 1;
    }
    for (int k = 0; any && k < F_KINDS; k++)
        if (!keep[k])
            g_fweight[k] = 0;
}

static const char *const fkind_name[F_KINDS] = {
    "kill -9", "kill -9 + restart at once", "SIGSTOP+SIGCONT (short)",
    "SIGSTOP+SIGCONT (long)", "SIGTERM"};

typedef struct fault {
    fkind_t kind;
    int node;
    double t;            /* injected, seconds since the start */
    double pause;        /* stop: how long it was stopped */
    long call;           /* the call running then (-1: none) */
    fp_pool_stats_t before, after;
    bool closed;         /* `after` taken (next fault or the call's end) */
    double t_event;      /* DIED / LEFT for its node after t; <0: none */
    int event_kind;
    double t_call_end;   /* <0 until the call ends */
} fault_t;

typedef enum { C_MAP, C_MAP_ASYNC, C_STARMAP_ASYNC, C_IMAP_UNORDERED, C_IMAP,
               C_KINDS } ckind_t;
static const char *const ckind_name[C_KINDS] = {
    "map", "map_async", "starmap_async", "imap_unordered", "imap"};

typedef struct call {
    ckind_t kind;
    size_t n;
    uint64_t salt;
    double t0, t1;
    fp_status_t status;
    char message[FP_ERROR_MAX];
    size_t lost, dup, wrong, failed_elems, order;
    atomic_int cb_ok, cb_err; /* callback runs */
} call_t;

static struct {
    double t0;
    fp_pool_t *pool;
    snode_t nodes[NNODES];
    const char *self;
    double deadline, heartbeat, gap, seconds, call_timeout;
    size_t max_n, min_n;
    long max_kills;
    unsigned executors;

    pthread_mutex_t lock; /* faults, calls, events */
    fault_t *faults;
    size_t nfaults, cap_faults;
    call_t **calls;
    size_t ncalls, cap_calls;
    long cur_call;
    size_t fcount[F_KINDS];
    long kills, restarts, adds, add_retries, stop_dead;
    long ev_joined, ev_left, ev_died, ev_unprovoked;
    atomic_int stop_work;
    atomic_int hung;
    char last_add_error[FP_ERROR_MAX + 64];
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cur_call = -1};

static double now_s(void) { return fp_test_now() - g.t0; }

static void stats_now(fp_pool_stats_t *s)
{
    memset(s, 0, sizeof(*s));
    if (fp_pool_stats(g.pool, s) != FP_OK)
        memset(s, 0, sizeof(*s));
}

static int node_of(const char *address)
{
    for (int i = 0; i < NNODES; i++)
        if (address != NULL && strcmp(address, g.nodes[i].proc.addr) == 0)
            return i;
    return -1;
}

/* membership events: counted; a DIED / LEFT closes the detection time of
 * the newest fault on that node that has none yet */
static void on_node(void *arg, const fp_node_event_t *ev)
{
    (void)arg;
    double t = now_s();
    int k = node_of(ev->address);
    pthread_mutex_lock(&g.lock);
    if (ev->kind == FP_EVENT_JOINED) {
        g.ev_joined++;
    } else {
        if (ev->kind == FP_EVENT_LEFT)
            g.ev_left++;
        else
            g.ev_died++;
        bool matched = false;
        for (size_t i = g.nfaults; i-- > 0;) {
            fault_t *f = &g.faults[i];
            if (f->node != k)
                continue;
            if (f->t_event < 0 && f->kind != F_STOP_SHORT) {
                f->t_event = t;
                f->event_kind = ev->kind;
                matched = true;
            }
            break;
        }
        if (!matched) {
            g.ev_unprovoked++;
            fprintf(stderr, "soak: %.2f s: %s %s (%s) with no fault of ours "
                    "pending on it\n", t,
                    ev->kind == FP_EVENT_LEFT ? "LEFT" : "DIED",
                    ev->address, ev->reason != NULL ? ev->reason : "");
        }
    }
    pthread_mutex_unlock(&g.lock);
}

/* ---- the work ------------------------------------------------------------------ */

static void on_ok(fp_future_t *f, void *ud)
{
    (void)f;
    atomic_fetch_add(&((call_t *)ud)->cb_ok, 1);
}

static void on_err(fp_future_t *f, const fp_error_t *err, void *ud)
{
    (void)f;
    (void)err;
    atomic_fetch_add(&((call_t *)ud)->cb_err, 1);
}

/* a result {index, value} seen for element `i` of call `c` */
static bool result_ok(const call_t *c, const uint64_t *r, size_t i)
{
    return r[0] == i && r[1] == expected(i, c->salt);
}

static void check_array(call_t *c, const uint64_t *out)
{
    for (size_t i = 0; i < c->n; i++) {
        const uint64_t *r = out + 2 * i;
        if (result_ok(c, r, i))
            continue;
        if (r[0] == UINT64_MAX && r[1] == UINT64_MAX)
            c->lost++;
        else
            c->wrong++;
    }
}

/* wait for a future with the hang limit; false when it did not complete */
static bool wait_future(call_t *c, fp_future_t *f)
{
    if (fp_future_wait(f, g.call_timeout) != FP_OK)
        return false;
    fp_error_t err = {0};
    c->status = fp_future_get(f, 0, &err);
    if (c->status != FP_OK)
        snprintf(c->message, sizeof(c->message), "%s", err.message);
    fp_future_release(f);
    return true;
}

static bool run_iter(call_t *c, fp_iter_t *it)
{
    unsigned char *seen = calloc(c->n, 1);
    size_t got = 0, next_expected = 0;
    for (;;) {
        uint64_t r[2] = {UINT64_MAX, UINT64_MAX};
        size_t idx = SIZE_MAX;
        fp_error_t err = {0};
        fp_status_t st = fp_iter_next(it, r, &idx, g.call_timeout, &err);
        if (st == FP_END)
            break;
        if (st == FP_ERR_TIMEOUT) {
            free(seen);
            return false;
        }
        if (idx >= c->n) {
            c->wrong++;
            continue;
        }
        if (c->kind == C_IMAP && idx != next_expected)
            c->order++;
        next_expected = idx + 1;
        if (seen[idx]) {
            c->dup++;
            continue;
        }
        seen[idx] = 1;
        got++;
        if (st != FP_OK) {
            c->failed_elems++;
            if (c->status == FP_OK) {
                c->status = st;
                snprintf(c->message, sizeof(c->message), "%s", err.message);
            }
            seen[idx] = 2;
        } else if (!result_ok(c, r, idx)) {
            c->wrong++;
        }
    }
    for (size_t i = 0; i < c->n; i++)
        if (seen[i] != 1)
            c->lost++;
    free(seen);
    fp_iter_destroy(it);
    return true;
}

/* one call of a random kind; false when it hung */
static bool run_call(call_t *c)
{
    size_t n = c->n;
    uint64_t *in = malloc(n * 16), *out = malloc(n * 16);
    uint64_t *idx = malloc(n * 8), *salt = malloc(n * 8);
    if (in == NULL || out == NULL || idx == NULL || salt == NULL) {
        fprintf(stderr, "soak: out of memory for %zu elements\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        in[2 * i] = i;
        in[2 * i + 1] = c->salt;
        idx[i] = i;
        salt[i] = c->salt;
    }
    memset(out, 0xff, n * 16);
    fp_call_params_t cp = {.callback = on_ok, .error_callback = on_err,
                           .user_data = c};
    fp_error_t err = {0};
    fp_future_t *f = NULL;
    fp_iter_t *it = NULL;
    bool done = true;
    c->status = FP_OK;
    switch (c->kind) {
    case C_MAP:
        c->status = fp_map(g.pool, "soak.hash", in, 16, n, out, 16, NULL, &err);
        if (c->status != FP_OK)
            snprintf(c->message, sizeof(c->message), "%s", err.message);
        check_array(c, out);
        break;
    case C_MAP_ASYNC:
        c->status = fp_map_async(g.pool, "soak.hash", in, 16, n, out, 16, &cp, &f);
        if (c->status == FP_OK)
            done = wait_future(c, f);
        if (done)
            check_array(c, out);
        break;
    case C_STARMAP_ASYNC: {
        fp_array_t args[2] = {{idx, 8}, {salt, 8}};
        c->status = fp_starmap_async(g.pool, "soak.hash2", args, 2, n, out, 16,
                                     &cp, &f);
        if (c->status == FP_OK)
            done = wait_future(c, f);
        if (done)
            check_array(c, out);
        break;
    }
    case C_IMAP_UNORDERED:
    case C_IMAP:
        c->status = c->kind == C_IMAP
                        ? fp_imap(g.pool, "soak.hash", in, 16, n, 16, NULL, &it)
                        : fp_imap_unordered(g.pool, "soak.hash", in, 16, n, 16,
                                            NULL, &it);
        if (c->status == FP_OK)
            done = run_iter(c, it);
        else
            c->lost = n;
        break;
    default:
        break;
    }
    if (!done)
        return false; /* buffers stay: the call still holds them */
    free(in);
    free(out);
    free(idx);
    free(salt);
    return true;
}

static void *work_main(void *arg)
{
    (void)arg;
    static const int weight[C_KINDS] = {25, 20, 15, 30, 10};
    while (!atomic_load(&g.stop_work)) {
        call_t *c = calloc(1, sizeof(*c));
        int w = (int)(rnd() % 100), k = 0;
        while (k < C_KINDS - 1 && w >= weight[k]) {
            w -= weight[k];
            k++;
        }
        c->kind = (ckind_t)k;
        c->n = g.min_n + (size_t)(rnd() % (g.max_n - g.min_n + 1));
        c->salt = rnd();
        pthread_mutex_lock(&g.lock);
        if (g.ncalls == g.cap_calls) {
            g.cap_calls = g.cap_calls ? 2 * g.cap_calls : 64;
            g.calls = realloc(g.calls, g.cap_calls * sizeof(*g.calls));
        }
        long id = (long)g.ncalls;
        g.calls[g.ncalls++] = c;
        g.cur_call = id;
        c->t0 = now_s();
        pthread_mutex_unlock(&g.lock);
        bool ok = run_call(c);
        fp_pool_stats_t s;
        stats_now(&s);
        pthread_mutex_lock(&g.lock);
        c->t1 = now_s();
        g.cur_call = -1;
        for (size_t i = 0; i < g.nfaults; i++) {
            fault_t *f = &g.faults[i];
            if (f->call == id) {
                f->t_call_end = c->t1;
                if (!f->closed) {
                    f->after = s;
                    f->closed = true;
                }
            }
        }
        pthread_mutex_unlock(&g.lock);
        if (!ok) {
            fprintf(stderr, "soak: HUNG: call %ld (%s of %zu) did not end "
                    "within %.0f s\n", id, ckind_name[c->kind], c->n,
                    g.call_timeout);
            atomic_store(&g.hung, 1);
            return NULL;
        }
        if (c->status != FP_OK || c->lost || c->dup || c->wrong || c->order)
            fprintf(stderr, "soak: call %ld (%s of %zu): %s%s%s lost %zu dup "
                    "%zu wrong %zu out of order %zu\n", id,
                    ckind_name[c->kind], c->n, fp_status_name(c->status),
                    c->message[0] ? ": " : "", c->message, c->lost, c->dup,
                    c->wrong, c->order);
        if (c->status != FP_OK)
            sleep_s(0.01); /* a pool with no node fails calls at once */
    }
    return NULL;
}

/* ---- the driver ------------------------------------------------------------------ */

/* the pool holds node k: an entry at its address UP or CONNECTING */
static void members(bool member[NNODES])
{
    fp_node_info_t info[64];
    size_t count = 0;
    for (int k = 0; k < NNODES; k++)
        member[k] = false;
    if (fp_pool_nodes(g.pool, info, 64, &count) != FP_OK)
        return;
    for (size_t i = 0; i < count && i < 64; i++) {
        int k = node_of(info[i].address);
        if (k >= 0 && (info[i].state == FP_NODE_UP ||
                       info[i].state == FP_NODE_CONNECTING))
            member[k] = true;
    }
}

static bool node_start(snode_t *n)
{
    char why[256];
    if (fp_nodeproc_start(&n->proc, g.self, 20, why, sizeof(why)) != 0) {
        fprintf(stderr, "soak: %.2f s: node %s did not start: %s (retrying)\n",
                now_s(), n->proc.addr, why);
        return false;
    }
    n->state = N_RUNNING;
    n->add_after = 0;
    return true;
}

/* restarts, resumes, reaps and re-adds what is due; force: now */
static void reconcile(bool force)
{
    double t = now_s();
    bool member[NNODES];
    members(member);
    for (int k = 0; k < NNODES; k++) {
        snode_t *n = &g.nodes[k];
        if (n->state == N_TERMINATING) {
            if (fp_nodeproc_reap(&n->proc, false)) {
                n->state = N_DOWN;
                if (n->due < t)
                    n->due = t;
            } else if (t - n->term_at > 15) {
                fprintf(stderr, "soak: %.2f s: node %s ignored SIGTERM for "
                        "15 s: killed\n", t, n->proc.addr);
                fp_nodeproc_kill(&n->proc);
                n->state = N_DOWN;
            }
        }
        if (n->state == N_DOWN && (force || t >= n->due)) {
            if (node_start(n)) {
                g.restarts++;
            } else {
                n->due = now_s() + 0.2;
                continue;
            }
        }
        if (n->state == N_STOPPED && (force || t >= n->due)) {
            fp_nodeproc_signal(&n->proc, SIGCONT);
            n->state = N_RUNNING;
            n->add_after = now_s() + 0.05;
            continue; /* its membership is read again next round */
        }
        if (n->state == N_RUNNING && !member[k] && now_s() >= n->add_after) {
            fp_error_t err = {0};
            fp_status_t st = fp_pool_add_node(g.pool, n->proc.addr, &err);
            if (st == FP_OK) {
                g.adds++;
            } else if (st == FP_ERR_EXISTS) {
                /* still held (its death not seen yet): look again later */
                n->add_after = now_s() + 0.2;
            } else {
                g.add_retries++;
                snprintf(g.last_add_error, sizeof(g.last_add_error), "%s: %s",
                         fp_status_name(err.status), err.message);
                n->add_after = now_s() + 0.2;
            }
        }
    }
}

static void inject(void)
{
    bool member[NNODES];
    members(member);
    int up[NNODES], nup = 0;
    for (int k = 0; k < NNODES; k++)
        if (g.nodes[k].state == N_RUNNING && member[k])
            up[nup++] = k;
    if (nup == 0)
        return;
    /* the last node standing is taken down less often (node_wait then
     * holds the work until one is back) */
    if (nup == 1 && urand(0, 1) < 0.6)
        return;
    int k = up[rnd() % (uint64_t)nup];
    snode_t *n = &g.nodes[k];
    int total = 0;
    for (int i = 0; i < F_KINDS; i++)
        total += g_fweight[i];
    int w = (int)(rnd() % (uint64_t)total), ki = 0;
    while (ki < F_KINDS - 1 && w >= g_fweight[ki]) {
        w -= g_fweight[ki];
        ki++;
    }
    fkind_t kind = (fkind_t)ki;
    fault_t f = {.kind = kind, .node = k, .t_event = -1, .t_call_end = -1};
    stats_now(&f.before);
    pthread_mutex_lock(&g.lock);
    /* the previous fault's window ends here */
    if (g.nfaults > 0 && !g.faults[g.nfaults - 1].closed) {
        g.faults[g.nfaults - 1].after = f.before;
        g.faults[g.nfaults - 1].closed = true;
    }
    f.t = now_s();
    f.call = g.cur_call;
    switch (kind) {
    case F_KILL:
    case F_BOUNCE:
        fp_nodeproc_kill(&n->proc);
        n->state = N_DOWN;
        n->due = kind == F_BOUNCE ? f.t : f.t + urand(0.2, 2.5);
        g.kills++;
        break;
    case F_STOP_SHORT:
    case F_STOP_LONG:
        fp_nodeproc_signal(&n->proc, SIGSTOP);
        n->state = N_STOPPED;
        f.pause = kind == F_STOP_SHORT
                      ? urand(0.05, g.deadline / 2)
                      : urand(g.deadline + g.heartbeat + 0.5, g.deadline + 3);
        n->due = f.t + f.pause;
        break;
    case F_TERM:
        fp_nodeproc_signal(&n->proc, SIGTERM);
        n->state = N_TERMINATING;
        n->term_at = f.t;
        n->due = f.t + urand(0.2, 2.0);
        break;
    default:
        break;
    }
    g.fcount[kind]++;
    if (g.nfaults == g.cap_faults) {
        g.cap_faults = g.cap_faults ? 2 * g.cap_faults : 64;
        g.faults = realloc(g.faults, g.cap_faults * sizeof(*g.faults));
    }
    g.faults[g.nfaults++] = f;
    pthread_mutex_unlock(&g.lock);
}

/* ---- set-up and report ---------------------------------------------------------- */

static char g_logdir[200];
static char g_cfg[300];

static void write_config(void)
{
    snprintf(g_cfg, sizeof(g_cfg), "%s/soak.cfg", g_logdir);
    FILE *f = fopen(g_cfg, "w");
    if (f == NULL) {
        fprintf(stderr, "soak: cannot write %s\n", g_cfg);
        exit(1);
    }
    /* heartbeats well inside the deadline: a busy or idle node is heard,
     * a stopped one is not */
    fprintf(f, "transport = {\n  heartbeat_interval = %.3f;\n  peer_deadline "
            "= %.3f;\n};\n", g.heartbeat, g.deadline);
    fclose(f);
}

static void print_log_tails(void)
{
    for (int k = 0; k < NNODES; k++) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "tail -n 5 '%s' 2>/dev/null | sed 's/^/  %s: /' >&2",
                 g.nodes[k].proc.log, g.nodes[k].host);
        if (system(cmd) != 0)
            fprintf(stderr, "  (no log for %s)\n", g.nodes[k].host);
    }
}

static int serve_node(void)
{
    fp_context_t *ctx;
    if (fp_context_create(NULL, &ctx) != FP_OK)
        return 1;
    int rc = fp_node_serve(ctx, NULL);
    fp_context_destroy(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--node") == 0)
        return serve_node();
    setvbuf(stdout, NULL, _IOLBF, 0);
    static char self[4096];
    ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (l <= 0)
        return 1;
    self[l] = '\0';
    g.self = self;
    fp_test_secret_env();
    if (getenv("FP_TRANSPORT") == NULL)
        setenv("FP_TRANSPORT", "tcp", 1);

    g.seconds = env_double("FP_SOAK_SECONDS", FP_TEST_SANITIZED ? 20 : 60);
    double kills = env_double("FP_SOAK_KILLS", 0);
    g.max_kills = kills > 0 ? (long)kills : -1;
    uint64_t seed = (uint64_t)env_double("FP_SOAK_SEED", 0);
    if (seed == 0)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    g_rng_state = seed;
    g.gap = env_double("FP_SOAK_GAP", 1.5);
    if (g.gap < 0.2)
        g.gap = 0.2;
    g.max_n = (size_t)env_double("FP_SOAK_MAX_N", (double)fp_test_scaled(100000, 5000));
    if (g.max_n < 100)
        g.max_n = 100;
    g.min_n = g.max_n / 5;
    g.executors = (unsigned)env_double("FP_SOAK_EXECUTORS", 2);
    if (g.executors < 1)
        g.executors = 1;
    g.deadline = env_double("FP_SOAK_DEADLINE", 1.5);
    if (g.deadline < 0.2)
        g.deadline = 0.2;
    g.heartbeat = g.deadline / 6;
    g.call_timeout = env_double("FP_SOAK_CALL_TIMEOUT", 120);
    faults_from_env();

    const char *ld = getenv("FP_SOAK_LOG_DIR");
    bool own_logdir = ld == NULL || *ld == '\0';
    if (own_logdir) {
        snprintf(g_logdir, sizeof(g_logdir), "/tmp/fp-soak-%d", (int)getpid());
    } else {
        snprintf(g_logdir, sizeof(g_logdir), "%s", ld);
    }
    mkdir(g_logdir, 0755);
    write_config();
    if (getenv("FP_CONFIG") == NULL)
        setenv("FP_CONFIG", g_cfg, 1);

    /* where the nodes go */
    const char *spec = getenv("FP_SOAK_HOSTS");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", spec != NULL ? spec : "");
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    static char ex[32], dl[64], hb[64], cfg[400];
    snprintf(ex, sizeof(ex), "FP_EXECUTORS=%u", g.executors);
    snprintf(dl, sizeof(dl), "FP_PEER_DEADLINE=%.3f", g.deadline);
    snprintf(hb, sizeof(hb), "FP_HEARTBEAT=%.3f", g.heartbeat);
    snprintf(cfg, sizeof(cfg), "FP_CONFIG=%s", getenv("FP_CONFIG"));
    int base = 7000;
    if (spec == NULL || *spec == '\0')
        base = 20000 + (int)(getpid() % 4000) * 10; /* loopback: ports of our own */
    for (int k = 0; k < NNODES; k++) {
        char ns[64] = "", ip[64] = "127.0.0.1";
        if (tok != NULL) {
            char *colon = strchr(tok, ':');
            if (colon != NULL) {
                *colon = '\0';
                snprintf(ns, sizeof(ns), "%s", tok);
                snprintf(ip, sizeof(ip), "%s", colon + 1);
            }
            tok = strtok_r(NULL, ",", &save);
        }
        char addr[96], log[256];
        snprintf(addr, sizeof(addr), "%s:%d", ip,
                 base == 7000 ? 7000 + 100 * (k + 1) : base + k);
        snprintf(log, sizeof(log), "%.200s/node-h%d.log", g_logdir, k + 1);
        snode_t *n = &g.nodes[k];
        fp_nodeproc_init(&n->proc, ns, addr, log);
        n->proc.env[0] = ex;
        n->proc.env[1] = dl;
        n->proc.env[2] = hb;
        n->proc.env[3] = cfg;
        n->proc.env[4] = "FP_LOG_LEVEL=warn";
        snprintf(n->host, sizeof(n->host), "h%d", k + 1);
    }

    g.t0 = fp_test_now();
    printf("soak: seed %" PRIu64 ", %.0f s%s, 3 nodes x %u executors (%s), "
           "calls of %zu..%zu elements of 50..500 us, a fault every ~%.1f s, "
           "node_deadline %.2f s, heartbeat %.2f s%s\n",
           seed, g.seconds,
           g.max_kills > 0 ? " or the kill limit" : "", g.executors,
           spec != NULL && *spec ? "network namespaces" : "127.0.0.1",
           g.min_n, g.max_n, g.gap, g.deadline, g.heartbeat,
           FP_TEST_SANITIZED ? " (sanitizer build: scaled down)" : "");
    if (g.max_kills > 0)
        printf("soak: stops after %ld kills\n", g.max_kills);
    for (int k = 0; k < NNODES; k++) {
        double until = fp_test_now() + 20;
        while (!node_start(&g.nodes[k])) {
            if (fp_test_now() > until) {
                printf("SKIP: node %s cannot be started\n", g.nodes[k].proc.addr);
                print_log_tails();
                return 77;
            }
            sleep_s(0.2);
        }
    }

    fp_context_t *ctx;
    if (fp_context_create(NULL, &ctx) != FP_OK)
        return 1;
    const char *list[NNODES];
    for (int k = 0; k < NNODES; k++)
        list[k] = g.nodes[k].proc.addr;
    fp_pool_params_t p = {
        .nodes = list,
        .nnodes = NNODES,
        .connect_timeout = 5,
        .max_attempts = 1000, /* random kills are not poison */
        .node_deadline = g.deadline,
        .node_wait = 30, /* all three down at once: wait for one */
        .on_node = on_node,
    };
    fp_error_t err = {0};
    if (fp_pool_create(ctx, &p, &g.pool, &err) != FP_OK) {
        fprintf(stderr, "soak: fp_pool_create: %s\n", err.message);
        print_log_tails();
        return 1;
    }
    printf("soak: pool of %u executors over", fp_pool_size(g.pool));
    for (int k = 0; k < NNODES; k++)
        printf(" %s", list[k]);
    printf("\n");

    pthread_t work;
    pthread_create(&work, NULL, work_main, NULL);
    double next = urand(0.3, 2 * g.gap);
    while (!atomic_load(&g.hung)) {
        double t = now_s();
        if (t >= g.seconds || (g.max_kills > 0 && g.kills >= g.max_kills))
            break;
        reconcile(false);
        if (now_s() >= next) {
            inject();
            next = now_s() + urand(0.3, 2 * g.gap);
        }
        sleep_s(0.02);
    }
    double t_faults_end = now_s();
    /* wind down: every node back and in the pool, then the work stops */
    double until = now_s() + 60;
    for (;;) {
        reconcile(true);
        bool member[NNODES], all = true;
        members(member);
        for (int k = 0; k < NNODES; k++)
            all = all && member[k] && g.nodes[k].state == N_RUNNING;
        if (all || now_s() > until || atomic_load(&g.hung))
            break;
        sleep_s(0.05);
    }
    double t_back = now_s();
    atomic_store(&g.stop_work, 1);
    if (atomic_load(&g.hung)) {
        fp_pool_stats_t s;
        stats_now(&s);
        fp_node_info_t info[64];
        size_t count = 0;
        fp_pool_nodes(g.pool, info, 64, &count);
        for (size_t i = 0; i < count && i < 64; i++)
            fprintf(stderr, "  node %s state %d elements %" PRIu64 " %s\n",
                    info[i].address, (int)info[i].state, info[i].elements,
                    info[i].reason);
        fprintf(stderr, "  stats: records_rerun %" PRIu64 " elements_rerun %"
                PRIu64 " late_dropped %" PRIu64 " active %u\n",
                s.records_rerun, s.elements_rerun, s.late_dropped,
                fp_pool_active(g.pool));
        print_log_tails();
        printf("SOAK_RESULT hung=1 lost=-1 duplicated=-1 double_callbacks=-1\n");
        fflush(stdout);
        _exit(1); /* the hung call holds the pool: no destroy */
    }
    pthread_join(work, NULL);
    double t_end = now_s();
    size_t node_count = fp_pool_node_count(g.pool);
    fp_pool_stats_t total;
    stats_now(&total);
    fp_status_t dst = fp_pool_destroy(g.pool);

    /* ---- the report ---- */
    size_t lost = 0, dup = 0, wrong = 0, order = 0, failed_calls = 0,
           failed_elems = 0, cb_twice = 0, cb_never = 0, cb_wrong = 0;
    size_t per_kind[C_KINDS] = {0}, elems = 0;
    for (size_t i = 0; i < g.ncalls; i++) {
        call_t *c = g.calls[i];
        per_kind[c->kind]++;
        elems += c->n;
        lost += c->lost;
        dup += c->dup;
        wrong += c->wrong;
        order += c->order;
        failed_elems += c->failed_elems;
        failed_calls += c->status != FP_OK;
        if (c->kind == C_MAP_ASYNC || c->kind == C_STARMAP_ASYNC) {
            int runs = atomic_load(&c->cb_ok) + atomic_load(&c->cb_err);
            cb_twice += runs > 1;
            cb_never += runs == 0;
            /* the callback that ran must match the status */
            cb_wrong += runs == 1 && (atomic_load(&c->cb_ok) == 1) != (c->status == FP_OK);
        }
    }
    printf("soak: %.1f s in all (faults for %.1f s, all nodes back %.1f s "
           "later, last call ended %.1f s after that)\n",
           t_end, t_faults_end, t_back - t_faults_end, t_end - t_back);
    printf("soak: %zu calls (", g.ncalls);
    for (int k = 0; k < C_KINDS; k++)
        printf("%s%s %zu", k ? ", " : "", ckind_name[k], per_kind[k]);
    printf("), %zu elements\n", elems);
    printf("soak: faults injected: %zu\n", g.nfaults);
    for (int k = 0; k < F_KINDS; k++)
        printf("  %-28s %zu\n", fkind_name[k], g.fcount[k]);
    printf("  %-28s %ld (kills in all: %ld)\n", "restarts", g.restarts, g.kills);
    printf("  %-28s %ld (failed tries, retried: %ld%s%s)\n", "fp_pool_add_node",
           g.adds, g.add_retries, g.last_add_error[0] ? "; last: " : "",
           g.last_add_error);
    printf("soak: events: joined %ld, left %ld, died %ld (not caused by a "
           "fault of ours: %ld)\n",
           g.ev_joined, g.ev_left, g.ev_died, g.ev_unprovoked);
    printf("soak: per fault (detected: to its node's DIED/LEFT event; call "
           "end: from the fault to the end of the call it hit; deltas of "
           "fp_pool_stats from the fault to the next fault or that call's "
           "end):\n");
    double det_sum[F_KINDS] = {0}, det_max[F_KINDS] = {0};
    size_t det_n[F_KINDS] = {0};
    for (size_t i = 0; i < g.nfaults; i++) {
        fault_t *f = &g.faults[i];
        if (!f->closed) {
            f->after = total;
            f->closed = true;
        }
        char det[32] = "-", end[32] = "-";
        if (f->t_event >= 0) {
            double d = f->t_event - f->t;
            snprintf(det, sizeof(det), "%.3f s", d);
            det_sum[f->kind] += d;
            det_n[f->kind]++;
            if (d > det_max[f->kind])
                det_max[f->kind] = d;
        }
        if (f->t_call_end >= 0)
            snprintf(end, sizeof(end), "+%.2f s", f->t_call_end - f->t);
        char pause[32] = "";
        if (f->kind == F_STOP_SHORT || f->kind == F_STOP_LONG)
            snprintf(pause, sizeof(pause), " (%.2f s)", f->pause);
        printf("  %3zu %7.2f s %-3s %-26s%s call %ld: detected %s, call end "
               "%s, records_rerun +%" PRIu64 ", elements_rerun +%" PRIu64
               ", late_dropped +%" PRIu64 "\n",
               i + 1, f->t, g.nodes[f->node].host, fkind_name[f->kind], pause,
               f->call, det, end, f->after.records_rerun - f->before.records_rerun,
               f->after.elements_rerun - f->before.elements_rerun,
               f->after.late_dropped - f->before.late_dropped);
    }
    for (int k = 0; k < F_KINDS; k++)
        if (det_n[k] > 0)
            printf("soak: %-28s detection mean %.3f s, max %.3f s (%zu)\n",
                   fkind_name[k], det_sum[k] / (double)det_n[k], det_max[k],
                   det_n[k]);
    printf("soak: totals: nodes joined %" PRIu64 ", left %" PRIu64 ", died %"
           PRIu64 "; records_rerun %" PRIu64 ", elements_rerun %" PRIu64
           ", elements_failed %" PRIu64 ", late_dropped %" PRIu64 "\n",
           total.nodes_joined, total.nodes_left, total.nodes_died,
           total.records_rerun, total.elements_rerun, total.elements_failed,
           total.late_dropped);
    printf("soak: at the end: %zu nodes taking work; fp_pool_destroy %s\n",
           node_count, fp_status_name(dst));
    printf("soak: check: lost %zu, duplicated %zu, wrong %zu, out of order "
           "(imap) %zu, failed calls %zu (failed elements %zu), callbacks "
           "twice %zu, never %zu, of the wrong kind %zu\n",
           lost, dup, wrong, order, failed_calls, failed_elems, cb_twice,
           cb_never, cb_wrong);
    for (size_t i = 0; i < g.ncalls; i++)
        if (g.calls[i]->status != FP_OK) {
            printf("soak: first failed call: %zu (%s): %s: %s\n", i,
                   ckind_name[g.calls[i]->kind],
                   fp_status_name(g.calls[i]->status), g.calls[i]->message);
            break;
        }
    bool pass = lost == 0 && dup == 0 && wrong == 0 && order == 0 &&
                failed_calls == 0 && cb_twice == 0 && cb_never == 0 &&
                cb_wrong == 0 && dst == FP_OK && g.ncalls > 0;
    printf("SOAK_RESULT pass=%d seconds=%.1f calls=%zu elements=%zu faults=%zu "
           "kills=%ld stops=%zu terms=%zu restarts=%ld adds=%ld lost=%zu "
           "duplicated=%zu wrong=%zu order=%zu failed_calls=%zu "
           "double_callbacks=%zu missing_callbacks=%zu elements_rerun=%" PRIu64
           " records_rerun=%" PRIu64 " late_dropped=%" PRIu64
           " unprovoked_deaths=%ld\n",
           pass, t_end, g.ncalls, elems, g.nfaults, g.kills,
           g.fcount[F_STOP_SHORT] + g.fcount[F_STOP_LONG], g.fcount[F_TERM],
           g.restarts, g.adds, lost, dup, wrong, order, failed_calls, cb_twice,
           cb_never, total.elements_rerun, total.records_rerun,
           total.late_dropped, g.ev_unprovoked);
    for (int k = 0; k < NNODES; k++)
        fp_nodeproc_stop(&g.nodes[k].proc, 10);
    fp_context_destroy(ctx);
    if (!pass) {
        fprintf(stderr, "soak: FAILED (seed %" PRIu64 "); node logs in %s\n",
                seed, g_logdir);
        print_log_tails();
        return 1;
    }
    if (own_logdir) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_logdir);
        if (system(cmd) != 0)
            fprintf(stderr, "soak: could not remove %s\n", g_logdir);
    }
    for (size_t i = 0; i < g.ncalls; i++)
        free(g.calls[i]);
    free(g.calls);
    free(g.faults);
    return 0;
}
