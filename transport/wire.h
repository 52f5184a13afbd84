/*
 * The fastpool wire protocol (internal): message layouts, encoders, and a
 * validating decoder.  docs/PROTOCOL.md is the specification; this header is
 * its C binding.
 *
 * Pure functions only: no I/O, no allocation, no global mutable state, so
 * everything here is safe from any thread and trivially fuzzable.
 *
 * ---- Shape of a message ---------------------------------------------------
 *
 * Every message is (header, payload).  The header is a 32-byte common part
 * followed by the type's fixed fields, at most FP__WIRE_HDR_MAX (64) bytes in
 * all, so it travels as the UCX active-message header (the zero-copy eager
 * path needs <= 64 bytes).  The payload is one contiguous byte range (the AM
 * data): never an IOV, so UCX can receive it by rendezvous straight into a
 * buffer the receiver picks.  All integers are little-endian.
 *
 * ---- Receiving -------------------------------------------------------------
 *
 *   fp__wire_decode_header()  validates everything that lives in the header,
 *                             given only the announced payload length: call
 *                             it in the UCX callback of a rendezvous message,
 *                             before choosing the buffer the payload goes to.
 *   fp__wire_decode()         validates header and payload completely; on
 *                             FP_OK every pointer in the decoded message
 *                             points INTO the caller's header/payload buffers
 *                             (nothing is copied), so it is valid exactly as
 *                             long as those buffers are.  Strings (names,
 *                             messages) are NOT NUL-terminated: use the _len.
 *   fp__wire_iter_*           walk the records of a decoded TASK_BATCH or
 *                             RESULT_BATCH.  fp__wire_decode() has already
 *                             walked and validated every record, so on a
 *                             decoded batch the iterator cannot fail; it
 *                             re-checks anyway (cheap) so that it is also
 *                             safe on bytes that never went through decode.
 *
 * A function that fails returns FP_ERR_PROTOCOL for a malformed message
 * (FP_ERR_INVALID for a caller bug such as a NULL pointer) and writes a
 * one-line reason into (reason, reason_size) (may be NULL/0), e.g.
 *   "TASK_BATCH record 3: argument 2 length 4294967295 exceeds the 120 bytes
 *    left".
 * Output parameters are written only on success.
 *
 * What the decoder cannot know is left to the connection (stateful checks):
 * message order (handshake first), which role may send which type
 * (fp__wire_sender_ok helps), whether a name index is bound, whether a task
 * id / attempt / element range matches a task in flight, BULK chunk overlap.
 *
 * ---- Sending ----------------------------------------------------------------
 *
 *   fp__wire_encode()         header + payload, contiguous, into one buffer:
 *                             send buf[0..hdr_len) as the AM header and the
 *                             rest as the AM data.
 *   fp__wire_encode_header()  the header only, for zero-copy sends: the
 *                             payload is sent from where it already is (the
 *                             caller's argument buffer for BULK and UPDATE,
 *                             the builder's buffer for batches).
 *   fp__wire_builder_*        append task/result records into a caller-owned
 *                             (e.g. pre-registered) payload buffer.
 * Encoders refuse (FP_ERR_INVALID, with a reason) to produce a message the
 * decoder would reject: they validate what they wrote with the decoder.
 *
 * Internal symbols: fp__wire_ / FP__WIRE_.
 */
#ifndef FP_TRANSPORT_WIRE_H
#define FP_TRANSPORT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ------------------------------------------------------------ */

#define FP__WIRE_MAGIC 0x52575046u /* bytes "FPWR" */
#define FP__WIRE_VERSION_MIN 1     /* oldest protocol version spoken here */
#define FP__WIRE_VERSION_MAX 1     /* newest protocol version spoken here */
#define FP__WIRE_VERSION FP__WIRE_VERSION_MAX
#define FP__WIRE_HELLO_VERSION 1   /* HELLO's header version, frozen forever */

#define FP__WIRE_COMMON_SIZE 32 /* bytes of the common header */
#define FP__WIRE_HDR_MAX 64     /* no header is longer (UCX zero-copy eager) */

