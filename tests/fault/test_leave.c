/*
 * Leave and join, sharing nodes (issue 10, points 3 and 6), over TCP.  One
 * program in several roles:
 *
 *   test_leave CASE                 a case (below), exit 0 / 1 / 77 (skip)
 *   test_leave --node               a node (fp_node_serve), its tasks here
 *   test_leave --client KIND ADDR.. a client process of a case
 *
 * Cases:
 *   sigterm           SIGTERM to one of two nodes in the middle of a long
 *                     map: every result right, each element run exactly
 *                     once (the tasks log each run), the node exits 0 and
 *                     logs that it left with what it handed back
 *   sigterm_bulk      the same with results of 96 KiB an element (BULK: the
 *                     node waits for those sends before its goodbye)
 *   sharing           two client processes at once on the same two nodes,
 *                     each with its own worker class and init data
 *   client_killed     a client killed (SIGKILL) while its long map is on a
 *                     node: the node tears its pool down (fini hook ran,
 *                     marker file), drops its queued work (no more runs
 *                     two seconds later), another client on the same node
 *                     finishes unaffected
 *   force             a second SIGTERM, or FP_NODE_LEAVE_TIMEOUT, closes a
 *                     node's connections at once while its tasks still run
 *                     (the calls fail there and then); it exits 0
 *   exit_with_client  fastpool-worker --exit-with-client exits 0 soon after
 *                     its only client is killed
 *
 * Over TCP on this host's loopback, or with FP_TEST_NODE_NS="ns1:ip1,ns2:ip2"
 * (tests/dist/in_netns.sh) the nodes in network namespaces and the clients
 * in the namespace this program runs in.  Nodes log at info level into files in a fresh directory under /tmp
 * (kept, and named, when a case fails or FP_TEST_KEEP is set).
 */
#include <fastpool/fastpool.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
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

#define CHECK(c, ...)                                                          \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);       \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (logs in %s)\n", g_dir);                         \
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

/* ---- tasks and worker classes (on the nodes) ----------------------------- */

/* the argument of lv.work: which element, how long, whose */
typedef struct warg {
    uint64_t index, sleep_us, tag;
} warg_t;

static uint64_t work_value(const warg_t *a) { return a->index * 3 + 7 + (a->tag << 40); }

/* Append one line to the file FP_TEST_EXECLOG names (one write: O_APPEND
 * keeps lines whole across executors). */
static void exec_log(const char *fmt, ...) FP_PRINTF(1, 2);
static void exec_log(const char *fmt, ...)
{
    const char *path = getenv("FP_TEST_EXECLOG");
    if (path == NULL)
        return;
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n) {
        /* the check on the client side sees the line missing */
    }
    close(fd);
}

static unsigned char fill_byte(uint64_t index, size_t k)
{
    return (unsigned char)(index * 31 + k);
}

/* sleeps, logs the run "tag index pid", returns {value, pid} (and, in a
 * larger output, bytes that depend on the index) */
static fp_status_t lv_work(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                           fp_buf_t *o)
{
    (void)t;
    (void)n;
    warg_t w;
    memcpy(&w, a[0].data, sizeof(w));
    sleep_s((double)w.sleep_us * 1e-6);
    exec_log("%llu %llu %ld\n", (unsigned long long)w.tag,
             (unsigned long long)w.index, (long)getpid());
    uint64_t r[2] = {work_value(&w), (uint64_t)getpid()};
    memcpy(o->data, r, sizeof(r));
    for (size_t k = sizeof(r); k < o->size; k++)
        ((unsigned char *)o->data)[k] = fill_byte(w.index, k);
    return FP_OK;
}
FP_TASK_REGISTER_AS("lv.work", lv_work)

/* two worker classes: a tag and the init data's byte sum per executor */
typedef struct wstate {
    uint64_t tag, init_sum;
} wstate_t;

static uint64_t byte_sum(const void *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const unsigned char *)p)[i];
    return s;
}

static fp_status_t wc_a_init(fp_task_t *t, void *state, fp_cbuf_t init)
{
    (void)t;
    wstate_t *s = state;
    s->tag = 0xA;
    s->init_sum = byte_sum(init.data, init.size);
    return FP_OK;
}

