/*
 * The rendezvous server (fastpool-server), its workers and its clients,
 * over TCP.  One program in several roles:
 *
 *   test_server CASE                    a case (below): exit 0 / 1 / 77
 *   test_server --node SERVER LISTEN N  a node registering with SERVER
 *                                       (fp_node_serve), its tasks here
 *
 * Cases:
 *   map            two nodes register; the server lists them (fp_server_nodes
 *                  and fastpool-server --list); a pool given only the server
 *                  has both and maps right
 *   join           a node started while a map runs gets some of its work
 *                  (JOINED event; elements that ran in its process)
 *   leave          of three nodes one gets SIGTERM and one SIGKILL during a
 *                  map: LEFT and DIED events, no result lost or wrong, and
 *                  the server lists only the third afterwards
 *   secret         a worker with a wrong secret is refused and exits 1 with
 *                  a message saying so; a client with a wrong secret fails
 *                  pool creation naming the server and the secret
 *   restart        the server is stopped while a map runs (the map is not
 *                  disturbed) and started again: the nodes register again
 *                  by themselves (one outage line in their logs), a new pool
 *                  sees them and maps
 *   ports          a second server on the same address, a second worker on
 *                  the same listen port: refused, non-zero exit, clear text
 *   secret_file    without a secret the server makes one: mode 0600 in a
 *                  0700 directory, named in the join command it prints; a
 *                  second start reuses it unchanged
 *   server_down    a pool pointed at a server that is not there fails within
 *                  its connect_timeout, naming the server
 *   late           a node started before its server registers once the
 *                  server is up (one outage line); a pool made while the
 *                  server lists no node starts empty, and a map on it waits
 *                  for a node to join (node_wait) and completes right
 *
 * Placement: on this host's loopback, or with FP_TEST_NODE_NS="ns:ip,..."
 * (tests/server/in_netns.sh) the server in the first namespace, the nodes
 * in the others and this client where it runs.  FP_TEST_SERVER and
 * FP_TEST_WORKER name the fastpool-server and fastpool-worker programs.
 * Logs of the processes started go to a fresh directory under /tmp (kept
 * when a case fails, or with FP_TEST_KEEP).
 */
#include <fastpool/fastpool.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fp_test.h"
#include "fp_test_node.h"

static char g_self[4096];
static char g_dir[256];
static int g_failed;

#define CHECK(c, ...)                                                          \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);       \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (logs in %s)\n", g_dir);                         \
            g_failed = 1;                                                      \
            cleanup_all();                                                     \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the task ---------------------------------------------------------- */

typedef struct out {
    uint64_t sq;
    int32_t pid;
    int32_t pad;
    int64_t t_ns; /* when it started, CLOCK_REALTIME */
} out_t;

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* x -> x*x, the pid of the process that ran it and when; sleeps `ms`
 * (the element's high 16 bits) first.  srv_task.c is the same task for
 * fastpool-worker --module. */
static fp_status_t srv_work(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)t;
    (void)n;
    int64_t t0 = real_ns();
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    unsigned ms = (unsigned)(x >> 48);
    x &= 0xffffffffffffull;
    if (ms > 0)
        sleep_s(ms / 1000.0);
    out_t r = {x * x, (int32_t)getpid(), 0, t0};
    memcpy(o->data, &r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("srv.work", srv_work)

/* ---- processes --------------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    char addr[128]; /* from its LISTENING line */
    char log[300];  /* its stderr */
    char out[300];  /* its stdout after the first line */
} proc_t;

#define MAXP 16
static proc_t *g_procs[MAXP];

static void cleanup_all(void)
{
    for (int i = 0; i < MAXP; i++)
        if (g_procs[i] != NULL && g_procs[i]->pid > 0) {
            kill(g_procs[i]->pid, SIGKILL);
            waitpid(g_procs[i]->pid, NULL, 0);
            g_procs[i]->pid = 0;
        }
    if (!g_failed && getenv("FP_TEST_KEEP") == NULL && g_dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) {
        }
    }
}

