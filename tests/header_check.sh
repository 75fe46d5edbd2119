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
# README's C snippets compile and link as they stand (each a whole program).
awk -v dir="$tmp" '/^```c$/{n++; f=dir "/readme_" n ".c"; on=1; next} /^```$/{on=0} on{print > f}' README.md
for f in "$tmp"/readme_*.c; do
    [ -f "$f" ] || continue
    try "README snippet $(basename "$f")" cc $WARN -I. -I/usr/include/stb "$f" -o "$tmp/snippet" \
        -lprotobuf-nanopb -lstb -lm -lpthread
done
# A vendored header stands alone: nn_graph.h copied into an empty folder.
mkdir -p "$tmp/vendor"
cp nn_graph.h "$tmp/vendor/"
printf '#define NN_IMPLEMENTATION\n#include "nn_graph.h"\nint main(void) { return nn_op_find("Conv", "", 17) ? 0 : 1; }\n' > "$tmp/vendor/main.c"
try "nn_graph.h vendored alone" sh -c "cc $WARN -O1 '$tmp/vendor/main.c' -o '$tmp/vendor/a' -lm -lpthread && '$tmp/vendor/a'"
echo "headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
