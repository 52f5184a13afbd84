/*
 * fastpool-info's local mode: gather this host, print it (info.h).
 *
 * hwloc is linked (libfastpool needs it anyway); CUDA and UCX are loaded
 * with dlopen when asked for, as the library does, so that the program
 * runs, and says what is missing, on a host without them.
 */
#define _GNU_SOURCE
#include "info.h"

#include <dlfcn.h>
#include <hwloc.h>
#include <libconfig.h>
#include <openssl/opensslv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <uct/api/uct.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <fastpool/fastpool.h>

#ifndef FP_INFO_BUILD_TYPE
#define FP_INFO_BUILD_TYPE "unknown"
#endif
#ifndef FP_INFO_COMPILER
#define FP_INFO_COMPILER "unknown"
#endif
#ifndef FP_INFO_HWLOC
#define FP_INFO_HWLOC ""
#endif
#ifndef FP_INFO_SANITIZER
#define FP_INFO_SANITIZER ""
#endif

static void put(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ---- topology ----------------------------------------------------------- */

static void cache_name(hwloc_obj_t o, char *buf, size_t cap)
{
    unsigned depth = o->attr->cache.depth;
    const char *suffix = o->attr->cache.type == HWLOC_OBJ_CACHE_DATA ? "d"
                         : o->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION
                             ? "i"
                             : "";
    put(buf, cap, "L%u%s", depth, suffix);
}

static int cache_cmp(const void *a, const void *b)
{
    /* "L1d" < "L1i" < "L2" < "L3": by level, data before instructions */
    return strcmp(((const info_cache_t *)a)->name,
                  ((const info_cache_t *)b)->name);
}

static void gather_topology(info_host_t *h, hwloc_topology_t topo)
{
    h->packages = (unsigned)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    h->numa_nodes = (unsigned)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    h->cores = (unsigned)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    h->pus = (unsigned)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model =
        pkg != NULL ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
    put(h->cpu_model, sizeof(h->cpu_model), "%s", model != NULL ? model : "");

    for (unsigned i = 0; i < h->numa_nodes && h->nnuma < INFO_MAX_NUMA; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
        info_numa_t *n = &h->numa[h->nnuma++];
        n->os_index = o->os_index;
        n->bytes = o->attr->numanode.local_memory;
        hwloc_bitmap_list_snprintf(n->pus, sizeof(n->pus), o->cpuset);
        n->cores = (unsigned)hwloc_get_nbobjs_inside_cpuset_by_type(
            topo, o->cpuset, HWLOC_OBJ_CORE);
    }

    /* caches: one line per kind, with the number of instances */
    for (int t = HWLOC_OBJ_L1CACHE; t <= HWLOC_OBJ_L3ICACHE; t++) {
        int k = hwloc_get_nbobjs_by_type(topo, (hwloc_obj_type_t)t);
        if (k <= 0 || h->ncaches >= INFO_MAX_CACHES)
            continue;
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, (hwloc_obj_type_t)t, 0);
        info_cache_t *c = &h->caches[h->ncaches++];
        cache_name(o, c->name, sizeof(c->name));
        c->size = o->attr->cache.size;
        c->line = o->attr->cache.linesize;
        c->count = (unsigned)k;
    }

    qsort(h->caches, h->ncaches, sizeof(h->caches[0]), cache_cmp);

    /* what this process may run on, and where a pool's executors go: as
     * core/topo.c does, one PU of each core in the CPU set, executor i on
     * the i-th (modulo their number) */
    hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo);
    hwloc_bitmap_t mine = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, mine, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_copy(mine, allowed);
    hwloc_bitmap_and(mine, mine, allowed);
    h->usable_pus = (unsigned)hwloc_bitmap_weight(mine);
    hwloc_bitmap_list_snprintf(h->usable_list, sizeof(h->usable_list), mine);
    hwloc_obj_type_t type = h->cores > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    unsigned n = h->cores > 0 ? h->cores : h->pus;
    h->pin_pu = calloc(n > 0 ? n : 1, sizeof(unsigned));
    h->pin_core = calloc(n > 0 ? n : 1, sizeof(unsigned));
    for (unsigned i = 0; i < n && h->pin_pu != NULL && h->pin_core != NULL;
         i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, i);
        if (o == NULL || !hwloc_bitmap_intersects(o->cpuset, mine))
            continue;
        hwloc_bitmap_t set = hwloc_bitmap_dup(o->cpuset);
        hwloc_bitmap_and(set, set, mine);
        hwloc_bitmap_singlify(set);
        h->pin_core[h->usable_cores] = o->os_index;
        h->pin_pu[h->usable_cores++] = (unsigned)hwloc_bitmap_first(set);
        hwloc_bitmap_free(set);
    }
    hwloc_bitmap_free(mine);

    const char *pin = getenv("FP_PIN");
    put(h->pin, sizeof(h->pin), "%s",
        pin != NULL && strcmp(pin, "none") == 0 ? "none" : "core");
    const char *ex = getenv("FP_EXECUTORS");
    char *end = NULL;
    long v = ex != NULL ? strtol(ex, &end, 10) : 0;
    if (ex != NULL && end != ex && *end == '\0' && v >= 1 && v <= 4096) {
        h->executors = (unsigned)v;
        put(h->executors_from, sizeof(h->executors_from), "FP_EXECUTORS");
    } else {
        h->executors = h->usable_cores > 0 ? h->usable_cores : 1;
        put(h->executors_from, sizeof(h->executors_from), "one per core");
    }
}