static void track(proc_t *p)
{
    for (int i = 0; i < MAXP; i++)
        if (g_procs[i] == NULL || g_procs[i] == p) {
            g_procs[i] = p;
            return;
        }
}

/* Start argv in namespace `ns` ("" here), stderr to a log named `name`;
 * with `want_line`, wait for its "LISTENING ADDR" first line (else fail).
 * `env`: "K=V" pairs, NULL-terminated (or NULL). */
static void start(proc_t *p, const char *name, const char *ns,
                  char *const argv[], const char *const *env, bool want_line)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "%s/%s.log", g_dir, name);
    snprintf(p->out, sizeof(p->out), "%s/%s.out", g_dir, name);
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        if (ns != NULL && ns[0] != '\0') {
            char *args[32];
            int k = 0;
            args[k++] = (char *)"ip";
            args[k++] = (char *)"netns";
            args[k++] = (char *)"exec";
            args[k++] = (char *)ns;
            for (int i = 0; argv[i] != NULL && k < 31; i++)
                args[k++] = argv[i];
            args[k] = NULL;
            execvp("ip", args);
        } else {
            execv(argv[0], argv);
        }
        _exit(127);
    }
    close(pfd[1]);
    p->pid = pid;
    track(p);
    if (want_line) {
        FILE *f = fdopen(pfd[0], "r");
        char line[512] = "";
        bool ok = fgets(line, sizeof(line), f) != NULL &&
                  sscanf(line, "LISTENING %127s", p->addr) == 1;
        /* the rest of stdout goes to a file (a thread-free copy) */
        FILE *o = fopen(p->out, "w");
        if (ok && o != NULL) {
            /* the server prints its join lines at once: read what is
             * there without blocking for long */
            int fl = fcntl(pfd[0], F_GETFL);
            fcntl(pfd[0], F_SETFL, fl | O_NONBLOCK);
            sleep_s(0.1);
            while (fgets(line, sizeof(line), f) != NULL)
                fputs(line, o);
        }
        if (o != NULL)
            fclose(o);
        fclose(f);
        CHECK(ok, "%s did not start (got '%s'; log %s)", name, line, p->log);
    } else {
        close(pfd[0]);
    }
}

/* SIGTERM/SIGKILL and reap: the exit code, or 128+signal. */
static int stop(proc_t *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    if (sig != 0)
        kill(p->pid, sig);
    int st = 0;
    waitpid(p->pid, &st, 0);
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait for exit at most `timeout` s: the exit code, or -1 (still running). */
static int wait_exit(proc_t *p, double timeout)
{
    double end = now_s() + timeout;
    while (now_s() < end) {
        int st = 0;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_s(0.05);
    }
    return -1;
}

static bool file_has(const char *path, const char *text, int *count)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, text) != NULL)
            n++;
    fclose(f);
    if (count != NULL)
        *count = n;
    return n > 0;
}

static const char *server_prog(void)
{
    const char *s = getenv("FP_TEST_SERVER");
    return s != NULL ? s : "fastpool-server";
}

static const char *worker_prog(void)
{
    const char *s = getenv("FP_TEST_WORKER");
    return s != NULL ? s : "fastpool-worker";
}

static const char *const g_child_env[] = {"FP_LOG_LEVEL=warn", NULL};

/* The server, in placement 0; its address as clients reach it. */
static void server_start(proc_t *p, unsigned port, char *addr, size_t cap)
{
    char ns[64], ip[64], listen[96];
    fp_test_node_place(0, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "%s:%u", ns[0] ? "0.0.0.0" : ip, port);
    char *argv[] = {(char *)server_prog(), (char *)"--listen", listen, NULL};
    start(p, "server", ns, argv, g_child_env, true);
    char *colon = strrchr(p->addr, ':');
    snprintf(addr, cap, "%s:%s", ip, colon != NULL ? colon + 1 : "0");
}

