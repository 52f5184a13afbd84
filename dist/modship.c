/*
 * Task modules shipped to nodes (docs/PROTOCOL.md §5, "Task modules").
 *
 * A client ships a task module (.so) to a node that lacks it.  A module is
 * named by the SHA-256 of its bytes, so the node can keep it in its cache
 * (common/cache.h: <cache>/modules/<sha256hex>.so) and a second client, or
 * the next run, sends no bytes:
 *
 *   client                                 node
 *   MODULE_OFFER(id, size, sha256, name) ->
 *                                        <- MODULE_REPLY(id, HAVE)   loaded
 *                                        <- MODULE_REPLY(id, NEED)
 *   MODULE_DATA(id, bytes)               ->  (rendezvous when large)
 *                                        <- MODULE_REPLY(id, LOADED | FAILED)
 *
 * The node checks the SHA-256 of what it received before anything is
 * written (a mismatch: FAILED, nothing in the cache), writes the file
 * atomically (a temporary file in the same directory, then rename), and
 * dlopen()s it: the module's tasks register in its constructors
 * (FP_TASK_REGISTER), so RTLD_LOCAL suffices.  A cached file is hashed
 * again the first time a process loads it (a file changed on disk is
 * removed and asked for again), then remembered by hash for the process.
 *
 * Only an authenticated connection gets here: the transport hands a
 * message to the node's handlers only once the handshake is done
 * (conn.c), and a node creates its per-connection state only then.
 *
 * Loading runs on the node's progress thread: dlopen and the module's
 * constructors hold up that node's traffic while they run (milliseconds
 * for a task module).  The client ships before POOL_OPEN (a joining node)
 * or waits for the answers (fp_pool_ship_module), so no record that names
 * a module's task reaches a node before the module is loaded there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cache.h"
#include "common/log.h"
#include "dist.h"

/* ---- hashing ------------------------------------------------------------------ */

static bool sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

static void to_hex(const uint8_t *sha, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[sha[i] >> 4];
        hex[2 * i + 1] = digits[sha[i] & 15];
    }
    hex[64] = '\0';
}

static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
    FP_PRINTF(3, 4);
static void set_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* Read a whole file (at most FP__WIRE_MAX_MODULE bytes). */
static fp_status_t read_all(const char *path, unsigned char **bytes_p,
                            size_t *size_p, char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "%s", strerror(errno));
        return errno == ENOENT ? FP_ERR_NOT_FOUND : FP_ERR_SYSTEM;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(why, cap, "not a regular file");
        close(fd);
        return FP_ERR_INVALID;
    }
    if (sb.st_size <= 0 || (uint64_t)sb.st_size > FP__WIRE_MAX_MODULE) {
        snprintf(why, cap, "%lld bytes (a module has 1..%u)",
                 (long long)sb.st_size, FP__WIRE_MAX_MODULE);
        close(fd);
        return FP_ERR_INVALID;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    unsigned char *b = malloc(size);
    if (b == NULL) {
        close(fd);
        snprintf(why, cap, "out of memory");
        return FP_ERR_NOMEM;
    }
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, cap, "%s", r < 0 ? strerror(errno)
                                           : "the file shrank while read");
            free(b);
            close(fd);
            return FP_ERR_SYSTEM;
        }
        got += (size_t)r;
    }
    close(fd);
    *bytes_p = b;
    *size_p = size;
    return FP_OK;
}

/* ---- the client's module files -------------------------------------------------- */

