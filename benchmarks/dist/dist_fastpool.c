/*
 * dist_fastpool: fastpool's side of benchmarks/dist/compare.sh, one SPMD
 * program for the client and the nodes.
 *
 * Node:    FP_NODE_LISTEN=ADDR:PORT dist_fastpool node
 *          (any mode does the same: with FP_NODE_LISTEN set the program's
 *          first fp_pool_create() serves as a node, prints "LISTENING
 *          ADDR:PORT" as its first line and exits on SIGTERM; its tasks are
 *          the ones registered below, so the node needs no module)
 * Client:  dist_fastpool MODE [--nodes H:P,H:P] [--n N] [--reps R]
 *                             [--label T] [--quick] [--budget S]
 *                             [--size BYTES] [--echo]
 *
 * MODE
 *   empty  fp_map of N (1,000,000) 8-byte inputs to 8-byte results through
 *          an empty task (copies in to out); tasks/s of the best of R (3)
 *   metg   METG(50%) as Task Bench defines it: maps of a busy task (a
 *          calibrated number of rounds of a dependent multiply-add, the
 *          calibration measured on a node) over durations from 100 ms down
 *          to 100 ns; efficiency = tasks x duration / (executors x wall);
 *          METG is the shortest duration whose efficiency is >= 50%,
 *          interpolated log-linearly with the next shorter one
 *   apply  N (20,000) fp_apply round trips of 8 bytes, one after the other:
 *          median, p99, mean in us
 *   bw     fp_map over N (32) inputs of BYTES (4 MiB) each, best of R: the
 *          input bytes moved to the nodes per second (GB/s = 1e9 B/s); the
 *          task returns a sparse checksum, or with --echo the whole buffer
 *          (then the results come back the same size)
 *   idle   waits until every node is up, runs one tiny map (warm
 *          connections), prints "IDLE_START", sleeps --seconds S (10) and
 *          prints its own CPU over that window (getrusage RUSAGE_SELF,
 *          user + sys, over the monotonic wall) as % of one core, then
 *          "IDLE_END", and holds the pool --hold S (1) more seconds before
 *          destroying it (so that whoever samples the nodes' CPU over the
 *          same window, between the two lines, sees them idle)
 *   imapmem
 *          fp_imap_unordered of --mib M (1024) elements, input an 8-byte
 *          index, result 1 MiB filled with a pattern of the index (checked
 *          at a few places of each); own VmRSS (/proc/self/status) before
 *          the iterator and every 16 results: the peak growth in MiB
 *          (peak_growth_mib), and the growth of the kernel's high-water
 *          mark VmHWM, reset to the baseline first (hwm_growth_mib; nan
 *          where /proc/self/clear_refs cannot reset it)
 *
 * --nodes: the pool's nodes (fp_pool_params_t.nodes); without it FP_NODES,
 * else a local pool.  The transport is FP_TRANSPORT's; the secret
 * FP_SECRET_FILE's.  --label names the transport in the output.  Output:
 * one machine-readable line per figure,
 *   RESULT system=fastpool mode=M transport=T key=value ...
 *   POINT system=fastpool transport=T duration_ns=... (metg, one per point)
 *   NODE address=... host=... executors=... transports=... (each node)
 * and every RESULT carries the pool's transport counters (fp_pool_stats).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fastpool/fastpool.h"

/* ---- clocks and small helpers ------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double now_s(void)
{
    return (double)now_ns() * 1e-9;
}

static void die(const char *what, fp_status_t st, const fp_error_t *err)
{
    fprintf(stderr, "dist_fastpool: %s failed: %s%s%s\n", what,
            fp_status_name(st), err != NULL && err->message[0] ? ": " : "",
            err != NULL ? err->message : "");
    exit(2);
}

/* ---- the busy loop ----------------------------------------------------- */

/* Keeps the CPU from running one task's chain alongside the next one's:
 * two short chains are independent of each other, and an out-of-order core
 * overlapped consecutive 100 ns tasks enough to make them look 1.5x
 * faster than calibrated.  lfence waits until everything before it has
 * completed. */
