/*
 * The rendezvous server's links (internal): what a node and a client pool
 * run to reach a fastpool-server (server.c).  The server itself is public
 * (fp_server_*), as is the list query (fp_server_nodes).
 *
 * Each link owns a transport instance of its own (its own progress thread)
 * and one manager thread, which (re)connects with a backoff of at most 1 s
 * between tries and logs an outage once, not every try.
 */
#ifndef FP_DIST_SERVER_H
#define FP_DIST_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"
#include "fastpool/fastpool.h"

/* ---- a node registering (node.c) ------------------------------------------ */

typedef struct fp__srv_reg fp__srv_reg_t;

typedef struct fp__srv_reg_params {
    const char *server;      /* "HOST:PORT" */
    const char *secret_file; /* NULL: FP_SECRET_FILE / FP_SECRET */
    const char *address;     /* the node's "ADDR:PORT"; an ADDR of 0.0.0.0
                                or :: is replaced by the server with the
                                address it sees the node at */
    const char *host;
    unsigned executors, gpus;
    /* the node's load now (the manager thread calls it about every second) */
    void (*load)(void *arg, unsigned *busy, unsigned *queued);
    /* the server refused the secret: called once, on the manager thread;
     * the link stops trying */
    void (*refused)(void *arg, const char *why);
    void *arg;
    const fp__logger_t *log;
} fp__srv_reg_params_t;

/* Start registering (in the background).  FP_ERR_INVALID for a bad server
 * address, secret errors as the secret loader says; `why` tells. */
fp_status_t fp__srv_reg_start(const fp__srv_reg_params_t *p,
                              fp__srv_reg_t **reg_p, char *why,
                              size_t why_size);
/* Say goodbye to the server (a clean LEAVE) and free.  NULL is fine. */
void fp__srv_reg_stop(fp__srv_reg_t *reg);

/* ---- a client pool subscribing (client.c) ---------------------------------- */

typedef struct fp__srv_sub fp__srv_sub_t;

/* Connect to `server`, learn its nodes and add each to `pool` (a
 * distributed pool being created) with fp__dpool_add_node, all within
 * `timeout` seconds; then keep adding the nodes that join.  Fails (err
 * names the server) when the server cannot be reached or refuses us. */
fp_status_t fp__srv_sub_start(fp_pool_t *pool, const char *server,
                              double timeout, const fp__logger_t *log,
                              fp__srv_sub_t **sub_p, fp_error_t *err);
/* Stop (before the pool closes) and free.  NULL is fine. */
void fp__srv_sub_stop(fp__srv_sub_t *sub);

#endif
