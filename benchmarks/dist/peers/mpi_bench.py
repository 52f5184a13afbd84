#!/usr/bin/python3
"""mpi4py.futures peer: the master's side.  Run under mpirun as

    mpirun -n 1+W ... /usr/bin/python3 -m mpi4py.futures mpi_bench.py
           [--n N] [--target S] [--quick] [--transport NAME]
           [--chunksizes 1,1000] [--metg-chunksizes 1,1000]

so rank 0 runs this script and ranks 1..W serve MPIPoolExecutor().
  empty  executor.map(noop, values, chunksize=C) over 8-byte values, for
         each C in --chunksizes: tasks/s (N elements; N=0: sized to ~S s)
  metg   the busy-loop sweep (taskbench.py) for each C in --metg-chunksizes,
         calibrated on the worker ranks
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import taskbench  # noqa: E402

from mpi4py import MPI  # noqa: E402
from mpi4py.futures import MPIPoolExecutor  # noqa: E402


def noop(x):
    return x


def whoami(_):
    import socket
    return socket.gethostname()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--target", type=float, default=4.0)
    ap.add_argument("--n-max", type=int, default=4000000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--transport", default="veth")
    ap.add_argument("--chunksizes", default="1,1000")
    ap.add_argument("--metg-chunksizes", default="1,1000")
    ap.add_argument("--budget", type=float, default=1.5)
    a = ap.parse_args()

    with MPIPoolExecutor() as ex:
        # mpi4py 3.1 has no num_workers: under -m mpi4py.futures every rank
        # but this one is a worker
        workers = MPI.COMM_WORLD.Get_size() - 1
        hosts = sorted(set(ex.map(whoami, range(8 * workers))))
        sys.stderr.write(f"mpi_bench: {workers} workers on {' '.join(hosts)} "
                         f"(master on {MPI.Get_processor_name()})\n")
        rates = {}
        for cs in [int(c) for c in a.chunksizes.split(",") if c]:
            def run_empty(n, cs=cs):
                values = [i.to_bytes(8, "little") for i in range(n)]
                out = list(ex.map(noop, values, chunksize=cs))
                if out != values:
                    sys.exit("mpi_bench: wrong results")

            run_empty(min(1000, 10 * cs))  # warm-up
            if a.n > 0:
                n = a.n
            else:
                n, _ = taskbench.sized_n(run_empty, max(2000, 20 * cs), a.target, a.n_max)
            t0 = time.perf_counter()
            run_empty(n)
            dt = time.perf_counter() - t0
            rates[cs] = n / dt
            taskbench.result(f"mpi4py_cs{cs}", "empty", a.transport, n=n,
                             seconds=dt, tasks_per_s=n / dt, workers=workers,
                             chunksize=cs)

        # calibrate on the workers: one calibration per worker, as far as the
        # executor spreads them (it hands one task to each idle worker)
        cal = list(ex.map(taskbench.calibrate, [20] * (2 * workers), chunksize=1))
        ns_per_iter = sum(cal) / len(cal)
        sys.stderr.write("mpi_bench: calibration ns/iter " +
                         " ".join(f"{v:.2f}" for v in cal) + "\n")

        for cs in [int(c) for c in a.metg_chunksizes.split(",") if c]:
            def run_tasks(iters, tasks, cs=cs):
                t0 = time.perf_counter()
                for _ in ex.map(taskbench.busy, [iters] * tasks, chunksize=cs):
                    pass
                return time.perf_counter() - t0

            hint = rates.get(cs, max(rates.values()) if rates else 1e4)
            taskbench.sweep(f"mpi4py_cs{cs}", a.transport, run_tasks, workers,
                            ns_per_iter, hint, budget_s=a.budget, quick=a.quick,
                            max_tasks=2000000)


if __name__ == "__main__":
    main()