static inline void busy_fence(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("lfence" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("isb" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* `iters` rounds of a multiply-add chain, each round depending on the last
 * (so neither the compiler nor the CPU can overlap or drop them); the empty
 * asm keeps the loop from being folded into a closed form. */
static uint64_t busy_rounds(uint64_t iters, uint64_t x)
{
    busy_fence();
    for (uint64_t i = 0; i < iters; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        __asm__ volatile("" : "+r"(x));
    }
    __asm__ volatile("" : "+r"(x));
    busy_fence();
    return x;
}

/* ns per round on this host: the fastest of 7 runs of ~20 ms each. */
static double busy_calibrate(void)
{
    uint64_t n = 1u << 16;
    for (;;) {
        const uint64_t t0 = now_ns();
        (void)busy_rounds(n, t0);
        const uint64_t dt = now_ns() - t0;
        if (dt >= 20000000u || n >= (UINT64_C(1) << 40)) {
            break;
        }
        n *= dt < 2000000u ? 8 : 2;
    }
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        const uint64_t t0 = now_ns();
        (void)busy_rounds(n, t0);
        const double per = (double)(now_ns() - t0) / (double)n;
        best = per < best ? per : best;
    }
    return best;
}

/* ---- tasks (the same registry in the client and every node) ------------- */

/* A task's 8-byte result: the map's slot, or apply's own buffer. */
static void *out8(fp_task_t *task, fp_buf_t *out)
{
    return out->data != NULL && out->size >= 8 ? out->data : fp_task_output(task, 8);
}

/* empty: 8 bytes in -> out */
static fp_status_t dist_empty(fp_task_t *task, const fp_cbuf_t *args,
                              size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_empty wants 8 bytes");
    }
    void *o = out8(task, out);
    if (o == NULL) {
        return FP_ERR_NOMEM;
    }
    memcpy(o, args[0].data, 8);
    return FP_OK;
}
FP_TASK_REGISTER(dist_empty)

/* busy: spin the uint64 number of rounds given; the chain's end value out */
static fp_status_t dist_busy(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_busy wants 8 bytes");
    }
    uint64_t iters;
    memcpy(&iters, args[0].data, 8);
    const uint64_t x = busy_rounds(iters, iters);
    void *o = out8(task, out);
    if (o == NULL) {
        return FP_ERR_NOMEM;
    }
    memcpy(o, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER(dist_busy)

/* calibrate: this host's ns per busy round, as a double */
static fp_status_t dist_calibrate(fp_task_t *task, const fp_cbuf_t *args,
                                  size_t nargs, fp_buf_t *out)
{
    (void)args;
    (void)nargs;
    const double per = busy_calibrate();
    void *o = out8(task, out);
    if (o == NULL) {
        return FP_ERR_NOMEM;
    }
    memcpy(o, &per, 8);
    return FP_OK;
}
FP_TASK_REGISTER(dist_calibrate)

/* The sparse checksum of a buffer: its size plus one uint64 from each
 * 4 KiB page (every page's data must have arrived; reading all of it
 * would measure the node's memory bandwidth, not the transfer). */
static uint64_t sparse_sum(const unsigned char *p, size_t size)
{
    uint64_t s = size;
    for (size_t off = 0; off + 8 <= size; off += 4096) {
        uint64_t w;
        memcpy(&w, p + off, 8);
        s = s * 31 + w;
    }
    return s;
}

/* sum: a large buffer in, its 8-byte sparse checksum out */
static fp_status_t dist_sum(fp_task_t *task, const fp_cbuf_t *args,
                            size_t nargs, fp_buf_t *out)
{
    if (nargs != 1) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_sum wants 1 argument");
    }
    const uint64_t s = sparse_sum(args[0].data, args[0].size);
    void *o = out8(task, out);
    if (o == NULL) {
        return FP_ERR_NOMEM;
    }
    memcpy(o, &s, 8);
    return FP_OK;
}
FP_TASK_REGISTER(dist_sum)

/* echo: a large buffer in, the same bytes out */
static fp_status_t dist_echo(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    if (nargs != 1) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_echo wants 1 argument");
    }
    void *o = out->data != NULL ? (out->size >= args[0].size ? out->data : NULL)
                                : fp_task_output(task, args[0].size);
    if (o == NULL) {
        return fp_task_error(task, FP_ERR_OVERFLOW, "echo: result slot too small");
    }
    memcpy(o, args[0].data, args[0].size);
    return FP_OK;
}
FP_TASK_REGISTER(dist_echo)

