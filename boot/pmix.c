/*
 * A pool formed by the ranks of a PMIx launcher (mpirun of Open MPI, srun
 * --mpi=pmix of Slurm), without any fastpool launcher and without MPI.
 *
 * At the first fp_pool_create of every rank (dist/launch.h):
 *
 *   client rank (FP_PMIX_CLIENT_RANK, default 0)   node ranks (all others)
 *   put fastpool.secret (generated, or "")
 *   commit, fence 1  ---------------------------  fence 1
 *                                                  get the secret, start a
 *                                                  node (port 0), put
 *                                                  fastpool.node "ADDR:PORT"
 *                                                  (or "error: why") and
 *                                                  fastpool.executors
 *   fence 2  -----------------------------------  commit, fence 2
 *   get every node rank's address: the pool's     serve with exit_with_client
 *   nodes                                          until the client has gone,
 *                                                  PMIx_Finalize, exit
 *
 * Two fences because a node needs the secret before it can listen, and the
 * client needs the address the node bound.  The secret (when neither
 * FP_SECRET_FILE nor FP_SECRET is set on the client rank) is 32 random
 * bytes from OpenSSL, hex; it travels through the launcher's PMIx servers
 * (docs/ARCHITECTURE.md: who can read it).  It reaches the node and the
 * client transport through FP_SECRET in the process's environment for the
 * time of the start only (the transport reads its secret there; it is
 * removed afterwards so that a child the application starts does not
 * inherit it).
 *
 * libpmix is loaded with dlopen at the first look (like UCX): linking
 * libfastpool adds no library, and a build with the PMIx headers runs on a
 * machine without libpmix (FP_ERR_UNSUPPORTED there, named).  Without the
 * headers at build time (FP_HAVE_PMIX undefined) the same error says so.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/core.h"
#include "core/topo.h"
#include "dist/launch.h"

#ifdef FP_HAVE_PMIX
#include <pmix.h>
#endif

/* A static link takes this object because lib/ asks for this symbol
 * (fp_layer ANCHORS in boot/CMakeLists.txt). */
int fp__boot_pmix_anchor;

#define KEY_SECRET "fastpool.secret"
#define KEY_NODE "fastpool.node"
#define KEY_EXECUTORS "fastpool.executors"

static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/* ---- the environment, as the process started ------------------------------ */

enum { MODE_AUTO, MODE_NONE, MODE_PMIX };

static struct {
    int mode;
    char launch[32];      /* FP_LAUNCH as given */
    bool pmix_env;        /* PMIX_RANK and PMIX_NAMESPACE, or Open MPI's */
    bool slurm_multi;     /* srun with several tasks, no PMIx */
    char slurm_ntasks[16];
    char client_rank[16]; /* FP_PMIX_CLIENT_RANK */
    char listen[160];     /* FP_NODE_LISTEN */
    char executors[16];   /* FP_EXECUTORS */
} g_env;

static void snap(char *dst, size_t cap, const char *name)
{
    const char *v = getenv(name);
    dst[0] = '\0';
    if (v != NULL)
        snprintf(dst, cap, "%s", v);
}

static const fp__launcher_t g_launcher;

/* The environment is read before main (a program may change it before
 * its first fp_pool_create, as dist/pool.c's FP_NODE_LISTEN snapshot). */
__attribute__((constructor)) static void pmix_register(void)
{
    snap(g_env.launch, sizeof(g_env.launch), "FP_LAUNCH");
    snap(g_env.client_rank, sizeof(g_env.client_rank), "FP_PMIX_CLIENT_RANK");
    snap(g_env.listen, sizeof(g_env.listen), "FP_NODE_LISTEN");
    snap(g_env.executors, sizeof(g_env.executors), "FP_EXECUTORS");
    snap(g_env.slurm_ntasks, sizeof(g_env.slurm_ntasks), "SLURM_NTASKS");
    g_env.pmix_env = (getenv("PMIX_RANK") != NULL &&
                      getenv("PMIX_NAMESPACE") != NULL) ||
                     getenv("OMPI_COMM_WORLD_SIZE") != NULL;
    g_env.slurm_multi = !g_env.pmix_env && getenv("SLURM_STEP_ID") != NULL &&
                        atoi(g_env.slurm_ntasks) > 1;
    if (g_env.launch[0] == '\0' || strcmp(g_env.launch, "auto") == 0)
        g_env.mode = MODE_AUTO;
    else if (strcmp(g_env.launch, "none") == 0)
        g_env.mode = MODE_NONE;
    else if (strcmp(g_env.launch, "pmix") == 0)
        g_env.mode = MODE_PMIX;
    else
        g_env.mode = -1; /* said at the first pool: the log is there */
    fp__launcher_register(&g_launcher);
}

