/* Machine topology through hwloc (internal): which cores this process may
 * use, and pinning a thread to one of them. */
#ifndef FP_CORE_TOPO_H
#define FP_CORE_TOPO_H

#include "fastpool/fastpool.h"
#include "common/log.h"

typedef struct fp__topo fp__topo_t;

fp_status_t fp__topo_create(const fp__logger_t *lg, fp__topo_t **topo_p);
void fp__topo_destroy(fp__topo_t *topo);

/* Cores in this process's CPU set (at least 1). */
unsigned fp__topo_ncores(const fp__topo_t *topo);

/* Bind the calling thread to one processing unit of core `core % ncores`. */
fp_status_t fp__topo_pin_self(fp__topo_t *topo, unsigned core);

#endif
