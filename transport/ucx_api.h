/*
 * UCX, loaded on first use (internal to the transport).
 *
 * libfastpool is not linked against UCX.  Loading libucp runs UCX's
 * constructors, which install signal handlers (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL: a backtrace and exit; SIGHUP: a debug action that keeps the
 * process running) and read UCX_* settings.  A program that only uses local
 * pools must not be changed by that, so the transport opens UCX with
 * dlopen() when the first transport instance is created, and every UCX
 * function it calls goes through the table below (an indirect call, as a
 * PLT call is).  Around the load, and around UCX's context and worker
 * creation, the program's signal dispositions are put back as they were,
 * unless FP_UCX_SIGNALS (or transport.ucx_signals) asks to keep UCX's.
 *
 * Code in this layer calls fp__ucx.<name> for ucp_<name> / ucs_<name>.
 */
#ifndef FP_TRANSPORT_UCX_API_H
#define FP_TRANSPORT_UCX_API_H

#include <signal.h>
#include <stdbool.h>
#include <ucp/api/ucp.h>

#include "common/log.h"
#include "fastpool/status.h"

/* X(field, symbol) for every UCX function the transport uses. */
#define FP__UCX_FUNCS(X)                                                       \
    X(config_read, ucp_config_read)                                            \
    X(config_release, ucp_config_release)                                      \
    X(init_version, ucp_init_version)                                          \
    X(cleanup, ucp_cleanup)                                                    \
    X(get_version_string, ucp_get_version_string)                              \
    X(worker_create, ucp_worker_create)                                        \
    X(worker_destroy, ucp_worker_destroy)                                      \
    X(worker_progress, ucp_worker_progress)                                    \
    X(worker_signal, ucp_worker_signal)                                        \
    X(worker_arm, ucp_worker_arm)                                              \
    X(worker_get_efd, ucp_worker_get_efd)                                      \
    X(worker_set_am_recv_handler, ucp_worker_set_am_recv_handler)              \
    X(listener_create, ucp_listener_create)                                    \
    X(listener_destroy, ucp_listener_destroy)                                  \
    X(listener_query, ucp_listener_query)                                      \
    X(listener_reject, ucp_listener_reject)                                    \
    X(conn_request_query, ucp_conn_request_query)                              \
    X(ep_create, ucp_ep_create)                                                \
    X(ep_close_nbx, ucp_ep_close_nbx)                                          \
    X(ep_print_info, ucp_ep_print_info)                                        \
    X(am_send_nbx, ucp_am_send_nbx)                                            \
    X(am_recv_data_nbx, ucp_am_recv_data_nbx)                                  \
    X(request_free, ucp_request_free)                                          \
    X(mem_map, ucp_mem_map)                                                    \
    X(mem_unmap, ucp_mem_unmap)                                                \
    X(status_string, ucs_status_string)

typedef struct fp__ucx_api {
#define FP__UCX_FIELD(field, sym) __typeof__(sym) *field;
    FP__UCX_FUNCS(FP__UCX_FIELD)
#undef FP__UCX_FIELD
} fp__ucx_api_t;

/* Filled by fp__ucx_load; read-only afterwards. */
extern fp__ucx_api_t fp__ucx;

/* Load UCX once per process (thread-safe; later calls return the first
 * outcome).  `keep_signals`: leave UCX's signal handlers installed.
 * `lib`: the library to open (the FP_UCX_LIB setting).  FP_ERR_UNSUPPORTED
 * with the loader's reason logged when UCX cannot be loaded. */
fp_status_t fp__ucx_load(const fp__logger_t *lg, const char *lib,
                         bool keep_signals);

/* The program's signal dispositions, saved before a UCX call that may
 * install handlers and put back after it (unless kept). */
#define FP__SIG_MAX 65
typedef struct fp__sig_guard {
    bool keep;
    bool have[FP__SIG_MAX];
    struct sigaction saved[FP__SIG_MAX];
} fp__sig_guard_t;
void fp__sig_guard_begin(fp__sig_guard_t *g, bool keep);
void fp__sig_guard_end(fp__sig_guard_t *g, const fp__logger_t *lg);

/* UCX's status as fastpool's. */
fp_status_t fp__from_ucs(ucs_status_t s);

#endif
