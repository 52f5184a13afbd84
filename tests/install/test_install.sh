#!/usr/bin/env bash
# test_install.sh BUILD_DIR THIS_DIR
# The installed package works for a consumer: find_package (shared and
# static), pkg-config (shared), and pkg-config --static linking
# libfastpool.a; the static programs must not load libfastpool.so.
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

# pkg-config --static: every library the static archive needs is named
# (hwloc brings -ludev, -lm; libconfig, libcrypto, -ldl) and resolves
static_libs=$(pkg-config --static --libs fastpool)
echo "pkg-config --static --libs fastpool: $static_libs"
# the usual way: the flags as given (the linker may still pick the .so)
# shellcheck disable=SC2086
cc "$work/src/app.c" $(pkg-config --cflags fastpool) $static_libs \
   -o "$work/app_pcs"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app_pcs"
# libfastpool.a itself, exactly as README.md says
# shellcheck disable=SC2046
cc "$work/src/app.c" $(pkg-config --cflags fastpool) \
   -Wl,-Bstatic -lfastpool -Wl,-Bdynamic $(pkg-config --static --libs fastpool) \
   -o "$work/app_pcs2"
if ldd "$work/app_pcs2" | grep -q libfastpool; then
  echo "FAIL: the static link still loads libfastpool.so" >&2; exit 1
fi
env -u LD_LIBRARY_PATH "$work/app_pcs2"
# an installed program finds its library from any prefix (RUNPATH)
env -u LD_LIBRARY_PATH "$work/prefix/bin/fastpool-map-demo" -n 1000 >/dev/null
echo "PASS: find_package (shared, static), pkg-config, pkg-config --static consumers"