/* Node i (placement i, so 1.. avoid the server's host when namespaces
 * are there): this program, registering with `server`. */
static void node_start(proc_t *p, int i, const char *server, unsigned executors)
{
    char ns[64], ip[64], listen[96], ex[16], name[32];
    fp_test_node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "%s:0", ns[0] ? "0.0.0.0" : ip);
    snprintf(ex, sizeof(ex), "%u", executors);
    snprintf(name, sizeof(name), "node%d", i);
    char *argv[] = {g_self, (char *)"--node", (char *)server, listen, ex, NULL};
    start(p, name, ns, argv, g_child_env, true);
}

static size_t server_count(const char *server)
{
    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    if (fp_server_nodes(server, NULL, &nodes, &n, &err) != FP_OK)
        return (size_t)-1;
    fp_server_nodes_free(nodes);
    return n;
}

static void wait_count(const char *server, size_t want, double timeout)
{
    double end = now_s() + timeout;
    size_t n = 0;
    while (now_s() < end) {
        n = server_count(server);
        if (n == want)
            return;
        sleep_s(0.1);
    }
    CHECK(false, "the server lists %zu nodes, not %zu, after %g s", n, want,
          timeout);
}

/* ---- on_node events ------------------------------------------------------ */

typedef struct evlog {
    atomic_int n;
    struct {
        int kind;
        char address[128];
    } ev[64];
} evlog_t;

static void on_node(void *arg, const fp_node_event_t *ev)
{
    evlog_t *l = arg;
    int i = atomic_load(&l->n);
    if (i >= 64)
        return;
    l->ev[i].kind = ev->kind;
    snprintf(l->ev[i].address, sizeof(l->ev[i].address), "%s", ev->address);
    atomic_store(&l->n, i + 1);
}

static bool saw(evlog_t *l, int kind, const char *port_suffix, double timeout)
{
    double end = now_s() + timeout;
    do {
        int n = atomic_load(&l->n);
        for (int i = 0; i < n; i++) {
            const char *a = l->ev[i].address;
            size_t al = strlen(a), sl = strlen(port_suffix);
            if (l->ev[i].kind == kind && al >= sl &&
                strcmp(a + al - sl, port_suffix) == 0)
                return true;
        }
        sleep_s(0.05);
    } while (now_s() < end);
    return false;
}

static const char *port_of(const char *addr) { return strrchr(addr, ':'); }

/* ---- maps ------------------------------------------------------------------ */

static uint64_t *make_in(size_t n, unsigned ms)
{
    uint64_t *in = malloc(n * sizeof(*in));
    for (size_t i = 0; i < n; i++)
        in[i] = (uint64_t)ms << 48 | (i + 1);
    return in;
}

static void check_out(const out_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(out[i].sq == (uint64_t)(i + 1) * (i + 1) && out[i].pid > 0,
              "element %zu: %llu from pid %d", i,
              (unsigned long long)out[i].sq, (int)out[i].pid);
}

static size_t ran_in(const out_t *out, size_t n, pid_t pid)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += out[i].pid == (int32_t)pid;
    return k;
}

static fp_pool_t *pool_on(fp_context_t *ctx, const char *server, evlog_t *ev)
{
    fp_pool_params_t pp = {.server = server, .on_node = ev ? on_node : NULL,
                           .on_node_arg = ev, .connect_timeout = 10,
                           .node_wait = 10};
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t st = fp_pool_create(ctx, &pp, &pool, &err);
    CHECK(st == FP_OK, "pool on server %s: %s: %s", server,
          fp_status_string(st), err.message);
    return pool;
}

/* ---- cases --------------------------------------------------------------------- */