/* The pattern of imapmem's results: word w of element `idx`. */
static inline uint64_t fill_word(uint64_t idx, uint64_t w)
{
    return (idx * UINT64_C(0x9e3779b97f4a7c15)) ^ (w * UINT64_C(0xff51afd7ed558ccd)) ^ w;
}

/* fill: an 8-byte index in, its result slot (1 MiB in imapmem) filled with
 * fill_word(index, 0..), every word written (every page real) */
static fp_status_t dist_fill(fp_task_t *task, const fp_cbuf_t *args,
                             size_t nargs, fp_buf_t *out)
{
    if (nargs != 1 || args[0].size != 8) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_fill wants 8 bytes");
    }
    if (out->data == NULL || out->size < 8) {
        return fp_task_error(task, FP_ERR_INVALID, "dist_fill wants a result slot");
    }
    uint64_t idx;
    memcpy(&idx, args[0].data, 8);
    unsigned char *o = out->data;
    const size_t words = out->size / 8;
    for (size_t w = 0; w < words; w++) {
        const uint64_t x = fill_word(idx, w);
        memcpy(o + w * 8, &x, 8);
    }
    return FP_OK;
}
FP_TASK_REGISTER(dist_fill)

/* ---- options ----------------------------------------------------------- */

typedef struct opts {
    const char *mode;
    const char *label;   /* transport name printed */
    char *nodes_arg;     /* "h:p,h:p" (split in place) */
    const char *nodes[64];
    size_t nnodes;
    long n;              /* 0: the mode's default */
    long reps;
    int quick;
    double budget;       /* metg: seconds of ideal work per point */
    size_t size;         /* bw: bytes per element */
    int echo;
    double seconds;      /* idle: the window */
    double hold;         /* idle: seconds held after it */
    long mib;            /* imapmem: results of 1 MiB */
} opts_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: dist_fastpool empty|metg|apply|bw|idle|imapmem|node [--nodes H:P,H:P]\n"
            "         [--n N] [--reps R] [--label TRANSPORT] [--quick] [--budget S]\n"
            "         [--size BYTES] [--echo] [--seconds S] [--hold S] [--mib M]\n"
            "  (with FP_NODE_LISTEN=ADDR:PORT set it serves as a node instead)\n");
    exit(2);
}

static long arg_long(const char *s)
{
    char *end = NULL;
    const long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "dist_fastpool: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->label = "local";
    o->budget = 1.0;
    o->size = (size_t)4 << 20;
    o->seconds = 10;
    o->hold = 1;
    o->mib = 1024;
    if (argc < 2) {
        if (getenv("FP_NODE_LISTEN") == NULL) {
            usage();
        }
        o->mode = "node"; /* started as a node with no arguments */
        return;
    }
    o->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const int has = i + 1 < argc;
        if (strcmp(a, "--nodes") == 0 && has) {
            o->nodes_arg = argv[++i];
        } else if (strcmp(a, "--n") == 0 && has) {
            o->n = arg_long(argv[++i]);
        } else if (strcmp(a, "--reps") == 0 && has) {
            o->reps = arg_long(argv[++i]);
        } else if (strcmp(a, "--label") == 0 && has) {
            o->label = argv[++i];
        } else if (strcmp(a, "--budget") == 0 && has) {
            o->budget = atof(argv[++i]);
        } else if (strcmp(a, "--size") == 0 && has) {
            o->size = (size_t)arg_long(argv[++i]);
        } else if (strcmp(a, "--seconds") == 0 && has) {
            o->seconds = atof(argv[++i]);
        } else if (strcmp(a, "--hold") == 0 && has) {
            o->hold = atof(argv[++i]);
        } else if (strcmp(a, "--mib") == 0 && has) {
            o->mib = arg_long(argv[++i]);
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--echo") == 0) {
            o->echo = 1;
        } else {
            usage();
        }
    }
    if (o->nodes_arg != NULL) {
        char *save = NULL;
        for (char *t = strtok_r(o->nodes_arg, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            if (o->nnodes == sizeof o->nodes / sizeof o->nodes[0]) {
                fprintf(stderr, "dist_fastpool: too many nodes\n");
                exit(2);
            }
            o->nodes[o->nnodes++] = t;
        }
    }
    if (o->budget <= 0 || o->size < 8 || !(o->seconds > 0) || !(o->hold >= 0) ||
        o->mib < 1) {
        usage();
    }
}

