/*
 * Wire protocol tests: every message type round-trips (encode -> decode ->
 * same fields -> re-encode -> same bytes), boundary sizes are accepted, and
 * every validation rule rejects with FP_ERR_PROTOCOL and a specific reason.
 *
 * Malformed messages are made by encoding a valid one and patching bytes at
 * the offsets docs/PROTOCOL.md gives.  Every decode runs on exact-size heap
 * copies of the header and the payload, so an over-read is an ASan error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* ---- helpers ---------------------------------------------------------------- */

static char reason[512];

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* An encoded message being patched. */
typedef struct wmsg {
    uint8_t b[8192];
    size_t hlen, plen;
} wmsg_t;

static uint8_t *H(wmsg_t *w) { return w->b; }
static uint8_t *P(wmsg_t *w) { return w->b + w->hlen; }

static void build(wmsg_t *w, const fp__wire_msg_t *m)
{
    size_t len = 0;
    memset(w, 0, sizeof *w);
    fp_status_t st = fp__wire_encode(w->b, sizeof w->b, m, &len, reason,
                                     sizeof reason);
    if (st != FP_OK)
        fail_msg("encode failed: %s (%s)", fp_status_name(st), reason);
    w->hlen = (size_t)w->b[8] | (size_t)w->b[9] << 8;
    w->plen = len - w->hlen;
}

/* Set the payload length field and the number of payload bytes "received". */
static void set_plen(wmsg_t *w, uint32_t n)
{
    put32(H(w) + 12, n);
    w->plen = n;
}

/* Decode from exact-size heap copies. */
static fp_status_t decode_sized(const uint8_t *h, size_t hlen,
                                const uint8_t *p, size_t plen,
                                fp__wire_msg_t *m, uint8_t **hc_p,
                                uint8_t **pc_p)
{
    uint8_t *hc = malloc(hlen ? hlen : 1), *pc = plen ? malloc(plen) : NULL;
    assert_non_null(hc);
    memcpy(hc, h, hlen);
    if (plen) {
        assert_non_null(pc);
        memcpy(pc, p, plen);
    }
    reason[0] = 0;
    fp_status_t st =
        fp__wire_decode(hc, hlen, pc, plen, m, reason, sizeof reason);
    *hc_p = hc;
    *pc_p = pc;
    return st;
}

static void expect_reject_raw(const uint8_t *h, size_t hlen, const uint8_t *p,
                              size_t plen, const char *sub)
{
    fp__wire_msg_t m;
    uint8_t *hc, *pc;
    fp_status_t st = decode_sized(h, hlen, p, plen, &m, &hc, &pc);
    free(hc);
    free(pc);
    if (st != FP_ERR_PROTOCOL)
        fail_msg("expected FP_ERR_PROTOCOL with \"%s\", got %s (%s)", sub,
                 fp_status_name(st), reason);
    if (strstr(reason, sub) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", reason, sub);
}

static void expect_reject(wmsg_t *w, const char *sub)
{
    expect_reject_raw(H(w), w->hlen, P(w), w->plen, sub);
}

/* Decode must succeed; checks the re-encoding gives the same bytes.  The
 * decoded pointers refer to *hc_p / *pc_p, which the caller frees. */
static void expect_ok_keep(wmsg_t *w, fp__wire_msg_t *m, uint8_t **hc_p,
                           uint8_t **pc_p)
{
    fp_status_t st = decode_sized(H(w), w->hlen, P(w), w->plen, m, hc_p, pc_p);
    if (st != FP_OK)
        fail_msg("decode failed: %s (%s)", fp_status_name(st), reason);
    static uint8_t again[8192];
    size_t len = 0;
    st = fp__wire_encode(again, sizeof again, m, &len, reason, sizeof reason);
    if (st != FP_OK)
        fail_msg("re-encode failed: %s (%s)", fp_status_name(st), reason);
    assert_int_equal(len, w->hlen + w->plen);
    assert_memory_equal(again, w->b, len);
}

static void expect_ok(wmsg_t *w)
{
    fp__wire_msg_t m;
    uint8_t *hc, *pc;
    expect_ok_keep(w, &m, &hc, &pc);
    free(hc);
    free(pc);
}

/* Pointer p (of n bytes) lies inside [base, base+len). */
static void assert_inside(const void *p, size_t n, const void *base,
                          size_t len)
{
    const uint8_t *q = p, *b = base;
    assert_non_null(q);
    assert_true(q >= b && q + n <= b + len);
}

static const uint8_t NONCE[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                  23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t MAC[32] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
                                0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
                                0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4,
                                0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
                                0xbc, 0xbd, 0xbe, 0xbf};

static fp__wire_msg_t hello_msg(const char *id, size_t id_len)
{
    fp__wire_msg_t m = {0};
    m.hdr.type = FP__WIRE_HELLO;
    m.hdr.seq = 0;
    m.u.hello.version_min = 1;
    m.u.hello.version_max = 3;
    m.u.hello.role = FP__WIRE_ROLE_NODE;
    m.u.hello.executors = 16;
    m.u.hello.instance = 0x1122334455667788ull;
    m.u.hello.route = 0x0102030405060708ull;
    m.u.hello.nonce = NONCE;
    m.u.hello.id = id;
    m.u.hello.id_len = id_len;
    return m;
}

static fp__wire_msg_t text_msg(uint8_t type, const char *text)
{
    fp__wire_msg_t m = {0};
    m.hdr.type = type;
    m.hdr.seq = 5;
    m.u.text.message = text;
    m.u.text.message_len = text ? strlen(text) : 0;
    if (type == FP__WIRE_ERROR) {
        m.u.text.status = FP_ERR_AUTH;
        m.u.text.ref_seq = 3;
        m.u.text.ref_type = FP__WIRE_AUTH;
    } else if (type == FP__WIRE_GOODBYE) {
        m.u.text.reason = FP__WIRE_BYE_SHUTDOWN;
    } else {
        m.hdr.pool = 1;
        m.u.text.status = FP_ERR_TASK;
        m.u.text.ref_type = FP__WIRE_UPDATE;
        m.u.text.ref = 9;
    }
    return m;
}

/* A TASK_BATCH of one MAP record: task 7, attempt 1, name "square" inline
 * at index 2, elements [100, 103), one inline argument of 3 x 4 bytes,
 * 8-byte results.  Payload layout: fixed 0..39, name 40..47, argument
 * descriptor 48..63, argument bytes 64..75, padding 76..79. */
static const uint8_t ARG12[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static fp__wire_task_rec_t map_rec(void)
{
    fp__wire_task_rec_t r = {0};
    r.task_id = 7;
    r.attempt = 1;
    r.kind = FP__WIRE_KIND_MAP;
    r.nargs = 1;
    r.name_idx = 2;
    r.name = "square";
    r.name_len = 6;
    r.out_elem_size = 8;
    r.start = 100;
    r.count = 3;
    r.args[0] = (fp__wire_arg_t){12, 4, FP__WIRE_WHERE_INLINE, ARG12};
    return r;
}

/* An APPLY record: name by index 3, arg 0 "hello" inline (desc 40..55,
 * bytes 56..60, pad 61..63), arg 1 by BULK (desc 64..79).  80 bytes. */
static fp__wire_task_rec_t apply_rec(uint64_t id)
{
    fp__wire_task_rec_t r = {0};
    r.task_id = id;
    r.attempt = 2;
    r.kind = FP__WIRE_KIND_APPLY;
    r.nargs = 2;
    r.name_idx = 3;
    r.count = 1;
    r.args[0] = (fp__wire_arg_t){5, 0, FP__WIRE_WHERE_INLINE, "hello"};
    r.args[1] = (fp__wire_arg_t){1u << 20, 0, FP__WIRE_WHERE_BULK, NULL};
    return r;
}

static void task_batch(wmsg_t *w, const fp__wire_task_rec_t *recs, size_t n)
{
    static uint8_t buf[8192];
    fp__wire_builder_t b;
    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        fp_status_t st =
            fp__wire_builder_add_task(&b, &recs[i], reason, sizeof reason);
        if (st != FP_OK)
            fail_msg("add_task %zu: %s (%s)", i, fp_status_name(st), reason);
    }
    fp__wire_msg_t m = {0};
    m.hdr.pool = 1;
    m.hdr.seq = 42;
    fp__wire_builder_finish(&b, &m);
    build(w, &m);
}

static void map_batch(wmsg_t *w)
{
    fp__wire_task_rec_t r = map_rec();
    task_batch(w, &r, 1);
}

/* A RESULT_BATCH of one record: task 7, attempt 1, OK, elements [100,103),
 * 24 inline bytes (fixed 0..39, data 40..63). */
static const uint8_t RES24[24] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2,
                                  3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4};

static fp__wire_result_rec_t ok_result(void)
{
    fp__wire_result_rec_t r = {0};
    r.task_id = 7;
    r.attempt = 1;
    r.start = 100;
    r.count = 3;
    r.where = FP__WIRE_WHERE_INLINE;
    r.len = 24;
    r.data = RES24;
    return r;
}

/* task 8, attempt 1, FP_ERR_TASK, element 5, message "boom" (40..47). */
static fp__wire_result_rec_t err_result(void)
{
    fp__wire_result_rec_t r = {0};
    r.task_id = 8;
    r.attempt = 1;
    r.status = FP_ERR_TASK;
    r.start = 5;
    r.count = 1;
    r.where = FP__WIRE_WHERE_NONE;
    r.message = "boom";
    r.message_len = 4;
    return r;
}

static void result_batch(wmsg_t *w, const fp__wire_result_rec_t *recs,
                         size_t n)
{
    static uint8_t buf[8192];
    fp__wire_builder_t b;
    fp__wire_builder_init(&b, FP__WIRE_RESULT_BATCH, buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        fp_status_t st =
            fp__wire_builder_add_result(&b, &recs[i], reason, sizeof reason);
        if (st != FP_OK)
            fail_msg("add_result %zu: %s (%s)", i, fp_status_name(st),
                     reason);
    }
    fp__wire_msg_t m = {0};
    m.hdr.pool = 1;
    fp__wire_builder_finish(&b, &m);
    build(w, &m);
}

static fp__wire_msg_t bulk_msg(const void *data, size_t len)
{
    fp__wire_msg_t m = {0};
    m.hdr.type = FP__WIRE_BULK;
    m.hdr.pool = 1;
    m.u.bulk.task_id = 7;
    m.u.bulk.attempt = 1;
    m.u.bulk.kind = FP__WIRE_BULK_ARG;
    m.u.bulk.index = 1;
    m.u.bulk.offset = 4096;
    m.u.bulk.total = 4096 + len;
    m.u.bulk.data = data;
    m.u.bulk.len = len;
    return m;
}

/* ---- round trips -------------------------------------------------------------- */

