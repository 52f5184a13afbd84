/*
 * Tests for transport/crypt.[ch] and fp__auth_session_keys: session keys
 * from real handshakes (one per direction, fresh per connection, tied to
 * the secret), and the sealed record with those keys: round trips, every
 * kind of alteration refused, replays and reordering through the window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "crypt.h"

#define ERRLEN 256

static const char SECRET_A[] = "correct horse battery staple 0123456789";
static const char SECRET_B[] = "a different secret, also long enough";

#define assert_status(expr, expected)                                          \
    do {                                                                       \
        fp_status_t fp_s_ = (expr);                                            \
        fp_status_t fp_e_ = (expected);                                        \
        if (fp_s_ != fp_e_)                                                    \
            fail_msg("%s: got %s (%d), expected %s (%d); %s", #expr,           \
                     fp_status_name(fp_s_), (int)fp_s_, fp_status_name(fp_e_), \
                     (int)fp_e_, err);                                         \
    } while (0)
#define assert_ok(expr) assert_status((expr), FP_OK)

typedef struct keys {
    unsigned char c_send[32], c_recv[32], s_send[32], s_recv[32];
} keys_t;

/* One real handshake (HELLOs exchanged) between a client and a server,
 * each with its own secret; the four session keys. */
static void handshake_keys(const char *sec_c, const char *sec_s, keys_t *k)
{
    char err[ERRLEN] = "";
    fp__auth_secret_t *a = NULL, *b = NULL;
    assert_ok(fp__auth_secret_from_bytes(sec_c, strlen(sec_c), NULL, &a, err,
                                         sizeof(err)));
    assert_ok(fp__auth_secret_from_bytes(sec_s, strlen(sec_s), NULL, &b, err,
                                         sizeof(err)));
    fp__auth_t c, s;
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, a, "client:h:1", 10, err,
                            sizeof(err)));
    assert_ok(fp__auth_init(&s, FP__AUTH_SERVER, b, "node:h:2", 8, err,
                            sizeof(err)));
    unsigned char nc[FP__AUTH_NONCE_LEN], ns[FP__AUTH_NONCE_LEN];
    memcpy(nc, fp__auth_my_nonce(&c), sizeof(nc));
    memcpy(ns, fp__auth_my_nonce(&s), sizeof(ns));
    assert_ok(fp__auth_set_peer(&c, ns, "node:h:2", 8, err, sizeof(err)));
    assert_ok(fp__auth_set_peer(&s, nc, "client:h:1", 10, err, sizeof(err)));
    assert_ok(fp__auth_session_keys(&c, k->c_send, k->c_recv, err,
                                    sizeof(err)));
    assert_ok(fp__auth_session_keys(&s, k->s_send, k->s_recv, err,
                                    sizeof(err)));
    fp__auth_clear(&c);
    fp__auth_clear(&s);
    fp__auth_secret_free(a);
    fp__auth_secret_free(b);
}

static void test_session_keys(void **state)
{
    (void)state;
    keys_t k1, k2, kx;
    handshake_keys(SECRET_A, SECRET_A, &k1);
    /* the two ends agree, direction by direction */
    assert_memory_equal(k1.c_send, k1.s_recv, 32);
    assert_memory_equal(k1.s_send, k1.c_recv, 32);
    /* the directions differ */
    assert_memory_not_equal(k1.c_send, k1.c_recv, 32);
    /* a second session (fresh nonces) has other keys */
    handshake_keys(SECRET_A, SECRET_A, &k2);
    assert_memory_not_equal(k1.c_send, k2.c_send, 32);
    assert_memory_not_equal(k1.s_send, k2.s_send, 32);
    /* a side with another secret derives keys that do not match */
    handshake_keys(SECRET_A, SECRET_B, &kx);
    assert_memory_not_equal(kx.c_send, kx.s_recv, 32);
    assert_memory_not_equal(kx.s_send, kx.c_recv, 32);

    /* before the peer's HELLO there are no keys */
    char err[ERRLEN] = "";
    fp__auth_secret_t *a = NULL;
    assert_ok(fp__auth_secret_from_bytes(SECRET_A, strlen(SECRET_A), NULL, &a,
                                         err, sizeof(err)));
    fp__auth_t c;
    assert_ok(fp__auth_init(&c, FP__AUTH_CLIENT, a, "x", 1, err, sizeof(err)));
    unsigned char s1[32], s2[32];
    assert_status(fp__auth_session_keys(&c, s1, s2, err, sizeof(err)),
                  FP_ERR_STATE);
    fp__auth_clear(&c);
    fp__auth_secret_free(a);
}

/* sender (client) and receiver (server) of one direction */
typedef struct pair {
    fp__crypt_t tx, rx;
} pair_t;

static void pair_init(pair_t *p)
{
    char err[ERRLEN] = "";
    keys_t k;
    handshake_keys(SECRET_A, SECRET_A, &k);
    assert_ok(fp__crypt_init(&p->tx, k.c_send, k.c_recv, err, sizeof(err)));
    assert_ok(fp__crypt_init(&p->rx, k.s_send, k.s_recv, err, sizeof(err)));
}

