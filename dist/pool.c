/*
 * The public pool entry points that know about nodes: fp_pool_create
 * (a local pool, or a distributed one when nodes are given or FP_NODES
 * names some), fp_pool_add_node, fp_pool_nodes, fp_pool_stats.  A program
 * started with FP_NODE_LISTEN becomes a node at its first fp_pool_create,
 * and so does a node rank of a launcher (mpirun, srun: dist/launch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "launch.h"

static void set_err(fp_error_t *err, fp_status_t st, const char *msg)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

/* FP_NODES: "host:port,host:port" (spaces allowed around commas); the
 * same for FP_SHIP_MODULES (paths). */
static fp_status_t split_env(const char *var, char **copy_p,
                           const char ***list_p, size_t *n_p)
{
    *copy_p = NULL;
    *list_p = NULL;
    *n_p = 0;
    const char *env = getenv(var);
    if (env == NULL || env[strspn(env, " \t")] == '\0')
        return FP_OK;
    char *copy = strdup(env);
    if (copy == NULL)
        return FP_ERR_NOMEM;
    size_t cap = 1;
    for (const char *p = copy; *p; p++)
        cap += *p == ',';
    const char **list = calloc(cap, sizeof(*list));
    if (list == NULL) {
        free(copy);
        return FP_ERR_NOMEM;
    }
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        tok += strspn(tok, " \t");
        size_t l = strlen(tok);
        while (l > 0 && (tok[l - 1] == ' ' || tok[l - 1] == '\t'))
            tok[--l] = '\0';
        if (l > 0)
            list[n++] = tok;
    }
    *copy_p = copy;
    *list_p = list;
    *n_p = n;
    return FP_OK;
}

/* Set by boot/ (always linked in libfastpool): hosts over SSH and pools
 * from cluster files (dist/dist.h). */
fp_status_t (*fp__boot_hosts_hook)(fp_pool_t *pool, const char *const *hosts,
                                   size_t nhosts,
                                   const struct fp_host_params *hp,
                                   fp_error_t *err);
fp_status_t (*fp__boot_cluster_hook_load)(const char *path,
                                          fp__boot_plan_t **plan_p,
                                          fp__boot_plan_info_t *info,
                                          fp_error_t *err);
fp_status_t (*fp__boot_cluster_hook_start)(fp_pool_t *pool,
                                           fp__boot_plan_t *plan,
                                           fp_error_t *err);
void (*fp__boot_cluster_hook_free)(fp__boot_plan_t *plan);

/* The modules a new pool ships: params->ship_modules, then the paths in
 * FP_SHIP_MODULES.  *list_p and *copy_p are the caller's to free. */
static fp_status_t ship_list(const fp_pool_params_t *params,
                             const char ***list_p, size_t *n_p,
                             char **copy_p, fp_error_t *err)
{
    if (params->nship_modules > 0 && params->ship_modules == NULL) {
        set_err(err, FP_ERR_INVALID, "ship_modules is NULL with "
                                     "nship_modules > 0");
        return FP_ERR_INVALID;
    }
    size_t np = params->ship_modules != NULL ? params->nship_modules : 0;
    for (size_t i = 0; i < np; i++)
        if (params->ship_modules[i] == NULL) {
            set_err(err, FP_ERR_INVALID, "ship_modules has a NULL path");
            return FP_ERR_INVALID;
        }
    const char **env = NULL;
    size_t ne = 0;
    fp_status_t st = split_env("FP_SHIP_MODULES", copy_p, &env, &ne);
    if (st != FP_OK)
        return st;
    const char **all = calloc(np + ne + 1, sizeof(*all));
    if (all == NULL) {
        free(env);
        free(*copy_p);
        *copy_p = NULL;
        return FP_ERR_NOMEM;
    }
    for (size_t i = 0; i < np; i++)
        all[i] = params->ship_modules[i];
    for (size_t i = 0; i < ne; i++)
        all[np + i] = env[i];
    free(env);
    *list_p = all;
    *n_p = np + ne;
    return FP_OK;
}

fp_status_t fp_pool_ship_module(fp_pool_t *pool, const char *path,
                                fp_error_t *err)
{
    if (pool == NULL || path == NULL) {
        set_err(err, FP_ERR_INVALID, "pool or path is NULL");
        return FP_ERR_INVALID;
    }
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (fp__pool_remote(pool) == NULL)
        return fp__module_load_here(path, err);
    return fp__dpool_ship_module(pool, path, err);
}

static _Atomic int g_node_mode_entered;

