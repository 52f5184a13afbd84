/*
 * Connection authentication (internal): the pool secret and the mutual
 * challenge-response handshake.  Pure functions: no sockets, no global
 * mutable state.  The cryptography is OpenSSL libcrypto's (HKDF-SHA256,
 * HMAC-SHA256, RAND_bytes, CRYPTO_memcmp, OPENSSL_cleanse); nothing here is
 * hand-rolled.
 *
 * ---- The handshake -------------------------------------------------------
 *
 * Each connection side keeps one fp__auth_t.  Messages (their framing is the
 * wire protocol's business; this module only produces and checks the bytes):
 *
 *   1. HELLO, both directions: the sender's 32-byte nonce (fresh from
 *      RAND_bytes for every connection) and its id (0..FP__AUTH_ID_MAX bytes,
 *      e.g. "client:host:pid" or a node id).
 *        fp__auth_init(&st, role, secret, my_id, ...);  // makes the nonce
 *        send HELLO{ fp__auth_my_nonce(&st), my_id }
 *        on HELLO{ n, id }: fp__auth_set_peer(&st, n, id, ...)
 *   2. PROOF, both directions: 32 bytes,
 *        HMAC-SHA256(K, label || version || Nc || Ns || Ic || Is)
 *      where Nc/Ns are the client's/server's nonces and Ic/Is their ids,
 *      each id preceded by its 16-bit big-endian length (so the split between
 *      ids is unambiguous), the version a 16-bit big-endian
 *      FP__AUTH_PROTOCOL_VERSION, and the label a length-prefixed string
 *      that differs by the PROVER's role ("fastpool-auth v1 client proof" vs
 *      "... server proof"): a proof reflected back at its sender never
 *      verifies.  K is derived from the pool secret (fp__auth_secret_load).
 *        fp__auth_make_proof(&st, out, ...); send PROOF{ out }
 *        on PROOF{ p }: fp__auth_check_proof(&st, p, ...)
 *   3. Each side accepts no other message from the peer until its
 *      fp__auth_check_proof returned FP_OK; on any failure it closes the
 *      connection (logging the error text).  A peer that sends anything but
 *      HELLO then PROOF first is closed too.
 *
 * Because both nonces enter every MAC, a proof recorded from one connection
 * is worthless on another (fresh nonces); because both ids enter it, a proof
 * cannot be moved to a different claimed identity.  A peer nonce that is all
 * zeros or equal to our own nonce (our HELLO reflected back) is refused at
 * fp__auth_set_peer.  The two proofs may be made and checked in either order
 * (both sides may send theirs as soon as they have the peer's HELLO).  When
 * the side has both made its proof and checked the peer's, or on any
 * failure, the state is wiped (OPENSSL_cleanse); fp__auth_clear wipes it on
 * an abort.
 *
 * Scope: this authenticates the two ends to each other at connection start.
 * By itself it does not encrypt or integrity-protect later traffic, so an
 * attacker who can already rewrite packets on the path could take over an
 * authenticated connection: on untrusted networks turn on encryption
 * (FP_ENCRYPT=1; fp__auth_session_keys and transport/crypt.h), which seals
 * every later message with keys derived here.  Anyone who records a
 * handshake can test guesses of the secret offline, so the secret must be
 * random (e.g. `head -c 32 /dev/urandom | base64 > secret; chmod 600
 * secret`), not a password.
 *
 * ---- The secret ------------------------------------------------------------
 *
 * fp__auth_secret_load(path, ...) takes the first of:
 *   path (if not NULL) > $FP_SECRET_FILE > $FP_SECRET (the secret itself).
 * Empty variables count as unset.  A file must be a regular file (not a
 * symlink: it is opened with O_NOFOLLOW), owned by the effective user, with
 * no permission bits for group or others (mode & 077 == 0), and hold
 * FP__AUTH_SECRET_MIN..FP__AUTH_SECRET_MAX bytes; one trailing newline is
 * stripped.  All checks are made on the opened descriptor (fstat), so there
 * is no window between check and use.
 *
 * Errors: every fallible function takes (err, errlen), a caller buffer that
 * receives a one-line human-readable reason (may be NULL/0).  Status codes:
 *   FP_ERR_CONFIG  missing, unsafe or malformed secret source
 *   FP_ERR_IO      reading the secret file failed
 *   FP_ERR_SYSTEM  libcrypto failed (RAND_bytes, HKDF, HMAC); its reason
 *                  is in the message
 *   FP_ERR_NOMEM   allocation failed
 *   FP_ERR_AUTH    the peer failed: wrong MAC, bad nonce, bad id
 *   FP_ERR_STATE   call out of order (proof before HELLO, reuse after the
 *                  handshake finished or failed, second set_peer, ...)
 *   FP_ERR_INVALID bad arguments (NULL, unknown role, id too long)
 */
