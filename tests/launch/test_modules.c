/*
 * Task code shipped to nodes (fp_pool_ship_module, ship_modules): the
 * client sends a module's SHA-256, the node answers HAVE (cached) or NEED,
 * and only then the bytes go; the node checks them, caches them under
 * FP_CACHE_DIR/modules/<sha256>.so and loads them.
 *
 * Nodes are fastpool-worker processes (FP_TEST_WORKER) started with no
 * module and a cache directory of the test's own; placed in network
 * namespaces with FP_TEST_NODE_NS (tests/dist/in_netns.sh), on loopback
 * otherwise.  The module (FP_TEST_SHIP_MODULE) is tests/launch/
 * ship_module.c.
 */
#include "fp_test.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>

#include "fp_test_node.h"

extern char **environ;

static const char *g_worker, *g_module;
static char g_tmp[256];
static fp_context_t *g_ctx;
static int g_nodes_started;

/* ---- helpers ---------------------------------------------------------------- */

static const char *ip_prog(void)
{
    static const char *const where[] = {"/usr/sbin/ip", "/sbin/ip",
                                        "/usr/bin/ip", "/bin/ip"};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return "ip";
}

/* Start fastpool-worker as node i (placement as fp_test_node_place) with
 * FP_CACHE_DIR=cache and no module.  argv and the environment are built
 * before fork: the child only calls async-signal-safe functions. */
static void worker_start(fp_test_node_t *n, const char *cache)
{
    char ns[64], ip[64], listen[96], cachekv[400];
    fp_test_node_place(g_nodes_started++, ns, sizeof(ns), ip, sizeof(ip));
    snprintf(listen, sizeof(listen), "%s:0", ip);
    snprintf(cachekv, sizeof(cachekv), "FP_CACHE_DIR=%s", cache);
    size_t ne = 0;
    while (environ[ne] != NULL)
        ne++;
    char **envp = calloc(ne + 3, sizeof(*envp));
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "FP_CACHE_DIR=", 13) != 0 &&
            strncmp(environ[i], "FP_TEST_CORRUPT_MODULE=", 23) != 0 &&
            strncmp(environ[i], "FP_LOG_LEVEL=", 13) != 0)
            envp[k++] = environ[i];
    envp[k++] = cachekv;
    envp[k++] = getenv("FP_TEST_NODE_LOG") != NULL ? "FP_LOG_LEVEL=info"
                                                   : "FP_LOG_LEVEL=error";
    envp[k] = NULL;
    const char *ipp = ip_prog();
    char *argv_ns[] = {(char *)ipp, "netns", "exec", ns, (char *)g_worker,
                       "--listen", listen, "--executors", "2", NULL};
    char *argv_here[] = {(char *)g_worker, "--listen", listen, "--executors",
                         "2", NULL};
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (ns[0] != '\0')
            execve(ipp, argv_ns, envp);
        else
            execve(g_worker, argv_here, envp);
        _exit(127);
    }
    free(envp);
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "LISTENING %95s", n->addr) != 1)
        fail_msg("fastpool-worker did not start (got '%s')", line);
    fclose(f);
    n->pid = pid;
    printf("node %s%s%s (cache %s)\n", n->addr, ns[0] ? " in " : "", ns,
           cache);
}

/* SIGTERM: a node leaves cleanly and exits 0 (under ASan: without a leak
 * report, which would make it exit 1). */
static void worker_end(fp_test_node_t *n)
{
    pid_t pid = n->pid;
    kill(pid, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    n->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("node %s ended with wait status 0x%x, not exit 0", n->addr,
                 st);
}

static void cache_make(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_tmp, name);
    /* the node makes <cache>/modules itself; the cache root may exist */
    assert_int_equal(mkdir(out, 0700), 0);
}

/* Files in <cache>/modules (all of them: temporary ones too), and whether
 * <cache>/modules/<hex>.so is one. */