/* ---- GPUs: the CUDA driver, loaded on demand ---------------------------- */

typedef int cu_result_t;
typedef int cu_device_t;
#define CU_ATTR_CC_MAJOR 75 /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
#define CU_ATTR_CC_MINOR 76

typedef struct cuda_api {
    cu_result_t (*init)(unsigned);
    cu_result_t (*driver_version)(int *);
    cu_result_t (*count)(int *);
    cu_result_t (*get)(cu_device_t *, int);
    cu_result_t (*name)(char *, int, cu_device_t);
    cu_result_t (*total_mem)(size_t *, cu_device_t);
    cu_result_t (*bus_id)(char *, int, cu_device_t);
    cu_result_t (*attr)(int *, int, cu_device_t);
    cu_result_t (*error_name)(cu_result_t, const char **);
} cuda_api_t;

static const char *cu_err(const cuda_api_t *cu, cu_result_t r, char *buf,
                          size_t cap)
{
    const char *s = NULL;
    if (cu->error_name != NULL && cu->error_name(r, &s) == 0 && s != NULL)
        return s;
    put(buf, cap, "CUDA error %d", r);
    return buf;
}

/* A topology with PCI devices, to place GPUs (NULL if it cannot be had).
 * Only made when there are GPUs: PCI discovery costs time, and hwloc's
 * I/O plugins keep memory they never free. */
static hwloc_topology_t io_topology(void)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return NULL;
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return NULL;
    }
    return topo;
}

