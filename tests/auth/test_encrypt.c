/*
 * Encrypted connections end to end: this program is its own node (started
 * again as `test_encrypt --node`), on loopback over TCP or, with
 * FP_TEST_NODE_NS (encrypt_netns.sh), in network namespaces.
 *
 *   test_map_encrypted    maps with small (eager) and 4 MiB (rendezvous)
 *                         arguments and results over encrypted connections
 *                         give the right results, and were sealed (the
 *                         client copied every large byte into staging)
 *   test_config_file      a node turned on by its config file's
 *                         transport.encrypt serves an encrypting client
 *   test_node_requires    node FP_ENCRYPT=1, client not: refused, both
 *                         sides say the node requires encryption
 *   test_client_requires  client encrypts, node not: refused, both say so
 *   test_tamper           a node that flips a bit in its Nth sealed message
 *                         (FP_TEST_TAMPER; an eager result batch, a 4 MiB
 *                         rendezvous result): the client
 *                         refuses it ("message failed authentication") and
 *                         closes the connection
 */
#include "fp_test.h"
#include "fp_test_node.h"

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (4u << 20)

static char g_self[4096];
static fp_context_t *g_ctx;

/* ---- tasks (on the nodes) ------------------------------------------------ */

static fp_status_t e_sq(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                        fp_buf_t *o)
{
    (void)t;
    (void)n;
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    x = x * x + 1;
    memcpy(o->data, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("e.sq", e_sq)

static fp_status_t e_big(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                         fp_buf_t *o)
{
    (void)n;
    if (a[0].size != BIG || o->size != BIG)
        return fp_task_error(t, FP_ERR_TASK, "want %u bytes", BIG);
    const unsigned char *in = a[0].data;
    unsigned char *out = o->data;
    for (size_t i = 0; i < BIG; i++)
        out[i] = (unsigned char)(in[i] ^ 0xA5);
    return FP_OK;
}
FP_TASK_REGISTER_AS("e.big", e_big)

/* ---- helpers --------------------------------------------------------------- */

/* fp_test_node_start with up to two extra "K=V"s, the node's stderr going
 * to `log` (a file path, or NULL: inherited). */
static void node_start(fp_test_node_t *n, int i, const char *env1,
                       const char *env2, const char *log)
{
    char ns[64], ip[64];
    fp_test_node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (log != NULL) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0)
                dup2(fd, 2);
        }
        char listen[96];
        snprintf(listen, sizeof(listen), "%s:0", ip);
        setenv("FP_NODE_LISTEN", listen, 1);
        setenv("FP_EXECUTORS", "2", 1);
        setenv("FP_LOG_LEVEL", "error", 1);
        const char *envs[2] = {env1, env2};
        for (int k = 0; k < 2; k++) {
            if (envs[k] == NULL)
                continue;
            char kv[512];
            snprintf(kv, sizeof(kv), "%s", envs[k]);
            char *eq = strchr(kv, '=');
            if (eq != NULL) {
                *eq = '\0';
                setenv(kv, eq + 1, 1);
            }
        }
        if (ns[0] != '\0')
            execlp("ip", "ip", "netns", "exec", ns, g_self, "--node",
                   (char *)NULL);
        else
            execl(g_self, g_self, "--node", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "LISTENING %95s", n->addr) != 1)
        fail_msg("node did not start (got '%s')", line);
    fclose(f);
    n->pid = pid;
}

static fp_status_t pool_on(const char *addr, bool encrypt, fp_pool_t **pool_p,
                           fp_error_t *err)
{
    const char *list[1] = {addr};
    fp_pool_params_t p = {
        .nodes = list,
        .nnodes = 1,
        .connect_timeout = 10,
        .max_attempts = 1,
        .encrypt = encrypt,
    };
    memset(err, 0, sizeof(*err));
    return fp_pool_create(g_ctx, &p, pool_p, err);
}

/* A file's text (at most cap - 1 bytes), "" if unreadable. */
static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run fn with this process's stderr going to `path`. */
static fp_status_t with_stderr_to(const char *path,
                                  fp_status_t (*fn)(void *), void *arg)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    fp_status_t st = fn(arg);
    /* the transport thread logs the close a moment before the pool hears */
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return st;
}

