/*
 * fastpool log levels and the user log sink (part of the public API; included
 * by fastpool.h).
 */
#ifndef FASTPOOL_LOG_H
#define FASTPOOL_LOG_H

#include "fastpool/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fp_log_level {
    FP_LOG_DEFAULT = 0, /* FP_LOG_LEVEL from the environment, else WARN */
    FP_LOG_ERROR = 1,
    FP_LOG_WARN = 2,
    FP_LOG_INFO = 3,
    FP_LOG_DEBUG = 4,
    FP_LOG_TRACE = 5,
    FP_LOG_OFF = 6
} fp_log_level_t;

/* A user log sink.  Called on whichever thread logs, possibly concurrently;
 * `msg` is valid only during the call. */
typedef void (*fp_log_fn_t)(fp_log_level_t level, const char *msg,
                            void *user_data);

#ifdef __cplusplus
}
#endif

#endif
