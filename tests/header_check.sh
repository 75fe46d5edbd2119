#!/usr/bin/env bash
# Each public header compiles on its own (declarations only and with its
# implementation), all together, and as C++, with the project's warnings.
set -u
cd "$(dirname "$0")/.."
WARN="-std=c99 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -Wno-maybe-uninitialized"
CXXWARN="-Wall -Wextra -Werror"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Each check runs in the background, JOBS at a time (default: one per
# core), writing its verdict to $tmp/st.N; the verdicts are counted and
# printed in order at the end.  Every check has its own output file.
jobs=${JOBS:-$(nproc 2>/dev/null || echo 1)}
n=0
try() { # description, command...
    local what=$1; shift
    n=$((n + 1))
    local id=$n
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    ( if "$@" 2>"$tmp/err.$id"; then echo ok >"$tmp/st.$id"
      else { echo "FAIL: $what"; head -20 "$tmp/err.$id"; } >"$tmp/st.$id"; fi ) &
}
headers=$(ls nn_*.h)
for h in $headers; do
    b=${h%.h}
    printf '#include "%s"\nint nn_check_dummy(void);\nint nn_check_dummy(void) { return 0; }\n' "$h" > "$tmp/$b.decl.c"
    printf '#define NN_IMPLEMENTATION\n#include "%s"\nint nn_check_dummy(void);\nint nn_check_dummy(void) { return 0; }\n' "$h" > "$tmp/$b.impl.c"
    try "$h declarations (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/$b.decl.c" -o "$tmp/$b.decl.o"
    try "$h implementation (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/$b.impl.c" -o "$tmp/$b.impl.o"
    try "$h implementation (C++)" c++ -x c++ $CXXWARN -I. -I/usr/include/stb -c "$tmp/$b.impl.c" -o "$tmp/$b.impl.cc.o"
done
{ echo '#define NN_IMPLEMENTATION'; for h in $headers; do echo "#include \"$h\""; done;
  echo 'int nn_check_dummy(void);'; echo 'int nn_check_dummy(void) { return 0; }'; } > "$tmp/all.c"
try "all headers together (C)" cc $WARN -I. -I/usr/include/stb -c "$tmp/all.c" -o "$tmp/all.o"
try "all headers together (C++)" c++ -x c++ $CXXWARN -I. -I/usr/include/stb -c "$tmp/all.c" -o "$tmp/all.cc.o"
# README's C snippets compile and link as they stand (each a whole program).
awk -v dir="$tmp" '/^```c$/{n++; f=dir "/readme_" n ".c"; on=1; next} /^```$/{on=0} on{print > f}' README.md
for f in "$tmp"/readme_*.c; do
    [ -f "$f" ] || continue
    try "README snippet $(basename "$f")" cc $WARN -I. -I/usr/include/stb "$f" -o "${f%.c}.bin" \
        -lprotobuf-nanopb -lstb -lm -lpthread
done
# A vendored header stands alone: nn_graph.h copied into an empty folder.
mkdir -p "$tmp/vendor"
cp nn_graph.h "$tmp/vendor/"
printf '#define NN_IMPLEMENTATION\n#include "nn_graph.h"\nint main(void) { return nn_op_find("Conv", "", 17) ? 0 : 1; }\n' > "$tmp/vendor/main.c"
try "nn_graph.h vendored alone" sh -c "cc $WARN -O1 '$tmp/vendor/main.c' -o '$tmp/vendor/a' -lm -lpthread && '$tmp/vendor/a'"
wait
pass=0; fail=0
for i in $(seq 1 "$n"); do
    if [ "$(cat "$tmp/st.$i" 2>/dev/null)" = ok ]; then pass=$((pass + 1))
    else fail=$((fail + 1)); cat "$tmp/st.$i" 2>/dev/null || echo "FAIL: check $i left no verdict"; fi
done
echo "headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