static void gather_gpus(info_host_t *h)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        put(h->gpu_none, sizeof(h->gpu_none), "no CUDA driver: %s", dlerror());
        return;
    }
    cuda_api_t cu;
    memset(&cu, 0, sizeof(cu));
    struct {
        void **slot;
        const char *sym;
    } syms[] = {{(void **)&cu.init, "cuInit"},
                {(void **)&cu.driver_version, "cuDriverGetVersion"},
                {(void **)&cu.count, "cuDeviceGetCount"},
                {(void **)&cu.get, "cuDeviceGet"},
                {(void **)&cu.name, "cuDeviceGetName"},
                {(void **)&cu.total_mem, "cuDeviceTotalMem_v2"},
                {(void **)&cu.bus_id, "cuDeviceGetPCIBusId"},
                {(void **)&cu.attr, "cuDeviceGetAttribute"},
                {(void **)&cu.error_name, "cuGetErrorName"}};
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlsym(lib, syms[i].sym);
        if (*syms[i].slot == NULL && syms[i].slot != (void **)&cu.error_name) {
            put(h->gpu_none, sizeof(h->gpu_none),
                "the CUDA driver libcuda.so.1 has no %s", syms[i].sym);
            return; /* the library stays loaded: harmless */
        }
    }
    char eb[48];
    int ver = 0;
    if (cu.driver_version(&ver) == 0)
        put(h->cuda_driver, sizeof(h->cuda_driver), "%d.%d", ver / 1000,
            ver % 1000 / 10);
    cu_result_t r = cu.init(0);
    if (r != 0) {
        put(h->gpu_none, sizeof(h->gpu_none), "CUDA driver %s: cuInit: %s",
            h->cuda_driver, cu_err(&cu, r, eb, sizeof(eb)));
        return;
    }
    int count = 0;
    r = cu.count(&count);
    if (r != 0 || count == 0) {
        put(h->gpu_none, sizeof(h->gpu_none), "CUDA driver %s: %s",
            h->cuda_driver,
            r != 0 ? cu_err(&cu, r, eb, sizeof(eb)) : "no device");
        return;
    }
    hwloc_topology_t topo = io_topology();
    for (int i = 0; i < count && h->ngpus < INFO_MAX_GPUS; i++) {
        cu_device_t d;
        if (cu.get(&d, i) != 0)
            continue;
        info_gpu_t *g = &h->gpus[h->ngpus++];
        g->numa = -1;
        if (cu.name(g->name, (int)sizeof(g->name), d) != 0)
            put(g->name, sizeof(g->name), "?");
        size_t mem = 0;
        if (cu.total_mem(&mem, d) == 0)
            g->bytes = mem;
        if (cu.bus_id(g->bus_id, (int)sizeof(g->bus_id), d) != 0)
            g->bus_id[0] = '\0';
        cu.attr(&g->cc_major, CU_ATTR_CC_MAJOR, d);
        cu.attr(&g->cc_minor, CU_ATTR_CC_MINOR, d);
        /* where it sits: hwloc's PCI device, its first non-I/O ancestor */
        hwloc_obj_t pci = topo != NULL && g->bus_id[0] != '\0'
                              ? hwloc_get_pcidev_by_busidstring(topo, g->bus_id)
                              : NULL;
        hwloc_obj_t anc =
            pci != NULL ? hwloc_get_non_io_ancestor_obj(topo, pci) : NULL;
        if (anc != NULL && anc->cpuset != NULL) {
            hwloc_bitmap_list_snprintf(g->pus, sizeof(g->pus), anc->cpuset);
            if (anc->nodeset != NULL && hwloc_bitmap_weight(anc->nodeset) == 1)
                g->numa = hwloc_bitmap_first(anc->nodeset);
        }
    }
    if (topo != NULL)
        hwloc_topology_destroy(topo);
}

/* ---- UCX: loaded on demand, as the transport does ----------------------- */

static const char *tl_class(const char *tl)
{
    static const struct {
        const char *prefix, *cls;
    } map[] = {{"posix", "shm"},    {"sysv", "shm"},   {"xpmem", "shm"},
               {"cma", "shm"},      {"knem", "shm"},   {"tcp", "tcp"},
               {"rc", "rc"},        {"ud", "ud"},      {"dc", "dc"},
               {"self", "self"},    {"cuda", "gpu"},   {"gdr", "gpu"},
               {"rocm", "gpu"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(tl, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].cls;
    return "other";
}

/* Whether FP_TRANSPORT (auto, or a list of shm, tcp, rc, ud, dc) lets
 * fastpool use class `cls`; tcp always (the connection manager needs it). */
static bool tl_allowed(const char *setting, const char *cls)
{
    if (strcmp(cls, "self") == 0 || strcmp(cls, "gpu") == 0 ||
        strcmp(cls, "other") == 0)
        return false;
    if (setting[0] == '\0' || strcmp(setting, "auto") == 0 ||
        strcmp(cls, "tcp") == 0)
        return true;
    char buf[128];
    put(buf, sizeof(buf), "%s", setting);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save))
        if (strcmp(t, cls) == 0)
            return true;
    return false;
}