static void test_roundtrip_hello(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = hello_msg("node-a:1234", 11), d;
    uint8_t *hc, *pc;
    build(&w, &m);
    assert_int_equal(w.hlen, 56);
    assert_int_equal(w.plen, 32 + 11);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_HELLO);
    assert_int_equal(d.hdr.version, 1);
    assert_int_equal(d.hdr.hdr_len, 56);
    assert_int_equal(d.hdr.payload_len, 43);
    assert_int_equal(d.u.hello.version_min, 1);
    assert_int_equal(d.u.hello.version_max, 3);
    assert_int_equal(d.u.hello.role, FP__WIRE_ROLE_NODE);
    assert_int_equal(d.u.hello.executors, 16);
    assert_true(d.u.hello.instance == 0x1122334455667788ull);
    assert_true(d.u.hello.route == 0x0102030405060708ull);
    assert_memory_equal(d.u.hello.nonce, NONCE, 32);
    assert_int_equal(d.u.hello.id_len, 11);
    assert_memory_equal(d.u.hello.id, "node-a:1234", 11);
    assert_inside(d.u.hello.nonce, 32, pc, 43); /* zero-copy: into payload */
    assert_inside(d.u.hello.id, 11, pc, 43);
    free(hc);
    free(pc);

    /* id boundaries: 1 and 255 bytes; a client with 0 executors */
    char id[256];
    memset(id, 'x', sizeof id);
    m = hello_msg(id, 1);
    m.u.hello.role = FP__WIRE_ROLE_CLIENT;
    m.u.hello.executors = 0;
    build(&w, &m);
    expect_ok(&w);
    m = hello_msg(id, 255);
    m.u.hello.executors = FP__WIRE_MAX_EXECUTORS;
    build(&w, &m);
    expect_ok(&w);
    m = hello_msg(id, 256);
    assert_int_equal(fp__wire_encode(w.b, sizeof w.b, &m, NULL, reason,
                                     sizeof reason),
                     FP_ERR_INVALID);
    assert_non_null(strstr(reason, "id length 256 exceeds 255"));
}

static void test_roundtrip_auth(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc;
    m.hdr.type = FP__WIRE_AUTH;
    m.hdr.seq = 1;
    m.u.auth.nonce_echo = NONCE;
    m.u.auth.mac = MAC;
    build(&w, &m);
    assert_int_equal(w.hlen, 32);
    assert_int_equal(w.plen, 64);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.seq, 1);
    assert_memory_equal(d.u.auth.nonce_echo, NONCE, 32);
    assert_memory_equal(d.u.auth.mac, MAC, 32);
    assert_inside(d.u.auth.mac, 32, pc, 64);
    free(hc);
    free(pc);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_AUTH_OK;
    m.hdr.seq = 2;
    build(&w, &m);
    assert_int_equal(w.hlen, 32);
    assert_int_equal(w.plen, 0);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_AUTH_OK);
    assert_null(pc);
    free(hc);
}

static void test_roundtrip_heartbeat(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc;
    m.hdr.type = FP__WIRE_HEARTBEAT;
    m.hdr.flags = FP__WIRE_F_REPLY;
    m.hdr.seq = UINT32_MAX;
    m.u.heartbeat.hb_seq = UINT64_MAX;
    m.u.heartbeat.send_time_ns = 123456789012345ull;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.flags, FP__WIRE_F_REPLY);
    assert_int_equal(d.hdr.seq, UINT32_MAX);
    assert_true(d.u.heartbeat.hb_seq == UINT64_MAX);
    assert_true(d.u.heartbeat.send_time_ns == 123456789012345ull);
    free(hc);
    free(pc);
}

static void test_roundtrip_text_messages(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m, d;
    uint8_t *hc, *pc;
    char long_text[256];
    memset(long_text, 'e', 255);
    long_text[255] = 0;

    m = text_msg(FP__WIRE_ERROR, "wrong pool secret");
    m.hdr.flags = FP__WIRE_F_FATAL;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.text.status, FP_ERR_AUTH);
    assert_int_equal(d.u.text.ref_seq, 3);
    assert_int_equal(d.u.text.ref_type, FP__WIRE_AUTH);
    assert_int_equal(d.u.text.message_len, 17);
    assert_memory_equal(d.u.text.message, "wrong pool secret", 17);
    assert_inside(d.u.text.message, 17, pc, 17);
    free(hc);
    free(pc);

    /* ERROR may name a pool, or none; 255-byte message; status bounds */
    m = text_msg(FP__WIRE_ERROR, long_text);
    m.hdr.pool = 77;
    m.u.text.status = FP__WIRE_STATUS_MIN;
    m.u.text.ref_type = 200; /* an unknown type is a legitimate reference */
    build(&w, &m);
    expect_ok(&w);
    m = text_msg(FP__WIRE_ERROR, NULL);
    m.u.text.status = -1;
    build(&w, &m);
    expect_ok(&w);

    m = text_msg(FP__WIRE_GOODBYE, "bye");
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.text.reason, FP__WIRE_BYE_SHUTDOWN);
    assert_memory_equal(d.u.text.message, "bye", 3);
    free(hc);
    free(pc);
    m = text_msg(FP__WIRE_GOODBYE, NULL);
    m.u.text.reason = FP__WIRE_BYE_OVERLOAD;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_null(d.u.text.message);
    assert_int_equal(d.u.text.message_len, 0);
    free(hc);
    free(pc);

    m = text_msg(FP__WIRE_ACK, "update hook failed");
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.pool, 1);
    assert_int_equal(d.u.text.status, FP_ERR_TASK);
    assert_int_equal(d.u.text.ref_type, FP__WIRE_UPDATE);
    assert_true(d.u.text.ref == 9);
    free(hc);
    free(pc);
    m = text_msg(FP__WIRE_ACK, NULL);
    m.u.text.status = FP_OK;
    m.u.text.ref_type = FP__WIRE_POOL_OPEN;
    m.u.text.ref = 0;
    build(&w, &m);
    expect_ok(&w);
    m = text_msg(FP__WIRE_ACK, long_text);
    build(&w, &m);
    expect_ok(&w);
}

static void test_roundtrip_pool_open_close(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc;
    m.hdr.type = FP__WIRE_POOL_OPEN;
    m.hdr.pool = 3;
    m.u.pool_open.executors = 4;
    m.u.pool_open.worker_class = "model";
    m.u.pool_open.worker_class_len = 5;
    m.u.pool_open.init_len = 3;
    m.u.pool_open.init_data = "abc";
    build(&w, &m);
    assert_int_equal(w.plen, 8 + 3); /* name padded to 8 */
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.pool, 3);
    assert_int_equal(d.u.pool_open.executors, 4);
    assert_int_equal(d.u.pool_open.worker_class_len, 5);
    assert_memory_equal(d.u.pool_open.worker_class, "model", 5);
    assert_true(d.u.pool_open.init_len == 3);
    assert_memory_equal(d.u.pool_open.init_data, "abc", 3);
    assert_ptr_equal(d.u.pool_open.init_data, pc + 8);
    free(hc);
    free(pc);

    /* no worker class, init data by BULK, 63-byte name */
    m.u.pool_open.worker_class = NULL;
    m.u.pool_open.worker_class_len = 0;
    m.hdr.flags = FP__WIRE_F_BULK;
    m.u.pool_open.init_len = FP__WIRE_MAX_BULK;
    m.u.pool_open.init_data = NULL;
    build(&w, &m);
    assert_int_equal(w.plen, 0);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_null(d.u.pool_open.worker_class);
    assert_null(d.u.pool_open.init_data);
    assert_true(d.u.pool_open.init_len == FP__WIRE_MAX_BULK);
    free(hc);
    free(pc);
    char name[64];
    memset(name, 'n', sizeof name);
    m.hdr.flags = 0;
    m.u.pool_open.worker_class = name;
    m.u.pool_open.worker_class_len = 63;
    m.u.pool_open.init_len = 0;
    build(&w, &m);
    assert_int_equal(w.plen, 64);
    expect_ok(&w);
    m.u.pool_open.worker_class_len = 64;
    assert_int_equal(fp__wire_encode(w.b, sizeof w.b, &m, NULL, reason,
                                     sizeof reason),
                     FP_ERR_INVALID);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_POOL_CLOSE;
    m.hdr.pool = UINT32_MAX;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_POOL_CLOSE);
    assert_int_equal(d.hdr.pool, UINT32_MAX);
    free(hc);
    free(pc);
}

static void test_roundtrip_task_batch(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t d;
    uint8_t *hc, *pc;
    static uint8_t big[16][24];
    char name63[64];
    memset(name63, 'q', sizeof name63);
    fp__wire_task_rec_t recs[5];
    recs[0] = map_rec();
    recs[1] = map_rec(); /* by index, 2 args of different element sizes */
    recs[1].task_id = 8;
    recs[1].name = NULL;
    recs[1].name_len = 0;
    recs[1].nargs = 2;
    recs[1].args[1] = (fp__wire_arg_t){24, 8, FP__WIRE_WHERE_INLINE, big[0]};
    recs[2] = apply_rec(9);
    recs[3] = apply_rec(10); /* APPLY, 0 args, 63-byte name, max index */
    recs[3].nargs = 0;
    recs[3].name = name63;
    recs[3].name_len = 63;
    recs[3].name_idx = FP__WIRE_MAX_NAMES - 1;
    recs[3].attempt = FP__WIRE_MAX_ATTEMPT;
    recs[4] = apply_rec(UINT64_MAX); /* 16 args, mixed, some empty */
    recs[4].nargs = FP__WIRE_MAX_ARGS;
    for (int i = 0; i < FP__WIRE_MAX_ARGS; i++) {
        for (int j = 0; j < 24; j++)
            big[i][j] = (uint8_t)(i * 24 + j);
        if (i % 3 == 2)
            recs[4].args[i] = (fp__wire_arg_t){FP__WIRE_MAX_BULK, 0,
                                               FP__WIRE_WHERE_BULK, NULL};
        else
            recs[4].args[i] = (fp__wire_arg_t){(uint64_t)i, 0,
                                               FP__WIRE_WHERE_INLINE, big[i]};
    }
    task_batch(&w, recs, 5);
    assert_int_equal(w.hlen, 40);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_TASK_BATCH);
    assert_int_equal(d.hdr.seq, 42);
    assert_int_equal(d.u.batch.count, 5);
    assert_int_equal(d.u.batch.records_len, w.plen);

    fp__wire_iter_t it;
    fp__wire_task_rec_t r;
    fp__wire_iter_init(&it, &d);
    for (int k = 0; k < 5; k++) {
        const fp__wire_task_rec_t *e = &recs[k];
        assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                         FP_OK);
        assert_true(r.task_id == e->task_id);
        assert_int_equal(r.attempt, e->attempt);
        assert_int_equal(r.kind, e->kind);
        assert_int_equal(r.nargs, e->nargs);
        assert_int_equal(r.name_idx, e->name_idx);
        assert_int_equal(r.name_len, e->name_len);
        if (e->name_len) {
            assert_memory_equal(r.name, e->name, e->name_len);
            assert_inside(r.name, r.name_len, pc, w.plen);
        } else {
            assert_null(r.name);
        }
        assert_int_equal(r.out_elem_size, e->out_elem_size);
        assert_true(r.start == e->start);
        assert_int_equal(r.count, e->count);
        for (unsigned i = 0; i < r.nargs; i++) {
            assert_true(r.args[i].len == e->args[i].len);
            assert_int_equal(r.args[i].elem_size, e->args[i].elem_size);
            assert_int_equal(r.args[i].where, e->args[i].where);
            if (r.args[i].where == FP__WIRE_WHERE_BULK) {
                assert_null(r.args[i].data);
                continue;
            }
            /* zero-copy, and 8-aligned within the payload */
            assert_inside(r.args[i].data, (size_t)r.args[i].len, pc, w.plen);
            assert_int_equal(((const uint8_t *)r.args[i].data - pc) % 8, 0);
            if (r.args[i].len)
                assert_memory_equal(r.args[i].data, e->args[i].data,
                                    (size_t)r.args[i].len);
        }
    }
    assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                     FP_END);
    assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                     FP_END);
    /* the wrong iterator */
    fp__wire_result_rec_t rr;
    fp__wire_iter_init(&it, &d);
    assert_int_equal(fp__wire_iter_result(&it, &rr, reason, sizeof reason),
                     FP_ERR_INVALID);
    free(hc);
    free(pc);

    /* the documented layout of the single MAP record */
    map_batch(&w);
    assert_int_equal(w.plen, 80);
    assert_memory_equal(P(&w) + 40, "square\0\0", 8);
    assert_memory_equal(P(&w) + 64, ARG12, 12);
}

