/*
 * Tests for transport/auth.[ch]: pool secret loading (file checks,
 * environment, precedence) and the mutual HMAC handshake (success, wrong
 * secret, replay, reflection, tampering, bad nonces, misuse).
 *
 * Secret files are made with mkstemp under /tmp and removed by each test.
 * The tests may run as root: the permission check looks at the mode bits,
 * not at whether the file can be opened, so that makes no difference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

#define assert_status(expr, expected)                                          \
    do {                                                                       \
        fp_status_t fp_s_ = (expr);                                            \
        fp_status_t fp_e_ = (expected);                                        \
        if (fp_s_ != fp_e_)                                                    \
            fail_msg("%s: got %s (%d), expected %s (%d)", #expr,               \
                     fp_status_name(fp_s_), (int)fp_s_, fp_status_name(fp_e_), \
                     (int)fp_e_);                                              \
    } while (0)
#define assert_ok(expr) assert_status((expr), FP_OK)

#define assert_contains(hay, needle)                                           \
    do {                                                                       \
        if (strstr((hay), (needle)) == NULL)                                   \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (hay));            \
    } while (0)

#define ERRLEN 1024

static const char SECRET_A[] = "correct horse battery staple 0123456789";
static const char SECRET_B[] = "a different secret, also long enough";

/* ---- helpers ----------------------------------------------------------- */

/* A new temp file under /tmp holding `len` bytes, chmod'ed to `mode`; its
 * path goes into `path` (at least 32 bytes). */
