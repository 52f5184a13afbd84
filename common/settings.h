/*
 * Settings: one table for every layer (settings.c holds it).
 *
 * Each setting has a name in the environment (FP_*), a key in a libconfig
 * file (`group.key`), a kind, bounds and a one-line description.  It is
 * parsed in one place, here.  Where a value comes from, highest first:
 *
 *   1. what the code passes (the caller checks its own params first),
 *   2. the environment variable,
 *   3. the config file (the caller's, or the process's: $FP_CONFIG),
 *   4. the caller's fallback (the documented default).
 *
 * A bad environment value is never silently replaced: it gets one warning
 * (per variable and value) naming the variable, the value, what was
 * expected and what is used instead, and the next source applies.  Strict
 * settings (those that choose what the process connects over) refuse a bad
 * value instead: the getter returns FP_ERR_CONFIG with the reason.  A bad
 * config file is always refused, with file, line and key.
 */
#ifndef FP_COMMON_SETTINGS_H
#define FP_COMMON_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"
#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(id, env, group, key, kind, min, max, default, doc) — `env` or `group`
 * NULL when the setting has no such source; `default` is the value (as
 * text, parsed like the environment's) used when no source sets it, NULL
 * where the caller computes it at run time (fp__setting_int_or). */
#define FP__SETTINGS_TABLE(X)                                                  \
    X(LOG_LEVEL, "FP_LOG_LEVEL", NULL, NULL, ENUM, 1, 6, "warn",               \
      "error, warn, info, debug, trace or off (or 1..6)")                      \
    X(EXECUTORS, "FP_EXECUTORS", "pool", "executors", INT, 1, 4096, NULL,      \
      "executors of a pool that asks for 0 (default: one per core)")           \
    X(PIN, "FP_PIN", "pool", "pin", ENUM, 1, 2, "core",                        \
      "core (one core per executor) or none")                                  \
    X(CONFIG, "FP_CONFIG", NULL, NULL, STRING, 0, 0, NULL,                     \
      "a libconfig file with settings (this table's groups)")                  \
    X(TRANSPORTS, "FP_TRANSPORT", "transport", "list", TRANSPORTS, 0, 0,       \
      "auto", "auto, or a comma list of shm, tcp, rc, ud, dc, ...")            \
    X(BUSY_POLL, NULL, "transport", "busy_poll", BOOL, 0, 1, "no",             \
      "progress thread spins instead of sleeping")                             \
    X(RNDV_THRESHOLD, NULL, "transport", "rndv_threshold", INT, 1,             \
      1099511627776.0, "65536",                                                \
      "bytes from which payloads go by zero-copy rendezvous")                  \
    X(HEARTBEAT, "FP_HEARTBEAT", "transport", "heartbeat_interval", SECONDS, 0, \
      86400,                                                                   \
      "1", "seconds of silence before a heartbeat is sent")                    \
    X(PEER_DEADLINE, "FP_PEER_DEADLINE", "transport", "peer_deadline", SECONDS, \
      0, 86400,                                                                \
      "10", "seconds of silence before a peer is presumed hung")               \
    X(UCX_SIGNALS, "FP_UCX_SIGNALS", "transport", "ucx_signals", BOOL, 0, 1,   \
      "no",                                                                    \
      "keep UCX's own signal handlers (backtraces on SIGSEGV, SIGHUP "         \
      "debug action)")                                                         \
    X(UCX_LIB, "FP_UCX_LIB", "transport", "ucx_lib", STRING, 0, 0,             \
      "libucp.so.0", "the UCX library to load on first use")                   \
    X(ENCRYPT, "FP_ENCRYPT", "transport", "encrypt", BOOL, 0, 1, "no",          \
      "seal every message after the handshake (AES-256-GCM); both sides "     \
      "must agree")                                                            \
    X(NODE_LEAVE_TIMEOUT, "FP_NODE_LEAVE_TIMEOUT", "node", "leave_timeout",    \
      SECONDS, 0, 86400, "60",                                                 \
      "seconds a stopping node waits for its running tasks before it stops "   \
      "at once (0: at once)")

typedef enum fp__setting_id {
#define FP__SETTING_ID(id, env, group, key, kind, min, max, dflt, doc)         \
    FP__SET_##id,
    FP__SETTINGS_TABLE(FP__SETTING_ID)
#undef FP__SETTING_ID
    FP__SET_COUNT
} fp__setting_id_t;

/* A parsed, validated config file. */
typedef struct fp__config fp__config_t;

/* Read and check `path`: every group this table knows must hold only known
 * keys with valid values; other groups belong to other layers and are left
 * alone.  FP_ERR_CONFIG with "file:line: group.key: what" in `reason`. */
fp_status_t fp__config_load(const char *path, fp__config_t **cfg_p,
                            char *reason, size_t reason_size);
void fp__config_free(fp__config_t *cfg);

/* The process's config file ($FP_CONFIG), loaded once per path (the value
 * may change between calls): *cfg_p is NULL when none is set.  A bad file
 * gives FP_ERR_CONFIG with the reason. */
fp_status_t fp__config_default(const fp__config_t **cfg_p, char *reason,
                               size_t reason_size);

/* The value of a setting from the environment, then `file` (may be NULL),
 * then the table's default.  `lg` (NULL: the process default) receives the
 * warning about a bad environment value. */
long long fp__setting_int(const fp__logger_t *lg, fp__setting_id_t id,
                          const fp__config_t *file);
/* The same for a setting whose default the caller computes (the table has
 * none: FP_EXECUTORS, one per core). */
long long fp__setting_int_or(const fp__logger_t *lg, fp__setting_id_t id,
                             const fp__config_t *file, long long fallback);
double fp__setting_seconds(const fp__logger_t *lg, fp__setting_id_t id,
                           const fp__config_t *file);
bool fp__setting_bool(const fp__logger_t *lg, fp__setting_id_t id,
                      const fp__config_t *file);
/* An ENUM's value (FP_LOG_* for LOG_LEVEL, FP_PIN_* for PIN). */
int fp__setting_enum(const fp__logger_t *lg, fp__setting_id_t id,
                     const fp__config_t *file);
/* A STRING setting: a copy in `out` ("" when unset and without a
 * default). */
void fp__setting_string(const fp__logger_t *lg, fp__setting_id_t id,
                        const fp__config_t *file, char *out, size_t out_size);
/* A strict TRANSPORTS setting: FP_OK with the list in `out` (the default
 * when unset), FP_ERR_CONFIG with the reason for a bad value. */
fp_status_t fp__setting_transports(fp__setting_id_t id,
                                   const fp__config_t *file, char *out,
                                   size_t out_size, char *reason,
                                   size_t reason_size);

/* Check a transport list ("auto", or "shm,tcp", ...): true if every name
 * is known. */
bool fp__transports_valid(const char *list);

/* Every default in the table parses and is within its bounds (for the
 * tests); false with the first that does not in `why`. */
bool fp__settings_table_ok(char *why, size_t why_size);

#ifdef __cplusplus
}
#endif

#endif