typedef struct uct_api {
    __typeof__(uct_query_components) *query_components;
    __typeof__(uct_release_component_list) *release_components;
    __typeof__(uct_component_query) *component_query;
    __typeof__(uct_md_config_read) *md_config_read;
    __typeof__(uct_config_release) *config_release;
    __typeof__(uct_md_open) *md_open;
    __typeof__(uct_md_close) *md_close;
    __typeof__(uct_md_query_tl_resources) *query_tls;
    __typeof__(uct_release_tl_resource_list) *release_tls;
} uct_api_t;

static void gather_ucx(info_host_t *h)
{
    const char *ucp_name = getenv("FP_UCX_LIB");
    if (ucp_name == NULL || ucp_name[0] == '\0')
        ucp_name = "libucp.so.0";
    put(h->ucx_lib, sizeof(h->ucx_lib), "%s", ucp_name);
    const char *tr = getenv("FP_TRANSPORT");
    put(h->transport_setting, sizeof(h->transport_setting), "%s",
        tr != NULL && tr[0] != '\0' ? tr : "auto");

    void *ucp = dlopen(ucp_name, RTLD_NOW | RTLD_LOCAL);
    if (ucp == NULL) {
        put(h->ucx_error, sizeof(h->ucx_error), "cannot load UCX (%s): %s",
            ucp_name, dlerror());
        return;
    }
    __typeof__(ucp_get_version_string) *version =
        (__typeof__(ucp_get_version_string) *)dlsym(ucp,
                                                    "ucp_get_version_string");
    put(h->ucx_version, sizeof(h->ucx_version), "%s",
        version != NULL ? version() : "?");
    /* libuct comes with libucp (its dependency): the transports below it */
    void *uct = dlopen("libuct.so.0", RTLD_NOW | RTLD_LOCAL);
    if (uct == NULL) {
        put(h->ucx_error, sizeof(h->ucx_error), "cannot load libuct.so.0: %s",
            dlerror());
        return;
    }
    uct_api_t u;
    void **slots[] = {(void **)&u.query_components, (void **)&u.release_components,
                      (void **)&u.component_query,  (void **)&u.md_config_read,
                      (void **)&u.config_release,   (void **)&u.md_open,
                      (void **)&u.md_close,         (void **)&u.query_tls,
                      (void **)&u.release_tls};
    const char *names[] = {"uct_query_components", "uct_release_component_list",
                           "uct_component_query",  "uct_md_config_read",
                           "uct_config_release",   "uct_md_open",
                           "uct_md_close",         "uct_md_query_tl_resources",
                           "uct_release_tl_resource_list"};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        *slots[i] = dlsym(uct, names[i]);
        if (*slots[i] == NULL) {
            put(h->ucx_error, sizeof(h->ucx_error), "libuct.so.0 has no %s",
                names[i]);
            return;
        }
    }
    uct_component_h *comps = NULL;
    unsigned ncomps = 0;
    if (u.query_components(&comps, &ncomps) != UCS_OK) {
        put(h->ucx_error, sizeof(h->ucx_error), "uct_query_components failed");
        return;
    }
    for (unsigned c = 0; c < ncomps; c++) {
        uct_component_attr_t ca = {
            .field_mask = UCT_COMPONENT_ATTR_FIELD_NAME |
                          UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT};
        if (u.component_query(comps[c], &ca) != UCS_OK ||
            ca.md_resource_count == 0)
            continue;
        uct_md_resource_desc_t *mds =
            calloc(ca.md_resource_count, sizeof(*mds));
        if (mds == NULL)
            continue;
        ca.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
        ca.md_resources = mds;
        if (u.component_query(comps[c], &ca) != UCS_OK) {
            free(mds);
            continue;
        }
        for (unsigned m = 0; m < ca.md_resource_count; m++) {
            uct_md_config_t *cfg = NULL;
            uct_md_h md = NULL;
            if (u.md_config_read(comps[c], NULL, NULL, &cfg) != UCS_OK)
                continue;
            ucs_status_t st = u.md_open(comps[c], mds[m].md_name, cfg, &md);
            u.config_release(cfg);
            if (st != UCS_OK)
                continue;
            uct_tl_resource_desc_t *tls = NULL;
            unsigned ntls = 0;
            if (u.query_tls(md, &tls, &ntls) == UCS_OK) {
                for (unsigned k = 0; k < ntls && h->ntls < INFO_MAX_TLS; k++) {
                    info_tl_t *t = &h->tls[h->ntls++];
                    put(t->tl, sizeof(t->tl), "%s", tls[k].tl_name);
                    put(t->dev, sizeof(t->dev), "%s", tls[k].dev_name);
                    t->cls = tl_class(t->tl);
                    t->used = tl_allowed(h->transport_setting, t->cls);
                }
                u.release_tls(tls);
            }
            u.md_close(md);
        }
        free(mds);
    }
    u.release_components(comps);
    h->ucx_ok = true;
}

