/*
 * Connection authentication: pool secret loading and the mutual HMAC
 * challenge-response handshake.  The design note (message sequence, MAC
 * input, what is and is not protected) is at the top of auth.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv; the build defines it too */
#endif

#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* Phases of fp__auth_t.  Zero is "not initialised"; the others are distinct
 * non-small values so that stale or garbage memory is unlikely to pass. */
enum {
    PHASE_NONE = 0,
    PHASE_STARTED = 0x41550001u, /* nonce drawn, waiting for the peer's HELLO */
    PHASE_PEER = 0x41550002u,    /* peer HELLO recorded: proofs can be made */
    PHASE_DONE = 0x41550003u,    /* proof made and peer verified; wiped */
    PHASE_FAILED = 0x41550004u,  /* a check failed; wiped */
};

/* The two proof labels differ only by the prover's role: a proof made by one
 * role never verifies as the other's (no reflection). */
static const char LABEL_CLIENT[] = "fastpool-auth v1 client proof";
static const char LABEL_SERVER[] = "fastpool-auth v1 server proof";

/* HKDF parameters: the fixed salt and info give this key its own domain. */
static const char HKDF_SALT[] = "fastpool pool secret";
static const char HKDF_INFO[] = "fastpool-auth v1 hmac-sha256 key";

struct fp__auth_secret {
    unsigned char key[FP__AUTH_KEY_LEN];
    size_t alloc_size; /* of the whole struct, for OPENSSL_clear_free */
    char source[];     /* where it came from, for logs */
};

/* ---- helpers ---------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* FP_ERR_SYSTEM with "<what> failed: <libcrypto's reason>"; drains the
 * (thread-local) OpenSSL error queue. */
static fp_status_t crypto_fail(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[256];
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "no reason given");
    ERR_clear_error();
    set_err(err, errlen, "%s failed: %s", what, reason);
    return FP_ERR_SYSTEM;
}

/*
 * The HMAC key is HKDF-SHA256(secret, fixed salt, fixed info), not the raw
 * secret.  HMAC would accept the raw secret as a key (any length), and HKDF
 * adds no strength to a weak secret; what it buys is (1) domain separation:
 * if the same pool secret ever keys something else (another protocol
 * version, a cookie, an encryption key), those keys are independent of this
 * one, and the version in the info string changes the key if the protocol
 * changes; (2) a fixed 32-byte key, so the raw secret (up to 4 KiB) is
 * wiped right after loading and only the derived key is kept in memory.  It
 * costs one HKDF per secret load, not per connection.
 */
static fp_status_t derive_key(const unsigned char *secret, size_t len,
                              unsigned char key[FP__AUTH_KEY_LEN], char *err,
                              size_t errlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL)
        return crypto_fail(err, errlen, "EVP_KDF_fetch(HKDF)");
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return crypto_fail(err, errlen, "EVP_KDF_CTX_new");

    OSSL_PARAM params[5];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *)secret, len);
    params[2] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, (void *)HKDF_SALT, sizeof(HKDF_SALT) - 1);
    params[3] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, (void *)HKDF_INFO, sizeof(HKDF_INFO) - 1);
    params[4] = OSSL_PARAM_construct_end();

    fp_status_t st = FP_OK;
    if (EVP_KDF_derive(kctx, key, FP__AUTH_KEY_LEN, params) <= 0) {
        OPENSSL_cleanse(key, FP__AUTH_KEY_LEN);
        st = crypto_fail(err, errlen, "HKDF-SHA256 key derivation");
    }
    EVP_KDF_CTX_free(kctx); /* the provider wipes its copy of the key */
    return st;
}

/* A new secret from `len` raw bytes; `what` names the source in messages
 * ("pool secret in FP_SECRET"), `source` in fp__auth_secret_source. */
