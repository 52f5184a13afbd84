/*
 * fastpool-server: the rendezvous server.  Workers register with it
 * (fastpool-worker --server HOST:PORT), clients learn the workers from it
 * (fp_pool_params_t.server, FP_SERVER) and connect to them directly: the
 * server is never on the data path.
 *
 *   fastpool-server [--listen ADDR:PORT] [--secret-file F]
 *   fastpool-server --list HOST:PORT [--secret-file F]
 *
 * The default address is 0.0.0.0:7770.  Without --secret-file (and without
 * FP_SECRET_FILE / FP_SECRET) the secret is the file
 * <XDG_CONFIG_HOME or ~/.config>/fastpool/server-PORT.secret, made now (32
 * random bytes, hex, mode 0600 in a 0700 directory) unless it is there.
 * The first line of output is "LISTENING ADDR:PORT", then the commands that
 * join a worker and point a pool at it.  SIGTERM or SIGINT stops it.
 * --list prints the workers a server has, one a line.
 */
#define _POSIX_C_SOURCE 200809L
#include <fastpool/fastpool.h>

#include <stdio.h>
#include <string.h>

static int usage(const char *argv0, int code)
{
    fprintf(code == 0 ? stdout : stderr,
            "usage: %s [--listen ADDR:PORT] [--secret-file F]\n"
            "       %s --list HOST:PORT [--secret-file F]\n"
            "The rendezvous server of fastpool workers (default "
            "0.0.0.0:%d).\n"
            "Without a secret file one is made in ~/.config/fastpool "
            "(mode 0600).\n",
            argv0, argv0, FP_SERVER_PORT);
    return code;
}

static int list(const char *argv0, const char *server, const char *secret)
{
    fp_server_node_t *nodes = NULL;
    size_t n = 0;
    fp_error_t err;
    fp_status_t st = fp_server_nodes(server, secret, &nodes, &n, &err);
    if (st != FP_OK) {
        fprintf(stderr, "%s: %s\n", argv0,
                err.message[0] ? err.message : fp_status_string(st));
        return 1;
    }
    printf("%-24s %-20s %9s %4s %4s %6s\n", "ADDRESS", "HOST", "EXECUTORS",
           "GPUS", "BUSY", "QUEUED");
    for (size_t i = 0; i < n; i++)
        printf("%-24s %-20s %9u %4u %4u %6u\n", nodes[i].address,
               nodes[i].host, nodes[i].executors, nodes[i].gpus,
               nodes[i].busy, nodes[i].queued);
    fp_server_nodes_free(nodes);
    return 0;
}

int main(int argc, char **argv)
{
    fp_server_params_t p = {0};
    const char *list_of = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(argv[0], 0);
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (v == NULL) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], a);
            return usage(argv[0], 2);
        }
        if (strcmp(a, "--listen") == 0)
            p.listen = v;
        else if (strcmp(a, "--secret-file") == 0)
            p.secret_file = v;
        else if (strcmp(a, "--list") == 0)
            list_of = v;
        else {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], a);
            return usage(argv[0], 2);
        }
    }
    if (list_of != NULL)
        return list(argv[0], list_of, p.secret_file);
    fp_context_t *ctx;
    fp_status_t st = fp_context_create(NULL, &ctx);
    if (st != FP_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], fp_status_string(st));
        return 1;
    }
    int rc = fp_server_serve(ctx, &p);
    fp_context_destroy(ctx);
    return rc;
}
