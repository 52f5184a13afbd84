/*
 * Cluster files (cluster.h says the rules, docs/CONFIG.md the schema).
 *
 * One pass over the libconfig tree: each group's keys are checked against
 * its list of known keys first (so a typo is reported as such, not as a
 * missing setting), then each key is read with a typed getter that writes
 * the first error as "FILE:LINE: KEY: want ..., got ..." and stops.  The
 * checks that span keys (duplicates, what a bootstrap needs, elastic
 * bounds, file permissions) run after the whole group is read.
 */
#include "config/cluster.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/settings.h"

typedef struct ctx {
    const char *path; /* for messages */
    char *dir;        /* absolute: where relative paths start */
    fp_error_t *err;
    fp_status_t st;
    const char *at_file; /* the file of the setting line_of saw last (an */
                         /*  @include'd one, or NULL: c->path) */
} ctx_t;

/* ---- errors ------------------------------------------------------------- */

/* The file a message names: `f` (NULL: the main file).  libconfig names
 * an @include'd file as written, relative to the main file's folder: it
 * is shown joined to that folder. */
static void shown_file(const ctx_t *c, const char *f, char *out, size_t n)
{
    const char *slash = strrchr(c->path, '/');
    if (f == NULL || strcmp(f, c->path) == 0 || f[0] == '/' || slash == NULL)
        snprintf(out, n, "%s", f != NULL ? f : c->path);
    else
        snprintf(out, n, "%.*s/%s", (int)(slash - c->path), c->path, f);
}

static fp_status_t fail_at(ctx_t *c, int line, const char *key,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static fp_status_t fail_at(ctx_t *c, int line, const char *key,
                           const char *fmt, ...)
{
    if (c->st != FP_OK)
        return c->st;
    c->st = FP_ERR_CONFIG;
    if (c->err == NULL)
        return c->st;
    char what[FP_ERROR_MAX], full[PATH_MAX + 2 * FP_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    c->err->status = FP_ERR_CONFIG;
    c->err->index = line > 0 ? (size_t)line : 0;
    char file[PATH_MAX];
    shown_file(c, c->at_file, file, sizeof(file));
    c->at_file = NULL;
    if (line > 0)
        snprintf(full, sizeof(full), "%s:%d: %s: %s", file, line, key,
                 what);
    else
        snprintf(full, sizeof(full), "%s: %s: %s", c->path, key, what);
    /* a long path cuts the end of the message, never the line number */
    size_t n = strlen(full);
    if (n >= sizeof(c->err->message))
        n = sizeof(c->err->message) - 1;
    memcpy(c->err->message, full, n);
    c->err->message[n] = '\0';
    return c->st;
}

/* A setting's line, noting its file for the message that follows. */
static int at_line(ctx_t *c, const config_setting_t *s)
{
    if (s == NULL)
        return 0;
    c->at_file = config_setting_source_file(s);
    return (int)config_setting_source_line(s);
}
#define line_of(s) at_line(c, (s))

static fp_status_t nomem(ctx_t *c)
{
    if (c->st == FP_OK) {
        c->st = FP_ERR_NOMEM;
        if (c->err != NULL) {
            c->err->status = FP_ERR_NOMEM;
            c->err->index = 0;
            snprintf(c->err->message, sizeof(c->err->message),
                     "%s: out of memory", c->path);
        }
    }
    return c->st;
}

/* What a setting holds, for "got ...". */
static void got(const config_setting_t *s, char *out, size_t n)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(out, n, "%lld", config_setting_get_int64(s));
        return;
    case CONFIG_TYPE_FLOAT: {
        double d = config_setting_get_float(s);
        /* 3.0 must not read as the integer 3 it is not */
        snprintf(out, n, d == (double)(long long)d ? "%.1f" : "%g", d);
        return;
    }
    case CONFIG_TYPE_BOOL:
        snprintf(out, n, "%s", config_setting_get_bool(s) ? "true" : "false");
        return;
    case CONFIG_TYPE_STRING:
        snprintf(out, n, "\"%.100s\"", config_setting_get_string(s));
        return;
    case CONFIG_TYPE_GROUP:
        snprintf(out, n, "a group { }");
        return;
    case CONFIG_TYPE_ARRAY:
        snprintf(out, n, "an array [ ]");
        return;
    case CONFIG_TYPE_LIST:
        snprintf(out, n, "a list ( )");
        return;
    default:
        snprintf(out, n, "a value of unknown type");
        return;
    }
}

static fp_status_t want(ctx_t *c, const config_setting_t *s, const char *key,
                        const char *what)
{
    char g[128];
    got(s, g, sizeof(g));
    return fail_at(c, line_of(s), key, "want %s, got %s", what, g);
}

/* ---- unknown keys ------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* Every key of group `g` (named `where`) must be in `known`. */
static fp_status_t check_keys(ctx_t *c, const config_setting_t *g,
                              const char *where,
                              const char *const known[])
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        bool ok = false;
        const char *close = NULL;
        size_t best = SIZE_MAX;
        for (size_t k = 0; known[k] != NULL && !ok; k++) {
            ok = strcmp(name, known[k]) == 0;
            size_t d = edit_distance(name, known[k]);
            if (strcasecmp(name, known[k]) == 0)
                d = 0;
            if (d < best) {
                best = d;
                close = known[k];
            }
        }
        if (ok)
            continue;
        char key[160];
        snprintf(key, sizeof(key), "%s.%s", where, name);
        size_t limit = strlen(name) <= 4 ? 1 : 2;
        if (close != NULL && best <= limit)
            return fail_at(c, line_of(s), key,
                           "unknown key (did you mean \"%s\"?)", close);
        char list[200];
        size_t used = 0;
        list[0] = '\0';
        for (size_t k = 0; known[k] != NULL && used < sizeof(list); k++)
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                     k ? ", " : "", known[k]);
        return fail_at(c, line_of(s), key, "unknown key (known: %s)", list);
    }
    return FP_OK;
}

/* ---- typed getters: absent leaves *out alone and returns FP_OK ----------- */

static char *dup_or_nomem(ctx_t *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        nomem(c);
    return d;
}