fp_status_t fp__modfile_read(const char *path, fp__modfile_t **mf_p,
                             fp_error_t *err)
{
    if (path == NULL || path[0] == '\0') {
        set_err(err, FP_ERR_INVALID, "module path is empty");
        return FP_ERR_INVALID;
    }
    fp__modfile_t *mf = calloc(1, sizeof(*mf));
    if (mf == NULL || (mf->path = strdup(path)) == NULL) {
        free(mf);
        return FP_ERR_NOMEM;
    }
    char why[200];
    fp_status_t st = read_all(path, &mf->bytes, &mf->size, why, sizeof(why));
    if (st != FP_OK) {
        set_err(err, st, "module %.200s: %s", path, why);
        free(mf->path);
        free(mf);
        return st;
    }
    if (!sha256(mf->bytes, mf->size, mf->sha)) {
        set_err(err, FP_ERR_SYSTEM, "module %.200s: SHA-256 failed (OpenSSL)",
                path);
        fp__modfile_unref(fp__modfile_ref(mf)); /* frees it */
        return FP_ERR_SYSTEM;
    }
    to_hex(mf->sha, mf->hex);
    const char *slash = strrchr(path, '/');
    snprintf(mf->name, sizeof(mf->name), "%s",
             slash != NULL && slash[1] != '\0' ? slash + 1 : path);
    /* Test-only (documented in README "Shipping task code"): send bytes
     * that do not match the hash, to exercise the node's check. */
    const char *corrupt = getenv("FP_TEST_CORRUPT_MODULE");
    if (corrupt != NULL && strcmp(corrupt, "1") == 0)
        mf->bytes[mf->size / 2] ^= 0x5a;
    atomic_init(&mf->refs, 1);
    *mf_p = mf;
    return FP_OK;
}

fp__modfile_t *fp__modfile_ref(fp__modfile_t *mf)
{
    atomic_fetch_add(&mf->refs, 1);
    return mf;
}

void fp__modfile_unref(fp__modfile_t *mf)
{
    if (mf == NULL || atomic_fetch_sub(&mf->refs, 1) != 1)
        return;
    free(mf->bytes);
    free(mf->path);
    free(mf);
}

void fp__modfile_sent(void *ud, fp_status_t st)
{
    (void)st;
    fp__modfile_unref(ud);
}

fp_status_t fp__module_load_here(const char *path, fp_error_t *err)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        set_err(err, FP_ERR_NOT_FOUND, "module %.100s: %.140s", path,
                e != NULL ? e : "dlopen failed");
        return FP_ERR_NOT_FOUND;
    }
    return FP_OK; /* never closed: its tasks stay registered */
}

fp_status_t fp__modship_offer(fp__tp_conn_t *conn, uint64_t id,
                              fp__modfile_t *mf)
{
    /* the payload (hash, then name) must outlive the send: a buffer of
     * its own, freed when the send completes */
    size_t nl = strlen(mf->name);
    unsigned char *buf = malloc(FP__WIRE_SHA256_LEN + nl);
    if (buf == NULL)
        return FP_ERR_NOMEM;
    memcpy(buf, mf->sha, FP__WIRE_SHA256_LEN);
    memcpy(buf + FP__WIRE_SHA256_LEN, mf->name, nl);
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_MODULE_OFFER;
    m.u.module.id = id;
    m.u.module.size = mf->size;
    m.u.module.sha256 = buf;
    m.u.module.name = (const char *)buf + FP__WIRE_SHA256_LEN;
    m.u.module.name_len = nl;
    fp_status_t st = fp__tp_send(conn, &m, buf, FP__WIRE_SHA256_LEN + nl,
                                 fp__free_on_send, buf);
    if (st != FP_OK)
        free(buf);
    return st;
}

fp_status_t fp__modship_data(fp__tp_conn_t *conn, uint64_t id,
                             fp__modfile_t *mf)
{
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_MODULE_DATA;
    m.u.module.id = id;
    m.u.module.size = mf->size;
    m.u.module.data = mf->bytes;
    fp__modfile_ref(mf);
    /* from the bytes where they are: by rendezvous at or above the
     * transport's threshold, no copy */
    fp_status_t st = fp__tp_send(conn, &m, mf->bytes, mf->size,
                                 fp__modfile_sent, mf);
    if (st != FP_OK)
        fp__modfile_unref(mf);
    return st;
}

/* ---- the node ------------------------------------------------------------------- */

/* Modules this process has loaded, by hash (any node in it, any client). */
typedef struct loaded {
    struct loaded *next;
    uint8_t sha[32];
    void *handle;
} loaded_t;

static pthread_mutex_t g_loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded_t *g_loaded;

