#!/usr/bin/python3
"""Dask distributed peer: the client side (run in the client host).

    /usr/bin/python3 dask_bench.py SCHEDULER WORKERS [--n N] [--target S]
                                   [--quick] [--transport NAME]

Waits for WORKERS workers at SCHEDULER (tcp://host:port), then
  empty  client.map(noop, values, pure=False) over 8-byte values and a
         gather of the results: tasks/s (N elements; N=0: sized to ~S s)
  metg   the busy-loop sweep (taskbench.py), calibrated on each worker
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taskbench  # noqa: E402

from distributed import Client  # noqa: E402


def noop(x):
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scheduler")
    ap.add_argument("workers", type=int)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--target", type=float, default=10.0)
    ap.add_argument("--n-max", type=int, default=20000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--transport", default="veth")
    ap.add_argument("--budget", type=float, default=1.5)
    a = ap.parse_args()

    client = Client(a.scheduler, timeout=60)
    client.wait_for_workers(a.workers, timeout=60)
    workers = list(client.scheduler_info()["workers"])
    sys.stderr.write(f"dask_bench: {len(workers)} workers: {' '.join(workers)}\n")

    def run_empty(n):
        values = [i.to_bytes(8, "little") for i in range(n)]
        futs = client.map(noop, values, pure=False)
        out = client.gather(futs)
        if out != values:
            sys.exit("dask_bench: wrong results")
        del futs

    run_empty(200)  # warm-up: functions pickled, connections made
    if a.n > 0:
        n = a.n
    else:
        n, _ = taskbench.sized_n(run_empty, 1000, a.target, a.n_max)
    t0 = time.perf_counter()
    run_empty(n)
    dt = time.perf_counter() - t0
    rate = n / dt
    taskbench.result("dask", "empty", a.transport, n=n, seconds=dt,
                     tasks_per_s=rate, workers=len(workers))

    # the busy loop calibrated on every worker's host; their mean is used
    cal = client.run(taskbench.calibrate)
    ns_per_iter = sum(cal.values()) / len(cal)
    sys.stderr.write("dask_bench: calibration ns/iter " +
                     " ".join(f"{w}={v:.2f}" for w, v in cal.items()) + "\n")

    def run_tasks(iters, tasks):
        t0 = time.perf_counter()
        futs = client.map(taskbench.busy, [iters] * tasks, pure=False)
        client.gather(futs)
        wall = time.perf_counter() - t0
        del futs
        return wall

    taskbench.sweep("dask", a.transport, run_tasks, len(workers), ns_per_iter,
                    rate, budget_s=a.budget, quick=a.quick)
    client.close()


if __name__ == "__main__":
    main()
