/*
 * The settings table and its one parser (settings.h says the rules).
 */
#include "common/settings.h"

#include <errno.h>
#include <libconfig.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum kind { INT, SECONDS, BOOL, ENUM, STRING, TRANSPORTS } kind_t;

typedef struct def {
    const char *env, *group, *key;
    kind_t kind;
    double min, max;
    const char *dflt; /* text, parsed like the environment's; NULL: none */
} def_t;

static const def_t defs[FP__SET_COUNT] = {
#define FP__SETTING_DEF(id, env, group, key, kind, min, max, dflt, doc)        \
    [FP__SET_##id] = {env, group, key, kind, min, max, dflt},
    FP__SETTINGS_TABLE(FP__SETTING_DEF)
#undef FP__SETTING_DEF
};

/* Enum names; the value of names[i] is i + 1. */
static const char *const log_names[] = {"error", "warn",  "info", "debug",
                                        "trace", "off",   NULL};
static const char *const pin_names[] = {"core", "none", NULL};

static const char *const *enum_names(fp__setting_id_t id)
{
    return id == FP__SET_LOG_LEVEL ? log_names : pin_names;
}

typedef struct value {
    bool set;
    long long i; /* INT, BOOL, ENUM */
    double d;    /* SECONDS */
    char *s;     /* STRING, TRANSPORTS */
} value_t;

struct fp__config {
    char *path;
    value_t v[FP__SET_COUNT];
    struct fp__config *next; /* the default-file cache */
};


/* ---- transport lists ---------------------------------------------------- */

bool fp__transports_valid(const char *list)
{
    static const char *const known[] = {
        "shm", "sm",   "tcp",  "rc",   "ud",   "dc",   "rc_x", "dc_x", "ud_x",
        "rc_v", "ud_v", "cma", "posix", "sysv", "self", "ib",   "mm",   NULL};
    if (list == NULL || *list == '\0')
        return false;
    if (strcmp(list, "auto") == 0)
        return true;
    size_t len = strlen(list);
    if (len >= 256 || list[0] == ',' || list[len - 1] == ',')
        return false;
    char buf[256];
    memcpy(buf, list, len + 1);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; known[i] != NULL && !ok; i++)
            ok = strcmp(tok, known[i]) == 0;
        if (!ok)
            return false;
    }
    return strstr(list, ",,") == NULL;
}

/* ---- parsing one text value -------------------------------------------- */

/* What a valid value looks like, for messages. */
static void expected(fp__setting_id_t id, char *out, size_t n)
{
    const def_t *d = &defs[id];
    switch (d->kind) {
    case INT:
        snprintf(out, n, "an integer from %.0f to %.0f", d->min, d->max);
        return;
    case SECONDS:
        snprintf(out, n, "a number of seconds above %g and at most %g", d->min,
                 d->max);
        return;
    case BOOL:
        snprintf(out, n, "yes/no, true/false, on/off or 1/0");
        return;
    case ENUM: {
        size_t used = (size_t)snprintf(out, n, "one of");
        const char *const *names = enum_names(id);
        for (size_t i = 0; names[i] != NULL && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, "%s %s",
                                     i == 0 ? "" : ",", names[i]);
        if (id == FP__SET_LOG_LEVEL && used < n)
            snprintf(out + used, n - used, " (or 1..6)");
        return;
    }
    case STRING:
        snprintf(out, n, "a non-empty string of at most 255 bytes");
        return;
    case TRANSPORTS:
        snprintf(out, n,
                 "auto, or a comma list of shm, tcp, rc, ud, dc (or UCX "
                 "transport names)");
        return;
    }
}

