/* Logging (internal).  A disabled level costs one load and a compare. */
#ifndef FP_CORE_LOG_H
#define FP_CORE_LOG_H

#include "fastpool/fastpool.h"

/* Where a log line goes.  A context carries one; NULL means the process
 * default (stderr, level from FP_LOG_LEVEL, default warn). */
typedef struct fp__logger {
    fp_log_level_t level; /* highest level printed; 0 (FP_LOG_OFF): none */
    fp_log_fn_t fn;
    void *user_data;
} fp__logger_t;

/* The `level` field for a configured level: FP_LOG_OFF prints nothing. */
static inline fp_log_level_t fp__log_threshold(fp_log_level_t configured)
{
    return configured == FP_LOG_OFF ? (fp_log_level_t)0 : configured;
}

/* The process default, its level read from FP_LOG_LEVEL on first use. */
const fp__logger_t *fp__log_default(void);

/* Parse "error", "warn", "info", "debug", "trace", "off" (or 1..6);
 * FP_LOG_DEFAULT if not recognised. */
fp_log_level_t fp__log_parse_level(const char *s);

void fp__log_emit(const fp__logger_t *lg, fp_log_level_t level,
                  const char *fmt, ...) FP_PRINTF(3, 4);

#define fp__log(lg, lvl, ...)                                                  \
    do {                                                                       \
        const fp__logger_t *fp__lg = (lg) ? (lg) : fp__log_default();          \
        if ((lvl) <= fp__lg->level)                                            \
            fp__log_emit(fp__lg, (lvl), __VA_ARGS__);                          \
    } while (0)

#define fp__error(lg, ...) fp__log(lg, FP_LOG_ERROR, __VA_ARGS__)
#define fp__warn(lg, ...) fp__log(lg, FP_LOG_WARN, __VA_ARGS__)
#define fp__info(lg, ...) fp__log(lg, FP_LOG_INFO, __VA_ARGS__)
#define fp__debug(lg, ...) fp__log(lg, FP_LOG_DEBUG, __VA_ARGS__)

#endif
