/*
 * Messages between a client and its nodes' executors: the in-order queue
 * both sides keep per connection (dist.h).  The client side (client.c) and
 * the node side (node.c) keep their handlers in a "messages" section at the
 * end of each file; the wire format is EXEC_MSG / CLIENT_MSG
 * (docs/PROTOCOL.md).
 */
#include "dist.h"

#include <stdlib.h>

fp__mq_ent_t *fp__mq_add(fp__mq_t *q, uint32_t executor, size_t len,
                         bool ready)
{
    fp__mq_ent_t *e = malloc(sizeof(*e));
    void *data = malloc(len > 0 ? len : 1);
    if (e == NULL || data == NULL) {
        free(e);
        free(data);
        return NULL;
    }
    e->next = NULL;
    e->ready = ready;
    e->ok = true;
    e->executor = executor;
    e->data = data;
    e->len = len;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    return e;
}

void fp__mq_done(fp__mq_ent_t *e, bool ok)
{
    e->ready = true;
    e->ok = ok;
}

void fp__mq_drain(fp__mq_t *q,
                  void (*deliver)(void *arg, uint32_t executor, void *data,
                                  size_t len),
                  void *arg)
{
    while (q->head != NULL && q->head->ready) {
        fp__mq_ent_t *e = q->head;
        q->head = e->next;
        if (q->head == NULL)
            q->tail = NULL;
        if (e->ok)
            deliver(arg, e->executor, e->data, e->len);
        else
            free(e->data);
        free(e);
    }
}

void fp__mq_clear(fp__mq_t *q)
{
    for (fp__mq_ent_t *e = q->head, *n; e != NULL; e = n) {
        n = e->next;
        free(e->data);
        free(e);
    }
    q->head = q->tail = NULL;
}