static void pair_fini(pair_t *p)
{
    fp__crypt_fini(&p->tx);
    fp__crypt_fini(&p->rx);
}

typedef struct rec {
    unsigned char am[FP__CRYPT_AM_HEADER_MAX];
    size_t am_hl;
    unsigned char data[4096];
    size_t len;
} rec_t;

static void make_hdr(unsigned char *h, size_t hl, unsigned tag)
{
    for (size_t i = 0; i < hl; i++)
        h[i] = (unsigned char)(tag * 31 + i);
}

static void seal(pair_t *p, rec_t *r, size_t hl, size_t len, unsigned tag)
{
    char err[ERRLEN] = "";
    unsigned char hdr[64], pay[4096] = {0};
    make_hdr(hdr, hl, tag);
    for (size_t i = 0; i < len; i++)
        pay[i] = (unsigned char)(tag + i * 7);
    r->len = len;
    assert_ok(fp__crypt_seal(&p->tx, 0x1122334455667788ull, hdr, hl, pay, len,
                             r->data, r->am, &r->am_hl, err, sizeof(err)));
    if (len > 0) /* it is encrypted: not the clear bytes */
        assert_memory_not_equal(r->data, pay, len);
}

/* open a record; FP_OK checks the clear header and payload */
static fp_status_t open_rec(pair_t *p, const rec_t *r, size_t hl,
                            unsigned tag, char *err)
{
    unsigned char hdr[64], ptag[16], out[4096];
    size_t got = 0;
    uint64_t ctr = 0;
    fp_status_t st = fp__crypt_open_header(&p->rx, r->am, r->am_hl, r->len,
                                           hdr, &got, &ctr, ptag, err, ERRLEN);
    if (st != FP_OK)
        return st;
    st = fp__crypt_open_payload(&p->rx, r->am, ctr, ptag, r->data, r->len, out,
                                err, ERRLEN);
    if (st != FP_OK)
        return st;
    unsigned char want[64];
    make_hdr(want, hl, tag);
    assert_int_equal(got, hl);
    assert_memory_equal(hdr, want, hl);
    for (size_t i = 0; i < r->len; i++)
        if (out[i] != (unsigned char)(tag + i * 7))
            fail_msg("payload byte %zu wrong", i);
    return FP_OK;
}

static void test_round_trip(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    pair_t p;
    pair_init(&p);
    rec_t r;
    seal(&p, &r, 40, 1000, 1);
    assert_int_equal(r.am_hl, 24 + 40 + 32);
    assert_true(fp__crypt_is_sealed(r.am, r.am_hl));
    assert_int_equal(fp__crypt_peek_route(r.am), 0x1122334455667788ull);
    assert_ok(open_rec(&p, &r, 40, 1, err));
    /* empty payload: no payload tag */
    seal(&p, &r, 48, 0, 2);
    assert_int_equal(r.am_hl, 24 + 48 + 16);
    assert_ok(open_rec(&p, &r, 48, 2, err));
    /* in place (the rendezvous receive): decrypt into the same buffer */
    seal(&p, &r, 64, 4096, 3);
    unsigned char hdr[64], ptag[16];
    size_t hl;
    uint64_t ctr;
    assert_ok(fp__crypt_open_header(&p.rx, r.am, r.am_hl, r.len, hdr, &hl,
                                    &ctr, ptag, err, sizeof(err)));
    assert_int_equal(ctr, 3);
    assert_ok(fp__crypt_open_payload(&p.rx, r.am, ctr, ptag, r.data, r.len,
                                     r.data, err, sizeof(err)));
    assert_int_equal(r.data[100], (unsigned char)(3 + 700));
    /* the wrong direction's key opens nothing */
    seal(&p, &r, 40, 10, 4);
    assert_status(fp__crypt_open_header(&p.tx, r.am, r.am_hl, r.len, hdr, &hl,
                                        &ctr, ptag, err, sizeof(err)),
                  FP_ERR_AUTH);
    pair_fini(&p);
}

