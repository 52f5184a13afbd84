/*
 * The rendezvous server, and the links nodes and clients keep to it.
 *
 * Design note.  The server only tells who is there: nodes register
 * (SRV_REGISTER: address, host, executors, GPUs, and their load again about
 * every second), clients subscribe (SRV_SUBSCRIBE) and get the nodes
 * registered now (SRV_EVENT NODE ... END) and then every JOIN and LEAVE.
 * It is never on the data path: a client connects to each node itself
 * (fp_pool_add_node), and from then on that connection alone says whether
 * the node is alive.  State is in memory only: the nodes whose connection
 * to the server is open now.  A restarted server starts empty and fills as
 * the nodes' links re-register (they retry at most 1 s apart); clients'
 * links resubscribe and get the list again.
 *
 * A LEAVE (a node said goodbye to the server, or its connection to the
 * server died) never takes work from a node a client is connected to: a
 * node that stops says goodbye to its clients itself (its queued records
 * come back as after a steal), and a dead one is found dead by the client's
 * own connection (its records rerun).  Only that direct signal changes a
 * node's state in a pool; the server may be wrong (a link between server
 * and node broken while the node serves on).  A LEAVE just forgets the
 * address, so that a later JOIN of it is added again.
 *
 * Threads: the server's transport progress thread owns every server
 * structure.  A link (fp__srv_reg_t, fp__srv_sub_t, the list query) owns a
 * transport instance and a manager thread; its state word is shared under
 * its lock, the connection pointer is the progress thread's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/futex.h"
#include "dist.h"
#include "server.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 1.0 /* the longest wait between two tries */
#define LOAD_PERIOD 1.0

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

static fp_status_t resolve(const char *host, char *ip, size_t cap, char *why,
                           size_t why_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(why, why_size, "cannot resolve '%s': %s", host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        return FP_ERR_NOT_FOUND;
    }
    const void *a = res->ai_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    if (inet_ntop(res->ai_family, a, ip, (socklen_t)cap) == NULL)
        snprintf(ip, cap, "%.63s", host);
    freeaddrinfo(res);
    return FP_OK;
}

/* An SRV_EVENT / SRV_REGISTER with its strings in one malloc'd payload. */
static fp_status_t send_srv(fp__tp_conn_t *conn, uint8_t type,
                            const fp__wire_srv_t *v)
{
    size_t len = v->address_len + v->host_len + v->reason_len;
    char *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return FP_ERR_NOMEM;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = type;
    m.u.srv = *v;
    if (v->address_len)
        memcpy(buf, v->address, v->address_len);
    if (v->host_len)
        memcpy(buf + v->address_len, v->host, v->host_len);
    if (v->reason_len)
        memcpy(buf + v->address_len + v->host_len, v->reason, v->reason_len);
    m.u.srv.address = v->address_len ? buf : NULL;
    m.u.srv.host = v->host_len ? buf + v->address_len : NULL;
    m.u.srv.reason = v->reason_len ? buf + v->address_len + v->host_len : NULL;
    fp_status_t st = fp__tp_send(conn, &m, buf, len, fp__free_on_send, buf);
    if (st != FP_OK)
        free(buf);
    return st;
}

static size_t clip(size_t len, size_t max) { return len < max ? len : max; }

/* ========================================================================== */
/* The server                                                                  */
/* ========================================================================== */

typedef struct sconn {
    struct sconn *next, *prev;
    fp__tp_conn_t *conn;
    bool subscriber, registered;
    char address[FP__WIRE_SRV_ADDR_MAX + 1];
    char host[FP__WIRE_SRV_HOST_MAX + 1];
    uint32_t executors, gpus, busy, queued;
} sconn_t;

struct fp_server {
    fp_context_t *ctx;
    const fp__logger_t *log;
    fp__tp_t *tp;
    fp__auth_secret_t *secret;
    char address[160];
    char secret_file[PATH_MAX];
    bool created, default_file; /* the secret file: made now; the default one */
    sconn_t *conns;        /* progress thread */
    atomic_size_t nodes;   /* registered now */
    atomic_uint stopped;   /* futex word (fp_server_serve) */
};

static void srv_broadcast(fp_server_t *s, const sconn_t *w, uint8_t kind,
                          const char *reason)
{
    fp__wire_srv_t v;
    memset(&v, 0, sizeof(v));
    v.kind = kind;
    v.executors = w->executors;
    v.gpus = w->gpus;
    v.busy = w->busy;
    v.queued = w->queued;
    v.address = w->address;
    v.address_len = strlen(w->address);
    v.host = w->host;
    v.host_len = strlen(w->host);
    if (reason != NULL) {
        v.reason = reason;
        v.reason_len = clip(strlen(reason), FP__WIRE_TEXT_MAX);
    }
    for (sconn_t *c = s->conns; c != NULL; c = c->next)
        if (c->subscriber && send_srv(c->conn, FP__WIRE_SRV_EVENT, &v) != FP_OK)
            fp__warn(s->log, "server: cannot tell client %s about %s",
                     fp__tp_conn_peer_id(c->conn), w->address);
}

static void srv_ready(void *arg, fp__tp_conn_t *conn)
{
    fp_server_t *s = arg;
    if (fp__tp_conn_peer_role(conn) == FP__WIRE_ROLE_SERVER) {
        fp__tp_close(conn, FP_ERR_PROTOCOL, "a server talks to nodes and "
                                            "clients only");
        return;
    }
    sconn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fp__tp_close(conn, FP_ERR_NOMEM, "server: out of memory");
        return;
    }
    c->conn = conn;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    fp__tp_conn_set_user(conn, c);
    fp__debug(s->log, "server: %s connected", fp__tp_conn_peer_id(conn));
}

