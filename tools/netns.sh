#!/usr/bin/env bash
# Network-namespace "hosts" on this machine, for distributed benchmarks and
# tests: a client host and N node hosts (N = $FP_NETNS_HOSTS, 1..8, default
# 3):
#
#   ${P}c   the client host: a bridge br0 (10.77.0.254/24) joining the veth
#            pairs below
#   ${P}h1  a node host: eth0 10.77.0.1/24, the other end of veth "h1" in ${P}c
#   ${P}h2  a node host: eth0 10.77.0.2/24, the other end of veth "h2" in ${P}c
#   ${P}h3  a node host: eth0 10.77.0.3/24, the other end of veth "h3" in ${P}c
#   ...     ${P}hK at 10.77.0.K, up to h$FP_NETNS_HOSTS
#
# with P = the PREFIX argument of up/down/reap/status, else $FP_NETNS_PREFIX,
# else "fp-", so that a test can run its own set beside another one (exec and
# addr take the prefix from the environment only).  lo is up in each.
#
#   bash tools/netns.sh up [PREFIX]   create the set (a leftover set with the
#                                     same prefix is removed first)
#   bash tools/netns.sh down [PREFIX] remove it: end the processes still in
#                                     those namespaces, delete them (and with
#                                     them their veths and the bridge);
#                                     idempotent, for traps; removes every
#                                     ${P}h1..h8 there is, whatever the count
#                                     it was made with
#   bash tools/netns.sh exec H CMD... run CMD in host H (c, h1, h2, h3..., or
#                                     the full namespace name) with its own
#                                     UTS namespace whose host name is the
#                                     namespace's name (FP_NETNS_UTS=0: keep
#                                     this machine's host name)
#   bash tools/netns.sh reap [PREFIX] end the processes still in the set's
#                                     namespaces (TERM, then KILL), keep them
#   bash tools/netns.sh status        list the set's namespaces and addresses
#   bash tools/netns.sh addr H        print host H's address
#
# Everything is created inside the new namespaces (the veth pairs are made in
# ${P}c with their peers put straight into ${P}h1, ${P}h2, ...), so the root
# namespace's interfaces, addresses and routes are never touched.  Needs root
# (CAP_SYS_ADMIN, CAP_NET_ADMIN); exits 77 (the "skipped" code of CTest and
# automake) when network namespaces, veth pairs or bridges are not permitted
# here.  Environment: FP_NETNS_PREFIX, FP_NETNS_HOSTS (node hosts made by
# up, 1..8, default 3), FP_NETNS_MTU (default: the kernel's, 1500),
# FP_NETNS_UTS.
set -euo pipefail

die() { echo "netns.sh: $*" >&2; exit 1; }
skip() { echo "netns.sh: $*" >&2; exit 77; }

cmd=${1:-}
[ $# -eq 0 ] || shift
P=${FP_NETNS_PREFIX:-fp-}
# up, down, reap and status also take the prefix as an argument
case "$cmd" in
    up | down | reap | status) if [ $# -ge 1 ]; then P=$1; shift; fi ;;
esac
HOSTS=${FP_NETNS_HOSTS:-3}
MAX_HOSTS=8
[[ "$HOSTS" =~ ^[1-8]$ ]] || die "bad FP_NETNS_HOSTS '$HOSTS' (1..$MAX_HOSTS node hosts)"
NS_C="${P}c"
NET=10.77.0
BR=br0

# a prefix becomes part of namespace names: keep it to safe characters
[[ "$P" =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad FP_NETNS_PREFIX '$P' (letters, digits, _ . - only)"

# the node hosts' short names: made by up (h1..h$HOSTS), and every one down,
# reap and status look for (h1..h$MAX_HOSTS)
made_hosts() { seq -f 'h%g' 1 "$HOSTS"; }
all_hosts() { seq -f 'h%g' 1 "$MAX_HOSTS"; }

ns_of() { # host -> namespace name
    case "$1" in
        c | "$NS_C") echo "$NS_C" ;;
        h[1-8]) echo "${P}$1" ;;
        "${P}"h[1-8]) echo "$1" ;;
        *) die "unknown host '$1' (c, h1..h$MAX_HOSTS, or ${P}c, ${P}h1...)" ;;
    esac
}

addr_of() { # host -> address
    local ns
    ns=$(ns_of "$1")
    case "$ns" in
        "$NS_C") echo "$NET.254" ;;
        *) echo "$NET.${ns#"${P}"h}" ;;
    esac
}

ns_exists() { [ -e "/run/netns/$1" ]; }

need_ip() {
    command -v ip >/dev/null || skip "the 'ip' command is missing (apt-get install iproute2)"
}

# End the processes left in one namespace (ours: only this set's namespaces
# are ever looked at), by pid: TERM, a short grace, then KILL.
end_procs() {
    local ns=$1 pids pid i
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 20); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        sleep 0.1
        : "$i"
    done
    # a stopped process does not act on TERM; KILL ends it all the same
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
}

# the set's namespaces that exist, node hosts first
existing() {
    local h
    for h in $(all_hosts); do
        if ns_exists "${P}$h"; then echo "${P}$h"; fi
    done
    if ns_exists "$NS_C"; then echo "$NS_C"; fi
}

