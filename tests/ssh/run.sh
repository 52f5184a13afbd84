#!/usr/bin/env bash
# ctest ssh_bootstrap: namespace hosts h1, h2 (bare: no fastpool, no UCX,
# hwloc, libconfig or libcrypto there), h3, each with a real sshd; the
# cases of test_ssh.c run in the client namespace.  Exits 77 (skipped) when
# root, namespaces or sshd are missing.
#
#   bash tests/ssh/run.sh TEST_SSH_BINARY FASTPOOL_RUN_BINARY FASTPOOL_INFO
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(readlink -f "$1")
fprun=$(readlink -f "${2:-$(dirname "$bin")/../../tools/fastpool-run}")
fpinfo=$(readlink -f "${3:-$(dirname "$bin")/../../tools/fastpool-info}")
P=${FP_SSH_TEST_PREFIX:-fpB$$-}
P=${P:0:8}
dir=$(mktemp -d /tmp/fp-ssh-test.XXXXXX)

cleanup() {
  bash "$root/tools/sshd.sh" down "$dir" "$P" >/dev/null 2>&1
  bash "$root/tools/netns.sh" down "$P" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

FP_NETNS_HOSTS=3 bash "$root/tools/netns.sh" up "$P" >/dev/null
rc=$?
[ $rc -eq 0 ] || { [ $rc -eq 77 ] && echo "skipped: no network namespaces here"; exit $rc; }
bash "$root/tools/sshd.sh" up "$dir/ssh" "$P" h1 bare:h2 h3
rc=$?
[ $rc -eq 0 ] || exit $rc

fail=0
run() { # name args...  (args: of test_ssh, or "--fprun" and fastpool-run's)
  local name=$1; shift
  local prog=$bin
  if [ "$1" = --fprun ]; then prog=$fprun; shift; fi
  echo "== $name: test_ssh $*"
  local t0=$EPOCHREALTIME
  # namespaces share one kernel: UCX would take shared memory between them,
  # which a node started by sshd (not our descendant) cannot use; tcp as
  # between real hosts
  ip netns exec "${P}c" env FP_SSH_CONFIG="$dir/ssh/ssh_config" FP_TRANSPORT=tcp \
    FP_CACHE_DIR="$dir/cache-client" \
    FP_REMOTE_CACHE="${REMOTE_CACHE:-$dir/cache-remote}" "$prog" "$@"
  local r=$?
  awk -v n="$name" -v r=$r -v a="$t0" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "   (%s: rc %d, %.2f s)\n", n, r, b - a }'
  [ $r -eq 0 ] || { echo "FAILED: $name"; fail=1; }
}

# the bundle into an empty cache there, then from that cache
REMOTE_CACHE=$dir/cache-h1 run "bundle h1" basic h1
REMOTE_CACHE=$dir/cache-h2 run "bundle on a bare host" basic h2
run "installed program (bundle = never)" never h1 ok
run "bare host without the bundle" never h2 fail
run "unreachable host" unreachable 10.77.0.9 2
sed "s|IdentityFile .*|IdentityFile $dir/ssh/other_ed25519|" "$dir/ssh/ssh_config" > "$dir/other_config"
run "key not accepted" badkey h1 "$dir/other_config"
run "unknown host key" hostkey h1
run "output prefix" prefix h3
run "client killed: no orphans" orphans "${P}h1" "${P}h3" -- h1 h3
run "ssh link cut" linkcut "${P}h3" h3
# cluster files: the same hosts, described in a file
cat > "$dir/two.cfg" <<EOF
cluster = {
  bootstrap = "ssh";
  transports = ["tcp"];
  ssh = { config_file = "$dir/ssh/ssh_config"; };
  node = { cache_dir = "$dir/cache-cluster"; };
  hosts = ( { address = "h1"; }, { address = "h3"; executors = 1; } );
};
EOF
run "cluster file (FP_CLUSTER)" cluster "$dir/two.cfg" 2
cat > "$dir/elastic.cfg" <<EOF
cluster = {
  bootstrap = "ssh";
  transports = ["tcp"];
  ssh = { config_file = "$dir/ssh/ssh_config"; };
  node = { cache_dir = "$dir/cache-cluster"; };
  elastic = { min = 1; max = 2; scale_up_after = 0.3; idle_timeout = 1.0; };
  hosts = ( { address = "h1"; executors = 1; }, { address = "h3"; executors = 1; } );
};
EOF
run "elastic cluster" elastic "$dir/elastic.cfg"
sed 's/address = "h3"/address = "h9"/' "$dir/two.cfg" > "$dir/nohost.cfg"
run "cluster with an unknown host" badcluster "$dir/nohost.cfg" "host 'h9'"
printf 'cluster = {\n  bootstrap = "ssh";\n  hots = ();\n};\n' > "$dir/typo.cfg"
run "broken cluster file" badcluster "$dir/typo.cfg" "typo.cfg:3:"
# fastpool-run: an unchanged program's default pool
printf 'h1\n# a comment\n\nh3   # and another\n' > "$dir/hostfile"
run "fastpool-run -H" --fprun -H h1,h3 "$bin" default 2
run "fastpool-run --hostfile" --fprun --hostfile "$dir/hostfile" "$bin" default 2
run "fastpool-run --cluster" --fprun --cluster "$dir/two.cfg" "$bin" default 2
echo "== fastpool-run --cluster on a broken file"
if ip netns exec "${P}c" "$fprun" --cluster "$dir/typo.cfg" "$bin" default 2 2> "$dir/err"; then
  echo "FAILED: a broken cluster file ran"; fail=1
elif ! grep -q "typo.cfg:3: cluster.hots: unknown key" "$dir/err"; then
  echo "FAILED: the message: $(cat "$dir/err")"; fail=1
else
  cat "$dir/err"
fi
# fastpool-info --cluster: every host checked over ssh
echo "== fastpool-info --cluster"
if ip netns exec "${P}c" "$fpinfo" --cluster "$dir/two.cfg" > "$dir/info.out" 2>&1 &&
   grep -q "all hosts reachable" "$dir/info.out" &&
   [ "$(grep -c ' ok ' "$dir/info.out")" = 2 ]; then
  cat "$dir/info.out"
else
  echo "FAILED: fastpool-info --cluster"; cat "$dir/info.out"; fail=1
fi
echo "== fastpool-info --cluster with an unknown host"
if ip netns exec "${P}c" "$fpinfo" --cluster "$dir/nohost.cfg" > "$dir/info.out" 2>&1; then
  echo "FAILED: exit 0 with a host missing"; cat "$dir/info.out"; fail=1
elif ! grep -q "^h9 .* NO .*Could not resolve" "$dir/info.out"; then
  echo "FAILED: the row for h9"; cat "$dir/info.out"; fail=1
else
  cat "$dir/info.out"
fi
exit $fail