/* The node's "ADDR:PORT", with a wildcard ADDR replaced by the address the
 * server sees it at. */
static bool srv_node_address(fp__tp_conn_t *conn, const fp__wire_srv_t *v,
                             char *out, size_t cap)
{
    char given[FP__WIRE_SRV_ADDR_MAX + 1];
    snprintf(given, sizeof(given), "%.*s", (int)v->address_len, v->address);
    char host[FP__WIRE_SRV_ADDR_MAX + 1], why[160];
    uint16_t port = 0;
    if (fp__parse_hostport(given, host, sizeof(host), &port, true, why,
                           sizeof(why)) != FP_OK ||
        port == 0)
        return false;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
        strcmp(host, "*") == 0) {
        char peer[64];
        snprintf(peer, sizeof(peer), "%s", fp__tp_conn_peer(conn));
        char *colon = strrchr(peer, ':');
        if (colon == NULL || colon == peer)
            return false;
        *colon = '\0';
        if (strchr(peer, ':') != NULL)
            snprintf(out, cap, "[%s]:%u", peer, (unsigned)port);
        else
            snprintf(out, cap, "%s:%u", peer, (unsigned)port);
    } else {
        snprintf(out, cap, "%s", given);
    }
    return true;
}

static void srv_message(void *arg, fp__tp_conn_t *conn, const fp__wire_msg_t *m)
{
    fp_server_t *s = arg;
    sconn_t *c = fp__tp_conn_user(conn);
    if (c == NULL)
        return;
    if (m->hdr.type == FP__WIRE_SRV_REGISTER) {
        const fp__wire_srv_t *v = &m->u.srv;
        c->executors = v->executors;
        c->gpus = v->gpus;
        c->busy = v->busy;
        c->queued = v->queued;
        if (c->registered)
            return; /* a load update */
        if (c->subscriber) {
            fp__tp_close(conn, FP_ERR_PROTOCOL, "a subscriber registers");
            return;
        }
        char addr[FP__WIRE_SRV_ADDR_MAX + 1];
        if (!srv_node_address(conn, v, addr, sizeof(addr))) {
            fp__tp_close(conn, FP_ERR_PROTOCOL,
                         "SRV_REGISTER: the address is not ADDR:PORT");
            return;
        }
        snprintf(c->address, sizeof(c->address), "%s", addr);
        snprintf(c->host, sizeof(c->host), "%.*s", (int)v->host_len,
                 v->host != NULL ? v->host : "");
        /* the same address again: a node restarted before its old
         * connection was found dead; the new one replaces it */
        for (sconn_t *o = s->conns, *n; o != NULL; o = n) {
            n = o->next;
            if (o != c && o->registered && strcmp(o->address, addr) == 0)
                fp__tp_close(o->conn, FP_ERR_EXISTS,
                             "replaced by a new registration of its address");
        }
        c->registered = true;
        atomic_fetch_add(&s->nodes, 1);
        fp__info(s->log, "server: node %s (%s, %u executors, %u GPUs) joined",
                 c->address, c->host, (unsigned)c->executors,
                 (unsigned)c->gpus);
        srv_broadcast(s, c, FP__WIRE_SRV_JOIN, NULL);
        return;
    }
    if (m->hdr.type == FP__WIRE_SRV_SUBSCRIBE) {
        if (c->registered || c->subscriber) {
            fp__tp_close(conn, FP_ERR_PROTOCOL, "SRV_SUBSCRIBE twice, or "
                                                "from a node");
            return;
        }
        c->subscriber = true;
        uint32_t n = 0;
        fp__wire_srv_t v;
        for (sconn_t *o = s->conns; o != NULL; o = o->next) {
            if (!o->registered)
                continue;
            memset(&v, 0, sizeof(v));
            v.kind = FP__WIRE_SRV_NODE;
            v.executors = o->executors;
            v.gpus = o->gpus;
            v.busy = o->busy;
            v.queued = o->queued;
            v.address = o->address;
            v.address_len = strlen(o->address);
            v.host = o->host;
            v.host_len = strlen(o->host);
            if (send_srv(conn, FP__WIRE_SRV_EVENT, &v) == FP_OK)
                n++;
        }
        memset(&v, 0, sizeof(v));
        v.kind = FP__WIRE_SRV_END;
        v.count = n;
        (void)send_srv(conn, FP__WIRE_SRV_EVENT, &v);
        fp__debug(s->log, "server: client %s subscribed (%u nodes listed)",
                  fp__tp_conn_peer_id(conn), (unsigned)n);
        return;
    }
    if (m->hdr.type == FP__WIRE_ERROR)
        return; /* logged by the transport */
    fp__tp_close(conn, FP_ERR_PROTOCOL, "a message a server does not take");
}

static void srv_closed(void *arg, fp__tp_conn_t *conn, fp_status_t st,
                       const char *reason)
{
    fp_server_t *s = arg;
    sconn_t *c = fp__tp_conn_user(conn);
    if (c == NULL)
        return;
    fp__tp_conn_set_user(conn, NULL);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->registered) {
        bool clean = st == FP_OK || st == FP_END || st == FP_ERR_CLOSED;
        char why[FP__WIRE_TEXT_MAX + 1];
        snprintf(why, sizeof(why), "%s%s", clean ? "left" : "lost: ",
                 clean ? "" : (reason != NULL ? reason : fp_status_string(st)));
        atomic_fetch_sub(&s->nodes, 1);
        fp__info(s->log, "server: node %s %s", c->address, why);
        srv_broadcast(s, c, FP__WIRE_SRV_LEAVE, why);
    }
    free(c);
}