/* ---- the build ---------------------------------------------------------- */

static void gather_build(info_host_t *h)
{
    put(h->version, sizeof(h->version), "%s", fp_version_string());
    put(h->build_type, sizeof(h->build_type), "%s", FP_INFO_BUILD_TYPE);
    put(h->compiler, sizeof(h->compiler), "%s", FP_INFO_COMPILER);
    put(h->sanitizer, sizeof(h->sanitizer), "%s",
        FP_INFO_SANITIZER[0] != '\0' ? FP_INFO_SANITIZER : "none");
    /* not in this build yet: the GPU executors set theirs when they land */
    put(h->cuda, sizeof(h->cuda), "no");
#ifdef FP_INFO_PMIX
    /* boot/pmix.c built with the PMIx headers; libpmix.so.2 is loaded
     * when a rank runs under a launcher */
    put(h->pmix, sizeof(h->pmix), "yes (PMIx %s; libpmix.so.2 loaded on demand)",
        FP_INFO_PMIX);
#else
    put(h->pmix, sizeof(h->pmix), "no (built without PMIx headers)");
#endif
    /* transport/crypt.c is always built (OpenSSL is required) */
    put(h->encryption, sizeof(h->encryption),
        "yes (AES-256-GCM, opt-in: FP_ENCRYPT=1)");
    put(h->libconfig, sizeof(h->libconfig), "%d.%d.%d", LIBCONFIG_VER_MAJOR,
        LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    put(h->hwloc_built, sizeof(h->hwloc_built), "%s (API %u.%u.%u)",
        FP_INFO_HWLOC, HWLOC_API_VERSION >> 16,
        (HWLOC_API_VERSION >> 8) & 0xff, HWLOC_API_VERSION & 0xff);
    put(h->openssl, sizeof(h->openssl), "%s", OPENSSL_VERSION_TEXT);
}

void info_gather_local(info_host_t *h)
{
    memset(h, 0, sizeof(*h));
    if (gethostname(h->hostname, sizeof(h->hostname) - 1) != 0)
        put(h->hostname, sizeof(h->hostname), "?");
    struct utsname un;
    if (uname(&un) == 0)
        put(h->os, sizeof(h->os), "%s %s %s", un.sysname, un.release,
            un.machine);
    unsigned api = hwloc_get_api_version();
    put(h->hwloc_runtime, sizeof(h->hwloc_runtime), "%u.%u.%u", api >> 16,
        (api >> 8) & 0xff, api & 0xff);

    hwloc_topology_t topo = NULL;
    if (hwloc_topology_init(&topo) == 0) {
        hwloc_topology_set_icache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
        if (hwloc_topology_load(topo) == 0) {
            h->topo_ok = true;
            gather_topology(h, topo);
        } else {
            put(h->topo_error, sizeof(h->topo_error),
                "hwloc cannot load the topology");
        }
    } else {
        put(h->topo_error, sizeof(h->topo_error), "hwloc_topology_init failed");
    }
    if (topo != NULL)
        hwloc_topology_destroy(topo);
    gather_gpus(h);
    gather_ucx(h);
    gather_build(h);
}

void info_host_free(info_host_t *h)
{
    free(h->pin_pu);
    free(h->pin_core);
    h->pin_pu = h->pin_core = NULL;
}

/* ---- printing ----------------------------------------------------------- */

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    put(buf, cap, "%.3g %s", v, unit[u]);
}