static fp_status_t get_string(ctx_t *c, const config_setting_t *g,
                              const char *name, const char *key, char **out,
                              const config_setting_t **where)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (where != NULL)
        *where = s;
    if (s == NULL)
        return FP_OK;
    const char *v = config_setting_get_string(s);
    if (v == NULL)
        return want(c, s, key, "a string");
    if (*v == '\0')
        return fail_at(c, line_of(s), key, "want a non-empty string, got \"\"");
    if (strlen(v) > 4095)
        return fail_at(c, line_of(s), key,
                       "want a string of at most 4095 bytes, got %zu bytes",
                       strlen(v));
    free(*out);
    *out = dup_or_nomem(c, v);
    return c->st;
}

/* An integer lo..hi; with `auto_ok`, the string "auto" gives
 * FP__CLUSTER_AUTO. */
static fp_status_t get_int(ctx_t *c, const config_setting_t *g,
                           const char *name, const char *key, long long lo,
                           long long hi, bool auto_ok, int *out)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return FP_OK;
    char what[96];
    snprintf(what, sizeof(what), "an integer %lld..%lld%s", lo, hi,
             auto_ok ? " or \"auto\"" : "");
    int t = config_setting_type(s);
    if (auto_ok && t == CONFIG_TYPE_STRING &&
        strcmp(config_setting_get_string(s), "auto") == 0) {
        *out = FP__CLUSTER_AUTO;
        return FP_OK;
    }
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return want(c, s, key, what);
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi)
        return want(c, s, key, what);
    *out = (int)v;
    return FP_OK;
}

/* Seconds: an integer or a float, lo..hi. */
static fp_status_t get_seconds(ctx_t *c, const config_setting_t *g,
                               const char *name, const char *key, double lo,
                               double hi, double *out)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return FP_OK;
    char what[96];
    snprintf(what, sizeof(what), "a number of seconds %g..%g", lo, hi);
    double v;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v = (double)config_setting_get_int64(s);
        break;
    case CONFIG_TYPE_FLOAT:
        v = config_setting_get_float(s);
        break;
    default:
        return want(c, s, key, what);
    }
    if (!(v >= lo && v <= hi))
        return want(c, s, key, what);
    *out = v;
    return FP_OK;
}

static fp_status_t get_bool(ctx_t *c, const config_setting_t *g,
                            const char *name, const char *key, bool *out)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return FP_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return want(c, s, key, "true or false");
    *out = config_setting_get_bool(s) != 0;
    return FP_OK;
}

/* One of `names` (case-insensitive); *out is its index + 1. */
static fp_status_t get_enum(ctx_t *c, const config_setting_t *g,
                            const char *name, const char *key,
                            const char *const names[], int *out,
                            const config_setting_t **where)
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (where != NULL)
        *where = s;
    if (s == NULL)
        return FP_OK;
    char what[160];
    size_t used = (size_t)snprintf(what, sizeof(what), "one of");
    for (size_t i = 0; names[i] != NULL && used < sizeof(what); i++)
        used += (size_t)snprintf(what + used, sizeof(what) - used, "%s \"%s\"",
                                 i ? "," : "", names[i]);
    const char *v = config_setting_get_string(s);
    if (v != NULL)
        for (size_t i = 0; names[i] != NULL; i++)
            if (strcasecmp(v, names[i]) == 0) {
                *out = (int)i + 1;
                return FP_OK;
            }
    return want(c, s, key, what);
}

/* A group member that must be a group; NULL when absent. */
static fp_status_t get_group(ctx_t *c, const config_setting_t *g,
                             const char *name, const char *key,
                             const config_setting_t **out)
{
    *out = config_setting_get_member(g, name);
    if (*out != NULL && !config_setting_is_group(*out))
        return want(c, *out, key, "a group { ... }");
    return FP_OK;
}

