/*
 * fastpool-info: this host's topology, GPUs and UCX transports, which cores
 * and transports a pool would use, and the build's features.
 *
 *   fastpool-info [--json]
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
            "usage: %s [--json]\n"
            "  prints this host's topology (packages, NUMA nodes, cores, "
            "caches, the cores a\n"
            "  pool pins to), its NVIDIA GPUs, the UCX transports usable "
            "here and the ones\n"
            "  fastpool would pick, and this build's features\n"
            "  --json   the same as one JSON object\n",
            argv0);
    return rc;
}

int main(int argc, char **argv)
{
    info_opts_t o = {.json = false};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            return usage(argv[0], stdout, 0);
        }
        /* Modes to come, each one function in its own file (info.h):
         *   --cluster FILE      -> info_run_cluster(&o, FILE)   info_cluster.c
         *   --server HOST:PORT  -> info_run_server(&o, ADDR)    info_server.c
         * parsed here, dispatched below instead of info_run_local. */
        else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
            return usage(argv[0], stderr, 2);
        }
    }
    return info_run_local(&o);
}
