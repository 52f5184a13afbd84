/* Adaptive chunk sizer: see chunker.h for the rule. */
#include "common/chunker.h"

static size_t clamp(const fp__chunker_t *c, size_t v)
{
    return v < c->min ? c->min : v > c->max ? c->max : v;
}

void fp__chunker_init(fp__chunker_t *c, double target_s, size_t start,
                      size_t min, size_t max)
{
    c->target = target_s > 0 ? target_s : 1e-6;
    c->min = min > 0 ? min : 1;
    c->max = max > c->min ? max : c->min;
    c->fixed = false;
    c->next = clamp(c, start);
}

void fp__chunker_init_fixed(fp__chunker_t *c, size_t size)
{
    c->target = 0;
    c->min = c->max = c->next = size > 0 ? size : 1;
    c->fixed = true;
}

/* v rounded to a size, saturating at `limit` (v >= 0). */
static size_t to_size(double v, size_t limit)
{
    v += 0.5;
    return v >= (double)limit ? limit : (size_t)v;
}

void fp__chunker_observe(fp__chunker_t *c, size_t elems, double seconds)
{
    if (c->fixed || elems == 0)
        return;
    size_t want;
    if (seconds <= c->target) {
        /* fast: towards the size that takes `target`, at most x2 the chunk
         * observed; never below the current size */
        double cap = 2.0 * (double)elems;
        double ideal = seconds > 0 ? (double)elems * c->target / seconds : cap;
        want = to_size(ideal < cap ? ideal : cap, c->max);
        if (want < c->next)
            want = c->next;
    } else {
        /* slow: at once down to the size that takes `target`; never up */
        want = to_size((double)elems * c->target / seconds, c->max);
        if (want > c->next)
            want = c->next;
    }
    c->next = clamp(c, want);
}

size_t fp__chunker_balance_cap(size_t n, size_t parts)
{
    if (parts == 0)
        parts = 1;
    size_t g = n / parts + (n % parts != 0);
    return g > 0 ? g : 1;
}
