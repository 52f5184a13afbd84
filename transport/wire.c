/*
 * The fastpool wire protocol: encoders and the validating decoder.
 * Specification: docs/PROTOCOL.md.  Contract: wire.h.
 *
 * Design notes
 *  - One source of truth for validity: the decoder.  Encoders write the
 *    bytes, then run the decoder (header-only or full) over what they wrote
 *    and refuse (FP_ERR_INVALID) when it objects; the batch builder parses
 *    back each record it appends.  Encoding and decoding cannot drift apart.
 *  - Every read is preceded by a bounds check against the bytes known to be
 *    there; every sum or product of wire values goes through the
 *    __builtin_*_overflow checks.  Multi-byte fields are read byte by byte
 *    (little-endian), so no alignment is ever assumed.
 *  - The encoding is canonical (reserved fields and padding must be zero, no
 *    slack anywhere), so decode(encode(m)) == m and encode(decode(b)) == b;
 *    the fuzz target checks the second.
 */
#include "wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- little-endian access ------------------------------------------------- */

/* One load or store each on a little-endian host (memcpy of a whole word:
 * byte-at-a-time stores followed by wider loads of the same bytes stall on
 * store forwarding, which showed in the per-message cost). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FP__WIRE_LE_HOST 1
#else
#define FP__WIRE_LE_HOST 0
#endif

static inline uint16_t ld16(const uint8_t *p)
{
    if (FP__WIRE_LE_HOST) {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    return (uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
    if (FP__WIRE_LE_HOST) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t ld64(const uint8_t *p)
{
    if (FP__WIRE_LE_HOST) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static inline int32_t ldi32(const uint8_t *p)
{
    uint32_t u = ld32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v); /* two's complement, no UB */
    return v;
}

