#!/usr/bin/env bash
# in_netns.sh PROGRAM [args]: run PROGRAM in the client namespace of a fresh
# set of network namespaces (tools/netns.sh, prefix fpS<pid>-, three node
# hosts) with FP_TEST_NODE_NS naming h1 (the server's host), h2 and h3 (the
# nodes'), and remove the set afterwards.  77 (skip) when namespaces cannot
# be made here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../../tools/netns.sh
prefix=fpS$$-
trap 'bash "$netns" down "$prefix" >/dev/null 2>&1 || true' EXIT
if ! out=$(FP_NETNS_HOSTS=3 bash "$netns" up "$prefix" 2>&1); then
    echo "SKIP: cannot create network namespaces: $out"
    exit 77
fi
ip netns exec "${prefix}c" env \
    FP_TEST_NODE_NS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2,${prefix}h3:10.77.0.3" \
    "$@"
