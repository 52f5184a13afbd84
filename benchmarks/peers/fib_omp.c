/*
 * fib_omp <n> <threads> [reps]
 *
 * fib(n) with OpenMP tasks: both recursive calls are tasks, then taskwait.
 * No cut-off (no if/final clauses, no serial threshold), the same rule as
 * fib_fastpool.  Built twice from this source: with gcc (libgomp) as
 * fib_gomp and with clang (LLVM libomp) as fib_libomp; FIB_NAME says which.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef FIB_NAME
#define FIB_NAME "fib_omp"
#endif

static uint64_t fib(int n)
{
    if (n < 2) {
        return (uint64_t)n;
    }
    uint64_t x = 0, y = 0;
#pragma omp task shared(x) firstprivate(n)
    x = fib(n - 1);
#pragma omp task shared(y) firstprivate(n)
    y = fib(n - 2);
#pragma omp taskwait
    return x + y;
}

static uint64_t fib_seq(int n)
{
    return n < 2 ? (uint64_t)n : fib_seq(n - 1) + fib_seq(n - 2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <n> <threads> [reps]\n", argv[0]);
        return 2;
    }
    const int n = atoi(argv[1]);
    const int threads = atoi(argv[2]);
    const int reps = argc > 3 ? atoi(argv[3]) : 3;
    if (n < 0 || threads < 1 || reps < 1) {
        fprintf(stderr, "%s: bad arguments\n", FIB_NAME);
        return 2;
    }
    omp_set_num_threads(threads);
    const uint64_t expect = fib_seq(n);

    double best = 1e30;
    uint64_t result = 0;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
#pragma omp parallel
#pragma omp single
        result = fib(n);
        const double dt = now_s() - t0;
        if (result != expect) {
            fprintf(stderr, "%s: fib(%d) = %" PRIu64 ", expected %" PRIu64 "\n",
                    FIB_NAME, n, result, expect);
            return 1;
        }
        best = dt < best ? dt : best;
    }
    printf("%s n=%d threads=%d seconds=%.4f result=%" PRIu64 " reps=%d\n",
           FIB_NAME, n, threads, best, result, reps);
    return 0;
}
