#include "common/clock.h"

#include <math.h>

double fp__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double fp__deadline(double timeout_s)
{
    /* NaN fails every comparison: forever, like a negative timeout */
    if (!(timeout_s >= 0) || timeout_s >= FP__FOREVER_S)
        return INFINITY;
    return fp__now() + timeout_s;
}

bool fp__timespec(double s, struct timespec *ts)
{
    /* 2e9 fits a 32-bit time_t, and holds any deadline now + (< 1e9) s */
    if (!(s < 2 * FP__FOREVER_S))
        return false;
    if (!(s > 0))
        s = 0;
    time_t sec = (time_t)s;
    long ns = (long)((s - (double)sec) * 1e9);
    if (ns < 0)
        ns = 0;
    else if (ns > 999999999L)
        ns = 999999999L;
    ts->tv_sec = sec;
    ts->tv_nsec = ns;
    return true;
}