static bool is_loaded(const uint8_t *sha)
{
    pthread_mutex_lock(&g_loaded_lock);
    loaded_t *l = g_loaded;
    while (l != NULL && memcmp(l->sha, sha, 32) != 0)
        l = l->next;
    pthread_mutex_unlock(&g_loaded_lock);
    return l != NULL;
}

/* dlopen a file whose bytes were checked; remember it by hash. */
static fp_status_t load_file(const char *path, const uint8_t *sha, char *why,
                             size_t cap)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        size_t pl = strlen(path);
        /* glibc starts with the path: the cache's own, noise to a client */
        if (e != NULL && strncmp(e, path, pl) == 0 && e[pl] == ':')
            e += pl + 1 + (e[pl + 1] == ' ');
        snprintf(why, cap, "dlopen: %s", e != NULL ? e : "failed");
        return FP_ERR_NOT_FOUND;
    }
    loaded_t *l = malloc(sizeof(*l));
    if (l != NULL) {
        memcpy(l->sha, sha, 32);
        l->handle = h; /* never closed: its tasks stay registered */
        pthread_mutex_lock(&g_loaded_lock);
        l->next = g_loaded;
        g_loaded = l;
        pthread_mutex_unlock(&g_loaded_lock);
    }
    return FP_OK;
}

/* An offer answered NEED, waiting for its bytes. */
typedef struct pending {
    struct pending *next;
    uint64_t id;
    uint64_t size;
    uint8_t sha[32];
    char name[FP__WIRE_MODULE_NAME_MAX + 1];
} pending_t;

typedef struct mconn {
    pending_t *pending;
    size_t npending;
} mconn_t;

/* A connection may have this many offers waiting for their bytes. */
#define MAX_PENDING 64

static void reply(fp__tp_conn_t *conn, uint64_t id, uint8_t answer,
                  fp_status_t st, const char *text)
{
    fp__wire_msg_t m;
    memset(&m, 0, sizeof(m));
    m.hdr.type = FP__WIRE_MODULE_REPLY;
    m.u.module.id = id;
    m.u.module.answer = answer;
    m.u.module.status = answer == FP__WIRE_MOD_FAILED ? st : 0;
    char *copy = NULL;
    size_t len = 0;
    if (answer == FP__WIRE_MOD_FAILED && text != NULL) {
        len = strlen(text);
        if (len > FP__WIRE_TEXT_MAX)
            len = FP__WIRE_TEXT_MAX;
        copy = malloc(len > 0 ? len : 1);
        if (copy == NULL)
            len = 0;
        else
            memcpy(copy, text, len);
    }
    m.u.module.message = copy;
    m.u.module.message_len = len;
    if (fp__tp_send(conn, &m, copy, len, fp__free_on_send, copy) != FP_OK)
        free(copy);
}

static fp_status_t cache_path(const char *hex, char *dir, size_t dcap,
                              char *path, size_t pcap)
{
    fp_status_t st = fp__cache_dir("modules", dir, dcap);
    if (st != FP_OK)
        return st;
    int n = snprintf(path, pcap, "%s/%s.so", dir, hex);
    return n > 0 && (size_t)n < pcap ? FP_OK : FP_ERR_OVERFLOW;
}

/* A cached copy: HAVE once loaded; NEED when there is none (or it is not
 * what its name says: then it is removed). */