static void make_file(char *path, const void *data, size_t len, mode_t mode)
{
    strcpy(path, "/tmp/fp_auth_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        fail_msg("mkstemp: %s", strerror(errno));
    if (len > 0 && write(fd, data, len) != (ssize_t)len)
        fail_msg("write: %s", strerror(errno));
    if (fchmod(fd, mode) != 0)
        fail_msg("fchmod: %s", strerror(errno));
    close(fd);
}

static void make_str_file(char *path, const char *s, mode_t mode)
{
    make_file(path, s, strlen(s), mode);
}

static fp__auth_secret_t *secret_bytes(const char *s)
{
    fp__auth_secret_t *sec = NULL;
    char err[ERRLEN];
    fp_status_t st = fp__auth_secret_from_bytes(s, strlen(s), NULL, &sec, err,
                                                sizeof(err));
    if (st != FP_OK)
        fail_msg("fp__auth_secret_from_bytes: %s", err);
    return sec;
}

/* Load from `path` (may be NULL: the environment), expecting FP_OK. */
static fp__auth_secret_t *load_ok(const char *path)
{
    fp__auth_secret_t *sec = NULL;
    char err[ERRLEN];
    fp_status_t st = fp__auth_secret_load(path, &sec, err, sizeof(err));
    if (st != FP_OK)
        fail_msg("fp__auth_secret_load(%s): %s: %s", path ? path : "NULL",
                 fp_status_name(st), err);
    assert_non_null(sec);
    return sec;
}

/* Load expecting `want`; the message goes into err. */
static void load_fail(const char *path, fp_status_t want, char *err)
{
    fp__auth_secret_t *sec = (fp__auth_secret_t *)&sec; /* must be reset */
    err[0] = '\0';
    assert_status(fp__auth_secret_load(path, &sec, err, ERRLEN), want);
    assert_null(sec);
    assert_true(strlen(err) > 0);
}

static const char CLIENT_ID[] = "client:hostA:1234";
static const char SERVER_ID[] = "node:hostB:7";

typedef struct hs {
    fp__auth_t c, s;
    unsigned char cproof[FP__AUTH_MAC_LEN], sproof[FP__AUTH_MAC_LEN];
    fp_status_t c_check, s_check;
    char cerr[ERRLEN], serr[ERRLEN];
} hs_t;

/* Both sides up to and including the HELLO exchange. */
static void hs_hello(hs_t *h, const fp__auth_secret_t *csec,
                     const fp__auth_secret_t *ssec)
{
    char err[ERRLEN];
    memset(h, 0, sizeof(*h));
    assert_ok(fp__auth_init(&h->c, FP__AUTH_CLIENT, csec, CLIENT_ID,
                            strlen(CLIENT_ID), err, sizeof(err)));
    assert_ok(fp__auth_init(&h->s, FP__AUTH_SERVER, ssec, SERVER_ID,
                            strlen(SERVER_ID), err, sizeof(err)));
    unsigned char cn[FP__AUTH_NONCE_LEN], sn[FP__AUTH_NONCE_LEN];
    memcpy(cn, fp__auth_my_nonce(&h->c), sizeof(cn));
    memcpy(sn, fp__auth_my_nonce(&h->s), sizeof(sn));
    assert_ok(fp__auth_set_peer(&h->c, sn, SERVER_ID, strlen(SERVER_ID), err,
                                sizeof(err)));
    assert_ok(fp__auth_set_peer(&h->s, cn, CLIENT_ID, strlen(CLIENT_ID), err,
                                sizeof(err)));
}

static void hs_proofs(hs_t *h)
{
    char err[ERRLEN];
    assert_ok(fp__auth_make_proof(&h->c, h->cproof, err, sizeof(err)));
    assert_ok(fp__auth_make_proof(&h->s, h->sproof, err, sizeof(err)));
}

/* A whole handshake; the check results are left in h. */
static void hs_run(hs_t *h, const fp__auth_secret_t *csec,
                   const fp__auth_secret_t *ssec)
{
    hs_hello(h, csec, ssec);
    hs_proofs(h);
    h->s_check = fp__auth_check_proof(&h->s, h->cproof, h->serr, ERRLEN);
    h->c_check = fp__auth_check_proof(&h->c, h->sproof, h->cerr, ERRLEN);
}

/* True if a handshake between the two secrets succeeds both ways. */
static int same_key(const fp__auth_secret_t *a, const fp__auth_secret_t *b)
{
    hs_t h;
    hs_run(&h, a, b);
    return h.c_check == FP_OK && h.s_check == FP_OK;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

static int setup_env(void **state)
{
    (void)state;
    unsetenv("FP_SECRET");
    unsetenv("FP_SECRET_FILE");
    return 0;
}

/* ---- secret files ------------------------------------------------------ */

static void test_file_0600_ok(void **state)
{
    (void)state;
    char path[64], path2[64];
    make_str_file(path, "0123456789abcdef0123\n", 0600);
    fp__auth_secret_t *sec = load_ok(path);
    char want[128];
    snprintf(want, sizeof(want), "file %s", path);
    assert_string_equal(fp__auth_secret_source(sec), want);

    /* One trailing newline is stripped: same key as the bare bytes. */
    fp__auth_secret_t *bare = secret_bytes("0123456789abcdef0123");
    assert_true(same_key(sec, bare));
    /* ... but only one. */
    make_str_file(path2, "0123456789abcdef0123\n\n", 0600);
    fp__auth_secret_t *two = load_ok(path2);
    assert_false(same_key(two, bare));

    fp__auth_secret_free(two);
    fp__auth_secret_free(bare);
    fp__auth_secret_free(sec);
    unlink(path);
    unlink(path2);
}

static void test_file_owner_only_modes_ok(void **state)
{
    (void)state;
    static const mode_t ok[] = {0600, 0400, 0700, 0200 | 0400};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char path[64];
        make_str_file(path, SECRET_A, ok[i]);
        fp__auth_secret_t *sec = load_ok(path);
        fp__auth_secret_free(sec);
        unlink(path);
    }
}

static void test_file_group_other_modes_refused(void **state)
{
    (void)state;
    static const mode_t bad[] = {0640, 0604, 0644, 0660, 0606, 0620,
                                 0602, 0610, 0601, 0666, 0777, 0400 | 040};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[64], err[ERRLEN], mode[16];
        make_str_file(path, SECRET_A, bad[i]);
        load_fail(path, FP_ERR_CONFIG, err);
        snprintf(mode, sizeof(mode), "mode %04o", (unsigned)bad[i]);
        assert_contains(err, mode);
        assert_contains(err, path);
        assert_contains(err, "chmod 600");
        unlink(path);
    }
}

static void test_symlink_refused(void **state)
{
    (void)state;
    char target[64], link[64], err[ERRLEN];
    make_str_file(target, SECRET_A, 0600);
    make_str_file(link, "", 0600);
    unlink(link);
    if (symlink(target, link) != 0)
        fail_msg("symlink: %s", strerror(errno));
    load_fail(link, FP_ERR_CONFIG, err);
    assert_contains(err, "symbolic link");
    assert_contains(err, link);
    /* The target itself is fine. */
    fp__auth_secret_free(load_ok(target));
    unlink(link);
    unlink(target);
}