static fp_status_t wc_b_init(fp_task_t *t, void *state, fp_cbuf_t init)
{
    (void)t;
    wstate_t *s = state;
    s->tag = 0xB;
    s->init_sum = byte_sum(init.data, init.size) * 2;
    return FP_OK;
}

static fp_worker_class_t g_wc_a = {.name = "lv.wcA",
                                   .state_size = sizeof(wstate_t),
                                   .init = wc_a_init};
FP_WORKER_CLASS_REGISTER(g_wc_a)
static fp_worker_class_t g_wc_b = {.name = "lv.wcB",
                                   .state_size = sizeof(wstate_t),
                                   .init = wc_b_init};
FP_WORKER_CLASS_REGISTER(g_wc_b)

/* {tag, init_sum + x} */
static fp_status_t lv_state(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)n;
    wstate_t *s = fp_task_state(t);
    if (s == NULL)
        return fp_task_error(t, FP_ERR_STATE, "no worker state");
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    uint64_t r[2] = {s->tag, s->init_sum + x};
    memcpy(o->data, r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("lv.state", lv_state)

/* a class whose fini hook appends "fini PID" to the file its init data
 * names */
typedef struct fstate {
    char path[256];
} fstate_t;

static fp_status_t wc_fini_init(fp_task_t *t, void *state, fp_cbuf_t init)
{
    fstate_t *s = state;
    if (init.size == 0 || init.size >= sizeof(s->path))
        return fp_task_error(t, FP_ERR_INVALID, "want a marker path");
    memcpy(s->path, init.data, init.size);
    s->path[init.size] = '\0';
    return FP_OK;
}

static void wc_fini_fini(fp_task_t *t, void *state)
{
    (void)t;
    fstate_t *s = state;
    int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "fini %ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n) {
        /* the case sees the marker missing */
    }
    close(fd);
}

static fp_worker_class_t g_wc_fini = {.name = "lv.fini",
                                      .state_size = sizeof(fstate_t),
                                      .init = wc_fini_init,
                                      .fini = wc_fini_fini};
FP_WORKER_CLASS_REGISTER(g_wc_fini)

/* ---- processes -------------------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    char addr[96];
    char log[320];
} proc_t;

/* Start `argv` (argv[0] the program) with stderr into `log`, extra "K=V"
 * environment, FP_LOG_LEVEL=info; when `want_listen`, read its first line
 * "LISTENING ADDR" into p->addr. */
static void proc_start(proc_t *p, char *const argv[], const char *log,
                       const char *const *env, bool want_listen)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->log, sizeof(p->log), "%s", log);
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lfd >= 0)
            dup2(lfd, 2);
        /* a client's stdout goes to its log too */
        dup2(want_listen || lfd < 0 ? pfd[1] : lfd, 1);
        close(pfd[0]);
        close(pfd[1]);
        setenv("FP_LOG_LEVEL", "info", 1);
        for (size_t k = 0; env != NULL && env[k] != NULL; k++) {
            char kv[512];
            snprintf(kv, sizeof(kv), "%s", env[k]);
            char *eq = strchr(kv, '=');
            if (eq != NULL) {
                *eq = '\0';
                setenv(kv, eq + 1, 1);
            }
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    p->pid = pid;
    if (want_listen) {
        FILE *f = fdopen(pfd[0], "r");
        char line[256] = "";
        if (fgets(line, sizeof(line), f) == NULL ||
            sscanf(line, "LISTENING %95s", p->addr) != 1)
            CHECK(false, "%s did not start (got '%s')", argv[0], line);
        fclose(f);
    } else {
        close(pfd[0]);
    }
}

/* Where the i-th node goes (fp_test_node.h). */
static void node_place(int i, char *ns, size_t nscap, char *ip, size_t ipcap)
{
    fp_test_node_place(i, ns, nscap, ip, ipcap);
}

/* Start `argv` (a NULL-ended list of at most 12) as the i-th node's host
 * runs it: in its namespace, if any. */
