#!/usr/bin/python3
"""The report of benchmarks/dist/compare.sh, from OUT/results.txt:

    /usr/bin/python3 report.py OUT NOTES_FILE FASTPOOL_STATE

prints the table (and writes OUT/table.txt), writes OUT/results.csv (every
RESULT field, long form), OUT/metg.dat (the METG points, one gnuplot block
per system and transport), OUT/throughput.gp (the gnuplot script that draws
OUT/throughput.png) and OUT/targets.txt (one TARGET line per target).
FASTPOOL_STATE is "yes" when the fastpool rows ran, else the reason.
"""
import csv
import math
import os
import sys

TRANSPORTS = [
    ("shm", "shared memory, one host (fp-h1)"),
    ("loopback", "TCP over loopback, one host (fp-h1)"),
    ("veth", "TCP over veth, fp-c -> fp-h1 + fp-h2"),
]
SYSTEMS = [
    ("fastpool", "fastpool"),
    ("dask", "Dask distributed"),
    ("mpi4py_cs1", "mpi4py.futures chunksize=1"),
    ("mpi4py_cs1000", "mpi4py.futures chunksize=1000"),
    ("multiprocessing", "multiprocessing.Pool(2)"),
    ("ucx", "raw UCX (ucx_perftest)"),
]
NAMES = dict(SYSTEMS)


def parse(path):
    results, points = {}, []
    for line in open(path):
        f = line.split()
        if not f or f[0] not in ("RESULT", "POINT"):
            continue
        kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
        if f[0] == "RESULT":
            results[(kv.get("system"), kv.get("mode"), kv.get("transport"))] = kv
        else:
            points.append(kv)
    return results, points


def num(kv, key):
    try:
        v = float(kv[key])
        return v if math.isfinite(v) else None
    except (KeyError, TypeError, ValueError):
        return None


def fmt_rate(v):
    if v is None:
        return "-"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{unit}/s"
    return f"{v:.3g}/s"


def fmt_ns(v):
    if v is None:
        return "-"
    if v < 1e3:
        return f"{v:.0f} ns"
    if v < 1e6:
        return f"{v / 1e3:.3g} us"
    return f"{v / 1e6:.3g} ms"


