#!/usr/bin/env bash
# Raw UCX shared-memory AM latency by message size (ucx_perftest, the UCX
# options fastpool sets), best of REPS (3) interleaved rounds: where UCX's
# own cost steps up.  Used to explain the shm 8 B latency target
# (README, "what stands in the way").
#
#   bash benchmarks/transport/raw_sweep.sh            SIZES="8 16 24 32 40 72"
set -euo pipefail
REPS=${REPS:-3}
SIZES=${SIZES:-"8 16 24 32 40 48 64 72"}
command -v ucx_perftest >/dev/null || { echo "ucx_perftest missing (apt-get install ucx-utils)"; exit 1; }
export UCX_NET_DEVICES=lo UCX_TLS=shm,tcp UCX_MM_ERROR_HANDLING=y UCX_CMA_MEMORY_INVALIDATE=y
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
port=13600
declare -A best
for _ in $(seq "$REPS"); do
  for s in $SIZES; do
    port=$((port + 1))
    ucx_perftest -p "$port" -e >/dev/null 2>&1 &
    spid=$!
    sleep 0.4
    v=$(ucx_perftest 127.0.0.1 -p "$port" -e -t ucp_am_lat -s "$s" -n 300000 2>/dev/null |
        awk '/^Final:/ {print $4}')
    wait "$spid" 2>/dev/null || true
    if [ -n "$v" ] && { [ -z "${best[$s]:-}" ] || awk -v a="$v" -v b="${best[$s]}" 'BEGIN{exit !(a<b)}'; }; then
      best[$s]=$v
    fi
  done
done
printf "%-10s %s\n" bytes "one-way latency (us), best of $REPS"
for s in $SIZES; do printf "%-10s %s\n" "$s" "${best[$s]:-?}"; done