/* ---- output ------------------------------------------------------------ */

static const char *g_label = "local";
static fp_pool_t *g_pool;

/* "RESULT system=fastpool mode=M transport=T " + fields + the counters */
static void result(const char *mode, const char *fmt, ...) FP_PRINTF(2, 3);

static void result(const char *mode, const char *fmt, ...)
{
    printf("RESULT system=fastpool mode=%s transport=%s ", mode, g_label);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fp_node_info_t info[64];
    size_t count = 0, nodes = 0;
    if (fp_pool_nodes(g_pool, info, 64, &count) == FP_OK) {
        for (size_t i = 0; i < count && i < 64; i++) {
            nodes += strcmp(info[i].address, "local") != 0;
        }
    }
    printf(" nodes=%zu", nodes);
    fp_pool_stats_t st;
    memset(&st, 0, sizeof st);
    if (fp_pool_stats(g_pool, &st) == FP_OK) {
        printf(" msgs_sent=%llu msgs_received=%llu bytes_sent=%llu bytes_received=%llu"
               " rndv_sent=%llu rndv_received=%llu bytes_copied=%llu"
               " large_bytes_copied=%llu rndv_threshold=%llu",
               (unsigned long long)st.msgs_sent, (unsigned long long)st.msgs_received,
               (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_received,
               (unsigned long long)st.rndv_sent, (unsigned long long)st.rndv_received,
               (unsigned long long)st.bytes_copied,
               (unsigned long long)st.large_bytes_copied,
               (unsigned long long)st.rndv_threshold);
    }
    printf("\n");
    fflush(stdout);
}

static void print_nodes(fp_pool_t *pool)
{
    fp_node_info_t info[64];
    size_t count = 0;
    if (fp_pool_nodes(pool, info, 64, &count) != FP_OK) {
        return;
    }
    for (size_t i = 0; i < count && i < 64; i++) {
        printf("NODE address=%s host=%s executors=%u cores=%u state=%d transports=\"%s\"\n",
               info[i].address, info[i].host[0] ? info[i].host : "?",
               info[i].executors, info[i].cores, (int)info[i].state,
               info[i].transports);
    }
    fflush(stdout);
}

/* ---- modes ------------------------------------------------------------- */

static void map_or_die(fp_pool_t *pool, const char *task, const void *in,
                       size_t in_size, size_t n, void *out, size_t out_size)
{
    fp_error_t err;
    memset(&err, 0, sizeof err);
    const fp_status_t st =
        fp_map(pool, task, in, in_size, n, out, out_size, NULL, &err);
    if (st != FP_OK) {
        char what[96];
        snprintf(what, sizeof what, "fp_map(%s, n=%zu) at element %zu", task, n,
                 err.index);
        die(what, st, &err);
    }
}

static double time_empty(fp_pool_t *pool, uint64_t *in, uint64_t *out, size_t n)
{
    memset(out, 0, n * sizeof *out);
    const double t0 = now_s();
    map_or_die(pool, "dist_empty", in, 8, n, out, 8);
    const double dt = now_s() - t0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] != in[i]) {
            fprintf(stderr, "dist_fastpool: empty: wrong result at %zu\n", i);
            exit(1);
        }
    }
    return dt;
}

static void mode_empty(fp_pool_t *pool, const opts_t *o)
{
    const size_t n = o->n > 0 ? (size_t)o->n : (o->quick ? 200000 : 1000000);
    const long reps = o->reps > 0 ? o->reps : 3;
    uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
    if (in == NULL || out == NULL) {
        die("malloc", FP_ERR_NOMEM, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = i * UINT64_C(0x9e3779b97f4a7c15);
    }
    (void)time_empty(pool, in, out, n < 10000 ? n : 10000); /* warm-up */
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
        const double dt = time_empty(pool, in, out, n);
        best = dt < best ? dt : best;
    }
    result("empty", "n=%zu reps=%ld seconds=%.6f tasks_per_s=%.6g executors=%u",
           n, reps, best, (double)n / best, fp_pool_size(pool));
    free(in);
    free(out);
}

