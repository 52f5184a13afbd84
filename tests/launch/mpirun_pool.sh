#!/usr/bin/env bash
# mpirun_pool.sh MPIRUN PROGRAM CASE [RANKS]
#
# Runs PROGRAM (test_mpirun_pool) as RANKS (default 3) ranks of Open MPI's
# mpirun, which forms one pool through PMIx, and checks the outcome of CASE:
#   map    every rank exits 0 (mpirun's status), the client printed DONE
#   early  the client exits with its pool open: the node ranks stop by
#          themselves (exit with client), every rank exits 0
#   kill   the client SIGKILLs itself after the map: no rank is left
# In every case no process of the run may be left afterwards (a process
# listing, by a mark on the command line).  Exit 77 when MPIRUN is absent.
set -u
mpirun=$1 prog=$2 case=$3 ranks=${4:-3}
if [ -z "$mpirun" ] || [ ! -x "$mpirun" ]; then
  echo "SKIP: no mpirun (install openmpi-bin)"; exit 77
fi
mark="fpmark$$x$RANDOM"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

left() {  # pids of processes carrying the mark, this script's excepted
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "$mark" && echo "${p#/proc/}"
  done
}

root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
# TSan: fastpool's nodes end executor threads; UCX's memory hooks crash
# TSan there (tests/CMakeLists.txt), so ctest's UCX_MEM_EVENTS goes to
# every rank with the rest of the environment (mpirun forwards it locally).
start=$SECONDS
timeout -k 5 150 "$mpirun" "${root[@]}" --oversubscribe -n "$ranks" \
  "$prog" "$case" "$mark" >"$out" 2>&1
rc=$?
took=$((SECONDS - start))
cat "$out"
echo "mpirun exited $rc"

fail=0
case "$case" in
  map)   [ $rc -eq 0 ] || { echo "FAIL: mpirun exited $rc (a rank failed)"; fail=1; }
         grep -q '^DONE' "$out" || { echo "FAIL: the client did not finish"; fail=1; } ;;
  early) [ $rc -eq 0 ] || { echo "FAIL: mpirun exited $rc: the node ranks did not all exit 0 after the client left"; fail=1; }
         grep -q '^EXITING' "$out" || { echo "FAIL: the client did not reach its early exit"; fail=1; } ;;
  kill)  grep -q '^KILLING' "$out" || { echo "FAIL: the client did not reach its kill"; fail=1; }
         # mpirun reports the killed rank (137) and ends the others
         [ $took -lt 150 ] || { echo "FAIL: mpirun timed out"; fail=1; } ;;
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
  echo "FAIL: processes left after mpirun: $rest"
  ps -o pid,ppid,stat,args -p "$(echo $rest | tr ' ' ',')" || true
  kill -9 $rest 2>/dev/null
  fail=1
fi
[ $fail -eq 0 ] && echo "PASS: $case"
exit $fail