def main():
    out, notes_file, fp_state = sys.argv[1], sys.argv[2], sys.argv[3]
    R, P = parse(os.path.join(out, "results.txt"))

    def get(system, mode, transport, key):
        return num(R.get((system, mode, transport), {}), key)

    # ---- table ----------------------------------------------------------
    head = ("system", "empty tasks/s", "METG(50%)", "apply RTT p50 / p99",
            "4 MiB map")
    widths = (44, 14, 12, 24, 16)
    lines = []

    def row(cells):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())

    row(head)
    for t, title in TRANSPORTS:
        lines.append("")
        lines.append(f"[{t}] {title}")
        for s, name in SYSTEMS:
            if not any(k[0] == s and k[2] == t for k in R):
                continue
            if s == "ucx":
                rtt = get(s, "am_lat", t, "rtt_us")
                one = get(s, "am_lat", t, "one_way_us")
                bw = get(s, "am_bw", t, "gb_per_s")
                row([name, "-", "-",
                     f"{rtt:.2f} us (2x {one:.2f})" if rtt else "-",
                     f"{bw:.2f} GB/s" if bw else "-"])
                continue
            label = name
            if s == "fastpool":
                e = R.get((s, "empty", t)) or R.get((s, "metg", t)) or {}
                if "executors" in e:
                    k = e.get("nodes", "?")
                    label += f" ({k} node{'' if k == '1' else 's'}, {e['executors']} executors)"
            elif s in ("dask", "mpi4py_cs1", "mpi4py_cs1000") and t == "veth":
                label += " (2 workers)"
            m = R.get((s, "metg", t), {})
            metg = num(m, "metg_ns")
            how = m.get("how")
            if how == "below":
                metg_s = "<= " + fmt_ns(metg)
            elif how == "none":
                metg_s = "none >= 50%"
            else:
                metg_s = fmt_ns(metg)
            p50, p99 = get(s, "apply", t, "p50_us"), get(s, "apply", t, "p99_us")
            bw = get(s, "bw", t, "gb_per_s")
            row([label, fmt_rate(get(s, "empty", t, "tasks_per_s")), metg_s,
                 f"{p50:.2f} / {p99:.2f} us" if p50 is not None else "-",
                 f"{bw:.2f} GB/s" if bw is not None else "-"])
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(table + "\n")

    # ---- notes and INFO -----------------------------------------------------
    print()
    if fp_state != "yes":
        print(f"NOTE fastpool rows not run: {fp_state}")
    for line in open(notes_file):
        if line.strip():
            print(line.rstrip())

    # ---- csv, dat, gnuplot -----------------------------------------------------
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "mode", "transport", "key", "value"])
        for (s, mode, t), kv in sorted(R.items(), key=lambda x: tuple(map(str, x[0]))):
            for k, v in kv.items():
                if k not in ("system", "mode", "transport"):
                    w.writerow([s, mode, t, k, v])
    series = {}
    for p in P:
        series.setdefault((p["system"], p["transport"]), []).append(p)
    blocks, titles = [], []
    with open(os.path.join(out, "metg.dat"), "w") as f:
        f.write("# METG sweeps: one block per system and transport (gnuplot index)\n")
        for (s, t), pts in sorted(series.items()):
            f.write(f"# {s} {t}\n# duration_ns tasks_per_s efficiency tasks wall_s\n")
            for p in sorted(pts, key=lambda p: -float(p["duration_ns"])):
                f.write(f"{p['duration_ns']} {p['tasks_per_s']} {p['efficiency']} "
                        f"{p['tasks']} {p['wall_s']}\n")
            f.write("\n\n")
            blocks.append(len(blocks))
            titles.append(f"{NAMES.get(s, s)}, {t}")
    png = os.path.join(out, "throughput.png")
    plots = [f"'{os.path.join(out, 'metg.dat')}' index {i} using 1:2 with linespoints "
             f"lw 2 title '{title}'" for i, title in zip(blocks, titles)]
    plots.append("2e9/x with lines dt 2 lc rgb 'gray40' title 'ideal, 2 executors'")
    with open(os.path.join(out, "throughput.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size 1100,700 noenhanced
set output '{png}'
set title 'Throughput against task duration (busy tasks, METG sweep)'
set logscale xy
set xlabel 'task duration (ns)'
set ylabel 'tasks/s'
set grid
set key left bottom box opaque
set format x '%.0s%c'
set format y '%.0s%c'
plot {', '.join(plots) if plots else "1/0 notitle"}
""")

    # ---- targets -----------------------------------------------------------
    tl = []

    def target(name, value, goal, met):
        tl.append(f"TARGET {name} value={value} goal={goal} {'MET' if met else 'NOT MET'}")

    def info(text):
        print("INFO " + text)

    def ratio(a, b):
        return a / b if a is not None and b else None

    fp_e = get("fastpool", "empty", "veth", "tasks_per_s")
    dask_e = get("dask", "empty", "veth", "tasks_per_s")
    r = ratio(fp_e, dask_e)
    info(f"empty map across hosts: fastpool {fmt_rate(fp_e)}, Dask {fmt_rate(dask_e)}")
    target("dist_empty_vs_dask", f"{r:.1f}x" if r else "nan", ">=100x", r is not None and r >= 100)

    mp1 = get("mpi4py_cs1", "empty", "veth", "tasks_per_s")
    mp1k = get("mpi4py_cs1000", "empty", "veth", "tasks_per_s")
    best_mpi = max([v for v in (mp1, mp1k) if v is not None], default=None)
    r = ratio(fp_e, best_mpi)
    info(f"empty map across hosts: mpi4py.futures chunksize=1 {fmt_rate(mp1)}, "
         f"chunksize=1000 {fmt_rate(mp1k)}")
    target("dist_empty_vs_mpi4py", f"{r:.1f}x" if r else "nan", ">=10x", r is not None and r >= 10)

    m = R.get(("fastpool", "metg", "veth"), {})
    metg, how = num(m, "metg_ns"), m.get("how")
    if metg is not None:
        val = ("<=" if how == "below" else "") + f"{metg / 1e3:.3f}us"
    else:
        val = "nan"
    target("dist_metg50", val, "<=1us", metg is not None and metg <= 1000)

    for t, name in (("shm", "apply_rtt_shm"), ("veth", "apply_rtt_tcp"), ("loopback", None)):
        fp = get("fastpool", "apply", t, "p50_us")
        raw = get("ucx", "am_lat", t, "rtt_us")
        r = ratio(fp, raw)
        info(f"apply round trip over {t}: fastpool p50 {fp if fp is not None else 'nan'} us, "
             f"raw UCX 2 x am_lat {raw if raw is not None else 'nan'} us"
             + (f" ({r:.2f}x)" if r else ""))
        if name:
            target(name, f"{r:.2f}x" if r else "nan", "<=2x", r is not None and r <= 2)

    fp_bw = get("fastpool", "bw", "veth", "gb_per_s")
    raw_bw = get("ucx", "am_bw", "veth", "gb_per_s")
    r = ratio(fp_bw, raw_bw)
    info(f"4 MiB map fp-c -> fp-h1: fastpool {fp_bw if fp_bw is not None else 'nan'} GB/s, "
         f"raw UCX am_bw {raw_bw if raw_bw is not None else 'nan'} GB/s")
    target("dist_bw_4mib", f"{r * 100:.0f}%" if r else "nan", ">=80%", r is not None and r >= 0.8)

    copied, seen, rndv = 0, 0, 0
    for (s, mode, t), kv in R.items():
        if s == "fastpool" and mode in ("bw", "bw_echo"):
            v = num(kv, "large_bytes_copied")
            if v is not None:
                copied += int(v)
                seen += 1
                rndv += int(num(kv, "rndv_sent") or 0) + int(num(kv, "rndv_received") or 0)
    info(f"zero copy: {seen} fastpool 4 MiB runs (args and echoed results), "
         f"{rndv} rendezvous messages, {copied} payload bytes copied at or above the threshold")
    ok = seen > 0 and rndv > 0 and copied == 0
    target("dist_zero_copy", str(copied) if seen else "nan", "0", ok)

    # idle: the client's own getrusage and each node's /proc/PID/stat over
    # the same window (compare.sh), % of one core; the worst of the three
    cli = get("fastpool", "idle", "veth", "cpu_pct")
    n1 = get("fastpool", "idle_node_h1", "veth", "cpu_pct")
    n2 = get("fastpool", "idle_node_h2", "veth", "cpu_pct")
    secs = get("fastpool", "idle", "veth", "seconds")

    def pct(v):
        return f"{v:.3f}%" if v is not None else "nan"

    info(f"idle CPU over {f'{secs:.1f}' if secs is not None else 'nan'} s (veth; the client "
         f"holding a pool over 2 connected nodes after one tiny map): client {pct(cli)}, "
         f"node fp-h1 {pct(n1)}, node fp-h2 {pct(n2)} of a core")
    vals = (cli, n1, n2)
    worst = max(vals) if None not in vals else None
    target("dist_idle_cpu",
           f"{pct(worst)}(client {pct(cli)}, fp-h1 {pct(n1)}, fp-h2 {pct(n2)})",
           "<=1%", worst is not None and worst <= 1)

    # imap memory: peak VmRSS growth (samples; and VmHWM reset to the
    # baseline, where readable: the larger of the two) of the client and
    # of each node; the worst of the three
    def growth(mode):
        kv = R.get(("fastpool", mode, "veth"), {})
        vs = [v for v in (num(kv, "peak_growth_mib"), num(kv, "hwm_growth_mib"))
              if v is not None]
        return max(vs) if vs else None

    def mib(v):
        return f"{v:.1f}MiB" if v is not None else "nan"

    g = [growth(m) for m in ("imapmem", "imapmem_node_h1", "imapmem_node_h2")]
    im = R.get(("fastpool", "imapmem", "veth"), {})
    total = num(im, "mib") or float(os.environ.get("FP_DIST_IMAP_MIB", "1024"))
    rate = num(im, "mib_per_s")
    info(f"imap_unordered of {total:.0f} MiB of 1 MiB results from 2 nodes over veth"
         + (f" ({rate:.0f} MiB/s)" if rate else "")
         + f": peak memory growth client {mib(g[0])}, node fp-h1 {mib(g[1])}, "
         f"node fp-h2 {mib(g[2])} (the larger of the VmRSS samples and VmHWM)")
    worst = max(g) if None not in g else None
    scope = (f", quick: {total:.0f} MiB of results, not 1 GiB" if total < 1024 else "")
    target("dist_imap_memory",
           f"{mib(worst)}(client {mib(g[0])}, fp-h1 {mib(g[1])}, fp-h2 {mib(g[2])}{scope})",
           "<64MiB", worst is not None and worst < 64 and im.get("wrong") == "0")

    with open(os.path.join(out, "targets.txt"), "w") as f:
        f.write("\n".join(tl) + "\n")


if __name__ == "__main__":
    main()