/* A list or array of strings (each non-empty); `one` checks each. */
static fp_status_t get_strings(ctx_t *c, const config_setting_t *g,
                               const char *name, const char *key,
                               char ***out, size_t *n_out,
                               fp_status_t (*one)(ctx_t *,
                                                  const config_setting_t *,
                                                  const char *, const char *))
{
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return FP_OK;
    if (!config_setting_is_list(s) && !config_setting_is_array(s))
        return want(c, s, key, "a list of strings [\"...\", ...]");
    int n = config_setting_length(s);
    char **v = calloc((size_t)n + 1, sizeof(*v));
    if (v == NULL)
        return nomem(c);
    for (int i = 0; i < n && c->st == FP_OK; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char ek[200];
        snprintf(ek, sizeof(ek), "%s[%d]", key, i);
        const char *x = config_setting_get_string(e);
        if (x == NULL || *x == '\0') {
            want(c, e, ek, "a non-empty string");
            break;
        }
        if (one != NULL && one(c, e, ek, x) != FP_OK)
            break;
        v[i] = dup_or_nomem(c, x);
    }
    if (c->st != FP_OK) {
        for (int i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return c->st;
    }
    *out = v;
    *n_out = (size_t)n;
    return FP_OK;
}

/* ---- paths -------------------------------------------------------------- */

/* `~`, `~/x`, `~user/x` expanded; a relative path joined to c->dir. */
static fp_status_t local_path(ctx_t *c, const config_setting_t *s,
                              const char *key, const char *p, char **out)
{
    char buf[PATH_MAX];
    char pwbuf[4096]; /* the password entry's strings (thread-safe calls) */
    if (p[0] == '~') {
        const char *rest = strchr(p, '/');
        size_t ulen = rest != NULL ? (size_t)(rest - p - 1) : strlen(p) - 1;
        const char *home = NULL;
        if (ulen == 0) {
            home = secure_getenv("HOME");
            if (home == NULL || *home == '\0') {
                struct passwd pwb, *pw = NULL;
                if (getpwuid_r(geteuid(), &pwb, pwbuf, sizeof(pwbuf), &pw) ==
                        0 &&
                    pw != NULL)
                    home = pw->pw_dir;
            }
        } else {
            char user[256];
            if (ulen >= sizeof(user))
                return fail_at(c, line_of(s), key, "user name in \"%s\" is too "
                               "long", p);
            memcpy(user, p + 1, ulen);
            user[ulen] = '\0';
            struct passwd pwb, *pw = NULL;
            if (getpwnam_r(user, &pwb, pwbuf, sizeof(pwbuf), &pw) != 0 ||
                pw == NULL)
                return fail_at(c, line_of(s), key,
                               "\"%s\": no user \"%s\" for ~%s", p, user, user);
            home = pw->pw_dir;
        }
        if (home == NULL)
            return fail_at(c, line_of(s), key,
                           "\"%s\": cannot expand ~ (no HOME)", p);
        if (snprintf(buf, sizeof(buf), "%s%s", home, rest != NULL ? rest : "") >=
            (int)sizeof(buf))
            return fail_at(c, line_of(s), key, "path too long");
    } else if (p[0] == '/') {
        if (snprintf(buf, sizeof(buf), "%s", p) >= (int)sizeof(buf))
            return fail_at(c, line_of(s), key, "path too long");
    } else {
        if (snprintf(buf, sizeof(buf), "%s/%s", c->dir, p) >= (int)sizeof(buf))
            return fail_at(c, line_of(s), key, "path too long");
    }
    free(*out);
    *out = dup_or_nomem(c, buf);
    return c->st;
}

static fp_status_t get_path(ctx_t *c, const config_setting_t *g,
                            const char *name, const char *key, char **out)
{
    const config_setting_t *s;
    char *raw = NULL;
    if (get_string(c, g, name, key, &raw, &s) != FP_OK || raw == NULL)
        return c->st;
    local_path(c, s, key, raw, out);
    free(raw);
    return c->st;
}

/* The secret file: a regular file (not a link), owned by this user, no
 * access for group or others, not empty; the transport checks the same
 * again on the descriptor it reads. */
static fp_status_t check_secret(ctx_t *c, const config_setting_t *s,
                                const char *key, const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return fail_at(c, line_of(s), key, "%s: %s", path, strerror(errno));
    if (S_ISLNK(sb.st_mode))
        return fail_at(c, line_of(s), key,
                       "%s is a symbolic link; name the file itself", path);
    if (!S_ISREG(sb.st_mode))
        return fail_at(c, line_of(s), key, "%s is not a regular file", path);
    if (sb.st_uid != geteuid())
        return fail_at(c, line_of(s), key,
                       "%s is owned by uid %lu, not by this user (uid %lu)",
                       path, (unsigned long)sb.st_uid,
                       (unsigned long)geteuid());
    if ((sb.st_mode & 077) != 0)
        return fail_at(c, line_of(s), key,
                       "%s has mode %04o: group and others must have no "
                       "access to a secret (chmod 600 %s)",
                       path, (unsigned)(sb.st_mode & 07777), path);
    if (sb.st_size == 0)
        return fail_at(c, line_of(s), key, "%s is empty", path);
    return FP_OK;
}

/* ---- values with a shape ------------------------------------------------ */

/* A host name or IP address: no port, no user, no blanks. */
static fp_status_t check_address(ctx_t *c, const config_setting_t *s,
                                 const char *key, const char *a)
{
    if (strchr(a, '@') != NULL)
        return fail_at(c, line_of(s), key,
                       "want a host name or IP address, got \"%s\" (give the "
                       "user as ssh.user)",
                       a);
    size_t colons = 0;
    for (const char *p = a; *p; p++) {
        if (*p == ':')
            colons++;
        else if (*p <= ' ' || *p == '/' || *p == '[' || *p == ']' ||
                 *p == ',' || *p == '\x7f')
            return fail_at(c, line_of(s), key,
                           "want a host name or IP address, got \"%s\"", a);
    }
    if (colons == 1)
        return fail_at(c, line_of(s), key,
                       "want a host name or IP address without a port, got "
                       "\"%s\" (give the port as listen_port or ssh.port)",
                       a);
    if (strlen(a) > 253)
        return fail_at(c, line_of(s), key, "host name longer than 253 bytes");
    return FP_OK;
}

static fp_status_t check_ssh_option(ctx_t *c, const config_setting_t *s,
                                    const char *key, const char *o)
{
    if (o[0] == '-')
        return fail_at(c, line_of(s), key,
                       "want an ssh option \"Key=Value\" (without -o), got "
                       "\"%.100s\"",
                       o);
    for (const char *p = o; *p; p++)
        if (*p == '\n' || *p == '\r')
            return fail_at(c, line_of(s), key,
                           "an ssh option must be one line");
    if (strchr(o, '=') == NULL && strchr(o, ' ') == NULL)
        return fail_at(c, line_of(s), key,
                       "want an ssh option \"Key=Value\", got \"%.100s\"", o);
    return FP_OK;
}

static fp_status_t check_transport(ctx_t *c, const config_setting_t *s,
                                   const char *key, const char *t)
{
    if (strcmp(t, "auto") == 0 || strchr(t, ',') != NULL ||
        !fp__transports_valid(t))
        return fail_at(c, line_of(s), key,
                       "want a transport name (shm, tcp, rc, ud, dc or a UCX "
                       "transport name), got \"%.100s\"",
                       t);
    return FP_OK;
}

/* "HOST:PORT" or "[V6]:PORT". */
static fp_status_t parse_server(ctx_t *c, const config_setting_t *s,
                                const char *key, fp__cluster_t *cl)
{
    const char *v = cl->server;
    const char *colon;
    char host[256];
    size_t hlen;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        hlen = (size_t)(close - v - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            goto bad;
        memcpy(host, v + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL || colon == v || memchr(v, ':', (size_t)(colon - v)))
            goto bad;
        hlen = (size_t)(colon - v);
        if (hlen >= sizeof(host))
            goto bad;
        memcpy(host, v, hlen);
    }
    host[hlen] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
        port < 1 || port > 65535)
        return fail_at(c, line_of(s), key,
                       "want \"HOST:PORT\" with a port 1..65535, got \"%s\"",
                       v);
    for (const char *p = host; *p; p++)
        if (*p <= ' ' || *p == '@' || *p == '/')
            goto bad;
    cl->server_port = (int)port;
    cl->server_host = dup_or_nomem(c, host);
    return c->st;
bad:
    return fail_at(c, line_of(s), key,
                   "want \"HOST:PORT\" (\"[ADDR]:PORT\" for IPv6), got \"%s\"",
                   v);
}

/* ---- groups ------------------------------------------------------------- */

static const char *const ssh_keys[] = {"user",          "port",
                                       "identity_file", "config_file",
                                       "options",       "connect_timeout",
                                       NULL};

