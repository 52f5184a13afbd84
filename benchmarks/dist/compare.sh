#!/usr/bin/env bash
# fastpool's distributed pool against Dask distributed, mpi4py.futures (Open
# MPI), multiprocessing.Pool and raw UCX (ucx_perftest), on network-namespace
# "hosts" of this machine (tools/netns.sh), in one run:
#
#   bash benchmarks/dist/compare.sh [BUILD_DIR]        (default build-bench)
#
# Hosts: fp-c (client; bridge 10.77.0.254), fp-h1 (10.77.0.1), fp-h2
# (10.77.0.2), joined by veth pairs.  Node-host processes are pinned, fp-h1
# to CPU 0 and fp-h2 to CPU 1 (FP_DIST_CPUS_H1 / FP_DIST_CPUS_H2); the
# client is not.  Transports:
#   shm       one host (fp-h1): client and one node (2 executors) over shared
#             memory; multiprocessing.Pool(2) beside them for reference
#   loopback  one host (fp-h1): the same over TCP on 127.0.0.1
#   veth      across hosts: client in fp-c; nodes / workers / ranks in fp-h1
#             and fp-h2, one executor each, TCP over the veth pairs
# Measures (each system's own busy loop, calibrated on the host it runs on):
#   empty     throughput of a map of an empty task over 8-byte values
#   METG(50%) Task Bench's: efficiency = tasks x duration / (executors x
#             wall) over durations 100 ms .. 100 ns; the shortest duration
#             with efficiency >= 50% (log-linear between the two points that
#             bracket 50%)
#   apply     round trip of one 8-byte call (fastpool), against 2 x raw UCX
#             ucp_am_lat one-way (median)
#   bw        map over 4 MiB inputs (input bytes moved to the node per s),
#             against raw UCX ucp_am_bw at 4 MiB
#   idle      (veth, fastpool) CPU over 10 s of an idle client holding a pool
#             over the two connected nodes (getrusage, the client's own) and
#             of each idle node (utime + stime from /proc/PID/stat over the
#             same window), in % of a core
#   imapmem   (veth, fastpool) imap_unordered of 1 GiB of 1 MiB results
#             (256 MiB quick) from the two nodes: peak VmRSS growth of the
#             client (its own samples every 16 results) and of each node
#             (/proc/PID/status every 0.2 s, and VmHWM reset just before)
# Prints the CPU model, a table by transport and system, and one line per
# target:  TARGET name value=... goal=... MET|NOT MET.  Writes results.txt,
# results.csv, metg.dat, table.txt, targets.txt, throughput.png and logs/
# into $FP_DIST_OUT (default benchmarks/dist/out/).
#
# Knobs: FP_BENCH_QUICK=1 (short run, < ~3 min); REPS (raw UCX, default 3,
# quick 1); FP_DIST_ONLY="ucx fastpool dask mpi mp" (a subset);
# FP_DIST_BIN (a dist_fastpool binary to use); FP_NETNS_PREFIX (default
# fp-); FP_DIST_APPLY_BUSY_POLL=0 (fastpool's apply client without busy
# polling; perftest always busy-polls); FP_DIST_NODE_BUSY_POLL=1 (the nodes
# busy-poll too, for every mode: on 2 CPUs that takes time from executors).  The fastpool rows need the
# distributed layer (fp_node_serve); without it they are skipped with the
# reason and their targets read NOT MET.  Missing Debian packages are
# installed (root).  Namespaces and processes are cleaned up on any exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${1:-build-bench}
OUT=${FP_DIST_OUT:-$here/out}
QUICK=${FP_BENCH_QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0
REPS=${REPS:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
# the most one fastpool step may take (a hung call must not eat the run)
STEP_S=${FP_DIST_STEP_S:-$([ "$QUICK" = 1 ] && echo 60 || echo 240)}
ONLY=${FP_DIST_ONLY:-ucx fastpool dask mpi mp}
PY=/usr/bin/python3
export FP_NETNS_PREFIX=${FP_NETNS_PREFIX:-fp-}
NETNS="$root/tools/netns.sh"
PEERS="$here/peers"
A_C=10.77.0.254 A_H1=10.77.0.1 A_H2=10.77.0.2

echo "CPU: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1), $(nproc) CPUs"
echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full); output: $OUT"
load=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
    echo "WARNING: load average $load: figures from a busy machine mean little"

want() { [[ " ${ONLY//,/ } " == *" $1 "* ]]; }

# ---- packages --------------------------------------------------------------
pkgs=(iproute2 util-linux ucx-utils python3 python3-distributed python3-mpi4py
      openmpi-bin libopenmpi-dev gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "compare.sh: need root to install: ${missing[*]}" >&2; exit 1; }
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- scratch, cleanup --------------------------------------------------------
tmp=$(mktemp -d /tmp/fp-dist-XXXXXX)
mkdir -p "$tmp/logs"
bgpids=()   # what this script started in the background
# kill_ours SIGNAL: signal those of bgpids that are still this shell's
# children (a pid that has ended and been reused by another process is left
# alone)
kill_ours() {
    local pid ppid
    for pid in "${bgpids[@]}"; do
        ppid=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2) || continue
        if [ "$ppid" = "$$" ]; then kill "-$1" "$pid" 2>/dev/null || true; fi
    done
}
own_hosts=0   # 1 once this run holds the namespace set's lock
cleanup() {
    kill_ours TERM
    if [ "$own_hosts" = 1 ]; then bash "$NETNS" down >/dev/null 2>&1 || true; fi
    kill_ours KILL
    if [ -d "$tmp/logs" ] && [ -d "$OUT" ]; then
        { rm -rf "$OUT/logs"; cp -r "$tmp/logs" "$OUT/logs"; } 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT
trap 'echo "compare.sh: terminated" >&2; exit 143' TERM
mkdir -p "$OUT"
results="$tmp/results.txt"
: >"$results"
notes=()   # lines for the end: what was skipped or failed, and why

# ---- fastpool's binary ---------------------------------------------------------
fp_bin="" fp_why=""
find_fastpool() {
    if [ -n "${FP_DIST_BIN:-}" ]; then
        fp_bin=$FP_DIST_BIN; return 0
    fi
    if ! grep -q 'fp_node_serve' include/fastpool/fastpool.h; then
        fp_why="this tree has no distributed layer (no fp_node_serve in include/fastpool/fastpool.h)"
        return 0
    fi
    local log="$tmp/logs/build.log"
    if [ ! -f "$BUILD/CMakeCache.txt" ] &&
       ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF >"$log" 2>&1; then
        fp_why="cmake configure of $BUILD failed (see logs/build.log; tools/deps.sh installs what the build needs)"
        return 0
    fi
    # always bring the build up to date: an old binary measures old code
    if cmake --build "$BUILD" -j"$(nproc)" --target dist_fastpool >>"$log" 2>&1; then
        fp_bin="$BUILD/benchmarks/dist/dist_fastpool"
        return 0
    fi
    # not in the build (benchmarks/CMakeLists.txt without add_subdirectory(dist)):
    # build it by hand against the build's libfastpool
    if cmake --build "$BUILD" -j"$(nproc)" --target fastpool >>"$log" 2>&1 &&
       cc -std=c11 -O2 -DNDEBUG -Wall -Wextra -Iinclude "$here/dist_fastpool.c" \
          -o "$tmp/dist_fastpool" -L"$BUILD/lib" -lfastpool -lm \
          -Wl,-rpath,"$root/$BUILD/lib" >>"$log" 2>&1; then
        fp_bin="$tmp/dist_fastpool"
        notes+=("NOTE dist_fastpool built by hand (add add_subdirectory(dist) to benchmarks/CMakeLists.txt)")
        return 0
    fi
    fp_why="dist_fastpool does not build (see logs/build.log)"
}
want fastpool && find_fastpool

# ---- hosts ----------------------------------------------------------------------
# one run per namespace set: `up` would remove another run's hosts
exec 8>"/tmp/fp-dist-${FP_NETNS_PREFIX}lock"
if ! flock -n 8; then
    echo "compare.sh: another run is using the ${FP_NETNS_PREFIX}* hosts (set FP_NETNS_PREFIX for a second set)" >&2
    exit 1
fi
own_hosts=1
rc=0
bash "$NETNS" up || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "compare.sh: no namespace hosts (tools/netns.sh up exited $rc)" >&2
    exit "$rc"
fi
if [ "$(nproc)" -ge 2 ]; then
    export FP_DIST_CPUS_H1=${FP_DIST_CPUS_H1-0} FP_DIST_CPUS_H2=${FP_DIST_CPUS_H2-1}
else
    export FP_DIST_CPUS_H1=${FP_DIST_CPUS_H1-0} FP_DIST_CPUS_H2=${FP_DIST_CPUS_H2-0}
fi
secret="$tmp/secret"
(umask 077 && head -c 32 /dev/urandom >"$secret")
chmod 600 "$secret"
export FP_SECRET_FILE=$secret

NX=(bash "$NETNS" exec)   # "${NX[@]}" HOST CMD...: run CMD in a host
# pin HOST: the taskset words that pin a process to HOST's CPUs (node hosts
# of the cross-host runs only; the client host is never pinned)
pin() {
    case "$1" in
        h1) [ -z "$FP_DIST_CPUS_H1" ] || echo "taskset -c $FP_DIST_CPUS_H1" ;;
        h2) [ -z "$FP_DIST_CPUS_H2" ] || echo "taskset -c $FP_DIST_CPUS_H2" ;;
    esac
}