static bool parse_text(fp__setting_id_t id, const char *s, value_t *v)
{
    const def_t *d = &defs[id];
    memset(v, 0, sizeof(*v));
    if (s == NULL || *s == '\0')
        return false;
    switch (d->kind) {
    case INT: {
        /* digits only (an optional '-'): strtoll alone would take " 3"
         * and "+3" but refuse "3 " */
        if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
            return false;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || end == s || (double)x < d->min ||
            (double)x > d->max)
            return false;
        v->i = x;
        break;
    }
    case SECONDS: {
        if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
            return false;
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (errno != 0 || *end != '\0' || end == s || !(x > d->min) ||
            !(x <= d->max))
            return false;
        v->d = x;
        break;
    }
    case BOOL: {
        static const char *const yes[] = {"1", "y", "yes", "true", "on", NULL};
        static const char *const no[] = {"0", "n", "no", "false", "off", NULL};
        int r = -1;
        for (size_t i = 0; yes[i] != NULL && r < 0; i++)
            if (strcasecmp(s, yes[i]) == 0)
                r = 1;
        for (size_t i = 0; no[i] != NULL && r < 0; i++)
            if (strcasecmp(s, no[i]) == 0)
                r = 0;
        if (r < 0)
            return false;
        v->i = r;
        break;
    }
    case ENUM: {
        const char *const *names = enum_names(id);
        long long r = 0;
        for (size_t i = 0; names[i] != NULL && r == 0; i++)
            if (strcasecmp(s, names[i]) == 0)
                r = (long long)i + 1;
        if (r == 0 && id == FP__SET_LOG_LEVEL) {
            if (strcasecmp(s, "warning") == 0)
                r = 2;
            else if (s[0] >= '1' && s[0] <= '6' && s[1] == '\0')
                r = s[0] - '0';
        }
        if (r == 0)
            return false;
        v->i = r;
        break;
    }
    case STRING:
    case TRANSPORTS:
        if (strlen(s) >= 256 ||
            (d->kind == TRANSPORTS && !fp__transports_valid(s)))
            return false;
        v->s = (char *)s; /* borrowed: callers copy */
        break;
    }
    v->set = true;
    return true;
}

static void format_value(fp__setting_id_t id, const value_t *v, char *out,
                         size_t n)
{
    switch (defs[id].kind) {
    case INT:
        snprintf(out, n, "%lld", v->i);
        return;
    case SECONDS:
        snprintf(out, n, "%g", v->d);
        return;
    case BOOL:
        snprintf(out, n, "%s", v->i ? "yes" : "no");
        return;
    case ENUM:
        snprintf(out, n, "%s", enum_names(id)[v->i - 1]);
        return;
    case STRING:
    case TRANSPORTS:
        snprintf(out, n, "'%s'", v->s != NULL ? v->s : "");
        return;
    }
}

/* ---- the environment ---------------------------------------------------- */

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char *warned[FP__SET_COUNT]; /* the last bad value warned about */

/* One warning per variable and bad value.  Warnings about FP_LOG_LEVEL
 * itself are written while the default logger is being set up: they go
 * out at the default level on their own logger. */
static void warn_bad(const fp__logger_t *lg, fp__setting_id_t id,
                     const char *text, const char *used)
{
    pthread_mutex_lock(&warn_lock);
    bool again = warned[id] != NULL && strcmp(warned[id], text) == 0;
    if (!again) {
        free(warned[id]);
        warned[id] = strdup(text);
    }
    pthread_mutex_unlock(&warn_lock);
    if (again)
        return;
    char exp[160];
    expected(id, exp, sizeof(exp));
    static const fp__logger_t plain = {FP_LOG_WARN, NULL, NULL, NULL};
    if (id == FP__SET_LOG_LEVEL)
        lg = &plain;
    fp__warn(lg, "%s='%s' is not valid (expected %s); using %s",
             defs[id].env, text, exp, used);
}

/* The variable's text; an empty value counts as unset. */
static const char *env_text(fp__setting_id_t id)
{
    const char *s = defs[id].env != NULL ? secure_getenv(defs[id].env) : NULL;
    return s != NULL && *s != '\0' ? s : NULL;
}

/* The table's default of `id` (set false where it has none). */
static value_t table_default(fp__setting_id_t id)
{
    value_t v = {0};
    if (defs[id].dflt != NULL && !parse_text(id, defs[id].dflt, &v))
        memset(&v, 0, sizeof(v)); /* fp__settings_table_ok catches it */
    return v;
}

