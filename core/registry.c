/*
 * Registry of named tasks and worker classes.
 *
 * Filled mostly by load-time constructors (FP_TASK_REGISTER), before main()
 * or inside dlopen(); looked up once per pool call, never per element.  A
 * small open hash table under a read-write lock is plenty.  Entries are never
 * removed: a module that registered tasks is never unloaded by the library.
 */
#include "registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef struct reg_entry {
    struct reg_entry *next;
    char name[FP_NAME_MAX];
    fp_task_fn_t fn;           /* tasks */
    fp_worker_class_t wc;      /* worker classes (wc.name points at name) */
} reg_entry_t;

#define REG_BUCKETS 256

typedef struct reg_table {
    reg_entry_t *bucket[REG_BUCKETS];
} reg_table_t;

static reg_table_t reg_tasks, reg_classes;
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned reg_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % REG_BUCKETS;
}

static reg_entry_t *reg_find(reg_table_t *t, const char *name)
{
    for (reg_entry_t *e = t->bucket[reg_hash(name)]; e != NULL; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static fp_status_t reg_check_name(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return FP_ERR_INVALID;
    if (strlen(name) >= FP_NAME_MAX)
        return FP_ERR_INVALID;
    return FP_OK;
}

fp_status_t fp_task_register(const char *name, fp_task_fn_t fn)
{
    fp_status_t status = reg_check_name(name);
    if (status != FP_OK || fn == NULL)
        return FP_ERR_INVALID;

    pthread_rwlock_wrlock(&reg_lock);
    reg_entry_t *e = reg_find(&reg_tasks, name);
    if (e != NULL) {
        status = e->fn == fn ? FP_OK : FP_ERR_EXISTS;
    } else if ((e = calloc(1, sizeof(*e))) == NULL) {
        status = FP_ERR_NOMEM;
    } else {
        strcpy(e->name, name);
        e->fn = fn;
        unsigned b = reg_hash(name);
        e->next = reg_tasks.bucket[b];
        reg_tasks.bucket[b] = e;
    }
    pthread_rwlock_unlock(&reg_lock);
    return status;
}

/* A name no task or class can have (empty, or FP_NAME_MAX bytes or more):
 * looking it up finds nothing, as the header says of a name whose
 * registration failed. */
static bool reg_name_unregistrable(const char *name)
{
    return reg_check_name(name) != FP_OK;
}

fp_status_t fp_task_lookup(const char *name, fp_task_fn_t *fn_p)
{
    if (name == NULL || fn_p == NULL)
        return FP_ERR_INVALID;
    if (reg_name_unregistrable(name))
        return FP_ERR_NOT_FOUND;
    pthread_rwlock_rdlock(&reg_lock);
    reg_entry_t *e = reg_find(&reg_tasks, name);
    fp_task_fn_t fn = e != NULL ? e->fn : NULL;
    pthread_rwlock_unlock(&reg_lock);
    if (fn == NULL)
        return FP_ERR_NOT_FOUND;
    *fn_p = fn;
    return FP_OK;
}

void fp__task_register_at_load(const char *name, fp_task_fn_t fn,
                               const char *file, int line)
{
    fp_status_t status = fp_task_register(name, fn);
    if (status != FP_OK)
        fp__error(NULL, "%s:%d: cannot register task '%s': %s", file, line,
                  name != NULL ? name : "(null)", fp_status_string(status));
}

fp_status_t fp_worker_class_register(const fp_worker_class_t *wc)
{
    if (wc == NULL || reg_check_name(wc->name) != FP_OK)
        return FP_ERR_INVALID;

    fp_status_t status = FP_OK;
    pthread_rwlock_wrlock(&reg_lock);
    reg_entry_t *e = reg_find(&reg_classes, wc->name);
    if (e != NULL) {
        int same = e->wc.state_size == wc->state_size &&
                   e->wc.init == wc->init && e->wc.update == wc->update &&
                   e->wc.fini == wc->fini && e->wc.message == wc->message;
        status = same ? FP_OK : FP_ERR_EXISTS;
    } else if ((e = calloc(1, sizeof(*e))) == NULL) {
        status = FP_ERR_NOMEM;
    } else {
        strcpy(e->name, wc->name);
        e->wc = *wc;
        e->wc.name = e->name;
        unsigned b = reg_hash(e->name);
        e->next = reg_classes.bucket[b];
        reg_classes.bucket[b] = e;
    }
    pthread_rwlock_unlock(&reg_lock);
    return status;
}

void fp__worker_class_register_at_load(const fp_worker_class_t *wc,
                                       const char *file, int line)
{
    fp_status_t status = fp_worker_class_register(wc);
    if (status != FP_OK)
        fp__error(NULL, "%s:%d: cannot register worker class '%s': %s", file,
                  line, wc != NULL && wc->name != NULL ? wc->name : "(null)",
                  fp_status_string(status));
}

fp_status_t fp__worker_class_lookup(const char *name, fp_worker_class_t *wc_p)
{
    if (name == NULL)
        return FP_ERR_INVALID;
    if (reg_name_unregistrable(name))
        return FP_ERR_NOT_FOUND;
    pthread_rwlock_rdlock(&reg_lock);
    reg_entry_t *e = reg_find(&reg_classes, name);
    if (e != NULL)
        *wc_p = e->wc;
    pthread_rwlock_unlock(&reg_lock);
    return e != NULL ? FP_OK : FP_ERR_NOT_FOUND;
}
