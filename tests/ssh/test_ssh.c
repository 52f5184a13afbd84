/*
 * SSH bootstrap, end to end, against real sshd servers in network
 * namespaces (tests/ssh/run.sh starts them and runs each case in the client
 * namespace).  The nodes are this very program (the SPMD default): started
 * there with FP_NODE_LISTEN, its main's first fp_pool_create serves.
 *
 *   test_ssh basic HOST          map over a node started on HOST, twice:
 *                                the first start ships the bundle, the
 *                                second finds it cached; prints both times
 *   test_ssh never HOST ok|fail  FP_BUNDLE_NEVER: runs the program found at
 *                                the same path there, or fails naming it
 *   test_ssh unreachable HOST T  reported within T seconds (+1), naming HOST
 *   test_ssh badkey HOST CONFIG  an ssh_config whose key HOST refuses
 *   test_ssh hostkey HOST        an unknown host key is refused
 *   test_ssh orphans NS... -- HOST...   a client process on HOSTs is killed
 *                                with SIGKILL mid-map: 2 s later no process
 *                                is left in namespaces NS but sshd
 *   test_ssh linkcut NS HOST     the client's ssh process is killed: the
 *                                node exits, the pool sees it die
 *   test_ssh prefix HOST         a task's output comes back as "[HOST] ..."
 *   test_ssh cluster FILE N      a pool from a cluster file (FP_CLUSTER as
 *                                an unchanged program would): N nodes, a map
 *   test_ssh elastic FILE        an elastic cluster file (min 1, max 2,
 *                                scale_up_after 0.3 s, idle_timeout 1 s):
 *                                a second node starts while work waits and
 *                                is let go once idle; nothing lost
 *   test_ssh badcluster FILE TEXT  the pool is refused naming TEXT
 *   test_ssh default N           fp_pool_create(NULL) has N nodes (run by
 *                                fastpool-run -H / --hostfile / --cluster)
 */
#include <fastpool/fastpool.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        exit(1);                                                               \
    } while (0)

/* in: int64; out: {x*x, pid} */
static fp_status_t t_square(fp_task_t *t, const fp_cbuf_t *args, size_t nargs,
                            fp_buf_t *out)
{
    (void)t;
    (void)nargs;
    int64_t x;
    memcpy(&x, args[0].data, sizeof(x));
    int64_t r[2] = {x * x, (int64_t)getpid()};
    if (out->size < sizeof(r))
        return FP_ERR_OVERFLOW;
    memcpy(out->data, r, sizeof(r));
    out->size = sizeof(r);
    return FP_OK;
}
FP_TASK_REGISTER_AS("square", t_square)

static fp_status_t t_slow(fp_task_t *t, const fp_cbuf_t *args, size_t nargs,
                          fp_buf_t *out)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return t_square(t, args, nargs, out);
}
FP_TASK_REGISTER_AS("slow", t_slow)

static fp_status_t t_say(fp_task_t *t, const fp_cbuf_t *args, size_t nargs,
                         fp_buf_t *out)
{
    int64_t x;
    memcpy(&x, args[0].data, sizeof(x));
    if (x == 3) {
        printf("hello-from-task %lld\n", (long long)x);
        fflush(stdout);
        fprintf(stderr, "warning-from-task %lld\n", (long long)x);
    }
    return t_square(t, args, nargs, out);
}
FP_TASK_REGISTER_AS("say", t_say)

static fp_context_t *g_ctx;

/* Map `task` over n inputs, check every result and that a node ran them. */
static void check_map_local(fp_pool_t *pool, const char *task, size_t n,
                            bool local_ok);
static void check_map(fp_pool_t *pool, const char *task, size_t n)
{
    check_map_local(pool, task, n, false);
}