static void test_directory_refused(void **state)
{
    (void)state;
    char dir[64], err[ERRLEN];
    strcpy(dir, "/tmp/fp_auth_dir_XXXXXX");
    assert_non_null(mkdtemp(dir)); /* mode 0700, ours: only the type fails */
    load_fail(dir, FP_ERR_CONFIG, err);
    assert_contains(err, "directory");
    assert_contains(err, dir);
    rmdir(dir);
}

static void test_fifo_refused_without_blocking(void **state)
{
    (void)state;
    char path[64], err[ERRLEN];
    make_str_file(path, "", 0600);
    unlink(path);
    if (mkfifo(path, 0600) != 0)
        fail_msg("mkfifo: %s", strerror(errno));
    load_fail(path, FP_ERR_CONFIG, err); /* would hang without O_NONBLOCK */
    assert_contains(err, "FIFO");
    unlink(path);
}

static void test_sizes(void **state)
{
    (void)state;
    char path[64], err[ERRLEN];
    char buf[FP__AUTH_SECRET_MAX + 2];
    memset(buf, 'x', sizeof(buf));

    make_file(path, buf, 0, 0600); /* empty */
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "empty");
    unlink(path);

    make_file(path, "\n", 1, 0600); /* only the newline */
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "empty");
    unlink(path);

    make_file(path, buf, FP__AUTH_SECRET_MIN - 1, 0600);
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "too short");
    assert_contains(err, path);
    unlink(path);

    buf[FP__AUTH_SECRET_MIN - 1] = '\n'; /* 15 bytes + newline */
    make_file(path, buf, FP__AUTH_SECRET_MIN, 0600);
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "too short");
    unlink(path);
    buf[FP__AUTH_SECRET_MIN - 1] = 'x';

    make_file(path, buf, FP__AUTH_SECRET_MIN, 0600); /* exactly the minimum */
    fp__auth_secret_free(load_ok(path));
    unlink(path);

    make_file(path, buf, FP__AUTH_SECRET_MAX, 0600); /* exactly the maximum */
    fp__auth_secret_free(load_ok(path));
    unlink(path);

    make_file(path, buf, FP__AUTH_SECRET_MAX + 1, 0600);
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "too large");
    unlink(path);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[64], err[ERRLEN];
    make_str_file(path, "", 0600);
    unlink(path);
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "cannot open");
    assert_contains(err, path);
    load_fail("", FP_ERR_CONFIG, err);
}

static void test_not_owned_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    char path[64], err[ERRLEN];
    make_str_file(path, SECRET_A, 0600);
    if (chown(path, 65534, 65534) != 0)
        fail_msg("chown: %s", strerror(errno));
    load_fail(path, FP_ERR_CONFIG, err);
    assert_contains(err, "owned by uid 65534");
    assert_contains(err, path);
    unlink(path);
}

static void test_from_bytes(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = NULL;
    char err[ERRLEN];
    assert_status(fp__auth_secret_from_bytes("short", 5, NULL, &sec, err,
                                             sizeof(err)),
                  FP_ERR_CONFIG);
    assert_null(sec);
    assert_contains(err, "too short");
    assert_status(fp__auth_secret_from_bytes(NULL, 0, NULL, &sec, err,
                                             sizeof(err)),
                  FP_ERR_CONFIG);
    assert_status(fp__auth_secret_from_bytes(NULL, 20, NULL, &sec, err,
                                             sizeof(err)),
                  FP_ERR_INVALID);
    /* Binary secrets are fine, NUL bytes included. */
    unsigned char bin[32];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 37);
    assert_ok(fp__auth_secret_from_bytes(bin, sizeof(bin), "test", &sec, err,
                                         sizeof(err)));
    assert_string_equal(fp__auth_secret_source(sec), "test");
    fp__auth_secret_free(sec);
    fp__auth_secret_free(NULL);
    /* A NULL error buffer is allowed. */
    assert_status(fp__auth_secret_from_bytes("short", 5, NULL, &sec, NULL, 0),
                  FP_ERR_CONFIG);
}

/* ---- the environment ----------------------------------------------------- */