static fp_status_t read_ssh(ctx_t *c, const config_setting_t *g,
                            const char *where, fp__cluster_ssh_t *ssh)
{
    char key[160];
    if (check_keys(c, g, where, ssh_keys) != FP_OK)
        return c->st;
#define K(name) (snprintf(key, sizeof(key), "%s.%s", where, name), key)
    get_string(c, g, "user", K("user"), &ssh->user, NULL);
    if (c->st == FP_OK && ssh->user != NULL) {
        const config_setting_t *s = config_setting_get_member(g, "user");
        for (const char *p = ssh->user; *p; p++)
            if (*p <= ' ' || *p == '@' || *p == ':')
                return fail_at(c, line_of(s), K("user"),
                               "want a user name, got \"%s\"", ssh->user);
    }
    if (c->st == FP_OK)
        get_int(c, g, "port", K("port"), 1, 65535, false, &ssh->port);
    if (c->st == FP_OK)
        get_path(c, g, "identity_file", K("identity_file"),
                 &ssh->identity_file);
    if (c->st == FP_OK)
        get_path(c, g, "config_file", K("config_file"), &ssh->config_file);
    if (c->st == FP_OK)
        get_strings(c, g, "options", K("options"), &ssh->options,
                    &ssh->n_options, check_ssh_option);
    if (c->st == FP_OK)
        get_int(c, g, "connect_timeout", K("connect_timeout"), 1, 3600, false,
                &ssh->connect_timeout);
#undef K
    return c->st;
}

static void ssh_free(fp__cluster_ssh_t *ssh)
{
    free(ssh->user);
    free(ssh->identity_file);
    free(ssh->config_file);
    for (size_t i = 0; i < ssh->n_options; i++)
        free(ssh->options[i]);
    free(ssh->options);
    memset(ssh, 0, sizeof(*ssh));
}

/* dst = own over base: scalars where `own` leaves them unset, options
 * own's first. */
static fp_status_t ssh_merge(ctx_t *c, fp__cluster_ssh_t *own,
                             const fp__cluster_ssh_t *base)
{
    if (own->user == NULL && base->user != NULL)
        own->user = dup_or_nomem(c, base->user);
    if (own->identity_file == NULL && base->identity_file != NULL)
        own->identity_file = dup_or_nomem(c, base->identity_file);
    if (own->config_file == NULL && base->config_file != NULL)
        own->config_file = dup_or_nomem(c, base->config_file);
    if (own->port == 0)
        own->port = base->port;
    if (own->connect_timeout == 0)
        own->connect_timeout = base->connect_timeout;
    if (base->n_options > 0 && c->st == FP_OK) {
        size_t n = own->n_options + base->n_options;
        char **v = realloc(own->options, (n + 1) * sizeof(*v));
        if (v == NULL)
            return nomem(c);
        own->options = v;
        for (size_t i = 0; i < base->n_options; i++) {
            v[own->n_options] = dup_or_nomem(c, base->options[i]);
            if (v[own->n_options] == NULL)
                break;
            own->n_options++;
        }
        v[own->n_options] = NULL;
    }
    return c->st;
}

static fp_status_t read_gpus(ctx_t *c, const config_setting_t *g,
                             const char *key, fp__cluster_host_t *h)
{
    const config_setting_t *s = config_setting_get_member(g, "gpus");
    if (s == NULL)
        return FP_OK;
    static const char what[] =
        "an integer 0..1024, \"auto\" or a list of device indices [0, 1, ...]";
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        int t = config_setting_type(s);
        if (t == CONFIG_TYPE_STRING &&
            strcmp(config_setting_get_string(s), "auto") == 0) {
            h->gpus = FP__CLUSTER_AUTO;
            return FP_OK;
        }
        long long v = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64
                          ? config_setting_get_int64(s)
                          : -1;
        if (v < 0 || v > 1024)
            return want(c, s, key, what);
        h->gpus = (int)v;
        return FP_OK;
    }
    int n = config_setting_length(s);
    if (n == 0)
        return fail_at(c, line_of(s), key,
                       "want a list of device indices [0, 1, ...], got an "
                       "empty list (write gpus = 0 for none)");
    h->gpu_ids = calloc((size_t)n, sizeof(int));
    if (h->gpu_ids == NULL)
        return nomem(c);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char ek[200];
        snprintf(ek, sizeof(ek), "%s[%d]", key, i);
        int t = config_setting_type(e);
        long long v = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64
                          ? config_setting_get_int64(e)
                          : -1;
        if (v < 0 || v > 1023)
            return want(c, e, ek, "a device index 0..1023");
        for (int j = 0; j < i; j++)
            if (h->gpu_ids[j] == (int)v)
                return fail_at(c, line_of(e), ek,
                               "device %lld is listed twice", v);
        h->gpu_ids[i] = (int)v;
        h->n_gpu_ids = (size_t)i + 1;
    }
    h->gpus = n;
    return FP_OK;
}

static const char *const host_keys[] = {
    "name", "address", "executors", "gpus", "listen_port", "ssh", NULL};

static fp_status_t read_host(ctx_t *c, const config_setting_t *g, size_t i,
                             fp__cluster_t *cl, fp__cluster_host_t *h)
{
    char where[64], key[160];
    snprintf(where, sizeof(where), "cluster.hosts[%zu]", i);
    h->line = line_of(g);
    h->executors = FP__CLUSTER_AUTO;
    h->gpus = 0;
    h->listen_port = cl->node.listen_port;
    if (!config_setting_is_group(g))
        return want(c, g, where, "a host group { address = \"...\"; ... }");
    if (check_keys(c, g, where, host_keys) != FP_OK)
        return c->st;
#define K(name) (snprintf(key, sizeof(key), "%s.%s", where, name), key)
    const config_setting_t *as;
    get_string(c, g, "address", K("address"), &h->address, &as);
    if (c->st == FP_OK && h->address == NULL)
        return fail_at(c, line_of(g), where,
                       "missing address (a host name or IP address)");
    if (c->st == FP_OK)
        check_address(c, as, K("address"), h->address);
    if (c->st == FP_OK)
        get_string(c, g, "name", K("name"), &h->name, NULL);
    if (c->st == FP_OK && h->name == NULL)
        h->name = dup_or_nomem(c, h->address);
    if (c->st == FP_OK)
        get_int(c, g, "executors", K("executors"), 1, 4096, true,
                &h->executors);
    if (c->st == FP_OK)
        read_gpus(c, g, K("gpus"), h);
    if (c->st == FP_OK)
        get_int(c, g, "listen_port", K("listen_port"), 0, 65535, false,
                &h->listen_port);
    const config_setting_t *sg = NULL;
    if (c->st == FP_OK)
        get_group(c, g, "ssh", K("ssh"), &sg);
    if (c->st == FP_OK && sg != NULL)
        read_ssh(c, sg, K("ssh"), &h->ssh);
    if (c->st == FP_OK)
        ssh_merge(c, &h->ssh, &cl->ssh);
#undef K
    return c->st;
}