/* local_ok: the pool has an executor here too; some must run elsewhere */
static void check_map_local(fp_pool_t *pool, const char *task, size_t n,
                            bool local_ok)
{
    size_t remote = 0;
    int64_t *in = malloc(n * sizeof(*in));
    int64_t(*out)[2] = calloc(n, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i - 7;
    fp_error_t err = {0};
    fp_status_t st = fp_map(pool, task, in, sizeof(int64_t), n, out,
                            sizeof(out[0]), NULL, &err);
    if (st != FP_OK)
        FAIL("map: %s: %s", fp_status_string(st), err.message);
    for (size_t i = 0; i < n; i++) {
        if (out[i][0] != in[i] * in[i])
            FAIL("element %zu: %lld", i, (long long)out[i][0]);
        if (out[i][1] != (int64_t)getpid())
            remote++;
        else if (!local_ok)
            FAIL("element %zu ran in the client", i);
    }
    if (remote == 0)
        FAIL("no element ran on a node");
    free(in);
    free(out);
}

static fp_pool_t *empty_pool(void)
{
    /* a pool that takes nodes and has none yet: hosts are added to it */
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    fp_pool_params_t p = {.local = FP_LOCAL_YES, .local_executors = 1};
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
    if (st != FP_OK)
        FAIL("pool: %s: %s", fp_status_string(st), err.message);
    return pool;
}

static int case_basic(const char *host)
{
    double t[2];
    for (int k = 0; k < 2; k++) {
        fp_pool_t *pool = NULL;
        fp_error_t err = {0};
        const char *hosts[] = {host};
        fp_pool_params_t p = {.hosts = hosts, .nhosts = 1};
        double t0 = now();
        fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
        t[k] = now() - t0;
        if (st != FP_OK)
            FAIL("pool on %s: %s: %s", host, fp_status_string(st),
                 err.message);
        fp_node_info_t info[4];
        size_t count = 0;
        fp_pool_nodes(pool, info, 4, &count);
        if (count != 1 || info[0].state != FP_NODE_UP)
            FAIL("nodes: %zu", count);
        printf("node %s host %s executors %u\n", info[0].address, info[0].host,
               info[0].executors);
        check_map(pool, "square", 20000);
        fp_pool_destroy(pool);
    }
    printf("TIME first=%.3f cached=%.3f\n", t[0], t[1]);
    return 0;
}

static int case_never(const char *host, bool want_ok)
{
    fp_pool_t *pool = empty_pool();
    fp_error_t err = {0};
    fp_host_params_t hp = {.bundle = FP_BUNDLE_NEVER};
    fp_status_t st = fp_pool_add_host(pool, host, &hp, &err);
    if (want_ok) {
        if (st != FP_OK)
            FAIL("bundle = never on %s: %s", host, err.message);
        check_map_local(pool, "square", 20000, true);
    } else {
        if (st == FP_OK)
            FAIL("bundle = never worked on %s", host);
        printf("refused as expected: %s\n", err.message);
        if (strstr(err.message, host) == NULL ||
            strstr(err.message, "not on this host") == NULL)
            FAIL("message does not say what is missing: %s", err.message);
    }
    fp_pool_destroy(pool);
    return 0;
}

static int case_expect_fail(const char *host, const fp_host_params_t *hp,
                            const char *want, double within)
{
    fp_pool_t *pool = empty_pool();
    fp_error_t err = {0};
    double t0 = now();
    fp_status_t st = fp_pool_add_host(pool, host, hp, &err);
    double dt = now() - t0;
    if (st == FP_OK)
        FAIL("%s: added", host);
    printf("refused in %.3f s: %s: %s\n", dt, fp_status_string(st),
           err.message);
    if (strstr(err.message, host) == NULL)
        FAIL("the message does not name the host");
    if (want != NULL && strstr(err.message, want) == NULL)
        FAIL("the message does not say '%s'", want);
    if (within > 0 && dt > within)
        FAIL("took %.3f s, more than %.3f", dt, within);
    size_t n = fp_pool_node_count(pool);
    if (n != 1) /* only the local entry */
        FAIL("%zu nodes after a failed add", n);
    fp_pool_destroy(pool);
    return 0;
}

/* Processes in namespace `ns` that are not sshd servers. */
static int strays(const char *ns, char *what, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ip netns pids %s", ns);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    int n = 0;
    size_t len = 0;
    what[0] = '\0';
    char line[64];
    while (fgets(line, sizeof(line), p) != NULL) {
        long pid = strtol(line, NULL, 10);
        char path[64], comm[64] = "?";
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(comm, sizeof(comm), f) == NULL)
                comm[0] = '\0';
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, "sshd") == 0) {
            /* the listening server, or a session still closing? the
             * server's parent is outside the namespace set (init) */
            snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
            f = fopen(path, "r");
            char cl[256] = "";
            if (f != NULL) {
                size_t r = fread(cl, 1, sizeof(cl) - 1, f);
                cl[r] = '\0';
                fclose(f);
            }
            if (strstr(cl, "-f") != NULL || strcmp(cl, "/usr/sbin/sshd") == 0)
                continue;
        }
        n++;
        len += (size_t)snprintf(what + len, len < cap ? cap - len : 0,
                                "%s%ld(%s)", n > 1 ? " " : "", pid, comm);
    }
    pclose(p);
    return n;
}

