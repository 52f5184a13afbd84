#!/usr/bin/env bash
# Real sshd servers inside the network-namespace hosts of tools/netns.sh,
# for the SSH bootstrap tests and the main job: throw-away keys, key
# authentication only, port 2222, nothing outside the namespaces touched.
#
#   bash tools/sshd.sh up DIR PREFIX HOST...   HOST: h1, h2, ...; "bare:h2"
#                                                  hides fastpool's libraries
#                                                  and the project tree there
#   bash tools/sshd.sh down DIR PREFIX         stop the servers of DIR
#
# `up` writes into DIR (made if missing, mode 0700):
#   id_ed25519, id_ed25519.pub  the client key (authorized on every host)
#   other_ed25519               a key no host accepts (for the tests)
#   ssh_config                  Host h1 -> 10.77.0.1 port 2222 ..., the key,
#                               known_hosts, BatchMode: `ssh -F DIR/ssh_config h1`
#   known_hosts                 the hosts' throw-away host key
#   sshd-HOST.log, sshd-HOST.pid
#
# A "bare" host's sshd runs in a mount namespace of its own in which the
# project tree (PROJECT_ROOT, default: this script's repository, and
# FP_SSHD_HIDE, colon-separated, more folders) is an empty tmpfs and the
# shared libraries a node needs beyond the C library (UCX and its modules,
# hwloc, libconfig, OpenSSL's libcrypto, ...) are empty files: a host with
# nothing of fastpool installed.  That sshd runs without re-executing itself
# (-r), so it keeps the libcrypto it already mapped.  Needs root and
# openssh-server; exits 77 when either is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SSHD=${FP_SSHD:-/usr/sbin/sshd}

cmd=${1:-}
dir=${2:-}
prefix=${3:-fp-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,25p' "$0"; exit 2; }
shift 3 || true

stop_all() {
  for pf in "$dir"/sshd-*.pid; do
    [ -e "$pf" ] || continue
    pid=$(cat "$pf" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -f "$pf"
  done
}

case "$cmd" in
down)
  [ -d "$dir" ] && stop_all
  exit 0 ;;
up) ;;
*) echo "sshd.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "sshd.sh: needs root (network namespaces, sshd)" >&2; exit 77; }
[ -x "$SSHD" ] || { echo "sshd.sh: no $SSHD (install openssh-server)" >&2; exit 77; }
command -v ssh-keygen >/dev/null || { echo "sshd.sh: no ssh-keygen" >&2; exit 77; }

mkdir -p "$dir"
chmod 700 "$dir"
mkdir -p /run/sshd   # sshd's privilege-separation folder
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
[ -f "$dir/other_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/other_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"

cat > "$dir/sshd_config" <<EOF
Port 2222
ListenAddress 0.0.0.0
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 100
LogLevel ERROR
EOF

hostkey=$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")
: > "$dir/known_hosts"
{
  echo "# written by tools/sshd.sh"
} > "$dir/ssh_config"

# the libraries a node needs beyond the C library, as this machine has them
hide_libs() {
  local libs=() f
  for so in libucp.so.0 libuct.so.0 libucs.so.0 libucm.so.0 libhwloc.so.15 \
            libconfig.so.9 libcrypto.so.3 libnuma.so.1 libibverbs.so.1 \
            librdmacm.so.1 libudev.so.1; do
    f=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ {print $NF; exit}')
    [ -n "$f" ] && libs+=("$(readlink -f "$f")")
  done
  printf '%s\n' "${libs[@]}"
}

for spec in "$@"; do
  bare=0
  h=$spec
  case "$spec" in bare:*) bare=1; h=${spec#bare:} ;; esac
  k=${h#h}
  ns=${prefix}${h}
  ip netns pids "$ns" >/dev/null 2>&1 || { echo "sshd.sh: no namespace $ns (tools/netns.sh up $prefix)" >&2; exit 1; }
  addr=10.77.0.$k
  echo "[$addr]:2222 $hostkey" >> "$dir/known_hosts"
  cat >> "$dir/ssh_config" <<EOF
Host $h
  HostName $addr
EOF
  pidf=$dir/sshd-$h.pid
  rm -f "$pidf"
  if [ "$bare" = 0 ]; then
    ip netns exec "$ns" "$SSHD" -f "$dir/sshd_config" -E "$dir/sshd-$h.log" \
      -o PidFile="$pidf"
  else
    ip netns exec "$ns" unshare -m --propagation private \
      "$SSHD" -r -f "$dir/sshd_config" -E "$dir/sshd-$h.log" -o PidFile="$pidf"
  fi
  for _ in $(seq 100); do [ -s "$pidf" ] && break; sleep 0.05; done
  [ -s "$pidf" ] || { echo "sshd.sh: sshd for $h did not start:" >&2; cat "$dir/sshd-$h.log" >&2; exit 1; }
  if [ "$bare" = 1 ]; then
    pid=$(cat "$pidf")
    hide=("$root")
    IFS=: read -r -a more <<< "${FP_SSHD_HIDE:-}"
    for d in "${more[@]}"; do [ -n "$d" ] && hide+=("$d"); done
    for d in "${hide[@]}"; do
      nsenter -t "$pid" -m mount -t tmpfs -o size=1m,mode=0755 none "$d"
    done
    ucxdir=$(dirname "$(readlink -f "$(ldconfig -p | awk '$1 == "libucs.so.0" {print $NF; exit}')")")/ucx
    [ -d "$ucxdir" ] && nsenter -t "$pid" -m mount -t tmpfs -o size=1m none "$ucxdir"
    while read -r lib; do
      [ -n "$lib" ] && nsenter -t "$pid" -m mount --bind /dev/null "$lib"
    done < <(hide_libs)
  fi
done

cat >> "$dir/ssh_config" <<EOF
Host *
  Port 2222
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF
echo "sshd.sh: sshd on port 2222 in ${*/#/$prefix} (ssh -F $dir/ssh_config HOST)"
