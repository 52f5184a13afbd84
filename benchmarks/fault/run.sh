#!/usr/bin/env bash
# The failure issue's targets, on network-namespace hosts of this machine
# (tools/netns.sh), in one run:
#
#   bash benchmarks/fault/run.sh [BUILD_DIR]        (default build-fault)
#
# Builds fault_bench and the soak test (fp_soak) in BUILD_DIR (Release,
# tests on), then:
#   fault_kill_midmap      kill -9 one of two nodes half-way through a map
#                          of known work (2 nodes x 2 executors, 1 ms
#                          elements): the map's end after the kill against
#                          rest + detection + lost share + slack (see
#                          fault_bench.c for each term)
#   fault_hung_detect      SIGSTOP a node, node_deadline 1 s, heartbeat
#                          0.25 s: SIGSTOP -> DIED, goal <= 1.25 s
#   fault_join_first_task  fp_pool_add_node during a map: the add call ->
#                          the new node's first completed element, <= 1 s
#   fault_stragglers       one node of two 4x slower: elapsed / ideal with
#                          speculate, <= 1.25 (and without, for comparison)
#   fault_soak_100_kills   the soak test (tests/fault/soak.c, three nodes)
#                          until 100 kills (FP_SOAK_KILLS): lost +
#                          duplicated + callbacks run twice, goal 0
# Prints the CPU model, each part's figures and one line per target:
#   TARGET name value=... goal=... MET|NOT MET
# A part that cannot run (a feature not there yet, a crash, a time-out)
# still prints its TARGET line, NOT MET with the reason.  Logs go to
# $FP_FAULT_OUT (default benchmarks/fault/out/).
#
# Knobs: FP_BENCH_QUICK=1 (smaller maps, the soak until 20 kills: a few
# minutes); FP_FAULT_SOAK_KILLS (kills for the soak target; default 100,
# quick 20); FP_SOAK_SEED; FP_FAULT_ONLY="midmap hung join stragglers
# soak" (a subset).  Needs root for the namespaces; 77 when they cannot
# be made.  Namespaces and processes are cleaned up on any exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${1:-build-fault}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
OUT=${FP_FAULT_OUT:-$here/out}
QUICK=${FP_BENCH_QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0
ONLY=${FP_FAULT_ONLY:-midmap hung join stragglers soak}
KILLS=${FP_FAULT_SOAK_KILLS:-$([ "$QUICK" = 1 ] && echo 20 || echo 100)}
NETNS="$root/tools/netns.sh"

echo "CPU: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1), $(nproc) CPUs"
echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full); output: $OUT"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
    echo "WARNING: load average $load: figures from a busy machine mean little"

want() { [[ " ${ONLY//,/ } " == *" $1 "* ]]; }