static int cache_files(const char *cache, const char *hex, bool *found)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/modules", cache);
    *found = false;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *e;
    char want[80];
    snprintf(want, sizeof(want), "%s.so", hex);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        count++;
        if (strcmp(e->d_name, want) == 0)
            *found = true;
    }
    closedir(d);
    return count;
}

static void file_sha_hex(const char *path, char hex[65], size_t *size_p)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(n > 0 && n < sizeof(buf));
    unsigned char md[32];
    unsigned int ml = 0;
    assert_int_equal(EVP_Digest(buf, n, md, &ml, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    *size_p = n;
}

static fp_pool_t *pool_on(const char *const *nodes, size_t nnodes,
                          const char *const *mods, size_t nmods,
                          fp_status_t want, fp_error_t *err)
{
    fp_pool_params_t pp = {.nodes = nodes,
                           .nnodes = nnodes,
                           .ship_modules = mods,
                           .nship_modules = nmods,
                           .connect_timeout = 30};
    fp_pool_t *pool = NULL;
    memset(err, 0, sizeof(*err));
    fp_status_t st = fp_pool_create(g_ctx, &pp, &pool, err);
    if (st != want)
        fail_msg("fp_pool_create: %s (%s), expected %s", fp_status_name(st),
                 err->message, fp_status_name(want));
    return pool;
}

#define N_ELEMS 1000

/* map ship.cube and starmap ship.axpy over the pool; both must be right */
static void check_tasks(fp_pool_t *pool)
{
    static uint64_t in[N_ELEMS], out[N_ELEMS];
    static int64_t a[N_ELEMS], b[N_ELEMS], r[N_ELEMS];
    for (size_t i = 0; i < N_ELEMS; i++) {
        in[i] = i + 1;
        out[i] = 0;
        a[i] = (int64_t)i;
        b[i] = 3 * (int64_t)i - 7;
    }
    fp_error_t err;
    fp_status_t st = fp_map(pool, "ship.cube", in, 8, N_ELEMS, out, 8, NULL,
                            &err);
    if (st != FP_OK)
        fail_msg("map ship.cube: %s (%s)", fp_status_name(st), err.message);
    for (size_t i = 0; i < N_ELEMS; i++)
        assert_true(out[i] == in[i] * in[i] * in[i]);
    fp_array_t args[2] = {{a, 8}, {b, 8}};
    st = fp_starmap(pool, "ship.axpy", args, 2, N_ELEMS, r, 8, NULL, &err);
    if (st != FP_OK)
        fail_msg("starmap ship.axpy: %s (%s)", fp_status_name(st),
                 err.message);
    for (size_t i = 0; i < N_ELEMS; i++)
        assert_true(r[i] == a[i] + 2 * b[i]);
    /* a task error from the shipped code comes back as any other */
    a[17] = -1;
    st = fp_starmap(pool, "ship.axpy", args, 2, N_ELEMS, r, 8, NULL, &err);
    assert_int_equal(st, FP_ERR_INVALID);
    assert_non_null(strstr(err.message, "negative a -1"));
}

static fp_pool_stats_t stats_of(fp_pool_t *pool)
{
    fp_pool_stats_t s;
    assert_int_equal(fp_pool_stats(pool, &s), FP_OK);
    return s;
}

/* ---- cases ---------------------------------------------------------------- */

/* Shipped at create to a node that lacks it: NEED, bytes, the cache file
 * (private), right results; then a second node process with the same
 * cache answers HAVE and no byte goes. */
static void test_ship_then_cached(void **state)
{
    (void)state;
    char cache[300], hex[65];
    size_t size;
    cache_make(cache, sizeof(cache), "shared");
    file_sha_hex(g_module, hex, &size);
    fp_test_node_t n1, n2;
    worker_start(&n1, cache);
    const char *nodes1[] = {n1.addr};
    fp_error_t err;
    fp_pool_t *pool = pool_on(nodes1, 1, &g_module, 1, FP_OK, &err);
    check_tasks(pool);
    fp_pool_stats_t s = stats_of(pool);
    assert_int_equal(s.modules_shipped, 1);
    assert_int_equal(s.module_bytes_sent, size);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    bool found;
    assert_int_equal(cache_files(cache, hex, &found), 1);
    assert_true(found);
    char path[500];
    snprintf(path, sizeof(path), "%s/modules/%s.so", cache, hex);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0); /* the owner's only */
    snprintf(path, sizeof(path), "%s/modules", cache);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* the same node again (loaded in its process): HAVE */
    pool = pool_on(nodes1, 1, &g_module, 1, FP_OK, &err);
    check_tasks(pool);
    s = stats_of(pool);
    assert_int_equal(s.modules_shipped, 0);
    assert_int_equal(s.module_bytes_sent, 0);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* another process, same cache: HAVE from the file (hashed, loaded) */
    worker_start(&n2, cache);
    const char *nodes2[] = {n2.addr};
    pool = pool_on(nodes2, 1, &g_module, 1, FP_OK, &err);
    check_tasks(pool);
    s = stats_of(pool);
    assert_int_equal(s.modules_shipped, 0);
    assert_int_equal(s.module_bytes_sent, 0);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    worker_end(&n1);
    worker_end(&n2);
}

