#!/usr/bin/env bash
# in_netns.sh PROGRAM [args]: run PROGRAM in the client namespace of a fresh
# set (tools/netns.sh), its nodes placed in two of the node namespaces, h1
# and h2 (FP_TEST_NODE_NS), and remove the set afterwards.  77 (skip) when
# namespaces cannot be made here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../../tools/netns.sh
prefix=fpd$$-
trap 'bash "$netns" down "$prefix" >/dev/null 2>&1 || true' EXIT
if ! out=$(bash "$netns" up "$prefix" 2>&1); then
    echo "SKIP: cannot create network namespaces: $out"
    exit 77
fi
ip netns exec "${prefix}c" env FP_TEST_NODE_NS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2" "$@"