#define FP__WIRE_NONCE_LEN 32 /* = FP__AUTH_NONCE_LEN */
#define FP__WIRE_MAC_LEN 32   /* = FP__AUTH_MAC_LEN */
#define FP__WIRE_ID_MAX 255   /* HELLO id, bytes (= FP__AUTH_ID_MAX) */
#define FP__WIRE_NAME_MAX 63  /* task / worker-class name (FP_NAME_MAX - 1) */
#define FP__WIRE_TEXT_MAX 255 /* error texts (FP_ERROR_MAX - 1) */
#define FP__WIRE_MAX_ARGS 16  /* = FP_MAX_ARGS */
#define FP__WIRE_MAX_NAMES 4096        /* name indexes are 0..4095 */
#define FP__WIRE_MAX_ATTEMPT 65535     /* attempts are 1..65535 */
#define FP__WIRE_MAX_EXECUTORS 65536   /* executors announced / requested */
#define FP__WIRE_MAX_INDEX_BASE 0xffffffu /* POOL_OPEN index base (24 bits) */
#define FP__WIRE_MAX_RECORDS 65536     /* records in one batch / CANCEL */
#define FP__WIRE_MAX_BATCH (64u << 20) /* payload of a batch / CANCEL */
#define FP__WIRE_MAX_INLINE (1u << 30) /* UPDATE / init data inline, BULK chunk */
#define FP__WIRE_MAX_BULK (UINT64_C(1) << 40) /* one BULK object, in all */
#define FP__WIRE_MAX_INDEX INT64_MAX   /* start + count of an element range */
#define FP__WIRE_STATUS_MIN (-32768)   /* most negative status carried */

#define FP__WIRE_TASK_REC_FIXED 40   /* fixed part of a task record */
#define FP__WIRE_RESULT_REC_FIXED 40 /* fixed part of a result record */
#define FP__WIRE_ARG_DESC 16         /* one argument descriptor */
#define FP__WIRE_CANCEL_ENTRY 16     /* one CANCEL entry */

/* Message types.  1..15: connection-level (pool id 0); 16..: pool-scoped
 * (pool id >= 1).  ERROR may carry either. */
typedef enum fp__wire_type {
    FP__WIRE_HELLO = 1,
    FP__WIRE_AUTH = 2,
    FP__WIRE_AUTH_OK = 3,
    FP__WIRE_HEARTBEAT = 4,
    FP__WIRE_GOODBYE = 5,
    FP__WIRE_ERROR = 6,
    FP__WIRE_MODULE_OFFER = 7, /* client -> node: a task module's hash, size */
    FP__WIRE_MODULE_DATA = 8,  /* client -> node: its bytes (after NEED) */
    FP__WIRE_MODULE_REPLY = 9, /* node -> client: HAVE, NEED, LOADED, FAILED */
    FP__WIRE_SRV_REGISTER = 10,  /* node -> server: here I am, my load */
    FP__WIRE_SRV_SUBSCRIBE = 11, /* client -> server: the list, then events */
    FP__WIRE_SRV_EVENT = 12,     /* server -> client: a node listed, the
                                    list's end, a JOIN or a LEAVE */
    FP__WIRE_POOL_OPEN = 16,
    FP__WIRE_POOL_CLOSE = 17,
    FP__WIRE_ACK = 18,
    FP__WIRE_TASK_BATCH = 19,
    FP__WIRE_RESULT_BATCH = 20,
    FP__WIRE_CANCEL = 21,
    FP__WIRE_UPDATE = 22,
    FP__WIRE_BULK = 23,
    FP__WIRE_EXEC_MSG = 24,   /* client -> node: a message to executors */
    FP__WIRE_CLIENT_MSG = 25, /* node -> client: a message from one */
} fp__wire_type_t;

/* EXEC_MSG's executor for every executor of the node's part of the pool. */
#define FP__WIRE_MSG_ALL 0xffffffffu
/* The largest executor index a message names (index base + executors). */
#define FP__WIRE_MAX_EXEC_INDEX                                                \
    ((uint32_t)FP__WIRE_MAX_INDEX_BASE + FP__WIRE_MAX_EXECUTORS - 1)

/* Header flags; each type allows only the ones listed. */
#define FP__WIRE_F_REPLY 0x0001u /* HEARTBEAT: this is the echo */
#define FP__WIRE_F_FATAL 0x0002u /* ERROR: the sender closes after this */
#define FP__WIRE_F_BULK 0x0004u  /* POOL_OPEN, UPDATE: bytes follow as BULK */
#define FP__WIRE_F_ENCRYPT 0x0008u /* HELLO: the sender seals every message
                                      after the handshake (PROTOCOL.md §14) */

