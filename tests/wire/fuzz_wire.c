/*
 * libFuzzer target for the wire decoder (built with -DFP_FUZZ=ON under
 * clang), and the body of the corpus replay test (wire_corpus_replay) in
 * every other build.
 *
 * Input format (the seeds in corpus/ follow it; gen_corpus.c writes them):
 *   byte 0          header length H (capped to what follows)
 *   bytes 1..H      the header, as the UCX AM header would deliver it
 *   the rest        the payload, as the AM data
 * Header and payload are copied into separate exact-size heap blocks, so
 * reading one byte past either is an ASan error.
 *
 * Properties checked (abort() on violation, which the fuzzer reports):
 *  - decode returns FP_OK or FP_ERR_PROTOCOL, with a NUL-terminated reason;
 *  - header-only decode agrees with the full decode about the header;
 *  - a decoded message re-encodes to exactly the input bytes (the encoding
 *    is canonical), by fp__wire_encode and by fp__wire_encode_header;
 *  - every record of a decoded batch iterates, its pointers lie inside the
 *    payload, and the batch builder rebuilds the payload byte for byte;
 *  - the iterator over raw, undecoded bytes never misbehaves either.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_wire: property failed at line %d: %s\n",     \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static volatile uint8_t sink;

/* Read every byte of [p, p+n) (ASan checks it) and check it is inside the
 * payload block. */
static void touch(const void *p, uint64_t n, const uint8_t *base, size_t len)
{
    if (n == 0)
        return;
    const uint8_t *q = p;
    CHECK(q != NULL && base != NULL);
    CHECK(q >= base && n <= len && (size_t)(q - base) <= len - n);
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc ^= q[i];
    sink = acc;
}

static void check_reason(const char *reason, size_t size)
{
    CHECK(memchr(reason, 0, size) != NULL);
}