static int case_map(fp_context_t *ctx)
{
    proc_t srv, n1, n2;
    char server[128];
    server_start(&srv, 0, server, sizeof(server));
    node_start(&n1, 1, server, 2);
    node_start(&n2, 2, server, 3);
    wait_count(server, 2, 10);

    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    CHECK(fp_server_nodes(server, NULL, &nodes, &n, &err) == FP_OK, "%s",
          err.message);
    unsigned ex = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(nodes[i].host[0] != '\0' && nodes[i].busy <= nodes[i].executors,
              "node %zu", i);
        CHECK(strncmp(nodes[i].address, "0.0.0.0", 7) != 0,
              "the server lists a wildcard address %s", nodes[i].address);
        ex += nodes[i].executors;
    }
    fp_server_nodes_free(nodes);
    CHECK(ex == 5, "the server lists %u executors, not 5", ex);

    /* fastpool-server --list */
    char cmd[1200], list[400];
    snprintf(list, sizeof(list), "%s/list.out", g_dir);
    snprintf(cmd, sizeof(cmd), "'%s' --list %s > '%s' 2>&1", server_prog(),
             server, list);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(file_has(list, port_of(n1.addr), NULL) &&
              file_has(list, port_of(n2.addr), NULL),
          "--list names both nodes (%s)", list);

    evlog_t ev;
    memset(&ev, 0, sizeof(ev));
    fp_pool_t *pool = pool_on(ctx, server, &ev);
    CHECK(fp_pool_node_count(pool) == 2, "%zu nodes", fp_pool_node_count(pool));
    CHECK(fp_pool_size(pool) == 5, "%u executors", fp_pool_size(pool));
    size_t count = 3000;
    uint64_t *in = make_in(count, 0);
    out_t *out = calloc(count, sizeof(*out));
    CHECK(fp_map(pool, "srv.work", in, 8, count, out, sizeof(*out), NULL, NULL) ==
              FP_OK,
          "map");
    check_out(out, count);
    CHECK(ran_in(out, count, n1.pid) > 0 && ran_in(out, count, n2.pid) > 0,
          "both nodes ran elements (%zu, %zu)", ran_in(out, count, n1.pid),
          ran_in(out, count, n2.pid));
    fp_pool_destroy(pool);
    free(in);
    free(out);
    stop(&n1, SIGTERM);
    stop(&n2, SIGTERM);
    stop(&srv, SIGTERM);
    return 0;
}

typedef struct async_map {
    fp_future_t *f;
    uint64_t *in;
    out_t *out;
    size_t n;
} async_map_t;

static void map_start(fp_pool_t *pool, async_map_t *m, size_t n, unsigned ms)
{
    m->n = n;
    m->in = make_in(n, ms);
    m->out = calloc(n, sizeof(*m->out));
    CHECK(fp_map_async(pool, "srv.work", m->in, 8, n, m->out, sizeof(*m->out),
                       NULL, &m->f) == FP_OK,
          "map_async");
}

static void map_end(async_map_t *m)
{
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t st = fp_future_get(m->f, 120, &err);
    CHECK(st == FP_OK, "map: %s: %s", fp_status_string(st), err.message);
    check_out(m->out, m->n);
    fp_future_release(m->f);
}

static void map_free(async_map_t *m)
{
    free(m->in);
    free(m->out);
}