static void test_tamper(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    /* one bit anywhere: envelope (counter, route, length), header
     * ciphertext, either tag, payload */
    const size_t hl = 40, len = 100;
    const size_t am_len = 24 + hl + 32;
    for (size_t bit = 0; bit < (am_len + len) * 8; bit += 5) {
        pair_t p;
        pair_init(&p);
        rec_t r;
        seal(&p, &r, hl, len, 9);
        size_t byte = bit / 8;
        if (byte < am_len)
            r.am[byte] ^= (unsigned char)(1u << (bit % 8));
        else
            r.data[byte - am_len] ^= (unsigned char)(1u << (bit % 8));
        err[0] = '\0';
        fp_status_t st = open_rec(&p, &r, hl, 9, err);
        if (st == FP_OK)
            fail_msg("bit %zu flipped and the record still opened", bit);
        if (byte >= 4 && byte < 8) /* header length / reserved: layout */
            assert_true(st == FP_ERR_PROTOCOL || st == FP_ERR_AUTH);
        else if (byte >= 4)
            assert_int_equal(st, FP_ERR_AUTH);
        if (byte >= 24 && strstr(err, "message failed authentication "
                                       "(altered on the path?)") == NULL &&
            strstr(err, "replay window") == NULL)
            fail_msg("bit %zu: reason '%s'", bit, err);
        pair_fini(&p);
    }
    /* a payload moved under another message's header */
    pair_t p;
    pair_init(&p);
    rec_t r1, r2;
    seal(&p, &r1, hl, len, 1);
    seal(&p, &r2, hl, len, 2);
    memcpy(r2.data, r1.data, len);
    assert_ok(open_rec(&p, &r1, hl, 1, err));
    assert_status(open_rec(&p, &r2, hl, 2, err), FP_ERR_AUTH);
    assert_non_null(strstr(err, "altered on the path?"));
    pair_fini(&p);
}

static void test_replay(void **state)
{
    (void)state;
    char err[ERRLEN] = "";
    pair_t p;
    pair_init(&p);
    enum { N = FP__CRYPT_WINDOW + 300 };
    rec_t *r = calloc(N, sizeof(*r));
    assert_non_null(r);
    for (unsigned i = 0; i < N; i++)
        seal(&p, &r[i], 32, 8, i);
    /* in order, with a replay of each right after it */
    for (unsigned i = 0; i < 10; i++) {
        assert_ok(open_rec(&p, &r[i], 32, i, err));
        assert_status(open_rec(&p, &r[i], 32, i, err), FP_ERR_EXISTS);
        assert_non_null(strstr(err, "replayed message"));
    }
    /* out of order inside the window: 20 before 10..19 */
    assert_ok(open_rec(&p, &r[20], 32, 20, err));
    for (unsigned i = 19; i >= 10; i--)
        assert_ok(open_rec(&p, &r[i], 32, i, err));
    for (unsigned i = 10; i <= 20; i++)
        assert_status(open_rec(&p, &r[i], 32, i, err), FP_ERR_EXISTS);
    /* a jump far ahead: 21..(N-2) skipped, the last one arrives */
    assert_ok(open_rec(&p, &r[N - 1], 32, N - 1, err));
    /* still inside the window (counter = index + 1) */
    unsigned in_win = N - FP__CRYPT_WINDOW; /* counter N - 1023 */
    assert_ok(open_rec(&p, &r[in_win], 32, in_win, err));
    assert_status(open_rec(&p, &r[in_win], 32, in_win, err), FP_ERR_EXISTS);
    /* older than the window: refused (cannot be told from a replay) */
    assert_status(open_rec(&p, &r[in_win - 1], 32, in_win - 1, err),
                  FP_ERR_AUTH);
    assert_non_null(strstr(err, "replay window"));
    assert_status(open_rec(&p, &r[5], 32, 5, err), FP_ERR_AUTH);
    /* and a record of a wrong shape */
    rec_t bad = r[N - 2];
    bad.am_hl -= 1;
    assert_status(open_rec(&p, &bad, 32, N - 2, err), FP_ERR_PROTOCOL);
    assert_ok(open_rec(&p, &r[N - 2], 32, N - 2, err));
    free(r);
    pair_fini(&p);
}

static void test_window_shifts(void **state)
{
    (void)state;
    /* every shift distance across word boundaries keeps exactly the right
     * counters marked */
    char err[ERRLEN] = "";
    const unsigned steps[] = {1, 63, 64, 65, 127, 200, 1023, 1024, 1500};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        pair_t p;
        pair_init(&p);
        unsigned n = 3 + steps[s] + 2;
        rec_t *r = calloc(n, sizeof(*r));
        for (unsigned i = 0; i < n; i++)
            seal(&p, &r[i], 32, 0, i);
        assert_ok(open_rec(&p, &r[0], 32, 0, err));
        assert_ok(open_rec(&p, &r[2], 32, 2, err));
        unsigned top = 2 + steps[s];
        assert_ok(open_rec(&p, &r[top], 32, top, err));
        for (unsigned i = 0; i <= top; i++) {
            fp_status_t want;
            uint64_t back = (uint64_t)top - i; /* counters are index + 1 */
            if (back >= FP__CRYPT_WINDOW)
                want = FP_ERR_AUTH;
            else if (i == 0 || i == 2 || i == top)
                want = FP_ERR_EXISTS;
            else
                want = FP_OK;
            fp_status_t got = open_rec(&p, &r[i], 32, i, err);
            if (got != want)
                fail_msg("shift %u, record %u: got %d, want %d (%s)", steps[s],
                         i, (int)got, (int)want, err);
        }
        free(r);
        pair_fini(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_keys),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_window_shifts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
