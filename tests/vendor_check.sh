#!/usr/bin/env bash
# README "Vendoring": nn_graph.h copied into a plain-Makefile project and into
# a CMake project (examples/vendor/), each built and run; then `make install`
# into a temporary prefix and a program built with `pkg-config nnport`.
# The program checks y = Relu(x + b) against a hand calculation.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
try() { # description, command...
    local what=$1; shift
    if "$@" >"$tmp/log" 2>&1; then pass=$((pass + 1)); echo "ok: $what"
    else fail=$((fail + 1)); echo "FAIL: $what"; tail -20 "$tmp/log"; fi
}
cp -r examples/vendor "$tmp/vendor"
mkdir -p "$tmp/vendor/make/third_party" "$tmp/vendor/cmake/third_party"
cp nn_graph.h "$tmp/vendor/make/third_party/"
cp nn_graph.h "$tmp/vendor/cmake/third_party/"
try "plain Makefile project vendoring nn_graph.h" sh -c "make -s -C '$tmp/vendor/make' && '$tmp/vendor/make/app'"
if command -v cmake >/dev/null; then
    try "CMake project vendoring nn_graph.h" sh -c "cmake -S '$tmp/vendor/cmake' -B '$tmp/cmake-build' && cmake --build '$tmp/cmake-build' && '$tmp/cmake-build/app'"
else
    echo "FAIL: cmake missing (scripts/setup.sh installs it)"; fail=$((fail + 1))
fi
try "make install PREFIX=..." make -s install PREFIX="$tmp/prefix"
try "program built with pkg-config nnport" sh -c "
    export PKG_CONFIG_PATH='$tmp/prefix/lib/pkgconfig'
    cc -std=c99 -O1 \$(pkg-config --cflags nnport) '$tmp/vendor/main.c' -o '$tmp/pc-app' \$(pkg-config --libs nnport) && '$tmp/pc-app'"
try "make uninstall removes the headers" sh -c "make -s uninstall PREFIX='$tmp/prefix' && ! ls '$tmp/prefix/include/nnport/'nn_*.h 2>/dev/null"
echo "vendor: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
