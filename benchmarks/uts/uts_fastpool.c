/*
 * uts_fastpool: Unbalanced Tree Search on fastpool's fork-join jobs.
 *
 *   uts_fastpool [-T T1|T3] [-t type] [-a shape] [-d depth] [-b b0] [-r seed]
 *                [-m m] [-q q] [-e executors] [-s] [-n reps] [-v]
 *
 * -T picks one of the two standard trees (T1: -t 1 -a 3 -d 10 -b 4 -r 19,
 * T3: -t 0 -b 2000 -q 0.124875 -m 8 -r 42); the other flags set or override
 * parameters.  -e runs on a pool of that many executors (default 2); -s runs
 * the plain sequential search instead (no pool).  Prints the best of -n runs
 * (default 3); -v adds each executor's node count.  Exits 1 when a standard
 * tree's node count is wrong.
 *
 * Parallel search: the children [lo, hi) of a node are split in halves; the
 * upper half is spawned (a thief takes a large share), the lower half is
 * searched here, down to single children.  Each executor counts the nodes it
 * visits in its own cache line; the counts are summed at the end.  Each
 * executor hashes with its own OpenSSL context, created on that executor by a
 * worker class (a context created on the main thread and used from an
 * executor measured about twice as slow per hash with two executors busy).
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "uts_tree.h"

/* Per-executor node counter, one cache line each. */
typedef struct uts_exec {
    alignas(64) uint64_t nodes;
} uts_exec_t;

/* Per-executor SHA-1 context: the worker class's state. */
static fp_status_t sha_class_init(fp_task_t *task, void *state, fp_cbuf_t init)
{
    (void)init;
    if (uts_sha_init(state) != 0) {
        return fp_task_error(task, FP_ERR_UNSUPPORTED, "OpenSSL has no SHA-1");
    }
    return FP_OK;
}

static void sha_class_fini(fp_task_t *task, void *state)
{
    (void)task;
    uts_sha_fini(state);
}

static fp_worker_class_t uts_sha_class = {
    .name = "uts_sha1",
    .state_size = sizeof(uts_sha_t),
    .init = sha_class_init,
    .fini = sha_class_fini,
};
FP_WORKER_CLASS_REGISTER(uts_sha_class)

typedef struct uts_run {
    const uts_params_t *params;
    uts_exec_t *exec; /* one per executor */
} uts_run_t;

/* Children [lo, hi) of `parent`, which is at depth height - 1. */
typedef struct uts_range {
    const uts_run_t *run;
    const uts_state_t *parent;
    int height;
    int lo, hi;
} uts_range_t;

static void range_job(fp_task_t *task, void *arg);

static void visit(fp_task_t *task, const uts_run_t *run, const uts_state_t *state,
                  int height)
{
    run->exec[fp_task_executor(task)].nodes++;
    const int n = uts_num_children(run->params, state, height);
    if (n > 0) {
        uts_range_t all = {run, state, height + 1, 0, n};
        range_job(task, &all);
    }
}

static void range_job(fp_task_t *task, void *arg)
{
    const uts_range_t *r = arg;
    if (r->hi - r->lo == 1) {
        uts_state_t child;
        uts_child(fp_task_state(task), r->parent, r->lo, &child);
        visit(task, r->run, &child, r->height);
        return;
    }
    const int mid = r->lo + (r->hi - r->lo) / 2;
    uts_range_t upper = {r->run, r->parent, r->height, mid, r->hi};
    uts_range_t lower = {r->run, r->parent, r->height, r->lo, mid};
    fp_frame_t frame;
    fp_spawn(task, &frame, range_job, &upper);
    range_job(task, &lower);
    fp_sync(task, &frame);
}

typedef struct uts_root_arg {
    const uts_run_t *run;
    const uts_state_t *root;
} uts_root_arg_t;

static void root_job(fp_task_t *task, void *arg)
{
    const uts_root_arg_t *a = arg;
    visit(task, a->run, a->root, 0);
}

static uint64_t count_parallel(fp_pool_t *pool, const uts_params_t *p,
                               uts_sha_t *sha, uts_exec_t *exec, unsigned nexec)
{
    uts_state_t root;
    uts_root(sha, p->seed, &root);
    for (unsigned i = 0; i < nexec; i++) {
        exec[i].nodes = 0;
    }
    uts_run_t run = {p, exec};
    uts_root_arg_t arg = {&run, &root};
    bu_check(fp_pool_run(pool, root_job, &arg), "fp_pool_run(uts)");
    uint64_t total = 0;
    for (unsigned i = 0; i < nexec; i++) {
        total += exec[i].nodes;
    }
    return total;
}

/* The standard trees, and their node counts. */
typedef struct uts_known {
    const char *name;
    uts_params_t params;
    uint64_t nodes;
} uts_known_t;

