"""Shared pieces of the Python peers in benchmarks/dist (Dask, mpi4py.futures,
multiprocessing): the calibrated busy loop, the duration sweep and METG.

METG(50%) as Task Bench defines it: run T tasks of duration d on E
executors in wall time W; efficiency = T * d / (E * W).  Sweep d from long to
short; METG(50%) is the smallest d whose efficiency is still >= 50%,
interpolated log-linearly between the two points that bracket 50%.

Every figure is printed as one line that compare.sh reads:
    POINT system=... transport=... duration_ns=... tasks=... wall_s=...
          efficiency=... tasks_per_s=...
    RESULT system=... mode=... transport=... key=value ...
"""
import itertools
import math
import time

# The durations swept, in ns, long to short (factors of 2-2.5).
DURATIONS_NS = [
    100e6, 50e6, 20e6, 10e6, 5e6, 2e6, 1e6, 500e3, 200e3, 100e3, 50e3, 20e3,
    10e3, 5e3, 2e3, 1e3, 500, 200, 100,
]
QUICK_DURATIONS_NS = [10e6, 1e6, 100e3, 10e3, 1e3, 100]


def busy(iters):
    """The busy task: `iters` rounds of an empty Python loop.  Over
    itertools.repeat, not range: range makes a new int object per round
    once past the cached small ints (256), so a short loop ran faster per
    round than the long one it was calibrated with."""
    for _ in itertools.repeat(None, iters):
        pass
    return iters


def calibrate(ms=20, reps=7):
    """Nanoseconds per round of busy() on this host: the fastest of `reps`
    runs of about `ms` ms each (a preemption in one run does not count)."""
    n = 1000
    while True:  # grow n until one run takes ~ms
        t0 = time.perf_counter_ns()
        busy(n)
        dt = time.perf_counter_ns() - t0
        if dt >= ms * 1e6 or n > 1 << 34:
            break
        n *= 4 if dt < ms * 1e5 else 2
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        busy(n)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def iters_for(duration_ns, ns_per_iter):
    return max(0, int(round(duration_ns / ns_per_iter)))


def kv(**fields):
    out = []
    for k, v in fields.items():
        if isinstance(v, float):
            v = f"{v:.6g}"
        out.append(f"{k}={v}")
    return " ".join(out)


def result(system, mode, transport, **fields):
    print("RESULT " + kv(system=system, mode=mode, transport=transport, **fields), flush=True)


def sized_n(run, probe_n, target_s, n_max):
    """Elements for a throughput run of about target_s: time `run(probe_n)`
    (a warm-up too) and scale.  Returns (n, probe rate)."""
    t0 = time.perf_counter()
    run(probe_n)
    dt = max(time.perf_counter() - t0, 1e-6)
    rate = probe_n / dt
    return int(min(n_max, max(probe_n, rate * target_s))), rate


def sweep(system, transport, run_tasks, executors, ns_per_iter, rate_hint,
          budget_s=1.5, quick=False, min_tasks=None, max_tasks=200000,
          stop_below=0.2):
    """Run the METG sweep.  run_tasks(iters, tasks) runs `tasks` busy tasks
    of `iters` rounds each and returns the wall time in seconds.  Each point
    gets about budget_s of ideal work (and no more tasks than rate_hint, the
    empty-task rate, allows in ~budget_s).  Stops once the efficiency has
    fallen below 50% and then below `stop_below`.  Prints POINT lines and the
    RESULT line; returns METG in ns (nan if no point reached 50%)."""
    if min_tasks is None:
        min_tasks = 4 * executors
    points = []
    crossed = False
    for d in (QUICK_DURATIONS_NS if quick else DURATIONS_NS):
        tasks = executors * budget_s * 1e9 / d
        tasks = min(tasks, rate_hint * budget_s * 1.5, max_tasks)
        tasks = int(max(min_tasks, tasks))
        iters = iters_for(d, ns_per_iter)
        wall = run_tasks(iters, tasks)
        eff = tasks * d / (executors * wall * 1e9)
        points.append((d, eff))
        print("POINT " + kv(system=system, transport=transport, duration_ns=d,
                            tasks=tasks, wall_s=wall, efficiency=eff,
                            tasks_per_s=tasks / wall, iters=iters), flush=True)
        crossed = crossed or eff < 0.5
        if crossed and eff < stop_below:
            break
    m, how = metg(points)
    result(system, "metg", transport, metg_ns=m, how=how, executors=executors,
           ns_per_iter=ns_per_iter)
    return m


def metg(points):
    """METG(50%) from (duration_ns, efficiency) points: the shortest duration
    whose efficiency is >= 50%, moved log-linearly towards the next shorter
    point (below 50%) to where the line between them crosses 50%.  Returns
    (ns, how): how is 'interp' (bracketed), 'below' (the shortest duration
    measured is still >= 50%: METG is at most that), or 'none' (no point
    reached 50%: nan).  Looking from the short end keeps a dip at a long
    duration (a fixed chunk size with few tasks leaves an executor idle)
    from hiding a shorter duration that does reach 50%."""
    pts = sorted(points, key=lambda p: p[0])  # short to long
    for i, (d, e) in enumerate(pts):
        if e >= 0.5:
            if i == 0:
                return d, "below"
            d_lo, e_lo = pts[i - 1]
            f = (e - 0.5) / (e - e_lo)
            return math.exp(math.log(d) + f * (math.log(d_lo) - math.log(d))), "interp"
    return float("nan"), "none"
