/*
 * Registration cache (internal).
 *
 * Buffers that are sent again and again (a node's pooled receive buffers, a
 * client's argument arrays reused across calls) are registered with UCX once
 * (ucp_mem_map) and the handle is passed with every send of them
 * (UCP_OP_ATTR_FIELD_MEMH), so no send pays for registration.
 *
 * Entries are keyed by (address, length) and found by containment: a send of
 * any sub-range of a registered buffer uses its handle.  An entry in use
 * (references from fp__tp_mem_get not yet put back) is never evicted; unused
 * ones are kept for reuse and evicted least recently used first once more
 * than `max_entries` or `max_bytes` are registered.
 *
 * Ownership: the cache cannot see free()/munmap() (UCX's own cache hooks the
 * allocator for that; we do not want that cost on every allocation).  Whoever
 * frees or unmaps a buffer it registered must first call
 * fp__tp_mem_invalidate on its range.  The pool layer only registers buffers
 * it owns for their whole life.
 *
 * Progress context only (like every other transport call); a linear scan is
 * fine at the sizes used (tens to a few hundred entries).
 */
#include <stdlib.h>
#include <string.h>

#include "tp_conn.h"
#include "ucx_api.h"

struct fp__tp_mem {
    fp__tp_mem_t *prev, *next; /* LRU list: head = most recently used */
    fp__tp_t *tp;
    char *addr;
    size_t len;
    ucp_mem_h memh;
    unsigned refs;
    bool dead; /* invalidated while in use: unmap at the last put */
};

static void lru_unlink(fp__tp_t *tp, fp__tp_mem_t *m)
{
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        tp->reg_head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    else
        tp->reg_tail = m->prev;
    m->prev = m->next = NULL;
}

static void lru_push_front(fp__tp_t *tp, fp__tp_mem_t *m)
{
    m->prev = NULL;
    m->next = tp->reg_head;
    if (tp->reg_head != NULL)
        tp->reg_head->prev = m;
    tp->reg_head = m;
    if (tp->reg_tail == NULL)
        tp->reg_tail = m;
}

static void mem_destroy(fp__tp_t *tp, fp__tp_mem_t *m)
{
    fp__ucx.mem_unmap(tp->context, m->memh);
    tp->reg_entries--;
    tp->reg_bytes -= m->len;
    free(m);
}

static void evict(fp__tp_t *tp)
{
    fp__tp_mem_t *m = tp->reg_tail;
    while (m != NULL &&
           (tp->reg_entries > tp->reg_max_entries ||
            tp->reg_bytes > tp->reg_max_bytes)) {
        fp__tp_mem_t *prev = m->prev;
        if (m->refs == 0) {
            lru_unlink(tp, m);
            mem_destroy(tp, m);
            tp->stats.reg_evictions++;
        }
        m = prev;
    }
}

fp_status_t fp__tp_mem_get(fp__tp_t *tp, void *addr, size_t len,
                           fp__tp_mem_t **mem_p)
{
    if (addr == NULL || len == 0 || mem_p == NULL)
        return FP_ERR_INVALID;
    char *a = addr;
    for (fp__tp_mem_t *m = tp->reg_head; m != NULL; m = m->next) {
        if (a >= m->addr && a + len <= m->addr + m->len) {
            lru_unlink(tp, m);
            lru_push_front(tp, m);
            m->refs++;
            tp->stats.reg_hits++;
            *mem_p = m;
            return FP_OK;
        }
    }
    fp__tp_mem_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return FP_ERR_NOMEM;
    ucp_mem_map_params_t mp;
    memset(&mp, 0, sizeof(mp));
    mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                    UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                    UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE;
    mp.address = addr;
    mp.length = len;
    mp.memory_type = UCS_MEMORY_TYPE_HOST;
    ucs_status_t s = fp__ucx.mem_map(tp->context, &mp, &m->memh);
    if (s != UCS_OK) {
        free(m);
        fp__tp_log(tp, FP_LOG_WARN, "cannot register %zu bytes at %p: %s",
                   len, addr, fp__ucx.status_string(s));
        return s == UCS_ERR_NO_MEMORY ? FP_ERR_NOMEM : FP_ERR_IO;
    }
    m->tp = tp;
    m->addr = a;
    m->len = len;
    m->refs = 1;
    lru_push_front(tp, m);
    tp->reg_entries++;
    tp->reg_bytes += len;
    tp->stats.reg_misses++;
    evict(tp);
    *mem_p = m;
    return FP_OK;
}

void fp__tp_mem_put(fp__tp_mem_t *m)
{
    if (m == NULL || m->refs == 0)
        return;
    fp__tp_t *tp = m->tp;
    if (--m->refs > 0)
        return;
    if (m->dead) {
        mem_destroy(tp, m);
        return;
    }
    evict(tp);
}

void fp__tp_mem_invalidate(fp__tp_t *tp, void *addr, size_t len)
{
    char *a = addr;
    for (fp__tp_mem_t *m = tp->reg_head, *next; m != NULL; m = next) {
        next = m->next;
        if (m->addr < a + len && a < m->addr + m->len) { /* overlaps */
            lru_unlink(tp, m);
            if (m->refs == 0)
                mem_destroy(tp, m);
            else
                m->dead = true; /* still in a send: unmap at the last put */
        }
    }
}

void fp__tp_regcache_clear(fp__tp_t *tp)
{
    while (tp->reg_head != NULL) {
        fp__tp_mem_t *m = tp->reg_head;
        lru_unlink(tp, m);
        if (m->refs != 0)
            fp__tp_log(tp, FP_LOG_WARN,
                       "registration of %zu bytes still in use at shutdown",
                       m->len);
        mem_destroy(tp, m);
    }
}

ucp_mem_h fp__tp_mem_handle(const fp__tp_mem_t *m, const void *addr,
                            size_t len)
{
    const char *a = addr;
    if (m == NULL || m->dead || a < m->addr || a + len > m->addr + m->len)
        return NULL;
    return m->memh;
}