# bg_wait OUT ERR CMD...: run CMD in the background, stdout into file OUT,
# stderr appended to file ERR (or into OUT when ERR is "-"), and wait for
# it; its status.  (A trap runs at once when a signal arrives during
# `wait`, not only once a foreground command has finished: Ctrl-C or a TERM
# ends the run promptly, and the cleanup then ends CMD.  The redirections
# are CMD's alone, so the trap's own messages still reach the terminal.)
bg_wait() {
    local out=$1 err=$2
    shift 2
    if [ "$err" = - ]; then
        "$@" >"$out" 2>&1 &
    else
        "$@" >"$out" 2>>"$err" &
    fi
    local pid=$!
    bgpids+=("$pid")
    wait "$pid"
}

# run NAME TIMEOUT CMD...: CMD's output into logs/NAME.log; its RESULT and
# POINT lines into the results.  A failure is noted, not fatal.
run() {
    local name=$1 limit=$2 rc=0
    shift 2
    bg_wait "$tmp/logs/$name.log" - timeout --kill-after=10 "$limit" "$@" || rc=$?
    grep -E '^(RESULT|POINT|NODE) ' "$tmp/logs/$name.log" | tee -a "$results" |
        grep -E '^(RESULT|NODE) ' | sed 's/ msgs_sent=.*//; s/^/  /' || true
    if [ "$rc" -ne 0 ]; then
        notes+=("FAIL $name: exit $rc$([ "$rc" = 124 ] && echo " (timed out after $limit s)") (see logs/$name.log: $(tail -n 2 "$tmp/logs/$name.log" | tr '\n' ' ' | cut -c1-200))")
        echo "  $name FAILED (exit $rc; logs/$name.log)"
    fi
    return 0
}