/* HELLO roles. */
#define FP__WIRE_ROLE_CLIENT 1
#define FP__WIRE_ROLE_NODE 2
#define FP__WIRE_ROLE_SERVER 3

/* GOODBYE reasons. */
#define FP__WIRE_BYE_NORMAL 1   /* done; nothing in flight is wanted */
#define FP__WIRE_BYE_SHUTDOWN 2 /* the process is exiting */
#define FP__WIRE_BYE_TIMEOUT 3  /* the peer missed its heartbeat deadline */
#define FP__WIRE_BYE_OVERLOAD 4 /* refusing more work/connections */

/* Task modules shipped to a node (MODULE_*). */
#define FP__WIRE_SHA256_LEN 32           /* the module's SHA-256 */
#define FP__WIRE_MAX_MODULE (1u << 30)   /* bytes of one module */
#define FP__WIRE_MODULE_NAME_MAX 255     /* its file name, for messages */
/* MODULE_REPLY answers */
#define FP__WIRE_MOD_HAVE 1   /* cached (or loaded) and loaded: send nothing */
#define FP__WIRE_MOD_NEED 2   /* send MODULE_DATA */
#define FP__WIRE_MOD_LOADED 3 /* the bytes were right; written and loaded */
#define FP__WIRE_MOD_FAILED 4 /* status < 0 and the reason */

/* SRV_EVENT kinds. */
#define FP__WIRE_SRV_NODE 1  /* a node registered now (the list) */
#define FP__WIRE_SRV_END 2   /* the list is complete (count = its length) */
#define FP__WIRE_SRV_JOIN 3  /* a node registered */
#define FP__WIRE_SRV_LEAVE 4 /* a node left cleanly or its connection died */

#define FP__WIRE_SRV_ADDR_MAX 127 /* "ADDR:PORT" of a node, bytes */
#define FP__WIRE_SRV_HOST_MAX 63  /* a node's host name, bytes */

/* Task record kinds. */
#define FP__WIRE_KIND_MAP 1   /* elements [start, start+count) of a map */
#define FP__WIRE_KIND_APPLY 2 /* one call, arguments of any size */

/* Where an argument's / a result's bytes are. */
#define FP__WIRE_WHERE_NONE 0   /* results only: no bytes */
#define FP__WIRE_WHERE_INLINE 1 /* in the record */
#define FP__WIRE_WHERE_BULK 2   /* in BULK message(s) of their own */

/* BULK kinds: which object the bytes belong to. */
#define FP__WIRE_BULK_ARG 1    /* (task id, attempt, argument index) */
#define FP__WIRE_BULK_RESULT 2 /* (task id, attempt) output */
#define FP__WIRE_BULK_INIT 3   /* the pool's init data (POOL_OPEN) */
#define FP__WIRE_BULK_UPDATE 4 /* an UPDATE's bytes; task id = update seq */

/* ---- decoded / to-be-encoded messages ------------------------------------- */

/* The common header.  Encoders read type, flags, seq and pool (version 0
 * means FP__WIRE_VERSION; HELLO always uses FP__WIRE_HELLO_VERSION) and
 * compute hdr_len and payload_len; the decoder fills everything. */
typedef struct fp__wire_hdr {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint16_t hdr_len;
    uint32_t payload_len;
    uint32_t seq;  /* sender's message counter, for logs and ERROR refs */
    uint32_t pool; /* 0 on connection-level messages */
    uint64_t route; /* the receiver's route token for this connection (its
                       HELLO gave it); 0 before the sender has it */
} fp__wire_hdr_t;

typedef struct fp__wire_hello {
    uint8_t version_min, version_max;
    uint8_t role;          /* FP__WIRE_ROLE_* */
    uint32_t executors;    /* node: 1..MAX_EXECUTORS; others 0..MAX */
    uint64_t instance;     /* random per process, non-zero */
    uint64_t route;        /* non-zero: put it in every message to me */
    const uint8_t *nonce;  /* FP__WIRE_NONCE_LEN bytes */
    const char *id;        /* 1..FP__WIRE_ID_MAX bytes, no NUL */
    size_t id_len;
} fp__wire_hello_t;