/* ---- the secret -------------------------------------------------------------- */

static int mkdir_private(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* <XDG_CONFIG_HOME or ~/.config>/fastpool/server-PORT.secret: created with
 * 32 random bytes (hex) unless it is there already. */
static fp_status_t default_secret_file(const fp__logger_t *log, unsigned port,
                                       char *path, size_t cap, bool *created,
                                       char *why, size_t why_size)
{
    char base[PATH_MAX];
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        snprintf(base, sizeof(base), "%s", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(base, sizeof(base), "%s/.config", home);
    else {
        snprintf(why, why_size, "no HOME or XDG_CONFIG_HOME to keep a secret "
                                "in: give --secret-file");
        return FP_ERR_CONFIG;
    }
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/fastpool", base);
    if (n < 0 || (size_t)n >= sizeof(dir) ||
        (size_t)snprintf(path, cap, "%s/server-%u.secret", dir, port) >= cap) {
        snprintf(why, why_size, "the secret file's path is too long");
        return FP_ERR_CONFIG;
    }
    if (mkdir_private(base) != 0 || mkdir_private(dir) != 0) {
        snprintf(why, why_size, "cannot make directory %.200s: %s", dir,
                 strerror(errno));
        return FP_ERR_IO;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd < 0 && errno == EEXIST) {
        fp__info(log, "server: using the existing secret file %s", path);
        *created = false;
        return FP_OK;
    }
    if (fd < 0) {
        snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
        return FP_ERR_IO;
    }
    unsigned char raw[32];
    char hex[sizeof(raw) * 2 + 2];
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
        close(fd);
        unlink(path);
        snprintf(why, why_size, "RAND_bytes failed: no secret made");
        return FP_ERR_SYSTEM;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[sizeof(raw) * 2] = '\n';
    hex[sizeof(raw) * 2 + 1] = '\0';
    size_t len = sizeof(raw) * 2 + 1;
    bool ok = fchmod(fd, 0600) == 0 && write(fd, hex, len) == (ssize_t)len &&
              fsync(fd) == 0;
    memset(raw, 0, sizeof(raw));
    memset(hex, 0, sizeof(hex));
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        snprintf(why, why_size, "cannot write %s: %s", path, strerror(errno));
        return FP_ERR_IO;
    }
    *created = true;
    return FP_OK;
}

/* ---- life ------------------------------------------------------------------------ */

fp_status_t fp_server_start(fp_context_t *ctx, const fp_server_params_t *params,
                            fp_server_t **server_p, fp_error_t *err)
{
    static const fp_server_params_t defaults = {0};
    if (ctx == NULL || server_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;
    char why[300], host[128];
    char deflt[32];
    snprintf(deflt, sizeof(deflt), "0.0.0.0:%u", (unsigned)FP_SERVER_PORT);
    const char *listen = params->listen != NULL && params->listen[0] != '\0'
                             ? params->listen
                             : deflt;
    uint16_t port = 0;
    fp_status_t st = fp__parse_hostport(listen, host, sizeof(host), &port,
                                        false, why, sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "listen address '%s': %s", listen, why);
        return st;
    }
    if (strchr(listen, ':') == NULL)
        port = FP_SERVER_PORT;
    fp_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FP_ERR_NOMEM;
    s->ctx = ctx;
    s->log = &ctx->log;

    const char *file = params->secret_file;
    const char *env_file = getenv("FP_SECRET_FILE");
    const char *env_secret = getenv("FP_SECRET");
    if (file == NULL && (env_file == NULL || env_file[0] == '\0') &&
        (env_secret == NULL || env_secret[0] == '\0')) {
        st = default_secret_file(s->log, port, s->secret_file,
                                 sizeof(s->secret_file), &s->created, why,
                                 sizeof(why));
        if (st != FP_OK) {
            set_err(err, st, "secret: %s", why);
            goto fail;
        }
        file = s->secret_file;
        s->default_file = true;
    } else if (file == NULL && env_file != NULL && env_file[0] != '\0') {
        snprintf(s->secret_file, sizeof(s->secret_file), "%s", env_file);
    } else if (file != NULL) {
        snprintf(s->secret_file, sizeof(s->secret_file), "%s", file);
    }
    st = fp__auth_secret_load(file, &s->secret, why, sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "secret: %s", why);
        goto fail;
    }
    fp__tp_params_t tp;
    memset(&tp, 0, sizeof(tp));
    tp.name = "server";
    tp.secret = s->secret;
    tp.role = FP__WIRE_ROLE_SERVER;
    tp.handlers.arg = s;
    tp.handlers.on_ready = srv_ready;
    tp.handlers.on_message = srv_message;
    tp.handlers.on_closed = srv_closed;
    tp.log_fn = ctx->log.fn;
    tp.log_user_data = ctx->log.user_data;
    tp.log_level = ctx->log.level;
    st = fp__tp_create(&tp, &s->tp);
    if (st != FP_OK) {
        set_err(err, st, "transport: %s", fp_status_string(st));
        goto fail;
    }
    uint16_t bound = 0;
    st = fp__tp_listen(s->tp, host, port, &bound);
    if (st != FP_OK) {
        if (st == FP_ERR_BUSY)
            set_err(err, st,
                    "%s:%u is in use: is another fastpool-server running "
                    "there?",
                    host, (unsigned)port);
        else
            set_err(err, st, "cannot listen on %s:%u: %s", host,
                    (unsigned)port, fp_status_string(st));
        goto fail;
    }
    snprintf(s->address, sizeof(s->address), "%s:%u", host, (unsigned)bound);
    st = fp__tp_start(s->tp);
    if (st != FP_OK) {
        set_err(err, st, "cannot start the progress thread");
        goto fail;
    }
    fp__info(s->log, "server %s: secret from %s", s->address,
             fp__auth_secret_source(s->secret));
    *server_p = s;
    return FP_OK;

fail:
    if (s->tp != NULL)
        fp__tp_destroy(s->tp);
    fp__auth_secret_free(s->secret);
    free(s);
    return st;
}