static void test_env_none(void **state)
{
    (void)state;
    char err[ERRLEN];
    load_fail(NULL, FP_ERR_CONFIG, err);
    assert_contains(err, "no pool secret: set FP_SECRET_FILE");
    setenv("FP_SECRET", "", 1); /* empty counts as unset */
    setenv("FP_SECRET_FILE", "", 1);
    load_fail(NULL, FP_ERR_CONFIG, err);
    assert_contains(err, "no pool secret");
}

static void test_env_secret(void **state)
{
    (void)state;
    char err[ERRLEN];
    setenv("FP_SECRET", SECRET_A, 1);
    fp__auth_secret_t *sec = load_ok(NULL);
    assert_string_equal(fp__auth_secret_source(sec), "FP_SECRET");
    fp__auth_secret_t *a = secret_bytes(SECRET_A);
    assert_true(same_key(sec, a));
    fp__auth_secret_free(a);
    fp__auth_secret_free(sec);

    setenv("FP_SECRET", "tooshort", 1);
    load_fail(NULL, FP_ERR_CONFIG, err);
    assert_contains(err, "FP_SECRET");
    assert_contains(err, "too short");
}

static void test_env_secret_file(void **state)
{
    (void)state;
    char path[64], err[ERRLEN], want[128];
    make_str_file(path, SECRET_B, 0600);
    setenv("FP_SECRET_FILE", path, 1);
    fp__auth_secret_t *sec = load_ok(NULL);
    snprintf(want, sizeof(want), "FP_SECRET_FILE %s", path);
    assert_string_equal(fp__auth_secret_source(sec), want);
    fp__auth_secret_t *b = secret_bytes(SECRET_B);
    assert_true(same_key(sec, b));
    fp__auth_secret_free(b);
    fp__auth_secret_free(sec);

    /* The same checks as for an explicit path, and the message says where
     * the path came from. */
    chmod(path, 0644);
    load_fail(NULL, FP_ERR_CONFIG, err);
    assert_contains(err, "mode 0644");
    assert_contains(err, path);
    assert_contains(err, "FP_SECRET_FILE");
    unlink(path);
}

static void test_env_precedence(void **state)
{
    (void)state;
    char pa[64], pb[64], err[ERRLEN];
    make_str_file(pa, SECRET_A, 0600);
    make_str_file(pb, SECRET_B, 0600);
    fp__auth_secret_t *a = secret_bytes(SECRET_A);
    fp__auth_secret_t *b = secret_bytes(SECRET_B);
    fp__auth_secret_t *sec;

    /* FP_SECRET_FILE beats FP_SECRET. */
    setenv("FP_SECRET", SECRET_A, 1);
    setenv("FP_SECRET_FILE", pb, 1);
    sec = load_ok(NULL);
    assert_true(same_key(sec, b));
    assert_false(same_key(sec, a));
    fp__auth_secret_free(sec);

    /* An explicit path beats both. */
    sec = load_ok(pa);
    assert_true(same_key(sec, a));
    assert_contains(fp__auth_secret_source(sec), "file ");
    fp__auth_secret_free(sec);

    /* A bad FP_SECRET_FILE is an error, not a silent fall-back to
     * FP_SECRET. */
    chmod(pb, 0640);
    load_fail(NULL, FP_ERR_CONFIG, err);
    assert_contains(err, "mode 0640");

    /* Empty FP_SECRET_FILE counts as unset: FP_SECRET is used. */
    setenv("FP_SECRET_FILE", "", 1);
    sec = load_ok(NULL);
    assert_true(same_key(sec, a));
    fp__auth_secret_free(sec);

    fp__auth_secret_free(a);
    fp__auth_secret_free(b);
    unlink(pa);
    unlink(pb);
}

/* ---- the handshake ---------------------------------------------------------- */