/* The value from the environment, else the file, else `fallback` (set
 * false when there is none); a bad environment value is warned about,
 * naming what is used instead. */
static value_t lookup(const fp__logger_t *lg, fp__setting_id_t id,
                      const fp__config_t *file, value_t fallback)
{
    value_t v;
    const char *text = env_text(id);
    if (text != NULL && parse_text(id, text, &v))
        return v;
    value_t from_file = {0};
    if (file != NULL)
        from_file = file->v[id];
    if (text != NULL) {
        char used[300], val[280];
        if (from_file.set) {
            format_value(id, &from_file, val, sizeof(val));
            snprintf(used, sizeof(used), "%s (from %s)", val, file->path);
        } else if (fallback.set) {
            format_value(id, &fallback, val, sizeof(val));
            snprintf(used, sizeof(used), "%s (the default)", val);
        } else {
            snprintf(used, sizeof(used), "the default");
        }
        warn_bad(lg, id, text, used);
    }
    return from_file.set ? from_file : fallback;
}

long long fp__setting_int(const fp__logger_t *lg, fp__setting_id_t id,
                          const fp__config_t *file)
{
    return lookup(lg, id, file, table_default(id)).i;
}

long long fp__setting_int_or(const fp__logger_t *lg, fp__setting_id_t id,
                             const fp__config_t *file, long long fallback)
{
    value_t fb = {.set = true, .i = fallback};
    return lookup(lg, id, file, fb).i;
}

double fp__setting_seconds(const fp__logger_t *lg, fp__setting_id_t id,
                           const fp__config_t *file)
{
    return lookup(lg, id, file, table_default(id)).d;
}

bool fp__setting_bool(const fp__logger_t *lg, fp__setting_id_t id,
                      const fp__config_t *file)
{
    return lookup(lg, id, file, table_default(id)).i != 0;
}

int fp__setting_enum(const fp__logger_t *lg, fp__setting_id_t id,
                     const fp__config_t *file)
{
    return (int)lookup(lg, id, file, table_default(id)).i;
}

void fp__setting_string(const fp__logger_t *lg, fp__setting_id_t id,
                        const fp__config_t *file, char *out, size_t out_size)
{
    value_t v = lookup(lg, id, file, table_default(id));
    snprintf(out, out_size, "%s", v.set && v.s != NULL ? v.s : "");
}

bool fp__settings_table_ok(char *why, size_t why_size)
{
    for (int k = 0; k < FP__SET_COUNT; k++) {
        value_t v;
        if (defs[k].dflt != NULL &&
            !parse_text((fp__setting_id_t)k, defs[k].dflt, &v)) {
            snprintf(why, why_size, "setting %d (%s): default '%s' is not valid",
                     k, defs[k].env ? defs[k].env : defs[k].key, defs[k].dflt);
            return false;
        }
    }
    return true;
}

fp_status_t fp__setting_transports(fp__setting_id_t id,
                                   const fp__config_t *file, char *out,
                                   size_t out_size, char *reason,
                                   size_t reason_size)
{
    out[0] = '\0';
    const char *text = env_text(id);
    value_t v;
    if (text != NULL && *text != '\0') {
        if (!parse_text(id, text, &v)) {
            char exp[160];
            expected(id, exp, sizeof(exp));
            snprintf(reason, reason_size, "%s='%s' is not valid (expected %s)",
                     defs[id].env, text, exp);
            return FP_ERR_CONFIG;
        }
        snprintf(out, out_size, "%s", v.s);
        return FP_OK;
    }
    if (file != NULL && file->v[id].set)
        snprintf(out, out_size, "%s", file->v[id].s);
    else if (defs[id].dflt != NULL)
        snprintf(out, out_size, "%s", defs[id].dflt);
    return FP_OK;
}

/* ---- config files ------------------------------------------------------- */

static fp_status_t bad_key(char *reason, size_t n, const char *path,
                           const config_setting_t *s, const char *group,
                           const char *what)
{
    snprintf(reason, n, "%s:%d: %s.%s: %s", path,
             config_setting_source_line(s), group, config_setting_name(s),
             what);
    return FP_ERR_CONFIG;
}

