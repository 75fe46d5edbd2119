#!/usr/bin/env bash
# Runs the libFuzzer harnesses (built by `make` as $B/fuzz_*, B=build by default).
#   run.sh short   replay each saved corpus, then fuzz 20 s each (make test)
#   run.sh long    fuzz FUZZ_SECONDS (default 600) each (make fuzz)
#   B=DIR          the build folder holding the harnesses (default build)
# Harnesses run FUZZ_JOBS at a time (default: one per core); each is
# single-threaded, and the results are printed in harness order.
# New inputs go to a scratch corpus under $B/, never into the saved one;
# a crash leaves its reproducer in $B/fuzz-artifacts/.  Ends with
# "fuzz: N passed, N failed" (one check per harness).
set -u
cd "$(dirname "$0")/../.."
mode=${1:-short}
secs=${FUZZ_SECONDS:-600}
[ "$mode" = short ] && secs=${FUZZ_SHORT_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
B=${B:-build}
mkdir -p "$B/fuzz-artifacts"

# One harness: fuzz, then write its result line(s) to $B/fuzz-<name>.result
# and its exit status to $B/fuzz-<name>.rc.
one() {
    local f=$1 name=${1#$B/fuzz_}
    local saved=tests/fuzz/corpus_$name scratch=$B/fuzz-corpus/$name
    local log=$B/fuzz-$name-$mode.log res=$B/fuzz-$name.result
    mkdir -p "$scratch"
    # -rss_limit_mb: a loader must refuse huge declared sizes, not allocate them.
    "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
         -artifact_prefix=$B/fuzz-artifacts/ "$scratch" "$saved" >"$log" 2>&1
    local rc=$?
    # -a: the log quotes fuzzer inputs, which may hold any byte
    local execs rate
    execs=$(grep -a -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -a -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$name: ${secs} s, ${execs:-?} executions (${rate:-?}/s), no finding" >"$res"
    else
        { echo "fuzz_$name: FAILED (exit $rc); see $log and $B/fuzz-artifacts/"
          grep -a -E 'ERROR|SUMMARY' "$log" | head -5; } >"$res"
    fi
    echo "$rc" >"$B/fuzz-$name.rc"
}

harnesses=()
for f in "$B"/fuzz_*; do
    [ -x "$f" ] || continue
    harnesses+=("$f")
    rm -f "$B/fuzz-${f#$B/fuzz_}.result" "$B/fuzz-${f#$B/fuzz_}.rc"
done
if [ ${#harnesses[@]} -eq 0 ]; then
    echo "fuzz: no harness in $B (build them: make B=$B build-all, which needs clang)"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
running=0
for f in "${harnesses[@]}"; do
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
    one "$f" &
    running=$((running + 1))
done
wait

pass=0; fail=0
for f in "${harnesses[@]}"; do
    name=${f#$B/fuzz_}
    cat "$B/fuzz-$name.result" 2>/dev/null || echo "fuzz_$name: FAILED (no result)"
    if [ "$(cat "$B/fuzz-$name.rc" 2>/dev/null)" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
