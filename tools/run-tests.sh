#!/usr/bin/env bash
# Install what is missing, then build and run the whole test suite three
# times: plain (with the benchmarks built too, so they cannot rot), under
# ASan+UBSan, and under TSan; build every build type the README names with
# both compilers it names (GCC and Clang) and run the core tests of the
# Release builds; then fuzz the wire decoder for a bounded time (libFuzzer,
# clang) from the checked-in seed corpus.  Exits non-zero if any run fails.
# Every build here uses -Werror (FP_WERROR=ON): the project's own checks
# are strict, a user's build is not.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh
JOBS=$(nproc)
export FP_LOG_LEVEL=${FP_LOG_LEVEL:-error}

run_suite() { # name build-dir cmake-args...
  local name=$1 dir=$2; shift 2
  echo "== $name: configure and build ($dir) =="
  cmake -S . -B "$dir" -DFP_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "== $name: ctest =="
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 600
}

run_suite plain build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFP_BUILD_BENCHMARKS=ON

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
run_suite asan+ubsan build-asan -DCMAKE_BUILD_TYPE=Debug -DFP_SANITIZE=address \
  -DFP_BUILD_BENCHMARKS=OFF

TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
run_suite tsan build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFP_SANITIZE=thread \
  -DFP_BUILD_BENCHMARKS=OFF

# Each build type the README names, with each compiler it names; the
# plain/ASan/TSan runs above covered GCC RelWithDebInfo and Debug.
build_only() { # name build-dir cmake-args...
  local name=$1 dir=$2; shift 2
  echo "== $name: configure and build ($dir) =="
  cmake -S . -B "$dir" -DFP_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS" >/dev/null
}
build_only "gcc Release" build-gcc-release -DCMAKE_BUILD_TYPE=Release
echo "== gcc Release: ctest -L core =="
ctest --test-dir build-gcc-release --output-on-failure -j"$JOBS" --timeout 600 -L core
build_only "gcc MinSizeRel" build-gcc-minsize -DCMAKE_BUILD_TYPE=MinSizeRel
for t in Debug Release RelWithDebInfo MinSizeRel; do
  build_only "clang $t" "build-clang-${t,,}" -DCMAKE_BUILD_TYPE=$t \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
done
echo "== clang Release: ctest -L core =="
ctest --test-dir build-clang-release --output-on-failure -j"$JOBS" --timeout 600 -L core

echo "== fuzz: wire decoder, ${FP_FUZZ_SECONDS:-60} s (libFuzzer + ASan + UBSan) =="
cmake -S . -B build-fuzz -DFP_WERROR=ON -DCMAKE_C_COMPILER=clang -DFP_FUZZ=ON \
  -DFP_FUZZ_SECONDS="${FP_FUZZ_SECONDS:-60}" -DFP_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS" --target fuzz_wire
ctest --test-dir build-fuzz --output-on-failure -L fuzz

echo "== all test runs passed (plain, ASan+UBSan, TSan, build types x compilers, fuzz) =="