typedef struct fp__wire_auth {
    const uint8_t *nonce_echo; /* the receiver's own HELLO nonce, echoed */
    const uint8_t *mac;        /* the sender's proof (auth.c) */
} fp__wire_auth_t;

typedef struct fp__wire_text_msg {
    int32_t status;   /* ERROR: < 0; ACK: <= 0; GOODBYE: unused (0) */
    uint32_t ref_seq; /* ERROR: seq of the offending message (0: none) */
    uint8_t ref_type; /* ERROR: its type (any value); ACK: acked type */
    uint8_t reason;   /* GOODBYE: FP__WIRE_BYE_* */
    uint64_t ref;     /* ACK: the UPDATE's update_seq, else 0 */
    uint32_t index;   /* ACK with an error: the executor (index in the whole
                         pool, 24 bits) whose hook failed; else 0 */
    const char *message; /* 0..FP__WIRE_TEXT_MAX bytes, no NUL */
    size_t message_len;
} fp__wire_text_msg_t;

typedef struct fp__wire_heartbeat {
    uint64_t hb_seq;
    uint64_t send_time_ns; /* sender's monotonic clock; echoed in the reply */
} fp__wire_heartbeat_t;

typedef struct fp__wire_pool_open {
    uint32_t executors;       /* 0: all of the node's */
    uint32_t index_base;      /* the node's first executor index in the
                                 whole pool, 0..FP__WIRE_MAX_INDEX_BASE */
    const char *worker_class; /* 0..FP__WIRE_NAME_MAX bytes; len 0: none */
    size_t worker_class_len;
    uint64_t init_len;        /* bytes of init data */
    const void *init_data;    /* inline bytes; NULL with F_BULK or len 0 */
} fp__wire_pool_open_t;

typedef struct fp__wire_batch {
    uint32_t count;         /* records (CANCEL: entries) */
    const uint8_t *records; /* the whole payload */
    size_t records_len;
} fp__wire_batch_t;

typedef struct fp__wire_update {
    uint64_t update_seq; /* >= 1, increasing per pool */
    uint64_t total;      /* bytes of the update */
    const void *data;    /* inline bytes; NULL with F_BULK or total 0 */
} fp__wire_update_t;

typedef struct fp__wire_bulk {
    uint64_t task_id; /* INIT: 0; UPDATE: the update_seq */
    uint32_t attempt; /* ARG/RESULT: 1..MAX_ATTEMPT; INIT/UPDATE: 0 */
    uint8_t kind;     /* FP__WIRE_BULK_* */
    uint8_t index;    /* ARG: argument index 0..15; others 0 */
    uint64_t offset;  /* of this chunk in the object */
    uint64_t total;   /* bytes of the whole object, 1..MAX_BULK */
    const void *data; /* this chunk */
    size_t len;       /* = payload length, 1..MAX_INLINE */
} fp__wire_bulk_t;

typedef struct fp__wire_exec_msg {
    uint32_t executor; /* index in the whole pool; EXEC_MSG: or MSG_ALL */
    const void *data;  /* the message bytes (payload) */
    size_t len;        /* = payload length, 0..MAX_INLINE */
} fp__wire_exec_msg_t;

/* MODULE_OFFER, MODULE_DATA, MODULE_REPLY: `id` (>= 1, the client's
 * number for the module on this connection) ties them together. */
typedef struct fp__wire_module {
    uint64_t id;
    uint64_t size;          /* OFFER, DATA: module bytes, 1..MAX_MODULE */
    const uint8_t *sha256;  /* OFFER: FP__WIRE_SHA256_LEN bytes */
    const char *name;       /* OFFER: 1..MODULE_NAME_MAX bytes, no NUL */
    size_t name_len;
    const void *data;       /* DATA: `size` bytes */
    int32_t status;         /* REPLY: 0, or < 0 with FAILED */
    uint8_t answer;         /* REPLY: FP__WIRE_MOD_* */
    const char *message;    /* REPLY with FAILED: 0..TEXT_MAX bytes */
    size_t message_len;
} fp__wire_module_t;