static int case_join(fp_context_t *ctx)
{
    proc_t srv, n1, n2;
    char server[128];
    server_start(&srv, 0, server, sizeof(server));
    node_start(&n1, 1, server, 2);
    wait_count(server, 1, 10);
    evlog_t ev;
    memset(&ev, 0, sizeof(ev));
    fp_pool_t *pool = pool_on(ctx, server, &ev);
    async_map_t m;
    map_start(pool, &m, 800, 5); /* 2 s on one node alone */
    sleep_s(0.3);
    /* the one that joins: fastpool-worker, its task from a module */
    char ns[64], ip[64], listen[96];
    fp_test_node_place(2, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "%s:0", ns[0] ? "0.0.0.0" : ip);
    const char *module = getenv("FP_TEST_SRV_MODULE");
    CHECK(module != NULL, "FP_TEST_SRV_MODULE names the task module");
    char *argv[] = {(char *)worker_prog(), (char *)"--server", server,
                    (char *)"--listen", listen, (char *)"--executors",
                    (char *)"2", (char *)"--module", (char *)module, NULL};
    int64_t t_start = real_ns();
    start(&n2, "worker2", ns, argv, g_child_env, true);
    CHECK(saw(&ev, FP_EVENT_JOINED, port_of(n2.addr), 10),
          "no JOINED event for %s", n2.addr);
    map_end(&m);
    size_t k = ran_in(m.out, m.n, n2.pid);
    CHECK(k > 0, "the node that joined ran nothing");
    int64_t first = INT64_MAX;
    for (size_t i = 0; i < m.n; i++)
        if (m.out[i].pid == (int32_t)n2.pid && m.out[i].t_ns < first)
            first = m.out[i].t_ns;
    printf("the node that joined ran %zu of %zu elements\n", k, m.n);
    /* benchmarks/server/run.sh reads this line */
    printf("JOIN_FIRST_TASK seconds=%.3f\n", (double)(first - t_start) * 1e-9);
    map_free(&m);
    fp_pool_destroy(pool);
    stop(&n1, SIGTERM);
    stop(&n2, SIGTERM);
    stop(&srv, SIGTERM);
    return 0;
}

static int case_leave(fp_context_t *ctx)
{
    proc_t srv, n1, n2, n3;
    char server[128];
    server_start(&srv, 0, server, sizeof(server));
    node_start(&n1, 1, server, 2);
    node_start(&n2, 2, server, 2);
    node_start(&n3, 3, server, 2);
    wait_count(server, 3, 10);
    evlog_t ev;
    memset(&ev, 0, sizeof(ev));
    fp_pool_t *pool = pool_on(ctx, server, &ev);
    CHECK(fp_pool_node_count(pool) == 3, "%zu nodes", fp_pool_node_count(pool));
    async_map_t m;
    map_start(pool, &m, 900, 5);
    sleep_s(0.4);
    kill(n1.pid, SIGTERM);
    sleep_s(0.2);
    CHECK(stop(&n2, SIGKILL) == 128 + SIGKILL, "kill");
    map_end(&m);
    CHECK(wait_exit(&n1, 20) == 0, "the node given SIGTERM exits 0");
    CHECK(saw(&ev, FP_EVENT_LEFT, port_of(n1.addr), 10), "no LEFT for %s",
          n1.addr);
    CHECK(saw(&ev, FP_EVENT_DIED, port_of(n2.addr), 10), "no DIED for %s",
          n2.addr);
    wait_count(server, 1, 10);
    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    CHECK(fp_server_nodes(server, NULL, &nodes, &n, &err) == FP_OK, "%s",
          err.message);
    CHECK(n == 1 && strcmp(port_of(nodes[0].address), port_of(n3.addr)) == 0,
          "the server lists %s", n > 0 ? nodes[0].address : "nothing");
    fp_server_nodes_free(nodes);
    map_free(&m);
    fp_pool_destroy(pool);
    stop(&n3, SIGTERM);
    stop(&srv, SIGTERM);
    return 0;
}

