#!/usr/bin/env bash
# encrypt_netns.sh PROGRAM: run PROGRAM (test_encrypt) in the client
# namespace of a fresh set of network namespaces (tools/netns.sh, a prefix
# of its own), its nodes in h1 and h2, over TCP; remove the set afterwards.
# 77 (skip) when namespaces cannot be made here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../../tools/netns.sh
prefix=fpE$$-
trap 'bash "$netns" down "$prefix" >/dev/null 2>&1 || true' EXIT
if ! out=$(FP_NETNS_HOSTS=2 bash "$netns" up "$prefix" 2>&1); then
    echo "SKIP: cannot create network namespaces: $out"
    exit 77
fi
ip netns exec "${prefix}c" env FP_TRANSPORT=tcp \
    FP_TEST_NODE_NS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2" "$@"
