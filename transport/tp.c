/*
 * A transport instance: its settings (code, then environment, then config
 * file, then defaults: common/settings.h), the UCX context and worker (UCX
 * loaded on first use: ucx_api.h), and teardown.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/settings.h"
#include "tp_conn.h"
#include "ucx_api.h"


static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

/* Undo what fp__tp_create set in the environment, and unlock it. */
static void restore_env(const bool *set_here, const char *const *names,
                        int n, const char *tls, char *saved_tls)
{
    for (int i = 0; i < n; i++)
        if (set_here[i])
            unsetenv(names[i]);
    if (tls[0] != '\0') {
        if (saved_tls != NULL)
            setenv("UCX_TLS", saved_tls, 1);
        else
            unsetenv("UCX_TLS");
    }
    pthread_mutex_unlock(&env_lock);
    free(saved_tls);
}

/* UCX_TLS for a fastpool transport list (checked by the settings parser,
 * the one place that knows the names).  Connection establishment through
 * a listener needs the tcp sockaddr connection manager, so tcp is always
 * allowed; for "shm" UCX still picks shared memory for the data lanes. */
static fp_status_t tls_for(const char *want, char *out, size_t outlen)
{
    out[0] = '\0';
    if (want == NULL || *want == '\0' || strcmp(want, "auto") == 0)
        return FP_OK; /* UCX default: verbs when present, sm, tcp */
    if (!fp__transports_valid(want) || strlen(want) + 5 > outlen)
        return FP_ERR_INVALID;
    snprintf(out, outlen, "%s", want);
    bool has_tcp = false;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", want);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
        has_tcp |= strcmp(tok, "tcp") == 0;
    if (!has_tcp)
        strcat(out, ",tcp");
    return FP_OK;
}

