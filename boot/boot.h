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
typedef struct fp__bundle {
    char hash[65]; /* SHA-256 of the tar's bytes, hex */
    char path[PATH_MAX];
    uint64_t size;
    size_t files;
} fp__bundle_t;

/* The bundle for `program` (an absolute path), made on first use. */
fp_status_t fp__boot_bundle(const char *program, fp__bundle_t *b,
                            fp_error_t *err);

/* SHA-256 of a file's bytes (hex, 65 bytes with the NUL) and its size. */
fp_status_t fp__boot_sha256_file(const char *path, char *hex, uint64_t *size_p);

/* This machine's cache folder for `what` ("bundles"), made (0700) if
 * missing: $FP_CACHE_DIR, else $XDG_CACHE_HOME/fastpool, else
 * ~/.cache/fastpool. */
fp_status_t fp__boot_cache_dir(const char *what, char *out, size_t cap,
                               fp_error_t *err);

/* snprintf that reports truncation (true: it all fit). */
__attribute__((format(printf, 3, 4))) bool fp__boot_fmt(char *buf, size_t cap,
                                                        const char *fmt, ...);

__attribute__((format(printf, 3, 4))) void
fp__boot_err(fp_error_t *err, fp_status_t st, const char *fmt, ...);

#endif
