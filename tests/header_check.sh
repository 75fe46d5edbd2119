#!/usr/bin/env bash
# Each public header compiles on its own (declarations only and with its
# implementation), all together, and as C++, with the project's warnings.
set -u
cd "$(dirname "$0")/.."
WARN="-std=c99 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -Wno-maybe-uninitialized"
CXXWARN="-Wall -Wextra -Werror"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
try() { # description, command...
    local what=$1; shift
    if "$@" 2>"$tmp/err"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; head -20 "$tmp/err"; fi
}
headers=$(ls nn_*.h)
for h in $headers; do
    printf '#include "%s"\nint nn_check_dummy(void);\nint nn_check_dummy(void) { return 0; }\n' "$h" > "$tmp/decl.c"
    printf '#define NN_IMPLEMENTATION\n#include "%s"\nint nn_check_dummy(void);\nint nn_check_dummy(void) { return 0; }\n' "$h" > "$tmp/impl.c"
    try "$h declarations (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/decl.c" -o "$tmp/o.o"
    try "$h implementation (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/impl.c" -o "$tmp/o.o"
    try "$h implementation (C++)" c++ -x c++ $CXXWARN -I. -I/usr/include/stb -c "$tmp/impl.c" -o "$tmp/o.o"
done
{ echo '#define NN_IMPLEMENTATION'; for h in $headers; do echo "#include \"$h\""; done;
  echo 'int nn_check_dummy(void);'; echo 'int nn_check_dummy(void) { return 0; }'; } > "$tmp/all.c"
try "all headers together (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/all.c" -o "$tmp/o.o"
try "all headers together (C++)" c++ -x c++ $CXXWARN -I. -I/usr/include/stb -c "$tmp/all.c" -o "$tmp/o.o"
echo "headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