static void log_path(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "/tmp/fp-encrypt-%d-%s.log", (int)getpid(), what);
}

/* ---- the tests ------------------------------------------------------------- */

static void check_maps(fp_pool_t *pool)
{
    fp_error_t err;
    /* small: eager messages */
    const size_t n = 5000;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    assert_ok(fp_map(pool, "e.sq", in, 8, n, out, 8, NULL, &err));
    for (size_t i = 0; i < n; i++)
        if (out[i] != i * i + 1)
            fail_msg("e.sq element %zu: %llu", i, (unsigned long long)out[i]);
    free(in);
    free(out);
    /* large: 4 MiB arguments and results, rendezvous */
    const size_t k = 4;
    fp_pool_stats_t s0, s1;
    assert_ok(fp_pool_stats(pool, &s0));
    unsigned char *bin = malloc(k * BIG), *bout = malloc(k * BIG);
    for (size_t i = 0; i < k * BIG; i++)
        bin[i] = (unsigned char)(i * 13 + (i >> 16));
    memset(bout, 0, k * BIG);
    assert_ok(fp_map(pool, "e.big", bin, BIG, k, bout, BIG, NULL, &err));
    for (size_t i = 0; i < k * BIG; i++)
        if (bout[i] != (unsigned char)(bin[i] ^ 0xA5))
            fail_msg("e.big byte %zu wrong", i);
    assert_ok(fp_pool_stats(pool, &s1));
    /* they went by rendezvous, and every argument byte was encrypted into
     * a staging buffer first (what a clear connection never copies) */
    assert_true(s1.rndv_sent - s0.rndv_sent >= 1);
    assert_true(s1.rndv_received - s0.rndv_received >= 1);
    assert_true(s1.bytes_copied - s0.bytes_copied >= (uint64_t)k * BIG);
    free(bin);
    free(bout);
}

static void test_map_encrypted(void **state)
{
    (void)state;
    fp_test_node_t node;
    node_start(&node, 0, "FP_ENCRYPT=1", NULL, NULL);
    fp_pool_t *pool = NULL;
    fp_error_t err;
    fp_status_t st = pool_on(node.addr, true, &pool, &err);
    if (st != FP_OK)
        fail_msg("pool on %s: %s", node.addr, err.message);
    check_maps(pool);
    assert_ok(fp_pool_destroy(pool));
    fp_test_node_end(&node, SIGTERM);
}

static void test_config_file(void **state)
{
    (void)state;
    char conf[128], env[160];
    snprintf(conf, sizeof(conf), "/tmp/fp-encrypt-%d.cfg", (int)getpid());
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "transport = { encrypt = true; };\n");
    fclose(f);
    snprintf(env, sizeof(env), "FP_CONFIG=%s", conf);
    fp_test_node_t node;
    node_start(&node, 0, env, NULL, NULL);
    fp_pool_t *pool = NULL;
    fp_error_t err;
    fp_status_t st = pool_on(node.addr, true, &pool, &err);
    if (st != FP_OK)
        fail_msg("pool on %s: %s", node.addr, err.message);
    check_maps(pool);
    assert_ok(fp_pool_destroy(pool));
    fp_test_node_end(&node, SIGTERM);
    unlink(conf);
}

struct create_arg {
    const char *addr;
    bool encrypt;
    fp_error_t err;
};

static fp_status_t create_fn(void *arg)
{
    struct create_arg *a = arg;
    fp_pool_t *pool = NULL;
    fp_status_t st = pool_on(a->addr, a->encrypt, &pool, &a->err);
    if (st == FP_OK)
        fp_pool_destroy(pool);
    return st;
}

/* One side encrypts, the other not: the pool cannot be made, and both
 * sides' logs (or the error) carry `want_client` / `want_node`. */
