/*
 * The public pool entry points that know about nodes: fp_pool_create
 * (a local pool, or a distributed one when nodes are given or FP_NODES
 * names some), fp_pool_add_node, fp_pool_nodes, fp_pool_stats.  A program
 * started with FP_NODE_LISTEN becomes a node at its first fp_pool_create.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static void set_err(fp_error_t *err, fp_status_t st, const char *msg)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

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

/* FP_NODES: "host:port,host:port" (spaces allowed around commas); FP_HOSTS
 * the same way. */
static fp_status_t env_list_of(const char *var, char **copy_p,
                               const char ***list_p, size_t *n_p);
static fp_status_t env_nodes(char **copy_p, const char ***list_p, size_t *n_p)
{
    return env_list_of("FP_NODES", copy_p, list_p, n_p);
}

static fp_status_t env_list_of(const char *var, char **copy_p,
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

fp_status_t fp_pool_create(fp_context_t *ctx, const fp_pool_params_t *params,
                           fp_pool_t **pool_p, fp_error_t *err)
{
    static const fp_pool_params_t defaults = {0};
    if (ctx == NULL || pool_p == NULL)
        return FP_ERR_INVALID;
    if (params == NULL)
        params = &defaults;

    /* SPMD: the same binary, started as a node, serves instead */
    if (g_listen[0] != '\0' && atomic_exchange(&g_node_mode_entered, 1) == 0) {
        fp_node_params_t np;
        memset(&np, 0, sizeof(np));
        np.listen = g_listen;
        np.executors = (unsigned)strtoul(g_executors, NULL, 10);
        if (np.executors > 4096)
            np.executors = 0;
        exit(fp_node_serve(ctx, &np));
    }

    if (params->local < FP_LOCAL_DEFAULT || params->local > FP_LOCAL_NO)
        return FP_ERR_INVALID;
    if (params->pin < FP_PIN_DEFAULT || params->pin > FP_PIN_NONE)
        return FP_ERR_INVALID;
    if (params->executors > 4096 || params->local_executors > 4096) {
        set_err(err, FP_ERR_INVALID, "at most 4096 executors per pool");
        return FP_ERR_INVALID;
    }

    if (params->nnodes > 0 && params->nodes == NULL)
        return FP_ERR_INVALID;
    const char *const *nodes = params->nodes;
    size_t nnodes = params->nodes != NULL ? params->nnodes : 0;
    char *env_copy = NULL;
    const char **env_list = NULL;
    if (nnodes == 0) {
        size_t n = 0;
        fp_status_t st = env_nodes(&env_copy, &env_list, &n);
        if (st != FP_OK)
            return st;
        nodes = env_list;
        nnodes = n;
    }
    for (size_t i = 0; i < nnodes; i++) {
        if (nodes[i] == NULL) {
            free(env_list);
            free(env_copy);
            return FP_ERR_INVALID;
        }
    }

    if (params->nhosts > 0 && params->hosts == NULL) {
        free(env_list);
        free(env_copy);
        return FP_ERR_INVALID;
    }
    const char *const *hosts = params->hosts;
    size_t nhosts = params->hosts != NULL ? params->nhosts : 0;
    char *hosts_copy = NULL;
    const char **hosts_list = NULL;
    if (nhosts == 0 && nnodes == 0) {
        size_t n = 0;
        fp_status_t st = env_list_of("FP_HOSTS", &hosts_copy, &hosts_list, &n);
        if (st != FP_OK) {
            free(env_list);
            free(env_copy);
            return st;
        }
        hosts = hosts_list;
        nhosts = n;
    }
    /* a cluster file: when nothing else names the nodes */
    const char *cluster = params->cluster;
    if (cluster == NULL && nnodes == 0 && nhosts == 0) {
        cluster = getenv("FP_CLUSTER");
        if (cluster != NULL && cluster[0] == '\0')
            cluster = NULL;
    }
    fp__boot_plan_t *plan = NULL;
    fp__boot_plan_info_t plan_info;
    memset(&plan_info, 0, sizeof(plan_info));
    if (cluster != NULL) {
        if (nnodes > 0 || nhosts > 0) {
            free(env_list);
            free(env_copy);
            free(hosts_list);
            free(hosts_copy);
            set_err(err, FP_ERR_INVALID,
                    "a pool takes a cluster file or nodes/hosts, not both");
            return FP_ERR_INVALID;
        }
        fp_status_t st = fp__boot_cluster_hook_load == NULL
                             ? FP_ERR_UNSUPPORTED
                             : fp__boot_cluster_hook_load(cluster, &plan,
                                                          &plan_info, err);
        if (st != FP_OK) {
            free(env_list);
            free(env_copy);
            free(hosts_list);
            free(hosts_copy);
            if (st == FP_ERR_UNSUPPORTED)
                set_err(err, st, "no cluster-file support in this build");
            return st;
        }
        if (plan_info.nnodes > 0) {
            nodes = plan_info.nodes;
            nnodes = plan_info.nnodes;
        }
    }
    for (size_t i = 0; i < nhosts; i++) {
        if (hosts[i] == NULL) {
            free(env_list);
            free(env_copy);
            free(hosts_list);
            free(hosts_copy);
            if (plan != NULL)
                fp__boot_cluster_hook_free(plan);
            return FP_ERR_INVALID;
        }
    }

    bool distributed = nnodes > 0 || nhosts > 0 || plan != NULL ||
                       params->local == FP_LOCAL_YES;
    if (!distributed) {
        free(env_list);
        free(env_copy);
        free(hosts_list);
        free(hosts_copy);
        if (plan != NULL)
            fp__boot_cluster_hook_free(plan);
        if (params->local == FP_LOCAL_NO) {
            set_err(err, FP_ERR_INVALID,
                    "local = FP_LOCAL_NO and no nodes: the pool would have no "
                    "executors");
            return FP_ERR_INVALID;
        }
        return fp__pool_create_local(ctx, params, false, pool_p, err);
    }

    if ((params->init_data.data == NULL && params->init_data.size != 0) ||
        (params->worker_class != NULL &&
         fp__task_name_check(params->worker_class) != FP_OK)) {
        free(env_list);
        free(env_copy);
        free(hosts_list);
        free(hosts_copy);
        if (plan != NULL)
            fp__boot_cluster_hook_free(plan);
        if (params->worker_class != NULL &&
            fp__task_name_check(params->worker_class) != FP_OK) {
            set_err(err, FP_ERR_NOT_FOUND, "no worker class can have that name");
            return FP_ERR_NOT_FOUND;
        }
        return FP_ERR_INVALID;
    }
    fp_pool_params_t shell_params;
    memset(&shell_params, 0, sizeof(shell_params));
    /* the shell holds what executors send back (queue or callback) */
    shell_params.on_message = params->on_message;
    shell_params.on_message_arg = params->on_message_arg;
    fp_pool_t *pool = NULL;
    fp_status_t st = fp__pool_create_local(ctx, &shell_params, true, &pool, err);
    if (st != FP_OK) {
        free(env_list);
        free(env_copy);
        free(hosts_list);
        free(hosts_copy);
        if (plan != NULL)
            fp__boot_cluster_hook_free(plan);
        return st;
    }
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
    dp.on_node = params->on_node;
    dp.on_node_arg = params->on_node_arg;
    dp.nodes_to_come = nhosts > 0 || plan_info.hosts > 0;
    if (dp.node_wait == 0 && plan_info.node_wait > 0)
        dp.node_wait = plan_info.node_wait;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    /* nodes this process starts itself can take a secret it makes */
    if (nnodes == 0)
        fp__client_ephemeral_secret();
    st = fp__dpool_create(pool, &dp, err);
    free(env_list);
    free(env_copy);
    if (st == FP_OK && nhosts > 0) {
        if (fp__boot_hosts_hook == NULL) {
            set_err(err, FP_ERR_UNSUPPORTED, "no SSH bootstrap in this build");
            st = FP_ERR_UNSUPPORTED;
        } else {
            st = fp__boot_hosts_hook(pool, hosts, nhosts, params->host_params,
                                     err);
        }
    }
    free(hosts_list);
    free(hosts_copy);
    if (plan != NULL) {
        if (st == FP_OK)
            st = fp__boot_cluster_hook_start(pool, plan, err); /* owns it */
        else
            fp__boot_cluster_hook_free(plan);
        plan = NULL;
    }
    if (st != FP_OK) {
        fp_pool_destroy(pool);
        return st;
    }
    *pool_p = pool;
    return FP_OK;
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
