#!/usr/bin/env bash
# test_install.sh BUILD_DIR THIS_DIR
set -euo pipefail
build=$1 here=$2
work=$(mktemp -d /tmp/fp-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
mkdir "$work/src"
cp "$here/app.c" "$work/src/app.c"
cp "$here/consumer.cmake" "$work/src/CMakeLists.txt"
cmake -S "$work/src" -B "$work/b" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/b" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/b/app"
"$work/b/app_static"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc "$work/src/app.c" $(pkg-config --cflags --libs fastpool) -o "$work/app_pc"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app_pc"
echo "PASS: find_package (shared, static) and pkg-config consumers"