/* SRV_REGISTER (kind 0) and SRV_EVENT.  Strings are not NUL-terminated. */
typedef struct fp__wire_srv {
    uint8_t kind;        /* SRV_EVENT: FP__WIRE_SRV_*; SRV_REGISTER: 0 */
    uint32_t executors;  /* REGISTER, NODE, JOIN: 1..MAX_EXECUTORS */
    uint32_t gpus;       /* 0..MAX_EXECUTORS */
    uint32_t busy;       /* executors running a task, <= executors */
    uint32_t queued;     /* records held beyond those running */
    uint32_t count;      /* END: nodes listed before it; else 0 */
    const char *address; /* "ADDR:PORT", 1..SRV_ADDR_MAX bytes (END: none) */
    size_t address_len;
    const char *host;    /* 0..SRV_HOST_MAX bytes */
    size_t host_len;
    const char *reason;  /* LEAVE only: 0..TEXT_MAX bytes */
    size_t reason_len;
} fp__wire_srv_t;

typedef struct fp__wire_msg {
    fp__wire_hdr_t hdr;
    union {
        fp__wire_hello_t hello;         /* HELLO */
        fp__wire_auth_t auth;           /* AUTH */
        fp__wire_text_msg_t text;       /* ERROR, GOODBYE, ACK */
        fp__wire_heartbeat_t heartbeat; /* HEARTBEAT */
        fp__wire_pool_open_t pool_open; /* POOL_OPEN */
        fp__wire_batch_t batch;         /* TASK_BATCH, RESULT_BATCH, CANCEL */
        fp__wire_update_t update;       /* UPDATE */
        fp__wire_bulk_t bulk;           /* BULK */
        fp__wire_exec_msg_t emsg;       /* EXEC_MSG, CLIENT_MSG */
        fp__wire_module_t module;       /* MODULE_OFFER, _DATA, _REPLY */
        fp__wire_srv_t srv;             /* SRV_REGISTER, SRV_EVENT */
    } u; /* AUTH_OK, POOL_CLOSE and SRV_SUBSCRIBE have no body */
} fp__wire_msg_t;

/* A BULK message that carries a whole object of `len` bytes as its one
 * chunk (offset 0); everything else zero. */
static inline fp__wire_msg_t fp__wire_bulk_whole(uint32_t pool, uint8_t kind,
                                                 uint64_t task_id,
                                                 uint32_t attempt,
                                                 uint8_t index, uint64_t len)
{
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_BULK;
    m.hdr.pool = pool;
    m.u.bulk.kind = kind;
    m.u.bulk.task_id = task_id;
    m.u.bulk.attempt = attempt;
    m.u.bulk.index = index;
    m.u.bulk.total = len;
    m.u.bulk.len = (size_t)len;
    return m;
}

/* ---- records ---------------------------------------------------------------- */

typedef struct fp__wire_arg {
    uint64_t len;       /* bytes of this argument in this record */
    uint32_t elem_size; /* MAP: bytes per element (len = elem_size*count);
                           APPLY: 0 */
    uint8_t where;      /* FP__WIRE_WHERE_INLINE or _BULK */
    const void *data;   /* INLINE: len bytes (8-aligned in the payload);
                           BULK: NULL (encoder ignores it) */
} fp__wire_arg_t;

typedef struct fp__wire_task_rec {
    uint64_t task_id;   /* >= 1, unique per pool among tasks in flight */
    uint32_t attempt;   /* 1..MAX_ATTEMPT */
    uint8_t kind;       /* FP__WIRE_KIND_* */
    uint8_t nargs;      /* MAP: 1..16; APPLY: 0..16 */
    uint16_t name_idx;  /* 0..MAX_NAMES-1 in the connection's name table */
    const char *name;   /* inline name binding name_idx; NULL/0: by index */
    size_t name_len;    /* 0 or 1..FP__WIRE_NAME_MAX */
    uint32_t out_elem_size; /* MAP: result bytes per element; APPLY: 0 */
    uint64_t start;     /* MAP: first element index; APPLY: 0 */
    uint32_t count;     /* MAP: elements, >= 1; APPLY: 1 */
    fp__wire_arg_t args[FP__WIRE_MAX_ARGS];
} fp__wire_task_rec_t;

