#!/usr/bin/env bash
# Open MPI's remote-shell agent for the namespace hosts (plm_rsh_agent):
# called as `mpi_rsh.sh [OPTIONS] HOST COMMAND...` the way ssh would be, it
# runs COMMAND in HOST's network namespace through tools/netns.sh, pinned to
# that host's CPUs ($FP_DIST_CPUS_H1 / $FP_DIST_CPUS_H2; empty: unpinned).
# HOST: an address of the set (10.77.0.254, 10.77.0.1, 10.77.0.2) or a
# namespace name (${FP_NETNS_PREFIX}c, ...h1, ...h2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns="$here/../../tools/netns.sh"
P=${FP_NETNS_PREFIX:-fp-}
while [ $# -gt 0 ] && [[ "$1" == -* ]]; do shift; done   # ssh-style options
[ $# -ge 2 ] || { echo "mpi_rsh.sh: usage: mpi_rsh.sh HOST COMMAND..." >&2; exit 2; }
host=$1; shift
case "$host" in
    10.77.0.254 | "${P}c") h=c cpus="" ;;
    10.77.0.1 | "${P}h1") h=h1 cpus=${FP_DIST_CPUS_H1:-} ;;
    10.77.0.2 | "${P}h2") h=h2 cpus=${FP_DIST_CPUS_H2:-} ;;
    *) echo "mpi_rsh.sh: unknown host '$host'" >&2; exit 255 ;;
esac
# ssh hands the remote shell one string: the words joined by spaces
if [ -n "$cpus" ]; then
    exec bash "$netns" exec "$h" taskset -c "$cpus" /bin/sh -c "$*"
fi
exec bash "$netns" exec "$h" /bin/sh -c "$*"
