#!/usr/bin/env bash
# One transport test case: tp_test.sh CASE PATH/TO/tp_peer
# Exit 0 pass, 1 fail, 77 skip (with the reason printed).
set -uo pipefail
case_name=$1
peer=$2
work=$(mktemp -d /tmp/fp-tp-XXXXXX)
pids=()
netns=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- server log"; cat "$work/server.out" "$work/server.err" 2>/dev/null | tail -40; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

secret() { # file content
  printf '%s' "$2" > "$1"; chmod 600 "$1"
}
# loopback cases: keep UCX on lo (it would also add the host's own eth0)
export UCX_NET_DEVICES=lo
secret "$work/secret" "correct horse battery staple 0123456789"
secret "$work/other" "a different secret of enough length!!"

# start_server [prefix-cmd...] -- args: starts tp_peer server, sets $port
start_server() {
  local pre=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do pre+=("$1"); shift; done
  shift
  "${pre[@]}" "$peer" server --secret-file "$work/secret" "$@" \
      > "$work/server.out" 2> "$work/server.err" &
  pids+=($!)
  server_pid=$!
  for _ in $(seq 1 100); do
    port=$(awk '/^PORT/{print $2; exit}' "$work/server.out" 2>/dev/null)
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "server did not start"
}

client() { # args...
  timeout 200 "$peer" client --secret-file "$work/secret" --port "$port" "$@"
}

# wait until the server log matches a pattern, at most $2 seconds
wait_log() {
  local pat=$1 secs=$2 t=0
  while ! grep -qE "$pat" "$work/server.out" "$work/server.err" 2>/dev/null; do
    sleep 0.1; t=$((t+1))
    [ $t -ge $((secs*10)) ] && return 1
  done
  return 0
}

good_client_still_served() {
  client --transport tcp --sizes 1,65536 >"$work/good.out" 2>&1 \
    || { cat "$work/good.out"; fail "server stopped serving good clients"; }
}

case "$case_name" in
loopback_tcp|loopback_shm)
  t=${case_name#loopback_}
  start_server -- --transport "$t" --serve 1
  client --transport "$t" --sizes 1,8,4096,8192,65535,65536,1048576 \
    > "$work/client.out" 2>&1 || { cat "$work/client.out"; fail "echo over $t"; }
  cat "$work/client.out"
  # what UCX actually chose is reported per connection
  if [ "$t" = shm ]; then want="used am=(sysv|posix)/memory rndv=cma/memory"
  else want="used am=tcp/lo rndv=tcp/lo"; fi
  grep -Eq "$want" "$work/client.out" || fail "expected transports '$want'"
  ;;
framed_tcp|framed_shm)
  # eager messages in the framed form both ways (the header leads the
  # payload in one block); sizes from 1 byte to past the rendezvous
  # threshold, where the header goes in UCX's request-to-send again
  t=${case_name#framed_}
  start_server -- --transport "$t" --serve 1 --framed
  client --transport "$t" --framed --sizes 1,8,4096,8192,65535,65536,1048576 \
    > "$work/client.out" 2>&1 || { cat "$work/client.out"; fail "framed echo over $t"; }
  cat "$work/client.out"
  ;;
large_tcp|large_shm)
  t=${case_name#large_}
  # the client fills and checks 256 MiB between progress calls: under the
  # sanitizers that takes longer than the default 10 s peer deadline
  start_server -- --transport "$t" --serve 1 --deadline 300
  client --transport "$t" --deadline 300 --sizes 1,16777216,268435456 \
    || fail "large payloads over $t"
  ;;
wrong_secret)
  start_server -- --transport tcp --serve 0
  timeout 60 "$peer" client --secret-file "$work/other" --port "$port" \
      --transport tcp --expect-fail > "$work/client.out" 2>&1
  rc=$?; cat "$work/client.out"
  [ $rc -eq 0 ] || fail "client with the wrong secret was not refused"
  grep -q "FP_ERR_AUTH" "$work/client.out" || fail "client did not get FP_ERR_AUTH"
  grep -qi "wrong pool secret" "$work/client.out" || fail "client error does not say why"
  wait_log "failed authentication" 10 || fail "server did not log the failed authentication"
  good_client_still_served
  ;;
no_secret)
  out=$(env -u FP_SECRET -u FP_SECRET_FILE "$peer" client --port 1 2>&1); rc=$?
  echo "$out"
  [ $rc -ne 0 ] || fail "started without a secret"
  echo "$out" | grep -qi "secret" || fail "error does not mention the secret"
  chmod 644 "$work/secret"
  out=$("$peer" client --secret-file "$work/secret" --port 1 2>&1); rc=$?
  echo "$out"
  [ $rc -ne 0 ] || fail "accepted a world-readable secret file"
  echo "$out" | grep -q "0644" || fail "error does not name the mode"
  ;;
