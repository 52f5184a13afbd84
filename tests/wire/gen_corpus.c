/*
 * Writes the seed corpus of fuzz_wire / wire_corpus_replay: one valid message
 * of every type (and of every notable variant), plus malformed ones that
 * stop at different validation rules.  File format: see fuzz_wire.c
 * (1 byte header length, header, payload).
 *
 *   cmake --build <build> --target wire_gen_corpus
 *   <build>/tests/wire/wire_gen_corpus tests/wire/corpus
 *
 * Run it again and commit the result whenever the protocol changes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const char *outdir;
static int nfiles;

typedef struct enc {
    uint8_t b[8192];
    size_t hlen, plen;
} enc_t;

static void die(const char *what, const char *reason)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, reason);
    exit(1);
}

static void encode(enc_t *e, const fp__wire_msg_t *m, const char *what)
{
    char reason[256];
    size_t len;
    if (fp__wire_encode(e->b, sizeof e->b, m, &len, reason, sizeof reason) !=
        FP_OK)
        die(what, reason);
    e->hlen = (size_t)e->b[8] | (size_t)e->b[9] << 8;
    e->plen = len - e->hlen;
}

/* Write a seed with the given header length (may differ from e->hlen). */
static void emit_raw(const char *name, const uint8_t *h, size_t hlen,
                     const uint8_t *p, size_t plen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    uint8_t hl = (uint8_t)hlen;
    if (fwrite(&hl, 1, 1, f) != 1 || fwrite(h, 1, hlen, f) != hlen ||
        (plen && fwrite(p, 1, plen, f) != plen) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    nfiles++;
}

static void emit(const char *name, const enc_t *e)
{
    emit_raw(name, e->b, e->hlen, e->b + e->hlen, e->plen);
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

static const uint8_t NONCE[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t ARGS[64] = "argument bytes for the seed corpus, 64 of them...............";

static void batch(enc_t *e, uint8_t type, const void *recs, size_t n,
                  const char *what)
{
    static uint8_t buf[4096];
    char reason[256];
    fp__wire_builder_t b;
    fp__wire_builder_init(&b, type, buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        fp_status_t st =
            type == FP__WIRE_TASK_BATCH
                ? fp__wire_builder_add_task(
                      &b, &((const fp__wire_task_rec_t *)recs)[i], reason,
                      sizeof reason)
                : fp__wire_builder_add_result(
                      &b, &((const fp__wire_result_rec_t *)recs)[i], reason,
                      sizeof reason);
        if (st != FP_OK)
            die(what, reason);
    }
    fp__wire_msg_t m = {0};
    m.hdr.pool = 1;
    m.hdr.seq = 10;
    fp__wire_builder_finish(&b, &m);
    encode(e, &m, what);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s output-dir\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    enc_t e;
    fp__wire_msg_t m;

    /* ---- valid: one of each type ---- */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_HELLO;
    m.u.hello = (fp__wire_hello_t){1, 1, FP__WIRE_ROLE_NODE, 2,
                                   0x0123456789abcdefull, 0x1111222233334444ull, NONCE, "node-a:4242",
                                   11};
    encode(&e, &m, "hello");
    emit("valid-hello-node", &e);
    m.u.hello.role = FP__WIRE_ROLE_CLIENT;
    m.u.hello.executors = 0;
    m.u.hello.version_max = 9;
    encode(&e, &m, "hello-client");
    emit("valid-hello-client", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_AUTH;
    m.hdr.seq = 1;
    m.u.auth.nonce_echo = NONCE;
    m.u.auth.mac = NONCE;
    encode(&e, &m, "auth");
    emit("valid-auth", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_AUTH_OK;
    m.hdr.seq = 2;
    encode(&e, &m, "auth_ok");
    emit("valid-auth-ok", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_HEARTBEAT;
    m.u.heartbeat.hb_seq = 17;
    m.u.heartbeat.send_time_ns = 1000000007ull;
    encode(&e, &m, "heartbeat");
    emit("valid-heartbeat", &e);
    m.hdr.flags = FP__WIRE_F_REPLY;
    encode(&e, &m, "heartbeat-reply");
    emit("valid-heartbeat-reply", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_GOODBYE;
    m.u.text.reason = FP__WIRE_BYE_NORMAL;
    m.u.text.message = "client done";
    m.u.text.message_len = 11;
    encode(&e, &m, "goodbye");
    emit("valid-goodbye", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_ERROR;
    m.hdr.flags = FP__WIRE_F_FATAL;
    m.u.text.status = FP_ERR_AUTH;
    m.u.text.ref_seq = 1;
    m.u.text.ref_type = FP__WIRE_AUTH;
    m.u.text.message = "peer failed authentication";
    m.u.text.message_len = 26;
    encode(&e, &m, "error");
    emit("valid-error-fatal", &e);
    m.hdr.flags = 0;
    m.hdr.pool = 3;
    m.u.text.status = FP_ERR_PROTOCOL;
    encode(&e, &m, "error-pool");
    emit("valid-error-pool", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_POOL_OPEN;
    m.hdr.pool = 1;
    m.u.pool_open.executors = 0;
    m.u.pool_open.worker_class = "model";
    m.u.pool_open.worker_class_len = 5;
    m.u.pool_open.init_len = 16;
    m.u.pool_open.init_data = ARGS;
    encode(&e, &m, "pool_open");
    emit("valid-pool-open", &e);
    m.hdr.flags = FP__WIRE_F_BULK;
    m.u.pool_open.init_len = 1u << 20;
    m.u.pool_open.init_data = NULL;
    encode(&e, &m, "pool_open-bulk");
    emit("valid-pool-open-bulk", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_POOL_CLOSE;
    m.hdr.pool = 1;
    encode(&e, &m, "pool_close");
    emit("valid-pool-close", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_ACK;
    m.hdr.pool = 1;
    m.u.text.ref_type = FP__WIRE_POOL_OPEN;
    encode(&e, &m, "ack");
    emit("valid-ack-ok", &e);
    m.u.text.ref_type = FP__WIRE_UPDATE;
    m.u.text.ref = 2;
    m.u.text.status = FP_ERR_TASK;
    m.u.text.message = "update hook failed";
    m.u.text.message_len = 18;
    encode(&e, &m, "ack-err");
    emit("valid-ack-error", &e);

    fp__wire_task_rec_t t[3] = {{0}};
    t[0] = (fp__wire_task_rec_t){.task_id = 1, .attempt = 1,
                                 .kind = FP__WIRE_KIND_MAP, .nargs = 1,
                                 .name_idx = 0, .name = "square",
                                 .name_len = 6, .out_elem_size = 8,
                                 .start = 0, .count = 4};
    t[0].args[0] = (fp__wire_arg_t){16, 4, FP__WIRE_WHERE_INLINE, ARGS};
    t[1] = t[0];
    t[1].task_id = 2;
    t[1].name = NULL;
    t[1].name_len = 0;
    t[1].start = 4;
    t[1].nargs = 2;
    t[1].args[1] = (fp__wire_arg_t){12, 3, FP__WIRE_WHERE_INLINE, ARGS + 16};
    t[2] = (fp__wire_task_rec_t){.task_id = 3, .attempt = 2,
                                 .kind = FP__WIRE_KIND_APPLY,
                                 .nargs = FP__WIRE_MAX_ARGS, .name_idx = 1,
                                 .name = "fit", .name_len = 3, .count = 1};
    for (int i = 0; i < FP__WIRE_MAX_ARGS; i++)
        t[2].args[i] = i % 4 == 3 ? (fp__wire_arg_t){1u << 24, 0,
                                                     FP__WIRE_WHERE_BULK, NULL}
                                  : (fp__wire_arg_t){(uint64_t)i, 0,
                                                     FP__WIRE_WHERE_INLINE,
                                                     ARGS};
    batch(&e, FP__WIRE_TASK_BATCH, t, 1, "task-map");
    emit("valid-task-batch-map", &e);
    batch(&e, FP__WIRE_TASK_BATCH, t, 3, "task-mixed");
    emit("valid-task-batch-mixed", &e);
    enc_t mixed = e;

    fp__wire_result_rec_t r[4] = {{0}};
    r[0] = (fp__wire_result_rec_t){.task_id = 1, .attempt = 1, .start = 0,
                                   .count = 4, .where = FP__WIRE_WHERE_INLINE,
                                   .len = 32, .data = ARGS};
    r[1] = (fp__wire_result_rec_t){.task_id = 2, .attempt = 1,
                                   .status = FP_ERR_TASK, .start = 6,
                                   .count = 1, .message = "negative input",
                                   .message_len = 14};
    r[2] = (fp__wire_result_rec_t){.task_id = 3, .attempt = 2, .count = 1,
                                   .where = FP__WIRE_WHERE_BULK,
                                   .len = 1u << 22};
    r[3] = (fp__wire_result_rec_t){.task_id = 2, .attempt = 1, .start = 4,
                                   .count = 2};
    batch(&e, FP__WIRE_RESULT_BATCH, r, 4, "results");
    emit("valid-result-batch", &e);
    enc_t results = e;

    uint8_t entries[32];
    fp__wire_cancel_put(entries, 0, (fp__wire_cancel_entry_t){1, 1});
    fp__wire_cancel_put(entries, 1, (fp__wire_cancel_entry_t){3, 2});
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_CANCEL;
    m.hdr.pool = 1;
    m.u.batch.count = 2;
    m.u.batch.records = entries;
    encode(&e, &m, "cancel");
    emit("valid-cancel", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_UPDATE;
    m.hdr.pool = 1;
    m.u.update.update_seq = 1;
    m.u.update.total = 20;
    m.u.update.data = ARGS;
    encode(&e, &m, "update");
    emit("valid-update", &e);
    m.hdr.flags = FP__WIRE_F_BULK;
    m.u.update.total = 1u << 26;
    m.u.update.data = NULL;
    encode(&e, &m, "update-bulk");
    emit("valid-update-bulk", &e);

    /* the rendezvous server's messages */
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_REGISTER;
    m.u.srv.executors = 8;
    m.u.srv.gpus = 1;
    m.u.srv.busy = 2;
    m.u.srv.queued = 5;
    m.u.srv.address = "0.0.0.0:4242";
    m.u.srv.address_len = 12;
    m.u.srv.host = "node-a";
    m.u.srv.host_len = 6;
    encode(&e, &m, "srv-register");
    emit("valid-srv-register", &e);
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_SUBSCRIBE;
    encode(&e, &m, "srv-subscribe");
    emit("valid-srv-subscribe", &e);
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_EVENT;
    m.u.srv.kind = FP__WIRE_SRV_LEAVE;
    m.u.srv.executors = 8;
    m.u.srv.address = "10.77.0.2:4242";
    m.u.srv.address_len = 14;
    m.u.srv.host = "node-a";
    m.u.srv.host_len = 6;
    m.u.srv.reason = "left";
    m.u.srv.reason_len = 4;
    encode(&e, &m, "srv-event-leave");
    emit("valid-srv-event-leave", &e);
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_SRV_EVENT;
    m.u.srv.kind = FP__WIRE_SRV_END;
    m.u.srv.count = 2;
    encode(&e, &m, "srv-event-end");
    emit("valid-srv-event-end", &e);

    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_BULK;
    m.hdr.pool = 1;
    m.u.bulk = (fp__wire_bulk_t){3, 2, FP__WIRE_BULK_ARG, 3, 48, 1u << 24,
                                 ARGS, 48};
    encode(&e, &m, "bulk-arg");
    emit("valid-bulk-arg", &e);
    enc_t bulk = e;
    m.u.bulk = (fp__wire_bulk_t){3, 2, FP__WIRE_BULK_RESULT, 0, 0, 64, ARGS,
                                 64};
    encode(&e, &m, "bulk-result");
    emit("valid-bulk-result", &e);
    m.u.bulk = (fp__wire_bulk_t){0, 0, FP__WIRE_BULK_INIT, 0, 1000, 1008,
                                 ARGS, 8};
    encode(&e, &m, "bulk-init");
    emit("valid-bulk-init", &e);

    static const uint8_t SHA[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                    12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                    22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                                    32};
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_MODULE_OFFER;
    m.u.module.id = 1;
    m.u.module.size = 48;
    m.u.module.sha256 = SHA;
    m.u.module.name = "tasks.so";
    m.u.module.name_len = 8;
    encode(&e, &m, "module-offer");
    emit("valid-module-offer", &e);
    enc_t offer = e;
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_MODULE_DATA;
    m.u.module.id = 1;
    m.u.module.size = 48;
    m.u.module.data = ARGS;
    encode(&e, &m, "module-data");
    emit("valid-module-data", &e);
    m = (fp__wire_msg_t){0};
    m.hdr.type = FP__WIRE_MODULE_REPLY;
    m.u.module.id = 1;
    m.u.module.answer = FP__WIRE_MOD_HAVE;
    encode(&e, &m, "module-reply");
    emit("valid-module-reply-have", &e);
    m.u.module.answer = FP__WIRE_MOD_FAILED;
    m.u.module.status = FP_ERR_SYSTEM;
    m.u.module.message = "module tasks.so: not an ELF file";
    m.u.module.message_len = 32;
    encode(&e, &m, "module-reply-failed");
    emit("valid-module-reply-failed", &e);
    enc_t reply = e;

    /* ---- malformed: each stops at a different rule ---- */
    e = mixed;
    e.b[0] ^= 0xff;
    emit("bad-magic", &e);
    e = mixed;
    e.b[4] = 2;
    emit("bad-future-version", &e);
    e = mixed;
    e.b[5] = 99;
    emit("bad-unknown-type", &e);
    e = mixed;
    e.b[6] = 0x04;
    emit("bad-flags", &e);
    emit_raw("bad-truncated-header", mixed.b, mixed.hlen - 1,
             mixed.b + mixed.hlen, mixed.plen);
    emit_raw("bad-truncated-payload", mixed.b, mixed.hlen,
             mixed.b + mixed.hlen, mixed.plen - 1);
    e = mixed;
    put32(e.b + 24, 1000);
    emit("bad-count-too-large", &e);
    e = mixed;
    put32(e.b + 24, 2);
    emit("bad-trailing-record", &e);
    e = mixed;
    /* record 0's argument 0 length (record fixed 40 + name 8 = desc at 48) */
    put64(e.b + e.hlen + 48, UINT64_MAX);
    emit("bad-map-arg-len", &e);
    e = mixed;
    /* record 2 (APPLY) starts at 80 + 104; its argument 1 descriptor at
     * +40 (fixed) +8 (name) +16 (arg 0, empty) */
    put64(e.b + e.hlen + 184 + 64, UINT64_MAX);
    emit("bad-apply-arg-len-overflow", &e);
    e = mixed;
    e.b[e.hlen + 40 + 2] = 0;
    emit("bad-name-nul", &e);
    e = results;
    put32(e.b + e.hlen + 12, (uint32_t)FP_ERR_TASK); /* error with data */
    emit("bad-result-error-with-data", &e);
    e = bulk;
    put64(e.b + 24 + 16, UINT64_MAX - 8);
    emit("bad-bulk-offset-overflow", &e);
    e = bulk;
    put32(e.b + 12, UINT32_MAX);
    emit("bad-payload-len-field", &e);

    e = offer;
    put64(e.b + 32 + 8, 0); /* module size 0 */
    emit("bad-module-size-zero", &e);
    e = reply;
    put32(e.b + 32 + 8, 0); /* FAILED with status 0 */
    emit("bad-module-reply-status", &e);

    printf("gen_corpus: wrote %d seeds to %s\n", nfiles, outdir);
    return 0;
}
