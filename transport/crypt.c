/*
 * Message encryption: the sealed record (layout, nonces and replay window
 * are described in crypt.h and PROTOCOL.md §14).  Every cryptographic step
 * is one of OpenSSL's EVP calls; this file only frames.
 */
#include "crypt.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

/* The AEAD (ARCHITECTURE.md, "Encryption", says why this one). */
static const char CIPHER_NAME[] = "AES-256-GCM";

enum { PART_HEADER = 0, PART_PAYLOAD = 1 };

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

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* be32(part) || le64(counter): 96 bits, unique per (key, part, counter) */
static void make_nonce(unsigned char iv[12], unsigned part, uint64_t ctr)
{
    iv[0] = 0;
    iv[1] = 0;
    iv[2] = 0;
    iv[3] = (unsigned char)part;
    put_le64(iv + 4, ctr);
}

static fp_status_t key_ctx(void **ctx_p, const unsigned char *key, bool enc,
                           char *err, size_t errlen)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, CIPHER_NAME, NULL);
    if (cipher == NULL)
        return crypto_fail(err, errlen, "EVP_CIPHER_fetch(AES-256-GCM)");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    fp_status_t st = FP_OK;
    if (ctx == NULL ||
        EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc ? 1 : 0) != 1) {
        st = crypto_fail(err, errlen, "AES-256-GCM key setup");
        EVP_CIPHER_CTX_free(ctx);
        ctx = NULL;
    }
    EVP_CIPHER_free(cipher);
    *ctx_p = ctx;
    return st;
}

fp_status_t fp__crypt_init(fp__crypt_t *cr,
                           const unsigned char send_key[FP__CRYPT_KEY_LEN],
                           const unsigned char recv_key[FP__CRYPT_KEY_LEN],
                           char *err, size_t errlen)
{
    memset(cr, 0, sizeof(*cr));
    fp_status_t st = key_ctx(&cr->seal_ctx, send_key, true, err, errlen);
    if (st == FP_OK)
        st = key_ctx(&cr->open_ctx, recv_key, false, err, errlen);
    if (st != FP_OK)
        fp__crypt_fini(cr);
    return st;
}

void fp__crypt_fini(fp__crypt_t *cr)
{
    if (cr == NULL)
        return;
    EVP_CIPHER_CTX_free(cr->seal_ctx); /* wipes the key schedule */
    EVP_CIPHER_CTX_free(cr->open_ctx);
    memset(cr, 0, sizeof(*cr));
}

bool fp__crypt_ready(const fp__crypt_t *cr)
{
    return cr != NULL && cr->seal_ctx != NULL && cr->open_ctx != NULL;
}

bool fp__crypt_is_sealed(const void *am_hdr, size_t am_hl)
{
    return am_hdr != NULL && am_hl >= FP__CRYPT_ENV_LEN &&
           get_le32(am_hdr) == FP__CRYPT_MAGIC;
}

uint64_t fp__crypt_peek_route(const void *am_hdr)
{
    return get_le64((const unsigned char *)am_hdr + 16);
}

/* EVP lengths are int: feed in pieces of at most 1 GiB */
static int update_all(EVP_CIPHER_CTX *ctx, unsigned char *out,
                      const unsigned char *in, size_t len)
{
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1 || outl != n)
            return 0;
        in += n;
        out += n;
        len -= (size_t)n;
    }
    return 1;
}

/* One AEAD operation (seal when `enc`, else open) with `tag` out or in. */
static int aead(EVP_CIPHER_CTX *ctx, bool enc, unsigned part, uint64_t ctr,
                const unsigned char *aad, size_t aadlen, const void *in,
                size_t len, void *out, unsigned char tag[FP__CRYPT_TAG_LEN])
{
    unsigned char iv[12];
    int outl = 0;
    unsigned char fin[16];
    make_nonce(iv, part, ctr);
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc ? 1 : 0) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1 ||
        !update_all(ctx, out, in, len))
        return 0;
    if (enc)
        return EVP_CipherFinal_ex(ctx, fin, &outl) == 1 &&
               EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                                   FP__CRYPT_TAG_LEN, tag) == 1;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, FP__CRYPT_TAG_LEN,
                               tag) == 1 &&
           EVP_CipherFinal_ex(ctx, fin, &outl) == 1;
}