/* Walk the records of a batch; with `rebuild`, re-encode them. */
static void walk(const fp__wire_msg_t *m, const uint8_t *p, size_t plen,
                 int rebuild)
{
    char reason[256];
    fp__wire_iter_t it;
    fp__wire_builder_t b;
    uint8_t *out = NULL;
    if (rebuild) {
        out = malloc(plen ? plen : 1);
        CHECK(out != NULL);
        fp__wire_builder_init(&b, m->hdr.type, out, plen);
    }
    fp__wire_iter_init(&it, m);
    for (uint32_t n = 0;; n++) {
        fp_status_t st;
        CHECK(n <= FP__WIRE_MAX_RECORDS + 1u);
        if (m->hdr.type == FP__WIRE_TASK_BATCH) {
            fp__wire_task_rec_t r;
            st = fp__wire_iter_task(&it, &r, reason, sizeof reason);
            if (st == FP_OK) {
                CHECK(r.nargs <= FP__WIRE_MAX_ARGS);
                CHECK(r.name_len <= FP__WIRE_NAME_MAX);
                touch(r.name, r.name_len, p, plen);
                for (unsigned i = 0; i < r.nargs; i++)
                    if (r.args[i].where == FP__WIRE_WHERE_INLINE)
                        touch(r.args[i].data, r.args[i].len, p, plen);
                if (rebuild)
                    CHECK(fp__wire_builder_add_task(&b, &r, reason,
                                                    sizeof reason) == FP_OK);
            }
        } else {
            fp__wire_result_rec_t r;
            st = fp__wire_iter_result(&it, &r, reason, sizeof reason);
            if (st == FP_OK) {
                CHECK(r.message_len <= FP__WIRE_TEXT_MAX);
                touch(r.message, r.message_len, p, plen);
                if (r.where == FP__WIRE_WHERE_INLINE)
                    touch(r.data, r.len, p, plen);
                if (rebuild)
                    CHECK(fp__wire_builder_add_result(&b, &r, reason,
                                                      sizeof reason) == FP_OK);
            }
        }
        check_reason(reason, sizeof reason);
        if (st == FP_END)
            break;
        if (st != FP_OK) {
            CHECK(st == FP_ERR_PROTOCOL);
            CHECK(!rebuild); /* a decoded batch iterates cleanly */
            break;
        }
    }
    if (rebuild) {
        CHECK(b.count == m->u.batch.count);
        CHECK(b.len == plen);
        CHECK(plen == 0 || memcmp(out, p, plen) == 0);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t hlen = data[0];
    if (hlen > size - 1)
        hlen = size - 1;
    size_t plen = size - 1 - hlen;
    uint8_t *h = malloc(hlen ? hlen : 1);
    uint8_t *p = plen ? malloc(plen) : NULL;
    CHECK(h != NULL && (plen == 0 || p != NULL));
    memcpy(h, data + 1, hlen);
    if (plen)
        memcpy(p, data + 1 + hlen, plen);

    char reason[256];
    fp__wire_msg_t mh, m;
    memset(reason, 'x', sizeof reason);
    fp_status_t sh =
        fp__wire_decode_header(h, hlen, plen, &mh, reason, sizeof reason);
    CHECK(sh == FP_OK || sh == FP_ERR_PROTOCOL);
    if (sh != FP_OK)
        check_reason(reason, sizeof reason);
    memset(reason, 'x', sizeof reason);
    fp_status_t st = fp__wire_decode(h, hlen, p, plen, &m, reason,
                                     sizeof reason);
    CHECK(st == FP_OK || st == FP_ERR_PROTOCOL);
    if (sh != FP_OK)
        CHECK(st == sh);

    if (st == FP_OK) {
        CHECK(m.hdr.hdr_len == hlen && m.hdr.payload_len == plen);
        CHECK(hlen <= FP__WIRE_HDR_MAX);
        CHECK(memcmp(&mh.hdr, &m.hdr, sizeof m.hdr) == 0);
        /* canonical: re-encoding gives the same bytes */
        uint8_t *again = malloc(hlen + plen);
        size_t len = 0;
        CHECK(again != NULL);
        CHECK(fp__wire_encode(again, hlen + plen, &m, &len, reason,
                              sizeof reason) == FP_OK);
        CHECK(len == hlen + plen);
        CHECK(memcmp(again, h, hlen) == 0);
        CHECK(plen == 0 || memcmp(again + hlen, p, plen) == 0);
        CHECK(fp__wire_encode_header(again, hlen, &m, &len, reason,
                                     sizeof reason) == FP_OK);
        CHECK(len == hlen && memcmp(again, h, hlen) == 0);
        free(again);

        switch (m.hdr.type) {
        case FP__WIRE_TASK_BATCH:
        case FP__WIRE_RESULT_BATCH:
            CHECK(m.u.batch.records == p);
            walk(&m, p, plen, 1);
            break;
        case FP__WIRE_CANCEL:
            for (uint32_t i = 0; i < m.u.batch.count; i++) {
                fp__wire_cancel_entry_t e = fp__wire_cancel_get(&m, i);
                CHECK(e.task_id != 0 && e.attempt != 0);
            }
            break;
        case FP__WIRE_HELLO:
            touch(m.u.hello.nonce, FP__WIRE_NONCE_LEN, p, plen);
            touch(m.u.hello.id, m.u.hello.id_len, p, plen);
            break;
        case FP__WIRE_ERROR:
        case FP__WIRE_GOODBYE:
        case FP__WIRE_ACK:
            touch(m.u.text.message, m.u.text.message_len, p, plen);
            break;
        case FP__WIRE_POOL_OPEN:
            touch(m.u.pool_open.worker_class, m.u.pool_open.worker_class_len,
                  p, plen);
            if (m.u.pool_open.init_data)
                touch(m.u.pool_open.init_data, m.u.pool_open.init_len, p,
                      plen);
            break;
        case FP__WIRE_UPDATE:
            if (m.u.update.data)
                touch(m.u.update.data, m.u.update.total, p, plen);
            break;
        case FP__WIRE_BULK:
            touch(m.u.bulk.data, m.u.bulk.len, p, plen);
            break;
        case FP__WIRE_MODULE_OFFER:
            touch(m.u.module.sha256, FP__WIRE_SHA256_LEN, p, plen);
            touch(m.u.module.name, m.u.module.name_len, p, plen);
            break;
        case FP__WIRE_MODULE_DATA:
            touch(m.u.module.data, (size_t)m.u.module.size, p, plen);
            break;
        case FP__WIRE_MODULE_REPLY:
            touch(m.u.module.message, m.u.module.message_len, p, plen);
            break;
        default:
            break;
        }
        (void)fp__wire_sender_ok(FP__WIRE_ROLE_CLIENT, &m);
        (void)fp__wire_type_name(m.hdr.type);
    }

    /* The iterator on raw bytes, as if a header had announced a batch: the
     * record count comes from the header bytes if there are any. */
    fp__wire_msg_t raw;
    memset(&raw, 0, sizeof raw);
    raw.hdr.type = (hlen > 0 && (h[0] & 1)) ? FP__WIRE_RESULT_BATCH
                                            : FP__WIRE_TASK_BATCH;
    raw.u.batch.count = hlen > 1 ? h[1] : 1;
    raw.u.batch.records = p;
    raw.u.batch.records_len = plen;
    walk(&raw, p, plen, 0);

    /* The framed form (PROTOCOL.md §3.2): header and payload as one block.
     * A message that decodes split must be found framed with its header
     * length; whatever the framing helper accepts lies inside the block and
     * decodes to OK or a protocol error like any other header. */
    size_t flen = hlen + plen;
    uint8_t *f = malloc(flen ? flen : 1);
    CHECK(f != NULL);
    memcpy(f, data + 1, flen);
    size_t fh = fp__wire_framed_hdr_len(f, flen);
    if (st == FP_OK)
        CHECK(fh == hlen);
    if (fh != 0) {
        CHECK(fh >= FP__WIRE_COMMON_SIZE && fh <= FP__WIRE_HDR_MAX &&
              fh <= flen);
        fp__wire_msg_t fm;
        memset(reason, 'x', sizeof reason);
        fp_status_t sf = fp__wire_decode(f, fh, f + fh, flen - fh, &fm,
                                         reason, sizeof reason);
        CHECK(sf == FP_OK || sf == FP_ERR_PROTOCOL);
        if (sf != FP_OK)
            check_reason(reason, sizeof reason);
        else
            CHECK(fm.hdr.hdr_len == fh && fm.hdr.payload_len == flen - fh);
    }
    free(f);

    free(h);
    free(p);
    return 0;
}
