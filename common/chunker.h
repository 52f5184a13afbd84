/*
 * Adaptive chunk sizer: how many elements to hand out in the next chunk so
 * that one chunk takes about a target duration.
 *
 * The owner feeds it observations -- (elements done, seconds they took) for
 * each finished chunk -- and reads the size of the next chunk.  The rule:
 *
 *   - it starts at `start` elements (normally 1: the first results come
 *     after one task duration, whatever that is);
 *   - a fast chunk (seconds <= target) lets the size grow towards what would
 *     have taken `target` at the measured rate, at most to twice the chunk
 *     observed (geometric growth, x2 per observation; a fast observation
 *     never shrinks the size, so a stale small chunk does not undo growth);
 *   - a slow chunk (seconds > target) shrinks the size at once to what would
 *     have taken `target` at the measured rate (never grows it);
 *   - the result always lies in [min, max]; callers pass as `max` their own
 *     cap for balance (e.g. n / parts) and memory.
 *
 * A fixed sizer (fp__chunker_init_fixed) always answers its size and ignores
 * observations: an explicit chunksize wins over the measurements.
 *
 * Cost: O(1) arithmetic per observation, no allocation; the caller reads the
 * clock (fp__now) once at each end of a chunk, never per element.
 *
 * Not thread-safe: one owner, or callers serialise (imap observes and reads
 * its sizer under the iterator's lock; map's leaves each use their own on
 * the stack).  The remote layer is meant to keep one per destination, with
 * target = k x round-trip time.
 */
#ifndef FP_CORE_CHUNKER_H
#define FP_CORE_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>

/* Default target for local chunks: long enough to amortise handing a chunk
 * to an executor (a few us), short enough that results show early. */
#define FP__CHUNK_TARGET_S 100e-6

typedef struct fp__chunker {
    double target; /* seconds one chunk should take */
    size_t min, max;
    size_t next;   /* size of the next chunk */
    bool fixed;
} fp__chunker_t;

/* An adaptive sizer.  min >= 1 (0 is taken as 1), max >= min (smaller is
 * taken as min), start clamped to [min, max]; target_s > 0. */
void fp__chunker_init(fp__chunker_t *c, double target_s, size_t start,
                      size_t min, size_t max);

/* A sizer that always answers `size` (0 is taken as 1). */
void fp__chunker_init_fixed(fp__chunker_t *c, size_t size);

/* Size of the next chunk, in [min, max]. */
static inline size_t fp__chunker_next(const fp__chunker_t *c)
{
    return c->next;
}

/* `elems` elements (> 0; 0 is ignored) took `seconds` (<= 0: too fast to
 * measure, counted as fast). */
void fp__chunker_observe(fp__chunker_t *c, size_t elems, double seconds);

/* ceil(n / parts), at least 1: a cap that leaves about `parts` chunks of n
 * for balance. */
size_t fp__chunker_balance_cap(size_t n, size_t parts);

#endif
