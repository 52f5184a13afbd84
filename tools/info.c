/*
 * fastpool-info: this host's topology, GPUs and UCX transports, which cores
 * and transports a pool would use, and the build's features.
 *
 *   fastpool-info [--json]                  this host
 *   fastpool-info --cluster FILE [--json]   every host of a cluster file,
 *                                           checked over ssh
 *   fastpool-info --server HOST:PORT [--secret-file F] [--json]
 *                                           a rendezvous server's nodes
 *
 * Each mode is one function in its own file (info.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "info.h"

#include <stdio.h>
#include <string.h>

static int usage(const char *argv0, FILE *to, int rc)
{
    fprintf(to,
            "usage: %s [--json] [--cluster FILE | --server HOST:PORT "
            "[--secret-file F]]\n"
            "  prints this host's topology (packages, NUMA nodes, cores, "
            "caches, the cores a\n"
            "  pool pins to), its NVIDIA GPUs, the UCX transports usable "
            "here and the ones\n"
            "  fastpool would pick, and this build's features\n"
            "  --json   the same as one JSON object\n"
            "  --cluster FILE  checks every host of a cluster file over ssh "
            "(reachable,\n"
            "           cores, GPUs, transports, clock offset)\n"
            "  --server HOST:PORT  the nodes a fastpool-server lists, with "
            "their load\n",
            argv0);
    return rc;
}

int main(int argc, char **argv)
{
    info_opts_t o = {.json = false};
    const char *cluster = NULL, *server = NULL, *secret = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            return usage(argv[0], stdout, 0);
        } else if (i + 1 < argc && strcmp(argv[i], "--cluster") == 0) {
            cluster = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--server") == 0) {
            server = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--secret-file") == 0) {
            secret = argv[++i];
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
            return usage(argv[0], stderr, 2);
        }
    }
    if (cluster != NULL && server != NULL) {
        fprintf(stderr, "%s: --cluster or --server, not both\n", argv[0]);
        return 2;
    }
    if (cluster != NULL)
        return info_run_cluster(&o, cluster);
    if (server != NULL)
        return info_run_server(&o, server, secret);
    return info_run_local(&o);
}
