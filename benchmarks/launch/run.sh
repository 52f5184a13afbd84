#!/usr/bin/env bash
# Launch targets over SSH, against real sshd servers in network namespaces
# (tools/netns.sh, tools/sshd.sh); prints every figure and ends with TARGET
# lines.  The program timed is tests/ssh/test_ssh (built with the tests):
#
#   ssh_add_host_first   fp_pool_create with one host whose cache is empty:
#                        the bundle is sent (goal <= 3 s), on a host with
#                        fastpool's libraries hidden (nothing installed)
#   ssh_add_host_cached  the same with the bundle cached there (goal <= 0.5 s)
#   ssh_no_orphans       seconds until no process but sshd is left on two
#                        hosts after their client got SIGKILL mid-map
#                        (goal: 0 processes 2 s after the kill)
#
#   bash benchmarks/launch/run.sh [BUILD_DIR]     (default build)
#   FP_BENCH_RUNS=N   runs of each (default 5; the median is the figure)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(readlink -f "${1:-$root/build}")
bin=$build/tests/ssh/test_ssh
[ -x "$bin" ] || { echo "no $bin: build with the tests (cmake -DFP_BUILD_TESTS=ON)"; exit 1; }
runs=${FP_BENCH_RUNS:-5}
P=fpL$$-
P=${P:0:8}
dir=$(mktemp -d /tmp/fp-launch-bench.XXXXXX)
cleanup() {
  bash "$root/tools/sshd.sh" down "$dir/ssh" "$P" >/dev/null 2>&1
  bash "$root/tools/netns.sh" down "$P" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
FP_NETNS_HOSTS=3 bash "$root/tools/netns.sh" up "$P" >/dev/null || exit $?
bash "$root/tools/sshd.sh" up "$dir/ssh" "$P" h1 bare:h2 h3 >/dev/null || exit $?

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
echo "CPU: $cpu, $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "hosts: network namespaces ${P}h1..h3 (10.77.0.1-3), sshd on port 2222; h2 bare"

client() { ip netns exec "${P}c" env FP_SSH_CONFIG="$dir/ssh/ssh_config" \
  FP_TRANSPORT=tcp FP_CACHE_DIR="$dir/cache-client" "$@"; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: > "$dir/first"; : > "$dir/cached"
for i in $(seq "$runs"); do
  out=$(client env FP_REMOTE_CACHE="$dir/remote-$i" "$bin" basic h2 2>&1) || { echo "$out"; exit 1; }
  line=$(grep '^TIME' <<< "$out")
  f=$(sed 's/.*first=\([0-9.]*\).*/\1/' <<< "$line")
  c=$(sed 's/.*cached=\([0-9.]*\).*/\1/' <<< "$line")
  echo "run $i: first $f s (bundle sent), cached $c s"
  echo "$f" >> "$dir/first"; echo "$c" >> "$dir/cached"
done
size=$(du -b "$dir"/remote-1/bundles/*/bin/test_ssh 2>/dev/null | cut -f1)
echo "bundle: $(ls "$dir"/cache-client/bundles/*.tar | head -1 | xargs du -h | cut -f1) tar, $(find "$dir"/remote-1/bundles -type f | wc -l) files"

: > "$dir/orph"
for i in $(seq "$runs"); do
  out=$(client "$bin" orphans "${P}h1" "${P}h3" -- h1 h3 2>&1) || { echo "$out"; exit 1; }
  t=$(grep '^ORPHANS' <<< "$out" | sed 's/.*after \([0-9.]*\) s/\1/')
  echo "orphans run $i: 0 processes left $t s after the kill"
  echo "$t" >> "$dir/orph"
done

verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "MET" : "NOT MET" }'; }
mf=$(median < "$dir/first"); mc=$(median < "$dir/cached"); mo=$(sort -g "$dir/orph" | tail -1)
echo "TARGET ssh_add_host_first value=$mf goal=3 $(verdict "$mf" 3)"
echo "TARGET ssh_add_host_cached value=$mc goal=0.5 $(verdict "$mc" 0.5)"
echo "TARGET ssh_no_orphans value=$mo goal=2 $(verdict "$mo" 2)"
