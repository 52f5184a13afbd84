/*
 * Shared helpers for the libfastpool tests (header-only).
 *
 * Include after <cmocka.h>'s prerequisites; this header includes them.
 *
 * Rules the tests follow:
 *  - No cmocka assertion ever runs on an executor thread (cmocka fails with
 *    longjmp, which only works on the test's own thread).  Tasks report a
 *    broken expectation by returning an error with a message, which the test
 *    then sees as the call's status; callbacks record into atomics.
 *  - Nothing asserts on timing.  A task that must stay blocked waits on a
 *    gate (an atomic flag) that the test opens when it is done checking.
 */
#ifndef FP_TEST_H
#define FP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "fastpool/fastpool.h"

/* ---- a pool secret for tests that start nodes ---------------------------- */

#include <sys/stat.h>
#include <unistd.h>

/* Unless FP_SECRET_FILE / FP_SECRET is set: a fresh random one in a 0600
 * file, exported, so that this process and the nodes it starts share it. */
static inline void fp_test_secret_env(void)
{
    if (getenv("FP_SECRET_FILE") != NULL || getenv("FP_SECRET") != NULL)
        return;
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/fp-test-secret-%d", (int)getpid());
    FILE *r = fopen("/dev/urandom", "rb"), *w = fopen(path, "wb");
    unsigned char b[32];
    if (r == NULL || w == NULL || fread(b, 1, sizeof(b), r) != sizeof(b) ||
        fwrite(b, 1, sizeof(b), w) != sizeof(b)) {
        fprintf(stderr, "cannot make a test secret\n");
        exit(1);
    }
    fclose(r);
    fclose(w);
    chmod(path, 0600);
    setenv("FP_SECRET_FILE", path, 1);
}

/* ---- tests that need the tasks in this process ------------------------ */

/* The foundation's API tests also run with their pools on nodes
 * (tests/dist/over_node.sh sets FP_NODES).  A test case whose tasks share
 * state with the test through this process's memory (a global counter, a
 * gate the test opens, a pointer) cannot hold there: it starts with this,
 * which skips it over nodes and says why.  Its assertions stay as they are
 * for the local run. */
#define FP_TEST_LOCAL_ONLY(reason)                                             \
    do {                                                                       \
        const char *fp__nodes_ = getenv("FP_NODES");                           \
        if (fp__nodes_ != NULL && fp__nodes_[0] != '\0') {                     \
            printf("SKIP over nodes: %s\n", (reason));                         \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* ---- sanitizer detection: scale heavy tests down under them ------------ */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FP_TEST_SANITIZED 1
#endif
#endif
#ifndef FP_TEST_SANITIZED
#define FP_TEST_SANITIZED 0
#endif

#if defined(__SANITIZE_THREAD__)
#define FP_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FP_TEST_TSAN 1
#endif
#endif
#ifndef FP_TEST_TSAN
#define FP_TEST_TSAN 0
#endif

/* Some tests check that oversized requests fail cleanly (FP_ERR_NOMEM or
 * FP_ERR_INVALID); by default the sanitizers abort on such an allocation
 * instead of returning NULL.  *SAN_OPTIONS from the environment still take
 * precedence.  (Each test program is one translation unit: one definition.
 * Default visibility: the project builds with -fvisibility=hidden.) */
#define FP_TEST_SAN_OPTIONS(fn)                                                \
    __attribute__((used, visibility("default"))) const char *fn(void);         \
    __attribute__((used, visibility("default"))) const char *fn(void)          \
    {                                                                          \
        return "allocator_may_return_null=1";                                  \
    }
#if defined(__SANITIZE_ADDRESS__)
FP_TEST_SAN_OPTIONS(__asan_default_options)
#endif
#if FP_TEST_TSAN
FP_TEST_SAN_OPTIONS(__tsan_default_options)
#endif

/* The divisor for "big" sizes: FP_TEST_SCALE from the environment, else 4
 * under a sanitizer, else 1. */
static inline size_t fp_test_divisor(void)
{
    const char *s = getenv("FP_TEST_SCALE");
    if (s != NULL && *s != '\0') {
        long v = strtol(s, NULL, 10);
        if (v >= 1)
            return (size_t)v;
    }
    return FP_TEST_SANITIZED ? 4 : 1;
}

/* n scaled down by the divisor, never below `min`. */
static inline size_t fp_test_scaled(size_t n, size_t min)
{
    size_t v = n / fp_test_divisor();
    return v < min ? min : v;
}

/* ---- status assertions that print names --------------------------------- */
#define assert_status(expr, expected)                                          \
    do {                                                                       \
        fp_status_t fp_s_ = (expr);                                            \
        fp_status_t fp_e_ = (expected);                                        \
        if (fp_s_ != fp_e_)                                                    \
            fail_msg("%s: got %s (%d), expected %s (%d)", #expr,               \
                     fp_status_name(fp_s_), (int)fp_s_, fp_status_name(fp_e_), \
                     (int)fp_e_);                                              \
    } while (0)

#define assert_ok(expr) assert_status((expr), FP_OK)

/* ---- time and waiting ---------------------------------------------------- */

/* Monotonic seconds; CPU seconds of this thread; of the whole process. */
static inline double fp_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double fp_test_thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double fp_test_process_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}
static inline void fp_test_sleep_us(unsigned us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline void fp_test_sleep_ms(unsigned ms) { fp_test_sleep_us(ms * 1000u); }

/* Poll until *v >= target.  No bound: a hang is caught by the ctest
 * timeout, which is better than a flaky time limit here. */
static inline void fp_test_wait_at_least(atomic_long *v, long target)
{
    while (atomic_load(v) < target)
        fp_test_sleep_us(200);
}

/* ---- a gate tasks can block on ------------------------------------------ */
/* Closed (0) or open (1).  Tasks poll it; they sleep between polls so that
 * a blocked executor does not starve the test thread on a 2-core machine. */
static inline void fp_gate_wait(atomic_int *gate)
{
    while (atomic_load(gate) == 0)
        fp_test_sleep_us(100);
}

/* ---- pool helpers --------------------------------------------------------- */
typedef struct fp_test_env {
    fp_context_t *ctx;
    fp_pool_t *pool;
} fp_test_env_t;

/* Create a context and a pool; fails the test on error. */
static inline void fp_test_env_open(fp_test_env_t *env, unsigned executors,
                                    fp_pin_t pin, const char *worker_class)
{
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    env->ctx = NULL;
    env->pool = NULL;
    assert_ok(fp_context_create(NULL, &env->ctx));
    assert_non_null(env->ctx);
    fp_pool_params_t p;
    memset(&p, 0, sizeof(p));
    p.executors = executors;
    p.pin = pin;
    p.worker_class = worker_class;
    fp_status_t s = fp_pool_create(env->ctx, &p, &env->pool, &err);
    if (s != FP_OK)
        fail_msg("fp_pool_create: %s: %s", fp_status_name(s), err.message);
    assert_non_null(env->pool);
    assert_int_equal(fp_pool_size(env->pool), executors);
}

static inline void fp_test_env_close(fp_test_env_t *env)
{
    if (env->pool != NULL)
        assert_ok(fp_pool_destroy(env->pool));
    if (env->ctx != NULL)
        fp_context_destroy(env->ctx);
    env->pool = NULL;
    env->ctx = NULL;
}

/* A small deterministic PRNG (xorshift64*). */
static inline uint64_t fp_test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