/* FP_NODE_LISTEN and FP_EXECUTORS as the process started with them: a
 * program may change its environment before its first fp_pool_create (a
 * test program unsets FP_EXECUTORS), and the node it becomes must still
 * serve what it was started for. */
static char g_listen[160], g_executors[16];

__attribute__((constructor)) static void snapshot_node_env(void)
{
    const char *l = getenv("FP_NODE_LISTEN"), *e = getenv("FP_EXECUTORS");
    if (l != NULL)
        snprintf(g_listen, sizeof(g_listen), "%s", l);
    if (e != NULL)
        snprintf(g_executors, sizeof(g_executors), "%s", e);
}

/* Launchers registered at load time (dist/launch.h); read-only after. */
static const fp__launcher_t *g_launchers[FP__LAUNCHERS_MAX];
static size_t g_nlaunchers;

void fp__launcher_register(const fp__launcher_t *l)
{
    if (l == NULL)
        return;
    if (g_nlaunchers == FP__LAUNCHERS_MAX) {
        fprintf(stderr, "fastpool: launcher '%s' ignored: at most %d\n",
                l->name, FP__LAUNCHERS_MAX);
        return;
    }
    g_launchers[g_nlaunchers++] = l;
}

static fp_status_t pool_create(fp_context_t *ctx,
                               const fp_pool_params_t *params,
                               const char *const *launch_nodes,
                               size_t launch_n, fp_pool_t **pool_p,
                               fp_error_t *err);