static const uts_known_t known_trees[] = {
    {"T1", {UTS_GEO, UTS_FIXED, 10, 4.0, 19, 4, 15.0 / 64.0}, 4130071},
    {"T3", {UTS_BIN, UTS_LINEAR, 6, 2000.0, 42, 8, 0.124875}, 4112897},
};
#define N_KNOWN (sizeof known_trees / sizeof known_trees[0])

/* The tree a parameter set describes, NULL if not a standard one.  Fields
 * that do not affect the tree's type are ignored. */
static const uts_known_t *find_known(const uts_params_t *p)
{
    for (size_t i = 0; i < N_KNOWN; i++) {
        const uts_params_t *k = &known_trees[i].params;
        int same = p->type == k->type && p->b0 == k->b0 && p->seed == k->seed;
        if (p->type == UTS_GEO) {
            same = same && p->shape == k->shape && p->gen_mx == k->gen_mx;
        } else {
            same = same && p->m == k->m && p->q == k->q;
        }
        if (same) {
            return &known_trees[i];
        }
    }
    return NULL;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-T T1|T3] [-t 0|1] [-a shape] [-d depth] [-b b0] [-r seed]\n"
            "          [-m m] [-q q] [-e executors] [-s] [-n reps] [-v]\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    /* The reference implementation's defaults. */
    uts_params_t p = {UTS_GEO, UTS_LINEAR, 6, 4.0, 0, 4, 15.0 / 64.0};
    unsigned executors = 2;
    int sequential = 0;
    int verbose = 0;
    long reps = 3;
    int opt;
    while ((opt = getopt(argc, argv, "T:t:a:d:b:r:m:q:e:sn:v")) != -1) {
        switch (opt) {
        case 'T': {
            size_t i = 0;
            while (i < N_KNOWN && strcmp(optarg, known_trees[i].name) != 0) {
                i++;
            }
            if (i == N_KNOWN) {
                usage(argv[0]);
            }
            p = known_trees[i].params;
            break;
        }
        case 't': p.type = atoi(optarg); break;
        case 'a': p.shape = atoi(optarg); break;
        case 'd': p.gen_mx = atoi(optarg); break;
        case 'b': p.b0 = atof(optarg); break;
        case 'r': p.seed = atoi(optarg); break;
        case 'm': p.m = atoi(optarg); break;
        case 'q': p.q = atof(optarg); break;
        case 'e': executors = (unsigned)atoi(optarg); break;
        case 's': sequential = 1; break;
        case 'n': reps = atol(optarg); break;
        case 'v': verbose = 1; break;
        default: usage(argv[0]);
        }
    }
    if ((p.type != UTS_BIN && p.type != UTS_GEO) || p.shape < 0 || p.shape > 3 ||
        p.gen_mx < 1 || p.b0 < 0 || executors < 1 || reps < 1 || optind != argc) {
        fprintf(stderr, "uts: unsupported parameters (tree types 0 and 1 only)\n");
        usage(argv[0]);
    }
    const uts_known_t *known = find_known(&p);

    fp_context_t *ctx = NULL;
    fp_pool_t *pool = NULL;
    unsigned nexec = 1;
    if (!sequential) {
        pool = bu_pool_create_wc(&ctx, executors, uts_sha_class.name);
        nexec = fp_pool_size(pool);
    }
    uts_exec_t *exec = aligned_alloc(64, sizeof(uts_exec_t) * nexec);
    if (exec == NULL) {
        fprintf(stderr, "uts: out of memory\n");
        return 2;
    }
    uts_sha_t sha; /* this thread's: the root, and the sequential search */
    if (uts_sha_init(&sha) != 0) {
        fprintf(stderr, "uts: OpenSSL has no SHA-1\n");
        return 2;
    }

    double best = 1e30;
    uint64_t nodes = 0;
    for (long r = 0; r < reps; r++) {
        const double t0 = bu_now_s();
        nodes = sequential ? uts_count_seq(&p, &sha)
                           : count_parallel(pool, &p, &sha, exec, nexec);
        const double dt = bu_now_s() - t0;
        best = dt < best ? dt : best;
        if (known != NULL && nodes != known->nodes) {
            break;
        }
    }

    printf("uts tree=%s mode=%s executors=%u nodes=%" PRIu64 " seconds=%.4f"
           " mnodes_per_s=%.2f reps=%ld\n",
           known ? known->name : "custom", sequential ? "seq" : "fastpool",
           sequential ? 1u : nexec, nodes, best, (double)nodes / best * 1e-6, reps);
    if (verbose && !sequential) {
        for (unsigned i = 0; i < nexec; i++) {
            printf("uts executor=%u nodes=%" PRIu64 " (last run)\n", i, exec[i].nodes);
        }
    }

    uts_sha_fini(&sha);
    free(exec);
    if (pool != NULL) {
        bu_pool_destroy(ctx, pool);
    }
    if (known != NULL && nodes != known->nodes) {
        fprintf(stderr, "uts: tree %s has %" PRIu64 " nodes, expected %" PRIu64 "\n",
                known->name, nodes, known->nodes);
        return 1;
    }
    return 0;
}