const char *fp_server_address(const fp_server_t *server)
{
    return server != NULL ? server->address : "";
}

const char *fp_server_secret_file(const fp_server_t *server, bool *created_p)
{
    if (server == NULL)
        return "";
    if (created_p != NULL)
        *created_p = server->created;
    return server->secret_file;
}

size_t fp_server_node_count(fp_server_t *server)
{
    return server != NULL ? atomic_load(&server->nodes) : 0;
}

/* Run fn on the progress thread and wait for it. */
typedef struct sync_call {
    void (*fn)(void *);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} sync_call_t;

static void sync_closure(void *arg)
{
    sync_call_t *c = arg;
    c->fn(c->arg);
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void run_sync(fp__tp_t *tp, void (*fn)(void *), void *arg)
{
    sync_call_t c = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    if (fp__tp_post(tp, sync_closure, &c) == FP_OK) {
        pthread_mutex_lock(&c.lock);
        while (!c.done)
            pthread_cond_wait(&c.cond, &c.lock);
        pthread_mutex_unlock(&c.lock);
    }
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.cond);
}

static void srv_bye_all(void *arg)
{
    fp_server_t *s = arg;
    for (sconn_t *c = s->conns; c != NULL; c = c->next)
        fp__tp_goodbye(c->conn);
}

void fp_server_destroy(fp_server_t *server)
{
    if (server == NULL)
        return;
    run_sync(server->tp, srv_bye_all, server);
    struct timespec ts = {0, 50 * 1000 * 1000}; /* let GOODBYE go out */
    nanosleep(&ts, NULL);
    fp__tp_destroy(server->tp);
    fp__auth_secret_free(server->secret);
    free(server);
}

/* An address of this machine to print in the join command when bound to
 * every interface: the first IPv4 one that is up and not loopback. */
static void public_host(const char *bound_host, char *out, size_t cap)
{
    if (strcmp(bound_host, "0.0.0.0") != 0 && strcmp(bound_host, "::") != 0) {
        snprintf(out, cap, "%.45s", bound_host);
        return;
    }
    snprintf(out, cap, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        if (ntohl(sin->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)cap);
        break;
    }
    freeifaddrs(ifs);
}

static fp_server_t *volatile g_serving;

static void srv_on_signal(int sig)
{
    (void)sig;
    fp_server_t *s = g_serving;
    if (s != NULL) {
        atomic_fetch_add(&s->stopped, 1);
        fp__futex_wake(&s->stopped, 1 << 30);
    }
}

int fp_server_serve(fp_context_t *ctx, const fp_server_params_t *params)
{
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_server_t *s = NULL;
    fp_status_t st = fp_server_start(ctx, params, &s, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fastpool-server: %s\n",
                err.message[0] ? err.message : fp_status_string(st));
        return 1;
    }
    g_serving = s;
    struct sigaction sa, old_term, old_int;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = srv_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    char host[128], why[64], pub[INET6_ADDRSTRLEN + 2];
    uint16_t port = 0;
    (void)fp__parse_hostport(s->address, host, sizeof(host), &port, true, why,
                             sizeof(why));
    public_host(host, pub, sizeof(pub));
    char abs[PATH_MAX];
    if (s->secret_file[0] != '\0' && realpath(s->secret_file, abs) != NULL)
        snprintf(s->secret_file, sizeof(s->secret_file), "%s", abs);
    printf("LISTENING %s\n", s->address);
    if (s->secret_file[0] != '\0') {
        printf("secret file %s%s\n", s->secret_file,
               s->created ? " (created now; copy it to the workers' and "
                            "clients' machines, mode 0600)"
               : s->default_file
                   ? " (already there: used as it is, not overwritten)"
                   : "");
        printf("join a worker:   fastpool-worker --server %s:%u "
               "--secret-file %s\n",
               pub, (unsigned)port, s->secret_file);
        printf("use from a pool: FP_SERVER=%s:%u FP_SECRET_FILE=%s "
               "your-program\n",
               pub, (unsigned)port, s->secret_file);
    } else {
        printf("join a worker:   FP_SECRET=... fastpool-worker --server "
               "%s:%u\n",
               pub, (unsigned)port);
    }
    fflush(stdout);
    while (atomic_load(&s->stopped) == 0)
        fp__futex_wait(&s->stopped, 0, -1);
    fp__info(&ctx->log, "server %s stopping", s->address);
    g_serving = NULL;
    fp_server_destroy(s);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    return 0;
}

/* ========================================================================== */
/* Links to a server                                                           */
/* ========================================================================== */

typedef struct link link_t;

