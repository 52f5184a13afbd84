#!/usr/bin/env bash
# Install the Debian 12 packages fastpool needs to build, test and benchmark,
# when they are missing.  Run as root (or with sudo on PATH).  Idempotent.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libucx-dev ucx-utils          # transport (UCX 1.13) and ucx_perftest
  libhwloc-dev                  # topology and pinning
  libudev-dev                   # hwloc.pc names -ludev for static links
  libconfig-dev                 # cluster files
  libssl-dev                    # vetted crypto (HMAC, SHA-1 for UTS)
  libcmocka-dev                 # unit tests
  libpmix-dev                   # ranks of mpirun/srun form one pool (boot/pmix.c; optional at build)
  openmpi-bin                   # mpirun for the launch tests (tests/launch/mpirun.cmake)
  slurmctld slurmd slurm-client munge  # srun --mpi=pmix launch tests (their own daemons)
  libbenchmark-dev              # Google Benchmark
  clang libomp-dev              # LLVM libomp peer (fib)
  libclang-rt-14-dev            # libFuzzer + sanitizer runtimes for clang
  iproute2                      # network namespaces for the two-host tests
  openssh-server openssh-client # real sshd in namespace hosts (SSH bootstrap)
  libtbb-dev                    # oneTBB peer (fib)
  python3                       # multiprocessing peer (/usr/bin/python3)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