/* ns per busy round on the node hosts: calibrations run as apply calls
 * there (two per executor, concurrently, so each node gets some), mean */
static double node_calibration(fp_pool_t *pool)
{
    enum { MAXC = 64 };
    unsigned k = 2 * fp_pool_size(pool);
    k = k > MAXC ? MAXC : (k < 2 ? 2 : k);
    fp_future_t *f[MAXC];
    for (unsigned i = 0; i < k; i++) {
        const fp_status_t st = fp_apply_async(pool, "dist_calibrate", NULL, 0, NULL, &f[i]);
        if (st != FP_OK) {
            die("fp_apply_async(dist_calibrate)", st, NULL);
        }
    }
    double sum = 0;
    for (unsigned i = 0; i < k; i++) {
        fp_error_t err;
        const fp_status_t st = fp_future_get(f[i], -1, &err);
        if (st != FP_OK) {
            die("dist_calibrate", st, &err);
        }
        fp_cbuf_t r;
        double v = 0;
        if (fp_future_result(f[i], &r) == FP_OK && r.size == 8) {
            memcpy(&v, r.data, 8);
        }
        sum += v;
        fp_future_release(f[i]);
    }
    return sum / k;
}

static const double g_durations[] = {
    100e6, 50e6, 20e6, 10e6, 5e6, 2e6, 1e6, 500e3, 200e3, 100e3, 50e3,
    20e3, 10e3, 5e3, 2e3, 1e3, 500, 200, 100,
};
static const double g_quick_durations[] = {10e6, 1e6, 100e3, 10e3, 1e3, 100};

