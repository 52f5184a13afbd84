/*
 * Small helpers shared by the benchmark programs (C11 and C++17).
 */
#ifndef FP_BENCH_UTIL_H
#define FP_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastpool/fastpool.h"

/* Monotonic clock in nanoseconds. */
static inline uint64_t bu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double bu_now_s(void)
{
    return (double)bu_now_ns() * 1e-9;
}

/* Busy-wait for at least `ns` nanoseconds (no sleeping, no yielding). */
static inline void bu_spin_ns(uint64_t ns)
{
    const uint64_t end = bu_now_ns() + ns;
    while (bu_now_ns() < end) {
    }
}

/* Exit with a message when a library call fails. */
static inline void bu_check(fp_status_t st, const char *what)
{
    if (st != FP_OK) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, fp_status_name(st),
                fp_status_string(st));
        exit(2);
    }
}

/* A positive integer from argv[i], or `def` when absent; exits when bad. */
static inline long bu_arg_long(int argc, char **argv, int i, long def)
{
    if (i >= argc) {
        return def;
    }
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < 0) {
        fprintf(stderr, "bad argument '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

/* A context and a pool of `executors` (0: library default) whose executors
 * have the worker class `worker_class` (NULL: none), or exit. */
static inline fp_pool_t *bu_pool_create_wc(fp_context_t **ctx_p, unsigned executors,
                                           const char *worker_class)
{
    fp_pool_params_t params;
    memset(&params, 0, sizeof params); /* zero is default */
    params.executors = executors;
    params.worker_class = worker_class;
    fp_pool_t *pool = NULL;
    fp_error_t err;
    bu_check(fp_context_create(NULL, ctx_p), "fp_context_create");
    fp_status_t st = fp_pool_create(*ctx_p, &params, &pool, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fp_pool_create failed: %s: %s\n", fp_status_name(st),
                err.message);
        exit(2);
    }
    return pool;
}

static inline fp_pool_t *bu_pool_create(fp_context_t **ctx_p, unsigned executors)
{
    return bu_pool_create_wc(ctx_p, executors, NULL);
}

static inline void bu_pool_destroy(fp_context_t *ctx, fp_pool_t *pool)
{
    bu_check(fp_pool_destroy(pool), "fp_pool_destroy");
    fp_context_destroy(ctx);
}

#endif