#ifndef FP_TRANSPORT_AUTH_H
#define FP_TRANSPORT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FP__AUTH_PROTOCOL_VERSION 1
#define FP__AUTH_NONCE_LEN 32 /* bytes in a HELLO nonce */
#define FP__AUTH_MAC_LEN 32   /* bytes in a PROOF (HMAC-SHA256) */
#define FP__AUTH_KEY_LEN 32   /* bytes of derived HMAC key */
#define FP__AUTH_ID_MAX 255   /* largest id, in bytes */
#define FP__AUTH_SECRET_MIN 16
#define FP__AUTH_SECRET_MAX 4096 /* also the largest secret file, in bytes */

/* ---- the pool secret ------------------------------------------------------ */

typedef struct fp__auth_secret fp__auth_secret_t; /* opaque */

/* Load the pool secret from `path` (may be NULL), else $FP_SECRET_FILE, else
 * $FP_SECRET (precedence and checks: see above).  On FP_OK *secret_p holds a
 * new secret to release with fp__auth_secret_free; on error it is NULL. */
fp_status_t fp__auth_secret_load(const char *path, fp__auth_secret_t **secret_p,
                                 char *err, size_t errlen);

/* A secret from bytes in memory (FP__AUTH_SECRET_MIN..MAX of them), for
 * callers that got it some other way.  `source` names it in
 * fp__auth_secret_source (NULL: "memory"). */
fp_status_t fp__auth_secret_from_bytes(const void *bytes, size_t len,
                                       const char *source,
                                       fp__auth_secret_t **secret_p, char *err,
                                       size_t errlen);

/* A secret from its derived key (FP__AUTH_KEY_LEN bytes), a random one, and
 * the key of a secret (into `key`, FP__AUTH_KEY_LEN bytes): how a client
 * hands its secret to a node it starts over SSH, on the SSH channel. */
fp_status_t fp__auth_secret_from_key(const unsigned char *key,
                                     const char *source,
                                     fp__auth_secret_t **secret_p);
fp_status_t fp__auth_secret_random(const char *source,
                                   fp__auth_secret_t **secret_p);
void fp__auth_secret_key(const fp__auth_secret_t *secret, unsigned char *key);

/* Where the secret came from, for logs: "file /path", "FP_SECRET_FILE
 * /path", "FP_SECRET" or the `source` given.  Never the secret itself. */
const char *fp__auth_secret_source(const fp__auth_secret_t *secret);

/* Wipe (OPENSSL_cleanse) and free.  NULL is allowed. */
void fp__auth_secret_free(fp__auth_secret_t *secret);

/* ---- the handshake --------------------------------------------------------- */

typedef enum fp__auth_role {
    FP__AUTH_CLIENT = 1, /* the side that connected */
    FP__AUTH_SERVER = 2, /* the side that accepted */
} fp__auth_role_t;

