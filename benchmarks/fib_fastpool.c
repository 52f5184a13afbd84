/*
 * fib_fastpool <n> <executors> [reps]
 *
 * fib(n) with every call a fork-join job (no cut-off) on a pool of
 * <executors>; prints the best of [reps] (default 3) runs in the same line
 * format as the OpenMP and TBB peers.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>

#include "bench_util.h"
#include "fp_jobs.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <n> <executors> [reps]\n", argv[0]);
        return 2;
    }
    const int n = (int)bu_arg_long(argc, argv, 1, 32);
    const unsigned executors = (unsigned)bu_arg_long(argc, argv, 2, 1);
    const long reps = bu_arg_long(argc, argv, 3, 3);

    fp_context_t *ctx = NULL;
    fp_pool_t *pool = bu_pool_create(&ctx, executors);
    const uint64_t expect = bench_fib_seq(n);

    double best = 1e30;
    uint64_t result = 0;
    for (long r = 0; r < reps; r++) {
        const double t0 = bu_now_s();
        result = bench_fib(pool, n);
        const double dt = bu_now_s() - t0;
        if (result != expect) {
            fprintf(stderr, "fib_fastpool: fib(%d) = %" PRIu64 ", expected %" PRIu64 "\n",
                    n, result, expect);
            return 1;
        }
        best = dt < best ? dt : best;
    }
    printf("fib_fastpool n=%d threads=%u seconds=%.4f result=%" PRIu64 " reps=%ld\n",
           n, fp_pool_size(pool), best, result, reps);
    bu_pool_destroy(ctx, pool);
    return 0;
}