static void test_roundtrip_result_batch(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t d;
    uint8_t *hc, *pc;
    char msg255[256];
    memset(msg255, 'm', 255);
    fp__wire_result_rec_t recs[5];
    recs[0] = ok_result();
    recs[1] = err_result();
    recs[2] = ok_result(); /* by BULK */
    recs[2].where = FP__WIRE_WHERE_BULK;
    recs[2].len = FP__WIRE_MAX_BULK;
    recs[2].data = NULL;
    recs[3] = ok_result(); /* no bytes (out_size 0) */
    recs[3].where = FP__WIRE_WHERE_NONE;
    recs[3].len = 0;
    recs[3].data = NULL;
    recs[4] = err_result(); /* 255-byte message, most negative status */
    recs[4].message = msg255;
    recs[4].message_len = 255;
    recs[4].status = FP__WIRE_STATUS_MIN;
    result_batch(&w, recs, 5);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.batch.count, 5);
    fp__wire_iter_t it;
    fp__wire_result_rec_t r;
    fp__wire_iter_init(&it, &d);
    for (int k = 0; k < 5; k++) {
        const fp__wire_result_rec_t *e = &recs[k];
        assert_int_equal(fp__wire_iter_result(&it, &r, reason, sizeof reason),
                         FP_OK);
        assert_true(r.task_id == e->task_id);
        assert_int_equal(r.attempt, e->attempt);
        assert_int_equal(r.status, e->status);
        assert_true(r.start == e->start);
        assert_int_equal(r.count, e->count);
        assert_int_equal(r.where, e->where);
        assert_true(r.len == e->len);
        assert_int_equal(r.message_len, e->message_len);
        if (e->message_len)
            assert_memory_equal(r.message, e->message, e->message_len);
        if (e->where == FP__WIRE_WHERE_INLINE) {
            assert_inside(r.data, (size_t)r.len, pc, w.plen);
            assert_int_equal(((const uint8_t *)r.data - pc) % 8, 0);
            assert_memory_equal(r.data, e->data, (size_t)r.len);
        } else {
            assert_null(r.data);
        }
    }
    assert_int_equal(fp__wire_iter_result(&it, &r, reason, sizeof reason),
                     FP_END);
    free(hc);
    free(pc);
}

static void test_roundtrip_cancel(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc, entries[3 * 16];
    fp__wire_cancel_put(entries, 0, (fp__wire_cancel_entry_t){1, 1});
    fp__wire_cancel_put(entries, 1, (fp__wire_cancel_entry_t){UINT64_MAX, 7});
    fp__wire_cancel_put(entries, 2, (fp__wire_cancel_entry_t){
                                        5, FP__WIRE_MAX_ATTEMPT});
    m.hdr.type = FP__WIRE_CANCEL;
    m.hdr.pool = 2;
    m.u.batch.count = 3;
    m.u.batch.records = entries;
    build(&w, &m);
    assert_int_equal(w.plen, 48);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.batch.count, 3);
    fp__wire_cancel_entry_t e = fp__wire_cancel_get(&d, 1);
    assert_true(e.task_id == UINT64_MAX);
    assert_int_equal(e.attempt, 7);
    e = fp__wire_cancel_get(&d, 2);
    assert_int_equal(e.attempt, FP__WIRE_MAX_ATTEMPT);
    e = fp__wire_cancel_get(&d, 3); /* out of range: zeros */
    assert_true(e.task_id == 0 && e.attempt == 0);
    free(hc);
    free(pc);
}

static void test_roundtrip_update(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc;
    m.hdr.type = FP__WIRE_UPDATE;
    m.hdr.pool = 1;
    m.u.update.update_seq = 1;
    m.u.update.total = 10;
    m.u.update.data = "0123456789";
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_true(d.u.update.update_seq == 1);
    assert_true(d.u.update.total == 10);
    assert_ptr_equal(d.u.update.data, pc);
    assert_memory_equal(d.u.update.data, "0123456789", 10);
    free(hc);
    free(pc);

    m.u.update.total = 0; /* an empty update */
    m.u.update.data = NULL;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_null(d.u.update.data);
    free(hc);
    free(pc);

    m.hdr.flags = FP__WIRE_F_BULK;
    m.u.update.total = FP__WIRE_MAX_BULK;
    m.u.update.update_seq = UINT64_MAX;
    build(&w, &m);
    assert_int_equal(w.plen, 0);
    expect_ok(&w);

    /* largest inline update, header only (no 1 GiB buffer needed) */
    m.hdr.flags = 0;
    m.u.update.total = FP__WIRE_MAX_INLINE;
    uint8_t h[FP__WIRE_HDR_MAX];
    size_t hlen = 0;
    assert_int_equal(fp__wire_encode_header(h, sizeof h, &m, &hlen, reason,
                                            sizeof reason),
                     FP_OK);
    assert_int_equal(hlen, 48);
    assert_int_equal(fp__wire_decode_header(h, hlen, FP__WIRE_MAX_INLINE, &d,
                                            reason, sizeof reason),
                     FP_OK);
    assert_null(d.u.update.data);
    m.u.update.total = FP__WIRE_MAX_INLINE + 1u;
    assert_int_equal(fp__wire_encode_header(h, sizeof h, &m, &hlen, reason,
                                            sizeof reason),
                     FP_ERR_INVALID);
    assert_non_null(strstr(reason, "exceeds 1073741824 (send it as BULK)"));
}

static void test_roundtrip_bulk(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m, d;
    uint8_t *hc, *pc, data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
    m = bulk_msg(data, sizeof data);
    build(&w, &m);
    assert_int_equal(w.hlen, 64);
    assert_true(w.hlen <= FP__WIRE_HDR_MAX);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_true(d.u.bulk.task_id == 7);
    assert_int_equal(d.u.bulk.attempt, 1);
    assert_int_equal(d.u.bulk.kind, FP__WIRE_BULK_ARG);
    assert_int_equal(d.u.bulk.index, 1);
    assert_true(d.u.bulk.offset == 4096);
    assert_true(d.u.bulk.total == 4196);
    assert_int_equal(d.u.bulk.len, 100);
    assert_ptr_equal(d.u.bulk.data, pc);
    free(hc);
    free(pc);

    /* the other kinds; a chunk that ends exactly at the total */
    m = bulk_msg(data, 1);
    m.u.bulk.kind = FP__WIRE_BULK_RESULT;
    m.u.bulk.index = 0;
    m.u.bulk.offset = FP__WIRE_MAX_BULK - 1;
    m.u.bulk.total = FP__WIRE_MAX_BULK;
    build(&w, &m);
    expect_ok(&w);
    m = bulk_msg(data, 1);
    m.u.bulk.kind = FP__WIRE_BULK_INIT;
    m.u.bulk.task_id = 0;
    m.u.bulk.attempt = 0;
    m.u.bulk.index = 0;
    build(&w, &m);
    expect_ok(&w);
    m.u.bulk.kind = FP__WIRE_BULK_UPDATE;
    m.u.bulk.task_id = 3;
    build(&w, &m);
    expect_ok(&w);
    m = bulk_msg(data, 1);
    m.u.bulk.index = FP__WIRE_MAX_ARGS - 1;
    build(&w, &m);
    expect_ok(&w);

    /* zero-copy send: header only, largest chunk announced */
    m = bulk_msg(NULL, FP__WIRE_MAX_INLINE);
    uint8_t h[FP__WIRE_HDR_MAX];
    size_t hlen = 0;
    assert_int_equal(fp__wire_encode_header(h, sizeof h, &m, &hlen, reason,
                                            sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_decode_header(h, hlen, FP__WIRE_MAX_INLINE, &d,
                                            reason, sizeof reason),
                     FP_OK);
    assert_null(d.u.bulk.data);
    assert_int_equal(d.u.bulk.len, FP__WIRE_MAX_INLINE);
}

/* ---- encoder API --------------------------------------------------------------- */

static void test_encode_sizes_and_overflow(void **state)
{
    (void)state;
    fp__wire_msg_t m = hello_msg("abc", 3);
    size_t hlen = 0, plen = 0, len = 0;
    uint8_t buf[128];
    assert_int_equal(fp__wire_size(&m, &hlen, &plen, reason, sizeof reason),
                     FP_OK);
    assert_int_equal(hlen, 56);
    assert_int_equal(plen, 35);
    memset(buf, 0xEE, sizeof buf);
    assert_int_equal(fp__wire_encode(buf, hlen + plen - 1, &m, &len, reason,
                                     sizeof reason),
                     FP_ERR_OVERFLOW);
    assert_non_null(strstr(reason, "too small"));
    assert_int_equal(len, 0);     /* not written on failure */
    assert_int_equal(buf[0], 0xEE); /* nothing written */
    assert_int_equal(
        fp__wire_encode(buf, hlen + plen, &m, &len, reason, sizeof reason),
        FP_OK);
    assert_int_equal(len, 91);
    assert_int_equal(
        fp__wire_encode_header(buf, hlen - 1, &m, &len, reason, sizeof reason),
        FP_ERR_OVERFLOW);
    assert_int_equal(fp__wire_encode(NULL, 0, &m, &len, NULL, 0),
                     FP_ERR_OVERFLOW);

    /* unknown type, NULL pointers with lengths, invalid fields */
    m.hdr.type = 99;
    assert_int_equal(fp__wire_size(&m, &hlen, &plen, reason, sizeof reason),
                     FP_ERR_INVALID);
    assert_non_null(strstr(reason, "unknown message type 99"));
    m = hello_msg(NULL, 3);
    assert_int_equal(
        fp__wire_encode(buf, sizeof buf, &m, &len, reason, sizeof reason),
        FP_ERR_INVALID);
    assert_non_null(strstr(reason, "NULL"));
    m = hello_msg("abc", 3);
    m.u.hello.role = 7;
    assert_int_equal(
        fp__wire_encode(buf, sizeof buf, &m, &len, reason, sizeof reason),
        FP_ERR_INVALID);
    assert_non_null(strstr(reason, "HELLO: unknown role 7"));
    m = hello_msg("a\0c", 3);
    assert_int_equal(
        fp__wire_encode(buf, sizeof buf, &m, &len, reason, sizeof reason),
        FP_ERR_INVALID);
    assert_non_null(strstr(reason, "id contains a NUL byte at offset 1"));

    /* a payload that cannot fit one message */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_UPDATE;
    m.hdr.pool = 1;
    m.u.update.update_seq = 1;
    m.u.update.total = UINT64_C(1) << 33;
    assert_int_equal(fp__wire_size(&m, &hlen, &plen, reason, sizeof reason),
                     FP_ERR_INVALID);
    assert_non_null(strstr(reason, "does not fit one message"));

    /* reason buffers: tiny, NULL */
    char tiny[6];
    m.hdr.type = 99;
    assert_int_equal(fp__wire_size(&m, &hlen, &plen, tiny, sizeof tiny),
                     FP_ERR_INVALID);
    assert_string_equal(tiny, "unkno");
    assert_int_equal(fp__wire_size(&m, &hlen, &plen, NULL, 0), FP_ERR_INVALID);

    /* version 0 means current; HELLO always goes as version 1 */
    m = text_msg(FP__WIRE_GOODBYE, NULL);
    assert_int_equal(
        fp__wire_encode(buf, sizeof buf, &m, &len, reason, sizeof reason),
        FP_OK);
    assert_int_equal(buf[4], FP__WIRE_VERSION);
    m.hdr.version = 2;
    assert_int_equal(
        fp__wire_encode(buf, sizeof buf, &m, &len, reason, sizeof reason),
        FP_ERR_INVALID);
    assert_non_null(strstr(reason, "unsupported protocol version 2"));
}

static void test_builder(void **state)
{
    (void)state;
    uint8_t buf[200];
    char r2[256];
    fp__wire_builder_t b;
    fp__wire_task_rec_t r = map_rec();
    size_t size = 0;
    assert_int_equal(fp__wire_task_rec_size(&r, &size), FP_OK);
    assert_int_equal(size, 80);

    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, buf, 2 * size + 10);
    assert_int_equal(fp__wire_builder_add_task(&b, &r, reason, sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_builder_add_task(&b, &r, reason, sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_builder_add_task(&b, &r, reason, sizeof reason),
                     FP_ERR_OVERFLOW);
    assert_non_null(strstr(reason, "does not fit"));
    assert_int_equal(b.count, 2);
    assert_int_equal(b.len, 160);

    /* an invalid record: refused with the decoder's reason, builder as it
     * was (room is checked first: a full builder says FP_ERR_OVERFLOW) */
    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, buf, sizeof buf);
    assert_int_equal(fp__wire_builder_add_task(&b, &r, reason, sizeof reason),
                     FP_OK);
    static const uint8_t thirteen[13] = {0};
    r.args[0].len = 13;
    r.args[0].data = thirteen;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(
        strstr(r2, "TASK_BATCH record 1: argument 0 length 13 is not element "
                   "size 4 x count 3"));
    assert_int_equal(b.count, 1);
    assert_int_equal(b.len, 80);
    r = map_rec();
    r.name = "sq\0re";
    r.name_len = 5;
    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, buf, sizeof buf);
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "inline name contains a NUL byte at offset 2"));
    r = map_rec();
    r.name_len = 64;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_int_equal(fp__wire_task_rec_size(&r, &size), FP_ERR_INVALID);
    r = map_rec();
    r.nargs = 17;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    r = apply_rec(1);
    r.args[0].data = NULL;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "argument 0 data pointer is NULL"));
    assert_int_equal(b.count, 0);

    /* wrong type */
    fp__wire_result_rec_t rr = ok_result();
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    fp__wire_builder_init(&b, FP__WIRE_RESULT_BATCH, buf, sizeof buf);
    assert_int_equal(fp__wire_result_rec_size(&rr, &size), FP_OK);
    assert_int_equal(size, 64);
    rr.status = FP_ERR_TASK; /* error with data */
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "a failed result (status -6) carries data"));
    rr = err_result();
    rr.message_len = 256;
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "message length 256 exceeds 255"));
    assert_int_equal(b.len, 0);

    /* an empty batch does not encode */
    fp__wire_msg_t m = {0};
    m.hdr.pool = 1;
    fp__wire_builder_finish(&b, &m);
    assert_int_equal(fp__wire_encode(buf, sizeof buf, &m, &size, r2,
                                     sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "record count 0 is outside 1..65536"));
}