static void mode_metg(fp_pool_t *pool, const opts_t *o)
{
    const unsigned execs = fp_pool_size(pool);
    const double per_iter = node_calibration(pool);
    if (!(per_iter > 0)) {
        fprintf(stderr, "dist_fastpool: calibration failed\n");
        exit(1);
    }
    /* the empty-task rate bounds the tasks per point (no point takes more
     * than ~1.5 budgets of pure overhead) */
    const size_t max_tasks = o->quick ? 2000000 : 10000000;
    uint64_t *in = malloc(max_tasks * 8), *out = malloc(max_tasks * 8);
    if (in == NULL || out == NULL) {
        die("malloc", FP_ERR_NOMEM, NULL);
    }
    for (size_t i = 0; i < 100000; i++) {
        in[i] = i;
    }
    (void)time_empty(pool, in, out, 10000);
    const double rate = 100000.0 / time_empty(pool, in, out, 100000);

    const double *ds = o->quick ? g_quick_durations : g_durations;
    const size_t nd = o->quick ? sizeof g_quick_durations / sizeof *ds
                               : sizeof g_durations / sizeof *ds;
    double pd[32], pe[32];
    size_t np = 0;
    int crossed = 0;
    for (size_t k = 0; k < nd; k++) {
        const double d = ds[k];
        double t = execs * o->budget * 1e9 / d;
        t = fmin(t, rate * o->budget * 1.5);
        t = fmin(t, (double)max_tasks);
        t = fmax(t, 4.0 * execs);
        const size_t tasks = (size_t)t;
        const uint64_t iters = (uint64_t)llround(d / per_iter);
        for (size_t i = 0; i < tasks; i++) {
            in[i] = iters;
        }
        const double t0 = now_s();
        map_or_die(pool, "dist_busy", in, 8, tasks, out, 8);
        const double wall = now_s() - t0;
        const double eff = (double)tasks * d / (execs * wall * 1e9);
        printf("POINT system=fastpool transport=%s duration_ns=%g tasks=%zu wall_s=%.6g"
               " efficiency=%.6g tasks_per_s=%.6g iters=%llu\n",
               g_label, d, tasks, wall, eff, (double)tasks / wall,
               (unsigned long long)iters);
        fflush(stdout);
        pd[np] = d;
        pe[np] = eff;
        np++;
        crossed |= eff < 0.5;
        if (crossed && eff < 0.2) {
            break;
        }
    }
    /* the shortest duration with efficiency >= 50%, moved log-linearly
     * towards the next shorter point to where the line crosses 50% (points
     * are long to short) */
    double m = NAN;
    const char *how = "none";
    for (size_t i = np; i-- > 0;) {
        if (pe[i] >= 0.5) {
            if (i == np - 1) {
                m = pd[i];
                how = "below";
            } else {
                const double f = (pe[i] - 0.5) / (pe[i] - pe[i + 1]);
                m = exp(log(pd[i]) + f * (log(pd[i + 1]) - log(pd[i])));
                how = "interp";
            }
            break;
        }
    }
    result("metg", "metg_ns=%.6g how=%s executors=%u ns_per_iter=%.6g empty_rate=%.6g",
           m, how, execs, per_iter, rate);
    free(in);
    free(out);
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void mode_apply(fp_pool_t *pool, const opts_t *o)
{
    const size_t n = o->n > 0 ? (size_t)o->n : (o->quick ? 5000 : 20000);
    uint64_t *lat = malloc(n * sizeof *lat);
    if (lat == NULL) {
        die("malloc", FP_ERR_NOMEM, NULL);
    }
    const size_t warm = n < 1000 ? n : 1000;
    for (size_t i = 0; i < warm + n; i++) {
        uint64_t x = i * 7 + 1;
        const fp_cbuf_t arg = {&x, 8};
        fp_buf_t res = {NULL, 0};
        fp_error_t err;
        const uint64_t t0 = now_ns();
        const fp_status_t st = fp_apply(pool, "dist_empty", &arg, 1, &res, &err);
        const uint64_t dt = now_ns() - t0;
        if (st != FP_OK) {
            die("fp_apply(dist_empty)", st, &err);
        }
        uint64_t y = 0;
        if (res.size == 8) {
            memcpy(&y, res.data, 8);
        }
        free(res.data);
        if (y != x) {
            fprintf(stderr, "dist_fastpool: apply: wrong result\n");
            exit(1);
        }
        if (i >= warm) {
            lat[i - warm] = dt;
        }
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)lat[i];
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    const double p50 = (double)lat[n / 2] * 1e-3;
    const double p99 = (double)lat[(size_t)((double)(n - 1) * 0.99)] * 1e-3;
    result("apply", "n=%zu p50_us=%.4f p99_us=%.4f mean_us=%.4f min_us=%.4f",
           n, p50, p99, sum / (double)n * 1e-3, (double)lat[0] * 1e-3);
    free(lat);
}

static void mode_bw(fp_pool_t *pool, const opts_t *o)
{
    const size_t size = o->size;
    const size_t n = o->n > 0 ? (size_t)o->n : (o->quick ? 16 : 32);
    const long reps = o->reps > 0 ? o->reps : (o->quick ? 2 : 3);
    const size_t out_size = o->echo ? size : 8;
    const size_t stride = (size + 4095) & ~(size_t)4095;
    unsigned char *in = aligned_alloc(4096, n * stride);
    unsigned char *out = aligned_alloc(4096, ((n * out_size + 4095) & ~(size_t)4095));
    uint64_t *want = malloc(n * sizeof *want);
    if (in == NULL || out == NULL || want == NULL) {
        die("aligned_alloc", FP_ERR_NOMEM, NULL);
    }
    /* every byte written (so every page is real), each element different */
    for (size_t i = 0; i < n; i++) {
        uint64_t x = i + 1;
        for (size_t off = 0; off + 8 <= size; off += 8) {
            x = x * UINT64_C(6364136223846793005) + 1;
            memcpy(in + i * stride + off, &x, 8);
        }
        want[i] = sparse_sum(in + i * stride, size);
    }
    /* elements are `stride` apart only when size is a page multiple; keep
     * them contiguous otherwise (map's elements are in_size apart) */
    if (stride != size) {
        for (size_t i = 1; i < n; i++) {
            memmove(in + i * size, in + i * stride, size);
        }
    }
    const char *task = o->echo ? "dist_echo" : "dist_sum";
    map_or_die(pool, task, in, size, n < 4 ? n : 4, out, out_size); /* warm-up */
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
        memset(out, 0, n * out_size);
        const double t0 = now_s();
        map_or_die(pool, task, in, size, n, out, out_size);
        const double dt = now_s() - t0;
        for (size_t i = 0; i < n; i++) {
            const uint64_t got = o->echo ? sparse_sum(out + i * size, size)
                                         : ((const uint64_t *)out)[i];
            if (got != want[i]) {
                fprintf(stderr, "dist_fastpool: bw: wrong result at %zu\n", i);
                exit(1);
            }
        }
        best = dt < best ? dt : best;
    }
    const double bytes = (double)n * (double)size;
    result(o->echo ? "bw_echo" : "bw",
           "n=%zu size=%zu reps=%ld seconds=%.6f gb_per_s=%.6g mib_per_s=%.6g"
           " executors=%u",
           n, size, reps, best, bytes / best * 1e-9, bytes / best / 1048576.0,
           fp_pool_size(pool));
    free(in);
    free(out);
    free(want);
}