# ---- raw UCX: ucx_perftest ------------------------------------------------------
port=$((20000 + RANDOM % 20000))
# ucx_pair TRANSPORT SRV_HOST CLI_HOST ADDR TEST SIZE ITERS: one server and
# client run; sets ucx_line to perftest's Final line.  Only the cross-host
# server is pinned (as fastpool's nodes are); on one host the two
# busy-polling processes are left to the scheduler, as fastpool's client is.
ucx_line=""
ucx_pair() {
    local t=$1 sh=$2 ch=$3 addr=$4 test=$5 size=$6 n=$7 env_s env_c pin_s=()
    port=$((port + 1))
    case "$t" in
        shm) env_s=("UCX_TLS=posix,sysv,cma,self" UCX_MM_ERROR_HANDLING=y UCX_CMA_MEMORY_INVALIDATE=y)
             env_c=("${env_s[@]}") ;;
        loopback) env_s=(UCX_TLS=tcp UCX_NET_DEVICES=lo); env_c=("${env_s[@]}") ;;
        veth) env_s=(UCX_TLS=tcp UCX_NET_DEVICES=eth0); env_c=(UCX_TLS=tcp UCX_NET_DEVICES=br0)
              read -r -a pin_s <<<"$(pin "$sh")" ;;
    esac
    timeout 90 "${NX[@]}" "$sh" "${pin_s[@]}" env "${env_s[@]}" \
        ucx_perftest -p "$port" -e >>"$tmp/logs/ucx_server.log" 2>&1 &
    local spid=$!
    bgpids+=("$spid")
    sleep 0.5
    bg_wait "$tmp/ucx.out" "$tmp/logs/ucx_client.log" timeout 90 "${NX[@]}" "$ch" \
        env "${env_c[@]}" ucx_perftest "$addr" -p "$port" -e -t "$test" -s "$size" -n "$n" || true
    ucx_line=$(awk '/^Final:/' "$tmp/ucx.out")
    wait "$spid" 2>/dev/null || true
}

