/*
 * A pool from a cluster file (fp_pool_params_t.cluster, FP_CLUSTER): the
 * file is loaded and checked by config/cluster.c; here it becomes a pool.
 *
 *   bootstrap ssh     every host's node is started over SSH (ssh.c), all at
 *                     once; with an elastic range, `min` of them at first,
 *                     more while work waits, and idle ones let go (below)
 *   bootstrap server  the pool takes the nodes the rendezvous server lists
 *   bootstrap none    the hosts' nodes were started by hand: ADDR:listen_port
 *   mpirun, slurm     the launcher started everything: the PMIx launcher
 *                     (pmix.c) forms the pool before this is asked; here
 *                     only the error for a program started without one
 *
 * Process-wide settings the file gives (secret_file, transports, encrypt)
 * are set in the environment when the program has not set them itself
 * (FP_SECRET_FILE, FP_TRANSPORT, FP_ENCRYPT), before the transport that
 * reads them is made; the program's own settings win.
 *
 * Elastic (ssh): a thread of the pool's looks every 0.1 s.  Work that has
 * waited queued for scale_up_after seconds with no executor free starts
 * the next unused host (up to max); a node that has had nothing to run for
 * idle_timeout seconds is let go (down to min): its SSH channel is closed,
 * so it leaves as a node stopping cleanly does (nothing is lost), and its
 * host can be started again later.
 */
#include "boot/boot.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "config/cluster.h"
#include "dist/dist.h"

struct fp__boot_plan {
    fp__cluster_t *cl;
    /* ssh */
    fp_host_params_t *hp; /* one per host */
    const char ***envs;   /* hp[i].env */
    const char ***opts;   /* hp[i].ssh_options */
    char **tl_env;        /* "FP_TRANSPORT=..." per host (shared) */
    /* none: the nodes */
    char **nodes;
    size_t nnodes;
};

static void plan_free(fp__boot_plan_t *p)
{
    if (p == NULL)
        return;
    size_t n = p->cl != NULL ? p->cl->n_hosts : 0;
    for (size_t i = 0; i < n; i++) {
        if (p->envs != NULL)
            free(p->envs[i]);
        if (p->opts != NULL)
            free(p->opts[i]);
    }
    free(p->envs);
    free(p->opts);
    free(p->hp);
    if (p->tl_env != NULL)
        free(p->tl_env[0]);
    free(p->tl_env);
    for (size_t i = 0; i < p->nnodes; i++)
        free(p->nodes[i]);
    free(p->nodes);
    fp__cluster_free(p->cl);
    free(p);
}

static void set_default_env(const char *name, const char *value)
{
    const char *cur = getenv(name);
    if (cur == NULL || cur[0] == '\0')
        setenv(name, value, 1);
}