/* sleep `s` seconds, whatever signals interrupt */
static void sleep_s(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double rusage_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* nodes of the pool (not "local") and how many of them are up */
static void count_nodes(fp_pool_t *pool, size_t *nodes, size_t *up)
{
    fp_node_info_t info[64];
    size_t count = 0;
    *nodes = *up = 0;
    if (fp_pool_nodes(pool, info, 64, &count) != FP_OK) {
        return;
    }
    for (size_t i = 0; i < count && i < 64; i++) {
        if (strcmp(info[i].address, "local") != 0) {
            (*nodes)++;
            *up += info[i].state == FP_NODE_UP;
        }
    }
}

static void mode_idle(fp_pool_t *pool, const opts_t *o)
{
    /* every node given up (the pool is created with them connected; this
     * only makes sure), at most 30 s */
    size_t nodes = 0, up = 0;
    for (int i = 0; i < 3000; i++) {
        count_nodes(pool, &nodes, &up);
        if (up == o->nnodes) {
            break;
        }
        sleep_s(0.01);
    }
    if (up != o->nnodes) {
        fprintf(stderr, "dist_fastpool: idle: %zu of %zu nodes up\n", up, o->nnodes);
        exit(1);
    }
    /* one tiny map, one element per executor and some, so that every
     * connection has carried work */
    enum { TINY = 64 };
    uint64_t in[TINY], out[TINY];
    for (size_t i = 0; i < TINY; i++) {
        in[i] = i + 1;
    }
    (void)time_empty(pool, in, out, TINY);
    printf("IDLE_START seconds=%g\n", o->seconds);
    fflush(stdout);
    const double c0 = rusage_cpu_s();
    const double t0 = now_s();
    sleep_s(o->seconds);
    const double c1 = rusage_cpu_s();
    const double t1 = now_s();
    const double pct = (c1 - c0) / (t1 - t0) * 100.0;
    result("idle", "seconds=%.6f cpu_s=%.6f cpu_pct=%.4f nodes_up=%zu executors=%u",
           t1 - t0, c1 - c0, pct, up, fp_pool_size(pool));
    printf("IDLE_END\n");
    fflush(stdout);
    sleep_s(o->hold);
}

/* a field of /proc/self/status in KiB ("VmRSS:", "VmHWM:"); -1 if unknown */
static long status_kib(const char *field)
{
    const size_t len = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, len) == 0) {
            kib = strtol(line + len, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

static long rss_kib(void)
{
    return status_kib("VmRSS:");
}

/* reset VmHWM to the current VmRSS (Linux >= 4.0); 0 on success */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) {
        return -1;
    }
    const int bad = fputs("5", f) < 0;
    return (fclose(f) != 0 || bad) ? -1 : 0;
}