static fp_status_t read_hosts(ctx_t *c, const config_setting_t *cg,
                              fp__cluster_t *cl, const config_setting_t **hs)
{
    const config_setting_t *s = config_setting_get_member(cg, "hosts");
    *hs = s;
    if (s == NULL)
        return FP_OK;
    if (!config_setting_is_list(s) &&
        !(config_setting_is_array(s) && config_setting_length(s) == 0))
        return want(c, s, "cluster.hosts",
                    "a list of host groups ( { address = \"...\"; }, ... )");
    int n = config_setting_length(s);
    if (n > 65536)
        return fail_at(c, line_of(s), "cluster.hosts",
                       "at most 65536 hosts, got %d", n);
    cl->hosts = calloc((size_t)n + 1, sizeof(*cl->hosts));
    if (cl->hosts == NULL)
        return nomem(c);
    for (int i = 0; i < n && c->st == FP_OK; i++) {
        cl->n_hosts = (size_t)i + 1;
        read_host(c, config_setting_get_elem(s, (unsigned)i), (size_t)i, cl,
                  &cl->hosts[i]);
    }
    /* the same machine twice would run two nodes where one was meant */
    for (size_t i = 0; i < cl->n_hosts && c->st == FP_OK; i++)
        for (size_t j = 0; j < i && c->st == FP_OK; j++) {
            const fp__cluster_host_t *a = &cl->hosts[i], *b = &cl->hosts[j];
            char key[64];
            int bline = line_of(config_setting_get_elem(s, (unsigned)j));
            int aline = line_of(config_setting_get_elem(s, (unsigned)i));
            if (strcasecmp(a->address, b->address) == 0 &&
                a->listen_port == b->listen_port) {
                snprintf(key, sizeof(key), "cluster.hosts[%zu].address", i);
                fail_at(c, aline, key,
                        "\"%s\" is already hosts[%zu] (line %d)%s", a->address,
                        j, bline,
                        a->listen_port == 0
                            ? "; two nodes on one host need distinct "
                              "listen_port values"
                            : "");
            } else if (strcmp(a->name, b->name) == 0) {
                snprintf(key, sizeof(key), "cluster.hosts[%zu].name", i);
                fail_at(c, aline, key,
                        "\"%s\" is already the name of hosts[%zu] (line %d)",
                        a->name, j, bline);
            }
        }
    return c->st;
}