down() {
    need_ip
    local ns
    for ns in $(existing); do
        end_procs "$ns"
        ip netns delete "$ns" 2>/dev/null || true
    done
    # a veth pair disappears with either of its namespaces; nothing else to do
    local left
    left=$(existing | tr '\n' ' ')
    [ -z "$left" ] || die "could not delete namespace(s) $left"
}

up_failed() {
    local st=$?
    if [ "$st" -ne 0 ]; then down || true; fi
    exit "$st"
}

up() {
    need_ip
    if [ -n "$(existing)" ]; then
        echo "netns.sh: removing a leftover set with prefix '$P'" >&2
        down
    fi
    local why
    if ! why=$(ip netns add "$NS_C" 2>&1); then
        skip "cannot create network namespaces here ($why); run as root on a kernel that allows 'ip netns add'"
    fi
    # from here on a failure leaves nothing behind
    trap up_failed EXIT
    local h
    for h in $(made_hosts); do
        ip netns add "${P}$h"
    done
    local mtu=()
    [ -z "${FP_NETNS_MTU:-}" ] || mtu=(mtu "$FP_NETNS_MTU")
    local ns
    for ns in $(existing); do
        ip -n "$ns" link set lo up
    done
    if ! why=$(ip -n "$NS_C" link add "$BR" type bridge 2>&1); then
        down; trap - EXIT
        skip "cannot create a bridge in $NS_C ($why)"
    fi
    ip -n "$NS_C" link set "$BR" "${mtu[@]}" up
    ip -n "$NS_C" addr add "$NET.254/24" dev "$BR"
    local peer
    for h in $(made_hosts); do
        peer=$(ns_of "$h")
        if ! why=$(ip -n "$NS_C" link add "$h" "${mtu[@]}" type veth peer name eth0 netns "$peer" 2>&1); then
            down; trap - EXIT
            skip "cannot create a veth pair ($why)"
        fi
        ip -n "$NS_C" link set "$h" master "$BR" up
        ip -n "$peer" link set eth0 "${mtu[@]}" up
        ip -n "$peer" addr add "$(addr_of "$h")/24" dev eth0
    done
    # wait until each host reaches the others; no ping here, so a TCP connect
    # to a closed port: "refused" (an RST came back) means reachable, a
    # timeout does not.  Each node host reaches the next one (the last the
    # client) and the client reaches h1: every veth and the bridge carry.
    local i ok hosts desc
    read -r -a hosts <<<"$(made_hosts | tr '\n' ' ')"
    for i in $(seq 50); do
        ok=1
        reaches "$NS_C" "$NET.1" || ok=0
        local k
        for ((k = 0; k < ${#hosts[@]} && ok; k++)); do
            if ((k + 1 < ${#hosts[@]})); then
                reaches "${P}${hosts[k]}" "$(addr_of "${hosts[k + 1]}")" || ok=0
            else
                reaches "${P}${hosts[k]}" "$NET.254" || ok=0
            fi
        done
        if [ "$ok" = 1 ]; then
            trap - EXIT
            desc="$NS_C ($NET.254, bridge $BR)"
            for h in "${hosts[@]}"; do desc+=", ${P}$h ($(addr_of "$h"))"; done
            echo "netns.sh: up: $desc"
            return 0
        fi
        sleep 0.1
        : "$i"
    done
    die "the namespaces do not reach each other (TCP between $NET.254 and $NET.1..$NET.$HOSTS timed out)"
}

reaches() { # namespace address: a TCP SYN to port 9 (discard) gets an answer
    local rc=0
    ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/9" 2>/dev/null || rc=$?
    [ "$rc" -ne 124 ]
}

reap() {
    need_ip
    local ns
    for ns in $(existing); do end_procs "$ns"; done
}

status() {
    need_ip
    local ns shown=" "
    # the client, the hosts up would make, and any others there are
    for ns in "$NS_C" $(made_hosts | sed "s/^/$P/") $(existing); do
        [[ "$shown" != *" $ns "* ]] || continue
        shown+="$ns "
        if ns_exists "$ns"; then
            echo "$ns: $(ip -n "$ns" -br -4 addr show | awk '$3 != "" {printf "%s %s  ", $1, $3}')"
        else
            echo "$ns: absent"
        fi
    done
}

case "$cmd" in
    up) up ;;
    down) down ;;
    status) status ;;
    reap) reap ;;
    addr) [ $# -eq 1 ] || die "usage: netns.sh addr HOST"; addr_of "$1" ;;
    exec)
        [ $# -ge 2 ] || die "usage: netns.sh exec HOST CMD [ARG...]"
        need_ip
        ns=$(ns_of "$1"); shift
        ns_exists "$ns" || die "namespace $ns does not exist (run: tools/netns.sh up)"
        if [ "${FP_NETNS_UTS:-1}" = 1 ] && command -v unshare >/dev/null; then
            # its own host name, as a real host has (Open MPI and the node's
            # announcement tell hosts apart by it)
            # shellcheck disable=SC2016  # $0/$@ belong to the inner shell
            exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
        fi
        exec ip netns exec "$ns" "$@"
        ;;
    *)
        echo "usage: bash tools/netns.sh up|down|reap|status [PREFIX] | exec HOST CMD... | addr HOST" >&2
        exit 2
        ;;
esac