fp_status_t fp__tp_create(const fp__tp_params_t *params, fp__tp_t **tp_p)
{
    static const fp__tp_params_t defaults = {0};
    if (params == NULL)
        params = &defaults;
    fp__tp_t *tp = calloc(1, sizeof(*tp));
    if (tp == NULL)
        return FP_ERR_NOMEM;
    snprintf(tp->name, sizeof(tp->name), "%s",
             params->name != NULL ? params->name : "tp");
    fp__log_init(&tp->log, params->log_level, params->log_fn,
                 params->log_user_data, tp->name);
    tp->handlers = params->handlers;

    /* settings: what the code says, else the environment, else the config
     * file (params->config_file, else FP_CONFIG), else the defaults; one
     * table and one parser for all of them (common/settings.h) */
    char reason[400];
    fp__config_t *own_conf = NULL;
    const fp__config_t *conf = NULL;
    fp_status_t cst = FP_OK;
    if (params->config_file != NULL) {
        if (params->config_file[0] != '\0') {
            cst = fp__config_load(params->config_file, &own_conf, reason,
                                  sizeof(reason));
            conf = own_conf;
        }
    } else {
        cst = fp__config_default(&conf, reason, sizeof(reason));
    }
    if (cst != FP_OK) {
        fp__tp_log(tp, FP_LOG_ERROR, "config: %s", reason);
        free(tp);
        return FP_ERR_CONFIG;
    }
    tp->busy_poll = params->busy_poll ||
                    fp__setting_bool(&tp->log, FP__SET_BUSY_POLL, conf);
    tp->rndv_threshold =
        params->rndv_threshold
            ? params->rndv_threshold
            : (size_t)fp__setting_int(&tp->log, FP__SET_RNDV_THRESHOLD, conf);
    tp->reg_max_entries =
        params->reg_max_entries ? params->reg_max_entries : 256;
    tp->reg_max_bytes = params->reg_max_bytes ? params->reg_max_bytes
                                              : (size_t)1 << 30;
    tp->heartbeat_interval =
        params->heartbeat_interval > 0
            ? params->heartbeat_interval
            : fp__setting_seconds(&tp->log, FP__SET_HEARTBEAT, conf);
    tp->peer_deadline =
        params->peer_deadline > 0
            ? params->peer_deadline
            : fp__setting_seconds(&tp->log, FP__SET_PEER_DEADLINE, conf);
    tp->timer_tick = tp->heartbeat_interval / 4;
    tp->keep_signals =
        fp__setting_bool(&tp->log, FP__SET_UCX_SIGNALS, conf);
    tp->encrypt = params->encrypt ||
                  fp__setting_bool(&tp->log, FP__SET_ENCRYPT, conf);
    {
        /* tests only (docs/PROTOCOL.md §14): flip a bit in the Nth sealed
         * message this instance sends, as an attacker on the path would */
        const char *t = secure_getenv("FP_TEST_TAMPER");
        tp->tamper_at = t != NULL ? strtoull(t, NULL, 10) : 0;
    }
    char ucx_lib[256];
    fp__setting_string(&tp->log, FP__SET_UCX_LIB, conf, ucx_lib,
                       sizeof(ucx_lib));
    char want[256] = "";
    if (params->transports != NULL && params->transports[0] != '\0')
        snprintf(want, sizeof(want), "%s", params->transports);
    else
        cst = fp__setting_transports(FP__SET_TRANSPORTS, conf, want,
                                     sizeof(want), reason, sizeof(reason));
    fp__config_free(own_conf);
    if (cst != FP_OK) {
        fp__tp_log(tp, FP_LOG_ERROR, "%s", reason);
        free(tp);
        return FP_ERR_CONFIG;
    }
    char tls[256];
    if (tls_for(want, tls, sizeof(tls)) != FP_OK) {
        fp__tp_log(tp, FP_LOG_ERROR,
                   "unknown transport list '%s' (use auto, or a comma list "
                   "of shm, tcp, rc, ud, dc)",
                   want);
        free(tp);
        return FP_ERR_CONFIG;
    }
    snprintf(tp->transports, sizeof(tp->transports), "%s",
             tls[0] != '\0' ? tls : "auto (all)");
    if (fp__ucx_load(&tp->log, ucx_lib, tp->keep_signals) != FP_OK) {
        free(tp);
        return FP_ERR_UNSUPPORTED;
    }
    tp->role = params->role ? params->role : FP__WIRE_ROLE_CLIENT;
    tp->executors = params->executors;
    tp->version_min = params->version_min ? params->version_min : FP__WIRE_VERSION_MIN;
    tp->version_max = params->version_max ? params->version_max : FP__WIRE_VERSION_MAX;
    if (tp->role > FP__WIRE_ROLE_SERVER ||
        (tp->role == FP__WIRE_ROLE_NODE && tp->executors == 0)) {
        fp__tp_log(tp, FP_LOG_ERROR,
                   "transport: role %u with %u executors is not valid (a node "
                   "needs at least one)",
                   tp->role, tp->executors);
        free(tp);
        return FP_ERR_INVALID;
    }
    if (getrandom(&tp->instance, sizeof(tp->instance), 0) !=
            (ssize_t)sizeof(tp->instance) ||
        tp->instance == 0)
        tp->instance = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
    if (params->id != NULL) {
        snprintf(tp->id, sizeof(tp->id), "%s", params->id);
    } else {
        char host[64] = "?";
        gethostname(host, sizeof(host) - 1);
        static const char *const roles[] = {"", "client", "node", "server"};
        snprintf(tp->id, sizeof(tp->id), "%s:%s:%d",
                 tp->role <= 3 ? roles[tp->role] : "peer", host, (int)getpid());
    }
    if (tp->id[0] == '\0') {
        free(tp);
        return FP_ERR_INVALID;
    }
    tp->secret = params->secret;
    if (tp->secret == NULL) {
        char reason[300];
        fp_status_t st =
            fp__auth_secret_load(NULL, &tp->own_secret, reason, sizeof(reason));
        if (st != FP_OK) {
            fp__tp_log(tp, FP_LOG_ERROR, "%s", reason);
            free(tp);
            return st;
        }
        tp->secret = tp->own_secret;
    }
    pthread_mutex_init(&tp->post_lock, NULL);

    /* UCX reads its options from the environment in ucp_config_read:
     * setenv there is the reliable way (see UCX-NOTES).  Options the user
     * set themselves win; UCX_TLS is restored after reading. */
    pthread_mutex_lock(&env_lock);
    /* only where shared memory may be used: UCX warns about options that
     * belong to transports it did not load */
    bool shm = tls[0] == '\0' || strstr(tls, "shm") || strstr(tls, "sm") ||
               strstr(tls, "mm") || strstr(tls, "posix") ||
               strstr(tls, "sysv") || strstr(tls, "cma");
    /* UCX_RNDV_SCHEME: on endpoints made through the connection manager
     * (ours are) UCX 1.13's "auto" pushes rendezvous data over TCP with
     * put_zcopy; the receiver pulling it (get_zcopy) is what UCX does on
     * endpoints made from a worker address, and measured here: 64 KiB
     * one-way 56 -> 42 us, 4 MiB 3.6 -> 5.2 GB/s; shared memory (cma)
     * unchanged.  Transports without get fall back as UCX decides. */
    /* UCX_TCP_MAX_POLL=1: UCX 1.13.1's TCP transport handles a batch of
     * socket events, and when a peer dies the first event of the batch
     * (its failure) can close another endpoint of the same peer whose
     * event is still in the batch: an assertion (tcp_iface.c,
     * "conn_state != CLOSED") aborts the process.  One event per poll
     * leaves no stale event behind; the next poll no longer returns the
     * closed socket. */
    bool tcp = tls[0] == '\0' || strstr(tls, "tcp") != NULL;
    static const char *const ours[] = {"UCX_MM_ERROR_HANDLING",
                                       "UCX_CMA_MEMORY_INVALIDATE",
                                       "UCX_TCP_CM_REUSEADDR",
                                       "UCX_RNDV_SCHEME", "UCX_TCP_MAX_POLL"};
    static const char *const values[] = {"y", "y", "y", "get_zcopy", "1"};
    enum { NOURS = sizeof(ours) / sizeof(ours[0]) };
    bool set_here[NOURS] = {false};
    for (int i = 0; i < NOURS; i++) {
        if ((i < 2 && !shm) || (i == 4 && !tcp) || getenv(ours[i]) != NULL)
            continue;
        setenv(ours[i], values[i], 1);
        set_here[i] = true;
    }
    const char *old_tls = getenv("UCX_TLS");
    char *saved = old_tls != NULL ? strdup(old_tls) : NULL;
    if (tls[0] != '\0')
        setenv("UCX_TLS", tls, 1);
    /* UCX may (re)install its signal handlers while it initialises */
    fp__sig_guard_t guard;
    fp__sig_guard_begin(&guard, tp->keep_signals);
    ucp_config_t *config = NULL;
    ucs_status_t s = fp__ucx.config_read(NULL, NULL, &config);
    if (s != UCS_OK) {
        restore_env(set_here, ours, NOURS, tls, saved);
        fp__sig_guard_end(&guard, &tp->log);
        goto err;
    }

    ucp_params_t up;
    memset(&up, 0, sizeof(up));
    up.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
    up.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
    up.name = tp->name;
    s = fp__ucx.init_version(UCP_API_MAJOR, UCP_API_MINOR, &up, config,
                             &tp->context);
    fp__ucx.config_release(config);
    if (s != UCS_OK) {
        restore_env(set_here, ours, NOURS, tls, saved);
        fp__sig_guard_end(&guard, &tp->log);
        goto err;
    }

    ucp_worker_params_t wp;
    memset(&wp, 0, sizeof(wp));
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    s = fp__ucx.worker_create(tp->context, &wp, &tp->worker);
    /* transports read their options while the worker opens them: only now
     * may the environment go back to what the user had */
    restore_env(set_here, ours, NOURS, tls, saved);
    fp__sig_guard_end(&guard, &tp->log);
    if (s != UCS_OK)
        goto err_ctx;
    s = fp__ucx.worker_get_efd(tp->worker, &tp->efd);
    if (s != UCS_OK)
        goto err_worker;

    /* every handler before any listener or endpoint (see UCX-NOTES) */
    ucp_am_handler_param_t hp;
    memset(&hp, 0, sizeof(hp));
    hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
                    UCP_AM_HANDLER_PARAM_FIELD_CB |
                    UCP_AM_HANDLER_PARAM_FIELD_ARG;
    hp.id = FP__TP_AM_ID;
    hp.cb = fp__tp_am_recv;
    hp.arg = tp;
    s = fp__ucx.worker_set_am_recv_handler(tp->worker, &hp);
    if (s != UCS_OK)
        goto err_worker;

    tp->now = fp__tp_now();
    fp__tp_log(tp, FP_LOG_INFO, "UCX %s: transports %s, %s progress",
               fp__ucx.get_version_string(), tp->transports,
               tp->busy_poll ? "busy-poll" : "sleeping");
    *tp_p = tp;
    return FP_OK;

err_worker:
    fp__ucx.worker_destroy(tp->worker);
err_ctx:
    fp__ucx.cleanup(tp->context);
err:
    fp__tp_log(tp, FP_LOG_ERROR, "UCX initialisation failed: %s",
               fp__ucx.status_string(s));
    pthread_mutex_destroy(&tp->post_lock);
    fp__auth_secret_free(tp->own_secret);
    free(tp);
    return FP_ERR_IO;
}