static void write_secret(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

static int case_secret(fp_context_t *ctx)
{
    proc_t srv, w;
    char server[128], wrong[300];
    server_start(&srv, 0, server, sizeof(server));
    snprintf(wrong, sizeof(wrong), "%s/wrong.secret", g_dir);
    write_secret(wrong, "not-the-secret-of-this-server-at-all\n");
    char ns[64], ip[64];
    fp_test_node_place(1, ns, sizeof(ns), ip, sizeof(ip));
    char listen[96];
    snprintf(listen, sizeof(listen), "%s:0", ns[0] ? "0.0.0.0" : ip);
    char *argv[] = {(char *)worker_prog(), (char *)"--server", server,
                    (char *)"--listen", listen, (char *)"--secret-file", wrong,
                    NULL};
    start(&w, "wrong-worker", ns, argv, g_child_env, true);
    int rc = wait_exit(&w, 15);
    CHECK(rc == 1, "a worker with a wrong secret exits 1 (got %d)", rc);
    CHECK(file_has(w.log, "refused", NULL), "its log says it was refused (%s)",
          w.log);
    CHECK(server_count(server) == 0, "it is not listed");

    /* a client with the wrong secret */
    const char *keep = getenv("FP_SECRET_FILE");
    char saved[300];
    snprintf(saved, sizeof(saved), "%s", keep != NULL ? keep : "");
    setenv("FP_SECRET_FILE", wrong, 1);
    fp_pool_params_t pp = {.server = server, .connect_timeout = 5};
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    double t0 = now_s();
    fp_status_t st = fp_pool_create(ctx, &pp, &pool, &err);
    setenv("FP_SECRET_FILE", saved, 1);
    CHECK(st != FP_OK, "a pool with the wrong secret was created");
    CHECK(strstr(err.message, server) != NULL &&
              strstr(err.message, "secret") != NULL,
          "the error names the server and the secret: '%s'", err.message);
    CHECK(now_s() - t0 < 6, "it took %.1f s", now_s() - t0);
    printf("client refused: %s\n", err.message);
    stop(&srv, SIGTERM);
    return 0;
}

static int case_restart(fp_context_t *ctx)
{
    proc_t srv, n1, n2;
    char server[128];
    /* a fixed port: the restarted server must be where the nodes look */
    unsigned port = 17000 + (unsigned)(getpid() % 3000);
    server_start(&srv, port, server, sizeof(server));
    node_start(&n1, 1, server, 2);
    node_start(&n2, 2, server, 2);
    wait_count(server, 2, 10);
    fp_pool_t *old = pool_on(ctx, server, NULL);
    async_map_t m;
    map_start(old, &m, 600, 5);
    sleep_s(0.2);
    CHECK(stop(&srv, SIGTERM) == 0, "the server exits 0 on SIGTERM");
    sleep_s(1.5);
    server_start(&srv, port, server, sizeof(server));
    map_end(&m); /* undisturbed */
    map_free(&m);
    wait_count(server, 2, 10);
    fp_pool_t *pool = pool_on(ctx, server, NULL);
    CHECK(fp_pool_node_count(pool) == 2, "a new pool has %zu nodes",
          fp_pool_node_count(pool));
    size_t count = 500;
    uint64_t *in = make_in(count, 0);
    out_t *out = calloc(count, sizeof(*out));
    CHECK(fp_map(pool, "srv.work", in, 8, count, out, sizeof(*out), NULL, NULL) ==
              FP_OK,
          "map");
    check_out(out, count);
    free(in);
    free(out);
    fp_pool_destroy(pool);
    fp_pool_destroy(old);
    sleep_s(1.0); /* "is back" is logged once the link has held 0.5 s */
    stop(&n1, SIGTERM);
    stop(&n2, SIGTERM);
    int lines = 0;
    file_has(n1.log, "unreachable", &lines);
    CHECK(lines == 1, "node 1 logged the outage %d times, not once (%s)",
          lines, n1.log);
    CHECK(file_has(n1.log, "is back", NULL), "node 1 logged its return");
    stop(&srv, SIGTERM);
    return 0;
}

static int case_ports(fp_context_t *ctx)
{
    (void)ctx;
    proc_t srv, s2, w1, w2;
    char server[128];
    server_start(&srv, 0, server, sizeof(server));
    char *a1[] = {(char *)server_prog(), (char *)"--listen", srv.addr, NULL};
    start(&s2, "server2", "", a1, g_child_env, false);
    int rc = wait_exit(&s2, 15);
    CHECK(rc != 0 && rc != -1, "a second server on %s exits non-zero (%d)",
          srv.addr, rc);
    CHECK(file_has(s2.log,
                   "is in use: is another fastpool-server running there?",
                   NULL),
          "it says why (%s)", s2.log);
    char *a2[] = {(char *)worker_prog(), (char *)"--server", server,
                  (char *)"--listen", (char *)"127.0.0.1:0", NULL};
    start(&w1, "worker1", "", a2, g_child_env, true);
    char *a3[] = {(char *)worker_prog(), (char *)"--server", server,
                  (char *)"--listen", w1.addr, NULL};
    start(&w2, "worker2", "", a3, g_child_env, false);
    rc = wait_exit(&w2, 15);
    CHECK(rc != 0 && rc != -1, "a second worker on %s exits non-zero (%d)",
          w1.addr, rc);
    CHECK(file_has(w2.log,
                   "is in use: is another fastpool-worker running there?",
                   NULL),
          "it says why (%s)", w2.log);
    stop(&w1, SIGTERM);
    stop(&srv, SIGTERM);
    return 0;
}

static int case_secret_file(fp_context_t *ctx)
{
    (void)ctx;
    char cfg[300], path[400], cmd[1200];
    snprintf(cfg, sizeof(cfg), "%s/cfg", g_dir);
    unsigned port = 17000 + (unsigned)(getpid() % 3000);
    snprintf(path, sizeof(path), "%s/fastpool/server-%u.secret", cfg, port);
    char xdg[360], listen[64];
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", cfg);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *env[] = {"FP_LOG_LEVEL=warn", xdg, "FP_SECRET_FILE=",
                         "FP_SECRET=", NULL};
    char *argv[] = {(char *)server_prog(), (char *)"--listen", listen, NULL};
    proc_t srv;
    start(&srv, "server", "", argv, env, true);
    struct stat sf, sd;
    CHECK(stat(path, &sf) == 0, "no secret file %s", path);
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/fastpool", cfg);
    CHECK(stat(dir, &sd) == 0, "%s", dir);
    CHECK((sf.st_mode & 0777) == 0600, "file mode %o", sf.st_mode & 0777);
    CHECK((sd.st_mode & 0777) == 0700, "directory mode %o", sd.st_mode & 0777);
    CHECK(sf.st_size == 65, "%lld bytes (64 hex + newline)",
          (long long)sf.st_size);
    snprintf(cmd, sizeof(cmd), "fastpool-worker --server 127.0.0.1:%u "
                               "--secret-file %s", port, path);
    CHECK(file_has(srv.out, cmd, NULL), "the join command '%s' (in %s)", cmd,
          srv.out);
    /* the file works: a worker with it registers */
    char *wa[] = {(char *)worker_prog(), (char *)"--server", listen,
                  (char *)"--secret-file", path, (char *)"--listen",
                  (char *)"127.0.0.1:0", NULL};
    proc_t w;
    start(&w, "worker", "", wa, g_child_env, true);
    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    double end = now_s() + 10;
    while (now_s() < end) {
        if (fp_server_nodes(listen, path, &nodes, &n, &err) == FP_OK && n == 1)
            break;
        fp_server_nodes_free(nodes);
        nodes = NULL;
        sleep_s(0.1);
    }
    CHECK(n == 1, "the worker with the made secret is listed (%s)",
          err.message);
    fp_server_nodes_free(nodes);
    stop(&w, SIGTERM);
    stop(&srv, SIGTERM);
    /* again: the same file, not overwritten */
    char before[80] = "", after[80] = "";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL && fgets(before, sizeof(before), f) != NULL, "read");
    fclose(f);
    start(&srv, "server-again", "", argv, env, true);
    f = fopen(path, "r");
    CHECK(f != NULL && fgets(after, sizeof(after), f) != NULL, "read");
    fclose(f);
    CHECK(strcmp(before, after) == 0, "the secret file was rewritten");
    CHECK(!file_has(srv.out, "created now", NULL), "it says it made it again");
    stop(&srv, SIGTERM);
    return 0;
}

