#define _POSIX_C_SOURCE 200809L

#include "fp_jobs.h"

#include <string.h>

#include "bench_util.h"

/* ---- fib --------------------------------------------------------------- */

typedef struct fib_arg {
    int n;
    uint64_t result;
} fib_arg_t;

static void fib_job(fp_task_t *task, void *arg)
{
    fib_arg_t *a = arg;
    if (a->n < 2) {
        a->result = (uint64_t)a->n;
        return;
    }
    fib_arg_t x = {a->n - 1, 0};
    fib_arg_t y = {a->n - 2, 0};
    fp_frame_t fx, fy;
    fp_spawn(task, &fx, fib_job, &x);
    fp_spawn(task, &fy, fib_job, &y);
    fp_sync(task, &fy); /* last spawned, first synced */
    fp_sync(task, &fx);
    a->result = x.result + y.result;
}

uint64_t bench_fib(fp_pool_t *pool, int n)
{
    fib_arg_t root = {n, 0};
    bu_check(fp_pool_run(pool, fib_job, &root), "fp_pool_run(fib)");
    return root.result;
}

uint64_t bench_fib_seq(int n)
{
    return n < 2 ? (uint64_t)n : bench_fib_seq(n - 1) + bench_fib_seq(n - 2);
}

uint64_t bench_fib_calls(int n)
{
    return 2 * bench_fib_seq(n + 1) - 1;
}

/* ---- spawn + sync ------------------------------------------------------ */

static void empty_job(fp_task_t *task, void *arg)
{
    (void)task;
    (void)arg;
}

static void spawn_sync_root(fp_task_t *task, void *arg)
{
    const uint64_t count = *(const uint64_t *)arg;
    for (uint64_t i = 0; i < count; i++) {
        fp_frame_t f;
        fp_spawn(task, &f, empty_job, NULL);
        fp_sync(task, &f);
    }
}

void bench_spawn_sync(fp_pool_t *pool, uint64_t count)
{
    bu_check(fp_pool_run(pool, spawn_sync_root, &count), "fp_pool_run(spawn_sync)");
}

/* ---- map tasks --------------------------------------------------------- */

/* Spin target; written only by bench_spin_calibrate() before pools exist. */
static uint64_t spin_target_ns = 1000;

/* ns per call of the spin body: the fastest of 20 batches of 5,000 calls,
 * so that a preemption during one batch does not skew the figure. */
static double spin_ns_per_call(void)
{
    double best = 1e30;
    for (int b = 0; b < 20; b++) {
        const int calls = 5000;
        const uint64_t t0 = bu_now_ns();
        for (int i = 0; i < calls; i++) {
            bu_spin_ns(spin_target_ns);
        }
        const double per = (double)(bu_now_ns() - t0) / calls;
        best = per < best ? per : best;
    }
    return best;
}

double bench_spin_calibrate(void)
{
    spin_target_ns = 1000;
    const double overhead = spin_ns_per_call() - 1000.0;
    if (overhead > 0 && overhead < 1000) {
        spin_target_ns = (uint64_t)(1000.0 - overhead + 0.5);
    }
    return spin_ns_per_call();
}

static fp_status_t bench_empty(fp_task_t *task, const fp_cbuf_t *args,
                               size_t nargs, fp_buf_t *out)
{
    (void)task;
    (void)nargs;
    memcpy(out->data, args[0].data, sizeof(uint64_t));
    return FP_OK;
}
FP_TASK_REGISTER(bench_empty)

static fp_status_t bench_spin1us(fp_task_t *task, const fp_cbuf_t *args,
                                 size_t nargs, fp_buf_t *out)
{
    (void)task;
    (void)nargs;
    bu_spin_ns(spin_target_ns);
    memcpy(out->data, args[0].data, sizeof(uint64_t));
    return FP_OK;
}
FP_TASK_REGISTER(bench_spin1us)

void bench_map(fp_pool_t *pool, const char *task, const uint64_t *in,
               uint64_t *out, size_t n)
{
    fp_error_t err;
    fp_status_t st = fp_map(pool, task, in, sizeof *in, n, out, sizeof *out,
                            NULL, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fp_map(%s) failed at element %zu: %s: %s\n", task,
                err.index, fp_status_name(st), err.message);
        exit(2);
    }
}
