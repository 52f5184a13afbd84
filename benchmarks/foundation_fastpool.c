/*
 * The foundation targets, measured: waits with huge and infinite timeouts,
 * the CPU a blocked wait uses, oversubscribed pools (create time, idle CPU),
 * imap_unordered's first-result latency with a 1 ms task, and imap's
 * resident memory with 1 MiB results.  Prints one `name key=value ...` line
 * per figure; benchmarks/foundation.sh turns them into TARGET lines.
 *
 *   foundation_fastpool [all|waits|many|latency|memory]
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fastpool/fastpool.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void check(fp_status_t st, const char *what)
{
    if (st != FP_OK) {
        fprintf(stderr, "foundation_fastpool: %s: %s\n", what,
                fp_status_string(st));
        exit(1);
    }
}

/* ---- tasks ---------------------------------------------------------------- */

/* Sleep args[0] (a double, seconds), then write 1. */
static fp_status_t fd_sleep(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *out)
{
    (void)t;
    (void)n;
    double s;
    memcpy(&s, a[0].data, sizeof s);
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
    if (out->size >= sizeof(int))
        *(int *)out->data = 1;
    return FP_OK;
}
FP_TASK_REGISTER(fd_sleep)

/* Spin 1 ms (a CPU-bound 1 ms task). */
static fp_status_t fd_spin1ms(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                              fp_buf_t *out)
{
    (void)t;
    (void)a;
    (void)n;
    double end = now() + 1e-3;
    while (now() < end) {
    }
    *(int *)out->data = 1;
    return FP_OK;
}
FP_TASK_REGISTER(fd_spin1ms)

/* Fill the 1 MiB result slot. */
static fp_status_t fd_mib(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                          fp_buf_t *out)
{
    (void)t;
    (void)n;
    memset(out->data, *(const unsigned char *)a[0].data, out->size);
    return FP_OK;
}
FP_TASK_REGISTER(fd_mib)

static fp_context_t *ctx;

static fp_pool_t *pool_of(unsigned executors)
{
    fp_pool_params_t pp = {.executors = executors};
    fp_pool_t *p;
    fp_error_t err;
    check(fp_pool_create(ctx, &pp, &p, &err), "fp_pool_create");
    return p;
}

/* ---- waits ------------------------------------------------------------------ */

static void waits(void)
{
    fp_pool_t *pool = pool_of(2);
    static const struct {
        const char *name;
        double t;
    } timeouts[] = {{"INFINITY", INFINITY}, {"DBL_MAX", DBL_MAX},
                    {"1e19", 1e19},         {"1e18", 1e18}};
    double worst = 0;
    int ok = 1;
    for (size_t k = 0; k < sizeof(timeouts) / sizeof(timeouts[0]); k++) {
        double s = 0.1;
        fp_cbuf_t arg = {&s, sizeof s};
        /* fp_future_wait / fp_future_get */
        fp_future_t *f;
        check(fp_apply_async(pool, "fd_sleep", &arg, 1, NULL, &f), "apply");
        double t0 = now();
        fp_status_t st = fp_future_get(f, timeouts[k].t, NULL);
        double el = now() - t0;
        fp_future_release(f);
        ok &= st == FP_OK;
        worst = el > worst ? el : worst;
        printf("wait call=future_get timeout=%s status=%s seconds=%.3f\n",
               timeouts[k].name, fp_status_name(st), el);
        /* fp_iter_next, ordered and unordered */
        for (int unordered = 0; unordered < 2; unordered++) {
            fp_iter_t *it;
            check((unordered ? fp_imap_unordered : fp_imap)(
                      pool, "fd_sleep", &s, sizeof s, 1, sizeof(int), NULL,
                      &it),
                  "imap");
            int r = 0;
            t0 = now();
            st = fp_iter_next(it, &r, NULL, timeouts[k].t, NULL);
            el = now() - t0;
            fp_iter_destroy(it);
            ok &= st == FP_OK && r == 1;
            worst = el > worst ? el : worst;
            printf("wait call=%s timeout=%s status=%s seconds=%.3f\n",
                   unordered ? "imap_unordered_next" : "imap_next",
                   timeouts[k].name, fp_status_name(st), el);
        }
    }
    printf("waits_summary all_returned=%d worst_seconds=%.3f\n", ok, worst);

    /* a blocked wait: the result comes after 1 s */
    double s = 1.0;
    fp_cbuf_t arg = {&s, sizeof s};
    fp_future_t *f;
    check(fp_apply_async(pool, "fd_sleep", &arg, 1, NULL, &f), "apply");
    double c0 = thread_cpu(), t0 = now();
    check(fp_future_wait(f, INFINITY), "wait");
    double cpu = (thread_cpu() - c0) / (now() - t0) * 100;
    fp_future_release(f);
    printf("blocked_wait thread_cpu_percent=%.3f\n", cpu);
    check(fp_pool_destroy(pool), "destroy");
}

