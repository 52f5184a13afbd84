/* A task module for fastpool-worker --module (tests/server, and the
 * server benchmark): "srv.work" as test_server.c defines it, x -> x*x, the
 * pid that ran it and when it started (CLOCK_REALTIME ns), after sleeping
 * the element's high 16 bits in ms. */
#define _POSIX_C_SOURCE 200809L
#include <fastpool/fastpool.h>

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static fp_status_t srv_work(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)t;
    (void)n;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    unsigned ms = (unsigned)(x >> 48);
    x &= 0xffffffffffffull;
    if (ms > 0) {
        struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    struct {
        uint64_t sq;
        int32_t pid, pad;
        int64_t t_ns;
    } r = {x * x, (int32_t)getpid(), 0,
           (int64_t)now.tv_sec * 1000000000 + now.tv_nsec};
    memcpy(o->data, &r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER_AS("srv.work", srv_work)