typedef struct link_ops {
    /* progress thread: the connection is ready; send the first message */
    void (*ready)(link_t *l, fp__tp_conn_t *conn);
    /* progress thread: an SRV_EVENT */
    void (*event)(link_t *l, const fp__wire_srv_t *v);
    /* manager thread, every round (at least every 100 ms), lock not held */
    void (*tick)(link_t *l);
} link_ops_t;

enum { L_IDLE, L_CONNECTING, L_READY };

struct link {
    const link_ops_t *ops;
    const fp__logger_t *log;
    char server[160];
    char ip[64];
    uint16_t port;
    fp__auth_secret_t *secret;
    fp__tp_t *tp;
    fp__tp_conn_t *conn; /* progress thread */
    pthread_t thread;
    bool thread_started;
    bool quiet;          /* the list query: no outage logs */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;
    bool stop, outage, refused;
    double ready_since; /* an outage ends once ready this long */
    unsigned tries, readies; /* connection attempts finished; times ready */
    unsigned resets;         /* handshakes reset by the server, in a row */
    char why[300];
};

static void link_ready(void *arg, fp__tp_conn_t *conn)
{
    link_t *l = arg;
    l->conn = conn;
    pthread_mutex_lock(&l->lock);
    l->state = L_READY;
    l->readies++;
    l->resets = 0;
    l->ready_since = fp__now();
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    l->ops->ready(l, conn);
}

static void link_message(void *arg, fp__tp_conn_t *conn,
                         const fp__wire_msg_t *m)
{
    link_t *l = arg;
    (void)conn;
    if (m->hdr.type == FP__WIRE_SRV_EVENT && l->ops->event != NULL)
        l->ops->event(l, &m->u.srv);
}

/* Handshakes the server resets, in a row, that count as a refusal: the
 * server closes a connection whose proof is wrong, and its ERROR saying so
 * may come after the reset (then only the reset is seen). */
#define RESETS_REFUSED 3

static void link_failed(link_t *l, fp_status_t st, const char *reason)
{
    pthread_mutex_lock(&l->lock);
    bool in_handshake = l->state == L_CONNECTING;
    l->state = L_IDLE;
    l->tries++;
    snprintf(l->why, sizeof(l->why), "%s",
             reason != NULL && reason[0] ? reason : fp_status_string(st));
    if (in_handshake && st != FP_ERR_AUTH && reason != NULL &&
        strstr(reason, "reset by remote peer") != NULL) {
        l->resets++;
        snprintf(l->why, sizeof(l->why),
                 "%.200s (the server closed the handshake: a wrong secret?)",
                 reason);
        if (l->resets >= RESETS_REFUSED) {
            st = FP_ERR_AUTH;
            reason = l->why;
        }
    } else if (!in_handshake) {
        l->resets = 0;
    }
    if (st == FP_ERR_AUTH)
        l->refused = true;
    bool log_it = !l->stop && !l->outage && !l->quiet;
    if (!l->stop)
        l->outage = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    if (log_it && st == FP_ERR_AUTH)
        fp__error(l->log, "server %s refused us: %s (is it the server's "
                          "secret?)",
                  l->server, reason != NULL ? reason : "");
    else if (log_it)
        fp__warn(l->log, "server %s unreachable: %s; trying again (at most "
                         "1 s apart) without logging each try",
                 l->server, reason != NULL ? reason : fp_status_string(st));
}

static void link_closed(void *arg, fp__tp_conn_t *conn, fp_status_t st,
                        const char *reason)
{
    link_t *l = arg;
    (void)conn; /* one connection at a time: this is it */
    l->conn = NULL;
    link_failed(l, st == FP_OK || st == FP_END ? FP_ERR_CLOSED : st,
                st == FP_OK || st == FP_END || st == FP_ERR_CLOSED
                    ? "the server closed the connection (it stopped?)"
                    : reason);
}

static void link_connect_closure(void *arg)
{
    link_t *l = arg;
    fp__tp_conn_t *c = NULL;
    fp_status_t st = fp__tp_connect(l->tp, l->ip, l->port, &c);
    if (st != FP_OK) {
        link_failed(l, st, "cannot connect");
        return;
    }
    pthread_mutex_lock(&l->lock);
    bool open = l->state != L_IDLE; /* not closed already, within connect */
    pthread_mutex_unlock(&l->lock);
    if (open)
        l->conn = c;
}

