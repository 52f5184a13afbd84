/* A task module for fastpool-worker --module: tasks a node loads at start. */
#include <fastpool/fastpool.h>
#include <string.h>

static fp_status_t m_triple(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)t;
    (void)n;
    unsigned long long x;
    memcpy(&x, a[0].data, 8);
    x *= 3;
    memcpy(o->data, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("m.triple", m_triple)