void fp__tp_destroy(fp__tp_t *tp)
{
    if (tp == NULL)
        return;
    if (tp->thread_started) {
        atomic_store(&tp->stop, 1);
        fp__ucx.worker_signal(tp->worker);
        pthread_join(tp->thread, NULL);
    }
    /* close everything and let UCX finish the closes */
    for (fp__tp_conn_t *c = tp->conns, *cn; c != NULL; c = cn) {
        cn = c->next;
        fp__tp_close(c, FP_ERR_CLOSED, "transport shut down");
    }
    for (int i = 0; i < 1000 && tp->conns != NULL; i++)
        fp__ucx.worker_progress(tp->worker);
    fp__tp_run_posted(tp);
    fp__tp_stages_free(tp);
    free(tp->scratch);
    fp__tp_regcache_clear(tp);
    fp__tp_send_reqs_free(tp);
    if (tp->listener != NULL)
        fp__ucx.listener_destroy(tp->listener);
    fp__ucx.worker_destroy(tp->worker);
    fp__ucx.cleanup(tp->context);
    free(tp->by_ep.slots);
    free(tp->by_route.slots);
    pthread_mutex_destroy(&tp->post_lock);
    fp__auth_secret_free(tp->own_secret);
    free(tp);
}

const char *fp__tp_transports(const fp__tp_t *tp) { return tp->transports; }

void fp__tp_get_stats(const fp__tp_t *tp, fp__tp_stats_t *stats)
{
    *stats = tp->stats;
    stats->dropped = tp->dropped;
}

void fp__tp_note_copy(fp__tp_t *tp, size_t bytes)
{
    tp->stats.bytes_copied += bytes;
}


const fp__auth_secret_t *fp__tp_secret(const fp__tp_t *tp)
{
    return tp != NULL ? tp->secret : NULL;
}