static fp_status_t read_env(ctx_t *c, const config_setting_t *cg,
                            fp__cluster_t *cl)
{
    const config_setting_t *g;
    if (get_group(c, cg, "environment", "cluster.environment", &g) != FP_OK ||
        g == NULL)
        return c->st;
    int n = config_setting_length(g);
    cl->env = calloc((size_t)n + 1, sizeof(*cl->env));
    if (cl->env == NULL)
        return nomem(c);
    for (int i = 0; i < n && c->st == FP_OK; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        char key[200];
        snprintf(key, sizeof(key), "cluster.environment.%s", name);
        bool ok = !(name[0] >= '0' && name[0] <= '9');
        for (const char *p = name; *p && ok; p++)
            ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                 (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            return fail_at(c, line_of(s), key,
                           "want a variable name of letters, digits and _");
        const char *v = config_setting_get_string(s);
        if (v == NULL)
            return want(c, s, key,
                        "a string (quote numbers: NAME = \"1\";)");
        cl->env[i].name = dup_or_nomem(c, name);
        cl->env[i].value = dup_or_nomem(c, v);
        cl->n_env = (size_t)i + 1;
    }
    return c->st;
}

static const char *const node_keys[] = {"program", "bundle", "cache_dir",
                                        "listen_port", NULL};
static const char *const bundle_names[] = {"auto", "always", "never", NULL};

static fp_status_t read_node(ctx_t *c, const config_setting_t *cg,
                             fp__cluster_t *cl)
{
    const config_setting_t *g;
    if (get_group(c, cg, "node", "cluster.node", &g) != FP_OK || g == NULL)
        return c->st;
    if (check_keys(c, g, "cluster.node", node_keys) != FP_OK)
        return c->st;
    get_string(c, g, "program", "cluster.node.program", &cl->node.program,
               NULL);
    int b = (int)cl->node.bundle;
    if (c->st == FP_OK)
        get_enum(c, g, "bundle", "cluster.node.bundle", bundle_names, &b,
                 NULL);
    cl->node.bundle = (fp__bundle_t)b;
    if (c->st == FP_OK)
        get_string(c, g, "cache_dir", "cluster.node.cache_dir",
                   &cl->node.cache_dir, NULL);
    if (c->st == FP_OK)
        get_int(c, g, "listen_port", "cluster.node.listen_port", 0, 65535,
                false, &cl->node.listen_port);
    return c->st;
}

static const char *const elastic_keys[] = {"min", "max", "idle_timeout",
                                           "scale_up_after", NULL};

static fp_status_t read_elastic(ctx_t *c, const config_setting_t *cg,
                                fp__cluster_t *cl,
                                const config_setting_t **eg)
{
    const config_setting_t *g;
    if (get_group(c, cg, "elastic", "cluster.elastic", &g) != FP_OK)
        return c->st;
    *eg = g;
    if (g == NULL)
        return FP_OK;
    if (check_keys(c, g, "cluster.elastic", elastic_keys) != FP_OK)
        return c->st;
    cl->elastic.enabled = true;
    cl->elastic.min = -1;
    cl->elastic.max = -1;
    get_int(c, g, "min", "cluster.elastic.min", 0, 65536, false,
            &cl->elastic.min);
    if (c->st == FP_OK)
        get_int(c, g, "max", "cluster.elastic.max", 1, 65536, false,
                &cl->elastic.max);
    if (c->st == FP_OK)
        get_seconds(c, g, "idle_timeout", "cluster.elastic.idle_timeout", 0,
                    604800, &cl->elastic.idle_timeout);
    if (c->st == FP_OK)
        get_seconds(c, g, "scale_up_after", "cluster.elastic.scale_up_after",
                    0, 86400, &cl->elastic.scale_up_after);
    return c->st;
}

static const char *const cluster_keys[] = {
    "name",    "bootstrap",   "server", "secret_file", "transports",
    "encrypt", "environment", "node",   "ssh",         "elastic",
    "hosts",   NULL};
static const char *const bootstrap_names[] = {"ssh",   "server", "mpirun",
                                              "slurm", "none",   NULL};

const char *fp__bootstrap_name(fp__bootstrap_t b)
{
    return b >= FP__BOOTSTRAP_SSH && b <= FP__BOOTSTRAP_NONE
               ? bootstrap_names[b - 1]
               : "?";
}

/* The whole tree; the default name comes from c->path. */
static fp_status_t read_cluster(ctx_t *c, config_t *lc, fp__cluster_t *cl)
{
    const config_setting_t *root = config_root_setting(lc);
    const config_setting_t *cg = config_setting_get_member(root, "cluster");
    if (cg == NULL) {
        /* a typo of the group's name is the likely cause */
        for (int i = 0; i < config_setting_length(root); i++) {
            const config_setting_t *s =
                config_setting_get_elem(root, (unsigned)i);
            if (edit_distance(config_setting_name(s), "cluster") <= 2)
                return fail_at(c, line_of(s), config_setting_name(s),
                               "unknown group (did you mean \"cluster\"?)");
        }
        return fail_at(c, 0, "cluster", "missing: a cluster file needs a "
                       "cluster = { bootstrap = \"...\"; ... } group");
    }
    if (!config_setting_is_group(cg))
        return want(c, cg, "cluster", "a group { ... }");
    if (check_keys(c, cg, "cluster", cluster_keys) != FP_OK)
        return c->st;

    /* defaults */
    cl->node.bundle = FP__BUNDLE_AUTO;
    cl->ssh.connect_timeout = 10;
    cl->elastic.idle_timeout = 300;
    cl->elastic.scale_up_after = 5;

    get_string(c, cg, "name", "cluster.name", &cl->name, NULL);
    const config_setting_t *bs = NULL;
    int boot = 0;
    if (c->st == FP_OK)
        get_enum(c, cg, "bootstrap", "cluster.bootstrap", bootstrap_names,
                 &boot, &bs);
    if (c->st == FP_OK && bs == NULL)
        return fail_at(c, line_of(cg), "cluster.bootstrap",
                       "missing: want one of \"ssh\", \"server\", \"mpirun\", "
                       "\"slurm\", \"none\"");
    cl->bootstrap = (fp__bootstrap_t)boot;

    const config_setting_t *ss = NULL;
    if (c->st == FP_OK)
        get_string(c, cg, "server", "cluster.server", &cl->server, &ss);
    if (c->st == FP_OK && cl->server != NULL)
        parse_server(c, ss, "cluster.server", cl);
    if (c->st == FP_OK && cl->bootstrap == FP__BOOTSTRAP_SERVER &&
        cl->server == NULL)
        return fail_at(c, line_of(bs), "cluster.bootstrap",
                       "\"server\" needs cluster.server = \"HOST:PORT\" (the "
                       "rendezvous server's address)");

    const config_setting_t *sf = NULL;
    if (c->st == FP_OK) {
        sf = config_setting_get_member(cg, "secret_file");
        get_path(c, cg, "secret_file", "cluster.secret_file",
                 &cl->secret_file);
    }
    if (c->st == FP_OK && cl->secret_file != NULL)
        check_secret(c, sf, "cluster.secret_file", cl->secret_file);

    if (c->st == FP_OK) {
        const config_setting_t *ts = config_setting_get_member(cg,
                                                               "transports");
        if (ts != NULL && config_setting_type(ts) == CONFIG_TYPE_STRING) {
            if (strcmp(config_setting_get_string(ts), "auto") != 0)
                return want(c, ts, "cluster.transports",
                            "\"auto\" or a list of transport names [\"shm\", "
                            "\"tcp\", ...]");
            cl->transports = dup_or_nomem(c, "auto");
        } else if (ts != NULL) {
            char **v = NULL;
            size_t n = 0;
            if (get_strings(c, cg, "transports", "cluster.transports", &v, &n,
                            check_transport) != FP_OK)
                return c->st;
            size_t len = 1;
            for (size_t i = 0; i < n; i++)
                len += strlen(v[i]) + 1;
            if (n == 0)
                want(c, ts, "cluster.transports",
                     "\"auto\" or a non-empty list of transport names");
            else if (len > 255)
                fail_at(c, line_of(ts), "cluster.transports",
                        "list too long (at most 255 bytes joined)");
            else if ((cl->transports = calloc(1, len)) == NULL)
                nomem(c);
            for (size_t i = 0; i < n; i++) {
                if (cl->transports != NULL) {
                    if (i)
                        strcat(cl->transports, ",");
                    strcat(cl->transports, v[i]);
                }
                free(v[i]);
            }
            free(v);
        }
    }
    if (c->st == FP_OK && cl->transports != NULL) {
        const config_setting_t *tl = config_lookup(lc, "transport.list");
        if (tl != NULL) {
            int other = line_of(config_setting_get_member(cg, "transports"));
            return fail_at(c, line_of(tl), "transport.list",
                           "cluster.transports is set too (line %d): keep one",
                           other);
        }
    }
    if (c->st == FP_OK)
        get_bool(c, cg, "encrypt", "cluster.encrypt", &cl->encrypt);
    if (c->st == FP_OK)
        read_env(c, cg, cl);
    if (c->st == FP_OK)
        read_node(c, cg, cl);
    /* no program: the client's own (SPMD), which boot/ssh.c ships */
    if (c->st == FP_OK && cl->node.cache_dir == NULL)
        cl->node.cache_dir = dup_or_nomem(c, "~/.cache/fastpool");
    const config_setting_t *sg = NULL;
    if (c->st == FP_OK)
        get_group(c, cg, "ssh", "cluster.ssh", &sg);
    if (c->st == FP_OK && sg != NULL)
        read_ssh(c, sg, "cluster.ssh", &cl->ssh);
    const config_setting_t *eg = NULL;
    if (c->st == FP_OK)
        read_elastic(c, cg, cl, &eg);
    const config_setting_t *hs = NULL;
    if (c->st == FP_OK)
        read_hosts(c, cg, cl, &hs);
    if (c->st != FP_OK)
        return c->st;

    /* what the bootstrap needs */
    bool needs_hosts = cl->bootstrap == FP__BOOTSTRAP_SSH ||
                       cl->bootstrap == FP__BOOTSTRAP_MPIRUN ||
                       cl->bootstrap == FP__BOOTSTRAP_NONE;
    if (needs_hosts && cl->n_hosts == 0) {
        if (hs != NULL)
            return fail_at(c, line_of(hs), "cluster.hosts",
                           "bootstrap \"%s\" needs at least one host, got an "
                           "empty list",
                           fp__bootstrap_name(cl->bootstrap));
        return fail_at(c, line_of(bs), "cluster.hosts",
                       "missing: bootstrap \"%s\" needs a list of hosts",
                       fp__bootstrap_name(cl->bootstrap));
    }
    if (cl->bootstrap == FP__BOOTSTRAP_NONE)
        for (size_t i = 0; i < cl->n_hosts; i++)
            if (cl->hosts[i].listen_port == 0) {
                char key[64];
                snprintf(key, sizeof(key), "cluster.hosts[%zu].listen_port",
                         i);
                return fail_at(c,
                               line_of(config_setting_get_elem(hs,
                                                               (unsigned)i)),
                               key,
                               "bootstrap \"none\" connects to running nodes: "
                               "want the port the node listens on (1..65535)");
            }

    /* elastic bounds */
    int nh = (int)cl->n_hosts;
    if (!cl->elastic.enabled) {
        cl->elastic.min = cl->elastic.max = nh;
    } else {
        bool from_hosts = needs_hosts;
        if (cl->elastic.max < 0) {
            if (!from_hosts)
                return fail_at(c, line_of(eg), "cluster.elastic.max",
                               "missing: bootstrap \"%s\" has no host list to "
                               "bound it",
                               fp__bootstrap_name(cl->bootstrap));
            cl->elastic.max = nh;
        }
        if (cl->elastic.min < 0)
            cl->elastic.min = cl->elastic.max < 1 ? cl->elastic.max : 1;
        const config_setting_t *mn = config_setting_get_member(eg, "min");
        const config_setting_t *mx = config_setting_get_member(eg, "max");
        if (cl->elastic.min > cl->elastic.max)
            return fail_at(c, line_of(mn != NULL ? mn : eg),
                           "cluster.elastic.min",
                           "min (%d) is greater than max (%d)",
                           cl->elastic.min, cl->elastic.max);
        if (from_hosts && cl->elastic.max > nh)
            return fail_at(c, line_of(mx != NULL ? mx : eg),
                           "cluster.elastic.max",
                           "%d nodes, but bootstrap \"%s\" has only %d "
                           "host%s listed",
                           cl->elastic.max, fp__bootstrap_name(cl->bootstrap),
                           nh, nh == 1 ? "" : "s");
    }

    if (cl->name == NULL) {
        const char *base = strrchr(c->path, '/');
        base = base != NULL ? base + 1 : c->path;
        size_t n = strlen(base);
        if (n > 4 && strcmp(base + n - 4, ".cfg") == 0)
            n -= 4;
        cl->name = strndup(base, n);
        if (cl->name == NULL)
            return nomem(c);
    }
    return c->st;
}

/* ---- entry points ------------------------------------------------------- */

static fp_status_t set_dir(ctx_t *c, const char *path)
{
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(cwd, sizeof(cwd), ".");
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    if (slash == NULL) {
        c->dir = strdup(cwd);
    } else if (path[0] == '/') {
        c->dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    } else {
        size_t n = strlen(cwd) + 1 + (size_t)(slash - path) + 1;
        if ((c->dir = malloc(n)) != NULL)
            snprintf(c->dir, n, "%s/%.*s", cwd, (int)(slash - path), path);
    }
    return c->dir != NULL ? FP_OK : nomem(c);
}

static fp_status_t parse(config_t *lc, bool from_file, const char *text,
                         const char *path, fp__cluster_t **out,
                         fp_error_t *err)
{
    ctx_t c = {.path = path != NULL ? path : "<string>", .err = err};
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    fp__cluster_t *cl = calloc(1, sizeof(*cl));
    if (cl == NULL || (cl->path = strdup(c.path)) == NULL) {
        free(cl);
        return nomem(&c);
    }
    if (set_dir(&c, path) != FP_OK)
        goto out;
    int ok = from_file ? config_read_file(lc, path)
                       : config_read_string(lc, text);
    if (ok != CONFIG_TRUE) {
        if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
            c.st = FP_ERR_IO;
            if (err != NULL) {
                err->status = FP_ERR_IO;
                snprintf(err->message, sizeof(err->message),
                         "%s: cannot read the file: %s", c.path,
                         strerror(errno != 0 ? errno : EIO));
            }
        } else {
            c.st = FP_ERR_CONFIG;
            if (err != NULL) {
                err->status = FP_ERR_CONFIG;
                err->index = (size_t)config_error_line(lc);
                char f[PATH_MAX], full[PATH_MAX + 256];
                shown_file(&c, config_error_file(lc), f, sizeof(f));
                snprintf(full, sizeof(full), "%s:%d: syntax error: %s", f,
                         config_error_line(lc), config_error_text(lc));
                size_t n = strlen(full);
                if (n >= sizeof(err->message))
                    n = sizeof(err->message) - 1;
                memcpy(err->message, full, n);
                err->message[n] = '\0';
            }
        }
        goto out;
    }
    read_cluster(&c, lc, cl);
out:
    free(c.dir);
    if (c.st != FP_OK) {
        fp__cluster_free(cl);
        return c.st;
    }
    *out = cl;
    return FP_OK;
}