/* One connection side's handshake state.  Caller-allocated (on the stack or
 * in the connection); fields are private.  A zeroed struct is "not
 * initialised" and every call but fp__auth_init refuses it. */
typedef struct fp__auth {
    uint32_t phase;
    uint32_t role;
    bool proof_made;
    bool proof_checked;
    uint16_t my_id_len;
    uint16_t peer_id_len;
    unsigned char key[FP__AUTH_KEY_LEN];
    unsigned char my_nonce[FP__AUTH_NONCE_LEN];
    unsigned char peer_nonce[FP__AUTH_NONCE_LEN];
    unsigned char my_id[FP__AUTH_ID_MAX];
    unsigned char peer_id[FP__AUTH_ID_MAX];
} fp__auth_t;

/* Start one side of a handshake: copies the derived key out of `secret` (the
 * secret may be freed afterwards), copies `my_id`, and draws this side's
 * nonce.  Overwrites (and wipes) whatever `st` held. */
fp_status_t fp__auth_init(fp__auth_t *st, fp__auth_role_t role,
                          const fp__auth_secret_t *secret, const void *my_id,
                          size_t my_id_len, char *err, size_t errlen);

/* This side's nonce (FP__AUTH_NONCE_LEN bytes) for its HELLO; NULL unless
 * the state is initialised and not yet finished. */
const unsigned char *fp__auth_my_nonce(const fp__auth_t *st);

/* Record the peer's HELLO.  FP_ERR_AUTH (and the state is wiped) for an
 * all-zero nonce, our own nonce reflected back, or an id longer than
 * FP__AUTH_ID_MAX; FP_ERR_STATE if called twice. */
fp_status_t fp__auth_set_peer(fp__auth_t *st,
                              const unsigned char peer_nonce[FP__AUTH_NONCE_LEN],
                              const void *peer_id, size_t peer_id_len,
                              char *err, size_t errlen);

/* This side's proof (FP__AUTH_MAC_LEN bytes) into `out`; once per state,
 * after fp__auth_set_peer. */
fp_status_t fp__auth_make_proof(fp__auth_t *st,
                                unsigned char out[FP__AUTH_MAC_LEN], char *err,
                                size_t errlen);

/* Verify the peer's proof, in constant time; once per state, after
 * fp__auth_set_peer.  FP_ERR_AUTH ("peer failed authentication: wrong pool
 * secret (MAC mismatch)") on a mismatch, after which the state is wiped and
 * every further call but init/clear fails. */
fp_status_t fp__auth_check_proof(fp__auth_t *st,
                                 const unsigned char in[FP__AUTH_MAC_LEN],
                                 char *err, size_t errlen);

/* True once the peer's proof has been checked and was right (stays true
 * after the state is wiped on completion). */
bool fp__auth_peer_verified(const fp__auth_t *st);

/* True once this side has made its proof and verified the peer's. */
bool fp__auth_done(const fp__auth_t *st);

/* Session keys for message encryption (transport/crypt.h), one per
 * direction, after fp__auth_set_peer and before the state is wiped:
 *   K_dir = HKDF-SHA256(IKM = the HMAC key K, salt = Nc || Ns,
 *                       info = "fastpool-session v1 " dir || len Ic || Ic
 *                              || len Is || Is)
 * with dir "client->server" or "server->client" (client = the initiator).
 * `send_key` is this side's sending direction's, `recv_key` the other's.
 * Fresh nonces make them fresh per connection; an attacker without the pool
 * secret cannot compute them even from a recorded handshake. */
fp_status_t fp__auth_session_keys(const fp__auth_t *st,
                                  unsigned char send_key[FP__AUTH_KEY_LEN],
                                  unsigned char recv_key[FP__AUTH_KEY_LEN],
                                  char *err, size_t errlen);

/* Wipe the state (e.g. when the connection drops mid-handshake). */
void fp__auth_clear(fp__auth_t *st);

#ifdef __cplusplus
}
#endif

#endif