static fp_status_t plan_ssh(fp__boot_plan_t *p)
{
    const fp__cluster_t *cl = p->cl;
    size_t n = cl->n_hosts;
    p->hp = calloc(n, sizeof(*p->hp));
    p->envs = calloc(n, sizeof(*p->envs));
    p->opts = calloc(n, sizeof(*p->opts));
    p->tl_env = calloc(1, sizeof(*p->tl_env));
    if (p->hp == NULL || p->envs == NULL || p->opts == NULL ||
        p->tl_env == NULL)
        return FP_ERR_NOMEM;
    if (cl->transports != NULL) {
        size_t len = strlen(cl->transports) + 16;
        p->tl_env[0] = malloc(len);
        if (p->tl_env[0] == NULL)
            return FP_ERR_NOMEM;
        snprintf(p->tl_env[0], len, "FP_TRANSPORT=%s", cl->transports);
    }
    for (size_t i = 0; i < n; i++) {
        const fp__cluster_host_t *h = &cl->hosts[i];
        fp_host_params_t *hp = &p->hp[i];
        size_t ne = cl->n_env + 1;
        p->envs[i] = calloc(ne, sizeof(char *));
        p->opts[i] = calloc(2 * h->ssh.n_options + 1, sizeof(char *));
        if (p->envs[i] == NULL || p->opts[i] == NULL)
            return FP_ERR_NOMEM;
        size_t k = 0;
        /* NAME=VALUE: config/cluster.c keeps them as name and value; the
         * pair is written into one string per host */
        for (size_t e = 0; e < cl->n_env; e++) {
            size_t len = strlen(cl->env[e].name) + strlen(cl->env[e].value) + 2;
            char *kv = malloc(len);
            if (kv == NULL)
                return FP_ERR_NOMEM;
            snprintf(kv, len, "%s=%s", cl->env[e].name, cl->env[e].value);
            p->envs[i][k++] = kv; /* freed with the plan: see plan_free_env */
        }
        if (p->tl_env[0] != NULL)
            p->envs[i][k++] = p->tl_env[0];
        size_t o = 0;
        for (size_t j = 0; j < h->ssh.n_options; j++) {
            p->opts[i][o++] = "-o";
            p->opts[i][o++] = h->ssh.options[j];
        }
        *hp = (fp_host_params_t){
            .user = h->ssh.user,
            .port = h->ssh.port > 0 ? (unsigned)h->ssh.port : 0,
            .identity = h->ssh.identity_file,
            .ssh_config = h->ssh.config_file,
            .ssh_options = p->opts[i],
            .nssh_options = o,
            .executors = h->executors > 0 ? (unsigned)h->executors : 0,
            .timeout = h->ssh.connect_timeout > 0 ? h->ssh.connect_timeout : 0,
            .bundle = cl->node.bundle == FP__BUNDLE_NEVER ? FP_BUNDLE_NEVER
                                                          : FP_BUNDLE_SHIP,
            .program = cl->node.program,
            .remote_cache = cl->node.cache_dir,
            .env = p->envs[i],
            .nenv = k,
            .node_port = h->listen_port > 0 ? (unsigned)h->listen_port : 0,
        };
    }
    return FP_OK;
}

/* The env strings made in plan_ssh (all but the shared FP_TRANSPORT). */
static void plan_free_env(fp__boot_plan_t *p)
{
    if (p == NULL || p->envs == NULL || p->cl == NULL)
        return;
    for (size_t i = 0; i < p->cl->n_hosts; i++)
        if (p->envs[i] != NULL)
            for (size_t e = 0; e < p->cl->n_env; e++)
                free((char *)p->envs[i][e]);
}

fp_status_t fp__boot_plan_load(const char *path, fp__boot_plan_t **plan_p,
                               fp__boot_plan_info_t *info, fp_error_t *err)
{
    memset(info, 0, sizeof(*info));
    fp__boot_plan_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return FP_ERR_NOMEM;
    fp_status_t st = fp__cluster_load(path, &p->cl, err);
    if (st != FP_OK) {
        free(p);
        return st;
    }
    const fp__cluster_t *cl = p->cl;
    if (cl->secret_file != NULL && getenv("FP_SECRET") == NULL)
        set_default_env("FP_SECRET_FILE", cl->secret_file);
    if (cl->transports != NULL)
        set_default_env("FP_TRANSPORT", cl->transports);
    if (cl->encrypt)
        set_default_env("FP_ENCRYPT", "1");
    switch (cl->bootstrap) {
    case FP__BOOTSTRAP_SSH:
        st = plan_ssh(p);
        info->hosts = cl->n_hosts;
        /* elastic from 0 nodes: calls wait for the first one */
        if (cl->elastic.enabled)
            info->node_wait = cl->elastic.scale_up_after + 120;
        break;
    case FP__BOOTSTRAP_NONE:
        p->nodes = calloc(cl->n_hosts, sizeof(char *));
        if (p->nodes == NULL) {
            st = FP_ERR_NOMEM;
            break;
        }
        for (size_t i = 0; i < cl->n_hosts; i++) {
            const fp__cluster_host_t *h = &cl->hosts[i];
            int port = h->listen_port > 0 ? h->listen_port : cl->node.listen_port;
            size_t len = strlen(h->address) + 16;
            p->nodes[i] = malloc(len);
            if (p->nodes[i] == NULL) {
                st = FP_ERR_NOMEM;
                break;
            }
            snprintf(p->nodes[i], len, "%s:%d", h->address, port);
            p->nnodes++;
        }
        info->nodes = (const char *const *)p->nodes;
        info->nnodes = p->nnodes;
        break;
    case FP__BOOTSTRAP_SERVER:
        info->server = cl->server;
        break;
    case FP__BOOTSTRAP_MPIRUN:
    case FP__BOOTSTRAP_SLURM:
        fp__boot_err(err, FP_ERR_STATE,
                     "%s: bootstrap %s: start the program with %s (the pool "
                     "forms itself there)",
                     path, fp__bootstrap_name(cl->bootstrap),
                     cl->bootstrap == FP__BOOTSTRAP_MPIRUN ? "mpirun -n N"
                                                           : "srun -n N");
        st = FP_ERR_STATE;
        break;
    default:
        st = FP_ERR_CONFIG;
        break;
    }
    if (st != FP_OK) {
        plan_free_env(p);
        plan_free(p);
        return st;
    }
    *plan_p = p;
    return FP_OK;
}