/* The distinct values of a field over the TLs of class `cls` in use. */
static void tl_list(const info_host_t *h, const char *cls, bool devs,
                    char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < h->ntls; i++) {
        const info_tl_t *t = &h->tls[i];
        if (!t->used || strcmp(t->cls, cls) != 0)
            continue;
        const char *v = devs ? t->dev : t->tl;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = h->tls[j].used && strcmp(h->tls[j].cls, cls) == 0 &&
                   strcmp(devs ? h->tls[j].dev : h->tls[j].tl, v) == 0;
        if (seen)
            continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len > 0 ? ", " : "", v);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}

static bool has_class(const info_host_t *h, const char *cls)
{
    for (size_t i = 0; i < h->ntls; i++)
        if (h->tls[i].used && strcmp(h->tls[i].cls, cls) == 0)
            return true;
    return false;
}

void info_print_text(const info_host_t *h, FILE *o)
{
    char b1[64], b2[256];
    fprintf(o, "fastpool %s on %s (%s)\n\n", h->version, h->hostname, h->os);

    fprintf(o, "Topology (hwloc API %s)\n", h->hwloc_runtime);
    if (!h->topo_ok) {
        fprintf(o, "  unknown: %s\n", h->topo_error);
    } else {
        if (h->cpu_model[0] != '\0')
            fprintf(o, "  CPU:        %s\n", h->cpu_model);
        fprintf(o, "  packages:   %u\n", h->packages);
        fprintf(o, "  NUMA nodes: %u\n", h->numa_nodes);
        for (size_t i = 0; i < h->nnuma; i++) {
            human_bytes(h->numa[i].bytes, b1, sizeof(b1));
            fprintf(o, "    node %u: %s, %u cores, PUs %s\n",
                    h->numa[i].os_index, b1, h->numa[i].cores, h->numa[i].pus);
        }
        fprintf(o, "  cores:      %u\n", h->cores);
        fprintf(o, "  PUs:        %u\n", h->pus);
        for (size_t i = 0; i < h->ncaches; i++) {
            human_bytes(h->caches[i].size, b1, sizeof(b1));
            fprintf(o, "  %-4s cache: %s x %u (%u-byte lines)\n",
                    h->caches[i].name, b1, h->caches[i].count,
                    h->caches[i].line);
        }
        fprintf(o, "  usable here: %u cores, %u PUs (%s)\n", h->usable_cores,
                h->usable_pus, h->usable_list);
        fprintf(o, "  a pool: %u executors (%s), pinned %s", h->executors,
                h->executors_from,
                strcmp(h->pin, "none") == 0 ? "nowhere (FP_PIN=none)\n"
                                            : "one per core:\n");
        if (strcmp(h->pin, "none") != 0) {
            unsigned shown = h->executors < 16 ? h->executors : 16;
            for (unsigned e = 0; e < shown && h->usable_cores > 0; e++) {
                unsigned c = e % h->usable_cores;
                fprintf(o, "    executor %u -> core %u (PU %u)\n", e,
                        h->pin_core[c], h->pin_pu[c]);
            }
            if (shown < h->executors)
                fprintf(o, "    ... (executor i on core i mod %u)\n",
                        h->usable_cores);
        }
    }

    fprintf(o, "\nGPUs\n");
    if (h->ngpus == 0) {
        fprintf(o, "  none (%s)\n", h->gpu_none);
    } else {
        fprintf(o, "  CUDA driver %s\n", h->cuda_driver);
        for (size_t i = 0; i < h->ngpus; i++) {
            const info_gpu_t *g = &h->gpus[i];
            human_bytes(g->bytes, b1, sizeof(b1));
            fprintf(o, "  GPU %zu: %s, %s, compute %d.%d, PCI %s", i, g->name,
                    b1, g->cc_major, g->cc_minor, g->bus_id);
            if (g->numa >= 0)
                fprintf(o, ", NUMA node %d", g->numa);
            if (g->pus[0] != '\0')
                fprintf(o, ", near PUs %s", g->pus);
            fprintf(o, "\n");
        }
    }

    if (h->ucx_ok)
        fprintf(o, "\nUCX %s (%s)\n", h->ucx_version, h->ucx_lib);
    else
        fprintf(o, "\nUCX (%s)\n", h->ucx_lib);
    if (!h->ucx_ok) {
        fprintf(o, "  unavailable: %s\n", h->ucx_error);
    } else {
        fprintf(o, "  transports and devices usable here:\n");
        for (size_t i = 0; i < h->ntls; i++)
            fprintf(o, "    %-8s %-12s %s%s\n", h->tls[i].tl, h->tls[i].dev,
                    h->tls[i].cls, h->tls[i].used ? "" : " (not used)");
        fprintf(o, "  fastpool uses (FP_TRANSPORT=%s):\n", h->transport_setting);
        tl_list(h, "shm", false, b2, sizeof(b2));
        if (b2[0] != '\0')
            fprintf(o, "    same host:   shm (%s)\n", b2);
        else
            fprintf(o, "    same host:   tcp (no shared memory transport)\n");
        const char *remote = has_class(h, "rc")   ? "rc"
                             : has_class(h, "dc") ? "dc"
                             : has_class(h, "ud") ? "ud"
                                                  : "tcp";
        tl_list(h, remote, true, b2, sizeof(b2));
        fprintf(o, "    other hosts: %s (%s)%s\n", remote, b2,
                strcmp(remote, "tcp") != 0 ? "; tcp to connect" : "");
    }

    fprintf(o, "\nBuild\n");
    fprintf(o, "  version:     %s\n", h->version);
    fprintf(o, "  build type:  %s\n", h->build_type);
    fprintf(o, "  compiler:    %s\n", h->compiler);
    fprintf(o, "  sanitizer:   %s\n", h->sanitizer);
    fprintf(o, "  CUDA:        %s\n", h->cuda);
    fprintf(o, "  PMIx:        %s\n", h->pmix);
    fprintf(o, "  encryption:  %s\n", h->encryption);
    fprintf(o, "  libconfig:   %s\n", h->libconfig);
    fprintf(o, "  hwloc:       %s; runtime API %s\n", h->hwloc_built,
            h->hwloc_runtime);
    fprintf(o, "  OpenSSL:     %s\n", h->openssl);
}