/* One key of a known group into cfg->v[id]. */
static fp_status_t read_key(fp__config_t *cfg, fp__setting_id_t id,
                            const config_setting_t *s, char *reason, size_t n)
{
    const def_t *d = &defs[id];
    value_t *v = &cfg->v[id];
    int t = config_setting_type(s);
    char exp[160], what[200];
    expected(id, exp, sizeof(exp));
    switch (d->kind) {
    case INT: {
        long long x = config_setting_get_int64(s);
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
            snprintf(what, sizeof(what), "must be an integer (%s)", exp);
            return bad_key(reason, n, cfg->path, s, d->group, what);
        }
        if ((double)x < d->min || (double)x > d->max) {
            snprintf(what, sizeof(what), "must be %s", exp);
            return bad_key(reason, n, cfg->path, s, d->group, what);
        }
        v->i = x;
        break;
    }
    case SECONDS: {
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 &&
            t != CONFIG_TYPE_FLOAT)
            return bad_key(reason, n, cfg->path, s, d->group,
                           "must be a number (seconds)");
        double x = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                          : (double)config_setting_get_int64(s);
        if (!(x > d->min && x <= d->max)) {
            snprintf(what, sizeof(what),
                     "must be more than %g and at most %g seconds", d->min,
                     d->max);
            return bad_key(reason, n, cfg->path, s, d->group, what);
        }
        v->d = x;
        break;
    }
    case BOOL:
        if (t != CONFIG_TYPE_BOOL)
            return bad_key(reason, n, cfg->path, s, d->group,
                           "must be true or false");
        v->i = config_setting_get_bool(s);
        break;
    case ENUM:
    case STRING:
    case TRANSPORTS: {
        const char *x = config_setting_get_string(s);
        value_t pv;
        if (x == NULL)
            return bad_key(reason, n, cfg->path, s, d->group,
                           "must be a string");
        if (!parse_text(id, x, &pv)) {
            snprintf(what, sizeof(what), "'%s' is not valid (expected %s)", x,
                     exp);
            return bad_key(reason, n, cfg->path, s, d->group, what);
        }
        if (d->kind == ENUM) {
            v->i = pv.i;
        } else if ((v->s = strdup(x)) == NULL) {
            snprintf(reason, n, "out of memory");
            return FP_ERR_NOMEM;
        }
        break;
    }
    }
    v->set = true;
    return FP_OK;
}

/* Check one group the table knows. */
static fp_status_t read_group(fp__config_t *cfg, const char *group,
                              const config_setting_t *g, char *reason,
                              size_t n)
{
    if (!config_setting_is_group(g)) {
        snprintf(reason, n, "%s:%d: %s must be a group { }", cfg->path,
                 config_setting_source_line(g), group);
        return FP_ERR_CONFIG;
    }
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        fp__setting_id_t id = FP__SET_COUNT;
        for (int k = 0; k < FP__SET_COUNT && id == FP__SET_COUNT; k++)
            if (defs[k].group != NULL && strcmp(defs[k].group, group) == 0 &&
                strcmp(defs[k].key, name) == 0)
                id = (fp__setting_id_t)k;
        if (id == FP__SET_COUNT) {
            char known[300];
            size_t used = 0;
            known[0] = '\0';
            for (int k = 0; k < FP__SET_COUNT; k++)
                if (defs[k].group != NULL &&
                    strcmp(defs[k].group, group) == 0 && used < sizeof(known))
                    used += (size_t)snprintf(known + used,
                                             sizeof(known) - used, "%s%s",
                                             used ? ", " : "", defs[k].key);
            char what[400];
            snprintf(what, sizeof(what), "unknown key (known: %s)", known);
            return bad_key(reason, n, cfg->path, s, group, what);
        }
        fp_status_t st = read_key(cfg, id, s, reason, n);
        if (st != FP_OK)
            return st;
    }
    return FP_OK;
}