mkdir -p "$OUT/logs"
tmp=$(mktemp -d /tmp/fp-fault-XXXXXX)
prefix=fpfb$$-
targets="$tmp/targets.txt"
: >"$targets"
cleanup() {
    bash "$NETNS" down "$prefix" >/dev/null 2>&1 || true
    cp "$targets" "$OUT/targets.txt" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated" >&2; exit 143' TERM

# not_met NAME GOAL WHY: the target's line when its part could not say
not_met() { echo "TARGET $1 value=NA goal=$2 NOT MET ($3)" | tee -a "$targets"; }
all_not_met() { # WHY: every wanted target, when nothing can run
    want midmap && not_met fault_kill_midmap bound "$1"
    want hung && not_met fault_hung_detect 1.250 "$1"
    want join && not_met fault_join_first_task 1.000 "$1"
    want stragglers && not_met fault_stragglers 1.25 "$1"
    want soak && not_met fault_soak_100_kills 0 "$1"
    return 0
}

# ---- build -------------------------------------------------------------------
log="$OUT/logs/build.log"
if { [ -f "$BUILD/CMakeCache.txt" ] ||
     cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=ON >"$log" 2>&1; } &&
   cmake --build "$BUILD" -j"$(nproc)" --target fault_bench fp_soak >>"$log" 2>&1; then
    bench="$BUILD/benchmarks/fault/fault_bench"
    soak="$BUILD/tests/fault/fp_soak"
else
    echo "run.sh: the build failed (see $log)" >&2
    all_not_met "the build failed"
    exit 1
fi

head -c 32 /dev/urandom >"$tmp/secret"
chmod 600 "$tmp/secret"
export FP_SECRET_FILE=$tmp/secret FP_TRANSPORT=tcp FP_LOG_LEVEL=${FP_LOG_LEVEL:-error}

# ---- the two-node parts --------------------------------------------------------
parts=()
for p in midmap hung join stragglers; do want "$p" && parts+=("$p"); done
if [ ${#parts[@]} -gt 0 ]; then
    rc=0
    FP_NETNS_HOSTS=2 bash "$NETNS" up "$prefix" >"$tmp/ns.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "run.sh: no namespace hosts: $(tr '\n' ' ' <"$tmp/ns.log")" >&2
        all_not_met "no network namespaces here"
        exit 77
    fi
    declare -A target_of=([midmap]=fault_kill_midmap [hung]=fault_hung_detect
                          [join]=fault_join_first_task [stragglers]=fault_stragglers)
    declare -A goal_of=([midmap]=bound [hung]=1.250 [join]=1.000 [stragglers]=1.25)
    for p in "${parts[@]}"; do
        echo "== $p"
        rc=0
        timeout --kill-after=10 300 ip netns exec "${prefix}c" env \
            FB_HOSTS="${prefix}h1:10.77.0.1,${prefix}h2:10.77.0.2" FB_LOG_DIR="$OUT/logs" \
            FP_BENCH_QUICK="$QUICK" "$bench" "$p" >"$OUT/logs/$p.log" 2>&1 || rc=$?
        grep -v '^TARGET ' "$OUT/logs/$p.log" | sed 's/^/  /' || true
        if grep -q '^TARGET ' "$OUT/logs/$p.log"; then
            grep '^TARGET ' "$OUT/logs/$p.log" | tee -a "$targets"
        else
            not_met "${target_of[$p]}" "${goal_of[$p]}" "fault_bench $p exited $rc without a result; logs/$p.log"
        fi
        bash "$NETNS" reap "$prefix" >/dev/null 2>&1 || true
    done
    bash "$NETNS" down "$prefix" >/dev/null 2>&1 || true
fi

# ---- the soak until KILLS kills ----------------------------------------------------
if want soak; then
    echo "== soak until $KILLS kills"
    rc=0
    FP_SOAK_KILLS=$KILLS FP_SOAK_SECONDS=${FP_SOAK_SECONDS:-1800} FP_SOAK_GAP=${FP_SOAK_GAP:-0.5} \
        FP_SOAK_LOG_DIR="$OUT/logs/soak" \
        timeout --kill-after=10 2400 bash "$root/tests/fault/soak.sh" "$soak" \
        >"$OUT/logs/soak.log" 2>&1 || rc=$?
    # the summary, not the per-fault lines
    grep -E '^soak: (seed|pool|[0-9.]+ s in all|[0-9]+ calls|faults|events|totals|at the end|check|first failed|.*detection mean)|^  [a-zA-Z]' \
        "$OUT/logs/soak.log" | sed 's/^/  /' || true
    line=$(grep '^SOAK_RESULT ' "$OUT/logs/soak.log" | tail -n1 || true)
    if [ -z "$line" ]; then
        not_met fault_soak_100_kills 0 "the soak exited $rc without a result; logs/soak.log"
    else
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
        lost=$(get lost) dup=$(get duplicated) cb2=$(get double_callbacks)
        kills=$(get kills) wrong=$(get wrong) failed=$(get failed_calls)
        if [ "$lost" = -1 ]; then
            not_met fault_soak_100_kills 0 "a call hung; logs/soak.log"
        else
            v=$((lost + dup + cb2))
            why=""
            [ "${kills:-0}" -ge "$KILLS" ] || why+=" only $kills of $KILLS kills in the time allowed;"
            [ "${wrong:-0}" = 0 ] || why+=" $wrong wrong values;"
            [ "${failed:-0}" = 0 ] || why+=" $failed calls failed;"
            verdict=$([ "$v" = 0 ] && [ -z "$why" ] && echo MET || echo "NOT MET")
            echo "TARGET fault_soak_100_kills value=$v goal=0 $verdict (lost $lost + duplicated $dup + double callbacks $cb2, over $kills kills;${why:- all calls ok})" |
                tee -a "$targets"
        fi
    fi
fi

echo
echo "== targets"
cat "$targets"