# raw_ucx TRANSPORT SRV_HOST CLI_HOST ADDR: best of REPS for am_lat (8 B)
# and am_bw (4 MiB); RESULT lines
raw_ucx() {
    local t=$1 sh=$2 ch=$3 addr=$4 best_lat="" best_avg="" best_bw="" line v a r nlat nbw
    nlat=$([ "$t" = shm ] && echo 200000 || echo 50000)
    nbw=$([ "$t" = shm ] && echo 2000 || echo 500)
    if [ "$QUICK" = 1 ]; then nlat=$((nlat / 4)) nbw=$((nbw / 2)); fi
    for ((r = 0; r < REPS; r++)); do
        # Final: iters typical(median) avg overall MB/s(avg) MB/s(overall) msg/s msg/s
        ucx_pair "$t" "$sh" "$ch" "$addr" ucp_am_lat 8 "$nlat"
        line=$ucx_line
        v=$(awk '{print $3}' <<<"$line"); a=$(awk '{print $4}' <<<"$line")
        if [ -n "$v" ] && { [ -z "$best_lat" ] || awk -v x="$v" -v y="$best_lat" 'BEGIN{exit !(x<y)}'; }; then
            best_lat=$v best_avg=$a
        fi
        ucx_pair "$t" "$sh" "$ch" "$addr" ucp_am_bw 4194304 "$nbw"
        line=$ucx_line
        v=$(awk '{print $7}' <<<"$line")
        if [ -n "$v" ] && { [ -z "$best_bw" ] || awk -v x="$v" -v y="$best_bw" 'BEGIN{exit !(x>y)}'; }; then
            best_bw=$v
        fi
    done
    if [ -n "$best_lat" ]; then
        echo "RESULT system=ucx mode=am_lat transport=$t one_way_us=$best_lat avg_one_way_us=$best_avg rtt_us=$(awk -v x="$best_lat" 'BEGIN{print 2*x}') reps=$REPS" |
            tee -a "$results" | sed 's/^/  /'
    else
        notes+=("FAIL raw UCX am_lat over $t (see logs/ucx_client.log)")
    fi
    if [ -n "$best_bw" ]; then
        # perftest's "MB/s" are MiB/s
        echo "RESULT system=ucx mode=am_bw transport=$t mib_per_s=$best_bw gb_per_s=$(awk -v x="$best_bw" 'BEGIN{printf "%.4f", x*1048576/1e9}') size=4194304 reps=$REPS" |
            tee -a "$results" | sed 's/^/  /'
    else
        notes+=("FAIL raw UCX am_bw over $t (see logs/ucx_client.log)")
    fi
}

