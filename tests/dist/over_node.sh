#!/usr/bin/env bash
# over_node.sh SETUP TEST_BINARY [args...]
#
# Runs one of the foundation's API test programs, assertions unchanged, with
# its pools placed on nodes: the same binary started as a node
# (FP_NODE_LISTEN: its first fp_pool_create serves, so its tasks and worker
# classes are there without a module), the test pointed at it with FP_NODES.
#
#   local      no node: the program as it is (the reference run)
#   shm        one node on this host, over shared memory
#   tcp        one node on this host, over TCP on loopback
#   netns      two nodes in two network namespaces joined to the client's by
#              a veth pair each (TCP); skipped (77) without `ip netns`
#
# FP_TEST_NODE_EXECUTORS (default 16) executors per node, so that a test
# asking for N executors gets them from the nodes.
set -euo pipefail
setup=$1; shift
bin=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
    # start_node runs in $(...): its pids reach us through $tmp/pids
    if [[ -f $tmp/pids ]]; then
        while read -r p; do pids+=("$p"); done < "$tmp/pids"
    fi
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
    done
    if [[ -n ${NS_PREFIX:-} ]]; then bash "$here/../../tools/netns.sh" down "$NS_PREFIX" >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
if [[ -z ${FP_SECRET_FILE:-} && -z ${FP_SECRET:-} ]]; then
    head -c 32 /dev/urandom > "$tmp/secret"; chmod 600 "$tmp/secret"
    export FP_SECRET_FILE=$tmp/secret
fi
execs=${FP_TEST_NODE_EXECUTORS:-16}

# start_node PREFIX_CMD ADDR -> echoes the address it listens on
start_node() {
    local out=$tmp/node$#.$RANDOM
    "$@" > "$out" 2> "$out.err" &
    pids+=($!)
    echo "$!" >> "$tmp/pids"
    for _ in $(seq 1 200); do
        if grep -q '^LISTENING ' "$out" 2>/dev/null; then
            awk '/^LISTENING /{print $2; exit}' "$out"; return 0
        fi
        if ! kill -0 "${pids[-1]}" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "node did not start:" >&2; cat "$out.err" >&2; return 1
}

case $setup in
local)
    exec "$bin" "$@" ;;
shm|tcp)
    export FP_TRANSPORT=$setup
    addr=$(FP_NODE_LISTEN=127.0.0.1:0 FP_EXECUTORS=$execs start_node "$bin")
    FP_NODES=$addr "$bin" "$@" ;;
netns)
    NS_PREFIX=fpt$$-
    if ! bash "$here/../../tools/netns.sh" up "$NS_PREFIX" >/dev/null 2>"$tmp/ns.err"; then
        echo "SKIP: cannot create network namespaces: $(cat "$tmp/ns.err")"; exit 77
    fi
    ns() { ip netns exec "$NS_PREFIX$1" "${@:2}"; }
    export FP_TRANSPORT=tcp
    a1=$(start_node ip netns exec "${NS_PREFIX}h1" env FP_NODE_LISTEN=10.77.0.1:0 FP_EXECUTORS=$((execs / 2)) "$bin")
    a2=$(start_node ip netns exec "${NS_PREFIX}h2" env FP_NODE_LISTEN=10.77.0.2:0 FP_EXECUTORS=$((execs / 2)) "$bin")
    ns c env FP_NODES="$a1,$a2" "$bin" "$@" ;;
*)
    echo "unknown setup '$setup'" >&2; exit 2 ;;
esac
