#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static fp__logger_t log_default;
static pthread_once_t log_default_once = PTHREAD_ONCE_INIT;

fp_log_level_t fp__log_parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info",
                                        "debug", "trace", "off"};
    if (s == NULL || *s == '\0')
        return FP_LOG_DEFAULT;
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (fp_log_level_t)(i + 1);
    if (strcasecmp(s, "warning") == 0)
        return FP_LOG_WARN;
    if (s[0] >= '1' && s[0] <= '6' && s[1] == '\0')
        return (fp_log_level_t)(s[0] - '0');
    return FP_LOG_DEFAULT;
}

static void log_default_init(void)
{
    fp_log_level_t lvl = fp__log_parse_level(getenv("FP_LOG_LEVEL"));
    log_default.level = fp__log_threshold(lvl == FP_LOG_DEFAULT ? FP_LOG_WARN
                                                                : lvl);
    log_default.fn = NULL;
    log_default.user_data = NULL;
}

const fp__logger_t *fp__log_default(void)
{
    pthread_once(&log_default_once, log_default_init);
    return &log_default;
}

void fp__log_emit(const fp__logger_t *lg, fp_log_level_t level,
                  const char *fmt, ...)
{
    static const char *const tags[] = {"", "ERROR", "WARN", "INFO",
                                       "DEBUG", "TRACE"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (lg->fn != NULL) {
        lg->fn(level, msg, lg->user_data);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* one fprintf call: lines from several threads do not interleave */
    fprintf(stderr, "[fastpool %ld.%06ld %s] %s\n", (long)ts.tv_sec,
            ts.tv_nsec / 1000, level >= 1 && level <= 5 ? tags[level] : "?",
            msg);
}