/* Bytes that do not match the hash (FP_TEST_CORRUPT_MODULE=1 flips one
 * after hashing): the node refuses them, writes nothing, and the call
 * fails naming the node and the module -- at create and later. */
static void test_corrupt_refused(void **state)
{
    (void)state;
    char cache[300], hex[65];
    size_t size;
    cache_make(cache, sizeof(cache), "corrupt");
    file_sha_hex(g_module, hex, &size);
    fp_test_node_t n;
    worker_start(&n, cache);
    const char *nodes[] = {n.addr};
    const char *name = strrchr(g_module, '/') + 1;
    fp_error_t err;
    setenv("FP_TEST_CORRUPT_MODULE", "1", 1);
    (void)pool_on(nodes, 1, &g_module, 1, FP_ERR_INVALID, &err);
    unsetenv("FP_TEST_CORRUPT_MODULE");
    assert_non_null(strstr(err.message, n.addr));
    assert_non_null(strstr(err.message, name));
    assert_non_null(strstr(err.message, "do not match SHA-256"));
    bool found;
    assert_int_equal(cache_files(cache, hex, &found), 0);

    /* a pool that is up: fp_pool_ship_module fails the same way, the pool
     * goes on */
    fp_pool_t *pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    setenv("FP_TEST_CORRUPT_MODULE", "1", 1);
    fp_status_t st = fp_pool_ship_module(pool, g_module, &err);
    unsetenv("FP_TEST_CORRUPT_MODULE");
    assert_int_equal(st, FP_ERR_INVALID);
    assert_non_null(strstr(err.message, n.addr));
    assert_non_null(strstr(err.message, name));
    assert_non_null(strstr(err.message, "do not match SHA-256"));
    assert_int_equal(cache_files(cache, hex, &found), 0);
    /* the right bytes then go through */
    assert_int_equal(fp_pool_ship_module(pool, g_module, &err), FP_OK);
    check_tasks(pool);
    assert_int_equal(cache_files(cache, hex, &found), 1);
    assert_true(found);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    worker_end(&n);
}

/* A file that does not dlopen: dlerror()'s text comes back; nothing is
 * kept in the cache. */