fp_status_t fp_pool_create(fp_context_t *ctx, const fp_pool_params_t *params,
                           fp_pool_t **pool_p, fp_error_t *err)
{
    static const fp_pool_params_t defaults = {0};
    if (ctx == NULL || pool_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;

    /* A launcher's rank: a node rank serves inside client_nodes and exits;
     * the client rank gets the other ranks as nodes. */
    const fp__launcher_t *launcher = NULL;
    const char *const *launch_nodes = NULL;
    size_t launch_n = 0;
    for (size_t i = 0; i < g_nlaunchers && launcher == NULL; i++) {
        fp_status_t st =
            g_launchers[i]->client_nodes(ctx, &launch_nodes, &launch_n, err);
        if (st == FP_OK)
            launcher = g_launchers[i];
        else if (st != FP_ERR_NOT_FOUND)
            return st;
    }
    if (launcher != NULL) {
        fp_status_t st =
            pool_create(ctx, params, launch_nodes, launch_n, pool_p, err);
        if (launcher->created != NULL)
            launcher->created();
        return st;
    }

    /* SPMD: the same binary, started as a node, serves instead */
    if (g_listen[0] != '\0' && atomic_exchange(&g_node_mode_entered, 1) == 0) {
        fp_node_params_t np;
        memset(&np, 0, sizeof(np));
        np.listen = g_listen;
        np.encrypt = params->encrypt; /* the same program: the same choice */
        np.executors = (unsigned)strtoul(g_executors, NULL, 10);
        if (np.executors > 4096)
            np.executors = 0;
        exit(fp_node_serve(ctx, &np));
    }
    return pool_create(ctx, params, NULL, 0, pool_p, err);
}

/* The pool itself: `launch_nodes` are its nodes when it names none.  Its
 * nodes, first given first: params->nodes, FP_NODES, a launcher's ranks;
 * or hosts to start over SSH (params->hosts, else FP_HOSTS); or a cluster
 * file (params->cluster, else FP_CLUSTER when nothing else names them);
 * a rendezvous server may add more (params->server, else FP_SERVER). */
static fp_status_t pool_create(fp_context_t *ctx,
                               const fp_pool_params_t *params,
                               const char *const *launch_nodes,
                               size_t launch_n, fp_pool_t **pool_p,
                               fp_error_t *err)
{
    if (params->local < FP_LOCAL_DEFAULT || params->local > FP_LOCAL_NO)
        return FP_ERR_INVALID;
    if (params->pin < FP_PIN_DEFAULT || params->pin > FP_PIN_NONE)
        return FP_ERR_INVALID;
    if (params->executors > 4096 || params->local_executors > 4096) {
        set_err(err, FP_ERR_INVALID, "at most 4096 executors per pool");
        return FP_ERR_INVALID;
    }
    if ((params->nnodes > 0 && params->nodes == NULL) ||
        (params->nhosts > 0 && params->hosts == NULL))
        return FP_ERR_INVALID;

    fp_status_t st = FP_OK;
    char *env_copy = NULL, *hosts_copy = NULL, *mod_copy = NULL;
    const char **env_list = NULL, **hosts_list = NULL, **mods = NULL;
    size_t nmods = 0;
    fp__boot_plan_t *plan = NULL;
    fp__boot_plan_info_t plan_info;
    memset(&plan_info, 0, sizeof(plan_info));
    fp_pool_t *pool = NULL;

    const char *const *nodes = params->nodes;
    size_t nnodes = params->nodes != NULL ? params->nnodes : 0;
    if (nnodes == 0) {
        size_t n = 0;
        if ((st = split_env("FP_NODES", &env_copy, &env_list, &n)) != FP_OK)
            goto out;
        nodes = env_list;
        nnodes = n;
    }
    if (nnodes == 0 && launch_n > 0) {
        nodes = launch_nodes;
        nnodes = launch_n;
    }
    const char *const *hosts = params->hosts;
    size_t nhosts = params->hosts != NULL ? params->nhosts : 0;
    if (nhosts == 0 && nnodes == 0) {
        size_t n = 0;
        if ((st = split_env("FP_HOSTS", &hosts_copy, &hosts_list, &n)) !=
            FP_OK)
            goto out;
        hosts = hosts_list;
        nhosts = n;
    }
    /* a rendezvous server: given, else FP_SERVER when no nodes are */
    const char *server = params->server;
    if (server == NULL && nnodes == 0 && nhosts == 0)
        server = getenv("FP_SERVER");
    if (server != NULL && server[0] == '\0')
        server = NULL;
    /* a cluster file: given, else FP_CLUSTER when nothing names the nodes */
    const char *cluster = params->cluster;
    if (cluster == NULL && nnodes == 0 && nhosts == 0 && server == NULL)
        cluster = getenv("FP_CLUSTER");
    if (cluster != NULL && cluster[0] == '\0')
        cluster = NULL;
    if (cluster != NULL) {
        if (params->nnodes > 0 || nhosts > 0 || params->server != NULL) {
            set_err(err, FP_ERR_INVALID, "a pool takes a cluster file or "
                                         "nodes, hosts or a server, not both");
            st = FP_ERR_INVALID;
            goto out;
        }
        if (fp__boot_cluster_hook_load == NULL) {
            set_err(err, FP_ERR_UNSUPPORTED,
                    "no cluster-file support in this build");
            st = FP_ERR_UNSUPPORTED;
            goto out;
        }
        if ((st = fp__boot_cluster_hook_load(cluster, &plan, &plan_info,
                                             err)) != FP_OK)
            goto out;
        if (plan_info.nnodes > 0) {
            nodes = plan_info.nodes;
            nnodes = plan_info.nnodes;
        }
        if (plan_info.server != NULL)
            server = plan_info.server;
    }
    for (size_t i = 0; i < nnodes; i++)
        if (nodes[i] == NULL) {
            st = FP_ERR_INVALID;
            goto out;
        }
    for (size_t i = 0; i < nhosts; i++)
        if (hosts[i] == NULL) {
            st = FP_ERR_INVALID;
            goto out;
        }

    bool distributed = nnodes > 0 || nhosts > 0 || plan != NULL ||
                       params->local == FP_LOCAL_YES || server != NULL;
    if (!distributed && params->local == FP_LOCAL_NO) {
        set_err(err, FP_ERR_INVALID,
                "local = FP_LOCAL_NO and no nodes: the pool would have no "
                "executors");
        st = FP_ERR_INVALID;
        goto out;
    }
    /* modules to ship: the params' and FP_SHIP_MODULES' */
    if ((st = ship_list(params, &mods, &nmods, &mod_copy, err)) != FP_OK)
        goto out;
    if (!distributed) {
        /* no nodes: the modules are loaded here, so the same program runs
         * with and without nodes */
        for (size_t i = 0; i < nmods && st == FP_OK; i++)
            st = fp__module_load_here(mods[i], err);
        if (st == FP_OK)
            st = fp__pool_create_local(ctx, params, false, pool_p, err);
        goto out;
    }

    if ((params->init_data.data == NULL && params->init_data.size != 0) ||
        (params->worker_class != NULL &&
         fp__task_name_check(params->worker_class) != FP_OK)) {
        st = FP_ERR_INVALID;
        if (params->worker_class != NULL &&
            fp__task_name_check(params->worker_class) != FP_OK) {
            set_err(err, FP_ERR_NOT_FOUND, "no worker class can have that name");
            st = FP_ERR_NOT_FOUND;
        }
        goto out;
    }
    fp_pool_params_t shell_params;
    memset(&shell_params, 0, sizeof(shell_params));
    /* the shell holds what executors send back (queue or callback) */
    shell_params.on_message = params->on_message;
    shell_params.on_message_arg = params->on_message_arg;
    if ((st = fp__pool_create_local(ctx, &shell_params, true, &pool, err)) !=
        FP_OK)
        goto out;
    fp__dpool_params_t dp;
    memset(&dp, 0, sizeof(dp));
    dp.nodes = nodes;
    dp.nnodes = nnodes;
    dp.executors = params->executors;
    dp.local = params->local == FP_LOCAL_YES;
    dp.local_executors = params->local_executors;
    dp.pin = params->pin;
    dp.worker_class = params->worker_class;
    dp.init_data = params->init_data;
    dp.connect_timeout = params->connect_timeout;
    dp.max_attempts = params->max_attempts;
    dp.node_deadline = params->node_deadline;
    dp.node_wait = params->node_wait;
    if (dp.node_wait == 0 && plan_info.node_wait > 0)
        dp.node_wait = plan_info.node_wait;
    dp.on_node = params->on_node;
    dp.on_node_arg = params->on_node_arg;
    dp.ship_modules = mods;
    dp.nship_modules = nmods;
    dp.server = server;
    dp.encrypt = params->encrypt;
    dp.nodes_to_come = nhosts > 0 || plan_info.hosts > 0;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    /* nodes this process starts itself can take a secret it makes */
    if (nnodes == 0 && server == NULL)
        fp__client_ephemeral_secret();
    st = fp__dpool_create(pool, &dp, err);
    if (st == FP_OK && nhosts > 0) {
        if (fp__boot_hosts_hook == NULL) {
            set_err(err, FP_ERR_UNSUPPORTED, "no SSH bootstrap in this build");
            st = FP_ERR_UNSUPPORTED;
        } else {
            st = fp__boot_hosts_hook(pool, hosts, nhosts, params->host_params,
                                     err);
        }
    }
    if (st == FP_OK && plan != NULL) {
        fp__boot_plan_t *p = plan;
        plan = NULL; /* start owns it, success or not */
        st = fp__boot_cluster_hook_start(pool, p, err);
    }
    if (st != FP_OK) {
        fp_pool_destroy(pool);
        goto out;
    }
    *pool_p = pool;
out:
    if (plan != NULL)
        fp__boot_cluster_hook_free(plan);
    free(env_list);
    free(env_copy);
    free(hosts_list);
    free(hosts_copy);
    free(mods);
    free(mod_copy);
    return st;
}

fp_status_t fp_pool_add_node(fp_pool_t *pool, const char *address,
                             fp_error_t *err)
{
    if (pool == NULL || address == NULL)
        return FP_ERR_INVALID;
    if (fp__pool_remote(pool) == NULL) {
        set_err(err, FP_ERR_STATE,
                "a local pool takes no nodes: create it with nodes, FP_NODES "
                "or local = FP_LOCAL_YES");
        return FP_ERR_STATE;
    }
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    return fp__dpool_add_node(pool, address, err);
}

fp_status_t fp_pool_nodes(fp_pool_t *pool, fp_node_info_t *info, size_t cap,
                          size_t *count_p)
{
    if (pool == NULL || count_p == NULL || (info == NULL && cap > 0))
        return FP_ERR_INVALID;
    if (fp__pool_remote(pool) != NULL)
        return fp__dpool_nodes(pool, info, cap, count_p);
    /* a local pool: its executors, as one "local" entry */
    if (cap > 0) {
        memset(&info[0], 0, sizeof(info[0]));
        snprintf(info[0].address, sizeof(info[0].address), "local");
        info[0].executors = fp_pool_size(pool);
        info[0].state = FP_NODE_UP;
        snprintf(info[0].transports, sizeof(info[0].transports), "in-process");
    }
    *count_p = 1;
    return FP_OK;
}

fp_status_t fp_pool_stats(fp_pool_t *pool, fp_pool_stats_t *stats)
{
    if (pool == NULL || stats == NULL)
        return FP_ERR_INVALID;
    if (fp__pool_remote(pool) == NULL) {
        memset(stats, 0, sizeof(*stats));
        return FP_OK;
    }
    return fp__dpool_stats(pool, stats);
}

size_t fp_pool_node_count(fp_pool_t *pool)
{
    if (pool == NULL)
        return 0;
    if (fp__pool_remote(pool) == NULL)
        return 1;
    size_t nodes = 0;
    fp__dpool_counts(pool, &nodes, NULL);
    return nodes;
}

unsigned fp_pool_active(fp_pool_t *pool)
{
    if (pool == NULL)
        return 0;
    if (fp__pool_remote(pool) == NULL)
        return fp__pool_busy_executors(pool);
    unsigned active = 0;
    fp__dpool_counts(pool, NULL, &active);
    return active;
}
