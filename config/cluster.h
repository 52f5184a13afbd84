/*
 * Cluster files: which machines a pool runs on and how they join
 * (docs/CONFIG.md is the schema; config/examples/ has one file per kind).
 *
 * A cluster file is a libconfig file with a `cluster { ... }` group; it may
 * hold the `pool` and `transport` groups of common/settings.h too, and
 * fp__cluster_load checks those with the settings reader, so one file can
 * be checked whole.  The loader refuses anything it does not understand:
 * an unknown key (with "did you mean" when one known key is close), a value
 * of the wrong type or out of range, duplicate hosts, a bootstrap without
 * what it needs, an unsafe or missing secret file.  Every error is one line
 * in err->message, "FILE:LINE: KEY: what is wrong", for example
 *
 *   cluster.cfg:12: cluster.hosts[1].executors: want an integer 1..4096 or
 *   "auto", got "many"
 *
 * with err->status FP_ERR_CONFIG and err->index the line (0 when there is
 * none).  Host indices in messages count from 0, as libconfig's paths do.
 *
 * Paths the local machine opens (secret_file, ssh.identity_file,
 * ssh.config_file) have `~` expanded ($HOME, or ~user) and relative ones
 * resolved against the cluster file's directory; the struct holds them
 * absolute.  Paths on the remote hosts (node.program, node.cache_dir) are
 * kept as written.
 *
 * The struct is read directly by the launchers; it is immutable after load
 * and owned by whoever loaded it (fp__cluster_free frees every string and
 * array in it).  Loading is thread-safe (no shared state).
 */
#ifndef FP_CONFIG_CLUSTER_H
#define FP_CONFIG_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fastpool/fastpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* `executors` or `gpus` given as "auto": found on the host at start. */
#define FP__CLUSTER_AUTO (-1)

typedef enum fp__bootstrap {
    FP__BOOTSTRAP_SSH = 1, /* the client starts each host's node over ssh */
    FP__BOOTSTRAP_SERVER,  /* nodes register at a rendezvous server */
    FP__BOOTSTRAP_MPIRUN,  /* mpirun/PMIx starts the nodes on the hosts */
    FP__BOOTSTRAP_SLURM,   /* srun in the job's allocation */
    FP__BOOTSTRAP_NONE     /* nodes are started by hand; connect to them */
} fp__bootstrap_t;

typedef enum fp__bundle {
    FP__BUNDLE_AUTO = 1, /* copy the node program where it is missing/stale */
    FP__BUNDLE_ALWAYS,   /* copy it to every host at every start */
    FP__BUNDLE_NEVER     /* node.program must already be on the host */
} fp__bundle_t;

/* SSH settings: the cluster's defaults, or a host's after merging its own
 * over them. */
typedef struct fp__cluster_ssh {
    char *user;           /* NULL: ssh's choice (ssh_config, login name) */
    int port;             /* 1..65535; 0: ssh's choice (22, ssh_config) */
    char *identity_file;  /* absolute; NULL: ssh's default keys */
    char *config_file;    /* absolute; NULL: ~/.ssh/config as ssh does */
    char **options;       /* "-o" values ("Key=Value"), n_options of them; */
    size_t n_options;     /*  a host's come first, so they win (ssh keeps */
                          /*  the first value of each option) */
    int connect_timeout;  /* seconds, 1..3600 (default 10) */
} fp__cluster_ssh_t;

typedef struct fp__cluster_host {
    char *name;       /* label; the address when the file gives none */
    char *address;    /* host name or IP address (no port, no user@) */
    int executors;    /* 1..4096, or FP__CLUSTER_AUTO (the default) */
    int gpus;         /* 0..1024, or FP__CLUSTER_AUTO; with a list: its */
                      /*  length */
    int *gpu_ids;     /* the device indices when given as a list (in the */
    size_t n_gpu_ids; /*  order written, distinct), else NULL / 0 */
    int listen_port;  /* 0..65535, 0: any free port */
    fp__cluster_ssh_t ssh; /* merged: the host's over cluster.ssh */
    int line;         /* the host's line in the file */
} fp__cluster_host_t;

typedef struct fp__cluster_env {
    char *name;  /* an environment variable name: [A-Za-z_][A-Za-z0-9_]* */
    char *value;
} fp__cluster_env_t;

typedef struct fp__cluster {
    char *path;            /* the file as given ("<string>" when parsed */
                           /*  from text without a name) */
    char *name;            /* cluster.name; default: the file's base name */
                           /*  without ".cfg" */
    fp__bootstrap_t bootstrap;
    char *server;          /* "HOST:PORT" as written, NULL when not given */
    char *server_host;     /* its host ([ ] of an IPv6 address removed) */
    int server_port;       /* its port, 1..65535; 0 without a server */
    char *secret_file;     /* absolute; NULL: FP_SECRET_FILE / FP_SECRET */
    char *transports;      /* "shm,tcp,rc": FP_TRANSPORT / UCX_TLS for */
                           /*  every node; NULL: not given (transport.list */
                           /*  or "auto") */
    bool encrypt;          /* default false */
    fp__cluster_env_t *env; /* cluster.environment, in file order */
    size_t n_env;
    struct {
        char *program;     /* NULL (default): the client's own program */
        fp__bundle_t bundle; /* default FP__BUNDLE_AUTO */
        char *cache_dir;   /* on the hosts, as written; default */
                           /*  "~/.cache/fastpool" */
        int listen_port;   /* default of hosts[].listen_port; 0: any */
    } node;
    fp__cluster_ssh_t ssh; /* cluster.ssh: the defaults of every host */
    struct {
        bool enabled;      /* an elastic group was given */
        int min, max;      /* nodes; without the group both are n_hosts */
        double idle_timeout;   /* seconds a node may stay idle before it */
                               /*  is let go (above min); default 300 */
        double scale_up_after; /* seconds work may wait queued with every */
                               /*  executor busy before a node is added */
                               /*  (below max); default 5 */
    } elastic;
    fp__cluster_host_t *hosts; /* in file order */
    size_t n_hosts;
} fp__cluster_t;

/* Read, check and load the cluster file `path`, and check its `pool` and
 * `transport` groups with the settings reader.  FP_OK: *out is the loaded
 * cluster (free with fp__cluster_free).  Otherwise *out is untouched and
 * `err` (may be NULL) says why: FP_ERR_CONFIG for a bad file ("FILE:LINE:
 * KEY: what"), FP_ERR_IO when it cannot be read, FP_ERR_NOMEM,
 * FP_ERR_INVALID for NULL arguments. */
fp_status_t fp__cluster_load(const char *path, fp__cluster_t **out,
                             fp_error_t *err);

/* The same from text in memory (for tests and generated files): `path`
 * names it in messages and its directory is where relative paths start
 * (NULL: "<string>" and the current directory).  The pool/transport groups
 * are not checked here. */
fp_status_t fp__cluster_parse_string(const char *text, const char *path,
                                     fp__cluster_t **out, fp_error_t *err);

void fp__cluster_free(fp__cluster_t *cluster);

/* A readable summary for `--check` / `--dry-run`: the cluster's settings,
 * then one table row per host (name, address, executors, gpus, port, ssh
 * destination).  Never fails beyond what `out` does. */
void fp__cluster_describe(const fp__cluster_t *cluster, FILE *out);

/* "ssh", "server", ... ; "?" for a value outside the enum. */
const char *fp__bootstrap_name(fp__bootstrap_t b);

#ifdef __cplusplus
}
#endif

#endif
