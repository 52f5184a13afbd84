/*
 * A task module for tests/launch: no node loads it by itself; the tests
 * ship it (fp_pool_ship_module, fp_pool_params_t.ship_modules).
 */
#include <fastpool/fastpool.h>
#include <stdint.h>
#include <string.h>

/* map: x -> x^3 (uint64) */
static fp_status_t ship_cube(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                             fp_buf_t *o)
{
    (void)t;
    (void)n;
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    x = x * x * x;
    memcpy(o->data, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ship.cube", ship_cube)

/* starmap: (a, b) -> a + 2b (int64); a negative a is an error */
static fp_status_t ship_axpy(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                             fp_buf_t *o)
{
    if (n != 2)
        return fp_task_error(t, FP_ERR_INVALID, "want 2 arguments, got %zu",
                             n);
    int64_t x, y;
    memcpy(&x, a[0].data, 8);
    memcpy(&y, a[1].data, 8);
    if (x < 0)
        return fp_task_error(t, FP_ERR_INVALID, "negative a %lld",
                             (long long)x);
    x += 2 * y;
    memcpy(o->data, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ship.axpy", ship_axpy)
