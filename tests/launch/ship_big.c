/*
 * A task module larger than the rendezvous threshold (its bytes go to a
 * node by rendezvous): 320 KiB of data in the file.
 */
#include <fastpool/fastpool.h>
#include <stdint.h>
#include <string.h>

#define BIG (320u << 10)

/* non-zero: in the file, not in .bss */
static const uint8_t big_table[BIG] = {[0] = 7, [BIG - 1] = 9};

/* map: i -> the table's byte at i mod its size, plus its size (uint64) */
static fp_status_t ship_big(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                            fp_buf_t *o)
{
    (void)t;
    (void)n;
    uint64_t x;
    memcpy(&x, a[0].data, 8);
    x = (uint64_t)big_table[x % BIG] + BIG;
    memcpy(o->data, &x, 8);
    return FP_OK;
}
FP_TASK_REGISTER_AS("ship.big", ship_big)
