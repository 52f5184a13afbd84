/*
 * Running one task record on a core pool's executors: the same element loop
 * a local map runs (core/calls.c), with every element's failure kept (a
 * record does not know whether its call stops at the first error: the
 * client decides) and the elements after a cancel skipped.  A record runs
 * on one executor; a node's executors share its records through the
 * injection queue, and the client sends at least two per executor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static void add_fail(fp__dexec_t *x, fp__dfail_t ***tail, fp_task_t *t,
                     size_t k, fp_status_t st, const char *name)
{
    fp__dfail_t *f = malloc(sizeof(*f));
    if (f == NULL)
        return; /* the element still fails: ran counts it, status lost */
    f->next = NULL;
    f->index = k;
    f->status = st;
    if (t->has_msg)
        snprintf(f->msg, sizeof(f->msg), "%s", t->msg);
    else
        snprintf(f->msg, sizeof(f->msg), "task '%s' failed: %s", name,
                 fp_status_string(st));
    f->len = strlen(f->msg);
    **tail = f;
    *tail = &f->next;
    (void)x;
}

static void dexec_run(fp_task_t *t, fp__root_t *root)
{
    fp__dexec_t *x = (fp__dexec_t *)root;
    atomic_store_explicit(&x->started, 1, memory_order_relaxed);
    const double t0 = fp__now();
    fp_cbuf_t args[FP_MAX_ARGS];
    fp_buf_t out = {NULL, 0};
    fp__call_state_t saved;
    fp__call_state_save(t, &saved);
    t->out = &out;
    fp__dfail_t **tail = &x->fails;
    const char *name = x->name != NULL ? x->name : "?";
    size_t k = 0;
    if (x->kind == FP__WORK_APPLY) {
        if (!(x->stop != NULL && atomic_load(x->stop)) &&
            !atomic_load(&x->cancel)) {
            fp__check_updates(t);
            for (size_t a = 0; a < x->nargs; a++) {
                args[a].data = x->arg_base[a];
                args[a].size = x->arg_size[a];
            }
            t->apply_mode = true;
            t->apply_buf = NULL;
            t->apply_size = 0;
            t->flags = 0;
            t->has_msg = false;
            t->depth++;
            fp_status_t st = x->fn(t, args, x->nargs, &out);
            t->depth--;
            if (st == FP_OK && t->flags == 0) {
                x->apply_buf = t->apply_buf;
                x->apply_size = t->apply_size;
            } else {
                free(t->apply_buf);
                if (st == FP_OK || st > 0)
                    st = t->flags != 0 ? t->flag_status : FP_ERR_TASK;
                add_fail(x, &tail, t, 0, st, name);
            }
            k = 1;
        }
    } else {
        t->apply_mode = false;
        for (size_t a = 0; a < x->nargs; a++)
            args[a].size = x->arg_size[a];
        for (; k < x->count; k++) {
            if (FP__UNLIKELY(
                    (x->stop != NULL &&
                     atomic_load_explicit(x->stop, memory_order_relaxed)) ||
                    atomic_load_explicit(&x->cancel, memory_order_relaxed)))
                break;
            fp__check_updates(t);
            for (size_t a = 0; a < x->nargs; a++)
                args[a].data = x->arg_base[a] + k * x->arg_size[a];
            out.data = x->out != NULL ? x->out + k * x->out_size : NULL;
            out.size = x->out_size;
            t->flags = 0;
            t->has_msg = false;
            t->depth++;
            fp_status_t st = x->fn(t, args, x->nargs, &out);
            t->depth--;
            if (FP__UNLIKELY(st != FP_OK || t->flags != 0)) {
                if (st == FP_OK || st > 0)
                    st = t->flags != 0 ? t->flag_status : FP_ERR_TASK;
                add_fail(x, &tail, t, k, st, name);
            }
        }
    }
    x->ran = k;
    fp__call_state_restore(t, &saved);
    x->elapsed = fp__now() - t0;
    fp_pool_t *pool = x->pool;
    x->done(x); /* may free x */
    fp__pool_work_done(pool);
}

void fp__dexec_submit(fp_pool_t *pool, fp__dexec_t *x)
{
    memset(&x->root, 0, sizeof(x->root));
    x->root.run = dexec_run;
    x->pool = pool;
    x->ran = 0;
    x->fails = NULL;
    x->apply_buf = NULL;
    x->apply_size = 0;
    atomic_init(&x->started, 0);
    fp__pool_work_begin(pool);
    fp__pool_inject(pool, &x->root);
}

bool fp__dexec_unsubmit(fp__dexec_t *x)
{
    if (!fp__pool_uninject(x->pool, &x->root))
        return false;
    fp__pool_work_done(x->pool);
    return true;
}

void fp__dexec_free_fails(fp__dexec_t *x)
{
    for (fp__dfail_t *f = x->fails, *n; f != NULL; f = n) {
        n = f->next;
        free(f);
    }
    x->fails = NULL;
}