typedef struct fp__wire_result_rec {
    uint64_t task_id;
    uint32_t attempt;
    int32_t status;      /* FP_OK or an error (>= FP__WIRE_STATUS_MIN) */
    uint64_t start;      /* elements [start, start+count) this covers */
    uint32_t count;      /* >= 1 */
    uint8_t where;       /* FP__WIRE_WHERE_*; NONE whenever status != 0 */
    const char *message; /* errors only: 0..FP__WIRE_TEXT_MAX bytes */
    size_t message_len;
    uint64_t len;        /* result bytes (0 with WHERE_NONE) */
    const void *data;    /* INLINE: len bytes; otherwise NULL */
} fp__wire_result_rec_t;

typedef struct fp__wire_cancel_entry {
    uint64_t task_id;
    uint32_t attempt;
} fp__wire_cancel_entry_t;

/* ---- decoding ---------------------------------------------------------------- */

/* The route token of a header at least FP__WIRE_COMMON_SIZE bytes long,
 * before any validation: it only picks the connection whose rules then
 * validate the message. */
static inline uint64_t fp__wire_peek_route(const void *hdr)
{
    const unsigned char *h = (const unsigned char *)hdr + 24;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | h[i];
    return v;
}

/* The framed form (PROTOCOL.md §3.2): an eager message whose AM header is
 * empty and whose AM data starts with the header.  Returns the header's
 * length as its common header states it (`hdr_len`, offset 8) when that is
 * at least FP__WIRE_COMMON_SIZE, at most FP__WIRE_HDR_MAX and within the
 * `size` bytes received; else 0 (not a framed message).  Nothing else is
 * checked here: the decoder validates the header afterwards. */
static inline size_t fp__wire_framed_hdr_len(const void *data, size_t size)
{
    if (size < FP__WIRE_COMMON_SIZE)
        return 0;
    const unsigned char *d = (const unsigned char *)data;
    size_t hl = (size_t)d[8] | (size_t)d[9] << 8;
    if (hl < FP__WIRE_COMMON_SIZE || hl > FP__WIRE_HDR_MAX || hl > size)
        return 0;
    return hl;
}

/* Validate a header whose payload (`payload_size` bytes) has not arrived yet
 * (rendezvous).  On FP_OK `*msg` has the header and the type's fixed fields;
 * every payload pointer in it is NULL.  On any error `*msg` is all zero. */
fp_status_t fp__wire_decode_header(const void *hdr, size_t hdr_size,
                                   size_t payload_size, fp__wire_msg_t *msg,
                                   char *reason, size_t reason_size);

/* Validate a whole message.  `payload` may be NULL when payload_size is 0.
 * On FP_OK, `*msg` points into hdr/payload (see the top of this file); on
 * any error it is all zero (never half-decoded). */
fp_status_t fp__wire_decode(const void *hdr, size_t hdr_size,
                            const void *payload, size_t payload_size,
                            fp__wire_msg_t *msg, char *reason,
                            size_t reason_size);

/* Iterate a decoded TASK_BATCH / RESULT_BATCH.  next returns FP_OK with a
 * record, FP_END after the last one, FP_ERR_PROTOCOL for a malformed record
 * or bytes left after the last, FP_ERR_INVALID for the wrong batch type.
 * Record pointers point into the payload. */
typedef struct fp__wire_iter {
    const uint8_t *pos;
    size_t left;
    uint32_t next, count;
    uint8_t type;
} fp__wire_iter_t;

void fp__wire_iter_init(fp__wire_iter_t *it, const fp__wire_msg_t *msg);
fp_status_t fp__wire_iter_task(fp__wire_iter_t *it, fp__wire_task_rec_t *rec,
                               char *reason, size_t reason_size);
fp_status_t fp__wire_iter_result(fp__wire_iter_t *it,
                                 fp__wire_result_rec_t *rec, char *reason,
                                 size_t reason_size);

/* Entry i (< msg->u.batch.count) of a decoded CANCEL. */
fp__wire_cancel_entry_t fp__wire_cancel_get(const fp__wire_msg_t *msg,
                                            uint32_t i);

/* ---- encoding ------------------------------------------------------------------ */

/* Bytes the header and the payload of `msg` take.  FP_ERR_INVALID for an
 * unknown type or a length that does not fit the wire fields. */
fp_status_t fp__wire_size(const fp__wire_msg_t *msg, size_t *hdr_len_p,
                          size_t *payload_len_p, char *reason,
                          size_t reason_size);