# ---- fastpool -------------------------------------------------------------------
# start_node NAME HOST PIN LISTEN EXECUTORS ENV...: a node in the
# background (PIN: pin it to HOST's CPUs); sets node_addr from its
# "LISTENING ADDR:PORT" line, or returns 1
node_addr="" node_pid=""
fp_exe=""   # the binary's real path (what /proc/PID/exe of a node reads)
# fp_proc PID: the process PID became, or its descendant, that runs
# $fp_bin (netns.sh exec, ip netns exec, unshare's sh, taskset and env all
# exec, so normally PID itself; otherwise an only child is followed);
# empty when none is
fp_proc() {
    local pid=$1 i kids
    for i in 1 2 3 4 5 6 7 8; do
        [ -e "/proc/$pid" ] || return 0
        if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$fp_exe" ]; then
            echo "$pid"
            return 0
        fi
        read -r -a kids <<<"$(cat "/proc/$pid"/task/*/children 2>/dev/null | tr '\n' ' ')"
        [ "${#kids[@]}" -eq 1 ] || return 0
        pid=${kids[0]}
        : "$i"
    done
}
# start_node ... also sets node_pid: the node's own process (fp_proc)
start_node() {
    local name=$1 h=$2 pinned=$3 listen=$4 execs=$5 i line pin_w=()
    shift 5
    [ "$pinned" != pin ] || read -r -a pin_w <<<"$(pin "$h")"
    local cfg=()
    if [ "${FP_DIST_NODE_BUSY_POLL:-0}" = 1 ]; then
        printf 'transport = {\n  busy_poll = true;\n};\n' >"$tmp/busy.cfg"
        cfg=(FP_CONFIG="$tmp/busy.cfg")
    fi
    "${NX[@]}" "$h" "${pin_w[@]}" env FP_NODE_LISTEN="$listen" \
        FP_EXECUTORS="$execs" "${cfg[@]}" "$@" "$fp_bin" node \
        >"$tmp/logs/$name.out" 2>"$tmp/logs/$name.err" &
    local pid=$!
    bgpids+=("$pid")
    node_addr="" node_pid=""
    for i in $(seq 200); do
        line=$(head -n1 "$tmp/logs/$name.out" 2>/dev/null || true)
        if [[ "$line" == LISTENING\ * ]]; then
            node_addr=${line#LISTENING }
            node_pid=$(fp_proc "$pid")
            echo "  $name ($h) listening on $node_addr (pid ${node_pid:-?})"
            if [ -z "$node_pid" ]; then
                notes+=("NOTE $name: no process running $fp_bin at or below pid $pid (its CPU and memory are not measured)")
            elif [ "$node_pid" != "$pid" ]; then
                notes+=("NOTE $name: the node is pid $node_pid, below the started pid $pid")
            fi
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        : "$i"
    done
    notes+=("FAIL node $name did not start: $(tail -n 3 "$tmp/logs/$name.err" | tr '\n' ' ' | cut -c1-200)")
    echo "  $name FAILED to start (logs/$name.err)"
    kill -TERM "$pid" 2>/dev/null || true
    return 1
}

# fastpool_rows LABEL CLIENT_HOST "ENV..." NODES_ALL NODE_ONE: every mode
# (empty and metg over all the nodes; apply and bw to the one node the raw
# UCX figures were measured with)
fastpool_rows() {
    local label=$1 ch=$2 all=$4 one=$5 q=() busy=() e metg_budget
    read -r -a e <<<"$3"
    [ "$QUICK" = 0 ] || q=(--quick)
    metg_budget=$([ "$QUICK" = 1 ] && echo 0.25 || echo 0.5)
    if [ "${FP_DIST_APPLY_BUSY_POLL:-1}" = 1 ]; then
        # perftest busy-polls; the apply rows do too
        printf 'transport = {\n  busy_poll = true;\n};\n' >"$tmp/busy.cfg"
        busy=(FP_CONFIG="$tmp/busy.cfg")
    fi
    local c=("${NX[@]}" "$ch" env "${e[@]}")
    run "fastpool_${label}_empty" "$STEP_S" "${c[@]}" "$fp_bin" empty --nodes "$all" --label "$label" "${q[@]}"
    run "fastpool_${label}_metg" "$STEP_S" "${c[@]}" "$fp_bin" metg --nodes "$all" --label "$label" --budget "$metg_budget" "${q[@]}"
    run "fastpool_${label}_apply" "$STEP_S" "${c[@]}" "${busy[@]}" "$fp_bin" apply --nodes "$one" --label "$label" "${q[@]}"
    run "fastpool_${label}_bw" "$STEP_S" "${c[@]}" "$fp_bin" bw --nodes "$one" --label "$label" "${q[@]}"
    run "fastpool_${label}_bw_echo" "$STEP_S" "${c[@]}" "$fp_bin" bw --echo --n 8 --reps 1 --nodes "$one" --label "$label"
}

# /proc readings of a node process (empty when it is gone)
proc_ticks() { # utime + stime, clock ticks (fields 14, 15 of stat; the
               # name in parentheses may hold spaces, so cut after it)
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
proc_kib() { # FIELD PID: VmRSS / VmHWM in KiB
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status" 2>/dev/null
}
# fastpool_bg NAME CMD...: CMD in the background into logs/NAME.log (under
# timeout STEP_S); sets bg_pid
bg_pid=""
fastpool_bg() {
    local name=$1
    shift
    timeout --kill-after=10 "$STEP_S" "$@" >"$tmp/logs/$name.log" 2>&1 &
    bg_pid=$!
    bgpids+=("$bg_pid")
}
alive() { # PID: running (not gone, not a zombie)
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
# fastpool_end NAME PID: wait for it; its RESULT lines into the results;
# a failure noted
fastpool_end() {
    local name=$1 rc=0
    wait "$2" || rc=$?
    grep -E '^RESULT ' "$tmp/logs/$name.log" | tee -a "$results" |
        sed 's/ msgs_sent=.*//; s/^/  /' || true
    if [ "$rc" -ne 0 ]; then
        notes+=("FAIL $name: exit $rc$([ "$rc" = 124 ] && echo " (timed out after $STEP_S s)") (see logs/$name.log: $(tail -n 2 "$tmp/logs/$name.log" | tr '\n' ' ' | cut -c1-200))")
        echo "  $name FAILED (exit $rc; logs/$name.log)"
    fi
    return "$rc"
}
# wait_line FILE PATTERN PID: until a line of FILE matches PATTERN (0) or
# PID has ended (1); polls every 20 ms
wait_line() {
    while ! grep -q "$2" "$1" 2>/dev/null; do
        alive "$3" || { grep -q "$2" "$1" 2>/dev/null; return; }
        sleep 0.02
    done
}

# fastpool_idle "ENV..." NODES H1_PID H2_PID: the client idle for IDLE_S s
# holding a pool over both nodes (its own getrusage), and each node's
# utime + stime over the same window (from the client's IDLE_START line to
# its IDLE_END line, read here): RESULT mode=idle (the client's) and
# mode=idle_node_h1 / _h2
IDLE_S=10
fastpool_idle() {
    local e all=$2 p1=$3 p2=$4 name=fastpool_veth_idle log hz t0 t1 k10 k20 k11 k21 h p k0 k1
    read -r -a e <<<"$1"
    log="$tmp/logs/$name.log"
    hz=$(getconf CLK_TCK)
    fastpool_bg "$name" "${NX[@]}" c env "${e[@]}" "$fp_bin" idle --seconds "$IDLE_S" \
        --nodes "$all" --label veth
    local cpid=$bg_pid
    if wait_line "$log" '^IDLE_START' "$cpid"; then
        t0=$(date +%s.%N); k10=$(proc_ticks "$p1"); k20=$(proc_ticks "$p2")
        # the window is IDLE_S long: look for its end only near it
        sleep "$(awk -v s="$IDLE_S" 'BEGIN { print (s > 0.5 ? s - 0.5 : 0) }')"
        if wait_line "$log" '^IDLE_END' "$cpid"; then
            t1=$(date +%s.%N); k11=$(proc_ticks "$p1"); k21=$(proc_ticks "$p2")
            for h in h1 h2; do
                if [ "$h" = h1 ]; then p=$p1 k0=$k10 k1=$k11; else p=$p2 k0=$k20 k1=$k21; fi
                if [ -n "$k0" ] && [ -n "$k1" ]; then
                    awk -v h="$h" -v p="$p" -v a="$k0" -v b="$k1" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN {
                        printf "RESULT system=fastpool mode=idle_node_%s transport=veth pid=%s seconds=%.3f ticks=%d clk_tck=%d cpu_pct=%.4f\n",
                            h, p, t1 - t0, b - a, hz, (b - a) / hz / (t1 - t0) * 100 }' |
                        tee -a "$results" | sed 's/^/  /'
                else
                    notes+=("FAIL idle: node in fp-$h (pid ${p:-?}) not readable in /proc")
                fi
            done
        fi
    fi
    fastpool_end "$name" "$cpid" || true
}

# fastpool_imapmem "ENV..." NODES H1_PID H2_PID: the client takes IMAP_MIB
# results of 1 MiB through imap_unordered from both nodes (its own VmRSS
# growth, RESULT mode=imapmem); here each node's VmRSS every 0.2 s during
# the run, against its value just before, and its VmHWM (reset to VmRSS
# just before, through /proc/PID/clear_refs, where the kernel allows):
# RESULT mode=imapmem_node_h1 / _h2
fastpool_imapmem() {
    local e all=$2 p1=$3 p2=$4 name=fastpool_veth_imapmem r10 r20 pk1 pk2 n=0 r h p r0 pk ok hwm hwm_ok=()
    read -r -a e <<<"$1"
    for p in "$p1" "$p2"; do
        if [ -n "$p" ] && echo 5 >"/proc/$p/clear_refs" 2>/dev/null; then hwm_ok+=(1); else hwm_ok+=(0); fi
    done
    r10=$(proc_kib VmRSS "$p1"); r20=$(proc_kib VmRSS "$p2")
    pk1=$r10 pk2=$r20
    fastpool_bg "$name" "${NX[@]}" c env "${e[@]}" "$fp_bin" imapmem --mib "$IMAP_MIB" \
        --nodes "$all" --label veth
    local cpid=$bg_pid
    while alive "$cpid"; do
        r=$(proc_kib VmRSS "$p1"); [ -z "$r" ] || [ -z "$pk1" ] || [ "$r" -le "$pk1" ] || pk1=$r
        r=$(proc_kib VmRSS "$p2"); [ -z "$r" ] || [ -z "$pk2" ] || [ "$r" -le "$pk2" ] || pk2=$r
        n=$((n + 1))
        sleep 0.2
    done
    r=$(proc_kib VmRSS "$p1"); [ -z "$r" ] || [ -z "$pk1" ] || [ "$r" -le "$pk1" ] || pk1=$r
    r=$(proc_kib VmRSS "$p2"); [ -z "$r" ] || [ -z "$pk2" ] || [ "$r" -le "$pk2" ] || pk2=$r
    fastpool_end "$name" "$cpid" || true
    for h in h1 h2; do
        if [ "$h" = h1 ]; then p=$p1 r0=$r10 pk=$pk1 ok=${hwm_ok[0]}; else p=$p2 r0=$r20 pk=$pk2 ok=${hwm_ok[1]}; fi
        if [ -z "$r0" ] || [ -z "$pk" ]; then
            notes+=("FAIL imapmem: node in fp-$h (pid ${p:-?}) not readable in /proc")
            continue
        fi
        hwm=$([ "$ok" = 1 ] && proc_kib VmHWM "$p" || true)
        awk -v h="$h" -v p="$p" -v r0="$r0" -v pk="$pk" -v hwm="${hwm:-}" -v n="$n" 'BEGIN {
            printf "RESULT system=fastpool mode=imapmem_node_%s transport=veth pid=%s samples=%d rss_before_mib=%.2f rss_peak_mib=%.2f peak_growth_mib=%.2f hwm_growth_mib=%s\n",
                h, p, n + 1, r0 / 1024, pk / 1024, (pk - r0) / 1024,
                hwm == "" ? "nan" : sprintf("%.2f", (hwm - r0) / 1024) }' |
            tee -a "$results" | sed 's/^/  /'
    done
}

# ---- by transport: raw UCX, then fastpool right after it --------------------------
# (these VMs drift within minutes: a target's two sides are measured
# back to back)
fp_on=0
IMAP_MIB=$([ "$QUICK" = 1 ] && echo 256 || echo 1024)
export FP_DIST_IMAP_MIB=$IMAP_MIB   # for report.py
if want fastpool && [ -n "$fp_bin" ]; then
    fp_on=1
    fp_exe=$(readlink -f "$fp_bin")
    echo
    echo "fastpool: $fp_bin"
fi
if want ucx; then
    echo
    echo "raw UCX: ucx_perftest -e, ucp_am_lat 8 B and ucp_am_bw 4 MiB, best of $REPS"
fi
for t in shm loopback veth; do
    want ucx || [ "$fp_on" = 1 ] || break
    echo
    case "$t" in
        shm) echo "== shm: one host (fp-h1); fastpool: client + a node of 2 executors, FP_TRANSPORT=shm" ;;
        loopback) echo "== loopback: one host (fp-h1); TCP on 127.0.0.1" ;;
        veth) echo "== veth: client in fp-c; fastpool: a node of 1 executor in fp-h1 and in fp-h2; TCP over veth" ;;
    esac
    if want ucx; then
        case "$t" in
            veth) raw_ucx veth h1 c "$A_H1" ;;
            *) raw_ucx "$t" h1 h1 127.0.0.1 ;;
        esac
        bash "$NETNS" reap
    fi
    [ "$fp_on" = 1 ] || continue
    case "$t" in
        shm)
            if start_node node_shm h1 nopin 127.0.0.1:0 2 FP_TRANSPORT=shm; then
                fastpool_rows shm h1 "FP_TRANSPORT=shm" "$node_addr" "$node_addr"
            fi ;;
        loopback)
            if start_node node_loopback h1 nopin 127.0.0.1:0 2 FP_TRANSPORT=tcp UCX_NET_DEVICES=lo; then
                fastpool_rows loopback h1 "FP_TRANSPORT=tcp UCX_NET_DEVICES=lo" "$node_addr" "$node_addr"
            fi ;;
        veth)
            if start_node node_veth_h1 h1 pin "$A_H1:0" 1 FP_TRANSPORT=tcp UCX_NET_DEVICES=eth0; then
                n1=$node_addr np1=$node_pid
                if start_node node_veth_h2 h2 pin "$A_H2:0" 1 FP_TRANSPORT=tcp UCX_NET_DEVICES=eth0; then
                    fastpool_rows veth c "FP_TRANSPORT=tcp UCX_NET_DEVICES=br0" "$n1,$node_addr" "$n1"
                    echo "  idle: the client holds a pool over both nodes for $IDLE_S s"
                    fastpool_idle "FP_TRANSPORT=tcp UCX_NET_DEVICES=br0" "$n1,$node_addr" "$np1" "$node_pid"
                    echo "  imapmem: $IMAP_MIB results of 1 MiB through imap_unordered from both nodes"
                    fastpool_imapmem "FP_TRANSPORT=tcp UCX_NET_DEVICES=br0" "$n1,$node_addr" "$np1" "$node_pid"
                fi
            fi ;;
    esac
    bash "$NETNS" reap
