#!/usr/bin/env bash
# launch_pool.sh LAUNCHER TOOL PROGRAM CASE
#
# Runs PROGRAM (test_mpirun_pool) as 3 ranks of a launcher, which form one
# pool through PMIx (boot/pmix.c), and checks the outcome of CASE:
#   map    every rank exits 0 (the launcher's status), the client printed DONE
#   early  the client exits with its pool open: the node ranks stop by
#          themselves (exit with client), every rank exits 0
#   kill   the client SIGKILLs itself after the map: no rank is left
#   client2  as map, with FP_PMIX_CLIENT_RANK=2 (rank 2 the client)
#   executors  as map, with FP_EXECUTORS=3: 3 executors per node rank
#   refused  FP_SECRET_FILE names no file: the node ranks cannot start, the
#          client's fp_pool_create fails naming a rank and the cause
#   unsupported  (a build without PMIx) every rank's fp_pool_create fails
#          with FP_ERR_UNSUPPORTED saying so
# In every case no process of the run may be left afterwards (a process
# listing, by a mark on the command line).
#
# LAUNCHER mpirun: TOOL is Open MPI's mpirun.
# LAUNCHER srun:   TOOL is Slurm's srun; this script starts munged,
#   slurmctld and slurmd on this host (a generated slurm.conf in a
#   temporary folder: one node named after this host with its CPU count,
#   free ports), runs `srun --mpi=pmix`, and stops them afterwards.
# Exit 77, saying why, when the launcher cannot run here.
set -u
launcher=$1 tool=$2 prog=$3 case=$4 ranks=3
skip() { echo "SKIP: $*"; exit 77; }
[ -n "$tool" ] && [ -x "$tool" ] || skip "no $launcher (install ${launcher/mpirun/openmpi-bin}${launcher/srun/ slurm-client})"
mark="fpmark$$x$RANDOM"
tmp=$(mktemp -d /tmp/fp-launch.XXXXXX)
daemons=()
cleanup() {
  local p
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${daemons[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

left() {  # pids of processes carrying the mark, this script's excepted
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "$mark" && echo "${p#/proc/}"
  done
}

free_port() {  # a TCP port nothing listens on
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo $p; return; }
  done
  echo 0
}

start_slurm() {
  local b
  for b in munged slurmctld slurmd sinfo; do
    command -v $b >/dev/null || skip "no $b (install munge slurmctld slurmd slurm-client)"
  done
  [ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start tasks (this test starts its own)"
  local host cpus p1 p2
  host=$(hostname -s)
  cpus=$(nproc --all)
  p1=$(free_port) p2=$(free_port)
  [ "$p1" != 0 ] && [ "$p2" != 0 ] && [ "$p1" != "$p2" ] || skip "no free TCP port for slurmctld/slurmd"
  mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool"
  chmod 755 "$tmp"
  chmod 700 "$tmp/munge"
  head -c 1024 /dev/urandom > "$tmp/munge/key"
  chmod 600 "$tmp/munge/key"
  munged -F --force -S "$tmp/munge/sock" --key-file="$tmp/munge/key" \
    --pid-file="$tmp/munge/pid" --seed-file="$tmp/munge/seed" \
    --log-file="$tmp/munge/log" >"$tmp/munged.out" 2>&1 &
  daemons+=($!)
  for _ in $(seq 1 50); do [ -S "$tmp/munge/sock" ] && break; sleep 0.1; done
  [ -S "$tmp/munge/sock" ] || { cat "$tmp/munged.out"; skip "munged did not start (output above)"; }
  cat > "$tmp/slurm.conf" <<CONF
ClusterName=fplaunch
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/sock
CredType=cred/munge
SlurmctldPort=$p1
SlurmdPort=$p2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=fplaunch Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
  export SLURM_CONF=$tmp/slurm.conf
  "$tool" --mpi=list 2>&1 | grep -qw pmix || { "$tool" --mpi=list; skip "this srun has no PMIx plugin (srun --mpi=list above)"; }
  slurmctld -D -f "$SLURM_CONF" >"$tmp/ctld.out" 2>&1 &
  daemons+=($!)
  slurmd -D -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
  daemons+=($!)
  local state=""
  for _ in $(seq 1 100); do
    state=$(sinfo -h -o %t 2>/dev/null)
    [ "$state" = idle ] && return
    sleep 0.2
  done
  tail -5 "$tmp/ctld.out" "$tmp/slurmd.out" "$tmp/slurmctld.log" "$tmp/slurmd.log" 2>/dev/null
  skip "slurmctld/slurmd did not bring node $host up (state '$state'; logs above)"
}

out=$tmp/out
case "$launcher" in
  mpirun)
    cmd=("$tool" --oversubscribe -n $ranks)
    [ "$(id -u)" -eq 0 ] && cmd+=(--allow-run-as-root) ;;
  srun)
    start_slurm
    # -O: more tasks than CPUs on this host is fine here
    cmd=("$tool" --mpi=pmix -O -n $ranks) ;;
  *) echo "unknown launcher $launcher"; exit 2 ;;
