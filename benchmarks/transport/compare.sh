#!/usr/bin/env bash
# fastpool transport vs raw UCX (ucx_perftest), same UCX settings, same run.
#
#   bash benchmarks/transport/compare.sh [BUILD_DIR]      (REPS=3 by default)
#
# For each transport (shm, tcp over loopback) and each measure — one-way
# latency at 8 B, 4 KiB, 64 KiB and bandwidth at 64 KiB, 1 MiB, 4 MiB — it
# runs ucx_perftest (-t ucp_am_lat / ucp_am_bw, peer error handling -e as
# fastpool uses, and the UCX options fastpool sets) and bench_transport
# (Google Benchmark; authentication on; busy polling, as perftest does)
# one right after the other, REPS times, and keeps the best of each: these
# VMs drift by 2x within minutes, so only interleaved runs compare.  Then the
# CPU use of an idle connected pair.  Ends with one line per target:
#   TARGET name value=... goal=... MET|NOT MET
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-bench}
REPS=${REPS:-3}
RAW_HDR=${RAW_HDR:-64}   # AM header bytes for the "raw, same header" column (BULK: 64)
PY=/usr/bin/python3
command -v ucx_perftest >/dev/null || { echo "ucx_perftest missing (apt-get install ucx-utils)"; exit 1; }

# always bring the build up to date: an old binary measures old code
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target bench_transport >/dev/null
BT="$BUILD/benchmarks/transport/bench_transport"
out=$(mktemp -d /tmp/fp-tpbench-XXXXXX)
trap 'rm -rf "$out"' EXIT
export UCX_NET_DEVICES=lo   # loopback only: never the host's other addresses
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
  echo "WARNING: load average $load: figures from a busy machine mean little"

port=13390
# ucx_perftest with the environment fastpool gives UCX for transport $1;
# prints latency (us, average) or bandwidth (MiB/s, overall)
perftest() { # transport test size iterations [am-header-bytes]
  local t=$1 test=$2 size=$3 n=$4 hdr=${5:-0} tls env=()
  if [ "$t" = shm ]; then
    tls=shm,tcp; env=(UCX_MM_ERROR_HANDLING=y UCX_CMA_MEMORY_INVALIDATE=y)
  else
    tls=tcp
  fi
  port=$((port + 1))
  env UCX_TLS=$tls "${env[@]}" ucx_perftest -p "$port" -e >/dev/null 2>&1 &
  local spid=$! line
  sleep 0.4
  line=$(env UCX_TLS=$tls "${env[@]}" ucx_perftest 127.0.0.1 -p "$port" -e \
           -t "$test" -s "$size" -n "$n" -H "$hdr" 2>/dev/null | awk '/^Final:/')
  wait "$spid" 2>/dev/null || true
  # Final: iters p50 avg overall MB/s(avg) MB/s(overall) msg/s(avg) msg/s(overall)
  if [ "$test" = ucp_am_lat ]; then echo "$line" | awk '{print $4}'; else echo "$line" | awk '{print $7}'; fi
}

# bench_transport for one measure; prints "value copied"
fastpool() { # transport kind size
  FP_BENCH_TRANSPORTS=$1 "$BT" --benchmark_filter="^$2/$1/$3/" \
      --benchmark_min_time=0.5 --benchmark_format=json 2>/dev/null |
    "$PY" -c '
import json, sys
b = json.load(sys.stdin)["benchmarks"][0]
print(b.get("one_way_us", b.get("MiBps")), int(b.get("copied", 0)))'
}

best() { # kind old new -> the better of two figures
  awk -v k="$1" -v a="$2" -v b="$3" 'BEGIN {
    if (a == "") { print b; exit } if (b == "") { print a; exit }
    if (k == "latency") print (b < a ? b : a); else print (b > a ? b : a) }'
}

