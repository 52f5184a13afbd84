/*
 * Settings (common/settings.c): one parser per setting, and bad values said
 * out loud.  A bad FP_EXECUTORS gets one warning naming the variable, the
 * value and what is used instead; FP_LOG_LEVEL is parsed once for every
 * layer (core and transport alike), case-insensitively or as 1..6, and a
 * bad one is warned about.  The FP_LOG_LEVEL cases run in a fresh copy of
 * this program (the process default logger reads it once).
 */
#include "fp_test.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/settings.h"
#include "transport/tp.h"

/* ---- warnings through a context's log sink ------------------------------ */

typedef struct captured {
    int warnings;
    char last[1024];
} captured_t;

static void capture(fp_log_level_t level, const char *msg, void *ud)
{
    captured_t *c = ud;
    if (level == FP_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof(c->last), "%s", msg);
    }
}

static unsigned cores(void)
{
    /* the pool's own default: a pool with FP_EXECUTORS unset */
    unsetenv("FP_EXECUTORS");
    fp_context_t *ctx;
    fp_pool_t *pool;
    assert_ok(fp_context_create(NULL, &ctx));
    assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
    unsigned n = fp_pool_size(pool);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
    return n;
}

static void test_bad_executors(void **state)
{
    (void)state;
    unsigned dflt = cores();
    static const char *const bad[] = {"garbage", "-1", "0", "4097", "3abc",
                                      "2.5", "0x10", " 3", "+3", "3 ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        captured_t cap = {0};
        fp_context_params_t cp = {.log_level = FP_LOG_WARN, .log_fn = capture,
                              .log_user_data = &cap};
        fp_context_t *ctx;
        assert_ok(fp_context_create(&cp, &ctx));
        setenv("FP_EXECUTORS", bad[i], 1);
        for (int k = 0; k < 3; k++) { /* one warning, not one per pool */
            fp_pool_t *pool;
            assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
            assert_int_equal(fp_pool_size(pool), dflt);
            assert_ok(fp_pool_destroy(pool));
        }
        unsetenv("FP_EXECUTORS");
        fp_context_destroy(ctx);
        if (cap.warnings != 1)
            fail_msg("FP_EXECUTORS=%s: %d warnings", bad[i], cap.warnings);
        char want[64];
        snprintf(want, sizeof(want), "FP_EXECUTORS='%s'", bad[i]);
        if (strstr(cap.last, want) == NULL ||
            strstr(cap.last, "1 to 4096") == NULL)
            fail_msg("warning does not name the variable, value and bounds: "
                     "%s",
                     cap.last);
        snprintf(want, sizeof(want), "using %u", dflt);
        if (strstr(cap.last, want) == NULL)
            fail_msg("warning does not say what is used: %s", cap.last);
    }
    /* a good value is taken, silently */
    captured_t cap = {0};
    fp_context_params_t cp = {.log_level = FP_LOG_WARN, .log_fn = capture,
                              .log_user_data = &cap};
    fp_context_t *ctx;
    assert_ok(fp_context_create(&cp, &ctx));
    setenv("FP_EXECUTORS", "3", 1);
    fp_pool_t *pool;
    assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), 3);
    assert_ok(fp_pool_destroy(pool));
    unsetenv("FP_EXECUTORS");
    fp_context_destroy(ctx);
    assert_int_equal(cap.warnings, 0);
}

static void test_bad_pin(void **state)
{
    (void)state;
    captured_t cap = {0};
    fp_context_params_t cp = {.log_level = FP_LOG_WARN, .log_fn = capture,
                              .log_user_data = &cap};
    fp_context_t *ctx;
    assert_ok(fp_context_create(&cp, &ctx));
    setenv("FP_PIN", "sideways", 1);
    fp_pool_t *pool;
    fp_pool_params_t pp = {.executors = 1};
    assert_ok(fp_pool_create(ctx, &pp, &pool, NULL));
    assert_ok(fp_pool_destroy(pool));
    unsetenv("FP_PIN");
    fp_context_destroy(ctx);
    assert_int_equal(cap.warnings, 1);
    assert_non_null(strstr(cap.last, "FP_PIN='sideways'"));
    assert_non_null(strstr(cap.last, "using core"));
}