static void place_start(proc_t *p, int i, char *const argv[], const char *log,
                        const char *const *env, bool want_listen)
{
    char ns[64], ip[64];
    node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    char *full[16];
    size_t k = 0;
    if (ns[0] != '\0') {
        full[k++] = "ip";
        full[k++] = "netns";
        full[k++] = "exec";
        full[k++] = ns;
    }
    for (size_t j = 0; argv[j] != NULL && k < 15; j++)
        full[k++] = argv[j];
    full[k] = NULL;
    proc_start(p, full, log, env, want_listen);
}

static void node_start(proc_t *p, int i, const char *name,
                       const char *const *env)
{
    char log[320], ns[64], ip[64], listen[96];
    snprintf(log, sizeof(log), "%s/%s.log", g_dir, name);
    node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "FP_NODE_LISTEN=%s:0", ip);
    const char *all[8];
    size_t k = 0;
    all[k++] = listen;
    for (size_t j = 0; env != NULL && env[j] != NULL && k < 7; j++)
        all[k++] = env[j];
    all[k] = NULL;
    char *argv[] = {g_self, "--node", NULL};
    place_start(p, i, argv, log, all, true);
}

/* Wait for p to exit, at most `timeout` seconds: its wait status, or -1
 * (still running). */
static int proc_wait(proc_t *p, double timeout)
{
    double end = now_s() + timeout;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return st;
        }
        if (now_s() >= end)
            return -1;
        sleep_s(0.01);
    }
}

static void proc_kill(proc_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
}