esac
# The ranks get this environment (ctest's FP_LOG_LEVEL, UCX_MEM_EVENTS
# under TSan): mpirun and srun forward it to local ranks.
mode=$case
case "$case" in
  client2) export FP_PMIX_CLIENT_RANK=2; mode=map ;;
  executors) export FP_EXECUTORS=3; mode=map ;;
  refused) export FP_SECRET_FILE=$tmp/no-such-secret ;;
esac
start=$SECONDS
timeout -k 5 150 "${cmd[@]}" "$prog" "$mode" "$mark" >"$out" 2>&1
rc=$?
took=$((SECONDS - start))
cat "$out"
echo "$launcher exited $rc after ${took} s"

fail=0
case "$case" in
  map|client2|executors)   [ $rc -eq 0 ] || { echo "FAIL: $launcher exited $rc (a rank failed)"; fail=1; }
         grep -q '^DONE' "$out" || { echo "FAIL: the client did not finish"; fail=1; } ;;
  early) [ $rc -eq 0 ] || { echo "FAIL: $launcher exited $rc: the node ranks did not all exit 0 after the client left"; fail=1; }
         grep -q '^EXITING' "$out" || { echo "FAIL: the client did not reach its early exit"; fail=1; } ;;
  kill)  grep -q '^KILLING' "$out" || { echo "FAIL: the client did not reach its kill"; fail=1; }
         # the launcher reports the killed rank (mpirun 137) and ends the rest
         [ $took -lt 150 ] || { echo "FAIL: $launcher timed out"; fail=1; } ;;
  unsupported) [ $rc -eq 0 ] || { echo "FAIL: $launcher exited $rc"; fail=1; }
         [ "$(grep -c '^UNSUPPORTED: rank' "$out")" -eq $ranks ] || { echo "FAIL: not every rank was told PMIx is not built in"; fail=1; } ;;
  refused) grep -q '^REFUSED: rank [0-9]* could not start its node: secret' "$out" || { echo "FAIL: the client's fp_pool_create did not name the rank and the cause"; fail=1; } ;;
  *)     echo "unknown case $case"; exit 2 ;;
esac
grep -q '^FAIL' "$out" && fail=1

# nothing of the run may be left (a node rank would be an orphan)
for _ in $(seq 1 50); do
  [ -z "$(left)" ] && break
  sleep 0.2
done
rest=$(left)
if [ -n "$rest" ]; then
  echo "FAIL: processes left after $launcher: $rest"
  ps -o pid,ppid,stat,args -p "$(echo $rest | tr ' ' ',')" || true
  kill -9 $rest 2>/dev/null
  fail=1
fi
[ $fail -eq 0 ] && echo "PASS: $launcher $case"
exit $fail