static void test_not_elf(void **state)
{
    (void)state;
    char cache[300], bogus[300];
    cache_make(cache, sizeof(cache), "notelf");
    snprintf(bogus, sizeof(bogus), "%s/bogus.so", g_tmp);
    FILE *f = fopen(bogus, "w");
    assert_non_null(f);
    for (int i = 0; i < 20; i++)
        fprintf(f, "this is not a shared object, line %d\n", i);
    fclose(f);
    fp_test_node_t n;
    worker_start(&n, cache);
    const char *nodes[] = {n.addr};
    fp_error_t err;
    fp_pool_t *pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    fp_status_t st = fp_pool_ship_module(pool, bogus, &err);
    assert_true(st < 0);
    assert_non_null(strstr(err.message, n.addr));
    assert_non_null(strstr(err.message, "bogus.so"));
    if (strstr(err.message, "module bogus.so: dlopen: invalid ELF header") ==
        NULL)
        fail_msg("no dlerror text in '%s'", err.message);
    char hex[65];
    size_t size;
    file_sha_hex(bogus, hex, &size);
    bool found;
    assert_int_equal(cache_files(cache, hex, &found), 0);
    /* the pool still works, and a good module still ships */
    assert_int_equal(fp_pool_ship_module(pool, g_module, &err), FP_OK);
    check_tasks(pool);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* at create, the same error fails the create */
    (void)pool_on(nodes, 1, (const char *[]){bogus}, 1, st, &err);
    assert_non_null(strstr(err.message, "invalid ELF header"));
    worker_end(&n);
}

/* A task named before its module is shipped fails as an unknown task
 * (naming the node); after fp_pool_ship_module it runs.  A node added
 * later gets the pool's modules before its first task. */
static void test_named_before_then_join(void **state)
{
    (void)state;
    char cache[300], cache2[300];
    cache_make(cache, sizeof(cache), "before");
    cache_make(cache2, sizeof(cache2), "joiner");
    fp_test_node_t n, n2;
    worker_start(&n, cache);
    const char *nodes[] = {n.addr};
    fp_error_t err;
    fp_pool_t *pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    uint64_t in[4] = {1, 2, 3, 4}, out[4];
    fp_status_t st = fp_map(pool, "ship.cube", in, 8, 4, out, 8, NULL, &err);
    assert_int_equal(st, FP_ERR_NOT_FOUND);
    char want[200];
    snprintf(want, sizeof(want), "node %s has no task named 'ship.cube'",
             n.addr);
    if (strstr(err.message, want) == NULL)
        fail_msg("'%s' lacks '%s'", err.message, want);
    assert_int_equal(fp_pool_ship_module(pool, g_module, &err), FP_OK);
    check_tasks(pool);
    assert_int_equal(stats_of(pool).modules_shipped, 1);

    /* a node added now (empty cache) is sent the module when it joins */
    worker_start(&n2, cache2);
    st = fp_pool_add_node(pool, n2.addr, &err);
    if (st != FP_OK)
        fail_msg("add_node: %s (%s)", fp_status_name(st), err.message);
    assert_int_equal(stats_of(pool).modules_shipped, 2);
    check_tasks(pool);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);

    /* the joiner alone: its tasks are there */
    const char *nodes2[] = {n2.addr};
    pool = pool_on(nodes2, 1, NULL, 0, FP_OK, &err);
    check_tasks(pool);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    worker_end(&n);
    worker_end(&n2);
}

/* A module above the rendezvous threshold goes by rendezvous (no copy),
 * and works. */
static void test_big_module(void **state)
{
    (void)state;
    const char *big = getenv("FP_TEST_SHIP_BIG");
    if (big == NULL)
        skip();
    char cache[300], hex[65];
    size_t size;
    cache_make(cache, sizeof(cache), "big");
    file_sha_hex(big, hex, &size);
    fp_test_node_t n;
    worker_start(&n, cache);
    const char *nodes[] = {n.addr};
    fp_error_t err;
    fp_pool_t *pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    fp_pool_stats_t before = stats_of(pool);
    assert_true(size >= before.rndv_threshold);
    double t0 = fp_test_now();
    assert_int_equal(fp_pool_ship_module(pool, big, &err), FP_OK);
    double t_need = fp_test_now() - t0;
    fp_pool_stats_t s = stats_of(pool);
    assert_int_equal(s.modules_shipped, 1);
    assert_int_equal(s.module_bytes_sent, size);
    assert_true(s.rndv_sent >= before.rndv_sent + 1);
    assert_int_equal(s.large_bytes_copied, 0);
    uint64_t in[3] = {0, 5, (320u << 10) - 1}, out[3];
    assert_int_equal(fp_map(pool, "ship.big", in, 8, 3, out, 8, NULL, &err),
                     FP_OK);
    assert_true(out[0] == 7 + (320u << 10) && out[1] == (320u << 10) &&
                out[2] == 9 + (320u << 10));
    bool found;
    assert_int_equal(cache_files(cache, hex, &found), 1);
    assert_true(found);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    /* again from another pool: the hash only */
    pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    t0 = fp_test_now();
    assert_int_equal(fp_pool_ship_module(pool, big, &err), FP_OK);
    double t_have = fp_test_now() - t0;
    assert_int_equal(stats_of(pool).module_bytes_sent, 0);
    printf("fp_pool_ship_module of %zu bytes: %.3f ms sent (NEED), %.3f ms "
           "cached (HAVE)\n",
           size, t_need * 1e3, t_have * 1e3);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    worker_end(&n);
}

