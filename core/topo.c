#include "topo.h"

#include <hwloc.h>
#include <pthread.h>
#include <stdlib.h>

struct fp__topo {
    hwloc_topology_t topology;
    unsigned ncores;
    hwloc_bitmap_t *core_pu; /* one PU of each usable core */
    pthread_mutex_t lock;    /* hwloc calls on one topology are serialised */
    const fp__logger_t *lg;
};

fp_status_t fp__topo_create(const fp__logger_t *lg, fp__topo_t **topo_p)
{
    fp__topo_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return FP_ERR_NOMEM;
    t->lg = lg;
    if (hwloc_topology_init(&t->topology) != 0)
        goto err_free;
    if (hwloc_topology_load(t->topology) != 0) {
        fp__error(lg, "hwloc cannot load the machine topology");
        goto err_topo;
    }

    /* Cores that intersect the CPU set we are allowed to run on. */
    hwloc_const_cpuset_t allowed =
        hwloc_topology_get_allowed_cpuset(t->topology);
    hwloc_bitmap_t mine = hwloc_bitmap_alloc();
    if (mine == NULL)
        goto err_topo;
    if (hwloc_get_cpubind(t->topology, mine, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(mine, allowed);
    hwloc_bitmap_and(mine, mine, allowed);

    int ncores = hwloc_get_nbobjs_by_type(t->topology, HWLOC_OBJ_CORE);
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    if (ncores <= 0) { /* some VMs expose no cores: fall back to PUs */
        type = HWLOC_OBJ_PU;
        ncores = hwloc_get_nbobjs_by_type(t->topology, HWLOC_OBJ_PU);
    }
    t->core_pu = calloc(ncores > 0 ? (size_t)ncores : 1, sizeof(*t->core_pu));
    if (t->core_pu == NULL) {
        hwloc_bitmap_free(mine);
        goto err_topo;
    }
    for (int i = 0; i < ncores; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(t->topology, type, i);
        if (obj == NULL || !hwloc_bitmap_intersects(obj->cpuset, mine))
            continue;
        hwloc_bitmap_t set = hwloc_bitmap_dup(obj->cpuset);
        if (set == NULL)
            break;
        hwloc_bitmap_and(set, set, mine);
        hwloc_bitmap_singlify(set);
        t->core_pu[t->ncores++] = set;
    }
    hwloc_bitmap_free(mine);
    if (t->ncores == 0) {
        fp__warn(lg, "hwloc found no usable core; pinning disabled");
    }
    pthread_mutex_init(&t->lock, NULL);
    *topo_p = t;
    return FP_OK;

err_topo:
    hwloc_topology_destroy(t->topology);
err_free:
    free(t);
    return FP_ERR_SYSTEM;
}

void fp__topo_destroy(fp__topo_t *t)
{
    if (t == NULL)
        return;
    for (unsigned i = 0; i < t->ncores; i++)
        hwloc_bitmap_free(t->core_pu[i]);
    free(t->core_pu);
    hwloc_topology_destroy(t->topology);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

unsigned fp__topo_ncores(const fp__topo_t *t)
{
    return t->ncores > 0 ? t->ncores : 1;
}

fp_status_t fp__topo_pin_self(fp__topo_t *t, unsigned core)
{
    if (t->ncores == 0)
        return FP_ERR_UNSUPPORTED;
    pthread_mutex_lock(&t->lock);
    int rc = hwloc_set_cpubind(t->topology, t->core_pu[core % t->ncores],
                               HWLOC_CPUBIND_THREAD);
    pthread_mutex_unlock(&t->lock);
    if (rc != 0) {
        fp__warn(t->lg, "cannot pin executor to core %u", core % t->ncores);
        return FP_ERR_SYSTEM;
    }
    return FP_OK;
}
