#!/usr/bin/env bash
# The transport's shared-memory latency at one commit against the working
# tree: bench_transport built from both (Release), run interleaved, best of
# ROUNDS (7) each.  Used for "loading UCX on first use costs nothing
# measurable" in README.md.
#
#   bash benchmarks/transport/ab_latency.sh [REV] [SIZE]   (053aa28, 8)
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=${1:-053aa28}
SIZE=${2:-8}
ROUNDS=${ROUNDS:-7}
work=$(mktemp -d /tmp/fp-ab-XXXXXX)
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$REV" >/dev/null 2>&1
build() { # src dir
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF \
        -DFP_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$2" -j"$(nproc)" --target bench_transport >/dev/null
}
build "$work/old" "$work/b-old"
build . "$work/b-new"
export UCX_NET_DEVICES=lo
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); shm latency, $SIZE B, best of $ROUNDS interleaved rounds"
for _ in $(seq "$ROUNDS"); do
  for side in old new; do
    v=$(FP_BENCH_TRANSPORTS=shm "$work/b-$side/benchmarks/transport/bench_transport" \
          --benchmark_filter="^latency/shm/$SIZE/" --benchmark_min_time=0.5 2>/dev/null |
        grep -o "one_way_us=[0-9.]*" | cut -d= -f2)
    echo "$side $v"
  done
done | awk -v rev="$REV" '{ if (!($1 in b) || $2 < b[$1]) b[$1] = $2 }
  END { printf "INFO latency_shm_ab old(%s)=%.3f us new=%.3f us ratio=%.3f\n", rev, b["old"], b["new"], b["new"] / b["old"] }'
