/*
 * The transport's key -> connection tables: endpoint -> connection for
 * handshake messages (which carry UCX's reply endpoint) and route token ->
 * connection for every message after it.  Open addressing; deleted slots
 * are reclaimed on rehash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tp_conn.h"


/* Two of these: endpoint -> connection (messages that carry UCX's reply
 * endpoint: the handshake) and route token -> connection (every message
 * after it).  Keys are non-zero; 0 marks an empty slot. */
static size_t map_hash(uint64_t x, size_t mask)
{
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 20) & mask;
}

/* Rebuild the table with room for at least 4x the live entries, dropping
 * tombstones (deleted slots): without this, connections that come and go
 * would fill every slot with tombstones and a lookup of an absent key
 * would never meet an empty slot. */
static fp_status_t map_rehash(struct fp__tp_map *m)
{
    size_t cap = 64;
    while (cap < (m->count + 1) * 4)
        cap *= 2;
    struct fp__tp_map_slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return FP_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].conn == NULL)
            continue;
        size_t j = map_hash(m->slots[i].key, cap - 1);
        while (slots[j].key != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->tombs = 0;
    return FP_OK;
}

fp_status_t fp__tp_map_put(struct fp__tp_map *m, uint64_t key,
                           fp__tp_conn_t *c)
{
    if (key == 0 || c == NULL)
        return FP_ERR_INVALID;
    /* live entries and tombstones together stay under half the slots */
    if ((m->count + m->tombs + 1) * 2 > m->cap) {
        fp_status_t st = map_rehash(m);
        if (st != FP_OK)
            return st;
    }
    size_t j = map_hash(key, m->cap - 1);
    while (m->slots[j].key != 0 && m->slots[j].conn != NULL)
        j = (j + 1) & (m->cap - 1);
    if (m->slots[j].key != 0) /* reusing a tombstone */
        m->tombs--;
    m->slots[j].key = key;
    m->slots[j].conn = c;
    m->count++;
    return FP_OK;
}

fp__tp_conn_t *fp__tp_map_get(const struct fp__tp_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    for (size_t j = map_hash(key, m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->slots[j].key == 0)
            return NULL;
        if (m->slots[j].key == key && m->slots[j].conn != NULL)
            return m->slots[j].conn;
    }
}

void fp__tp_map_del(struct fp__tp_map *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return;
    for (size_t j = map_hash(key, m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->slots[j].key == 0)
            return;
        if (m->slots[j].key == key && m->slots[j].conn != NULL) {
            m->slots[j].conn = NULL; /* tombstone: key stays as a marker */
            m->count--;
            m->tombs++;
            return;
        }
    }
}

fp_status_t fp__tp_ep_put(fp__tp_t *tp, ucp_ep_h ep, fp__tp_conn_t *c)
{
    return fp__tp_map_put(&tp->by_ep, (uint64_t)(uintptr_t)ep, c);
}

fp__tp_conn_t *fp__tp_ep_get(fp__tp_t *tp, ucp_ep_h ep)
{
    return fp__tp_map_get(&tp->by_ep, (uint64_t)(uintptr_t)ep);
}

void fp__tp_ep_del(fp__tp_t *tp, ucp_ep_h ep)
{
    fp__tp_map_del(&tp->by_ep, (uint64_t)(uintptr_t)ep);
}