static void test_handshake_ok(void **state)
{
    (void)state;
    /* Two separately loaded copies of the same secret. */
    fp__auth_secret_t *cs = secret_bytes(SECRET_A);
    fp__auth_secret_t *ss = secret_bytes(SECRET_A);
    hs_t h;
    hs_run(&h, cs, ss);
    assert_ok(h.s_check);
    assert_ok(h.c_check);
    assert_true(fp__auth_done(&h.c) && fp__auth_done(&h.s));
    assert_true(fp__auth_peer_verified(&h.c) && fp__auth_peer_verified(&h.s));
    /* Wiped on completion: no key or nonce left behind. */
    assert_true(all_zero(h.c.key, sizeof(h.c.key)));
    assert_true(all_zero(h.s.key, sizeof(h.s.key)));
    assert_true(all_zero(h.c.my_nonce, sizeof(h.c.my_nonce)));
    assert_true(all_zero(h.s.peer_nonce, sizeof(h.s.peer_nonce)));
    assert_null(fp__auth_my_nonce(&h.c));
    /* The two proofs differ (role labels). */
    assert_memory_not_equal(h.cproof, h.sproof, FP__AUTH_MAC_LEN);

    /* A finished state is not reusable. */
    char err[ERRLEN];
    unsigned char p[FP__AUTH_MAC_LEN];
    assert_status(fp__auth_make_proof(&h.c, p, err, sizeof(err)), FP_ERR_STATE);
    assert_contains(err, "already finished");
    assert_status(fp__auth_check_proof(&h.s, h.cproof, err, sizeof(err)),
                  FP_ERR_STATE);
    unsigned char n[FP__AUTH_NONCE_LEN] = {1};
    assert_status(fp__auth_set_peer(&h.s, n, "x", 1, err, sizeof(err)),
                  FP_ERR_STATE);

    /* The secrets can be freed while states are live: the key is copied. */
    hs_hello(&h, cs, ss);
    fp__auth_secret_free(cs);
    fp__auth_secret_free(ss);
    /* Order does not matter: the server checks before it proves. */
    assert_ok(fp__auth_make_proof(&h.c, h.cproof, err, sizeof(err)));
    assert_ok(fp__auth_check_proof(&h.s, h.cproof, err, sizeof(err)));
    assert_true(fp__auth_peer_verified(&h.s));
    assert_false(fp__auth_done(&h.s));
    assert_ok(fp__auth_make_proof(&h.s, h.sproof, err, sizeof(err)));
    assert_ok(fp__auth_check_proof(&h.c, h.sproof, err, sizeof(err)));
    assert_true(fp__auth_done(&h.c) && fp__auth_done(&h.s));
}

static void test_handshake_empty_ids(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    fp__auth_t c, s;
    char err[ERRLEN];
    unsigned char cp[FP__AUTH_MAC_LEN], sp[FP__AUTH_MAC_LEN];
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, sec, NULL, 0, err, ERRLEN));
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, NULL, 0, err, ERRLEN));
    assert_ok(fp__auth_set_peer(&c, fp__auth_my_nonce(&s), NULL, 0, err,
                                ERRLEN));
    assert_ok(fp__auth_set_peer(&s, fp__auth_my_nonce(&c), NULL, 0, err,
                                ERRLEN));
    assert_ok(fp__auth_make_proof(&c, cp, err, ERRLEN));
    assert_ok(fp__auth_make_proof(&s, sp, err, ERRLEN));
    assert_ok(fp__auth_check_proof(&s, cp, err, ERRLEN));
    assert_ok(fp__auth_check_proof(&c, sp, err, ERRLEN));
    fp__auth_secret_free(sec);
}

static void test_different_secrets(void **state)
{
    (void)state;
    fp__auth_secret_t *a = secret_bytes(SECRET_A);
    fp__auth_secret_t *b = secret_bytes(SECRET_B);
    hs_t h;
    hs_run(&h, a, b);
    assert_status(h.s_check, FP_ERR_AUTH);
    assert_status(h.c_check, FP_ERR_AUTH);
    assert_string_equal(h.serr, "peer failed authentication: wrong pool "
                                "secret (MAC mismatch)");
    assert_string_equal(h.cerr, h.serr);
    assert_false(fp__auth_peer_verified(&h.c));
    assert_false(fp__auth_peer_verified(&h.s));
    assert_false(fp__auth_done(&h.c));
    /* A failed state is wiped and refuses everything. */
    assert_true(all_zero(h.s.key, sizeof(h.s.key)));
    char err[ERRLEN];
    unsigned char p[FP__AUTH_MAC_LEN];
    assert_status(fp__auth_check_proof(&h.s, h.cproof, err, ERRLEN),
                  FP_ERR_STATE);
    assert_contains(err, "already failed");
    assert_status(fp__auth_make_proof(&h.s, p, err, ERRLEN), FP_ERR_STATE);
    assert_null(fp__auth_my_nonce(&h.s));
    fp__auth_secret_free(a);
    fp__auth_secret_free(b);
}

