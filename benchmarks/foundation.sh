#!/usr/bin/env bash
# The foundation targets (issue: foundation fixes), measured by
# foundation_fastpool (Release build) and turned into TARGET lines:
#   waits with timeouts >= 1e18 s (INFINITY, DBL_MAX, 1e19, 1e18) return the
#   result; a blocked wait's CPU; 1,000 and 4,096 executors on this machine
#   (create time, idle CPU); imap_unordered's first result with a 1 ms task
#   over 10^6 elements; resident memory of 10^4 results of 1 MiB via imap.
#
#   bash benchmarks/foundation.sh [build-dir]     (default build-bench)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${1:-${FP_BENCH_BUILD_DIR:-$repo/build-bench}}"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF \
      -DFP_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target foundation_fastpool >/dev/null
echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$("$build/benchmarks/foundation_fastpool" all)
printf '%s\n' "$out"
/usr/bin/python3 - "$out" <<'PYEOF'
import sys
rows = []
for line in sys.argv[1].splitlines():
    parts = line.split()
    if not parts:
        continue
    rows.append((parts[0], dict(p.split("=", 1) for p in parts[1:] if "=" in p)))
def get(name, **match):
    for n, kv in rows:
        if n == name and all(kv.get(k) == v for k, v in match.items()):
            return kv
    return {}
def target(name, value, goal, met):
    print(f"TARGET {name} value={value} goal={goal} {'MET' if met else 'NOT MET'}")
w = get("waits_summary")
target("huge_timeouts_return_result", f"{w.get('all_returned')}(worst {w.get('worst_seconds')} s for a 0.1 s task)",
       "all return the result", w.get("all_returned") == "1" and float(w.get("worst_seconds", 99)) < 1)
b = get("blocked_wait")
cpu = float(b.get("thread_cpu_percent", 100))
target("blocked_wait_cpu_percent", f"{cpu:.3f}", "<1", cpu < 1)
m = get("many", executors="4096")
c, i = float(m.get("create_seconds", 99)), float(m.get("idle_cpu_percent", 100))
target("create_4096_executors_seconds", f"{c:.3f}", "<1", c < 1)
target("idle_4096_executors_cpu_percent", f"{i:.3f}", "<=1", i <= 1)
l = get("imap_latency", call="imap_unordered")
f = float(l.get("first_result_ms", 1e9))
target("imap_unordered_1ms_first_result_ms", f"{f:.2f}", "<20", f < 20)
r = get("imap_memory")
g = float(r.get("rss_growth_mib", 1e9))
target("imap_1MiB_x_10k_rss_growth_mib", f"{g:.1f}", "<256", g < 256 and r.get("wrong") == "0")
PYEOF