static void mode_imapmem(fp_pool_t *pool, const opts_t *o)
{
    const size_t n = (size_t)o->mib;
    const size_t res = (size_t)1 << 20;
    uint64_t *in = malloc(n * sizeof *in);
    unsigned char *out = malloc(res);
    unsigned char *seen = calloc(n, 1);
    if (in == NULL || out == NULL || seen == NULL) {
        die("malloc", FP_ERR_NOMEM, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = i;
    }
    memset(out, 0, res); /* the consumer's buffer is real before the baseline */
    /* besides the samples, the kernel's high-water mark over the run (reset
     * to the baseline here), which sees peaks between samples */
    const int hwm_ok = reset_hwm() == 0;
    const long before = rss_kib();
    long peak = before;
    const double t0 = now_s();
    fp_iter_t *it = NULL;
    fp_status_t st = fp_imap_unordered(pool, "dist_fill", in, 8, n, res, NULL, &it);
    if (st != FP_OK) {
        die("fp_imap_unordered(dist_fill)", st, NULL);
    }
    size_t got = 0, wrong = 0;
    const size_t words = res / 8;
    const size_t probe[] = {0, 1, 4095, words / 2, words - 2, words - 1};
    for (;;) {
        size_t idx = (size_t)-1;
        fp_error_t err;
        memset(&err, 0, sizeof err);
        st = fp_iter_next(it, out, &idx, -1, &err);
        if (st == FP_END) {
            break;
        }
        if (st != FP_OK) {
            die("fp_iter_next(dist_fill)", st, &err);
        }
        if (idx >= n || seen[idx]) {
            wrong++;
        } else {
            seen[idx] = 1;
            for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
                uint64_t w;
                memcpy(&w, out + probe[k] * 8, 8);
                if (w != fill_word(idx, probe[k])) {
                    wrong++;
                    break;
                }
            }
        }
        got++;
        if (got % 16 == 0) {
            const long r = rss_kib();
            peak = r > peak ? r : peak;
        }
    }
    const double dt = now_s() - t0;
    fp_iter_destroy(it);
    const long after = rss_kib();
    peak = after > peak ? after : peak;
    const long hwm = hwm_ok ? status_kib("VmHWM:") : -1;
    if (got != n || wrong != 0) {
        fprintf(stderr, "dist_fastpool: imapmem: %zu results of %zu, %zu wrong\n",
                got, n, wrong);
        exit(1);
    }
    result("imapmem",
           "n=%zu result_bytes=%zu mib=%zu seconds=%.6f mib_per_s=%.6g rss_before_mib=%.2f"
           " rss_peak_mib=%.2f rss_after_mib=%.2f peak_growth_mib=%.2f"
           " hwm_growth_mib=%.2f wrong=%zu executors=%u",
           n, res, n, dt, (double)n / dt, before / 1024.0, peak / 1024.0,
           after / 1024.0, (peak - before) / 1024.0,
           hwm >= 0 ? (hwm - before) / 1024.0 : NAN, wrong, fp_pool_size(pool));
    free(in);
    free(out);
    free(seen);
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
    opts_t o;
    parse(argc, argv, &o);
    g_label = o.label;

    const int node_mode = strcmp(o.mode, "node") == 0;
    if (node_mode && getenv("FP_NODE_LISTEN") == NULL) {
        fprintf(stderr, "dist_fastpool node: set FP_NODE_LISTEN=ADDR:PORT\n");
        return 2;
    }

    fp_context_t *ctx = NULL;
    fp_status_t st = fp_context_create(NULL, &ctx);
    if (st != FP_OK) {
        die("fp_context_create", st, NULL);
    }
    fp_pool_params_t p;
    memset(&p, 0, sizeof p);
    p.nodes = o.nnodes > 0 ? o.nodes : NULL;
    p.nnodes = o.nnodes;
    fp_error_t err;
    memset(&err, 0, sizeof err);
    /* with FP_NODE_LISTEN set this serves as a node and never returns */
    st = fp_pool_create(ctx, &p, &g_pool, &err);
    if (node_mode) {
        fprintf(stderr, "dist_fastpool node: fp_pool_create() returned (%s): "
                "this libfastpool did not serve as a node\n", fp_status_name(st));
        return 1;
    }
    if (st != FP_OK) {
        die("fp_pool_create", st, &err);
    }
    print_nodes(g_pool);

    if (strcmp(o.mode, "empty") == 0) {
        mode_empty(g_pool, &o);
    } else if (strcmp(o.mode, "metg") == 0) {
        mode_metg(g_pool, &o);
    } else if (strcmp(o.mode, "apply") == 0) {
        mode_apply(g_pool, &o);
    } else if (strcmp(o.mode, "bw") == 0) {
        mode_bw(g_pool, &o);
    } else if (strcmp(o.mode, "idle") == 0) {
        mode_idle(g_pool, &o);
    } else if (strcmp(o.mode, "imapmem") == 0) {
        mode_imapmem(g_pool, &o);
    } else {
        usage();
    }
    st = fp_pool_destroy(g_pool);
    if (st != FP_OK) {
        die("fp_pool_destroy", st, NULL);
    }
    fp_context_destroy(ctx);
    return 0;
}