static void *link_main(void *arg)
{
    link_t *l = arg;
    double backoff = BACKOFF_MIN, next_try = 0;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        double now = fp__now();
        if (l->state == L_READY)
            backoff = BACKOFF_MIN;
        /* an outage is over once a connection has held a while (a server
         * that is stopping may still accept one last time) */
        if (l->state == L_READY && l->outage && now - l->ready_since >= 0.5) {
            l->outage = false;
            fp__warn(l->log, "server %s is back", l->server);
        }
        if (l->state == L_IDLE && !l->refused && now >= next_try) {
            l->state = L_CONNECTING;
            next_try = now + backoff;
            backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
            pthread_mutex_unlock(&l->lock);
            if (fp__tp_post(l->tp, link_connect_closure, l) != FP_OK)
                link_failed(l, FP_ERR_SYSTEM, "cannot post a connect");
            pthread_mutex_lock(&l->lock);
            continue;
        }
        pthread_mutex_unlock(&l->lock);
        if (l->ops->tick != NULL)
            l->ops->tick(l);
        pthread_mutex_lock(&l->lock);
        if (l->stop)
            break;
        double wait = 0.1;
        if (l->state == L_IDLE && next_try - fp__now() < wait)
            wait = next_try - fp__now();
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + wait;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&l->cond, &l->lock, &ts);
        }
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static fp_status_t link_init(link_t *l, const link_ops_t *ops,
                             const fp__logger_t *log, const char *server,
                             const char *secret_file, uint8_t role,
                             uint32_t executors, const char *id, bool quiet,
                             char *why, size_t why_size)
{
    memset(l, 0, sizeof(*l));
    l->ops = ops;
    l->quiet = quiet;
    l->log = log;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(l->server, sizeof(l->server), "%s", server);
    char host[128], reason[200];
    fp_status_t st = fp__parse_hostport(server, host, sizeof(host), &l->port,
                                        false, reason, sizeof(reason));
    if (st == FP_OK && strchr(server, ':') == NULL)
        l->port = FP_SERVER_PORT;
    if (st == FP_OK && l->port == 0) {
        snprintf(reason, sizeof(reason), "port 0 is not a server's port");
        st = FP_ERR_INVALID;
    }
    if (st == FP_OK)
        st = resolve(host, l->ip, sizeof(l->ip), reason, sizeof(reason));
    if (st != FP_OK) {
        snprintf(why, why_size, "server '%s': %s", server, reason);
        return st;
    }
    st = fp__auth_secret_load(secret_file, &l->secret, reason, sizeof(reason));
    if (st != FP_OK) {
        snprintf(why, why_size, "secret: %s", reason);
        return st;
    }
    fp__tp_params_t tp;
    memset(&tp, 0, sizeof(tp));
    tp.name = role == FP__WIRE_ROLE_NODE ? "node-reg" : "server-link";
    tp.secret = l->secret;
    tp.role = role;
    tp.executors = executors;
    tp.id = id;
    tp.handlers.arg = l;
    tp.handlers.on_ready = link_ready;
    tp.handlers.on_message = link_message;
    tp.handlers.on_closed = link_closed;
    if (log != NULL) {
        tp.log_fn = log->fn;
        tp.log_user_data = log->user_data;
    }
    /* each failed try would log a line there: the link says it once */
    fp_log_level_t lv = log != NULL ? log->level : fp__log_default()->level;
    tp.log_level = lv == 0 ? FP_LOG_OFF : lv <= FP_LOG_WARN ? FP_LOG_ERROR : lv;
    st = fp__tp_create(&tp, &l->tp);
    if (st == FP_OK && (st = fp__tp_start(l->tp)) != FP_OK) {
        fp__tp_destroy(l->tp);
        l->tp = NULL;
    }
    if (st != FP_OK) {
        snprintf(why, why_size, "cannot start a transport for server %s: %s",
                 server, fp_status_string(st));
        return st;
    }
    if (pthread_create(&l->thread, NULL, link_main, l) != 0) {
        snprintf(why, why_size, "cannot start a thread");
        return FP_ERR_SYSTEM;
    }
    l->thread_started = true;
    return FP_OK;
}

static void link_bye(void *arg)
{
    link_t *l = arg;
    if (l->conn != NULL) {
        fp__tp_conn_t *c = l->conn;
        fp__tp_goodbye(c);
    }
}

/* Stop the manager, say goodbye, free the transport (the link struct is
 * the caller's). */
