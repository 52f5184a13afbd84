#!/usr/bin/env bash
# soak.sh PROGRAM [args]: run the soak test PROGRAM (fp_soak) in the client
# namespace of a fresh set of namespace hosts (tools/netns.sh, three node
# hosts h1..h3 at 10.77.0.1..3), its nodes in the node hosts
# (FP_SOAK_HOSTS), and remove the set afterwards, whatever happens.  77
# (skip) with the reason when namespaces cannot be made here.  The FP_SOAK_*
# knobs pass through (see soak.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns=$here/../../tools/netns.sh
prefix=fpsk$$-
trap 'bash "$netns" down "$prefix" >/dev/null 2>&1 || true' EXIT
if ! out=$(FP_NETNS_HOSTS=3 bash "$netns" up "$prefix" 2>&1); then
    echo "SKIP: cannot create network namespaces: $out"
    exit 77
fi
rc=0
ip netns exec "${prefix}c" env \
    FP_SOAK_HOSTS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2,${prefix}h3:10.77.0.3" \
    "$@" || rc=$?
exit "$rc"