static int case_orphans(char **ns, int nns, char **hosts, int nhosts)
{
    int sync[2];
    if (pipe(sync) != 0)
        FAIL("pipe");
    pid_t child = fork();
    if (child == 0) {
        close(sync[0]);
        fp_pool_t *pool = NULL;
        fp_error_t err = {0};
        fp_pool_params_t p = {.hosts = (const char *const *)hosts,
                              .nhosts = (size_t)nhosts};
        fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
        if (st != FP_OK) {
            fprintf(stderr, "child pool: %s\n", err.message);
            _exit(3);
        }
        int64_t in[4000];
        for (int i = 0; i < 4000; i++)
            in[i] = i;
        static int64_t res[4000][2];
        fp_future_t *f = NULL;
        st = fp_map_async(pool, "slow", in, sizeof(int64_t), 4000, res,
                          sizeof(res[0]), NULL, &f);
        if (st != FP_OK)
            _exit(4);
        if (write(sync[1], "R", 1) != 1)
            _exit(5);
        fp_future_wait(f, 60);
        _exit(6);
    }
    close(sync[1]);
    char c;
    if (read(sync[0], &c, 1) != 1)
        FAIL("the client did not start its nodes");
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL); /* mid-map */
    char what[512];
    for (int i = 0; i < nns; i++)
        if (strays(ns[i], what, sizeof(what)) <= 0)
            FAIL("no node running in %s before the kill", ns[i]);
    kill(child, SIGKILL);
    double t0 = now();
    waitpid(child, NULL, 0);
    /* 2 s after the kill: nothing left */
    for (;;) {
        int left = 0;
        for (int i = 0; i < nns; i++) {
            int n = strays(ns[i], what, sizeof(what));
            left += n;
            if (n > 0 && now() - t0 > 2.0)
                FAIL("2 s after the client was killed, %s still has %s",
                     ns[i], what);
        }
        if (left == 0)
            break;
        ts.tv_nsec = 20 * 1000 * 1000;
        nanosleep(&ts, NULL);
    }
    printf("ORPHANS 0 left after %.3f s\n", now() - t0);
    return 0;
}

static _Atomic int g_died;
static void on_node(void *arg, const fp_node_event_t *ev)
{
    (void)arg;
    if (ev->kind == FP_EVENT_DIED || ev->kind == FP_EVENT_LEFT)
        g_died = 1;
}

