/*
 * boot/: getting machines into a pool (internal).  SSH bootstrap with
 * nothing installed on the host (ssh.c), the bundle it ships (bundle.c).
 * Above dist/: it starts nodes and hands their addresses to
 * fp_pool_add_node; dist knows nothing of it (fp_pool_destroy runs the
 * cleanup it attached with fp__dpool_attach).
 */
#ifndef FP_BOOT_BOOT_H
#define FP_BOOT_BOOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fastpool/fastpool.h"

/* A bundle made here: <cache>/bundles/<hash>.tar. */
typedef struct fp__bndl {
    char hash[65]; /* SHA-256 of the tar's bytes, hex */
    char path[PATH_MAX];
    uint64_t size;
    size_t files;
} fp__bndl_t;

/* The bundle for `program` (an absolute path), made on first use. */
fp_status_t fp__boot_bundle(const char *program, fp__bndl_t *b,
                            fp_error_t *err);

/* SHA-256 of a file's bytes (hex, 65 bytes with the NUL) and its size. */
fp_status_t fp__boot_sha256_file(const char *path, char *hex, uint64_t *size_p);

/* This machine's cache folder for `what` ("bundles"), made (0700) if
 * missing: common/cache.h's (the one shipped task modules use), with the
 * error described for a launch. */
fp_status_t fp__boot_cache_dir(const char *what, char *out, size_t cap,
                               fp_error_t *err);

/* One host's node over SSH (ssh.c).  fp__boot_start_host is
 * fp_pool_add_host; `attach`: fp_pool_destroy ends it, else the caller
 * does (fp__boot_host_end: close the channel, reap ssh).  h_p and addr_out
 * may be NULL.  fp__boot_host_stop closes the channel only: the node
 * leaves cleanly (elastic pools letting an idle node go). */
typedef struct fp__shost fp__shost_t;
fp_status_t fp__boot_start_host(fp_pool_t *pool, const char *host,
                                const fp_host_params_t *params, bool attach,
                                fp__shost_t **h_p, char *addr_out,
                                size_t addr_cap, fp_error_t *err);
void fp__boot_host_stop(fp__shost_t *h);
void fp__boot_host_end(fp__shost_t *h);

/* cluster.c: the hooks of dist/dist.h (fp__boot_cluster_hook_*) */
#include "dist/dist.h"
fp_status_t fp__boot_plan_load(const char *path, fp__boot_plan_t **plan_p,
                               fp__boot_plan_info_t *info, fp_error_t *err);
fp_status_t fp__boot_plan_start(fp_pool_t *pool, fp__boot_plan_t *plan,
                                fp_error_t *err);
void fp__boot_plan_free(fp__boot_plan_t *plan);

/* snprintf that reports truncation (true: it all fit). */
__attribute__((format(printf, 3, 4))) bool fp__boot_fmt(char *buf, size_t cap,
                                                        const char *fmt, ...);

__attribute__((format(printf, 3, 4))) void
fp__boot_err(fp_error_t *err, fp_status_t st, const char *fmt, ...);

#endif
