/*
 * One program for every rank of `mpirun -n N` / `srun --mpi=pmix -n N`
 * (driven by mpirun_pool.sh): no MPI, no fastpool launcher.  Every rank
 * calls fp_pool_create; the node ranks serve there and never come back;
 * the client rank (0) maps over 10,000 inputs and checks each result and
 * that the elements ran in the node ranks (each returns its getpid()).
 *
 *   test_mpirun_pool map MARK    map, destroy, return 0 (every rank exits 0)
 *   test_mpirun_pool early MARK  map, then exit(0) with the pool still open
 *   test_mpirun_pool kill MARK   map, then SIGKILL itself
 *   test_mpirun_pool refused MARK  the node ranks cannot start (the script
 *                                  gives them a secret file that is not
 *                                  there): fp_pool_create must fail naming
 *                                  a rank and the cause
 *
 *   test_mpirun_pool unsupported MARK  a build without PMIx: every rank's
 *                                  fp_pool_create fails FP_ERR_UNSUPPORTED
 *                                  saying so (each rank then returns 0)
 *
 * The client rank is FP_PMIX_CLIENT_RANK if set, else 0.
 *
 * MARK only tags the processes, for the script's process listing.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fastpool/fastpool.h"

typedef struct {
    uint64_t value;
    int32_t pid;
    int32_t pad;
} result_t;

/* 3x+1, with ~20 us of work so that every node gets records */
static fp_status_t step(fp_task_t *task, const fp_cbuf_t *args, size_t nargs,
                        fp_buf_t *out)
{
    (void)task;
    (void)nargs;
    uint64_t x;
    memcpy(&x, args[0].data, sizeof(x));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t1);
    while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) <
           20000);
    result_t r = {.value = 3 * x + 1, .pid = (int32_t)getpid()};
    memcpy(out->data, &r, sizeof(r));
    return FP_OK;
}
FP_TASK_REGISTER(step)

static const char *rank_env(void)
{
    const char *r = getenv("PMIX_RANK");
    return r != NULL ? r : "?";
}

static unsigned job_size(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (s == NULL)
        s = getenv("SLURM_NTASKS");
    return s != NULL ? (unsigned)atoi(s) : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "map";
    setvbuf(stdout, NULL, _IONBF, 0);
    fp_context_t *ctx = NULL;
    if (fp_context_create(NULL, &ctx) != FP_OK) {
        printf("rank %s: fp_context_create failed\n", rank_env());
        return 1;
    }
    fp_pool_t *pool = NULL;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    struct timespec c0, c1, m1;
    clock_gettime(CLOCK_MONOTONIC, &c0);
    fp_status_t st = fp_pool_create(ctx, NULL, &pool, &err);
    /* only the client rank gets here */
    clock_gettime(CLOCK_MONOTONIC, &c1);
    if (strcmp(mode, "unsupported") == 0) {
        if (st == FP_ERR_UNSUPPORTED && strstr(err.message, "without PMIx")) {
            printf("UNSUPPORTED: rank %s: %s\n", rank_env(), err.message);
            return 0;
        }
        printf("FAIL: rank %s: fp_pool_create gave %s (%s), expected "
               "FP_ERR_UNSUPPORTED\n",
               rank_env(), fp_status_string(st), err.message);
        return 1;
    }
    if (strcmp(mode, "refused") == 0) {
        if (st == FP_ERR_PEER && strstr(err.message, "could not start its node") &&
            strstr(err.message, "secret")) {
            printf("REFUSED: %s\n", err.message);
            return 0;
        }
        printf("FAIL: fp_pool_create gave %s (%s), expected FP_ERR_PEER "
               "naming a rank whose node could not start\n",
               fp_status_string(st), err.message);
        return 1;
    }
    if (st != FP_OK) {
        printf("rank %s: fp_pool_create: %s: %s\n", rank_env(),
               fp_status_string(st), err.message);
        return 1;
    }
    const char *client = getenv("FP_PMIX_CLIENT_RANK");
    if (strcmp(rank_env(), client != NULL ? client : "0") != 0) {
        printf("FAIL: rank %s (not the client) came back from "
               "fp_pool_create\n",
               rank_env());
        return 1;
    }
    unsigned size = job_size();
    size_t nodes = fp_pool_node_count(pool);
    if (size > 0 && nodes != size - 1) {
        printf("FAIL: %zu nodes for %u ranks (expected %u)\n", nodes, size,
               size - 1);
        return 1;
    }

    /* FP_EXECUTORS, when set, is each node rank's count */
    const char *ex = getenv("FP_EXECUTORS");
    if (ex != NULL && fp_pool_size(pool) != (unsigned)atoi(ex) * nodes) {
        printf("FAIL: FP_EXECUTORS=%s on %zu node ranks gave a pool of %u "
               "executors\n",
               ex, nodes, fp_pool_size(pool));
        return 1;
    }

    enum { N = 10000 };
    static uint64_t in[N];
    static result_t out[N];
    for (size_t i = 0; i < N; i++)
        in[i] = i * 7 + 3;
    st = fp_map(pool, "step", in, sizeof(in[0]), N, out, sizeof(out[0]), NULL,
                &err);
    if (st != FP_OK) {
        printf("FAIL: fp_map: %s: %s\n", fp_status_string(st), err.message);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &m1);
    int32_t me = (int32_t)getpid();
    int32_t pids[64];
    size_t npids = 0;
    for (size_t i = 0; i < N; i++) {
        if (out[i].value != 3 * in[i] + 1) {
            printf("FAIL: element %zu: %llu, expected %llu\n", i,
                   (unsigned long long)out[i].value,
                   (unsigned long long)(3 * in[i] + 1));
            return 1;
        }
        if (out[i].pid == me) {
            printf("FAIL: element %zu ran in the client rank\n", i);
            return 1;
        }
        size_t k = 0;
        while (k < npids && pids[k] != out[i].pid)
            k++;
        if (k == npids && npids < 64)
            pids[npids++] = out[i].pid;
    }
    if (npids != nodes) {
        printf("FAIL: elements ran in %zu processes, the pool has %zu node "
               "ranks\n",
               npids, nodes);
        return 1;
    }
    printf("MAPPED %d elements on %zu node ranks (pool of %u executors): "
           "fp_pool_create %.1f ms (the exchange and the nodes' start "
           "included), map %.1f ms\n",
           N, nodes, fp_pool_size(pool),
           (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6,
           (m1.tv_sec - c1.tv_sec) * 1e3 + (m1.tv_nsec - c1.tv_nsec) / 1e6);

    if (strcmp(mode, "early") == 0) {
        printf("EXITING with the pool open\n");
        exit(0);
    }
    if (strcmp(mode, "kill") == 0) {
        printf("KILLING myself\n");
        raise(SIGKILL);
    }
    st = fp_pool_destroy(pool);
    fp_context_destroy(ctx);
    if (st != FP_OK) {
        printf("FAIL: fp_pool_destroy: %s\n", fp_status_string(st));
        return 1;
    }
    printf("DONE\n");
    return 0;
}