static fp_status_t make_secret(const unsigned char *bytes, size_t len,
                               const char *what, const char *source,
                               fp__auth_secret_t **secret_p, char *err,
                               size_t errlen)
{
    if (len == 0) {
        set_err(err, errlen, "%s is empty", what);
        return FP_ERR_CONFIG;
    }
    if (len < FP__AUTH_SECRET_MIN) {
        set_err(err, errlen,
                "%s is too short (%zu bytes; at least %d random bytes are "
                "needed)",
                what, len, FP__AUTH_SECRET_MIN);
        return FP_ERR_CONFIG;
    }
    if (len > FP__AUTH_SECRET_MAX) {
        set_err(err, errlen, "%s is too long (%zu bytes; at most %d)", what,
                len, FP__AUTH_SECRET_MAX);
        return FP_ERR_CONFIG;
    }
    size_t srclen = strlen(source);
    size_t size = sizeof(fp__auth_secret_t) + srclen + 1;
    fp__auth_secret_t *s = OPENSSL_zalloc(size);
    if (s == NULL) {
        set_err(err, errlen, "out of memory loading the pool secret");
        return FP_ERR_NOMEM;
    }
    s->alloc_size = size;
    memcpy(s->source, source, srclen + 1);
    fp_status_t st = derive_key(bytes, len, s->key, err, errlen);
    if (st != FP_OK) {
        fp__auth_secret_free(s);
        return st;
    }
    *secret_p = s;
    return FP_OK;
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a regular file";
}

/* Load from a file.  `from` is "" for an explicit path or " (from
 * FP_SECRET_FILE)"; `srcpfx` is "file" or "FP_SECRET_FILE". */
static fp_status_t load_file(const char *path, const char *from,
                             const char *srcpfx, fp__auth_secret_t **secret_p,
                             char *err, size_t errlen)
{
    /* O_NOFOLLOW: a symlink fails with ELOOP.  O_NONBLOCK: opening a FIFO
     * must not hang (it is refused below); no effect on regular files. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
                            O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            set_err(err, errlen,
                    "pool secret file %s%s is a symbolic link; refusing it "
                    "(name the real file)",
                    path, from);
            return FP_ERR_CONFIG;
        }
        if (e == ENOMEM) {
            set_err(err, errlen, "out of memory opening %s", path);
            return FP_ERR_NOMEM;
        }
        set_err(err, errlen, "cannot open pool secret file %s%s: %s", path,
                from, strerror(e));
        return (e == EIO) ? FP_ERR_IO : FP_ERR_CONFIG;
    }

    fp_status_t st = FP_OK;
    unsigned char buf[FP__AUTH_SECRET_MAX + 1];
    size_t n = 0;
    struct stat sb;

    /* Every check is on the descriptor just opened: no check-then-use
     * race with a file swapped under the same name. */
    if (fstat(fd, &sb) != 0) {
        set_err(err, errlen, "cannot stat pool secret file %s%s: %s", path,
                from, strerror(errno));
        st = FP_ERR_IO;
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(err, errlen,
                "pool secret file %s%s is %s; it must be a regular file", path,
                from, file_kind(sb.st_mode));
        st = FP_ERR_CONFIG;
        goto out;
    }
    if (sb.st_uid != geteuid()) {
        set_err(err, errlen,
                "pool secret file %s%s is owned by uid %lu, not by the "
                "current user (uid %lu)",
                path, from, (unsigned long)sb.st_uid,
                (unsigned long)geteuid());
        st = FP_ERR_CONFIG;
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        set_err(err, errlen,
                "pool secret file %s%s has mode %04o: it must not be readable "
                "or writable by group or others (chmod 600 %s)",
                path, from, (unsigned)(sb.st_mode & 07777), path);
        st = FP_ERR_CONFIG;
        goto out;
    }
    if (sb.st_size == 0) {
        set_err(err, errlen, "pool secret file %s%s is empty", path, from);
        st = FP_ERR_CONFIG;
        goto out;
    }
    if (sb.st_size > FP__AUTH_SECRET_MAX) {
        set_err(err, errlen,
                "pool secret file %s%s is too large (%lld bytes; at most %d)",
                path, from, (long long)sb.st_size, FP__AUTH_SECRET_MAX);
        st = FP_ERR_CONFIG;
        goto out;
    }

    /* Read to EOF, one byte more than allowed to notice a file that grew
     * since fstat. */
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            set_err(err, errlen, "cannot read pool secret file %s%s: %s",
                    path, from, strerror(errno));
            st = FP_ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > FP__AUTH_SECRET_MAX) {
        set_err(err, errlen,
                "pool secret file %s%s is too large (more than %d bytes)", path,
                from, FP__AUTH_SECRET_MAX);
        st = FP_ERR_CONFIG;
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n') /* exactly one trailing newline */
        n--;

    {
        size_t whatlen = strlen(path) + strlen(from) + 32;
        size_t srclen = strlen(srcpfx) + 1 + strlen(path) + 1;
        char *what = malloc(whatlen);
        char *source = malloc(srclen);
        if (what == NULL || source == NULL) {
            free(what);
            free(source);
            set_err(err, errlen, "out of memory loading the pool secret");
            st = FP_ERR_NOMEM;
            goto out;
        }
        snprintf(what, whatlen, "pool secret file %s%s", path, from);
        snprintf(source, srclen, "%s %s", srcpfx, path);
        st = make_secret(buf, n, what, source, secret_p, err, errlen);
        free(what);
        free(source);
    }

out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return st;
}

