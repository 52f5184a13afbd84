#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/settings.h"

static fp__logger_t log_default;
static pthread_once_t log_default_once = PTHREAD_ONCE_INIT;

static void log_default_init(void)
{
    /* warnings about FP_LOG_LEVEL itself go out at the default level */
    log_default.level = FP_LOG_WARN;
    /* from the environment only: the config file's own errors are logged
     * through this logger */
    fp_log_level_t lvl =
        (fp_log_level_t)fp__setting_enum(NULL, FP__SET_LOG_LEVEL, NULL);
    log_default.level = fp__log_threshold(lvl);
}

const fp__logger_t *fp__log_default(void)
{
    pthread_once(&log_default_once, log_default_init);
    return &log_default;
}

void fp__log_init(fp__logger_t *lg, fp_log_level_t configured, fp_log_fn_t fn,
                  void *user_data, const char *tag)
{
    lg->level = configured != FP_LOG_DEFAULT ? fp__log_threshold(configured)
                                             : fp__log_default()->level;
    lg->fn = fn;
    lg->user_data = user_data;
    lg->tag = tag;
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
    fprintf(stderr, "[fastpool %ld.%06ld %s%s%s] %s\n", (long)ts.tv_sec,
            ts.tv_nsec / 1000, level >= 1 && level <= 5 ? tags[level] : "?",
            lg->tag != NULL ? " " : "", lg->tag != NULL ? lg->tag : "", msg);
}