rogue_*)
  kind=${case_name#rogue_}; kind=${kind//_/-}
  start_server -- --transport tcp --serve 0
  timeout 60 "$peer" rogue "$kind" --secret-file "$work/secret" --port "$port" \
      --transport tcp > "$work/rogue.out" 2>&1
  rc=$?; cat "$work/rogue.out"
  [ $rc -eq 0 ] || fail "rogue '$kind' was not disconnected"
  wait_log "ERROR|bad message|before authentication|out of order|second HELLO" 10 \
    || fail "server logged no reason for dropping the rogue"
  grep -E "ERROR|WARN" "$work/server.err" | tail -3
  good_client_still_served
  kill -0 "$server_pid" || fail "server died"
  ;;
garbage_port)
  start_server -- --transport tcp --serve 0
  for i in 1 2 3; do
    head -c 4096 /dev/urandom > "/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
  done
  sleep 0.5
  kill -0 "$server_pid" || fail "server died on random bytes"
  good_client_still_served
  ;;
peer_killed|peer_stopped)
  start_server -- --transport tcp --serve 0 --deadline 3 --hb 0.5
  "$peer" client --secret-file "$work/secret" --port "$port" --transport tcp \
      --hang --deadline 3 --hb 0.5 > "$work/hang.out" 2>&1 &
  cpid=$!; pids+=($cpid)
  for _ in $(seq 1 100); do grep -q READY "$work/hang.out" && break; sleep 0.1; done
  grep -q READY "$work/hang.out" || fail "hanging client did not connect"
  t0=$(date +%s.%N)
  if [ "$case_name" = peer_killed ]; then
    kill -9 "$cpid"; want="CLOSED FP_ERR_PEER"; limit=3
  else
    kill -STOP "$cpid"; want="CLOSED FP_ERR_TIMEOUT"; limit=6
  fi
  wait_log "$want" $((limit + 2)) || fail "peer loss not reported within ${limit}s (want '$want')"
  t1=$(date +%s.%N)
  echo "reported after $(awk "BEGIN{print $t1 - $t0}") s: $(grep CLOSED "$work/server.out")"
  kill -9 "$cpid" 2>/dev/null
  good_client_still_served
  ;;
sends_fail)
  start_server -- --transport tcp --serve 0
  "$peer" client --secret-file "$work/secret" --port "$port" --transport tcp \
      --fail-sends > "$work/fs.out" 2>&1 &
  cpid=$!; pids+=($cpid)
  for _ in $(seq 1 100); do grep -q READY "$work/fs.out" && break; sleep 0.1; done
  grep -q READY "$work/fs.out" || fail "client did not connect"
  kill -STOP "$server_pid"          # the 64 MiB rendezvous cannot finish...
  kill -USR1 "$cpid"
  for _ in $(seq 1 50); do grep -q SENT "$work/fs.out" && break; sleep 0.1; done
  kill -9 "$server_pid"             # ...and then the peer dies
  wait "$cpid"; rc=$?
  cat "$work/fs.out"
  [ $rc -eq 0 ] || fail "pending send did not fail cleanly"
  grep -q "SEND_STATUS FP_ERR" "$work/fs.out" || fail "send completed without an error"
  ;;
netns_tcp)
  unset UCX_NET_DEVICES
  command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
  a=fpA$$ b=fpB$$
  ip netns add "$a" 2>/dev/null || skip "cannot create network namespaces (not root?)"
  netns+=("$a")
  ip netns add "$b"; netns+=("$b")
  ip link add "va$$" type veth peer name "vb$$" || skip "cannot create a veth pair"
  ip link set "va$$" netns "$a"; ip link set "vb$$" netns "$b"
  ip -n "$a" addr add 10.253.0.1/24 dev "va$$"; ip -n "$b" addr add 10.253.0.2/24 dev "vb$$"
  ip -n "$a" link set "va$$" up; ip -n "$b" link set "vb$$" up
  ip -n "$a" link set lo up; ip -n "$b" link set lo up
  start_server ip netns exec "$a" -- --addr 10.253.0.1 --transport tcp --serve 1
  ip netns exec "$b" timeout 200 "$peer" client --secret-file "$work/secret" \
      --addr 10.253.0.1 --port "$port" --transport tcp \
      --sizes 1,4096,65536,1048576,67108864 || fail "echo between namespaces"
  ;;
*)
  echo "unknown case $case_name"; exit 2 ;;
esac
echo "PASS: $case_name"
exit 0