/* SIGTERM, then it must exit 0 within `timeout` seconds. */
static void node_stop_ok(proc_t *p, double timeout)
{
    kill(p->pid, SIGTERM);
    int st = proc_wait(p, timeout);
    CHECK(st != -1, "node %s still running %g s after SIGTERM", p->addr,
          timeout);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "node %s ended with status 0x%x after SIGTERM", p->addr, st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    size_t got;
    while ((got = fread(b + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            b = realloc(b, cap);
        }
    }
    b[len] = '\0';
    fclose(f);
    return b;
}

static size_t count_lines_with(const char *path, const char *prefix)
{
    char *b = slurp(path);
    size_t n = 0, pl = strlen(prefix);
    for (char *l = b; *l != '\0';) {
        char *e = strchr(l, '\n');
        if (strncmp(l, prefix, pl) == 0)
            n++;
        if (e == NULL)
            break;
        l = e + 1;
    }
    free(b);
    return n;
}

static fp_pool_t *pool_on(fp_context_t *ctx, const char *const *addrs,
                          size_t k, const char *wc, const void *init,
                          size_t init_len)
{
    fp_pool_params_t p = {0};
    p.nodes = addrs;
    p.nnodes = k;
    p.connect_timeout = 10;
    p.worker_class = wc;
    p.init_data.data = init;
    p.init_data.size = init_len;
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    fp_status_t st = fp_pool_create(ctx, &p, &pool, &err);
    CHECK(st == FP_OK, "pool on %zu nodes: %s", k, err.message);
    return pool;
}

/* ---- client processes ---------------------------------------------------------- */

/* sharing: KIND A or B; maps lv.state for at least a second, checks
 * every result against its own class and init data */
static int client_share(char kind, const char *const *addrs, size_t k)
{
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *init = kind == 'A' ? "alpha" : "bravo-bravo-bravo";
    fp_pool_t *pool = pool_on(ctx, addrs, k, kind == 'A' ? "lv.wcA" : "lv.wcB",
                              init, strlen(init));
    const uint64_t tag = kind == 'A' ? 0xA : 0xB;
    const uint64_t sum = byte_sum(init, strlen(init)) * (kind == 'A' ? 1 : 2);
    enum { N = 5000 };
    uint64_t *in = malloc(N * 8), *out = malloc(N * 16);
    for (uint64_t i = 0; i < N; i++)
        in[i] = i * 7 + (uint64_t)kind;
    double end = now_s() + 1.5;
    int rounds = 0;
    while (now_s() < end || rounds < 3) {
        memset(out, 0, N * 16);
        fp_error_t err = {0};
        fp_status_t st = fp_map(pool, "lv.state", in, 8, N, out, 16, NULL, &err);
        CHECK(st == FP_OK, "client %c: map: %s", kind, err.message);
        for (size_t i = 0; i < N; i++)
            CHECK(out[2 * i] == tag && out[2 * i + 1] == sum + in[i],
                  "client %c element %zu: {%llx, %llu}, want {%llx, %llu}",
                  kind, i, (unsigned long long)out[2 * i],
                  (unsigned long long)out[2 * i + 1], (unsigned long long)tag,
                  (unsigned long long)(sum + in[i]));
        rounds++;
    }
    printf("client %c: %d rounds of %d elements right\n", kind, rounds, N);
    free(in);
    free(out);
    fp_pool_destroy(pool);
    fp_context_destroy(ctx);
    return 0;
}

/* client_killed's victim: a pool of class lv.fini (init data: the marker
 * path) and a map of 10,000 x 10 ms that it never sees finish */
static int client_victim(const char *addr, const char *marker)
{
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *addrs[] = {addr};
    fp_pool_t *pool = pool_on(ctx, addrs, 1, "lv.fini", marker, strlen(marker));
    enum { N = 10000 };
    warg_t *in = calloc(N, sizeof(*in));
    uint64_t *out = calloc(N, 16);
    for (uint64_t i = 0; i < N; i++)
        in[i] = (warg_t){i, 10000, 1};
    printf("MAPPING\n");
    fflush(stdout);
    fp_error_t err = {0};
    (void)fp_map(pool, "lv.work", in, sizeof(warg_t), N, out, 16, NULL, &err);
    fprintf(stderr, "victim: the map ended, it should have been killed\n");
    return 1;
}

/* client_killed's other client: 400 x 5 ms on the same node, all right */
static int client_other(const char *addr)
{
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *addrs[] = {addr};
    fp_pool_t *pool = pool_on(ctx, addrs, 1, NULL, NULL, 0);
    enum { N = 400 };
    warg_t *in = calloc(N, sizeof(*in));
    uint64_t *out = calloc(N, 16);
    for (uint64_t i = 0; i < N; i++)
        in[i] = (warg_t){i, 5000, 2};
    fp_error_t err = {0};
    double t0 = now_s();
    fp_status_t st = fp_map(pool, "lv.work", in, sizeof(warg_t), N, out, 16,
                            NULL, &err);
    CHECK(st == FP_OK, "other client: map: %s", err.message);
    for (size_t i = 0; i < N; i++)
        CHECK(out[2 * i] == work_value(&in[i]), "other client: element %zu", i);
    printf("other client: %d elements right in %.2f s\n", N, now_s() - t0);
    free(in);
    free(out);
    fp_pool_destroy(pool);
    fp_context_destroy(ctx);
    return 0;
}

/* exit_with_client's client: a pool open on the node, then wait to be
 * killed */
static int client_hold(const char *addr)
{
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *addrs[] = {addr};
    fp_pool_t *pool = pool_on(ctx, addrs, 1, NULL, NULL, 0);
    CHECK(fp_pool_size(pool) > 0, "no executors");
    printf("READY\n");
    fflush(stdout);
    sleep_s(60);
    return 1;
}

/* ---- cases --------------------------------------------------------------------- */

/* `osize`: each element's result bytes (from the rendezvous threshold,
 * 64 KiB, they come back as BULK) */
static int case_sigterm(size_t osize)
{
    const char *env[] = {NULL, NULL};
    char el[320];
    snprintf(el, sizeof(el), "FP_TEST_EXECLOG=%s/exec.log", g_dir);
    env[0] = el;
    proc_t nodes[2];
    node_start(&nodes[0], 0, "node0", env);
    node_start(&nodes[1], 1, "node1", env);
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *addrs[] = {nodes[0].addr, nodes[1].addr};
    fp_pool_t *pool = pool_on(ctx, addrs, 2, NULL, NULL, 0);
    enum { N = 600 };
    warg_t *in = calloc(N, sizeof(*in));
    unsigned char *outb = calloc(N, osize);
    CHECK(outb != NULL, "memory");
    for (uint64_t i = 0; i < N; i++)
        in[i] = (warg_t){i, 20000, 0};
    fp_future_t *fut = NULL;
    double t0 = now_s();
    CHECK(fp_map_async(pool, "lv.work", in, sizeof(warg_t), N, outb, osize,
                       NULL, &fut) == FP_OK,
          "map_async");
    sleep_s(0.6);
    CHECK(!fp_future_done(fut), "the map ended before the SIGTERM");
    const uint64_t pid0 = (uint64_t)nodes[0].pid, pid1 = (uint64_t)nodes[1].pid;
    double t_term = now_s();
    kill(nodes[0].pid, SIGTERM);
    int st = proc_wait(&nodes[0], 30);
    double t_exit = now_s();
    CHECK(st != -1, "node0 still running 30 s after SIGTERM");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "node0 status 0x%x", st);
    fp_error_t err = {0};
    fp_status_t fst = fp_future_get(fut, 60, &err);
    double t_end = now_s();
    CHECK(fst == FP_OK, "map: %s (%s)", fp_status_string(fst), err.message);
    fp_future_release(fut);
    /* every element right, from one of the two nodes */
    uint64_t *out = calloc(N, 16);
    for (size_t i = 0; i < N; i++) {
        memcpy(&out[2 * i], outb + i * osize, 16);
        for (size_t k = 16; k < osize; k++)
            CHECK(outb[i * osize + k] == fill_byte(i, k),
                  "element %zu: byte %zu wrong", i, k);
    }
    free(outb);
    size_t from0 = 0;
    for (size_t i = 0; i < N; i++) {
        CHECK(out[2 * i] == work_value(&in[i]), "element %zu: %llu", i,
              (unsigned long long)out[2 * i]);
        CHECK(out[2 * i + 1] == pid0 || out[2 * i + 1] == pid1,
              "element %zu from pid %llu", i,
              (unsigned long long)out[2 * i + 1]);
        from0 += out[2 * i + 1] == pid0;
    }
    /* each element ran exactly once, where its result says */
    char path[320];
    snprintf(path, sizeof(path), "%s/exec.log", g_dir);
    char *b = slurp(path);
    unsigned char *runs = calloc(N, 1);
    for (char *l = b; *l != '\0';) {
        unsigned long long tag, idx;
        long pid;
        CHECK(sscanf(l, "%llu %llu %ld", &tag, &idx, &pid) == 3 && tag == 0 &&
                  idx < N,
              "exec log line '%.40s'", l);
        CHECK(++runs[idx] == 1, "element %llu ran twice", idx);
        CHECK((uint64_t)pid == out[2 * idx + 1],
              "element %llu ran on %ld, its result came from %llu", idx, pid,
              (unsigned long long)out[2 * idx + 1]);
        char *e = strchr(l, '\n');
        if (e == NULL)
            break;
        l = e + 1;
    }
    for (size_t i = 0; i < N; i++)
        CHECK(runs[i] == 1, "element %zu never ran", i);
    free(runs);
    free(b);
    /* the node's log: it left, with what it was running and handed back */
    char *log = slurp(nodes[0].log);
    const char *l = strstr(log, " leaving: ");
    unsigned running = 0, back = 0;
    CHECK(l != NULL && sscanf(l, " leaving: %u running, %u handed back",
                              &running, &back) == 2,
          "node0's log has no 'leaving: N running, M handed back'");
    CHECK(running >= 1, "node0 was running nothing at the SIGTERM");
    CHECK(strstr(log, "goodbye to 1 clients") != NULL,
          "node0's log does not say goodbye");
    free(log);
    printf("sigterm (%zu-byte results): %d x 20 ms on 2 nodes x 2 "
           "executors; SIGTERM at %.2f s: "
           "node0 left %.3f s later (%u records running, %u handed back), "
           "exit 0; %zu elements from node0; map done at %.2f s; every "
           "element ran once\n",
           osize, N, t_term - t0, t_exit - t_term, running, back, from0,
           t_end - t0);
    fp_pool_destroy(pool);
    fp_context_destroy(ctx);
    node_stop_ok(&nodes[1], 30);
    free(in);
    free(out);
    return 0;
}