static inline void st16(uint8_t *p, uint16_t v)
{
    if (FP__WIRE_LE_HOST) {
        memcpy(p, &v, sizeof v);
        return;
    }
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void st32(uint8_t *p, uint32_t v)
{
    if (FP__WIRE_LE_HOST) {
        memcpy(p, &v, sizeof v);
        return;
    }
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void st64(uint8_t *p, uint64_t v)
{
    if (FP__WIRE_LE_HOST) {
        memcpy(p, &v, sizeof v);
        return;
    }
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

static inline void sti32(uint8_t *p, int32_t v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    st32(p, u);
}

/* n rounded up to a multiple of 8; false on overflow. */
static inline bool pad8(uint64_t n, uint64_t *out)
{
    uint64_t r;
    if (__builtin_add_overflow(n, 7u, &r)) {
        *out = 0;
        return false;
    }
    *out = r & ~(uint64_t)7;
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* ---- reasons ------------------------------------------------------------------ */

__attribute__((format(printf, 4, 0))) static void vreason(char *reason,
                                                           size_t size,
                                                           const char *prefix,
                                                           const char *fmt,
                                                           va_list ap)
{
    if (reason == NULL || size == 0)
        return;
    int n = snprintf(reason, size, "%s", prefix ? prefix : "");
    if (n < 0 || (size_t)n >= size)
        return;
    vsnprintf(reason + n, size - (size_t)n, fmt, ap);
}

/* Write the reason, return `st`. */
__attribute__((format(printf, 4, 5))) static fp_status_t
fail(fp_status_t st, char *reason, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreason(reason, size, NULL, fmt, ap);
    va_end(ap);
    return st;
}

/* Where a failing check is: "TASK_BATCH record 3: " or "BULK: ". */
typedef struct ctx {
    char *reason;
    size_t size;
    fp_status_t st;   /* FP_ERR_PROTOCOL decoding, FP_ERR_INVALID encoding */
    const char *what; /* type name */
    long rec;         /* record index, or -1 */
} ctx_t;

__attribute__((format(printf, 2, 3))) static fp_status_t
cfail(const ctx_t *c, const char *fmt, ...)
{
    char prefix[64];
    if (c->rec >= 0)
        snprintf(prefix, sizeof prefix, "%s record %ld: ", c->what, c->rec);
    else
        snprintf(prefix, sizeof prefix, "%s: ", c->what);
    va_list ap;
    va_start(ap, fmt);
    vreason(c->reason, c->size, prefix, fmt, ap);
    va_end(ap);
    return c->st;
}

/* ---- the type table ------------------------------------------------------------ */

typedef struct type_info {
    uint8_t type;
    uint8_t hdr_len;
    uint16_t flags; /* allowed */
    const char *name;
} type_info_t;

static const type_info_t type_table[] = {
    {FP__WIRE_HELLO, 56, FP__WIRE_F_ENCRYPT, "HELLO"},
    {FP__WIRE_AUTH, 32, 0, "AUTH"},
    {FP__WIRE_AUTH_OK, 32, 0, "AUTH_OK"},
    {FP__WIRE_HEARTBEAT, 48, FP__WIRE_F_REPLY, "HEARTBEAT"},
    {FP__WIRE_GOODBYE, 40, 0, "GOODBYE"},
    {FP__WIRE_ERROR, 48, FP__WIRE_F_FATAL, "ERROR"},
    {FP__WIRE_MODULE_OFFER, 48, 0, "MODULE_OFFER"},
    {FP__WIRE_MODULE_DATA, 48, 0, "MODULE_DATA"},
    {FP__WIRE_MODULE_REPLY, 48, 0, "MODULE_REPLY"},
    {FP__WIRE_SRV_REGISTER, 56, 0, "SRV_REGISTER"},
    {FP__WIRE_SRV_SUBSCRIBE, 32, 0, "SRV_SUBSCRIBE"},
    {FP__WIRE_SRV_EVENT, 56, 0, "SRV_EVENT"},
    {FP__WIRE_POOL_OPEN, 48, FP__WIRE_F_BULK, "POOL_OPEN"},
    {FP__WIRE_POOL_CLOSE, 32, 0, "POOL_CLOSE"},
    {FP__WIRE_ACK, 48, 0, "ACK"},
    {FP__WIRE_TASK_BATCH, 40, 0, "TASK_BATCH"},
    {FP__WIRE_RESULT_BATCH, 40, 0, "RESULT_BATCH"},
    {FP__WIRE_CANCEL, 40, 0, "CANCEL"},
    {FP__WIRE_UPDATE, 48, FP__WIRE_F_BULK, "UPDATE"},
    {FP__WIRE_BULK, 64, 0, "BULK"},
    {FP__WIRE_EXEC_MSG, 40, 0, "EXEC_MSG"},
    {FP__WIRE_CLIENT_MSG, 40, 0, "CLIENT_MSG"},
};

_Static_assert(FP__WIRE_COMMON_SIZE + 32 <= FP__WIRE_HDR_MAX,
               "the largest header (BULK) must fit a UCX AM header");

/* type -> its type_table entry + 1 (0: unknown): one load per lookup, on
 * the path of every message sent and received */
static const uint8_t type_index[32] = {
    [FP__WIRE_HELLO] = 1,       [FP__WIRE_AUTH] = 2,
    [FP__WIRE_AUTH_OK] = 3,     [FP__WIRE_HEARTBEAT] = 4,
    [FP__WIRE_GOODBYE] = 5,     [FP__WIRE_ERROR] = 6,
    [FP__WIRE_MODULE_OFFER] = 7, [FP__WIRE_MODULE_DATA] = 8,
    [FP__WIRE_MODULE_REPLY] = 9,
    [FP__WIRE_SRV_REGISTER] = 10, [FP__WIRE_SRV_SUBSCRIBE] = 11,
    [FP__WIRE_SRV_EVENT] = 12,
    [FP__WIRE_POOL_OPEN] = 13,  [FP__WIRE_POOL_CLOSE] = 14,
    [FP__WIRE_ACK] = 15,        [FP__WIRE_TASK_BATCH] = 16,
    [FP__WIRE_RESULT_BATCH] = 17, [FP__WIRE_CANCEL] = 18,
    [FP__WIRE_UPDATE] = 19,     [FP__WIRE_BULK] = 20,
    [FP__WIRE_EXEC_MSG] = 21,   [FP__WIRE_CLIENT_MSG] = 22,
};

static const type_info_t *type_info(uint8_t type)
{
    if (type >= sizeof type_index || type_index[type] == 0)
        return NULL;
    return &type_table[type_index[type] - 1];
}

const char *fp__wire_type_name(uint8_t type)
{
    const type_info_t *ti = type_info(type);
    return ti ? ti->name : "unknown";
}

size_t fp__wire_header_len(uint8_t type)
{
    const type_info_t *ti = type_info(type);
    return ti ? ti->hdr_len : 0;
}

static bool pool_scoped(uint8_t type)
{
    return type >= FP__WIRE_POOL_OPEN;
}

/* ---- shared field checks ------------------------------------------------------ */

static fp_status_t check_text(const ctx_t *c, const char *field,
                              const uint8_t *p, size_t len)
{
    const uint8_t *nul = len ? memchr(p, 0, len) : NULL;
    if (nul)
        return cfail(c, "%s contains a NUL byte at offset %zu", field,
                     (size_t)(nul - p));
    return FP_OK;
}

static fp_status_t check_name(const ctx_t *c, const char *field,
                              const uint8_t *p, size_t len)
{
    if (len == 0)
        return cfail(c, "%s is empty", field);
    if (len > FP__WIRE_NAME_MAX)
        return cfail(c, "%s length %zu exceeds %d", field, len,
                     FP__WIRE_NAME_MAX);
    return check_text(c, field, p, len);
}

static fp_status_t check_attempt(const ctx_t *c, uint32_t attempt)
{
    if (attempt == 0 || attempt > FP__WIRE_MAX_ATTEMPT)
        return cfail(c, "attempt %" PRIu32 " is outside 1..%d", attempt,
                     FP__WIRE_MAX_ATTEMPT);
    return FP_OK;
}

static fp_status_t check_status(const ctx_t *c, int32_t status, bool ok_allowed)
{
    if (status > 0 || (status == 0 && !ok_allowed) ||
        status < FP__WIRE_STATUS_MIN)
        return cfail(c, "status %" PRId32 " is outside %d..%d", status,
                     FP__WIRE_STATUS_MIN, ok_allowed ? 0 : -1);
    return FP_OK;
}

/* start + count within 0..FP__WIRE_MAX_INDEX. */
static fp_status_t check_range(const ctx_t *c, uint64_t start, uint32_t count)
{
    uint64_t end;
    if (count == 0)
        return cfail(c, "element count is 0");
    if (__builtin_add_overflow(start, (uint64_t)count, &end) ||
        end > (uint64_t)FP__WIRE_MAX_INDEX)
        return cfail(c,
                     "element range start %" PRIu64 " + count %" PRIu32
                     " overflows the index limit 2^63-1",
                     start, count);
    return FP_OK;
}

/* ---- records ------------------------------------------------------------------ */

#define NAME_INLINE 0x01u

/* Parse one task record at p (left bytes available).  *used = its size. */
static fp_status_t parse_task(const ctx_t *c, const uint8_t *p, size_t left,
                              fp__wire_task_rec_t *r, size_t *used)
{
    fp_status_t st;
    if (p == NULL || left < FP__WIRE_TASK_REC_FIXED)
        return cfail(c, "the fixed part needs %d bytes but only %zu are left",
                     FP__WIRE_TASK_REC_FIXED, p ? left : 0);
    memset(r, 0, sizeof *r);
    r->task_id = ld64(p);
    r->attempt = ld32(p + 8);
    r->kind = p[12];
    r->nargs = p[13];
    uint8_t rflags = p[14];
    uint8_t name_len = p[15];
    r->name_idx = ld16(p + 16);
    uint16_t rsv16 = ld16(p + 18);
    r->out_elem_size = ld32(p + 20);
    r->start = ld64(p + 24);
    r->count = ld32(p + 32);
    uint32_t rsv32 = ld32(p + 36);

    if (r->task_id == 0)
        return cfail(c, "task id 0 is reserved");
    if ((st = check_attempt(c, r->attempt)) != FP_OK)
        return st;
    if (rflags & ~NAME_INLINE)
        return cfail(c, "record flags 0x%02x have unknown bits 0x%02x", rflags,
                     rflags & ~NAME_INLINE);
    if (rsv16 != 0 || rsv32 != 0)
        return cfail(c, "reserved field is not zero");
    if (r->nargs > FP__WIRE_MAX_ARGS)
        return cfail(c, "argument count %u exceeds %d", r->nargs,
                     FP__WIRE_MAX_ARGS);
    if (r->name_idx >= FP__WIRE_MAX_NAMES)
        return cfail(c, "name index %u exceeds the limit %d", r->name_idx,
                     FP__WIRE_MAX_NAMES - 1);
    if (!(rflags & NAME_INLINE) && name_len != 0)
        return cfail(c, "name length %u without the NAME_INLINE flag",
                     name_len);
    if (r->kind == FP__WIRE_KIND_MAP) {
        uint64_t out_total;
        if (r->nargs == 0)
            return cfail(c, "MAP record has no arguments");
        if ((st = check_range(c, r->start, r->count)) != FP_OK)
            return st;
        if (__builtin_mul_overflow((uint64_t)r->out_elem_size,
                                   (uint64_t)r->count, &out_total) ||
            out_total > FP__WIRE_MAX_BULK)
            return cfail(c,
                         "output of %" PRIu32 " elements of %" PRIu32
                         " bytes exceeds 2^40 bytes",
                         r->count, r->out_elem_size);
    } else if (r->kind == FP__WIRE_KIND_APPLY) {
        if (r->start != 0 || r->count != 1 || r->out_elem_size != 0)
            return cfail(c, "APPLY record needs start 0, count 1 and output "
                            "element size 0 (has %" PRIu64 ", %" PRIu32
                            ", %" PRIu32 ")",
                         r->start, r->count, r->out_elem_size);
    } else {
        return cfail(c, "unknown kind %u", r->kind);
    }

    size_t off = FP__WIRE_TASK_REC_FIXED;
    if (rflags & NAME_INLINE) {
        uint64_t padded;
        (void)pad8(name_len, &padded); /* <= 255 + 7: cannot overflow */
        if (name_len == 0 || name_len > FP__WIRE_NAME_MAX)
            return cfail(c, "inline name length %u is outside 1..%d",
                         name_len, FP__WIRE_NAME_MAX);
        if (padded > left - off)
            return cfail(c,
                         "inline name of %u bytes (%" PRIu64
                         " padded) exceeds the %zu bytes left",
                         name_len, padded, left - off);
        if ((st = check_name(c, "inline name", p + off, name_len)) != FP_OK)
            return st;
        if (!all_zero(p + off + name_len, (size_t)padded - name_len))
            return cfail(c, "name padding is not zero");
        r->name = (const char *)(p + off);
        r->name_len = name_len;
        off += (size_t)padded;
    }

    for (unsigned i = 0; i < r->nargs; i++) {
        fp__wire_arg_t *a = &r->args[i];
        if (left - off < FP__WIRE_ARG_DESC)
            return cfail(c,
                         "argument %u descriptor needs %d bytes but only %zu "
                         "are left",
                         i, FP__WIRE_ARG_DESC, left - off);
        const uint8_t *d = p + off;
        a->len = ld64(d);
        a->elem_size = ld32(d + 8);
        a->where = d[12];
        if (d[13] | d[14] | d[15])
            return cfail(c, "argument %u reserved bytes are not zero", i);
        off += FP__WIRE_ARG_DESC;
        if (r->kind == FP__WIRE_KIND_MAP) {
            uint64_t want = (uint64_t)a->elem_size * r->count; /* < 2^64 */
            if (a->len != want)
                return cfail(c,
                             "argument %u length %" PRIu64
                             " is not element size %" PRIu32
                             " x count %" PRIu32,
                             i, a->len, a->elem_size, r->count);
        } else if (a->elem_size != 0) {
            return cfail(c, "argument %u of an APPLY has element size %" PRIu32
                            ", must be 0",
                         i, a->elem_size);
        }
        if (a->where == FP__WIRE_WHERE_INLINE) {
            uint64_t padded;
            if (a->len > left - off)
                return cfail(c,
                             "argument %u length %" PRIu64
                             " exceeds the %zu bytes left",
                             i, a->len, left - off);
            (void)pad8(a->len, &padded); /* len <= left < SIZE_MAX - 7 */
            if (padded > left - off)
                return cfail(c,
                             "argument %u padding (%" PRIu64
                             " bytes) runs past the %zu bytes left",
                             i, padded - a->len, left - off);
            if (!all_zero(p + off + a->len, (size_t)(padded - a->len)))
                return cfail(c, "argument %u padding is not zero", i);
            a->data = p + off;
            off += (size_t)padded;
        } else if (a->where == FP__WIRE_WHERE_BULK) {
            if (a->len == 0 || a->len > FP__WIRE_MAX_BULK)
                return cfail(c,
                             "argument %u BULK length %" PRIu64
                             " is outside 1..2^40",
                             i, a->len);
            a->data = NULL;
        } else {
            return cfail(c, "argument %u has unknown placement %u", i,
                         a->where);
        }
    }
    *used = off;
    return FP_OK;
}

static fp_status_t parse_result(const ctx_t *c, const uint8_t *p, size_t left,
                                fp__wire_result_rec_t *r, size_t *used)
{
    fp_status_t st;
    if (p == NULL || left < FP__WIRE_RESULT_REC_FIXED)
        return cfail(c, "the fixed part needs %d bytes but only %zu are left",
                     FP__WIRE_RESULT_REC_FIXED, p ? left : 0);
    memset(r, 0, sizeof *r);
    r->task_id = ld64(p);
    r->attempt = ld32(p + 8);
    r->status = ldi32(p + 12);
    r->start = ld64(p + 16);
    r->count = ld32(p + 24);
    uint8_t msg_len = p[28];
    r->where = p[29];
    uint16_t rsv = ld16(p + 30);
    r->len = ld64(p + 32);

    if (r->task_id == 0)
        return cfail(c, "task id 0 is reserved");
    if ((st = check_attempt(c, r->attempt)) != FP_OK)
        return st;
    if ((st = check_status(c, r->status, true)) != FP_OK)
        return st;
    if ((st = check_range(c, r->start, r->count)) != FP_OK)
        return st;
    if (rsv != 0)
        return cfail(c, "reserved field is not zero");
    if (r->where > FP__WIRE_WHERE_BULK)
        return cfail(c, "unknown result placement %u", r->where);
    if (r->status == FP_OK && msg_len != 0)
        return cfail(c, "a successful result carries a %u-byte message",
                     msg_len);
    if (r->status != FP_OK && r->where != FP__WIRE_WHERE_NONE)
        return cfail(c, "a failed result (status %" PRId32 ") carries data",
                     r->status);
    if (r->where == FP__WIRE_WHERE_NONE && r->len != 0)
        return cfail(c, "result length %" PRIu64 " with no data placement",
                     r->len);
    if (r->where == FP__WIRE_WHERE_BULK &&
        (r->len == 0 || r->len > FP__WIRE_MAX_BULK))
        return cfail(c, "BULK result length %" PRIu64 " is outside 1..2^40",
                     r->len);

    size_t off = FP__WIRE_RESULT_REC_FIXED;
    if (msg_len) {
        uint64_t padded;
        (void)pad8(msg_len, &padded);
        if (padded > left - off)
            return cfail(c,
                         "message of %u bytes (%" PRIu64
                         " padded) exceeds the %zu bytes left",
                         msg_len, padded, left - off);
        if ((st = check_text(c, "message", p + off, msg_len)) != FP_OK)
            return st;
        if (!all_zero(p + off + msg_len, (size_t)padded - msg_len))
            return cfail(c, "message padding is not zero");
        r->message = (const char *)(p + off);
        r->message_len = msg_len;
        off += (size_t)padded;
    }
    if (r->where == FP__WIRE_WHERE_INLINE) {
        uint64_t padded;
        if (r->len > left - off)
            return cfail(c, "result length %" PRIu64
                            " exceeds the %zu bytes left",
                         r->len, left - off);
        (void)pad8(r->len, &padded);
        if (padded > left - off)
            return cfail(c,
                         "result padding (%" PRIu64
                         " bytes) runs past the %zu bytes left",
                         padded - r->len, left - off);
        if (!all_zero(p + off + r->len, (size_t)(padded - r->len)))
            return cfail(c, "result padding is not zero");
        r->data = p + off;
        off += (size_t)padded;
    }
    *used = off;
    return FP_OK;
}

/* ---- the iterator --------------------------------------------------------------- */

void fp__wire_iter_init(fp__wire_iter_t *it, const fp__wire_msg_t *msg)
{
    memset(it, 0, sizeof *it);
    if (msg == NULL)
        return;
    it->type = msg->hdr.type;
    if (it->type == FP__WIRE_TASK_BATCH || it->type == FP__WIRE_RESULT_BATCH) {
        it->pos = msg->u.batch.records;
        it->left = msg->u.batch.records_len;
        it->count = msg->u.batch.count;
    }
}

static fp_status_t iter_step(fp__wire_iter_t *it, uint8_t type, void *rec,
                             char *reason, size_t size)
{
    if (it == NULL || rec == NULL || it->type != type)
        return fail(FP_ERR_INVALID, reason, size,
                    "iterator is not over a %s", fp__wire_type_name(type));
    if (it->next >= it->count) {
        if (it->left != 0)
            return fail(FP_ERR_PROTOCOL, reason, size,
                        "%s: %zu bytes left over after the last of %" PRIu32
                        " records",
                        fp__wire_type_name(type), it->left, it->count);
        return FP_END;
    }
    ctx_t c = {reason, size, FP_ERR_PROTOCOL, fp__wire_type_name(type),
               (long)it->next};
    size_t used = 0;
    fp_status_t st = type == FP__WIRE_TASK_BATCH
                         ? parse_task(&c, it->pos, it->left, rec, &used)
                         : parse_result(&c, it->pos, it->left, rec, &used);
    if (st != FP_OK)
        return st;
    it->pos += used;
    it->left -= used;
    it->next++;
    return FP_OK;
}

fp_status_t fp__wire_iter_task(fp__wire_iter_t *it, fp__wire_task_rec_t *rec,
                               char *reason, size_t reason_size)
{
    fp__wire_task_rec_t tmp;
    fp_status_t st =
        iter_step(it, FP__WIRE_TASK_BATCH, rec ? &tmp : NULL, reason,
                  reason_size);
    if (st == FP_OK)
        *rec = tmp;
    return st;
}

fp_status_t fp__wire_iter_result(fp__wire_iter_t *it,
                                 fp__wire_result_rec_t *rec, char *reason,
                                 size_t reason_size)
{
    fp__wire_result_rec_t tmp;
    fp_status_t st =
        iter_step(it, FP__WIRE_RESULT_BATCH, rec ? &tmp : NULL, reason,
                  reason_size);
    if (st == FP_OK)
        *rec = tmp;
    return st;
}

/* ---- header decoding ---------------------------------------------------------- */

/* SRV_REGISTER / SRV_EVENT fixed fields (PROTOCOL.md §5a). */
static fp_status_t decode_srv_fixed(const ctx_t *c, const uint8_t *f,
                                    fp__wire_msg_t *m)
{
    fp__wire_srv_t *v = &m->u.srv;
    const uint32_t plen = m->hdr.payload_len;
    if (m->hdr.type == FP__WIRE_SRV_REGISTER) {
        v->kind = 0;
        v->executors = ld32(f);
        v->gpus = ld32(f + 4);
        v->busy = ld32(f + 8);
        v->queued = ld32(f + 12);
        v->address_len = f[16];
        v->host_len = f[17];
        if (!all_zero(f + 18, 6))
            return cfail(c, "reserved field is not zero");
    } else {
        v->kind = f[0];
        v->address_len = f[1];
        v->host_len = f[2];
        v->reason_len = f[3];
        v->executors = ld32(f + 4);
        v->gpus = ld32(f + 8);
        v->busy = ld32(f + 12);
        v->queued = ld32(f + 16);
        v->count = ld32(f + 20);
        if (v->kind < FP__WIRE_SRV_NODE || v->kind > FP__WIRE_SRV_LEAVE)
            return cfail(c, "unknown kind %u", v->kind);
    }
    if (v->kind == FP__WIRE_SRV_END) {
        if (v->address_len != 0 || v->host_len != 0 || v->reason_len != 0 ||
            v->executors != 0 || v->gpus != 0 || v->busy != 0 ||
            v->queued != 0)
            return cfail(c, "the list's END carries only a count");
    } else {
        if (v->count != 0)
            return cfail(c, "count %" PRIu32 " on kind %u (END only)",
                         v->count, v->kind);
        if (v->address_len == 0 || v->address_len > FP__WIRE_SRV_ADDR_MAX)
            return cfail(c, "address length %zu is outside 1..%d",
                         v->address_len, FP__WIRE_SRV_ADDR_MAX);
        if (v->host_len > FP__WIRE_SRV_HOST_MAX)
            return cfail(c, "host name length %zu exceeds %d", v->host_len,
                         FP__WIRE_SRV_HOST_MAX);
        if (v->reason_len != 0 && v->kind != FP__WIRE_SRV_LEAVE)
            return cfail(c, "a reason on kind %u (LEAVE only)", v->kind);
        if (v->kind != FP__WIRE_SRV_LEAVE &&
            (v->executors == 0 || v->executors > FP__WIRE_MAX_EXECUTORS))
            return cfail(c, "executor count %" PRIu32 " is outside 1..%d",
                         v->executors, FP__WIRE_MAX_EXECUTORS);
        if (v->executors > FP__WIRE_MAX_EXECUTORS ||
            v->gpus > FP__WIRE_MAX_EXECUTORS)
            return cfail(c, "executor or GPU count exceeds %d",
                         FP__WIRE_MAX_EXECUTORS);
        if (v->busy > v->executors)
            return cfail(c, "%" PRIu32 " busy executors of %" PRIu32,
                         v->busy, v->executors);
    }
    size_t want = v->address_len + v->host_len + v->reason_len;
    if (plen != want)
        return cfail(c,
                     "payload length %" PRIu32
                     " must be %zu (address %zu + host %zu + reason %zu)",
                     plen, want, v->address_len, v->host_len, v->reason_len);
    return FP_OK;
}

static fp_status_t decode_fixed(const ctx_t *c, const uint8_t *f,
                                fp__wire_msg_t *m)
{
    fp_status_t st;
    const uint32_t plen = m->hdr.payload_len;
    const bool bulk = m->hdr.flags & FP__WIRE_F_BULK;

    switch (m->hdr.type) {
    case FP__WIRE_HELLO: {
        fp__wire_hello_t *h = &m->u.hello;
        h->version_min = f[0];
        h->version_max = f[1];
        h->role = f[2];
        h->id_len = f[3];
        h->executors = ld32(f + 4);
        h->instance = ld64(f + 8);
        h->route = ld64(f + 16);
        if (h->version_min == 0)
            return cfail(c, "version range %u..%u: the minimum must be >= 1",
                         h->version_min, h->version_max);
        if (h->version_min > h->version_max)
            return cfail(c, "version range %u..%u is empty", h->version_min,
                         h->version_max);
        if (h->role < FP__WIRE_ROLE_CLIENT || h->role > FP__WIRE_ROLE_SERVER)
            return cfail(c, "unknown role %u", h->role);
        if (h->id_len == 0)
            return cfail(c, "id is empty");
        if (h->executors > FP__WIRE_MAX_EXECUTORS)
            return cfail(c, "executor count %" PRIu32 " exceeds %d",
                         h->executors, FP__WIRE_MAX_EXECUTORS);
        if (h->role == FP__WIRE_ROLE_NODE && h->executors == 0)
            return cfail(c, "a node announces 0 executors");
        if (h->instance == 0)
            return cfail(c, "instance id 0 is reserved");
        if (h->route == 0)
            return cfail(c, "route token 0 is reserved");
        if (plen != FP__WIRE_NONCE_LEN + h->id_len)
            return cfail(c,
                         "payload length %" PRIu32
                         " must be %zu (32-byte nonce + %zu-byte id)",
                         plen, FP__WIRE_NONCE_LEN + h->id_len, h->id_len);
        return FP_OK;
    }
    case FP__WIRE_AUTH:
        if (plen != FP__WIRE_NONCE_LEN + FP__WIRE_MAC_LEN)
            return cfail(c,
                         "payload length %" PRIu32
                         " must be 64 (nonce echo + MAC)",
                         plen);
        return FP_OK;
    case FP__WIRE_SRV_REGISTER:
    case FP__WIRE_SRV_EVENT:
        return decode_srv_fixed(c, f, m);
    case FP__WIRE_AUTH_OK:
    case FP__WIRE_POOL_CLOSE:
    case FP__WIRE_SRV_SUBSCRIBE:
        if (plen != 0)
            return cfail(c, "payload length %" PRIu32 " must be 0", plen);
        return FP_OK;
    case FP__WIRE_HEARTBEAT:
        m->u.heartbeat.hb_seq = ld64(f);
        m->u.heartbeat.send_time_ns = ld64(f + 8);
        if (plen != 0)
            return cfail(c, "payload length %" PRIu32 " must be 0", plen);
        return FP_OK;
    case FP__WIRE_GOODBYE:
        m->u.text.reason = f[0];
        if (!all_zero(f + 1, 7))
            return cfail(c, "reserved field is not zero");
        if (f[0] < FP__WIRE_BYE_NORMAL || f[0] > FP__WIRE_BYE_OVERLOAD)
            return cfail(c, "unknown reason %u", f[0]);
        break;
    case FP__WIRE_ERROR:
        m->u.text.status = ldi32(f);
        m->u.text.ref_seq = ld32(f + 4);
        m->u.text.ref_type = f[8];
        if (!all_zero(f + 9, 7))
            return cfail(c, "reserved field is not zero");
        if ((st = check_status(c, m->u.text.status, false)) != FP_OK)
            return st;
        break;
    case FP__WIRE_MODULE_OFFER:
    case FP__WIRE_MODULE_DATA: {
        fp__wire_module_t *mo = &m->u.module;
        mo->id = ld64(f);
        mo->size = ld64(f + 8);
        if (mo->id == 0)
            return cfail(c, "module id 0 is reserved");
        if (mo->size == 0 || mo->size > FP__WIRE_MAX_MODULE)
            return cfail(c, "module size %" PRIu64 " is outside 1..%u",
                         mo->size, FP__WIRE_MAX_MODULE);
        if (m->hdr.type == FP__WIRE_MODULE_DATA) {
            if (plen != mo->size)
                return cfail(c,
                             "payload length %" PRIu32
                             " must equal the module size %" PRIu64,
                             plen, mo->size);
            return FP_OK;
        }
        if (plen <= FP__WIRE_SHA256_LEN ||
            plen > FP__WIRE_SHA256_LEN + FP__WIRE_MODULE_NAME_MAX)
            return cfail(c,
                         "payload length %" PRIu32
                         " must be 32 (SHA-256) + a 1..%d-byte name",
                         plen, FP__WIRE_MODULE_NAME_MAX);
        mo->name_len = plen - FP__WIRE_SHA256_LEN;
        return FP_OK;
    }
    case FP__WIRE_MODULE_REPLY: {
        fp__wire_module_t *mo = &m->u.module;
        mo->id = ld64(f);
        mo->status = ldi32(f + 8);
        mo->answer = f[12];
        if (mo->id == 0)
            return cfail(c, "module id 0 is reserved");
        if (!all_zero(f + 13, 3))
            return cfail(c, "reserved field is not zero");
        if (mo->answer < FP__WIRE_MOD_HAVE || mo->answer > FP__WIRE_MOD_FAILED)
            return cfail(c, "unknown answer %u", mo->answer);
        if ((st = check_status(c, mo->status,
                               mo->answer != FP__WIRE_MOD_FAILED)) != FP_OK)
            return st;
        if (mo->answer != FP__WIRE_MOD_FAILED && mo->status != 0)
            return cfail(c, "answer %u carries status %" PRId32, mo->answer,
                         mo->status);
        if (mo->answer != FP__WIRE_MOD_FAILED && plen != 0)
            return cfail(c, "answer %u carries a %" PRIu32 "-byte text",
                         mo->answer, plen);
        if (plen > FP__WIRE_TEXT_MAX)
            return cfail(c, "message length %" PRIu32 " exceeds %d", plen,
                         FP__WIRE_TEXT_MAX);
        mo->message_len = plen;
        return FP_OK;
    }
    case FP__WIRE_ACK: {
        fp__wire_text_msg_t *t = &m->u.text;
        t->status = ldi32(f);
        t->ref_type = f[4];
        t->ref = ld64(f + 8);
        t->index = (uint32_t)f[5] | (uint32_t)ld16(f + 6) << 8;
        if (t->index != 0 && t->status == FP_OK)
            return cfail(c, "a successful ACK names executor %" PRIu32,
                         t->index);
        if ((st = check_status(c, t->status, true)) != FP_OK)
            return st;
        if (t->ref_type != FP__WIRE_POOL_OPEN &&
            t->ref_type != FP__WIRE_POOL_CLOSE &&
            t->ref_type != FP__WIRE_UPDATE)
            return cfail(c, "acknowledges type %u (%s), which takes no ACK",
                         t->ref_type, fp__wire_type_name(t->ref_type));
        if (t->ref_type == FP__WIRE_UPDATE ? t->ref == 0 : t->ref != 0)
            return cfail(c, "reference %" PRIu64 " is invalid for an ACK of %s",
                         t->ref, fp__wire_type_name(t->ref_type));
        if (t->status == FP_OK && plen != 0)
            return cfail(c, "a successful ACK carries a %" PRIu32
                            "-byte message",
                         plen);
        break;
    }
    case FP__WIRE_POOL_OPEN: {
        fp__wire_pool_open_t *o = &m->u.pool_open;
        o->executors = ld32(f);
        o->worker_class_len = f[4];
        o->init_len = ld64(f + 8);
        o->index_base = (uint32_t)f[5] | (uint32_t)ld16(f + 6) << 8;
        if (o->executors > FP__WIRE_MAX_EXECUTORS)
            return cfail(c, "executor count %" PRIu32 " exceeds %d",
                         o->executors, FP__WIRE_MAX_EXECUTORS);
        if (o->worker_class_len > FP__WIRE_NAME_MAX)
            return cfail(c, "worker class name length %zu exceeds %d",
                         o->worker_class_len, FP__WIRE_NAME_MAX);
        uint64_t want;
        (void)pad8(o->worker_class_len, &want);
        if (bulk) {
            if (o->init_len == 0 || o->init_len > FP__WIRE_MAX_BULK)
                return cfail(c,
                             "BULK init data length %" PRIu64
                             " is outside 1..2^40",
                             o->init_len);
        } else {
            if (o->init_len > FP__WIRE_MAX_INLINE)
                return cfail(c,
                             "inline init data length %" PRIu64
                             " exceeds %u (send it as BULK)",
                             o->init_len, FP__WIRE_MAX_INLINE);
            want += o->init_len;
        }
        if (plen != want)
            return cfail(c, "payload length %" PRIu32 " must be %" PRIu64,
                         plen, want);
        return FP_OK;
    }
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_RESULT_BATCH:
    case FP__WIRE_CANCEL: {
        uint32_t count = ld32(f);
        uint64_t min_len;
        m->u.batch.count = count;
        m->u.batch.records_len = plen;
        if (ld32(f + 4) != 0)
            return cfail(c, "reserved field is not zero");
        if (count == 0 || count > FP__WIRE_MAX_RECORDS)
            return cfail(c, "record count %" PRIu32 " is outside 1..%d", count,
                         FP__WIRE_MAX_RECORDS);
        if (plen > FP__WIRE_MAX_BATCH)
            return cfail(c, "payload length %" PRIu32 " exceeds %u", plen,
                         FP__WIRE_MAX_BATCH);
        if (m->hdr.type == FP__WIRE_CANCEL) {
            min_len = (uint64_t)count * FP__WIRE_CANCEL_ENTRY;
            if (plen != min_len)
                return cfail(c,
                             "payload length %" PRIu32 " must be %" PRIu64
                             " (%" PRIu32 " entries of 16 bytes)",
                             plen, min_len, count);
        } else {
            min_len = (uint64_t)count * FP__WIRE_TASK_REC_FIXED;
            if (plen < min_len)
                return cfail(c,
                             "record count %" PRIu32 " needs at least %" PRIu64
                             " bytes but the payload has %" PRIu32,
                             count, min_len, plen);
        }
        return FP_OK;
    }
    case FP__WIRE_UPDATE: {
        fp__wire_update_t *u = &m->u.update;
        u->update_seq = ld64(f);
        u->total = ld64(f + 8);
        if (u->update_seq == 0)
            return cfail(c, "update sequence 0 is reserved");
        if (bulk) {
            if (u->total == 0 || u->total > FP__WIRE_MAX_BULK)
                return cfail(c,
                             "BULK update length %" PRIu64
                             " is outside 1..2^40",
                             u->total);
            if (plen != 0)
                return cfail(c, "payload length %" PRIu32
                                " must be 0 with the BULK flag",
                             plen);
        } else {
            if (u->total > FP__WIRE_MAX_INLINE)
                return cfail(c,
                             "inline update length %" PRIu64
                             " exceeds %u (send it as BULK)",
                             u->total, FP__WIRE_MAX_INLINE);
            if (plen != u->total)
                return cfail(c, "payload length %" PRIu32
                                " must equal the update length %" PRIu64,
                             plen, u->total);
        }
        return FP_OK;
    }
    case FP__WIRE_EXEC_MSG:
    case FP__WIRE_CLIENT_MSG: {
        fp__wire_exec_msg_t *e = &m->u.emsg;
        e->executor = ld32(f);
        e->len = plen;
        if (ld32(f + 4) != 0)
            return cfail(c, "reserved field is not zero");
        if (e->executor > FP__WIRE_MAX_EXEC_INDEX &&
            !(m->hdr.type == FP__WIRE_EXEC_MSG &&
              e->executor == FP__WIRE_MSG_ALL))
            return cfail(c, "executor %" PRIu32 " exceeds %" PRIu32 "%s",
                         e->executor, (uint32_t)FP__WIRE_MAX_EXEC_INDEX,
                         m->hdr.type == FP__WIRE_EXEC_MSG
                             ? " and is not ALL (0xffffffff)"
                             : "");
        if (plen > FP__WIRE_MAX_INLINE)
            return cfail(c, "message length %" PRIu32 " exceeds %u", plen,
                         FP__WIRE_MAX_INLINE);
        return FP_OK;
    }
    case FP__WIRE_BULK: {
        fp__wire_bulk_t *b = &m->u.bulk;
        uint64_t end;
        b->task_id = ld64(f);
        b->attempt = ld32(f + 8);
        b->kind = f[12];
        b->index = f[13];
        b->offset = ld64(f + 16);
        b->total = ld64(f + 24);
        b->len = plen;
        if (ld16(f + 14) != 0)
            return cfail(c, "reserved field is not zero");
        switch (b->kind) {
        case FP__WIRE_BULK_ARG:
        case FP__WIRE_BULK_RESULT:
            if (b->task_id == 0)
                return cfail(c, "task id 0 is reserved");
            if ((st = check_attempt(c, b->attempt)) != FP_OK)
                return st;
            if (b->kind == FP__WIRE_BULK_ARG
                    ? b->index >= FP__WIRE_MAX_ARGS
                    : b->index != 0)
                return cfail(c, "index %u is invalid for kind %u", b->index,
                             b->kind);
            break;
        case FP__WIRE_BULK_INIT:
        case FP__WIRE_BULK_UPDATE:
            if (b->kind == FP__WIRE_BULK_INIT ? b->task_id != 0
                                               : b->task_id == 0)
                return cfail(c, "task id %" PRIu64 " is invalid for kind %u",
                             b->task_id, b->kind);
            if (b->attempt != 0 || b->index != 0)
                return cfail(c, "attempt and index must be 0 for kind %u",
                             b->kind);
            break;
        default:
            return cfail(c, "unknown kind %u", b->kind);
        }
        if (b->total == 0 || b->total > FP__WIRE_MAX_BULK)
            return cfail(c, "total length %" PRIu64 " is outside 1..2^40",
                         b->total);
        if (plen == 0 || plen > FP__WIRE_MAX_INLINE)
            return cfail(c, "chunk length %" PRIu32 " is outside 1..%u", plen,
                         FP__WIRE_MAX_INLINE);
        if (__builtin_add_overflow(b->offset, (uint64_t)plen, &end) ||
            end > b->total)
            return cfail(c,
                         "chunk at offset %" PRIu64 " of %" PRIu32
                         " bytes runs past the total %" PRIu64,
                         b->offset, plen, b->total);
        return FP_OK;
    }
    default:
        return cfail(c, "no decoder for this type");
    }
    /* GOODBYE, ERROR, ACK: the payload is a text. */
    if (plen > FP__WIRE_TEXT_MAX)
        return cfail(c, "message length %" PRIu32 " exceeds %d", plen,
                     FP__WIRE_TEXT_MAX);
    m->u.text.message_len = plen;
    return FP_OK;
}

static fp_status_t decode_header(const uint8_t *h, size_t hdr_size,
                                 size_t payload_size, fp__wire_msg_t *m,
                                 char *reason, size_t size)
{
    memset(m, 0, sizeof *m);
    if (h == NULL)
        return fail(FP_ERR_INVALID, reason, size, "header pointer is NULL");
    if (hdr_size < FP__WIRE_COMMON_SIZE)
        return fail(FP_ERR_PROTOCOL, reason, size,
                    "header is %zu bytes, shorter than the %d-byte common "
                    "header",
                    hdr_size, FP__WIRE_COMMON_SIZE);
    uint32_t magic = ld32(h);
    if (magic != FP__WIRE_MAGIC)
        return fail(FP_ERR_PROTOCOL, reason, size,
                    "bad magic 0x%08" PRIx32 " (expected 0x%08x)", magic,
                    FP__WIRE_MAGIC);
    fp__wire_hdr_t *hd = &m->hdr;
    hd->version = h[4];
    hd->type = h[5];
    hd->flags = ld16(h + 6);
    hd->hdr_len = ld16(h + 8);
    uint16_t rsv = ld16(h + 10);
    hd->payload_len = ld32(h + 12);
    hd->seq = ld32(h + 16);
    hd->pool = ld32(h + 20);
    hd->route = ld64(h + 24);

    const type_info_t *ti = type_info(hd->type);
    if (ti == NULL)
        return fail(FP_ERR_PROTOCOL, reason, size, "unknown message type %u",
                    hd->type);
    ctx_t c = {reason, size, FP_ERR_PROTOCOL, ti->name, -1};
    if (hd->type == FP__WIRE_HELLO) {
        if (hd->version != FP__WIRE_HELLO_VERSION)
            return cfail(&c, "header version %u, must be %d (HELLO's layout "
                             "is frozen; versions are negotiated inside it)",
                         hd->version, FP__WIRE_HELLO_VERSION);
    } else if (hd->version < FP__WIRE_VERSION_MIN ||
               hd->version > FP__WIRE_VERSION_MAX) {
        return cfail(&c,
                     "unsupported protocol version %u (this build speaks "
                     "%d..%d)",
                     hd->version, FP__WIRE_VERSION_MIN, FP__WIRE_VERSION_MAX);
    }
    if (hd->flags & ~ti->flags)
        return cfail(&c, "flags 0x%04x include bits 0x%04x not allowed here",
                     hd->flags, hd->flags & ~ti->flags);
    if (rsv != 0)
        return cfail(&c, "reserved header field is 0x%04x, must be 0", rsv);
    if (hd->hdr_len != ti->hdr_len)
        return cfail(&c, "header length field %u, must be %u", hd->hdr_len,
                     ti->hdr_len);
    if (hdr_size != hd->hdr_len)
        return cfail(&c, "received %zu header bytes but the header is %u",
                     hdr_size, hd->hdr_len);
    if (payload_size != hd->payload_len)
        return cfail(&c,
                     "payload length field %" PRIu32
                     " but %zu payload bytes were received",
                     hd->payload_len, payload_size);
    if (pool_scoped(hd->type) && hd->pool == 0)
        return cfail(&c, "pool id 0 on a pool message");
    if (!pool_scoped(hd->type) && hd->type != FP__WIRE_ERROR && hd->pool != 0)
        return cfail(&c, "pool id %" PRIu32 " on a connection message",
                     hd->pool);
    return decode_fixed(&c, h + FP__WIRE_COMMON_SIZE, m);
}

fp_status_t fp__wire_decode_header(const void *hdr, size_t hdr_size,
                                   size_t payload_size, fp__wire_msg_t *msg,
                                   char *reason, size_t reason_size)
{
    if (msg == NULL)
        return fail(FP_ERR_INVALID, reason, reason_size, "msg is NULL");
    /* straight into *msg: decoding into a local and copying it out cost a
     * third of the decode (the copy's wide loads stall on the narrow stores
     * just made) */
    fp_status_t st =
        decode_header(hdr, hdr_size, payload_size, msg, reason, reason_size);
    if (st != FP_OK)
        memset(msg, 0, sizeof *msg);
    return st;
}

/* ---- payload decoding ----------------------------------------------------------- */

static fp_status_t decode_payload(const ctx_t *c, const uint8_t *p,
                                  fp__wire_msg_t *m)
{
    fp_status_t st;
    const size_t plen = m->hdr.payload_len;
    switch (m->hdr.type) {
    case FP__WIRE_HELLO:
        m->u.hello.nonce = p;
        m->u.hello.id = (const char *)(p + FP__WIRE_NONCE_LEN);
        return check_text(c, "id", p + FP__WIRE_NONCE_LEN, m->u.hello.id_len);
    case FP__WIRE_AUTH:
        m->u.auth.nonce_echo = p;
        m->u.auth.mac = p + FP__WIRE_NONCE_LEN;
        return FP_OK;
    case FP__WIRE_GOODBYE:
    case FP__WIRE_ERROR:
    case FP__WIRE_ACK:
        m->u.text.message = plen ? (const char *)p : NULL;
        return check_text(c, "message", p, plen);
    case FP__WIRE_MODULE_OFFER:
        m->u.module.sha256 = p;
        m->u.module.name = (const char *)(p + FP__WIRE_SHA256_LEN);
        return check_text(c, "module name", p + FP__WIRE_SHA256_LEN,
                          m->u.module.name_len);
    case FP__WIRE_MODULE_DATA:
        m->u.module.data = p;
        return FP_OK;
    case FP__WIRE_MODULE_REPLY:
        m->u.module.message = plen ? (const char *)p : NULL;
        return check_text(c, "message", p, plen);
    case FP__WIRE_POOL_OPEN: {
        fp__wire_pool_open_t *o = &m->u.pool_open;
        size_t n = o->worker_class_len;
        uint64_t padded;
        (void)pad8(n, &padded);
        if (n) {
            if ((st = check_name(c, "worker class name", p, n)) != FP_OK)
                return st;
            if (!all_zero(p + n, (size_t)padded - n))
                return cfail(c, "worker class name padding is not zero");
            o->worker_class = (const char *)p;
        }
        if (!(m->hdr.flags & FP__WIRE_F_BULK) && o->init_len)
            o->init_data = p + padded;
        return FP_OK;
    }
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_RESULT_BATCH: {
        m->u.batch.records = p;
        fp__wire_iter_t it;
        fp__wire_iter_init(&it, m);
        union {
            fp__wire_task_rec_t t;
            fp__wire_result_rec_t r;
        } rec;
        for (;;) {
            st = m->hdr.type == FP__WIRE_TASK_BATCH
                     ? fp__wire_iter_task(&it, &rec.t, c->reason, c->size)
                     : fp__wire_iter_result(&it, &rec.r, c->reason, c->size);
            if (st == FP_END)
                return FP_OK;
            if (st != FP_OK)
                return st;
        }
    }
    case FP__WIRE_CANCEL:
        m->u.batch.records = p;
        for (uint32_t i = 0; i < m->u.batch.count; i++) {
            const uint8_t *e = p + (size_t)i * FP__WIRE_CANCEL_ENTRY;
            ctx_t ce = *c;
            ce.rec = i;
            if (ld64(e) == 0)
                return cfail(&ce, "task id 0 is reserved");
            if ((st = check_attempt(&ce, ld32(e + 8))) != FP_OK)
                return st;
            if (ld32(e + 12) != 0)
                return cfail(&ce, "reserved field is not zero");
        }
        return FP_OK;
    case FP__WIRE_UPDATE:
        if (!(m->hdr.flags & FP__WIRE_F_BULK) && m->u.update.total)
            m->u.update.data = p;
        return FP_OK;
    case FP__WIRE_BULK:
        m->u.bulk.data = p;
        return FP_OK;
    case FP__WIRE_EXEC_MSG:
    case FP__WIRE_CLIENT_MSG:
        m->u.emsg.data = m->u.emsg.len > 0 ? p : NULL;
        return FP_OK;
    case FP__WIRE_SRV_REGISTER:
    case FP__WIRE_SRV_EVENT: {
        fp__wire_srv_t *v = &m->u.srv;
        /* an END has no payload: p may be NULL, and NULL + 0 is undefined */
        const uint8_t *h = p != NULL ? p + v->address_len : NULL;
        const uint8_t *r = h != NULL ? h + v->host_len : NULL;
        v->address = v->address_len ? (const char *)p : NULL;
        v->host = v->host_len ? (const char *)h : NULL;
        v->reason = v->reason_len ? (const char *)r : NULL;
        if ((st = check_text(c, "address", p, v->address_len)) != FP_OK ||
            (st = check_text(c, "host name", h, v->host_len)) != FP_OK)
            return st;
        return check_text(c, "reason", r, v->reason_len);
    }
    default: /* AUTH_OK, POOL_CLOSE, HEARTBEAT, SRV_SUBSCRIBE: empty */
        return FP_OK;
    }
}

fp_status_t fp__wire_decode(const void *hdr, size_t hdr_size,
                            const void *payload, size_t payload_size,
                            fp__wire_msg_t *msg, char *reason,
                            size_t reason_size)
{
    if (msg == NULL)
        return fail(FP_ERR_INVALID, reason, reason_size, "msg is NULL");
    if (payload == NULL && payload_size != 0) {
        memset(msg, 0, sizeof *msg);
        return fail(FP_ERR_INVALID, reason, reason_size,
                    "payload pointer is NULL with %zu bytes", payload_size);
    }
    fp_status_t st =
        decode_header(hdr, hdr_size, payload_size, msg, reason, reason_size);
    if (st == FP_OK) {
        ctx_t c = {reason, reason_size, FP_ERR_PROTOCOL,
                   fp__wire_type_name(msg->hdr.type), -1};
        st = decode_payload(&c, payload, msg);
    }
    if (st != FP_OK)
        memset(msg, 0, sizeof *msg);
    return st;
}

fp__wire_cancel_entry_t fp__wire_cancel_get(const fp__wire_msg_t *msg,
                                            uint32_t i)
{
    fp__wire_cancel_entry_t e = {0, 0};
    if (msg && msg->hdr.type == FP__WIRE_CANCEL && msg->u.batch.records &&
        i < msg->u.batch.count &&
        (size_t)i * FP__WIRE_CANCEL_ENTRY < msg->u.batch.records_len) {
        const uint8_t *p =
            msg->u.batch.records + (size_t)i * FP__WIRE_CANCEL_ENTRY;
        e.task_id = ld64(p);
        e.attempt = ld32(p + 8);
    }
    return e;
}

void fp__wire_cancel_put(void *entries, uint32_t i,
                         fp__wire_cancel_entry_t entry)
{
    uint8_t *p = (uint8_t *)entries + (size_t)i * FP__WIRE_CANCEL_ENTRY;
    st64(p, entry.task_id);
    st32(p + 8, entry.attempt);
    st32(p + 12, 0);
}

/* ---- encoding ------------------------------------------------------------------- */

fp_status_t fp__wire_size(const fp__wire_msg_t *msg, size_t *hdr_len_p,
                          size_t *payload_len_p, char *reason,
                          size_t reason_size)
{
    if (msg == NULL)
        return fail(FP_ERR_INVALID, reason, reason_size, "msg is NULL");
    const type_info_t *ti = type_info(msg->hdr.type);
    if (ti == NULL)
        return fail(FP_ERR_INVALID, reason, reason_size,
                    "unknown message type %u", msg->hdr.type);
    ctx_t c = {reason, reason_size, FP_ERR_INVALID, ti->name, -1};
    const bool bulk = msg->hdr.flags & FP__WIRE_F_BULK;
    uint64_t plen = 0;
    switch (msg->hdr.type) {
    case FP__WIRE_HELLO:
        if (msg->u.hello.id_len > FP__WIRE_ID_MAX)
            return cfail(&c, "id length %zu exceeds %d", msg->u.hello.id_len,
                         FP__WIRE_ID_MAX);
        plen = FP__WIRE_NONCE_LEN + msg->u.hello.id_len;
        break;
    case FP__WIRE_AUTH:
        plen = FP__WIRE_NONCE_LEN + FP__WIRE_MAC_LEN;
        break;
    case FP__WIRE_GOODBYE:
    case FP__WIRE_ERROR:
    case FP__WIRE_ACK:
        if (msg->u.text.index > FP__WIRE_MAX_INDEX_BASE)
            return cfail(&c, "executor index %" PRIu32 " exceeds %u",
                         msg->u.text.index, (unsigned)FP__WIRE_MAX_INDEX_BASE);
        plen = msg->u.text.message_len;
        break;
    case FP__WIRE_MODULE_OFFER:
        if (msg->u.module.name_len > FP__WIRE_MODULE_NAME_MAX)
            return cfail(&c, "module name length %zu exceeds %d",
                         msg->u.module.name_len, FP__WIRE_MODULE_NAME_MAX);
        plen = FP__WIRE_SHA256_LEN + msg->u.module.name_len;
        break;
    case FP__WIRE_MODULE_DATA:
        plen = msg->u.module.size;
        break;
    case FP__WIRE_MODULE_REPLY:
        plen = msg->u.module.message_len;
        break;
    case FP__WIRE_POOL_OPEN:
        if (msg->u.pool_open.index_base > FP__WIRE_MAX_INDEX_BASE)
            return cfail(&c, "index base %" PRIu32 " exceeds %u",
                         msg->u.pool_open.index_base,
                         (unsigned)FP__WIRE_MAX_INDEX_BASE);
        if (msg->u.pool_open.worker_class_len > FP__WIRE_NAME_MAX)
            return cfail(&c, "worker class name length %zu exceeds %d",
                         msg->u.pool_open.worker_class_len, FP__WIRE_NAME_MAX);
        (void)pad8(msg->u.pool_open.worker_class_len, &plen);
        if (!bulk && __builtin_add_overflow(plen, msg->u.pool_open.init_len,
                                            &plen))
            return cfail(&c, "init data length overflows");
        break;
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_RESULT_BATCH:
        plen = msg->u.batch.records_len;
        break;
    case FP__WIRE_CANCEL:
        plen = (uint64_t)msg->u.batch.count * FP__WIRE_CANCEL_ENTRY;
        break;
    case FP__WIRE_UPDATE:
        plen = bulk ? 0 : msg->u.update.total;
        break;
    case FP__WIRE_BULK:
        plen = msg->u.bulk.len;
        break;
    case FP__WIRE_EXEC_MSG:
    case FP__WIRE_CLIENT_MSG:
        plen = msg->u.emsg.len;
        break;
    case FP__WIRE_SRV_REGISTER:
    case FP__WIRE_SRV_EVENT:
        if (msg->u.srv.address_len > 255 || msg->u.srv.host_len > 255 ||
            msg->u.srv.reason_len > 255)
            return cfail(&c, "a string is longer than 255 bytes");
        plen = msg->u.srv.address_len + msg->u.srv.host_len +
               msg->u.srv.reason_len;
        break;
    default:
        break;
    }
    if (plen > UINT32_MAX)
        return cfail(&c,
                     "payload of %" PRIu64
                     " bytes does not fit one message (max 2^32-1)",
                     plen);
    if (hdr_len_p)
        *hdr_len_p = ti->hdr_len;
    if (payload_len_p)
        *payload_len_p = (size_t)plen;
    return FP_OK;
}

static void write_header(uint8_t *h, const fp__wire_msg_t *m, size_t hlen,
                         size_t plen)
{
    const uint8_t type = m->hdr.type;
    memset(h, 0, hlen);
    st32(h, FP__WIRE_MAGIC);
    h[4] = type == FP__WIRE_HELLO ? FP__WIRE_HELLO_VERSION
           : m->hdr.version        ? m->hdr.version
                                   : FP__WIRE_VERSION;
    h[5] = type;
    st16(h + 6, m->hdr.flags);
    st16(h + 8, (uint16_t)hlen);
    st32(h + 12, (uint32_t)plen);
    st32(h + 16, m->hdr.seq);
    st32(h + 20, m->hdr.pool);
    st64(h + 24, m->hdr.route);
    uint8_t *f = h + FP__WIRE_COMMON_SIZE;
    switch (type) {
    case FP__WIRE_HELLO:
        f[0] = m->u.hello.version_min;
        f[1] = m->u.hello.version_max;
        f[2] = m->u.hello.role;
        f[3] = (uint8_t)m->u.hello.id_len;
        st32(f + 4, m->u.hello.executors);
        st64(f + 8, m->u.hello.instance);
        st64(f + 16, m->u.hello.route);
        break;
    case FP__WIRE_HEARTBEAT:
        st64(f, m->u.heartbeat.hb_seq);
        st64(f + 8, m->u.heartbeat.send_time_ns);
        break;
    case FP__WIRE_GOODBYE:
        f[0] = m->u.text.reason;
        break;
    case FP__WIRE_ERROR:
        sti32(f, m->u.text.status);
        st32(f + 4, m->u.text.ref_seq);
        f[8] = m->u.text.ref_type;
        break;
    case FP__WIRE_ACK:
        sti32(f, m->u.text.status);
        f[4] = m->u.text.ref_type;
        f[5] = (uint8_t)(m->u.text.index & 0xff);
        st16(f + 6, (uint16_t)(m->u.text.index >> 8));
        st64(f + 8, m->u.text.ref);
        break;
    case FP__WIRE_MODULE_OFFER:
    case FP__WIRE_MODULE_DATA:
        st64(f, m->u.module.id);
        st64(f + 8, m->u.module.size);
        break;
    case FP__WIRE_MODULE_REPLY:
        st64(f, m->u.module.id);
        sti32(f + 8, m->u.module.status);
        f[12] = m->u.module.answer;
        break;
    case FP__WIRE_POOL_OPEN:
        st32(f, m->u.pool_open.executors);
        f[4] = (uint8_t)m->u.pool_open.worker_class_len;
        f[5] = (uint8_t)(m->u.pool_open.index_base & 0xff);
        st16(f + 6, (uint16_t)(m->u.pool_open.index_base >> 8));
        st64(f + 8, m->u.pool_open.init_len);
        break;
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_RESULT_BATCH:
    case FP__WIRE_CANCEL:
        st32(f, m->u.batch.count);
        break;
    case FP__WIRE_UPDATE:
        st64(f, m->u.update.update_seq);
        st64(f + 8, m->u.update.total);
        break;
    case FP__WIRE_BULK:
        st64(f, m->u.bulk.task_id);
        st32(f + 8, m->u.bulk.attempt);
        f[12] = m->u.bulk.kind;
        f[13] = m->u.bulk.index;
        st64(f + 16, m->u.bulk.offset);
        st64(f + 24, m->u.bulk.total);
        break;
    case FP__WIRE_EXEC_MSG:
    case FP__WIRE_CLIENT_MSG:
        st32(f, m->u.emsg.executor);
        break;
    case FP__WIRE_SRV_REGISTER:
        st32(f, m->u.srv.executors);
        st32(f + 4, m->u.srv.gpus);
        st32(f + 8, m->u.srv.busy);
        st32(f + 12, m->u.srv.queued);
        f[16] = (uint8_t)m->u.srv.address_len;
        f[17] = (uint8_t)m->u.srv.host_len;
        break;
    case FP__WIRE_SRV_EVENT:
        f[0] = m->u.srv.kind;
        f[1] = (uint8_t)m->u.srv.address_len;
        f[2] = (uint8_t)m->u.srv.host_len;
        f[3] = (uint8_t)m->u.srv.reason_len;
        st32(f + 4, m->u.srv.executors);
        st32(f + 8, m->u.srv.gpus);
        st32(f + 12, m->u.srv.busy);
        st32(f + 16, m->u.srv.queued);
        st32(f + 20, m->u.srv.count);
        break;
    default:
        break;
    }
}

/* memcpy that tolerates (NULL, 0) and refuses (NULL, n > 0). */
static bool copy_in(uint8_t *dst, const void *src, size_t n)
{
    if (n == 0)
        return true;
    if (src == NULL)
        return false;
    memcpy(dst, src, n);
    return true;
}

static fp_status_t write_payload(const ctx_t *c, uint8_t *p,
                                 const fp__wire_msg_t *m, size_t plen)
{
    bool ok = true;
    memset(p, 0, plen);
    switch (m->hdr.type) {
    case FP__WIRE_HELLO:
        ok = copy_in(p, m->u.hello.nonce, FP__WIRE_NONCE_LEN) &&
             copy_in(p + FP__WIRE_NONCE_LEN, m->u.hello.id, m->u.hello.id_len);
        break;
    case FP__WIRE_AUTH:
        ok = copy_in(p, m->u.auth.nonce_echo, FP__WIRE_NONCE_LEN) &&
             copy_in(p + FP__WIRE_NONCE_LEN, m->u.auth.mac, FP__WIRE_MAC_LEN);
        break;
    case FP__WIRE_GOODBYE:
    case FP__WIRE_ERROR:
    case FP__WIRE_ACK:
        ok = copy_in(p, m->u.text.message, plen);
        break;
    case FP__WIRE_MODULE_OFFER:
        ok = copy_in(p, m->u.module.sha256, FP__WIRE_SHA256_LEN) &&
             copy_in(p + FP__WIRE_SHA256_LEN, m->u.module.name,
                     m->u.module.name_len);
        break;
    case FP__WIRE_MODULE_DATA:
        ok = copy_in(p, m->u.module.data, plen);
        break;
    case FP__WIRE_MODULE_REPLY:
        ok = copy_in(p, m->u.module.message, plen);
        break;
    case FP__WIRE_POOL_OPEN: {
        uint64_t padded;
        (void)pad8(m->u.pool_open.worker_class_len, &padded);
        ok = copy_in(p, m->u.pool_open.worker_class,
                     m->u.pool_open.worker_class_len) &&
             copy_in(p + padded, m->u.pool_open.init_data,
                     plen - (size_t)padded);
        break;
    }
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_RESULT_BATCH:
    case FP__WIRE_CANCEL:
        ok = copy_in(p, m->u.batch.records, plen);
        break;
    case FP__WIRE_UPDATE:
        ok = copy_in(p, m->u.update.data, plen);
        break;
    case FP__WIRE_BULK:
        ok = copy_in(p, m->u.bulk.data, plen);
        break;
    case FP__WIRE_EXEC_MSG:
    case FP__WIRE_CLIENT_MSG:
        ok = copy_in(p, m->u.emsg.data, plen);
        break;
    case FP__WIRE_SRV_REGISTER:
    case FP__WIRE_SRV_EVENT: {
        const fp__wire_srv_t *v = &m->u.srv;
        ok = copy_in(p, v->address, v->address_len) &&
             copy_in(p + v->address_len, v->host, v->host_len) &&
             copy_in(p + v->address_len + v->host_len, v->reason,
                     v->reason_len);
        break;
    }
    default:
        break;
    }
    if (!ok)
        return cfail(c, "a payload pointer is NULL with a non-zero length");
    return FP_OK;
}

fp_status_t fp__wire_encode(void *buf, size_t cap, const fp__wire_msg_t *msg,
                            size_t *len_p, char *reason, size_t reason_size)
{
    size_t hlen = 0, plen = 0, total;
    fp_status_t st = fp__wire_size(msg, &hlen, &plen, reason, reason_size);
    if (st != FP_OK)
        return st;
    if (__builtin_add_overflow(hlen, plen, &total))
        return fail(FP_ERR_INVALID, reason, reason_size, "size overflows");
    if (buf == NULL || cap < total)
        return fail(FP_ERR_OVERFLOW, reason, reason_size,
                    "buffer of %zu bytes is too small for the %zu-byte %s",
                    buf ? cap : 0, total, fp__wire_type_name(msg->hdr.type));
    ctx_t c = {reason, reason_size, FP_ERR_INVALID,
               fp__wire_type_name(msg->hdr.type), -1};
    uint8_t *b = buf;
    write_header(b, msg, hlen, plen);
    if ((st = write_payload(&c, b + hlen, msg, plen)) != FP_OK)
        return st;
    fp__wire_msg_t check;
    st = fp__wire_decode(b, hlen, b + hlen, plen, &check, reason, reason_size);
    if (st != FP_OK)
        return FP_ERR_INVALID;
    if (len_p)
        *len_p = total;
    return FP_OK;
}

fp_status_t fp__wire_encode_header(void *hdr, size_t cap,
                                   const fp__wire_msg_t *msg, size_t *len_p,
                                   char *reason, size_t reason_size)
{
    size_t hlen = 0, plen = 0;
    fp_status_t st = fp__wire_size(msg, &hlen, &plen, reason, reason_size);
    if (st != FP_OK)
        return st;
    if (hdr == NULL || cap < hlen)
        return fail(FP_ERR_OVERFLOW, reason, reason_size,
                    "buffer of %zu bytes is too small for the %zu-byte %s "
                    "header",
                    hdr ? cap : 0, hlen, fp__wire_type_name(msg->hdr.type));
    write_header(hdr, msg, hlen, plen);
    fp__wire_msg_t check;
    st = fp__wire_decode_header(hdr, hlen, plen, &check, reason, reason_size);
    if (st != FP_OK)
        return FP_ERR_INVALID;
    if (len_p)
        *len_p = hlen;
    return FP_OK;
}

/* ---- the batch builder ------------------------------------------------------------ */

void fp__wire_builder_init(fp__wire_builder_t *b, uint8_t type, void *buf,
                           size_t cap)
{
    b->buf = buf;
    b->cap = buf ? cap : 0;
    b->len = 0;
    b->count = 0;
    b->type = type;
}

static fp_status_t task_size(const ctx_t *c, const fp__wire_task_rec_t *r,
                             uint64_t *size_p)
{
    uint64_t size = FP__WIRE_TASK_REC_FIXED, padded;
    if (r->name_len > FP__WIRE_NAME_MAX)
        return cfail(c, "inline name length %zu exceeds %d", r->name_len,
                     FP__WIRE_NAME_MAX);
    if (r->name_len && r->name == NULL)
        return cfail(c, "inline name pointer is NULL");
    (void)pad8(r->name_len, &padded);
    size += padded;
    if (r->nargs > FP__WIRE_MAX_ARGS)
        return cfail(c, "argument count %u exceeds %d", r->nargs,
                     FP__WIRE_MAX_ARGS);
    for (unsigned i = 0; i < r->nargs; i++) {
        const fp__wire_arg_t *a = &r->args[i];
        size += FP__WIRE_ARG_DESC;
        if (a->where != FP__WIRE_WHERE_INLINE)
            continue;
        if (a->len && a->data == NULL)
            return cfail(c, "argument %u data pointer is NULL", i);
        if (!pad8(a->len, &padded) ||
            __builtin_add_overflow(size, padded, &size))
            return cfail(c, "argument %u length %" PRIu64 " overflows", i,
                         a->len);
    }
    *size_p = size;
    return FP_OK;
}

static fp_status_t result_size(const ctx_t *c, const fp__wire_result_rec_t *r,
                               uint64_t *size_p)
{
    uint64_t size = FP__WIRE_RESULT_REC_FIXED, padded;
    if (r->message_len > FP__WIRE_TEXT_MAX)
        return cfail(c, "message length %zu exceeds %d", r->message_len,
                     FP__WIRE_TEXT_MAX);
    if (r->message_len && r->message == NULL)
        return cfail(c, "message pointer is NULL");
    (void)pad8(r->message_len, &padded);
    size += padded;
    if (r->where == FP__WIRE_WHERE_INLINE) {
        if (r->len && r->data == NULL)
            return cfail(c, "result data pointer is NULL");
        if (!pad8(r->len, &padded) ||
            __builtin_add_overflow(size, padded, &size))
            return cfail(c, "result length %" PRIu64 " overflows", r->len);
    }
    *size_p = size;
    return FP_OK;
}

fp_status_t fp__wire_task_rec_size(const fp__wire_task_rec_t *rec,
                                   size_t *size_p)
{
    ctx_t c = {NULL, 0, FP_ERR_INVALID, "TASK_BATCH", -1};
    uint64_t size = 0;
    if (rec == NULL || task_size(&c, rec, &size) != FP_OK || size > SIZE_MAX)
        return FP_ERR_INVALID;
    *size_p = (size_t)size;
    return FP_OK;
}

fp_status_t fp__wire_result_rec_size(const fp__wire_result_rec_t *rec,
                                     size_t *size_p)
{
    ctx_t c = {NULL, 0, FP_ERR_INVALID, "RESULT_BATCH", -1};
    uint64_t size = 0;
    if (rec == NULL || result_size(&c, rec, &size) != FP_OK || size > SIZE_MAX)
        return FP_ERR_INVALID;
    *size_p = (size_t)size;
    return FP_OK;
}

/* Room for `size` more bytes and one more record? */
static fp_status_t builder_room(const fp__wire_builder_t *b, uint64_t size,
                                char *reason, size_t rsz)
{
    if (b->count >= FP__WIRE_MAX_RECORDS)
        return fail(FP_ERR_OVERFLOW, reason, rsz,
                    "batch already holds %d records", FP__WIRE_MAX_RECORDS);
    if (size > b->cap - b->len || size > FP__WIRE_MAX_BATCH - b->len)
        return fail(FP_ERR_OVERFLOW, reason, rsz,
                    "record of %" PRIu64 " bytes does not fit: %zu of %zu "
                    "bytes used",
                    size, b->len,
                    b->cap < FP__WIRE_MAX_BATCH ? b->cap
                                                : (size_t)FP__WIRE_MAX_BATCH);
    return FP_OK;
}

fp_status_t fp__wire_builder_add_task(fp__wire_builder_t *b,
                                      const fp__wire_task_rec_t *r,
                                      char *reason, size_t reason_size)
{
    if (b == NULL || r == NULL || b->type != FP__WIRE_TASK_BATCH)
        return fail(FP_ERR_INVALID, reason, reason_size,
                    "not a TASK_BATCH builder");
    ctx_t c = {reason, reason_size, FP_ERR_INVALID, "TASK_BATCH",
               (long)b->count};
    uint64_t size = 0;
    fp_status_t st = task_size(&c, r, &size);
    if (st != FP_OK)
        return st;
    if ((st = builder_room(b, size, reason, reason_size)) != FP_OK)
        return st;

    uint8_t *p = b->buf + b->len;
    memset(p, 0, (size_t)size);
    st64(p, r->task_id);
    st32(p + 8, r->attempt);
    p[12] = r->kind;
    p[13] = r->nargs;
    p[14] = r->name_len ? NAME_INLINE : 0;
    p[15] = (uint8_t)r->name_len;
    st16(p + 16, r->name_idx);
    st32(p + 20, r->out_elem_size);
    st64(p + 24, r->start);
    st32(p + 32, r->count);
    size_t off = FP__WIRE_TASK_REC_FIXED;
    uint64_t padded;
    if (r->name_len) {
        memcpy(p + off, r->name, r->name_len);
        (void)pad8(r->name_len, &padded);
        off += (size_t)padded;
    }
    for (unsigned i = 0; i < r->nargs; i++) {
        const fp__wire_arg_t *a = &r->args[i];
        st64(p + off, a->len);
        st32(p + off + 8, a->elem_size);
        p[off + 12] = a->where;
        off += FP__WIRE_ARG_DESC;
        if (a->where == FP__WIRE_WHERE_INLINE) {
            if (a->len)
                memcpy(p + off, a->data, (size_t)a->len);
            (void)pad8(a->len, &padded);
            off += (size_t)padded;
        }
    }
    fp__wire_task_rec_t check;
    size_t used;
    if ((st = parse_task(&c, p, (size_t)size, &check, &used)) != FP_OK)
        return st;
    if (used != size)
        return cfail(&c, "record layout mismatch"); /* cannot happen */
    b->len += (size_t)size;
    b->count++;
    return FP_OK;
}

fp_status_t fp__wire_builder_add_result(fp__wire_builder_t *b,
                                        const fp__wire_result_rec_t *r,
                                        char *reason, size_t reason_size)
{
    if (b == NULL || r == NULL || b->type != FP__WIRE_RESULT_BATCH)
        return fail(FP_ERR_INVALID, reason, reason_size,
                    "not a RESULT_BATCH builder");
    ctx_t c = {reason, reason_size, FP_ERR_INVALID, "RESULT_BATCH",
               (long)b->count};
    uint64_t size = 0;
    fp_status_t st = result_size(&c, r, &size);
    if (st != FP_OK)
        return st;
    if ((st = builder_room(b, size, reason, reason_size)) != FP_OK)
        return st;

    uint8_t *p = b->buf + b->len;
    memset(p, 0, (size_t)size);
    st64(p, r->task_id);
    st32(p + 8, r->attempt);
    sti32(p + 12, r->status);
    st64(p + 16, r->start);
    st32(p + 24, r->count);
    p[28] = (uint8_t)r->message_len;
    p[29] = r->where;
    st64(p + 32, r->len);
    size_t off = FP__WIRE_RESULT_REC_FIXED;
    uint64_t padded;
    if (r->message_len) {
        memcpy(p + off, r->message, r->message_len);
        (void)pad8(r->message_len, &padded);
        off += (size_t)padded;
    }
    if (r->where == FP__WIRE_WHERE_INLINE && r->len)
        memcpy(p + off, r->data, (size_t)r->len);
    fp__wire_result_rec_t check;
    size_t used;
    if ((st = parse_result(&c, p, (size_t)size, &check, &used)) != FP_OK)
        return st;
    if (used != size)
        return cfail(&c, "record layout mismatch"); /* cannot happen */
    b->len += (size_t)size;
    b->count++;
    return FP_OK;
}

void fp__wire_builder_finish(const fp__wire_builder_t *b, fp__wire_msg_t *msg)
{
    msg->hdr.type = b->type;
    msg->u.batch.count = b->count;
    msg->u.batch.records = b->buf;
    msg->u.batch.records_len = b->len;
}

/* ---- helpers ------------------------------------------------------------------------ */

fp_status_t fp__wire_negotiate(uint8_t our_min, uint8_t our_max,
                               uint8_t peer_min, uint8_t peer_max,
                               uint8_t *version_p)
{
    uint8_t lo = our_min > peer_min ? our_min : peer_min;
    uint8_t hi = our_max < peer_max ? our_max : peer_max;
    if (lo > hi || hi == 0)
        return FP_ERR_UNSUPPORTED;
    *version_p = hi;
    return FP_OK;
}

bool fp__wire_sender_ok(uint8_t role, const fp__wire_msg_t *msg)
{
    if (msg == NULL)
        return false;
    uint8_t type = msg->hdr.type;
    if (type == FP__WIRE_MODULE_OFFER || type == FP__WIRE_MODULE_DATA)
        return role == FP__WIRE_ROLE_CLIENT;
    if (type == FP__WIRE_MODULE_REPLY)
        return role == FP__WIRE_ROLE_NODE;
    if (type == FP__WIRE_SRV_REGISTER)
        return role == FP__WIRE_ROLE_NODE;
    if (type == FP__WIRE_SRV_SUBSCRIBE)
        return role == FP__WIRE_ROLE_CLIENT;
    if (type == FP__WIRE_SRV_EVENT)
        return role == FP__WIRE_ROLE_SERVER;
    if (!pool_scoped(type))
        return type_info(type) != NULL;
    switch (type) {
    case FP__WIRE_POOL_OPEN:
    case FP__WIRE_POOL_CLOSE:
    case FP__WIRE_TASK_BATCH:
    case FP__WIRE_CANCEL:
    case FP__WIRE_UPDATE:
    case FP__WIRE_EXEC_MSG:
        return role == FP__WIRE_ROLE_CLIENT;
    case FP__WIRE_ACK:
    case FP__WIRE_RESULT_BATCH:
    case FP__WIRE_CLIENT_MSG:
        return role == FP__WIRE_ROLE_NODE;
    case FP__WIRE_BULK:
        return msg->u.bulk.kind == FP__WIRE_BULK_RESULT
                   ? role == FP__WIRE_ROLE_NODE
                   : role == FP__WIRE_ROLE_CLIENT;
    default:
        return false;
    }
}
