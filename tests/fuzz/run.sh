#!/usr/bin/env bash
# Runs the libFuzzer harnesses (built by `make` as build/fuzz_*).
#   run.sh short   replay each saved corpus, then fuzz 20 s each (make test)
#   run.sh long    fuzz FUZZ_SECONDS (default 600) each (make fuzz)
# New inputs go to a scratch corpus under build/, never into the saved one;
# a crash leaves its reproducer in build/fuzz-artifacts/.  Ends with
# "fuzz: N passed, N failed" (one check per harness).
set -u
cd "$(dirname "$0")/../.."
mode=${1:-short}
secs=${FUZZ_SECONDS:-600}
[ "$mode" = short ] && secs=${FUZZ_SHORT_SECONDS:-20}
pass=0; fail=0
mkdir -p build/fuzz-artifacts
for f in build/fuzz_*; do
    [ -x "$f" ] || continue
    name=${f#build/fuzz_}
    saved=tests/fuzz/corpus_$name
    scratch=build/fuzz-corpus/$name
    mkdir -p "$scratch"
    log=build/fuzz-$name-$mode.log
    # -rss_limit_mb: a loader must refuse huge declared sizes, not allocate them.
    "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
         -artifact_prefix=build/fuzz-artifacts/ "$scratch" "$saved" >"$log" 2>&1
    rc=$?
    # -a: the log quotes fuzzer inputs, which may hold any byte
    execs=$(grep -a -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -a -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz_$name: ${secs} s, ${execs:-?} executions (${rate:-?}/s), no finding"
    else
        fail=$((fail + 1))
        echo "fuzz_$name: FAILED (exit $rc); see $log and build/fuzz-artifacts/"
        grep -a -E 'ERROR|SUMMARY' "$log" | head -5
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