void fp__boot_plan_free(fp__boot_plan_t *p)
{
    plan_free_env(p);
    plan_free(p);
}

/* ---- starting: ssh ----------------------------------------------------------- */

typedef struct hslot {
    fp__shost_t *h; /* running, or NULL */
    char addr[160];
} hslot_t;

typedef struct elastic {
    fp_pool_t *pool;
    fp__boot_plan_t *plan;
    hslot_t *slots;
    size_t n;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool quit;
} elastic_t;

typedef struct start_job {
    elastic_t *e;
    size_t i;
    fp_status_t st;
    fp_error_t err;
} start_job_t;

static void *start_main(void *arg)
{
    start_job_t *j = arg;
    elastic_t *e = j->e;
    const fp__cluster_host_t *h = &e->plan->cl->hosts[j->i];
    j->st = fp__boot_start_host(e->pool, h->address, &e->plan->hp[j->i],
                                false, &e->slots[j->i].h, e->slots[j->i].addr,
                                sizeof(e->slots[j->i].addr), &j->err);
    return NULL;
}

/* Start hosts [0, count) at once; the first error wins. */
static fp_status_t start_first(elastic_t *e, size_t count, fp_error_t *err)
{
    start_job_t *jobs = calloc(count, sizeof(*jobs));
    pthread_t *t = calloc(count, sizeof(*t));
    bool *ok = calloc(count, sizeof(*ok));
    if ((count > 0 && (jobs == NULL || t == NULL || ok == NULL))) {
        free(jobs);
        free(t);
        free(ok);
        return FP_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        jobs[i] = (start_job_t){.e = e, .i = i};
        ok[i] = pthread_create(&t[i], NULL, start_main, &jobs[i]) == 0;
        if (!ok[i])
            start_main(&jobs[i]);
    }
    fp_status_t st = FP_OK;
    for (size_t i = 0; i < count; i++) {
        if (ok[i])
            pthread_join(t[i], NULL);
        if (jobs[i].st != FP_OK && st == FP_OK) {
            st = jobs[i].st;
            if (err != NULL)
                *err = jobs[i].err;
        }
    }
    free(jobs);
    free(t);
    free(ok);
    return st;
}

static size_t running(const elastic_t *e)
{
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++)
        k += e->slots[i].h != NULL;
    return k;
}

