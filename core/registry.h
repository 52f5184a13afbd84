/* The process-wide registry of tasks and worker classes (internal). */
#ifndef FP_CORE_REGISTRY_H
#define FP_CORE_REGISTRY_H

#include "fastpool/fastpool.h"

/* The registered class named `name`, copied into `*wc_p` (its name points at
 * registry-owned memory that lives as long as the process). */
fp_status_t fp__worker_class_lookup(const char *name, fp_worker_class_t *wc_p);

#endif