static void link_fini(link_t *l)
{
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    if (l->tp != NULL) {
        bool ready;
        pthread_mutex_lock(&l->lock);
        ready = l->state == L_READY;
        pthread_mutex_unlock(&l->lock);
        if (ready) {
            run_sync(l->tp, link_bye, l);
            struct timespec ts = {0, 30 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        fp__tp_destroy(l->tp);
    }
    fp__auth_secret_free(l->secret);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
}

/* ---- a node registering -------------------------------------------------------- */

struct fp__srv_reg {
    link_t l; /* first */
    char address[FP__WIRE_SRV_ADDR_MAX + 1];
    char host[FP__WIRE_SRV_HOST_MAX + 1];
    unsigned executors, gpus;
    void (*load)(void *arg, unsigned *busy, unsigned *queued);
    void (*refused)(void *arg, const char *why);
    void *arg;
    atomic_uint busy, queued; /* manager -> progress thread */
    double last_load;
    bool refusal_told;
};

static void reg_send(fp__srv_reg_t *r, fp__tp_conn_t *conn)
{
    fp__wire_srv_t v;
    memset(&v, 0, sizeof(v));
    v.executors = r->executors;
    v.gpus = r->gpus;
    v.busy = atomic_load(&r->busy);
    v.queued = atomic_load(&r->queued);
    if (v.busy > v.executors)
        v.busy = v.executors;
    v.address = r->address;
    v.address_len = strlen(r->address);
    v.host = r->host;
    v.host_len = strlen(r->host);
    if (send_srv(conn, FP__WIRE_SRV_REGISTER, &v) != FP_OK)
        fp__warn(r->l.log, "cannot send the registration to server %s",
                 r->l.server);
}

static void reg_ready(link_t *l, fp__tp_conn_t *conn)
{
    fp__srv_reg_t *r = (fp__srv_reg_t *)l;
    reg_send(r, conn);
    fp__info(l->log, "node %s registered with server %s", r->address,
             l->server);
}

static void reg_load_closure(void *arg)
{
    fp__srv_reg_t *r = arg;
    if (r->l.conn != NULL) {
        pthread_mutex_lock(&r->l.lock);
        bool ready = r->l.state == L_READY;
        pthread_mutex_unlock(&r->l.lock);
        if (ready)
            reg_send(r, r->l.conn);
    }
}

static void reg_tick(link_t *l)
{
    fp__srv_reg_t *r = (fp__srv_reg_t *)l;
    pthread_mutex_lock(&l->lock);
    bool ready = l->state == L_READY, refused = l->refused;
    char why[sizeof(l->why)];
    snprintf(why, sizeof(why), "%s", l->why);
    pthread_mutex_unlock(&l->lock);
    if (refused && !r->refusal_told) {
        r->refusal_told = true;
        if (r->refused != NULL)
            r->refused(r->arg, why);
        return;
    }
    double now = fp__now();
    if (!ready || now - r->last_load < LOAD_PERIOD)
        return;
    r->last_load = now;
    unsigned busy = 0, queued = 0;
    if (r->load != NULL)
        r->load(r->arg, &busy, &queued);
    atomic_store(&r->busy, busy);
    atomic_store(&r->queued, queued);
    (void)fp__tp_post(l->tp, reg_load_closure, r);
}

static const link_ops_t reg_ops = {reg_ready, NULL, reg_tick};

fp_status_t fp__srv_reg_start(const fp__srv_reg_params_t *p,
                              fp__srv_reg_t **reg_p, char *why,
                              size_t why_size)
{
    fp__srv_reg_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return FP_ERR_NOMEM;
    snprintf(r->address, sizeof(r->address), "%s", p->address);
    snprintf(r->host, sizeof(r->host), "%s", p->host != NULL ? p->host : "");
    r->executors = p->executors;
    r->gpus = p->gpus;
    r->load = p->load;
    r->refused = p->refused;
    r->arg = p->arg;
    r->last_load = fp__now();
    char id[FP__WIRE_ID_MAX + 1];
    snprintf(id, sizeof(id), "node:%s:%ld registering %s", r->host,
             (long)getpid(), r->address);
    fp_status_t st = link_init(&r->l, &reg_ops, p->log, p->server,
                               p->secret_file, FP__WIRE_ROLE_NODE,
                               p->executors > 0 ? p->executors : 1, id, false,
                               why, why_size);
    if (st != FP_OK) {
        link_fini(&r->l);
        free(r);
        return st;
    }
    *reg_p = r;
    return FP_OK;
}

void fp__srv_reg_stop(fp__srv_reg_t *reg)
{
    if (reg == NULL)
        return;
    link_fini(&reg->l);
    free(reg);
}

/* ---- a client subscribing (and the list query) ---------------------------------- */

typedef struct sev {
    struct sev *next;
    fp__wire_srv_t v; /* strings point into the copies below */
    char address[FP__WIRE_SRV_ADDR_MAX + 1];
    char host[FP__WIRE_SRV_HOST_MAX + 1];
} sev_t;

struct fp__srv_sub {
    link_t l; /* first */
    fp_pool_t *pool;     /* NULL: the list query */
    sev_t *head, *tail;  /* under l.lock */
    unsigned ends;       /* list ENDs handled (under l.lock) */
    /* the list query: nodes gathered */
    fp_server_node_t *nodes;
    size_t n, cap;
    bool failed;
};

static void sub_ready(link_t *l, fp__tp_conn_t *conn)
{
    (void)l;
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_SRV_SUBSCRIBE;
    if (fp__tp_send(conn, &m, NULL, 0, NULL, NULL) != FP_OK)
        fp__tp_close(conn, FP_ERR_PEER, "cannot send SRV_SUBSCRIBE");
}

static void sub_event(link_t *l, const fp__wire_srv_t *v)
{
    fp__srv_sub_t *s = (fp__srv_sub_t *)l;
    sev_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->v = *v;
    snprintf(e->address, sizeof(e->address), "%.*s", (int)v->address_len,
             v->address != NULL ? v->address : "");
    snprintf(e->host, sizeof(e->host), "%.*s", (int)v->host_len,
             v->host != NULL ? v->host : "");
    e->v.address = e->address;
    e->v.host = e->host;
    e->v.reason = NULL; /* not kept */
    e->v.reason_len = 0;
    pthread_mutex_lock(&l->lock);
    if (s->tail != NULL)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void sub_list_add(fp__srv_sub_t *s, const sev_t *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap > 0 ? s->cap * 2 : 16;
        fp_server_node_t *n = realloc(s->nodes, cap * sizeof(*n));
        if (n == NULL) {
            s->failed = true;
            return;
        }
        s->nodes = n;
        s->cap = cap;
    }
    fp_server_node_t *o = &s->nodes[s->n++];
    memset(o, 0, sizeof(*o));
    snprintf(o->address, sizeof(o->address), "%s", e->address);
    snprintf(o->host, sizeof(o->host), "%s", e->host);
    o->executors = e->v.executors;
    o->gpus = e->v.gpus;
    o->busy = e->v.busy;
    o->queued = e->v.queued;
}

/* Manager thread: events in order. */
static void sub_tick(link_t *l)
{
    fp__srv_sub_t *s = (fp__srv_sub_t *)l;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        sev_t *e = s->head;
        if (e != NULL) {
            s->head = e->next;
            if (s->head == NULL)
                s->tail = NULL;
        }
        bool stop = l->stop;
        pthread_mutex_unlock(&l->lock);
        if (e == NULL)
            return;
        if (stop) {
            free(e);
            continue;
        }
        switch (e->v.kind) {
        case FP__WIRE_SRV_NODE:
        case FP__WIRE_SRV_JOIN:
            if (s->pool == NULL) {
                /* the list query: the first list only (the caller reads it
                 * once the first END is counted) */
                pthread_mutex_lock(&l->lock);
                bool first = s->ends == 0;
                pthread_mutex_unlock(&l->lock);
                if (first && e->v.kind == FP__WIRE_SRV_NODE)
                    sub_list_add(s, e);
                break;
            }
            {
                fp_error_t err;
                memset(&err, 0, sizeof(err));
                fp_status_t st = fp__dpool_add_node(s->pool, e->address, &err);
                if (st == FP_OK)
                    fp__info(l->log, "server %s: node %s added", l->server,
                             e->address);
                else if (st != FP_ERR_EXISTS)
                    fp__warn(l->log,
                             "server %s lists node %s, but it cannot be "
                             "added: %s",
                             l->server, e->address,
                             err.message[0] ? err.message
                                            : fp_status_string(st));
            }
            break;
        case FP__WIRE_SRV_LEAVE:
            /* the node's own connection decides (see the top of this
             * file): nothing to take back here */
            fp__debug(l->log, "server %s: node %s left the server",
                      l->server, e->address);
            break;
        case FP__WIRE_SRV_END:
            pthread_mutex_lock(&l->lock);
            s->ends++;
            pthread_cond_broadcast(&l->cond);
            pthread_mutex_unlock(&l->lock);
            break;
        default:
            break;
        }
        free(e);
    }
}

static const link_ops_t sub_ops = {sub_ready, sub_event, sub_tick};

static fp_status_t sub_new(fp_pool_t *pool, const char *server,
                           const char *secret_file, const fp__logger_t *log,
                           bool quiet, fp__srv_sub_t **sub_p, fp_error_t *err)
{
    fp__srv_sub_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return FP_ERR_NOMEM;
    s->pool = pool;
    char why[400];
    fp_status_t st = link_init(&s->l, &sub_ops, log, server, secret_file,
                               FP__WIRE_ROLE_CLIENT, 0, NULL, quiet, why,
                               sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "%s", why);
        link_fini(&s->l);
        free(s);
        return st;
    }
    *sub_p = s;
    return FP_OK;
}

