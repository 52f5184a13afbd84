/*
 * Cluster files (config/cluster.c): each broken file in the table is
 * refused with its exact message, "FILE:LINE: KEY: what is wrong"; good
 * files load to what they say (defaults, ~ and relative paths, merged ssh
 * settings, the settings reader's groups beside the cluster group); the
 * summary names every host.  Files are written into a fresh folder that
 * is also HOME, holding `secret` (0600) and `open-secret` (0644).
 */
#include "fp_test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/settings.h"
#include "config/cluster.h"

static char dir[64];

static void put(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

/* `in` with @D replaced by the folder and @F by `file`. */
static void expand(const char *in, const char *file, char *out, size_t n)
{
    size_t used = 0;
    for (const char *p = in; *p && used + 1 < n; p++) {
        if (p[0] == '@' && (p[1] == 'D' || p[1] == 'F')) {
            used += (size_t)snprintf(out + used, n - used, "%s",
                                     p[1] == 'D' ? dir : file);
            p++;
        } else {
            out[used++] = *p;
        }
    }
    out[used < n ? used : n - 1] = '\0';
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/fp-test-cluster-XXXXXX");
    assert_non_null(mkdtemp(dir));
    setenv("HOME", dir, 1);
    char p[128];
    snprintf(p, sizeof(p), "%s/secret", dir);
    put(p, "0123456789abcdef0123456789abcdef\n", 0600);
    snprintf(p, sizeof(p), "%s/open-secret", dir);
    put(p, "0123456789abcdef0123456789abcdef\n", 0644);
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/sub/secret", dir);
    put(p, "0123456789abcdef0123456789abcdef\n", 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const files[] = {"secret", "open-secret", "bad.cfg",
                                        "good.cfg", "sub/secret",
                                        "sub/rel.cfg", "sub", NULL};
    char p[128];
    for (size_t i = 0; files[i] != NULL; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        if (unlink(p) != 0)
            rmdir(p);
    }
    rmdir(dir);
    return 0;
}

/* ---- the broken files ----------------------------------------------------- */

typedef struct bad {
    const char *what;
    const char *text;
    const char *message; /* exact; @F the file, @D the folder */
} bad_t;

#define HEAD "cluster = {\n  bootstrap = \"ssh\";\n"
#define ONE_HOST "  hosts = ( { address = \"10.77.0.1\"; } );\n"

static const bad_t bad[] = {
    {"syntax error",
     HEAD "  name = \"x\"\n  encrypt = ;\n};\n",
     "@F:4: syntax error: syntax error"},
    {"unknown key, with a suggestion",
     HEAD "  hosts = (\n    { address = \"10.77.0.1\";\n      executor = 4; }\n  );\n};\n",
     "@F:5: cluster.hosts[0].executor: unknown key (did you mean "
     "\"executors\"?)"},
    {"unknown key, nothing close",
     HEAD ONE_HOST "  colour = \"red\";\n};\n",
     "@F:4: cluster.colour: unknown key (known: name, bootstrap, server, "
     "secret_file, transports, encrypt, environment, node, ssh, elastic, "
     "hosts)"},
    {"unknown key in ssh, case only",
     HEAD ONE_HOST "  ssh = { User = \"root\"; };\n};\n",
     "@F:4: cluster.ssh.User: unknown key (did you mean \"user\"?)"},
    {"wrong type: bool as a string",
     HEAD ONE_HOST "  encrypt = \"yes\";\n};\n",
     "@F:4: cluster.encrypt: want true or false, got \"yes\""},
    {"wrong type: hosts as a group",
     HEAD "  hosts = { address = \"a\"; };\n};\n",
     "@F:3: cluster.hosts: want a list of host groups ( { address = "
     "\"...\"; }, ... ), got a group { }"},
    {"bad port",
     HEAD ONE_HOST "  ssh = {\n    port = 70000;\n  };\n};\n",
     "@F:5: cluster.ssh.port: want an integer 1..65535, got 70000"},
    {"bad per-host port",
     HEAD "  hosts = ( { address = \"a\"; ssh = { port = 0; }; } );\n};\n",
     "@F:3: cluster.hosts[0].ssh.port: want an integer 1..65535, got 0"},
    {"bad executors: a word",
     HEAD "  hosts = (\n    { address = \"10.77.0.1\"; },\n"
     "    { address = \"10.77.0.2\";\n      executors = \"many\"; }\n  );\n};\n",
     "@F:6: cluster.hosts[1].executors: want an integer 1..4096 or \"auto\", "
     "got \"many\""},
    {"bad executors: too many",
     HEAD "  hosts = ( { address = \"a\"; executors = 4097; } );\n};\n",
     "@F:3: cluster.hosts[0].executors: want an integer 1..4096 or \"auto\", "
     "got 4097"},
    {"bad executors: a float",
     HEAD "  hosts = ( { address = \"a\"; executors = 2.0; } );\n};\n",
     "@F:3: cluster.hosts[0].executors: want an integer 1..4096 or \"auto\", "
     "got 2.0"},
    {"duplicate host",
     HEAD "  hosts = (\n    { address = \"10.77.0.1\"; },\n"
     "    { address = \"10.77.0.1\"; name = \"again\"; }\n  );\n};\n",
     "@F:5: cluster.hosts[1].address: \"10.77.0.1\" is already hosts[0] "
     "(line 4); two nodes on one host need distinct listen_port values"},
    {"duplicate name",
     HEAD "  hosts = (\n    { address = \"10.77.0.1\"; name = \"h\"; },\n"
     "    { address = \"10.77.0.2\"; name = \"h\"; }\n  );\n};\n",
     "@F:5: cluster.hosts[1].name: \"h\" is already the name of hosts[0] "
     "(line 4)"},
    {"host without an address",
     HEAD "  hosts = (\n    { name = \"h1\"; }\n  );\n};\n",
     "@F:4: cluster.hosts[0]: missing address (a host name or IP address)"},
    {"address with a user",
     HEAD "  hosts = ( { address = \"root@10.77.0.1\"; } );\n};\n",
     "@F:3: cluster.hosts[0].address: want a host name or IP address, got "
     "\"root@10.77.0.1\" (give the user as ssh.user)"},
    {"elastic min > max",
     HEAD ONE_HOST "  elastic = {\n    min = 3;\n    max = 1;\n  };\n};\n",
     "@F:5: cluster.elastic.min: min (3) is greater than max (1)"},
    {"elastic max beyond the hosts",
     HEAD ONE_HOST "  elastic = { max = 2; };\n};\n",
     "@F:4: cluster.elastic.max: 2 nodes, but bootstrap \"ssh\" has only 1 "
     "host listed"},
    {"server bootstrap without a server",
     "cluster = {\n  name = \"s\";\n  bootstrap = \"server\";\n};\n",
     "@F:3: cluster.bootstrap: \"server\" needs cluster.server = "
     "\"HOST:PORT\" (the rendezvous server's address)"},
    {"server without a port",
     "cluster = {\n  bootstrap = \"server\";\n  server = \"10.0.0.1\";\n};\n",
     "@F:3: cluster.server: want \"HOST:PORT\" (\"[ADDR]:PORT\" for IPv6), "
     "got \"10.0.0.1\""},
    {"server port out of range",
     "cluster = {\n  bootstrap = \"server\";\n  server = \"h:0\";\n};\n",
     "@F:3: cluster.server: want \"HOST:PORT\" with a port 1..65535, got "
     "\"h:0\""},
    {"secret file readable by others",
     HEAD ONE_HOST "  secret_file = \"~/open-secret\";\n};\n",
     "@F:4: cluster.secret_file: @D/open-secret has mode 0644: group and "
     "others must have no access to a secret (chmod 600 @D/open-secret)"},
    {"missing secret file",
     HEAD ONE_HOST "  secret_file = \"/nonexistent/fp-secret\";\n};\n",
     "@F:4: cluster.secret_file: /nonexistent/fp-secret: No such file or "
     "directory"},
    {"relative secret path, resolved against the file's folder",
     HEAD ONE_HOST "  secret_file = \"no-such-secret\";\n};\n",
     "@F:4: cluster.secret_file: @D/no-such-secret: No such file or "
     "directory"},
    {"~user of no user",
     HEAD ONE_HOST "  ssh = { identity_file = \"~nosuchuser-fp/k\"; };\n};\n",
     "@F:4: cluster.ssh.identity_file: \"~nosuchuser-fp/k\": no user "
     "\"nosuchuser-fp\" for ~nosuchuser-fp"},
    {"empty hosts",
     HEAD "  hosts = ( );\n};\n",
     "@F:3: cluster.hosts: bootstrap \"ssh\" needs at least one host, got an "
     "empty list"},
    {"no hosts at all",
     "cluster = {\n  bootstrap = \"mpirun\";\n};\n",
     "@F:2: cluster.hosts: missing: bootstrap \"mpirun\" needs a list of "
     "hosts"},
    {"bad gpus list: repeated",
     HEAD "  hosts = ( { address = \"a\";\n    gpus = [0, 1, 0]; } );\n};\n",
     "@F:4: cluster.hosts[0].gpus[2]: device 0 is listed twice"},
    {"bad gpus list: negative",
     HEAD "  hosts = ( { address = \"a\"; gpus = [-1]; } );\n};\n",
     "@F:3: cluster.hosts[0].gpus[0]: want a device index 0..1023, got -1"},
    {"bad gpus: a word",
     HEAD "  hosts = ( { address = \"a\"; gpus = \"all\"; } );\n};\n",
     "@F:3: cluster.hosts[0].gpus: want an integer 0..1024, \"auto\" or a "
     "list of device indices [0, 1, ...], got \"all\""},
    {"bad environment value type",
     HEAD ONE_HOST "  environment = {\n    OMP_NUM_THREADS = 1;\n  };\n};\n",
     "@F:5: cluster.environment.OMP_NUM_THREADS: want a string (quote "
     "numbers: NAME = \"1\";), got 1"},
    {"unknown bootstrap method",
     "cluster = {\n  bootstrap = \"pbs\";\n};\n",
     "@F:2: cluster.bootstrap: want one of \"ssh\", \"server\", \"mpirun\", "
     "\"slurm\", \"none\", got \"pbs\""},
    {"missing bootstrap",
     "cluster = {\n  name = \"x\";\n};\n",
     "@F:1: cluster.bootstrap: missing: want one of \"ssh\", \"server\", "
     "\"mpirun\", \"slurm\", \"none\""},
    {"unknown transport",
     HEAD ONE_HOST "  transports = [\"shm\", \"infiniband\"];\n};\n",
     "@F:4: cluster.transports[1]: want a transport name (shm, tcp, rc, ud, "
     "dc or a UCX transport name), got \"infiniband\""},
    {"transports twice",
     HEAD ONE_HOST "  transports = [\"tcp\"];\n};\ntransport = {\n"
     "  list = \"shm\";\n};\n",
     "@F:7: transport.list: cluster.transports is set too (line 4): keep one"},
    {"bootstrap none needs ports",
     "cluster = {\n  bootstrap = \"none\";\n  hosts = (\n"
     "    { address = \"a\"; listen_port = 7000; },\n    { address = \"b\"; }\n"
     "  );\n};\n",
     "@F:5: cluster.hosts[1].listen_port: bootstrap \"none\" connects to "
     "running nodes: want the port the node listens on (1..65535)"},
    {"ssh option with -o",
     HEAD ONE_HOST "  ssh = { options = [\"-oBatchMode=yes\"]; };\n};\n",
     "@F:4: cluster.ssh.options[0]: want an ssh option \"Key=Value\" "
     "(without -o), got \"-oBatchMode=yes\""},
    {"no cluster group: a typo",
     "clustre = {\n  bootstrap = \"ssh\";\n};\n",
     "@F:1: clustre: unknown group (did you mean \"cluster\"?)"},
    {"elastic bad idle timeout",
     HEAD ONE_HOST "  elastic = { idle_timeout = \"5m\"; };\n};\n",
     "@F:4: cluster.elastic.idle_timeout: want a number of seconds "
     "0..604800, got \"5m\""},
    {"the settings reader's groups are checked too",
     HEAD ONE_HOST "};\npool = {\n  executors = 0;\n};\n",
     "@F:6: pool.executors: must be an integer from 1 to 4096"},
};

static void test_bad_files(void **state)
{
    (void)state;
    char file[128];
    snprintf(file, sizeof(file), "%s/bad.cfg", dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put(file, bad[i].text, 0644);
        fp__cluster_t *cl = (fp__cluster_t *)0x1;
        fp_error_t err;
        fp_status_t st = fp__cluster_load(file, &cl, &err);
        if (st == FP_OK) {
            print_error("case \"%s\": loaded\n", bad[i].what);
            fail();
        }
        assert_int_equal(st, FP_ERR_CONFIG);
        assert_int_equal(err.status, FP_ERR_CONFIG);
        assert_ptr_equal(cl, (fp__cluster_t *)0x1); /* untouched */
        char want[512];
        expand(bad[i].message, file, want, sizeof(want));
        if (strcmp(err.message, want) != 0) {
            print_error("case \"%s\":\n  got  %s\n  want %s\n", bad[i].what,
                        err.message, want);
            fail();
        }
    }
}

/* A setting from an @include'd file is reported at that file's line. */
static void test_include(void **state)
{
    (void)state;
    char file[128], inc[128];
    snprintf(file, sizeof(file), "%s/good.cfg", dir);
    snprintf(inc, sizeof(inc), "%s/hosts.inc", dir);
    put(inc, "hosts = (\n  { address = \"a\"; },\n  { address = \"b\";\n"
             "    executors = 0; }\n);\n", 0644);
    put(file, "cluster = {\n  bootstrap = \"ssh\";\n  @include \"hosts.inc\"\n"
              "  encrypt = false;\n};\n", 0644);
    fp__cluster_t *cl = NULL;
    fp_error_t err;
    assert_int_equal(fp__cluster_load(file, &cl, &err), FP_ERR_CONFIG);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:4: cluster.hosts[1].executors: want an integer 1..4096 or "
             "\"auto\", got 0", inc);
    assert_string_equal(err.message, want);
    /* and the main file's own lines after it are still its own */
    put(inc, "hosts = ( { address = \"a\"; } );\n", 0644);
    put(file, "cluster = {\n  bootstrap = \"ssh\";\n  @include \"hosts.inc\"\n"
              "  encrypt = \"no\";\n};\n", 0644);
    assert_int_equal(fp__cluster_load(file, &cl, &err), FP_ERR_CONFIG);
    snprintf(want, sizeof(want),
             "%s:4: cluster.encrypt: want true or false, got \"no\"", file);
    assert_string_equal(err.message, want);
    /* a syntax error in the included file names it */
    put(inc, "hosts = ( { address = ; } );\n", 0644);
    assert_int_equal(fp__cluster_load(file, &cl, &err), FP_ERR_CONFIG);
    snprintf(want, sizeof(want), "%s:1: syntax error: syntax error", inc);
    assert_string_equal(err.message, want);
    unlink(inc);
}

/* A secret file of another user (needs root to make one). */
static void test_secret_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char file[128], sec[128];
    snprintf(file, sizeof(file), "%s/good.cfg", dir);
    snprintf(sec, sizeof(sec), "%s/sub/secret", dir);
    assert_int_equal(chown(sec, 65534, 65534), 0);
    put(file, HEAD ONE_HOST "  secret_file = \"sub/secret\";\n};\n", 0644);
    fp__cluster_t *cl = NULL;
    fp_error_t err;
    fp_status_t st = fp__cluster_load(file, &cl, &err);
    assert_int_equal(chown(sec, 0, 0), 0);
    assert_int_equal(st, FP_ERR_CONFIG);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:4: cluster.secret_file: %s is owned by uid 65534, not by "
             "this user (uid 0)",
             file, sec);
    assert_string_equal(err.message, want);
}