static void test_builder_limits(void **state)
{
    (void)state;
    char r2[256];
    size_t cap = (size_t)(FP__WIRE_MAX_RECORDS + 1) * 40;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    fp__wire_builder_t b;
    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, buf, cap);
    fp__wire_task_rec_t r = apply_rec(1);
    r.nargs = 0; /* 40 bytes: the smallest record */
    for (uint32_t i = 0; i < FP__WIRE_MAX_RECORDS; i++) {
        r.task_id = i + 1u;
        assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                         FP_OK);
    }
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_OVERFLOW);
    assert_non_null(strstr(r2, "batch already holds 65536 records"));
    fp__wire_msg_t m = {0}, d;
    m.hdr.pool = 1;
    fp__wire_builder_finish(&b, &m);
    uint8_t h[FP__WIRE_HDR_MAX];
    size_t hlen;
    assert_int_equal(fp__wire_encode_header(h, sizeof h, &m, &hlen, r2,
                                            sizeof r2),
                     FP_OK);
    assert_int_equal(fp__wire_decode(h, hlen, buf, b.len, &d, r2, sizeof r2),
                     FP_OK);
    assert_int_equal(d.u.batch.count, FP__WIRE_MAX_RECORDS);
    free(buf);

    /* NULL pointers with lengths, lengths that overflow */
    uint8_t small[256];
    fp__wire_builder_init(&b, FP__WIRE_TASK_BATCH, small, sizeof small);
    r = map_rec();
    r.name = NULL;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "inline name pointer is NULL"));
    r = apply_rec(1);
    r.args[0].len = UINT64_MAX;
    assert_int_equal(fp__wire_builder_add_task(&b, &r, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "argument 0 length 18446744073709551615 "
                               "overflows"));
    fp__wire_builder_init(&b, FP__WIRE_RESULT_BATCH, small, sizeof small);
    fp__wire_result_rec_t rr = err_result();
    rr.message = NULL;
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "message pointer is NULL"));
    rr = ok_result();
    rr.data = NULL;
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "result data pointer is NULL"));
    rr = ok_result();
    rr.len = UINT64_MAX - 3;
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_INVALID);
    assert_non_null(strstr(r2, "overflows"));
    rr = ok_result();
    rr.len = 300; /* larger than the buffer */
    static const uint8_t big[300];
    rr.data = big;
    assert_int_equal(fp__wire_builder_add_result(&b, &rr, r2, sizeof r2),
                     FP_ERR_OVERFLOW);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.count, 0);
}

static void test_negotiate_and_roles(void **state)
{
    (void)state;
    uint8_t v = 0;
    assert_int_equal(fp__wire_negotiate(1, 1, 1, 5, &v), FP_OK);
    assert_int_equal(v, 1);
    assert_int_equal(fp__wire_negotiate(1, 3, 2, 5, &v), FP_OK);
    assert_int_equal(v, 3);
    v = 0;
    assert_int_equal(fp__wire_negotiate(1, 1, 2, 5, &v), FP_ERR_UNSUPPORTED);
    assert_int_equal(v, 0);

    fp__wire_msg_t m = {0};
    m.hdr.type = FP__WIRE_TASK_BATCH;
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &m));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &m));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_SERVER, &m));
    m.hdr.type = FP__WIRE_RESULT_BATCH;
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &m));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &m));
    m.hdr.type = FP__WIRE_BULK;
    m.u.bulk.kind = FP__WIRE_BULK_RESULT;
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &m));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &m));
    m.u.bulk.kind = FP__WIRE_BULK_ARG;
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &m));
    m.hdr.type = FP__WIRE_HEARTBEAT;
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_SERVER, &m));
    assert_string_equal(fp__wire_type_name(FP__WIRE_RESULT_BATCH),
                        "RESULT_BATCH");
    assert_string_equal(fp__wire_type_name(0), "unknown");
}

/* ---- rejections: common header ------------------------------------------------- */