done

# ---- Dask distributed -------------------------------------------------------------
if want dask; then
    echo
    echo "== Dask distributed: scheduler and client in fp-c, a worker (1 thread) in fp-h1 and fp-h2"
    dport=$((port + 100))
    "${NX[@]}" c env PYTHONPATH="$PEERS" "$PY" /usr/bin/dask-scheduler --host "$A_C" \
        --port "$dport" --no-dashboard >"$tmp/logs/dask_scheduler.log" 2>&1 &
    bgpids+=($!)
    for h in h1 h2; do
        a=$([ "$h" = h1 ] && echo "$A_H1" || echo "$A_H2")
        read -r -a pin_w <<<"$(pin "$h")"
        "${NX[@]}" "$h" "${pin_w[@]}" env PYTHONPATH="$PEERS" "$PY" /usr/bin/dask-worker \
            "tcp://$A_C:$dport" --host "$a" --nthreads 1 --nworkers 1 --no-dashboard \
            --local-directory "$tmp/dask-$h" --death-timeout 60 \
            >"$tmp/logs/dask_worker_$h.log" 2>&1 &
        bgpids+=($!)
    done
    if [ "$QUICK" = 1 ]; then
        dargs=(--target 2 --n-max 3000 --budget 0.5 --quick)
    else
        dargs=(--target 15 --n-max 20000 --budget 1.5)
    fi
    run dask_veth 600 "${NX[@]}" c env PYTHONPATH="$PEERS" "$PY" "$PEERS/dask_bench.py" \
        "tcp://$A_C:$dport" 2 --transport veth "${dargs[@]}"
    bash "$NETNS" reap