static void test_unreadable(void **state)
{
    (void)state;
    fp__cluster_t *cl = NULL;
    fp_error_t err;
    assert_int_equal(fp__cluster_load("/nonexistent/c.cfg", &cl, &err),
                     FP_ERR_IO);
    assert_string_equal(err.message, "/nonexistent/c.cfg: cannot read the "
                                     "file: No such file or directory");
    assert_null(cl);
    assert_int_equal(fp__cluster_load(NULL, &cl, &err), FP_ERR_INVALID);
}

/* ---- good files ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    fp__cluster_t *cl = NULL;
    fp_error_t err;
    fp_status_t st = fp__cluster_parse_string(
        "cluster = { bootstrap = \"ssh\"; hosts = ( { address = \"a\"; } ); };",
        "/x/y/lab.cfg", &cl, &err);
    if (st != FP_OK)
        print_error("%s\n", err.message);
    assert_ok(st);
    assert_string_equal(cl->name, "lab");
    assert_int_equal(cl->bootstrap, FP__BOOTSTRAP_SSH);
    assert_null(cl->server);
    assert_null(cl->secret_file);
    assert_null(cl->transports);
    assert_false(cl->encrypt);
    assert_int_equal(cl->n_env, 0);
    assert_null(cl->node.program);
    assert_int_equal(cl->node.bundle, FP__BUNDLE_AUTO);
    assert_string_equal(cl->node.cache_dir, "~/.cache/fastpool");
    assert_int_equal(cl->ssh.connect_timeout, 10);
    assert_false(cl->elastic.enabled);
    assert_int_equal(cl->elastic.min, 1);
    assert_int_equal(cl->elastic.max, 1);
    assert_int_equal(cl->n_hosts, 1);
    const fp__cluster_host_t *h = &cl->hosts[0];
    assert_string_equal(h->name, "a");
    assert_string_equal(h->address, "a");
    assert_int_equal(h->executors, FP__CLUSTER_AUTO);
    assert_int_equal(h->gpus, 0);
    assert_int_equal(h->listen_port, 0);
    assert_null(h->ssh.user);
    assert_int_equal(h->ssh.port, 0);
    assert_int_equal(h->ssh.connect_timeout, 10);
    fp__cluster_free(cl);
}

static void test_values(void **state)
{
    (void)state;
    char file[128];
    snprintf(file, sizeof(file), "%s/sub/rel.cfg", dir);
    put(file,
        "cluster = {\n"
        "  name = \"v\";\n"
        "  bootstrap = \"SSH\";\n"
        "  server = \"[fe80::1]:7600\";\n"
        "  secret_file = \"secret\";\n"
        "  transports = [\"shm\", \"tcp\", \"rc\"];\n"
        "  encrypt = true;\n"
        "  environment = { A = \"1\"; B_2 = \"x y\"; };\n"
        "  node = { bundle = \"never\"; program = \"/opt/fp/bin/w\";\n"
        "           listen_port = 7000; };\n"
        "  ssh = { user = \"root\"; port = 2222; identity_file = \"k/id\";\n"
        "          config_file = \"~/ssh_config\";\n"
        "          options = [\"A=1\", \"B=2\"]; connect_timeout = 3; };\n"
        "  elastic = { min = 0; idle_timeout = 1.5; scale_up_after = 2; };\n"
        "  hosts = (\n"
        "    { address = \"h1\"; executors = 8; gpus = [3, 1];\n"
        "      ssh = { user = \"fp\"; port = 22; options = [\"A=9\"];\n"
        "              identity_file = \"/etc/k\"; }; },\n"
        "    { name = \"second\"; address = \"fe80::2\"; gpus = \"auto\";\n"
        "      listen_port = 0; }\n"
        "  );\n"
        "};\n",
        0644);
    fp__cluster_t *cl = NULL;
    fp_error_t err;
    fp_status_t st = fp__cluster_load(file, &cl, &err);
    if (st != FP_OK)
        print_error("%s\n", err.message);
    assert_ok(st);
    char want[256];
    assert_string_equal(cl->server_host, "fe80::1");
    assert_int_equal(cl->server_port, 7600);
    snprintf(want, sizeof(want), "%s/sub/secret", dir); /* relative */
    assert_string_equal(cl->secret_file, want);
    assert_string_equal(cl->transports, "shm,tcp,rc");
    assert_true(cl->encrypt);
    assert_int_equal(cl->n_env, 2);
    assert_string_equal(cl->env[1].name, "B_2");
    assert_string_equal(cl->env[1].value, "x y");
    assert_int_equal(cl->node.bundle, FP__BUNDLE_NEVER);
    assert_string_equal(cl->node.program, "/opt/fp/bin/w");
    snprintf(want, sizeof(want), "%s/sub/k/id", dir);
    assert_string_equal(cl->ssh.identity_file, want);
    snprintf(want, sizeof(want), "%s/ssh_config", dir); /* ~ is HOME */
    assert_string_equal(cl->ssh.config_file, want);
    assert_true(cl->elastic.enabled);
    assert_int_equal(cl->elastic.min, 0);
    assert_int_equal(cl->elastic.max, 2);
    assert_true(cl->elastic.idle_timeout == 1.5);
    assert_true(cl->elastic.scale_up_after == 2.0);
    assert_int_equal(cl->n_hosts, 2);
    const fp__cluster_host_t *h = &cl->hosts[0];
    assert_int_equal(h->executors, 8);
    assert_int_equal(h->gpus, 2);
    assert_int_equal(h->n_gpu_ids, 2);
    assert_int_equal(h->gpu_ids[0], 3);
    assert_int_equal(h->gpu_ids[1], 1);
    assert_int_equal(h->listen_port, 7000); /* node.listen_port */
    assert_string_equal(h->ssh.user, "fp");
    assert_int_equal(h->ssh.port, 22);
    assert_string_equal(h->ssh.identity_file, "/etc/k");
    assert_int_equal(h->ssh.connect_timeout, 3);
    /* the host's options first: ssh keeps the first value of each */
    assert_int_equal(h->ssh.n_options, 3);
    assert_string_equal(h->ssh.options[0], "A=9");
    assert_string_equal(h->ssh.options[1], "A=1");
    assert_string_equal(h->ssh.options[2], "B=2");
    h = &cl->hosts[1];
    assert_string_equal(h->name, "second");
    assert_int_equal(h->gpus, FP__CLUSTER_AUTO);
    assert_int_equal(h->listen_port, 0);
    assert_string_equal(h->ssh.user, "root");
    assert_int_equal(h->ssh.port, 2222);
    snprintf(want, sizeof(want), "%s/sub/k/id", dir);
    assert_string_equal(h->ssh.identity_file, want);
    assert_int_equal(h->ssh.n_options, 2);

    /* the summary has a row per host */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fp__cluster_describe(cl, f);
    fclose(f);
    assert_non_null(strstr(text, "cluster v ("));
    assert_non_null(strstr(text, "shm,tcp,rc"));
    assert_non_null(strstr(text, "fp@h1 -p 22 -i /etc/k -o A=9 -o A=1"));
    assert_non_null(strstr(text, "second"));
    assert_non_null(strstr(text, "[3,1]"));
    free(text);
    fp__cluster_free(cl);
}