static void test_replay_rejected(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    hs_t h1, h2;
    hs_run(&h1, sec, sec); /* a recorded, successful session */
    assert_ok(h1.s_check);
    assert_ok(h1.c_check);

    /* A new session: fresh nonces, so the old proofs are worthless. */
    hs_hello(&h2, sec, sec);
    char err[ERRLEN];
    assert_status(fp__auth_check_proof(&h2.s, h1.cproof, err, ERRLEN),
                  FP_ERR_AUTH);
    assert_contains(err, "MAC mismatch");
    assert_status(fp__auth_check_proof(&h2.c, h1.sproof, err, ERRLEN),
                  FP_ERR_AUTH);
    fp__auth_secret_free(sec);
}

static void test_reflection_rejected(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    hs_t h;

    /* The server's proof sent back to it as the client's proof. */
    hs_hello(&h, sec, sec);
    hs_proofs(&h);
    assert_status(fp__auth_check_proof(&h.s, h.sproof, err, ERRLEN),
                  FP_ERR_AUTH);
    assert_contains(err, "MAC mismatch");

    /* The client's proof sent back to it as the server's proof. */
    hs_hello(&h, sec, sec);
    hs_proofs(&h);
    assert_status(fp__auth_check_proof(&h.c, h.cproof, err, ERRLEN),
                  FP_ERR_AUTH);

    /* Our own HELLO nonce reflected back. */
    fp__auth_t c;
    unsigned char mine[FP__AUTH_NONCE_LEN];
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, sec, "c", 1, err, ERRLEN));
    memcpy(mine, fp__auth_my_nonce(&c), sizeof(mine));
    assert_status(fp__auth_set_peer(&c, mine, "c", 1, err, ERRLEN),
                  FP_ERR_AUTH);
    assert_contains(err, "reflected");
    assert_null(fp__auth_my_nonce(&c)); /* wiped */
    fp__auth_secret_free(sec);
}

static void test_tampered_bit_rejected(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    /* Every single-bit flip of either proof. */
    for (unsigned bit = 0; bit < FP__AUTH_MAC_LEN * 8; bit++) {
        hs_t h;
        hs_hello(&h, sec, sec);
        hs_proofs(&h);
        h.cproof[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        h.sproof[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_status(fp__auth_check_proof(&h.s, h.cproof, err, ERRLEN),
                      FP_ERR_AUTH);
        assert_status(fp__auth_check_proof(&h.c, h.sproof, err, ERRLEN),
                      FP_ERR_AUTH);
    }

    /* A nonce altered in transit: the two sides' MAC inputs differ. */
    hs_t h;
    memset(&h, 0, sizeof(h));
    assert_ok(fp__auth_init(&h.c, FP__AUTH_CLIENT, sec, CLIENT_ID,
                            strlen(CLIENT_ID), err, ERRLEN));
    assert_ok(fp__auth_init(&h.s, FP__AUTH_SERVER, sec, SERVER_ID,
                            strlen(SERVER_ID), err, ERRLEN));
    unsigned char cn[FP__AUTH_NONCE_LEN];
    memcpy(cn, fp__auth_my_nonce(&h.c), sizeof(cn));
    cn[5] ^= 0x10;
    assert_ok(fp__auth_set_peer(&h.s, cn, CLIENT_ID, strlen(CLIENT_ID), err,
                                ERRLEN));
    assert_ok(fp__auth_set_peer(&h.c, fp__auth_my_nonce(&h.s), SERVER_ID,
                                strlen(SERVER_ID), err, ERRLEN));
    hs_proofs(&h);
    assert_status(fp__auth_check_proof(&h.s, h.cproof, err, ERRLEN),
                  FP_ERR_AUTH);
    assert_status(fp__auth_check_proof(&h.c, h.sproof, err, ERRLEN),
                  FP_ERR_AUTH);
    fp__auth_secret_free(sec);
}

/* The ids are length-prefixed in the MAC input: client "ab" + server "c"
 * must not match client "a" + server "bc", although both concatenate to
 * "abc"; and an altered id fails. */
static void test_ids_bound(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    fp__auth_t c, s;
    unsigned char cp[FP__AUTH_MAC_LEN], sp[FP__AUTH_MAC_LEN];
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, sec, "ab", 2, err, ERRLEN));
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, "bc", 2, err, ERRLEN));
    assert_ok(fp__auth_set_peer(&c, fp__auth_my_nonce(&s), "c", 1, err,
                                ERRLEN));
    assert_ok(fp__auth_set_peer(&s, fp__auth_my_nonce(&c), "a", 1, err,
                                ERRLEN));
    assert_ok(fp__auth_make_proof(&c, cp, err, ERRLEN));
    assert_ok(fp__auth_make_proof(&s, sp, err, ERRLEN));
    assert_status(fp__auth_check_proof(&s, cp, err, ERRLEN), FP_ERR_AUTH);
    assert_status(fp__auth_check_proof(&c, sp, err, ERRLEN), FP_ERR_AUTH);

    /* The server hears a different client id than the client sent. */
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, sec, "client-1", 8, err,
                            ERRLEN));
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, "srv", 3, err, ERRLEN));
    assert_ok(fp__auth_set_peer(&c, fp__auth_my_nonce(&s), "srv", 3, err,
                                ERRLEN));
    assert_ok(fp__auth_set_peer(&s, fp__auth_my_nonce(&c), "client-2", 8, err,
                                ERRLEN));
    assert_ok(fp__auth_make_proof(&c, cp, err, ERRLEN));
    assert_status(fp__auth_check_proof(&s, cp, err, ERRLEN), FP_ERR_AUTH);
    fp__auth_clear(&c);
    fp__auth_secret_free(sec);
}

