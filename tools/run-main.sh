#!/usr/bin/env bash
# The main job: install what is missing, build (Release), then map a function
# over a million inputs
#   1. on the embedded default pool (this machine's cores), and
#   2. the same map on two nodes in network namespaces of this machine
#      (tools/netns.sh: the client in one, a node in each of two others,
#      joined by veth pairs; TCP), each node the very same program started
#      with FP_NODE_LISTEN (its task is compiled in: nothing to ship),
# printing the result check and the throughput of each.
# Without permission for network namespaces, step 2 runs its two nodes on
# this host over TCP on loopback instead, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF \
      -DFP_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fastpool-map-demo fastpool-worker
demo=$(cd "$BUILD/tools" && pwd)/fastpool-map-demo
N=${FP_MAIN_N:-1000000}
echo "CPU: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1), $(nproc) CPUs"

echo "== local pool (embedded default) =="
"$demo" -n "$N"

echo
tmp=$(mktemp -d)
prefix=fpmain$$-
pids=()
cleanup() {
    if [[ -f $tmp/pids ]]; then
        while read -r p; do pids+=("$p"); done < "$tmp/pids"
    fi
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    bash tools/netns.sh down "$prefix" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
head -c 32 /dev/urandom > "$tmp/secret"
chmod 600 "$tmp/secret"
export FP_SECRET_FILE=$tmp/secret FP_TRANSPORT=tcp

# start_node WHERE... : run the demo as a node, echo the address it bound
start_node() {
    local out=$tmp/node.${#pids[@]}
    "$@" > "$out" 2> "$out.err" &
    pids+=($!)
    echo "$!" >> "$tmp/pids" # start_node runs in $(...): see cleanup
    for _ in $(seq 1 200); do
        if grep -q '^LISTENING ' "$out" 2>/dev/null; then
            awk '/^LISTENING /{print $2; exit}' "$out"; return 0
        fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "a node did not start:" >&2; cat "$out.err" >&2; return 1
}

if bash tools/netns.sh up "$prefix" >/dev/null 2>"$tmp/ns.err"; then
    echo "== the same map on two nodes in network namespaces (TCP over veth) =="
    a1=$(start_node ip netns exec "${prefix}h1" env FP_NODE_LISTEN=10.77.0.1:0 FP_EXECUTORS=1 "$demo")
    a2=$(start_node ip netns exec "${prefix}h2" env FP_NODE_LISTEN=10.77.0.2:0 FP_EXECUTORS=1 "$demo")
    ip netns exec "${prefix}c" "$demo" -n "$N" --nodes "$a1,$a2"
    while read -r p; do kill -TERM "$p" 2>/dev/null || true; done < "$tmp/pids"

    echo
    echo "== the same map over a two-host cluster file, nodes started over SSH =="
    # real sshds in h1 and h2 (throw-away keys); h2 has nothing of fastpool:
    # no project tree, no UCX, hwloc, libconfig or libcrypto, so the
    # program and its libraries travel as a bundle (cached there by hash)
    if bash tools/sshd.sh up "$tmp/ssh" "$prefix" h1 bare:h2 >"$tmp/sshd.log" 2>&1; then
        cat > "$tmp/cluster.cfg" <<EOF
cluster = {
  name = "main-job";
  bootstrap = "ssh";
  transports = ["tcp"];
  ssh = { config_file = "$tmp/ssh/ssh_config"; connect_timeout = 10; };
  node = { cache_dir = "$tmp/remote-cache"; };
  hosts = (
    { name = "h1"; address = "h1"; executors = 1; },
    { name = "h2"; address = "h2"; executors = 1; }
  );
};
EOF
        echo "cluster file:"; sed 's/^/  /' "$tmp/cluster.cfg"
        ip netns exec "${prefix}c" "$demo" -n "$N" --cluster "$tmp/cluster.cfg"
        bash tools/sshd.sh down "$tmp/ssh" "$prefix" >/dev/null 2>&1 || true
    else
        echo "(skipped: no sshd here: $(tail -n1 "$tmp/sshd.log"))"
    fi
else
    echo "== the same map on two nodes on this host (TCP on loopback; no network namespaces here: $(head -c 200 "$tmp/ns.err")) =="
    a1=$(start_node env FP_NODE_LISTEN=127.0.0.1:0 FP_EXECUTORS=1 "$demo")
    a2=$(start_node env FP_NODE_LISTEN=127.0.0.1:0 FP_EXECUTORS=1 "$demo")
    "$demo" -n "$N" --nodes "$a1,$a2"
fi
