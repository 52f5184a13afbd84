/*
 * map_fastpool [n] [executors] [reps]
 *
 * fp_map of n (default 1,000,000) 8-byte elements to 8-byte results, with
 * an empty registered task and with one that spins 1 us, on a pool of
 * <executors> (default 0: the library's default, one per core).  Prints
 * items/s of the best of [reps] (default 5) maps, after one warm-up map.
 * The pool is created before timing starts, as for the multiprocessing peer.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "fp_jobs.h"

static void run_map(fp_pool_t *pool, const char *label, const char *task,
                    const uint64_t *in, uint64_t *out, size_t n, long reps)
{
    bench_map(pool, task, in, out, n < 1000 ? n : 1000); /* warm-up */
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++) {
            out[i] = 0;
        }
        const double t0 = bu_now_s();
        bench_map(pool, task, in, out, n);
        const double dt = bu_now_s() - t0;
        for (size_t i = 0; i < n; i++) {
            if (out[i] != in[i]) {
                fprintf(stderr, "map_fastpool: wrong result at %zu\n", i);
                exit(1);
            }
        }
        best = dt < best ? dt : best;
    }
    printf("map_fastpool task=%s n=%zu executors=%u seconds=%.4f items_per_s=%.0f reps=%ld\n",
           label, n, fp_pool_size(pool), best, (double)n / best, reps);
}

int main(int argc, char **argv)
{
    const size_t n = (size_t)bu_arg_long(argc, argv, 1, 1000000);
    const unsigned executors = (unsigned)bu_arg_long(argc, argv, 2, 0);
    const long reps = bu_arg_long(argc, argv, 3, 5);
    if (n == 0 || reps < 1) {
        fprintf(stderr, "usage: %s [n] [executors] [reps]\n", argv[0]);
        return 2;
    }

    const double per_call = bench_spin_calibrate();
    printf("map_fastpool spin_calibration ns_per_call=%.1f\n", per_call);

    uint64_t *in = malloc(n * sizeof *in);
    uint64_t *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL) {
        fprintf(stderr, "map_fastpool: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = i;
    }
    fp_context_t *ctx = NULL;
    fp_pool_t *pool = bu_pool_create(&ctx, executors);
    run_map(pool, "empty", BENCH_TASK_EMPTY, in, out, n, reps);
    run_map(pool, "spin1us", BENCH_TASK_SPIN, in, out, n, reps);
    bu_pool_destroy(ctx, pool);
    free(in);
    free(out);
    return 0;
}