static void test_bad_peer_hello(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    fp__auth_t s;
    static const unsigned char zero[FP__AUTH_NONCE_LEN];
    unsigned char p[FP__AUTH_MAC_LEN];

    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, "s", 1, err, ERRLEN));
    assert_status(fp__auth_set_peer(&s, zero, "c", 1, err, ERRLEN),
                  FP_ERR_AUTH);
    assert_contains(err, "all zeros");
    /* Failed and wiped: nothing else works. */
    assert_status(fp__auth_make_proof(&s, p, err, ERRLEN), FP_ERR_STATE);
    assert_status(fp__auth_check_proof(&s, p, err, ERRLEN), FP_ERR_STATE);
    assert_true(all_zero(s.key, sizeof(s.key)));

    /* An over-long peer id. */
    unsigned char n[FP__AUTH_NONCE_LEN] = {0};
    n[31] = 1;
    char longid[FP__AUTH_ID_MAX + 1];
    memset(longid, 'i', sizeof(longid));
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, "s", 1, err, ERRLEN));
    assert_status(fp__auth_set_peer(&s, n, longid, sizeof(longid), err,
                                    ERRLEN),
                  FP_ERR_AUTH);
    assert_contains(err, "too long");
    /* The longest allowed id is fine. */
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, sec, longid, FP__AUTH_ID_MAX,
                            err, ERRLEN));
    assert_ok(fp__auth_set_peer(&s, n, longid, FP__AUTH_ID_MAX, err, ERRLEN));
    fp__auth_clear(&s);
    fp__auth_secret_free(sec);
}

