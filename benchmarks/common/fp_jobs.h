/*
 * The fastpool kernels measured by several benchmark programs, kept in one
 * place so that bench_sched (Google Benchmark) and the plain executables
 * measure exactly the same code.
 */
#ifndef FP_BENCH_JOBS_H
#define FP_BENCH_JOBS_H

#include <stdint.h>

#include "fastpool/fastpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registered task names (see fp_jobs.c). */
#define BENCH_TASK_EMPTY "bench_empty"   /* copies its 8-byte input out */
#define BENCH_TASK_SPIN "bench_spin1us"  /* busy-waits ~1 us, then copies */

/* Calibrate the spin task so that one call of its body takes ~1 us (the
 * clock read itself costs tens of ns); call before creating a pool.
 * Returns the measured ns per call after calibration. */
double bench_spin_calibrate(void);

/* fib(n) with every call a fork-join job: spawn fib(n-1), spawn fib(n-2),
 * sync both.  No cut-off.  Runs as a root job on `pool`. */
uint64_t bench_fib(fp_pool_t *pool, int n);

/* Plain recursive fib, to check results. */
uint64_t bench_fib_seq(int n);

/* fib(n) makes this many calls (= jobs): 2*fib(n+1) - 1. */
uint64_t bench_fib_calls(int n);

/* One root job that spawns and syncs `count` empty jobs one after the other
 * (spawn, sync, spawn, sync, ...). */
void bench_spawn_sync(fp_pool_t *pool, uint64_t count);

/* fp_map of `n` uint64 elements through `task`; exits on failure. */
void bench_map(fp_pool_t *pool, const char *task, const uint64_t *in,
               uint64_t *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