fp_status_t fp__crypt_seal(fp__crypt_t *cr, uint64_t route, const void *hdr,
                           size_t hl, const void *payload, size_t len,
                           void *out, unsigned char *am_hdr, size_t *am_hl,
                           char *err, size_t errlen)
{
    if (!fp__crypt_ready(cr) || hdr == NULL || am_hdr == NULL ||
        am_hl == NULL || (len > 0 && (payload == NULL || out == NULL))) {
        set_err(err, errlen, "fp__crypt_seal: not keyed or NULL argument");
        return FP_ERR_INVALID;
    }
    if (hl < FP__CRYPT_HDR_MIN || hl > FP__CRYPT_HDR_MAX) {
        set_err(err, errlen, "fp__crypt_seal: header of %zu bytes (32..64)",
                hl);
        return FP_ERR_INVALID;
    }
    if (cr->send_ctr == UINT64_MAX) {
        set_err(err, errlen,
                "message counter spent: 2^64 - 1 messages under one key");
        return FP_ERR_OVERFLOW;
    }
    uint64_t ctr = ++cr->send_ctr;
    unsigned char *env = am_hdr;
    put_le32(env, FP__CRYPT_MAGIC);
    env[4] = (unsigned char)hl;
    env[5] = env[6] = env[7] = 0;
    put_le64(env + 8, ctr);
    put_le64(env + 16, route);
    unsigned char *sh = env + FP__CRYPT_ENV_LEN;
    unsigned char *htag = sh + hl;
    unsigned char *ptag = htag + FP__CRYPT_TAG_LEN;
    EVP_CIPHER_CTX *ctx = cr->seal_ctx;
    if (!aead(ctx, true, PART_HEADER, ctr, env, FP__CRYPT_ENV_LEN, hdr, hl,
              sh, htag))
        return crypto_fail(err, errlen, "AES-256-GCM seal (header)");
    if (len > 0 && !aead(ctx, true, PART_PAYLOAD, ctr, env, FP__CRYPT_ENV_LEN,
                         payload, len, out, ptag))
        return crypto_fail(err, errlen, "AES-256-GCM seal (payload)");
    *am_hl = FP__CRYPT_ENV_LEN + hl + FP__CRYPT_TAG_LEN +
             (len > 0 ? FP__CRYPT_TAG_LEN : 0);
    return FP_OK;
}

/* 1: already seen; 0: new and inside or above the window; -1: below it */
static int window_check(const fp__crypt_t *cr, uint64_t ctr)
{
    if (ctr > cr->recv_top)
        return 0;
    uint64_t back = cr->recv_top - ctr;
    if (back >= FP__CRYPT_WINDOW)
        return -1;
    return (cr->window[back / 64] >> (back % 64)) & 1 ? 1 : 0;
}

static void window_mark(fp__crypt_t *cr, uint64_t ctr)
{
    if (ctr > cr->recv_top) {
        uint64_t shift = ctr - cr->recv_top;
        if (shift >= FP__CRYPT_WINDOW) {
            memset(cr->window, 0, sizeof(cr->window));
        } else {
            /* move every bit `shift` places towards older */
            const size_t nw = FP__CRYPT_WINDOW / 64;
            size_t words = (size_t)(shift / 64);
            unsigned bits = (unsigned)(shift % 64);
            for (size_t i = nw; i-- > 0;) {
                uint64_t v = 0;
                if (i >= words) {
                    v = cr->window[i - words] << bits;
                    if (bits != 0 && i >= words + 1)
                        v |= cr->window[i - words - 1] >> (64 - bits);
                }
                cr->window[i] = v;
            }
        }
        cr->recv_top = ctr;
    }
    uint64_t back = cr->recv_top - ctr;
    cr->window[back / 64] |= (uint64_t)1 << (back % 64);
}

