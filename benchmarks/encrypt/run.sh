#!/usr/bin/env bash
# The cost of encryption (FP_ENCRYPT=1): a map of 4 MiB buffers (argument
# and result 4 MiB each: benchmarks/dist's `dist_fastpool bw --echo`) from a
# client to one node with one executor, over TCP, with and without
# encryption, in the same run:
#
#   bash benchmarks/encrypt/run.sh [BUILD_DIR]     (default build-bench;
#                                                   dist_fastpool is built
#                                                   there if missing)
#
#   veth      client in ${P}c, node in ${P}h1 (tools/netns.sh), TCP over the
#             veth pair
#   loopback  client and node both in ${P}h1, TCP on 127.0.0.1
#
# Each (transport, mode) runs ROUNDS times (default 3), the modes
# alternating so that the load of a shared machine falls on both alike;
# the best of each is kept.  Prints MiB/s of argument bytes (as
# dist_fastpool bw does) per transport and mode, the ratio encrypted /
# clear, and one line
#   TARGET encrypt_4mib_map value=RATIO goal=0.5 MET|NOT MET
# for the veth ratio (encrypted at least half the clear speed).  Then the
# AEAD's own speed on one core (openssl speed -evp aes-256-gcm, 16 KiB and
# 1 MiB blocks), to compare with.  Knobs: N (elements per map, default 16),
# ROUNDS, FP_NETNS_PREFIX (default fpE-b<pid>-).  Needs root (namespaces);
# cleans up on any exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${1:-build-bench}
N=${N:-16}
ROUNDS=${ROUNDS:-3}
P=${FP_NETNS_PREFIX:-fpE-b$$-}
NETNS="$root/tools/netns.sh"
bin="$BUILD/benchmarks/dist/dist_fastpool"

echo "CPU: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1), $(nproc) CPUs"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
    echo "WARNING: load average $load: figures from a busy machine mean little"

if [ ! -x "$bin" ]; then
    echo "building dist_fastpool in $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_BENCHMARKS=ON >/dev/null
    cmake --build "$BUILD" -j2 --target dist_fastpool >/dev/null
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    FP_NETNS_HOSTS=1 bash "$NETNS" down "$P" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
if ! out=$(FP_NETNS_HOSTS=1 bash "$NETNS" up "$P" 2>&1); then
    echo "cannot create network namespaces: $out"
    exit 77
fi
head -c 32 /dev/urandom | base64 >"$tmp/secret"
chmod 600 "$tmp/secret"
export FP_SECRET_FILE="$tmp/secret" FP_TRANSPORT=tcp FP_LOG_LEVEL=error

# node NS LISTEN ENCRYPT: start a node, print its address
node() {
    local ns=$1 listen=$2 enc=$3 log=$tmp/node.$RANDOM i line
    ip netns exec "$ns" env FP_NODE_LISTEN="$listen" FP_EXECUTORS=1 \
        FP_ENCRYPT="$enc" "$bin" node >"$log" 2>"$log.err" &
    pids+=("$!")
    for i in $(seq 100); do
        line=$(head -n1 "$log" 2>/dev/null || true)
        if [[ "$line" == LISTENING\ * ]]; then
            echo "${line#LISTENING }"
            return 0
        fi
        sleep 0.1
    done
    echo "node did not start: $(cat "$log.err")" >&2
    return 1
}

# bw NS ADDR ENCRYPT: MiB/s of one map run (best of its reps)
bw() {
    local out
    out=$(ip netns exec "$1" env FP_ENCRYPT="$3" "$bin" bw --echo --n "$N" \
        --reps 2 --nodes "$2" --label "$4" 2>"$tmp/client.err") || {
        echo "client failed: $(tail -n3 "$tmp/client.err")" >&2
        return 1
    }
    sed -n 's/.*mib_per_s=\([0-9.e+]*\).*/\1/p' <<<"$out" | head -n1
}

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }

declare -A R
for tr in veth loopback; do
    if [ "$tr" = veth ]; then cns=${P}c nns=${P}h1 listen=10.77.0.1:0
    else cns=${P}h1 nns=${P}h1 listen=127.0.0.1:0; fi
    addr0=$(node "$nns" "$listen" 0)
    addr1=$(node "$nns" "$listen" 1)
    for r in $(seq "$ROUNDS"); do
        v=$(bw "$cns" "$addr0" 0 "$tr")
        R[$tr,clear]=$(best "${R[$tr,clear]:-}" "$v")
        v=$(bw "$cns" "$addr1" 1 "$tr")
        R[$tr,encrypted]=$(best "${R[$tr,encrypted]:-}" "$v")
        : "$r"
    done
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
done

echo
echo "map of $N x 4 MiB (argument and result 4 MiB each), one node, one executor, TCP; best of $ROUNDS"
printf '%-10s %14s %14s %8s\n' transport "clear MiB/s" "encrypted" ratio
for tr in veth loopback; do
    ratio=$(awk -v e="${R[$tr,encrypted]}" -v c="${R[$tr,clear]}" 'BEGIN { printf "%.3f", e / c }')
    R[$tr,ratio]=$ratio
    printf '%-10s %14.1f %14.1f %8s\n' "$tr" "${R[$tr,clear]}" "${R[$tr,encrypted]}" "$ratio"
    echo "RESULT encrypt transport=$tr clear_mib_per_s=${R[$tr,clear]} encrypted_mib_per_s=${R[$tr,encrypted]} ratio=$ratio"
done

echo
echo "AEAD on one core (openssl speed, 1 s each):"
for c in aes-256-gcm chacha20-poly1305; do
    for b in 16384 1048576; do
        openssl speed -seconds 1 -bytes "$b" -evp "$c" 2>/dev/null |
            awk -v c="$c" -v b="$b" '$0 ~ /k$/ { v = $NF; sub(/k$/, "", v); printf "  %-18s %8d B blocks: %8.0f MiB/s\n", c, b, v * 1000 / 1048576 }'
    done
done

met=$(awk -v r="${R[veth,ratio]}" 'BEGIN { print (r >= 0.5) ? "MET" : "NOT MET" }')
echo
echo "TARGET encrypt_4mib_map value=${R[veth,ratio]} goal=0.5 $met"
