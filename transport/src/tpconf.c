/*
 * Transport settings from a libconfig file (the `transport` group):
 *
 *   transport = {
 *     list = "shm,tcp";          # or "auto", "tcp", "rc", ...
 *     busy_poll = false;
 *     rndv_threshold = 65536;    # bytes
 *     heartbeat_interval = 1.0;  # seconds
 *     peer_deadline = 10.0;      # seconds
 *   };
 *
 * Every key is optional; an unknown key, a value of the wrong type or out
 * of range is an error naming the file, line and key (a typo must not
 * silently fall back to a default).  Other top-level groups belong to
 * other layers and are left alone.
 */
#include "tpconf.h"

#include <libconfig.h>
#include <stdio.h>
#include <string.h>

static fp_status_t bad(char *reason, size_t n, const char *path,
                       const config_setting_t *s, const char *what)
{
    snprintf(reason, n, "%s:%d: transport.%s: %s", path,
             config_setting_source_line(s), config_setting_name(s), what);
    return FP_ERR_CONFIG;
}

static bool is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 ||
           t == CONFIG_TYPE_FLOAT;
}

fp_status_t fp__tp_config_load(const char *path, fp__tp_config_t *out,
                               char *reason, size_t reason_size)
{
    memset(out, 0, sizeof(*out));
    out->busy_poll = -1;
    config_t cfg;
    config_init(&cfg);
    fp_status_t st = FP_OK;
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(reason, reason_size, "%s: cannot read the file", path);
        else
            snprintf(reason, reason_size, "%s:%d: %s", path,
                     config_error_line(&cfg), config_error_text(&cfg));
        st = FP_ERR_CONFIG;
        goto out;
    }
    config_setting_t *g = config_lookup(&cfg, "transport");
    if (g == NULL)
        goto out; /* nothing for us */
    if (!config_setting_is_group(g)) {
        snprintf(reason, reason_size, "%s:%d: transport must be a group { }",
                 path, config_setting_source_line(g));
        st = FP_ERR_CONFIG;
        goto out;
    }
    for (int i = 0; i < config_setting_length(g) && st == FP_OK; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        if (strcmp(name, "list") == 0) {
            const char *v = config_setting_get_string(s);
            if (v == NULL)
                st = bad(reason, reason_size, path, s, "must be a string");
            else if (strlen(v) == 0 || strlen(v) >= sizeof(out->transports))
                st = bad(reason, reason_size, path, s,
                         "must be 1..255 characters");
            else
                snprintf(out->transports, sizeof(out->transports), "%s", v);
        } else if (strcmp(name, "busy_poll") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                st = bad(reason, reason_size, path, s,
                         "must be true or false");
            else
                out->busy_poll = config_setting_get_bool(s);
        } else if (strcmp(name, "rndv_threshold") == 0) {
            int t = config_setting_type(s);
            long long v = config_setting_get_int64(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
                st = bad(reason, reason_size, path, s,
                         "must be an integer (bytes)");
            else if (v < 1 || v > (1ll << 40))
                st = bad(reason, reason_size, path, s,
                         "must be 1..2^40 bytes");
            else
                out->rndv_threshold = (size_t)v;
        } else if (strcmp(name, "heartbeat_interval") == 0 ||
                   strcmp(name, "peer_deadline") == 0) {
            double v = config_setting_type(s) == CONFIG_TYPE_FLOAT
                           ? config_setting_get_float(s)
                           : (double)config_setting_get_int64(s);
            if (!is_number(s))
                st = bad(reason, reason_size, path, s,
                         "must be a number (seconds)");
            else if (!(v > 0 && v <= 86400))
                st = bad(reason, reason_size, path, s,
                         "must be more than 0 and at most 86400 seconds");
            else if (name[0] == 'h')
                out->heartbeat_interval = v;
            else
                out->peer_deadline = v;
        } else {
            st = bad(reason, reason_size, path, s,
                     "unknown key (known: list, busy_poll, rndv_threshold, "
                     "heartbeat_interval, peer_deadline)");
        }
    }
out:
    config_destroy(&cfg);
    return st;
}