static void *elastic_main(void *arg)
{
    elastic_t *e = arg;
    const fp__cluster_t *cl = e->plan->cl;
    double waiting_since = 0;
    pthread_mutex_lock(&e->lock);
    while (!e->quit) {
        struct timespec ts;
        fp__timespec(fp__now() + 0.1, &ts);
        pthread_cond_timedwait(&e->cond, &e->lock, &ts);
        if (e->quit)
            break;
        pthread_mutex_unlock(&e->lock);
        double now = fp__now();
        size_t up = running(e);
        /* up: work waits and no executor is free */
        bool starved = fp__dpool_backlog(e->pool) > 0 &&
                       (fp_pool_size(e->pool) == 0 ||
                        fp_pool_active(e->pool) >= fp_pool_size(e->pool));
        if (!starved) {
            waiting_since = 0;
        } else if (waiting_since == 0) {
            waiting_since = now;
        } else if (now - waiting_since >= cl->elastic.scale_up_after &&
                   up < (size_t)cl->elastic.max) {
            for (size_t i = 0; i < e->n; i++) {
                if (e->slots[i].h != NULL)
                    continue;
                start_job_t j = {.e = e, .i = i};
                start_main(&j);
                if (j.st != FP_OK)
                    fprintf(stderr, "fastpool: elastic: %s\n", j.err.message);
                else
                    fprintf(stderr, "fastpool: elastic: work waited %.1f s: "
                                    "started %s (%zu nodes)\n",
                            now - waiting_since, cl->hosts[i].address, up + 1);
                break;
            }
            waiting_since = 0;
        }
        /* down: nodes idle too long, above min */
        for (size_t i = 0; i < e->n && running(e) > (size_t)cl->elastic.min;
             i++) {
            if (e->slots[i].h == NULL)
                continue;
            double idle = fp__dpool_node_idle(e->pool, e->slots[i].addr);
            if (idle < 0) { /* gone (died or left): reap it */
                fp__boot_host_end(e->slots[i].h);
                e->slots[i].h = NULL;
                continue;
            }
            if (idle >= cl->elastic.idle_timeout &&
                fp__dpool_backlog(e->pool) == 0) {
                fprintf(stderr, "fastpool: elastic: %s idle %.1f s: let go\n",
                        cl->hosts[i].address, idle);
                fp__boot_host_stop(e->slots[i].h);
                fp__boot_host_end(e->slots[i].h); /* waits for it to leave */
                e->slots[i].h = NULL;
            }
        }
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

static void elastic_fini(void *arg)
{
    elastic_t *e = arg;
    if (e->started) {
        pthread_mutex_lock(&e->lock);
        e->quit = true;
        pthread_cond_broadcast(&e->cond);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->slots[i].h != NULL)
            fp__boot_host_end(e->slots[i].h);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
    free(e->slots);
    fp__boot_plan_free(e->plan);
    free(e);
}

fp_status_t fp__boot_plan_start(fp_pool_t *pool, fp__boot_plan_t *plan,
                                fp_error_t *err)
{
    const fp__cluster_t *cl = plan->cl;
    if (cl->bootstrap != FP__BOOTSTRAP_SSH) {
        fp__boot_plan_free(plan);
        return FP_OK;
    }
    elastic_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        fp__boot_plan_free(plan);
        return FP_ERR_NOMEM;
    }
    e->pool = pool;
    e->plan = plan;
    e->n = cl->n_hosts;
    e->slots = calloc(e->n, sizeof(*e->slots));
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    if (e->slots == NULL) {
        elastic_fini(e);
        return FP_ERR_NOMEM;
    }
    size_t first = cl->elastic.enabled ? (size_t)cl->elastic.min : e->n;
    fp_status_t st = start_first(e, first, err);
    if (st == FP_OK && cl->elastic.enabled) {
        if (pthread_create(&e->thread, NULL, elastic_main, e) != 0)
            st = FP_ERR_SYSTEM;
        else
            e->started = true;
    }
    if (st == FP_OK)
        st = fp__dpool_attach(pool, elastic_fini, e);
    if (st != FP_OK) {
        elastic_fini(e);
        return st;
    }
    return FP_OK;
}
