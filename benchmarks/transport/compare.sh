#!/usr/bin/env bash
# fastpool transport vs raw UCX (ucx_perftest), same UCX settings, same run.
#
#   bash benchmarks/transport/compare.sh [BUILD_DIR]
#
# For each transport (shm, tcp over loopback) it measures one-way latency
# (8 B, 4 KiB, 64 KiB) and bandwidth (64 KiB, 1 MiB, 4 MiB) of
#   - ucx_perftest -t ucp_am_lat / ucp_am_bw with peer error handling (-e),
#     as fastpool uses it, and the UCX options fastpool sets;
#   - bench_transport (Google Benchmark; authentication on, busy polling as
#     perftest does);
# then the CPU use of an idle connected pair, and ends with one line per
# target: TARGET name value=... goal=... MET|NOT MET.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-bench}
PY=/usr/bin/python3
command -v ucx_perftest >/dev/null || { echo "ucx_perftest missing (apt-get install ucx-utils)"; exit 1; }

if [ ! -x "$BUILD/benchmarks/transport/bench_transport" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target bench_transport
fi
BT="$BUILD/benchmarks/transport/bench_transport"
out=$(mktemp -d /tmp/fp-tpbench-XXXXXX)
trap 'rm -rf "$out"; pkill -f "ucx_perftest -p 1339" 2>/dev/null || true' EXIT
export UCX_NET_DEVICES=lo   # loopback only: never the host's other addresses

# ucx_perftest with the environment fastpool gives UCX for transport $1
perftest() { # transport test size iterations port
  local t=$1 test=$2 size=$3 n=$4 port=$5 tls env=()
  if [ "$t" = shm ]; then
    tls=shm,tcp; env=(UCX_MM_ERROR_HANDLING=y UCX_CMA_MEMORY_INVALIDATE=y)
  else
    tls=tcp
  fi
  env UCX_TLS=$tls "${env[@]}" ucx_perftest -p "$port" -e >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  local line
  line=$(env UCX_TLS=$tls "${env[@]}" ucx_perftest 127.0.0.1 -p "$port" -e \
           -t "$test" -s "$size" -n "$n" 2>/dev/null | awk '/^Final:/')
  wait "$spid" 2>/dev/null || true
  # Final: iters p50 avg overall MB/s(avg) MB/s(overall) msg/s(avg) msg/s(overall)
  if [ "$test" = ucp_am_lat ]; then echo "$line" | awk '{print $4}'; else echo "$line" | awk '{print $7}'; fi
}

echo "== raw UCX (ucx_perftest -e) =="
declare -A RAW
port=13390
for t in shm tcp; do
  for s in 8 4096 65536; do
    n=$([ $t = shm ] && echo 200000 || echo 50000)
    [ $s = 65536 ] && n=20000
    RAW[lat_${t}_$s]=$(perftest $t ucp_am_lat $s $n $port); port=$((port+1))
    echo "raw $t latency ${s} B: ${RAW[lat_${t}_$s]} us"
  done
  for s in 65536 1048576 4194304; do
    n=$([ $s = 4194304 ] && echo 2000 || echo 10000)
    RAW[bw_${t}_$s]=$(perftest $t ucp_am_bw $s $n $port); port=$((port+1))
    echo "raw $t bandwidth ${s} B: ${RAW[bw_${t}_$s]} MiB/s"
  done
done

echo "== fastpool transport (bench_transport) =="
"$BT" --benchmark_min_time=1 --benchmark_out="$out/fp.json" \
      --benchmark_out_format=json 2>&1 | grep -E "^(latency|bandwidth)|connected"
"$BT" --idle 10 | tee "$out/idle.txt"

raw_args=()
for k in "${!RAW[@]}"; do raw_args+=("$k=${RAW[$k]}"); done
"$PY" - "$out/fp.json" "$out/idle.txt" "${raw_args[@]}" <<'PYEOF'
import json, sys
fp = json.load(open(sys.argv[1]))["benchmarks"]
idle = dict(kv.split("=") for kv in open(sys.argv[2]).read().split() if "=" in kv)
raw = {k: float(v) for k, v in (a.split("=") for a in sys.argv[3:]) if v}
ours, copied = {}, {}
for b in fp:
    kind, t, size = b["name"].split("/")[:3]
    if kind == "latency":
        ours[f"lat_{t}_{size}"] = b["one_way_us"]
    else:
        ours[f"bw_{t}_{size}"] = b["MiBps"]
    copied[(kind, t, int(size))] = b.get("copied", 0)
print("\n%-28s %12s %12s %8s" % ("measure", "fastpool", "raw UCX", "ratio"))
for k in sorted(ours):
    r = raw.get(k)
    unit = "us" if k.startswith("lat") else "MiB/s"
    ratio = ours[k] / r if r else float("nan")
    print("%-28s %12.3f %12.3f %8.2f  %s" % (k, ours[k], r or float("nan"), ratio, unit))
def target(name, value, goal, met):
    print(f"TARGET {name} value={value} goal={goal} {'MET' if met else 'NOT MET'}")
print()
for t in ("shm", "tcp"):
    for s in (8, 4096, 65536):
        k = f"lat_{t}_{s}"
        if k in ours and raw.get(k):
            v = ours[k] / raw[k]
            target(f"latency_{t}_{s}B_vs_raw", f"{v:.2f}x", "<=1.2x", v <= 1.2)
for t in ("shm", "tcp"):
    k = f"bw_{t}_4194304"
    if k in ours and raw.get(k):
        v = ours[k] / raw[k]
        target(f"bandwidth_{t}_4MiB_vs_raw", f"{v*100:.0f}%", ">=90%", v >= 0.9)
big = [v for (kind, t, s), v in copied.items() if s >= 65536]
target("bytes_copied_above_rndv_threshold", int(sum(big)), "0", sum(big) == 0 and len(big) > 0)
cpu = max(float(idle.get("client_cpu_percent", 100)), float(idle.get("node_cpu_percent", 100)))
target("idle_connected_cpu_percent", f"{cpu:.2f}", "<=1", cpu <= 1 and idle.get("connected") == "yes")
PYEOF