fp_status_t fp__crypt_open_header(fp__crypt_t *cr, const void *am_hdr,
                                  size_t am_hl, size_t data_len,
                                  unsigned char *hdr, size_t *hl,
                                  uint64_t *ctr_p,
                                  unsigned char ptag[FP__CRYPT_TAG_LEN],
                                  char *err, size_t errlen)
{
    if (!fp__crypt_ready(cr) || hdr == NULL || hl == NULL || ctr_p == NULL ||
        ptag == NULL) {
        set_err(err, errlen, "fp__crypt_open_header: not keyed or NULL "
                             "argument");
        return FP_ERR_INVALID;
    }
    const unsigned char *env = am_hdr;
    if (!fp__crypt_is_sealed(am_hdr, am_hl)) {
        set_err(err, errlen, "not an encrypted record (%zu-byte AM header)",
                am_hl);
        return FP_ERR_PROTOCOL;
    }
    size_t h = env[4];
    size_t want = FP__CRYPT_ENV_LEN + h + FP__CRYPT_TAG_LEN +
                  (data_len > 0 ? FP__CRYPT_TAG_LEN : 0);
    if (h < FP__CRYPT_HDR_MIN || h > FP__CRYPT_HDR_MAX || env[5] != 0 ||
        env[6] != 0 || env[7] != 0 || am_hl != want) {
        set_err(err, errlen,
                "malformed encrypted record: header length %zu, reserved "
                "%02x%02x%02x, AM header %zu bytes (want %zu)",
                h, env[5], env[6], env[7], am_hl, want);
        return FP_ERR_PROTOCOL;
    }
    uint64_t ctr = get_le64(env + 8);
    int w = ctr == 0 ? -1 : window_check(cr, ctr);
    if (w > 0) {
        set_err(err, errlen, "replayed message (counter %llu already seen)",
                (unsigned long long)ctr);
        return FP_ERR_EXISTS;
    }
    if (w < 0) {
        set_err(err, errlen,
                "message counter %llu is outside the replay window (newest "
                "%llu, %d wide): replayed or reordered too far",
                (unsigned long long)ctr, (unsigned long long)cr->recv_top,
                FP__CRYPT_WINDOW);
        return FP_ERR_AUTH;
    }
    unsigned char tag[FP__CRYPT_TAG_LEN];
    memcpy(tag, env + FP__CRYPT_ENV_LEN + h, FP__CRYPT_TAG_LEN);
    if (!aead(cr->open_ctx, false, PART_HEADER, ctr, env, FP__CRYPT_ENV_LEN,
              env + FP__CRYPT_ENV_LEN, h, hdr, tag)) {
        ERR_clear_error();
        OPENSSL_cleanse(hdr, h);
        set_err(err, errlen,
                "message failed authentication (altered on the path?)");
        return FP_ERR_AUTH;
    }
    window_mark(cr, ctr);
    if (data_len > 0)
        memcpy(ptag, env + FP__CRYPT_ENV_LEN + h + FP__CRYPT_TAG_LEN,
               FP__CRYPT_TAG_LEN);
    else
        memset(ptag, 0, FP__CRYPT_TAG_LEN);
    *hl = h;
    *ctr_p = ctr;
    return FP_OK;
}

fp_status_t fp__crypt_open_payload(fp__crypt_t *cr,
                                   const unsigned char env[FP__CRYPT_ENV_LEN],
                                   uint64_t ctr,
                                   const unsigned char ptag[FP__CRYPT_TAG_LEN],
                                   const void *in, size_t len, void *out,
                                   char *err, size_t errlen)
{
    if (!fp__crypt_ready(cr) || env == NULL || ptag == NULL ||
        (len > 0 && (in == NULL || out == NULL))) {
        set_err(err, errlen, "fp__crypt_open_payload: not keyed or NULL "
                             "argument");
        return FP_ERR_INVALID;
    }
    if (len == 0)
        return FP_OK;
    unsigned char tag[FP__CRYPT_TAG_LEN];
    memcpy(tag, ptag, sizeof(tag));
    if (!aead(cr->open_ctx, false, PART_PAYLOAD, ctr, env, FP__CRYPT_ENV_LEN,
              in, len, out, tag)) {
        ERR_clear_error();
        set_err(err, errlen,
                "message failed authentication (altered on the path?)");
        return FP_ERR_AUTH;
    }
    return FP_OK;
}
