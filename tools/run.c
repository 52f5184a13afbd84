/*
 * fastpool-run: launch an SPMD program across machines.
 *
 *   fastpool-run -H h1,h2 [options] PROGRAM [ARGS...]
 *   fastpool-run --hostfile FILE [options] PROGRAM [ARGS...]
 *   fastpool-run --cluster FILE [options] PROGRAM [ARGS...]
 *
 * PROGRAM runs here as the client; its first fp_pool_create gets its nodes
 * from the hosts (FP_HOSTS) or the cluster file (FP_CLUSTER): over SSH the
 * same PROGRAM, with the same arguments, is started on every host in node
 * mode (nothing installed there: the bundle is shipped and cached), so the
 * tasks compiled into it run there.  When PROGRAM exits, is killed or
 * loses a link, its nodes exit.
 *
 * Options:
 *   --dry-run        check the hosts or the cluster file and print what would
 *                    be started, then exit (0: all good; 2: a bad file, with
 *                    FILE:LINE: what is wrong)
 *   -x NAME=VALUE    set NAME for the program (and, when it is an FP_ or UCX_
 *                    setting, for its nodes)
 *   --               end of options
 *
 * A hostfile: one host per line ("name", "user@name" or an ssh_config
 * alias); blank lines and text after '#' are ignored.
 */
#define _GNU_SOURCE
#include <fastpool/fastpool.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cluster.h"

static int usage(FILE *to, int code)
{
    fprintf(to,
            "usage: fastpool-run (-H h1,h2 | --hostfile FILE | --cluster FILE)\n"
            "                    [--dry-run] [-x NAME=VALUE]... [--] PROGRAM "
            "[ARGS...]\n"
            "Runs PROGRAM here as the client; its pool's nodes are PROGRAM "
            "itself,\nstarted over SSH on each host (nothing installed there).\n");
    return code;
}

/* "a,b,c" from a hostfile. */
static char *read_hostfile(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "fastpool-run: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    char line[1024];
    unsigned lineno = 0;
    while (out != NULL && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *s = line + strspn(line, " \t\r\n");
        size_t n = strcspn(s, " \t\r\n");
        if (n == 0)
            continue;
        if (s[n] != '\0' && s[n + strspn(s + n, " \t\r\n")] != '\0') {
            fprintf(stderr, "fastpool-run: %s:%u: one host per line, got '%s'\n",
                    path, lineno, s);
            free(out);
            fclose(f);
            return NULL;
        }
        if (len + n + 2 > cap) {
            cap = 2 * (len + n + 2);
            char *grown = realloc(out, cap);
            if (grown == NULL) {
                free(out);
                out = NULL;
                break;
            }
            out = grown;
        }
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, s, n);
        len += n;
    }
    fclose(f);
    if (out != NULL) {
        out[len] = '\0';
        if (len == 0) {
            fprintf(stderr, "fastpool-run: %s: no host in it\n", path);
            free(out);
            return NULL;
        }
    }
    return out;
}

int main(int argc, char **argv)
{
    const char *hosts = NULL, *hostfile = NULL, *cluster = NULL;
    bool dry = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout, 0);
        if (strcmp(a, "--dry-run") == 0) {
            dry = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "fastpool-run: %s needs a value\n", a);
            return usage(stderr, 2);
        }
        i++;
        if (strcmp(a, "-H") == 0 || strcmp(a, "--hosts") == 0) {
            hosts = v;
        } else if (strcmp(a, "--hostfile") == 0) {
            hostfile = v;
        } else if (strcmp(a, "--cluster") == 0) {
            cluster = v;
        } else if (strcmp(a, "-x") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v) {
                fprintf(stderr, "fastpool-run: -x '%s': want NAME=VALUE\n", v);
                return 2;
            }
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - v), v);
            setenv(name, eq + 1, 1);
        } else {
            fprintf(stderr, "fastpool-run: unknown option '%s'\n", a);
            return usage(stderr, 2);
        }
    }
    if ((hosts != NULL) + (hostfile != NULL) + (cluster != NULL) != 1) {
        fprintf(stderr, "fastpool-run: give one of -H, --hostfile, --cluster\n");
        return usage(stderr, 2);
    }
    if (i >= argc && !dry) {
        fprintf(stderr, "fastpool-run: no PROGRAM to run\n");
        return usage(stderr, 2);
    }
    char *list = NULL;
    if (hostfile != NULL && (list = read_hostfile(hostfile)) == NULL)
        return 2;
    if (hosts != NULL) {
        list = strdup(hosts);
        if (list == NULL || list[strspn(list, ", ")] == '\0') {
            fprintf(stderr, "fastpool-run: -H '%s': no host in it\n", hosts);
            return 2;
        }
    }
    if (cluster != NULL) {
        fp__cluster_t *cl = NULL;
        fp_error_t err = {0};
        if (fp__cluster_load(cluster, &cl, &err) != FP_OK) {
            fprintf(stderr, "fastpool-run: %s\n", err.message);
            return 2;
        }
        if (dry)
            fp__cluster_describe(cl, stdout);
        fp__cluster_free(cl);
        char abs[PATH_MAX];
        if (realpath(cluster, abs) == NULL) {
            fprintf(stderr, "fastpool-run: %s: %s\n", cluster, strerror(errno));
            return 2;
        }
        setenv("FP_CLUSTER", abs, 1);
        unsetenv("FP_HOSTS");
        unsetenv("FP_NODES");
    } else {
        if (dry)
            printf("hosts: %s (over ssh; the program itself on each)\n", list);
        setenv("FP_HOSTS", list, 1);
        unsetenv("FP_CLUSTER");
        unsetenv("FP_NODES");
    }
    free(list);
    if (dry) {
        if (i < argc)
            printf("would run: %s (%d arguments) as the client\n", argv[i],
                   argc - i - 1);
        return 0;
    }
    fflush(stdout);
    execvp(argv[i], argv + i);
    fprintf(stderr, "fastpool-run: cannot run %s: %s\n", argv[i],
            strerror(errno));
    return 127;
}
