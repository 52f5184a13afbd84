/* Transport settings from a libconfig file (tpconf.c has the format). */
#ifndef FP_TRANSPORT_TPCONF_H
#define FP_TRANSPORT_TPCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "fastpool/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp__tp_config {
    char transports[256];      /* "" : not set */
    int busy_poll;             /* -1: not set */
    size_t rndv_threshold;     /* 0: not set */
    double heartbeat_interval; /* 0: not set */
    double peer_deadline;      /* 0: not set */
} fp__tp_config_t;

/* Read the `transport` group of the file at `path`.  FP_ERR_CONFIG with
 * "file:line: ..." in reason for an unreadable file, a syntax error, an
 * unknown key or a bad value. */
fp_status_t fp__tp_config_load(const char *path, fp__tp_config_t *out,
                               char *reason, size_t reason_size);

#ifdef __cplusplus
}
#endif

#endif