/* ---- what every rank finds out once ------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_done;                 /* the look (and exchange) happened */
static fp_status_t g_status;        /* its outcome: FP_OK = client */
static char g_message[FP_ERROR_MAX];
static char **g_nodes;              /* the client's nodes, kept until exit */
static size_t g_nnodes;
static char g_secret[65];           /* hex, when this rank generated it */

static void fail_once(fp_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_once(fp_status_t st, const char *fmt, ...)
{
    g_status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_message, sizeof(g_message), fmt, ap);
    va_end(ap);
}

#ifdef FP_HAVE_PMIX

/* The first non-loopback IPv4 address that is up, else 127.0.0.1. */
static void first_ipv4(char *out, size_t cap)
{
    snprintf(out, cap, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        char buf[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) != NULL) {
            snprintf(out, cap, "%s", buf);
            break;
        }
    }
    freeifaddrs(ifs);
}

/* ---- libpmix, loaded on first use ------------------------------------------ */

static struct {
    void *lib;
    __typeof__(&PMIx_Init) init;
    __typeof__(&PMIx_Finalize) finalize;
    __typeof__(&PMIx_Put) put;
    __typeof__(&PMIx_Commit) commit;
    __typeof__(&PMIx_Fence) fence;
    __typeof__(&PMIx_Get) get;
    __typeof__(&PMIx_Error_string) error_string;
    __typeof__(&PMIx_Value_destruct) value_destruct;
} px;

static pmix_proc_t g_me;

static bool pmix_load(char *why, size_t cap)
{
    /* RTLD_GLOBAL: libpmix's own plugins resolve their symbols in it */
    px.lib = dlopen("libpmix.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (px.lib == NULL) {
        snprintf(why, cap, "cannot load libpmix.so.2 (%s)", dlerror());
        return false;
    }
#define SYM(f, name)                                                           \
    do {                                                                       \
        *(void **)&px.f = dlsym(px.lib, name);                                 \
        if (px.f == NULL) {                                                    \
            snprintf(why, cap, "libpmix.so.2 has no %s", name);                \
            return false;                                                      \
        }                                                                      \
    } while (0)
    SYM(init, "PMIx_Init");
    SYM(finalize, "PMIx_Finalize");
    SYM(put, "PMIx_Put");
    SYM(commit, "PMIx_Commit");
    SYM(fence, "PMIx_Fence");
    SYM(get, "PMIx_Get");
    SYM(error_string, "PMIx_Error_string");
    SYM(value_destruct, "PMIx_Value_destruct");
#undef SYM
    return true;
}

static void value_free(pmix_value_t *v)
{
    if (v != NULL) {
        px.value_destruct(v);
        free(v);
    }
}

static void proc_of(pmix_proc_t *p, pmix_rank_t rank)
{
    memset(p, 0, sizeof(*p));
    memcpy(p->nspace, g_me.nspace, sizeof(p->nspace));
    p->rank = rank;
}

static void pmix_atexit(void)
{
    (void)px.finalize(NULL, 0);
}

static pmix_status_t put_string(const char *key, const char *s)
{
    pmix_value_t v;
    memset(&v, 0, sizeof(v));
    v.type = PMIX_STRING;
    v.data.string = (char *)s; /* PMIx_Put copies it */
    return px.put(PMIX_GLOBAL, key, &v);
}

/* Commit what was put and wait for every rank, collecting their data. */
static pmix_status_t exchange(void)
{
    pmix_status_t rc = px.commit();
    if (rc != PMIX_SUCCESS)
        return rc;
    pmix_proc_t all;
    proc_of(&all, PMIX_RANK_WILDCARD);
    pmix_info_t info;
    memset(&info, 0, sizeof(info));
    snprintf(info.key, sizeof(info.key), "%s", PMIX_COLLECT_DATA);
    info.value.type = PMIX_BOOL;
    info.value.data.flag = true;
    return px.fence(&all, 1, &info, 1);
}

/* A uint32 the launcher keeps about the job (PMIX_JOB_SIZE...). */
static bool job_u32(const char *key, uint32_t *out)
{
    pmix_proc_t all;
    proc_of(&all, PMIX_RANK_WILDCARD);
    pmix_value_t *v = NULL;
    if (px.get(&all, key, NULL, 0, &v) != PMIX_SUCCESS || v == NULL)
        return false;
    bool ok = true;
    switch (v->type) {
    case PMIX_UINT32: *out = v->data.uint32; break;
    case PMIX_UINT16: *out = v->data.uint16; break;
    case PMIX_INT: *out = (uint32_t)v->data.integer; break;
    default: ok = false;
    }
    value_free(v);
    return ok;
}

