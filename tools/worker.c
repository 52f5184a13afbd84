/*
 * fastpool-worker: a node.  Serves pools for clients: runs their tasks on
 * this machine's cores, found by name in this program and in the modules
 * it loads.
 *
 *   fastpool-worker --listen ADDR:PORT [--executors N] [--secret-file F]
 *                   [--module PATH.so ...] [--pin core|none]
 *                   [--exit-with-client]
 *   fastpool-worker --server HOST:PORT [--listen ADDR:PORT] [...]
 *
 * --server: register with a fastpool-server (same secret), which tells
 * clients about this worker; --listen is then optional (default
 * 0.0.0.0:0, a port of its own).  It registers again by itself after a
 * server restart; a server that refuses the secret stops it (exit 1).
 *
 * The first line of output is "LISTENING ADDR:PORT" (the port bound when 0
 * was asked).  SIGTERM or SIGINT stops it cleanly: it finishes the tasks
 * it is running, hands back what it has queued, says goodbye and exits 0
 * (a second signal, or FP_NODE_LEAVE_TIMEOUT seconds, stops it at once).
 * --exit-with-client: it also stops so when its last client has gone
 * (after the first came), for a node a client starts for itself.  The
 * secret comes from
 * --secret-file, else FP_SECRET_FILE or FP_SECRET; clients must hold the
 * same one.
 */
#define _POSIX_C_SOURCE 200809L
#include <fastpool/fastpool.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *argv0, int code)
{
    fprintf(code == 0 ? stdout : stderr,
            "usage: %s --listen ADDR:PORT [--executors N] [--secret-file F]\n"
            "       [--module PATH.so ...] [--pin core|none] "
            "[--exit-with-client]\n"
            "       [--server HOST:PORT (register there; --listen optional)]\n"
            "Serves fastpool pools on this machine; prints LISTENING "
            "ADDR:PORT first.\n"
            "SIGTERM/SIGINT: finish the running tasks, hand back the queued "
            "ones, exit 0\n"
            "(a second signal, or FP_NODE_LEAVE_TIMEOUT seconds, default 60: "
            "at once).\n"
            "--exit-with-client: stop the same way when the last client has "
            "gone.\n",
            argv0);
    return code;
}

int main(int argc, char **argv)
{
    fp_node_params_t p = {0};
    const char **modules = calloc((size_t)argc, sizeof(*modules));
    if (modules == NULL)
        return 1;
    int i = 1;
    while (i < argc) { /* one option (and its value) a step */
        const char *a = argv[i++];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(argv[0], 0);
        if (strcmp(a, "--exit-with-client") == 0) {
            p.exit_with_client = true;
            continue;
        }
        const char *v = i < argc ? argv[i++] : NULL;
        if (v == NULL) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
            return usage(argv[0], 2);
        }
        if (strcmp(a, "--listen") == 0) {
            p.listen = v;
        } else if (strcmp(a, "--server") == 0) {
            p.server = v;
        } else if (strcmp(a, "--executors") == 0) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(v, &end, 10);
            if (*v == '\0' || *end != '\0' || errno != 0 || n == 0 ||
                n > 4096) {
                fprintf(stderr, "%s: --executors '%s': want 1..4096\n",
                        argv[0], v);
                return 2;
            }
            p.executors = (unsigned)n;
        } else if (strcmp(a, "--secret-file") == 0) {
            p.secret_file = v;
        } else if (strcmp(a, "--module") == 0) {
            modules[p.nmodules++] = v;
        } else if (strcmp(a, "--pin") == 0) {
            if (strcmp(v, "core") == 0)
                p.pin = FP_PIN_CORE;
            else if (strcmp(v, "none") == 0)
                p.pin = FP_PIN_NONE;
            else {
                fprintf(stderr, "%s: --pin '%s': want core or none\n",
                        argv[0], v);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], a);
            return usage(argv[0], 2);
        }
    }
    if (p.listen == NULL && getenv("FP_NODE_LISTEN") == NULL &&
        p.server == NULL) {
        fprintf(stderr, "%s: --listen ADDR:PORT is required\n", argv[0]);
        return usage(argv[0], 2);
    }
    p.modules = modules;
    fp_context_t *ctx;
    fp_status_t st = fp_context_create(NULL, &ctx);
    if (st != FP_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], fp_status_string(st));
        return 1;
    }
    int rc = fp_node_serve(ctx, &p);
    fp_context_destroy(ctx);
    free(modules);
    return rc;
}