static int case_server_down(fp_context_t *ctx)
{
    char ns[64], ip[64], server[128];
    fp_test_node_place(0, ns, sizeof(ns), ip, sizeof(ip));
    /* a port nobody listens on */
    snprintf(server, sizeof(server), "%s:%u", ip,
             20000 + (unsigned)(getpid() % 3000));
    fp_pool_params_t pp = {.server = server, .connect_timeout = 3};
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    double t0 = now_s();
    fp_status_t st = fp_pool_create(ctx, &pp, &pool, &err);
    double took = now_s() - t0;
    CHECK(st != FP_OK, "a pool on a server that is not there");
    CHECK(strstr(err.message, server) != NULL, "the error names %s: '%s'",
          server, err.message);
    CHECK(took < 4.5, "it took %.1f s (connect_timeout 3)", took);
    printf("server down: %s (%.2f s)\n", err.message, took);
    return 0;
}

static int case_late(fp_context_t *ctx)
{
    proc_t srv, n1, n2;
    char server[128], ns[64], ip[64];
    unsigned port = 17000 + (unsigned)(getpid() % 3000);
    fp_test_node_place(0, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(server, sizeof(server), "%s:%u", ip, port);
    node_start(&n1, 1, server, 2); /* no server yet */
    sleep_s(1.5);
    server_start(&srv, port, server, sizeof(server));
    wait_count(server, 1, 5);
    stop(&n1, SIGTERM);
    int lines = 0;
    file_has(n1.log, "unreachable", &lines);
    CHECK(lines == 1, "the node logged the wait for its server %d times, not "
                      "once (%s)", lines, n1.log);
    wait_count(server, 0, 10);

    /* an empty pool fills */
    evlog_t ev;
    memset(&ev, 0, sizeof(ev));
    fp_pool_t *pool = pool_on(ctx, server, &ev);
    CHECK(fp_pool_node_count(pool) == 0, "%zu nodes", fp_pool_node_count(pool));
    async_map_t m;
    map_start(pool, &m, 200, 0);
    sleep_s(0.5);
    node_start(&n2, 2, server, 2);
    map_end(&m);
    CHECK(ran_in(m.out, m.n, n2.pid) == m.n, "the node that came ran it all");
    CHECK(saw(&ev, FP_EVENT_JOINED, port_of(n2.addr), 5), "no JOINED");
    map_free(&m);
    fp_pool_destroy(pool);
    stop(&n2, SIGTERM);
    stop(&srv, SIGTERM);
    return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int node_main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    fp_context_t *ctx;
    if (fp_context_create(NULL, &ctx) != FP_OK)
        return 1;
    fp_node_params_t p = {.server = argv[2], .listen = argv[3],
                          .executors = (unsigned)atoi(argv[4])};
    int rc = fp_node_serve(ctx, &p);
    fp_context_destroy(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--node") == 0)
        return node_main(argc, argv);
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
    if (l <= 0)
        return 1;
    g_self[l] = '\0';
    fp_test_secret_env();
    snprintf(g_dir, sizeof(g_dir), "/tmp/fp-server-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    fp_context_t *ctx;
    if (fp_context_create(NULL, &ctx) != FP_OK)
        return 1;
    static const struct {
        const char *name;
        int (*fn)(fp_context_t *);
    } cases[] = {
        {"map", case_map},           {"join", case_join},
        {"leave", case_leave},       {"secret", case_secret},
        {"restart", case_restart},   {"ports", case_ports},
        {"secret_file", case_secret_file},
        {"server_down", case_server_down}, {"late", case_late},
    };
    int rc = 2;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            double t0 = now_s();
            rc = cases[i].fn(ctx);
            printf("%s: %s in %.2f s\n", argv[1], rc == 0 ? "ok" : "FAILED",
                   now_s() - t0);
        }
    if (rc == 2)
        fprintf(stderr, "unknown case '%s'\n", argv[1]);
    fp_context_destroy(ctx);
    cleanup_all();
    return rc;
}
