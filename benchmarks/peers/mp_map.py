#!/usr/bin/python3
"""Peer for map_fastpool: multiprocessing.Pool(P).map over N ints.

    /usr/bin/python3 mp_map.py [n] [processes] [reps]

Maps n (default 1,000,000) ints through an empty function and through a
function that busy-spins about 1 us (calibrated below), with the default
chunksize, and prints items/s of the best of [reps] (default 3) maps.  The
pool is started (and warmed up) before timing, as for map_fastpool.
"""
import multiprocessing
import sys
import time

_spin_ns = 1000  # set by calibrate(), handed to the workers by _init()


def empty(x):
    return x


def spin(x):
    end = time.perf_counter_ns() + _spin_ns
    while time.perf_counter_ns() < end:
        pass
    return x


def _init(spin_ns):
    global _spin_ns
    _spin_ns = spin_ns


def _ns_per_call(batches=20, calls=5000):
    """ns per spin() call: the fastest of several batches (robust to a
    preemption during one batch)."""
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for i in range(calls):
            spin(i)
        best = min(best, (time.perf_counter_ns() - t0) / calls)
    return best


def calibrate(rounds=3):
    """Shorten the spin target by the call overhead so spin() takes ~1 us."""
    global _spin_ns
    _spin_ns = 1000
    per_call = _ns_per_call()
    for _ in range(rounds):
        _spin_ns = max(0, int(round(_spin_ns - (per_call - 1000))))
        per_call = _ns_per_call()
    return per_call


def run(pool, label, fn, n, procs, reps):
    data = list(range(n))
    pool.map(fn, range(1000))  # warm-up
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = pool.map(fn, data)
        dt = time.perf_counter() - t0
        if out != data:
            sys.exit("mp_map: wrong result")
        best = min(best, dt)
    print(f"mp_map task={label} n={n} processes={procs} seconds={best:.4f} "
          f"items_per_s={n / best:.0f} reps={reps}", flush=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    per_call = calibrate()
    print(f"mp_map spin_calibration spin_target_ns={_spin_ns} "
          f"ns_per_call={per_call:.1f}", flush=True)
    with multiprocessing.Pool(procs, initializer=_init, initargs=(_spin_ns,)) as pool:
        run(pool, "empty", empty, n, procs, reps)
        run(pool, "spin1us", spin, n, procs, reps)


if __name__ == "__main__":
    main()