/* ---- many executors ----------------------------------------------------------- */

static void many(void)
{
    static const unsigned counts[] = {1000, 4096};
    for (size_t k = 0; k < 2; k++) {
        double t0 = now();
        fp_pool_t *pool = pool_of(counts[k]);
        double created = now() - t0;
        double c0 = process_cpu();
        t0 = now();
        struct timespec ts = {3, 0};
        nanosleep(&ts, NULL);
        double idle = (process_cpu() - c0) / (now() - t0) * 100;
        t0 = now();
        check(fp_pool_destroy(pool), "destroy");
        printf("many executors=%u create_seconds=%.3f idle_cpu_percent=%.3f "
               "destroy_seconds=%.3f\n",
               counts[k], created, idle, now() - t0);
    }
}

/* ---- imap latency -------------------------------------------------------------- */

static void latency(void)
{
    fp_pool_t *pool = pool_of(0);
    const size_t n = 1000000;
    for (int unordered = 1; unordered >= 0; unordered--) {
        fp_iter_t *it;
        double t0 = now();
        check((unordered ? fp_imap_unordered : fp_imap)(
                  pool, "fd_spin1ms", NULL, 0, n, sizeof(int), NULL, &it),
              "imap");
        int r;
        check(fp_iter_next(it, &r, NULL, -1, NULL), "next");
        double first = now() - t0;
        t0 = now();
        fp_iter_destroy(it);
        printf("imap_latency call=%s elements=%zu task_ms=1 "
               "first_result_ms=%.2f destroy_ms=%.2f\n",
               unordered ? "imap_unordered" : "imap", n, first * 1e3,
               (now() - t0) * 1e3);
    }
    check(fp_pool_destroy(pool), "destroy");
}

/* ---- imap memory ------------------------------------------------------------------ */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

static void memory(void)
{
    fp_pool_t *pool = pool_of(0);
    const size_t n = 10000, size = 1 << 20;
    unsigned char *in = malloc(n);
    unsigned char *out = malloc(size);
    for (size_t i = 0; i < n; i++)
        in[i] = (unsigned char)i;
    memset(out, 0, size);
    long before = rss_kib();
    fp_iter_t *it;
    double t0 = now();
    check(fp_imap(pool, "fd_mib", in, 1, n, size, NULL, &it), "imap");
    size_t got = 0, bad = 0;
    fp_status_t st;
    while ((st = fp_iter_next(it, out, NULL, -1, NULL)) == FP_OK) {
        bad += out[size - 1] != (unsigned char)got;
        got++;
    }
    fp_iter_destroy(it);
    long after = rss_kib();
    if (before < 0 || after < 0)
        fprintf(stderr, "foundation_fastpool: cannot read VmHWM\n");
    printf("imap_memory_raw vmhwm_before_kib=%ld vmhwm_after_kib=%ld\n", before, after);
    printf("imap_memory results=%zu result_bytes=%zu wrong=%zu seconds=%.2f "
           "rss_growth_mib=%.1f\n",
           got, size, bad, now() - t0, (double)(after - before) / 1024.0);
    free(in);
    free(out);
    check(fp_pool_destroy(pool), "destroy");
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    fp_context_params_t cp = {.log_level = FP_LOG_ERROR};
    check(fp_context_create(&cp, &ctx), "fp_context_create");
    int all = strcmp(what, "all") == 0;
    if (all || strcmp(what, "waits") == 0)
        waits();
    if (all || strcmp(what, "latency") == 0)
        latency();
    /* before `many`: the high-water mark of resident memory is what it
     * reads, and 4,096 thread stacks would raise it first */
    if (all || strcmp(what, "memory") == 0)
        memory();
    if (all || strcmp(what, "many") == 0)
        many();
    fp_context_destroy(ctx);
    return 0;
}