/* Node ranks on this host (the client rank not counted), at least 1. */
static unsigned local_node_ranks(pmix_rank_t client)
{
    pmix_proc_t all;
    proc_of(&all, PMIX_RANK_WILDCARD);
    pmix_value_t *v = NULL;
    unsigned n = 0;
    if (px.get(&all, PMIX_LOCAL_PEERS, NULL, 0, &v) == PMIX_SUCCESS &&
        v != NULL && v->type == PMIX_STRING && v->data.string != NULL) {
        char *copy = strdup(v->data.string), *save = NULL;
        for (char *t = copy != NULL ? strtok_r(copy, ",", &save) : NULL;
             t != NULL; t = strtok_r(NULL, ",", &save))
            n += strtoul(t, NULL, 10) != client;
        free(copy);
    } else {
        uint32_t size = 0;
        if (job_u32(PMIX_LOCAL_SIZE, &size))
            n = size;
    }
    value_free(v);
    return n > 0 ? n : 1;
}

static unsigned parse_executors(const fp__logger_t *lg)
{
    if (g_env.executors[0] == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long e = strtoul(g_env.executors, &end, 10);
    if (errno != 0 || end == g_env.executors || *end != '\0' || e < 1 ||
        e > 4096) {
        fp__warn(lg, "FP_EXECUTORS='%s' is not valid (expected an integer "
                     "from 1 to 4096); using the host's share of cores",
                 g_env.executors);
        return 0;
    }
    return (unsigned)e;
}

static fp_node_t *volatile g_serving;

static void on_signal(int sig)
{
    (void)sig;
    fp_node_t *n = g_serving;
    if (n != NULL)
        fp_node_stop(n);
}

/* A node rank: serve, then leave the process with the serve status. */
__attribute__((noreturn)) static void serve_node(fp_context_t *ctx,
                                                 pmix_rank_t client)
{
    const fp__logger_t *lg = &ctx->log;
    pmix_proc_t cp;
    proc_of(&cp, client);
    pmix_value_t *sv = NULL;
    bool set_secret = false;
    if (px.get(&cp, KEY_SECRET, NULL, 0, &sv) == PMIX_SUCCESS && sv != NULL &&
        sv->type == PMIX_STRING && sv->data.string != NULL &&
        sv->data.string[0] != '\0') {
        setenv("FP_SECRET", sv->data.string, 1);
        set_secret = true;
    }
    if (sv != NULL) {
        if (sv->type == PMIX_STRING && sv->data.string != NULL)
            OPENSSL_cleanse(sv->data.string, strlen(sv->data.string));
        value_free(sv);
    }

    /* Cores: a rank the launcher bound has its share already; unbound
     * ranks of one host split its cores, unpinned (each would pin its
     * executor 0 to the same core). */
    unsigned share = local_node_ranks(client);
    unsigned cores = fp__topo_ncores(ctx->topo);
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    bool bound = sched_getaffinity(0, sizeof(set), &set) == 0 && online > 0 &&
                 CPU_COUNT(&set) < online;
    fp_node_params_t np;
    memset(&np, 0, sizeof(np));
    np.executors = parse_executors(lg);
    if (np.executors == 0)
        np.executors = bound ? cores : (cores / share > 0 ? cores / share : 1);
    if (!bound && share > 1 && getenv("FP_PIN") == NULL)
        np.pin = FP_PIN_NONE;
    char listen[180];
    if (g_env.listen[0] != '\0') {
        snprintf(listen, sizeof(listen), "%s", g_env.listen);
    } else {
        char ip[64];
        first_ipv4(ip, sizeof(ip));
        snprintf(listen, sizeof(listen), "%s:0", ip);
    }
    np.listen = listen;
    np.exit_with_client = true;

    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_node_t *node = NULL;
    fp_status_t st = fp_node_start(ctx, &np, &node, &err);
    if (set_secret)
        unsetenv("FP_SECRET");
    char addr[FP_ERROR_MAX + 64];
    if (st != FP_OK) {
        snprintf(addr, sizeof(addr), "error: %s",
                 err.message[0] ? err.message : fp_status_string(st));
        fprintf(stderr, "fastpool: rank %u: node on %s: %s\n",
                (unsigned)g_me.rank, listen, addr + 7);
    } else {
        /* a wildcard bind is published as an address the client can reach */
        const char *bound_addr = fp_node_address(node);
        const char *colon = strrchr(bound_addr, ':');
        if (strncmp(bound_addr, "0.0.0.0:", 8) == 0 && colon != NULL) {
            char ip[64];
            first_ipv4(ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "%s%s", ip, colon);
        } else {
            snprintf(addr, sizeof(addr), "%s", bound_addr);
        }
    }
    pmix_status_t rc = put_string(KEY_NODE, addr);
    if (rc == PMIX_SUCCESS) {
        pmix_value_t v;
        memset(&v, 0, sizeof(v));
        v.type = PMIX_UINT32;
        v.data.uint32 = np.executors;
        rc = px.put(PMIX_GLOBAL, KEY_EXECUTORS, &v);
    }
    if (rc == PMIX_SUCCESS)
        rc = exchange();
    if (rc != PMIX_SUCCESS) {
        fprintf(stderr, "fastpool: rank %u: publishing the node address "
                        "through PMIx failed: %s\n",
                (unsigned)g_me.rank, px.error_string(rc));
        if (node != NULL)
            fp_node_destroy(node);
        (void)px.finalize(NULL, 0);
        exit(1);
    }
    if (node == NULL) {
        (void)px.finalize(NULL, 0);
        exit(1);
    }
    fp__info(lg, "rank %u: node %s, %u executors, for client rank %u",
             (unsigned)g_me.rank, addr, np.executors, (unsigned)client);

    g_serving = node;
    struct sigaction sa, old_term, old_int;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    (void)fp_node_wait(node, -1);
    fp_node_destroy(node); /* leaves cleanly; a second signal: at once */
    g_serving = NULL;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    (void)px.finalize(NULL, 0);
    exit(0);
}

/* The client rank: gather the node ranks' addresses. */
static void gather_nodes(uint32_t size, pmix_rank_t client)
{
    g_nodes = calloc(size > 1 ? size - 1 : 1, sizeof(*g_nodes));
    if (g_nodes == NULL) {
        fail_once(FP_ERR_NOMEM, "out of memory for %u node addresses",
                  (unsigned)size);
        return;
    }
    for (uint32_t r = 0; r < size; r++) {
        if (r == client)
            continue;
        pmix_proc_t p;
        proc_of(&p, r);
        pmix_value_t *v = NULL;
        pmix_status_t rc = px.get(&p, KEY_NODE, NULL, 0, &v);
        if (rc != PMIX_SUCCESS || v == NULL || v->type != PMIX_STRING ||
            v->data.string == NULL) {
            fail_once(FP_ERR_PEER,
                      "rank %u published no node address through PMIx (%s): "
                      "is it the same program, linked with libfastpool, "
                      "calling fp_pool_create?",
                      (unsigned)r,
                      rc != PMIX_SUCCESS ? px.error_string(rc) : "wrong type");
            value_free(v);
            return;
        }
        if (strncmp(v->data.string, "error: ", 7) == 0) {
            fail_once(FP_ERR_PEER, "rank %u could not start its node: %s",
                      (unsigned)r, v->data.string + 7);
            value_free(v);
            return;
        }
        g_nodes[g_nnodes] = strdup(v->data.string);
        value_free(v);
        if (g_nodes[g_nnodes] == NULL) {
            fail_once(FP_ERR_NOMEM, "out of memory");
            return;
        }
        g_nnodes++;
    }
    g_status = FP_OK;
}

/* The whole look, once per process, under g_lock. */
static void look(fp_context_t *ctx)
{
    char why[200];
    if (!pmix_load(why, sizeof(why))) {
        fail_once(FP_ERR_UNSUPPORTED,
                  "this process runs under a PMIx launcher but %s: it cannot "
                  "join the launcher's pool (FP_LAUNCH=none runs it alone)",
                  why);
        return;
    }
    pmix_status_t rc = px.init(&g_me, NULL, 0);
    if (rc != PMIX_SUCCESS) {
        fail_once(FP_ERR_UNSUPPORTED,
                  "PMIx_Init failed: %s (FP_LAUNCH=none runs this process "
                  "alone)",
                  px.error_string(rc));
        return;
    }
    atexit(pmix_atexit);
    uint32_t size = 0;
    if (!job_u32(PMIX_JOB_SIZE, &size) || size == 0) {
        fail_once(FP_ERR_PEER, "PMIx gives no job size (%s)", PMIX_JOB_SIZE);
        return;
    }
    pmix_rank_t client = 0;
    if (g_env.client_rank[0] != '\0') {
        char *end = NULL;
        errno = 0;
        unsigned long c = strtoul(g_env.client_rank, &end, 10);
        if (errno != 0 || end == g_env.client_rank || *end != '\0' ||
            c >= size) {
            fail_once(FP_ERR_CONFIG,
                      "FP_PMIX_CLIENT_RANK='%s' is not valid (expected a rank "
                      "from 0 to %u)",
                      g_env.client_rank, (unsigned)size - 1);
            fprintf(stderr, "fastpool: rank %u: %s\n", (unsigned)g_me.rank,
                    g_message);
            return;
        }
        client = (pmix_rank_t)c;
    }

    if (g_me.rank != client) {
        rc = exchange(); /* fence 1: the client's secret */
        if (rc != PMIX_SUCCESS) {
            fprintf(stderr, "fastpool: rank %u: PMIx fence failed: %s\n",
                    (unsigned)g_me.rank, px.error_string(rc));
            (void)px.finalize(NULL, 0);
            exit(1);
        }
        serve_node(ctx, client);
    }

    /* the client: a secret unless this rank has one (the nodes then use
     * their own, which must match) */
    /* The fences are gone through whatever happens here: the node ranks
     * wait in them. */
    g_secret[0] = '\0';
    bool no_random = false;
    if (secure_getenv("FP_SECRET_FILE") == NULL &&
        secure_getenv("FP_SECRET") == NULL) {
        unsigned char raw[32];
        if (RAND_bytes(raw, sizeof(raw)) == 1) {
            for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(g_secret + 2 * i, 3, "%02x", raw[i]);
        } else {
            no_random = true;
        }
        OPENSSL_cleanse(raw, sizeof(raw));
    }
    rc = put_string(KEY_SECRET, g_secret);
    if (rc == PMIX_SUCCESS)
        rc = exchange(); /* fence 1 */
    if (rc == PMIX_SUCCESS)
        rc = exchange(); /* fence 2: the nodes' addresses */
    if (rc != PMIX_SUCCESS) {
        fail_once(FP_ERR_PEER, "PMIx exchange with the other ranks failed: %s",
                  px.error_string(rc));
        return;
    }
    if (no_random) {
        fail_once(FP_ERR_SYSTEM, "no random bytes for the pool secret "
                                 "(OpenSSL RAND_bytes failed)");
        return;
    }
    gather_nodes(size, client);
    if (g_status == FP_OK)
        fp__info(&ctx->log, "rank %u: client of %zu node ranks",
                 (unsigned)g_me.rank, g_nnodes);
}

#else /* !FP_HAVE_PMIX */

static void look(fp_context_t *ctx)
{
    (void)ctx;
    fail_once(FP_ERR_UNSUPPORTED,
              "this process runs under a PMIx launcher (mpirun, srun "
              "--mpi=pmix) but this libfastpool was built without PMIx "
              "(install libpmix-dev and rebuild); FP_LAUNCH=none runs it "
              "alone");
}

#endif

static fp_status_t pmix_client_nodes(fp_context_t *ctx,
                                     const char *const **nodes_p,
                                     size_t *nnodes_p, fp_error_t *err)
{
    if (g_env.mode == -1) {
        static _Atomic int said;
        if (atomic_exchange(&said, 1) == 0)
            fp__warn(&ctx->log,
                     "FP_LAUNCH='%s' is not valid (expected auto, none or "
                     "pmix); using none",
                     g_env.launch);
        return FP_ERR_NOT_FOUND;
    }
    if (g_env.mode == MODE_NONE)
        return FP_ERR_NOT_FOUND;
    if (g_env.mode == MODE_AUTO && !g_env.pmix_env) {
        if (g_env.slurm_multi) {
            static _Atomic int said;
            if (atomic_exchange(&said, 1) == 0)
                fp__warn(&ctx->log,
                         "started by srun as one of %s tasks without PMIx: "
                         "each task makes a pool of its own (srun --mpi=pmix "
                         "forms one pool of them all)",
                         g_env.slurm_ntasks);
        }
        return FP_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&g_lock);
    if (!g_done) {
        look(ctx); /* a node rank does not come back */
        g_done = true;
    }
    fp_status_t st = g_status;
    if (st == FP_OK) {
        if (g_secret[0] != '\0')
            setenv("FP_SECRET", g_secret, 1); /* until created() */
        *nodes_p = (const char *const *)g_nodes;
        *nnodes_p = g_nnodes;
    } else {
        set_err(err, st, "%s", g_message);
        pthread_mutex_unlock(&g_lock);
    }
    return st; /* FP_OK: g_lock held until created() */
}

static void pmix_created(void)
{
    if (g_secret[0] != '\0')
        unsetenv("FP_SECRET");
    pthread_mutex_unlock(&g_lock);
}

static const fp__launcher_t g_launcher = {
    .name = "pmix",
    .client_nodes = pmix_client_nodes,
    .created = pmix_created,
};