/* ---- JSON --------------------------------------------------------------- */

static void jstr(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static void jkv(FILE *o, const char *k, const char *v, bool comma)
{
    jstr(o, k);
    fputc(':', o);
    jstr(o, v);
    if (comma)
        fputc(',', o);
}

void info_print_json(const info_host_t *h, FILE *o)
{
    fputc('{', o);
    jkv(o, "hostname", h->hostname, true);
    jkv(o, "os", h->os, true);
    fprintf(o, "\"topology\":{");
    jkv(o, "hwloc", h->hwloc_runtime, true);
    if (!h->topo_ok) {
        jkv(o, "error", h->topo_error, false);
    } else {
        jkv(o, "cpu_model", h->cpu_model, true);
        fprintf(o, "\"packages\":%u,\"cores\":%u,\"pus\":%u,\"numa\":[",
                h->packages, h->cores, h->pus);
        for (size_t i = 0; i < h->nnuma; i++) {
            fprintf(o, "%s{\"os_index\":%u,\"bytes\":%llu,\"cores\":%u,",
                    i > 0 ? "," : "", h->numa[i].os_index,
                    (unsigned long long)h->numa[i].bytes, h->numa[i].cores);
            jkv(o, "pus", h->numa[i].pus, false);
            fputc('}', o);
        }
        fprintf(o, "],\"caches\":[");
        for (size_t i = 0; i < h->ncaches; i++) {
            fprintf(o, "%s{", i > 0 ? "," : "");
            jkv(o, "name", h->caches[i].name, true);
            fprintf(o, "\"bytes\":%llu,\"line\":%u,\"count\":%u}",
                    (unsigned long long)h->caches[i].size, h->caches[i].line,
                    h->caches[i].count);
        }
        fprintf(o, "],\"usable_cores\":%u,\"usable_pus\":%u,", h->usable_cores,
                h->usable_pus);
        jkv(o, "usable_list", h->usable_list, true);
        jkv(o, "pin", h->pin, true);
        fprintf(o, "\"executors\":%u,\"pin_pus\":[", h->executors);
        for (unsigned i = 0; i < h->usable_cores; i++)
            fprintf(o, "%s%u", i > 0 ? "," : "", h->pin_pu[i]);
        fprintf(o, "]");
    }
    fprintf(o, "},\"gpus\":{");
    jkv(o, "cuda_driver", h->cuda_driver, true);
    jkv(o, "none", h->gpu_none, true);
    fprintf(o, "\"devices\":[");
    for (size_t i = 0; i < h->ngpus; i++) {
        const info_gpu_t *g = &h->gpus[i];
        fprintf(o, "%s{", i > 0 ? "," : "");
        jkv(o, "name", g->name, true);
        jkv(o, "pci", g->bus_id, true);
        jkv(o, "pus", g->pus, true);
        fprintf(o, "\"bytes\":%llu,\"cc\":\"%d.%d\",\"numa\":%d}",
                (unsigned long long)g->bytes, g->cc_major, g->cc_minor,
                g->numa);
    }
    fprintf(o, "]},\"ucx\":{");
    jkv(o, "lib", h->ucx_lib, true);
    jkv(o, "transport_setting", h->transport_setting, true);
    if (!h->ucx_ok) {
        jkv(o, "error", h->ucx_error, false);
    } else {
        jkv(o, "version", h->ucx_version, true);
        fprintf(o, "\"transports\":[");
        for (size_t i = 0; i < h->ntls; i++) {
            fprintf(o, "%s{", i > 0 ? "," : "");
            jkv(o, "tl", h->tls[i].tl, true);
            jkv(o, "device", h->tls[i].dev, true);
            jkv(o, "class", h->tls[i].cls, true);
            fprintf(o, "\"used\":%s}", h->tls[i].used ? "true" : "false");
        }
        fprintf(o, "]");
    }
    fprintf(o, "},\"build\":{");
    jkv(o, "version", h->version, true);
    jkv(o, "build_type", h->build_type, true);
    jkv(o, "compiler", h->compiler, true);
    jkv(o, "sanitizer", h->sanitizer, true);
    jkv(o, "cuda", h->cuda, true);
    jkv(o, "pmix", h->pmix, true);
    jkv(o, "encryption", h->encryption, true);
    jkv(o, "libconfig", h->libconfig, true);
    jkv(o, "hwloc", h->hwloc_built, true);
    jkv(o, "openssl", h->openssl, false);
    fprintf(o, "}}\n");
}

int info_run_local(const info_opts_t *opts)
{
    info_host_t *h = malloc(sizeof(*h));
    if (h == NULL) {
        fprintf(stderr, "fastpool-info: out of memory\n");
        return 1;
    }
    info_gather_local(h);
    if (opts->json)
        info_print_json(h, stdout);
    else
        info_print_text(h, stdout);
    info_host_free(h);
    free(h);
    return 0;
}