static int case_sharing(void)
{
    proc_t nodes[2], c[2];
    node_start(&nodes[0], 0, "node0", NULL);
    node_start(&nodes[1], 1, "node1", NULL);
    for (int k = 0; k < 2; k++) {
        char log[320];
        snprintf(log, sizeof(log), "%s/client%c.log", g_dir, 'A' + k);
        char *argv[] = {g_self, "--client", k == 0 ? "A" : "B",
                        nodes[0].addr, nodes[1].addr, NULL};
        proc_start(&c[k], argv, log, NULL, false);
    }
    for (int k = 0; k < 2; k++) {
        int st = proc_wait(&c[k], 60);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "client %c: status 0x%x (see %s)", 'A' + k, st, c[k].log);
    }
    for (int k = 0; k < 2; k++) {
        char *log = slurp(nodes[k].log);
        CHECK(strstr(log, "worker class lv.wcA") != NULL &&
                  strstr(log, "worker class lv.wcB") != NULL,
              "node%d did not serve both clients' pools", k);
        free(log);
        node_stop_ok(&nodes[k], 30);
    }
    printf("sharing: two clients, classes lv.wcA / lv.wcB, both nodes, all "
           "results right\n");
    return 0;
}

static int case_client_killed(void)
{
    char el[320], marker[320];
    snprintf(el, sizeof(el), "FP_TEST_EXECLOG=%s/exec.log", g_dir);
    snprintf(marker, sizeof(marker), "%s/fini.marker", g_dir);
    const char *env[] = {el, "FP_EXECUTORS=2", NULL};
    proc_t node, victim, other;
    node_start(&node, 0, "node", env);
    char vlog[320], olog[320];
    snprintf(vlog, sizeof(vlog), "%s/victim.log", g_dir);
    snprintf(olog, sizeof(olog), "%s/other.log", g_dir);
    {
        /* the victim tells when its map is out */
        int pfd[2];
        CHECK(pipe(pfd) == 0, "pipe");
        char *argv[] = {g_self, "--client", "victim", node.addr, marker, NULL};
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int lfd = open(vlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (lfd >= 0)
                dup2(lfd, 2);
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
            execv(argv[0], argv);
            _exit(127);
        }
        close(pfd[1]);
        memset(&victim, 0, sizeof(victim));
        victim.pid = pid;
        FILE *f = fdopen(pfd[0], "r");
        char line[64] = "";
        CHECK(fgets(line, sizeof(line), f) != NULL &&
                  strncmp(line, "MAPPING", 7) == 0,
              "the victim did not start its map (see %s)", vlog);
        fclose(f);
    }
    char *oargv[] = {g_self, "--client", "other", node.addr, NULL};
    proc_start(&other, oargv, olog, NULL, false);
    sleep_s(0.5);
    proc_kill(&victim);
    double t_kill = now_s();
    /* the node sees the connection break, tears the pool down */
    char *log = NULL;
    bool torn = false;
    while (!torn && now_s() < t_kill + 2) {
        sleep_s(0.05);
        free(log);
        log = slurp(node.log);
        torn = strstr(log, "torn down") != NULL;
    }
    double t_torn = now_s();
    CHECK(torn, "no 'torn down' in the node's log 2 s after the kill");
    const char *cl = strstr(log, " closing: ");
    unsigned dropped = 0, running = 0;
    CHECK(cl != NULL && sscanf(cl, " closing: %u records dropped unstarted, "
                                   "%u running",
                               &dropped, &running) == 2,
          "the node's log does not say what it dropped");
    free(log);
    size_t fini = count_lines_with(marker, "fini ");
    CHECK(fini == 2, "%zu fini hooks ran, want 2 (one per executor)", fini);
    char path[320];
    snprintf(path, sizeof(path), "%s/exec.log", g_dir);
    sleep_s(t_kill + 1.0 - now_s() > 0 ? t_kill + 1.0 - now_s() : 0);
    size_t ran1 = count_lines_with(path, "1 ");
    sleep_s(1.0);
    size_t ran2 = count_lines_with(path, "1 ");
    CHECK(ran1 == ran2, "the victim's tasks still run 1 s after the kill "
                        "(%zu, then %zu)", ran1, ran2);
    CHECK(ran2 < 10000, "the victim's whole map ran");
    int st = proc_wait(&other, 60);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "the other client: status 0x%x (see %s)", st, olog);
    size_t others = count_lines_with(path, "2 ");
    CHECK(others == 400, "the other client's elements ran %zu times", others);
    node_stop_ok(&node, 30);
    printf("client_killed: pool torn down %.2f s after the kill (%u records "
           "dropped unstarted, %u ran to their end), %zu fini hooks, the "
           "victim's tasks ran %zu times and stopped, the other client's 400 "
           "all right\n",
           t_torn - t_kill, dropped, running, fini, ran2);
    return 0;
}