/* Header + payload into buf[0..cap).  *len_p = bytes written (the header is
 * the first fp__wire_size() hdr_len of them).  FP_ERR_OVERFLOW if cap is too
 * small (nothing written), FP_ERR_INVALID if the message would not decode
 * (buf contents undefined). */
fp_status_t fp__wire_encode(void *buf, size_t cap, const fp__wire_msg_t *msg,
                            size_t *len_p, char *reason, size_t reason_size);

/* The header only (payload pointers in `msg` are not read; their lengths
 * are).  FP__WIRE_HDR_MAX bytes of `hdr` always suffice. */
fp_status_t fp__wire_encode_header(void *hdr, size_t cap,
                                   const fp__wire_msg_t *msg, size_t *len_p,
                                   char *reason, size_t reason_size);

/* Write CANCEL entry i into a payload buffer of 16*count bytes. */
void fp__wire_cancel_put(void *entries, uint32_t i,
                         fp__wire_cancel_entry_t entry);

/* Batch builder: records are appended to buf[0..cap), owned by the caller
 * (e.g. a registered buffer: the payload is then sent from it, zero-copy). */
typedef struct fp__wire_builder {
    uint8_t *buf;
    size_t cap, len;
    uint32_t count;
    uint8_t type; /* FP__WIRE_TASK_BATCH or FP__WIRE_RESULT_BATCH */
} fp__wire_builder_t;

void fp__wire_builder_init(fp__wire_builder_t *b, uint8_t type, void *buf,
                           size_t cap);

/* Encoded size of one record; FP_ERR_INVALID if it cannot be encoded. */
fp_status_t fp__wire_task_rec_size(const fp__wire_task_rec_t *rec,
                                   size_t *size_p);
fp_status_t fp__wire_result_rec_size(const fp__wire_result_rec_t *rec,
                                     size_t *size_p);

/* Append a record (inline argument / result bytes are copied in).
 * FP_ERR_OVERFLOW: it does not fit in the buffer, the batch limit
 * (FP__WIRE_MAX_BATCH bytes, FP__WIRE_MAX_RECORDS records) or the builder's
 * type: send the batch and start another (checked first).  FP_ERR_INVALID:
 * the record breaks
 * a rule (reason says which).  On any error the builder is unchanged. */
fp_status_t fp__wire_builder_add_task(fp__wire_builder_t *b,
                                      const fp__wire_task_rec_t *rec,
                                      char *reason, size_t reason_size);
fp_status_t fp__wire_builder_add_result(fp__wire_builder_t *b,
                                        const fp__wire_result_rec_t *rec,
                                        char *reason, size_t reason_size);

/* Point msg's type and body at the built batch (hdr.flags/seq/pool are the
 * caller's).  Then fp__wire_encode_header() and send b->buf as the payload. */
void fp__wire_builder_finish(const fp__wire_builder_t *b, fp__wire_msg_t *msg);

/* ---- helpers --------------------------------------------------------------------- */

/* "HELLO", ... or "unknown". */
/* The header length of messages of `type` (fixed per type), 0 if the type
 * is unknown. */
size_t fp__wire_header_len(uint8_t type);

const char *fp__wire_type_name(uint8_t type);

/* The version both sides speak: the highest in both [our_min, our_max] and
 * [peer_min, peer_max].  FP_ERR_UNSUPPORTED if the ranges do not meet. */
fp_status_t fp__wire_negotiate(uint8_t our_min, uint8_t our_max,
                               uint8_t peer_min, uint8_t peer_max,
                               uint8_t *version_p);

/* Whether a peer that said it is `role` in its HELLO may send `msg` (a
 * decoded message): pool messages go client -> node (BULK ARG/INIT/UPDATE
 * included) or node -> client (ACK, RESULT_BATCH, BULK RESULT); MODULE_OFFER
 * and MODULE_DATA only client -> node, MODULE_REPLY only node -> client;
 * a server sends only connection-level messages: SRV_EVENT (and only a
 * server does); SRV_REGISTER comes from nodes, SRV_SUBSCRIBE from clients. */
bool fp__wire_sender_ok(uint8_t role, const fp__wire_msg_t *msg);

#ifdef __cplusplus
}
#endif

#endif