static void test_misuse(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    fp__auth_t st;
    unsigned char p[FP__AUTH_MAC_LEN] = {0};
    unsigned char n[FP__AUTH_NONCE_LEN];
    memset(n, 7, sizeof(n));

    /* A zeroed state is "not initialised". */
    memset(&st, 0, sizeof(st));
    assert_status(fp__auth_make_proof(&st, p, err, ERRLEN), FP_ERR_STATE);
    assert_contains(err, "not initialised");
    assert_status(fp__auth_set_peer(&st, n, NULL, 0, err, ERRLEN),
                  FP_ERR_STATE);
    assert_null(fp__auth_my_nonce(&st));
    assert_false(fp__auth_peer_verified(&st));

    /* Proof made or checked before the peer's HELLO. */
    assert_ok(fp__auth_init(&st, FP__AUTH_CLIENT, sec, "c", 1, err, ERRLEN));
    assert_status(fp__auth_check_proof(&st, p, err, ERRLEN), FP_ERR_STATE);
    assert_contains(err, "fp__auth_set_peer first");
    assert_status(fp__auth_make_proof(&st, p, err, ERRLEN), FP_ERR_STATE);
    /* ... which did not break the state. */
    assert_ok(fp__auth_set_peer(&st, n, "s", 1, err, ERRLEN));
    /* A second HELLO. */
    assert_status(fp__auth_set_peer(&st, n, "s", 1, err, ERRLEN),
                  FP_ERR_STATE);
    assert_contains(err, "already recorded");
    /* Two proofs. */
    assert_ok(fp__auth_make_proof(&st, p, err, ERRLEN));
    assert_status(fp__auth_make_proof(&st, p, err, ERRLEN), FP_ERR_STATE);
    assert_contains(err, "already made");
    fp__auth_clear(&st);
    assert_status(fp__auth_make_proof(&st, p, err, ERRLEN), FP_ERR_STATE);

    /* Checking twice (after a success, before making our own proof). */
    hs_t h;
    hs_hello(&h, sec, sec);
    assert_ok(fp__auth_make_proof(&h.c, h.cproof, err, ERRLEN));
    assert_ok(fp__auth_check_proof(&h.s, h.cproof, err, ERRLEN));
    assert_status(fp__auth_check_proof(&h.s, h.cproof, err, ERRLEN),
                  FP_ERR_STATE);
    assert_contains(err, "already checked");

    /* Bad arguments. */
    assert_status(fp__auth_init(&st, (fp__auth_role_t)3, sec, "c", 1, err,
                                ERRLEN),
                  FP_ERR_INVALID);
    assert_contains(err, "role");
    assert_status(fp__auth_init(&st, FP__AUTH_CLIENT, NULL, "c", 1, err,
                                ERRLEN),
                  FP_ERR_INVALID);
    char longid[FP__AUTH_ID_MAX + 1];
    memset(longid, 'i', sizeof(longid));
    assert_status(fp__auth_init(&st, FP__AUTH_CLIENT, sec, longid,
                                sizeof(longid), err, ERRLEN),
                  FP_ERR_INVALID);
    assert_status(fp__auth_make_proof(&st, p, err, ERRLEN), FP_ERR_STATE);
    assert_status(fp__auth_make_proof(NULL, p, err, ERRLEN), FP_ERR_INVALID);
    assert_status(fp__auth_secret_load(NULL, NULL, err, ERRLEN),
                  FP_ERR_INVALID);
    fp__auth_secret_free(sec);
}

static void test_nonces_fresh(void **state)
{
    (void)state;
    fp__auth_secret_t *sec = secret_bytes(SECRET_A);
    char err[ERRLEN];
    fp__auth_t a, b;
    assert_ok(fp__auth_init(&a, FP__AUTH_CLIENT, sec, NULL, 0, err, ERRLEN));
    assert_ok(fp__auth_init(&b, FP__AUTH_CLIENT, sec, NULL, 0, err, ERRLEN));
    assert_false(all_zero(fp__auth_my_nonce(&a), FP__AUTH_NONCE_LEN));
    assert_memory_not_equal(fp__auth_my_nonce(&a), fp__auth_my_nonce(&b),
                            FP__AUTH_NONCE_LEN);
    fp__auth_clear(&a);
    fp__auth_clear(&b);
    fp__auth_secret_free(sec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_file_0600_ok, setup_env),
        cmocka_unit_test_setup(test_file_owner_only_modes_ok, setup_env),
        cmocka_unit_test_setup(test_file_group_other_modes_refused, setup_env),
        cmocka_unit_test_setup(test_symlink_refused, setup_env),
        cmocka_unit_test_setup(test_directory_refused, setup_env),
        cmocka_unit_test_setup(test_fifo_refused_without_blocking, setup_env),
        cmocka_unit_test_setup(test_sizes, setup_env),
        cmocka_unit_test_setup(test_missing_file, setup_env),
        cmocka_unit_test_setup(test_not_owned_refused, setup_env),
        cmocka_unit_test_setup(test_from_bytes, setup_env),
        cmocka_unit_test_setup(test_env_none, setup_env),
        cmocka_unit_test_setup(test_env_secret, setup_env),
        cmocka_unit_test_setup(test_env_secret_file, setup_env),
        cmocka_unit_test_setup(test_env_precedence, setup_env),
        cmocka_unit_test(test_handshake_ok),
        cmocka_unit_test(test_handshake_empty_ids),
        cmocka_unit_test(test_different_secrets),
        cmocka_unit_test(test_replay_rejected),
        cmocka_unit_test(test_reflection_rejected),
        cmocka_unit_test(test_tampered_bit_rejected),
        cmocka_unit_test(test_ids_bound),
        cmocka_unit_test(test_bad_peer_hello),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_nonces_fresh),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