/* the immediate stop: a second SIGTERM, or FP_NODE_LEAVE_TIMEOUT, while
 * tasks of 4 s run */
static int case_force(void)
{
    const char *env_a[] = {"FP_NODE_LEAVE_TIMEOUT=0.5", "FP_EXECUTORS=2", NULL};
    const char *env_b[] = {"FP_EXECUTORS=2", NULL};
    proc_t a, b;
    node_start(&a, 0, "nodeA", env_a);
    node_start(&b, 1, "nodeB", env_b);
    fp_context_t *ctx;
    CHECK(fp_context_create(NULL, &ctx) == FP_OK, "context");
    const char *aa[] = {a.addr}, *ba[] = {b.addr};
    fp_pool_t *pa = pool_on(ctx, aa, 1, NULL, NULL, 0);
    fp_pool_t *pb = pool_on(ctx, ba, 1, NULL, NULL, 0);
    warg_t in[2] = {{0, 3000000, 3}, {1, 3000000, 3}};
    uint64_t oa[4], ob[4];
    fp_future_t *fa = NULL, *fb = NULL;
    CHECK(fp_map_async(pa, "lv.work", in, sizeof(warg_t), 2, oa, 16, NULL,
                       &fa) == FP_OK &&
              fp_map_async(pb, "lv.work", in, sizeof(warg_t), 2, ob, 16, NULL,
                           &fb) == FP_OK,
          "map_async");
    sleep_s(0.5);
    double t0 = now_s();
    kill(a.pid, SIGTERM);
    kill(b.pid, SIGTERM);
    CHECK(proc_wait(&b, 0.3) == -1, "node B did not wait for its tasks");
    CHECK(!fp_future_done(fb), "node B's call ended at the first SIGTERM");
    kill(b.pid, SIGTERM);
    double t_second = now_s();
    /* its connection closes at once: the call fails there and then (the
     * process ends when the elements running end: a thread is not stopped
     * mid-task) */
    fp_status_t fsb = fp_future_get(fb, 1.5, NULL);
    double took_b = now_s() - t_second;
    CHECK(fsb != FP_OK && fsb != FP_ERR_TIMEOUT,
          "node B's call after a second SIGTERM: %s", fp_status_string(fsb));
    fp_status_t fsa = fp_future_get(fa, 2.5, NULL);
    double took_a = now_s() - t0;
    CHECK(fsa != FP_OK && fsa != FP_ERR_TIMEOUT,
          "node A's call with FP_NODE_LEAVE_TIMEOUT=0.5: %s",
          fp_status_string(fsa));
    CHECK(took_a >= 0.4, "node A stopped after %.2f s, before its bound",
          took_a);
    int sb = proc_wait(&b, 10), sa = proc_wait(&a, 10);
    CHECK(sb != -1 && WIFEXITED(sb) && WEXITSTATUS(sb) == 0,
          "node B after a second SIGTERM: status 0x%x", sb);
    CHECK(sa != -1 && WIFEXITED(sa) && WEXITSTATUS(sa) == 0,
          "node A after its bound: status 0x%x", sa);
    char *la = slurp(a.log), *lb = slurp(b.log);
    CHECK(strstr(la, "FP_NODE_LEAVE_TIMEOUT") != NULL,
          "node A's log does not name the bound");
    CHECK(strstr(lb, "stop asked again") != NULL,
          "node B's log does not say why it stopped at once");
    free(la);
    free(lb);
    fp_future_release(fa);
    fp_future_release(fb);
    fp_pool_destroy(pa);
    fp_pool_destroy(pb);
    fp_context_destroy(ctx);
    printf("force: tasks of 3 s; FP_NODE_LEAVE_TIMEOUT=0.5: node A's call "
           "failed %.2f s after SIGTERM; a second SIGTERM: node B's %.1f ms "
           "later; both exit 0\n",
           took_a, took_b * 1e3);
    return 0;
}

