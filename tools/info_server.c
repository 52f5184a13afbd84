/*
 * fastpool-info --server HOST:PORT: the nodes a rendezvous server lists,
 * with their executors, GPUs and load (busy executors, records queued), as
 * the server last heard from each (about once a second).  The secret is
 * the server's (--secret-file, else FP_SECRET_FILE / FP_SECRET).  Exit
 * status 0, or 1 when the server cannot be asked (the reason on stderr).
 */
#include <fastpool/fastpool.h>

#include "info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int info_run_server(const info_opts_t *o, const char *server,
                    const char *secret_file)
{
    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    memset(&err, 0, sizeof(err));
    fp_status_t st = fp_server_nodes(server, secret_file, &nodes, &n, &err);
    if (st != FP_OK) {
        fprintf(stderr, "fastpool-info: %s\n",
                err.message[0] ? err.message : fp_status_string(st));
        return 1;
    }
    unsigned ex = 0, busy = 0, gpus = 0, queued = 0;
    for (size_t i = 0; i < n; i++) {
        ex += nodes[i].executors;
        busy += nodes[i].busy;
        gpus += nodes[i].gpus;
        queued += nodes[i].queued;
    }
    if (o->json) {
        printf("{\"server\": \"%s\", \"nodes\": [", server);
        for (size_t i = 0; i < n; i++)
            printf("%s{\"address\": \"%s\", \"host\": \"%s\", \"executors\": %u, "
                   "\"gpus\": %u, \"busy\": %u, \"queued\": %u}",
                   i ? ", " : "", nodes[i].address, nodes[i].host,
                   nodes[i].executors, nodes[i].gpus, nodes[i].busy,
                   nodes[i].queued);
        printf("]}\n");
    } else {
        printf("server %s: %zu nodes, %u executors (%u busy), %u GPUs, %u "
               "records queued\n",
               server, n, ex, busy, gpus, queued);
        if (n > 0)
            printf("%-24s %-20s %9s %4s %5s %6s\n", "NODE", "HOST", "EXECUTORS",
                   "GPUS", "BUSY", "QUEUED");
        for (size_t i = 0; i < n; i++)
            printf("%-24s %-20s %9u %4u %5u %6u\n", nodes[i].address,
                   nodes[i].host, nodes[i].executors, nodes[i].gpus,
                   nodes[i].busy, nodes[i].queued);
    }
    fp_server_nodes_free(nodes);
    return 0;
}