static void test_reject_header(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = hello_msg("node", 4);

    build(&w, &m);
    expect_reject_raw(H(&w), 31, NULL, 0,
                      "header is 31 bytes, shorter than the 32-byte common");
    expect_reject_raw(H(&w), 0, NULL, 0, "header is 0 bytes");
    build(&w, &m);
    H(&w)[0] = 'X';
    expect_reject(&w, "bad magic 0x52575058 (expected 0x52575046)");
    build(&w, &m);
    H(&w)[4] = 2;
    expect_reject(&w, "HELLO: header version 2, must be 1");

    /* old and future versions on everything but HELLO */
    m = text_msg(FP__WIRE_GOODBYE, NULL);
    build(&w, &m);
    H(&w)[4] = 0;
    expect_reject(&w, "GOODBYE: unsupported protocol version 0 (this build "
                      "speaks 1..1)");
    H(&w)[4] = FP__WIRE_VERSION_MAX + 1;
    expect_reject(&w, "unsupported protocol version 2");
    H(&w)[4] = 255;
    expect_reject(&w, "unsupported protocol version 255");

    /* unknown types */
    static const uint8_t bad_types[] = {0, 13, 15, 26, 99, 255};
    for (size_t i = 0; i < sizeof bad_types; i++) {
        char want[64];
        build(&w, &m);
        H(&w)[5] = bad_types[i];
        snprintf(want, sizeof want, "unknown message type %u", bad_types[i]);
        expect_reject(&w, want);
    }

    /* flags */
    build(&w, &m);
    put16(H(&w) + 6, FP__WIRE_F_REPLY);
    expect_reject(&w, "GOODBYE: flags 0x0001 include bits 0x0001 not allowed");
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_HEARTBEAT;
    build(&w, &m);
    put16(H(&w) + 6, FP__WIRE_F_REPLY | FP__WIRE_F_FATAL);
    expect_reject(&w, "flags 0x0003 include bits 0x0002");
    put16(H(&w) + 6, 0x8000);
    expect_reject(&w, "include bits 0x8000");
    map_batch(&w);
    put16(H(&w) + 6, FP__WIRE_F_BULK);
    expect_reject(&w, "TASK_BATCH: flags 0x0004");

    /* reserved, header length, truncation, extra bytes */
    build(&w, &m);
    put16(H(&w) + 10, 1);
    expect_reject(&w, "reserved header field is 0x0001, must be 0");
    build(&w, &m);
    put16(H(&w) + 8, 49);
    expect_reject(&w, "HEARTBEAT: header length field 49, must be 48");
    build(&w, &m);
    expect_reject_raw(H(&w), 47, NULL, 0,
                      "received 47 header bytes but the header is 48");
    expect_reject_raw(H(&w), 49, NULL, 0,
                      "received 49 header bytes but the header is 48");
    map_batch(&w);
    expect_reject_raw(H(&w), w.hlen, P(&w), w.plen - 1,
                      "payload length field 80 but 79 payload bytes");
    expect_reject_raw(H(&w), w.hlen, P(&w), w.plen + 1,
                      "payload length field 80 but 81 payload bytes");
    expect_reject_raw(H(&w), w.hlen, P(&w), 0,
                      "payload length field 80 but 0 payload bytes");

    /* the announced size of a rendezvous payload: SIZE_MAX, UINT32_MAX+1 */
    fp__wire_msg_t d;
    assert_int_equal(fp__wire_decode_header(H(&w), w.hlen, SIZE_MAX, &d,
                                            reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(strstr(reason, "payload length field 80 but "));
    put32(H(&w) + 12, UINT32_MAX);
    assert_int_equal(fp__wire_decode_header(H(&w), w.hlen,
                                            (size_t)UINT32_MAX + 1, &d,
                                            reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(
        strstr(reason, "payload length field 4294967295 but 4294967296"));
    assert_int_equal(fp__wire_decode_header(H(&w), w.hlen, UINT32_MAX, &d,
                                            reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(strstr(reason, "TASK_BATCH: payload length 4294967295 "
                                   "exceeds 67108864"));

    /* pool id scope */
    map_batch(&w);
    put32(H(&w) + 20, 0);
    expect_reject(&w, "TASK_BATCH: pool id 0 on a pool message");
    build(&w, &m);
    put32(H(&w) + 20, 5);
    expect_reject(&w, "HEARTBEAT: pool id 5 on a connection message");

    /* caller errors are not protocol errors */
    assert_int_equal(fp__wire_decode(H(&w), w.hlen, NULL, 3, &d, reason,
                                     sizeof reason),
                     FP_ERR_INVALID);
    assert_int_equal(
        fp__wire_decode(NULL, 24, NULL, 0, &d, reason, sizeof reason),
        FP_ERR_INVALID);
    assert_int_equal(
        fp__wire_decode(H(&w), w.hlen, NULL, 0, NULL, reason, sizeof reason),
        FP_ERR_INVALID);
}

/* ---- rejections: per type ----------------------------------------------------------- */

static void test_reject_hello(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = hello_msg("node-a", 6);
    uint8_t *f;
#define FRESH() (build(&w, &m), f = H(&w) + FP__WIRE_COMMON_SIZE)
    FRESH();
    f[0] = 0;
    expect_reject(&w, "HELLO: version range 0..3: the minimum must be >= 1");
    FRESH();
    f[0] = 4;
    expect_reject(&w, "version range 4..3 is empty");
    FRESH();
    f[2] = 0;
    expect_reject(&w, "unknown role 0");
    FRESH();
    f[2] = 4;
    expect_reject(&w, "unknown role 4");
    FRESH();
    f[3] = 0;
    expect_reject(&w, "HELLO: id is empty");
    FRESH();
    put32(f + 4, FP__WIRE_MAX_EXECUTORS + 1);
    expect_reject(&w, "executor count 65537 exceeds 65536");
    FRESH();
    put32(f + 4, 0);
    expect_reject(&w, "a node announces 0 executors");
    FRESH();
    put64(f + 8, 0);
    expect_reject(&w, "instance id 0 is reserved");
    FRESH();
    put64(f + 16, 0);
    expect_reject(&w, "route token 0 is reserved");
    FRESH();
    f[3] = 7; /* id length says 7, payload has 6 */
    expect_reject(&w, "payload length 38 must be 39 (32-byte nonce + 7-byte "
                      "id)");
    FRESH();
    set_plen(&w, 32 + 5);
    expect_reject(&w, "payload length 37 must be 38");
    FRESH();
    P(&w)[32 + 3] = 0; /* NUL inside the id */
    expect_reject(&w, "HELLO: id contains a NUL byte at offset 3");
    FRESH();
    P(&w)[32 + 5] = 0; /* a trailing NUL is inside too */
    expect_reject(&w, "id contains a NUL byte at offset 5");
#undef FRESH
}

static void test_reject_auth_and_empty(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0};
    m.hdr.type = FP__WIRE_AUTH;
    m.u.auth.nonce_echo = NONCE;
    m.u.auth.mac = MAC;
    build(&w, &m);
    set_plen(&w, 63);
    expect_reject(&w, "AUTH: payload length 63 must be 64");
    build(&w, &m);
    set_plen(&w, 65);
    expect_reject(&w, "payload length 65 must be 64");

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_AUTH_OK;
    build(&w, &m);
    set_plen(&w, 1);
    expect_reject(&w, "AUTH_OK: payload length 1 must be 0");
    m.hdr.type = FP__WIRE_POOL_CLOSE;
    m.hdr.pool = 1;
    build(&w, &m);
    set_plen(&w, 8);
    expect_reject(&w, "POOL_CLOSE: payload length 8 must be 0");
    m.hdr.type = FP__WIRE_HEARTBEAT;
    m.hdr.pool = 0;
    build(&w, &m);
    set_plen(&w, 2);
    expect_reject(&w, "HEARTBEAT: payload length 2 must be 0");
}

static void test_reject_text_messages(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m;
    uint8_t *f;
    char text[300];
    memset(text, 't', sizeof text);
    text[299] = 0;

    m = text_msg(FP__WIRE_GOODBYE, "bye");
    build(&w, &m);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    f[0] = 0;
    expect_reject(&w, "GOODBYE: unknown reason 0");
    f[0] = 5;
    expect_reject(&w, "unknown reason 5");
    f[0] = 1;
    f[7] = 1;
    expect_reject(&w, "GOODBYE: reserved field is not zero");
    build(&w, &m);
    P(&w)[1] = 0;
    expect_reject(&w, "GOODBYE: message contains a NUL byte at offset 1");

    m = text_msg(FP__WIRE_ERROR, "x");
    build(&w, &m);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put32(f, 0);
    expect_reject(&w, "ERROR: status 0 is outside -32768..-1");
    put32(f, 3);
    expect_reject(&w, "status 3 is outside");
    put32(f, (uint32_t)-32769);
    expect_reject(&w, "status -32769 is outside");
    put32(f, (uint32_t)FP_ERR_AUTH);
    f[15] = 1;
    expect_reject(&w, "ERROR: reserved field is not zero");

    /* a 256-byte message: patch a 255-byte one */
    text[255] = 0;
    m = text_msg(FP__WIRE_ERROR, text);
    build(&w, &m);
    P(&w)[255] = 't';
    set_plen(&w, 256);
    expect_reject(&w, "ERROR: message length 256 exceeds 255");

    m = text_msg(FP__WIRE_ACK, "failed");
    build(&w, &m);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    f[4] = FP__WIRE_TASK_BATCH;
    expect_reject(&w, "ACK: acknowledges type 19 (TASK_BATCH), which takes "
                      "no ACK");
    f[4] = FP__WIRE_UPDATE;
    put64(f + 8, 0);
    expect_reject(&w, "reference 0 is invalid for an ACK of UPDATE");
    f[4] = FP__WIRE_POOL_OPEN;
    put64(f + 8, 1);
    expect_reject(&w, "reference 1 is invalid for an ACK of POOL_OPEN");
    build(&w, &m);
    put32(f, 0);
    expect_reject(&w, "a successful ACK carries a 6-byte message");
    build(&w, &m);
    put32(f, 1);
    expect_reject(&w, "ACK: status 1 is outside -32768..0");
    build(&w, &m);
    put32(f, 0);
    f[6] = 1;
    set_plen(&w, 0);
    expect_reject(&w, "ACK: a successful ACK names executor 256");
}

static void test_reject_pool_open(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0};
    uint8_t *f;
    m.hdr.type = FP__WIRE_POOL_OPEN;
    m.hdr.pool = 1;
    m.u.pool_open.worker_class = "model";
    m.u.pool_open.worker_class_len = 5;
    m.u.pool_open.init_len = 3;
    m.u.pool_open.init_data = "abc";
#define FRESH() (build(&w, &m), f = H(&w) + FP__WIRE_COMMON_SIZE)
    FRESH();
    put32(f, FP__WIRE_MAX_EXECUTORS + 1);
    expect_reject(&w, "POOL_OPEN: executor count 65537 exceeds 65536");
    FRESH();
    f[4] = 64;
    expect_reject(&w, "worker class name length 64 exceeds 63");
    FRESH();
    f[5] = 1; /* the node's index base (24 bits), any value: 0x020001 */
    f[7] = 2;
    {
        fp__wire_msg_t d;
        uint8_t *hc, *pc;
        fp_status_t st = decode_sized(H(&w), w.hlen, P(&w), w.plen, &d, &hc, &pc);
        assert_int_equal(st, FP_OK);
        assert_int_equal(d.u.pool_open.index_base, 0x020001);
        free(hc);
        free(pc);
    }
    m.u.pool_open.index_base = FP__WIRE_MAX_INDEX_BASE + 1;
    {
        uint8_t buf[256];
        size_t len;
        char why[200];
        assert_int_equal(fp__wire_encode(buf, sizeof(buf), &m, &len, why,
                                         sizeof(why)),
                         FP_ERR_INVALID);
        assert_non_null(strstr(why, "index base"));
    }
    m.u.pool_open.index_base = 0;
    FRESH();
    put64(f + 8, 4);
    expect_reject(&w, "payload length 11 must be 12");
    FRESH();
    put64(f + 8, FP__WIRE_MAX_INLINE + 1ull);
    expect_reject(&w, "inline init data length 1073741825 exceeds 1073741824");
    FRESH();
    put64(f + 8, UINT64_MAX); /* would overflow pad8(name) + init_len */
    expect_reject(&w, "inline init data length 18446744073709551615 exceeds");
    FRESH();
    put16(H(&w) + 6, FP__WIRE_F_BULK);
    put64(f + 8, 0);
    expect_reject(&w, "BULK init data length 0 is outside 1..2^40");
    put64(f + 8, FP__WIRE_MAX_BULK + 1);
    expect_reject(&w, "BULK init data length 1099511627777 is outside");
    put64(f + 8, 10);
    expect_reject(&w, "payload length 11 must be 8");
    FRESH();
    P(&w)[2] = 0;
    expect_reject(&w, "worker class name contains a NUL byte at offset 2");
    FRESH();
    P(&w)[6] = 'x';
    expect_reject(&w, "worker class name padding is not zero");
#undef FRESH
}

/* Task record offsets in map_batch(): see map_rec(). */
static void test_reject_task_records(void **state)
{
    (void)state;
    wmsg_t w;
    uint8_t *p;
#define FRESH() (map_batch(&w), p = P(&w))
    FRESH();
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 0);
    expect_reject(&w, "TASK_BATCH: record count 0 is outside 1..65536");
    put32(H(&w) + FP__WIRE_COMMON_SIZE, FP__WIRE_MAX_RECORDS + 1);
    expect_reject(&w, "record count 65537 is outside 1..65536");
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 3);
    expect_reject(&w, "record count 3 needs at least 120 bytes but the payload "
                      "has 80");
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 2);
    expect_reject(&w, "TASK_BATCH record 1: the fixed part needs 40 bytes but "
                      "only 0 are left");
    FRESH();
    put32(H(&w) + FP__WIRE_COMMON_SIZE + 4, 1);
    expect_reject(&w, "TASK_BATCH: reserved field is not zero");

    /* trailing bytes after the last record */
    fp__wire_task_rec_t two[2] = {map_rec(), map_rec()};
    task_batch(&w, two, 2);
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 1);
    expect_reject(&w, "TASK_BATCH: 80 bytes left over after the last of 1 "
                      "records");

    FRESH();
    put64(p, 0);
    expect_reject(&w, "TASK_BATCH record 0: task id 0 is reserved");
    FRESH();
    put32(p + 8, 0);
    expect_reject(&w, "record 0: attempt 0 is outside 1..65535");
    put32(p + 8, FP__WIRE_MAX_ATTEMPT + 1);
    expect_reject(&w, "attempt 65536 is outside 1..65535");
    FRESH();
    p[12] = 3;
    expect_reject(&w, "record 0: unknown kind 3");
    p[12] = 0;
    expect_reject(&w, "unknown kind 0");
    FRESH();
    p[13] = 17;
    expect_reject(&w, "argument count 17 exceeds 16");
    p[13] = 0;
    expect_reject(&w, "MAP record has no arguments");
    p[13] = 2; /* a second descriptor is not there */
    expect_reject(&w, "argument 1 descriptor needs 16 bytes but only 0 are "
                      "left");
    FRESH();
    p[14] = 0x81;
    expect_reject(&w, "record flags 0x81 have unknown bits 0x80");
    FRESH();
    p[14] = 0; /* name length without the flag */
    expect_reject(&w, "name length 6 without the NAME_INLINE flag");
    FRESH();
    p[15] = 0;
    expect_reject(&w, "inline name length 0 is outside 1..63");
    p[15] = 64;
    expect_reject(&w, "inline name length 64 is outside 1..63");
    p[15] = 63;
    expect_reject(&w, "inline name of 63 bytes (64 padded) exceeds the 40 "
                      "bytes left");
    FRESH();
    put16(p + 16, FP__WIRE_MAX_NAMES);
    expect_reject(&w, "name index 4096 exceeds the limit 4095");
    FRESH();
    put16(p + 18, 1);
    expect_reject(&w, "record 0: reserved field is not zero");
    FRESH();
    put32(p + 36, 1);
    expect_reject(&w, "reserved field is not zero");
    FRESH();
    p[40 + 2] = 0;
    expect_reject(&w, "inline name contains a NUL byte at offset 2");
    FRESH();
    p[40 + 7] = 'x';
    expect_reject(&w, "name padding is not zero");

    /* element range and output size */
    FRESH();
    put32(p + 32, 0);
    expect_reject(&w, "record 0: element count is 0");
    FRESH();
    put64(p + 24, INT64_MAX - 2); /* + 3 elements: 2^63 + 0 */
    expect_reject(&w, "element range start 9223372036854775805 + count 3 "
                      "overflows the index limit");
    put64(p + 24, UINT64_MAX);
    expect_reject(&w, "element range start 18446744073709551615 + count 3");
    put64(p + 24, INT64_MAX - 3); /* largest valid */
    expect_ok(&w);
    FRESH();
    put32(p + 20, UINT32_MAX);
    put32(p + 32, 1u << 20);
    expect_reject(&w, "output of 1048576 elements of 4294967295 bytes exceeds "
                      "2^40");
    put32(p + 20, 1u << 20); /* exactly 2^40 is fine: next error is arg 0 */
    expect_reject(&w, "argument 0 length 12 is not element size 4 x count "
                      "1048576");

    /* argument descriptors */
    FRESH();
    put64(p + 48, 13);
    expect_reject(&w, "argument 0 length 13 is not element size 4 x count 3");
    FRESH();
    put32(p + 56, UINT32_MAX); /* elem * count no longer matches */
    expect_reject(&w, "argument 0 length 12 is not element size 4294967295 "
                      "x count 3");
    FRESH();
    p[60] = 0;
    expect_reject(&w, "argument 0 has unknown placement 0");
    p[60] = 3;
    expect_reject(&w, "argument 0 has unknown placement 3");
    FRESH();
    p[61] = 1;
    expect_reject(&w, "argument 0 reserved bytes are not zero");
    FRESH();
    p[64 + 12] = 1;
    expect_reject(&w, "argument 0 padding is not zero");
    FRESH();
    /* MAP where the argument claims to be 5 x 3 = 15 bytes inline: fits,
     * but 16 padded still fits too -> padding bytes must be zero: byte 79 */
    put32(p + 56, 5);
    put64(p + 48, 15);
    p[79] = 1;
    expect_reject(&w, "argument 0 padding is not zero");
    FRESH();
    /* the batch ends inside the padding: drop the last 4 bytes */
    set_plen(&w, 76);
    expect_reject(&w, "argument 0 padding (4 bytes) runs past the 12 bytes "
                      "left");
    FRESH();
    p[60] = FP__WIRE_WHERE_BULK; /* 12 bytes by BULK: record is 64 + 16 */
    expect_reject(&w, "16 bytes left over after the last of 1 records");
#undef FRESH
}