static int case_exit_with_client(void)
{
    const char *worker = getenv("FP_TEST_WORKER");
    if (worker == NULL) {
        printf("SKIP: FP_TEST_WORKER not set\n");
        return 77;
    }
    char wlog[320], clog[320];
    snprintf(wlog, sizeof(wlog), "%s/worker.log", g_dir);
    snprintf(clog, sizeof(clog), "%s/client.log", g_dir);
    char ns[64], ip[64], listen[96];
    node_place(0, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "%s:0", ip);
    char *wargv[] = {(char *)worker, "--listen", listen, "--executors",
                     "2", "--exit-with-client", NULL};
    proc_t w, c;
    place_start(&w, 0, wargv, wlog, NULL, true);
    /* no client yet: it stays */
    CHECK(proc_wait(&w, 0.5) == -1, "the worker exited before any client");
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int lfd = open(clog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lfd >= 0)
            dup2(lfd, 2);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char *argv[] = {g_self, "--client", "hold", w.addr, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    memset(&c, 0, sizeof(c));
    c.pid = pid;
    FILE *f = fdopen(pfd[0], "r");
    char line[64] = "";
    CHECK(fgets(line, sizeof(line), f) != NULL && strncmp(line, "READY", 5) == 0,
          "the client did not open its pool (see %s)", clog);
    fclose(f);
    CHECK(proc_wait(&w, 0.2) == -1, "the worker exited with its client there");
    proc_kill(&c);
    double t0 = now_s();
    int st = proc_wait(&w, 2.0);
    double took = now_s() - t0;
    if (st == -1)
        proc_kill(&w);
    CHECK(st != -1, "the worker still runs 2 s after its client was killed");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker: status 0x%x", st);
    char *log = slurp(wlog);
    CHECK(strstr(log, "last client has gone") != NULL,
          "the worker's log does not say why it stopped");
    free(log);
    printf("exit_with_client: the worker exited 0 %.3f s after its client was "
           "killed\n",
           took);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--node") == 0) {
        fp_context_t *ctx;
        if (fp_context_create(NULL, &ctx) != FP_OK)
            return 1;
        int rc = fp_node_serve(ctx, NULL);
        fp_context_destroy(ctx);
        return rc;
    }
    if (argc > 3 && strcmp(argv[1], "--client") == 0) {
        snprintf(g_dir, sizeof(g_dir), "(client)");
        const char *kind = argv[2];
        if (strcmp(kind, "A") == 0 || strcmp(kind, "B") == 0)
            return client_share(kind[0], (const char *const *)argv + 3,
                                (size_t)(argc - 3));
        if (strcmp(kind, "victim") == 0 && argc > 4)
            return client_victim(argv[3], argv[4]);
        if (strcmp(kind, "other") == 0)
            return client_other(argv[3]);
        if (strcmp(kind, "hold") == 0)
            return client_hold(argv[3]);
        return 2;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s sigterm|sigterm_bulk|sharing|client_killed|force|"
                        "exit_with_client\n",
                argv[0]);
        return 2;
    }
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
    if (l <= 0)
        return 1;
    g_self[l] = '\0';
    snprintf(g_dir, sizeof(g_dir), "/tmp/fp-leave-%s-XXXXXX", argv[1]);
    if (mkdtemp(g_dir) == NULL)
        return 1;
    fp_test_secret_env();
    if (getenv("FP_TRANSPORT") == NULL)
        setenv("FP_TRANSPORT", "tcp", 1);
    int rc = strcmp(argv[1], "sigterm") == 0          ? case_sigterm(16)
             : strcmp(argv[1], "sigterm_bulk") == 0   ? case_sigterm(96 << 10)
             : strcmp(argv[1], "sharing") == 0        ? case_sharing()
             : strcmp(argv[1], "client_killed") == 0  ? case_client_killed()
             : strcmp(argv[1], "force") == 0          ? case_force()
             : strcmp(argv[1], "exit_with_client") == 0
                 ? case_exit_with_client()
                 : 2;
    if (rc == 0 && getenv("FP_TEST_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) {
            /* a leftover directory in /tmp */
        }
    }
    return rc;
}