static int case_linkcut(const char *ns, const char *host)
{
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    const char *hosts[] = {host};
    fp_pool_params_t p = {.hosts = hosts, .nhosts = 1, .on_node = on_node};
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
    if (st != FP_OK)
        FAIL("pool: %s", err.message);
    check_map(pool, "square", 100);
    /* our ssh child */
    char cmd[128], what[512];
    snprintf(cmd, sizeof(cmd), "pkill -KILL -P %ld -x ssh", (long)getpid());
    if (system(cmd) != 0)
        FAIL("no ssh child to kill");
    double t0 = now();
    for (;;) {
        int n = strays(ns, what, sizeof(what));
        if (n == 0 && g_died)
            break;
        if (now() - t0 > 3.0)
            FAIL("3 s after the link was cut: %s has %s, died=%d", ns, what,
                 (int)g_died);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("LINKCUT node gone after %.3f s\n", now() - t0);
    fp_pool_destroy(pool);
    return 0;
}

static int case_prefix(const char *host)
{
    int out[2], errp[2];
    if (pipe(out) != 0 || pipe(errp) != 0)
        FAIL("pipe");
    pid_t child = fork();
    if (child == 0) {
        dup2(out[1], 1);
        dup2(errp[1], 2);
        close(out[0]);
        close(errp[0]);
        fp_pool_t *pool = NULL;
        fp_error_t err = {0};
        const char *hosts[] = {host};
        fp_pool_params_t p = {.hosts = hosts, .nhosts = 1};
        if (fp_pool_create(g_ctx, &p, &pool, &err) != FP_OK) {
            fprintf(stderr, "pool: %s\n", err.message);
            _exit(3);
        }
        check_map(pool, "say", 20);
        fp_pool_destroy(pool);
        fflush(stdout);
        _exit(0);
    }
    close(out[1]);
    close(errp[1]);
    char buf[65536];
    size_t len = 0;
    ssize_t r;
    while ((r = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    char ebuf[65536];
    len = 0;
    while ((r = read(errp[0], ebuf + len, sizeof(ebuf) - 1 - len)) > 0)
        len += (size_t)r;
    ebuf[len] = '\0';
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("client failed: %s", ebuf);
    char want[300], ewant[300];
    snprintf(want, sizeof(want), "[%s] hello-from-task 3\n", host);
    snprintf(ewant, sizeof(ewant), "[%s] warning-from-task 3\n", host);
    if (strstr(buf, want) == NULL)
        FAIL("stdout lacks '%s': %s", want, buf);
    if (strstr(ebuf, ewant) == NULL)
        FAIL("stderr lacks '%s': %s", ewant, ebuf);
    printf("PREFIX ok\n");
    return 0;
}

static size_t nodes_up(fp_pool_t *pool)
{
    fp_node_info_t info[16];
    size_t count = 0, up = 0;
    fp_pool_nodes(pool, info, 16, &count);
    for (size_t i = 0; i < count && i < 16; i++)
        up += info[i].state == FP_NODE_UP;
    return up;
}

static int case_cluster(const char *file, size_t want)
{
    setenv("FP_CLUSTER", file, 1);
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    double t0 = now();
    fp_status_t st = fp_pool_create(g_ctx, NULL, &pool, &err);
    if (st != FP_OK)
        FAIL("pool from %s: %s: %s", file, fp_status_string(st), err.message);
    printf("CLUSTER %zu nodes up in %.3f s\n", nodes_up(pool), now() - t0);
    if (nodes_up(pool) != want)
        FAIL("%zu nodes up, want %zu", nodes_up(pool), want);
    check_map(pool, "square", 20000);
    fp_pool_destroy(pool);
    return 0;
}

/* The pool an unchanged program makes (fp_pool_create with no params):
 * under fastpool-run its nodes come from FP_HOSTS or FP_CLUSTER. */
static int case_default(size_t want)
{
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    fp_status_t st = fp_pool_create(g_ctx, NULL, &pool, &err);
    if (st != FP_OK)
        FAIL("default pool: %s", err.message);
    if (nodes_up(pool) != want)
        FAIL("%zu nodes up, want %zu", nodes_up(pool), want);
    check_map(pool, "square", 20000);
    printf("DEFAULT %zu nodes, map right\n", want);
    fp_pool_destroy(pool);
    return 0;
}

static int case_badcluster(const char *file, const char *want)
{
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    fp_pool_params_t p = {.cluster = file};
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
    if (st == FP_OK)
        FAIL("a pool from %s", file);
    printf("refused: %s\n", err.message);
    if (strstr(err.message, want) == NULL)
        FAIL("the message does not say '%s'", want);
    return 0;
}

static int case_elastic(const char *file)
{
    fp_pool_t *pool = NULL;
    fp_error_t err = {0};
    fp_pool_params_t p = {.cluster = file};
    fp_status_t st = fp_pool_create(g_ctx, &p, &pool, &err);
    if (st != FP_OK)
        FAIL("pool from %s: %s", file, err.message);
    if (nodes_up(pool) != 1)
        FAIL("%zu nodes at first, want min = 1", nodes_up(pool));
    enum { N = 400 };
    static int64_t in[N], out[N][2];
    for (int i = 0; i < N; i++)
        in[i] = i;
    fp_future_t *f = NULL;
    if (fp_map_async(pool, "slow", in, sizeof(int64_t), N, out,
                     sizeof(out[0]), NULL, &f) != FP_OK)
        FAIL("map_async");
    size_t most = 1;
    double t0 = now(), grew = 0;
    while (fp_future_wait(f, 0.05) == FP_ERR_TIMEOUT) {
        size_t up = nodes_up(pool);
        if (up > most) {
            most = up;
            grew = now() - t0;
        }
        if (now() - t0 > 60)
            FAIL("map not done in 60 s");
    }
    if (fp_future_get(f, 0, &err) != FP_OK)
        FAIL("map: %s", err.message);
    fp_future_release(f);
    for (int i = 0; i < N; i++)
        if (out[i][0] != in[i] * in[i])
            FAIL("element %d", i);
    if (most < 2)
        FAIL("no second node while work waited");
    printf("ELASTIC grew to %zu nodes %.3f s into the map\n", most, grew);
    double t1 = now();
    while (nodes_up(pool) > 1) {
        if (now() - t1 > 10)
            FAIL("still %zu nodes 10 s after the map", nodes_up(pool));
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("ELASTIC back to 1 node %.3f s after the map\n", now() - t1);
    check_map(pool, "square", 1000);
    fp_pool_destroy(pool);
    return 0;
}

int main(int argc, char **argv)
{
    if (fp_context_create(NULL, &g_ctx) != FP_OK)
        return 1;
    if (getenv("FP_NODE_LISTEN") != NULL) {
        /* started as a node over SSH: this serves and exits */
        fp_pool_t *pool = NULL;
        fp_pool_create(g_ctx, NULL, &pool, NULL);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: see the header of test_ssh.c\n");
        return 2;
    }
    const char *c = argv[1];
    int rc = 2;
    if (strcmp(c, "basic") == 0) {
        rc = case_basic(argv[2]);
    } else if (strcmp(c, "never") == 0 && argc == 4) {
        rc = case_never(argv[2], strcmp(argv[3], "ok") == 0);
    } else if (strcmp(c, "unreachable") == 0 && argc == 4) {
        fp_host_params_t hp = {.timeout = atof(argv[3])};
        rc = case_expect_fail(argv[2], &hp, NULL, hp.timeout + 1.0);
    } else if (strcmp(c, "badkey") == 0 && argc == 4) {
        /* argv[3]: an ssh_config whose IdentityFile no host accepts */
        fp_host_params_t hp = {.ssh_config = argv[3]};
        rc = case_expect_fail(argv[2], &hp, "Permission denied", 10);
    } else if (strcmp(c, "hostkey") == 0) {
        const char *opts[] = {"-o", "UserKnownHostsFile=/dev/null"};
        fp_host_params_t hp = {.ssh_options = opts, .nssh_options = 2};
        rc = case_expect_fail(argv[2], &hp, "Host key verification failed",
                              10);
    } else if (strcmp(c, "orphans") == 0) {
        int sep = 2;
        while (sep < argc && strcmp(argv[sep], "--") != 0)
            sep++;
        rc = case_orphans(argv + 2, sep - 2, argv + sep + 1, argc - sep - 1);
    } else if (strcmp(c, "linkcut") == 0 && argc == 4) {
        rc = case_linkcut(argv[2], argv[3]);
    } else if (strcmp(c, "prefix") == 0) {
        rc = case_prefix(argv[2]);
    } else if (strcmp(c, "cluster") == 0 && argc == 4) {
        rc = case_cluster(argv[2], (size_t)atoi(argv[3]));
    } else if (strcmp(c, "badcluster") == 0 && argc == 4) {
        rc = case_badcluster(argv[2], argv[3]);
    } else if (strcmp(c, "default") == 0) {
        rc = case_default((size_t)atoi(argv[2]));
    } else if (strcmp(c, "elastic") == 0) {
        rc = case_elastic(argv[2]);
    }
    fp_context_destroy(g_ctx);
    return rc;
}
