/*
 * Message encryption (internal): the AEAD record that carries one fastpool
 * message on a connection where both sides asked for encryption
 * (PROTOCOL.md §14).  Pure functions over caller-owned state: no UCX, no
 * globals.  The cryptography is OpenSSL libcrypto's (EVP AES-256-GCM);
 * the session keys come from the handshake (fp__auth_session_keys in
 * auth.c, HKDF-SHA256 over the pool secret's key and both nonces).
 *
 * ---- The record ------------------------------------------------------------
 *
 * A sealed message is one UCX active message whose AM header is
 *
 *   envelope (24 bytes, clear, authenticated):
 *     0  u32  magic 0x45575046 ("FPWE": an encrypted record)
 *     4  u8   hdr_len: the sealed fastpool header's length, 32..64
 *     5  3    reserved, 0
 *     8  u64  counter: the sender's message counter in this direction,
 *             1, 2, 3...; never repeats under one key
 *     16 u64  route: the receiver's route token (PROTOCOL.md §3.1)
 *   the fastpool header, encrypted (hdr_len bytes)
 *   its tag (16 bytes)
 *   the payload's tag (16 bytes), only when the payload is not empty
 *
 * and whose AM data is the payload, encrypted (same length as the clear
 * payload, so a rendezvous payload lands in a buffer of exactly the size
 * the clear header announces, and is decrypted there in place).
 *
 * Header and payload are two AEAD operations under the direction's key
 * with the nonces  be32(part) || le64(counter)  (part 0 the header, 1 the
 * payload), both with the envelope as additional data: a header opens
 * before its rendezvous payload has arrived, so the receiver picks the
 * destination from an authenticated header; a payload moved under another
 * message's header fails (another counter, another nonce).
 *
 * Replay: the receiver keeps the highest counter it accepted and a window
 * of FP__CRYPT_WINDOW counters below it (a bitmap).  A counter seen
 * before is a duplicate (FP_ERR_EXISTS from fp__crypt_open_header: drop
 * it); one below the window cannot be told from a replay nor safely
 * dropped (FP_ERR_AUTH: close).  A window rather than strict order
 * because UCX may hand active messages of one endpoint to the receiver out
 * of order when they travel on different lanes (eager vs rendezvous).
 */
#ifndef FP_TRANSPORT_CRYPT_H
#define FP_TRANSPORT_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP__CRYPT_KEY_LEN 32 /* AES-256 */
#define FP__CRYPT_TAG_LEN 16
#define FP__CRYPT_ENV_LEN 24
#define FP__CRYPT_MAGIC 0x45575046u /* "FPWE" little-endian */
#define FP__CRYPT_HDR_MIN 32
#define FP__CRYPT_HDR_MAX 64
/* the largest AM header of a sealed message: 24 + 64 + 16 + 16 */
#define FP__CRYPT_AM_HEADER_MAX                                                \
    (FP__CRYPT_ENV_LEN + FP__CRYPT_HDR_MAX + 2 * FP__CRYPT_TAG_LEN)
#define FP__CRYPT_WINDOW 1024 /* counters remembered below the highest */

/* One connection's encryption state: a key per direction, the send
 * counter, the replay window.  Zeroed: not initialised. */
typedef struct fp__crypt {
    void *seal_ctx, *open_ctx; /* EVP_CIPHER_CTX, keyed */
    uint64_t send_ctr;         /* the last counter sealed */
    uint64_t recv_top;         /* the highest counter accepted */
    uint64_t window[FP__CRYPT_WINDOW / 64]; /* bit i: recv_top - i seen */
} fp__crypt_t;

/* Key both directions (the keys are copied into OpenSSL's contexts and may
 * be wiped afterwards).  FP_ERR_SYSTEM with libcrypto's reason. */
fp_status_t fp__crypt_init(fp__crypt_t *cr,
                           const unsigned char send_key[FP__CRYPT_KEY_LEN],
                           const unsigned char recv_key[FP__CRYPT_KEY_LEN],
                           char *err, size_t errlen);
/* Free the contexts (which wipe their keys); zeroes the state. */
void fp__crypt_fini(fp__crypt_t *cr);
bool fp__crypt_ready(const fp__crypt_t *cr);

/* True if the AM header is a sealed record's (magic and plausible size). */
bool fp__crypt_is_sealed(const void *am_hdr, size_t am_hl);
/* The route of a sealed record (fp__crypt_is_sealed first). */
uint64_t fp__crypt_peek_route(const void *am_hdr);

/* Seal one message: the clear fastpool header `hdr` (hl bytes, 32..64) and
 * payload (len bytes) into `am_hdr` (FP__CRYPT_AM_HEADER_MAX bytes; its
 * length to *am_hl) and `out` (len bytes; may be `payload` itself).  Takes
 * the next counter.  FP_ERR_OVERFLOW when the counter is spent (2^64 - 1
 * messages), FP_ERR_INVALID for bad sizes, FP_ERR_SYSTEM from libcrypto. */
fp_status_t fp__crypt_seal(fp__crypt_t *cr, uint64_t route, const void *hdr,
                           size_t hl, const void *payload, size_t len,
                           void *out, unsigned char *am_hdr, size_t *am_hl,
                           char *err, size_t errlen);

/* Open a sealed record's header (AM header `am_hdr`, am_hl bytes; the AM
 * data is `data_len` bytes): checks the layout and the replay window,
 * decrypts and authenticates the header into `hdr` (FP__CRYPT_HDR_MAX
 * bytes; its length to *hl), marks the counter seen, and gives the counter
 * and the payload's tag (zeros when data_len is 0) for
 * fp__crypt_open_payload.  FP_ERR_EXISTS: a duplicate (drop it, nothing
 * else is wrong); FP_ERR_AUTH: altered, forged, or older than the window
 * (close); FP_ERR_PROTOCOL: not a well-formed record.  `err` says which. */
fp_status_t fp__crypt_open_header(fp__crypt_t *cr, const void *am_hdr,
                                  size_t am_hl, size_t data_len,
                                  unsigned char *hdr, size_t *hl,
                                  uint64_t *ctr_p,
                                  unsigned char ptag[FP__CRYPT_TAG_LEN],
                                  char *err, size_t errlen);

/* Decrypt and authenticate a payload (len bytes at `in`, into `out`; may be
 * the same buffer) of the record whose header gave `ctr`, `ptag` and
 * `env` (the record's first FP__CRYPT_ENV_LEN bytes).  FP_ERR_AUTH
 * ("message failed authentication (altered on the path?)") on a mismatch;
 * `out` then holds garbage. */
fp_status_t fp__crypt_open_payload(fp__crypt_t *cr,
                                   const unsigned char env[FP__CRYPT_ENV_LEN],
                                   uint64_t ctr,
                                   const unsigned char ptag[FP__CRYPT_TAG_LEN],
                                   const void *in, size_t len, void *out,
                                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