/* ---- the config file's `pool` group --------------------------------------- */

static void test_config_pool_group(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fp-settings-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("pool = { executors = 3; pin = \"none\"; };\n", f);
    fclose(f);
    setenv("FP_CONFIG", path, 1);
    fp_context_t *ctx;
    fp_pool_t *pool;
    assert_ok(fp_context_create(NULL, &ctx));
    assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), 3);
    assert_ok(fp_pool_destroy(pool));
    /* the environment beats the file */
    setenv("FP_EXECUTORS", "2", 1);
    assert_ok(fp_pool_create(ctx, NULL, &pool, NULL));
    assert_int_equal(fp_pool_size(pool), 2);
    assert_ok(fp_pool_destroy(pool));
    unsetenv("FP_EXECUTORS");

    /* a bad file is refused with file, line and key */
    snprintf(path, sizeof(path), "/tmp/fp-settings-bad-%d.cfg", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("\npool = {\n  executors = 0;\n};\n", f);
    fclose(f);
    setenv("FP_CONFIG", path, 1);
    fp_error_t err;
    fp_context_params_t quiet = {.log_level = FP_LOG_OFF};
    fp_context_t *qctx;
    assert_ok(fp_context_create(&quiet, &qctx));
    assert_status(fp_pool_create(qctx, NULL, &pool, &err), FP_ERR_CONFIG);
    if (strstr(err.message, ":3: pool.executors: must be") == NULL)
        fail_msg("reason: %s", err.message);
    /* a bare top-level setting is refused too (settings live in groups);
     * a group of another layer is left alone */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("cluster = { name = \"x\"; };\nexecutors = 3;\n", f);
    fclose(f);
    assert_status(fp_pool_create(qctx, NULL, &pool, &err), FP_ERR_CONFIG);
    if (strstr(err.message, ":2: executors: settings live in groups (this "
                            "one in pool") == NULL)
        fail_msg("reason: %s", err.message);
    /* what belongs to other layers (groups, lists, other names) is left
     * alone: a cluster file loads */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("hosts = ( { address = \"h1\"; } );\nname = \"c\";\n"
          "pool = { executors = 2; };\n",
          f);
    fclose(f);
    assert_ok(fp_pool_create(qctx, NULL, &pool, &err));
    assert_int_equal(fp_pool_size(pool), 2);
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(qctx);
    unsetenv("FP_CONFIG");
    unlink(path);
    snprintf(path, sizeof(path), "/tmp/fp-settings-%d.cfg", (int)getpid());
    unlink(path);
    fp_context_destroy(ctx);
}

/* The example file the repository ships is valid and says what it says. */
static void test_example_config(void **state)
{
    (void)state;
    fp__config_t *cfg = NULL;
    char why[400];
    fp_status_t st = fp__config_load(FP_EXAMPLE_CFG, &cfg, why, sizeof(why));
    if (st != FP_OK)
        fail_msg("%s: %s", FP_EXAMPLE_CFG, why);
    assert_int_equal(fp__setting_enum(NULL, FP__SET_PIN, cfg), 1);
    assert_int_equal(fp__setting_int(NULL, FP__SET_RNDV_THRESHOLD, cfg),
                     65536);
    fp__config_free(cfg);
}

/* Every default in the table is a valid value of its setting, and the
 * defaults reach the callers when nothing sets them. */