/* Bad paths are refused on the client, naming the path. */
static void test_bad_path(void **state)
{
    (void)state;
    char cache[300], missing[300];
    cache_make(cache, sizeof(cache), "badpath");
    snprintf(missing, sizeof(missing), "%s/no-such-module.so", g_tmp);
    fp_test_node_t n;
    worker_start(&n, cache);
    const char *nodes[] = {n.addr};
    fp_error_t err;
    (void)pool_on(nodes, 1, (const char *[]){missing}, 1, FP_ERR_NOT_FOUND,
                  &err);
    assert_non_null(strstr(err.message, missing));
    fp_pool_t *pool = pool_on(nodes, 1, NULL, 0, FP_OK, &err);
    assert_int_equal(fp_pool_ship_module(pool, missing, &err),
                     FP_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "No such file"));
    assert_int_equal(fp_pool_ship_module(pool, NULL, &err), FP_ERR_INVALID);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
    worker_end(&n);
}

/* Without nodes the module is loaded in this process: the same program
 * runs with and without nodes.  Last: it puts the tasks in this process. */
static void test_local_pool(void **state)
{
    (void)state;
    fp_error_t err;
    fp_pool_params_t pp = {.executors = 2,
                           .ship_modules = &g_module,
                           .nship_modules = 1};
    fp_pool_t *pool;
    fp_status_t st = fp_pool_create(g_ctx, &pp, &pool, &err);
    if (st != FP_OK)
        fail_msg("local pool: %s (%s)", fp_status_name(st), err.message);
    check_tasks(pool);
    assert_int_equal(fp_pool_ship_module(pool, g_module, &err), FP_OK);
    assert_int_equal(stats_of(pool).modules_shipped, 0);
    assert_int_equal(fp_pool_destroy(pool), FP_OK);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    g_worker = getenv("FP_TEST_WORKER");
    g_module = getenv("FP_TEST_SHIP_MODULE");
    if (g_worker == NULL || g_module == NULL || strchr(g_module, '/') == NULL) {
        printf("SKIP: FP_TEST_WORKER / FP_TEST_SHIP_MODULE (a path) not "
               "set\n");
        return 77;
    }
    unsetenv("FP_NODES");
    unsetenv("FP_SHIP_MODULES");
    fp_test_secret_env();
    const char *t = getenv("TMPDIR");
    snprintf(g_tmp, sizeof(g_tmp), "%s/fp-modules-XXXXXX",
             t != NULL && t[0] != '\0' ? t : "/tmp");
    if (mkdtemp(g_tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (fp_context_create(NULL, &g_ctx) != FP_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ship_then_cached),
        cmocka_unit_test(test_corrupt_refused),
        cmocka_unit_test(test_not_elf),
        cmocka_unit_test(test_named_before_then_join),
        cmocka_unit_test(test_big_module),
        cmocka_unit_test(test_bad_path),
        cmocka_unit_test(test_local_pool),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp_context_destroy(g_ctx);
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