fp_status_t fp__cluster_parse_string(const char *text, const char *path,
                                     fp__cluster_t **out, fp_error_t *err)
{
    if (text == NULL || out == NULL)
        return FP_ERR_INVALID;
    config_t lc;
    config_init(&lc);
    fp_status_t st = parse(&lc, false, text, path, out, err);
    config_destroy(&lc);
    return st;
}

fp_status_t fp__cluster_load(const char *path, fp__cluster_t **out,
                             fp_error_t *err)
{
    if (path == NULL || out == NULL)
        return FP_ERR_INVALID;
    config_t lc;
    config_init(&lc);
    /* @include "x" in the file is relative to the file's directory */
    char *dir = strdup(path);
    if (dir == NULL) {
        config_destroy(&lc);
        return FP_ERR_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        slash[slash == dir ? 1 : 0] = '\0';
        config_set_include_dir(&lc, dir);
    }
    errno = 0;
    fp__cluster_t *cl = NULL;
    fp_status_t st = parse(&lc, true, NULL, path, &cl, err);
    config_destroy(&lc);
    free(dir);
    if (st != FP_OK)
        return st;
    /* the settings reader's groups in the same file */
    fp__config_t *settings = NULL;
    char reason[FP_ERROR_MAX];
    reason[0] = '\0';
    st = fp__config_load(path, &settings, reason, sizeof(reason));
    if (st != FP_OK) {
        if (err != NULL) {
            err->status = st;
            err->index = 0;
            snprintf(err->message, sizeof(err->message), "%s", reason);
        }
        fp__cluster_free(cl);
        return st;
    }
    fp__config_free(settings);
    *out = cl;
    return FP_OK;
}

