#!/usr/bin/env bash
# The main job: install what is missing, build (Release), and map a function
# over a million inputs on the embedded default pool (this machine's cores),
# printing the result check and the throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFP_BUILD_TESTS=OFF \
      -DFP_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fastpool-map-demo

echo "== local pool (embedded default) =="
"$BUILD/tools/fastpool-map-demo" -n 1000000
