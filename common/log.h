/* Logging, shared by every layer.  A disabled level costs one load and a
 * compare.  The level of the process default comes from FP_LOG_LEVEL, parsed
 * in one place (settings.c). */
#ifndef FP_COMMON_LOG_H
#define FP_COMMON_LOG_H

#include "fastpool/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a log line goes.  A context or a transport carries one; NULL means
 * the process default (stderr, level from FP_LOG_LEVEL, default warn). */
typedef struct fp__logger {
    fp_log_level_t level; /* highest level printed; 0 (FP_LOG_OFF): none */
    fp_log_fn_t fn;       /* NULL: stderr */
    void *user_data;
    const char *tag;      /* NULL, or a name printed on stderr lines (the
                             transport instance); not given to fn */
} fp__logger_t;

/* The `level` field for a configured level: FP_LOG_OFF prints nothing. */
static inline fp_log_level_t fp__log_threshold(fp_log_level_t configured)
{
    return configured == FP_LOG_OFF ? (fp_log_level_t)0 : configured;
}

/* The process default, its level read from FP_LOG_LEVEL on first use. */
const fp__logger_t *fp__log_default(void);

/* A logger for `configured` (FP_LOG_DEFAULT: the process default's level)
 * with the given sink. */
void fp__log_init(fp__logger_t *lg, fp_log_level_t configured, fp_log_fn_t fn,
                  void *user_data, const char *tag);

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
#define fp__trace(lg, ...) fp__log(lg, FP_LOG_TRACE, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