static void offer_cached(const fp__logger_t *log, fp__tp_conn_t *conn,
                         mconn_t *mc, const fp__wire_module_t *o,
                         const char *name)
{
    char hex[65], dir[4096], path[4200], why[300];
    to_hex(o->sha256, hex);
    if (is_loaded(o->sha256)) {
        reply(conn, o->id, FP__WIRE_MOD_HAVE, FP_OK, NULL);
        return;
    }
    if (cache_path(hex, dir, sizeof(dir), path, sizeof(path)) == FP_OK) {
        unsigned char *b = NULL;
        size_t size = 0;
        if (read_all(path, &b, &size, why, sizeof(why)) == FP_OK) {
            uint8_t got[32];
            bool same = size == o->size && sha256(b, size, got) &&
                        memcmp(got, o->sha256, 32) == 0;
            free(b);
            if (same) {
                fp_status_t st = load_file(path, o->sha256, why, sizeof(why));
                if (st == FP_OK) {
                    fp__info(log, "module %s (%.12s) loaded from the cache",
                             name, hex);
                    reply(conn, o->id, FP__WIRE_MOD_HAVE, FP_OK, NULL);
                } else {
                    char text[400];
                    snprintf(text, sizeof(text), "module %.60s: %s", name, why);
                    reply(conn, o->id, FP__WIRE_MOD_FAILED, st, text);
                }
                return;
            }
            fp__warn(log,
                     "cached module %s does not match its name (changed on "
                     "disk?): removed, asking for it again",
                     path);
            unlink(path);
        }
    }
    if (mc->npending >= MAX_PENDING) {
        reply(conn, o->id, FP__WIRE_MOD_FAILED, FP_ERR_BUSY,
              "too many modules offered and not sent");
        return;
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        reply(conn, o->id, FP__WIRE_MOD_FAILED, FP_ERR_NOMEM,
              "node: out of memory");
        return;
    }
    p->id = o->id;
    p->size = o->size;
    memcpy(p->sha, o->sha256, 32);
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->next = mc->pending;
    mc->pending = p;
    mc->npending++;
    reply(conn, o->id, FP__WIRE_MOD_NEED, FP_OK, NULL);
}

static pending_t *take_pending(mconn_t *mc, uint64_t id)
{
    for (pending_t **pp = &mc->pending; *pp != NULL; pp = &(*pp)->next) {
        pending_t *p = *pp;
        if (p->id != id)
            continue;
        *pp = p->next;
        mc->npending--;
        return p;
    }
    return NULL;
}

/* Write `b` as <dir>/<hex>.so: a temporary file beside it, then rename. */
static fp_status_t write_atomic(const char *dir, const char *path,
                                const char *hex, const void *b, size_t size,
                                char *why, size_t cap)
{
    if (fp__cache_mkdirs(dir) != FP_OK) {
        snprintf(why, cap, "cannot make the cache directory %s: %s", dir,
                 strerror(errno));
        return FP_ERR_SYSTEM;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, hex);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        snprintf(why, cap, "cannot create a file in %s: %s", dir,
                 strerror(errno));
        return FP_ERR_SYSTEM;
    }
    const unsigned char *p = b;
    size_t done = 0;
    int e = 0;
    while (done < size) {
        ssize_t w = write(fd, p + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        done += (size_t)w;
    }
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        snprintf(why, cap, "cannot write %s: %s", path, strerror(e));
        return FP_ERR_SYSTEM;
    }
    return FP_OK;
}

/* The bytes of pending offer `p` are here: check, write, load, answer. */
static void data_arrived(const fp__logger_t *log, fp__tp_conn_t *conn,
                         pending_t *p, const void *b, size_t size)
{
    char hex[65], dir[4096], path[4200], why[4400], text[600];
    to_hex(p->sha, hex);
    uint8_t got[32];
    if (size != p->size || !sha256(b, size, got) ||
        memcmp(got, p->sha, 32) != 0) {
        char ghex[65];
        to_hex(got, ghex);
        snprintf(text, sizeof(text),
                 "module %.60s: the %zu bytes received do not match SHA-256 "
                 "%.16s... (they hash to %.16s...): refused, nothing written",
                 p->name, size, hex, size == p->size ? ghex : "?");
        fp__warn(log, "%s", text);
        reply(conn, p->id, FP__WIRE_MOD_FAILED, FP_ERR_INVALID, text);
        return;
    }
    if (is_loaded(p->sha)) { /* another client shipped it meanwhile */
        reply(conn, p->id, FP__WIRE_MOD_LOADED, FP_OK, NULL);
        return;
    }
    fp_status_t st = cache_path(hex, dir, sizeof(dir), path, sizeof(path));
    if (st != FP_OK) {
        snprintf(text, sizeof(text),
                 "module %.60s: no cache directory (set FP_CACHE_DIR, "
                 "XDG_CACHE_HOME or HOME)",
                 p->name);
        reply(conn, p->id, FP__WIRE_MOD_FAILED, st, text);
        return;
    }
    st = write_atomic(dir, path, hex, b, size, why, sizeof(why));
    if (st == FP_OK) {
        st = load_file(path, p->sha, why, sizeof(why));
        if (st != FP_OK)
            unlink(path); /* keep only modules that load */
    }
    if (st != FP_OK) {
        snprintf(text, sizeof(text), "module %.60s: %.500s", p->name, why);
        fp__warn(log, "%s", text);
        reply(conn, p->id, FP__WIRE_MOD_FAILED, st, text);
        return;
    }
    fp__info(log, "module %s (%.12s, %zu bytes) received, cached as %s and "
                  "loaded",
             p->name, hex, size, path);
    reply(conn, p->id, FP__WIRE_MOD_LOADED, FP_OK, NULL);
}

