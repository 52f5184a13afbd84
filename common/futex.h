/* Futex waits and wakes (Linux), shared by every layer. */
#ifndef FP_COMMON_FUTEX_H
#define FP_COMMON_FUTEX_H

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sleep while *addr == expected, at most `timeout_s` seconds (forever for
 * negative, NaN or >= FP__FOREVER_S).  Spurious returns are possible. */
void fp__futex_wait(atomic_uint *addr, unsigned expected, double timeout_s);
/* Same, until the monotonic `deadline` (INFINITY: none), as a waiter of
 * class `bits` (FUTEX_WAIT_BITSET: woken by fp__futex_wake, or by
 * fp__futex_wake_bits with an intersecting mask). */
void fp__futex_wait_until(atomic_uint *addr, unsigned expected, unsigned bits,
                          double deadline);
void fp__futex_wake(atomic_uint *addr, int n);
void fp__futex_wake_bits(atomic_uint *addr, unsigned bits);

#ifdef __cplusplus
}
#endif

#endif
