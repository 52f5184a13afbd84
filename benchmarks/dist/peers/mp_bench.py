#!/usr/bin/python3
"""multiprocessing.Pool peer (one host), for reference.

    /usr/bin/python3 mp_bench.py [--processes P] [--n N] [--target S] [--quick]

  empty  pool.map(noop, values) over 8-byte values, default chunksize:
         tasks/s (N elements; N=0: sized to ~S s)
  metg   the busy-loop sweep (taskbench.py), calibrated in the workers
"""
import argparse
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taskbench  # noqa: E402


def noop(x):
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--target", type=float, default=3.0)
    ap.add_argument("--n-max", type=int, default=4000000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--transport", default="shm")
    ap.add_argument("--budget", type=float, default=1.0)
    a = ap.parse_args()

    with multiprocessing.Pool(a.processes) as pool:
        def run_empty(n):
            values = [i.to_bytes(8, "little") for i in range(n)]
            if pool.map(noop, values) != values:
                sys.exit("mp_bench: wrong results")

        run_empty(1000)  # warm-up
        n = a.n if a.n > 0 else taskbench.sized_n(run_empty, 20000, a.target, a.n_max)[0]
        t0 = time.perf_counter()
        run_empty(n)
        dt = time.perf_counter() - t0
        rate = n / dt
        taskbench.result("multiprocessing", "empty", a.transport, n=n,
                         seconds=dt, tasks_per_s=rate, workers=a.processes)

        cal = pool.map(taskbench.calibrate, [20] * (2 * a.processes), chunksize=1)
        ns_per_iter = sum(cal) / len(cal)

        def run_tasks(iters, tasks):
            t0 = time.perf_counter()
            pool.map(taskbench.busy, [iters] * tasks)
            return time.perf_counter() - t0

        taskbench.sweep("multiprocessing", a.transport, run_tasks, a.processes,
                        ns_per_iter, rate, budget_s=a.budget, quick=a.quick,
                        max_tasks=2000000)


if __name__ == "__main__":
    main()
