#!/usr/bin/env bash
# The rendezvous server's target, on network-namespace hosts of this
# machine (tools/netns.sh):
#
#   bash benchmarks/server/run.sh [BUILD_DIR]        (default build-server)
#
#   server_join_first_task  a client already connected to fastpool-server
#                           (in host h1) maps over one node (h2); then
#                           `fastpool-worker --server ...` starts in h3: the
#                           seconds from its start to the first task it
#                           runs for that client (the task's own clock;
#                           worker start, registration, the server's JOIN,
#                           the client's connect and pool open, the first
#                           record), goal <= 1 s
#
# Builds test_server, its task module, fastpool-server and fastpool-worker
# in BUILD_DIR (Release), runs the measurement FP_SERVER_RUNS times (default
# 7; it is tests/server/test_server's `join` case, which also checks every
# result) and prints each figure, the median and the worst, then
#   TARGET server_join_first_task value=<median> goal=1.0 MET|NOT MET
# Logs go to $FP_SERVER_OUT (default benchmarks/server/out/).  Needs root
# for the namespaces; 77 when they cannot be made.  Namespaces and
# processes are cleaned up on any exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${1:-build-server}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
OUT=${FP_SERVER_OUT:-$here/out}
RUNS=${FP_SERVER_RUNS:-7}
NETNS="$root/tools/netns.sh"
GOAL=1.0

echo "CPU: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1), $(nproc) CPUs"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
    echo "WARNING: load average $load: figures from a busy machine mean little"
mkdir -p "$OUT/logs"
prefix=fpsb$$-
cleanup() { bash "$NETNS" down "$prefix" >/dev/null 2>&1 || true; }
trap cleanup EXIT
not_met() { echo "TARGET server_join_first_task value=NA goal=$GOAL NOT MET ($1)"; }

log="$OUT/logs/build.log"
if ! { { [ -f "$BUILD/CMakeCache.txt" ] ||
         cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=ON \
               -DFP_BUILD_BENCHMARKS=OFF >"$log" 2>&1; } &&
       cmake --build "$BUILD" -j"$(nproc)" --target test_server fp_srv_task \
             fastpool-server fastpool-worker >>"$log" 2>&1; }; then
    echo "run.sh: the build failed (see $log)" >&2
    not_met "the build failed"
    exit 1
fi
prog=$BUILD/tests/server/test_server
module=$(ls "$BUILD"/tests/server/*fp_srv_task*.so | head -n1)

if ! FP_NETNS_HOSTS=3 bash "$NETNS" up "$prefix" >"$OUT/logs/netns.log" 2>&1; then
    echo "run.sh: no namespace hosts: $(tr '\n' ' ' <"$OUT/logs/netns.log")" >&2
    not_met "no network namespaces here"
    exit 77
fi

secret=$(mktemp /tmp/fp-server-bench-XXXXXX)
head -c 32 /dev/urandom >"$secret"
chmod 600 "$secret"
trap 'rm -f "$secret"; cleanup' EXIT

echo "== server_join_first_task: fastpool-server in h1, a node in h2 mapping for a client in c, fastpool-worker started in h3"
vals=()
for i in $(seq 1 "$RUNS"); do
    rc=0
    timeout --kill-after=10 120 ip netns exec "${prefix}c" env \
        FP_TEST_NODE_NS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2,${prefix}h3:10.77.0.3" \
        FP_SECRET_FILE="$secret" FP_TRANSPORT=tcp FP_LOG_LEVEL=error \
        FP_TEST_SERVER="$BUILD/tools/fastpool-server" \
        FP_TEST_WORKER="$BUILD/tools/fastpool-worker" FP_TEST_SRV_MODULE="$module" \
        "$prog" join >"$OUT/logs/join-$i.log" 2>&1 || rc=$?
    v=$(sed -n 's/^JOIN_FIRST_TASK seconds=//p' "$OUT/logs/join-$i.log" | head -n1)
    if [ "$rc" -ne 0 ] || [ -z "$v" ]; then
        echo "  run $i: failed (exit $rc; logs/join-$i.log)"
        continue
    fi
    echo "  run $i: $v s"
    vals+=("$v")
    bash "$NETNS" reap "$prefix" >/dev/null 2>&1 || true
done
if [ ${#vals[@]} -eq 0 ]; then
    not_met "no run gave a figure; see $OUT/logs"
    exit 1
fi
sorted=$(printf '%s\n' "${vals[@]}" | sort -g)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
worst=$(echo "$sorted" | tail -n1)
echo "  runs: ${#vals[@]} of $RUNS; median $median s, worst $worst s"
met=$(awk -v v="$median" -v g="$GOAL" 'BEGIN { print (v <= g) ? "MET" : "NOT MET" }')
echo "TARGET server_join_first_task value=$median goal=$GOAL $met"