/* The settings reader reads pool/transport from a cluster file and leaves
 * the cluster group to this layer, without a warning. */
static void test_settings_coexist(void **state)
{
    (void)state;
    char file[128];
    snprintf(file, sizeof(file), "%s/good.cfg", dir);
    put(file,
        "cluster = {\n  bootstrap = \"slurm\";\n  elastic = { max = 3; };\n"
        "};\npool = {\n  pin = \"none\";\n};\n",
        0644);
    /* the warning would go to stderr: catch it there */
    fflush(stderr);
    int saved = dup(2);
    char log[128];
    snprintf(log, sizeof(log), "%s/stderr", dir);
    int fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    fp__config_t *cfg = NULL;
    char reason[256] = "";
    fp_status_t st = fp__config_load(file, &cfg, reason, sizeof(reason));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[512] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(log);
    if (n > 0)
        print_error("settings reader said: %s\n", buf);
    assert_int_equal(n, 0);
    assert_ok(st);
    unsetenv("FP_PIN");
    assert_int_equal(fp__setting_enum(NULL, FP__SET_PIN, cfg), 2); /* none */
    fp__config_free(cfg);

    fp__cluster_t *cl = NULL;
    fp_error_t err;
    st = fp__cluster_load(file, &cl, &err);
    if (st != FP_OK)
        print_error("%s\n", err.message);
    assert_ok(st);
    assert_int_equal(cl->bootstrap, FP__BOOTSTRAP_SLURM);
    assert_int_equal(cl->elastic.min, 1);
    assert_int_equal(cl->elastic.max, 3);
    assert_int_equal(cl->n_hosts, 0);
    fp__cluster_free(cl);
}

int main(void)
{
    /* the settings reader's warnings must be seen (ctest runs at error) */
    setenv("FP_LOG_LEVEL", "warn", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_include),
        cmocka_unit_test(test_secret_owner),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_settings_coexist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