/* ---- the pool secret ------------------------------------------------------ */

fp_status_t fp__auth_secret_load(const char *path, fp__auth_secret_t **secret_p,
                                 char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (secret_p == NULL) {
        set_err(err, errlen, "fp__auth_secret_load: NULL result pointer");
        return FP_ERR_INVALID;
    }
    *secret_p = NULL;

    if (path != NULL) {
        if (path[0] == '\0') {
            set_err(err, errlen, "empty pool secret file path");
            return FP_ERR_CONFIG;
        }
        return load_file(path, "", "file", secret_p, err, errlen);
    }

    /* secure_getenv: a setuid/setgid program takes no secret from its
     * caller's environment. */
    const char *file = secure_getenv("FP_SECRET_FILE");
    if (file != NULL && file[0] != '\0')
        return load_file(file, " (from FP_SECRET_FILE)", "FP_SECRET_FILE",
                         secret_p, err, errlen);

    const char *val = secure_getenv("FP_SECRET");
    if (val != NULL && val[0] != '\0')
        return make_secret((const unsigned char *)val, strlen(val),
                           "pool secret in FP_SECRET", "FP_SECRET", secret_p,
                           err, errlen);

    set_err(err, errlen,
            "no pool secret: set FP_SECRET_FILE to a file of mode 0600 "
            "holding at least %d random bytes (e.g. head -c 32 /dev/urandom "
            "| base64), or FP_SECRET to the secret itself",
            FP__AUTH_SECRET_MIN);
    return FP_ERR_CONFIG;
}

fp_status_t fp__auth_secret_from_bytes(const void *bytes, size_t len,
                                       const char *source,
                                       fp__auth_secret_t **secret_p, char *err,
                                       size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (secret_p == NULL || (bytes == NULL && len > 0)) {
        set_err(err, errlen, "fp__auth_secret_from_bytes: NULL argument");
        return FP_ERR_INVALID;
    }
    *secret_p = NULL;
    if (source == NULL)
        source = "memory";
    return make_secret(bytes, len, "pool secret", source, secret_p, err,
                       errlen);
}

/* The derived key itself: a node started over SSH receives it on the SSH
 * channel (boot/ssh.c) and proves the same secret with it. */
fp_status_t fp__auth_secret_from_key(const unsigned char *key,
                                     const char *source,
                                     fp__auth_secret_t **secret_p)
{
    if (key == NULL || secret_p == NULL)
        return FP_ERR_INVALID;
    if (source == NULL)
        source = "key";
    size_t srclen = strlen(source);
    size_t size = sizeof(fp__auth_secret_t) + srclen + 1;
    fp__auth_secret_t *s = OPENSSL_zalloc(size);
    if (s == NULL)
        return FP_ERR_NOMEM;
    s->alloc_size = size;
    memcpy(s->source, source, srclen + 1);
    memcpy(s->key, key, FP__AUTH_KEY_LEN);
    *secret_p = s;
    return FP_OK;
}

