/*
 * Launcher environments (internal): how a layer above dist (boot/) tells
 * fp_pool_create that this process was started by a launcher (mpirun,
 * srun) as one rank of a pool, without dist naming that layer.
 *
 * A launcher registers itself at load time (a constructor) with
 * fp__launcher_register.  fp_pool_create asks each registered launcher, in
 * order, before anything else.  A launcher that finds its environment:
 *   - on a node rank: serves as a node and exits the process (never
 *     returns);
 *   - on the client rank: returns FP_OK with the other ranks' addresses,
 *     which become the pool's nodes when the pool names none (params,
 *     FP_NODES); dist then calls `created` once the pool has been made or
 *     refused.
 * FP_ERR_NOT_FOUND means "not my environment"; any other status fails
 * fp_pool_create with `err` filled.
 *
 * Static links: an object that only registers itself is not taken from
 * libfastpool.a, so a launcher names an anchor symbol with fp_layer(...
 * ANCHORS sym) and lib/ makes a static link pull it (-Wl,--undefined).
 */
#ifndef FP_DIST_LAUNCH_H
#define FP_DIST_LAUNCH_H

#include <stddef.h>

#include "fastpool/fastpool.h"

typedef struct fp__launcher {
    const char *name; /* "pmix", for messages */
    /* `nodes_p` gets a list owned by the launcher, valid until exit. */
    fp_status_t (*client_nodes)(fp_context_t *ctx, const char *const **nodes_p,
                                size_t *nnodes_p, fp_error_t *err);
    /* After the pool with those nodes was created (or refused); may be
     * NULL. */
    void (*created)(void);
} fp__launcher_t;

/* At load time only (constructors run before main, one thread); at most
 * FP__LAUNCHERS_MAX, later ones are ignored with a warning.  `l` must stay
 * valid until exit. */
#define FP__LAUNCHERS_MAX 4
void fp__launcher_register(const fp__launcher_t *l);

#endif