static void sub_free(fp__srv_sub_t *s)
{
    link_fini(&s->l);
    for (sev_t *e = s->head, *n; e != NULL; e = n) {
        n = e->next;
        free(e);
    }
    free(s->nodes);
    free(s);
}

/* Wait for the first list (its END handled), the first failure, or the
 * deadline. */
static fp_status_t sub_wait_list(fp__srv_sub_t *s, double timeout,
                                 fp_error_t *err)
{
    link_t *l = &s->l;
    double deadline = fp__now() + timeout;
    fp_status_t st = FP_OK;
    pthread_mutex_lock(&l->lock);
    while (s->ends == 0) {
        if (l->tries > 0 && l->state != L_READY) {
            st = l->refused ? FP_ERR_AUTH : FP_ERR_PEER;
            set_err(err, st, "server %.100s: %.140s%s", l->server, l->why,
                    l->refused ? " (wrong secret? the pool's secret must be "
                                 "the server's)"
                               : " (is a fastpool-server running there?)");
            break;
        }
        double left = deadline - fp__now();
        if (left <= 0) {
            st = FP_ERR_TIMEOUT;
            set_err(err, st, "server %.100s: no answer within %g s",
                    l->server, timeout);
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 +
                   (left < 0.1 ? left : 0.1);
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&l->cond, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

fp_status_t fp__srv_sub_start(fp_pool_t *pool, const char *server,
                              double timeout, const fp__logger_t *log,
                              fp__srv_sub_t **sub_p, fp_error_t *err)
{
    fp__srv_sub_t *s = NULL;
    fp_status_t st = sub_new(pool, server, NULL, log, false, &s, err);
    if (st != FP_OK)
        return st;
    st = sub_wait_list(s, timeout > 0 ? timeout : 10.0, err);
    if (st != FP_OK) {
        sub_free(s);
        return st;
    }
    *sub_p = s;
    return FP_OK;
}

void fp__srv_sub_stop(fp__srv_sub_t *sub)
{
    if (sub != NULL)
        sub_free(sub);
}

fp_status_t fp_server_nodes(const char *server, const char *secret_file,
                            fp_server_node_t **nodes_p, size_t *n_p,
                            fp_error_t *err)
{
    if (nodes_p == NULL || n_p == NULL)
        return FP_ERR_INVALID;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (server == NULL)
        server = getenv("FP_SERVER");
    if (server == NULL || server[0] == '\0') {
        set_err(err, FP_ERR_INVALID, "no server given (HOST:PORT, or set "
                                     "FP_SERVER)");
        return FP_ERR_INVALID;
    }
    fp__srv_sub_t *s = NULL;
    fp_status_t st = sub_new(NULL, server, secret_file, NULL, true, &s, err);
    if (st != FP_OK)
        return st;
    st = sub_wait_list(s, 10.0, err);
    if (st == FP_OK && s->failed) {
        st = FP_ERR_NOMEM;
        set_err(err, st, "out of memory for the list of nodes");
    }
    if (st == FP_OK) {
        *nodes_p = s->n > 0 ? s->nodes : NULL;
        *n_p = s->n;
        if (s->n > 0)
            s->nodes = NULL;
    }
    sub_free(s);
    return st;
}

void fp_server_nodes_free(fp_server_node_t *nodes)
{
    free(nodes);
}