static void test_table_defaults(void **state)
{
    (void)state;
    char why[200];
    if (!fp__settings_table_ok(why, sizeof(why)))
        fail_msg("%s", why);
    assert_int_equal(fp__setting_int(NULL, FP__SET_RNDV_THRESHOLD, NULL),
                     65536);
    assert_true(fp__setting_seconds(NULL, FP__SET_PEER_DEADLINE, NULL) == 10.0);
    assert_false(fp__setting_bool(NULL, FP__SET_BUSY_POLL, NULL));
    char lib[64];
    fp__setting_string(NULL, FP__SET_UCX_LIB, NULL, lib, sizeof(lib));
    assert_string_equal(lib, "libucp.so.0");
    assert_int_equal(fp__setting_int_or(NULL, FP__SET_EXECUTORS, NULL, 7), 7);
}

/* ---- FP_LOG_LEVEL, in a fresh process ------------------------------------ */

static char self[4096];

/* Run this program as `self --child MODE` with FP_LOG_LEVEL=level; return
 * what it wrote on stderr. */
static char *run_child(const char *mode, const char *level)
{
    char tmpl[] = "/tmp/fp-settings-err-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        setenv("FP_LOG_LEVEL", level, 1);
        execl(self, self, "--child", mode, (char *)NULL);
        _exit(127);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    static char buf[16384];
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(tmpl);
    return buf;
}

static int child_main(const char *mode)
{
    fp_context_t *ctx;
    if (fp_context_create(NULL, &ctx) != FP_OK) /* logs "context created" */
        return 1;
    fp_context_destroy(ctx);
    if (strcmp(mode, "transport") == 0) {
        static const char bytes[] = "settings-test secret with enough bytes";
        fp__auth_secret_t *s = NULL;
        if (fp__auth_secret_from_bytes(bytes, sizeof(bytes) - 1, "test", &s,
                                       NULL, 0) != FP_OK)
            return 2;
        fp__tp_params_t p = {.transports = "tcp", .secret = s, .name = "tpx"};
        fp__tp_t *tp;
        if (fp__tp_create(&p, &tp) != FP_OK)
            return 3;
        fp__tp_destroy(tp);
        fp__auth_secret_free(s);
    }
    return 0;
}

static void test_log_level_parsed_once(void **state)
{
    (void)state;
    /* every spelling turns on debug in core and in the transport alike */
    static const char *const debug[] = {"debug", "DEBUG", "Debug", "4"};
    for (size_t i = 0; i < sizeof(debug) / sizeof(debug[0]); i++) {
        const char *out = run_child("transport", debug[i]);
        if (strstr(out, "DEBUG] context created") == NULL)
            fail_msg("FP_LOG_LEVEL=%s: no core debug line in:\n%s", debug[i],
                     out);
        if (strstr(out, "DEBUG tpx]") == NULL)
            fail_msg("FP_LOG_LEVEL=%s: no transport debug line in:\n%s",
                     debug[i], out);
        if (strstr(out, "not valid") != NULL)
            fail_msg("FP_LOG_LEVEL=%s warned:\n%s", debug[i], out);
    }
    /* a bad value: one warning, and warn is used */
    const char *out = run_child("transport", "garbage");
    if (strstr(out, "FP_LOG_LEVEL='garbage' is not valid") == NULL ||
        strstr(out, "using warn") == NULL)
        fail_msg("no warning for FP_LOG_LEVEL=garbage:\n%s", out);
    const char *first = strstr(out, "FP_LOG_LEVEL=");
    if (first != NULL && strstr(first + 1, "FP_LOG_LEVEL=") != NULL)
        fail_msg("more than one warning:\n%s", out);
    if (strstr(out, "DEBUG") != NULL || strstr(out, "INFO") != NULL)
        fail_msg("debug or info lines at the default level:\n%s", out);
    /* off: nothing at all */
    out = run_child("core", "off");
    if (out[0] != '\0')
        fail_msg("FP_LOG_LEVEL=off printed:\n%s", out);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_executors),
        cmocka_unit_test(test_bad_pin),
        cmocka_unit_test(test_config_pool_group),
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_table_defaults),
        cmocka_unit_test(test_log_level_parsed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
