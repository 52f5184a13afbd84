/*
 * UCX loaded on first use, and the program's signal handlers kept
 * (ucx_api.h says why).
 */
#include "ucx_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>

fp__ucx_api_t fp__ucx;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int load_state; /* 0 not tried, 1 loaded, -1 failed; under load_lock */
static _Atomic int loaded;

void fp__sig_guard_begin(fp__sig_guard_t *g, bool keep)
{
    memset(g, 0, sizeof(*g));
    g->keep = keep;
    if (keep)
        return;
    for (int sig = 1; sig < FP__SIG_MAX; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        g->have[sig] = sigaction(sig, NULL, &g->saved[sig]) == 0;
    }
}

static bool same_action(const struct sigaction *a, const struct sigaction *b)
{
    if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO))
        return false;
    return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction == b->sa_sigaction
                                      : a->sa_handler == b->sa_handler;
}

void fp__sig_guard_end(fp__sig_guard_t *g, const fp__logger_t *lg)
{
    if (g->keep)
        return;
    for (int sig = 1; sig < FP__SIG_MAX; sig++) {
        struct sigaction now;
        if (!g->have[sig] || sigaction(sig, NULL, &now) != 0 ||
            same_action(&now, &g->saved[sig]))
            continue;
        sigaction(sig, &g->saved[sig], NULL);
        fp__debug(lg,
                  "UCX installed a handler for signal %d (%s); the program's "
                  "disposition is restored (FP_UCX_SIGNALS=yes keeps UCX's)",
                  sig, strsignal(sig));
    }
}

fp_status_t fp__ucx_load(const fp__logger_t *lg, const char *lib,
                         bool keep_signals)
{
    if (atomic_load_explicit(&loaded, memory_order_acquire))
        return FP_OK;
    pthread_mutex_lock(&load_lock);
    fp_status_t st = FP_OK;
    if (load_state == 1)
        goto out;
    if (lib == NULL || *lib == '\0') {
        fp__error(lg, "no UCX library named (FP_UCX_LIB is empty)");
        st = FP_ERR_INVALID;
        goto out;
    }
    fp__sig_guard_t guard;
    fp__sig_guard_begin(&guard, keep_signals);
    /* never unloaded: UCX keeps threads and hooks that outlive any one
     * transport instance */
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    fp__sig_guard_end(&guard, lg);
    if (h == NULL) {
        fp__error(lg, "cannot load UCX (%s): %s", lib, dlerror());
        st = FP_ERR_UNSUPPORTED;
        goto out;
    }
    fp__ucx_api_t api;
    memset(&api, 0, sizeof(api));
#define FP__UCX_RESOLVE(field, sym)                                            \
    if (st == FP_OK) {                                                         \
        *(void **)&api.field = dlsym(h, #sym);                                 \
        if (api.field == NULL) {                                               \
            fp__error(lg, "UCX library %s has no %s: %s", lib, #sym,           \
                      dlerror());                                              \
            st = FP_ERR_UNSUPPORTED;                                           \
        }                                                                      \
    }
    FP__UCX_FUNCS(FP__UCX_RESOLVE)
#undef FP__UCX_RESOLVE
    if (st != FP_OK)
        goto out; /* the handle stays: RTLD_NODELETE, and harmless */
    fp__ucx = api;
    load_state = 1;
    atomic_store_explicit(&loaded, 1, memory_order_release);
    fp__debug(lg, "UCX %s loaded from %s", fp__ucx.get_version_string(), lib);
out:
    pthread_mutex_unlock(&load_lock);
    return st;
}

fp_status_t fp__from_ucs(ucs_status_t s)
{
    switch (s) {
    case UCS_OK:
        return FP_OK;
    case UCS_INPROGRESS:
        return FP_INPROGRESS;
    case UCS_ERR_NO_MEMORY:
        return FP_ERR_NOMEM;
    case UCS_ERR_INVALID_PARAM:
        return FP_ERR_INVALID;
    case UCS_ERR_CANCELED:
        return FP_ERR_CANCELED;
    case UCS_ERR_TIMED_OUT:
        return FP_ERR_TIMEOUT;
    case UCS_ERR_UNSUPPORTED:
        return FP_ERR_UNSUPPORTED;
    case UCS_ERR_BUSY:
        return FP_ERR_BUSY;
    default:
        return FP_ERR_PEER;
    }
}