fp_status_t fp__auth_secret_random(const char *source,
                                   fp__auth_secret_t **secret_p)
{
    unsigned char key[FP__AUTH_KEY_LEN];
    if (RAND_bytes(key, sizeof(key)) != 1)
        return FP_ERR_SYSTEM;
    fp_status_t st = fp__auth_secret_from_key(key, source, secret_p);
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

void fp__auth_secret_key(const fp__auth_secret_t *secret, unsigned char *key)
{
    memcpy(key, secret->key, FP__AUTH_KEY_LEN);
}

const char *fp__auth_secret_source(const fp__auth_secret_t *secret)
{
    return secret != NULL ? secret->source : "(none)";
}

void fp__auth_secret_free(fp__auth_secret_t *secret)
{
    if (secret != NULL)
        OPENSSL_clear_free(secret, secret->alloc_size);
}

/* ---- the handshake --------------------------------------------------------- */

static fp_status_t wipe_fail(fp__auth_t *st)
{
    OPENSSL_cleanse(st, sizeof(*st));
    st->phase = PHASE_FAILED;
    return FP_ERR_AUTH;
}

/* FP_OK if `st` is mid-handshake (STARTED or PEER), else FP_ERR_STATE or
 * FP_ERR_INVALID with a message naming `fn`. */
static fp_status_t check_live(const fp__auth_t *st, const char *fn, char *err,
                              size_t errlen)
{
    if (st == NULL) {
        set_err(err, errlen, "%s: NULL state", fn);
        return FP_ERR_INVALID;
    }
    switch (st->phase) {
    case PHASE_STARTED:
    case PHASE_PEER:
        return FP_OK;
    case PHASE_DONE:
        set_err(err, errlen,
                "%s: this handshake already finished; a state is used once",
                fn);
        return FP_ERR_STATE;
    case PHASE_FAILED:
        set_err(err, errlen, "%s: this handshake already failed", fn);
        return FP_ERR_STATE;
    default:
        set_err(err, errlen, "%s: state not initialised (fp__auth_init)", fn);
        return FP_ERR_STATE;
    }
}

/* Once both the proof is made and the peer's checked: wipe, keep DONE. */
static void maybe_finish(fp__auth_t *st)
{
    if (st->proof_made && st->proof_checked) {
        OPENSSL_cleanse(st, sizeof(*st));
        st->phase = PHASE_DONE;
    }
}

static fp_status_t mac_update_u16(EVP_MAC_CTX *ctx, unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    return EVP_MAC_update(ctx, b, 2) > 0 ? FP_OK : FP_ERR_SYSTEM;
}

/* HMAC-SHA256(key, label(prover) || version || Nc || Ns || len Ic || Ic ||
 * len Is || Is), into out. */
static fp_status_t compute_proof(const fp__auth_t *st, fp__auth_role_t prover,
                                 unsigned char out[FP__AUTH_MAC_LEN],
                                 char *err, size_t errlen)
{
    const bool client = (st->role == FP__AUTH_CLIENT);
    const unsigned char *nc = client ? st->my_nonce : st->peer_nonce;
    const unsigned char *ns = client ? st->peer_nonce : st->my_nonce;
    const unsigned char *ic = client ? st->my_id : st->peer_id;
    const unsigned char *is = client ? st->peer_id : st->my_id;
    size_t icl = client ? st->my_id_len : st->peer_id_len;
    size_t isl = client ? st->peer_id_len : st->my_id_len;
    const char *label = (prover == FP__AUTH_CLIENT) ? LABEL_CLIENT
                                                    : LABEL_SERVER;
    unsigned char label_len = (unsigned char)strlen(label);

    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return crypto_fail(err, errlen, "EVP_MAC_fetch(HMAC)");
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (ctx == NULL)
        return crypto_fail(err, errlen, "EVP_MAC_CTX_new");

    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    size_t outl = 0;
    fp_status_t s = FP_OK;
    if (EVP_MAC_init(ctx, st->key, FP__AUTH_KEY_LEN, params) <= 0 ||
        EVP_MAC_update(ctx, &label_len, 1) <= 0 ||
        EVP_MAC_update(ctx, (const unsigned char *)label, label_len) <= 0 ||
        mac_update_u16(ctx, FP__AUTH_PROTOCOL_VERSION) != FP_OK ||
        EVP_MAC_update(ctx, nc, FP__AUTH_NONCE_LEN) <= 0 ||
        EVP_MAC_update(ctx, ns, FP__AUTH_NONCE_LEN) <= 0 ||
        mac_update_u16(ctx, (unsigned)icl) != FP_OK ||
        (icl > 0 && EVP_MAC_update(ctx, ic, icl) <= 0) ||
        mac_update_u16(ctx, (unsigned)isl) != FP_OK ||
        (isl > 0 && EVP_MAC_update(ctx, is, isl) <= 0) ||
        EVP_MAC_final(ctx, out, &outl, FP__AUTH_MAC_LEN) <= 0 ||
        outl != FP__AUTH_MAC_LEN) {
        OPENSSL_cleanse(out, FP__AUTH_MAC_LEN);
        s = crypto_fail(err, errlen, "HMAC-SHA256");
    }
    EVP_MAC_CTX_free(ctx); /* the provider wipes its key copy */
    return s;
}

fp_status_t fp__auth_init(fp__auth_t *st, fp__auth_role_t role,
                          const fp__auth_secret_t *secret, const void *my_id,
                          size_t my_id_len, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (st == NULL || secret == NULL || (my_id == NULL && my_id_len > 0)) {
        set_err(err, errlen, "fp__auth_init: NULL argument");
        return FP_ERR_INVALID;
    }
    OPENSSL_cleanse(st, sizeof(*st));
    if (role != FP__AUTH_CLIENT && role != FP__AUTH_SERVER) {
        set_err(err, errlen, "fp__auth_init: unknown role %d", (int)role);
        return FP_ERR_INVALID;
    }
    if (my_id_len > FP__AUTH_ID_MAX) {
        set_err(err, errlen, "fp__auth_init: id too long (%zu bytes; at most %d)",
                my_id_len, FP__AUTH_ID_MAX);
        return FP_ERR_INVALID;
    }
    if (RAND_bytes(st->my_nonce, FP__AUTH_NONCE_LEN) != 1) {
        OPENSSL_cleanse(st, sizeof(*st));
        return crypto_fail(err, errlen, "RAND_bytes (handshake nonce)");
    }
    st->role = (uint32_t)role;
    memcpy(st->key, secret->key, FP__AUTH_KEY_LEN);
    if (my_id_len > 0)
        memcpy(st->my_id, my_id, my_id_len);
    st->my_id_len = (uint16_t)my_id_len;
    st->phase = PHASE_STARTED;
    return FP_OK;
}

const unsigned char *fp__auth_my_nonce(const fp__auth_t *st)
{
    if (st == NULL || (st->phase != PHASE_STARTED && st->phase != PHASE_PEER))
        return NULL;
    return st->my_nonce;
}

fp_status_t fp__auth_set_peer(fp__auth_t *st,
                              const unsigned char peer_nonce[FP__AUTH_NONCE_LEN],
                              const void *peer_id, size_t peer_id_len,
                              char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    fp_status_t s = check_live(st, "fp__auth_set_peer", err, errlen);
    if (s != FP_OK)
        return s;
    if (peer_nonce == NULL || (peer_id == NULL && peer_id_len > 0)) {
        set_err(err, errlen, "fp__auth_set_peer: NULL argument");
        return FP_ERR_INVALID;
    }
    if (st->phase != PHASE_STARTED) {
        set_err(err, errlen,
                "fp__auth_set_peer: the peer's HELLO was already recorded");
        return FP_ERR_STATE;
    }
    static const unsigned char zero[FP__AUTH_NONCE_LEN];
    if (CRYPTO_memcmp(peer_nonce, zero, FP__AUTH_NONCE_LEN) == 0) {
        set_err(err, errlen,
                "peer failed authentication: its nonce is all zeros");
        return wipe_fail(st);
    }
    if (CRYPTO_memcmp(peer_nonce, st->my_nonce, FP__AUTH_NONCE_LEN) == 0) {
        set_err(err, errlen,
                "peer failed authentication: its nonce equals ours (our "
                "HELLO reflected back)");
        return wipe_fail(st);
    }
    if (peer_id_len > FP__AUTH_ID_MAX) {
        set_err(err, errlen,
                "peer failed authentication: its id is too long (%zu bytes; "
                "at most %d)",
                peer_id_len, FP__AUTH_ID_MAX);
        return wipe_fail(st);
    }
    memcpy(st->peer_nonce, peer_nonce, FP__AUTH_NONCE_LEN);
    if (peer_id_len > 0)
        memcpy(st->peer_id, peer_id, peer_id_len);
    st->peer_id_len = (uint16_t)peer_id_len;
    st->phase = PHASE_PEER;
    return FP_OK;
}

/* Common precondition of make/check: live, peer set. */
static fp_status_t check_peer_set(const fp__auth_t *st, const char *fn,
                                  char *err, size_t errlen)
{
    fp_status_t s = check_live(st, fn, err, errlen);
    if (s != FP_OK)
        return s;
    if (st->phase != PHASE_PEER) {
        set_err(err, errlen,
                "%s: the peer's nonce is not known yet (fp__auth_set_peer "
                "first)",
                fn);
        return FP_ERR_STATE;
    }
    return FP_OK;
}

fp_status_t fp__auth_make_proof(fp__auth_t *st,
                                unsigned char out[FP__AUTH_MAC_LEN], char *err,
                                size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    fp_status_t s = check_peer_set(st, "fp__auth_make_proof", err, errlen);
    if (s != FP_OK)
        return s;
    if (out == NULL) {
        set_err(err, errlen, "fp__auth_make_proof: NULL argument");
        return FP_ERR_INVALID;
    }
    if (st->proof_made) {
        set_err(err, errlen, "fp__auth_make_proof: proof already made");
        return FP_ERR_STATE;
    }
    s = compute_proof(st, (fp__auth_role_t)st->role, out, err, errlen);
    if (s != FP_OK)
        return s;
    st->proof_made = true;
    maybe_finish(st);
    return FP_OK;
}

fp_status_t fp__auth_check_proof(fp__auth_t *st,
                                 const unsigned char in[FP__AUTH_MAC_LEN],
                                 char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    fp_status_t s = check_peer_set(st, "fp__auth_check_proof", err, errlen);
    if (s != FP_OK)
        return s;
    if (in == NULL) {
        set_err(err, errlen, "fp__auth_check_proof: NULL argument");
        return FP_ERR_INVALID;
    }
    if (st->proof_checked) {
        set_err(err, errlen, "fp__auth_check_proof: proof already checked");
        return FP_ERR_STATE;
    }
    fp__auth_role_t peer = (st->role == FP__AUTH_CLIENT) ? FP__AUTH_SERVER
                                                         : FP__AUTH_CLIENT;
    unsigned char expect[FP__AUTH_MAC_LEN];
    s = compute_proof(st, peer, expect, err, errlen);
    if (s != FP_OK)
        return s;
    int diff = CRYPTO_memcmp(expect, in, FP__AUTH_MAC_LEN);
    OPENSSL_cleanse(expect, sizeof(expect));
    if (diff != 0) {
        set_err(err, errlen,
                "peer failed authentication: wrong pool secret (MAC "
                "mismatch)");
        return wipe_fail(st);
    }
    st->proof_checked = true;
    maybe_finish(st);
    return FP_OK;
}

static const char SESSION_C2S[] = "fastpool-session v1 client->server";
static const char SESSION_S2C[] = "fastpool-session v1 server->client";

static fp_status_t session_key(const fp__auth_t *st, const char *label,
                               unsigned char out[FP__AUTH_KEY_LEN], char *err,
                               size_t errlen)
{
    const bool client = (st->role == FP__AUTH_CLIENT);
    unsigned char salt[2 * FP__AUTH_NONCE_LEN];
    memcpy(salt, client ? st->my_nonce : st->peer_nonce, FP__AUTH_NONCE_LEN);
    memcpy(salt + FP__AUTH_NONCE_LEN, client ? st->peer_nonce : st->my_nonce,
           FP__AUTH_NONCE_LEN);
    const unsigned char *ic = client ? st->my_id : st->peer_id;
    const unsigned char *is = client ? st->peer_id : st->my_id;
    size_t icl = client ? st->my_id_len : st->peer_id_len;
    size_t isl = client ? st->peer_id_len : st->my_id_len;
    unsigned char info[64 + 4 + 2 * FP__AUTH_ID_MAX];
    size_t n = strlen(label);
    memcpy(info, label, n);
    info[n++] = (unsigned char)(icl >> 8);
    info[n++] = (unsigned char)icl;
    memcpy(info + n, ic, icl);
    n += icl;
    info[n++] = (unsigned char)(isl >> 8);
    info[n++] = (unsigned char)isl;
    memcpy(info + n, is, isl);
    n += isl;

    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL)
        return crypto_fail(err, errlen, "EVP_KDF_fetch(HKDF)");
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return crypto_fail(err, errlen, "EVP_KDF_CTX_new");
    OSSL_PARAM params[5];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, (void *)st->key, FP__AUTH_KEY_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
                                                  sizeof(salt));
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
    params[4] = OSSL_PARAM_construct_end();
    fp_status_t s = FP_OK;
    if (EVP_KDF_derive(kctx, out, FP__AUTH_KEY_LEN, params) <= 0) {
        OPENSSL_cleanse(out, FP__AUTH_KEY_LEN);
        s = crypto_fail(err, errlen, "HKDF-SHA256 session key derivation");
    }
    EVP_KDF_CTX_free(kctx);
    return s;
}