fp_status_t fp__config_load(const char *path, fp__config_t **cfg_p,
                            char *reason, size_t reason_size)
{
    if (path == NULL || cfg_p == NULL)
        return FP_ERR_INVALID;
    fp__config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
        free(cfg);
        snprintf(reason, reason_size, "out of memory");
        return FP_ERR_NOMEM;
    }
    config_t lc;
    config_init(&lc);
    fp_status_t st = FP_OK;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            snprintf(reason, reason_size, "%s: cannot read the file", path);
        else
            snprintf(reason, reason_size, "%s:%d: %s", path,
                     config_error_line(&lc), config_error_text(&lc));
        st = FP_ERR_CONFIG;
    }
    /* Top-level settings this table does not know.  One that is a key of a
     * known group (`executors = 3;` outside `pool { }`) is an error: it was
     * meant for us and would silently do nothing.  Anything else (a group,
     * a list, another name) belongs to another layer (cluster files hold
     * more than this table) and is left alone with a warning, so that a
     * misspelt group does not pass unseen. */
    config_setting_t *root = st == FP_OK ? config_root_setting(&lc) : NULL;
    for (int i = 0; root != NULL && i < config_setting_length(root) &&
                    st == FP_OK;
         i++) {
        config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(e);
        bool known = false;
        const char *group_of = NULL;
        for (int k = 0; k < FP__SET_COUNT && !known; k++) {
            if (defs[k].group == NULL)
                continue;
            known = strcmp(defs[k].group, name) == 0;
            if (strcmp(defs[k].key, name) == 0)
                group_of = defs[k].group;
        }
        /* groups another layer of this build reads and checks itself
         * (config/cluster.c: fp__cluster_load) */
        known = known || strcmp(name, "cluster") == 0;
        if (known)
            continue;
        if (group_of != NULL && !config_setting_is_aggregate(e)) {
            snprintf(reason, reason_size,
                     "%s:%d: %s: settings live in groups (this one in %s "
                     "{ ... })",
                     path, config_setting_source_line(e), name, group_of);
            st = FP_ERR_CONFIG;
        } else {
            fp__warn(NULL,
                     "%s:%d: '%s' is not one of this build's groups (pool, "
                     "transport): ignored",
                     path, config_setting_source_line(e), name);
        }
    }
    /* each group once, in table order */
    for (int k = 0; k < FP__SET_COUNT && st == FP_OK; k++) {
        const char *group = defs[k].group;
        if (group == NULL)
            continue;
        bool seen = false;
        for (int j = 0; j < k && !seen; j++)
            seen = defs[j].group != NULL && strcmp(defs[j].group, group) == 0;
        if (seen)
            continue;
        config_setting_t *g = config_lookup(&lc, group);
        if (g != NULL)
            st = read_group(cfg, group, g, reason, reason_size);
    }
    config_destroy(&lc);
    if (st != FP_OK) {
        fp__config_free(cfg);
        return st;
    }
    *cfg_p = cfg;
    return FP_OK;
}

void fp__config_free(fp__config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (int k = 0; k < FP__SET_COUNT; k++)
        free(cfg->v[k].s);
    free(cfg->path);
    free(cfg);
}

/* Files named by FP_CONFIG, loaded once per path and kept for the life of
 * the process (callers hold pointers into them; there are few). */
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static fp__config_t *default_files;

fp_status_t fp__config_default(const fp__config_t **cfg_p, char *reason,
                               size_t reason_size)
{
    *cfg_p = NULL;
    const char *path = env_text(FP__SET_CONFIG);
    if (path == NULL || *path == '\0')
        return FP_OK;
    pthread_mutex_lock(&default_lock);
    fp__config_t *c = default_files;
    while (c != NULL && strcmp(c->path, path) != 0)
        c = c->next;
    fp_status_t st = FP_OK;
    if (c == NULL) {
        st = fp__config_load(path, &c, reason, reason_size);
        if (st == FP_OK) {
            c->next = default_files;
            default_files = c;
        }
    }
    pthread_mutex_unlock(&default_lock);
    if (st == FP_OK)
        *cfg_p = c;
    return st;
}
