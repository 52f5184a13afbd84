/* Clocks and timeouts, shared by every layer. */
#ifndef FP_COMMON_CLOCK_H
#define FP_COMMON_CLOCK_H

#include <stdbool.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A timeout of FP__FOREVER_S seconds (~31.7 years) or more means "forever",
 * as do INFINITY, NaN and negative timeouts (see fastpool.h). */
#define FP__FOREVER_S 1e9

/* Monotonic seconds. */
double fp__now(void);

/* The monotonic deadline (fp__now() seconds) of a wait of `timeout_s`
 * seconds: INFINITY for "forever" (negative, NaN, >= FP__FOREVER_S). */
double fp__deadline(double timeout_s);

/* The one place that turns seconds (a duration, or a deadline on the
 * monotonic clock) into a timespec.  False, *ts untouched, when `s` is too
 * large to wait for (NaN, INFINITY, >= 2 * FP__FOREVER_S): wait forever.
 * Negative values give 0. */
bool fp__timespec(double s, struct timespec *ts);

/* The coarse monotonic clock (a few ms resolution, much cheaper on VMs
 * whose clock source makes clock_gettime slow): for loops that read the
 * clock on every round and compare against whole seconds. */
static inline double fp__now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#ifdef __cplusplus
}
#endif

#endif