/* APPLY records (apply_rec layout) and oversized lengths. */
static void test_reject_apply_records(void **state)
{
    (void)state;
    wmsg_t w;
    uint8_t *p;
    fp__wire_task_rec_t four[4] = {apply_rec(1), apply_rec(2), apply_rec(3),
                                   apply_rec(4)};
    task_batch(&w, four, 4);
    assert_int_equal(w.plen, 320);
    expect_ok(&w);
    p = P(&w) + 3 * 80; /* record 3 */
    put64(p + 40, UINT32_MAX);
    expect_reject(&w, "TASK_BATCH record 3: argument 0 length 4294967295 "
                      "exceeds the 24 bytes left");
    put64(p + 40, UINT64_MAX);
    expect_reject(&w, "record 3: argument 0 length 18446744073709551615 "
                      "exceeds the 24 bytes left");
    put64(p + 40, SIZE_MAX - 3); /* padding would wrap */
    expect_reject(&w, "exceeds the 24 bytes left");
    put64(p + 40, 25);
    expect_reject(&w, "argument 0 length 25 exceeds the 24 bytes left");
    put64(p + 40, 24); /* the data now swallows arg 1's descriptor */
    expect_reject(&w, "argument 1 descriptor needs 16 bytes but only 0");

#define FRESH() (task_batch(&w, four, 1), p = P(&w))
    FRESH();
    put64(p + 24, 1);
    expect_reject(&w, "APPLY record needs start 0, count 1 and output element "
                      "size 0 (has 1, 1, 0)");
    FRESH();
    put32(p + 32, 2);
    expect_reject(&w, "(has 0, 2, 0)");
    FRESH();
    put32(p + 20, 8);
    expect_reject(&w, "(has 0, 1, 8)");
    FRESH();
    put32(p + 48, 1);
    expect_reject(&w, "argument 0 of an APPLY has element size 1, must be 0");
    FRESH();
    put64(p + 64, 0);
    expect_reject(&w, "argument 1 BULK length 0 is outside 1..2^40");
    put64(p + 64, FP__WIRE_MAX_BULK + 1);
    expect_reject(&w, "argument 1 BULK length 1099511627777 is outside");
    put64(p + 64, FP__WIRE_MAX_BULK);
    expect_ok(&w);
#undef FRESH

    /* an empty inline argument is legal; so is an APPLY with 0 args */
    fp__wire_task_rec_t r = apply_rec(5);
    r.args[0].len = 0;
    r.args[0].data = NULL;
    task_batch(&w, &r, 1);
    expect_ok(&w);
}

/* Result record offsets: see ok_result() / err_result(). */
static void test_reject_result_records(void **state)
{
    (void)state;
    wmsg_t w;
    uint8_t *p;
    fp__wire_result_rec_t ok = ok_result(), err = err_result();
#define FRESH_OK() (result_batch(&w, &ok, 1), p = P(&w))
#define FRESH_ERR() (result_batch(&w, &err, 1), p = P(&w))
    FRESH_OK();
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 2);
    expect_reject(&w, "RESULT_BATCH: record count 2 needs at least 80 bytes "
                      "but the payload has 64");
    FRESH_OK();
    put64(p, 0);
    expect_reject(&w, "RESULT_BATCH record 0: task id 0 is reserved");
    FRESH_OK();
    put32(p + 8, 0);
    expect_reject(&w, "attempt 0 is outside 1..65535");
    FRESH_OK();
    put32(p + 12, 1);
    expect_reject(&w, "status 1 is outside -32768..0");
    put32(p + 12, (uint32_t)INT32_MIN);
    expect_reject(&w, "status -2147483648 is outside");
    FRESH_OK();
    put32(p + 24, 0);
    expect_reject(&w, "element count is 0");
    FRESH_OK();
    put64(p + 16, UINT64_MAX - 1);
    expect_reject(&w, "element range start 18446744073709551614 + count 3 "
                      "overflows");
    FRESH_OK();
    p[29] = 3;
    expect_reject(&w, "unknown result placement 3");
    FRESH_OK();
    put16(p + 30, 1);
    expect_reject(&w, "RESULT_BATCH record 0: reserved field is not zero");
    FRESH_OK();
    put32(p + 12, (uint32_t)FP_ERR_TASK);
    expect_reject(&w, "a failed result (status -6) carries data");
    FRESH_OK();
    p[28] = 4;
    expect_reject(&w, "a successful result carries a 4-byte message");
    FRESH_OK();
    put64(p + 32, 25);
    expect_reject(&w, "result length 25 exceeds the 24 bytes left");
    put64(p + 32, UINT64_MAX);
    expect_reject(&w, "result length 18446744073709551615 exceeds the 24");
    put64(p + 32, 17);
    expect_reject(&w, "result padding is not zero");
    FRESH_OK();
    set_plen(&w, 60);
    put64(p + 32, 20);
    expect_reject(&w, "result padding (4 bytes) runs past the 20 bytes left");
    FRESH_OK();
    p[29] = FP__WIRE_WHERE_NONE;
    expect_reject(&w, "result length 24 with no data placement");
    FRESH_OK();
    p[29] = FP__WIRE_WHERE_BULK;
    put64(p + 32, 0);
    expect_reject(&w, "BULK result length 0 is outside 1..2^40");
    put64(p + 32, FP__WIRE_MAX_BULK + 1);
    expect_reject(&w, "BULK result length 1099511627777 is outside");

    FRESH_ERR();
    expect_ok(&w);
    p[40 + 1] = 0;
    expect_reject(&w, "RESULT_BATCH record 0: message contains a NUL byte at "
                      "offset 1");
    FRESH_ERR();
    p[40 + 5] = 1;
    expect_reject(&w, "message padding is not zero");
    FRESH_ERR();
    p[28] = 9; /* 16 padded, 8 left */
    expect_reject(&w, "message of 9 bytes (16 padded) exceeds the 8 bytes "
                      "left");
    p[28] = 255;
    expect_reject(&w, "message of 255 bytes (256 padded) exceeds the 8");
#undef FRESH_OK
#undef FRESH_ERR
}

static void test_reject_cancel(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0};
    uint8_t entries[32];
    fp__wire_cancel_put(entries, 0, (fp__wire_cancel_entry_t){3, 1});
    fp__wire_cancel_put(entries, 1, (fp__wire_cancel_entry_t){4, 2});
    m.hdr.type = FP__WIRE_CANCEL;
    m.hdr.pool = 1;
    m.u.batch.count = 2;
    m.u.batch.records = entries;
    build(&w, &m);
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 3);
    expect_reject(&w, "CANCEL: payload length 32 must be 48 (3 entries of 16 "
                      "bytes)");
    put32(H(&w) + FP__WIRE_COMMON_SIZE, 0);
    expect_reject(&w, "CANCEL: record count 0 is outside");
    build(&w, &m);
    put64(P(&w) + 16, 0);
    expect_reject(&w, "CANCEL record 1: task id 0 is reserved");
    build(&w, &m);
    put32(P(&w) + 16 + 8, 0);
    expect_reject(&w, "CANCEL record 1: attempt 0 is outside");
    build(&w, &m);
    put32(P(&w) + 12, 9);
    expect_reject(&w, "CANCEL record 0: reserved field is not zero");
}

static void test_reject_update(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0};
    uint8_t *f;
    m.hdr.type = FP__WIRE_UPDATE;
    m.hdr.pool = 1;
    m.u.update.update_seq = 4;
    m.u.update.total = 3;
    m.u.update.data = "upd";
    build(&w, &m);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put64(f, 0);
    expect_reject(&w, "UPDATE: update sequence 0 is reserved");
    build(&w, &m);
    put64(f + 8, 4);
    expect_reject(&w, "payload length 3 must equal the update length 4");
    put64(f + 8, UINT64_MAX);
    expect_reject(&w, "inline update length 18446744073709551615 exceeds");
    build(&w, &m);
    put16(H(&w) + 6, FP__WIRE_F_BULK);
    expect_reject(&w, "payload length 3 must be 0 with the BULK flag");
    set_plen(&w, 0);
    put64(f + 8, 0);
    expect_reject(&w, "BULK update length 0 is outside 1..2^40");
    put64(f + 8, UINT64_MAX);
    expect_reject(&w, "BULK update length 18446744073709551615 is outside");
}