static void mismatch(bool node_encrypts, const char *want_client,
                     const char *want_node)
{
    char nlog[128], clog[128], text[8192];
    log_path(nlog, sizeof(nlog), "node");
    log_path(clog, sizeof(clog), "client");
    fp_test_node_t node;
    node_start(&node, 0, node_encrypts ? "FP_ENCRYPT=1" : NULL, NULL, nlog);
    struct create_arg a = {.addr = node.addr, .encrypt = !node_encrypts};
    fp_status_t st = with_stderr_to(clog, create_fn, &a);
    assert_int_not_equal(st, FP_OK);
    slurp(clog, text, sizeof(text));
    if (strstr(a.err.message, want_client) == NULL &&
        strstr(text, want_client) == NULL)
        fail_msg("client: no '%s' in the error '%s' nor the log '%s'",
                 want_client, a.err.message, text);
    printf("client: %s\n", a.err.message);
    fp_test_node_end(&node, SIGTERM);
    slurp(nlog, text, sizeof(text));
    if (strstr(text, want_node) == NULL)
        fail_msg("node: no '%s' in its log '%s'", want_node, text);
    unlink(nlog);
    unlink(clog);
}

static void test_node_requires(void **state)
{
    (void)state;
    mismatch(true, "requires encryption (FP_ENCRYPT=1); this client does "
                   "not encrypt",
             "does not offer encryption, which this node requires");
}

static void test_client_requires(void **state)
{
    (void)state;
    mismatch(false, "does not offer encryption, which this client requires",
             "requires encryption (FP_ENCRYPT=1); this node does not "
             "encrypt");
}

struct big_arg {
    fp_pool_t *pool;
    bool big;
    fp_error_t err;
};

/* 2 x 4 MiB (rendezvous results) or 100 x 8 bytes (one eager batch) */
static fp_status_t big_fn(void *arg)
{
    struct big_arg *a = arg;
    size_t n = a->big ? 2 : 100, sz = a->big ? BIG : 8;
    unsigned char *in = calloc(n, sz), *out = calloc(n, sz);
    fp_status_t st = fp_map(a->pool, a->big ? "e.big" : "e.sq", in, sz, n,
                            out, sz, NULL, &a->err);
    free(in);
    free(out);
    return st;
}

static void test_tamper(void **state)
{
    (void)state;
    /* the node's sealed messages: 1 the POOL_OPEN ACK, then results: for
     * the small map one eager RESULT_BATCH, for the large one BULKs by
     * rendezvous (and their RESULT_BATCH) */
    static const struct {
        int nth;
        bool big;
    } cases[] = {{2, false}, {2, true}, {3, true}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        int nth = cases[ci].nth;
        char nlog[128], clog[128], text[16384], env[64];
        log_path(nlog, sizeof(nlog), "tnode");
        log_path(clog, sizeof(clog), "tclient");
        snprintf(env, sizeof(env), "FP_TEST_TAMPER=%d", nth);
        fp_test_node_t node;
        node_start(&node, 0, "FP_ENCRYPT=1", env, nlog);
        struct big_arg a = {.big = cases[ci].big};
        fp_status_t st = pool_on(node.addr, true, &a.pool, &a.err);
        if (st != FP_OK)
            fail_msg("pool on %s: %s", node.addr, a.err.message);
        st = with_stderr_to(clog, big_fn, &a);
        assert_int_not_equal(st, FP_OK);
        slurp(clog, text, sizeof(text));
        if (strstr(text, "message failed authentication (altered on the "
                         "path?)") == NULL)
            fail_msg("message %d: the client did not refuse it: '%s' / '%s'",
                     nth, a.err.message, text);
        printf("tamper %d (%s map): map failed as it should: %s\n", nth,
               a.big ? "4 MiB" : "small", a.err.message);
        fp_pool_destroy(a.pool);
        fp_test_node_end(&node, SIGTERM);
        slurp(nlog, text, sizeof(text));
        const char *line = strstr(text, "FP_TEST_TAMPER");
        if (line == NULL) {
            fail_msg("the node did not tamper: '%s'", text);
            return; /* (fail_msg does not return; GCC -O2 cannot tell) */
        }
        printf("  node: %.*s\n", (int)strcspn(line, "\n"), line);
        unlink(nlog);
        unlink(clog);
    }
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
    ssize_t l = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
    if (l <= 0)
        return 1;
    g_self[l] = '\0';
    fp_test_secret_env();
    unsetenv("FP_ENCRYPT"); /* this process asks per pool */
    if (fp_context_create(NULL, &g_ctx) != FP_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_encrypted),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_node_requires),
        cmocka_unit_test(test_client_requires),
        cmocka_unit_test(test_tamper),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp_context_destroy(g_ctx);
    return rc;
}