static mconn_t *mconn(void **state)
{
    if (*state == NULL)
        *state = calloc(1, sizeof(mconn_t));
    return *state;
}

void fp__modship_node_message(const fp__logger_t *log, fp__tp_conn_t *conn,
                              void **state, const fp__wire_msg_t *m)
{
    mconn_t *mc = mconn(state);
    const fp__wire_module_t *o = &m->u.module;
    if (mc == NULL) {
        reply(conn, o->id, FP__WIRE_MOD_FAILED, FP_ERR_NOMEM,
              "node: out of memory");
        return;
    }
    if (m->hdr.type == FP__WIRE_MODULE_OFFER) {
        char name[FP__WIRE_MODULE_NAME_MAX + 1];
        memcpy(name, o->name, o->name_len);
        name[o->name_len] = '\0';
        offer_cached(log, conn, mc, o, name);
        return;
    }
    pending_t *p = take_pending(mc, o->id);
    if (p == NULL) {
        fp__tp_close(conn, FP_ERR_PROTOCOL,
                     "MODULE_DATA for a module not offered (or not needed)");
        return;
    }
    data_arrived(log, conn, p, o->data, (size_t)o->size);
    free(p);
}

typedef struct mrx {
    const fp__logger_t *log;
    pending_t *p;
    void *buf;
} mrx_t;

static void data_received(fp__tp_conn_t *conn, void *ud, fp_status_t st,
                          const fp__wire_msg_t *m, void *buf, size_t len)
{
    (void)m;
    (void)buf;
    mrx_t *rx = ud;
    if (st == FP_OK)
        data_arrived(rx->log, conn, rx->p, rx->buf, len);
    fp__tp_conn_unref(conn);
    free(rx->buf);
    free(rx->p);
    free(rx);
}

void fp__modship_node_bulk(const fp__logger_t *log, fp__tp_conn_t *conn,
                           void **state, const fp__wire_msg_t *m, size_t len,
                           fp__tp_bulk_dest_t *dest)
{
    mconn_t *mc = mconn(state);
    if (mc == NULL)
        return; /* refused: the client's send fails */
    pending_t *p = take_pending(mc, m->u.module.id);
    if (p == NULL) { /* refused: the client's send fails */
        fp__warn(log, "refusing a MODULE_DATA from %s: module %" PRIu64
                      " was not offered (or not needed)",
                 fp__tp_conn_peer_id(conn), m->u.module.id);
        return;
    }
    mrx_t *rx = malloc(sizeof(*rx));
    void *buf = malloc(len > 0 ? len : 1);
    if (rx == NULL || buf == NULL) {
        free(rx);
        free(buf);
        reply(conn, p->id, FP__WIRE_MOD_FAILED, FP_ERR_NOMEM,
              "node: out of memory for the module's bytes");
        free(p);
        return;
    }
    rx->log = log;
    rx->p = p;
    rx->buf = buf;
    fp__tp_conn_ref(conn);
    dest->buf = buf;
    dest->done = data_received;
    dest->user_data = rx;
}

void fp__modship_conn_free(void *state)
{
    mconn_t *mc = state;
    if (mc == NULL)
        return;
    for (pending_t *p = mc->pending, *n; p != NULL; p = n) {
        n = p->next;
        free(p);
    }
    free(mc);
}
