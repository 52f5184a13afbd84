#include "common/futex.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.h"

void fp__futex_wait(atomic_uint *addr, unsigned expected, double timeout_s)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_s >= 0 && timeout_s < FP__FOREVER_S &&
        fp__timespec(timeout_s, &ts))
        tsp = &ts;
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, tsp,
            NULL, 0);
}

void fp__futex_wait_until(atomic_uint *addr, unsigned expected, unsigned bits,
                          double deadline)
{
    /* FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC timeout */
    struct timespec ts, *tsp = fp__timespec(deadline, &ts) ? &ts : NULL;
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_BITSET_PRIVATE, expected,
            tsp, NULL, bits);
}

void fp__futex_wake(atomic_uint *addr, int n)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void fp__futex_wake_bits(atomic_uint *addr, unsigned bits)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX,
            NULL, NULL, bits);
}