void fp__cluster_free(fp__cluster_t *cl)
{
    if (cl == NULL)
        return;
    for (size_t i = 0; i < cl->n_hosts; i++) {
        fp__cluster_host_t *h = &cl->hosts[i];
        free(h->name);
        free(h->address);
        free(h->gpu_ids);
        ssh_free(&h->ssh);
    }
    free(cl->hosts);
    for (size_t i = 0; i < cl->n_env; i++) {
        free(cl->env[i].name);
        free(cl->env[i].value);
    }
    free(cl->env);
    ssh_free(&cl->ssh);
    free(cl->node.program);
    free(cl->node.cache_dir);
    free(cl->transports);
    free(cl->secret_file);
    free(cl->server_host);
    free(cl->server);
    free(cl->name);
    free(cl->path);
    free(cl);
}

/* ---- describe ----------------------------------------------------------- */

static void fmt_count(int v, char *out, size_t n)
{
    if (v == FP__CLUSTER_AUTO)
        snprintf(out, n, "auto");
    else
        snprintf(out, n, "%d", v);
}

void fp__cluster_describe(const fp__cluster_t *cl, FILE *out)
{
    static const char *const bundles[] = {"?", "auto", "always", "never"};
    fprintf(out, "cluster %s (%s)\n", cl->name, cl->path);
    fprintf(out, "  bootstrap    %s", fp__bootstrap_name(cl->bootstrap));
    if (cl->server != NULL)
        fprintf(out, " (server %s)", cl->server);
    fprintf(out, "\n  secret       %s\n",
            cl->secret_file != NULL ? cl->secret_file
                                    : "(FP_SECRET_FILE or FP_SECRET)");
    fprintf(out, "  transports   %s\n",
            cl->transports != NULL ? cl->transports
                                   : "(transport.list, FP_TRANSPORT or auto)");
    fprintf(out, "  encrypt      %s\n", cl->encrypt ? "yes" : "no");
    fprintf(out, "  node         %s, bundle %s, cache %s\n", cl->node.program,
            bundles[cl->node.bundle <= FP__BUNDLE_NEVER ? cl->node.bundle : 0],
            cl->node.cache_dir);
    if (cl->elastic.enabled)
        fprintf(out,
                "  elastic      %d..%d nodes, idle_timeout %gs, "
                "scale_up_after %gs\n",
                cl->elastic.min, cl->elastic.max, cl->elastic.idle_timeout,
                cl->elastic.scale_up_after);
    else
        fprintf(out, "  elastic      no (%d nodes)\n", cl->elastic.max);
    for (size_t i = 0; i < cl->n_env; i++)
        fprintf(out, "  %s %s=%s\n", i == 0 ? "environment " : "            ",
                cl->env[i].name, cl->env[i].value);
    fprintf(out, "  hosts        %zu\n", cl->n_hosts);
    if (cl->n_hosts == 0)
        return;
    int wn = 4, wa = 7;
    for (size_t i = 0; i < cl->n_hosts; i++) {
        int ln = (int)strlen(cl->hosts[i].name);
        int la = (int)strlen(cl->hosts[i].address);
        wn = ln > wn ? ln : wn;
        wa = la > wa ? la : wa;
    }
    fprintf(out, "  %3s  %-*s  %-*s  %9s  %-9s  %5s  %s\n", "#", wn, "name", wa,
            "address", "executors", "gpus", "port", "ssh");
    for (size_t i = 0; i < cl->n_hosts; i++) {
        const fp__cluster_host_t *h = &cl->hosts[i];
        char ex[16], gp[64], port[16], ssh[512];
        fmt_count(h->executors, ex, sizeof(ex));
        if (h->n_gpu_ids > 0) {
            size_t used = 0;
            gp[0] = '\0';
            for (size_t k = 0; k < h->n_gpu_ids && used < sizeof(gp); k++)
                used += (size_t)snprintf(gp + used, sizeof(gp) - used, "%s%d",
                                         k ? "," : "[", h->gpu_ids[k]);
            if (used < sizeof(gp))
                snprintf(gp + used, sizeof(gp) - used, "]");
        } else {
            fmt_count(h->gpus, gp, sizeof(gp));
        }
        if (h->listen_port == 0)
            snprintf(port, sizeof(port), "any");
        else
            snprintf(port, sizeof(port), "%d", h->listen_port);
        if (cl->bootstrap == FP__BOOTSTRAP_SSH) {
            int used = snprintf(ssh, sizeof(ssh), "%s%s%s", 
                                h->ssh.user != NULL ? h->ssh.user : "",
                                h->ssh.user != NULL ? "@" : "", h->address);
            if (h->ssh.port != 0 && used < (int)sizeof(ssh))
                used += snprintf(ssh + used, sizeof(ssh) - used, " -p %d",
                                 h->ssh.port);
            if (h->ssh.identity_file != NULL && used < (int)sizeof(ssh))
                used += snprintf(ssh + used, sizeof(ssh) - used, " -i %s",
                                 h->ssh.identity_file);
            for (size_t k = 0; k < h->ssh.n_options && used < (int)sizeof(ssh);
                 k++)
                used += snprintf(ssh + used, sizeof(ssh) - used, " -o %s",
                                 h->ssh.options[k]);
        } else {
            snprintf(ssh, sizeof(ssh), "-");
        }
        fprintf(out, "  %3zu  %-*s  %-*s  %9s  %-9s  %5s  %s\n", i, wn, h->name,
                wa, h->address, ex, gp, port, ssh);
    }
}