/* The framed form: header and payload as one block (PROTOCOL.md §3.2). */
static void test_framed_hdr_len(void **state)
{
    (void)state;
    wmsg_t w;
    uint8_t data[16] = {1, 2, 3};
    fp__wire_msg_t m = bulk_msg(data, sizeof data), d;
    build(&w, &m);
    size_t total = w.hlen + sizeof data;
    assert_int_equal(fp__wire_framed_hdr_len(w.b, total), w.hlen);
    /* what the transport does with it: split, then decode as usual */
    assert_int_equal(fp__wire_decode(w.b, w.hlen, w.b + w.hlen,
                                     total - w.hlen, &d, reason,
                                     sizeof reason),
                     FP_OK);
    assert_memory_equal(d.u.bulk.data, data, sizeof data);
    /* a header-only frame (no payload) is a frame too */
    assert_int_equal(fp__wire_framed_hdr_len(w.b, w.hlen), w.hlen);
    /* too short to hold a common header, or the length field is out of
     * bounds or past the bytes received: not a frame */
    assert_int_equal(fp__wire_framed_hdr_len(w.b, FP__WIRE_COMMON_SIZE - 1), 0);
    assert_int_equal(fp__wire_framed_hdr_len(w.b, w.hlen - 1), 0);
    put16(w.b + 8, FP__WIRE_COMMON_SIZE - 1);
    assert_int_equal(fp__wire_framed_hdr_len(w.b, total), 0);
    put16(w.b + 8, FP__WIRE_HDR_MAX + 8);
    assert_int_equal(fp__wire_framed_hdr_len(w.b, total + 100), 0);
    put16(w.b + 8, 0xffff);
    assert_int_equal(fp__wire_framed_hdr_len(w.b, total), 0);
    /* a plausible length is only a length: the decoder judges the rest */
    put16(w.b + 8, FP__WIRE_COMMON_SIZE);
    assert_int_equal(fp__wire_framed_hdr_len(w.b, total), FP__WIRE_COMMON_SIZE);
    assert_int_equal(fp__wire_decode(w.b, FP__WIRE_COMMON_SIZE,
                                     w.b + FP__WIRE_COMMON_SIZE,
                                     total - FP__WIRE_COMMON_SIZE, &d, reason,
                                     sizeof reason),
                     FP_ERR_PROTOCOL);
}

static void test_reject_bulk(void **state)
{
    (void)state;
    wmsg_t w;
    uint8_t data[16] = {0}, *f;
    fp__wire_msg_t m = bulk_msg(data, sizeof data);
#define FRESH() (build(&w, &m), f = H(&w) + FP__WIRE_COMMON_SIZE)
    FRESH();
    put64(f, 0);
    expect_reject(&w, "BULK: task id 0 is reserved");
    FRESH();
    put32(f + 8, 0);
    expect_reject(&w, "BULK: attempt 0 is outside");
    FRESH();
    f[12] = 0;
    expect_reject(&w, "BULK: unknown kind 0");
    f[12] = 5;
    expect_reject(&w, "unknown kind 5");
    FRESH();
    f[13] = FP__WIRE_MAX_ARGS;
    expect_reject(&w, "index 16 is invalid for kind 1");
    f[12] = FP__WIRE_BULK_RESULT;
    f[13] = 1;
    expect_reject(&w, "index 1 is invalid for kind 2");
    FRESH();
    f[12] = FP__WIRE_BULK_INIT;
    expect_reject(&w, "task id 7 is invalid for kind 3");
    put64(f, 0);
    expect_reject(&w, "attempt and index must be 0 for kind 3");
    FRESH();
    f[12] = FP__WIRE_BULK_UPDATE;
    put64(f, 0);
    expect_reject(&w, "task id 0 is invalid for kind 4");
    FRESH();
    put16(f + 14, 1);
    expect_reject(&w, "BULK: reserved field is not zero");
    FRESH();
    put64(f + 24, 0);
    expect_reject(&w, "total length 0 is outside 1..2^40");
    put64(f + 24, FP__WIRE_MAX_BULK + 1);
    expect_reject(&w, "total length 1099511627777 is outside");
    FRESH();
    put64(f + 16, 4096 + 1); /* one byte past the end */
    expect_reject(&w, "chunk at offset 4097 of 16 bytes runs past the total "
                      "4112");
    put64(f + 16, UINT64_MAX - 8); /* offset + len wraps */
    expect_reject(&w, "chunk at offset 18446744073709551607 of 16 bytes runs "
                      "past");
    FRESH();
    set_plen(&w, 0);
    expect_reject(&w, "chunk length 0 is outside 1..1073741824");
    /* a chunk over 1 GiB, announced (header-only decode) */
    FRESH();
    put32(H(&w) + 12, FP__WIRE_MAX_INLINE + 1u);
    put64(f + 24, FP__WIRE_MAX_BULK);
    fp__wire_msg_t d;
    assert_int_equal(fp__wire_decode_header(H(&w), w.hlen,
                                            FP__WIRE_MAX_INLINE + 1u, &d,
                                            reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(strstr(reason, "chunk length 1073741825 is outside"));
#undef FRESH
}

/* Each record's reason names its index; a batch with damage late in it is
 * rejected as a whole before anything is returned. */
static void test_reject_late_record(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_task_rec_t recs[6];
    for (int i = 0; i < 6; i++)
        recs[i] = i % 2 ? apply_rec((uint64_t)i + 1) : map_rec();
    task_batch(&w, recs, 6);
    expect_ok(&w);
    /* record 5 (APPLY) starts at 3*80 + 2*80 = 400 */
    put32(P(&w) + 400 + 8, 0);
    fp__wire_msg_t m;
    memset(&m, 0x5A, sizeof m);
    fp__wire_msg_t zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(fp__wire_decode(H(&w), w.hlen, P(&w), w.plen, &m, reason,
                                     sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(
        strstr(reason, "TASK_BATCH record 5: attempt 0 is outside 1..65535"));
    assert_memory_equal(&m, &zero, sizeof m); /* cleared, never half-decoded */

    /* the iterator alone (no decode) stops at the same place */
    fp__wire_msg_t raw = {0};
    raw.hdr.type = FP__WIRE_TASK_BATCH;
    raw.u.batch.count = 6;
    raw.u.batch.records = P(&w);
    raw.u.batch.records_len = w.plen;
    fp__wire_iter_t it;
    fp__wire_task_rec_t r;
    fp__wire_iter_init(&it, &raw);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                         FP_OK);
    assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(strstr(reason, "record 5: attempt 0"));
    /* a header-only decode gives no records: the iterator refuses cleanly */
    raw.u.batch.records = NULL;
    fp__wire_iter_init(&it, &raw);
    assert_int_equal(fp__wire_iter_task(&it, &r, reason, sizeof reason),
                     FP_ERR_PROTOCOL);
    assert_non_null(strstr(reason, "only 0 are left"));
}

/* EXEC_MSG (client -> node) and CLIENT_MSG (node -> client): executor,
 * bytes, the ALL target only towards executors, bounds, roles. */
static void test_roundtrip_reject_msg(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc, *f;
    m.hdr.type = FP__WIRE_EXEC_MSG;
    m.hdr.pool = 3;
    m.u.emsg.executor = 7;
    m.u.emsg.data = "hello";
    m.u.emsg.len = 5;
    build(&w, &m);
    assert_int_equal(w.hlen, 40);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_EXEC_MSG);
    assert_int_equal(d.u.emsg.executor, 7);
    assert_int_equal(d.u.emsg.len, 5);
    assert_ptr_equal(d.u.emsg.data, pc);
    assert_memory_equal(d.u.emsg.data, "hello", 5);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    free(hc);
    free(pc);

    m.u.emsg.executor = FP__WIRE_MSG_ALL; /* every executor of the node */
    m.u.emsg.data = NULL;
    m.u.emsg.len = 0; /* an empty message */
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.emsg.executor, FP__WIRE_MSG_ALL);
    assert_null(d.u.emsg.data);
    free(hc);
    free(pc);

    m.hdr.type = FP__WIRE_CLIENT_MSG;
    m.u.emsg.executor = FP__WIRE_MAX_EXEC_INDEX;
    m.u.emsg.data = "xy";
    m.u.emsg.len = 2;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.emsg.executor, FP__WIRE_MAX_EXEC_INDEX);
    assert_memory_equal(d.u.emsg.data, "xy", 2);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_string_equal(fp__wire_type_name(FP__WIRE_CLIENT_MSG), "CLIENT_MSG");
    free(hc);
    free(pc);

    /* ALL is for executors only: a node's message has one sender */
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put32(f, FP__WIRE_MSG_ALL);
    expect_reject(&w, "CLIENT_MSG: executor 4294967295 exceeds");
    m.u.emsg.executor = FP__WIRE_MSG_ALL;
    size_t hl, pl;
    assert_int_equal(fp__wire_size(&m, &hl, &pl, reason, sizeof reason),
                     FP_OK); /* size only; encode validates */
    uint8_t buf[128];
    size_t len;
    assert_int_equal(fp__wire_encode(buf, sizeof buf, &m, &len, reason,
                                     sizeof reason),
                     FP_ERR_INVALID);
    m.u.emsg.executor = 1;
    build(&w, &m);
    put32(f, FP__WIRE_MAX_EXEC_INDEX + 1);
    expect_reject(&w, "executor 16842751 exceeds 16842750");
    build(&w, &m);
    put32(f + 4, 1);
    expect_reject(&w, "CLIENT_MSG: reserved field is not zero");
    m.hdr.type = FP__WIRE_EXEC_MSG;
    build(&w, &m);
    put32(H(&w) + 12, 3); /* payload length disagrees with what came */
    expect_reject(&w, "");
    build(&w, &m);
    put32(f, FP__WIRE_MAX_EXEC_INDEX + 1);
    expect_reject(&w, "EXEC_MSG: executor 16842751 exceeds 16842750 and is not ALL");
    build(&w, &m);
    put32(H(&w) + 20, 0); /* pool 0 */
    expect_reject(&w, "pool id 0 on a pool message");
    /* the largest inline message, header only */
    m.u.emsg.len = FP__WIRE_MAX_INLINE;
    uint8_t hdr[FP__WIRE_HDR_MAX];
    assert_int_equal(fp__wire_encode_header(hdr, sizeof hdr, &m, &len, reason,
                                            sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_decode_header(hdr, len, FP__WIRE_MAX_INLINE, &d,
                                            reason, sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_decode_header(hdr, len, FP__WIRE_MAX_INLINE + 1u,
                                            &d, reason, sizeof reason),
                     FP_ERR_PROTOCOL);
}

/* MODULE_OFFER / MODULE_DATA (client -> node) and MODULE_REPLY (node ->
 * client): connection-level, the hash and name, sizes, answers, roles. */
static void test_roundtrip_reject_module(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc, *f;
    uint8_t sha[32];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)(0xa0 + i);
    m.hdr.type = FP__WIRE_MODULE_OFFER;
    m.u.module.id = 5;
    m.u.module.size = 123456;
    m.u.module.sha256 = sha;
    m.u.module.name = "tasks.so";
    m.u.module.name_len = 8;
    build(&w, &m);
    assert_int_equal(w.hlen, 48);
    assert_int_equal(w.plen, 40);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_MODULE_OFFER);
    assert_int_equal(d.hdr.pool, 0);
    assert_true(d.u.module.id == 5 && d.u.module.size == 123456);
    assert_ptr_equal(d.u.module.sha256, pc);
    assert_memory_equal(d.u.module.sha256, sha, 32);
    assert_int_equal(d.u.module.name_len, 8);
    assert_memory_equal(d.u.module.name, "tasks.so", 8);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_SERVER, &d));
    assert_string_equal(fp__wire_type_name(FP__WIRE_MODULE_OFFER),
                        "MODULE_OFFER");
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put64(f, 0);
    expect_reject(&w, "MODULE_OFFER: module id 0 is reserved");
    build(&w, &m);
    put64(f + 8, 0);
    expect_reject(&w, "module size 0 is outside 1..1073741824");
    build(&w, &m);
    put64(f + 8, (UINT64_C(1) << 30) + 1);
    expect_reject(&w, "module size 1073741825 is outside");
    build(&w, &m);
    P(&w)[32 + 3] = 0;
    expect_reject(&w, "module name contains a NUL byte at offset 3");
    build(&w, &m);
    set_plen(&w, 32); /* no name */
    expect_reject(&w, "must be 32 (SHA-256) + a 1..255-byte name");
    build(&w, &m);
    put32(H(&w) + 20, 4); /* a pool id on a connection message */
    expect_reject(&w, "pool id 4 on a connection message");
    m.u.module.name_len = 256;
    size_t hl, pl;
    assert_int_equal(fp__wire_size(&m, &hl, &pl, reason, sizeof reason),
                     FP_ERR_INVALID);

    /* DATA: the bytes, exactly `size` of them */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_MODULE_DATA;
    m.u.module.id = 5;
    m.u.module.size = 6;
    m.u.module.data = "\x7f" "ELF\x02\x01";
    build(&w, &m);
    assert_int_equal(w.hlen, 48);
    assert_int_equal(w.plen, 6);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_MODULE_DATA);
    assert_ptr_equal(d.u.module.data, pc);
    assert_true(d.u.module.size == 6);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put64(f + 8, 7);
    expect_reject(&w, "MODULE_DATA: payload length 6 must equal the module "
                      "size 7");
    /* the largest module, header only (rendezvous) */
    m.u.module.size = FP__WIRE_MAX_MODULE;
    uint8_t hdr[FP__WIRE_HDR_MAX];
    size_t len;
    assert_int_equal(fp__wire_encode_header(hdr, sizeof hdr, &m, &len, reason,
                                            sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_decode_header(hdr, len, FP__WIRE_MAX_MODULE, &d,
                                            reason, sizeof reason),
                     FP_OK);
    assert_int_equal(fp__wire_decode_header(hdr, len, FP__WIRE_MAX_MODULE - 1,
                                            &d, reason, sizeof reason),
                     FP_ERR_PROTOCOL);

    /* REPLY: HAVE / NEED / LOADED carry nothing, FAILED a status and text */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_MODULE_REPLY;
    m.u.module.id = 9;
    m.u.module.answer = FP__WIRE_MOD_NEED;
    build(&w, &m);
    assert_int_equal(w.plen, 0);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.module.answer, FP__WIRE_MOD_NEED);
    assert_true(d.u.module.id == 9);
    assert_int_equal(d.u.module.status, 0);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    free(hc);
    free(pc);
    m.u.module.answer = FP__WIRE_MOD_FAILED;
    m.u.module.status = FP_ERR_PROTOCOL;
    m.u.module.message = "bytes do not match";
    m.u.module.message_len = 18;
    build(&w, &m);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.module.status, FP_ERR_PROTOCOL);
    assert_int_equal(d.u.module.message_len, 18);
    assert_memory_equal(d.u.module.message, "bytes do not match", 18);
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put32(f + 8, 0); /* FAILED with status 0 */
    expect_reject(&w, "MODULE_REPLY: status 0 is outside -32768..-1");
    build(&w, &m);
    f[12] = FP__WIRE_MOD_LOADED; /* LOADED with a status */
    expect_reject(&w, "MODULE_REPLY: answer 3 carries status");
    put32(f + 8, 0);
    expect_reject(&w, "answer 3 carries a 18-byte text");
    build(&w, &m);
    f[12] = 5;
    expect_reject(&w, "unknown answer 5");
    build(&w, &m);
    f[13] = 1;
    expect_reject(&w, "MODULE_REPLY: reserved field is not zero");
    build(&w, &m);
    put64(f, 0);
    expect_reject(&w, "module id 0 is reserved");
}

