/*
 * idle_fastpool [seconds]
 *
 * Creates a pool with default parameters, runs one small map to prove it
 * works, then sleeps [seconds] (default 10) and prints the CPU time the whole
 * process used during the sleep, as a percentage of one core.  Idle executors
 * should sleep, not spin.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"
#include "fp_jobs.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const long seconds = bu_arg_long(argc, argv, 1, 10);
    fp_context_t *ctx = NULL;
    fp_pool_t *pool = bu_pool_create(&ctx, 0);

    enum { N = 10000 };
    static uint64_t in[N], out[N];
    for (size_t i = 0; i < N; i++) {
        in[i] = i;
    }
    bench_map(pool, BENCH_TASK_EMPTY, in, out, N);
    for (size_t i = 0; i < N; i++) {
        if (out[i] != in[i]) {
            fprintf(stderr, "idle_fastpool: wrong map result at %zu\n", i);
            return 1;
        }
    }

    const double cpu0 = cpu_seconds();
    const double t0 = bu_now_s();
    struct timespec ts = {seconds, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    const double wall = bu_now_s() - t0;
    const double cpu = cpu_seconds() - cpu0;
    printf("idle_fastpool executors=%u seconds=%.2f cpu_seconds=%.4f cpu_percent=%.3f\n",
           fp_pool_size(pool), wall, cpu, 100.0 * cpu / wall);
    bu_pool_destroy(ctx, pool);
    return 0;
}