fi

# ---- mpi4py.futures over Open MPI ---------------------------------------------------
if want mpi; then
    echo
    echo "== mpi4py.futures (Open MPI, btl self,tcp): master rank in fp-c, a worker rank in fp-h1 and fp-h2"
    if [ "$QUICK" = 1 ]; then
        margs=(--target 1 --budget 0.4 --quick)
    else
        margs=(--target 4 --budget 1.0)
    fi
    run mpi_veth 900 "${NX[@]}" c env PYTHONPATH="$PEERS" \
        OMPI_MCA_plm_rsh_agent="$here/mpi_rsh.sh" \
        mpirun --allow-run-as-root --bind-to none -n 3 \
        --host "$A_C:1,$A_H1:1,$A_H2:1" -x PYTHONPATH \
        --mca plm_rsh_agent "$here/mpi_rsh.sh" \
        --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 \
        --mca oob_tcp_if_include 10.77.0.0/24 \
        "$PY" -m mpi4py.futures "$PEERS/mpi_bench.py" --transport veth "${margs[@]}"
    bash "$NETNS" reap
fi

# ---- multiprocessing.Pool -----------------------------------------------------------
if want mp; then
    echo
    echo "== multiprocessing.Pool(2), one host (fp-h1), for reference"
    if [ "$QUICK" = 1 ]; then
        pargs=(--target 1 --budget 0.3 --quick)
    else
        pargs=(--target 3 --budget 1.0)
    fi
    run mp_shm 300 "${NX[@]}" h1 "$PY" "$PEERS/mp_bench.py" --processes 2 --transport shm "${pargs[@]}"
    bash "$NETNS" reap
fi

# ---- report -------------------------------------------------------------------------
echo
cp "$results" "$OUT/results.txt"
notes+=("INFO load average at the start $load, at the end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs; other work on the machine lowers every figure)")
printf '%s\n' "${notes[@]}" >"$tmp/notes.txt"
"$PY" "$here/report.py" "$OUT" "$tmp/notes.txt" "$([ -n "$fp_bin" ] && echo yes || echo "${fp_why:-not selected}")"
if command -v gnuplot >/dev/null && [ -s "$OUT/metg.dat" ]; then
    if ! gnuplot "$OUT/throughput.gp" >"$tmp/logs/gnuplot.log" 2>&1; then
        echo "NOTE gnuplot failed (logs/gnuplot.log)"
    fi
fi
cat "$OUT/targets.txt"