/* The rendezvous server's messages: SRV_REGISTER (node -> server),
 * SRV_SUBSCRIBE (client -> server), SRV_EVENT (server -> client): fields,
 * strings in the payload, the END's count, bounds, roles. */
static void test_roundtrip_reject_srv(void **state)
{
    (void)state;
    wmsg_t w;
    fp__wire_msg_t m = {0}, d;
    uint8_t *hc, *pc, *f;
    m.hdr.type = FP__WIRE_SRV_REGISTER;
    m.u.srv.executors = 8;
    m.u.srv.gpus = 2;
    m.u.srv.busy = 3;
    m.u.srv.queued = 11;
    m.u.srv.address = "0.0.0.0:4242";
    m.u.srv.address_len = 12;
    m.u.srv.host = "h2";
    m.u.srv.host_len = 2;
    build(&w, &m);
    assert_int_equal(w.hlen, 56);
    assert_int_equal(w.plen, 14);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.hdr.type, FP__WIRE_SRV_REGISTER);
    assert_int_equal(d.u.srv.executors, 8);
    assert_int_equal(d.u.srv.gpus, 2);
    assert_int_equal(d.u.srv.busy, 3);
    assert_int_equal(d.u.srv.queued, 11);
    assert_int_equal(d.u.srv.address_len, 12);
    assert_ptr_equal(d.u.srv.address, pc);
    assert_memory_equal(d.u.srv.address, "0.0.0.0:4242", 12);
    assert_memory_equal(d.u.srv.host, "h2", 2);
    assert_null(d.u.srv.reason);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_SERVER, &d));
    assert_string_equal(fp__wire_type_name(FP__WIRE_SRV_REGISTER),
                        "SRV_REGISTER");
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put32(f, 0);
    expect_reject(&w, "SRV_REGISTER: executor count 0 is outside");
    build(&w, &m);
    put32(f + 8, 9); /* busy > executors */
    expect_reject(&w, "9 busy executors of 8");
    build(&w, &m);
    f[16] = 0;
    expect_reject(&w, "address length 0 is outside 1..127");
    build(&w, &m);
    f[17] = 64;
    expect_reject(&w, "host name length 64 exceeds 63");
    build(&w, &m);
    f[20] = 1;
    expect_reject(&w, "SRV_REGISTER: reserved field is not zero");
    build(&w, &m);
    f[17] = 3; /* says 3 host bytes, 2 came */
    expect_reject(&w, "must be 15 (address 12 + host 3 + reason 0)");
    build(&w, &m);
    P(&w)[3] = 0;
    expect_reject(&w, "address contains a NUL byte at offset 3");
    build(&w, &m);
    put32(H(&w) + 20, 5); /* a pool id */
    expect_reject(&w, "pool id 5 on a connection message");

    /* SUBSCRIBE: nothing in it */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_SUBSCRIBE;
    build(&w, &m);
    assert_int_equal(w.hlen, 32);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    free(hc);
    free(pc);

    /* EVENT: a LEAVE with its reason */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_EVENT;
    m.u.srv.kind = FP__WIRE_SRV_LEAVE;
    m.u.srv.executors = 4;
    m.u.srv.address = "10.77.0.2:5000";
    m.u.srv.address_len = 14;
    m.u.srv.host = "node-b";
    m.u.srv.host_len = 6;
    m.u.srv.reason = "lost: hung";
    m.u.srv.reason_len = 10;
    build(&w, &m);
    assert_int_equal(w.hlen, 56);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.srv.kind, FP__WIRE_SRV_LEAVE);
    assert_memory_equal(d.u.srv.address, "10.77.0.2:5000", 14);
    assert_memory_equal(d.u.srv.host, "node-b", 6);
    assert_memory_equal(d.u.srv.reason, "lost: hung", 10);
    assert_true(fp__wire_sender_ok(FP__WIRE_ROLE_SERVER, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &d));
    assert_false(fp__wire_sender_ok(FP__WIRE_ROLE_NODE, &d));
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    f[0] = 5;
    expect_reject(&w, "SRV_EVENT: unknown kind 5");
    build(&w, &m);
    f[0] = FP__WIRE_SRV_JOIN; /* a reason on a JOIN */
    expect_reject(&w, "a reason on kind 3 (LEAVE only)");
    build(&w, &m);
    put32(f + 20, 2);
    expect_reject(&w, "count 2 on kind 4 (END only)");

    /* END: a count and nothing else */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_EVENT;
    m.u.srv.kind = FP__WIRE_SRV_END;
    m.u.srv.count = 3;
    build(&w, &m);
    assert_int_equal(w.plen, 0);
    expect_ok_keep(&w, &d, &hc, &pc);
    assert_int_equal(d.u.srv.kind, FP__WIRE_SRV_END);
    assert_int_equal(d.u.srv.count, 3);
    free(hc);
    free(pc);
    f = H(&w) + FP__WIRE_COMMON_SIZE;
    put32(f + 4, 1);
    expect_reject(&w, "the list's END carries only a count");
    /* the encoder refuses what the decoder would */
    m.u.srv.executors = 1;
    uint8_t buf[128];
    size_t len;
    assert_int_equal(fp__wire_encode(buf, sizeof buf, &m, &len, reason,
                                     sizeof reason),
                     FP_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_hello),
        cmocka_unit_test(test_roundtrip_auth),
        cmocka_unit_test(test_roundtrip_heartbeat),
        cmocka_unit_test(test_roundtrip_text_messages),
        cmocka_unit_test(test_roundtrip_pool_open_close),
        cmocka_unit_test(test_roundtrip_task_batch),
        cmocka_unit_test(test_roundtrip_result_batch),
        cmocka_unit_test(test_roundtrip_cancel),
        cmocka_unit_test(test_roundtrip_update),
        cmocka_unit_test(test_roundtrip_bulk),
        cmocka_unit_test(test_encode_sizes_and_overflow),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_builder_limits),
        cmocka_unit_test(test_negotiate_and_roles),
        cmocka_unit_test(test_reject_header),
        cmocka_unit_test(test_reject_hello),
        cmocka_unit_test(test_reject_auth_and_empty),
        cmocka_unit_test(test_reject_text_messages),
        cmocka_unit_test(test_reject_pool_open),
        cmocka_unit_test(test_reject_task_records),
        cmocka_unit_test(test_reject_apply_records),
        cmocka_unit_test(test_reject_result_records),
        cmocka_unit_test(test_reject_cancel),
        cmocka_unit_test(test_reject_update),
        cmocka_unit_test(test_reject_bulk),
        cmocka_unit_test(test_framed_hdr_len),
        cmocka_unit_test(test_reject_late_record),
        cmocka_unit_test(test_roundtrip_reject_msg),
        cmocka_unit_test(test_roundtrip_reject_module),
        cmocka_unit_test(test_roundtrip_reject_srv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
