/*
 * fastpool-info (tools/info.c): what this host offers a pool, and what this
 * build of fastpool is.  One mode per file, each a function of the options:
 *
 *   info_local.c    this host: topology, GPUs, UCX, the build  (the default)
 *   (to come)       --cluster FILE: every host of a cluster file
 *   (to come)       --server HOST:PORT: what a running node reports
 *
 * The local mode first gathers everything into an info_host_t, then prints
 * it as text or JSON, so that other modes can gather hosts the same way
 * (or run `fastpool-info --json` there) and print them alike.
 */
#ifndef FP_TOOLS_INFO_H
#define FP_TOOLS_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define INFO_MAX_NUMA 64
#define INFO_MAX_CACHES 8
#define INFO_MAX_GPUS 64
#define INFO_MAX_TLS 128

typedef struct info_opts {
    bool json;
} info_opts_t;

typedef struct info_numa {
    unsigned os_index;
    uint64_t bytes;  /* local memory */
    char pus[128];   /* its PUs, as a list ("0-1") */
    unsigned cores;
} info_numa_t;

typedef struct info_cache {
    char name[8];    /* "L1d", "L1i", "L2", "L3" */
    uint64_t size;   /* bytes, one instance */
    unsigned line;   /* bytes */
    unsigned count;  /* instances */
} info_cache_t;

typedef struct info_gpu {
    char name[128];
    uint64_t bytes;
    char bus_id[32];
    int cc_major, cc_minor;
    int numa;        /* -1: unknown */
    char pus[128];   /* PUs near it ("" if unknown) */
} info_gpu_t;

typedef struct info_tl {
    char tl[32], dev[64];
    const char *cls; /* fastpool's name: shm, tcp, rc, ud, dc, self, gpu, other */
    bool used;       /* fastpool would use it (FP_TRANSPORT) */
} info_tl_t;

typedef struct info_host {
    char hostname[256];
    char os[192];
    /* topology */
    bool topo_ok;
    char topo_error[256];
    char hwloc_runtime[32];
    char cpu_model[128];
    unsigned packages, numa_nodes, cores, pus;
    info_numa_t numa[INFO_MAX_NUMA];
    size_t nnuma;
    info_cache_t caches[INFO_MAX_CACHES];
    size_t ncaches;
    unsigned usable_cores, usable_pus;
    char usable_list[256]; /* PUs this process may run on */
    unsigned *pin_pu;      /* usable_cores entries: the PU each core's
                              executor is pinned to (malloc'd) */
    unsigned *pin_core;    /* the core's OS index */
    char pin[16];          /* FP_PIN: core or none */
    unsigned executors;    /* a pool's default */
    char executors_from[32];
    /* GPUs */
    char cuda_driver[32];  /* "12.4", "" if none */
    char gpu_none[320];    /* why none (empty when some were found) */
    info_gpu_t gpus[INFO_MAX_GPUS];
    size_t ngpus;
    /* UCX */
    bool ucx_ok;
    char ucx_error[320];
    char ucx_lib[128];
    char ucx_version[32];
    char transport_setting[128]; /* FP_TRANSPORT */
    info_tl_t tls[INFO_MAX_TLS];
    size_t ntls;
    /* build */
    char version[32], build_type[32], compiler[64], sanitizer[16];
    char cuda[64], pmix[96], encryption[64];
    char libconfig[32], hwloc_built[32], openssl[64];
} info_host_t;

/* info_local.c: gather this host (never fails: what cannot be found says
 * why), print it, free it. */
void info_gather_local(info_host_t *h);
void info_print_text(const info_host_t *h, FILE *out);
void info_print_json(const info_host_t *h, FILE *out);
void info_host_free(info_host_t *h);

/* The default mode: exit status 0. */
int info_run_local(const info_opts_t *o);
/* info_cluster.c: every host of a cluster file, over ssh */
int info_run_cluster(const info_opts_t *o, const char *path);
/* info_server.c: the nodes a rendezvous server lists */
int info_run_server(const info_opts_t *o, const char *server,
                    const char *secret_file);

#endif
