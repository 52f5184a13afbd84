/*
 * fastpool-map-demo: the main job.  Maps a function over a million inputs on
 * the embedded default pool (this machine's cores), checks every result
 * against a sequential run, and prints the throughput.
 *
 *   fastpool-map-demo [-n COUNT] [-e EXECUTORS] [-r REPEATS] [--nodes LIST]
 *                     [--progress | --no-progress]
 *                     [--cluster FILE]
 *
 * --nodes host:port,host:port runs the same map on those nodes (programs
 * serving as nodes: fastpool-worker, or this very program started with
 * FP_NODE_LISTEN=ADDR:PORT, which has the task compiled in); FP_NODES does
 * the same without the option.  --cluster FILE takes the nodes a cluster
 * file describes (docs/CONFIG.md): with bootstrap ssh this very program is
 * started on each host over SSH, nothing installed there; FP_CLUSTER does
 * the same without the option.
 * The task counts the steps of the Collatz sequence from its input: cheap,
 * irregular in cost from one element to the next, and easy to check.
 * --progress shows each run's progress on stderr (a bar redrawn in place on
 * a terminal, plain lines otherwise); the default is on when stderr is a
 * terminal.
 */
#define _POSIX_C_SOURCE 200809L
#include <fastpool/fastpool.h>

#include "common/progress_bar.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t collatz_steps(uint64_t x)
{
    uint32_t steps = 0;
    while (x > 1) {
        x = (x & 1) ? 3 * x + 1 : x / 2;
        steps++;
    }
    return steps;
}

static fp_status_t collatz(fp_task_t *task, const fp_cbuf_t *args,
                           size_t nargs, fp_buf_t *out)
{
    (void)nargs;
    uint64_t x;
    memcpy(&x, args[0].data, sizeof(x));
    if (x == 0)
        return fp_task_error(task, FP_ERR_INVALID, "collatz(0) is undefined");
    uint32_t s = collatz_steps(x);
    memcpy(out->data, &s, sizeof(s));
    return FP_OK;
}
FP_TASK_REGISTER(collatz)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-n COUNT] [-e EXECUTORS] [-r REPEATS] [--nodes "
            "HOST:PORT,...] [--cluster FILE] [--progress | --no-progress]\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    unsigned executors = 0;
    int repeats = 3;
    int progress = isatty(STDERR_FILENO); /* --progress / --no-progress */
    const char *nodes = NULL, *cluster = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
            n = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "-e") == 0)
            executors = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "-r") == 0)
            repeats = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--nodes") == 0)
            nodes = argv[++i];
        else if (strcmp(argv[i], "--progress") == 0)
            progress = 1;
        else if (strcmp(argv[i], "--no-progress") == 0)
            progress = 0;
        else if (i + 1 < argc && strcmp(argv[i], "--cluster") == 0)
            cluster = argv[++i];
        else
            return usage(argv[0]);
    }
    if (n == 0 || repeats < 1)
        return usage(argv[0]);

    uint64_t *in = malloc(n * sizeof(*in));
    uint32_t *out = malloc(n * sizeof(*out));
    if (in == NULL || out == NULL) {
        fprintf(stderr, "out of memory for %zu inputs\n", n);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = i + 1;

    fp_context_t *ctx;
    fp_pool_t *pool;
    fp_error_t err;
    fp_status_t st = fp_context_create(NULL, &ctx);
    if (st != FP_OK) {
        fprintf(stderr, "fp_context_create: %s\n", fp_status_string(st));
        return 1;
    }
    fp_pool_params_t pp = {.executors = executors, .cluster = cluster};
    const char *list[64];
    char *nodes_copy = nodes != NULL ? strdup(nodes) : NULL;
    if (nodes_copy != NULL) {
        for (char *t = strtok(nodes_copy, ","); t != NULL && pp.nnodes < 64;
             t = strtok(NULL, ","))
            list[pp.nnodes++] = t;
        pp.nodes = list;
    }
    st = fp_pool_create(ctx, &pp, &pool, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fp_pool_create: %s: %s\n", fp_status_string(st),
                err.message);
        return 1;
    }
    fp_node_info_t info[64];
    size_t nn = 0;
    fp_pool_nodes(pool, info, 64, &nn);
    if (nn == 1 && strcmp(info[0].address, "local") == 0) {
        printf("fastpool %s: local pool, %u executors; mapping collatz over "
               "%zu inputs, %d runs\n",
               fp_version_string(), fp_pool_size(pool), n, repeats);
    } else {
        printf("fastpool %s: %zu nodes, %u executors; mapping collatz over "
               "%zu inputs, %d runs\n",
               fp_version_string(), nn, fp_pool_size(pool), n, repeats);
        for (size_t i = 0; i < nn && i < 64; i++)
            printf("  node %s (%s): %u executors, %s\n", info[i].address,
                   info[i].host, info[i].executors, info[i].transports);
    }

    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        memset(out, 0xff, n * sizeof(*out));
        fp__pbar_t bar;
        char label[32];
        snprintf(label, sizeof(label), "run %d", r + 1);
        fp__pbar_init(&bar, stderr, label,
                      progress ? FP__PBAR_AUTO : FP__PBAR_OFF);
        fp_call_params_t cp = {.on_progress = progress ? fp__pbar_progress
                                                       : NULL,
                               .progress_arg = &bar};
        double t0 = now();
        st = fp_map(pool, "collatz", in, sizeof(*in), n, out, sizeof(*out),
                    &cp, &err);
        double dt = now() - t0;
        fp__pbar_end(&bar, st == FP_OK ? NULL : "failed");
        if (st != FP_OK) {
            fprintf(stderr, "fp_map: %s: %s\n", fp_status_string(st),
                    err.message);
            return 1;
        }
        printf("  run %d: %.4f s, %.2f M items/s\n", r + 1, dt, n / dt / 1e6);
        if (dt < best)
            best = dt;
    }

    /* check every result against a sequential run */
    double t0 = now();
    size_t bad = 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = collatz_steps(in[i]);
        sum += s;
        if (out[i] != s && bad++ < 5)
            fprintf(stderr, "  mismatch at %zu: got %u, want %u\n", i, out[i],
                    s);
    }
    double seq = now() - t0;
    printf("check: %s (%zu results, %zu wrong, sum of steps %" PRIu64 ")\n",
           bad == 0 ? "OK" : "FAILED", n, bad, sum);
    printf("throughput: %.2f M items/s on %u executors (best of %d); "
           "sequential %.2f M items/s, speed-up %.2fx\n",
           n / best / 1e6, fp_pool_size(pool), repeats, n / seq / 1e6,
           seq / best);

    if (nn > 1 || strcmp(info[0].address, "local") != 0) {
        fp_pool_nodes(pool, info, 64, &nn);
        for (size_t i = 0; i < nn && i < 64; i++)
            printf("  node %s did %" PRIu64 " elements\n", info[i].address,
                   info[i].elements);
    }
    fp_pool_destroy(pool);
    fp_context_destroy(ctx);
    free(nodes_copy);
    free(in);
    free(out);
    return bad == 0 ? 0 : 1;
}