fp_status_t fp__auth_session_keys(const fp__auth_t *st,
                                  unsigned char send_key[FP__AUTH_KEY_LEN],
                                  unsigned char recv_key[FP__AUTH_KEY_LEN],
                                  char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    fp_status_t s = check_peer_set(st, "fp__auth_session_keys", err, errlen);
    if (s != FP_OK)
        return s;
    if (send_key == NULL || recv_key == NULL) {
        set_err(err, errlen, "fp__auth_session_keys: NULL argument");
        return FP_ERR_INVALID;
    }
    const bool client = (st->role == FP__AUTH_CLIENT);
    s = session_key(st, client ? SESSION_C2S : SESSION_S2C, send_key, err,
                    errlen);
    if (s == FP_OK)
        s = session_key(st, client ? SESSION_S2C : SESSION_C2S, recv_key, err,
                        errlen);
    if (s != FP_OK) {
        OPENSSL_cleanse(send_key, FP__AUTH_KEY_LEN);
        OPENSSL_cleanse(recv_key, FP__AUTH_KEY_LEN);
    }
    return s;
}

bool fp__auth_peer_verified(const fp__auth_t *st)
{
    if (st == NULL)
        return false;
    if (st->phase == PHASE_DONE)
        return true;
    return st->phase == PHASE_PEER && st->proof_checked;
}

bool fp__auth_done(const fp__auth_t *st)
{
    return st != NULL && st->phase == PHASE_DONE;
}

void fp__auth_clear(fp__auth_t *st)
{
    if (st != NULL)
        OPENSSL_cleanse(st, sizeof(*st));
}