printf "%-30s %12s %12s %12s %12s %12s\n" measure fastpool "raw UCX" ratio "raw, ${RAW_HDR}B hdr" "raw, +${RAW_HDR}B"
results=()
pairs=()   # each back-to-back (raw, fastpool) measurement, for pair ratios
copied_total=0
for t in shm tcp; do
  for kind in latency bandwidth; do
    if [ $kind = latency ]; then sizes="8 4096 65536"; else sizes="65536 1048576 4194304"; fi
    for s in $sizes; do
      ours="" raw="" rawh="" rawb=""
      if [ $kind = latency ]; then
        n=$([ $t = shm ] && echo 200000 || echo 50000); [ "$s" = 65536 ] && n=20000
        test=ucp_am_lat
      else
        n=$([ "$s" = 4194304 ] && echo 2000 || echo 10000); test=ucp_am_bw
      fi
      for _ in $(seq "$REPS"); do
        r1=$(perftest $t $test "$s" $n)
        raw=$(best $kind "$raw" "$r1")
        read -r v c < <(fastpool $t $kind "$s")
        ours=$(best $kind "$ours" "$v")
        pairs+=("$kind $t $s ${r1:-0} ${v:-0}")
        copied_total=$((copied_total + $( [ "$s" -ge 65536 ] && echo "$c" || echo 0 )))
        if [ $kind = latency ] && [ "$s" != 65536 ]; then
          rawh=$(best $kind "$rawh" "$(perftest $t $test "$s" $n "$RAW_HDR")")
          # the bytes the framed form puts on the wire: header + payload
          # as one block of AM data, no AM header
          rawb=$(best $kind "$rawb" "$(perftest $t $test $((s + RAW_HDR)) $n)")
        fi
      done
      ratio=$(awk -v a="$ours" -v b="$raw" 'BEGIN { printf "%.2f", a / b }')
      unit=$([ $kind = latency ] && echo us || echo MiB/s)
      printf "%-30s %12.3f %12.3f %11sx %12s %12s\n" "$kind $t $s B ($unit)" "$ours" "$raw" "$ratio" "${rawh:--}" "${rawb:--}"
      results+=("$kind $t $s $ours $raw ${rawh:-0} ${rawb:-0}")
    done
  done
done

echo
"$BT" --idle 10 | tee "$out/idle.txt"
echo
printf '%s\n' "${results[@]}" > "$out/results.txt"
printf '%s\n' "${pairs[@]}" > "$out/pairs.txt"
"$PY" - "$out/results.txt" "$out/idle.txt" "$copied_total" "$RAW_HDR" "$out/pairs.txt" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
idle = dict(kv.split("=") for kv in open(sys.argv[2]).read().split() if "=" in kv)
copied = int(sys.argv[3])
def target(name, value, goal, met):
    print(f"TARGET {name} value={value} goal={goal} {'MET' if met else 'NOT MET'}")
# Best-of on each side alone can pair one side's lucky run with the other's
# ordinary one; the median of the back-to-back pairs' ratios is steadier.
pr = {}
for line in open(sys.argv[5]):
    f = line.split()
    if len(f) == 5 and float(f[3]) > 0 and float(f[4]) > 0:
        r = float(f[4]) / float(f[3])
        pr.setdefault((f[0], f[1], f[2]), []).append(r if f[0] == "latency" else 1 / r)
for (kind, t, s), rs in pr.items():
    if kind == "latency":
        print(f"INFO latency_{t}_{s}B_vs_raw_median_pair value={statistics.median(rs):.2f}x "
              f"(median of {len(rs)} back-to-back pairs: " + ", ".join(f"{x:.2f}" for x in rs) + ")")
for kind, t, s, ours, raw, rawh, rawb in rows:
    ours, raw, rawh, rawb = float(ours), float(raw), float(rawh), float(rawb)
    if kind == "latency" and rawh > 0:
        print(f"INFO latency_{t}_{s}B_vs_raw_same_header value={ours / rawh:.2f}x "
              f"(raw UCX with a {sys.argv[4]}-byte AM header: {rawh:.3f} us)")
    if kind == "latency" and rawb > 0:
        print(f"INFO latency_{t}_{s}B_vs_raw_same_bytes value={ours / rawb:.2f}x "
              f"(raw UCX sending {int(s) + int(sys.argv[4])} bytes of data, what "
              f"the framed form puts on the wire: {rawb:.3f} us)")
for kind, t, s, ours, raw, rawh, rawb in rows:
    ours, raw = float(ours), float(raw)
    if kind == "latency":
        target(f"latency_{t}_{s}B_vs_raw", f"{ours / raw:.2f}x", "<=1.2x", ours / raw <= 1.2)
for kind, t, s, ours, raw, rawh, rawb in rows:
    ours, raw = float(ours), float(raw)
    if kind == "bandwidth" and s == "4194304":
        target(f"bandwidth_{t}_4MiB_vs_raw", f"{ours / raw * 100:.0f}%", ">=90%", ours / raw >= 0.9)
target("bytes_copied_above_rndv_threshold", copied, "0", copied == 0)
cpu = max(float(idle.get("client_cpu_percent", 100)), float(idle.get("node_cpu_percent", 100)))
target("idle_connected_cpu_percent", f"{cpu:.2f}", "<=1", cpu <= 1 and idle.get("connected") == "yes")
PYEOF
